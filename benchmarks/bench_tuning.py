"""NAS strategies with the same budget, several seeds, vs plain Keras Tuner RandomSearch.

With ``--early-termination`` each mlprod strategy also runs with learning-curve early
termination; the table then gives the median best validation accuracy and the training epochs
each search spent (counted, not timed).

Usage:
    scripts/in-env python -m benchmarks.bench_tuning [--trials 6 --epochs 3 --seeds 2]
    scripts/in-env python -m benchmarks.bench_tuning --trials 30 --epochs 12 --seeds 3 --early-termination \
        --data penguins --strategies keras_tuner,random,evolution
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.harness import print_table


def datasets_() -> dict:
    from mlprod import datasets
    from mlprod.tuning import DenseSpace

    x, y = datasets.mnist()
    df = datasets.penguins()
    px, py = df.drop(columns="species").to_numpy("float32"), df["species"].to_numpy()
    return {
        "mnist (1,000)": ((x, y), DenseSpace(input_shape=(784,), num_classes=10, depth=(1, 2), width=(32, 128, 32),
                                              batch_norm=(False,), learning_rate=(1e-4, 1e-2))),
        "penguins": ((px, py), DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 3), width=(8, 64, 8),
                                          learning_rate=(1e-3, 3e-2))),
    }


def plain_random(space, data, trials, epochs, seed):  # noqa: ANN001, ANN201
    """What users would otherwise run: keras_tuner.RandomSearch on the same space and data."""
    import keras_tuner as kt

    x, y = data
    idx = np.random.default_rng(seed).permutation(len(x))
    n = max(1, int(len(x) * 0.2))
    tuner = kt.RandomSearch(lambda hp: space.build(hp), objective="val_accuracy", max_trials=trials, seed=seed,
                            overwrite=True, directory=f"/tmp/kt-bench-{seed}", project_name="plain")
    tuner.search(x[idx[n:]], y[idx[n:]], validation_data=(x[idx[:n]], y[idx[:n]]), epochs=epochs, verbose=0)
    return max(t.score for t in tuner.oracle.trials.values() if t.score is not None)


def main() -> None:
    import mlprod

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--plot", help="also save a bar chart (PNG) of the table here")
    ap.add_argument("--early-termination", action="store_true",
                    help="also run each mlprod strategy with learning-curve early termination")
    ap.add_argument("--data", default="", help="comma-separated substrings of data set names (default: all)")
    ap.add_argument("--strategies", default="", help="comma-separated substrings of strategy names (default: all)")
    args = ap.parse_args()
    pick = lambda text, name: not text or any(w in name for w in text.split(","))  # noqa: E731
    rows = []
    for name, (data, space) in datasets_().items():
        if not pick(args.data, name):
            continue
        for strategy in ("keras_tuner.RandomSearch", "random", "grid", "bayesian", "hyperband", "evolution"):
            if not pick(args.strategies, strategy):
                continue
            plain = strategy.startswith("keras_tuner")
            for terminate in ([False, True] if args.early_termination and not plain else [False]):
                scores, secs, spent = [], [], []
                for seed in range(args.seeds):
                    t0 = time.perf_counter()
                    if plain:
                        scores.append(plain_random(space, data, args.trials, args.epochs, seed))
                        spent.append(args.trials * args.epochs)
                    else:
                        r = mlprod.search(space, data, strategy=strategy, max_trials=args.trials, epochs=args.epochs,
                                          seed=seed, verbose=False, early_stopping=False,
                                          early_termination=terminate)
                        scores.append(float(r.trials["score"].max()))
                        spent.append(int(r.trials["epochs"].fillna(0).sum()))
                    secs.append(time.perf_counter() - t0)
                rows.append({"data": name, "strategy": strategy + (" + early termination" if terminate else ""),
                             "best_val_accuracy_mean": round(float(np.mean(scores)), 4),
                             "median": round(float(np.median(scores)), 4),
                             "min": round(float(np.min(scores)), 4), "max": round(float(np.max(scores)), 4),
                             "epochs_median": int(np.median(spent)), "seconds_mean": round(float(np.mean(secs)), 1)})
                print(rows[-1], flush=True)
    print_table(rows, f"Same budget: {args.trials} trials x {args.epochs} epochs (Hyperband: max epochs), "
                      f"{args.seeds} seeds")
    if args.plot:
        plot(rows, args.plot)


def plot(rows: list[dict], path: str) -> None:
    """Best validation accuracy per strategy (mean, min-max bars, seconds), one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["data"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.4))
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        vals = [r for r in rows if r["data"] == name]
        means = [v["best_val_accuracy_mean"] for v in vals]
        err = [[m - v["min"] for m, v in zip(means, vals, strict=True)],
               [v["max"] - m for m, v in zip(means, vals, strict=True)]]
        ax.bar(range(len(vals)), means, yerr=err, capsize=3,
               color=["#999" if v["strategy"].startswith("keras_tuner") else "#3b7dd8" for v in vals])
        ax.set_xticks(range(len(vals)))
        ax.set_xticklabels([v["strategy"].replace("keras_tuner.RandomSearch", "plain KT random") for v in vals],
                           rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0.3, 1.0)
        ax.set_title(f"{name}: best val accuracy")
        for i, v in enumerate(vals):
            ax.text(i, 0.32, f"{v['seconds_mean']:.0f}s", ha="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
