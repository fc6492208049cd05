"""Monitoring the served model: skew, drift, decay and estimated decay over logged windows, and
the retraining policy and decision that close the loop (:mod:`mlprod.monitoring.retrain`;
the loop that runs a pipeline is :func:`mlprod.retrain_if`, in :mod:`mlprod.pipelines.retrain`).

Example:
    (tests/monitoring/test_monitor.py runs this.)
    >>> import mlprod
    >>> r = mlprod.monitor("/srv/logs/penguin", reference=train_df, label="species", window=500)  # doctest: +SKIP
"""
from mlprod.monitoring.monitor import monitor
from mlprod.monitoring.result import MonitorResult
from mlprod.monitoring.retrain import RetrainDecision, RetrainOutcome, RetrainPolicy, decide, plan_retrain

__all__ = ["MonitorResult", "RetrainDecision", "RetrainOutcome", "RetrainPolicy", "decide", "monitor", "plan_retrain"]


def __getattr__(name: str) -> object:
    """``mlprod.monitoring.retrain_if`` moved to :mod:`mlprod.pipelines.retrain` (it runs a
    pipeline, and the monitoring core imports none); the old name works for one release."""
    if name == "retrain_if":
        import importlib
        import warnings

        warnings.warn("mlprod.monitoring.retrain_if moved: use mlprod.retrain_if (mlprod.pipelines.retrain); "
                      "the old name goes in the next release.", DeprecationWarning, stacklevel=2)
        return importlib.import_module("mlprod.pipelines.retrain").retrain_if
    raise AttributeError(f"module 'mlprod.monitoring' has no attribute {name!r}")
