"""The notebook API: ``validate``, ``detect_skew`` and ``detect_drift``.

Schema checks (types, domains, presence, new/missing columns) come from TFDV's
``validate_statistics``; distribution distances come from :mod:`mlprod.validation.distance`
with the thresholds the schema's comparators carry.

Example:
    >>> import mlprod
    >>> from mlprod import datasets
    >>> r = mlprod.detect_skew(datasets.penguins(), datasets.penguins("skewed"), label="species")
    >>> r.flagged
    ['culmen_length_mm']
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlprod._compat import renamed
from mlprod.errors import DataError
from mlprod.params import OneOf
from mlprod.validation import distance as dist
from mlprod.validation.protos import unwrap
from mlprod.validation.result import COLUMNS, ValidationResult
from mlprod.validation.schema import is_categorical
from mlprod.validation.stats import _statistics as compute_statistics  # the proto: what TFDV's checks take

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow_metadata.proto.v0 import schema_pb2


#: a skew/drift gate (:class:`mlprod.components.DistributionValidator`, ``PipelineConfig``'s
#: ``check_kind`` and ``skew_mode``): what :func:`compare` checks and what a failed check does
GATE_PARAMS = {"kind": OneOf("skew", "drift"), "mode": OneOf("fail", "warn")}


def _by_name(stats: Any) -> dict[str, Any]:
    return {".".join(f.path.step) or f.name: f for f in stats.datasets[0].features}


_BIG = ("FLOAT_TYPE_BIG_FLOAT", "INT_TYPE_BIG_INT")
_SMALL = ("FLOAT_TYPE_SMALL_FLOAT", "INT_TYPE_SMALL_INT")
RANGE_FALSE_ALARM = 0.001  # an inferred range flags only when this few values beyond it are this unlikely


def _count_beyond(name: str, bound: float, high: bool, st: Any, frame: Any) -> int:
    """Values of ``name`` beyond ``bound``: exact from the frame, else estimated from the histogram."""
    values = _numeric_values(frame, name)
    if values is not None:
        return int((values > bound).sum() if high else (values < bound).sum())
    total = 0.0
    for h in st.num_stats.histograms:
        if h.type != 0:  # STANDARD (equal width)
            continue
        for b in h.buckets:
            width = b.high_value - b.low_value
            inside = (b.high_value - bound) if high else (bound - b.low_value)
            share = 1.0 if width <= 0 else min(max(inside / width, 0.0), 1.0)
            total += b.sample_count * share
        break
    return max(int(round(total)), 1)


def chance_of_exceedances(k: int, m: int, n: int) -> float:
    """Chance that ``k`` or more of ``m`` new values exceed the largest of ``n`` baseline values.

    With all ``n + m`` values from one distribution (exchangeable), that is the chance that the
    top ``k`` of the pooled values all come from the new sample: prod (m - i) / (n + m - i).
    Distribution-free; a bound above the baseline's maximum is passed even less often.

    Example:
        >>> chance_of_exceedances(1, 100, 100)    # one new value above the old maximum: a coin flip
        0.5
        >>> chance_of_exceedances(10, 100, 100) < 0.001
        True
    """
    p = 1.0
    for i in range(k):
        p *= max(m - i, 0) / (n + m - i)
    return p


def _judge_range(name: str, reasons: set[str], schema: Any, stats: Any,
                 frame: Any) -> tuple[Any, Any, str, bool]:
    """(observed extreme, bound, explanation, is-noise) for an out-of-range anomaly.

    Ranges mlprod inferred from a baseline of n values are judged by how many values fall
    beyond them: only a count that chance explains with probability below RANGE_FALSE_ALARM is an
    error; fewer (e.g. one value past the maximum, which a random half of the same data does half
    of the time) is a warning. Ranges set by hand stay hard limits.
    """
    import re

    feat = next((f for f in schema.feature if f.name == name), None) if schema is not None else None
    st = _by_name(stats).get(name) if stats is not None else None
    if feat is None or st is None or not st.HasField("num_stats"):
        return None, None, "", False
    high = bool(reasons & set(_BIG))
    dom = feat.float_domain if feat.HasField("float_domain") else feat.int_domain
    side = "max" if high else "min"
    if not (reasons & set(_BIG + _SMALL)) or not dom.HasField(side):
        return None, None, "", False
    bound = getattr(dom, side)
    value = st.num_stats.max if high else st.num_stats.min
    note = next((c[len("mlprod range: "):] for c in feat.annotation.comment if c.startswith("mlprod range: ")), None)
    if note is None:
        return value, bound, f" Limit {bound:.6g} was set in the schema (not inferred by mlprod).", False
    found = re.search(r"baseline's (\d+) values", note)
    n = int(found.group(1)) if found else 0
    m = int(st.num_stats.common_stats.num_non_missing)
    k = _count_beyond(name, bound, high, st, frame)
    chance = chance_of_exceedances(k, m, n) if n else 0.0
    noise = chance >= RANGE_FALSE_ALARM and not (reasons - set(_BIG + _SMALL))
    verdict = (f"{k} of {m} values beyond it; by chance alone that happens with probability {chance:.2g} "
               f"(error below {RANGE_FALSE_ALARM:g})")
    base_min = re.search(r"baseline min (\S+)", note)
    if not high and base_min and float(base_min.group(1)) >= 0 and value < 0:
        noise = False  # a sign flip: -1/-999 sentinels in a never-negative feature are data errors
        verdict += f"; but the feature was never negative in the baseline's {n} values and now is"
    return value, bound, f" Limit {bound:.6g}: {note}. {verdict}.", noise


def _judge_domain(name: str, reasons: set[str], schema: Any, base: Any, stats: Any, base_frame: Any,
                  frame: Any) -> tuple[Any, Any, str, bool]:
    """(share of new values, share chance explains, explanation, is-noise) for values outside a domain
    mlprod inferred from a baseline: a small baseline has not seen every rare category, so only
    more new values than chance explains (:func:`mlprod.validation.distance.unseen_values`) are an error."""
    feat = next((f for f in schema.feature if f.name == name), None) if schema is not None else None
    if (feat is None or base is None or stats is None or reasons != {"ENUM_TYPE_UNEXPECTED_STRING_VALUES"}
            or not any(c.startswith("mlprod domain: ") for c in feat.annotation.comment)):
        return None, None, "", False
    b, c = _by_name(base).get(name), _by_name(stats).get(name)
    if b is None or c is None:
        return None, None, "", False
    new = dist.unseen_values(b, c, _string_values(base_frame, name), _string_values(frame, name))
    if new is None:
        return None, None, "", False
    share, allowed, m = new
    return (share, allowed, f" {share:.1%} of {m} values are new; a baseline this size misses up to "
            f"{allowed:.1%} by chance (Good-Turing)", share <= allowed)


def _schema_rows(anomalies: Any, schema: Any = None, stats: Any = None, frame: Any = None, base: Any = None,
                 base_frame: Any = None) -> list[dict[str, Any]]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    names = anomalies_pb2.AnomalyInfo.Type.Name
    rows = []
    for feat, info in sorted(anomalies.anomaly_info.items()):
        reasons = {names(r.type) for r in info.reason}
        value, threshold, note, noise = _judge_range(feat, reasons, schema, stats, frame)
        if value is None:
            value, threshold, note, noise = _judge_domain(feat, reasons, schema, base, stats, base_frame, frame)
        if noise:  # keep the proto (what TFX components read) in step with the table
            info.severity = anomalies_pb2.AnomalyInfo.WARNING
        sev = "error" if info.severity == anomalies_pb2.AnomalyInfo.ERROR else "warning"
        rows.append({"feature": feat, "check": "schema", "value": value, "threshold": threshold, "severity": sev,
                     "description": f"{info.short_description}: {info.description}{note}"})
    for info in anomalies.dataset_anomaly_info.reason:
        rows.append({"feature": "(dataset)", "check": "schema", "value": None, "threshold": None,
                     "severity": "error", "description": f"{info.short_description}: {info.description}"})
    return rows


def _without_comparators(schema: "schema_pb2.Schema") -> "schema_pb2.Schema":
    from tensorflow_metadata.proto.v0 import schema_pb2

    s = schema_pb2.Schema()
    s.CopyFrom(schema)
    for f in s.feature:
        f.ClearField("skew_comparator")
        f.ClearField("drift_comparator")
    return s


def _schema_anomalies(stats: Any, schema: "schema_pb2.Schema", environment: str | None) -> Any:
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    env = environment if environment in schema.default_environment else None
    anomalies = tfdv.validate_statistics(stats, _without_comparators(schema), environment=env)
    # TFDV reports a column absent from the statistics as "dropped" even when the schema lets it
    # be absent (presence.min_count == 0); those are not anomalies
    optional = {f.name for f in schema.feature if f.presence.min_count == 0 and f.presence.min_fraction == 0}
    for name in list(anomalies.anomaly_info):
        info = anomalies.anomaly_info[name]
        if name in optional and all(r.type == anomalies_pb2.AnomalyInfo.SCHEMA_MISSING_COLUMN for r in info.reason):
            del anomalies.anomaly_info[name]
    return anomalies


def _numeric_values(frame: Any, name: str) -> Any:
    """The column as float64 (NaN for missing), or None when absent/not numeric."""
    import numpy as np
    import pandas as pd

    if frame is None or name not in frame.columns or not pd.api.types.is_numeric_dtype(frame[name]):
        return None
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _distance_rows(base: Any, cur: Any, schema: "schema_pb2.Schema", kind: str,
                   environment: str | None, base_frame: Any = None,
                   cur_frame: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    bstats, cstats = _by_name(base), _by_name(cur)
    nb, nc = base.datasets[0].num_examples, cur.datasets[0].num_examples
    rows, plots = [], {}
    comp_field = "skew_comparator" if kind == "skew" else "drift_comparator"
    for f in schema.feature:
        if environment and environment in f.not_in_environment:
            continue
        comp = getattr(f, comp_field)
        b, c = bstats.get(f.name), cstats.get(f.name)
        if b is None or c is None:
            continue  # a missing column is a schema anomaly already
        b_num, c_num = b.HasField("num_stats"), c.HasField("num_stats")
        nb_present, nc_present = _present(b), _present(c)
        if nb_present >= 0.5 * nb and nc_present == 0 and nc > 0:
            rows.append({"feature": f.name, "check": f"{kind}:missing", "value": 1.0, "threshold": None,
                         "severity": "error", "description": f"every value is missing in the current data ({nc} "
                         f"rows); the baseline had values in {nb_present / nb:.0%} of its rows"})
            continue
        if nb_present == 0 or nc_present == 0:
            continue  # nothing to compare; whether the feature may be absent is the schema's call
        if b_num != c_num:
            rows.append({"feature": f.name, "check": f"{kind}:type", "value": None, "threshold": None,
                         "severity": "error", "description": f"type changed: {'numeric' if b_num else 'string'} "
                         f"in baseline, {'numeric' if c_num else 'string'} in current data"})
            continue
        if is_categorical(f) or not b_num:
            if not comp.HasField("infinity_norm"):
                continue
            p, q = dist.category_frequencies(b), dist.category_frequencies(c)
            if not p or not q:
                continue
            value, where = dist.linf(p, q)
            n1 = nb - b.string_stats.common_stats.num_missing
            n2 = nc - c.string_stats.common_stats.num_missing
            th = max(comp.infinity_norm.threshold, dist.noise_floor("linf", n1, n2))
            top = sorted(set(p) | set(q), key=lambda k: -max(p.get(k, 0), q.get(k, 0)))[:12]
            plots[f.name] = (top, [p.get(k, 0.0) for k in top], [q.get(k, 0.0) for k in top])
            desc = f"largest change in share of category {where!r}: {p.get(where, 0):.3f} -> {q.get(where, 0):.3f}"
            check = f"{kind}:linf"
            if not f.HasField("domain"):  # no closed domain for TFDV to check: are the values new?
                new = dist.unseen_values(b, c, _string_values(base_frame, f.name), _string_values(cur_frame, f.name))
                if new is not None:
                    share, allowed, m = new
                    rows.append({"feature": f.name, "check": f"{kind}:unseen", "value": round(share, 4),
                                 "threshold": round(allowed, 4), "severity": "error" if share > allowed else "ok",
                                 "description": f"{share:.1%} of {m} values never occur in the baseline "
                                                f"(chance explains up to {allowed:.1%})"})
        else:
            if not comp.HasField("jensen_shannon_divergence"):
                continue
            bv, cv = _numeric_values(base_frame, f.name), _numeric_values(cur_frame, f.name)
            exact = bv is not None and cv is not None
            edges = dist.value_bins(bv, int(cv.size - sum(cv != cv))) if exact else dist.numeric_bins(b)
            if not edges:
                continue
            if exact:
                ph, qh = dist.values_histogram(bv, edges), dist.values_histogram(cv, edges)
            else:
                ph, qh = dist.numeric_histogram(b, edges, nb), dist.numeric_histogram(c, edges, nc)
            value = dist.jensen_shannon(ph, qh)
            used = sum(1 for a, bb in zip(ph, qh, strict=True) if a > 0 or bb > 0)
            n1 = nb - b.num_stats.common_stats.num_missing
            n2 = nc - c.num_stats.common_stats.num_missing
            th = max(comp.jensen_shannon_divergence.threshold, dist.noise_floor("jsd", n1, n2, used))
            if not exact:
                th += dist.SKETCH_ALLOWANCE
            labels = ["missing", f"<{edges[0]:.3g}"] + [f"<={e:.3g}" for e in edges] + [f">{edges[-1]:.3g}"]
            plots[f.name] = (labels, ph, qh)
            desc = (f"mean {b.num_stats.mean:.4g} -> {c.num_stats.mean:.4g}, "
                    f"median {_median(b):.4g} -> {_median(c):.4g}")
            check = f"{kind}:jsd"
        rows.append({"feature": f.name, "check": check, "value": round(value, 4), "threshold": round(th, 4),
                     "severity": "error" if value > th else "ok", "description": desc})
    return rows, plots


def _frame_of(data: Any, beam_args: list[str] | None) -> Any:
    """The data as a DataFrame when it is one or a small CSV read in-process, else None."""
    import os

    import pandas as pd

    from mlprod.io.files import list_files
    from mlprod.io.frames import read_csv
    from mlprod.validation.stats import IN_PROCESS_MAX_BYTES

    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if beam_args or not isinstance(data, (str, os.PathLike, list)):
        return None
    try:
        files = list_files(data)
    except DataError:
        return None  # compute_statistics reports it
    if all(f.lower().endswith(".csv") for f in files) and \
            sum(os.path.getsize(f) for f in files) <= IN_PROCESS_MAX_BYTES:
        return read_csv(files)
    return None


def _string_values(frame: Any, name: str) -> Any:
    """The column's non-missing values as strings, or None when the frame or column is absent."""
    if frame is None or name not in frame.columns:
        return None
    col = frame[name].dropna()
    return col.astype(str).to_numpy()


