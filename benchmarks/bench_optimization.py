"""Edge optimization vs the seed paper's MNIST targets, on the bundled MNIST subset and sklearn digits.

Model: the TF post-training-quantization tutorial's MNIST model (Conv2D(12, 3x3) -> MaxPool ->
Dense(10)), the "same kind of model" as the seed paper's 99,144-byte .h5 / 84,728-byte TFLite.
Every size, accuracy and latency is measured on the TFLite interpreter.

Usage: scripts/in-env python -m benchmarks.bench_optimization [--epochs 20]
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks.harness import print_table

TARGETS = """Targets: int8 >= 3.9x smaller than float with <= 1 point drop; QAT <= 0.5 point below Keras;
80% pruning + int8 >= 8x smaller than float after gzip with <= 1.5 points drop; int8 faster than float."""


def model(input_shape: tuple, classes: int = 10):  # noqa: ANN201
    import tf_keras as keras

    h, w = input_shape
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.layers.Input(shape=(h * w,)), keras.layers.Reshape((h, w, 1)),
                          keras.layers.Conv2D(12, 3, activation="relu"), keras.layers.MaxPooling2D(),
                          keras.layers.Flatten(), keras.layers.Dense(classes, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def data(name: str) -> tuple:
    if name == "mnist (1,000 bundled)":
        from mlprod.datasets import mnist

        x, y = mnist()
        shape = (28, 28)
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y, shape = (d.data / 16.0).astype("float32"), d.target, (8, 8)
    idx = np.random.default_rng(0).permutation(len(x))
    n = int(len(x) * 0.8)
    return (x[idx[:n]], y[idx[:n]], x[idx[n:]], y[idx[n:]]), shape


def main() -> None:
    import mlprod

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--fine-tune-epochs", type=int, default=10)
    args = ap.parse_args()
    for name in ("mnist (1,000 bundled)", "sklearn digits (1,797)"):
        (x, y, xt, yt), shape = data(name)
        m = model(shape)
        m.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
        r = mlprod.optimize(m, (x, y, xt, yt), techniques=["float", "dynamic", "float16", "int8", "qat", "prune",
                                                             "prune_int8", "cluster", "prune_qat"],
                            sparsity=0.8, fine_tune_epochs=args.fine_tune_epochs, latency_samples=200)
        t = r.table.drop(columns=["note"]).round(4)
        print_table(t.to_dict("records"), f"{name}: {len(x)} train / {len(xt)} test examples, "
                                          f"{args.fine_tune_epochs} fine-tune epochs")
        rows = t.set_index("technique")
        # accuracy_drop is a fraction (issue 27); the targets below are in accuracy points
        checks = [
            ("int8 smaller than float (x)", rows.loc["int8", "smaller_than_float"], ">= 3.9"),
            ("int8 accuracy drop (points)", rows.loc["int8", "accuracy_drop"] * 100, "<= 1"),
            ("QAT accuracy drop (points)", rows.loc["qat", "accuracy_drop"] * 100, "<= 0.5"),
            ("prune 80% + int8, gzip smaller than float (x)", rows.loc["prune_int8", "gzip_smaller_than_float"],
             ">= 8"),
            ("prune 80% + int8 accuracy drop (points)", rows.loc["prune_int8", "accuracy_drop"] * 100, "<= 1.5"),
            ("int8 / float latency (mean)", rows.loc["int8", "latency_ms_mean"] / rows.loc["float", "latency_ms_mean"],
             "< 1"),
        ]
        print_table([{"check": c, "measured": round(float(v), 3), "target": tgt} for c, v, tgt in checks],
                    f"{name}: against the targets")
    print("\n" + TARGETS)


if __name__ == "__main__":
    main()
