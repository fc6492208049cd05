"""Monitoring the served model: skew, drift, decay and estimated decay over logged windows, and
the retraining policy and decision that close the loop (:mod:`mlprod.monitoring.retrain`;
the loop that runs a pipeline is :func:`mlprod.retrain_if`, in :mod:`mlprod.pipelines.retrain`).

Example:
    (tests/monitoring/test_monitor.py runs this.)
    >>> import mlprod
    >>> r = mlprod.monitor("/srv/logs/penguin", reference=train_df, label="species", window=500)  # doctest: +SKIP
"""
from mlprod._compat import moved
from mlprod.monitoring.monitor import monitor
from mlprod.monitoring.result import MonitorResult
from mlprod.monitoring.retrain import RetrainDecision, RetrainOutcome, RetrainPolicy, decide, plan_retrain

__all__ = ["MonitorResult", "RetrainDecision", "RetrainOutcome", "RetrainPolicy", "decide", "monitor", "plan_retrain"]



def __getattr__(name: str) -> object:
    """``mlprod.monitoring.retrain_if`` moved to :mod:`mlprod.pipelines.retrain` (it runs a pipeline,
    which the monitoring core never imports); the old name raises an ImportError that says where."""
    raise moved(__name__, name)
