"""The vectorized evaluator: TFMA's metric definitions computed with numpy per batch of rows.

TFMA feeds every metric combiner one example at a time in Python (~3,000-6,000 rows/s on a core).
Here each batch of rows (a DataFrame chunk on the driver, an Arrow RecordBatch on a Beam worker)
is turned into **sufficient statistics per slice** with ``np.bincount`` over the slice codes:

* binary: TFMA's 10,000-bucket calibration histogram of weighted positives and negatives
  (a prediction counts at its bucket's left edge), rebinned to TFMA's AUC grid (``-1e-7, 1/9999,
  ..., 1+1e-7``, each threshold + 1e-7), the confusion matrix at 0.5 (``p > 0.5`` is positive),
  and weighted sums of labels, predictions and log losses;
* classification: the weighted class confusion matrix (argmax of the probability vector);
* regression: weighted sums of labels, predictions, squared and absolute errors.

Statistics add up across batches and workers; the metrics are derived once at the end with
TFMA's formulas: ``binary_accuracy``, ``precision``, ``recall``, ``fall_out``, ``miss_rate`` at
0.5 (NaN when the denominator is 0), ROC ``auc`` by the interpolated Riemann sum over the grid,
``calibration`` (sum of weighted predictions / weighted labels), ``mean_label``,
``mean_prediction``, ``sparse_categorical_accuracy``, ``mean_squared_error``,
``mean_absolute_error``, ``example_count`` (the sum of weights when ``weight_key`` is set, as TFMA),
and the trivial baseline of :mod:`mlprod.evaluation.trivial`. Labels, predictions and weights
are taken as float32 first, as TFMA reads them from ``tf.Example``s.

The AUCs are TFMA's own approximation (the same histogram, grid and interpolated Riemann sum), so
they equal TFMA's like every other metric (``tests/evaluation/test_vectorized.py``: 1e-6; weighted
counts 1e-5, as TFMA sums weights in float32).

The output is TFMA's own format (``metrics-*``, ``plots-*``, ``validations.tfrecord``,
``eval_config.json``), so :func:`tfma.load_eval_result` and :func:`mlprod.evaluation.result.parse_results`
read it unchanged.

Example:
    >>> import numpy as np, pandas as pd
    >>> from mlprod.evaluation import EvalSpec
    >>> spec = EvalSpec(label="y", model_type="binary", slices=["g"])
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "g": ["a", "a", "b", "b"]})
    >>> acc = batch_stats(df, np.array([0.2, 0.8, 0.4, 0.1]), spec)
    >>> values = derive(acc, spec)
    >>> values[()]["binary_accuracy"], values[(("g", "a"),)]["binary_accuracy"]
    (0.75, 1.0)
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import apache_beam as beam
import numpy as np

from mlprod.evaluation.spec import FAIRNESS_CLASSES, LOWER_IS_BETTER, Buckets, EvalSpec
from mlprod.evaluation.trivial import ACCURACIES, GAIN, MIN_GAIN, TRIVIAL, trivial_value

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

EPSILON = 1e-7
NUM_THRESHOLDS = 10_000
# TFMA's interpolated AUC grid (binary_confusion_matrices._interpolated_thresholds)
GRID = np.array([-EPSILON] + [(i + 1) / (NUM_THRESHOLDS - 1) for i in range(NUM_THRESHOLDS - 2)]
                + [1.0 + EPSILON])
# the grid as TFMA rebins its histogram to it (binary_confusion_matrices: t + epsilon unless t is 0)
REBIN = np.array([t + EPSILON if t != 0 else t for t in GRID])
DECISION = 0.5
SliceKey = tuple
Stats = dict[str, Any]


def slicings(spec: EvalSpec) -> list[tuple[str, ...]]:
    """The column tuples sliced on: ``()`` (overall) first, then the spec's slices and fairness features."""
    out: list[tuple[str, ...]] = [()]
    for s in [*spec.slices, *[f for f in spec.fairness if f not in spec.slices]]:
        cols = (s.column,) if isinstance(s, Buckets) else ((s,) if isinstance(s, str) else tuple(s))
        if cols not in out:
            out.append(cols)
    return out


