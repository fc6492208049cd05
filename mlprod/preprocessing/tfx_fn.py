"""The spec in TFX: a generic ``preprocessing_fn`` for TFX's standard Transform component.

TFX imports ``preprocessing_fn`` by module path and passes ``custom_config``; the spec travels
there as a dict, so no module file is written or packaged.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_chicago_taxi.py runs this path.)
    >>> from mlprod.preprocessing import FeatureSpec, Numeric
    >>> from mlprod.components import transform_component
    >>> transform = transform_component(example_gen.outputs["examples"], schema_gen.outputs["schema"],
    ...                                 FeatureSpec(label="tips", features=(Numeric("fare"),)))  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any

from mlprod.errors import ConfigError
from mlprod.preprocessing.compile import build_preprocessing_fn
from mlprod.preprocessing.spec import FeatureSpec

SPEC_KEY, EXTRA_KEY = "mlprod_feature_spec", "mlprod_extra_fn"


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"cannot import preprocessing function {path!r} ({e}); give 'package.module.function'.") from e


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the :class:`FeatureSpec` from ``custom_config`` and apply it (plus an optional
    user function named by module path in ``custom_config["mlprod_extra_fn"]``)."""
    if SPEC_KEY not in (custom_config or {}):
        raise ConfigError(f"custom_config has no {SPEC_KEY!r}; build the Transform with "
                          "mlprod.components.transform_component().")
    spec = FeatureSpec.from_dict(custom_config[SPEC_KEY])
    extra = custom_config.get(EXTRA_KEY)
    return build_preprocessing_fn(spec, _import(extra) if extra else None)(inputs)


def custom_config(spec: FeatureSpec, extra_fn: str | None = None, **more: Any) -> dict[str, Any]:
    """The ``custom_config`` dict that carries ``spec`` (and an extra function's module path)."""
    if extra_fn is not None:
        _import(extra_fn)  # fail now, not inside the Beam job
    return {SPEC_KEY: spec.to_dict(), EXTRA_KEY: extra_fn, **more}
