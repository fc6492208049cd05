"""``search(space, data, strategy=...)``: neural architecture search with Keras Tuner.

Example:
    >>> import mlprod
    >>> from mlprod.tuning import DenseSpace
    >>> space = DenseSpace(input_shape=(4,), num_classes=3)
    >>> x, y = df[features].to_numpy("float32"), df["species"].to_numpy()
    >>> result = mlprod.search(space, (x, y), strategy="evolution", max_trials=3, epochs=2, progress=False)
    >>> sorted(result.best_hyperparameters)[:2], len(result.table)
    (['activation', 'batch_norm'], 3)
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlprod._compat import renamed
from mlprod.errors import ConfigError, DataError
from mlprod.io.files import atomic_write_text
from mlprod.io.splits import holdout_indices
from mlprod.params import Interval, Kind, check_params
from mlprod.reporting import HtmlResult, figure_html, html_page, table_html
from mlprod.tuning.strategies import DATA_LEVELS, capabilities, check_strategy, make_oracle  # noqa: F401 - re-exported
from mlprod.tuning.strategies import STRATEGIES as _REGISTRY

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

#: the constraints on search's budget and split (shared with the Tuner component; mlprod.params)
SEARCH_PARAMS = {"max_trials": Interval(int, 1), "epochs": Interval(int, 1),
                 "max_seconds": Interval(float, 0, closed="neither", optional=True),
                 "subsample": Interval(float, 0, 1, closed="right", optional=True),
                 "validation_split": Interval(float, 0, 1, closed="neither"), "batch_size": Interval(int, 1),
                 "seed": Interval(int, 0), "inherited_epochs": Interval(int, 1, optional=True),
                 "max_params": Interval(int, 1, optional=True), "early_stopping": Kind(bool),
                 "early_termination": Kind(bool), "weight_inheritance": Kind(bool)}
STRATEGIES = tuple(_REGISTRY)  # the registered strategy names (mlprod.tuning.strategies)


def _split(data: Any, validation_split: float, subsample: float | None, seed: int) -> tuple:
    import tensorflow as tf

    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], tf.data.Dataset):
        return data[0], data[1], None, None  # (train_ds, val_ds): the caller's tf.data convention
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        raise DataError("data must be (x, y), (x, y, x_val, y_val) numpy arrays, or (train_ds, val_ds) "
                        "tf.data datasets of (features, label).")
    arrays = [np.asarray(a) for a in data]
    if any(a.size == 0 for a in arrays):
        raise DataError("data is empty; pass some examples.")
    rng = np.random.default_rng(seed)
    if len(arrays) == 2:
        x, y = arrays
        if len(x) != len(y):
            raise DataError(f"x has {len(x)} rows but y has {len(y)}.")
        tr, val = holdout_indices(len(x), validation_split, seed)  # the one rule (mlprod.io.splits)
        rng.permutation(len(x))  # the draw holdout_indices made: subsample= picks the same rows as before
        x_tr, y_tr, x_val, y_val = x[tr], y[tr], x[val], y[val]
    else:
        x_tr, y_tr, x_val, y_val = arrays
    if subsample is not None:
        if not 0 < subsample <= 1:
            raise ConfigError(f"subsample={subsample} must be in (0, 1].")
        keep = rng.permutation(len(x_tr))[: max(1, int(len(x_tr) * subsample))]
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    return x_tr.astype(np.float32), y_tr, x_val.astype(np.float32), y_val


@dataclass
class SearchResult(HtmlResult):
    """Outcome of :func:`search` (the result protocol of :class:`~mlprod.reporting.HtmlResult`).

    Attributes:
        best_hyperparameters: values of the chosen trial (respecting any size budget).
        best_model: the chosen architecture as a **tf_keras** model with the searched weights
            (ready for :func:`mlprod.optimize` / QAT).
        table: one row per trial: trial_id, status, score, epochs (trained), fraction (share of the
            training data), budget (epochs x fraction: full-data epochs), warm_start (the trial whose
            weights it started from: a promoted or a parent trial), inherited_layers, stopped (why
            early termination stopped it, else None), hp.* values, params, tflite_bytes, fits_budget.
            (``trials`` is its deprecated old name, one release.)
        objective, strategy: what was optimized and how.
        seconds: wall time of the search. notes: what the search noticed (e.g. unscaled features).
        best_trial_id: the chosen trial's ``trial_id`` in :attr:`table`.

    Example:
        >>> from mlprod.tuning import DenseSpace
        >>> r = search(DenseSpace((4,), 3), (df[features].to_numpy("float32"), df["species"].to_numpy()),
        ...            max_trials=2, epochs=2, progress=False)
        >>> list(r.table.columns[:3]), type(r.plot()).__name__
        (['trial_id', 'status', 'score'], 'Figure')
        >>> sorted(r.save("search-report"))
        ['best_hyperparameters', 'report', 'table']
    """

    best_hyperparameters: dict[str, Any]
    best_model: Any
    table: "pd.DataFrame"
    objective: str
    strategy: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    best_trial_id: str | None = None

    @property
    def trials(self) -> "pd.DataFrame":
        """Deprecated name of :attr:`table` (one release)."""
        warnings.warn("SearchResult.trials is deprecated: use SearchResult.table; the old name goes in the next "
                      "release.", DeprecationWarning, stacklevel=2)
        return self.table

    def __repr__(self) -> str:
        t = self.table
        ok = t[t["status"] == "COMPLETED"]
        col = "budget" if "budget" in t else "epochs"
        epochs = round(float(t[col].fillna(0).sum()), 1) if col in t else 0
        return (f"<SearchResult {self.strategy}: {len(ok)}/{len(t)} trials completed, best "
                f"{self.objective}={ok['score'].max() if len(ok) else float('nan'):.4f}, {epochs} epochs trained>")

    def plot(self) -> "Figure":
        """The objective per trial (best so far dashed, trials stopped early marked) and the best
        score against the training epochs spent, as a matplotlib ``Figure`` (``fig.savefig(...)``;
        shown inline in Jupyter). The class example above draws one.
        """
        from matplotlib.figure import Figure

        t = self.table.dropna(subset=["score"])
        fig = Figure(figsize=(10, 3))
        ax, ax2 = fig.subplots(1, 2)
        ax.plot(range(len(t)), t["score"], "o-", label=self.objective)
        best = t["score"].cummax() if "loss" not in self.objective else t["score"].cummin()
        ax.plot(range(len(t)), best, "--", label="best so far")
        stopped = t["stopped"].notna() if "stopped" in t else None
        if stopped is not None and stopped.any():
            ax.plot([i for i, s in enumerate(stopped) if s], t["score"][stopped], "x", color="red",
                    label="stopped early")
        ax.set_xlabel("trial")
        ax.set_ylabel(self.objective)
        ax.set_title(self.strategy)
        ax.legend(fontsize=8)
        curve = self.compute_curve()
        ax2.step(curve["epochs_spent"], curve["best_score"], where="post")
        ax2.set_xlabel("training epochs spent (all trials)")
        ax2.set_ylabel(f"best {self.objective}")
        ax2.set_title("best score vs compute")
        fig.tight_layout()
        return fig

    def plot_html(self) -> str:
        """:meth:`plot` as an inline ``<img>`` (what the report shows)."""
        return figure_html(self.plot())

    def compute_curve(self) -> "pd.DataFrame":
        """Best score so far against the training epochs spent so far, trial by trial.

        Epochs are counted in full-data epochs: an epoch on a third of the data counts 1/3.

        Example:
            >>> from mlprod.tuning import DenseSpace
            >>> r = search(DenseSpace((4,), 3), (df[features].to_numpy("float32"), df["species"].to_numpy()),
            ...            max_trials=2, epochs=2, progress=False)
            >>> list(r.compute_curve().columns), int(r.compute_curve()["epochs_spent"].iloc[-1]) <= 4
            (['trial_id', 'epochs_spent', 'best_score'], True)
        """
        t = self.table.dropna(subset=["score"])
        cost = t["budget"] if "budget" in t else t["epochs"] if "epochs" in t else None
        spent = cost.fillna(0).cumsum() if cost is not None else range(1, len(t) + 1)
        best = t["score"].cummax() if "loss" not in self.objective else t["score"].cummin()
        return _frame([{"trial_id": i, "epochs_spent": round(float(e), 3), "best_score": float(b)}
                       for i, e, b in zip(t["trial_id"], spent, best, strict=True)])

    def to_html(self, full: bool = True) -> str:
        return html_page(f"mlprod search ({self.strategy})", [
            ("Metric per trial", self.plot_html()),
            ("Best hyperparameters", table_html(_frame([self.best_hyperparameters]))),
            ("Trials", table_html(self.table.astype(str)))], full=full)

    def save(self, output_dir: "str | Path") -> dict[str, Path]:
        """Write ``table.csv`` (the trials), ``report.html`` and ``best_hyperparameters.json`` under
        ``output_dir``; returns ``{name: path}``.

        The JSON holds the chosen trial's values, with the objective, strategy and score, so the
        architecture can be rebuilt with ``space.build(keras_tuner.HyperParameters.from_config(...))``
        or passed to :func:`mlprod.tuning.tfx_fn.build_from_hyperparameters`.
        """
        written = super().save(output_dir)
        row = self.table[self.table["trial_id"].astype(str) == str(self.best_trial_id)]
        doc = {"objective": self.objective, "strategy": self.strategy, "trial_id": self.best_trial_id,
               "score": float(row["score"].iloc[0]) if len(row) else None, "values": self.best_hyperparameters}
        written["best_hyperparameters"] = atomic_write_text(
            Path(output_dir) / "best_hyperparameters.json", json.dumps(doc, indent=1, default=_plain) + "\n")
        return written


def _plain(v: Any) -> Any:
    """numpy scalars (a hyperparameter value can be one) as plain Python for JSON."""
    return v.item() if hasattr(v, "item") else str(v)


def _frame(rows: list[dict]) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(rows)


def _tflite_bytes(model: Any) -> int:
    import tensorflow as tf

    return len(tf.lite.TFLiteConverter.from_keras_model(model).convert())


@renamed(directory="output_dir", verbose="progress")
def search(space: Any, data: Any, *, strategy: Any = "random", objective: str = "val_accuracy",
           max_trials: int = 10, epochs: int = 5, max_seconds: float | None = None, subsample: float | None = None,
           early_stopping: bool = True, early_termination: bool = False, fidelity: str = "epochs",
           weight_inheritance: bool = False, inherited_epochs: int | None = None, max_params: int | None = None,
           max_tflite_bytes: int | None = None,
           validation_split: float = 0.2, batch_size: int = 32, seed: int = 0, output_dir: str | Path | None = None,
           progress: bool = True, **strategy_kwargs: Any) -> SearchResult:
    """Search architectures/hyperparameters in ``space`` with a Keras Tuner strategy.

    Args:
        space: a :class:`~mlprod.tuning.DenseSpace` / :class:`~mlprod.tuning.ConvSpace`, or your
            own ``build(hp)`` returning a compiled Keras 3 model (then ``best_model`` is Keras 3).
        data: ``(x, y)``, ``(x, y, x_val, y_val)`` or ``(train_ds, val_ds)``.
        strategy: ``random``, ``grid``, ``bayesian``, ``hyperband`` (successive halving in brackets,
            promoted trials continue from their weights), ``asha`` (asynchronous successive
            halving, :class:`~mlprod.tuning.ASHAOracle`) or ``evolution`` (regularized aging
            evolution, :class:`~mlprod.tuning.RegularizedEvolutionOracle`): the names registered in
            :mod:`mlprod.tuning.strategies`; or a Keras Tuner ``Oracle`` instance, used as given.
        objective: a metric the model reports, e.g. ``val_accuracy`` or ``val_loss``.
        max_trials, epochs: budget per search and per trial (Hyperband, ASHA: the most epochs a
            trial reaches; Hyperband's brackets set its own number of trials).
        max_seconds: wall-clock budget: no new trial starts after it.
        subsample: train each trial on this share of the training data (lower fidelity).
        early_stopping: stop a trial whose objective stopped improving (Keras ``EarlyStopping``,
            patience 2).
        early_termination: stop a trial whose learning curve, extrapolated to ``epochs``, cannot
            beat the best finished trial (:mod:`mlprod.tuning.estimation`); ``trials`` then shows
            each trial's ``epochs`` and, for a stopped one, why (``stopped``). The rule allows for
            the validation set's noise (an accuracy on n rows is uncertain by
            ``sqrt(p(1-p)/n)``), so a small validation set stops fewer trials.
        fidelity: what Hyperband and ASHA give their low rungs less of: ``"epochs"`` (a promoted trial
            continues training) or ``"data"`` (every trial trains ``epochs`` on 1/9, 1/3 or all of
            the training data; a promoted trial continues from its weights on more rows).
        weight_inheritance: evolution only: a mutated child starts from its parent's trained weights
            where the layers match (network morphism) and trains ``inherited_epochs``.
        inherited_epochs: epochs for an inheriting child (default ``ceil(epochs / 3)``).
        max_params, max_tflite_bytes: size budget; the best trial that fits is chosen.
        seed: makes the search deterministic.
        output_dir: keep Keras Tuner's trials (checkpoints, oracle state) in this folder; None: a
            temporary folder, removed when the search ends. (Old name ``directory=``, one release.)
        progress: print a line when the search starts, notes, and when it ends. (Old name
            ``verbose=``, one release.)
        **strategy_kwargs: the strategy's own options (``population_size``, ``sample_size``,
            ``initial_points``, ``eta``; :func:`~mlprod.tuning.strategies.make_oracle`).

    Raises:
        ConfigError: unknown strategy/objective, empty or contradictory space, too small a budget.
        DataError: data of the wrong shape, empty, mismatched x/y.

    Example:
        >>> from mlprod.tuning import DenseSpace
        >>> x, y = df[features].to_numpy("float32"), df["species"].to_numpy()
        >>> r = search(DenseSpace((4,), 3), (x, y), strategy="bayesian", max_trials=2, epochs=2, progress=False)
        >>> r.best_model.count_params() > 0   # a tf_keras model, ready for mlprod.optimize
        True
    """
    import keras
    import keras_tuner as kt

    if isinstance(max_trials, int) and isinstance(epochs, int) and (max_trials < 1 or epochs < 1):
        raise ConfigError("the budget is too small to run one trial: max_trials >= 1, epochs >= 1, max_seconds > 0.")
    check_params("search", locals(), SEARCH_PARAMS)
    check_strategy(strategy, fidelity=fidelity, weight_inheritance=weight_inheritance, epochs=epochs)
    if inherited_epochs is not None and inherited_epochs < 1:
        raise ConfigError(f"inherited_epochs={inherited_epochs} must be >= 1.")
    strategy_kwargs = {**strategy_kwargs, "fidelity": fidelity, "weight_inheritance": weight_inheritance}
    child_epochs = (inherited_epochs or max(1, -(-epochs // 3))) if weight_inheritance else None
    base = objective[4:] if objective.startswith("val_") else objective
    if base not in ("loss", "accuracy") and not callable(space):
        raise ConfigError(f"objective {objective!r} is not reported by mlprod's spaces; use accuracy, loss, "
                          "val_accuracy or val_loss.")
    build: Callable[[Any], Any] = space.build if hasattr(space, "build") else space
    x_tr, y_tr, x_val, y_val = _split(data, validation_split, subsample, seed)
    if hasattr(space, "input_shape") and not isinstance(x_tr, __import__("tensorflow").data.Dataset):
        want = (space.flat_input,) if getattr(space, "flat_input", None) else tuple(space.input_shape)
        if tuple(x_tr.shape[1:]) != want:
            raise DataError(f"examples have shape {tuple(x_tr.shape[1:])}, the search space expects {want}; "
                            "reshape the data or fix input_shape.")
    try:
        build(kt.HyperParameters())  # fails now, not in every trial, if the space cannot build
    except (ConfigError, DataError):
        raise
    except Exception as e:
        raise ConfigError(f"the search space cannot build a model: {type(e).__name__}: {e}") from e

    keras.utils.set_random_seed(seed)
    work = str(output_dir) if output_dir is not None else tempfile.mkdtemp(prefix="mlprod-search-")
    try:
        return _run_search(space, build, strategy, objective, max_trials, epochs, seed, x_tr, y_tr, x_val, y_val,
                           work, batch_size, early_stopping, early_termination, max_seconds, max_params,
                           max_tflite_bytes, progress, strategy_kwargs, child_epochs)
    finally:
        if output_dir is None:  # a failed search must not leave its trials behind either
            shutil.rmtree(work, ignore_errors=True)


def _trial_error(message: str) -> str:
    """The error a failed keras-tuner trial raised, from the traceback it stores: the exception's
    line and the lines of its message (TensorFlow's "Received a label value of 5 which is outside
    the valid range of [0, 3)" sits below the node trace), without the stack.

    Example:
        >>> _trial_error('Traceback (most recent call last):\\n  File "x.py", line 1\\nValueError: bad width')
        'ValueError: bad width'
    """
    import re

    lines = message.splitlines()
    start = next((i for i in range(len(lines) - 1, -1, -1)
                  if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b", lines[i])), 0)
    head = lines[start].strip()
    rest = [ln.strip() for ln in lines[start + 1:] if ln.strip() and not ln.startswith("  File ")
            and not ln.strip().startswith(("[[", "Detected at node", "Stack trace"))]
    # the innermost message line is the one that says what was wrong
    text = head if not rest else f"{head} {rest[-1]}"
    return text[:500]


def _scale_hint(x_tr: Any, y_val: Any, best_score: float, objective: str) -> str | None:
    """A note when the best accuracy is no better than the majority class and features are unscaled."""
    if "accuracy" not in objective or not isinstance(x_tr, np.ndarray) or x_tr.ndim != 2:
        return None
    y = np.asarray(y_val).ravel()
    if y.size == 0:
        return None
    majority = float(np.max(np.unique(y, return_counts=True)[1]) / y.size)
    std = np.nanstd(x_tr, axis=0)
    std = std[std > 0]
    biggest = float(np.nanmax(np.abs(x_tr))) if x_tr.size else 0.0
    unscaled = biggest > 100 or (std.size > 1 and std.max() / std.min() > 100)
    if best_score > majority + 0.02 or not unscaled:
        return None
    return (f"best {objective} {best_score:.3f} is no better than always predicting the most common class "
            f"({majority:.3f}) and the features are unscaled (values up to {biggest:.3g}); standardize them "
            "first, e.g. with mlprod.analyze_and_transform z-scores or a Normalization layer in the space")


def _validation_rows(val: Any) -> int | None:
    """Rows in the validation labels (an array) or a finite ``tf.data`` validation set (one pass), else None."""
    if isinstance(val, np.ndarray):
        return len(val)
    import tensorflow as tf

    if int(val.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
        return None
    return int(val.reduce(np.int64(0), lambda n, batch: n + tf.cast(tf.shape(batch[1])[0], tf.int64)))


def _run_search(space: Any, build: Any, strategy: Any, objective: str, max_trials: int, epochs: int, seed: int,
                x_tr: Any, y_tr: Any, x_val: Any, y_val: Any, work: str, batch_size: int, early_stopping: bool,
                early_termination: bool, max_seconds: float | None, max_params: int | None, max_tflite_bytes: int | None, progress: bool,
                strategy_kwargs: dict[str, Any], child_epochs: int | None = None) -> "SearchResult":
    import keras
    import keras_tuner as kt
    import pandas as pd

    from mlprod.tuning.estimation import tuner_callback
    from mlprod.tuning.tuner import BudgetTuner

    oracle = make_oracle(strategy, objective, max_trials, epochs, seed, **strategy_kwargs)
    started = time.perf_counter()

    class Budget(keras.callbacks.Callback):
        def on_train_end(self, logs: Any = None) -> None:
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                tuner.oracle.max_trials = len(tuner.oracle.trials)  # no new trial after this one

    budget: dict[str, dict[str, Any]] = {}  # per trial: epochs trained, data share, warm start, why stopped
    name = capabilities(strategy)[0]
    tuner = BudgetTuner(oracle=oracle, hypermodel=build, directory=work, project_name=f"{name}_{seed}",
                        overwrite=True, max_model_size=None, fidelity=strategy_kwargs.get("fidelity", "epochs"),
                        inherited_epochs=child_epochs, record=budget, seed=seed)
    rows = _validation_rows(y_val if isinstance(x_tr, np.ndarray) else y_tr) if early_termination else None
    callbacks: list[Any] = [Budget(), tuner_callback(tuner, objective, epochs, budget, early_termination, rows)]
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=objective, patience=2,
                                                       mode="min" if "loss" in objective else "max"))
    fit = {"epochs": epochs, "batch_size": batch_size, "callbacks": callbacks, "verbose": 0}
    if isinstance(x_tr, np.ndarray):
        fit.update(x=x_tr, y=y_tr, validation_data=(x_val, y_val))
    else:
        fit.update(x=x_tr, validation_data=y_tr)
        fit.pop("batch_size")
    if progress:
        print(f"search: {name}, objective {objective}, up to {max_trials} trials x {epochs} epochs", flush=True)
    halted = None  # why Keras Tuner ended the search before its budget
    try:
        tuner.search(**fit)
    except kt.errors.FatalError as e:
        raise ConfigError(f"the search stopped: {str(e)[:300]}") from e
    except ValueError as e:
        if "objective" in str(e).lower():
            raise ConfigError(f"objective {objective!r} is not reported by the model ({e}).") from e
        raise
    except RuntimeError as e:  # keras-tuner's own stop: "Number of consecutive failures exceeded the limit of 3."
        if "consecutive failures" not in str(e):
            raise
        halted = (f"Keras Tuner stopped the search after {getattr(oracle, 'max_consecutive_failed_trials', 3)} "
                  "failed trials in a row")

    table_rows: list[dict[str, Any]] = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id):
        spent = budget.get(str(trial.trial_id), {})
        fraction = spent.get("fraction", 1.0)
        row = {"trial_id": trial.trial_id, "status": trial.status, "score": trial.score,
               "epochs": spent.get("epochs"), "fraction": fraction,
               "budget": None if spent.get("epochs") is None else spent["epochs"] * fraction,
               "warm_start": spent.get("warm_start"), "inherited_layers": spent.get("inherited_layers"),
               "stopped": spent.get("stopped"),
               **{f"hp.{k}": v for k, v in trial.hyperparameters.values.items()}}
        table_rows.append(row)
    trials = pd.DataFrame(table_rows)
    done = trials[(trials["status"] == "COMPLETED") & trials["score"].notna()]
    if done.empty:
        first = next((t for t in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id) if t.message), None)
        why = f" The first failed trial ({first.trial_id}) raised: {_trial_error(first.message)}" if first else ""
        raise DataError(f"no trial completed{f' ({halted})' if halted else ''}.{why}")
    # size of every completed architecture, in tf_keras (what goes to the device)
    tfk_build = (lambda hp: space.build(hp, backend="tf_keras")) if hasattr(space, "build") else None
    params, sizes = {}, {}
    for tid in done["trial_id"]:
        hp = tuner.oracle.trials[tid].hyperparameters
        m = tfk_build(hp) if tfk_build else build(hp)
        params[tid] = int(m.count_params())
        if max_tflite_bytes is not None and tfk_build:
            sizes[tid] = _tflite_bytes(m)
    trials["params"] = trials["trial_id"].map(params)
    trials["tflite_bytes"] = trials["trial_id"].map(sizes) if sizes else None
    fits = pd.Series(True, index=trials.index)
    if max_params is not None:
        fits &= trials["params"].fillna(np.inf) <= max_params
    if max_tflite_bytes is not None:
        fits &= trials["tflite_bytes"].fillna(np.inf) <= max_tflite_bytes
    trials["fits_budget"] = fits & (trials["status"] == "COMPLETED")
    eligible = trials[trials["fits_budget"] & trials["score"].notna()]
    notes = []
    if eligible.empty:
        raise ConfigError(f"no completed trial fits the size budget (max_params={max_params}, "
                          f"max_tflite_bytes={max_tflite_bytes}); smallest had {int(trials['params'].min())} params.")
    ascending = "loss" in objective
    best_id = eligible.sort_values("score", ascending=ascending).iloc[0]["trial_id"]
    best_hp = tuner.oracle.trials[best_id].hyperparameters
    best_k3 = tuner.load_model(tuner.oracle.trials[best_id])
    if tfk_build:
        best = tfk_build(best_hp)
        best.set_weights(best_k3.get_weights())  # same architecture, same weight order
    else:
        best = best_k3
        notes.append("custom build(hp): best_model is the Keras 3 model keras-tuner trained")
    if halted:
        failed = int((trials["status"] == "FAILED").sum())
        notes.append(f"{halted}: {len(trials)} of max_trials={max_trials} ran, {failed} failed (see the table's "
                     "status); the best is the best of the completed ones")
        if progress:
            print(f"search: note: {notes[-1]}", flush=True)
    hint = _scale_hint(x_tr, y_val, float(eligible["score"].max()), objective)
    if hint:
        notes.append(hint)
        if progress:
            print(f"search: note: {hint}", flush=True)
    seconds = time.perf_counter() - started
    if progress:
        print(f"search: done in {seconds:.1f} s; best trial {best_id}", flush=True)
    return SearchResult(dict(best_hp.values), best, trials, objective, name, seconds, notes, str(best_id))
