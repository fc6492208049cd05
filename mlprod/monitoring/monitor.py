"""Monitoring the served model over time: skew, drift, decay and estimated decay per window.

:func:`monitor` cuts the logged requests (a request-log folder, or any DataFrame of rows with a
time column) into windows, by time (``window="1D"``, ``"6h"``) or by count (``window=5000``),
and for each window computes, with the semantics of :func:`mlprod.detect_skew` and
:func:`mlprod.detect_drift` (same distances, same noise-aware thresholds):

- **skew**: each feature against the reference: the training data (``reference``), or for
  seasonal data the same span one cycle earlier (``against="previous_cycle"``), or the
  previous windows (``against="rolling"``);
- **drift**: each feature against the previous window;
- **decay**: accuracy where ground truth has arrived (``label`` joined from feedback);
- **estimated accuracy** before labels arrive: the mean top-class probability (confidence-based
  performance estimation, as NannyML's CBPE; valid for calibrated classifiers), so decay of a
  model whose inputs moved is seen before the labels come back. It cannot see concept drift
  (same inputs, new labels): that needs labels, and the measured accuracy sees it.

Accuracy alerts compare with the same reference: measured accuracy with ``reference_accuracy``
or the reference rows' measured accuracy (by default the first ``reference_windows`` windows),
estimated accuracy with the reference rows' *estimated* accuracy (an over-confident model's
fall in confidence is a fall). A window alerts when it is more than ``max_accuracy_drop`` below
and outside the binomial noise of the difference (3 standard errors), so small windows do not
raise false alarms. Every row names its reference; whatever was not compared (a window under
``min_window_rows``, a window with no data one cycle earlier) is listed in ``skipped``.

Example:
    (tests/monitoring/test_monitor.py runs this.)
    >>> import mlprod
    >>> r = mlprod.monitor("/srv/logs/taxi", reference=train_df, label="tips", window="7D")  # doctest: +SKIP
    >>> r.alerts[["window", "metric", "feature", "value", "threshold"]]                # doctest: +SKIP
    >>> r.save_html("monitor.html")                                                     # doctest: +SKIP
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlprod._compat import renamed
from mlprod.errors import ConfigError, DataError
from mlprod.monitoring.result import COLUMNS, SKIPPED_COLUMNS, MonitorResult
from mlprod.params import Interval, Kind, OneOf, check_params

TIME = "_timestamp_ms"
PREDICTION = "_prediction"
REFERENCES = ("training", "previous_cycle", "rolling")
DEFAULT_PERIOD = "1Y"
log = logging.getLogger("mlprod.monitoring")


def _timed(df: Any, time_column: str, time_unit: str, what: str = "the requests") -> Any:
    """``df`` with a UTC ``_t`` column from ``time_column``, sorted by it."""
    import pandas as pd

    if time_column not in df.columns:
        raise DataError(f"{what} have no time column {time_column!r} (columns: {sorted(df.columns)[:12]}...); "
                        "pass time_column=... .")
    ts = df[time_column]
    t = pd.to_datetime(ts, unit=time_unit, utc=True) if pd.api.types.is_numeric_dtype(ts) else pd.to_datetime(ts, utc=True)
    return df.assign(_t=t).sort_values("_t", kind="stable").reset_index(drop=True)


def _windows(df: Any, window: int | str, time_column: str, time_unit: str = "ms") -> list[tuple[Any, Any, Any]]:
    """(start, end, frame) per window, in time order (``df`` not yet timed, or already with ``_t``)."""
    import pandas as pd

    if "_t" not in df.columns:
        df = _timed(df, time_column, time_unit)
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


def cycle_offset(period: Any) -> Any:
    """What to subtract from a time to reach the same moment one cycle earlier.

    Calendar periods (``"1Y"``, ``"12M"``, ``"3M"``) are calendar offsets, so a monthly window
    maps onto the same month a year earlier; anything else is a fixed duration (``"365D"``,
    ``"7D"``, ``"24h"``).

    Raises:
        ConfigError: neither a calendar period nor a duration, or not positive.

    Example:
        >>> import pandas as pd
        >>> pd.Timestamp("2015-03-01") - cycle_offset("1Y")
        Timestamp('2014-03-01 00:00:00')
        >>> pd.Timestamp("2015-03-01") - cycle_offset("7D")
        Timestamp('2015-02-22 00:00:00')
    """
    import pandas as pd

    if isinstance(period, (pd.DateOffset, pd.Timedelta)):
        return period
    m = re.fullmatch(r"\s*(\d*)\s*(Y|YS|YE|A|AS|y|M|MS|ME)\s*", str(period))
    if m:
        n = int(m.group(1) or 1)
        if n < 1:
            raise ConfigError(f"period={period!r} must be positive.")
        return pd.DateOffset(years=n) if m.group(2)[0] in "YAy" else pd.DateOffset(months=n)
    try:
        td = pd.Timedelta(str(period))
    except ValueError as e:
        raise ConfigError(f"period={period!r} is neither a calendar period ('1Y', '12M', '3M') nor a duration "
                          "('365D', '7D', '24h').") from e
    if td <= pd.Timedelta(0):
        raise ConfigError(f"period={period!r} must be positive.")
    return td


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


@dataclass
class _Accuracy:
    """Measured and estimated accuracy of some rows (a window, or the rows a window is compared with)."""

    estimated: float | None = None
    rows: int = 0
    accuracy: float | None = None
    labelled: int = 0
    name: str = ""


def _accuracy_of(w: Any, label: str, prediction: str, name: str = "") -> _Accuracy:
    """Mean top-class probability over the rows and, where labelled, accuracy."""
    if prediction not in w.columns or len(w) == 0:
        return _Accuracy(name=name)
    probs = _scores(w[prediction])
    out = _Accuracy(float(probs.max(axis=1).mean()), len(w), name=name)
    if label in w.columns:
        has = w[label].notna().to_numpy()
        if has.any():
            y = w.loc[has, label].to_numpy()
            try:
                y = y.astype(np.int64)
            except (TypeError, ValueError) as e:
                raise DataError(f"labels in {label!r} must be class indices (0..k-1) to compare with the predicted "
                                f"probabilities; got {y[:3].tolist()}.") from e
            out.accuracy, out.labelled = float((probs[has].argmax(axis=1) == y).mean()), int(has.sum())
    return out


def _threshold(ref: float, ref_rows: int | None, rows: int, max_drop: float) -> float:
    """The lowest value a window of ``rows`` may show before it alerts: ``max_drop`` below the
    reference, or 3 standard errors of the difference (both sides' binomial noise) if wider.

    The variance is Agresti-Coull's (two successes and two failures added to the reference's
    rows), so a reference that was right on all its 30 rows does not make a zero-width band."""
    n_ref = ref_rows or 0
    p = (ref * n_ref + 2) / (n_ref + 4) if n_ref else ref
    var = max(p * (1 - p), 1e-4)
    se = math.sqrt(var * (1.0 / max(rows, 1) + (1.0 / n_ref if n_ref else 0.0)))
    return ref - max(max_drop, 3 * se)


def _accuracy_rows(acc: _Accuracy, name: str, ref: _Accuracy | None, fixed: float | None, max_drop: float,
                   why_none: str = "") -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Rows for one window's measured and estimated accuracy, and the (check, reason) of any left uncompared.

    Measured accuracy is held to ``fixed`` (``reference_accuracy``) or to the reference rows'
    measured accuracy; estimated accuracy to the reference rows' *estimated* accuracy, so an
    over-confident model's fall in confidence is seen as one. ``why_none``: why there is no
    reference (the reason a check left uncompared gets).
    """
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    if acc.estimated is None:
        return rows, skipped
    if acc.accuracy is not None:
        rows.append({"window": name, "metric": "labelled", "feature": "", "value": acc.labelled,
                     "threshold": None, "alert": False, "reference": ""})
    where = f" ({ref.name})" if ref is not None and ref.name else ""
    cols = [("estimated_accuracy", acc.estimated, acc.rows,
             None if ref is None else ref.estimated, None if ref is None else ref.rows,
             "" if ref is None or ref.estimated is None else f"estimated {ref.estimated:.4f}{where}")]
    if acc.accuracy is not None:
        if fixed is not None:
            cols.append(("accuracy", acc.accuracy, acc.labelled, fixed, None, f"reference_accuracy {fixed:.4f}"))
        else:
            cols.append(("accuracy", acc.accuracy, acc.labelled, None if ref is None else ref.accuracy,
                         None if ref is None else ref.labelled,
                         "" if ref is None or ref.accuracy is None else f"accuracy {ref.accuracy:.4f}{where}"))
    for metric, v, n, r, n_ref, ref_name in cols:
        th = None if r is None else _threshold(r, n_ref, n, max_drop)
        if th is None:
            what = "labelled rows" if metric == "accuracy" else "predictions"
            skipped.append((metric, why_none or f"the reference{where} has no {what} to compare with"
                            + ("; pass reference_accuracy=..." if metric == "accuracy" else "")))
        rows.append({"window": name, "metric": metric, "feature": "", "value": round(v, 4),
                     "threshold": None if th is None else round(th, 4), "alert": th is not None and v < th,
                     "reference": ref_name})
    return rows, skipped


