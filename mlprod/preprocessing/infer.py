"""Infer a :class:`FeatureSpec` from a CSV sample: each column's role, the way a careful user would pick it.

Rules, applied in order to every column but the label (``n`` = non-missing values in the sample,
``d`` = distinct values among them):

1. no values, or a single distinct value -> dropped (nothing to learn).
2. true/false values -> one-hot (2 slots + 1 for unseen values).
3. numbers:
   a. a Unix timestamp in seconds (integer values in [1e8, 5e9], i.e. 1973-2128, in a column whose
      name says time/date/timestamp/epoch) -> :class:`DateParts`;
   b. an integer id (name like ``id``, ``*_id``, ``index``, ``key``, ``row``, or consecutive values,
      with ``d / n >= ID_RATIO``) -> dropped;
   c. otherwise -> :class:`Numeric`, z-scored, missing values imputed with the mean.
4. text:
   a. ISO 8601 dates/times (``YYYY-MM-DD``, optionally ``[T ]HH:MM[:SS]``; ``/`` works too) in at
      least ``DATE_SHARE`` of the values -> :class:`DateParts` (``month`` and ``weekday``, plus
      ``hour`` when the times vary), parsed in the Transform graph, so serving takes the same strings;
   b. other strings pandas reads as dates (``03/15/2020``, ``15 Mar 2020``) -> dropped, with a note
      to write them as ISO 8601 (day/month order is ambiguous);
   c. near-unique values (``d / n >= ID_RATIO`` and ``d >= MIN_ID_DISTINCT``): ids, names, free
      text -> dropped;
   d. at most ``MAX_ONEHOT`` distinct values -> one-hot over all of them (+1 slot for unseen ones);
   e. more: one-hot over the ``MAX_ONEHOT`` most frequent when they cover at least ``MIN_COVERAGE``
      of the rows (the rest share the out-of-vocabulary slot), otherwise dropped.

Vocabulary ids are never fed to the network as plain numbers (that made id 730 "bigger" than
id 3). Every Numeric/Categorical imputes (mean / ``__missing__``): a sample without missing
values does not prove the rest of the data, or serving traffic, has none.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=60).strftime("%Y-%m-%d"),
    ...                    "temp": [i % 17 for i in range(60)], "city": ["a", "b", "c"] * 20, "y": [0, 1] * 30})
    >>> inferred = infer_feature_spec(df, label="y")
    >>> [(r.column, r.role) for r in inferred.roles]
    [('date', 'date'), ('temp', 'numeric'), ('city', 'categorical'), ('y', 'label')]
    >>> inferred.spec.output_names()
    ['date_month', 'date_weekday', 'temp', 'city', 'y']
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod.errors import DataError
from mlprod.io.frames import read_csv_file
from mlprod.preprocessing.compile import ISO_DATE
from mlprod.preprocessing.spec import Categorical, DateParts, FeatureSpec, Numeric

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SAMPLE_ROWS = 100_000  #: rows read (over all files) to infer roles
MAX_ONEHOT = 50  #: the most one-hot slots a text column gets (its most frequent values)
MIN_COVERAGE = 0.5  #: share of rows the kept values must cover, else a many-valued text column is dropped
ID_RATIO = 0.9  #: distinct/non-missing share from which a text (or integer id) column counts as near-unique
MIN_ID_DISTINCT = 20  #: ... and at least this many distinct values (tiny samples are all-unique by chance)
DATE_SHARE = 0.95  #: share of values that must parse as dates
EPOCH_RANGE = (1e8, 5e9)  #: Unix seconds 1973..2128
_ID_NAME = re.compile(r"(^|[_\W])(id|idx|index|key|row|uuid|guid)$|^unnamed", re.IGNORECASE)
_TIME_NAME = re.compile(r"time|date|timestamp|epoch|_ts$|^ts$", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnRole:
    """What inference decided for one column.

    Attributes:
        column: the CSV column.
        role: ``numeric``, ``categorical``, ``date``, ``dropped`` or ``label``.
        transform: the spec entry in words (``"one-hot, 5 values + 1 unseen"``, ``"-"``).
        reason: why, with the statistic that decided it.
    """

    column: str
    role: str
    transform: str
    reason: str


@dataclass
class InferredSpec:
    """An inferred :class:`FeatureSpec` with the reason for every column.

    Attributes:
        spec: the spec (pass it as ``feature_spec=``, or save/edit it with :meth:`to_yaml`).
        roles: one :class:`ColumnRole` per column, in CSV order.
        rows: rows of the sample the decisions were made on.
    """

    spec: FeatureSpec
    roles: list[ColumnRole] = field(default_factory=list)
    rows: int = 0

    @property
    def dropped(self) -> list[str]:
        """Columns the spec leaves out."""
        return [r.column for r in self.roles if r.role == "dropped"]

    def table(self) -> "pd.DataFrame":
        """The roles as a DataFrame (column, role, transform, reason)."""
        import pandas as pd

        return pd.DataFrame([vars(r) for r in self.roles], columns=["column", "role", "transform", "reason"])

    def explain(self) -> str:
        """A plain-text table of the decisions, one line per column."""
        width = max([len(r.column) for r in self.roles] + [6])
        twidth = max([len(r.transform) for r in self.roles] + [9])
        lines = [f"feature spec inferred from {self.rows:,} rows:"]
        for r in self.roles:
            lines.append(f"  {r.column:<{width}}  {r.role:<11}  {r.transform:<{twidth}}  {r.reason}")
        return "\n".join(lines)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The spec as YAML, the reasons as comments above it; written to ``path`` when given.

        Example:
            >>> import pandas as pd
            >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
            >>> text = infer_feature_spec(df, "y").to_yaml()
            >>> FeatureSpec.from_yaml(text).output_names()
            ['x', 'y']
        """
        head = ["# mlprod feature spec; edit and pass back with FeatureSpec.from_yaml(path) or `mlprod run --spec`.",
                f"# inferred from {self.rows:,} rows:"]
        head += [f"#   {r.column}: {r.role}, {r.transform} -- {r.reason}" for r in self.roles]
        return self.spec.to_yaml(path, header="\n".join(head))

    def __str__(self) -> str:
        return self.explain()

    def __repr__(self) -> str:
        return f"<InferredSpec {len(self.spec.features)} features, dropped {self.dropped}>"