def reported(spec: EvalSpec) -> list[str]:
    """The metric names the spec reports (TFMA's names), in its order."""
    names = spec.metric_names
    out = [names[c] for c in spec.metric_classes if c in names]
    out += [FAIRNESS_CLASSES[c] for c in spec.metric_classes if c in FAIRNESS_CLASSES]
    if spec.fairness and spec.model_type == "binary":
        out += [n for n in FAIRNESS_CLASSES.values() if n not in out]
    return list(dict.fromkeys(out))


def _slice_value(v: Any) -> Any:
    """A slice value as TFMA keys it: text as str, integers as int, other numbers as float."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return str(v)


def _codes(columns: dict[str, Any], cols: tuple[str, ...], n: int) -> tuple[np.ndarray, np.ndarray, list[SliceKey]]:
    """(row index, slice code, slice keys) of every (row, slice) pair of one slicing.

    A row missing a sliced value is in no slice of that slicing; a row with several values of a
    feature is in the slice of each (as TFMA slices multivalent features).
    """
    import pandas as pd

    if not cols:
        return np.arange(n), np.zeros(n, dtype=np.int64), [()]
    frame: pd.DataFrame | None = None
    for c in sorted(cols):
        rows, values = columns[c]
        part = pd.DataFrame({"row": rows, c: values})
        frame = part if frame is None else frame.merge(part, on="row")
    assert frame is not None
    names = sorted(cols)
    codes, uniques = pd.MultiIndex.from_frame(frame[names]).factorize() if len(names) > 1 else \
        pd.factorize(frame[names[0]])
    keys = [tuple((c, _slice_value(v)) for c, v in zip(names, (u if len(names) > 1 else (u,)), strict=True))
            for u in uniques]
    return frame["row"].to_numpy(), np.asarray(codes, dtype=np.int64), keys


def _column_values(col: Any) -> tuple[np.ndarray, np.ndarray]:
    """(row index, value) pairs of one slice column: a pandas Series or an Arrow (list) array."""
    import pandas as pd

    if isinstance(col, pd.Series):
        mask = col.notna().to_numpy()
        values = col.to_numpy()[mask]
        return np.flatnonzero(mask), values
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        rows = np.asarray(pc.list_parent_indices(col))
        values = pc.list_flatten(col)
    else:
        rows, values = np.arange(len(col)), col
    valid = np.asarray(values.is_valid())
    out = values.to_numpy(zero_copy_only=False)
    return rows[valid], out[valid]


def batch_stats(rows: Any, predictions: np.ndarray, spec: EvalSpec,
                labels: np.ndarray | None = None, weights: np.ndarray | None = None) -> dict[SliceKey, Stats]:
    """Sufficient statistics of one batch per slice key (add batches up with :func:`merge`).

    ``rows`` is a DataFrame or an Arrow RecordBatch holding the slice columns (and the label and
    weight columns unless ``labels``/``weights`` are given); ``predictions`` one score per row
    (binary, regression) or one probability vector per row (classification).
    """
    n = len(predictions)
    y = _numbers(rows, spec.label, n) if labels is None else np.asarray(labels, dtype=np.float32)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float32).astype(np.float64)
    elif spec.weight_key:
        w = _numbers(rows, spec.weight_key, n).astype(np.float64)
        if np.isnan(w).any():
            from mlprod.errors import DataError

            raise DataError(f"weight column {spec.weight_key!r} is missing in {int(np.isnan(w).sum())} of {n} rows; "
                            "fill it (e.g. with 1.0) or drop those rows: an example without a weight has no "
                            "place in a weighted metric.")
    else:
        w = np.ones(n)
    p = np.asarray(predictions, dtype=np.float32)
    labelled = ~np.isnan(y.astype(np.float64))
    if spec.model_type == "classification":
        p = p.reshape(n, -1)
        scored = ~np.isnan(p).any(axis=1)
    else:
        p = p.reshape(n, -1)[:, -1] if p.ndim > 1 else p
        scored = ~np.isnan(p)
    keep = labelled & scored
    columns = {c: _column_values(_get(rows, c)) for cols in slicings(spec) for c in cols}
    out: dict[SliceKey, Stats] = {}
    for cols in slicings(spec):
        r, codes, keys = _codes(columns, cols, n)
        sel = keep[r]
        r, codes = r[sel], codes[sel]
        per = _stats(spec, codes, len(keys), y[r].astype(np.float64), p[r], w[r])
        for i, k in enumerate(keys):
            if per["n"][i]:
                out[k] = {name: ([v[i]] if name == "labels" else v[i]) for name, v in per.items()}
    if not keep.all():   # rows left out, counted (finish says how many)
        out[DROPPED] = {"no_label": float((~labelled).sum()), "no_prediction": float((labelled & ~scored).sum())}
    return out


DROPPED = ("__rows left out__",)


def _get(rows: Any, name: str) -> Any:
    try:
        return rows[name] if hasattr(rows, "columns") and not hasattr(rows, "schema") else \
            rows.column(rows.schema.get_field_index(name))
    except (KeyError, IndexError):
        from mlprod.errors import DataError

        raise DataError(f"column {name!r} is not in the evaluation data.") from None


def _numbers(rows: Any, name: str, n: int) -> np.ndarray:
    """One float32 per row of column ``name`` (NaN where missing; the first value of a list)."""
    import pandas as pd

    col = _get(rows, name)
    if isinstance(col, pd.Series):
        return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64).astype(np.float32)
    r, v = _column_values(col)
    out = np.full(n, np.nan, dtype=np.float32)
    first = np.unique(r, return_index=True)[1]
    out[r[first]] = np.asarray(v[first], dtype=np.float32)
    return out


def _stats(spec: EvalSpec, codes: np.ndarray, g: int, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> Stats:
    """Per-code arrays of the sufficient statistics (length ``g`` in the first axis)."""

    def total(values: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(codes, weights=w if values is None else w * values, minlength=g)

    s: Stats = {"n": np.bincount(codes, minlength=g).astype(np.float64), "w": total(), "wy": total(y)}
    if spec.model_type == "binary":
        pf = p.astype(np.float64)
        s["wp"] = total(pf)
        pos, neg = w * y, w * (1.0 - y)   # fractional labels split the weight, as TFMA
        above = pf > DECISION
        for name, weights in (("tp", pos * above), ("fp", neg * above), ("fn", pos * ~above),
                              ("tn", neg * ~above)):
            s[name] = np.bincount(codes, weights=weights, minlength=g)
        # TFMA's way to its AUC matrices: a 10,000-bucket calibration histogram (a prediction counts
        # at its bucket's left edge), rebinned to the grid (+epsilon); idx - 1 = the rebinned bucket
        bucket = np.clip(np.floor(pf * NUM_THRESHOLDS + 1), 0, NUM_THRESHOLDS + 1)
        with np.errstate(invalid="ignore"):
            edge = np.where(bucket == 0, -np.inf, np.where(bucket > NUM_THRESHOLDS, np.inf,
                                                           (bucket - 1) / NUM_THRESHOLDS))
        idx = np.searchsorted(REBIN[1:], edge, side="right") + 1
        bins = len(GRID) + 1
        flat = codes * bins + idx
        s["hist_pos"] = np.bincount(flat, weights=pos, minlength=g * bins).reshape(g, bins)
        s["hist_neg"] = np.bincount(flat, weights=neg, minlength=g * bins).reshape(g, bins)
        with np.errstate(divide="ignore", invalid="ignore"):   # TFMA's formula, in float32 per row
            y32 = y.astype(np.float32)
            bce = (-(y32 * np.log(p)) - (1 - y32) * np.log(1 - p)).astype(np.float64)
        s["wbce"] = total(bce)
        cls = np.rint(y).astype(np.int64).clip(0, 1)
        s["classes"] = np.bincount(codes * 2 + cls, weights=w, minlength=g * 2).reshape(g, 2)
    elif spec.model_type == "classification":
        k = p.shape[1] if p.ndim > 1 else 1
        cls = np.rint(y).astype(np.int64)
        k = max(k, int(cls.max()) + 1 if cls.size else 1)
        pred = p.argmax(axis=1) if p.size else np.zeros(0, dtype=np.int64)
        s["confusion"] = np.bincount((codes * k + cls) * k + pred, weights=w, minlength=g * k * k).reshape(g, k, k)
    else:
        pf = p.astype(np.float64)
        s["wp"] = total(pf)
        s["wyy"] = total(y * y)
        s["wse"] = total((pf - y) ** 2)
        s["wae"] = total(np.abs(pf - y))
        nonzero = y != 0   # TFMA leaves rows with label 0 out of the percentage error
        with np.errstate(divide="ignore", invalid="ignore"):
            ape = np.where(nonzero, 100 * np.abs((y - pf) / np.where(nonzero, y, 1)), 0.0)
        s["wape"] = total(ape)
        s["w_ape"] = np.bincount(codes, weights=w * nonzero, minlength=g)
        if spec.trivial_metric == "mean_absolute_error":  # its trivial value needs the labels themselves
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(g + 1))
            s["labels"] = [(y[order[a:b]], w[order[a:b]]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return s


def merge(accs: Iterable[dict[SliceKey, Stats]]) -> dict[SliceKey, Stats]:
    """Add up the statistics of several batches (per slice key).

    Example:
        >>> a = {(): {"n": 1.0, "w": 1.0}}
        >>> merge([a, {(): {"n": 2.0, "w": 2.0}}])[()]["n"]
        3.0
    """
    out: dict[SliceKey, Stats] = {}
    for acc in accs:
        for key, s in acc.items():
            mine = out.get(key)
            if mine is None:
                out[key] = {k: (list(v) if isinstance(v, list) else v) for k, v in s.items()}
                continue
            for name, v in s.items():
                if isinstance(v, list):
                    mine[name] = [*mine[name], *v]
                elif name == "confusion" and mine[name].shape != v.shape:
                    k = max(mine[name].shape[0], v.shape[0])
                    mine[name] = _pad(mine[name], k) + _pad(v, k)
                else:
                    mine[name] = mine[name] + v
    return out


def _pad(m: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((k, k))
    out[: m.shape[0], : m.shape[1]] = m
    return out


def _div(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


def _above(hist: np.ndarray) -> np.ndarray:
    """Weight above each grid threshold (rebinned buckets >= j); none above the last (1 + epsilon), as TFMA."""
    out = np.cumsum(hist[::-1])[::-1][1:].copy()
    out[-1] = 0.0
    return out


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC by TFMA's interpolated Riemann sum over :data:`GRID`."""
    # tp[j] / fp[j]: weight of positives / negatives with p > GRID[j]: bins (j, end]
    tp, fp = _above(pos), _above(neg)
    tp_total, fp_total = pos.sum(), neg.sum()
    recall = np.divide(tp, tp_total, out=np.zeros_like(tp), where=tp_total != 0)
    fpr = np.divide(fp, fp_total, out=np.zeros_like(fp), where=fp_total != 0)
    heights = (recall[:-1] + recall[1:]) / 2.0
    return float(np.nansum((fpr[:-1] - fpr[1:]) * heights))


