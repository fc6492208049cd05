"""The vectorized evaluator against TFMA itself, metric by metric, on real models and data."""
import numpy as np
import pandas as pd
import pytest

import mlprod
from mlprod.evaluation import Buckets, EvalSpec, Threshold
from tests.evaluation.conftest import PENGUIN_FEATURES, TAXI_FEATURES, _fit, export_raw_example_model

AUC_TOLERANCE = 1e-6   # the same histogram and grid as TFMA: AUC is as exact as the rest


def both(model, data, spec, output_dir=None, **kw):
    """The same evaluation by TFMA and by the vectorized engine, joined per (slice, metric)."""
    t = mlprod.evaluate(model, data, spec, engine="tfma", **kw)
    v = mlprod.evaluate(model, data, spec, output_dir=output_dir, **kw)
    joined = t.table.set_index(["slice", "metric"])[["value", "passed"]].join(
        v.table.set_index(["slice", "metric"])[["value", "passed"]], lsuffix="_tfma", rsuffix="_vec", how="outer")
    return t, v, joined


def assert_same(joined):
    assert not joined["value_tfma"].isna().all()
    # TFMA adds a Keras SavedModel's compiled loss; the vectorized engine reports the spec's metrics
    joined = joined[joined.index.get_level_values("metric") != "loss"]
    missing = joined[joined["value_tfma"].isna() != joined["value_vec"].isna()]
    assert missing.empty, missing
    for (slice_, metric), row in joined.dropna(subset=["value_tfma"]).iterrows():
        a, b = row["value_tfma"], row["value_vec"]
        if metric in ("auc", "gain_over_trivial"):   # the gain is over AUC 0.5 when AUC is judged
            assert abs(a - b) <= AUC_TOLERANCE, (slice_, metric, a, b)
        elif metric == "example_count":   # TFMA sums example weights in float32, we in float64
            assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), (slice_, metric, a, b)
        else:
            assert abs(a - b) <= 1e-6 * max(1.0, abs(a)), (slice_, metric, a, b)
    assert (joined["passed_tfma"].fillna("-") == joined["passed_vec"].fillna("-")).all()


def test_penguin_classification_equals_tfma(penguin_model):
    df = mlprod.datasets.penguins()
    spec = EvalSpec(label="species", slices=["species", Buckets("flipper_length_mm", (190, 200, 210))],
                    thresholds={"sparse_categorical_accuracy": Threshold(lower=0.9)})
    t, v, joined = both(penguin_model, df, spec, feature_columns=PENGUIN_FEATURES)
    assert_same(joined)
    assert t.passed == v.passed
    assert len(joined) >= 10


def test_taxi_binary_saved_model_on_tfrecords_with_weights_equals_tfma(taxi_model, taxi_data, tmp_path):
    """The Beam path: the workers read the TFRecords and run the SavedModel per batch."""
    from mlprod.io.examples import write_tfrecord

    df = taxi_data.copy()
    df["w"] = np.random.default_rng(0).random(len(df)).astype("float32") * 3
    df["payment_type"] = df["payment_type"].where(df.index % 17 != 0, None)   # some rows in no slice
    for f in TAXI_FEATURES:
        df[f] = df[f].astype("float32")
    cols = [*TAXI_FEATURES, "big_tipper", "w", "payment_type", "company"]
    data = write_tfrecord(df[cols], tmp_path / "taxi.tfrecord")
    model = export_raw_example_model(taxi_model, TAXI_FEATURES, tmp_path / "taxi_model")
    spec = EvalSpec(label="big_tipper", model_type="binary", weight_key="w",
                    slices=["payment_type", "company"], fairness=["payment_type"], min_slice_size=1,
                    thresholds={"auc": Threshold(lower=0.55), "precision": Threshold(lower=0.99)})
    t, v, joined = both(model, data, spec, output_dir=tmp_path / "eval")
    assert_same(joined)
    assert not v.passed and ("Overall", "precision") in v.failures and ("Overall", "auc") not in v.failures
    # tiny slices (companies with one trip) are there in both
    counts = v.table[v.table.metric == "example_count"]
    assert (counts["count"] < 5).any()
    import tensorflow_model_analysis as tfma

    loaded = tfma.load_eval_result(str(tmp_path / "eval"))
    assert any(not s for s, _ in loaded.slicing_metrics)   # the overall slice, as TFMA's viewer reads it


