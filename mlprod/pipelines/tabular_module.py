"""Transform and Trainer code for the tabular pipeline, referenced by module path.

TFX imports these by name (``preprocessing_fn='mlprod.pipelines.tabular_module.preprocessing_fn'``,
``run_fn='...run_fn'``), so no module file is copied or packaged. ``custom_config`` carries the
label, the number of classes and the model shape.

The exported model's ``serving_default`` signature takes serialized raw ``tf.Example``s, applies
the Transform graph and returns class probabilities: one graph for training and serving.
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

BATCH_SIZE = 32


def _dense(x: Any) -> tf.Tensor:
    """Densify an optional (sparse) feature to shape [batch]; missing values become 0 / ''."""
    if isinstance(x, tf.SparseTensor):
        default = "" if x.dtype == tf.string else tf.cast(0, x.dtype)
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
    return tf.reshape(x, [-1])


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, tf.Tensor]:
    """Z-score numeric features, vocabulary-encode string features, pass the label through.

    Features come out as ``[batch, 1]`` float32, the label as ``[batch]`` int64.
    """
    label = custom_config["label"]
    out: dict[str, tf.Tensor] = {}
    for name, value in inputs.items():
        x = _dense(value)
        if name == label:
            out[name] = tf.cast(x, tf.int64)
        elif x.dtype == tf.string:
            ids = tft.compute_and_apply_vocabulary(x, num_oov_buckets=1)
            out[name] = tf.reshape(tf.cast(ids, tf.float32), [-1, 1])
        else:
            out[name] = tf.reshape(tft.scale_to_z_score(tf.cast(x, tf.float32)), [-1, 1])
    return out


def _dataset(files: list[str], data_accessor: Any, tf_transform_output: Any, label: str,
             batch_size: int) -> tf.data.Dataset:
    return data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=label),
        tf_transform_output.transformed_metadata.schema).repeat()


def build_model(feature_names: list[str], num_classes: int, hidden_units: list[int],
                learning_rate: float) -> tf.keras.Model:
    """A small dense classifier over scalar transformed features (tf_keras, QAT-ready)."""
    keras = tf.keras
    inputs = [keras.layers.Input(shape=(1,), name=n) for n in feature_names]
    d = keras.layers.concatenate(inputs) if len(inputs) > 1 else inputs[0]
    for units in hidden_units:
        d = keras.layers.Dense(units, activation="relu")(d)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(d)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy",
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


def _serving_fn(model: tf.keras.Model, tf_transform_output: Any, label: str) -> Any:
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = {k: v for k, v in tf_transform_output.raw_feature_spec().items() if k != label}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        features = tf.io.parse_example(serialized, raw_spec)
        transformed = model.tft_layer(features)
        return {"outputs": model(transformed)}

    return serve


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Train the classifier on transformed examples and export it with a raw-example signature."""
    cfg = fn_args.custom_config
    label = cfg["label"]
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    features = sorted(k for k in tf_transform_output.transformed_feature_spec() if k != label)
    train = _dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, label, BATCH_SIZE)
    evals = _dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, label, BATCH_SIZE)
    tf.keras.utils.set_random_seed(cfg.get("seed", 0))
    model = build_model(features, int(cfg["num_classes"]), list(cfg["hidden_units"]),
                        float(cfg["learning_rate"]))
    model.fit(train, steps_per_epoch=fn_args.train_steps, validation_data=evals,
              validation_steps=fn_args.eval_steps, verbose=2)
    signatures = {"serving_default": _serving_fn(model, tf_transform_output, label)}
    model.save(fn_args.serving_model_dir, save_format="tf", signatures=signatures)