def _pr_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """PR AUC by TFMA's interpolation (Davis & Goadrich) over :data:`GRID`."""
    tp, fp = _above(pos), _above(neg)
    fn = pos.sum() - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = dtp / np.maximum(dp, 0)
        intercept = tp[1:] - slope * p[1:]
        ratio = np.divide(p[:-1], p[1:], out=np.ones_like(p[1:]), where=p[1:] != 0)
        increment = slope * (dtp + intercept * np.log(ratio)) / np.maximum(tp[1:] + fn[1:], 0)
    return float(np.nansum(increment))


def derive(acc: dict[SliceKey, Stats], spec: EvalSpec) -> dict[SliceKey, dict[str, float]]:
    """Metric values per slice key from merged statistics (TFMA's formulas, see the module)."""
    names = set(reported(spec))
    out: dict[SliceKey, dict[str, float]] = {}
    for key, s in acc.items():
        w = float(s["w"])
        v: dict[str, float] = {"example_count": w if spec.weight_key else float(s["n"])}
        if spec.model_type == "binary":
            tp, fp, tn, fn = (float(s[k]) for k in ("tp", "fp", "tn", "fn"))
            v.update(binary_accuracy=_div(tp + tn, tp + tn + fp + fn), precision=_div(tp, tp + fp),
                     recall=_div(tp, tp + fn), fall_out=_div(fp, fp + tn), miss_rate=_div(fn, fn + tp),
                     f1_score=_div(2 * tp, 2 * tp + fp + fn), binary_crossentropy=_div(float(s["wbce"]), w),
                     auc=_auc(s["hist_pos"], s["hist_neg"]), calibration=_div(float(s["wp"]), float(s["wy"])),
                     mean_label=_div(float(s["wy"]), w), mean_prediction=_div(float(s["wp"]), w))
        elif spec.model_type == "classification":
            cm = s["confusion"]
            v["sparse_categorical_accuracy"] = _div(float(np.trace(cm)), float(cm.sum()))
        else:
            v.update(mean_squared_error=_div(float(s["wse"]), w), mean_absolute_error=_div(float(s["wae"]), w),
                     mean_label=_div(float(s["wy"]), w), mean_prediction=_div(float(s["wp"]), w),
                     mean_absolute_percentage_error=_div(float(s["wape"]), float(s["w_ape"])))
        if "auc_precision_recall" in names and "hist_pos" in s:
            v["auc_precision_recall"] = _pr_auc(s["hist_pos"], s["hist_neg"])
        values = {k: x for k, x in v.items() if k in names}
        if key == ():
            t = _trivial(s, spec)
            model = v.get(spec.trivial_metric, float("nan"))
            values[TRIVIAL] = t
            values[GAIN] = t - model if spec.trivial_metric in LOWER_IS_BETTER else model - t
        out[key] = values
    return out


