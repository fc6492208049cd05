"""TFX wiring for NAS: TFX's standard Tuner running mlprod's search spaces and strategies.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
    >>> from mlprod.components import tuner_component
    >>> tuner = tuner_component(transform.outputs["transformed_examples"], transform.outputs["transform_graph"],
    ...                         label="species", num_classes=3, strategy="evolution", max_trials=4)  # doctest: +SKIP
    >>> trainer = tfx.components.Trainer(..., hyperparameters=tuner.outputs["best_hyperparameters"])  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

from tfx import v1 as tfx

from mlprod.params import Interval, check_params
from mlprod.tuning.search import SEARCH_PARAMS
from mlprod.tuning.strategies import check_strategy


def tuner_component(examples: Any, transform_graph: Any, *, label: str, num_classes: int,
                    strategy: str = "random", max_trials: int = 4, epochs: int = 2, steps: int = 30,
                    eval_steps: int = 5, early_termination: bool = False, fidelity: str = "epochs",
                    weight_inheritance: bool = False, inherited_epochs: int | None = None, **space: Any) -> Any:
    """``tfx.components.Tuner`` with ``tuner_fn="mlprod.tuning.tfx_fn.tuner_fn"``.

    ``space`` holds :class:`mlprod.tuning.DenseSpace` fields (``depth``, ``width``, ...); the
    Trainer rebuilds the chosen architecture in tf_keras (``mlprod.tuning.tfx_fn``).
    ``early_termination`` stops trials whose extrapolated learning curve cannot beat the best
    finished one (:mod:`mlprod.tuning.estimation`). ``fidelity`` (``"epochs"`` or ``"data"``)
    sets what ``hyperband`` and ``asha`` give their low rungs less of; with ``weight_inheritance``
    an ``evolution`` child starts from its parent's weights and trains ``inherited_epochs``, as in
    :func:`mlprod.search`.

    Raises:
        ConfigError: an unknown strategy or fidelity, or weight inheritance without evolution.
    """
    check_params("Tuner component", locals(), SEARCH_PARAMS)
    check_params("Tuner component", locals(), {"steps": Interval(int, 1), "eval_steps": Interval(int, 1)})
    check_strategy(strategy, fidelity=fidelity, weight_inheritance=weight_inheritance, epochs=epochs)
    cfg = {**{k: list(v) if isinstance(v, tuple) else v for k, v in space.items()},
           "label": label, "num_classes": num_classes, "strategy": strategy, "max_trials": max_trials,
           "epochs": epochs, "early_termination": bool(early_termination), "fidelity": fidelity,
           "weight_inheritance": bool(weight_inheritance), "inherited_epochs": inherited_epochs}
    return tfx.components.Tuner(
        tuner_fn="mlprod.tuning.tfx_fn.tuner_fn", examples=examples, transform_graph=transform_graph,
        train_args=tfx.proto.TrainArgs(num_steps=steps), eval_args=tfx.proto.EvalArgs(num_steps=eval_steps),
        custom_config=cfg)