def _present(fs: Any) -> int:
    """Examples in which the feature has a value (0 when it never occurs)."""
    from mlprod.validation.schema import examples_with_values

    common = fs.num_stats.common_stats if fs.HasField("num_stats") else fs.string_stats.common_stats
    return examples_with_values(fs, int(common.num_non_missing + common.num_missing))


def _median(fs: Any) -> float:
    return fs.num_stats.median


def _frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=COLUMNS)


def _schema_for(baseline_stats: Any, schema: Any, label: str | None) -> "schema_pb2.Schema":
    from mlprod.validation.schema import Curation, curate_schema, load_schema

    schema = unwrap(schema)
    if schema is None:
        import tensorflow_data_validation as tfdv

        return curate_schema(tfdv.infer_schema(baseline_stats), baseline_stats, Curation(label=label))
    if not hasattr(schema, "feature"):
        return load_schema(schema)
    return schema


def validate(data: Any, schema: Any, *, environment: str | None = None,
             beam_args: list[str] | None = None) -> ValidationResult:
    """Check ``data`` against ``schema`` (types, domains/ranges, presence, new or missing columns).

    Args:
        data: DataFrame, CSV/TFRecord path(s) or TFDV statistics.
        schema: a Schema proto or the path of a text-proto schema.
        environment: e.g. ``"SERVING"`` to allow the label to be absent.

    Example:
        >>> from mlprod import datasets
        >>> schema = mlprod.infer_schema(datasets.penguins(), label="species")
        >>> mlprod.validate(datasets.penguins("skewed"), schema).flagged
        ['culmen_length_mm']
    """
    frame = _frame_of(data, beam_args)
    stats = compute_statistics(data if frame is None else frame, beam_args=beam_args)
    schema = _schema_for(stats, schema, None)
    anomalies = _schema_anomalies(stats, schema, environment)
    return ValidationResult("validate", _frame(_schema_rows(anomalies, schema, stats, frame)), anomalies, None,
                            stats, schema)


