"""TFX wiring for evaluation: an Evaluator driven by an :class:`mlprod.evaluation.EvalSpec`, with
the latest blessed model as baseline (so change thresholds compare against what is serving).

Example:
    (Needs a pipeline or a run's outputs; tests/evaluation/test_components.py runs this path.)
    >>> from mlprod.evaluation import EvalSpec, Threshold
    >>> resolver, evaluator = evaluator_components(
    ...     example_gen.outputs["examples"], trainer.outputs["model"],
    ...     EvalSpec(label="species", slices=["species"],
    ...              thresholds={"sparse_categorical_accuracy": Threshold(lower=0.9, max_drop=0.01)}))  # doctest: +SKIP
    >>> pusher = tfx.components.Pusher(model=trainer.outputs["model"],
    ...                                model_blessing=evaluator.outputs["blessing"], ...)    # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

from tfx import v1 as tfx

from mlprod.errors import ConfigError
from mlprod.evaluation.spec import Buckets, EvalSpec


def evaluator_components(examples: Any, model: Any, spec: EvalSpec) -> list[Any]:
    """``[latest-blessed-model Resolver, Evaluator]`` for a pipeline; add both to its components.

    Raises:
        ConfigError: the spec uses :class:`Buckets` slices, which need a column the raw examples
            do not have (bucketize in Transform, or slice by the raw feature).
    """
    if any(isinstance(s, Buckets) for s in [*spec.slices, *spec.fairness]):
        raise ConfigError("Buckets slices add a column at evaluation time; in a pipeline, bucketize the feature "
                          "in Transform or slice by a raw feature.")
    resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(examples=examples, model=model,
                                         baseline_model=resolver.outputs["model"],
                                         eval_config=spec.to_eval_config())
    return [resolver, evaluator]
