"""Doctest fixtures: the docstring examples in mlprod/ run in the suite (``--doctest-modules``).

Examples that take what a user already has (a trained model, data) find small real ones here:
``model`` (tf_keras, 8x8 digits, 10 classes) with ``x_train, y_train, x_test, y_test``, and
``keras_model`` (tf_keras, penguins, 3 classes) with ``df`` and ``features``. They are built
once, on the first doctest that runs, so plain test runs pay nothing.
"""
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

_CACHE: dict = {}


def _build() -> dict:
    import numpy as np
    import pandas as pd
    import tf_keras as keras
    from sklearn.datasets import load_digits

    import mlprod
    from mlprod import datasets

    d = load_digits()
    x, y = (d.data / 16).astype("float32"), d.target.astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(32, activation="relu", input_shape=(64,)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1400], y[:1400], epochs=5, verbose=0)
    df = datasets.penguins()
    features = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
    keras_model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(4,)),
                                    keras.layers.Dense(3, activation="softmax")])
    keras_model.compile("adam", "sparse_categorical_crossentropy")
    keras_model.fit(df[features].to_numpy("float32"), df["species"].to_numpy(), epochs=150, verbose=0)
    return {"mlprod": mlprod, "datasets": datasets, "np": np, "pd": pd, "model": model,
            "x_train": x[:1400], "y_train": y[:1400], "x_test": x[1400:], "y_test": y[1400:],
            "keras_model": keras_model, "df": df, "features": features}


@pytest.fixture(autouse=True)
def _doctest_fixtures(request, doctest_namespace):
    from _pytest.doctest import DoctestItem

    if isinstance(request.node, DoctestItem):
        if not _CACHE:
            _CACHE.update(_build())
        doctest_namespace.update(_CACHE)
        cwd = os.getcwd()
        tmp = request.getfixturevalue("tmp_path")
        os.chdir(tmp)  # examples that write files write them here
        yield
        os.chdir(cwd)
    else:
        yield
