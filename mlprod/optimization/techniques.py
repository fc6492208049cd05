"""Model optimization techniques (tensorflow-model-optimization 0.8.1, tf_keras) and TFLite export.

Each technique takes a trained tf_keras model (never modified: it is cloned) and returns a
``.tflite`` flatbuffer (bytes).

Example:
    >>> from mlprod.optimization.techniques import to_tflite
    >>> flat = to_tflite(model, quantize="int8", representative=x_train[:100])
    >>> flat[4:8]   # a TFLite flatbuffer
    b'TFL3'
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mlprod.errors import ConfigError, DataError

QUANTIZE = (None, "dynamic", "float16", "int8", "int8_float_io")


def keras() -> Any:
    """The Keras 2 module (tf_keras) tfmot works with."""
    import tf_keras

    return tf_keras


def check_model(model: Any) -> None:
    """Raise unless ``model`` is a tf_keras model (what tfmot supports)."""
    k = keras()
    if not isinstance(model, k.Model):
        kind = type(model).__module__.split(".")[0]
        hint = (" It is a Keras 3 model: rebuild it with tf_keras (mlprod.tuning search spaces build either)."
                if kind == "keras" else "")
        raise ConfigError(f"optimize() needs a tf_keras model, got {type(model).__name__} from {kind!r}.{hint}")


def check_data(model: Any, x: np.ndarray, name: str = "data") -> np.ndarray:
    """Representative/calibration data must match the model's input shape and be numeric."""
    x = np.asarray(x)
    if x.size == 0:
        raise DataError(f"{name} is empty; pass some examples.")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{name} has dtype {x.dtype}; pass numeric arrays (float32).")
    want = tuple(model.input_shape[1:])
    if tuple(x.shape[1:]) != want:
        raise DataError(f"{name} rows have shape {tuple(x.shape[1:])}, the model takes {want}; reshape the data.")
    return x.astype(np.float32)


def clone(model: Any) -> Any:
    """A fresh copy (architecture + weights) so techniques never touch the user's model."""
    copy = keras().models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def to_tflite(model: Any, *, quantize: str | None = None, representative: np.ndarray | None = None) -> bytes:
    """Convert to TFLite: float (``None``), ``dynamic`` range, ``float16``, full ``int8`` (int8 I/O)
    or ``int8_float_io`` (int8 inside, float inputs/outputs). Full int8 needs ``representative``.
    """
    import tensorflow as tf

    if quantize not in QUANTIZE:
        raise ConfigError(f"quantize={quantize!r}; choose one of {QUANTIZE}.")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if quantize in ("int8", "int8_float_io"):
        if representative is None:
            raise DataError("full-integer quantization needs representative examples (a few hundred inputs).")
        rep = np.asarray(representative, np.float32)

        def gen() -> Any:
            for row in rep[:300]:
                yield [row[None, ...]]

        conv.representative_dataset = gen
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if quantize == "int8":
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv.convert()


def _compile_like(model: Any, original: Any, lr: float) -> None:
    loss = getattr(original, "loss", None) or "sparse_categorical_crossentropy"
    model.compile(optimizer=keras().optimizers.Adam(lr), loss=loss, metrics=["accuracy"])


def qat(model: Any, x: np.ndarray, y: np.ndarray, *, epochs: int = 2, lr: float = 1e-4,
        notes: list[str] | None = None) -> Any:
    """Quantization-aware training: ``quantize_model`` (per-layer annotation where some layers are
    unsupported, named in ``notes``) and a short fine-tune. Returns the QAT Keras model."""
    import tensorflow_model_optimization as tfmot

    base = clone(model)
    try:
        q = tfmot.quantization.keras.quantize_model(base)
    except (RuntimeError, ValueError) as e:
        supported = (keras().layers.Dense, keras().layers.Conv2D, keras().layers.DepthwiseConv2D)
        skipped = [layer.name for layer in base.layers if not isinstance(layer, supported)
                   and not isinstance(layer, keras().layers.InputLayer)]
        if notes is not None:
            notes.append(f"QAT fell back to per-layer annotation ({str(e).splitlines()[0][:80]}); "
                         f"kept in float: {skipped}")

        def annotate(layer: Any) -> Any:
            return tfmot.quantization.keras.quantize_annotate_layer(layer) if isinstance(layer, supported) else layer

        annotated = keras().models.clone_model(base, clone_function=annotate)
        annotated.set_weights(base.get_weights())
        q = tfmot.quantization.keras.quantize_apply(annotated)
    _compile_like(q, model, lr)
    q.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return q


