"""Schema and statistics as results: the TFDV protos wrapped in the result protocol.

:func:`mlprod.infer_schema` returns a :class:`SchemaResult` and :func:`mlprod.compute_statistics`
a :class:`StatisticsResult`. Both follow the result protocol (``.table``, ``to_html``,
``_repr_html_``, ``.save(output_dir)``) and hold the proto as ``.proto``. They stand in for the
proto: attribute access goes to it (``schema.feature``, ``stats.datasets[0].num_examples``,
``SerializeToString()``, ``CopyFrom``), they compare equal to it, and every mlprod function that
takes a schema or statistics accepts either (:func:`unwrap`).

TFDV's own functions check the proto's type: pass them ``.proto``, e.g.
``tfdv.validate_statistics(stats.proto, schema.proto)``, ``tfdv.visualize_statistics(stats.proto)``,
``tfdv.display_schema(schema.proto)``, ``tfdv.write_schema_text(schema.proto, path)``.

Example:
    >>> import mlprod
    >>> from mlprod import datasets
    >>> schema = mlprod.infer_schema(datasets.penguins(), label="species")
    >>> list(schema.table.columns)[:3], schema.feature[0].name
    (['feature', 'type', 'presence'], 'species')
    >>> type(unwrap(schema)).__name__
    'Schema'
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod.io.files import atomic_file, atomic_write_text
from mlprod.reporting import HtmlResult, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

STATS_FILE = "statistics.pb"  # binary DatasetFeatureStatisticsList, what tfdv.load_stats_binary reads
SCHEMA_FILE = "schema.pbtxt"  # text proto, what load_schema and TFX's SchemaGen use


def unwrap(value: Any) -> Any:
    """The proto of a :class:`SchemaResult` / :class:`StatisticsResult`; anything else as is.

    Example:
        >>> unwrap("schema.pbtxt")
        'schema.pbtxt'
    """
    return value.proto if isinstance(value, ProtoResult) else value


class ProtoResult(HtmlResult):
    """A proto in the result protocol; attribute access, equality and ``str`` go to ``.proto``."""

    _kind = "proto"

    def __init__(self, proto: Any) -> None:
        object.__setattr__(self, "proto", unwrap(proto))

    def __getattr__(self, name: str) -> Any:
        # only reached for names the wrapper lacks: the proto's fields and methods
        if name.startswith("__") or name == "proto":
            raise AttributeError(name)
        return getattr(self.proto, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.proto, name, value)  # scalar fields, as on the proto

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self.proto)))

    def __eq__(self, other: object) -> bool:
        return self.proto == unwrap(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the proto

    def __str__(self) -> str:
        return str(self.proto)  # the text proto, as print(proto) shows it

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return type(self), (self.proto,)

    def __copy__(self) -> "ProtoResult":
        return self.__deepcopy__({})

    def __deepcopy__(self, memo: dict) -> "ProtoResult":
        p = type(self.proto)()
        p.CopyFrom(self.proto)
        return type(self)(p)

    def _files(self, out: Path) -> dict[str, Path]:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, output_dir: str | Path) -> dict[str, Path]:
        """``table.csv``, ``report.html`` and the proto (``schema.pbtxt`` / ``statistics.pb``)."""
        written = super().save(output_dir)
        written.update(self._files(Path(output_dir)))
        return written


def _domain(feature: Any, schema: Any) -> str:
    if feature.HasField("int_domain"):
        d = feature.int_domain
        if d.is_categorical:
            return "categorical int"
        return _range(d.min if d.HasField("min") else None, d.max if d.HasField("max") else None)
    if feature.HasField("float_domain"):
        d = feature.float_domain
        return _range(d.min if d.HasField("min") else None, d.max if d.HasField("max") else None)
    if feature.HasField("domain"):
        dom = next((d for d in schema.string_domain if d.name == feature.domain), None)
        return f"{len(dom.value)} values" if dom is not None else feature.domain
    if feature.HasField("string_domain"):
        return f"{len(feature.string_domain.value)} values"
    return ""


def _range(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return ""
    return f"[{'-inf' if lo is None else f'{lo:.6g}'}, {'inf' if hi is None else f'{hi:.6g}'}]"


class SchemaResult(ProtoResult):
    """A TFDV ``Schema`` (``.proto``) with one row per feature in ``.table``.

    ``table`` columns: feature, type (``INT``/``FLOAT``/``BYTES``), presence (``required``: in at
    least ``min_fraction`` of the examples, else ``optional``), min_fraction, domain (a range, ``N values`` or empty), not_in (environments the
    feature is absent from, e.g. ``SERVING`` for the label), skew_threshold, drift_threshold.
    ``save(output_dir)`` also writes ``schema.pbtxt`` (what :func:`mlprod.validation.load_schema` reads).
    """

    _kind = "schema"

    @property
    def table(self) -> "pd.DataFrame":
        import pandas as pd
        from tensorflow_metadata.proto.v0 import schema_pb2

        rows = []
        for f in self.proto.feature:
            comp = [f.skew_comparator, f.drift_comparator]
            th = [c.infinity_norm.threshold if c.HasField("infinity_norm") else
                  c.jensen_shannon_divergence.threshold if c.HasField("jensen_shannon_divergence") else None
                  for c in comp]
            frac = f.presence.min_fraction
            rows.append({"feature": f.name, "type": schema_pb2.FeatureType.Name(f.type),
                         "presence": "required" if frac > 0 else "optional",  # min_count alone: per dataset, not per example
                         "min_fraction": frac, "domain": _domain(f, self.proto),
                         "not_in": ", ".join(f.not_in_environment), "skew_threshold": th[0], "drift_threshold": th[1]})
        return pd.DataFrame(rows, columns=["feature", "type", "presence", "min_fraction", "domain", "not_in",
                                           "skew_threshold", "drift_threshold"])

    def __repr__(self) -> str:
        names = [f.name for f in self.proto.feature]
        more = f", ... ({len(names)})" if len(names) > 6 else ""
        return f"<SchemaResult {len(names)} features: {', '.join(names[:6])}{more}>"

    def to_html(self, full: bool = True) -> str:
        envs = ", ".join(self.proto.default_environment) or "none"
        summary = f"<p>{len(self.proto.feature)} features; environments: {html.escape(envs)}.</p>"
        return html_page("mlprod schema", [("Summary", summary), ("Features", table_html(self.table))], full=full)

    def _files(self, out: Path) -> dict[str, Path]:
        from google.protobuf import text_format

        return {"schema": atomic_write_text(out / SCHEMA_FILE, text_format.MessageToString(self.proto))}


def _feature_row(f: Any, n: int) -> dict[str, Any]:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    name = ".".join(f.path.step) or f.name
    kind = statistics_pb2.FeatureNameStatistics.Type.Name(f.type)
    row: dict[str, Any] = {"feature": name, "type": kind}
    if f.HasField("num_stats"):
        s = f.num_stats
        common = s.common_stats
        row.update(mean=s.mean, std=s.std_dev, min=s.min, median=s.median, max=s.max, zeros=int(s.num_zeros))
    elif f.HasField("string_stats"):
        s = f.string_stats
        common = s.common_stats
        row.update(unique=int(s.unique), top=s.top_values[0].value if s.top_values else None)
    else:
        common = None
    present = int(common.num_non_missing) if common is not None else 0
    row["count"] = present
    row["missing"] = (1.0 - present / n) if n else None
    return row


class StatisticsResult(ProtoResult):
    """TFDV ``DatasetFeatureStatisticsList`` (``.proto``) with one summary row per feature in ``.table``.

    ``table`` columns: feature, type, count (examples with a value), missing (share), mean, std,
    min, median, max, zeros (numeric features), unique, top (string features); with several datasets
    in the proto, a first ``dataset`` column. ``num_examples`` is the first dataset's.
    ``save(output_dir)`` also writes ``statistics.pb`` (what ``tfdv.load_stats_binary`` and
    :func:`mlprod.compute_statistics` read).
    """

    _kind = "statistics"

    @property
    def num_examples(self) -> int:
        """Examples in the (first) dataset."""
        return int(self.proto.datasets[0].num_examples) if self.proto.datasets else 0

    @property
    def table(self) -> "pd.DataFrame":
        import pandas as pd

        cols = ["feature", "type", "count", "missing", "mean", "std", "min", "median", "max", "zeros", "unique", "top"]
        many = len(self.proto.datasets) > 1
        rows = []
        for d in self.proto.datasets:
            for f in d.features:
                row = _feature_row(f, int(d.num_examples))
                rows.append({"dataset": d.name, **row} if many else row)
        return pd.DataFrame(rows, columns=(["dataset"] if many else []) + cols)

    def __repr__(self) -> str:
        feats = len(self.proto.datasets[0].features) if self.proto.datasets else 0
        return f"<StatisticsResult {self.num_examples} examples, {feats} features>"

    def to_html(self, full: bool = True) -> str:
        summary = "".join(f"<p>{html.escape(d.name or 'data')}: {d.num_examples} examples, {len(d.features)} "
                          "features.</p>" for d in self.proto.datasets)
        t = self.table.astype(object).where(self.table.notna(), None)
        return html_page("mlprod statistics", [("Summary", summary), ("Features", table_html(t))], full=full)

    def _files(self, out: Path) -> dict[str, Path]:
        path = out / STATS_FILE
        with atomic_file(path) as tmp, open(tmp, "wb") as f:
            f.write(self.proto.SerializeToString())
        return {"statistics": path}
