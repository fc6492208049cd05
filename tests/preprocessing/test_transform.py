"""Each transformation kind on the Chicago taxi data vs an independent numpy/pandas computation,
and the serving graph vs the Beam output."""
import numpy as np
import pandas as pd
import pytest

import mlprod
from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.io.examples import serialized
from mlprod.preprocessing import PCA, Categorical, Cross, DateParts, Distance, FeatureSpec, Numeric

SPEC = FeatureSpec(label="tips", features=(
    Numeric("fare"),
    Numeric("trip_miles", scale="minmax", clip=(0.0, 50.0)),
    Numeric("trip_seconds", scale="minus1_1", impute="median"),
    Numeric("tips_log", scale="log"),
    Numeric("trip_start_hour", buckets=4),
    Categorical("payment_type"),
    Categorical("payment_onehot", encoding="onehot", top_k=3),
    Categorical("company", encoding="hash", hash_buckets=20, impute="mode"),
    Cross("pay_x_day", ("payment_type", "trip_start_day"), hash_buckets=64),
    Distance("trip_km", "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
             scale="none", impute="mean"),
    DateParts("start", "trip_start_timestamp", ("hour", "weekday", "day", "month", "year")),
    PCA("geo", ("pickup_latitude", "pickup_longitude"), components=1, impute="mean"),
))


@pytest.fixture(scope="module")
def raw():
    df = datasets.chicago_taxi().sample(1500, random_state=1).reset_index(drop=True)
    return df.assign(tips_log=df["tips"], payment_onehot=df["payment_type"])


@pytest.fixture(scope="module")
def result(raw, tmp_path_factory):
    return mlprod.analyze_and_transform(raw, SPEC, output_dir=tmp_path_factory.mktemp("tft") / "graph")


def zscore(x):
    return (x - x.mean()) / x.std(ddof=0)


def test_scalers_match_numpy(raw, result):
    t = result.transformed
    np.testing.assert_allclose(t["fare"], zscore(raw["fare"].to_numpy()), rtol=1e-4, atol=1e-4)
    m = raw["trip_miles"].clip(0, 50).to_numpy()
    np.testing.assert_allclose(t["trip_miles"], (m - m.min()) / (m.max() - m.min()), atol=1e-5)
    s = raw["trip_seconds"].to_numpy(float)
    med = np.nanmedian(s)
    filled = np.where(np.isnan(s), med, s)
    expect = 2 * (filled - filled.min()) / (filled.max() - filled.min()) - 1
    np.testing.assert_allclose(t["trip_seconds"], expect, atol=5e-3)  # approximate quantile median
    np.testing.assert_allclose(t["tips_log"], zscore(np.log1p(np.maximum(raw["tips"].to_numpy(), 0))), atol=1e-4)


def test_quantile_buckets(raw, result):
    b = result.transformed["trip_start_hour"].to_numpy()
    assert set(np.unique(b)) <= {0, 1, 2, 3}
    # monotone in the raw value, roughly equal shares
    order = raw.assign(b=b).groupby("b")["trip_start_hour"].agg(["min", "max", "size"])
    assert (order["min"].diff().dropna() >= 0).all()
    assert order["size"].min() > 0.15 * len(raw)


def test_vocabulary_onehot_hash_cross(raw, result):
    t = result.transformed
    counts = raw["payment_type"].value_counts()
    assert (t.loc[raw["payment_type"] == counts.index[0], "payment_type"] == 0).all()  # most frequent -> 0
    onehot = np.stack(t["payment_onehot"].to_numpy())
    assert onehot.shape == (len(raw), 4) and np.allclose(onehot.sum(axis=1), 1.0)
    top3 = raw["payment_type"].isin(counts.index[:3]).to_numpy()
    assert (onehot[~top3, 3] == 1).all() and (onehot[top3, 3] == 0).all()  # out-of-vocabulary bucket
    mode = raw["company"].mode()[0]
    filled = raw["company"].fillna(mode)
    ids = t["company"].to_numpy()
    assert ids.min() >= 0 and ids.max() < 20
    assert len(set(zip(filled, ids, strict=True))) == filled.nunique()  # one id per value, imputed = mode's id
    assert len(set(ids[raw["company"].isna().to_numpy()])) == 1
    pairs = list(zip(raw["payment_type"], raw["trip_start_day"], t["pay_x_day"], strict=True))
    assert len({(a, b) for a, b, _ in pairs}) == len({(a, b, c) for a, b, c in pairs})


