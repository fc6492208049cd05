"""Multi-fidelity search: asynchronous successive halving (ASHA) and resource levels.

A trial's *resource* is either training epochs or a share of the training data (``fidelity``).
Successive halving trains many configurations on a small resource and promotes the best
``1/eta`` of each rung to ``eta`` times more. ASHA (Li et al., 2020) promotes as soon as a
configuration is in the top ``1/eta`` of the trials its rung has finished so far, so no trial
waits for a rung to fill; when nothing can be promoted, a new random configuration starts at the
lowest rung. Promotions continue from the promoted trial's weights.

Trials carry Keras Tuner's Hyperband conventions in their values (``tuner/epochs`` is the
resource to reach, ``tuner/initial_epoch`` the resource already spent, ``tuner/trial_id`` the
trial whose weights to continue from), so :class:`~mlprod.tuning.tuner.BudgetTuner` runs
Hyperband and ASHA trials the same way.

Example:
    >>> rungs(9, eta=3)
    [1, 3, 9]
    >>> rungs(10, eta=3)
    [2, 4, 10]
    >>> import keras_tuner as kt
    >>> oracle = ASHAOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=20, max_resource=9, seed=0)
    >>> oracle.rungs
    [1, 3, 9]
"""
from __future__ import annotations

import math
from typing import Any

import keras_tuner as kt

from mlprod.errors import ConfigError

TUNER_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/trial_id", "tuner/bracket", "tuner/round")


def rungs(max_resource: int, eta: int = 3, min_resource: int = 1) -> list[int]:
    """Resource levels ``max_resource / eta**k`` (rounded up), smallest first, none below ``min_resource``.

    Raises:
        ConfigError: ``eta < 2`` or ``max_resource < min_resource``.

    Example:
        >>> rungs(27, eta=3, min_resource=3)
        [3, 9, 27]
    """
    if eta < 2 or min_resource < 1 or max_resource < min_resource:
        raise ConfigError(f"successive halving needs eta >= 2 and 1 <= min_resource <= max_resource; got "
                          f"eta={eta}, min_resource={min_resource}, max_resource={max_resource}.")
    top = int(math.floor(math.log(max_resource / min_resource, eta) + 1e-9))
    levels = [int(math.ceil(max_resource / eta ** (top - k))) for k in range(top + 1)]
    return sorted(set(levels))


class ASHAOracle(kt.Oracle):
    """Asynchronous successive halving as a Keras Tuner ``Oracle``.

    Args:
        objective, max_trials, seed: as for any Keras Tuner oracle (``max_trials`` counts every
            trial run, promotions included).
        max_resource: the largest resource (epochs, or data levels for data fidelity).
        eta: promotion ratio: the best ``1/eta`` of a rung move up, with ``eta`` times the resource.
        min_resource: the smallest rung's resource.
    """

    def __init__(self, objective: Any = None, max_trials: int = 30, max_resource: int = 9, eta: int = 3,
                 min_resource: int = 1, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        self.eta = eta
        self.rungs = rungs(max_resource, eta, min_resource)
        self.rung_of: dict[str, int] = {}
        self.promoted: list[str] = []

    def _finished(self, rung: int) -> list[Any]:
        sign = 1 if self.objective.direction == "max" else -1
        done = [t for tid, t in self.trials.items() if self.rung_of.get(tid) == rung and t.score is not None
                and t.status == kt.engine.trial.TrialStatus.COMPLETED]
        return sorted(done, key=lambda t: -sign * t.score)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        for k in reversed(range(len(self.rungs) - 1)):  # the highest promotion first
            done = self._finished(k)
            for t in done[: len(done) // self.eta]:
                if t.trial_id not in self.promoted:
                    self.promoted.append(t.trial_id)
                    self.rung_of[trial_id] = k + 1
                    values = {n: v for n, v in t.hyperparameters.values.items() if n not in TUNER_KEYS}
                    values.update({"tuner/epochs": self.rungs[k + 1], "tuner/initial_epoch": self.rungs[k],
                                   "tuner/trial_id": t.trial_id, "tuner/round": k + 1})
                    return {"status": "RUNNING", "values": values}
        values = self._random_values()
        if values is None:
            return {"status": "STOPPED", "values": None}
        self.rung_of[trial_id] = 0
        values.update({"tuner/epochs": self.rungs[0], "tuner/initial_epoch": 0, "tuner/round": 0})
        return {"status": "RUNNING", "values": values}

    def _compute_values_hash(self, values: dict[str, Any]) -> str:
        # a promotion repeats a configuration on purpose; a new random draw must not repeat one
        return super()._compute_values_hash({k: v for k, v in values.items() if k not in TUNER_KEYS})

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state.update({"eta": self.eta, "rungs": self.rungs, "rung_of": self.rung_of, "promoted": self.promoted})
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.eta, self.rungs = state["eta"], state["rungs"]
        self.rung_of, self.promoted = dict(state["rung_of"]), list(state["promoted"])
