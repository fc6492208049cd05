"""Monitoring the served model: skew, drift, decay and estimated decay over logged windows, and
the retraining trigger that closes the loop (:mod:`mlprod.monitoring.retrain`).

Example:
    (tests/monitoring/test_monitor.py runs this.)
    >>> import mlprod
    >>> r = mlprod.monitor("/srv/logs/penguin", baseline=train_df, label="species", window=500)  # doctest: +SKIP
"""
from mlprod.monitoring.monitor import monitor
from mlprod.monitoring.result import MonitorResult
from mlprod.monitoring.retrain import (
                                       RetrainDecision,
                                       RetrainOutcome,
                                       RetrainPolicy,
                                       decide,
                                       plan_retrain,
                                       retrain_if,
)

__all__ = ["MonitorResult", "RetrainDecision", "RetrainOutcome", "RetrainPolicy", "decide", "monitor", "plan_retrain",
           "retrain_if"]