def _trivial(s: Stats, spec: EvalSpec) -> float:
    metric, w = spec.trivial_metric, float(s["w"])
    if not w:
        return float("nan")
    if metric == "auc":
        return 0.5
    if metric in ACCURACIES:
        per_class = s["classes"] if "classes" in s else s["confusion"].sum(axis=1)
        return float(np.max(per_class) / w)
    if metric == "mean_absolute_error":
        ys = np.concatenate([a for a, _ in s["labels"]]) if s["labels"] else np.zeros(0)
        ws = np.concatenate([b for _, b in s["labels"]]) if s["labels"] else np.zeros(0)
        return trivial_value(metric, ys, ws)
    mean = float(s["wy"]) / w
    return max(float(s["wyy"]) / w - mean * mean, 0.0)


def failures(values: dict[SliceKey, dict[str, float]], spec: EvalSpec) -> dict[SliceKey, list[tuple[str, float]]]:
    """Value thresholds TFMA's validator would fail: ``lower <= value <= upper`` (NaN fails),
    on the overall slice (``threshold_slices="overall"``) or every slice (``"all"``); the gain
    over the trivial baseline on the overall slice only. Change thresholds need the baseline
    model and are judged with it (:meth:`EvalResult.with_baseline`)."""
    out: dict[SliceKey, list[tuple[str, float]]] = {}
    for name, th in spec.judged_thresholds().items():
        lower = MIN_GAIN if name == GAIN else th.lower
        upper = None if name == GAIN else th.upper
        if lower is None and upper is None:
            continue
        for key, vals in values.items():
            if key != () and (spec.threshold_slices != "all" or name == GAIN):
                continue
            if name not in vals:
                continue
            x = vals[name]
            ok = (lower is None or x >= lower) and (upper is None or x <= upper)
            if not ok:
                out.setdefault(key, []).append((name, x))
    return out