def test_regression_with_weights_and_stored_predictions_equals_tfma(taxi_data):
    df = taxi_data[["trip_miles", "fare", "payment_type"]].copy()
    rng = np.random.default_rng(1)
    df["prediction"] = df["fare"] * 0.9 + rng.normal(0, 2, len(df))
    df["w"] = rng.random(len(df))
    spec = EvalSpec(label="fare", model_type="regression", prediction_key="prediction", weight_key="w",
                    slices=["payment_type"], thresholds={"mean_absolute_error": Threshold(upper=1.0)})
    t, v, joined = both(None, df, spec)
    assert_same(joined)
    assert not v.passed and not t.passed


def test_binary_predictions_on_the_grid_edges_and_an_unjudged_change_threshold(taxi_data):
    df = taxi_data[["big_tipper", "payment_type", "trip_miles"]].copy()
    rng = np.random.default_rng(2)
    df["p"] = np.clip(df["big_tipper"] * 0.3 + rng.random(len(df)) * 0.7, 0, 1)
    df.loc[:5, "p"] = [0.0, 1.0, 0.5, 0.5, 1e-8, 1 - 1e-8]   # the grid's edges and the decision threshold
    spec = EvalSpec(label="big_tipper", model_type="binary", prediction_key="p", slices=["payment_type"],
                    thresholds={"binary_accuracy": Threshold(max_drop=0.01)}, beat_trivial=False)
    t, v, joined = both(None, df, spec)
    assert_same(joined)
    assert t.passed and v.passed   # no baseline: a change threshold is shown, not applied


def test_classification_saved_model_against_a_worse_baseline_model(penguin_model, tmp_path, penguin_float_df):
    worse = _fit(penguin_float_df[PENGUIN_FEATURES].to_numpy("float32"), penguin_float_df["species"].to_numpy(), 3,
                 "sparse_categorical_crossentropy", 1, seed=3)
    cand = export_raw_example_model(worse, PENGUIN_FEATURES, tmp_path / "worse")
    base = export_raw_example_model(penguin_model, PENGUIN_FEATURES, tmp_path / "good")
    spec = EvalSpec(label="species", slices=["species"],
                    thresholds={"sparse_categorical_accuracy": Threshold(max_drop=0.01)})
    t, v, joined = both(cand, penguin_float_df, spec, baseline_model=base)
    assert_same(joined)
    assert not t.passed and not v.passed
    row = v.table[(v.table.slice == "Overall") & (v.table.metric == "sparse_categorical_accuracy")].iloc[0]
    assert row["change"] < -0.01 and row["baseline"] > row["value"]


def test_engine_is_checked():
    from mlprod.errors import ConfigError

    with pytest.raises(ConfigError, match="engine='fast'"):
        mlprod.evaluate(None, pd.DataFrame({"y": [1]}), EvalSpec(label="y"), engine="fast")


