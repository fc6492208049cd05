"""Typed, immutable feature specifications (Python objects, or dicts/YAML/JSON).

Example:
    >>> from mlprod.preprocessing import FeatureSpec, Numeric, Categorical, Distance
    >>> spec = FeatureSpec(label="tips", features=(
    ...     Numeric("fare", scale="log"),
    ...     Numeric("trip_miles", clip=(0, 100), impute="median"),
    ...     Categorical("payment_type", encoding="onehot", top_k=5),
    ...     Distance("trip_km", "pickup_latitude", "pickup_longitude",
    ...              "dropoff_latitude", "dropoff_longitude", impute="median"),
    ... ))
    >>> FeatureSpec.from_dict(spec.to_dict()) == spec
    True
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlprod.errors import ConfigError

SCALES = ("zscore", "minmax", "minus1_1", "log", "none")
NUMERIC_IMPUTE = (None, "mean", "median", "constant")
ENCODINGS = ("vocab", "onehot", "hash")
DATE_PARTS = ("hour", "weekday", "day", "month", "year")


def _check_choice(owner: str, what: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"{owner}: {what}={value!r}; choose one of {[c for c in choices if c is not None]}.")


def _check_int(owner: str, what: str, value: Any, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}: {what}={value!r} must be an integer >= {minimum}.")


def _check_name(owner: str, what: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{owner}: {what}={value!r} must be a column name (a non-empty string).")


def _check_names(owner: str, what: str, value: Any) -> None:
    """A tuple/list of column names; a bare string (e.g. "ab") is refused, not split into letters."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise ConfigError(f"{owner}: {what}={value!r} must be a list of column names, e.g. ['a', 'b'].")
    for v in value:
        _check_name(owner, what, v)


@dataclass(frozen=True)
class Numeric:
    """A numeric feature: impute, clip, then scale (or bucketize by quantiles).

    Attributes:
        name: input column (and output feature name).
        scale: ``zscore``, ``minmax`` ([0, 1]), ``minus1_1`` ([-1, 1]), ``log`` (log1p of
            values clipped at 0, then z-scored) or ``none``.
        clip: ``(low, high)`` applied before scaling.
        impute: ``mean``, ``median`` or ``constant`` (``fill_value``) for missing values.
        buckets: given, output quantile bucket ids (0..buckets-1) instead of a scaled value.
    """

    name: str
    scale: str = "zscore"
    clip: tuple[float, float] | None = None
    impute: str | None = None
    fill_value: float = 0.0
    buckets: int | None = None

    def __post_init__(self) -> None:
        _check_name("Numeric", "name", self.name)
        _check_int(f"Numeric({self.name!r})", "buckets", self.buckets, 2, optional=True)
        _check_choice(f"Numeric({self.name!r})", "scale", self.scale, SCALES)
        _check_choice(f"Numeric({self.name!r})", "impute", self.impute, NUMERIC_IMPUTE)
        if self.clip is not None and (len(self.clip) != 2 or self.clip[0] >= self.clip[1]):
            raise ConfigError(f"Numeric({self.name!r}): clip must be (low, high) with low < high.")
        if self.buckets is not None and self.buckets < 2:
            raise ConfigError(f"Numeric({self.name!r}): buckets must be >= 2.")

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Categorical:
    """A categorical (string or integer) feature.

    Attributes:
        encoding: ``vocab`` (integer ids), ``onehot`` (vector of ``top_k + num_oov_buckets``)
            or ``hash`` (``hash_buckets`` ids, no vocabulary).
        top_k: keep the most frequent values (required for ``onehot``: the vector length).
        frequency_threshold: drop values seen fewer times.
        num_oov_buckets: ids for values outside the vocabulary.
        impute: ``mode`` or ``constant`` (``fill_value``) for missing values.
    """

    name: str
    encoding: str = "vocab"
    top_k: int | None = None
    frequency_threshold: int | None = None
    num_oov_buckets: int = 1
    hash_buckets: int = 100
    impute: str | None = None
    fill_value: str = "__missing__"

    def __post_init__(self) -> None:
        _check_name("Categorical", "name", self.name)
        owner = f"Categorical({self.name!r})"
        _check_int(owner, "top_k", self.top_k, 1, optional=True)
        _check_int(owner, "frequency_threshold", self.frequency_threshold, 0, optional=True)
        _check_int(owner, "num_oov_buckets", self.num_oov_buckets, 0)
        _check_int(owner, "hash_buckets", self.hash_buckets, 1)
        _check_choice(owner, "encoding", self.encoding, ENCODINGS)
        _check_choice(owner, "impute", self.impute, (None, "mode", "constant"))
        if self.encoding == "onehot" and not self.top_k:
            raise ConfigError(f"{owner}: one-hot needs top_k (the vector length); e.g. top_k=10.")
        if self.num_oov_buckets < 1 and self.encoding != "hash":
            raise ConfigError(f"{owner}: num_oov_buckets must be >= 1 so unseen values have an id.")

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Cross:
    """A feature cross of categorical inputs, hashed to ``hash_buckets`` ids."""

    name: str
    columns: tuple[str, ...]
    hash_buckets: int = 1000

    def __post_init__(self) -> None:
        _check_name("Cross", "name", self.name)
        _check_names(f"Cross({self.name!r})", "columns", self.columns)
        _check_int(f"Cross({self.name!r})", "hash_buckets", self.hash_buckets, 1)
        if len(self.columns) < 2:
            raise ConfigError(f"Cross({self.name!r}): cross at least two columns.")

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.columns)


