"""TF Serving's JSON request/response formats <-> numpy batches, and JSON features -> tf.Example.

The REST API (https://www.tensorflow.org/tfx/serving/api_rest) has two request forms:
``instances`` (row format: a list, one entry per example) answered with ``predictions``, and
``inputs`` (columnar: one batch per input) answered with ``outputs``. Binary strings travel as
``{"b64": "..."}``. ``:classify`` / ``:regress`` take ``examples`` (feature dicts) and an
optional ``context`` merged into each.

A convenience beyond TF Serving: when a signature takes serialized ``tf.Example``s (as TFX's
exported models do, with the Transform graph inside), ``instances`` may be raw feature dicts;
each is turned into a ``tf.Example`` here, so a client sends ``{"culmen_length_mm": 39.1, ...}``.

Example:
    >>> from mlprod.serving.model import Signature, TensorInfo
    >>> import numpy as np
    >>> sig = Signature("serving_default", {"x": TensorInfo("x", np.float32, (-1, 2))},
    ...                 {"y": TensorInfo("y", np.float32, (-1,))})
    >>> decode_instances(sig, [[1, 2], [3, 4]])["x"].shape
    (2, 2)
    >>> encode_predictions({"y": np.array([0.5, 0.25])})
    [0.5, 0.25]
"""
from __future__ import annotations

import base64
from typing import Any

import numpy as np

from mlprod.errors import DataError
from mlprod.serving.model import Signature, TensorInfo


def _strings(v: Any) -> Any:
    """JSON values of a string tensor -> bytes (``{"b64": ...}`` decoded, text UTF-8 encoded)."""
    if isinstance(v, dict):
        if set(v) != {"b64"}:
            raise DataError(f"a string value must be text or {{'b64': ...}}; got an object with keys {sorted(v)}.")
        return base64.b64decode(v["b64"])
    if isinstance(v, list):
        return [_strings(x) for x in v]
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, bytes):
        return v
    raise DataError(f"expected a string for a string input, got {type(v).__name__} {v!r}.")


def to_array(info: TensorInfo, value: Any) -> np.ndarray:
    """JSON value(s) for one input -> numpy array of the input's dtype (clear error if it does not fit)."""
    if info.is_string:
        arr = np.array(_strings(value), dtype=object)
    else:
        try:
            arr = np.asarray(value, dtype=info.dtype)
        except (TypeError, ValueError) as e:
            raise DataError(f"input {info.name!r} takes {np.dtype(info.dtype).name} values; could not convert "
                            f"the request's value ({e}).") from e
    return arr


def example_from_features(features: dict[str, Any]) -> bytes:
    """A JSON feature dict (``{"f": 1.5, "s": "a", "l": [1, 2]}``) as a serialized ``tf.Example``.

    Integers (and booleans) become ``int64_list``, numbers with any float ``float_list``, text and
    ``{"b64": ...}`` ``bytes_list``; ``None`` values and empty lists are left out (missing, as ExampleGen leaves them).

    Example:
        >>> from tensorflow.core.example import example_pb2
        >>> ex = example_pb2.Example.FromString(example_from_features({"x": 1.5, "n": 2, "s": "a"}))
        >>> ex.features.feature["n"].int64_list.value[:], ex.features.feature["s"].bytes_list.value[:]
        ([2], [b'a'])
    """
    ex = _example_pb2().Example()
    fm = ex.features.feature
    for k, v in features.items():
        t = type(v)  # the one-value cases first: the server builds one Example per request row
        if t is float:
            fm[k].float_list.value.append(v)
            continue
        if t is int or t is bool:
            fm[k].int64_list.value.append(v)
            continue
        if t is str:
            fm[k].bytes_list.value.append(v.encode("utf-8"))
            continue
        vals = [x for x in (v if isinstance(v, list) else [v]) if x is not None]
        if not vals:
            continue  # a missing value: left out of the example, as ExampleGen does
        if all(isinstance(x, int) for x in vals):  # bool is an int
            fm[k].int64_list.value.extend(int(x) for x in vals)
        elif all(isinstance(x, (int, float)) for x in vals):
            fm[k].float_list.value.extend(float(x) for x in vals)
        elif any(isinstance(x, (int, float)) for x in vals):
            raise DataError(f"feature {k!r} mixes numbers and other values ({v!r}); send one type per feature.")
        else:
            try:
                fm[k].bytes_list.value.extend(_strings(vals))
            except DataError as e:
                raise DataError(f"feature {k!r}: {e}") from None
    return ex.SerializeToString()


def _example_pb2() -> Any:
    from tensorflow.core.example import example_pb2  # the proto module alone, not TensorFlow's lazy namespace

    return example_pb2


def _is_feature_dict(sig: Signature, inst: Any) -> bool:
    return isinstance(inst, dict) and not (set(inst) <= set(sig.inputs)) and set(inst) != {"b64"}