def test_optional_metrics_f1_pr_auc_log_loss_and_mape_equal_tfma(taxi_data):
    df = taxi_data[["big_tipper", "payment_type", "fare"]].copy()
    rng = np.random.default_rng(4)
    df["p"] = np.clip(df["big_tipper"] * 0.4 + rng.random(len(df)) * 0.6, 1e-4, 1 - 1e-4)
    df["w"] = rng.random(len(df))
    spec = EvalSpec(label="big_tipper", model_type="binary", prediction_key="p", weight_key="w", slices=["payment_type"],
                    metrics=["ExampleCount", "F1Score", "AUCPrecisionRecall", "BinaryCrossEntropy", "AUC"],
                    thresholds={"f1_score": Threshold(lower=0.5)})
    t, v, joined = both(None, df, spec)
    assert_same(joined.drop(index="auc_precision_recall", level="metric"))
    pr = joined.xs("auc_precision_recall", level="metric")
    assert (pr["value_tfma"] - pr["value_vec"]).abs().max() <= AUC_TOLERANCE
    assert {"f1_score", "binary_crossentropy"} <= set(v.table["metric"])
    df["pred"] = df["fare"] * 0.8 + rng.normal(0, 1, len(df))
    df.loc[:10, "fare"] = 0.0   # label 0: left out of the percentage error, as TFMA does
    reg = EvalSpec(label="fare", model_type="regression", prediction_key="pred", slices=["payment_type"],
                   metrics=["ExampleCount", "MeanAbsolutePercentageError", "MeanSquaredError"])
    assert_same(both(None, df, reg)[2])


def test_a_tfma_eval_config_is_taken_and_what_only_tfma_computes_runs_on_tfma(taxi_data, caplog):
    from tensorflow_model_analysis.proto import config_pb2 as c

    df = taxi_data[["big_tipper", "payment_type"]].copy()
    df["p"] = np.clip(df["big_tipper"] * 0.3 + np.random.default_rng(5).random(len(df)) * 0.7, 0, 1)
    metrics = [c.MetricConfig(class_name=n) for n in ("ExampleCount", "BinaryAccuracy", "AUC")]
    metrics[1].per_slice_thresholds.add(slicing_specs=[c.SlicingSpec()]).threshold.value_threshold.lower_bound.value = 0.99
    cfg = c.EvalConfig(model_specs=[c.ModelSpec(label_key="big_tipper", prediction_key="p")],
                       slicing_specs=[c.SlicingSpec(), c.SlicingSpec(feature_keys=["payment_type"])],
                       metrics_specs=[c.MetricsSpec(metrics=metrics)])
    spec, unsupported = EvalSpec.from_eval_config(cfg)
    assert not unsupported and spec.thresholds["binary_accuracy"].lower == pytest.approx(0.99)
    r = mlprod.evaluate(None, df, cfg)
    same = mlprod.evaluate(None, df, spec)
    assert r.table["value"].tolist() == same.table["value"].tolist() and not r.passed
    # a fixed-value slice is TFMA's alone: TFMA runs the config as given, and says so
    cfg.slicing_specs.add(feature_values={"payment_type": "Cash"})
    with caplog.at_level("INFO", logger="mlprod.evaluation"):
        only = mlprod.evaluate(None, df, cfg)
    assert "fixed-value slice" in caplog.text and "TFMA runs it" in caplog.text
    assert "payment_type=Cash" in set(only.table["slice"]) and not only.passed


def test_rows_without_label_are_left_out_and_said_and_missing_weights_are_refused(taxi_data, caplog):
    from mlprod.errors import DataError

    df = taxi_data[["big_tipper", "payment_type"]].copy().astype({"big_tipper": "float64"})
    df["p"] = np.random.default_rng(6).random(len(df))
    df.loc[:9, "big_tipper"] = np.nan
    spec = EvalSpec(label="big_tipper", model_type="binary", prediction_key="p", beat_trivial=False)
    with caplog.at_level("WARNING", logger="mlprod.evaluation"):
        r = mlprod.evaluate(None, df, spec)
    assert "10 rows without a label" in caplog.text
    assert r.overall()["example_count"] == len(df) - 10
    df["w"] = 1.0
    df.loc[20:22, "w"] = np.nan
    with pytest.raises(DataError, match="weight column 'w' is missing in 3"):
        mlprod.evaluate(None, df.dropna(subset=["big_tipper"]),
                        EvalSpec(label="big_tipper", model_type="binary", prediction_key="p", weight_key="w"))
