"""PipelineConfig(feature_store=...): the tabular pipeline with FeatureExampleGen in ExampleGen's place."""
import io

import pytest

from mlprod.errors import ConfigError, DataError
from mlprod.pipelines.tabular import PipelineConfig, check_config, create_pipeline
from tests.features.test_component import taxi_features

FEATURES = ["area_daily:mean_fare", "area_daily:trips", "area_daily:mean_miles"]
FEATURES_COLS = ["mean_fare", "trips", "mean_miles"]


def test_the_pipeline_reads_the_feature_store(tmp_path):
    repo, trips, _ = taxi_features(tmp_path)
    cfg = PipelineConfig(None, "big_tipper", tmp_path / "root",
                         feature_store={"repo": str(repo.path), "entity_df": str(trips), "features": FEATURES})
    facts = check_config(cfg)
    assert facts["num_classes"] == 2 and set(FEATURES_COLS) <= set(facts["columns"])
    assert set(FEATURES_COLS) <= set(facts["feature_spec"].input_columns())  # inferred from the joined preview
    notes = io.StringIO()
    pipeline = create_pipeline(cfg, notes=notes)
    ids = [c.id for c in pipeline.components]
    assert ids[0] == "FeatureExampleGen" and "CsvExampleGen" not in ids
    assert {"StatisticsGen", "SchemaGen", "Transform", "Trainer", "Evaluator", "Pusher"} <= set(ids)
    gen = pipeline.components[0]
    transform = next(c for c in pipeline.components if c.id == "Transform")
    assert transform.inputs["examples"].producer_component_id == gen.id
    assert gen.exec_properties["features"] == ",".join(FEATURES)
    assert "mlprod:" in notes.getvalue()  # the inferred spec is said



def test_feature_store_config_errors(tmp_path):
    repo, trips, _ = taxi_features(tmp_path, trips=50)
    base = {"repo": str(repo.path), "entity_df": str(trips), "features": FEATURES}
    with pytest.raises(ConfigError, match=r"lacks \['features'\]"):
        check_config(PipelineConfig(None, "big_tipper", tmp_path / "r",
                                    feature_store={k: v for k, v in base.items() if k != "features"}))
    with pytest.raises(ConfigError, match="cannot go with span_pattern"):
        check_config(PipelineConfig(None, "big_tipper", tmp_path / "r", feature_store=base, span_pattern="s-{SPAN}/*"))
    with pytest.raises(DataError, match="label column 'tips' is not in the entity rows"):
        check_config(PipelineConfig(None, "tips", tmp_path / "r", feature_store=base))
    with pytest.raises(DataError, match="no feature_store.yaml"):
        check_config(PipelineConfig(None, "big_tipper", tmp_path / "r", feature_store={**base, "repo": str(tmp_path)}))
    with pytest.raises(ConfigError, match="data_root=None needs feature_store"):
        check_config(PipelineConfig(None, "big_tipper", tmp_path / "r"))


@pytest.mark.slow
def test_the_pipeline_trains_evaluates_and_pushes_from_the_feature_store(tmp_path):
    """End to end (slow): FeatureExampleGen -> ... -> Trainer -> Evaluator -> Pusher, unchanged."""
    from mlprod.pipelines.runner import run_pipeline

    repo, trips, _ = taxi_features(tmp_path, trips=600)
    cfg = PipelineConfig(None, "big_tipper", tmp_path / "root", train_steps=30, eval_steps=3,
                         feature_store={"repo": str(repo.path), "entity_df": str(trips), "features": FEATURES})
    summary = run_pipeline(create_pipeline(cfg, notes=io.StringIO()))
    assert summary.executions["FeatureExampleGen"] == "COMPLETE" and summary.executions["Trainer"] == "COMPLETE"
    assert summary.accuracy is not None


def test_cli_run_with_a_feature_repo_builds_the_config(tmp_path):
    from mlprod import cli

    repo, trips, _ = taxi_features(tmp_path, trips=50)
    argv = ["run", "--data", str(trips), "--label", "big_tipper", "--feature-repo", str(repo.path),
            "--features", ",".join(FEATURES), "--train-steps", "5", "--output", str(tmp_path / "o")]
    cfg = cli._own_data_config(cli.build_parser().parse_args(argv), tmp_path / "o")
    assert cfg.feature_store == {"repo": str(repo.path), "entity_df": str(trips), "features": FEATURES}
    assert cfg.data_root is None and cfg.train_steps == 5 and cfg.pipeline_name == "features-trips"
    assert check_config(cfg)["num_classes"] == 2
    for bad, message in ((argv[:7] + argv[9:], "--feature-repo needs --features"),
                         (argv[:5] + ["--features", "a:b"], "--features goes with --feature-repo")):
        with pytest.raises(ConfigError, match=message):
            cli._own_data_config(cli.build_parser().parse_args(bad), tmp_path / "o")
