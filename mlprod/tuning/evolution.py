"""Regularized (aging) evolution (Real et al., 2019) as a Keras Tuner ``Oracle``.

The population is the ``population_size`` most recent completed trials (old ones age out); each
new trial samples ``sample_size`` of them, takes the best, and mutates one hyperparameter.
Until the population is full, trials are random. With ``weight_inheritance`` the oracle
remembers each child's parent (``parents``), and :class:`~mlprod.tuning.tuner.BudgetTuner`
starts the child from the parent's trained weights where the layers match.

Example:
    >>> import keras_tuner as kt
    >>> oracle = RegularizedEvolutionOracle(objective=kt.Objective("val_accuracy", "max"),
    ...                                     max_trials=20, population_size=8, sample_size=3, seed=0)
"""
from __future__ import annotations

import random
from typing import Any

import keras_tuner as kt

from mlprod.errors import ConfigError


class RegularizedEvolutionOracle(kt.Oracle):
    """Aging evolution: tournament selection from the recent population plus one mutation."""

    def __init__(self, objective: Any = None, max_trials: int = 20, population_size: int = 10,
                 sample_size: int = 3, seed: int | None = None, weight_inheritance: bool = False,
                 **kwargs: Any) -> None:
        if population_size < 2 or not 1 <= sample_size <= population_size:
            raise ConfigError("evolution needs population_size >= 2 and 1 <= sample_size <= population_size.")
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        self.population_size = population_size
        self.sample_size = sample_size
        self._rng = random.Random(seed)
        self.weight_inheritance = weight_inheritance
        self.parents: dict[str, str] = {}  # child trial id -> parent trial id (weight inheritance)

    def _completed(self) -> list[Any]:
        done = [t for t in self.trials.values() if t.status == kt.engine.trial.TrialStatus.COMPLETED
                and t.score is not None]
        return sorted(done, key=lambda t: int(t.trial_id) if str(t.trial_id).isdigit() else t.trial_id)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        done = self._completed()
        if len(done) < self.population_size:
            values = self._random_values()
            return {"status": "STOPPED" if values is None else "RUNNING", "values": values}
        population = done[-self.population_size:]  # aging: only the most recent survive
        sample = self._rng.sample(population, self.sample_size)
        direction = 1 if self.objective.direction == "max" else -1
        parent = max(sample, key=lambda t: direction * t.score)
        for _ in range(20):
            values = dict(parent.hyperparameters.values)
            hps = parent.hyperparameters.copy()
            active = [hp for hp in self.hyperparameters.space if hps.is_active(hp)]
            target = self._rng.choice(active)
            values[target.name] = target.random_sample(self._rng.randint(0, 2**31 - 1))
            # re-resolve conditional hyperparameters under the new values
            fresh = kt.HyperParameters()
            for hp in self.hyperparameters.space:
                fresh.merge([hp])
                if fresh.is_active(hp):
                    fresh.values[hp.name] = values.get(hp.name, hp.random_sample(self._rng.randint(0, 2**31 - 1)))
            if not self._duplicate(fresh.values):
                if self.weight_inheritance:
                    self.parents[str(trial_id)] = str(parent.trial_id)
                return {"status": "RUNNING", "values": fresh.values}
        values = self._random_values()
        return {"status": "STOPPED" if values is None else "RUNNING", "values": values}

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state.update({"population_size": self.population_size, "sample_size": self.sample_size,
                      "weight_inheritance": self.weight_inheritance, "parents": self.parents})
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.population_size = state["population_size"]
        self.sample_size = state["sample_size"]
        self.weight_inheritance = state.get("weight_inheritance", False)
        self.parents = dict(state.get("parents", {}))
