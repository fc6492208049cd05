"""Schema inference (TFDV) plus mlprod's curation, with per-feature overrides.

Curation steps, each switchable in :class:`Curation`:

* numeric ranges from the observed min/max widened by a margin (``range_margin``), on the sides where the data looks bounded,
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
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod._fs import atomic_write_text
from mlprod.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

DEFAULT_CATEGORICAL_THRESHOLD = 0.1  # L-infinity distance between category frequencies
DEFAULT_NUMERIC_THRESHOLD = 0.05  # Jensen-Shannon divergence (bits) on baseline-quantile bins


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


@dataclass(frozen=True)
class Curation:
    """Switches for the curation applied on top of TFDV's inference.

    Example:
        >>> Curation(range_margin=None).range_margin is None   # keep TFDV's (no) ranges
        True
    """

    range_margin: float | None = 0.25
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
    """(q5, q95) from the quantile histogram (first bucket's high, last bucket's low)."""
    for h in st.num_stats.histograms:
        if h.type == 1 and len(h.buckets) >= 3:  # QUANTILES
            return h.buckets[0].high_value, h.buckets[-1].low_value
    return None


def _set_range(f: Any, st: Any, margin: float, min_samples: int = 20, tail_ratio: float = 1.0) -> None:
    """Bound a side of the domain only where the data looks bounded there.

    A side is bounded when its extreme lies within ``tail_ratio`` times the 5-95% spread
    of the 5% / 95% quantile; heavy tails (fares, trip miles) are left open on that side
    and monitored by the distribution distance instead, so a fresh outlier in a random
    sample is not an anomaly. The bound is the extreme widened by ``margin`` of the range
    (of the 5-95% spread when one side is heavy-tailed).
    """
    import math

    from tensorflow_metadata.proto.v0 import schema_pb2

    n = st.num_stats.common_stats.num_non_missing
    span = _quantile_span(st)
    if n < min_samples or span is None:
        return
    lo, hi = st.num_stats.min, st.num_stats.max
    q5, q95 = span
    spread = max(q95 - q5, 0.0)
    low_ok = (q5 - lo) <= tail_ratio * spread
    high_ok = (hi - q95) <= tail_ratio * spread
    # widen by a share of the range; with a heavy tail the range is the tail's, so use the spread
    pad = margin * ((hi - lo) if (low_ok and high_ok) else spread)
    if f.type == schema_pb2.FLOAT:
        if low_ok:
            f.float_domain.min = lo - pad
        if high_ok:
            f.float_domain.max = hi + pad
    elif f.type == schema_pb2.INT:
        if low_ok:
            f.int_domain.min = math.floor(lo - pad)
        if high_ok:
            f.int_domain.max = math.ceil(hi + pad)


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

    Returns a new schema; the input is not modified.

    Raises:
        ConfigError: an override or label names a feature the schema does not have, or a
            threshold/margin is negative.

    Example:
        >>> from mlprod.validation.stats import compute_statistics
        >>> from mlprod import datasets
        >>> import tensorflow_data_validation as tfdv
        >>> st = compute_statistics(datasets.penguins())
        >>> s = curate_schema(tfdv.infer_schema(st), st, Curation(label="species"))
        >>> s.default_environment
        ['TRAINING', 'SERVING']
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

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
            _set_range(f, st, c.range_margin, c.min_range_samples, c.tail_ratio)
        # categorical domains: keep small ones (tolerating 1% unseen values), drop ID-like ones
        if f.type == schema_pb2.BYTES and f.HasField("domain"):
            dom = next((d for d in out.string_domain if d.name == f.domain), None)
            if dom is not None and len(dom.value) > c.max_categories:
                f.ClearField("domain")
            elif c.min_domain_mass is not None:
                f.distribution_constraints.min_domain_mass = c.min_domain_mass
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
            f.presence.min_fraction = 1.0 - c.presence_tolerance if present == n else 0.0
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
                 beam_args: list[str] | None = None) -> "schema_pb2.Schema":
    """Infer a curated schema from data (DataFrame, CSV/TFRecord path(s)) or statistics.

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

    from mlprod.validation.stats import compute_statistics

    stats = compute_statistics(data, beam_args=beam_args)
    c = curation or Curation()
    if overrides:
        ovs = {k: v if isinstance(v, FeatureOverride) else _override(k, v) for k, v in overrides.items()}
        c = replace(c, overrides={**c.overrides, **ovs})
    if label is not None:
        c = replace(c, label=label)
    schema = tfdv.infer_schema(stats, max_string_domain_size=max(c.max_categories, 1) * 4)
    return curate_schema(schema, stats, c)


def _override(name: str, value: dict) -> FeatureOverride:
    try:
        return FeatureOverride(**value)
    except TypeError as e:
        raise ConfigError(f"override for {name!r}: {e}; allowed keys are min, max, required, categorical, "
                          "skew_threshold, drift_threshold, drop.") from None


def save_schema(schema: "schema_pb2.Schema", path: str | Path) -> Path:
    """Write ``schema`` as text protobuf (atomically; an existing file survives a failure).

    Example:
        >>> save_schema(schema, "/tmp/schema.pbtxt")   # doctest: +SKIP
    """
    from google.protobuf import text_format

    return atomic_write_text(path, text_format.MessageToString(schema))


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
