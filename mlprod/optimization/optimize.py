"""``optimize(model, data, techniques)``: produce TFLite models and measure them on the interpreter.

Example:
    >>> import mlprod
    >>> result = mlprod.optimize(model, (x_train, y_train, x_test, y_test),
    ...                          techniques=["float", "int8", "prune_int8"], fine_tune_epochs=1, progress=False)
    >>> list(result.table["technique"])
    ['keras', 'float', 'int8', 'prune_int8']
    >>> t = result.table.set_index("technique")
    >>> bool(t.loc["int8", "size_bytes"] < t.loc["float", "size_bytes"])
    True
"""
from __future__ import annotations

import gzip
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlprod.errors import ConfigError, DataError
from mlprod.io.files import atomic_dir
from mlprod.optimization import techniques as tq
from mlprod.reporting import HtmlResult, figure_html, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

TECHNIQUES = ("float", "dynamic", "float16", "int8", "int8_float_io", "qat", "prune", "prune_int8", "cluster",
              "prune_qat")
DEFAULT = ("float", "dynamic", "float16", "int8", "qat", "prune", "prune_int8", "cluster")


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    pred = np.asarray(pred)
    if pred.ndim == 1 or pred.shape[-1] == 1:
        return float(np.mean((pred.reshape(-1) > 0.5) == y.reshape(-1)))
    return float(np.mean(np.argmax(pred, axis=-1) == y.reshape(-1)))


def measure_tflite(flat: bytes, x: np.ndarray, y: np.ndarray, latency_samples: int = 200) -> dict[str, Any]:
    """Accuracy, on-disk and gzip size, mean and p95 single-example latency on the TFLite interpreter."""
    from mlprod._tflite import interpreter, quantize_input, run_tflite

    interp = interpreter(flat)
    pred = run_tflite(interp, x)
    inp = interp.get_input_details()[0]
    times = []
    for row in x[:latency_samples]:
        interp.set_tensor(inp["index"], quantize_input(row[None, ...], inp))
        t0 = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t0) * 1000)
    return {"accuracy": _accuracy(pred, y), "size_bytes": len(flat), "gzip_bytes": len(gzip.compress(flat, 9)),
            "latency_ms_mean": float(np.mean(times)), "latency_ms_p95": float(np.percentile(times, 95)),
            "predictions": pred}


