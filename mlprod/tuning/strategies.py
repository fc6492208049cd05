"""Search strategies in one registry: each names the Keras Tuner ``Oracle`` it builds and declares
what it supports (multi-fidelity rungs, weight inheritance), so the rules about which options go
with which strategy live here once, for :func:`mlprod.search`, the Tuner component and the
pipeline's ``tune`` dict.

A new strategy is one ``Oracle`` subclass plus one :func:`register` call; ``search`` also takes
an ``Oracle`` instance directly (its class may declare ``multi_fidelity = True`` /
``weight_inheritance = True``; Keras Tuner's Hyperband counts as multi-fidelity).

Example:
    >>> sorted(STRATEGIES)
    ['asha', 'bayesian', 'evolution', 'grid', 'hyperband', 'random']
    >>> STRATEGIES["asha"].multi_fidelity, STRATEGIES["evolution"].weight_inheritance
    (True, True)
    >>> check_strategy("random", fidelity="data")
    Traceback (most recent call last):
    ...
    mlprod.errors.ConfigError: fidelity='data' needs a multi-fidelity strategy ('asha' or 'hyperband'), not 'random'; for one fixed share of the data use subsample=.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlprod.errors import ConfigError

DATA_LEVELS = 9  # data fidelity: the smallest share of the training data is 1/9 (eta=3: 1/9, 1/3, 1)
FIDELITIES = ("epochs", "data")


@dataclass(frozen=True)
class Strategy:
    """A named strategy: how to build its Oracle, and what it supports."""

    name: str
    build: Callable[..., Any]  # (objective, max_trials, epochs, seed, resource, **options) -> Oracle
    multi_fidelity: bool = False  # gives low rungs fewer epochs or less data (fidelity=...)
    weight_inheritance: bool = False  # a child can start from its parent's weights


STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Add (or replace) a strategy by name; returns it."""
    STRATEGIES[strategy.name] = strategy
    return strategy


def _random(obj: Any, max_trials: int, epochs: int, seed: int, resource: int, **kw: Any) -> Any:
    import keras_tuner as kt

    return kt.oracles.RandomSearchOracle(objective=obj, max_trials=max_trials, seed=seed)


def _grid(obj: Any, max_trials: int, epochs: int, seed: int, resource: int, **kw: Any) -> Any:
    import keras_tuner as kt

    return kt.oracles.GridSearchOracle(objective=obj, max_trials=max_trials, seed=seed)


def _bayesian(obj: Any, max_trials: int, epochs: int, seed: int, resource: int, **kw: Any) -> Any:
    import keras_tuner as kt

    return kt.oracles.BayesianOptimizationOracle(objective=obj, max_trials=max_trials, seed=seed,
                                                 num_initial_points=kw.get("initial_points", 2))


def _hyperband(obj: Any, max_trials: int, epochs: int, seed: int, resource: int, **kw: Any) -> Any:
    import keras_tuner as kt

    return kt.oracles.HyperbandOracle(objective=obj, max_epochs=resource, factor=kw.get("eta", 3), seed=seed,
                                      hyperband_iterations=1)


def _asha(obj: Any, max_trials: int, epochs: int, seed: int, resource: int, **kw: Any) -> Any:
    from mlprod.tuning.fidelity import ASHAOracle

    return ASHAOracle(objective=obj, max_trials=max_trials, max_resource=resource, eta=kw.get("eta", 3), seed=seed)


