"""Renames that keep the old name working for one release (the naming table in docs/api.md).

:func:`renamed` lets a function take its old keyword names, with a ``DeprecationWarning`` that
names the new one (and converts the value when the unit changed, e.g. points -> fraction).
:data:`RETIRED` lists the parameter names no public function may take any more (the naming
table's old names; ``tests/test_renames.py`` checks the facade against it).

Example:
    >>> import warnings
    >>> @renamed(serving_dir="model_dir")
    ... def push(model_dir: str) -> str:
    ...     return model_dir
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     push(serving_dir="/srv/m"), str(w[0].message).split(":")[0]
    ('/srv/m', 'push(serving_dir=...) is deprecated')
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from mlprod.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])
#: old parameter names no public function takes any more -> the table's name for the idea
RETIRED: dict[str, str] = {"base_path": "model_dir", "serving_dir": "model_dir",
                           "training": "reference", "serving": "current", "previous": "reference",
                           "baseline_statistics": "reference_statistics", "baseline": "reference (data) or "
                           "baseline_model (a model)", "push_dir": "model_dir", "directory": "output_dir",
                           "verbose": "progress", "serving_model_dir": "model_dir",
                           "baseline_split": "reference_split"}


#: names that moved up a layer, out of a module that may not import their new home (a lower layer
#: naming a higher one is an import circle, issue 27): "old.module.name" -> where it lives now.
#: Reaching the old name raises an ImportError saying so (see :func:`moved`).
MOVED: dict[str, str] = {
    "mlprod.monitoring.retrain_if": "mlprod.retrain_if (defined in mlprod.pipelines.retrain: it runs a pipeline, "
                                    "and the monitoring core imports none)",
    "mlprod.pipelines.metadata.registry": "mlprod.registry (defined in mlprod.pipelines.registry, which reads "
                                          "mlprod.pipelines.metadata)",
}


def moved(module: str, name: str) -> AttributeError | ImportError:
    """What a module's ``__getattr__`` raises for ``name``: an ImportError naming the new home of a
    :data:`MOVED` name (``from old import name`` shows it too), else the usual AttributeError.

    Example:
        >>> str(moved("mlprod.monitoring", "retrain_if")).split(":")[0]
        'mlprod.monitoring.retrain_if moved'
    """
    new = MOVED.get(f"{module}.{name}")
    if new is None:
        return AttributeError(f"module {module!r} has no attribute {name!r}")
    return ImportError(f"{module}.{name} moved: import {new}.", name=module)


def renamed(**old_to_new: str | tuple[str, Callable[[Any], Any]]) -> Callable[[F], F]:
    """Accept ``old=`` keywords as their new names for one release (``(new, convert)`` converts the value).

    Raises:
        ConfigError: both the old and the new name are given.
    """
    table = {old: (new, None) if isinstance(new, str) else new for old, new in old_to_new.items()}

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, (new, convert) in table.items():
                if old in kwargs:
                    if new in kwargs:
                        raise ConfigError(f"{fn.__qualname__}: pass {new}= only ({old}= is its deprecated old name).")
                    value = kwargs.pop(old)
                    unit = f" ({getattr(convert, 'note', 'converted to the new unit')})" if convert else ""
                    warnings.warn(f"{fn.__qualname__}({old}=...) is deprecated: use {new}=...{unit}; the old name "
                                  "goes in the next release.", DeprecationWarning, stacklevel=2)
                    kwargs[new] = convert(value) if convert else value
            return fn(*args, **kwargs)

        wrapper.__renamed__ = table  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


def warn_renamed(where: str, old: str, new: str) -> None:
    """The same warning for places a decorator cannot reach (dataclass fields, TFX component parameters)."""
    warnings.warn(f"{where}({old}=...) is deprecated: use {new}=...; the old name goes in the next release.",
                  DeprecationWarning, stacklevel=3)


def points_to_fraction(points: float) -> float:
    """An accuracy drop in points (1.0 = one point) as the table's fraction (0.01)."""
    return points / 100


points_to_fraction.note = "accuracy points, converted to a fraction: /100"  # type: ignore[attr-defined]


def drop_as_fraction(where: str, value: float, *, stacklevel: int = 3) -> float:
    """An accuracy drop under a name that used to take points: above 1 it can only be points (a
    fraction drop is at most 1), so it is divided by 100 with a ``DeprecationWarning``."""
    if value is not None and not isinstance(value, bool) and isinstance(value, (int, float)) and value > 1:
        warnings.warn(f"{where}: max_accuracy_drop={value:g} reads as accuracy points; points are deprecated, give a "
                      f"fraction (max_accuracy_drop={value / 100:g}); converted: /100.", DeprecationWarning,
                      stacklevel=stacklevel)
        return value / 100
    return value
