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


def _value_types(value: Any) -> set[type]:
    """The Python types of the scalars in a (nested) JSON list, in one pass (``map(type, ...)`` per row)."""
    if type(value) is not list:
        return {type(value)}
    if not value or type(value[0]) is not list:
        found = set(map(type, value))
        if list in found:
            raise DataError("the value's rows have different nesting (a ragged list); send one shape per input.")
        return found
    found = set()
    for row in value:
        if type(row) is not list:
            raise DataError("the value's rows have different nesting (a ragged list); send one shape per input.")
        found |= _value_types(row)
    return found


_JSON_NAMES = {bool: "true/false", int: "an integer", float: "a number with a fraction", str: "a string",
               type(None): "null", dict: "an object", list: "a list"}
#: what TF Serving's JSON decoder accepts per tensor dtype kind: numbers (integers too) for floats,
#: integers alone for integer dtypes, true/false alone for booleans
_ACCEPTS: dict[str, set[type]] = {"f": {int, float}, "i": {int}, "u": {int}, "b": {bool}}


def to_array(info: TensorInfo, value: Any) -> np.ndarray:
    """JSON value(s) for one input -> numpy array of the input's dtype, by TF Serving's JSON rules.

    Float inputs take JSON numbers (integers too; ``NaN``/``Infinity`` literals as TF Serving);
    integer inputs take JSON integers in the dtype's range; booleans ``true``/``false``; strings
    text or ``{"b64": ...}``. Anything else (``null``, ``"1.5"`` for a float, ``1.7`` or
    ``true`` for an integer) is refused with a :class:`DataError` naming the input.

    Example:
        >>> to_array(TensorInfo("x", np.float32, (-1,)), [1, 2.5]).tolist()
        [1.0, 2.5]
        >>> to_array(TensorInfo("n", np.int64, (-1,)), [1.7])
        Traceback (most recent call last):
        ...
        mlprod.errors.DataError: input 'n' takes int64 values (JSON integers); the request sends a number with a fraction.
    """
    if info.is_string:
        try:
            return np.array(_strings(value), dtype=object)
        except DataError as e:
            raise DataError(f"input {info.name!r}: {e}") from None
    dtype = np.dtype(info.dtype)
    allowed = _ACCEPTS.get(dtype.kind)
    if allowed is not None:
        bad = _value_types(value) - allowed
        if bad:
            what = " and ".join(sorted(_JSON_NAMES.get(t, t.__name__) for t in bad))
            kinds = {"f": "JSON numbers", "i": "JSON integers", "u": "JSON integers >= 0", "b": "true/false"}
            raise DataError(f"input {info.name!r} takes {dtype.name} values ({kinds[dtype.kind]}); the request "
                            f"sends {what}.")
    try:
        arr = np.asarray(value, dtype=dtype)
    except OverflowError:
        lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
        raise DataError(f"input {info.name!r} takes {dtype.name} values; a value of the request is outside "
                        f"[{lo}, {hi}].") from None
    except (TypeError, ValueError) as e:
        raise DataError(f"input {info.name!r} takes {dtype.name} values; could not convert "
                        f"the request's value ({e}).") from e
    return arr