@dataclass(frozen=True)
class PCA:
    """Principal components of a group of numeric columns, via ``tft.pca`` (projection ``x @ W``).

    The components come from the covariance of the (imputed) inputs; put columns on a common
    scale first if their units differ.
    """

    name: str
    columns: tuple[str, ...]
    components: int = 2
    impute: str | None = "mean"

    def __post_init__(self) -> None:
        _check_name("PCA", "name", self.name)
        _check_names(f"PCA({self.name!r})", "columns", self.columns)
        _check_int(f"PCA({self.name!r})", "components", self.components, 1)
        if not 1 <= self.components <= len(self.columns):
            raise ConfigError(f"PCA({self.name!r}): components must be between 1 and {len(self.columns)}.")

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.columns)


def _check_decomposition(kind: str, f: Any) -> None:
    owner = f"{kind}({f.name!r})"
    _check_name(kind, "name", f.name)
    _check_names(owner, "columns", f.columns)
    _check_int(owner, "components", f.components, 1)
    _check_choice(owner, "impute", f.impute, NUMERIC_IMPUTE)
    if f.components > len(f.columns):
        raise ConfigError(f"{owner}: components={f.components} is larger than the input width "
                          f"({len(f.columns)} column(s)); choose components between 1 and {len(f.columns)}, "
                          "or add columns.")


@dataclass(frozen=True)
class SVD:
    """Truncated SVD of a group of numeric columns (uncentered, as scikit-learn's ``TruncatedSVD``).

    Meant for sparse, count and one-hot/indicator columns, where centering (PCA) would destroy
    the sparsity. The full-pass analysis sums the uncentered second-moment matrix ``X'X`` (float64,
    exact, one pass); its top ``components`` eigenvectors are the right singular vectors ``V``,
    signed so the largest-magnitude entry of each is positive (scikit-learn's ``svd_flip``). The
    output is ``x @ V`` (``[batch, components]``), computed in the graph, so serving applies the
    same projection.

    Attributes:
        name: output feature name.
        columns: the numeric input columns (the input width is their number).
        components: output dimension ``k`` (1 .. number of columns).
        impute: missing values: ``constant`` (the default, ``fill_value`` 0: an absent entry of a
            sparse row counts as 0), ``mean``, ``median`` or ``None`` (refuse missing values).
        fill_value: the value for ``impute="constant"``.

    Example:
        >>> SVD("words", ("count_a", "count_b", "count_c"), components=2).components
        2
    """

    name: str
    columns: tuple[str, ...]
    components: int = 2
    impute: str | None = "constant"
    fill_value: float = 0.0

    def __post_init__(self) -> None:
        _check_decomposition("SVD", self)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.columns)


