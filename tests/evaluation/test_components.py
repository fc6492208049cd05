"""The TFX wiring helper: Evaluator driven by the spec, baseline from the latest-blessed resolver."""
import pytest

from mlprod.errors import ConfigError
from mlprod.evaluation import Buckets, EvalSpec, Threshold


def _channels():
    from tfx import v1 as tfx

    return (tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples),
            tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model))


def test_evaluator_components_wire_spec_and_baseline():
    from google.protobuf import json_format

    from mlprod.components.evaluation import evaluator_components

    spec = EvalSpec(label="species", slices=["species"],
                    thresholds={"sparse_categorical_accuracy": Threshold(lower=0.9, max_drop=0.01)})
    examples, model = _channels()
    resolver, evaluator = evaluator_components(examples, model, spec)
    assert resolver.id == "latest_blessed_model_resolver"
    assert evaluator.inputs["baseline_model"] is resolver.outputs["model"]
    assert evaluator.inputs["model"] is model and evaluator.inputs["examples"] is examples
    expected = spec.to_eval_config()
    stored = json_format.Parse(evaluator.exec_properties["eval_config"], type(expected)())
    assert stored == expected
    assert stored.model_specs[0].label_key == "species"
    acc = [mc for m in stored.metrics_specs for mc in m.metrics if mc.class_name == "SparseCategoricalAccuracy"][0]
    th = acc.per_slice_thresholds[0].threshold  # judged on the overall slice (empty slicing spec)
    assert th.value_threshold.lower_bound.value == pytest.approx(0.9)
    assert th.change_threshold.absolute.value == pytest.approx(-0.01)
    assert "blessing" in evaluator.outputs


def test_evaluator_components_reject_bucket_slices():
    from mlprod.components.evaluation import evaluator_components

    examples, model = _channels()
    with pytest.raises(ConfigError, match="bucketize the feature in Transform"):
        evaluator_components(examples, model, EvalSpec(label="species", slices=[Buckets("body_mass_g", (0.5,))]))


def test_evaluator_blesses_on_beating_the_trivial_baseline_and_pipeline_default_is_relative():
    """Issue 25: the pipeline's default bound was min_accuracy=0.8, whatever the task."""
    import json

    from google.protobuf import json_format

    from mlprod import datasets
    from mlprod.components.evaluation import evaluator_components
    from mlprod.pipelines.tabular import PipelineConfig, evaluation_spec

    root = datasets.path("penguin/labelled").parent
    spec = evaluation_spec(PipelineConfig(root, "species", "/tmp/unused"))
    acc = spec.thresholds["sparse_categorical_accuracy"]
    assert acc.lower is None and acc.max_drop == pytest.approx(0.01) and spec.beat_trivial
    explicit = evaluation_spec(PipelineConfig(root, "species", "/tmp/unused", min_accuracy=0.9))
    assert explicit.thresholds["sparse_categorical_accuracy"].lower == pytest.approx(0.9)  # as before when set

    _, evaluator = evaluator_components(*_channels(), spec)
    stored = json_format.Parse(evaluator.exec_properties["eval_config"], type(spec.to_eval_config())())
    trivial = [mc for m in stored.metrics_specs for mc in m.metrics if mc.class_name == "TrivialBaseline"][0]
    assert trivial.module == "mlprod.evaluation.metrics"
    assert json.loads(trivial.config) == {"name": "gain_over_trivial", "metric": "sparse_categorical_accuracy"}
    th = trivial.per_slice_thresholds[0]
    assert list(th.slicing_specs) == [type(th.slicing_specs[0])()]  # judged on the overall slice only
    assert 0 < th.threshold.value_threshold.lower_bound.value < 1e-5
    acc_cfg = [mc for m in stored.metrics_specs for mc in m.metrics if mc.class_name == "SparseCategoricalAccuracy"][0]
    assert not acc_cfg.per_slice_thresholds[0].threshold.HasField("value_threshold")  # no absolute bound by default


def test_run_summary_reports_the_trivial_baseline_and_warns():
    from mlprod.pipelines.runner import RunSummary, trivial_warnings

    ok = RunSummary("p", "/root", "/m.sqlite", accuracy=0.97, trivial_baseline=0.4371,
                    warnings=trivial_warnings(0.97, 0.4371, 0.53))
    assert "eval accuracy   0.9700 (trivial baseline 0.4371: always predicting the most common class)" in str(ok)
    assert "warning" not in str(ok)
    bad = RunSummary("p", "/root", "/m.sqlite", accuracy=0.4371, trivial_baseline=0.4371,
                     warnings=trivial_warnings(0.4371, 0.4371, 0.0))
    assert "warning         the model does not beat the trivial baseline: accuracy 0.4371 vs 0.4371" in str(bad)
