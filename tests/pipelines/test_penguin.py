"""End to end: the penguin pipeline on LocalDagRunner + Beam DirectRunner (multi-processing)."""
from pathlib import Path

import pytest

from mlprod import datasets
from mlprod.pipelines import penguin
from mlprod.pipelines.runner import run_pipeline


@pytest.mark.slow
def test_penguin_pipeline_blesses_pushes_and_caches(tmp_path):
    import json

    from mlprod import alerts

    cfg = penguin.config(tmp_path)
    events = tmp_path / "alerts.jsonl"
    alerts.configure(log=str(events), outbox=str(tmp_path / "alerts.sqlite"))
    try:
        first = run_pipeline(penguin.create_pipeline(cfg))
        sent = [json.loads(x) for x in events.read_text().splitlines()]
        assert [(e["kind"], e["subject"]) for e in sent] == [
            ("run_finished", "pipeline/penguin"), ("model_pushed", f"model/penguin/{Path(first.pushed_model).name}")]
        assert sent[0]["details"]["run_id"] == first.run_id and sent[1]["details"]["pushed_model"] == first.pushed_model
    finally:
        alerts.configure(None)
    assert first.accuracy is not None and first.accuracy >= 0.9, first
    assert first.blessed is True
    pushed = Path(first.pushed_model)
    assert (pushed / "saved_model.pb").is_file()
    assert first.executions["Trainer"] == "COMPLETE" and first.executions["Tuner"] == "COMPLETE"
    # The serving logs (TFX's skewed copy) are caught by the skew gate, in "warn" mode.
    assert first.data_checks["SkewValidator"].startswith("FAILED on [culmen_length_mm]")

    # The pushed model serves raw tf.Examples (Transform graph inside): predict unlabelled penguins.
    import numpy as np
    import tensorflow as tf

    from mlprod.io.examples import serialized

    examples = serialized(datasets.penguins("unlabelled"))
    probs = tf.saved_model.load(str(pushed)).signatures["serving_default"](
        examples=tf.constant(examples))["outputs"].numpy()
    assert probs.shape == (10, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)

    # Second run on TFX's BeamDagRunner: same metadata store, so unchanged steps come from cache.
    second = run_pipeline(penguin.create_pipeline(cfg), runner="beam")
    for comp in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "Transform", "Tuner", "Trainer"):
        assert second.executions[comp] == "CACHED", second.executions
    assert second.accuracy == pytest.approx(first.accuracy)
    # an unchanged model is never pushed twice: one version folder, the same one
    assert second.pushed_model == first.pushed_model
    assert len([v for v in Path(cfg.model_dir).iterdir() if v.name.isdigit()]) == 1

    # The registry view over ML Metadata agrees with the summaries.
    from mlprod.pipelines import metadata

    runs = metadata.runs(cfg.metadata)
    assert len(runs) == 2 and runs["cached"].iloc[-1] >= 5 and runs["failed"].sum() == 0
    models = metadata.models(cfg.metadata)
    assert len(models) == 1 and bool(models["blessed"].iloc[0])
    assert models["pushed_to"].iloc[0] == second.pushed_model
    pushed_id = int(metadata.artifacts(cfg.metadata, "PushedModel")["id"].iloc[0])
    steps = metadata.lineage(cfg.metadata, pushed_id)
    assert {"penguin.Pusher", "penguin.Trainer", "penguin.Transform", "penguin.CsvExampleGen"} - \
        set(steps["node"]) == {"penguin.CsvExampleGen"}  # ExampleGen has no inputs: it is the root
    assert "Examples" in set(steps["input_type"])

    # CLI view of the same store.
    from mlprod import cli

    assert cli.main(["runs", "--metadata", str(cfg.metadata)]) == 0


@pytest.mark.slow
def test_skew_gate_in_fail_mode_stops_before_training(tmp_path):
    import json

    from mlprod import alerts
    from mlprod.errors import PipelineError
    from mlprod.pipelines import metadata

    cfg = penguin.config(tmp_path, skew_mode="fail")
    events = tmp_path / "alerts.jsonl"
    alerts.configure(log=str(events), outbox=str(tmp_path / "alerts.sqlite"))
    try:
        with pytest.raises(PipelineError, match=r"failed in component 'SkewValidator'.*culmen_length_mm"):
            run_pipeline(penguin.create_pipeline(cfg))
    finally:
        alerts.configure(None)
    [failed] = [json.loads(x) for x in events.read_text().splitlines()]
    assert (failed["kind"], failed["severity"], failed["details"]["component"]) == ("run_failed", "error",
                                                                                  "SkewValidator")
    nodes = set(metadata.artifacts(cfg.metadata)["produced_by"])
    assert "penguin.ServingStatisticsGen" in nodes
    assert not {"penguin.Transform", "penguin.Trainer", "penguin.Pusher"} & nodes
    assert not (tmp_path / "serving_model").exists()
