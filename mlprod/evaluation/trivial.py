"""The trivial baseline: what a model that ignores its inputs scores on the evaluated labels.

A classifier is compared with always predicting the most common class (its accuracy is that
class's share), a scorer with a constant score (AUC 0.5), a regressor with always predicting the
mean label (its MSE is the labels' variance; its MAE the mean distance to the mean). A model
that does not beat this learned nothing usable from its features.

:class:`mlprod.evaluation.metrics.TrivialBaseline` computes it as a TFMA metric, so the same code
runs in :func:`mlprod.evaluate` and in TFX's Evaluator (which blesses on it): it reports
``trivial_baseline`` (the trivial predictor's value of the main metric, from the labels) and
``gain_over_trivial`` (how much better the model is: model minus trivial, or trivial minus
model for lower-is-better metrics).

Example:
    >>> import numpy as np
    >>> trivial_value("sparse_categorical_accuracy", np.array([0, 0, 1, 2]))
    0.5
    >>> round(trivial_value("mean_squared_error", np.array([1.0, 3.0])), 3)
    1.0
"""
from __future__ import annotations

import numpy as np

TRIVIAL, GAIN = "trivial_baseline", "gain_over_trivial"
# a gain at or below this is no gain: float32 metrics (TFMA's Keras ones) against float64 counts
# differ by ~1e-8 on a model that always predicts the majority class
MIN_GAIN = 1e-6
# main metric -> what the trivial predictor is, in words
PREDICTORS = {
    "sparse_categorical_accuracy": "always predicting the most common class",
    "binary_accuracy": "always predicting the most common class",
    "auc": "a constant score",
    "mean_squared_error": "always predicting the mean label",
    "mean_absolute_error": "always predicting the mean label",
}
LOWER_IS_BETTER = {"mean_squared_error", "mean_absolute_error"}
ACCURACIES = ("sparse_categorical_accuracy", "binary_accuracy")


def trivial_metric(model_type: str, main_metric: str) -> str:
    """The metric the trivial baseline is measured on: ``main_metric`` when it has a trivial
    value (accuracy, AUC, MSE, MAE), else the task's accuracy (MSE for regression).

    Example:
        >>> trivial_metric("binary", "precision")
        'binary_accuracy'
    """
    if main_metric in PREDICTORS:
        return main_metric
    return {"classification": "sparse_categorical_accuracy", "binary": "binary_accuracy"}.get(
        model_type, "mean_squared_error")


def trivial_value(metric: str, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The trivial predictor's ``metric`` on ``labels`` (weighted by ``weights``).

    Example:
        >>> trivial_value("auc", np.array([0, 1, 1]))
        0.5
    """
    y = np.asarray(labels, dtype=float).ravel()
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float).ravel()
    total = float(w.sum())
    if not total:
        return float("nan")
    if metric == "auc":
        return 0.5
    if metric in ACCURACIES:
        _, idx = np.unique(np.rint(y).astype(np.int64), return_inverse=True)
        return float(np.bincount(idx, weights=w).max() / total)
    mean = float((w * y).sum() / total)
    if metric == "mean_absolute_error":
        return float((w * np.abs(y - mean)).sum() / total)
    return float((w * (y - mean) ** 2).sum() / total)


def describe(metric: str, value: float) -> str:
    """The trivial predictor in words, e.g. ``"always predicting the most common class: 0.437"``."""
    return f"{PREDICTORS.get(metric, 'trivial predictor')}: {value:.4g}"
