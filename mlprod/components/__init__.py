"""TFX components: thin wrappers over mlprod's pure cores, ready for ``tfx.dsl.Pipeline``.

Loaded on first use (PEP 562), so ``import mlprod.components`` stays light and a missing
optional dependency breaks only its own component.

Example:
    (Needs a pipeline or a run's outputs; tests/validation/test_components.py runs this path.)
    >>> from mlprod.components import SchemaCurator, DistributionValidator   # doctest: +SKIP
    >>> curated = SchemaCurator(statistics=stats_gen.outputs["statistics"],
    ...                         schema=schema_gen.outputs["schema"], label="species")  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "HtmlReport": "mlprod.components.artifacts",
    "SchemaCurator": "mlprod.components.validation",
    "DistributionValidator": "mlprod.components.validation",
    "evaluator_components": "mlprod.components.evaluation",
    "EdgeOptimizer": "mlprod.components.optimization",
    "transform_component": "mlprod.components.preprocessing",
    "tuner_component": "mlprod.components.tuning",
    "pusher_component": "mlprod.components.pusher",
    "TFLiteModels": "mlprod.components.optimization",
    "RetrainSignal": "mlprod.components.artifacts",
    "RetrainTrigger": "mlprod.components.monitoring",
    "FeatureExampleGen": "mlprod.components.features",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlprod.components' has no attribute {name!r}")
