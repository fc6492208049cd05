"""The feature store core on real Feast (local provider, files under tmp_path): no leakage, TTL,
online equals offline, missing entities, the registry version."""
import datetime as dt
import sys

import numpy as np
import pandas as pd
import pytest

from mlprod.errors import ConfigError, DataError
from mlprod.features import FeatureRepo, feature_repo

T0 = pd.Timestamp("2024-01-01", tz="UTC")
TTL = pd.Timedelta("3D")


def _values(seed=0, entities=6, updates=8):
    """Several updates per entity at random times over January; ``written_at`` is each value's own time."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(entities):
        times = np.sort(rng.choice(np.arange(0, 31 * 24), size=updates, replace=False))
        for h in times:
            ts = T0 + pd.Timedelta(hours=int(h))
            rows.append({"area": e, "ts": ts, "mean_fare": float(rng.normal(10, 3)), "trips": int(rng.integers(0, 50)),
                         "busiest_company": f"c{int(rng.integers(0, 4))}", "written_at": int(ts.timestamp())})
    return pd.DataFrame(rows)


def _entity_rows(values, seed=1, n=80):
    rng = np.random.default_rng(seed)
    area = rng.integers(0, 7, size=n)  # area 6 has no value at all
    hours = rng.integers(-48, 33 * 24, size=n)  # some before the first value, some long after the last
    rows = pd.DataFrame({"area": area, "event_timestamp": [T0 + pd.Timedelta(hours=int(h)) for h in hours],
                         "label": rng.integers(0, 2, size=n)})
    # edge rows: exactly at a value's time (the value counts), exactly TTL after it, one second past TTL
    v = values[values.area == 0].iloc[-1]  # the entity's last value: no newer one takes over
    edges = pd.DataFrame({"area": [v.area] * 3, "event_timestamp": [v.ts, v.ts + TTL, v.ts + TTL + pd.Timedelta("1s")],
                          "label": [1, 1, 1]})
    return pd.concat([rows, edges], ignore_index=True)


def _as_of(rows, values, ttl):
    """The hand-written point-in-time join: per row, the newest value of its entity at or before its time,
    no older than ``ttl``; in the rows' order."""
    left = rows.reset_index().sort_values("event_timestamp")
    right = values.sort_values("ts")
    joined = pd.merge_asof(left, right.drop(columns=[]), left_on="event_timestamp", right_on="ts", by="area",
                           direction="backward", allow_exact_matches=True, tolerance=ttl)
    return joined.sort_values("index").set_index("index")


@pytest.fixture()
def repo(tmp_path):
    values = _values()
    r = FeatureRepo(tmp_path / "repo")
    r.define("area_stats", values, entity="area", timestamp="ts", ttl=TTL)
    return r, values


FEATURES = ["area_stats:mean_fare", "area_stats:trips", "area_stats:busiest_company", "area_stats:written_at"]


def test_training_frame_has_no_leakage_and_matches_an_as_of_join(repo):
    r, values = repo
    rows = _entity_rows(values)
    got = r.training_frame(rows, FEATURES)
    assert len(got) == len(rows)  # every row comes back (Feast's file store drops rows whose values all expired)
    assert got[["area", "label"]].equals(rows[["area", "label"]])  # input order and columns kept
    expected = _as_of(rows, values, TTL)
    # no leakage: a value written after the label's time never appears; nothing older than the TTL
    seen = got["written_at"].notna()
    when = got["event_timestamp"].map(lambda t: int(t.timestamp()))
    assert (got.loc[seen, "written_at"] <= when[seen]).all()
    assert (when[seen] - got.loc[seen, "written_at"] <= TTL.total_seconds()).all()
    for col in ("mean_fare", "trips", "written_at"):
        np.testing.assert_array_equal(got[col].to_numpy(dtype=float), expected[col].to_numpy(dtype=float), col)
    assert got["busiest_company"].tolist() == [None if pd.isna(v) else v for v in expected["busiest_company"]]
    # the data holds every case: matched, expired, before the first value, an unknown entity, the edges
    assert 10 < seen.sum() < len(rows) - 10
    assert got.loc[got["area"] == 6, "mean_fare"].isna().all()
    edge = got.tail(3)["written_at"].tolist()
    assert edge[0] == edge[1] == int(values[values.area == 0].iloc[-1].ts.timestamp()) and np.isnan(edge[2])


def test_a_value_older_than_ttl_is_null_and_without_ttl_it_is_kept(repo, tmp_path):
    r, values = repo
    last = values[values.area == 0].iloc[-1]
    rows = pd.DataFrame({"area": [0, 0], "event_timestamp": [last.ts + pd.Timedelta("1D"), last.ts + pd.Timedelta("5D")],
                         "label": [0, 1]})
    got = r.training_frame(rows, ["area_stats:mean_fare"])
    assert got["mean_fare"][0] == pytest.approx(last.mean_fare) and np.isnan(got["mean_fare"][1])
    forever = FeatureRepo(tmp_path / "forever")
    forever.define("area_stats", values, entity="area", timestamp="ts")  # ttl=None: never expires
    kept = forever.training_frame(rows, ["area_stats:mean_fare"])["mean_fare"]
    assert kept.tolist() == pytest.approx([last.mean_fare] * 2)
    np.testing.assert_array_equal(forever.training_frame(_entity_rows(values), ["area_stats:trips"])["trips"],
                                  _as_of(_entity_rows(values), values, None)["trips"])