def _evolution(obj: Any, max_trials: int, epochs: int, seed: int, resource: int, **kw: Any) -> Any:
    from mlprod.tuning.evolution import RegularizedEvolutionOracle

    pop = kw.get("population_size", max(2, min(10, max_trials // 2)))
    return RegularizedEvolutionOracle(objective=obj, max_trials=max_trials, population_size=pop,
                                      sample_size=kw.get("sample_size", max(1, min(3, pop - 1))), seed=seed,
                                      weight_inheritance=bool(kw.get("weight_inheritance", False)))


for _s in (Strategy("random", _random), Strategy("grid", _grid), Strategy("bayesian", _bayesian),
           Strategy("hyperband", _hyperband, multi_fidelity=True), Strategy("asha", _asha, multi_fidelity=True),
           Strategy("evolution", _evolution, weight_inheritance=True)):
    register(_s)


def capabilities(strategy: Any) -> tuple[str, bool, bool]:
    """(name, multi_fidelity, weight_inheritance) of a strategy name or an ``Oracle`` instance.

    Raises:
        ConfigError: an unknown name, or something that is neither a name nor an Oracle.
    """
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise ConfigError(f"strategy={strategy!r}; choose one of {tuple(STRATEGIES)} or pass a Keras Tuner "
                              "Oracle.")
        s = STRATEGIES[strategy]
        return s.name, s.multi_fidelity, s.weight_inheritance
    if not (hasattr(strategy, "create_trial") and hasattr(strategy, "objective")):
        raise ConfigError(f"strategy must be a name ({tuple(STRATEGIES)}) or a keras_tuner Oracle, not "
                          f"{type(strategy).__name__}.")
    import keras_tuner as kt

    multi = bool(getattr(strategy, "multi_fidelity", isinstance(strategy, kt.oracles.HyperbandOracle)))
    return type(strategy).__name__, multi, bool(getattr(strategy, "weight_inheritance", False))


def check_strategy(strategy: Any, *, fidelity: str = "epochs", weight_inheritance: bool = False,
                   epochs: int | None = None) -> None:
    """The one set of rules on which options go with which strategy (uniform messages).

    Raises:
        ConfigError: an unknown strategy or fidelity, ``fidelity="data"`` without a
            multi-fidelity strategy, weight inheritance with a strategy that cannot inherit, or a
            multi-fidelity strategy on fewer than 2 epochs.
    """
    name, multi, inherit = capabilities(strategy)
    if fidelity not in FIDELITIES:
        raise ConfigError(f"fidelity={fidelity!r}; choose one of {FIDELITIES}.")
    multi_names = " or ".join(repr(n) for n, s in sorted(STRATEGIES.items()) if s.multi_fidelity)
    if fidelity == "data" and not multi:
        raise ConfigError(f"fidelity='data' needs a multi-fidelity strategy ({multi_names}), not {name!r}; "
                          "for one fixed share of the data use subsample=.")
    if multi and fidelity == "epochs" and epochs is not None and epochs < 2:
        raise ConfigError(f"{name} needs epochs >= 2 (its largest per-trial budget), or fidelity='data'.")
    if weight_inheritance and not inherit:
        inheriting = " or ".join(f"strategy={n!r}" for n, s in sorted(STRATEGIES.items()) if s.weight_inheritance)
        raise ConfigError(f"weight_inheritance needs {inheriting} (a child inherits from its parent); got {name!r}.")


def make_oracle(strategy: Any, objective: str, max_trials: int, epochs: int, seed: int, **kw: Any) -> Any:
    """The Keras Tuner ``Oracle`` for a strategy name (an ``Oracle`` instance is returned as is).

    Keyword options: ``initial_points`` (bayesian), ``population_size``, ``sample_size``,
    ``weight_inheritance`` (evolution), ``fidelity`` (``"epochs"``/``"data"``), ``eta``,
    ``max_resource`` (hyperband, asha).

    Example:
        >>> type(make_oracle("asha", "val_accuracy", 20, 9, seed=0)).__name__
        'ASHAOracle'
    """
    if not isinstance(strategy, str):
        capabilities(strategy)  # an Oracle: checked, used as given
        return strategy
    import keras_tuner as kt

    capabilities(strategy)
    obj = kt.Objective(objective, "min" if "loss" in objective else "max")
    resource = kw.get("max_resource") or (DATA_LEVELS if kw.get("fidelity") == "data" else epochs)
    return STRATEGIES[strategy].build(obj, max_trials, epochs, seed, resource, **kw)