@renamed(baseline="reference", baseline_statistics="reference_statistics")
def compare(reference: Any, current: Any, schema: Any = None, *, kind: str = "drift", label: str | None = None,
            environment: str | None = None, beam_args: list[str] | None = None,
            reference_statistics: Any = None, current_statistics: Any = None) -> ValidationResult:
    """Compare two datasets feature by feature (the engine behind skew and drift detection).

    ``current`` is also checked against the schema. Without a schema, one is inferred and
    curated from ``reference``. ``reference_statistics`` / ``current_statistics``: TFDV statistics
    already computed for exactly that data (e.g. ``result.current_statistics`` of an earlier
    comparison, as ``monitor`` reuses each window's); they are not recomputed.

    Example:
        >>> from mlprod import datasets
        >>> df = datasets.penguins()
        >>> first = compare(df.head(150), df.tail(150), label="species")
        >>> again = compare(df.tail(150), df.head(150), label="species",
        ...                 reference_statistics=first.current_statistics)
        >>> again.kind
        'drift'
    """
    if kind not in ("skew", "drift"):
        raise DataError(f"kind must be 'skew' or 'drift', not {kind!r}.")
    base_frame, cur_frame = _frame_of(reference, beam_args), _frame_of(current, beam_args)
    reference_statistics, current_statistics = unwrap(reference_statistics), unwrap(current_statistics)
    base = reference_statistics if reference_statistics is not None else \
        compute_statistics(reference if base_frame is None else base_frame, beam_args=beam_args, name="reference data")
    cur = current_statistics if current_statistics is not None else \
        compute_statistics(current if cur_frame is None else cur_frame, beam_args=beam_args, name="current data")
    schema = _schema_for(base, schema, label)
    bnames, cnames = set(_by_name(base)), set(_by_name(cur))
    if not bnames & cnames:
        raise DataError(f"the two datasets share no columns (reference: {sorted(bnames)}, current: "
                        f"{sorted(cnames)}); compare data with the same features.")
    if environment and any(environment in f.not_in_environment and f.name in cnames for f in schema.feature):
        environment = None  # e.g. serving logs that carry the label: check them as training data
    anomalies = _schema_anomalies(cur, schema, environment)
    rows, plots = _distance_rows(base, cur, schema, kind, environment, base_frame, cur_frame)
    table = _frame(_schema_rows(anomalies, schema, cur, cur_frame, base, base_frame) + rows)
    return ValidationResult(kind, table, anomalies, base, cur, schema, plots)


