"""Declarative search spaces on ``keras_tuner.HyperParameters`` that build either backend.

keras-tuner 1.4.8 searches with Keras 3 models (it rejects tf_keras ones, keras-tuner#1039),
while tensorflow-model-optimization needs tf_keras (Keras 2). A space here declares its
hyperparameters once and builds the *same* architecture with either module, so the search runs
on Keras 3 and the chosen model is rebuilt in tf_keras (weights copied) for QAT and TFLite.

Example:
    >>> import keras_tuner as kt
    >>> space = DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 2), width=(8, 32, 8))
    >>> hp = kt.HyperParameters()
    >>> model = space.build(hp, backend="tf_keras")      # default values
    >>> model.count_params() > 0
    True
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from mlprod.errors import ConfigError


def backend_module(backend: str) -> Any:
    """``keras`` (Keras 3, for keras-tuner) or ``tf_keras`` (Keras 2, for tfmot)."""
    if backend == "keras":
        import keras

        return keras
    if backend == "tf_keras":
        import tf_keras

        return tf_keras
    raise ConfigError(f"backend={backend!r}; use 'keras' (search) or 'tf_keras' (QAT/TFLite).")


def _range(owner: str, name: str, r: tuple, n: int = 2) -> None:
    if not isinstance(r, (tuple, list)) or not all(isinstance(v, numbers.Real) for v in r):
        raise ConfigError(f"{owner}: {name}={r!r} must be a tuple of numbers, (min, max)"
                          f"{', step' if n == 3 else ''}.")
    if len(r) < n or r[0] > r[1]:
        raise ConfigError(f"{owner}: {name}={r} is empty or contradictory; give (min, max) with min <= max.")


def _choices(owner: str, name: str, c: tuple) -> None:
    if not isinstance(c, (tuple, list)):
        raise ConfigError(f"{owner}: {name}={c!r} must be a tuple of choices, e.g. ({c!r},).")
    if not c:
        raise ConfigError(f"{owner}: {name} has no choices; give at least one.")


OPTIMIZERS = ("adam", "sgd", "rmsprop")
POOLING = ("max", "avg")


def _known(owner: str, name: str, c: tuple, known: tuple[str, ...]) -> None:
    unknown = [v for v in c if v not in known]
    if unknown:
        raise ConfigError(f"{owner}: {name} has unknown choice(s) {unknown}; use some of {known}.")


def _optimizer(k: Any, name: str, lr: float) -> Any:
    return {"adam": k.optimizers.Adam, "sgd": k.optimizers.SGD, "rmsprop": k.optimizers.RMSprop}[name](learning_rate=lr)


@dataclass(frozen=True)
class DenseSpace:
    """Dense networks for tabular data.

    Attributes:
        input_shape: shape of one example, e.g. ``(4,)``.
        num_classes: output classes (softmax); 1 means one sigmoid unit (binary).
        depth: (min, max) hidden layers. width: (min, max, step) units per layer.
        activations, optimizers: choices. dropout: (min, max). batch_norm: choices of bool.
        learning_rate: (min, max), sampled log-uniformly.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    depth: tuple[int, int] = (1, 3)
    width: tuple[int, int, int] = (16, 128, 16)
    activations: tuple[str, ...] = ("relu", "tanh")
    dropout: tuple[float, float] = (0.0, 0.3)
    batch_norm: tuple[bool, ...] = (False, True)
    learning_rate: tuple[float, float] = (1e-4, 1e-2)
    optimizers: tuple[str, ...] = ("adam", "sgd")

    def __post_init__(self) -> None:
        o = "DenseSpace"
        _range(o, "depth", self.depth)
        _range(o, "width", self.width, 3)
        _range(o, "dropout", self.dropout)
        _range(o, "learning_rate", self.learning_rate)
        for name in ("activations", "batch_norm", "optimizers"):
            _choices(o, name, getattr(self, name))
        _known(o, "optimizers", self.optimizers, OPTIMIZERS)
        if self.num_classes < 1 or self.depth[0] < 0 or self.width[0] < 1:
            raise ConfigError(f"{o}: num_classes, depth and width must be positive.")

    def declare(self, hp: Any) -> dict[str, Any]:
        """Declare the hyperparameters on ``hp`` and return the chosen values."""
        v = {"depth": hp.Int("depth", *self.depth)}
        for i in range(self.depth[1]):
            with hp.conditional_scope("depth", list(range(i + 1, self.depth[1] + 1))):
                v[f"units_{i}"] = hp.Int(f"units_{i}", *self.width[:2], step=self.width[2])
        v["activation"] = hp.Choice("activation", list(self.activations))
        v["dropout"] = hp.Float("dropout", *self.dropout, step=0.1) if self.dropout[1] > self.dropout[0] else \
            hp.Fixed("dropout", self.dropout[0])
        v["batch_norm"] = hp.Choice("batch_norm", list(self.batch_norm))
        v["learning_rate"] = hp.Float("learning_rate", *self.learning_rate, sampling="log")
        v["optimizer"] = hp.Choice("optimizer", list(self.optimizers))
        return v

    def build(self, hp: Any, backend: str = "keras") -> Any:
        """A compiled model of the chosen architecture in Keras 3 (``keras``) or Keras 2 (``tf_keras``)."""
        k = backend_module(backend)
        v = self.declare(hp)
        layers = [k.layers.Input(shape=tuple(self.input_shape))]
        for i in range(v["depth"]):
            layers.append(k.layers.Dense(v[f"units_{i}"], activation=v["activation"]))
            if v["batch_norm"]:
                layers.append(k.layers.BatchNormalization())
            if v["dropout"] > 0:
                layers.append(k.layers.Dropout(v["dropout"]))
        binary = self.num_classes == 1
        layers.append(k.layers.Dense(self.num_classes, activation="sigmoid" if binary else "softmax"))
        model = k.Sequential(layers)
        model.compile(optimizer=_optimizer(k, v["optimizer"], v["learning_rate"]),
                      loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model


@dataclass(frozen=True)
class ConvSpace:
    """Small convolutional networks for images.

    Attributes:
        input_shape: e.g. ``(28, 28, 1)``; flat inputs (e.g. 784) are reshaped when ``flat_input``.
        blocks: (min, max) conv blocks. filters: (min, max, step). kernel_sizes, pooling: choices.
        dense: (min, max, step) units of the head.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    blocks: tuple[int, int] = (1, 2)
    filters: tuple[int, int, int] = (8, 32, 8)
    kernel_sizes: tuple[int, ...] = (3, 5)
    pooling: tuple[str, ...] = ("max", "avg")
    dense: tuple[int, int, int] = (16, 64, 16)
    learning_rate: tuple[float, float] = (1e-4, 1e-2)
    flat_input: int | None = None

    def __post_init__(self) -> None:
        o = "ConvSpace"
        _range(o, "blocks", self.blocks)
        _range(o, "filters", self.filters, 3)
        _range(o, "dense", self.dense, 3)
        _range(o, "learning_rate", self.learning_rate)
        _choices(o, "kernel_sizes", self.kernel_sizes)
        _choices(o, "pooling", self.pooling)
        _known(o, "pooling", self.pooling, POOLING)
        if len(self.input_shape) != 3:
            raise ConfigError(f"{o}: input_shape must be (height, width, channels), got {self.input_shape}.")

    def build(self, hp: Any, backend: str = "keras") -> Any:
        """A compiled CNN in Keras 3 or tf_keras."""
        k = backend_module(backend)
        n = hp.Int("blocks", *self.blocks)
        filters = hp.Int("filters", *self.filters[:2], step=self.filters[2])
        kernel = hp.Choice("kernel_size", list(self.kernel_sizes))
        pool = hp.Choice("pooling", list(self.pooling))
        dense = hp.Int("dense", *self.dense[:2], step=self.dense[2])
        lr = hp.Float("learning_rate", *self.learning_rate, sampling="log")
        shape = (self.flat_input,) if self.flat_input else tuple(self.input_shape)
        layers = [k.layers.Input(shape=shape)]
        if self.flat_input:
            layers.append(k.layers.Reshape(tuple(self.input_shape)))
        for i in range(n):
            layers.append(k.layers.Conv2D(filters * (2 ** i), kernel, padding="same", activation="relu"))
            layers.append(k.layers.MaxPooling2D() if pool == "max" else k.layers.AveragePooling2D())
        layers += [k.layers.Flatten(), k.layers.Dense(dense, activation="relu"),
                   k.layers.Dense(self.num_classes, activation="softmax")]
        model = k.Sequential(layers)
        model.compile(optimizer=k.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model
