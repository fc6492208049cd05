"""Edge optimization: post-training quantization, QAT, pruning, clustering and their combinations
to TFLite, measured on the real TFLite interpreter.

Example:
    >>> import mlprod
    >>> result = mlprod.optimize(model, (x_train, y_train, x_test, y_test), ["float", "int8"], progress=False)
    >>> result.best(max_accuracy_drop=0.02)   # the smallest model within 2 accuracy points (0.02) of Keras
    'int8'
"""
from mlprod.optimization.optimize import (
    DEFAULT,
    OPTIMIZE_PARAMS,
    TECHNIQUES,
    OptimizeResult,
    measure_tflite,
    optimize,
    technique_names,
)

__all__ = ["DEFAULT", "OPTIMIZE_PARAMS", "TECHNIQUES", "OptimizeResult", "measure_tflite", "optimize",
           "technique_names"]
