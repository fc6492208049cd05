"""Monitoring the served model: skew, drift, decay and estimated decay over logged windows.

Example:
    (tests/monitoring/test_monitor.py runs this.)
    >>> import mlprod
    >>> r = mlprod.monitor("/srv/logs/penguin", baseline=train_df, label="species", window=500)  # doctest: +SKIP
"""
from mlprod.monitoring.monitor import monitor
from mlprod.monitoring.result import MonitorResult

__all__ = ["MonitorResult", "monitor"]
