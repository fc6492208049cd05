"""Sliced evaluation on real data, checked against independent numpy/sklearn computations."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import mlprod
from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.evaluation import Buckets, EvalSpec, Threshold

from .conftest import PENGUIN_FEATURES, TAXI_FEATURES, export_raw_example_model, np_accuracy


def _value(result, slice_name, metric):
    t = result.table
    return t[(t["slice"] == slice_name) & (t["metric"] == metric)]["value"].iloc[0]


def test_penguin_per_slice_accuracy_matches_numpy(penguin_model):
    df = datasets.penguins()
    spec = EvalSpec(label="species", slices=["species", Buckets("body_mass_g", (0.3, 0.6))])
    r = mlprod.evaluate(penguin_model, df, spec, feature_columns=PENGUIN_FEATURES)
    probs = penguin_model.predict(df[PENGUIN_FEATURES].to_numpy("float32"), verbose=0)
    assert _value(r, "Overall", "sparse_categorical_accuracy") == pytest.approx(np_accuracy(probs, df.species), abs=1e-6)
    for k in range(3):
        mask = (df.species == k).to_numpy()
        assert _value(r, f"species={k}", "sparse_categorical_accuracy") == pytest.approx(
            np_accuracy(probs[mask], df.species[mask]), abs=1e-6)
        assert _value(r, f"species={k}", "example_count") == mask.sum()
    heavy = (df.body_mass_g >= 0.6).to_numpy()
    assert _value(r, "body_mass_g_bucket=>=0.6", "sparse_categorical_accuracy") == pytest.approx(
        np_accuracy(probs[heavy], df.species[heavy]), abs=1e-6)
    worst = r.worst_slices()
    assert worst["z_to_overall"].is_monotonic_increasing
    assert (worst["ci_low"] <= worst["value"] + 1e-9).all() and (worst["value"] <= worst["ci_high"] + 1e-9).all()
    # no thresholds: only the default check (beat the trivial baseline, on Overall) is judged
    judged = r.table[r.table["passed"].notna()]
    assert r.passed and list(zip(judged["slice"], judged["metric"], strict=True)) == [("Overall", "gain_over_trivial")]
    assert "<img" in r._repr_html_()


def test_taxi_binary_slices_fairness_against_sklearn(taxi_model, taxi_data):
    df = taxi_data
    spec = EvalSpec(label="big_tipper", model_type="binary",
                    slices=["trip_start_hour", "pickup_community_area"], fairness=["payment_type"], min_slice_size=50)
    r = mlprod.evaluate(taxi_model, df, spec, feature_columns=TAXI_FEATURES)
    p = taxi_model.predict(df[TAXI_FEATURES].to_numpy("float32"), verbose=0).ravel()
    y = df["big_tipper"].to_numpy()
    assert _value(r, "Overall", "auc") == pytest.approx(roc_auc_score(y, p), abs=2e-3)
    assert _value(r, "Overall", "binary_accuracy") == pytest.approx(np.mean((p > 0.5) == y), abs=1e-6)
    cash = (df.payment_type == "Cash").to_numpy()
    assert _value(r, "payment_type=Cash", "binary_accuracy") == pytest.approx(np.mean((p[cash] > 0.5) == y[cash]),
                                                                            abs=1e-6)
    hour = (df.trip_start_hour == 18).to_numpy()
    assert _value(r, "trip_start_hour=18", "example_count") == hour.sum()
    fair = r.fairness()
    row = fair[(fair.feature == "payment_type") & (fair.metric == "binary_accuracy")].iloc[0]
    groups = df[df.payment_type.map(df.payment_type.value_counts()) >= 50].groupby("payment_type")
    accs = groups.apply(lambda g: np.mean((p[g.index] > 0.5) == y[g.index]))
    assert row["gap"] == pytest.approx(accs.max() - accs.min(), abs=1e-6)
    small = r.table[r.table["too_small"]]
    assert len(small) > 0 and (small["count"] < 50).all()  # tiny community areas are flagged, not hidden


def test_saved_model_route_thresholds_block_a_worse_model(penguin_model, tmp_path, penguin_float_df):
    import tf_keras as keras

    good = export_raw_example_model(penguin_model, PENGUIN_FEATURES, tmp_path / "good")
    worse = keras.models.clone_model(penguin_model)  # untrained weights
    bad = export_raw_example_model(worse, PENGUIN_FEATURES, tmp_path / "bad")
    spec = EvalSpec(label="species",
                    thresholds={"sparse_categorical_accuracy": Threshold(lower=0.3, max_drop=0.01)})
    r_good = mlprod.evaluate(good, penguin_float_df, spec)
    keras_r = mlprod.evaluate(penguin_model, penguin_float_df, spec, feature_columns=PENGUIN_FEATURES)
    assert _value(r_good, "Overall", "sparse_categorical_accuracy") == pytest.approx(
        _value(keras_r, "Overall", "sparse_categorical_accuracy"), abs=1e-6)
    r = mlprod.evaluate(bad, penguin_float_df, spec, baseline_model=good)
    assert not r.passed  # much worse than the baseline: change threshold breaks
    assert ("Overall", "sparse_categorical_accuracy") in r.failures
    row = r.table[(r.table.slice == "Overall") & (r.table.metric == "sparse_categorical_accuracy")].iloc[0]
    assert row["change"] == pytest.approx(row["value"] - row["baseline"], abs=1e-6) and row["change"] < -0.01
    assert mlprod.evaluate(good, penguin_float_df, spec, baseline_model=good).passed


def test_tflite_model_is_evaluated_on_the_interpreter(penguin_model, tmp_path):
    import tensorflow as tf

    path = tmp_path / "penguin.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(penguin_model).convert())
    df = datasets.penguins()
    spec = EvalSpec(label="species")
    r = mlprod.evaluate(str(path), df, spec, feature_columns=PENGUIN_FEATURES)
    k = mlprod.evaluate(penguin_model, df, spec, feature_columns=PENGUIN_FEATURES)
    assert _value(r, "Overall", "sparse_categorical_accuracy") == pytest.approx(
        _value(k, "Overall", "sparse_categorical_accuracy"), abs=0.01)


def test_bad_inputs(penguin_model, tmp_path):
    df = datasets.penguins()
    with pytest.raises(DataError, match="slice feature"):
        mlprod.evaluate(penguin_model, df, EvalSpec(label="species", slices=["island"]),
                        feature_columns=PENGUIN_FEATURES)
    with pytest.raises(DataError, match="label 'kind' is not in the data"):
        mlprod.evaluate(penguin_model, df, EvalSpec(label="kind"), feature_columns=PENGUIN_FEATURES)
    with pytest.raises(ConfigError, match="does not fit a regression model"):
        EvalSpec(label="tips", model_type="regression", metrics=["AUC"])
    with pytest.raises(DataError, match="empty"):
        mlprod.evaluate(penguin_model, pd.DataFrame(), EvalSpec(label="species"))
    with pytest.raises(ConfigError, match="neither a SavedModel"):
        mlprod.evaluate(str(tmp_path), df, EvalSpec(label="species"))
    with pytest.raises(DataError, match="takes inputs of shape"):
        import tensorflow as tf

        p = tmp_path / "m.tflite"
        p.write_bytes(tf.lite.TFLiteConverter.from_keras_model(penguin_model).convert())
        mlprod.evaluate(str(p), df, EvalSpec(label="species"), feature_columns=PENGUIN_FEATURES[:2])


def test_tflite_candidate_against_its_keras_baseline_and_what_was_judged(penguin_model, tmp_path):
    """Issue 13: per-slice verdicts said passed on slices far below the bound; mixed baselines were refused."""
    import tensorflow as tf

    path = tmp_path / "penguin.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(penguin_model).convert())
    df = datasets.penguins()
    overall = np_accuracy(penguin_model.predict(df[PENGUIN_FEATURES].to_numpy("float32"), verbose=0), df.species)
    spec = EvalSpec(label="species", slices=["species"], thresholds={
        "sparse_categorical_accuracy": Threshold(lower=overall - 0.05, max_drop=0.02)})
    r = mlprod.evaluate(str(path), df, spec, baseline_model=penguin_model, feature_columns=PENGUIN_FEATURES)
    assert r.passed
    acc = r.table[r.table.metric == "sparse_categorical_accuracy"].set_index("slice")
    assert acc.loc["Overall", "judged"] and acc.loc["Overall", "passed"]
    assert acc.loc["Overall", "baseline"] == pytest.approx(overall, abs=0.01)
    others = acc.drop(index="Overall")
    assert not others["judged"].any() and others["passed"].isna().all()  # not judged: no verdict
    assert (others["meets_threshold"] == (others["value"] >= overall - 0.05)).all()
    assert set(acc["threshold"]) == {f">= {overall - 0.05:g}, drop <= 0.02"}
    page = r.to_html()
    assert "Judged: sparse_categorical_accuracy &gt;= " in page and "not judged" in page


def test_worst_slices_rank_by_certainty_not_raw_gap(penguin_model):
    df = datasets.penguins()
    # a tiny slice (8 rows) with a big raw gap, and big slices
    df = df.assign(group=np.where(np.arange(len(df)) < 8, "tiny", np.where(df.species == 0, "adelie", "other")))
    r = mlprod.evaluate(penguin_model, df, EvalSpec(label="species", slices=["group"]),
                        feature_columns=PENGUIN_FEATURES)
    w = r.worst_slices()
    tiny = w[w.slice == "group=tiny"].iloc[0]
    assert bool(tiny["too_small"])  # kept visible, marked
    se = np.sqrt(r.overall()["sparse_categorical_accuracy"] * (1 - r.overall()["sparse_categorical_accuracy"]) / 8)
    assert tiny["z_to_overall"] == pytest.approx(tiny["gap_to_overall"] / se, rel=1e-3)


def test_fairness_on_a_multiclass_model_says_why_rows_are_missing(penguin_model):
    df = datasets.penguins().assign(sex=lambda d: np.where(np.arange(len(d)) % 2 == 0, "a", "b"))
    r = mlprod.evaluate(penguin_model, df, EvalSpec(label="species", fairness=["sex"], min_slice_size=500),
                        feature_columns=PENGUIN_FEATURES)
    assert r.fairness().empty
    notes = " ".join(r.fairness_notes())
    assert "need a binary model" in notes and "fewer than 2 groups" in notes and "a: 167" in notes
    assert "fewer than 2 groups" in r.to_html()


def test_report_escapes_slice_values(penguin_model):
    df = datasets.penguins().assign(grp="<script>alert(1)</script>")
    spec = EvalSpec(label="species", slices=["grp"], threshold_slices="all",
                    thresholds={"sparse_categorical_accuracy": Threshold(lower=0.9999)})
    r = mlprod.evaluate(penguin_model, df, spec, feature_columns=PENGUIN_FEATURES)
    assert not r.passed and any("<script>" in s for s, _ in r.failures)
    assert "<script>" not in r.to_html()


def test_stored_predictions_in_tfrecord_files_are_read_by_the_workers(taxi_data, tmp_path):
    """model=None on tf.Example files: TFMA reads the files (no pandas copy); same numbers as a frame."""
    from mlprod.io.examples import write_tfrecord

    df = taxi_data[["big_tipper", "payment_type"]].copy()
    df["score"] = (np.log1p(taxi_data["fare"]) / 5).clip(0, 1).astype("float32")
    write_tfrecord(df.iloc[:1500], tmp_path / "preds" / "part-0.tfrecord")
    write_tfrecord(df.iloc[1500:], tmp_path / "preds" / "part-1.tfrecord")
    spec = EvalSpec(label="big_tipper", model_type="binary", slices=["payment_type"], prediction_key="score")
    files = mlprod.evaluate(None, tmp_path / "preds", spec)
    frame = mlprod.evaluate(None, df, spec)
    assert _value(files, "Overall", "example_count") == len(df)
    assert _value(files, "Overall", "auc") == pytest.approx(roc_auc_score(df["big_tipper"], df["score"]), abs=2e-3)
    merged = files.table.merge(frame.table, on=["slice", "metric"])
    assert len(merged) == len(frame.table)
    np.testing.assert_allclose(merged["value_x"].astype(float), merged["value_y"].astype(float), rtol=1e-5)
    with pytest.raises(ConfigError, match="prediction_key"):  # a column the files do not hold
        mlprod.evaluate(None, tmp_path / "preds", EvalSpec(label="big_tipper", model_type="binary",
                                                           prediction_key="nope"))


def _majority(labels):
    return float(pd.Series(labels).value_counts(normalize=True).max())


def test_trivial_baseline_is_reported_and_a_model_that_does_not_beat_it_is_not_passed(penguin_model, caplog):
    """Issue 25: a model no better than guessing got no word; with no threshold it 'passed'."""
    import logging

    df = datasets.penguins()
    spec = EvalSpec(label="species", slices=["species"])
    with caplog.at_level(logging.INFO, logger="mlprod.evaluation"):
        good = mlprod.evaluate(penguin_model, df, spec, feature_columns=PENGUIN_FEATURES)
    t = good.trivial()
    assert t["trivial"] == pytest.approx(_majority(df.species)) and t["metric"] == "sparse_categorical_accuracy"
    assert t["gain"] == pytest.approx(t["model"] - t["trivial"], abs=1e-6) and t["beaten"]
    assert good.passed and not good.warnings
    assert _value(good, "Overall", "trivial_baseline") == pytest.approx(_majority(df.species))
    row = good.table[good.table.metric == "gain_over_trivial"].iloc[0]
    assert row["judged"] and row["passed"] and row["threshold"] == "> 0 (beat the trivial baseline)"
    assert set(good.table[good.table.metric.isin(["trivial_baseline", "gain_over_trivial"])]["slice"]) == {"Overall"}
    assert "Trivial baseline (always predicting the most common class: 0.4371)" in good.to_html()
    assert "trivial baseline on sparse_categorical_accuracy" in caplog.text

    # stored predictions that always say the most common class: exactly the trivial baseline, no gain
    majority = int(df.species.value_counts().idxmax())
    const = df.assign(p=[np.eye(3)[majority].astype("float32")] * len(df))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mlprod.evaluation"):
        r = mlprod.evaluate(None, const, EvalSpec(label="species", prediction_key="p"))
    assert r.trivial()["gain"] == pytest.approx(0.0, abs=1e-6)
    assert not r.passed and ("Overall", "gain_over_trivial") in r.failures
    assert "does not beat the trivial baseline: sparse_categorical_accuracy 0.4371 vs 0.4371" in r.warnings[0]
    assert "does not beat the trivial baseline" in caplog.text and "Warning: the model does not beat" in r.to_html()
    # opting out of the judgement still reports and warns
    r = mlprod.evaluate(None, const, EvalSpec(label="species", prediction_key="p", beat_trivial=False))
    assert r.passed and r.warnings and r.trivial()["trivial"] == pytest.approx(_majority(df.species))


def test_regression_trivial_baseline_is_the_mean_predictor(taxi_data):
    y = taxi_data["fare"].to_numpy("float64")
    rng = np.random.default_rng(0)
    df = taxi_data.assign(mean_guess=np.float32(y.mean()), model=(y + rng.normal(0, 1, len(y))).astype("float32"))
    spec = EvalSpec(label="fare", model_type="regression", prediction_key="model")
    r = mlprod.evaluate(None, df, spec)
    t = r.trivial()
    assert t["metric"] == "mean_squared_error" and t["trivial"] == pytest.approx(np.var(y), rel=1e-6)
    assert t["gain"] == pytest.approx(np.var(y) - np.mean((y - df["model"]) ** 2), rel=1e-4) and r.passed
    mae = mlprod.evaluate(None, df, EvalSpec(label="fare", model_type="regression", prediction_key="mean_guess",
                                             thresholds={"mean_absolute_error": Threshold(upper=1e6)}))
    t = mae.trivial()
    assert t["metric"] == "mean_absolute_error" and t["trivial"] == pytest.approx(np.mean(np.abs(y - y.mean())),
                                                                                  rel=1e-5)
    assert not mae.passed and mae.warnings  # the mean itself is no better than the mean


def test_errors_name_the_real_problem(penguin_model, tmp_path, capsys):
    """Issue 25: a bare KeyError for a wrong feature column, 'check the model's inputs' for a text label,
    TFMA's add_input RuntimeError for a binary spec on 5 classes."""
    from mlprod.cli import main

    df = datasets.penguins()
    with pytest.raises(DataError, match=r"feature_columns \['precip'\] are not columns of the data"):
        mlprod.evaluate(penguin_model, df, EvalSpec(label="species"), feature_columns=["precip", *PENGUIN_FEATURES[1:]])
    five = df.assign(kind=np.arange(len(df)) % 5)
    with pytest.raises(DataError, match=r"label 'kind' has 5 classes \(\[0, 1, 2, 3, 4\]\), but model_type='binary' "
                                        r"needs 0/1 labels; use EvalSpec\(model_type='classification'\)"):
        mlprod.evaluate(penguin_model, five, EvalSpec(label="kind", model_type="binary"),
                        feature_columns=PENGUIN_FEATURES)
    with pytest.raises(DataError, match=r"label 'species' holds \[0.5\], not class ids"):
        mlprod.evaluate(penguin_model, df.assign(species=0.5), EvalSpec(label="species"),
                        feature_columns=PENGUIN_FEATURES)
    model = tmp_path / "penguin.h5"
    penguin_model.save(model)
    named = df.assign(species=df.species.map({0: "Adelie", 1: "Chinstrap", 2: "Gentoo"}))
    named.to_csv(tmp_path / "named.csv", index=False)
    args = ["evaluate", str(model), str(tmp_path / "named.csv"), "--label", "species",
            "--feature-columns", ",".join(PENGUIN_FEATURES)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "label 'species' holds text ('Adelie', 'Chinstrap', 'Gentoo')" in err
    assert "map the labels to them first" in err and "Check that the model's inputs match" not in err
    df.to_csv(tmp_path / "ids.csv", index=False)
    assert main([*args[:2], str(tmp_path / "ids.csv"), *args[3:]]) == 0
    out = capsys.readouterr().out
    assert "trivial baseline: sparse_categorical_accuracy 0.4371 for always predicting the most common class" in out
    assert "beats it" in out and "gain_over_trivial" in out