def _slice_key_proto(key: SliceKey) -> Any:
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as pb

    sk = pb.SliceKey()
    for col, val in key:
        single = sk.single_slice_keys.add(column=col)
        if isinstance(val, str):
            single.bytes_value = val.encode("utf-8")
        elif isinstance(val, int):
            single.int64_value = val
        else:
            single.float_value = val
    return sk


def write_output(output_dir: str, values: dict[SliceKey, dict[str, float]], spec: EvalSpec,
                 failed: dict[SliceKey, list[tuple[str, float]]], *, data_location: str = "<DataFrame>",
                 model_location: str = "<predictions>") -> str:
    """Write TFMA's output files (metrics, empty plots and attributions, validations, eval config)."""
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow_model_analysis import version as tfma_version
    from tensorflow_model_analysis.proto import config_pb2
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as mpb
    from tensorflow_model_analysis.proto import validation_result_pb2 as vpb

    from mlprod.evaluation.spec import _threshold

    tf.io.gfile.makedirs(output_dir)
    weighted = bool(spec.weight_key)
    with tf.io.TFRecordWriter(os.path.join(output_dir, "metrics-00000-of-00001.tfrecord")) as f:
        for key, vals in values.items():
            m = mpb.MetricsForSlice(slice_key=_slice_key_proto(key))
            for name, x in vals.items():
                kv = m.metric_keys_and_values.add()
                kv.key.name, kv.key.model_name = name, "candidate"
                kv.key.example_weighted.value = weighted
                kv.value.double_value.value = x
            f.write(m.SerializeToString())
    for name in ("plots-00000-of-00001.tfrecord", "attributions-00000-of-00001.tfrecord"):
        with tf.io.TFRecordWriter(os.path.join(output_dir, name)):
            pass
    ths = spec.judged_thresholds()
    vr = vpb.ValidationResult(validation_ok=not failed)
    for key, fails in failed.items():
        per = vr.metric_validations_per_slice.add(slice_key=_slice_key_proto(key))
        for name, x in fails:
            fl = per.failures.add(metric_value=mpb.MetricValue(double_value={"value": x}),
                                  message=f"{name}={x} outside {ths[name]}")
            fl.metric_key.name, fl.metric_key.model_name = name, "candidate"
            fl.metric_key.example_weighted.value = weighted
            fl.metric_threshold.CopyFrom(_threshold(ths[name], name in LOWER_IS_BETTER))
    vr.validation_details.slicing_details.add(slicing_spec=config_pb2.SlicingSpec(),
                                              num_matching_slices=1 if () in values else 0)
    with tf.io.TFRecordWriter(os.path.join(output_dir, "validations.tfrecord")) as f:
        f.write(vr.SerializeToString())
    config = spec.to_eval_config()
    config.model_specs[0].name = "candidate"
    run = config_pb2.EvalRun(eval_config=config, version=tfma_version.VERSION, data_location=data_location,
                             file_format="tfrecords", model_locations={"candidate": model_location})
    with tf.io.gfile.GFile(os.path.join(output_dir, "eval_config.json"), "w") as f:
        f.write(json_format.MessageToJson(run))
    return output_dir


