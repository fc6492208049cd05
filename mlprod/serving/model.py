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
        sigs[name] = Signature(name, ins, outs)
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
    if listed:
        for name in listed:
            runner = interp.get_signature_runner(name)
            ins = {k: TensorInfo(k, d["dtype"], tuple(int(x) for x in d["shape_signature"]))
                   for k, d in runner.get_input_details().items()}
            outs = {k: TensorInfo(k, d["dtype"], tuple(int(x) for x in d["shape_signature"]))
                    for k, d in runner.get_output_details().items()}
            sigs[name] = Signature(name, ins, outs)
    else:  # a model converted without signatures: one implicit signature over its tensors
        ins = {d["name"]: TensorInfo(d["name"], d["dtype"], tuple(int(x) for x in d["shape_signature"]))
               for d in interp.get_input_details()}
        outs = {d["name"]: TensorInfo(d["name"], d["dtype"], tuple(int(x) for x in d["shape_signature"]))
                for d in interp.get_output_details()}
        sigs[DEFAULT_SIGNATURE] = Signature(DEFAULT_SIGNATURE, ins, outs)

    def call(sig: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with lock:
            if listed:
                runner = interp.get_signature_runner(sig.name)
                ind, outd = runner.get_input_details(), runner.get_output_details()
                feed = {k: quantize_input(np.asarray(inputs[k], np.float32), ind[k])
                        if np.issubdtype(ind[k]["dtype"], np.integer) and ind[k]["quantization"][0]
                        else np.asarray(inputs[k], ind[k]["dtype"]) for k in sig.inputs}
                out = runner(**feed)
                return {k: _dequantize(v, outd[k]) if np.issubdtype(outd[k]["dtype"], np.integer) else v
                        for k, v in out.items()}
            for d in interp.get_input_details():
                x = np.asarray(inputs[d["name"]])
                if list(d["shape"]) != list(x.shape):
                    interp.resize_tensor_input(d["index"], list(x.shape))
            interp.allocate_tensors()
            for d in interp.get_input_details():
                interp.set_tensor(d["index"], quantize_input(np.asarray(inputs[d["name"]], np.float32), d))
            interp.invoke()
            return {d["name"]: _dequantize(interp.get_tensor(d["index"]), d) for d in interp.get_output_details()}

    return Servable(version, path, "tflite", sigs, call, _tflite_defs(sigs))


def load_version(path: str, version: int | None = None) -> Servable:
    """Load one version folder (SavedModel or a folder holding one ``.tflite`` file).

    Raises:
        DataError: the folder holds neither, or the model cannot be loaded (message says which).
    """
    path = str(path)
    if version is None:
        base = os.path.basename(path.rstrip("/"))
        if not base.isdigit():
            raise ConfigError(f"{path} is not a numbered version folder; pass version=N.")
        version = int(base)
    if os.path.isfile(os.path.join(path, "saved_model.pb")) or os.path.isfile(os.path.join(path, "saved_model.pbtxt")):
        return _load_saved_model(path, version)
    flats = sorted(glob.glob(os.path.join(path, "*.tflite")))
    if len(flats) == 1:
        return _load_tflite(flats[0], path, version)
    if len(flats) > 1:
        raise DataError(f"version folder {path} holds {len(flats)} .tflite files; keep exactly one per version.")
    raise DataError(f"version folder {path} holds neither saved_model.pb nor a .tflite file; "
                    "point the server at the Pusher's base folder (its numbered subfolders are versions).")
