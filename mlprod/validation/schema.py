"""Schema inference (TFDV) plus mlprod's curation, with per-feature overrides.

Curation steps, each switchable in :class:`Curation`:

* numeric ranges from the observed min/max widened by how far the extreme of a new sample
  moves by chance (:func:`tail_allowance`, for ``range_false_alarm`` and ``range_size_ratio``)
  plus an optional ``range_margin``, on the sides where the data looks bounded,
* categorical domains capped (``max_categories``) so IDs are not treated as categories,
* required vs optional from presence (always present -> required),
* the label excluded from a ``SERVING`` environment,
* skew/drift comparators: L-infinity for categorical features (computed by TFDV) and
  Jensen–Shannon divergence for numeric ones (computed by mlprod on bins fixed from the
  baseline's quantiles; see docs/validation.md for why not TFDV's own numeric JSD).

Example:
    >>> from mlprod import datasets
    >>> from mlprod.validation.schema import infer_schema
    >>> schema = infer_schema(datasets.penguins(), label="species")
    >>> [f.name for f in schema.feature][:2]
    ['species', 'culmen_length_mm']
    >>> schema.table.loc[0, ["feature", "not_in"]].tolist()
    ['species', 'SERVING']
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod.errors import ConfigError, DataError
from mlprod.io.files import atomic_write_text
from mlprod.validation.protos import SchemaResult, unwrap

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

DEFAULT_CATEGORICAL_THRESHOLD = 0.1  # L-infinity distance between category frequencies
DEFAULT_NUMERIC_THRESHOLD = 0.05  # Jensen-Shannon divergence (bits) on baseline-quantile bins
# Tolerances for missing values and unseen categories are at least this many baseline examples'
# worth: a baseline of n examples without a missing value bounds the missing rate only to about 7/n
# (exp(-7) ~ 0.001), so a same-sized sample with a few missing values is not an anomaly.
SMALL_SAMPLE_COUNT = 7


@dataclass(frozen=True)
class FeatureOverride:
    """Per-feature settings that win over curation (``None`` keeps the curated value).

    Attributes:
        min, max: numeric domain bounds.
        required: True -> must be present in every example; False -> optional.
        categorical: force treating the feature as categorical (True) or not (False).
        skew_threshold, drift_threshold: comparator thresholds (L-inf or JSD by kind).
        drop: remove the feature from the schema.
    """

    min: float | None = None
    max: float | None = None
    required: bool | None = None
    categorical: bool | None = None
    skew_threshold: float | None = None
    drift_threshold: float | None = None
    drop: bool = False

    def __post_init__(self) -> None:
        for name in ("min", "max", "skew_threshold", "drift_threshold"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v != v):
                raise ConfigError(f"FeatureOverride {name}={v!r} must be a number.")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ConfigError(f"FeatureOverride(min={self.min}, max={self.max}): min must be <= max.")
        for name in ("skew_threshold", "drift_threshold"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"FeatureOverride {name}={v} must be >= 0.")


@dataclass(frozen=True)
class Curation:
    """Switches for the curation applied on top of TFDV's inference.

    Example:
        >>> Curation(range_margin=None).range_margin is None   # keep TFDV's (no) ranges
        True
    """

    range_margin: float | None = 0.0
    range_false_alarm: float = 0.001
    range_size_ratio: float = 10.0
    max_categories: int = 50
    min_domain_mass: float | None = 0.99
    min_range_samples: int = 20
    tail_ratio: float = 1.0
    required_from_presence: bool = True
    presence_tolerance: float = 0.01
    label: str | None = None
    serving_environment: bool = True
    categorical_threshold: float | None = DEFAULT_CATEGORICAL_THRESHOLD
    numeric_threshold: float | None = DEFAULT_NUMERIC_THRESHOLD
    overrides: dict[str, FeatureOverride] = field(default_factory=dict)


def _feature_stats(stats: "statistics_pb2.DatasetFeatureStatisticsList") -> dict[str, Any]:
    return {".".join(f.path.step) or f.name: f for f in stats.datasets[0].features}


def _quantile_span(st: Any) -> tuple[float, float] | None:
    """(q_low, q_high): the first quantile bucket's high and the last one's low (q5/q95 with 20 buckets)."""
    for h in st.num_stats.histograms:
        if h.type == 1 and len(h.buckets) >= 3:  # QUANTILES
            return h.buckets[0].high_value, h.buckets[-1].low_value
    return None


def _quantile_tail_share(st: Any) -> float:
    for h in st.num_stats.histograms:
        if h.type == 1 and len(h.buckets) >= 3:
            return 1.0 / len(h.buckets)
    return 0.05


def tail_allowance(extreme: float, quantile: float, n_tail: float, false_alarm: float,
                   size_ratio: float) -> float:
    """How far beyond the baseline's extreme a new sample's extreme may go by chance.

    The tail beyond the outer quantile is modelled as exponential with scale ``sigma``: the
    ``n_tail`` baseline points there put the extreme at ``quantile + sigma * H(n_tail)``
    (harmonic number), which estimates ``sigma``. A new sample of up to ``size_ratio`` times the
    baseline's size then passes ``extreme + t`` with probability about
    ``size_ratio * exp(-t / sigma)``; ``t`` is chosen to make that ``false_alarm``. Lighter tails
    (Gaussian, bounded) exceed it even less often; heavy tails are left open by the caller.

    Example:
        >>> round(tail_allowance(10.0, 9.0, 5, 0.001, 10), 2)   # sigma = 1 / H(5) = 0.44
        4.03
    """
    import math

    harmonic = sum(1.0 / i for i in range(1, max(int(round(n_tail)), 1) + 1))
    sigma = abs(extreme - quantile) / harmonic
    return sigma * math.log(size_ratio / false_alarm)


def _set_range(f: Any, st: Any, c: "Curation") -> None:
    """Bound a side of the domain only where the data looks bounded there.

    A side is bounded when its extreme lies within ``tail_ratio`` times the 5-95% spread
    of the 5% / 95% quantile; heavy tails (fares, trip miles) are left open on that side
    and monitored by the distribution distance instead. The bound is the extreme plus
    :func:`tail_allowance` (how far the extreme of a new sample moves by chance, for the
    curation's ``range_false_alarm`` and ``range_size_ratio``) plus ``range_margin`` of the
    range. Where the bound came from is written into the feature's annotation, and reports quote it.
    """
    import math

    from tensorflow_metadata.proto.v0 import schema_pb2

    n = st.num_stats.common_stats.num_non_missing
    span = _quantile_span(st)
    if n < c.min_range_samples or span is None:
        return
    lo, hi = st.num_stats.min, st.num_stats.max
    q_lo, q_hi = span
    spread = max(q_hi - q_lo, 0.0)
    n_tail = n * _quantile_tail_share(st)
    low_ok = (q_lo - lo) <= c.tail_ratio * spread
    high_ok = (hi - q_hi) <= c.tail_ratio * spread
    pad = (c.range_margin or 0.0) * (hi - lo)
    notes = []
    for side, ok, extreme, q in (("min", low_ok, lo, q_lo), ("max", high_ok, hi, q_hi)):
        if not ok:
            continue
        allow = tail_allowance(extreme, q, n_tail, c.range_false_alarm, c.range_size_ratio) + pad
        bound = extreme - allow if side == "min" else extreme + allow
        if f.type == schema_pb2.INT:  # whole steps: a fraction of a step of allowance is none
            bound = extreme - round(allow) if side == "min" else extreme + round(allow)
            setattr(f.int_domain, side, int(math.floor(bound) if side == "min" else math.ceil(bound)))
        elif f.type == schema_pb2.FLOAT:
            setattr(f.float_domain, side, bound)
        else:
            continue
        notes.append(f"{side} {bound:.6g} = baseline {side} {extreme:.6g} {'-' if side == 'min' else '+'} "
                     f"allowance {allow:.4g}")
    if notes:
        f.annotation.comment.append(
            f"mlprod range: {'; '.join(notes)} (false-alarm rate {c.range_false_alarm:g} per side for data up "
            f"to {c.range_size_ratio:g}x the baseline's {n} values)")


def _singletons(st: Any) -> int:
    """Categories seen exactly once (0 when the rank histogram does not cover every category)."""
    ss = st.string_stats
    buckets = ss.rank_histogram.buckets
    if not buckets or len(buckets) < ss.unique:
        return 0
    return sum(1 for b in buckets if round(b.sample_count) == 1)


def examples_with_values(st: Any, n: int) -> int:
    """Examples in which a feature has at least one value.

    TFDV counts a feature present when its key is there, even with an empty value list (what
    CsvExampleGen writes for an empty CSV cell); for single-valued features the number of values
    is the number of examples that really have one.
    """
    common = st.num_stats.common_stats if st.HasField("num_stats") else st.string_stats.common_stats
    present = n - common.num_missing
    if common.max_num_values <= 1:
        present = min(present, int(common.tot_num_values))
    return int(present)


def is_categorical(feature: "schema_pb2.Feature") -> bool:
    """True for string features and for ints marked categorical in the schema."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    if feature.type == schema_pb2.BYTES:
        return True
    return feature.type == schema_pb2.INT and feature.int_domain.is_categorical


def curate_schema(schema: "schema_pb2.Schema", stats: "statistics_pb2.DatasetFeatureStatisticsList",
                  curation: Curation | None = None) -> "schema_pb2.Schema":
    """Apply :class:`Curation` to a schema (e.g. SchemaGen's) using the statistics it came from.

    Returns a new schema proto; the input is not modified. ``schema`` and ``stats`` may be protos
    or mlprod's results (:class:`~mlprod.validation.protos.SchemaResult`, ``StatisticsResult``).

    Raises:
        ConfigError: an override or label names a feature the schema does not have, or a
            threshold/margin is negative.

    Example:
        >>> from mlprod.validation.stats import compute_statistics
        >>> from mlprod import datasets
        >>> import tensorflow_data_validation as tfdv
        >>> st = compute_statistics(datasets.penguins())
        >>> s = curate_schema(tfdv.infer_schema(st.proto), st, Curation(label="species"))
        >>> s.default_environment
        ['TRAINING', 'SERVING']
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema, stats = unwrap(schema), unwrap(stats)
    c = curation or Curation()
    for name, value in (("range_margin", c.range_margin), ("categorical_threshold", c.categorical_threshold),
                        ("numeric_threshold", c.numeric_threshold)):
        if value is not None and value < 0:
            raise ConfigError(f"{name}={value} must be >= 0 (or None to switch it off).")
    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    names = [f.name for f in out.feature]
    unknown = [n for n in [*c.overrides, *([c.label] if c.label else [])] if n not in names]
    if unknown:
        raise ConfigError(f"features {unknown} are not in the schema (features: {names}); fix the names.")
    fstats = _feature_stats(stats)
    n = stats.datasets[0].num_examples

    for f in out.feature:
        st = fstats.get(f.name)
        ov = c.overrides.get(f.name, FeatureOverride())
        if ov.categorical is not None and f.type == schema_pb2.INT:
            f.int_domain.is_categorical = ov.categorical
        # numeric ranges from the observed quantiles, widened by a margin, on bounded sides only
        if c.range_margin is not None and st is not None and st.HasField("num_stats") and not is_categorical(f):
            _set_range(f, st, c)
        # categorical domains: keep small ones (tolerating 1% unseen values), drop ID-like ones
        if f.type == schema_pb2.BYTES and f.HasField("domain"):
            dom = next((d for d in out.string_domain if d.name == f.domain), None)
            if dom is not None and len(dom.value) > c.max_categories:
                f.ClearField("domain")
            elif c.min_domain_mass is not None and st is not None:
                # a small baseline has not seen every category: allow unseen values in proportion to
                # the categories it saw only once (Good-Turing) plus SMALL_SAMPLE_COUNT examples' worth
                unseen = (SMALL_SAMPLE_COUNT + _singletons(st)) / max(n, 1)
                f.distribution_constraints.min_domain_mass = max(0.0, min(c.min_domain_mass, 1.0 - unseen))
                f.annotation.comment.append(f"mlprod domain: {len(dom.value) if dom else 0} categories seen in "
                                            f"the baseline's {n} examples")
        if ov.min is not None or ov.max is not None:
            target = f.float_domain if f.type == schema_pb2.FLOAT else f.int_domain
            if ov.min is not None:
                target.min = ov.min
            if ov.max is not None:
                target.max = ov.max
        # required vs optional from presence
        if c.required_from_presence and st is not None:
            present = examples_with_values(st, n)
            # "required" tolerates a sliver of missing values (c.presence_tolerance), so a
            # feature missing in 2 of 15,002 rows does not alarm on samples that happened to miss them
            # (at least SMALL_SAMPLE_COUNT examples' worth of the baseline, so small data does not cry wolf)
            tolerance = max(c.presence_tolerance, SMALL_SAMPLE_COUNT / max(n, 1))
            f.presence.min_fraction = max(0.0, 1.0 - tolerance) if present == n else 0.0
            if f.presence.min_fraction < 1.0 and f.HasField("shape"):
                # a fixed shape means "in every example"; keep "one value when present" instead
                f.ClearField("shape")
                f.value_count.min = f.value_count.max = 1
            # a feature seen in under 1% of examples may legitimately vanish from a sample
            f.presence.min_count = 1 if present >= 0.01 * n else 0
        if ov.required is not None:  # an explicit "required" means every example
            f.presence.min_fraction = 1.0 if ov.required else 0.0
        # comparators
        cat = is_categorical(f)
        base = c.categorical_threshold if cat else c.numeric_threshold
        for comp_name, th in (("skew_comparator", ov.skew_threshold), ("drift_comparator", ov.drift_threshold)):
            value = th if th is not None else base
            if value is None:
                continue
            comp = getattr(f, comp_name)
            if cat:
                comp.infinity_norm.threshold = value
            else:
                comp.jensen_shannon_divergence.threshold = value

    # label only in TRAINING
    if c.label and c.serving_environment:
        del out.default_environment[:]
        out.default_environment.extend(["TRAINING", "SERVING"])
        for f in out.feature:
            if f.name == c.label:
                del f.not_in_environment[:]
                f.not_in_environment.append("SERVING")
                f.ClearField("skew_comparator")  # the label is not served
    dropped = [name for name, ov in c.overrides.items() if ov.drop]
    if dropped:
        keep = [f for f in out.feature if f.name not in dropped]
        del out.feature[:]
        out.feature.extend(keep)
    return out


def infer_schema(data: Any, *, label: str | None = None, curation: Curation | None = None,
                 overrides: dict[str, FeatureOverride | dict] | None = None,
                 beam_args: list[str] | None = None) -> SchemaResult:
    """Infer a curated schema from data (DataFrame, CSV/TFRecord path(s)) or statistics.

    Returns a :class:`~mlprod.validation.protos.SchemaResult`: one row per feature in ``.table``
    (type, presence, domain, environments, comparator thresholds), an HTML view and
    ``.save(output_dir)``; the TFDV ``Schema`` is ``.proto`` (pass that to TFDV's own functions,
    e.g. ``tfdv.display_schema(schema.proto)``), and the proto's attributes work on the result
    too (``schema.feature``). Every mlprod function taking a schema accepts either.

    Args:
        data: anything :func:`mlprod.validation.stats.compute_statistics` accepts.
        label: the label column (kept out of the ``SERVING`` environment).
        curation: curation switches (default :class:`Curation`).
        overrides: per-feature :class:`FeatureOverride` (or dicts of its fields).
        beam_args: Beam args for statistics on large files.

    Example:
        >>> from mlprod import datasets
        >>> s = infer_schema(datasets.penguins(), label="species",
        ...                  overrides={"body_mass_g": {"min": 0.0, "max": 1.0}})
        >>> [f.float_domain.max for f in s.feature if f.name == "body_mass_g"]
        [1.0]
    """
    import tensorflow_data_validation as tfdv

    from mlprod.validation.stats import _statistics

    stats = _statistics(data, beam_args=beam_args)
    c = curation or Curation()
    if overrides:
        ovs = {k: v if isinstance(v, FeatureOverride) else _override(k, v) for k, v in overrides.items()}
        c = replace(c, overrides={**c.overrides, **ovs})
    if label is not None:
        c = replace(c, label=label)
    schema = tfdv.infer_schema(stats, max_string_domain_size=max(c.max_categories, 1) * 4)
    return SchemaResult(curate_schema(schema, stats, c))


def _override(name: str, value: dict) -> FeatureOverride:
    if not isinstance(value, dict):
        raise ConfigError(f"override for {name!r} must be a dict such as {{'min': 0, 'max': 1}}, not {value!r}.")
    try:
        return FeatureOverride(**value)
    except TypeError as e:
        raise ConfigError(f"override for {name!r}: {e}; allowed keys are min, max, required, categorical, "
                          "skew_threshold, drift_threshold, drop.") from None


def save_schema(schema: "schema_pb2.Schema", path: str | Path) -> Path:
    """Write ``schema`` (a proto or :class:`~mlprod.validation.protos.SchemaResult`) as text protobuf
    (atomically; an existing file survives a failure).

    Example:
        >>> from mlprod import datasets
        >>> p = save_schema(infer_schema(datasets.penguins()), "schema.pbtxt")
        >>> len(load_schema(p).feature)
        5
    """
    from google.protobuf import text_format

    return atomic_write_text(path, text_format.MessageToString(unwrap(schema)))


def load_schema(path: str | Path) -> "schema_pb2.Schema":
    """Read a text-protobuf schema (as written by :func:`save_schema` or TFX's SchemaGen).

    A folder is accepted too (SchemaGen's artifact folder holding ``schema.pbtxt``).

    Raises:
        DataError: missing or unparsable file.

    Example:
        >>> from mlprod import datasets
        >>> len(load_schema(datasets.path("chicago_taxi/schema")).feature) > 10
        True
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    p = Path(path)
    if p.is_dir():
        p = p / "schema.pbtxt"
    if not p.is_file():
        raise DataError(f"schema file {str(p)!r} does not exist; write one with mlprod.validation.save_schema.")
    try:
        return text_format.Parse(p.read_text(), schema_pb2.Schema())
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise DataError(f"{p} is not a text-protobuf Schema ({str(e)[:200]}).") from None