@dataclass(frozen=True)
class NMF:
    """Non-negative matrix factorization of a group of non-negative columns: ``X ~ W H``, output ``W``.

    Fitting: the Frobenius NMF objective has no sufficient statistic a one-pass combiner could
    sum (each row's optimal ``w`` is a non-negative least-squares solution, nonlinear in the
    row), so the full-pass analysis draws a bounded uniform sample of ``sample_rows`` rows
    (reproducible: the random keys are seeded by each batch's bytes; all rows when there are
    fewer) and fits the components ``H`` (``[components, columns]``) on it with scikit-learn's
    recipe: NNDSVDa initialisation, then coordinate descent (HALS) for at most ``max_iter``
    sweeps (relative tolerance 1e-4). The analysis also checks every row: a negative value fails
    it, naming the column.

    Transform: in the graph, each row's ``w >= 0`` solves ``min ||x - w H||`` (non-negative least
    squares) by a fixed number (``TRANSFORM_STEPS``) of coordinate-descent sweeps, started from the
    clipped unconstrained solution; negative inputs at serving time are clipped to 0 first. The
    outputs are non-negative, ``[batch, components]``.

    Attributes:
        name: output feature name.
        columns: the non-negative numeric input columns.
        components: ``k`` (1 .. number of columns).
        impute: missing values: ``constant`` (the default, ``fill_value`` 0), ``mean``,
            ``median`` or ``None``.
        sample_rows: at most this many rows fit the components.
        max_iter: coordinate-descent sweeps of the fit.

    Example:
        >>> NMF("topics", ("count_a", "count_b", "count_c"), components=2).sample_rows
        100000
    """

    name: str
    columns: tuple[str, ...]
    components: int = 2
    impute: str | None = "constant"
    fill_value: float = 0.0
    sample_rows: int = 100_000
    max_iter: int = 400

    TRANSFORM_STEPS = 100  # class constant, not a field: coordinate-descent sweeps per row in the graph

    def __post_init__(self) -> None:
        _check_decomposition("NMF", self)
        _check_int(f"NMF({self.name!r})", "sample_rows", self.sample_rows, 10)
        _check_int(f"NMF({self.name!r})", "max_iter", self.max_iter, 1)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.columns)


@dataclass(frozen=True)
class Distance:
    """Great-circle (haversine) distance in km between two latitude/longitude pairs (degrees)."""

    name: str
    lat1: str
    lon1: str
    lat2: str
    lon2: str
    scale: str = "zscore"
    impute: str | None = None

    def __post_init__(self) -> None:
        _check_choice(f"Distance({self.name!r})", "scale", self.scale, SCALES)
        _check_choice(f"Distance({self.name!r})", "impute", self.impute, NUMERIC_IMPUTE)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.lat1, self.lon1, self.lat2, self.lon2)


@dataclass(frozen=True)
class DateParts:
    """Calendar parts of a Unix timestamp (seconds) or an ISO 8601 date string: outputs ``<name>_<part>`` integers.

    Parts: ``hour`` (0-23), ``weekday`` (0 = Monday), ``day`` (1-31), ``month`` (1-12), ``year``.
    ``utc_offset_hours`` shifts to local time first. A text column is parsed in the graph:
    ``YYYY-MM-DD`` (or ``YYYY/MM/DD``), optionally followed by ``[T ]HH:MM[:SS[.fff]]`` and a zone
    suffix, which is ignored (the time is taken as written); empty or unparseable values count
    as 1970-01-01 00:00.
    """

    name: str
    timestamp: str
    parts: tuple[str, ...] = ("hour", "weekday", "month")
    utc_offset_hours: float = 0.0

    def __post_init__(self) -> None:
        for p in self.parts:
            _check_choice(f"DateParts({self.name!r})", "part", p, DATE_PARTS)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.timestamp,)


Feature = Numeric | Categorical | Cross | PCA | SVD | NMF | Distance | DateParts
KINDS: dict[str, type] = {c.__name__.lower(): c for c in (Numeric, Categorical, Cross, PCA, SVD, NMF, Distance,
                                                         DateParts)}


