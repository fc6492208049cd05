"""SVD and NMF in the spec vs scikit-learn's TruncatedSVD and NMF, on the Chicago taxi data (one-hot
and count columns), through the TFX Transform ``preprocessing_fn`` on Beam and the serving graph."""
from functools import partial

import numpy as np
import pytest
from scipy.optimize import nnls
from sklearn.decomposition import NMF as SkNMF
from sklearn.decomposition import TruncatedSVD

import mlprod
from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.io.examples import serialized
from mlprod.preprocessing import NMF, SVD, FeatureSpec, tfx_fn
from mlprod.preprocessing.decompose import RowSample, nmf_fit

PAY = ["Cash", "Credit Card", "No Charge", "Unknown"]
ONEHOT = [f"pay_{i}" for i in range(len(PAY))] + [f"day_{d}" for d in range(1, 8)] + ["area_8"]
COUNTS = ["fare", "trip_miles", "tips", "trip_minutes"]
SPEC = FeatureSpec(label="tips_label", features=(
    SVD("onehot_svd", tuple(ONEHOT), components=3),
    NMF("trip_nmf", tuple(COUNTS), components=2),
))


@pytest.fixture(scope="module")
def raw():
    df = datasets.chicago_taxi().sample(1500, random_state=2).reset_index(drop=True)
    cols = {f"pay_{i}": (df["payment_type"] == p).astype("int64") for i, p in enumerate(PAY)}
    cols |= {f"day_{d}": (df["trip_start_day"] == d).astype("int64") for d in range(1, 8)}
    # an optional (sparse) indicator: missing where the pickup area is unknown
    cols["area_8"] = (df["pickup_community_area"] == 8).astype(float).where(df["pickup_community_area"].notna())
    cols["trip_minutes"] = df["trip_seconds"] / 60.0  # has missing values
    return df.assign(**cols, tips_label=df["tips"])


@pytest.fixture(scope="module")
def result(raw, tmp_path_factory):
    # the TFX Transform component's preprocessing_fn, with the spec carried in custom_config
    fn = partial(tfx_fn.preprocessing_fn, custom_config=tfx_fn.custom_config(SPEC))
    return mlprod.analyze_and_transform(raw[[*ONEHOT, *COUNTS, "tips_label"]], FeatureSpec(label="tips_label",
                                        passthrough=("fare",)), preprocessing_fn=fn,
                                        output_dir=tmp_path_factory.mktemp("tft") / "graph", progress=False)


def matrix(raw, cols):
    return np.nan_to_num(raw[cols].to_numpy(dtype=float, na_value=np.nan), nan=0.0)  # impute="constant": 0


def test_svd_equals_truncated_svd_up_to_sign(raw, result):
    x = matrix(raw, ONEHOT)
    s = np.linalg.svd(x, compute_uv=False)
    assert (s[:3] - s[1:4]).min() > 1e-3 * s[0]  # distinct singular values: the vectors are defined
    expect = TruncatedSVD(n_components=3, algorithm="arpack", random_state=0).fit_transform(x)
    got = np.stack(result.transformed["onehot_svd"].to_numpy())
    assert got.shape == (len(raw), 3)
    for j in range(3):
        sign = np.sign(got[:, j] @ expect[:, j])
        np.testing.assert_allclose(sign * got[:, j], expect[:, j], atol=1e-4, err_msg=f"component {j}")
    assert not np.allclose(got[:, 0], got[:, 0].mean())  # uncentered: the first is the mean direction


def test_nmf_matches_sklearn_reconstruction(raw, result):
    x = matrix(raw, COUNTS)
    w = np.stack(result.transformed["trip_nmf"].to_numpy()).astype(float)
    assert w.shape == (len(raw), 2) and (w >= 0).all()
    h = nmf_fit(x, 2)  # the fit the analyzer ran on all 1,500 rows (fewer than sample_rows)
    # the graph's per-row transform is the non-negative least squares solution against H
    for i in range(0, len(x), 150):
        np.testing.assert_allclose(w[i], nnls(h.T, x[i])[0], rtol=1e-3, atol=1e-3 * (1 + w[i].max()))
    sk = SkNMF(n_components=2, max_iter=1000, random_state=0).fit(x)
    ours = np.linalg.norm(x - w @ h)
    assert ours <= 1.05 * sk.reconstruction_err_, (ours, sk.reconstruction_err_)
    assert ours < 0.5 * np.linalg.norm(x - x.mean(axis=0))  # it does explain the data


