"""TFX component: optimize Trainer's Keras model to TFLite, measure, bless and push.

How the on-device model gets its inputs: the optimized model is the Keras model itself, which
must take the (already preprocessed) feature tensor named by ``feature_key`` — e.g. MNIST's
``image_floats`` in [0, 1]. A device applies the same preprocessing before calling the
interpreter (for models behind a Transform graph, export a Keras model over the transformed
features and run the same arithmetic on the device; the Transform graph itself is TensorFlow,
not TFLite).

(No ``from __future__ import annotations`` here: TFX reads the annotations at decoration time.)

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_mnist_edge.py runs this path.)
    >>> optimizer = EdgeOptimizer(model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
    ...                           feature_key="image_floats", label_key="image_class",
    ...                           techniques="float,int8,qat,prune_int8", max_accuracy_drop=1.0,
    ...                           push_dir="/srv/models/mnist")                       # doctest: +SKIP
"""
import glob
import os
import shutil
import time

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter

from mlprod.errors import DataError


class TFLiteModels(tfx.dsl.Artifact):
    """A folder of ``<technique>.tflite`` files plus ``metrics.csv`` and ``report.html``."""

    TYPE_NAME = "mlprod.TFLiteModels"


def load_split(examples: tfx.dsl.Artifact, split: str, feature_key: str, label_key: str):  # noqa: ANN201
    """(x, y) numpy arrays of one split of an Examples artifact (gzipped tf.Example TFRecords)."""
    import numpy as np
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples.uri, f"Split-{split}", "*")))
    if not files:
        raise DataError(f"no files for split {split!r} in {examples.uri}; check the ExampleGen splits.")
    xs, ys = [], []
    for rec in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        ex = tf.train.Example.FromString(rec.numpy())
        feats = ex.features.feature
        if feature_key not in feats or label_key not in feats:
            raise DataError(f"examples lack {feature_key!r} or {label_key!r} (have {sorted(feats)}); "
                            "set feature_key/label_key.")
        xs.append(list(feats[feature_key].float_list.value))
        ys.append(feats[label_key].int64_list.value[0])
    return np.asarray(xs, np.float32), np.asarray(ys, np.int64)


@tfx.dsl.components.component
def EdgeOptimizer(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    tflite_models: OutputArtifact[TFLiteModels],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    feature_key: Parameter[str],
    label_key: Parameter[str],
    techniques: Parameter[str] = "float,dynamic,int8,qat,prune_int8",
    max_accuracy_drop: Parameter[float] = 1.0,
    push_dir: Parameter[str] = "",
    fine_tune_epochs: Parameter[int] = 1,
) -> None:
    """Produce and measure TFLite models (:func:`mlprod.optimize`); bless those within
    ``max_accuracy_drop`` points of the Keras baseline; push the smallest blessed one to
    ``push_dir/<unix time>/model.tflite``."""
    import tf_keras

    from mlprod.optimization.optimize import optimize

    keras_model = tf_keras.models.load_model(os.path.join(model.uri, "Format-Serving"), compile=True)
    x_tr, y_tr = load_split(examples, "train", feature_key, label_key)
    x_te, y_te = load_split(examples, "eval", feature_key, label_key)
    result = optimize(keras_model, (x_tr, y_tr, x_te, y_te), [t.strip() for t in techniques.split(",") if t.strip()],
                      max_drop=max_accuracy_drop, fine_tune_epochs=fine_tune_epochs, latency_samples=100)
    result.save(tflite_models.uri)
    result.save_html(os.path.join(tflite_models.uri, "report.html"))
    best = result.best()
    blessing.set_int_custom_property("blessed", int(best is not None))
    blessing.set_string_custom_property("best_technique", best or "")
    tflite_models.set_string_custom_property("best_technique", best or "")
    if best is not None:
        with open(os.path.join(blessing.uri, "BLESSED"), "w"):
            pass
    else:
        with open(os.path.join(blessing.uri, "NOT_BLESSED"), "w"):
            pass
    if best is not None and push_dir:
        target = os.path.join(push_dir, str(int(time.time())))
        tmp = target + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        shutil.copy(os.path.join(tflite_models.uri, f"{best}.tflite"), os.path.join(tmp, "model.tflite"))
        os.replace(tmp, target)
        blessing.set_string_custom_property("pushed_destination", target)
