"""Real datasets bundled with mlprod (no downloads at run time).

Sources and licences are in ``mlprod/datasets/data/SOURCES.md``: the files come from the
TensorFlow Extended repository (Apache 2.0), ``tfx/examples/``; Palmer penguins are CC0,
MNIST is CC BY-SA 3.0, Chicago taxi trips follow the City of Chicago's terms of use.

Example:
    >>> from mlprod import datasets
    >>> datasets.penguins().shape
    (334, 5)
    >>> datasets.path("penguin/skewed").name
    'penguins_processed.csv'
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlprod.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"

_FILES: dict[str, str] = {
    "penguin/labelled": "penguin/labelled/penguins_processed.csv",
    "penguin/skewed": "penguin/skewed/penguins_processed.csv",
    "penguin/unlabelled": "penguin/unlabelled/penguins_unlabelled.csv",
    "chicago_taxi": "chicago_taxi/data.csv",
    "chicago_taxi/schema": "chicago_taxi/user_provided_schema.pbtxt",
    "mnist": "mnist/mnist.tfrecord",
}

PENGUIN_LABEL = "species"
TAXI_LABEL = "tips"
MNIST_FEATURE, MNIST_LABEL = "image_floats", "image_class"

__all__ = ["DATA_DIR", "path", "penguins", "chicago_taxi", "mnist", "names",
           "PENGUIN_LABEL", "TAXI_LABEL", "MNIST_FEATURE", "MNIST_LABEL"]


def names() -> list[str]:
    """Names accepted by :func:`path`.

    Example:
        >>> "mnist" in names()
        True
    """
    return sorted(_FILES)


def path(name: str) -> Path:
    """Absolute path of a bundled file (its folder is what TFX's CsvExampleGen wants).

    Args:
        name: one of :func:`names`, e.g. ``"penguin/labelled"``.

    Example:
        >>> path("chicago_taxi").suffix
        '.csv'
    """
    try:
        return DATA_DIR / _FILES[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {names()}") from None


def penguins(split: str = "labelled") -> "pd.DataFrame":
    """Palmer penguins (features scaled to [0, 1], label ``species`` in 0..2).

    Args:
        split: ``"labelled"`` (334 rows), ``"skewed"`` (334 rows, TFX's skew demo: one
            ``culmen_length_mm`` is -1) or ``"unlabelled"`` (10 rows, no label).

    Example:
        >>> float(penguins("skewed")["culmen_length_mm"].min())
        -1.0
    """
    import pandas as pd

    return pd.read_csv(path(f"penguin/{split}"))


def chicago_taxi() -> "pd.DataFrame":
    """15,002 Chicago taxi trips, 17 features and the ``tips`` label.

    Example:
        >>> chicago_taxi()["payment_type"].nunique() > 3
        True
    """
    import pandas as pd

    return pd.read_csv(path("chicago_taxi"))


def mnist() -> "tuple[np.ndarray, np.ndarray]":
    """The 1,000-digit MNIST subset as ``(images [N, 784] float32 in [0, 1], labels [N] int64)``.

    Reads the bundled ``tf.Example`` TFRecord (imports TensorFlow).

    Example:
        >>> x, y = mnist()
        >>> x.shape, y.shape
        ((1000, 784), (1000,))
    """
    import numpy as np
    import tensorflow as tf

    feats = {MNIST_FEATURE: tf.io.FixedLenFeature([784], tf.float32),
             MNIST_LABEL: tf.io.FixedLenFeature([], tf.int64)}
    xs, ys = [], []
    for rec in tf.data.TFRecordDataset(str(path("mnist"))):
        ex = tf.io.parse_single_example(rec, feats)
        xs.append(ex[MNIST_FEATURE].numpy())
        ys.append(ex[MNIST_LABEL].numpy())
    return np.stack(xs).astype("float32"), np.asarray(ys, dtype="int64")
