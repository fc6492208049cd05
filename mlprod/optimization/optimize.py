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
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlprod._compat import drop_as_fraction, points_to_fraction, renamed
from mlprod.errors import ConfigError, DataError
from mlprod.io.files import atomic_dir
from mlprod.optimization import techniques as tq
from mlprod.params import Interval, Kind, check_params
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


#: a drop within this of the limit passes (accuracies are counts over n: 0.864 - 0.854 is 0.0100000001)
_EPS = 1e-9


@dataclass
class OptimizeResult(HtmlResult):
    """Every produced model with its measurements (the result protocol of
    :class:`mlprod.reporting.HtmlResult`: ``.table``, ``.plot()``, ``.to_html()``, ``.save(output_dir)``).

    Attributes:
        table: technique, accuracy, accuracy_drop (a fraction: Keras accuracy minus this model's,
            0.01 = one accuracy point; negative when it gained), size_bytes, gzip_bytes,
            smaller_than_float (x), gzip_smaller_than_float (x), latency_ms_mean/p95, sparsity,
            status (``ok``; ``too_lossy``: measured, but its accuracy_drop is above
            ``max_accuracy_drop``; ``failed``), note (why it failed or lost accuracy, e.g.
            unscaled inputs under int8; fallbacks).
        models: technique -> ``.tflite`` bytes.
        max_accuracy_drop: the accuracy drop (a fraction) allowed by :meth:`passing` and
            :meth:`best` (``max_drop``, in points, is its deprecated old name).

    Example:
        >>> r = optimize(model, (x_train, y_train, x_test, y_test), ["float", "int8"], progress=False)
        >>> list(r.passing(max_accuracy_drop=0.02)["technique"])
        ['float', 'int8']
    """

    table: "pd.DataFrame"
    models: dict[str, bytes] = field(default_factory=dict)
    max_accuracy_drop: float = 0.01

    @property
    def max_drop(self) -> float:
        """Deprecated: :attr:`max_accuracy_drop` in accuracy points (x100)."""
        warnings.warn("OptimizeResult.max_drop (points) is deprecated: use max_accuracy_drop (a fraction; "
                      "max_drop = 100 * max_accuracy_drop); the old name goes in the next release.",
                      DeprecationWarning, stacklevel=2)
        return self.max_accuracy_drop * 100

    def passing(self, max_accuracy_drop: float | None = None) -> "pd.DataFrame":
        """Rows of TFLite models measured ``ok`` and within ``max_accuracy_drop`` (a fraction;
        default: the one given to :func:`optimize`) of the Keras baseline's accuracy.

        Example:
            >>> r = optimize(model, (x_train, y_train, x_test, y_test), ["float"], progress=False)
            >>> list(r.passing()["technique"])
            ['float']
        """
        md = self.max_accuracy_drop if max_accuracy_drop is None else drop_as_fraction(
            "OptimizeResult.passing", max_accuracy_drop)
        t = self.table
        return t[(t["status"] == "ok") & (t["technique"] != "keras") & (t["accuracy_drop"] <= md + _EPS)]

    def blessed(self, max_drop: float | None = None) -> "pd.DataFrame":
        """Deprecated: :meth:`passing` (``max_drop`` in points; ``passing`` takes a fraction)."""
        warnings.warn("OptimizeResult.blessed(max_drop) is deprecated: use passing(max_accuracy_drop=...), which "
                      "takes a fraction (max_drop points / 100); the old name goes in the next release.",
                      DeprecationWarning, stacklevel=2)
        return self.passing(None if max_drop is None else points_to_fraction(max_drop))

    @renamed(max_drop=("max_accuracy_drop", points_to_fraction))
    def best(self, max_accuracy_drop: float | None = None) -> str | None:
        """The smallest (gzip size) passing technique (:meth:`passing`), or None when none qualifies.

        Example:
            >>> r = optimize(model, (x_train, y_train, x_test, y_test), ["float", "int8"], progress=False)
            >>> r.best(max_accuracy_drop=0.02)
            'int8'
        """
        b = self.passing(max_accuracy_drop)
        return None if b.empty else str(b.sort_values(["gzip_bytes", "size_bytes"]).iloc[0]["technique"])

    @renamed(folder="output_dir")
    def save(self, output_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        """Write every model as ``<technique>.tflite``, the table as ``metrics.csv`` and (``report=True``,
        the default) ``report.html`` under ``output_dir``.

        Returns ``{technique: .tflite path}`` plus ``"table"`` (metrics.csv) and ``"report"``
        (report.html, when written). Only these files are written (atomically, each replacing what an
        earlier ``save`` wrote); other files in ``output_dir`` are left alone, and a file of the same
        name that mlprod did not write is refused (:func:`mlprod.io.files.atomic_dir`). ``folder=``
        is the deprecated old name of ``output_dir``.

        Example:
            >>> r = optimize(model, (x_train, y_train, x_test, y_test), ["float"], progress=False)
            >>> sorted(p.name for p in r.save("tflite-models").values())
            ['float.tflite', 'metrics.csv', 'report.html']
        """
        out = Path(output_dir)
        with atomic_dir(out) as tmp:
            for name, flat in self.models.items():
                (Path(tmp) / f"{name}.tflite").write_bytes(flat)
            self.table.to_csv(Path(tmp) / "metrics.csv", index=False)
            if report:
                (Path(tmp) / "report.html").write_text(self.to_html(full=True), encoding="utf-8")
        base = Path(os.path.abspath(out))
        written = {name: base / f"{name}.tflite" for name in self.models}
        written["table"] = base / "metrics.csv"
        if report:
            written["report"] = base / "report.html"
        return written

    def __repr__(self) -> str:
        ok = self.table[self.table["status"] == "ok"]
        return f"<OptimizeResult {len(ok)} ok / {len(self.table)} rows; best={self.best()}>"

    def plot(self, ax: Any = None) -> Any:
        """Size (KiB, log; on disk and gzip) against accuracy of every measured model, each labelled
        with its technique; returns the matplotlib Axes.

        Example:
            >>> r = optimize(model, (x_train, y_train, x_test, y_test), ["float", "int8"], progress=False)
            >>> r.plot().get_xlabel()
            'model size (KiB, log)'
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        t = self.table[self.table["accuracy"].notna()] if "accuracy" in self.table else self.table.iloc[:0]
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 3.6))
        ax.scatter(t["size_bytes"] / 1024, t["accuracy"], label="on disk")
        ax.scatter(t["gzip_bytes"] / 1024, t["accuracy"], marker="x", label="gzip")
        for _, r in t.iterrows():
            ax.annotate(r["technique"], (r["size_bytes"] / 1024, r["accuracy"]), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("model size (KiB, log)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8)
        return ax

    def to_html(self, full: bool = True) -> str:
        cols = [c for c in self.table.columns if c != "predictions"]
        return html_page("mlprod edge optimization", [
            ("Size vs accuracy (TFLite interpreter)", figure_html(self.plot().figure)),
            (f"All models (accuracy_drop: a fraction of Keras accuracy; max_accuracy_drop={self.max_accuracy_drop:g})",
             table_html(self.table[cols], row_class=[
                 "mlprod-bad" if s != "ok" else "" for s in self.table["status"]]))], full=full)


def _judge_drops(table: "pd.DataFrame", max_accuracy_drop: float, x_calibration: np.ndarray) -> None:
    """Mark measured models whose accuracy_drop (a fraction) is above ``max_accuracy_drop`` ``too_lossy``,
    saying by how much and, for quantized inputs on unscaled features, why
    (:func:`techniques.unscaled_input_note`)."""
    cause = tq.unscaled_input_note(x_calibration)
    for i, row in table.iterrows():
        if (row["technique"] == "keras" or row["status"] != "ok"
                or not row["accuracy_drop"] > max_accuracy_drop + _EPS):
            continue
        drop = row["accuracy_drop"]
        why = (f"accuracy fell {drop * 100:.1f} points (accuracy_drop={drop:.3f}) vs Keras, more than "
               f"max_accuracy_drop={max_accuracy_drop:g}")
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


def technique_names(techniques: "list[str] | tuple[str, ...] | str") -> list[str]:
    """The technique names of a list, a comma-separated string (``"float,int8"``) or a JSON list
    (``'["float", "int8"]'``, how :class:`~mlprod.components.EdgeOptimizer` stores a list in its
    string parameter), checked against :data:`TECHNIQUES`.

    Raises:
        ConfigError: an unknown name, none at all, or something that is neither a string nor a list.

    Example:
        >>> technique_names("float, int8"), technique_names(["qat"]), technique_names('["prune"]')
        (['float', 'int8'], ['qat'], ['prune'])
    """
    if isinstance(techniques, str):
        text = techniques.strip()
        if text.startswith("["):
            try:
                techniques = json.loads(text)
            except ValueError:
                raise ConfigError(f"techniques={techniques!r} is not a JSON list; give a list of names or "
                                  "'float,int8'.") from None
        else:
            techniques = [t.strip() for t in text.split(",") if t.strip()]
    if not isinstance(techniques, (list, tuple)) or not all(isinstance(t, str) for t in techniques):
        raise ConfigError(f"techniques={techniques!r} must be a list of names (or 'float,int8'); choose from "
                          f"{TECHNIQUES}.")
    names = [t.strip() for t in techniques]
    unknown = [t for t in names if t not in TECHNIQUES]
    if unknown or not names:
        raise ConfigError(f"unknown technique(s) {unknown or '(none given)'}; choose from {TECHNIQUES}.")
    return names


#: constraint table of :func:`optimize` (``mlprod.params``)
OPTIMIZE_PARAMS = {"fine_tune_epochs": Interval(int, 0), "sparsity": Interval(float, 0, 1, closed="neither"),
                   "clusters": Interval(int, 2), "max_accuracy_drop": Interval(float, 0, 1),
                   "latency_samples": Interval(int, 1), "progress": Kind(bool)}


@renamed(max_drop=("max_accuracy_drop", points_to_fraction))
def optimize(model: Any, data: Any, techniques: list[str] | tuple[str, ...] | str = DEFAULT, *,
             fine_tune_epochs: int = 2, sparsity: float = 0.8, clusters: int = 16, max_accuracy_drop: float = 0.01,
             latency_samples: int = 200, progress: bool = True) -> OptimizeResult:
    """Optimize a trained tf_keras classifier for the edge and measure every result.

    Args:
        model: a trained tf_keras model (cloned; never modified).
        data: ``(x, y)`` (a seeded random 20% of rows is held out for testing, the rest trains:
            :mod:`mlprod.io.splits`) or
            ``(x_train, y_train, x_test, y_test)``. ``y`` holds integer class labels.
            Training data feeds fine-tuning and int8 calibration; test data the measurements.
        techniques: a list (or a comma-separated string) of :data:`TECHNIQUES`: ``float``, PTQ ``dynamic``/``float16``/``int8``
            (int8 I/O)/``int8_float_io``, ``qat``, ``prune`` (float TFLite of the pruned model),
            ``prune_int8``, ``cluster``, ``prune_qat`` (sparsity-preserving QAT).
        fine_tune_epochs: epochs for QAT, pruning and clustering.
        sparsity: target sparsity for pruning, in (0, 1).
        clusters: weight clusters per layer for ``cluster`` (>= 2).
        max_accuracy_drop: the accuracy a model may lose vs Keras to pass, as a fraction (0.01 =
            one accuracy point; :meth:`OptimizeResult.passing`, :meth:`OptimizeResult.best`).
            ``max_drop=`` (in points) is its deprecated old name: converted /100 with a warning.
        latency_samples: single-example calls timed per model.
        progress: print one line per technique.

    Raises:
        ConfigError: not a tf_keras model, unknown technique, an argument outside its range
            (:data:`OPTIMIZE_PARAMS`: sparsity in (0, 1), max_accuracy_drop in [0, 1] ...).
        DataError: data of the wrong shape/dtype, empty data.

    A technique that fails does not stop the others: its row says ``failed`` and why. One that
    loses more than ``max_accuracy_drop`` says ``too_lossy``, by how much and, where the inputs are
    unscaled and the technique quantizes them (int8, QAT), that this is the likely cause.

    Example:
        >>> r = optimize(model, (x_train, y_train), techniques=["float", "int8"], progress=False)
        >>> r.best(max_accuracy_drop=0.02)
        'int8'
    """
    import pandas as pd

    check_params("optimize", {"fine_tune_epochs": fine_tune_epochs, "sparsity": sparsity, "clusters": clusters,
                              "max_accuracy_drop": max_accuracy_drop, "latency_samples": latency_samples,
                              "progress": progress}, OPTIMIZE_PARAMS)
    tq.check_model(model)
    techniques = technique_names(techniques)
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
    table["accuracy_drop"] = base - table["accuracy"]  # a fraction, as every accuracy drop in mlprod
    _judge_drops(table, max_accuracy_drop, x_tr)
    if "float" in models:
        fl = table.set_index("technique").loc["float"]
        table["smaller_than_float"] = fl["size_bytes"] / table["size_bytes"]
        table["gzip_smaller_than_float"] = fl["gzip_bytes"] / table["gzip_bytes"]
    order = ["technique", "accuracy", "accuracy_drop", "size_bytes", "gzip_bytes", "smaller_than_float",
             "gzip_smaller_than_float", "latency_ms_mean", "latency_ms_p95", "sparsity", "status", "note"]
    return OptimizeResult(table[[c for c in order if c in table.columns]], models, max_accuracy_drop)
