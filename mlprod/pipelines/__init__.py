"""Example TFX pipelines (each a function returning a ``tfx.dsl.Pipeline`` from a config) and
the helpers that run them and read their results back from ML Metadata.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
    >>> from mlprod.pipelines import penguin, run_pipeline   # doctest: +SKIP
    >>> print(run_pipeline(penguin.create_pipeline(penguin.config("/tmp/p"))))  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PipelineConfig": "mlprod.pipelines.tabular",
    "create_pipeline": "mlprod.pipelines.tabular",
    "run_pipeline": "mlprod.pipelines.runner",
    "summarize": "mlprod.pipelines.runner",
    "RunSummary": "mlprod.pipelines.runner",
}
_EXAMPLES = ("penguin", "chicago_taxi", "mnist_edge")
__all__ = sorted([*_LAZY, *_EXAMPLES])


def __getattr__(name: str) -> Any:
    if name in _EXAMPLES:
        return importlib.import_module(f"mlprod.pipelines.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlprod.pipelines' has no attribute {name!r}")