def test_created_timestamp_breaks_ties(tmp_path):
    values = pd.DataFrame({"area": [1, 1], "ts": [T0, T0], "created": [T0, T0 + pd.Timedelta("1h")],
                           "fare": [1.0, 2.0]})
    r = FeatureRepo(tmp_path / "repo")
    r.define("v", values.iloc[::-1], entity="area", timestamp="ts", created_timestamp="created", ttl="1D")
    rows = pd.DataFrame({"area": [1], "event_timestamp": [T0 + pd.Timedelta("2h")]})
    assert r.training_frame(rows, ["v:fare"])["fare"].tolist() == [2.0]


def test_online_equals_offline_after_materialize(repo):
    r, values = repo
    now = values.ts.max() + pd.Timedelta("1h")
    r.materialize(end=now)
    areas = list(range(7))
    online = r.online_features([{"area": a} for a in areas], FEATURES, now=now)
    offline = r.training_frame(pd.DataFrame({"area": areas, "event_timestamp": [now] * len(areas)}), FEATURES)
    for col in ("mean_fare", "trips", "written_at"):
        np.testing.assert_array_equal(online[col].to_numpy(dtype=float), offline[col].to_numpy(dtype=float), col)
    assert online["busiest_company"].tolist() == offline["busiest_company"].tolist()
    # some area's last value is older than the TTL at `now`: null online too (Feast alone serves it as present)
    stale = offline["mean_fare"].isna() & (offline["area"] != 6)
    assert stale.any() and not online.loc[stale, "_found"].any()
    assert online["_found"].tolist() == offline["mean_fare"].notna().tolist()


def test_missing_entities_are_flagged_or_raise(repo):
    r, values = repo
    r.materialize(end=values.ts.max())
    at = values[values.area == 0].ts.max()  # area 0's newest value is fresh then
    got = r.online_features(pd.DataFrame({"area": [0, 6]}), ["area_stats:mean_fare", "area_stats:trips"], now=at)
    assert got["_found"].tolist() == [True, False]
    assert got["_missing"][1] == "area_stats:mean_fare,area_stats:trips"
    assert np.isnan(got["mean_fare"][1]) and np.isnan(got["trips"][1])  # null, never a zero
    with pytest.raises(DataError, match="1 of 2 entity rows have no online value.*'area': 6"):
        r.online_features([{"area": 0}, {"area": 6}], ["area_stats:trips"], now=at, on_missing="raise")
    with pytest.raises(DataError, match="lack key"):
        r.online_features([{"zone": 0}], ["area_stats:trips"])


def test_registry_version_is_stable_and_follows_definitions(repo, tmp_path):
    r, values = repo
    v1 = r.registry_version()
    assert v1 == FeatureRepo(r.path).registry_version()  # reopened: the same
    r.define("area_stats", values, entity="area", timestamp="ts", ttl=TTL)  # re-applied unchanged: the same
    assert r.registry_version() == v1
    r.define("area_stats", values, entity="area", timestamp="ts", ttl="4D")
    assert r.registry_version() != v1


def test_sources_from_files_and_epoch_seconds(tmp_path):
    values = _values()
    csv = tmp_path / "values.csv"
    values.assign(ts=values.ts.map(lambda t: int(t.timestamp()))).to_csv(csv, index=False)  # epoch seconds in CSV
    pq = tmp_path / "values.parquet"
    values.to_parquet(pq)
    rows = _entity_rows(values)
    a, b = feature_repo(tmp_path / "a"), feature_repo(tmp_path / "b")
    a.define("area_stats", str(csv), entity="area", timestamp="ts", ttl=TTL)
    b.define("area_stats", pq, entity="area", timestamp="ts", ttl=dt.timedelta(days=3))
    entity_file = tmp_path / "rows.parquet"
    rows.to_parquet(entity_file)
    fa = a.training_frame(rows, ["area_stats:trips"])["trips"]
    fb = b.training_frame(str(entity_file), ["area_stats:trips"])["trips"]
    np.testing.assert_array_equal(fa, fb)
    assert fa.notna().sum() > 10


def test_clear_errors(repo, tmp_path, monkeypatch):
    r, values = repo
    with pytest.raises(ConfigError, match="not 'view:feature'"):
        r.training_frame(values, ["mean_fare"])
    with pytest.raises(ConfigError, match="feature 'fare' is not in view 'area_stats'"):
        r.training_frame(values, ["area_stats:fare"])
    with pytest.raises(ConfigError, match=r"\['nope'\] are not in the repo"):
        r.training_frame(values, ["nope:x"])
    with pytest.raises(DataError, match=r"lack column\(s\) \['event_timestamp'\]"):
        r.training_frame(values[["area"]], ["area_stats:trips"])
    with pytest.raises(DataError, match="entity key 'area' has dtype float64"):
        r.define("v2", values.assign(area=values.area.astype(float)), entity="area", timestamp="ts")
    with pytest.raises(ConfigError, match="ttl='soon' is not a duration"):
        r.define("v2", values, entity="area", timestamp="ts", ttl="soon")
    monkeypatch.setitem(sys.modules, "feast", None)  # Feast not installed
    with pytest.raises(ConfigError, match=r"pip install mlprod\[features\]"):
        FeatureRepo(tmp_path / "other")
