"""Edge optimization: post-training quantization, QAT, pruning, clustering and their combinations
to TFLite, measured on the real TFLite interpreter.

Example:
    >>> import mlprod
    >>> result = mlprod.optimize(model, (x_train, y_train, x_test, y_test))   # doctest: +SKIP
    >>> result                                                                # doctest: +SKIP
"""
from mlprod.optimization.optimize import DEFAULT, TECHNIQUES, OptimizeResult, measure_tflite, optimize

__all__ = ["DEFAULT", "TECHNIQUES", "OptimizeResult", "measure_tflite", "optimize"]