def _span(lo: Any, hi: Any, rows: int | None = None) -> str:
    def day(t: Any) -> str:
        return f"{t:%Y-%m-%d}" if t == t.normalize() else f"{t:%Y-%m-%d %H:%M}"
    return f"{day(lo)} to {day(hi)}" + ("" if rows is None else f", {rows} rows")


def _names(names: list[str]) -> str:
    return f"window {names[0]}" if len(names) == 1 else f"windows {names[0]}-{names[-1]}"


#: the constraints on monitor's arguments (also RetrainTrigger's and the CLI's; mlprod.params)
MONITOR_PARAMS = {"max_accuracy_drop": Interval(float, 0, 1, closed="left"), "reference_windows": Interval(int, 1),
                  "min_window_rows": Interval(int, 1), "skew": Kind(bool), "drift": Kind(bool, optional=True),
                  "reference_accuracy": Interval(float, 0, 1, optional=True), "time_unit": OneOf("ms", "s", "us", "ns"),
                  "alert_subject": Kind(str, optional=True)}


@renamed(baseline="reference")
def monitor(requests: Any, reference: Any = None, *, label: str = "label", window: int | str = "1D",
            features: list[str] | None = None, schema: Any = None, prediction: str = PREDICTION,
            time_column: str = TIME, time_unit: str = "ms", skew: bool = True, drift: bool | None = None,
            against: str = "training", period: Any = None,
            reference_accuracy: float | None = None, reference_windows: int = 1, max_accuracy_drop: float = 0.05,
            min_window_rows: int = 30, alert_subject: str | None = None) -> MonitorResult:
    """Skew, drift, measured and estimated accuracy of the served model, window by window.

    Args:
        requests: a request-log folder (``serve(log_dir=...)``) or a DataFrame with ``time_column``.
        reference: the training data (DataFrame or path) for skew; None skips skew against it
            (``baseline=``: its old name, for one release).
        label: ground-truth column (joined from feedback for a log folder).
        window: rows per window (int) or a pandas frequency (``"1D"``, ``"6h"``, ``"MS"``).
        features: features to check (default: the baseline's columns present in the requests).
        schema: schema for the checks (default inferred and curated from the baseline).
        prediction: the logged prediction column (class probabilities).
        time_column: the time of each row: numbers since the epoch in ``time_unit`` or datetimes.
            The log's ``_timestamp_ms`` is when the request arrived; a feature such as an
            event time (``time_unit="s"``) windows replayed or delayed traffic by when it happened.
        time_unit: unit of a numeric ``time_column`` (``"ms"``, ``"s"``).
        skew: compare each window's features with the reference (``skew:*`` rows).
        drift: compare each window's features with the previous window (``drift:*`` rows).
            Default: on, except with ``against="previous_cycle"``, where consecutive windows
            of seasonal data differ by design (a note says so; pass ``drift=True`` to keep it).
        against: what each window is held to, for skew and for accuracy:

            - ``"training"`` (default): features against ``reference`` (the training data); accuracy against the first
              ``reference_windows`` windows (or ``reference_accuracy``).
            - ``"previous_cycle"``: the same span one ``period`` earlier, for seasonal data (the
              requests of that span, and the training data's rows there when it has ``time_column``).
              Windows with no such data (the first cycle) are listed in ``skipped``.
            - ``"rolling"``: the ``reference_windows`` compared windows before this one.

            Every row names what it was compared with (``reference`` column).
        period: the cycle for ``against="previous_cycle"``: ``"1Y"`` (default; calendar
            years, so ``"MS"`` windows map onto the same month), ``"12M"``, ``"365D"``, ``"7D"``.
        reference_accuracy: a fixed accuracy to hold measured accuracy to (any ``against``).
        reference_windows: windows that make the reference: the first ones (``"training"``) or
            the previous ones (``"rolling"``).
        max_accuracy_drop: allowed fall below the reference before an alert (0.05 = 5 points);
            the threshold widens to 3 standard errors of the difference for small windows.
        min_window_rows: windows (and reference spans) with fewer rows are not compared; they
            are listed in ``skipped`` with the reason.
        alert_subject: what the alarm events name (default ``logs/<folder>`` for a log folder,
            ``requests`` for a DataFrame). When alerts are configured (:mod:`mlprod.alerts`), the
            alerts of the two newest windows go out as ``drift_alarm`` / ``skew_alarm`` /
            ``decay_alarm`` events (:meth:`MonitorResult.events`); otherwise nothing is sent.

    Returns:
        A :class:`MonitorResult`: ``table`` (tidy: window, start, end, rows, metric, feature,
        value, threshold, alert, reference), ``alerts``, ``skipped``, ``notes``,
        ``first_alert()``, plots and HTML.

    Raises:
        DataError: no requests, a missing column, labels that are not class ids.
        ConfigError: a bad window, reference, period or threshold.

    Example:
        (tests/monitoring/test_monitor.py runs this.)
        >>> r = monitor(logged_df, reference=train_df, label="species", window=200)   # doctest: +SKIP
        >>> r.first_alert("drift:jsd")                                                 # doctest: +SKIP
        >>> r = monitor(daily_df, reference=train_df, window="MS", time_column="date",
        ...             against="previous_cycle", period="1Y")                       # doctest: +SKIP
        >>> r.alerts[["window", "metric", "feature", "reference"]]; r.skipped          # doctest: +SKIP
    """
    import pandas as pd

    from mlprod.validation.checks import compare
    from mlprod.validation.schema import infer_schema

    check_params("monitor", locals(), MONITOR_PARAMS)
    if against not in REFERENCES:
        raise ConfigError(f"against={against!r}; choose one of {REFERENCES} ('previous_cycle' with period='1Y' "
                          "for seasonal data, 'rolling' with reference_windows=N).")
    if period is not None and against != "previous_cycle":
        raise ConfigError(f"period={period!r} is the cycle of against='previous_cycle'; got against={against!r}.")
    notes: list[str] = []
    offset = None
    if against == "previous_cycle":
        if period is None:
            period = DEFAULT_PERIOD
            notes.append(f"against='previous_cycle' with period={DEFAULT_PERIOD!r} (a yearly cycle); "
                         "pass period=... for another (e.g. '7D' for a weekly one)")
        offset = cycle_offset(period)
    if drift is None:
        drift = against != "previous_cycle"
        if not drift:
            notes.append("drift against the previous window is off: consecutive windows of seasonal data differ by "
                         "design; skew:* compares each window with the previous cycle (drift=True keeps it)")
    if isinstance(requests, pd.DataFrame):
        df = requests
    else:
        from mlprod.serving.requestlog import read_requests

        df = read_requests(str(requests), label=label)
    if len(df) == 0:
        raise DataError("no requests to monitor; serve with log_dir=... and send requests first.")
    base = None
    if reference is not None:
        from mlprod.io.frames import load_frame

        base = reference if isinstance(reference, pd.DataFrame) else load_frame(reference, "reference data")
    if features is None:
        pool = base.columns if base is not None else df.columns
        features = [c for c in pool if c in df.columns and c != label and not str(c).startswith("_")
                    and c != time_column]
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise DataError(f"feature(s) {missing} are not in the logged requests (they have "
                        f"{sorted(c for c in df.columns if not str(c).startswith('_'))}).")
    if not features and (skew or drift):
        raise DataError("no features to compare: pass features=[...] or a baseline with columns the requests have.")
    timed = _timed(df, time_column, time_unit)
    wins = _windows(timed, window, time_column, time_unit)
    by_count = isinstance(window, (int, np.integer))
    if schema is None and (skew or drift):  # one schema for every window: from the baseline, else the first window
        source = base if base is not None else next((w for _, _, w in wins if len(w) >= min_window_rows), None)
        if source is not None:
            with_label = label in source.columns
            schema = infer_schema(source[[*features, label]] if with_label else source[features],
                                  label=label if with_label else None)
    cycle_pool = None  # previous_cycle: the rows whose features a window is compared with
    if offset is not None and skew:
        cycle_pool = timed[[*features, "_t"]]
        if base is not None and time_column in base.columns:
            cycle_pool = pd.concat([_timed(base, time_column, time_unit, "the baseline")[[*features, "_t"]],
                                    cycle_pool], ignore_index=True).sort_values("_t", kind="stable")
        elif base is not None:
            notes.append(f"the baseline has no {time_column!r} column: the previous cycle comes from the requests "
                         "only, so windows of the first cycle are not compared (see skipped)")
    fixed_ref = None  # "training": one accuracy reference for every window
    if against == "training":
        big = [(f"{i:03d}", w) for i, (_, _, w) in enumerate(wins) if len(w) >= min_window_rows]
        first = [(n, _accuracy_of(w, label, prediction)) for n, w in big[:reference_windows]]
        est = [(n, a) for n, a in first if a.estimated is not None]
        lab = [(n, a) for n, a in first if a.accuracy is not None]
        fixed_ref = _Accuracy(
            float(np.average([a.estimated for _, a in est], weights=[a.rows for _, a in est])) if est else None,
            sum(a.rows for _, a in est),
            float(np.average([a.accuracy for _, a in lab], weights=[a.labelled for _, a in lab])) if lab else None,
            sum(a.labelled for _, a in lab), _names([n for n, _ in first]) if first else "")

    def span_of(frame: Any, start: Any, end: Any) -> Any:
        lo, hi = start - offset, end - offset
        t = frame["_t"]
        return frame[(t >= lo) & ((t <= hi) if by_count else (t < hi))], lo, hi

    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    history: list[tuple[str, Any, Any]] = []  # rolling: (name, features, whole window) of compared windows
    prev = prev_stats = base_stats = None  # each window's statistics are computed once and reused
    prev_name = ""
    for i, (start, end, w) in enumerate(wins):
        name = f"{i:03d}"
        meta = {"start": start, "end": end, "rows": len(w),
                "model_version": int(w["_model_version"].mode().iloc[0]) if "_model_version" in w.columns else None}
        block: list[dict[str, Any]] = []
        at = {"window": name, **meta}  # where a check left uncompared is listed
        if len(w) < min_window_rows:
            block.append({"window": name, "metric": "too_few_rows", "feature": "", "value": len(w),
                          "threshold": min_window_rows, "alert": False, "reference": ""})
            skipped.append({**at, "check": "all", "reason": f"{len(w)} rows < min_window_rows={min_window_rows}; "
                                                             "lower min_window_rows to compare it"})
            rows += [{**meta, **b} for b in block]
            continue
        cur = w[features].reset_index(drop=True)
        cur_stats = None
        # what this window is held to: features (ref_frame) and accuracy (ref_acc)
        ref_frame, ref_name, ref_acc, why_none = None, "", fixed_ref, ""
        if against == "training":
            ref_frame, ref_name = base, "training data"
        elif against == "previous_cycle":
            got, lo, hi = span_of(timed, start, end)
            ref_acc = _accuracy_of(got, label, prediction, f"previous cycle ({period}): {_span(lo, hi, len(got))}")
            if len(got) < min_window_rows:
                ref_acc, why_none = None, (f"{len(got)} requests one cycle ({period}) earlier "
                                           f"({_span(lo, hi)}) < min_window_rows={min_window_rows}")
            if cycle_pool is not None:
                got, lo, hi = span_of(cycle_pool, start, end)
                ref_name = f"previous cycle ({period}): {_span(lo, hi, len(got))}"
                if len(got) >= min_window_rows:
                    ref_frame = got[features].reset_index(drop=True)
                else:
                    skipped.append({**at, "check": "skew", "reason": f"{len(got)} rows one cycle ({period}) earlier "
                                    f"({_span(lo, hi)}) < min_window_rows={min_window_rows}"})
        else:  # rolling
            last = history[-reference_windows:]
            if last:
                ref_frame = pd.concat([f for _, f, _ in last], ignore_index=True)
                ref_name = f"rolling: {_names([n for n, _, _ in last])}, {len(ref_frame)} rows"
                ref_acc = _accuracy_of(pd.concat([a for _, _, a in last]), label, prediction, ref_name)
            else:
                ref_acc, why_none = None, "the first compared window: no earlier window to roll over"
                if skew:
                    skipped.append({**at, "check": "skew", "reason": why_none})
        if skew and ref_frame is not None:
            r = compare(ref_frame, cur, schema, kind="skew", label=label, environment="SERVING",
                        reference_statistics=base_stats if against == "training" else None)
            if against == "training":
                base_stats = r.reference_statistics
            cur_stats = r.current_statistics
            block += _check_rows(r.table, name, "skew", ref_name)
        if drift and prev is not None:
            r = compare(prev, cur, schema, kind="drift", label=label, environment="SERVING",
                        reference_statistics=prev_stats, current_statistics=cur_stats)
            cur_stats = r.current_statistics
            block += _check_rows(r.table, name, "drift", f"previous window {prev_name}")
        prev, prev_stats, prev_name = cur, cur_stats, name
        history = [*history, (name, cur, w)][-reference_windows:]  # rolling keeps only what it rolls over
        acc_rows, acc_skipped = _accuracy_rows(_accuracy_of(w, label, prediction), name, ref_acc,
                                               reference_accuracy, max_accuracy_drop, why_none)
        block += acc_rows
        for check, reason in acc_skipped:
            skipped.append({**at, "check": check, "reason": reason})
        rows += [{**meta, **b} for b in block]
    table = pd.DataFrame(rows, columns=COLUMNS)
    skipped_table = pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)
    whole = skipped_table[skipped_table["check"] == "all"]
    if len(whole):
        notes.append(f"{len(whole)} of {len(wins)} windows have fewer than min_window_rows={min_window_rows} rows "
                     f"and are not compared ({', '.join(whole['window'].head(8))}{' ...' if len(whole) > 8 else ''}); "
                     "see result.skipped")
    for n in notes:
        log.info("monitor: %s", n)
    ref_value = reference_accuracy if reference_accuracy is not None else (
        fixed_ref.accuracy if fixed_ref is not None else None)
    result = MonitorResult(table, reference_accuracy=ref_value, window=window, features=list(features),
                           against=against if offset is None else f"previous_cycle ({period})",
                           reference_estimated_accuracy=None if fixed_ref is None else fixed_ref.estimated,
                           skipped=skipped_table, notes=notes)
    from mlprod.alerts import emit, enabled

    if enabled():
        for event in result.events(alert_subject or (f"logs/{requests}" if not isinstance(requests, pd.DataFrame)
                                                     else "requests")):
            emit(event)
    return result


def _check_rows(table: Any, name: str, kind: str, reference: str) -> list[dict[str, Any]]:
    out = []
    for r in table.itertuples(index=False):
        if not str(r.check).startswith(kind + ":") and r.severity != "error":
            continue
        metric = r.check if str(r.check).startswith(kind + ":") else f"{kind}:{r.check}"
        out.append({"window": name, "metric": metric, "feature": r.feature,
                    "value": r.value, "threshold": r.threshold, "alert": r.severity == "error",
                    "reference": reference})
    return out