@dataclass(frozen=True)
class FeatureSpec:
    """The whole specification: transformed features, the label, pass-through columns.

    Attributes:
        features: the transforms, each producing one output feature (``DateParts`` several).
        label: label column, passed through unchanged (and excluded from serving inputs).
        passthrough: columns copied as they are (numeric only).
    """

    features: tuple[Feature, ...] = field(default_factory=tuple)
    label: str | None = None
    passthrough: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.label is not None:
            _check_name("FeatureSpec", "label", self.label)
        _check_names("FeatureSpec", "passthrough", self.passthrough)
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "passthrough", tuple(self.passthrough))
        if not self.features and not self.passthrough:
            raise ConfigError("FeatureSpec has no features; add e.g. Numeric('fare').")
        outs = self.output_names()
        dup = sorted({n for n in outs if outs.count(n) > 1})
        if dup:
            raise ConfigError(f"FeatureSpec produces {dup} more than once; give each output a distinct name.")

    def output_names(self) -> list[str]:
        names: list[str] = []
        for f in self.features:
            names += [f"{f.name}_{p}" for p in f.parts] if isinstance(f, DateParts) else [f.name]
        return names + list(self.passthrough) + ([self.label] if self.label else [])

    def input_columns(self) -> list[str]:
        cols: list[str] = []
        for f in self.features:
            cols += list(f.inputs)
        cols += list(self.passthrough) + ([self.label] if self.label else [])
        return list(dict.fromkeys(cols))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (``{"label":..., "features": [{"kind": "numeric", ...}], ...}``)."""
        feats = []
        for f in self.features:
            d: dict[str, Any] = {"kind": type(f).__name__.lower()}
            d.update({k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(f).items()})
            feats.append(d)
        return {"label": self.label, "passthrough": list(self.passthrough), "features": feats}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureSpec":
        """Build from :meth:`to_dict` output (or hand-written YAML/JSON of the same shape).

        Raises:
            ConfigError: unknown kind or field, with the allowed ones.
        """
        if not isinstance(d, dict) or "features" not in d:
            raise ConfigError("a feature spec dict needs a 'features' list (and optionally 'label', 'passthrough').")
        feats = []
        for i, raw in enumerate(d["features"]):
            raw = dict(raw)
            kind = str(raw.pop("kind", "")).lower()
            if kind not in KINDS:
                raise ConfigError(f"features[{i}]: kind={kind!r}; choose one of {sorted(KINDS)}.")
            klass = KINDS[kind]
            allowed = {f.name for f in dataclasses.fields(klass)}
            unknown = set(raw) - allowed
            if unknown:
                raise ConfigError(f"features[{i}] ({kind}): unknown field(s) {sorted(unknown)}; allowed: "
                                  f"{sorted(allowed)}.")
            feats.append(klass(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}))
        return cls(features=tuple(feats), label=d.get("label"), passthrough=tuple(d.get("passthrough", ())))

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> "FeatureSpec":
        """Load from a YAML (or JSON) file path or text.

        Example:
            >>> FeatureSpec.from_yaml("label: y\\nfeatures:\\n- {kind: numeric, name: x}").label
            'y'
        """
        import yaml

        text = str(path_or_text)
        if "\n" not in text and len(text) < 4096 and not text.lstrip().startswith("{") and Path(text).is_file():
            text = Path(text).read_text()
        try:
            return cls.from_dict(yaml.safe_load(text))
        except yaml.YAMLError as e:
            raise ConfigError(f"feature spec is not valid YAML/JSON: {e}") from None

    def to_yaml(self, path: str | Path | None = None, header: str = "") -> str:
        """The spec as YAML (:meth:`from_yaml` reads it back); written to ``path`` when given.

        Args:
            path: file to write (its folder is created).
            header: comment lines (each starting with ``#``) put above the spec.

        Example:
            >>> spec = FeatureSpec(label="y", features=(Numeric("x"),))
            >>> FeatureSpec.from_yaml(spec.to_yaml()) == spec
            True
        """
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=110)
        if header:
            text = header.rstrip("\n") + "\n" + text
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        return text

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
