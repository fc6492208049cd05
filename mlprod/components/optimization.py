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
    ...                           techniques=["float", "int8", "qat", "prune_int8"], max_accuracy_drop=0.01,
    ...                           model_dir="/srv/models/mnist")                      # doctest: +SKIP
"""
import glob
import json
import os
import shutil
import time
from typing import Any

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter

from mlprod._compat import drop_as_fraction, renamed
from mlprod.errors import DataError
from mlprod.optimization.optimize import OPTIMIZE_PARAMS, technique_names
from mlprod.params import check_params

#: EdgeOptimizer's default techniques
DEFAULT_TECHNIQUES = ("float", "dynamic", "int8", "qat", "prune_int8")


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
def _EdgeOptimizerComponent(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    tflite_models: OutputArtifact[TFLiteModels],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    feature_key: Parameter[str],
    label_key: Parameter[str],
    techniques: Parameter[str] = "float,dynamic,int8,qat,prune_int8",
    max_accuracy_drop: Parameter[float] = 0.01,
    model_dir: Parameter[str] = "",
    fine_tune_epochs: Parameter[int] = 1,
) -> None:
    """The executor of :class:`EdgeOptimizer` (``techniques``: a JSON list or comma-separated names)."""
    import tf_keras

    from mlprod.optimization.optimize import optimize

    keras_model = tf_keras.models.load_model(os.path.join(model.uri, "Format-Serving"), compile=True)
    x_tr, y_tr = load_split(examples, "train", feature_key, label_key)
    x_te, y_te = load_split(examples, "eval", feature_key, label_key)
    result = optimize(keras_model, (x_tr, y_tr, x_te, y_te), technique_names(techniques),
                      max_accuracy_drop=drop_as_fraction("EdgeOptimizer", max_accuracy_drop),
                      fine_tune_epochs=fine_tune_epochs, latency_samples=100)
    result.save(tflite_models.uri)  # the models, metrics.csv and report.html
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
    if best is not None and model_dir:
        target = os.path.join(model_dir, str(int(time.time())))
        tmp = target + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        shutil.copy(os.path.join(tflite_models.uri, f"{best}.tflite"), os.path.join(tmp, "model.tflite"))
        os.replace(tmp, target)
        blessing.set_string_custom_property("pushed_destination", target)


class EdgeOptimizer(_EdgeOptimizerComponent):  # type: ignore[valid-type,misc]  # a class made by @component
    """Produce and measure TFLite models (:func:`mlprod.optimize`); bless those within
    ``max_accuracy_drop`` (a fraction, 0.01 = one accuracy point) of the Keras baseline; push the
    smallest blessed one to ``model_dir/<unix time>/model.tflite``.

    Args:
        model: Trainer's model (a tf_keras SavedModel under ``Format-Serving``).
        examples: ExampleGen's examples (``train`` split: fine-tuning and calibration; ``eval``:
            the measurements).
        feature_key: the float feature the model takes; label_key: the integer class label.
        techniques: a list of :data:`mlprod.optimization.TECHNIQUES` (stored as a JSON string: TFX
            parameters cannot hold lists) or, as before, a comma-separated string.
        max_accuracy_drop: a fraction in [0, 1]. A value above 1 can only be the old unit, points:
            it is divided by 100 with a ``DeprecationWarning`` (for one release).
        model_dir: the Pusher folder of numbered versions (``push_dir=``: its deprecated old
            name); empty: bless but do not push.
        fine_tune_epochs: epochs for QAT, pruning and clustering.

    Raises:
        ConfigError: an unknown technique or an argument outside :data:`OPTIMIZE_PARAMS` (when
            the pipeline is built, not when it runs).

    Example:
        (Needs a pipeline; tests/pipelines/test_mnist_edge.py runs this path.)
        >>> EdgeOptimizer(model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
        ...               feature_key="image_floats", label_key="image_class", techniques=["float", "int8"],
        ...               max_accuracy_drop=0.01, model_dir="/srv/models/mnist")          # doctest: +SKIP
    """

    @renamed(push_dir="model_dir")
    def __init__(self, *, model: Any, examples: Any, feature_key: str, label_key: str,
                 techniques: list[str] | tuple[str, ...] | str = DEFAULT_TECHNIQUES,
                 max_accuracy_drop: float = 0.01, model_dir: str | None = "", fine_tune_epochs: int = 1) -> None:
        names = technique_names(techniques)  # an unknown name fails here, not in the run
        encoded = techniques if isinstance(techniques, str) else json.dumps(names)
        max_accuracy_drop = drop_as_fraction("EdgeOptimizer", max_accuracy_drop, stacklevel=4)
        check_params("EdgeOptimizer", {"max_accuracy_drop": max_accuracy_drop, "fine_tune_epochs": fine_tune_epochs},
                     OPTIMIZE_PARAMS)
        super().__init__(model=model, examples=examples, feature_key=feature_key, label_key=label_key,
                         techniques=encoded, max_accuracy_drop=float(max_accuracy_drop),
                         model_dir=str(model_dir or ""), fine_tune_epochs=fine_tune_epochs)
