"""Edge optimization: post-training quantization, QAT, pruning, clustering and their combinations
to TFLite, measured on the real TFLite interpreter.

Example:
    >>> import mlprod
    >>> result = mlprod.optimize(model, (x_train, y_train, x_test, y_test), ["float", "int8"], progress=False)
    >>> result.best(max_drop=2.0)   # the smallest model within 2 accuracy points of Keras
    'int8'
"""
from mlprod.optimization.optimize import DEFAULT, TECHNIQUES, OptimizeResult, measure_tflite, optimize

__all__ = ["DEFAULT", "TECHNIQUES", "OptimizeResult", "measure_tflite", "optimize"]