def prune(model: Any, x: np.ndarray, y: np.ndarray, *, sparsity: float = 0.8, schedule: str = "polynomial",
          epochs: int = 2, lr: float = 1e-3, strip: bool = True) -> Any:
    """Magnitude pruning to ``sparsity`` with a ``constant`` or ``polynomial`` decay schedule.

    Returns the stripped model (``strip=False`` keeps the pruning wrappers, for prune -> QAT).
    """
    import tensorflow_model_optimization as tfmot

    if not 0.0 < sparsity < 1.0:
        raise ConfigError(f"sparsity={sparsity} must be in (0, 1), e.g. 0.8 for 80% zeros.")
    steps = max(1, int(np.ceil(len(x) / 32)) * epochs)
    sched = tfmot.sparsity.keras
    if schedule == "constant":
        s = sched.ConstantSparsity(sparsity, begin_step=0, frequency=max(1, steps // 10))
    elif schedule == "polynomial":
        s = sched.PolynomialDecay(0.0, sparsity, begin_step=0, end_step=max(1, int(steps * 0.8)),
                                  frequency=max(1, steps // 10))
    else:
        raise ConfigError(f"schedule={schedule!r}; use 'constant' or 'polynomial'.")
    pruned = sched.prune_low_magnitude(clone(model), pruning_schedule=s)
    _compile_like(pruned, model, lr)
    pruned.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[sched.UpdatePruningStep()])
    return sched.strip_pruning(pruned) if strip else pruned


def cluster(model: Any, x: np.ndarray, y: np.ndarray, *, clusters: int = 16, epochs: int = 1,
            lr: float = 1e-4) -> Any:
    """Weight clustering to ``clusters`` centroids per layer, fine-tuned and stripped."""
    import tensorflow_model_optimization as tfmot

    if clusters < 2:
        raise ConfigError("clusters must be >= 2.")
    cl = tfmot.clustering.keras
    c = cl.cluster_weights(clone(model), number_of_clusters=clusters,
                           cluster_centroids_init=cl.CentroidInitialization.KMEANS_PLUS_PLUS)
    _compile_like(c, model, lr)
    c.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return cl.strip_clustering(c)


def prune_qat(model: Any, x: np.ndarray, y: np.ndarray, *, sparsity: float = 0.8, epochs: int = 2,
              lr: float = 1e-4) -> Any:
    """Collaborative optimization: prune, then sparsity-preserving QAT (keeps the zeros through QAT)."""
    import tensorflow_model_optimization as tfmot

    pruned = prune(model, x, y, sparsity=sparsity, epochs=epochs, lr=lr, strip=True)
    annotated = tfmot.quantization.keras.quantize_annotate_model(pruned)
    scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    q = tfmot.quantization.keras.quantize_apply(annotated, scheme)
    _compile_like(q, model, lr)
    q.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return q


# techniques whose TFLite model quantizes activations, the input tensor included
QUANTIZED_INPUT = ("int8", "int8_float_io", "prune_int8", "qat", "prune_qat")
# a feature whose range is this many times smaller than the widest one gets under ~8 of int8's 256 levels
RANGE_RATIO = 30.0


def input_levels(x: np.ndarray, rows: int = 300) -> np.ndarray | None:
    """How many of int8's 256 levels each input column spans when the input tensor is quantized
    with one scale over its calibration range (what full-integer TFLite does), on the first
    ``rows`` rows (the converter's calibration set). None for inputs that are not a row of columns.

    Example:
        >>> input_levels(np.array([[0.0, 2700.0], [1.0, 6300.0]])).round(2).tolist()
        [0.04, 145.71]
    """
    x = np.asarray(x, dtype=np.float64)[:rows]
    if x.ndim != 2 or not len(x):
        return None
    lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    span = max(float(hi.max()), 0.0) - min(float(lo.min()), 0.0)  # TFLite's range always holds 0
    return (hi - lo) / span * 255 if span > 0 else None


def unscaled_input_note(x: np.ndarray, rows: int = 300) -> str | None:
    """Why full-integer quantization loses accuracy on ``x``, when its columns' ranges differ by
    more than :data:`RANGE_RATIO` times (unscaled features): the widest column dominates the one
    input scale and the narrow ones round to a few levels. None when the columns are comparable.

    Example:
        >>> unscaled_input_note(np.array([[13.1, 2700.0], [21.5, 6300.0]]))[:61]
        'inputs are unscaled: int8 quantizes the input tensor with one'
    """
    levels = input_levels(x, rows)
    if levels is None:
        return None
    varying = np.flatnonzero(levels > 0)
    if varying.size < 2 or levels[varying].max() < RANGE_RATIO * levels[varying].min():
        return None
    x = np.asarray(x, dtype=np.float64)[:rows]
    lo, hi = x.min(axis=0), x.max(axis=0)
    wide = int(np.argmax(levels))
    narrow = [int(i) for i in varying[np.argsort(levels[varying])] if levels[i] * RANGE_RATIO <= levels[wide]][:4]
    crushed = ", ".join(f"column {i} ({lo[i]:.3g}..{hi[i]:.3g}) {'spans ' if not k else ''}{levels[i]:.1f}"
                        for k, i in enumerate(narrow))
    return (f"inputs are unscaled: int8 quantizes the input tensor with one scale over its calibration range "
            f"[{min(lo.min(), 0):.3g}, {max(hi.max(), 0):.3g}], which column {wide} ({lo[wide]:.3g}..{hi[wide]:.3g}) "
            f"dominates: of its 256 levels, {crushed}; standardize the inputs before they reach the "
            "model (e.g. z-scores in preprocessing: a Normalization layer inside the model comes after the input "
            "is quantized), or use dynamic/float16, which keep activations in float")


def sparsity_of(model: Any) -> float:
    """Share of exact zeros among the kernels (weights of rank >= 2)."""
    ws = [w for w in model.get_weights() if w.ndim >= 2]
    total = sum(w.size for w in ws)
    return float(sum((w == 0).sum() for w in ws) / total) if total else 0.0
