"""The lifecycle event: what happened, to what, how bad, and the key that de-duplicates it.

One small typed record for everything mlprod reports (a run finished or failed, a model pushed,
approved or rolled back, a drift/skew/decay alarm, a retrain fired, server errors above a
rate); every sink (webhook, log file) receives the same JSON (:meth:`Event.to_json`).

Example:
    >>> e = Event("run_failed", "pipeline/penguin", details={"component": "Trainer"}, key="run_failed:penguin:Trainer")
    >>> e.severity, e.to_json()["text"]
    ('error', '[error] run_failed pipeline/penguin: component=Trainer')
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from mlprod.errors import ConfigError

RUN_FINISHED = "run_finished"
RUN_FAILED = "run_failed"
MODEL_PUSHED = "model_pushed"
MODEL_APPROVED = "model_approved"
MODEL_ROLLED_BACK = "model_rolled_back"
DRIFT_ALARM = "drift_alarm"
SKEW_ALARM = "skew_alarm"
DECAY_ALARM = "decay_alarm"
RETRAIN_FIRED = "retrain_fired"
SERVER_ERRORS = "server_errors"

#: every kind, with the severity an event of that kind gets when none is given
KINDS: dict[str, str] = {
    RUN_FINISHED: "info", RUN_FAILED: "error", MODEL_PUSHED: "info", MODEL_APPROVED: "info",
    MODEL_ROLLED_BACK: "warning", DRIFT_ALARM: "warning", SKEW_ALARM: "warning", DECAY_ALARM: "warning",
    RETRAIN_FIRED: "info", SERVER_ERRORS: "error",
}
SEVERITIES = ("info", "warning", "error")


def _now_iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


@dataclass(frozen=True)
class Event:
    """One thing that happened in the ML lifecycle.

    Attributes:
        kind: one of :data:`KINDS` (``run_finished``, ``run_failed``, ``model_pushed``,
            ``model_approved``, ``model_rolled_back``, ``drift_alarm``, ``skew_alarm``,
            ``decay_alarm``, ``retrain_fired``, ``server_errors``).
        subject: what it happened to, as ``what/name[/version]``: ``pipeline/penguin``,
            ``model/penguin/3``, ``logs//srv/logs/penguin``.
        severity: ``info``, ``warning`` or ``error`` (default: the kind's, see :data:`KINDS`).
        details: JSON-able facts (accuracy, component, reasons ...).
        key: the de-duplication key: two events with the same key within the dedup window are
            one (default: kind, subject and details hashed, so an identical repeat is dropped).
        time: seconds since the epoch (default now).
        id: unique per event (sent as the ``Idempotency-Key`` header, so a receiver can drop
            the rare redelivery after a crash between its answer and the sender's record).
        source: the host and process that emitted it (default this one; kept through a replay
            by another process).

    Example:
        >>> Event("model_pushed", "model/penguin/3").severity
        'info'
        >>> Event("model_pushed", "m", details={"a": 1}).key == Event("model_pushed", "m", details={"a": 1}).key
        True
    """

    kind: str
    subject: str
    severity: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    time: float = 0.0
    id: str = ""
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown event kind {self.kind!r}; use one of {sorted(KINDS)}.")
        if not self.severity:
            object.__setattr__(self, "severity", KINDS[self.kind])
        if self.severity not in SEVERITIES:
            raise ConfigError(f"severity={self.severity!r}; use one of {SEVERITIES}.")
        try:
            details_json = json.dumps(self.details, sort_keys=True, default=str)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"event details must be JSON-able: {e}") from e
        if not self.key:
            digest = hashlib.sha256(details_json.encode()).hexdigest()[:16]
            object.__setattr__(self, "key", f"{self.kind}:{self.subject}:{digest}")
        if not self.time:
            object.__setattr__(self, "time", time.time())
        if not self.id:
            object.__setattr__(self, "id", uuid.uuid4().hex)
        if not self.source:
            object.__setattr__(self, "source", {"host": socket.gethostname(), "pid": os.getpid()})

    @property
    def text(self) -> str:
        """One human line (also the payload's ``text``, which Slack/Mattermost webhooks display)."""
        facts = ", ".join(f"{k}={v}" for k, v in list(self.details.items())[:6])
        return f"[{self.severity}] {self.kind} {self.subject}" + (f": {facts}" if facts else "")

    def to_json(self) -> dict[str, Any]:
        """The JSON every sink gets (``id``, ``kind``, ``subject``, ``severity``, ``time`` ISO UTC,
        ``key``, ``text``, ``details``, ``source`` host and pid)."""
        return {"id": self.id, "kind": self.kind, "subject": self.subject, "severity": self.severity,
                "time": _now_iso(self.time), "key": self.key, "text": self.text,
                "details": json.loads(json.dumps(self.details, default=str)),
                "source": dict(self.source)}

    @classmethod
    def from_json(cls, obj: dict[str, Any], t: float) -> "Event":
        """The event back from its JSON (``t``: its time in seconds, kept beside the JSON)."""
        return cls(obj["kind"], obj["subject"], obj["severity"], obj.get("details") or {}, obj["key"], t, obj["id"],
                   obj.get("source") or {})


def parse_duration(value: "float | int | str") -> float:
    """Seconds from a number or ``"90s"``, ``"10m"``, ``"4h"``, ``"1d"``.

    Raises:
        ConfigError: neither a non-negative number nor such a string.

    Example:
        >>> parse_duration("4h"), parse_duration(30), parse_duration("1.5m")
        (14400.0, 30.0, 90.0)
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            text = str(value).strip().lower()
            seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except (ValueError, KeyError):
        seconds = -1.0
    if seconds < 0 or seconds != seconds:
        raise ConfigError(f"duration {value!r} is not a number of seconds or a string like '30s', '10m', '4h', '1d'.")
    return seconds
