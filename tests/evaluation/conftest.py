"""Tiny real models (seconds to train) and their exports, shared by the evaluation tests."""
import numpy as np
import pytest

from mlprod import datasets

PENGUIN_FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
TAXI_FEATURES = ["trip_miles", "fare", "trip_seconds", "trip_start_hour"]


def _fit(x, y, units, loss, epochs, seed=0):
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Normalization(input_shape=(x.shape[1],)),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(units, activation="softmax" if units > 1 else "sigmoid")])
    model.layers[0].adapt(x)
    model.compile("adam", loss)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="session")
def penguin_model():
    df = datasets.penguins()
    return _fit(df[PENGUIN_FEATURES].to_numpy("float32"), df["species"].to_numpy(), 3,
                "sparse_categorical_crossentropy", 40)


@pytest.fixture(scope="session")
def taxi_data():
    df = datasets.chicago_taxi().sample(4000, random_state=0).reset_index(drop=True)
    df = df.dropna(subset=TAXI_FEATURES).reset_index(drop=True)
    df["big_tipper"] = (df["tips"] > 0.2 * df["fare"]).astype("int64")
    return df


@pytest.fixture(scope="session")
def taxi_model(taxi_data):
    return _fit(taxi_data[TAXI_FEATURES].to_numpy("float32"), taxi_data["big_tipper"].to_numpy(), 1,
                "binary_crossentropy", 5)


def export_raw_example_model(model, features, path):
    """SavedModel whose serving_default parses serialized tf.Examples (what TFX's Trainer exports)."""
    import tensorflow as tf

    spec = {f: tf.io.FixedLenFeature([], tf.float32, default_value=0.0) for f in features}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        x = tf.stack([parsed[f] for f in features], axis=1)
        return {"outputs": model(x)}

    model.save(str(path), save_format="tf", signatures={"serving_default": serve})
    return str(path)


@pytest.fixture(scope="session")
def penguin_float_df():
    df = datasets.penguins()
    return df.astype({f: "float32" for f in PENGUIN_FEATURES})


def np_accuracy(probs, labels):
    return float(np.mean(np.argmax(probs, axis=1) == labels))