def evaluate_predictions(rows: "pd.DataFrame", predictions: np.ndarray, spec: EvalSpec, output_dir: str,
                         *, chunk_rows: int = 200_000, model_location: str = "<predictions>") -> str:
    """Statistics of ``rows`` with their ``predictions`` in chunks, derived and written as TFMA output."""
    accs = [batch_stats(rows.iloc[a:a + chunk_rows], predictions[a:a + chunk_rows], spec)
            for a in range(0, len(rows), chunk_rows)]
    return finish(merge(accs), spec, output_dir, model_location=model_location)


def finish(acc: dict[SliceKey, Stats], spec: EvalSpec, output_dir: str, **where: str) -> str:
    """Derive the metrics of merged statistics, judge the value thresholds, write TFMA's output."""
    from mlprod.errors import DataError

    acc = dict(acc)
    dropped = acc.pop(DROPPED, None)
    if () not in acc:
        raise DataError("no labelled rows with a prediction to evaluate (labels or predictions missing "
                        "or NaN in every row).")
    if dropped:
        import logging

        logging.getLogger("mlprod.evaluation").warning(
            "left out of the evaluation: %d rows without a label %r, %d rows whose prediction is missing or NaN",
            int(dropped["no_label"]), spec.label, int(dropped["no_prediction"]))
    values = derive(acc, spec)
    return write_output(output_dir, values, spec, failures(values, spec), **where)