@renamed(training="reference", serving="current")
def detect_skew(reference: Any, current: Any, schema: Any = None, *, label: str | None = None,
                beam_args: list[str] | None = None) -> ValidationResult:
    """Training/serving skew: does serving data (``current``) look like what the model was
    trained on (``reference``)?

    Serving data is checked in the schema's ``SERVING`` environment (label absent is fine).

    Args:
        reference, current: training and serving data: DataFrames, CSV/TFRecord path(s) or TFDV
            statistics (``training=``/``serving=``: the old names, for one release).
        schema: Schema proto or path; default inferred and curated from ``reference``.
        label: the label column, when the schema is inferred.
        beam_args: Beam args for statistics on large files (any Beam runner).

    Example:
        >>> from mlprod import datasets
        >>> detect_skew(datasets.penguins(), datasets.penguins("skewed"), label="species").passed
        False
    """
    return compare(reference, current, schema, kind="skew", label=label, environment="SERVING",
                   beam_args=beam_args)


@renamed(previous="reference")
def detect_drift(reference: Any, current: Any, schema: Any = None, *, label: str | None = None,
                 beam_args: list[str] | None = None) -> ValidationResult:
    """Span-to-span drift: has the data moved between two spans (``reference``: e.g. last month,
    ``current``: this month)? (``previous=``: the old name, for one release.)

    Example:
        >>> import mlprod
        >>> from mlprod import datasets
        >>> df = datasets.chicago_taxi()
        >>> r = mlprod.detect_drift(df[df.trip_start_month == 1], df[df.trip_start_month == 7])
        >>> "trip_start_month" in r.flagged
        True
    """
    return compare(reference, current, schema, kind="drift", label=label, beam_args=beam_args)
