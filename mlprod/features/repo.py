"""A Feast feature repo driven from Python: define views from frames, materialize, retrieve.

Everything goes through Feast's own objects and calls (``Entity``, ``FileSource``,
``FeatureView``, ``FeatureStore.apply``, ``materialize``, ``get_historical_features``,
``get_online_features``); mlprod adds the checks, the defaults (said when taken) and two
guarantees Feast's local provider does not give on its own:

- :meth:`FeatureRepo.training_frame` returns every entity row, in the input order: Feast's
  file offline store drops a row whose entity has only values older than the TTL, so mlprod
  asks one view at a time and joins the answers back on the row (a missing or expired value
  is null, never a zero, never a dropped label).
- :meth:`FeatureRepo.online_features` applies the view's TTL online as historical retrieval
  does (Feast serves an expired value as ``PRESENT``: feast-dev/feast#6821) and flags every row
  with a missing or expired value (``_found``, ``_missing``), or raises with ``on_missing="raise"``.

Example:
    >>> import tempfile, pandas as pd
    >>> repo = FeatureRepo(tempfile.mkdtemp())
    >>> values = pd.DataFrame({"area": [8, 8], "ts": pd.to_datetime(["2024-01-01", "2024-01-03"], utc=True),
    ...                        "mean_fare": [10.0, 12.0]})
    >>> _ = repo.define("area_stats", values, entity="area", timestamp="ts")
    >>> repo.materialize()
    >>> repo.online_features([{"area": 8}, {"area": 9}], ["area_stats:mean_fare"])[["mean_fare", "_found"]]
       mean_fare  _found
    0       12.0    True
    1        NaN   False
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mlprod.errors import ConfigError, DataError
from mlprod.params import Kind, OneOf, check_params

ROW = "__mlprod_row"  # the entity row's position, carried through Feast and joined back on
FEAST_TIMESTAMP = "event_timestamp"  # the entity frame's timestamp column, as Feast names it
INSTALL = "pip install mlprod[features]"
ON_MISSING = ("flag", "raise")
# the arguments of the retrieval calls (mlprod.params tables: one message wherever they are passed)
TRAINING_PARAMS = {"timestamp": Kind(str), "full_names": Kind(bool)}
ONLINE_PARAMS = {"on_missing": OneOf(*ON_MISSING), "full_names": Kind(bool)}

_YAML = """\
# written by mlprod.features: Feast's local provider, embedded (nothing to start)
project: {project}
provider: local
registry:
  registry_type: file
  path: data/registry.db
  cache_ttl_seconds: 0
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def _note(text: str) -> None:
    print(f"mlprod: {text}", file=sys.stderr, flush=True)


def _feast() -> Any:
    """The ``feast`` module, or a ConfigError naming the extra that installs it."""
    os.environ.setdefault("FEAST_USAGE", "False")  # no usage telemetry from a library call
    try:
        import feast
    except ImportError as e:
        raise ConfigError(f"the feature store needs Feast, which is not installed ({e}); install it with "
                          f"`{INSTALL}`.") from e
    return feast


def _utc(series: Any, what: str) -> Any:
    """``series`` as UTC timestamps (naive ones are taken as UTC; epoch seconds are accepted)."""
    import pandas as pd

    try:
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            return pd.to_datetime(series, unit="s", utc=True)
        return pd.to_datetime(series, utc=True, format="ISO8601" if series.dtype == object else None)
    except (ValueError, TypeError) as e:
        raise DataError(f"{what} must hold timestamps (datetimes, ISO-8601 text or epoch seconds): {e}") from e


def _ttl(ttl: Any) -> dt.timedelta:
    """A TTL from a timedelta, a pandas duration (``"7D"``, ``"12h"``) or seconds; None: never expires."""
    import pandas as pd

    if ttl is None:
        return dt.timedelta(0)
    try:
        value = pd.Timedelta(ttl, unit="s") if isinstance(ttl, (int, float)) else pd.Timedelta(ttl)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"ttl={ttl!r} is not a duration; pass a timedelta, a string such as '7D' or '12h', or "
                          "seconds.") from e
    if value <= pd.Timedelta(0):
        raise ConfigError(f"ttl={ttl!r} must be positive; pass None for values that never expire.")
    return value.to_pytimedelta()


