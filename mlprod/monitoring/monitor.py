"""Monitoring the served model over time: skew, drift, decay and estimated decay per window.

:func:`monitor` cuts the logged requests (a request-log folder, or any DataFrame of rows with a
time column) into windows, by time (``window="1D"``, ``"6h"``) or by count (``window=5000``),
and for each window computes, with the semantics of :func:`mlprod.detect_skew` and
:func:`mlprod.detect_drift` (same distances, same noise-aware thresholds):

- **skew**: each feature against the training data (``baseline``);
- **drift**: each feature against the previous window;
- **decay**: accuracy where ground truth has arrived (``label`` joined from feedback);
- **estimated accuracy** before labels arrive: the mean top-class probability (confidence-based
  performance estimation, as NannyML's CBPE; valid for calibrated classifiers), so decay of a
  model whose inputs moved is seen before the labels come back. It cannot see concept drift
  (same inputs, new labels): that needs labels, and the measured accuracy sees it.

Accuracy alerts compare with a reference: ``reference_accuracy`` or, by default, the first
``reference_windows`` windows (measured where labelled, else estimated); a window alerts when
it is more than ``max_accuracy_drop`` below it and outside its binomial noise (3 standard
errors at its row count), so small windows do not raise false alarms.

Example:
    (tests/monitoring/test_monitor.py runs this.)
    >>> import mlprod
    >>> r = mlprod.monitor("/srv/logs/taxi", baseline=train_df, label="tips", window="7D")  # doctest: +SKIP
    >>> r.alerts[["window", "metric", "feature", "value", "threshold"]]                # doctest: +SKIP
    >>> r.save_html("monitor.html")                                                     # doctest: +SKIP
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlprod.errors import ConfigError, DataError
from mlprod.monitoring.result import COLUMNS, MonitorResult

TIME = "_timestamp_ms"
PREDICTION = "_prediction"


def _windows(df: Any, window: int | str, time_column: str, time_unit: str = "ms") -> list[tuple[Any, Any, Any]]:
    """(start, end, frame) per window, in time order."""
    import pandas as pd

    if time_column not in df.columns:
        raise DataError(f"the requests have no time column {time_column!r} (columns: {sorted(df.columns)[:12]}...); "
                        "pass time_column=... .")
    ts = df[time_column]
    t = pd.to_datetime(ts, unit=time_unit, utc=True) if pd.api.types.is_numeric_dtype(ts) else pd.to_datetime(ts, utc=True)
    df = df.assign(_t=t).sort_values("_t", kind="stable").reset_index(drop=True)
    out = []
    if isinstance(window, (int, np.integer)) and not isinstance(window, bool):
        if window < 1:
            raise ConfigError(f"window={window}: a count window needs at least 1 row.")
        for i in range(0, len(df), int(window)):
            w = df.iloc[i:i + int(window)]
            out.append((w["_t"].iloc[0], w["_t"].iloc[-1], w))
        return out
    try:
        freq = pd.tseries.frequencies.to_offset(window)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"window={window!r} is neither a row count nor a pandas frequency ('1D', '6h', '30min').") \
            from e
    for start, w in df.groupby(pd.Grouper(key="_t", freq=freq), sort=True):
        if len(w):
            out.append((start, start + freq, w))
    return out


def _scores(pred: Any) -> np.ndarray:
    """Predictions column -> [n, k] class probabilities (k=2 for a binary model's single score)."""
    values = list(pred)
    if values and isinstance(values[0], np.ndarray) and values[0].ndim == 1:
        # the usual case, as read_requests returns it: equal-length 1-D arrays, joined in one C call
        try:
            lens = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
            if (lens == lens[0]).all():
                a = np.concatenate(values).astype(np.float64).reshape(len(values), int(lens[0]))
                return np.column_stack([1 - a[:, 0], a[:, 0]]) if a.shape[1] == 1 else a
        except (TypeError, ValueError):
            pass  # scalars or ragged values: the general path below says what is wrong
    rows = [np.atleast_1d(np.asarray(p, dtype=np.float64)) for p in values]
    k = max(len(r) for r in rows)
    if any(len(r) != k for r in rows):
        raise DataError(f"predictions have different lengths ({sorted({len(r) for r in rows})}); monitor one model "
                        "output (prediction=...).")
    a = np.stack(rows)
    return np.column_stack([1 - a[:, 0], a[:, 0]]) if k == 1 else a


def _accuracy_rows(w: Any, name: str, label: str, prediction: str, reference: float | None,
                   max_drop: float) -> list[dict[str, Any]]:
    """measured and estimated accuracy of one window (with alert thresholds when a reference exists)."""
    if prediction not in w.columns:
        return []
    probs = _scores(w[prediction])
    rows = []
    est = float(probs.max(axis=1).mean())
    cols = [("estimated_accuracy", est, len(w))]
    if label in w.columns:
        has = w[label].notna().to_numpy()
        if has.any():
            y = w.loc[has, label].to_numpy()
            try:
                y = y.astype(np.int64)
            except (TypeError, ValueError) as e:
                raise DataError(f"labels in {label!r} must be class indices (0..k-1) to compare with the predicted "
                                f"probabilities; got {y[:3].tolist()}.") from e
            acc = float((probs[has].argmax(axis=1) == y).mean())
            cols.append(("accuracy", acc, int(has.sum())))
            rows.append({"window": name, "metric": "labelled", "feature": "", "value": int(has.sum()),
                         "threshold": None, "alert": False})
    for metric, v, n in cols:
        th = None
        if reference is not None:
            se = math.sqrt(max(reference * (1 - reference), 1e-4) / max(n, 1))
            th = reference - max(max_drop, 3 * se)
        rows.append({"window": name, "metric": metric, "feature": "", "value": round(v, 4),
                     "threshold": None if th is None else round(th, 4), "alert": th is not None and v < th})
    return rows


def monitor(requests: Any, baseline: Any = None, *, label: str = "label", window: int | str = "1D",
            features: list[str] | None = None, schema: Any = None, prediction: str = PREDICTION,
            time_column: str = TIME, time_unit: str = "ms", skew: bool = True, drift: bool = True,
            reference_accuracy: float | None = None, reference_windows: int = 1, max_accuracy_drop: float = 0.05,
            min_window_rows: int = 30) -> MonitorResult:
    """Skew, drift, measured and estimated accuracy of the served model, window by window.

    Args:
        requests: a request-log folder (``serve(log_dir=...)``) or a DataFrame with ``time_column``.
        baseline: the training data (DataFrame or path) for skew; None skips skew.
        label: ground-truth column (joined from feedback for a log folder).
        window: rows per window (int) or a pandas frequency (``"1D"``, ``"6h"``).
        features: features to check (default: the baseline's columns present in the requests).
        schema: schema for the checks (default inferred and curated from the baseline).
        prediction: the logged prediction column (class probabilities).
        time_column: the time of each row: numbers since the epoch in ``time_unit`` or datetimes.
            The log's ``_timestamp_ms`` is when the request arrived; a feature such as an
            event time (``time_unit="s"``) windows replayed or delayed traffic by when it happened.
        time_unit: unit of a numeric ``time_column`` (``"ms"``, ``"s"``).
        skew, drift: which comparisons to run.
        reference_accuracy: the accuracy to hold the model to (default: the first windows').
        reference_windows: windows that make the default reference.
        max_accuracy_drop: allowed fall below the reference before an alert (0.05 = 5 points).
        min_window_rows: windows with fewer rows are reported but not compared.

    Returns:
        A :class:`MonitorResult`: ``table`` (tidy: window, start, end, rows, metric, feature,
        value, threshold, alert), ``alerts``, ``first_alert()``, plots and HTML.

    Raises:
        DataError: no requests, a missing column, labels that are not class ids.
        ConfigError: a bad window or threshold.

    Example:
        (tests/monitoring/test_monitor.py runs this.)
        >>> r = monitor(logged_df, baseline=train_df, label="species", window=200)    # doctest: +SKIP
        >>> r.first_alert("drift:jsd")                                                 # doctest: +SKIP
    """
    import pandas as pd

    from mlprod.validation.checks import compare
    from mlprod.validation.schema import infer_schema

    if not 0 <= max_accuracy_drop < 1:
        raise ConfigError(f"max_accuracy_drop must be in [0, 1), got {max_accuracy_drop}.")
    if isinstance(requests, pd.DataFrame):
        df = requests
    else:
        from mlprod.serving.requestlog import read_requests

        df = read_requests(str(requests), label=label)
    if len(df) == 0:
        raise DataError("no requests to monitor; serve with log_dir=... and send requests first.")
    base = None
    if baseline is not None:
        from mlprod._data import load_frame

        base = baseline if isinstance(baseline, pd.DataFrame) else load_frame(baseline, "baseline data")
    if features is None:
        pool = base.columns if base is not None else df.columns
        features = [c for c in pool if c in df.columns and c != label and not str(c).startswith("_")]
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise DataError(f"feature(s) {missing} are not in the logged requests (they have "
                        f"{sorted(c for c in df.columns if not str(c).startswith('_'))}).")
    if not features and (skew or drift):
        raise DataError("no features to compare: pass features=[...] or a baseline with columns the requests have.")
    wins = _windows(df, window, time_column, time_unit)
    if schema is None and (skew or drift):  # one schema for every window: from the baseline, else the first window
        source = base if base is not None else next((w for _, _, w in wins if len(w) >= min_window_rows), None)
        if source is not None:
            with_label = label in source.columns
            schema = infer_schema(source[[*features, label]] if with_label else source[features],
                                  label=label if with_label else None)
    ref = reference_accuracy
    if ref is None:
        refs = []
        for _, _, w in wins[:reference_windows]:
            acc = [r for r in _accuracy_rows(w, "", label, prediction, None, 0) if r["metric"] != "labelled"]
            measured = [r["value"] for r in acc if r["metric"] == "accuracy"]
            refs.append(measured[0] if measured else (acc[0]["value"] if acc else None))
        known = [float(r) for r in refs if r is not None]
        ref = float(np.mean(known)) if known else None

    rows: list[dict[str, Any]] = []
    prev = prev_stats = base_stats = None  # each window's statistics are computed once and reused
    for i, (start, end, w) in enumerate(wins):
        name = f"{i:03d}"
        meta = {"start": start, "end": end, "rows": len(w),
                "model_version": int(w["_model_version"].mode().iloc[0]) if "_model_version" in w.columns else None}
        block: list[dict[str, Any]] = []
        if len(w) >= min_window_rows:
            cur = w[features].reset_index(drop=True)
            cur_stats = None
            if skew and base is not None:
                r = compare(base[features], cur, schema, kind="skew", label=label, environment="SERVING",
                            reference_statistics=base_stats)
                base_stats, cur_stats = r.reference_statistics, r.current_statistics
                block += _check_rows(r.table, name, "skew")
            if drift and prev is not None:
                r = compare(prev, cur, schema, kind="drift", label=label, environment="SERVING",
                            reference_statistics=prev_stats, current_statistics=cur_stats)
                cur_stats = r.current_statistics
                block += _check_rows(r.table, name, "drift")
            prev, prev_stats = cur, cur_stats
            block += _accuracy_rows(w, name, label, prediction, ref, max_accuracy_drop)
        else:
            block.append({"window": name, "metric": "too_few_rows", "feature": "", "value": len(w),
                          "threshold": min_window_rows, "alert": False})
        rows += [{**meta, **b} for b in block]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return MonitorResult(table, reference_accuracy=ref, window=window, features=list(features))


def _check_rows(table: Any, name: str, kind: str) -> list[dict[str, Any]]:
    out = []
    for r in table.itertuples(index=False):
        if not str(r.check).startswith(kind + ":") and r.severity != "error":
            continue
        metric = r.check if str(r.check).startswith(kind + ":") else f"{kind}:{r.check}"
        out.append({"window": name, "metric": metric, "feature": r.feature,
                    "value": r.value, "threshold": r.threshold, "alert": r.severity == "error"})
    return out