def _keras_row(model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.h5")
        model.save(path, include_optimizer=False)
        raw = Path(path).read_bytes()
    return {"technique": "keras", "accuracy": _accuracy(model.predict(x, verbose=0), y), "size_bytes": len(raw),
            "gzip_bytes": len(gzip.compress(raw, 9)), "status": "ok", "note": "Keras .h5 (no optimizer)"}


@dataclass
class OptimizeResult(HtmlResult):
    """Every produced model with its measurements.

    Attributes:
        table: technique, accuracy, accuracy_drop (points vs Keras), size_bytes, gzip_bytes,
            smaller_than_float (x), gzip_smaller_than_float (x), latency_ms_mean/p95, sparsity,
            status (``ok``; ``too_lossy``: measured, but it lost more than ``max_drop`` points;
            ``failed``), note (why it failed or lost accuracy, e.g. unscaled inputs under int8;
            fallbacks).
        models: technique -> ``.tflite`` bytes.
        max_drop: the accuracy drop (points) allowed by :meth:`best` and the blessing.
    """

    table: "pd.DataFrame"
    models: dict[str, bytes] = field(default_factory=dict)
    max_drop: float = 1.0

    def blessed(self, max_drop: float | None = None) -> "pd.DataFrame":
        """Rows of TFLite models within ``max_drop`` accuracy points of the Keras baseline."""
        md = self.max_drop if max_drop is None else max_drop
        t = self.table
        return t[(t["status"] == "ok") & (t["technique"] != "keras") & (t["accuracy_drop"] <= md)]

    def best(self, max_drop: float | None = None) -> str | None:
        """The smallest (gzip size) blessed technique, or None when none qualifies."""
        b = self.blessed(max_drop)
        return None if b.empty else str(b.sort_values(["gzip_bytes", "size_bytes"]).iloc[0]["technique"])

    def save(self, folder: str | Path, *, report: bool = False) -> dict[str, Path]:
        """Write every model as ``<technique>.tflite`` plus ``metrics.csv`` (and ``report.html``).

        Only these files are written (atomically, each replacing what an earlier ``save`` wrote);
        other files in ``folder`` are left alone, and a file of the same name that mlprod did
        not write is refused (:func:`mlprod._fs.atomic_dir`).

        Example:
            >>> r = optimize(model, (x_train, y_train, x_test, y_test), ["float"], progress=False)
            >>> sorted(p.name for p in r.save("tflite-models", report=True).values())
            ['float.tflite']
        """
        folder = Path(folder)
        with atomic_dir(folder) as tmp:
            for name, flat in self.models.items():
                (Path(tmp) / f"{name}.tflite").write_bytes(flat)
            self.table.to_csv(Path(tmp) / "metrics.csv", index=False)
            if report:
                (Path(tmp) / "report.html").write_text(self.to_html(full=True), encoding="utf-8")
        return {name: Path(os.path.abspath(folder)) / f"{name}.tflite" for name in self.models}

    def __repr__(self) -> str:
        ok = self.table[self.table["status"] == "ok"]
        return f"<OptimizeResult {len(ok)} ok / {len(self.table)} rows; best={self.best()}>"

    def _plot(self) -> str:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        t = self.table[self.table["accuracy"].notna()] if "accuracy" in self.table else self.table.iloc[:0]
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        ax.scatter(t["size_bytes"] / 1024, t["accuracy"], label="on disk")
        ax.scatter(t["gzip_bytes"] / 1024, t["accuracy"], marker="x", label="gzip")
        for _, r in t.iterrows():
            ax.annotate(r["technique"], (r["size_bytes"] / 1024, r["accuracy"]), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("model size (KiB, log)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8)
        return figure_html(fig)

    def to_html(self, full: bool = True) -> str:
        cols = [c for c in self.table.columns if c != "predictions"]
        return html_page("mlprod edge optimization", [
            ("Size vs accuracy (TFLite interpreter)", self._plot()),
            ("All models", table_html(self.table[cols], row_class=[
                "mlprod-bad" if s != "ok" else "" for s in self.table["status"]]))], full=full)


def _judge_drops(table: "pd.DataFrame", max_drop: float, x_calibration: np.ndarray) -> None:
    """Mark measured models that lost more than ``max_drop`` points ``too_lossy``, saying by how much and,
    for quantized inputs on unscaled features, why (:func:`techniques.unscaled_input_note`)."""
    cause = tq.unscaled_input_note(x_calibration)
    for i, row in table.iterrows():
        if row["technique"] == "keras" or row["status"] != "ok" or not row["accuracy_drop"] > max_drop:
            continue
        why = f"accuracy fell {row['accuracy_drop']:.1f} points vs Keras, more than max_drop={max_drop:g}"
        if cause and row["technique"] in tq.QUANTIZED_INPUT:
            why += f"; {cause}"
        table.loc[i, "status"] = "too_lossy"
        table.loc[i, "note"] = "; ".join(n for n in (why, row["note"]) if isinstance(n, str) and n)


def _split(data: Any) -> tuple[np.ndarray, ...]:
    if isinstance(data, dict):
        data = (data["x_train"], data["y_train"], data["x_test"], data["y_test"])
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        raise DataError("data must be (x, y) or (x_train, y_train, x_test, y_test) numpy arrays.")
    arrays = [np.asarray(a) for a in data]
    for y in arrays[1::2]:
        if y.ndim == 2 and y.shape[1] > 1:
            raise DataError(f"y has shape {y.shape}, which looks one-hot; pass integer class labels, e.g. "
                            "y.argmax(axis=1).")
        if y.size and not np.issubdtype(y.dtype, np.number):
            raise DataError(f"y has dtype {y.dtype}; pass integer class labels.")
    if len(arrays) == 2:
        from mlprod.io.splits import holdout_indices

        x, y = arrays
        tr, te = holdout_indices(len(x))  # the project's one rule: a seeded random 20% held out
        return x[tr], y[tr], x[te], y[te]
    return tuple(arrays)


def optimize(model: Any, data: Any, techniques: list[str] | tuple[str, ...] = DEFAULT, *,
             fine_tune_epochs: int = 2, sparsity: float = 0.8, clusters: int = 16, max_drop: float = 1.0,
             latency_samples: int = 200, progress: bool = True) -> OptimizeResult:
    """Optimize a trained tf_keras classifier for the edge and measure every result.

    Args:
        model: a trained tf_keras model (cloned; never modified).
        data: ``(x, y)`` (a seeded random 20% of rows is held out for testing, the rest trains:
            :mod:`mlprod.io.splits`) or
            ``(x_train, y_train, x_test, y_test)``. ``y`` holds integer class labels.
            Training data feeds fine-tuning and int8 calibration; test data the measurements.
        techniques: any of :data:`TECHNIQUES`: ``float``, PTQ ``dynamic``/``float16``/``int8``
            (int8 I/O)/``int8_float_io``, ``qat``, ``prune`` (float TFLite of the pruned model),
            ``prune_int8``, ``cluster``, ``prune_qat`` (sparsity-preserving QAT).
        fine_tune_epochs: epochs for QAT, pruning and clustering.
        sparsity: target sparsity for pruning, in (0, 1).
        max_drop: accuracy points a model may lose vs Keras to be blessed (:meth:`OptimizeResult.best`).

    Raises:
        ConfigError: not a tf_keras model, unknown technique, sparsity outside (0, 1).
        DataError: data of the wrong shape/dtype, empty data.

    A technique that fails does not stop the others: its row says ``failed`` and why. One that
    loses more than ``max_drop`` points says ``too_lossy``, by how much and, where the inputs are
    unscaled and the technique quantizes them (int8, QAT), that this is the likely cause.

    Example:
        >>> r = optimize(model, (x_train, y_train), techniques=["float", "int8"], progress=False)
        >>> r.best(max_drop=2.0)
        'int8'
    """
    import pandas as pd

    tq.check_model(model)
    unknown = [t for t in techniques if t not in TECHNIQUES]
    if unknown or not techniques:
        raise ConfigError(f"unknown technique(s) {unknown or '(none given)'}; choose from {TECHNIQUES}.")
    if not 0.0 < sparsity < 1.0:
        raise ConfigError(f"sparsity={sparsity} must be in (0, 1), e.g. 0.8 for 80% zeros.")
    x_tr, y_tr, x_te, y_te = _split(data)
    x_tr, x_te = tq.check_data(model, x_tr, "training data"), tq.check_data(model, x_te, "test data")
    if len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise DataError("x and y must have the same number of rows.")
    if not np.isfinite(x_te).all():
        raise DataError(f"test data holds {int((~np.isfinite(x_te)).sum())} NaN/inf values; measurements on them "
                        "mean nothing: drop or impute those rows.")
    bad_train = int((~np.isfinite(x_tr)).sum())
    largest = max((int(np.prod(w.shape)) for w in model.weights), default=0)
    rows = [_keras_row(model, x_te, y_te)]
    models: dict[str, bytes] = {}
    for i, name in enumerate(techniques, 1):
        if progress:
            print(f"optimize: [{i}/{len(techniques)}] {name} ...", flush=True)
        notes: list[str] = []
        try:
            keras_model = model
            if bad_train and name not in ("float", "dynamic", "float16"):
                # the converter's calibration and fine-tuning crash or learn NaN on these (int8 killed the process)
                raise DataError(f"training/calibration data holds {bad_train} NaN/inf values; drop or impute them")
            if name == "dynamic" and largest < 1024:
                notes.append(f"TFLite's dynamic-range quantization keeps weight tensors under 1024 elements in float "
                             f"(this model's largest has {largest}), so the size barely changes; use int8 for small "
                             "models")
            if name in ("float", "dynamic", "float16", "int8", "int8_float_io"):
                flat = tq.to_tflite(model, quantize=None if name == "float" else name, representative=x_tr)
            elif name == "qat":
                keras_model = tq.qat(model, x_tr, y_tr, epochs=fine_tune_epochs, notes=notes)
                flat = tq.to_tflite(keras_model, quantize="dynamic")
            elif name in ("prune", "prune_int8"):
                keras_model = tq.prune(model, x_tr, y_tr, sparsity=sparsity, epochs=fine_tune_epochs)
                flat = tq.to_tflite(keras_model, quantize="int8" if name == "prune_int8" else None,
                                    representative=x_tr)
            elif name == "cluster":
                keras_model = tq.cluster(model, x_tr, y_tr, clusters=clusters, epochs=fine_tune_epochs)
                flat = tq.to_tflite(keras_model)
            else:  # prune_qat
                keras_model = tq.prune_qat(model, x_tr, y_tr, sparsity=sparsity, epochs=fine_tune_epochs)
                flat = tq.to_tflite(keras_model, quantize="dynamic")
            m = measure_tflite(flat, x_te, y_te, latency_samples)
            m.pop("predictions")
            rows.append({"technique": name, **m, "sparsity": tq.sparsity_of(keras_model), "status": "ok", "note": "; ".join(notes)})
            models[name] = flat
        except Exception as e:  # noqa: BLE001 - one failing technique must not stop the others
            rows.append({"technique": name, "status": "failed", "note": f"{type(e).__name__}: {str(e)[:200]}"})
    table = pd.DataFrame(rows)
    base = table.loc[table["technique"] == "keras", "accuracy"].iloc[0]
    table["accuracy_drop"] = (base - table["accuracy"]) * 100
    _judge_drops(table, max_drop, x_tr)
    if "float" in models:
        fl = table.set_index("technique").loc["float"]
        table["smaller_than_float"] = fl["size_bytes"] / table["size_bytes"]
        table["gzip_smaller_than_float"] = fl["gzip_bytes"] / table["gzip_bytes"]
    order = ["technique", "accuracy", "accuracy_drop", "size_bytes", "gzip_bytes", "smaller_than_float",
             "gzip_smaller_than_float", "latency_ms_mean", "latency_ms_p95", "sparsity", "status", "note"]
    return OptimizeResult(table[[c for c in order if c in table.columns]], models, max_drop)