def test_nmf_fit_matches_sklearn_on_penguins():
    """Data the SVD/NMF design never looked at: the penguins' (positive) measurements, k = 1..3."""
    p = datasets.penguins()
    x = p[["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]].dropna().to_numpy(float)
    x = x / x.max(axis=0)
    for k in (1, 2, 3):
        h = nmf_fit(x, k)
        w = np.stack([nnls(h.T, row)[0] for row in x])
        sk = SkNMF(n_components=k, max_iter=2000, random_state=0).fit(x)
        assert np.linalg.norm(x - w @ h) <= 1.05 * sk.reconstruction_err_, k


def test_serving_graph_applies_the_same_projection(raw, result):
    import tensorflow as tf

    rows = raw[[*ONEHOT, *COUNTS]].head(100)
    out = result.serving_fn()(tf.constant(serialized(rows)))
    for name in ("onehot_svd", "trip_nmf"):
        np.testing.assert_allclose(out[name].numpy(), np.stack(result.transformed[name].head(100).to_numpy()),
                                   atol=1e-4, err_msg=name)
    assert (out["trip_nmf"].numpy() >= 0).all()


def test_spec_roundtrip_and_errors(raw):
    assert FeatureSpec.from_yaml(SPEC.to_yaml()) == SPEC
    with pytest.raises(ConfigError, match=r"components=4 is larger than the input width \(3 column"):
        SVD("s", ("a", "b", "c"), components=4)
    with pytest.raises(ConfigError, match="larger than the input width"):
        FeatureSpec.from_dict({"features": [{"kind": "nmf", "name": "n", "columns": ["a"], "components": 2}]})
    bad = raw.assign(fare=raw["fare"] - 5.0)
    with pytest.raises(DataError, match=r"NMF\('trip_nmf'\) needs non-negative inputs, but column 'fare'.*use SVD"):
        mlprod.analyze_and_transform(bad, SPEC, progress=False)
    # rows the driver's sample did not see are checked by the analyzer on the workers
    with pytest.raises(DataError, match=r"NMF\('n'\).*\['b'\]"):
        RowSample(10, "NMF('n')", ("a", "b")).add_input(RowSample(10, "NMF('n')", ("a", "b")).create_accumulator(),
                                                        [np.array([[1.0, 2.0], [0.0, -1.0]])])


def test_row_sample_is_bounded_uniform_and_reproducible():
    fn = RowSample(500, "NMF('n')", ("a",))
    batches = [np.arange(i * 1000, (i + 1) * 1000, dtype=float)[:, None] for i in range(10)]
    accs = [fn.add_input(fn.create_accumulator(), [b]) for b in batches]
    keys, rows, n = fn.extract_output(fn.merge_accumulators(accs))
    again = fn.extract_output(fn.merge_accumulators(reversed([fn.add_input(fn.create_accumulator(), [b])
                                                              for b in batches])))
    assert n == 10_000 and len(rows) == 500
    np.testing.assert_array_equal(np.sort(rows[:, 0]), np.sort(again[1][:, 0]))
    assert 3_500 < rows.mean() < 6_500  # spread over all batches, not the first ones


def test_nmf_fitted_on_a_bounded_sample_still_fits_all_rows(raw):
    from mlprod.preprocessing.decompose import _fit_sample

    x = matrix(raw, COUNTS)
    fn = RowSample(300, "NMF('n')", tuple(COUNTS))
    acc = fn.merge_accumulators([fn.add_input(fn.create_accumulator(), [b]) for b in np.array_split(x, 5)])
    assert len(acc[1]) == 300 and acc[2] == len(x)
    h = _fit_sample(fn.extract_output(acc), 2, 400, "NMF('n')")
    w = np.stack([nnls(h.T, row)[0] for row in x])
    sk = SkNMF(n_components=2, max_iter=1000, random_state=0).fit(x)  # on all 1,500 rows
    assert np.linalg.norm(x - w @ h) <= 1.10 * sk.reconstruction_err_


def test_nmf_refuses_a_negative_value_the_driver_sample_did_not_see(tmp_path):
    taxi = datasets.chicago_taxi()[["fare", "trip_miles", "tips"]].copy()  # 15,002 rows; the driver reads 10,000
    taxi.loc[12_000, "tips"] = -1.0
    taxi.to_csv(tmp_path / "taxi.csv", index=False)
    spec = FeatureSpec(features=(NMF("trip_nmf", ("fare", "trip_miles", "tips")),))
    with pytest.raises(DataError, match=r"NMF\('trip_nmf'\) needs non-negative inputs, but column\(s\) \['tips'\]"):
        mlprod.analyze_and_transform(str(tmp_path / "taxi.csv"), spec, output_dir=tmp_path / "out", progress=False)
