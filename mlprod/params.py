"""Declarative argument checks (as scikit-learn's ``validate_params``): one constraint table per
function or spec, shared by the function, its TFX component and the pipeline config, so a bad
value gets the same message wherever it is passed.

A table maps a parameter name to a constraint: :class:`Interval` (a number in a range),
:class:`OneOf` (one of some values) or :class:`Kind` (an instance of some types). ``None`` is
allowed only where the constraint says ``optional=True``. Each constraint can also produce values
it refuses (:meth:`invalid_examples`), which is how the test suite checks every table.

Example:
    >>> TABLE = {"sample_rate": Interval(float, 0, 1, closed="right"), "policy": OneOf("latest", "all")}
    >>> check_params("RequestLog", {"sample_rate": 0.5, "policy": "all"}, TABLE)
    >>> check_params("RequestLog", {"sample_rate": 0, "policy": "all"}, TABLE)
    Traceback (most recent call last):
    ...
    mlprod.errors.ConfigError: RequestLog: sample_rate=0 must be a number in (0, 1].
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlprod.errors import ConfigError


@dataclass(frozen=True)
class Interval:
    """A number of ``kind`` (``int`` or ``float``; an int is a float too, a bool is neither) in
    ``[low, high]`` (``closed``: ``"both"``, ``"left"``, ``"right"``, ``"neither"``; None: unbounded)."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    optional: bool = False

    def ok(self, v: Any) -> bool:
        if v is None:
            return self.optional
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return False
        if self.kind is int and not isinstance(v, numbers.Integral):
            return False
        if isinstance(v, float) and math.isnan(v):
            return False
        v = float(v)
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return lo_ok and hi_ok

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        if self.low is None and self.high is None:
            rng = ""
        elif self.high is None:
            rng = f" {'>=' if self.closed in ('both', 'left') else '>'} {self.low:g}"
        elif self.low is None:
            rng = f" {'<=' if self.closed in ('both', 'right') else '<'} {self.high:g}"
        else:
            lb = "[" if self.closed in ("both", "left") else "("
            rb = "]" if self.closed in ("both", "right") else ")"
            rng = f" in {lb}{self.low:g}, {self.high:g}{rb}"
        return what + rng + (" (or None)" if self.optional else "")

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = ["1", True]
        if not self.optional:
            out.append(None)
        if self.low is not None:
            out.append(self.low - 1 if self.closed in ("both", "left") else self.low)
        if self.high is not None:
            out.append(self.high + 1 if self.closed in ("both", "right") else self.high)
        if self.kind is int:
            out.append(1.5)
        return out


@dataclass(frozen=True)
class OneOf:
    """One of ``values``."""

    values: tuple[Any, ...]
    optional: bool = False

    def __init__(self, *values: Any, optional: bool = False) -> None:
        object.__setattr__(self, "values", tuple(values))
        object.__setattr__(self, "optional", optional)

    def ok(self, v: Any) -> bool:
        return (v is None and self.optional) or (not isinstance(v, (list, dict, set)) and v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values) + (" (or None)" if self.optional else "")

    def invalid_examples(self) -> list[Any]:
        return ["not-a-choice", 3.5] + ([] if self.optional else [None])


@dataclass(frozen=True)
class Kind:
    """An instance of one of ``types``."""

    types: tuple[type, ...]
    optional: bool = False

    def __init__(self, *types: type, optional: bool = False) -> None:
        object.__setattr__(self, "types", tuple(types))
        object.__setattr__(self, "optional", optional)

    def ok(self, v: Any) -> bool:
        return (v is None and self.optional) or (isinstance(v, self.types) and not (
            isinstance(v, bool) and bool not in self.types))

    def describe(self) -> str:
        return "a " + " or ".join(t.__name__ for t in self.types) + (" (or None)" if self.optional else "")

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = [object()]
        if not self.optional:
            out.append(None)
        return out


Constraint = Interval | OneOf | Kind


def check_params(where: str, values: Mapping[str, Any], table: Mapping[str, Any]) -> None:
    """Check ``values`` against ``table`` (names not in the table are not checked).

    Raises:
        ConfigError: ``"<where>: <name>=<value> must be <what the constraint allows>."`` for the
            first value that breaks its constraint.
    """
    for name, c in table.items():
        if name in values and not c.ok(values[name]):
            raise ConfigError(f"{where}: {name}={values[name]!r} must be {c.describe()}.")
