"""Weight inheritance (network morphism): a child architecture starts from its parent's trained weights.

Layers that carry weights are compared in order from the input end and, independently, from the
output end; a layer is inherited when it has the same kind (class) and the same weight shapes as
its counterpart. So a mutation of the learning rate, dropout or activation inherits every layer, a
wider or narrower hidden layer inherits everything before it and the layers after it whose shapes
still match, and a deeper or shallower network inherits its first layers and its output layer.

Example:
    >>> import tf_keras as k
    >>> parent = k.Sequential([k.layers.Input((4,)), k.layers.Dense(8), k.layers.Dense(3)])
    >>> child = k.Sequential([k.layers.Input((4,)), k.layers.Dense(8), k.layers.Dense(8), k.layers.Dense(3)])
    >>> inherit_weights(child, parent)          # the first hidden layer and the output layer
    2
    >>> bool((child.layers[0].get_weights()[0] == parent.layers[0].get_weights()[0]).all())
    True
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mlprod.errors import ConfigError

LayerWeights = list[tuple[str, list[np.ndarray]]]


def layer_weights(model: Any) -> LayerWeights:
    """``(class name, weights)`` of every layer of ``model`` that has weights, input to output.

    Works for Keras 3 and tf_keras models (nested models are taken as one layer).

    Example:
        >>> import tf_keras as k
        >>> [name for name, _ in layer_weights(k.Sequential([k.layers.Input((2,)), k.layers.Dense(1)]))]
        ['Dense']
    """
    return [(type(layer).__name__, [np.asarray(w) for w in layer.get_weights()])
            for layer in model.layers if layer.get_weights()]


class NotAModelError(ConfigError, TypeError):
    """A ConfigError that is also the ``TypeError`` :func:`inherit_weights` raised before (one release)."""


def _same(a: tuple[str, list[np.ndarray]], b: tuple[str, list[np.ndarray]]) -> bool:
    return a[0] == b[0] and len(a[1]) == len(b[1]) and all(x.shape == y.shape for x, y in zip(a[1], b[1], strict=True))


def inherit_weights(child: Any, parent: Any) -> int:
    """Copy ``parent``'s weights into every matching layer of ``child``; return how many layers matched.

    ``parent`` is a trained model or its :func:`layer_weights`. Layers that do not match keep
    their fresh initialisation.

    Raises:
        ConfigError: ``child`` is not a Keras model, or ``parent`` neither a model nor its
            :func:`layer_weights` (also a ``TypeError``, as it was before).

    Example:
        >>> import tf_keras as k
        >>> a = k.Sequential([k.layers.Input((4,)), k.layers.Dense(8), k.layers.Dense(3)])
        >>> b = k.Sequential([k.layers.Input((4,)), k.layers.Dense(16), k.layers.Dense(3)])
        >>> inherit_weights(b, a)       # wider hidden layer: nothing has the parent's shapes
        0
    """
    if not hasattr(child, "layers"):
        raise NotAModelError(f"inherit_weights needs a Keras model as child, got {type(child).__name__}; pass the "
                             "built model (space.build(hp)).")
    if not isinstance(parent, list) and not hasattr(parent, "layers"):
        raise NotAModelError(f"inherit_weights needs a Keras model or its layer_weights() as parent, got "
                             f"{type(parent).__name__}.")
    source = parent if isinstance(parent, list) else layer_weights(parent)
    targets = [layer for layer in child.layers if layer.get_weights()]
    mine = [(type(layer).__name__, [np.asarray(w) for w in layer.get_weights()]) for layer in targets]
    pairs: dict[int, int] = {}
    i = 0
    while i < min(len(mine), len(source)) and _same(mine[i], source[i]):
        pairs[i] = i
        i += 1
    j = 1  # from the output end, not crossing what the input end already took
    while j <= min(len(mine), len(source)) - i and _same(mine[-j], source[-j]):
        pairs[len(mine) - j] = len(source) - j
        j += 1
    for c, p in pairs.items():
        targets[c].set_weights(source[p][1])
    return len(pairs)
