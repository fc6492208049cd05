"""Alerts: one event stream for the ML lifecycle, to webhooks and a log file, durable and de-duplicated.

mlprod emits an :class:`~mlprod.alerts.events.Event` where things happen: a pipeline run
finished or failed and a model pushed (:func:`mlprod.run_pipeline`), drift/skew/decay alarms
(:func:`mlprod.monitor`), a retrain fired (:func:`mlprod.monitoring.plan_retrain`, so
:func:`mlprod.retrain_if` and the RetrainTrigger component), a rollback (``mlprod rollback``);
the registry emits ``model_approved`` and ``model_rolled_back`` through :func:`emit`; a running
server emits ``server_errors`` when its share of failed requests rises above 5%
(:mod:`mlprod.alerts.rate`), and the Prometheus alert rules shipped for its metrics
(:func:`rules`, ``mlprod alerts rules``) watch the same over every replica.

Nothing is sent until alerts are configured, once per process: :func:`configure` (or
:class:`Alerts` passed to it), or the environment (``MLPROD_ALERTS_CONFIG=alerts.yaml``,
``MLPROD_ALERTS_WEBHOOK=https://...``, ``MLPROD_ALERTS_LOG=alerts.jsonl``). Unconfigured, an
emitter costs one dictionary lookup: no file, no thread, no network.

Example:
    >>> import os, tempfile, json
    >>> import mlprod
    >>> d = tempfile.mkdtemp()
    >>> a = mlprod.alerts.configure(log=os.path.join(d, "alerts.jsonl"), outbox=os.path.join(d, "o.sqlite"))
    >>> mlprod.alerts.emit("model_approved", "model/penguin/3", details={"by": "ana", "note": "ok"}).kind
    'model_approved'
    >>> json.loads(open(os.path.join(d, "alerts.jsonl")).readline())["details"]["by"]
    'ana'
    >>> mlprod.alerts.configure(None)   # off again
"""
from __future__ import annotations

import logging
from typing import Any

from mlprod.alerts.events import (
    DECAY_ALARM,
    DRIFT_ALARM,
    KINDS,
    MODEL_APPROVED,
    MODEL_PUSHED,
    MODEL_ROLLED_BACK,
    RETRAIN_FIRED,
    RUN_FAILED,
    RUN_FINISHED,
    SERVER_ERRORS,
    SKEW_ALARM,
    Event,
)
from mlprod.alerts.prometheus import RULES_FILE, rules
from mlprod.alerts.sender import Alerts
from mlprod.alerts.sinks import LogFile, Webhook

log = logging.getLogger("mlprod.alerts")
_UNSET = object()
_state: dict[str, Any] = {"alerts": _UNSET}


def configure(alerts: "Alerts | str | None | Any" = _UNSET, /, **kwargs: Any) -> "Alerts | None":
    """Set where this process's lifecycle events go; returns the :class:`Alerts` (None: off).

    ``configure(webhooks=[url], log="alerts.jsonl")`` takes :class:`Alerts`' arguments;
    ``configure("alerts.yaml")`` reads a file; ``configure(Alerts(...))`` uses that object;
    ``configure(None)`` turns alerts off (the environment is not read again).

    Example:
        (tests/alerts/test_alerts.py runs this.)
        >>> mlprod.alerts.configure(webhooks=["https://hooks.example.com/mlprod"])   # doctest: +SKIP
    """
    old = _state["alerts"]
    if alerts is _UNSET:
        new: Alerts | None = Alerts(**kwargs)
    elif alerts is None or isinstance(alerts, Alerts):
        new = alerts
    else:
        new = Alerts.from_file(str(alerts))
    if isinstance(old, Alerts) and old is not new:
        old.stop(timeout=old.exit_timeout_s)
    _state["alerts"] = new
    if new is not None:
        new.start()
        log.info("alerts: sending lifecycle events to %s", ", ".join(s.name for s in new.sinks))
    return new


def current() -> Alerts | None:
    """The configured :class:`Alerts`, reading the environment on first use (None: alerts are off).

    Example:
        >>> configure(None); current() is None
        True
    """
    a = _state["alerts"]
    if a is _UNSET:
        try:
            a = Alerts.from_env()
        except Exception as e:  # noqa: BLE001 - a broken environment config must not stop a run
            log.warning("alerts: the environment's alerts config is unusable (%s); alerts are off", e)
            a = None
        _state["alerts"] = a
        if a is not None:
            a.start()
    return a if isinstance(a, Alerts) else None


def emit(event: "Event | str", subject: str = "", *, severity: str = "", details: Any = None,
         key: str = "") -> Event | None:
    """Send a lifecycle event through the configured alerts; never raises (a failure is logged).

    Returns the event, or None: alerts off, a repeat within the dedup window, below
    ``min_severity``, or an error (logged on ``mlprod.alerts``). For the registry: emit
    ``model_approved`` / ``model_rolled_back`` with subject ``model/NAME/VERSION`` and
    ``key=f"model_approved:{name}:{version}"`` (one event per approval).

    Example:
        >>> configure(None); emit("model_approved", "model/penguin/3") is None   # alerts off: nothing happens
        True
    """
    a = current()
    if a is None:
        return None
    try:
        return a.emit(event, subject, severity=severity, details=details, key=key)
    except Exception as e:  # noqa: BLE001 - alerting must never break the run that reports
        log.warning("alerts: could not emit %s: %s: %s", getattr(event, "kind", event), type(e).__name__, e)
        return None


def enabled() -> bool:
    """Whether alerts are configured (emitters skip building their events otherwise).

    Example:
        >>> configure(None); enabled()
        False
    """
    return current() is not None


__all__ = ["DECAY_ALARM", "DRIFT_ALARM", "KINDS", "MODEL_APPROVED", "MODEL_PUSHED", "MODEL_ROLLED_BACK",
           "RETRAIN_FIRED", "RULES_FILE", "RUN_FAILED", "RUN_FINISHED", "SERVER_ERRORS", "SKEW_ALARM", "Alerts",
           "Event", "LogFile", "Webhook", "configure", "current", "emit", "enabled", "rules"]
