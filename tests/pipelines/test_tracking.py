"""Issue 30: a pipeline run appears in MLflow (the embedded SQLite store under the pipeline root)
with the Evaluator's metrics equal to ML Metadata's, its params, artifacts and ids; its push is a
registered version with the right tags; the registry view reads MLflow and ML Metadata together."""
from __future__ import annotations

import os

import pytest

from mlprod.pipelines import metadata, penguin
from mlprod.pipelines.registry import registry
from mlprod.pipelines.runner import run_pipeline

mlflow = pytest.importorskip("mlflow")


@pytest.mark.slow
def test_a_run_is_logged_to_mlflow_and_its_push_registered(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from mlprod import tracking

    cfg = penguin.config(tmp_path, train_steps=100, serving_data_root=None, min_accuracy=None,
                         tune={"strategy": "random", "max_trials": 1, "epochs": 1, "steps": 5, "depth": (1, 1),
                               "width": (8, 16, 8), "learning_rate": (1e-2, 3e-2)})
    summary = run_pipeline(penguin.create_pipeline(cfg))
    assert summary.pushed_model and summary.mlflow_run_id and summary.model_version == 1, str(summary)
    uri = tracking.default_tracking_uri(cfg.pipeline_root)
    assert os.path.isfile(os.path.join(cfg.pipeline_root, "mlflow.db"))
    c = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = c.get_run(summary.mlflow_run_id)
    assert c.get_experiment(run.info.experiment_id).name == "penguin" and run.info.status == "FINISHED"

    # metrics: the Evaluator's, as ML Metadata's evaluation artifact holds them, overall and per slice
    mlmd_metrics = metadata.evaluation_metrics(summary.artifacts["ModelEvaluation"])
    assert "sparse_categorical_accuracy" in mlmd_metrics
    for name, value in mlmd_metrics.items():
        assert run.data.metrics[name] == pytest.approx(value, rel=1e-9), name
    assert run.data.metrics["sparse_categorical_accuracy"] == pytest.approx(summary.accuracy)
    slices = {k for k in run.data.metrics if k.startswith("species:")}
    assert {f"species:{i}/sparse_categorical_accuracy" for i in range(3)} <= slices

    # params: config fields, the spec, the tuned hyperparameters, the Trainer's properties
    p = run.data.params
    assert p["config.train_steps"] == "100" and p["config.pipeline_name"] == "penguin"
    assert '"kind": "numeric"' in p["spec.culmen_length_mm"]
    assert any(k.startswith("tuned.") for k in p), sorted(p)
    assert p["trainer.custom_config.seed"] == "0"

    # tags: ML Metadata's run and execution ids, the spans
    s = metadata.open_store(cfg.metadata)
    trainer_ids = {e.id for c_ in s.get_contexts_by_type("node") if c_.name == "penguin.Trainer"
                   for e in s.get_executions_by_context(c_.id)}
    t = run.data.tags
    assert t["mlprod.run_id"] == summary.run_id and int(t["mlprod.execution.Trainer"]) in trainer_ids
    assert t["mlprod.spans"] == "0" and t["mlprod.blessed"] == "True"
    arts = {a.path for a in c.list_artifacts(summary.mlflow_run_id)}
    assert {"schema", "evaluation", "model", "feature_spec.yaml"} <= arts, arts

    # the push: registered version 1, alias candidate, tagged like the run
    mv = c.get_model_version("penguin", "1")
    assert mv.run_id == summary.mlflow_run_id and mv.tags["mlprod.run_id"] == summary.run_id
    assert mv.tags["mlprod.serving_version"] == os.path.basename(summary.pushed_model)
    assert mv.tags["mlprod.model_dir"] == os.path.dirname(summary.pushed_model) and mv.tags["mlprod.spans"] == "0"
    assert int(c.get_model_version_by_alias("penguin", "candidate").version) == 1

    view = registry(cfg.metadata, cfg.model_dir)
    row = view.iloc[0]
    assert (row["registry_version"], row["aliases"], row["stage"], row["spans"]) == (1, "candidate", "serving", "0")
    assert row["metrics"]["sparse_categorical_accuracy"] == pytest.approx(summary.accuracy)
    tracking.approve("penguin", 1, note="first release", by="ana", tracking_uri=uri)
    row = registry(cfg.metadata, cfg.model_dir).iloc[0]
    assert (row["aliases"], row["approval"], row["approved_by"], row["note"], row["stage"]) == \
        ("champion", "approved", "ana", "first release", "serving")

    # a rerun from cache pushes nothing new: a second MLflow run, no second registered version
    again = run_pipeline(penguin.create_pipeline(cfg))
    assert again.mlflow_run_id != summary.mlflow_run_id and again.model_version == 1
    assert len(c.search_model_versions("name='penguin'")) == 1