def decode_instances(sig: Signature, instances: Any) -> dict[str, np.ndarray]:
    """``instances`` (row format) -> one batch per input."""
    if not isinstance(instances, list) or not instances:
        raise DataError("'instances' must be a non-empty list, one entry per example.")
    names = list(sig.inputs)
    if sig.takes_examples and all(_is_feature_dict(sig, i) for i in instances):
        return {names[0]: np.array([example_from_features(i) for i in instances], dtype=object)}
    if len(names) == 1 and not all(isinstance(i, dict) and set(i) <= set(names) and set(i) for i in instances):
        return {names[0]: to_array(sig.inputs[names[0]], instances)}
    cols: dict[str, list] = {n: [] for n in names}
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict):
            raise DataError(f"signature {sig.name!r} has inputs {names}: each instance must be an object "
                            f"with those keys; instance {i} is {type(inst).__name__}.")
        missing = set(names) - set(inst)
        if missing:
            raise DataError(f"instance {i} lacks input(s) {sorted(missing)} of signature {sig.name!r}.")
        for n in names:
            cols[n].append(inst[n])
    return {n: to_array(sig.inputs[n], cols[n]) for n in names}


def decode_inputs(sig: Signature, inputs: Any) -> dict[str, np.ndarray]:
    """``inputs`` (columnar format) -> one batch per input."""
    names = list(sig.inputs)
    if isinstance(inputs, dict) and set(inputs) <= set(names) and inputs:
        missing = set(names) - set(inputs)
        if missing:
            raise DataError(f"'inputs' lacks {sorted(missing)} of signature {sig.name!r}.")
        return {n: to_array(sig.inputs[n], inputs[n]) for n in names}
    if len(names) == 1:
        return {names[0]: to_array(sig.inputs[names[0]], inputs)}
    raise DataError(f"signature {sig.name!r} has inputs {names}: 'inputs' must be an object with those keys.")


def _jsonable(a: np.ndarray) -> Any:
    if a.dtype.kind in "OSU":
        def enc(x: Any) -> Any:
            if isinstance(x, bytes):
                try:
                    return x.decode("utf-8")
                except UnicodeDecodeError:
                    return {"b64": base64.b64encode(x).decode("ascii")}
            return x
        return np.vectorize(enc, otypes=[object])(a).tolist() if a.size else a.tolist()
    return a.tolist()


def encode_predictions(outputs: dict[str, np.ndarray]) -> list:
    """Outputs -> the ``predictions`` list (one entry per row; objects when there are several outputs)."""
    if len(outputs) == 1:
        return _jsonable(next(iter(outputs.values())))
    cols = {k: _jsonable(v) for k, v in outputs.items()}
    n = len(next(iter(cols.values())))
    return [{k: cols[k][i] for k in cols} for i in range(n)]


def encode_outputs(outputs: dict[str, np.ndarray]) -> Any:
    """Outputs -> the columnar ``outputs`` value."""
    if len(outputs) == 1:
        return _jsonable(next(iter(outputs.values())))
    return {k: _jsonable(v) for k, v in outputs.items()}


def classify_result(sig: Signature, outputs: dict[str, np.ndarray]) -> list[list[list]]:
    """``[[[label, score], ...], ...]`` per example: ``classes``/``scores`` outputs, or class indices."""
    scores = outputs.get("scores")
    if scores is None:
        floats = [v for v in outputs.values() if v.dtype.kind == "f"]
        if len(floats) != 1:
            raise DataError(f"signature {sig.name!r} has outputs {sorted(outputs)}; :classify needs 'scores' "
                            "(and optionally 'classes') or exactly one float output.")
        scores = floats[0]
    scores = np.asarray(scores, np.float64).reshape(len(scores), -1)
    classes = outputs.get("classes")
    if classes is None:
        labels = [[str(j) for j in range(scores.shape[1])]] * len(scores)
    else:
        c = np.asarray(classes).reshape(len(scores), -1)
        labels = [[x.decode() if isinstance(x, bytes) else str(x) for x in row] for row in c]
    return [[[lab, float(s)] for lab, s in zip(labs, row, strict=True)] for labs, row in zip(labels, scores, strict=True)]


def regress_result(sig: Signature, outputs: dict[str, np.ndarray]) -> list[float]:
    """One float per example: the ``outputs`` output, or the only float output."""
    v = outputs.get("outputs")
    if v is None:
        floats = [x for x in outputs.values() if x.dtype.kind == "f"]
        if len(floats) != 1:
            raise DataError(f"signature {sig.name!r} has outputs {sorted(outputs)}; :regress needs one float output.")
        v = floats[0]
    v = np.asarray(v, np.float64).reshape(len(v), -1)
    if v.shape[1] != 1:
        raise DataError(f":regress needs one value per example; signature {sig.name!r} returns {v.shape[1]}.")
    return [float(x) for x in v[:, 0]]


def examples_from_request(body: dict[str, Any]) -> list[bytes]:
    """``examples`` (+ ``context``) of a :classify/:regress body -> serialized tf.Examples."""
    examples = body.get("examples")
    if not isinstance(examples, list) or not examples:
        raise DataError("':classify' and ':regress' take 'examples': a non-empty list of feature objects.")
    context = body.get("context") or {}
    if not isinstance(context, dict):
        raise DataError("'context' must be an object of features shared by every example.")
    out = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict):
            raise DataError(f"example {i} must be an object of features, got {type(ex).__name__}.")
        out.append(example_from_features({**context, **ex}))
    return out
