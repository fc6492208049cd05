"""Trainer code for the tabular pipelines, referenced by module path.

TFX imports it by name (``run_fn='mlprod.pipelines.tabular_module.run_fn'``), so no module file
is copied or packaged. ``custom_config`` carries the label, the number of classes and the model
shape. Transform is driven by an :class:`mlprod.preprocessing.FeatureSpec`
(:mod:`mlprod.preprocessing.tfx_fn`).

The exported model's ``serving_default`` signature takes serialized raw ``tf.Example``s, applies
the Transform graph and returns class probabilities: one graph for training and serving.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

BATCH_SIZE = 32


def _dataset(files: list[str], data_accessor: Any, tf_transform_output: Any, label: str,
             batch_size: int, seed: int | None = None) -> tf.data.Dataset:
    return data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=label, shuffle_seed=seed),
        tf_transform_output.transformed_metadata.schema).repeat()


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and TensorFlow and make TF's ops deterministic for the block (restored after).

    On CPU the dense model's ops have deterministic kernels, so this costs little; the run
    before it differed from run to run through the unseeded input shuffle and weight init.
    """
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    tf.keras.utils.set_random_seed(seed)
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not was:
            tf_config.disable_op_determinism()


def model_inputs(features: dict[str, tf.Tensor], names: list[str]) -> dict[str, tf.Tensor]:
    """Transformed features as float32 ``[batch, k]`` tensors (scalars become ``[batch, 1]``)."""
    out = {}
    for n in names:
        x = tf.cast(features[n], tf.float32)
        out[n] = tf.reshape(x, [-1, 1]) if x.shape.rank == 1 else x
    return out


def build_model(widths: dict[str, int], num_classes: int, hidden_units: list[int],
                learning_rate: float) -> tf.keras.Model:
    """A small dense classifier over transformed features of the given widths (tf_keras, QAT-ready)."""
    keras = tf.keras
    inputs = [keras.layers.Input(shape=(w,), name=n) for n, w in widths.items()]
    d = keras.layers.concatenate(inputs) if len(inputs) > 1 else inputs[0]
    for units in hidden_units:
        d = keras.layers.Dense(units, activation="relu")(d)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(d)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy",
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


def tuned_model(widths: dict[str, int], hparams: Any, cfg: dict[str, Any]) -> tf.keras.Model:
    """Named feature inputs -> concatenation -> the tuned architecture (see mlprod.tuning.tfx_fn)."""
    from mlprod.tuning.tfx_fn import build_from_hyperparameters

    keras = tf.keras
    body = build_from_hyperparameters(hparams, cfg, sum(widths.values()))
    inputs = [keras.layers.Input(shape=(w,), name=n) for n, w in widths.items()]
    x = keras.layers.concatenate(inputs) if len(inputs) > 1 else inputs[0]
    model = keras.Model(inputs=inputs, outputs=body(x))
    model.compile(optimizer=body.optimizer, loss=body.loss, metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


def _serving_fn(model: tf.keras.Model, tf_transform_output: Any, label: str) -> Any:
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = {k: v for k, v in tf_transform_output.raw_feature_spec().items() if k != label}

    names = list(model.input_names)

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        features = tf.io.parse_example(serialized, raw_spec)
        transformed = model.tft_layer(features)
        return {"outputs": model(model_inputs(transformed, names))}

    return serve


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Train the classifier on transformed examples and export it with a raw-example signature."""
    cfg = fn_args.custom_config
    label = cfg["label"]
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    spec = tf_transform_output.transformed_feature_spec()
    widths = {k: int(v.shape[0]) if len(v.shape) else 1 for k, v in sorted(spec.items()) if k != label}
    names = list(widths)

    def to_inputs(features: dict, y: tf.Tensor) -> tuple:
        return model_inputs(features, names), y

    seed = int(cfg.get("seed", 0))
    with deterministic(seed):
        train = _dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, label, BATCH_SIZE,
                         seed).map(to_inputs)
        evals = _dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, label, BATCH_SIZE,
                         seed).map(to_inputs)
        if fn_args.hyperparameters:  # the Tuner's choice, rebuilt in tf_keras (QAT-ready)
            model = tuned_model(widths, fn_args.hyperparameters, cfg)
        else:
            model = build_model(widths, int(cfg["num_classes"]), list(cfg["hidden_units"]),
                                float(cfg["learning_rate"]))
        model.fit(train, steps_per_epoch=fn_args.train_steps, validation_data=evals,
                  validation_steps=fn_args.eval_steps, verbose=2)
    signatures = {"serving_default": _serving_fn(model, tf_transform_output, label)}
    model.save(fn_args.serving_model_dir, save_format="tf", signatures=signatures)
