"""Trainer code for the MNIST edge pipeline (referenced by module path from TFX's Trainer).

A small dense network on ``image_floats`` (784 floats in [0, 1]) -> 10 classes, tf_keras, so
tfmot can quantize and prune it afterwards.
"""
from __future__ import annotations

import tensorflow as tf
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

FEATURE, LABEL = "image_floats", "image_class"


def build_model(hidden: int = 128) -> tf.keras.Model:
    """784 -> hidden (relu) -> 10 (softmax)."""
    keras = tf.keras
    model = keras.Sequential([keras.layers.Input(shape=(784,), name=FEATURE),
                              keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Train on the ExampleGen splits and save a Keras SavedModel."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.utils import io_utils  # noqa: F401  (TFX's file plugins)

    schema = text_format.Parse(tf.io.gfile.GFile(fn_args.schema_file).read(), schema_pb2.Schema())

    def ds(files: list[str]) -> tf.data.Dataset:
        d = fn_args.data_accessor.tf_dataset_factory(
            files, tfxio.TensorFlowDatasetOptions(batch_size=32, label_key=LABEL), schema)
        return d.map(lambda f, y: (tf.reshape(f[FEATURE], [-1, 784]), y)).repeat()

    tf.keras.utils.set_random_seed(0)
    model = build_model(int(fn_args.custom_config.get("hidden", 128)) if fn_args.custom_config else 128)
    model.fit(ds(fn_args.train_files), steps_per_epoch=fn_args.train_steps, validation_data=ds(fn_args.eval_files),
              validation_steps=fn_args.eval_steps, verbose=2)
    model.save(fn_args.serving_model_dir, save_format="tf")