def read_csv_sample(files: Sequence[str | Path], rows: int = SAMPLE_ROWS) -> "pd.DataFrame":
    """Up to ``rows`` rows over ``files``, read as TFX's CSV reader types them (only empty cells are missing).

    Example:
        >>> from mlprod import datasets
        >>> len(read_csv_sample([datasets.path("penguin/labelled")], rows=10))
        10
    """
    import pandas as pd

    frames, left = [], rows
    for f in files:
        if left <= 0:
            break
        frames.append(read_csv_file(f, str(f), binary_what="a UTF-8 CSV file", binary="CsvExampleGen reads CSV text only.",
                                    nrows=left, keep_default_na=False, na_values=[""], low_memory=False))
        left -= len(frames[-1])
    if not frames:
        raise DataError("no CSV file to infer a feature spec from; pass at least one file.")
    return pd.concat(frames, ignore_index=True)


def infer_feature_spec(data: Any, label: str | None, *, sample_rows: int = SAMPLE_ROWS) -> InferredSpec:
    """Pick a transform for every column of ``data`` (see the module docstring for the rules).

    Args:
        data: a DataFrame, or CSV file(s)/folder (the first ``sample_rows`` rows are read).
        label: the label column (left out of the features, passed through as the spec's label).
        sample_rows: rows read from files.

    Raises:
        DataError: unreadable data, a missing label column, or no usable feature column.

    Example:
        >>> from mlprod import datasets
        >>> inferred = infer_feature_spec(datasets.path("penguin/labelled"), "species")
        >>> sorted({r.role for r in inferred.roles})
        ['label', 'numeric']
    """
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        df = data.head(sample_rows)
    else:
        from mlprod.io.files import list_files

        df = read_csv_sample(list_files(data if isinstance(data, list) else [data]), sample_rows)
    if label is not None and label not in df.columns:
        raise DataError(f"label column {label!r} is not in the data (columns: {list(df.columns)}); pass the right "
                        "label= name.")
    features: list[Any] = []
    roles: list[ColumnRole] = []
    taken = set(map(str, df.columns))
    for c in df.columns:
        c = str(c)
        if c == label:
            roles.append(ColumnRole(c, "label", "-", "the label"))
            continue
        feature, role = _infer_column(c, df[c], taken)
        if feature is not None:
            features.append(feature)
        roles.append(role)
    if not features:
        raise DataError(f"no column of the data can be a feature ({'; '.join(f'{r.column}: {r.reason}' for r in roles if r.role == 'dropped')}); "
                        "pass feature_spec= yourself.")
    return InferredSpec(FeatureSpec(features=tuple(features), label=label), roles, len(df))


