"""End to end: the taxi pipeline (spec-driven Transform with the distance feature, drift check of
December against the other months, sliced evaluation, push)."""
import pytest

from mlprod.pipelines import chicago_taxi, metadata
from mlprod.pipelines.runner import run_pipeline


@pytest.mark.slow
def test_taxi_pipeline_end_to_end(tmp_path):
    cfg = chicago_taxi.config(tmp_path, train_steps=150)
    summary = run_pipeline(chicago_taxi.create_pipeline(cfg))
    assert summary.executions["Transform"] == "COMPLETE"
    assert summary.accuracy is not None and summary.accuracy > 0.6, summary
    assert summary.pushed_model
    # December vs the other months: the month and timestamp moved, nothing else needs to
    check = summary.data_checks["DriftValidator"]
    assert check.startswith("FAILED on [") and "trip_start_month" in check and "pickup_census_tract" not in check
    import tensorflow_transform as tft

    graph = tft.TFTransformOutput(summary.artifacts["TransformGraph"])
    spec = graph.transformed_feature_spec()
    assert {"trip_km", "start_weekday", "payment_type"} <= set(spec)
    assert spec["payment_type"].shape == [6]  # one-hot top 5 + out-of-vocabulary
    ev = metadata.artifacts(cfg.metadata, "ModelEvaluation")
    assert len(ev) == 1
