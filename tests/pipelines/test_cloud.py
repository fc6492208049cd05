import json

import pytest

from mlprod.errors import ConfigError
from mlprod.pipelines import penguin
from mlprod.pipelines.cloud import compile_kubeflow_v2, dataflow_beam_args


def test_kubeflow_v2_spec_names_our_components_and_code(tmp_path):
    # Vertex keeps its own metadata; the local SQLite path only has to be creatable.
    pipeline = penguin.create_pipeline(penguin.config("gs://bucket/penguin", beam_args=(),
                                                      metadata_path=str(tmp_path / "m.sqlite")))
    spec = compile_kubeflow_v2(pipeline, tmp_path / "penguin.json", image="example/mlprod:0.1")
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    for comp in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer",
                 "Evaluator", "Pusher"):
        assert comp in tasks
    text = json.dumps(spec)
    assert "mlprod.preprocessing.tfx_fn.preprocessing_fn" in text and "mlprod_feature_spec" in text
    assert "mlprod.pipelines.tabular_module.run_fn" in text
    assert spec["pipelineSpec"]["deploymentSpec"]["executors"]["Trainer_executor"]["container"]["image"] \
        == "example/mlprod:0.1"
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/penguin/pipeline_root"


def test_dataflow_args_and_errors():
    args = dataflow_beam_args("proj", "europe-west1", "gs://b/tmp", machine_type="n2-standard-4")
    assert "--runner=DataflowRunner" in args and "--machine_type=n2-standard-4" in args
    with pytest.raises(ConfigError, match="gs://"):
        dataflow_beam_args("proj", "europe-west1", "/local/tmp")
    with pytest.raises(ConfigError, match="image"):
        compile_kubeflow_v2(None, "x.json", image="")