PREDICTION_OUTPUTS = ("outputs", "probabilities", "predictions", "logistic", "scores", "output_0")


class SavedModelScorer:
    """Scores serialized ``tf.Example``s with a SavedModel's raw-example signature, whole batches at once.

    The output is ``spec.prediction_key`` when set, the only output when there is one, else the
    first of :data:`PREDICTION_OUTPUTS` the signature has (logged).
    """

    def __init__(self, path: str, spec: EvalSpec) -> None:
        import tensorflow as tf

        from mlprod.errors import ConfigError

        self._fn = tf.saved_model.load(path).signatures[spec.signature]
        args = self._fn.structured_input_signature[1]
        strings = [k for k, v in args.items() if getattr(v, "dtype", None) == tf.string]
        if len(strings) != 1:
            raise ConfigError(f"signature {spec.signature!r} of {path} takes {list(args)}; the evaluator feeds one "
                              "tensor of serialized tf.Examples.")
        self._arg = strings[0]
        outputs = list(self._fn.structured_outputs)
        if spec.prediction_key:
            if spec.prediction_key not in outputs:
                raise ConfigError(f"EvalSpec(prediction_key={spec.prediction_key!r}) is not an output of "
                                  f"{path}'s {spec.signature!r} signature (outputs: {outputs}).")
            self.output = spec.prediction_key
        elif len(outputs) == 1:
            self.output = outputs[0]
        else:
            found = [o for o in PREDICTION_OUTPUTS if o in outputs]
            if not found:
                raise ConfigError(f"{path}'s {spec.signature!r} signature has outputs {outputs}; name the one to "
                                  "evaluate with EvalSpec(prediction_key=...).")
            self.output = found[0]
            import logging

            logging.getLogger("mlprod.evaluation").info("evaluating output %r of %s (outputs: %s)",
                                                        self.output, path, outputs)

    def __call__(self, records: "list[bytes] | np.ndarray") -> np.ndarray:
        import tensorflow as tf

        out = self._fn(**{self._arg: tf.constant(list(records), dtype=tf.string)})[self.output]
        return np.asarray(out.numpy(), dtype=np.float32)


def score_records(scorer: SavedModelScorer, records: "list[bytes]", batch_rows: int = 4096) -> np.ndarray:
    """``scorer`` over ``records`` in batches of ``batch_rows``, concatenated."""
    parts = [scorer(records[a:a + batch_rows]) for a in range(0, len(records), batch_rows)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


RAW = "__raw_record__"


def _stored_predictions(batch: Any, spec: EvalSpec) -> np.ndarray:
    """The predictions a RecordBatch stores in ``spec.prediction_key`` (one value or vector per row)."""
    import pyarrow as pa

    col = _get(batch, spec.prediction_key or "")
    n = len(col)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        values = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
        if spec.model_type == "classification":
            return values.reshape(n, -1) if n else values.reshape(0, 1)
        return _numbers(batch, spec.prediction_key or "", n) if len(values) != n else values
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float32)


