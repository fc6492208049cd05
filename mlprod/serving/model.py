"""One loaded model version: a TensorFlow SavedModel or a ``.tflite`` file, called by signature.

A version folder is what TFX's Pusher (or the edge pipeline) writes under the serving base
folder: ``<base>/<version>/saved_model.pb`` (+ variables) or ``<base>/<version>/model.tflite``.
:func:`load_version` loads either into a :class:`Servable` whose :meth:`Servable.run` takes and
returns numpy arrays keyed by the signature's input/output names, and whose
:meth:`Servable.signature_defs` are TF Serving's ``SignatureDef`` protos (for ``/metadata``).

Example:
    (tests/serving/test_server.py runs this.)
    >>> sv = load_version("/srv/models/penguin/1")                           # doctest: +SKIP
    >>> sv.run("serving_default", {"examples": np.array([ex.SerializeToString()])})  # doctest: +SKIP
    {'outputs': array([[0.98, 0.01, 0.01]], dtype=float32)}
"""
from __future__ import annotations

import glob
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlprod.errors import ConfigError, DataError

DEFAULT_SIGNATURE = "serving_default"


@dataclass(frozen=True)
class TensorInfo:
    """Name, numpy dtype and shape (``-1`` for unknown dims) of one signature input or output."""

    name: str
    dtype: Any
    shape: tuple[int, ...] | None

    @property
    def is_string(self) -> bool:
        return np.dtype(self.dtype).kind in "OSU"


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs of one callable signature (TF Serving's ``SignatureDef``, as numpy)."""

    name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    #: for a signature parsing serialized tf.Examples: feature -> ``float``/``int64``/``bytes`` as its
    #: parse op declares them (read from the graph; None when unknown)
    example_features: dict[str, str] | None = None

    @property
    def takes_examples(self) -> bool:
        """True when the signature's one input is a batch of serialized ``tf.Example``s."""
        return len(self.inputs) == 1 and next(iter(self.inputs.values())).is_string


@dataclass(eq=False)
class Servable:
    """A loaded version. ``run(signature, inputs)`` is thread safe (TFLite calls are serialized)."""

    version: int
    path: str
    kind: str  # "saved_model" | "tflite"
    signatures: dict[str, Signature]
    _call: Any = field(repr=False)
    _defs: Any = field(default=None, repr=False)
    model_name: str = ""  # the served model it belongs to (set by Versions)
    warmed_up: int = 0  # warm-up requests replayed at load (assets.extra/tf_serving_warmup_requests)

    def signature(self, name: str | None) -> Signature:
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise DataError(f"signature {name!r} not found in model version {self.version}; "
                            f"it has {sorted(self.signatures)}. Pass signature_name=one of those.")
        return self.signatures[name]

    def run(self, signature_name: str | None, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs (numpy, batch first) of one signature for a batch of inputs."""
        sig = self.signature(signature_name)
        missing = set(sig.inputs) - set(inputs)
        extra = set(inputs) - set(sig.inputs)
        if missing or extra:
            raise DataError(f"signature {sig.name!r} takes inputs {sorted(sig.inputs)}; the request has "
                            f"{sorted(inputs)} (missing {sorted(missing)}, unexpected {sorted(extra)}).")
        return self._call(sig, inputs)

    def signature_defs(self) -> Any:
        """TF Serving's ``SignatureDefMap`` proto of this version."""
        return self._defs


def _np_dtype(tf_dtype: Any) -> Any:
    return np.dtype(object) if tf_dtype.name == "string" else np.dtype(tf_dtype.as_numpy_dtype)


def _shape(tf_shape: Any) -> tuple[int, ...] | None:
    if tf_shape.rank is None:
        return None
    return tuple(-1 if d is None else int(d) for d in tf_shape.as_list())


_PARSE_OPS = ("ParseExampleV2", "ParseExample", "ParseSingleExample")


def example_features(fn: Any) -> dict[str, str] | None:
    """Feature name -> ``float``/``int64``/``bytes`` of the tf.Example parse op(s) in a signature's graph.

    Reads ``ParseExampleV2`` / ``ParseExample`` / ``ParseSingleExample`` nodes (in the graph and the
    functions it calls) and their constant key tensors; None when the graph parses no examples.
    """
    import tensorflow as tf

    try:
        gd = fn.graph.as_graph_def()
    except Exception:  # noqa: BLE001 - no graph to read: the caller falls back to JSON's own types
        return None
    kind = {"float32": "float", "int64": "int64", "string": "bytes"}
    bodies = [list(gd.node)] + [list(f.node_def) for f in gd.library.function]
    found: dict[str, str] = {}
    for nodes in bodies:
        by_name = {n.name: n for n in nodes}

        def const(ref: str, by_name: dict = by_name) -> list[str]:
            n = by_name.get(ref.lstrip("^").split(":")[0])
            while n is not None and n.op == "Identity":
                n = by_name.get(n.input[0].split(":")[0])
            if n is None or n.op != "Const":
                return []
            return [k.decode() if isinstance(k, bytes) else str(k)
                    for k in np.atleast_1d(tf.make_ndarray(n.attr["value"].tensor)).tolist()]

        for n in nodes:
            if n.op not in _PARSE_OPS:
                continue
            a = n.attr
            if n.op == "ParseExampleV2":
                pairs = [(const(n.input[2]), a["sparse_types"].list.type), (const(n.input[3]), a["Tdense"].list.type),
                         (const(n.input[4]), a["ragged_value_types"].list.type)]
            elif n.op == "ParseExample":
                ns, nd = a["Nsparse"].i, a["Ndense"].i
                pairs = [([k for r in n.input[2:2 + ns] for k in const(r)], a["sparse_types"].list.type),
                         ([k for r in n.input[2 + ns:2 + ns + nd] for k in const(r)], a["Tdense"].list.type)]
            else:
                pairs = [([k.decode() for k in a["sparse_keys"].list.s], a["sparse_types"].list.type),
                         ([k.decode() for k in a["dense_keys"].list.s], a["Tdense"].list.type)]
            for keys, types in pairs:
                for k, t in zip(keys, types, strict=False):
                    found[k] = kind.get(tf.as_dtype(t).name, tf.as_dtype(t).name)
    return found or None


def _load_saved_model(path: str, version: int) -> Servable:
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    loaded = tf.saved_model.load(path)
    sigs: dict[str, Signature] = {}
    for name, fn in loaded.signatures.items():
        kw = fn.structured_input_signature[1]
        ins = {k: TensorInfo(k, _np_dtype(s.dtype), _shape(s.shape)) for k, s in kw.items()}
        outs = {k: TensorInfo(k, _np_dtype(s.dtype), _shape(s.shape)) for k, s in fn.structured_outputs.items()}
        takes_examples = len(ins) == 1 and next(iter(ins.values())).is_string
        sigs[name] = Signature(name, ins, outs, example_features(fn) if takes_examples else None)
    if not sigs:
        raise DataError(f"the SavedModel at {path} has no signatures; export it with "
                        "model.save(..., signatures={'serving_default': fn}).")
    pb = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(path, "saved_model.pb"), "rb") as f:
        pb.ParseFromString(f.read())
    defs = get_model_metadata_pb2.SignatureDefMap()
    for k, v in pb.meta_graphs[0].signature_def.items():
        if not k.startswith("__"):
            defs.signature_def[k].CopyFrom(v)

    def call(sig: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        fn = loaded.signatures[sig.name]
        args = {}
        for k, info in sig.inputs.items():
            v = inputs[k]
            args[k] = tf.constant(v, dtype=tf.string) if info.is_string else tf.constant(np.asarray(v, info.dtype))
        return {k: t.numpy() for k, t in fn(**args).items()}

    sv = Servable(version, path, "saved_model", sigs, call, defs)
    sv._loaded = loaded  # type: ignore[attr-defined]  # keep the trackable objects alive
    return sv


def _tflite_defs(sigs: dict[str, Signature]) -> Any:
    """SignatureDef protos describing a TFLite model's signatures (what /metadata returns)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    defs = get_model_metadata_pb2.SignatureDefMap()
    for name, sig in sigs.items():
        sd = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
        for part, infos in (("inputs", sig.inputs), ("outputs", sig.outputs)):
            for k, info in infos.items():
                ti = getattr(sd, part)[k]
                ti.name = k
                ti.dtype = tf.as_dtype(np.dtype(info.dtype) if not info.is_string else tf.string).as_datatype_enum
                for d in info.shape or ():
                    ti.tensor_shape.dim.add(size=d)
        defs.signature_def[name].CopyFrom(sd)
    return defs


def _load_tflite(file: str, path: str, version: int) -> Servable:
    from mlprod._tflite import _dequantize, interpreter, quantize_input

    interp = interpreter(file)
    lock = threading.Lock()
    listed = interp.get_signature_list()
    sigs: dict[str, Signature] = {}

    def info(name: str, d: dict) -> TensorInfo:
        # a quantized (int8/uint8 with a scale) tensor is served in real values, as the model's
        # float twin takes them: the servable quantizes inputs and dequantizes outputs itself
        dtype = np.float32 if _quantized(d) else d["dtype"]
        return TensorInfo(name, dtype, tuple(int(x) for x in d["shape_signature"]))

    if listed:
        for name in listed:
            runner = interp.get_signature_runner(name)
            ins = {k: info(k, d) for k, d in runner.get_input_details().items()}
            outs = {k: info(k, d) for k, d in runner.get_output_details().items()}
            sigs[name] = Signature(name, ins, outs)
    else:  # a model converted without signatures: one implicit signature over its tensors
        ins = {d["name"]: info(d["name"], d) for d in interp.get_input_details()}
        outs = {d["name"]: info(d["name"], d) for d in interp.get_output_details()}
        sigs[DEFAULT_SIGNATURE] = Signature(DEFAULT_SIGNATURE, ins, outs)

    def call(sig: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with lock:
            if listed:
                runner = interp.get_signature_runner(sig.name)
                ind, outd = runner.get_input_details(), runner.get_output_details()
                feed = {k: quantize_input(np.asarray(inputs[k], np.float32), ind[k]) if _quantized(ind[k])
                        else np.asarray(inputs[k], ind[k]["dtype"]) for k in sig.inputs}
                out = runner(**feed)
                return {k: _dequantize(v, outd[k]) if _quantized(outd[k]) else v for k, v in out.items()}
            for d in interp.get_input_details():
                x = np.asarray(inputs[d["name"]])
                if list(d["shape"]) != list(x.shape):
                    interp.resize_tensor_input(d["index"], list(x.shape))
            interp.allocate_tensors()
            for d in interp.get_input_details():
                x = inputs[d["name"]]
                interp.set_tensor(d["index"], quantize_input(np.asarray(x, np.float32), d) if _quantized(d)
                                  else np.asarray(x, d["dtype"]))
            interp.invoke()
            return {d["name"]: _dequantize(interp.get_tensor(d["index"]), d) if _quantized(d)
                    else interp.get_tensor(d["index"]) for d in interp.get_output_details()}

    return Servable(version, path, "tflite", sigs, call, _tflite_defs(sigs))


def _quantized(detail: dict) -> bool:
    """An integer TFLite tensor with a quantization scale (its values stand for reals)."""
    return bool(np.issubdtype(detail["dtype"], np.integer) and detail["quantization"][0])


WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP = 1000  # TF Serving's cap on warm-up records


def warm_up(sv: Servable) -> int:
    """Replay the version's warm-up requests (TF Serving's ``assets.extra/tf_serving_warmup_requests``:
    TFRecords of ``PredictionLog``, as TFX's InfraValidator writes them) before it serves.

    Returns the number replayed (at most 1,000, as TF Serving).

    Raises:
        DataError: a warm-up request fails: the version does not load (as in TF Serving).
    """
    file = os.path.join(sv.path, WARMUP_FILE)
    if not os.path.isfile(file):
        return 0
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    n = 0
    for raw in tf.data.TFRecordDataset(file).take(MAX_WARMUP).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(raw)
        kind = log.WhichOneof("log_type")
        try:
            if kind == "predict_log":
                req = log.predict_log.request
                inputs = {}
                for k, t in req.inputs.items():
                    a = tf.make_ndarray(t)
                    inputs[k] = a.astype(object) if a.dtype.kind == "S" else a
                sv.run(req.model_spec.signature_name or None, inputs)
            elif kind in ("classify_log", "regress_log", "multi_inference_log"):
                req = getattr(log, kind).request
                tasks = ([t.model_spec.signature_name for t in req.tasks] if kind == "multi_inference_log"
                         else [req.model_spec.signature_name])
                examples = examples_of_input(req.input)
                for name in tasks:
                    sig = sv.signature(name or None)
                    sv.run(sig.name, {next(iter(sig.inputs)): np.array(examples, dtype=object)})
            else:
                raise DataError(f"log type {kind!r} cannot be replayed")
        except Exception as e:  # noqa: BLE001 - any failure fails the load, named
            raise DataError(f"warm-up request {n} of {file} failed ({type(e).__name__}: {e}); fix or remove "
                            "the warm-up file, the version is not served.") from None
        n += 1
    sv.warmed_up = n
    return n


def examples_of_input(inp: Any) -> list[bytes]:
    """Serialized examples of a ``tensorflow.serving.Input`` (example_list or example_list_with_context)."""
    kind = inp.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in inp.example_list.examples]
    if kind == "example_list_with_context":
        ctx = inp.example_list_with_context.context
        out = []
        for e in inp.example_list_with_context.examples:
            merged = type(e)()
            merged.CopyFrom(ctx)
            merged.MergeFrom(e)
            out.append(merged.SerializeToString())
        return out
    raise DataError("the request's input holds no examples (set input.example_list.examples).")


def load_version(path: str, version: int | None = None) -> Servable:
    """Load one version folder (SavedModel or a folder holding one ``.tflite`` file), then replay
    its warm-up requests (:func:`warm_up`).

    Raises:
        DataError: the folder holds neither, the model cannot be loaded, or a warm-up request fails
            (message says which).
    """
    path = str(path)
    if version is None:
        base = os.path.basename(path.rstrip("/"))
        if not base.isdigit():
            raise ConfigError(f"{path} is not a numbered version folder; pass version=N.")
        version = int(base)
    if os.path.isfile(os.path.join(path, "saved_model.pb")) or os.path.isfile(os.path.join(path, "saved_model.pbtxt")):
        sv = _load_saved_model(path, version)
        warm_up(sv)
        return sv
    flats = sorted(glob.glob(os.path.join(path, "*.tflite")))
    if len(flats) == 1:
        sv = _load_tflite(flats[0], path, version)
        warm_up(sv)
        return sv
    if len(flats) > 1:
        raise DataError(f"version folder {path} holds {len(flats)} .tflite files; keep exactly one per version.")
    raise DataError(f"version folder {path} holds neither saved_model.pb nor a .tflite file; "
                    "point the server at the Pusher's base folder (its numbered subfolders are versions).")