def example_from_features(features: dict[str, Any], kinds: dict[str, str] | None = None) -> bytes:
    """A JSON feature dict (``{"f": 1.5, "s": "a", "l": [1, 2]}``) as a serialized ``tf.Example``.

    Integers (and booleans) become ``int64_list``, numbers with any float ``float_list``, text and
    ``{"b64": ...}`` ``bytes_list``; ``None`` values and empty lists are left out (missing, as ExampleGen leaves them).
    ``kinds`` (feature -> ``float``/``int64``/``bytes``, the model's parse spec, see
    :attr:`Signature.example_features`) makes JSON integers of a ``float`` feature floats, as a
    JavaScript client sends ``25`` for ``25.0``.

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
            if t is int and kinds is not None and kinds.get(k) == "float":
                fm[k].float_list.value.append(v)
            else:
                fm[k].int64_list.value.append(v)
            continue
        if t is str:
            fm[k].bytes_list.value.append(v.encode("utf-8"))
            continue
        vals = [x for x in (v if isinstance(v, list) else [v]) if x is not None]
        if not vals:
            continue  # a missing value: left out of the example, as ExampleGen does
        if all(isinstance(x, int) for x in vals) and not (kinds is not None and kinds.get(k) == "float"):
            fm[k].int64_list.value.extend(int(x) for x in vals)  # bool is an int
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
    """``instances`` (row format) -> one batch per input.

    An object instance must name exactly the signature's inputs (TF Serving refuses extra keys);
    a signature taking serialized ``tf.Example``s also takes raw feature objects.
    """
    if not isinstance(instances, list) or not instances:
        raise DataError("'instances' must be a non-empty list, one entry per example.")
    names = list(sig.inputs)
    if sig.takes_examples and all(_is_feature_dict(sig, i) for i in instances):
        kinds = sig.example_features
        return {names[0]: np.array([example_from_features(i, kinds) for i in instances], dtype=object)}
    if len(names) == 1 and not any(isinstance(i, dict) and set(i) != {"b64"} for i in instances):
        return {names[0]: to_array(sig.inputs[names[0]], instances)}
    cols: dict[str, list] = {n: [] for n in names}
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict) or set(inst) == {"b64"}:
            raise DataError(f"signature {sig.name!r} has inputs {names}: each instance must be an object "
                            f"with those keys; instance {i} is {type(inst).__name__}.")
        missing = set(names) - set(inst)
        if missing:
            raise DataError(f"instance {i} lacks input(s) {sorted(missing)} of signature {sig.name!r}.")
        if len(inst) != len(names):
            raise DataError(f"instance {i} has key(s) {sorted(set(inst) - set(names))} that are not inputs of "
                            f"signature {sig.name!r} (its inputs: {names}); send only those.")
        for n in names:
            cols[n].append(inst[n])
    return {n: to_array(sig.inputs[n], cols[n]) for n in names}


def decode_inputs(sig: Signature, inputs: Any) -> dict[str, np.ndarray]:
    """``inputs`` (columnar format) -> one batch per input."""
    names = list(sig.inputs)
    if isinstance(inputs, dict) and inputs and set(inputs) != {"b64"} and (set(inputs) & set(names) or len(names) > 1):
        extra = set(inputs) - set(names)
        if extra:
            raise DataError(f"'inputs' has key(s) {sorted(extra)} that are not inputs of signature {sig.name!r} "
                            f"(its inputs: {names}).")
        missing = set(names) - set(inputs)
        if missing:
            raise DataError(f"'inputs' lacks {sorted(missing)} of signature {sig.name!r}.")
        return {n: to_array(sig.inputs[n], inputs[n]) for n in names}
    if len(names) == 1:
        return {names[0]: to_array(sig.inputs[names[0]], inputs)}
    raise DataError(f"signature {sig.name!r} has inputs {names}: 'inputs' must be an object with those keys.")


def _b64(x: Any) -> Any:
    return {"b64": base64.b64encode(x).decode("ascii")} if isinstance(x, bytes) else x


def _text(x: Any) -> Any:
    if isinstance(x, bytes):
        try:
            return x.decode("utf-8")
        except UnicodeDecodeError:  # not text: TF Serving would send broken JSON; base64 is readable
            return _b64(x)
    return x


def _jsonable(a: np.ndarray, name: str = "") -> Any:
    """One output as JSON: strings as text, or ``{"b64": ...}`` when the output's name ends in
    ``_bytes`` (TF Serving's rule for binary outputs) or the bytes are not UTF-8."""
    if a.dtype.kind in "OSU":
        enc = _b64 if name.endswith("_bytes") else _text
        return np.vectorize(enc, otypes=[object])(a).tolist() if a.size else a.tolist()
    return a.tolist()


def encode_predictions(outputs: dict[str, np.ndarray]) -> list:
    """Outputs -> the ``predictions`` list (one entry per row; objects when there are several outputs)."""
    if len(outputs) == 1:
        k, v = next(iter(outputs.items()))
        return _jsonable(v, k)
    cols = {k: _jsonable(v, k) for k, v in outputs.items()}
    n = len(next(iter(cols.values())))
    return [{k: cols[k][i] for k in cols} for i in range(n)]


def encode_outputs(outputs: dict[str, np.ndarray]) -> Any:
    """Outputs -> the columnar ``outputs`` value."""
    if len(outputs) == 1:
        k, v = next(iter(outputs.items()))
        return _jsonable(v, k)
    return {k: _jsonable(v, k) for k, v in outputs.items()}


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
    if classes is None:  # TF Serving leaves the label empty when the signature has scores only
        labels = [[""] * scores.shape[1]] * len(scores)
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


def examples_from_request(body: dict[str, Any], kinds: dict[str, str] | None = None) -> list[bytes]:
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
        out.append(example_from_features({**context, **ex}, kinds))
    return out
