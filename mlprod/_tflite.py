"""Running ``.tflite`` models on the real TFLite interpreter (one home; used by evaluation and
optimization). Prefers the ``ai-edge-litert`` package, falls back to ``tf.lite.Interpreter``.

Handles quantized (int8/uint8) inputs and outputs with the scale/zero-point stored in the model.

Example:
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> flat = tf.lite.TFLiteConverter.from_keras_model(model).convert()   # any tf_keras model
    >>> run_tflite(flat, np.zeros((4, 64), np.float32)).shape
    (4, 10)
"""
from __future__ import annotations

from typing import Any

import numpy as np


def interpreter(model: "str | bytes") -> Any:
    """An allocated interpreter for a ``.tflite`` path or flatbuffer bytes."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - the package is a dependency
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    kw = {"model_content": model} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    interp = Interpreter(**kw)
    interp.allocate_tensors()
    return interp


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        if scale:
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        if scale:
            return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32)


def run_tflite(model: "str | bytes | Any", x: np.ndarray) -> np.ndarray:
    """Outputs of a single-input, single-output TFLite model for every row of ``x`` (float32).

    Rows are fed one at a time (batch size 1, as on a device).
    """
    interp: Any = model if hasattr(model, "get_input_details") else interpreter(model)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    shape = list(inp["shape"])
    x = np.asarray(x, dtype=np.float32)
    if int(np.prod(shape[1:])) != int(np.prod(x.shape[1:])):
        from mlprod.errors import DataError

        raise DataError(f"the TFLite model takes inputs of shape {shape}, the data has rows of shape "
                        f"{list(x.shape[1:])}; pass matching feature columns.")
    rows = []
    for row in x:
        interp.set_tensor(inp["index"], quantize_input(row.reshape([1, *shape[1:]]), inp))
        interp.invoke()
        rows.append(_dequantize(interp.get_tensor(out["index"]), out)[0])
    return np.stack(rows)
