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
