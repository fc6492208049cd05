"""Sliced evaluation with TensorFlow Model Analysis: slices, fairness, thresholds, reports.

Example:
    >>> import mlprod
    >>> from mlprod.evaluation import EvalSpec, Threshold
    >>> spec = EvalSpec(label="species", slices=["species"],
    ...                 thresholds={"sparse_categorical_accuracy": Threshold(lower=0.9)})
    >>> result = mlprod.evaluate(keras_model, df, spec, feature_columns=features)
    >>> result.passed, len(result.worst_slices())
    (True, 3)
"""
from mlprod.evaluation.evaluate import evaluate, predict
from mlprod.evaluation.result import EvalResult
from mlprod.evaluation.spec import Buckets, EvalSpec, Threshold

__all__ = ["Buckets", "EvalResult", "EvalSpec", "Threshold", "evaluate", "predict"]