def test_distance_dateparts_pca(raw, result):
    t = result.transformed
    cols = ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]
    lat1, lon1, lat2, lon2 = (np.radians(raw[c].fillna(raw[c].mean()).to_numpy()) for c in cols)
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    np.testing.assert_allclose(t["trip_km"], 2 * 6371.0088 * np.arcsin(np.sqrt(a)), atol=2e-3)
    ts = pd.to_datetime(raw["trip_start_timestamp"], unit="s")
    for part, expect in (("hour", ts.dt.hour), ("weekday", ts.dt.weekday), ("day", ts.dt.day),
                         ("month", ts.dt.month), ("year", ts.dt.year)):
        np.testing.assert_array_equal(t[f"start_{part}"], expect.to_numpy(), err_msg=part)
    x = np.stack([raw[c].fillna(raw[c].mean()).to_numpy() for c in cols[:2]], axis=1)
    w = np.linalg.eigh(np.cov(x.T, bias=True))[1][:, -1]
    proj = np.stack(t["geo"].to_numpy())[:, 0]
    assert abs(np.corrcoef(proj, x @ w)[0, 1]) > 0.999


def test_serving_graph_equals_beam_output(raw, result):
    import tensorflow as tf

    rows = raw.drop(columns=["tips"]).head(200)
    out = result.serving_fn()(tf.constant(serialized(rows)))
    for name in ("fare", "trip_miles", "trip_seconds", "payment_type", "company", "trip_km", "start_month"):
        np.testing.assert_allclose(out[name].numpy().reshape(200, -1).astype(float),
                                   np.stack(result.transformed[name].head(200).to_numpy()).reshape(200, -1)
                                   .astype(float), atol=1e-5, err_msg=name)


def test_summary_and_html(result):
    s = result.summary()
    assert set(s["feature"]) >= {"fare", "trip_km", "start_hour", "geo"}
    assert abs(s.set_index("feature").loc["fare", "mean"]) < 1e-3
    assert "Before / after" in result._repr_html_()


def test_spec_roundtrip_and_errors(raw, tmp_path):
    assert FeatureSpec.from_yaml(SPEC.to_json()) == SPEC
    with pytest.raises(ConfigError, match="one-hot needs top_k"):
        Categorical("payment_type", encoding="onehot")
    with pytest.raises(ConfigError, match="unknown field"):
        FeatureSpec.from_dict({"features": [{"kind": "numeric", "name": "x", "scael": "log"}]})
    with pytest.raises(DataError, match="not in the data"):
        mlprod.analyze_and_transform(raw, FeatureSpec(features=(Numeric("fair"),)), progress=False)
    with pytest.raises(DataError, match="needs numbers"):
        mlprod.analyze_and_transform(raw, FeatureSpec(features=(Numeric("payment_type"),)), progress=False)
    with pytest.raises(DataError, match="missing value"):
        mlprod.analyze_and_transform(raw, FeatureSpec(features=(Numeric("dropoff_latitude"),)), progress=False)
    with pytest.raises(DataError, match="infinite"):
        mlprod.analyze_and_transform(raw.assign(fare=np.inf), FeatureSpec(features=(Numeric("fare"),)),
                                     progress=False)
    with pytest.raises(DataError, match="empty"):
        mlprod.analyze_and_transform(raw.head(0), FeatureSpec(features=(Numeric("fare"),)), progress=False)


def test_failed_run_keeps_the_earlier_graph(raw, tmp_path):
    out = tmp_path / "graph"
    first = mlprod.analyze_and_transform(raw.head(200), FeatureSpec(features=(Numeric("fare"),)), output_dir=out,
                                         progress=False)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(DataError):
        mlprod.analyze_and_transform(raw.head(200), FeatureSpec(features=(Numeric("nope"),)), output_dir=out,
                                     progress=False)
    assert sorted(p.name for p in out.iterdir()) == before
    assert first.transform_output.transformed_feature_spec()