class BatchStats(beam.DoFn):
    """Statistics of each RecordBatch (scored by the SavedModel when one is given)."""

    def __init__(self, spec: EvalSpec, model: str | None) -> None:
        super().__init__()
        self._spec, self._model = spec, model
        self._scorer: SavedModelScorer | None = None

    def setup(self) -> None:
        if self._model:
            self._scorer = SavedModelScorer(self._model, self._spec)

    def process(self, batch: Any) -> Iterable[dict[SliceKey, Stats]]:
        if self._scorer is not None:
            records = batch.column(batch.schema.get_field_index(RAW)).flatten().to_pylist()
            preds = self._scorer(records)
        else:
            preds = _stored_predictions(batch, self._spec)
        yield batch_stats(batch, preds, self._spec)


class MergeStats(beam.CombineFn):
    """Adds up batch statistics per slice key (:func:`merge`)."""

    def create_accumulator(self) -> dict[SliceKey, Stats]:
        return {}

    def add_input(self, acc: dict[SliceKey, Stats], x: dict[SliceKey, Stats]) -> dict[SliceKey, Stats]:
        return merge([acc, x])

    def merge_accumulators(self, accs: Iterable[dict[SliceKey, Stats]]) -> dict[SliceKey, Stats]:
        return merge(accs)

    def extract_output(self, acc: dict[SliceKey, Stats]) -> dict[SliceKey, Stats]:
        return acc


class _Finish:
    """Derive and write on the worker that holds the merged statistics."""

    def __init__(self, spec: EvalSpec, output_dir: str, where: dict[str, str]) -> None:
        self.spec, self.output_dir, self.where = spec, output_dir, where

    def __call__(self, acc: dict[SliceKey, Stats]) -> str:
        return finish(acc, self.spec, self.output_dir, **self.where)


def evaluate_files(pattern: str, spec: EvalSpec, output_dir: str, *, model: str | None = None,
                   beam_args: list[str] | None = None, batch_rows: int = 8192) -> str:
    """Evaluate ``tf.Example`` TFRecords matching ``pattern`` on Beam: the workers read Arrow batches,
    score them with the SavedModel ``model`` (or take the stored ``spec.prediction_key``), compute
    each batch's statistics; the merged statistics are derived and written (TFMA's format) to
    ``output_dir``, which the workers must be able to reach."""
    from tfx_bsl.public import tfxio

    from mlprod.beam import pipeline_options

    where = {"data_location": pattern, "model_location": model or "<predictions>"}
    source = tfxio.TFExampleRecord(pattern, raw_record_column_name=RAW if model else None,
                                   telemetry_descriptors=["mlprod"])
    with beam.Pipeline(options=pipeline_options(beam_args)) as p:
        _ = (p | "Read" >> source.BeamSource(batch_size=batch_rows)
             | "Statistics" >> beam.ParDo(BatchStats(spec, model))
             | "Merge" >> beam.CombineGlobally(MergeStats())
             | "Write" >> beam.Map(_Finish(spec, output_dir, where)))
    return output_dir


def rewrite_validation(output_dir: str, result: Any) -> str:
    """Rewrite TFMA's ``validations.tfrecord`` in ``output_dir`` from ``result``'s final verdict
    (after a separately evaluated baseline's change thresholds were applied)."""
    import tensorflow as tf
    from tensorflow_model_analysis.proto import validation_result_pb2 as vpb

    vr = vpb.ValidationResult(validation_ok=bool(result.passed))
    for sname, metric in result.failures or []:
        per = vr.metric_validations_per_slice.add()
        if sname != "Overall":
            for part in sname.split(", "):
                col, _, val = part.partition("=")
                per.slice_key.single_slice_keys.add(column=col, bytes_value=val.encode("utf-8"))
        fl = per.failures.add(message=f"{metric} failed its threshold")
        fl.metric_key.name, fl.metric_key.model_name = metric, "candidate"
    with tf.io.TFRecordWriter(os.path.join(output_dir, "validations.tfrecord")) as f:
        f.write(vr.SerializeToString())
    return output_dir
