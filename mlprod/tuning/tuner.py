"""``BudgetTuner``: Keras Tuner's ``Tuner`` giving each trial its own budget and starting weights.

* Hyperband and ASHA trials (``tuner/epochs`` in their values, see :mod:`mlprod.tuning.fidelity`):
  with ``fidelity="epochs"`` a trial trains from epoch ``tuner/initial_epoch`` to ``tuner/epochs``;
  with ``fidelity="data"`` it trains the full ``epochs`` on the share ``tuner/epochs / max_resource``
  of the training data (nested subsets: a promoted trial sees the same rows plus more). Either way
  a promoted trial starts from the weights of the trial it continues (``tuner/trial_id``).
* Evolution with weight inheritance (the oracle's ``parents``): a mutated child starts from its
  parent's trained weights where the layers match (:func:`~mlprod.tuning.inheritance.inherit_weights`)
  and trains ``inherited_epochs``.

What each trial got is written to ``record[trial_id]``: ``fraction`` (share of the training data),
``warm_start`` (the trial whose weights it started from) and ``inherited_layers``.

Example:
    >>> import keras_tuner as kt
    >>> from mlprod.tuning import DenseSpace
    >>> from mlprod.tuning.fidelity import ASHAOracle
    >>> oracle = ASHAOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=4, max_resource=3, seed=0)
    >>> record = {}
    >>> tuner = BudgetTuner(oracle=oracle, hypermodel=DenseSpace((4,), 3).build, record=record,
    ...                     directory="kt", project_name="asha", overwrite=True)
    >>> x, y = df[features].to_numpy("float32"), df["species"].to_numpy()
    >>> tuner.search(x=x, y=y, validation_split=0.2, epochs=3, verbose=0)
    >>> sorted(record)[:2], record["0"]["fraction"]
    (['0', '1'], 1.0)
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import keras_tuner as kt
import numpy as np

from mlprod.errors import ConfigError
from mlprod.tuning.inheritance import inherit_weights, layer_weights

FIDELITIES = ("epochs", "data")


class BudgetTuner(kt.Tuner):
    """A ``kt.Tuner`` that applies each trial's resource, data share and warm start.

    Args:
        fidelity: ``"epochs"`` or ``"data"``: what Hyperband/ASHA's resource means.
        max_resource: the resource of a full trial (data fidelity: the share is resource / this);
            default: the oracle's largest (Hyperband's ``max_epochs``, ASHA's top rung).
        inherited_epochs: epochs for an evolution child that inherits its parent's weights
            (None: the search's ``epochs``).
        record: dict filled per trial id (see the module docs).
        seed: fixes which rows make the data subsets.
        **kwargs: ``kt.Tuner``'s (oracle, hypermodel, directory, project_name, ...).
    """

    def __init__(self, *args: Any, fidelity: str = "epochs", max_resource: int | None = None,
                 inherited_epochs: int | None = None, record: dict[str, dict[str, Any]] | None = None,
                 seed: int = 0, **kwargs: Any) -> None:
        if fidelity not in FIDELITIES:
            raise ConfigError(f"fidelity={fidelity!r}; choose one of {FIDELITIES}.")
        super().__init__(*args, **kwargs)
        self.fidelity = fidelity
        oracle = kwargs.get("oracle", args[0] if args else None)
        self.max_resource = max_resource or getattr(oracle, "max_epochs", None) or (getattr(oracle, "rungs", None)
                                                                                   or [None])[-1]
        self.inherited_epochs = inherited_epochs
        self.record = {} if record is None else record
        self.seed = seed
        self._warm: tuple[str, str | None] | None = None

    def search(self, *args: Any, **kwargs: Any) -> Any:
        """``kt.Tuner.search``, with the objects that exist before it frozen out of garbage collection.

        Keras Tuner clears the Keras session before every trial, and ``clear_session`` runs a full
        ``gc.collect()``: with TensorFlow loaded that walks millions of objects, about 0.4 s per
        trial here. ``gc.freeze()`` leaves what existed before the search out of those walks
        (0.035 s per trial); it is undone when the search ends.
        """
        import gc

        gc.collect()
        gc.freeze()
        try:
            return super().search(*args, **kwargs)
        finally:
            gc.unfreeze()

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        values = trial.hyperparameters.values
        tid = str(trial.trial_id)
        fraction, source = 1.0, None
        if "tuner/epochs" in values:
            source = values.get("tuner/trial_id")
            if self.fidelity == "data":
                fraction = min(1.0, values["tuner/epochs"] / float(self.max_resource or values["tuner/epochs"]))
            else:
                kwargs["epochs"] = values["tuner/epochs"]
                kwargs["initial_epoch"] = values["tuner/initial_epoch"]
        parent = getattr(self.oracle, "parents", {}).get(tid)
        if parent is not None:
            source = parent
            if self.inherited_epochs:
                kwargs["epochs"] = self.inherited_epochs
        if fraction < 1.0:
            kwargs = self._subset(kwargs, fraction)
        entry = self.record.setdefault(tid, {"epochs": 0, "stopped": None})
        entry.update(fraction=fraction, warm_start=source, inherited_layers=None)
        self._warm = (tid, source)
        try:
            return super().run_trial(trial, *args, **kwargs)
        finally:
            self._warm = None

    def _subset(self, kwargs: dict[str, Any], fraction: float) -> dict[str, Any]:
        """The fit arguments with the training data cut to ``fraction`` (the same rows first, always)."""
        kwargs = dict(kwargs)
        if kwargs.get("steps_per_epoch"):  # a repeated tf.data stream (TFX): fewer steps, fewer examples
            kwargs["steps_per_epoch"] = max(1, int(math.ceil(kwargs["steps_per_epoch"] * fraction)))
            return kwargs
        x = kwargs.get("x")
        if isinstance(x, np.ndarray):
            n = len(x)
            keep = np.random.default_rng(self.seed).permutation(n)[: max(1, int(math.ceil(n * fraction)))]
            kwargs["x"] = x[keep]
            if kwargs.get("y") is not None:
                kwargs["y"] = np.asarray(kwargs["y"])[keep]
            return kwargs
        cardinality = int(x.cardinality()) if x is not None and hasattr(x, "cardinality") else -1
        if x is None or cardinality <= 0:
            raise ConfigError("fidelity='data' needs numpy arrays, a tf.data dataset of known length, or "
                              "steps_per_epoch; use fidelity='epochs' for this data.")
        kwargs["x"] = x.take(max(1, int(math.ceil(cardinality * fraction))))
        return kwargs

    def _build_hypermodel(self, hp: Any) -> Any:
        # kt's own Hyperband loads the continued trial's weights here too; we also inherit across
        # architectures. self._warm is set only while run_trial builds its model (not by load_model).
        warm, self._warm = self._warm, None
        source = None
        if warm is not None and warm[1] is not None:
            parent = self.oracle.get_trial(warm[1])
            model = super()._build_hypermodel(parent.hyperparameters)
            try:
                with warnings.catch_warnings():  # the fresh model's optimizer has no state to load: expected
                    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                    model.load_weights(self._get_checkpoint_fname(warm[1]))
                source = layer_weights(model)
            except (OSError, ValueError):  # the source trial saved no weights (it failed): start fresh
                self.record[warm[0]]["warm_start"] = None
        model = super()._build_hypermodel(hp)
        if warm is not None and source is not None:
            self.record[warm[0]]["inherited_layers"] = inherit_weights(model, source)
        return model