def _infer_column(name: str, col: "pd.Series", taken: set[str]) -> tuple[Any, ColumnRole]:
    import pandas as pd

    values = col.dropna()
    n = len(values)
    if n == 0:
        return None, ColumnRole(name, "dropped", "-", "no values")
    distinct = int(values.nunique())
    if distinct == 1:
        return None, ColumnRole(name, "dropped", "-", f"one value only ({values.iloc[0]})")
    missing = f", {len(col) - n} missing" if len(col) > n else ""
    if pd.api.types.is_bool_dtype(col) or (not pd.api.types.is_numeric_dtype(col)
                                           and set(values.astype(str).str.lower()) <= {"true", "false"}):
        return (Categorical(name, encoding="onehot", top_k=2, impute="constant"),
                ColumnRole(name, "categorical", "one-hot, 2 values + 1 unseen", f"true/false{missing}"))
    if pd.api.types.is_numeric_dtype(col):
        return _infer_numeric(name, values, n, distinct, missing, taken)
    text = values.astype(str)
    iso = float(text.str.fullmatch(ISO_DATE).mean())
    if iso >= DATE_SHARE:
        times = text.str.slice(11, 19)
        varied = bool((times.str.len() > 0).any() and times.replace("", "00:00:00").nunique() > 1)
        parts = ("month", "weekday", "hour") if varied else ("month", "weekday")
        return _date_parts(name, name, parts, taken, f"ISO 8601 dates in {iso:.0%} of values{missing}"
                           + ("; the times vary" if varied else "; no time of day"))
    if _looks_like_dates(text):
        return None, ColumnRole(name, "dropped", "-", f"dates, but not ISO 8601 (e.g. {text.iloc[0]!r}): write "
                                "them as YYYY-MM-DD[THH:MM:SS] to get DateParts")
    ratio = distinct / n
    if ratio >= ID_RATIO and distinct >= MIN_ID_DISTINCT:
        return None, ColumnRole(name, "dropped", "-", f"near-unique text ({distinct:,} distinct of {n:,}): an id or "
                                "free text")
    if distinct <= MAX_ONEHOT:
        return (Categorical(name, encoding="onehot", top_k=distinct, impute="constant"),
                ColumnRole(name, "categorical", f"one-hot, {distinct} values + 1 unseen",
                           f"text with {distinct} distinct values{missing}"))
    coverage = float(values.value_counts().iloc[:MAX_ONEHOT].sum() / n)
    if coverage >= MIN_COVERAGE:
        return (Categorical(name, encoding="onehot", top_k=MAX_ONEHOT, impute="constant"),
                ColumnRole(name, "categorical", f"one-hot, top {MAX_ONEHOT} values + 1 other",
                           f"text with {distinct:,} distinct values; the top {MAX_ONEHOT} cover {coverage:.0%} "
                           f"of rows{missing}"))
    return None, ColumnRole(name, "dropped", "-", f"text with {distinct:,} distinct values; the top {MAX_ONEHOT} "
                            f"cover only {coverage:.0%} of rows (group values, or add a Categorical yourself)")


def _infer_numeric(name: str, values: "pd.Series", n: int, distinct: int, missing: str,
                   taken: set[str]) -> tuple[Any, ColumnRole]:
    import numpy as np

    as_float = values.astype(float)
    integral = bool(np.all(np.mod(as_float, 1) == 0))
    if (integral and _TIME_NAME.search(name) and as_float.min() >= EPOCH_RANGE[0]
            and as_float.max() <= EPOCH_RANGE[1]):
        varied = bool((np.mod(as_float, 86400) != 0).any())
        parts = ("month", "weekday", "hour") if varied else ("month", "weekday")
        return _date_parts(name, name, parts, taken, f"Unix timestamps in seconds{missing}")
    if integral and distinct / n >= ID_RATIO and distinct >= MIN_ID_DISTINCT:
        ordered = np.sort(as_float.unique())
        consecutive = bool(np.all(np.diff(ordered) == 1))
        if _ID_NAME.search(name) or consecutive:
            why = "an id by its name" if _ID_NAME.search(name) else "consecutive integers (a row number)"
            return None, ColumnRole(name, "dropped", "-", f"{why}, {distinct:,} distinct of {n:,}")
    return (Numeric(name, impute="mean"),
            ColumnRole(name, "numeric", "z-score (missing: mean)", f"numbers ({distinct:,} distinct){missing}"))


def _date_parts(name: str, column: str, parts: tuple[str, ...], taken: set[str],
                reason: str) -> tuple[Any, ColumnRole]:
    prefix = name
    while any(f"{prefix}_{p}" in taken for p in parts):
        prefix += "_dt"
    taken.update(f"{prefix}_{p}" for p in parts)
    return (DateParts(prefix, column, parts=parts),
            ColumnRole(column, "date", f"DateParts: {', '.join(parts)}", reason))


def _looks_like_dates(text: "pd.Series") -> bool:
    """Most values parse as dates (and hold digits and a separator, so plain words never count)."""
    import pandas as pd

    head = text.head(500)
    if not head.str.contains(r"\d").all() or not head.str.contains(r"[-/:. ]").all():
        return False
    if head.str.fullmatch(r"[-+]?\d+([.,]\d+)?").any():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(head, errors="coerce", format="mixed")
    return float(parsed.notna().mean()) >= DATE_SHARE