def _feast_type(series: Any, column: str) -> Any:
    import pandas as pd
    from feast import types

    if pd.api.types.is_bool_dtype(series):
        return types.Bool
    if pd.api.types.is_integer_dtype(series):
        return types.Int64
    if pd.api.types.is_float_dtype(series):
        return types.Float64
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        return types.String
    raise DataError(f"feature column {column!r} has dtype {series.dtype}, which the feature store does not keep; "
                    "convert it to a number, a bool or text.")


def _split_refs(features: Sequence[str] | str) -> list[tuple[str, str]]:
    refs = [features] if isinstance(features, str) else list(features)
    if not refs:
        raise ConfigError("features=[] names no feature; pass references such as ['area_stats:mean_fare'].")
    out = []
    for ref in refs:
        if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
            raise ConfigError(f"feature reference {ref!r} is not 'view:feature'; pass e.g. 'area_stats:mean_fare'.")
        view, name = ref.split(":")
        out.append((view, name))
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class FeatureRepo:
    """A Feast repo folder, created with the embedded local provider when it has no
    ``feature_store.yaml`` (Parquet offline store under ``data/``, SQLite online store
    ``data/online.db``, file registry ``data/registry.db``). A folder that has one (any Feast
    provider: BigQuery, Snowflake, Redshift, Redis, DynamoDB, ...) is used as its YAML says.

    Args:
        path: the repo folder (created if missing).
        project: the Feast project written to a new ``feature_store.yaml`` (an existing one keeps its own).

    Raises:
        ConfigError: Feast is not installed (``pip install mlprod[features]``).

    Example:
        >>> import tempfile
        >>> repo = FeatureRepo(tempfile.mkdtemp())
        >>> sorted(p.name for p in repo.path.iterdir())
        ['data', 'feature_store.yaml']
    """

    def __init__(self, path: str | os.PathLike, project: str = "mlprod") -> None:
        feast = _feast()
        self.path = Path(path).resolve()
        config = self.path / "feature_store.yaml"
        if not config.exists():
            if not project.replace("_", "").isalnum():
                raise ConfigError(f"project={project!r} must hold letters, digits and underscores only (Feast's rule).")
            (self.path / "data").mkdir(parents=True, exist_ok=True)
            config.write_text(_YAML.format(project=project))
            _note(f"feature repo {self.path}: Feast's local provider (Parquet offline store under data/, SQLite "
                  "online store data/online.db, file registry data/registry.db); edit feature_store.yaml for "
                  "another provider.")
        (self.path / "data").mkdir(exist_ok=True)
        self.store = feast.FeatureStore(repo_path=str(self.path))

    def __repr__(self) -> str:
        return f"FeatureRepo({str(self.path)!r}, project={self.project!r}, views={self.views()})"

    @property
    def project(self) -> str:
        """The Feast project this repo's registry holds."""
        return str(self.store.project)

    # ---- definitions -------------------------------------------------------------------------

    def apply(self, objects: Iterable[Any]) -> None:
        """Register Feast objects (entities, views, sources, services) as they are: ``FeatureStore.apply``."""
        self.store.apply(list(objects))

    def views(self) -> list[str]:
        """The names of the feature views registered, sorted."""
        return sorted(v.name for v in self.store.list_feature_views())

    def define(self, name: str, source: Any, *, entity: str, timestamp: str, created_timestamp: str | None = None,
               ttl: Any = None, features: Sequence[str] | None = None, description: str = "",
               online: bool = True) -> Any:
        """Define (or redefine) feature view ``name`` from a DataFrame or a Parquet/CSV file.

        A DataFrame or CSV is written as ``data/<name>.parquet`` in the repo (Feast's file
        offline store reads Parquet), with ``timestamp`` (and ``created_timestamp``) as UTC
        timestamps; a Parquet path is read where it is (relative paths from the repo folder).
        The view, its ``FileSource`` and its ``Entity`` (join key ``entity``) are registered with
        ``FeatureStore.apply``.

        Args:
            name: the view's name (feature references are ``"name:feature"``).
            source: a DataFrame, or a Parquet or CSV file path.
            entity: the entity key column (integers or text), e.g. ``"pickup_community_area"``.
            timestamp: the column saying when each value became true (its event time).
            created_timestamp: optional column breaking ties between rows of one entity and one
                event time (the row created last wins).
            ttl: how long a value stays valid after its event time (a timedelta, ``"7D"``,
                ``"12h"``, or seconds). Default None: it never expires (said in a note): a
                training row then takes the newest earlier value however old it is.
            features: the feature columns (default: every other column).
            description: the view's description in the registry.
            online: materialize this view to the online store.

        Returns:
            The registered ``feast.FeatureView``.

        Raises:
            DataError: a missing column, unparsable timestamps, an entity key that is not
                integer or text, or holds nulls.
            ConfigError: a bad ``ttl``.

        Example:
            >>> import tempfile, pandas as pd
            >>> repo = FeatureRepo(tempfile.mkdtemp())
            >>> df = pd.DataFrame({"area": [8], "ts": ["2024-01-01T00:00:00Z"], "trips": [3]})
            >>> [f.name for f in repo.define("area_stats", df, entity="area", timestamp="ts", ttl="7D").features]
            ['trips']
        """
        import pandas as pd

        feast = _feast()
        ttl_value = _ttl(ttl)
        frame = None
        path: str
        if isinstance(source, pd.DataFrame):
            frame = source
        elif isinstance(source, (str, os.PathLike)):
            low = str(source).lower()
            file = Path(source) if Path(source).is_absolute() else self.path / source
            if low.endswith(".csv"):
                from mlprod.io.frames import load_frame

                frame = load_frame(str(source) if Path(source).exists() else str(file), what=f"view {name!r}")
            elif low.endswith(".parquet"):
                if not file.exists():
                    raise DataError(f"Parquet file {str(source)!r} for view {name!r} does not exist (relative paths "
                                    f"are read from the repo folder {self.path}).")
                import pyarrow.parquet as pq

                columns = pq.read_schema(file).names
                frame = pd.read_parquet(file, columns=[c for c in columns if c in
                                                       {entity, timestamp, created_timestamp, *(features or columns)}])
                path = str(source)
            else:
                raise DataError(f"cannot read {str(source)!r} for view {name!r}: pass a DataFrame, a .parquet or a "
                                ".csv file.")
        else:
            raise DataError(f"source for view {name!r} is a {type(source).__name__}; pass a DataFrame or a "
                            "Parquet/CSV path.")
        stamps = [c for c in (timestamp, created_timestamp) if c]
        missing = [c for c in (entity, *stamps, *(features or [])) if c not in frame.columns]
        if missing:
            raise DataError(f"view {name!r}: column(s) {missing} not in the source (columns: {list(frame.columns)}); "
                            "pass the right entity=/timestamp=/features= names.")
        key = frame[entity]
        if key.isna().any():
            raise DataError(f"view {name!r}: entity key {entity!r} has {int(key.isna().sum())} null value(s); drop "
                            "those rows first (a value must belong to an entity).")
        if pd.api.types.is_integer_dtype(key):
            value_type = feast.ValueType.INT64
        elif pd.api.types.is_string_dtype(key) or key.dtype == object:
            value_type = feast.ValueType.STRING
        else:
            raise DataError(f"view {name!r}: entity key {entity!r} has dtype {key.dtype}; use integers or text "
                            f"(e.g. df[{entity!r}] = df[{entity!r}].astype('int64')).")
        names = list(features) if features is not None else [c for c in frame.columns if c not in (entity, *stamps)]
        if not names:
            raise DataError(f"view {name!r} has no feature column besides {entity!r} and {stamps}.")
        schema = [feast.Field(name=c, dtype=_feast_type(frame[c], c)) for c in names]
        if frame is not source or not str(source).lower().endswith(".parquet"):
            out = frame[[entity, *stamps, *names]].copy()
            for c in stamps:
                out[c] = _utc(out[c], f"view {name!r}: column {c!r}")
            path = f"data/{name}.parquet"
            out.to_parquet(self.path / path, index=False)
        else:
            for c in stamps:
                if not pd.api.types.is_datetime64_any_dtype(frame[c]):
                    raise DataError(f"view {name!r}: column {c!r} of {str(source)!r} is {frame[c].dtype}, not a "
                                    "timestamp; pass the frame itself (mlprod converts it) or write timestamps.")
        if ttl is None:
            _note(f"view {name!r}: ttl not set, so a value never expires (a row takes the newest earlier value "
                  "however old); pass ttl='7D' (or a timedelta) to null older values.")
        ent = feast.Entity(name=entity, join_keys=[entity], value_type=value_type)
        src = feast.FileSource(name=f"{name}_source", path=path, timestamp_field=timestamp,
                               created_timestamp_column=created_timestamp or "")
        view = feast.FeatureView(name=name, entities=[ent], ttl=ttl_value, schema=schema, source=src,
                                 online=online, description=description)
        self.store.apply([ent, src, view])
        return view

    # ---- the online store --------------------------------------------------------------------

    def materialize(self, start: Any = None, end: Any = None, views: Sequence[str] | None = None) -> None:
        """Copy the newest value per entity with an event time in [``start``, ``end``] to the online store.

        Default ``start``: 1970 (everything), ``end``: now (UTC). Feast's ``materialize``.
        """
        start_ts = _utc_one(start) if start is not None else dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        end_ts = _utc_one(end) if end is not None else _now()
        self._check_views(views)
        with contextlib.redirect_stdout(sys.stderr):  # Feast's progress lines: stderr, beside mlprod's notes
            self.store.materialize(start_ts, end_ts, feature_views=list(views) if views else None)

    def materialize_incremental(self, end: Any = None, views: Sequence[str] | None = None) -> None:
        """Materialize what is new since the last materialization (first time: ``end`` minus the
        view's TTL) up to ``end`` (default now): Feast's ``materialize_incremental``."""
        self._check_views(views)
        with contextlib.redirect_stdout(sys.stderr):
            self.store.materialize_incremental(_utc_one(end) if end is not None else _now(),
                                               feature_views=list(views) if views else None)

    def _check_views(self, views: Iterable[str] | None) -> None:
        known = self.views()
        unknown = sorted(set(views or ()) - set(known))
        if unknown:
            raise ConfigError(f"feature view(s) {unknown} are not in the repo {self.path} (views: {known}); define "
                              "them first (FeatureRepo.define).")

    def _view_objects(self, refs: list[tuple[str, str]]) -> dict[str, Any]:
        self._check_views({v for v, _ in refs})
        views = {v: self.store.get_feature_view(v) for v in dict.fromkeys(v for v, _ in refs)}
        for v, f in refs:
            have = [x.name for x in views[v].features]
            if f not in have:
                raise ConfigError(f"feature {f!r} is not in view {v!r} (features: {have}); fix the reference "
                                  f"{v}:{f}.")
        return views

    # ---- retrieval ---------------------------------------------------------------------------

    def training_frame(self, entity_df: Any, features: Sequence[str] | str, *, timestamp: str = FEAST_TIMESTAMP,
                       full_names: bool = False) -> Any:
        """Point-in-time-correct training rows: each entity row joined with, per feature view, the
        newest value of its entity at or before the row's ``timestamp`` and not older than the
        view's TTL (Feast's ``get_historical_features``).

        Every input row comes back, in the input order, with all its columns (entity keys,
        timestamp, label, ...) and one column per feature. A value written after the row's
        timestamp never appears; a row with no valid value gets null (NaN/None), never zero, and
        a note says how many rows that was per view.

        Args:
            entity_df: a DataFrame or a Parquet/CSV file with the views' entity key(s), ``timestamp``
                and any other columns (labels).
            features: references ``"view:feature"``.
            timestamp: the column with each row's time (UTC; naive times are taken as UTC).
            full_names: name the columns ``view__feature`` (needed when two views share a name).

        Raises:
            DataError: a missing entity key or timestamp column, unparsable timestamps.
            ConfigError: an unknown view or feature, a bad reference.

        Example:
            >>> import tempfile, pandas as pd
            >>> repo = FeatureRepo(tempfile.mkdtemp())
            >>> vals = pd.DataFrame({"area": [8, 8], "ts": ["2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z"],
            ...                      "trips": [3, 5]})
            >>> _ = repo.define("area_stats", vals, entity="area", timestamp="ts", ttl="2D")
            >>> rows = pd.DataFrame({"area": [8, 8], "event_timestamp": ["2024-01-02T00:00:00Z",
            ...                      "2024-01-04T00:00:00Z"], "label": [0, 1]})
            >>> repo.training_frame(rows, ["area_stats:trips"])["trips"].tolist()   # the 2nd: expired
            [3.0, nan]
        """
        import pandas as pd

        check_params("training_frame", {"timestamp": timestamp, "full_names": full_names}, TRAINING_PARAMS)
        refs = _split_refs(features)
        views = self._view_objects(refs)
        if isinstance(entity_df, pd.DataFrame):
            frame = entity_df.reset_index(drop=True)
        else:
            from mlprod.io.frames import load_frame

            frame = load_frame(entity_df, what="entity rows")
        keys = list(dict.fromkeys(k for v in views.values() for k in v.join_keys))
        missing = [c for c in (*keys, timestamp) if c not in frame.columns]
        if missing:
            raise DataError(f"entity rows lack column(s) {missing} (columns: {list(frame.columns)}); the views "
                            f"{sorted(views)} join on {keys} at the time in {timestamp!r}.")
        if ROW in frame.columns:
            raise DataError(f"entity rows hold a column named {ROW!r}, which mlprod uses itself; rename it.")
        when = _utc(frame[timestamp], f"entity rows: column {timestamp!r}")
        out = frame.copy()
        for name, view in views.items():
            asked = [f for v, f in refs if v == name]
            # one query row per distinct (keys, time): Feast's file store collapses equal entity rows
            pairs = frame[list(view.join_keys)].assign(**{FEAST_TIMESTAMP: when})
            group = pairs.groupby(list(pairs.columns), sort=False, dropna=False).ngroup().to_numpy()
            first = pd.Series(range(len(pairs))).groupby(group).first().to_numpy()
            query = pairs.iloc[first].reset_index(drop=True)
            query[ROW] = range(len(query))
            got = self.store.get_historical_features(entity_df=query, features=[f"{name}:{f}" for f in asked],
                                                     full_feature_names=full_names).to_df()
            cols = [f"{name}__{f}" if full_names else f for f in asked]
            got = got[[ROW, *cols]].drop_duplicates(ROW).set_index(ROW).reindex(range(len(query))).iloc[group]
            got = got.reset_index(drop=True)
            for c in cols:
                col = got[c]
                out[c] = col.to_numpy() if col.dtype != object else col.where(col.notna(), None).to_numpy()
            empty = int(got[cols].isna().all(axis=1).sum())
            if empty:
                why = f"none before it, or older than ttl={pd.Timedelta(view.ttl)}" if view.ttl else "none before it"
                _note(f"view {name!r}: {empty} of {len(out)} rows have no value at their timestamp ({why}): left "
                      "null, never filled.")
        return out

    def online_features(self, entity_rows: Any, features: Sequence[str] | str, *, on_missing: str = "flag",
                        now: Any = None, full_names: bool = False) -> Any:
        """The online store's values for ``entity_rows`` (Feast's ``get_online_features``), one row each.

        A value is missing when the entity was never materialized, or its value is older than
        the view's TTL at ``now`` (the same rule as :meth:`training_frame`; Feast itself serves
        expired values online). Missing values are null, never zero; ``_found`` is False on a row
        with any missing value and ``_missing`` names them (``"view:feature,..."``).

        Args:
            entity_rows: a DataFrame or a list of dicts holding the entity key(s); other keys are
                ignored (request-time features stay with the caller).
            features: references ``"view:feature"``.
            on_missing: ``"flag"`` (``_found``/``_missing`` columns) or ``"raise"`` (a DataError
                naming the rows and features).
            now: the time TTLs are judged at (default: the clock).
            full_names: name the columns ``view__feature``.

        Returns:
            A DataFrame: the entity keys, the features, ``_found``, ``_missing``.

        Raises:
            DataError: a missing entity key column; with ``on_missing="raise"``, a missing value.
            ConfigError: an unknown view or feature, a bad reference or ``on_missing``.
        """
        import pandas as pd

        check_params("online_features", {"on_missing": on_missing, "full_names": full_names}, ONLINE_PARAMS)
        refs = _split_refs(features)
        views = self._view_objects(refs)
        keys = list(dict.fromkeys(k for v in views.values() for k in v.join_keys))
        rows = entity_rows.to_dict("records") if isinstance(entity_rows, pd.DataFrame) else list(entity_rows)
        lacking = sorted({k for r in rows for k in keys if k not in r})
        if lacking:
            raise DataError(f"entity rows lack key(s) {lacking}; the views {sorted(views)} look up by {keys}.")
        query = [{k: _plain(r[k]) for k in keys} for r in rows]
        response = self.store.get_online_features(features=[f"{v}:{f}" for v, f in refs], entity_rows=query,
                                                  full_feature_names=full_names)
        from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

        names = list(response.proto.metadata.feature_names.val)
        values = response.to_dict()
        at = _utc_one(now) if now is not None else _now()
        out = pd.DataFrame({k: values[k] for k in keys})
        missing: list[list[str]] = [[] for _ in rows]
        for (v, f), result in zip(refs, response.proto.results[len(names) - len(refs):], strict=True):
            col = f"{v}__{f}" if full_names else f
            ttl = views[v].ttl
            vals = list(values[col])
            for i, (status, stamp) in enumerate(zip(result.statuses, result.event_timestamps, strict=True)):
                expired = bool(ttl) and status == FieldStatus.PRESENT and \
                    at - dt.datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, dt.timezone.utc) > ttl
                if status != FieldStatus.PRESENT or expired:
                    missing[i].append(f"{v}:{f}")
                    vals[i] = None
            out[col] = pd.Series(vals, dtype="float64" if all(x is None or isinstance(x, (int, float))
                                                               for x in vals) else object)
        out["_found"] = [not m for m in missing]
        out["_missing"] = [",".join(m) for m in missing]
        if on_missing == "raise" and not out["_found"].all():
            bad = [(query[i], m) for i, m in enumerate(missing) if m][:5]
            raise DataError(f"{int((~out['_found']).sum())} of {len(rows)} entity rows have no online value "
                            f"(never materialized, or older than the view's ttl): {bad}; materialize them, or pass "
                            "on_missing='flag' to get nulls with a _found flag.")
        return out

    # ---- lineage -----------------------------------------------------------------------------

    def registry_version(self) -> str:
        """A digest of what the registry defines (entities, sources, feature views: their specs,
        not the times they were applied): the same definitions give the same version, any change a
        new one. Recorded with training data so a model names the feature definitions it saw.

        Example:
            >>> import tempfile
            >>> FeatureRepo(tempfile.mkdtemp()).registry_version().startswith("sha256:")
            True
        """
        import json

        from google.protobuf.json_format import MessageToDict

        def definition(value: Any) -> Any:  # the proto as data, without its ``meta`` (apply/update times)
            if isinstance(value, dict):
                return {k: definition(v) for k, v in value.items() if k != "meta"}
            return [definition(v) for v in value] if isinstance(value, list) else value

        digest = hashlib.sha256(self.project.encode())
        groups = (self.store.list_entities(), self.store.list_data_sources(), self.store.list_feature_views())
        for kind, group in enumerate(groups):
            for obj in sorted(group, key=lambda o: o.name):
                data = definition(MessageToDict(obj.to_proto()))
                digest.update(json.dumps([kind, obj.name, data], sort_keys=True).encode())
        return "sha256:" + digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value Feast's entity rows take."""
    return value.item() if hasattr(value, "item") else value


def _utc_one(value: Any) -> dt.datetime:
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{value!r} is not a time; pass a datetime or an ISO-8601 string.") from e
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def feature_repo(path: str | os.PathLike, project: str = "mlprod") -> FeatureRepo:
    """Open (or create, with Feast's embedded local provider) the feature repo at ``path``.

    Example:
        >>> import tempfile, mlprod
        >>> mlprod.feature_repo(tempfile.mkdtemp()).views()
        []
    """
    return FeatureRepo(path, project=project)
