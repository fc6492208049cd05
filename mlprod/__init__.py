"""mlprod: composable, TFX-style components that take a model from experiment to production.

The facade is deliberately thin: ``import mlprod`` does not import TensorFlow, Beam or
TFMA. Each public name is resolved on first use (PEP 562 ``__getattr__``), so a missing
optional dependency only breaks the capability that needs it.

The one import-time act: ``TF_USE_LEGACY_KERAS`` defaults to ``"1"`` (only if unset),
because tensorflow-model-optimization needs Keras 2 (``tf_keras``). Set it yourself
before importing mlprod to override.

Example:
    >>> import mlprod
    >>> df = mlprod.datasets.penguins()
    >>> len(df.columns)
    5
"""
from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily on first attribute access)
_LAZY: dict[str, str] = {
    # errors (light)
    "MlprodError": "mlprod.errors",
    "DataError": "mlprod.errors",
    "ConfigError": "mlprod.errors",
    "PipelineError": "mlprod.errors",
    # data validation
    "infer_schema": "mlprod.validation",
    "validate": "mlprod.validation",
    "detect_skew": "mlprod.validation",
    "detect_drift": "mlprod.validation",
    "ValidationResult": "mlprod.validation",
    "SchemaResult": "mlprod.validation",
    "StatisticsResult": "mlprod.validation",
    "compute_statistics": "mlprod.validation",
    # preprocessing
    "analyze_and_transform": "mlprod.preprocessing",
    "FeatureSpec": "mlprod.preprocessing",
    "Numeric": "mlprod.preprocessing",
    "Categorical": "mlprod.preprocessing",
    "Cross": "mlprod.preprocessing",
    "PCA": "mlprod.preprocessing",
    "SVD": "mlprod.preprocessing",
    "NMF": "mlprod.preprocessing",
    "Distance": "mlprod.preprocessing",
    "DateParts": "mlprod.preprocessing",
    # neural architecture search
    "search": "mlprod.tuning",
    "DenseSpace": "mlprod.tuning",
    "ConvSpace": "mlprod.tuning",
    "SearchResult": "mlprod.tuning",
    # edge optimization
    "optimize": "mlprod.optimization",
    "OptimizeResult": "mlprod.optimization",
    # evaluation
    "evaluate": "mlprod.evaluation",
    "EvalSpec": "mlprod.evaluation",
    "Threshold": "mlprod.evaluation",
    "Buckets": "mlprod.evaluation",
    "EvalResult": "mlprod.evaluation",
    # serving and the production loop
    "serve": "mlprod.serving",
    "Server": "mlprod.serving",
    "read_requests": "mlprod.serving",
    "log_feedback": "mlprod.serving",
    "monitor": "mlprod.monitoring",
    "MonitorResult": "mlprod.monitoring",
    "retrain_if": "mlprod.pipelines.retrain",
    "RetrainPolicy": "mlprod.monitoring",
    "registry": "mlprod.pipelines.registry",
    # lifecycle alerts (webhooks, a log file; mlprod.alerts.configure(...) turns them on)
    "Alerts": "mlprod.alerts",
    # the feature store (Feast)
    "feature_repo": "mlprod.features",
    "FeatureRepo": "mlprod.features",
    # pipelines
    "PipelineConfig": "mlprod.pipelines.tabular",
    "create_pipeline": "mlprod.pipelines.tabular",
    "run_pipeline": "mlprod.pipelines.runner",
}
_SUBMODULES = ("alerts", "beam", "datasets", "errors", "evaluation", "features", "monitoring", "optimization",
               "pipelines", "preprocessing", "reporting", "serving", "tracking", "tuning", "validation")

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"mlprod.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlprod' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return __all__
