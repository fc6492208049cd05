"""Performance estimation: stop hopeless trials from their learning curve, count what each trial cost.

A trial's validation curve so far (one value per epoch) is fitted with the saturating model
``y(t) = a + b / t`` (least squares; ``a`` is where the curve levels off). The fit predicts the
value at the trial's last epoch; the trial is stopped when even the optimistic end of that
prediction cannot beat the best finished trial. The first ``min_epochs`` epochs always run.

The optimistic end is ``prediction + z * sqrt(se**2 + noise**2)``: the prediction's standard
error plus the noise of the one last epoch that will be scored. ``noise`` is the curve's scatter
around the fit, but never less than the binomial standard error of an accuracy measured on
``validation_rows`` rows, ``sqrt(p (1 - p) / n)``: three epochs leave the fit one degree of
freedom, so its own scatter says little, while 200 validation rows make any accuracy uncertain
by about 3 points (issue 25: a trial stopped at 0.690 "± 0.001" finished at 0.722, the best).

Example:
    >>> curve = [0.9 - 0.5 / t for t in range(1, 5)]      # rising, levelling off at 0.9
    >>> pred, se = extrapolate(curve, horizon=20)
    >>> round(pred, 3), se < 1e-6
    (0.875, True)
    >>> hopeless(curve, horizon=20, best=0.95, maximize=True) is not None
    True
    >>> hopeless(curve, horizon=20, best=0.86, maximize=True) is None
    True
    >>> flat = [0.66, 0.68, 0.69]                            # 200 validation rows: +-3 points of noise
    >>> hopeless(flat, horizon=8, best=0.71, maximize=True) is not None   # the fit alone is sure
    True
    >>> hopeless(flat, horizon=8, best=0.71, maximize=True, validation_rows=200) is None
    True
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from mlprod.errors import ConfigError, DataError

MIN_EPOCHS = 3
Z = 2.0  # one-sided ~97.7%: a trial is stopped only when it very probably cannot win


def extrapolate(curve: Sequence[float], horizon: int) -> tuple[float, float]:
    """The curve's predicted value at epoch ``horizon`` (1-based) and the prediction's standard error.

    Raises:
        DataError: fewer than 3 points, or a NaN/infinite value in the curve.
        ConfigError: ``horizon`` before the curve's last point.

    Example:
        >>> extrapolate([0.5, 0.6, 0.65], horizon=3)[0] == extrapolate([0.5, 0.6, 0.65], 3)[0]
        True
    """
    n = len(curve)
    if n < 3:
        raise DataError(f"a learning curve needs at least 3 points to extrapolate, got {n}; train at least 3 "
                        "epochs first.")
    if horizon < n:
        raise ConfigError(f"horizon={horizon} is before the curve's last epoch ({n}); pass horizon >= {n}.")
    ys = [float(y) for y in curve]
    if not all(math.isfinite(y) for y in ys):
        raise DataError("the learning curve holds NaN or infinite values; drop them (a diverged trial has no "
                        "curve to extrapolate).")
    a, b, s2, mx, sxx = _fit(ys)
    x0 = 1.0 / horizon
    se = math.sqrt(s2 * (1.0 / n + (x0 - mx) ** 2 / sxx))
    return a + b * x0, se


def _fit(ys: list[float]) -> tuple[float, float, float, float, float]:
    """Least squares of ``y = a + b / t``: a, b, residual variance, mean of 1/t, its sum of squares."""
    n = len(ys)
    xs = [1.0 / t for t in range(1, n + 1)]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    s2 = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True)) / (n - 2)
    return a, b, s2, mx, sxx


def validation_noise(value: float, rows: int) -> float:
    """Binomial standard error of an accuracy ``value`` measured on ``rows`` examples.

    Agresti-Coull's (two successes and two failures added), so a perfect score on a small set
    is not taken as certain.

    Example:
        >>> round(validation_noise(0.7, 200), 4), round(validation_noise(1.0, 60), 4)
        (0.0325, 0.0225)
    """
    p = (min(max(float(value), 0.0), 1.0) * rows + 2) / (rows + 4)
    return math.sqrt(p * (1 - p) / rows)


def hopeless(curve: Sequence[float], horizon: int, best: float | None, maximize: bool,
             z: float = Z, min_epochs: int = MIN_EPOCHS, validation_rows: int | None = None) -> str | None:
    """Why a trial with this validation ``curve`` cannot beat ``best`` by epoch ``horizon``, or None.

    The optimistic bound is the larger of ``prediction + z * sqrt(se**2 + noise**2)`` (where
    the prediction may be off, and how far one scored epoch scatters) and the best value seen
    so far plus ``z * noise``, so a noisy curve is not cut on one bad epoch. ``noise`` is the
    curve's scatter around the fit or, if larger, the binomial noise of an accuracy on
    ``validation_rows`` rows (pass it for accuracy objectives; None: the fit's scatter only).

    Example:
        >>> hopeless([0.30, 0.31, 0.31, 0.32], horizon=10, best=0.80, maximize=True)[:9]
        'predicted'
        >>> hopeless([0.30, 0.31, 0.31, 0.32], horizon=10, best=0.80, maximize=True, validation_rows=60)[:9]
        'predicted'
    """
    if best is None or len(curve) < max(min_epochs, 3) or len(curve) >= horizon:
        return None
    sign = 1.0 if maximize else -1.0
    ys = [sign * float(y) for y in curve]
    if not all(math.isfinite(y) for y in ys):
        return None
    n = len(ys)
    a, b, s2, mx, sxx = _fit(ys)
    x0 = 1.0 / horizon
    pred = a + b * x0
    noise = math.sqrt(s2)
    if validation_rows:
        noise = max(noise, validation_noise(sign * max(ys), int(validation_rows)))
    se = noise * math.sqrt(1.0 / n + (x0 - mx) ** 2 / sxx)  # the fit's error, its scatter floored by the noise
    spread = math.sqrt(se ** 2 + noise ** 2)
    bound = max(pred + z * spread, max(ys) + z * noise)
    if bound >= sign * best:
        return None
    shown = lambda v: f"{sign * v:.4f}"  # noqa: E731
    rows = f" (validation noise ± {noise:.4f} on {validation_rows} rows)" if validation_rows else ""
    return (f"predicted {shown(pred)} ± {spread:.4f} at epoch {horizon} after {len(curve)} epochs{rows}; even "
            f"{shown(bound)} would not beat the best trial's {best:.4f}")


def trial_callback(objective: str, epochs: int, best: Callable[[], float | None], current: Callable[[], str],
                   record: dict[str, dict[str, Any]], terminate: bool, validation_rows: int | None = None) -> Any:
    """A Keras 3 callback that counts each trial's epochs in ``record`` and, with ``terminate``, stops
    a trial :func:`hopeless` calls hopeless (the reason goes into ``record[trial_id]["stopped"]``).

    ``best`` returns the best finished trial's score, ``current`` the running trial's id (plain
    functions: Keras Tuner deep-copies callbacks for every trial, functions are shared).
    ``validation_rows``: the rows ``objective`` is measured on; for an accuracy it sets the
    noise floor of the stop rule (:func:`validation_noise`).
    """
    import keras

    maximize = "loss" not in objective
    rows = validation_rows if validation_rows and "acc" in objective else None

    class TrialBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.curve: list[float] = []
            self.first: int | None = None  # a continued trial (Hyperband, ASHA) starts past epoch 0
            self.entry = record.setdefault(current(), {"epochs": 0, "stopped": None})
            self.entry.update(epochs=0, stopped=None)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if self.first is None:
                self.first = epoch

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.entry["epochs"] += 1
            value = (logs or {}).get(objective)
            if value is None:
                return
            self.curve.append(float(value))
            if terminate:
                # this fit's own length: Hyperband/ASHA/inheriting children set their own epochs
                horizon = int((self.params or {}).get("epochs") or epochs) - (self.first or 0)
                why = hopeless(self.curve, horizon, best(), maximize, validation_rows=rows)
                if why:
                    self.entry["stopped"] = why
                    self.model.stop_training = True

    return TrialBudget()


def tuner_callback(tuner: Any, objective: str, epochs: int, record: dict[str, dict[str, Any]],
                   terminate: bool, validation_rows: int | None = None) -> Any:
    """:func:`trial_callback` for a Keras Tuner ``tuner`` (best finished trial, running trial from its oracle).

    Example:
        >>> import keras_tuner as kt
        >>> oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=1)
        >>> tuner = kt.Tuner(oracle=oracle, hypermodel=lambda hp: None, overwrite=True, directory="kt")
        >>> type(tuner_callback(tuner, "val_accuracy", 5, {}, terminate=True)).__name__
        'TrialBudget'
    """
    maximize = "loss" not in objective

    def best() -> float | None:
        done = [t.score for t in tuner.oracle.trials.values() if t.status == "COMPLETED" and t.score is not None]
        return (max(done) if maximize else min(done)) if done else None

    def current() -> str:
        return str(next(iter(tuner.oracle.ongoing_trials.values())).trial_id)

    return trial_callback(objective, epochs, best, current, record, terminate, validation_rows)
