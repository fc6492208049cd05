"""TFX wiring for evaluation: an Evaluator driven by an :class:`mlprod.evaluation.EvalSpec`, with
the latest blessed model as baseline (so change thresholds compare against what is serving).

The Evaluator is mlprod's vectorized one by default (:mod:`mlprod.evaluation.vectorized`): the same
inputs and outputs as TFX's (``examples``, ``model``, ``baseline_model`` -> ``evaluation``,
``blessing``), TFMA's output format in ``evaluation`` (``tfma.load_eval_result`` reads it) and a
``blessing`` TFX's Pusher, InfraValidator and latest-blessed-model resolver read unchanged
(``BLESSED``/``NOT_BLESSED`` file, ``blessed``/``current_model_id`` properties).
``engine="tfma"`` wires TFX's own Evaluator instead.

(No ``from __future__ import annotations`` here: TFX reads the annotations at decoration time.)

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
import os
from typing import Any

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter

from mlprod.errors import ConfigError
from mlprod.evaluation.spec import Buckets, EvalSpec


@tfx.dsl.components.component
def Evaluator(
    examples: InputArtifact[standard_artifacts.Examples],
    model: InputArtifact[standard_artifacts.Model],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    eval_spec: Parameter[str],
    eval_config: Parameter[str] = "",
    baseline_model: InputArtifact[standard_artifacts.Model] = None,  # optional input (TFX: None default)
    split: Parameter[str] = "eval",
) -> None:
    """Evaluate ``model`` on the ``split`` examples with the vectorized engine; bless or not.

    Args:
        eval_spec: :meth:`EvalSpec.to_json` of the spec.
        eval_config: the spec's ``tfma.EvalConfig`` as JSON (for tools that read TFX's parameter).
        baseline_model: the latest blessed model (change thresholds compare with it; none on the
            first run: they are shown, not applied, as in TFX).
    """
    from mlprod.evaluation import evaluate
    from mlprod.evaluation.vectorized import rewrite_validation

    spec = EvalSpec.from_json(eval_spec)
    serving = lambda m: os.path.join(m.uri, "Format-Serving")  # noqa: E731 - TFX Trainer's layout
    base = serving(baseline_model) if baseline_model is not None else None
    if base is not None and os.path.realpath(base) == os.path.realpath(serving(model)):
        base = None   # the resolver found this very model (a cached Trainer): nothing to compare
    result = evaluate(serving(model), os.path.join(examples.uri, f"Split-{split}"), spec, baseline_model=base,
                      output_dir=evaluation.uri)
    if base is not None:   # the baseline's comparison was judged after TFMA's files were written
        rewrite_validation(evaluation.uri, result)
    blessed = bool(result.passed)
    with open(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w"):
        pass
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    if baseline_model is not None:
        blessing.set_string_custom_property("baseline_model", baseline_model.uri)
        blessing.set_int_custom_property("baseline_model_id", baseline_model.id)


ENGINES = ("vectorized", "tfma")


def evaluator_components(examples: Any, model: Any, spec: EvalSpec, engine: str = "vectorized") -> list[Any]:
    """``[latest-blessed-model Resolver, Evaluator]`` for a pipeline; add both to its components.

    ``engine="vectorized"`` (default) is mlprod's :func:`Evaluator`; ``"tfma"`` is TFX's own.

    Raises:
        ConfigError: the spec uses :class:`Buckets` slices, which need a column the raw examples
            do not have (bucketize in Transform, or slice by the raw feature).
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine={engine!r}; choose one of {ENGINES}.")
    if any(isinstance(s, Buckets) for s in [*spec.slices, *spec.fairness]):
        raise ConfigError("Buckets slices add a column at evaluation time; in a pipeline, bucketize the feature "
                          "in Transform or slice by a raw feature.")
    resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    if engine == "tfma":
        evaluator = tfx.components.Evaluator(examples=examples, model=model,
                                             baseline_model=resolver.outputs["model"],
                                             eval_config=spec.to_eval_config())
        return [resolver, evaluator]
    from google.protobuf import json_format

    evaluator = Evaluator(examples=examples, model=model, baseline_model=resolver.outputs["model"],
                          eval_spec=spec.to_json(), eval_config=json_format.MessageToJson(spec.to_eval_config()))
    return [resolver, evaluator]
