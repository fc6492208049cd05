"""The sender: one configuration of sinks over a durable outbox, delivering in the background.

:class:`Alerts` commits each event to the outbox (:mod:`mlprod.alerts.outbox`) and returns; a
daemon thread delivers it to every sink, retrying with exponential backoff while a receiver is
down (HTTP 5xx, 408, 429, no connection). At exit it waits up to ``exit_timeout`` for the queue
to drain; whatever is still pending is replayed by the next sender on the same outbox (the next
run, the next ``mlprod`` command, ``mlprod alerts flush``). De-duplication by key holds within
``dedup_window`` across processes, since it is read from the outbox too.

Example:
    >>> import os, tempfile, json
    >>> d = tempfile.mkdtemp()
    >>> a = Alerts(log=os.path.join(d, "alerts.jsonl"), outbox=os.path.join(d, "outbox.sqlite"), background=False)
    >>> a.emit("model_pushed", "model/penguin/3", details={"accuracy": 0.97}).kind
    'model_pushed'
    >>> a.emit("model_pushed", "model/penguin/3", details={"accuracy": 0.97}) is None   # a repeat: de-duplicated
    True
    >>> [json.loads(line)["subject"] for line in open(os.path.join(d, "alerts.jsonl"))]
    ['model/penguin/3']
"""
from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from mlprod.alerts.events import KINDS, SEVERITIES, Event, parse_duration
from mlprod.alerts.outbox import Outbox
from mlprod.alerts.sinks import LogFile, Rejected, Retry, Webhook
from mlprod.errors import ConfigError

log = logging.getLogger("mlprod.alerts")
DEFAULT_OUTBOX = os.path.join(os.environ.get("XDG_STATE_HOME") or os.path.join("~", ".local", "state"),
                              "mlprod", "alerts-outbox.sqlite")
KEYS = ("webhooks", "log", "outbox", "dedup_window", "min_severity", "backoff", "max_backoff", "exit_timeout",
        "background")


def _webhook(spec: Any) -> Webhook:
    hook = _webhook_of(spec)
    bad = [k for k in hook.kinds if k not in KINDS]
    if bad:
        raise ConfigError(f"webhook {hook.url!r}: unknown event kind(s) {bad}; use {sorted(KINDS)}.")
    if not hook.url.startswith(("http://", "https://")):
        raise ConfigError(f"webhook {hook.url!r} is not an http:// or https:// URL.")
    return hook


def _webhook_of(spec: Any) -> Webhook:
    if isinstance(spec, Webhook):
        return spec
    if isinstance(spec, str):
        return Webhook(spec)
    if isinstance(spec, Mapping) and "url" in spec:
        unknown = set(spec) - {"url", "headers", "kinds", "timeout_s"}
        if unknown:
            raise ConfigError(f"webhook {spec.get('url')!r}: unknown key(s) {sorted(unknown)}; use url, headers, "
                              "kinds, timeout_s.")
        return Webhook(str(spec["url"]), {str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
                       tuple(spec.get("kinds") or ()), float(spec.get("timeout_s", 10.0)))
    raise ConfigError(f"a webhook is a URL or {{url: ..., headers: ..., kinds: [...]}}, not {spec!r}.")


class Alerts:
    """Where lifecycle events go, and the background sender that takes them there.

    Args:
        webhooks: URLs (or :class:`~mlprod.alerts.sinks.Webhook` / ``{url, headers, kinds,
            timeout_s}``) that get each event as a JSON POST.
        log: a JSONL file that gets each event as a line.
        outbox: the durable queue (SQLite; default ``~/.local/state/mlprod/alerts-outbox.sqlite``,
            shared by every process of the user so that dedup and replay hold across them).
        dedup_window: events with the same key within this time are sent once (default
            ``"4h"``, Alertmanager's ``repeat_interval``; ``0``: no de-duplication).
        min_severity: drop events below this (``info``, ``warning``, ``error``).
        backoff, max_backoff: the first retry waits ``backoff``, each next one twice as long, at
            most ``max_backoff`` (defaults 1 s and 5 min); a pending event is never given up.
        exit_timeout: how long the process waits at exit for pending deliveries (default 10 s;
            the rest is replayed by the next sender on the same outbox).
        background: deliver in a daemon thread (default); False: inside :meth:`emit`.

    Raises:
        ConfigError: no sink, an unknown kind, severity or duration.

    Example:
        >>> import os, tempfile
        >>> a = Alerts(log=os.path.join(tempfile.mkdtemp(), "alerts.jsonl"), background=False,
        ...            outbox=os.path.join(tempfile.mkdtemp(), "o.sqlite"))
        >>> a.emit("run_failed", "pipeline/penguin", details={"component": "Trainer"}).severity
        'error'
        >>> a.pending()
        0
    """

    def __init__(self, webhooks: "Sequence[Any] | str | None" = None, *, log: str | None = None,
                 outbox: str | None = None, dedup_window: "float | str" = "4h", min_severity: str = "info",
                 backoff: "float | str" = 1.0, max_backoff: "float | str" = "5m", exit_timeout: "float | str" = 10.0,
                 background: bool = True) -> None:
        if isinstance(webhooks, str):
            webhooks = [webhooks]
        self.sinks: list[Webhook | LogFile] = [_webhook(w) for w in (webhooks or [])]
        if log:
            self.sinks.append(LogFile(str(log)))
        if not self.sinks:
            raise ConfigError("Alerts needs a sink: webhooks=['https://...'] and/or log='alerts.jsonl' "
                              "(or set MLPROD_ALERTS_WEBHOOK / MLPROD_ALERTS_LOG).")
        if min_severity not in SEVERITIES:
            raise ConfigError(f"min_severity={min_severity!r}; use one of {SEVERITIES}.")
        self.min_severity = min_severity
        self.dedup_s = parse_duration(dedup_window)
        self.backoff_s, self.max_backoff_s = parse_duration(backoff), parse_duration(max_backoff)
        self.exit_timeout_s = parse_duration(exit_timeout)
        self.background = background
        self.outbox = Outbox(outbox or os.path.expanduser(DEFAULT_OUTBOX))
        self._by_name = {s.name: s for s in self.sinks}
        self._local = [s.name for s in self.sinks if isinstance(s, LogFile)]  # written inside emit
        self._remote = [s.name for s in self.sinks if not isinstance(s, LogFile)]  # by the background thread
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Alerts({[s.name for s in self.sinks]}, outbox={self.outbox.path!r})"

    # ---- emitting ----------------------------------------------------------------------------
    def emit(self, event: "Event | str", subject: str = "", *, severity: str = "", details: Any = None,
             key: str = "") -> Event | None:
        """Queue ``event`` (an :class:`~mlprod.alerts.events.Event`, or its kind with the other
        fields) for every sink that takes it; returns it, or None when it was de-duplicated or
        below ``min_severity``. The event is in the outbox (durable) when this returns.

        Example:
            (tests/alerts/test_alerts.py runs this.)
            >>> alerts.emit("drift_alarm", "logs//srv/logs/taxi", details={"features": ["fare"]})  # doctest: +SKIP
        """
        if not isinstance(event, Event):
            event = Event(event, subject, severity, dict(details or {}), key)
        if SEVERITIES.index(event.severity) < SEVERITIES.index(self.min_severity):
            return None
        sinks = [s.name for s in self.sinks if s.wants(event)]
        if not sinks or not self.outbox.enqueue(event, sinks, self.dedup_s):
            return None
        # local files at once (a notebook sees the line after the call); webhooks in the background
        self.deliver_due(self._local)
        if self.background:
            self.start()
            self._kick.set()
        else:
            self.deliver_due()
        return event

    # ---- delivering --------------------------------------------------------------------------
    def deliver_due(self, sinks: list[str] | None = None) -> int:
        """Try every delivery that is due now (to ``sinks``, default all of this sender's);
        return how many were tried."""
        names = list(self._by_name) if sinks is None else sinks
        lease = 10 * max([getattr(s, "timeout_s", 1.0) for s in self.sinks]) + 30
        tried = 0
        while True:
            batch = self.outbox.claim(names, self._owner, lease_s=lease, limit=10)
            if not batch:
                return tried
            for name, event in batch:
                tried += 1
                try:
                    self._by_name[name].send(event)
                except Retry as e:
                    delay = self.outbox.retry(event.id, name, str(e), self.backoff_s, self.max_backoff_s)
                    log.warning("alerts: %s not delivered to %s (%s); retrying in %.1f s", event.kind, name, e, delay)
                except Rejected as e:
                    self.outbox.rejected(event.id, name, str(e))
                    log.error("alerts: %s refused by %s (%s); not retried", event.kind, name, e)
                except Exception as e:  # noqa: BLE001 - a sink bug must not kill the sender; retried
                    self.outbox.retry(event.id, name, f"{type(e).__name__}: {e}", self.backoff_s, self.max_backoff_s)
                    log.warning("alerts: delivering %s to %s raised %s: %s", event.kind, name, type(e).__name__, e)
                else:
                    self.outbox.delivered(event.id, name)

    def pending(self) -> int:
        """Deliveries to this sender's sinks still waiting (retries included)."""
        counts = self.outbox.counts()
        return sum(counts.get(name, {}).get("pending", 0) for name in self._by_name)

    def flush(self, timeout: "float | str" = 30.0) -> int:
        """Deliver until nothing is pending or ``timeout`` passed (waiting out backoffs); returns
        what is still pending.

        Example:
            (tests/alerts/test_alerts.py runs this against a local receiver.)
            >>> alerts.flush(timeout=10)   # doctest: +SKIP
            0
        """
        end = time.monotonic() + parse_duration(timeout)
        self.outbox.release_dead_claims(socket.gethostname())
        while True:
            self.deliver_due()
            left = self.pending()
            remaining = end - time.monotonic()
            if not left or remaining <= 0:
                return left
            due = self.outbox.next_due(list(self._by_name))
            wait = 0.05 if due is None else max(0.01, min(due - time.time(), 0.5))
            time.sleep(min(wait, remaining))

    def start(self) -> "Alerts":
        """Start the background sender (and replay what an earlier sender left pending)."""
        with self._lock:
            if self._started or not self.background:
                return self
            self._stop.clear()
            self.outbox.release_dead_claims(socket.gethostname())
            self.outbox.prune(max(self.dedup_s, 7 * 86400))
            self.deliver_due(self._local)  # replay what an earlier sender left for the log files
            if self._remote:  # log files only: nothing to do in the background
                self._thread = threading.Thread(target=self._run, name="mlprod-alerts", daemon=True)
                self._thread.start()
                atexit.register(self._at_exit)
            self._started = True
        return self

    def stop(self, timeout: "float | str | None" = None) -> int:
        """Flush for ``timeout`` (default ``exit_timeout``), then stop the sender; returns what is still pending."""
        left = self.flush(self.exit_timeout_s if timeout is None else timeout)
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._started = False
        return left

    def _at_exit(self) -> None:
        if self._thread is None:
            return
        left = self.stop()
        if left:
            log.warning("alerts: %d deliveries still pending at exit; they stay in %s and are sent by the next "
                        "sender (mlprod alerts flush)", left, self.outbox.path)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due(self._remote)
                due = self.outbox.next_due(self._remote)
            except Exception as e:  # noqa: BLE001 - a locked or vanished outbox: try again shortly
                log.warning("alerts: sender loop: %s: %s", type(e).__name__, e)
                due = None
            wait = 1.0 if due is None else max(0.01, min(1.0, due - time.time()))
            self._kick.wait(wait)
            self._kick.clear()

    # ---- configuration -----------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], **overrides: Any) -> "Alerts":
        """An :class:`Alerts` from a dict (what ``alerts.yaml`` holds); ``${VAR}`` in strings reads the environment.

        Example:
            >>> import os, tempfile
            >>> d = tempfile.mkdtemp()
            >>> Alerts.from_mapping({"log": os.path.join(d, "a.jsonl"), "dedup_window": "10m",
            ...                      "outbox": os.path.join(d, "o.sqlite")}).dedup_s
            600.0
        """
        unknown = set(config) - set(KEYS)
        if unknown:
            raise ConfigError(f"alerts config: unknown key(s) {sorted(unknown)}; use {list(KEYS)}.")
        kwargs = {k: _expand(v) for k, v in config.items()}
        kwargs.update(overrides)
        return cls(kwargs.pop("webhooks", None), **kwargs)

    @classmethod
    def from_file(cls, path: str) -> "Alerts":
        """An :class:`Alerts` from a YAML (or JSON) file with the keys of :meth:`from_mapping`.

        Raises:
            ConfigError: the file is missing or not a mapping.

        Example:
            (docs/alerts.md and tests/alerts/test_alerts.py run this.)
            >>> Alerts.from_file("alerts.yaml")   # doctest: +SKIP
        """
        import yaml

        try:
            with open(os.path.expanduser(path)) as fh:
                config = yaml.safe_load(fh) or {}
        except OSError as e:
            raise ConfigError(f"cannot read the alerts config {path}: {e}") from e
        if not isinstance(config, Mapping):
            raise ConfigError(f"{path}: an alerts config is a mapping (webhooks:, log:, outbox:, ...).")
        return cls.from_mapping(config)

    @classmethod
    def from_env(cls) -> "Alerts | None":
        """The configuration the environment gives: ``MLPROD_ALERTS_CONFIG`` (a YAML file), else
        ``MLPROD_ALERTS_WEBHOOK`` (URLs, comma-separated) and/or ``MLPROD_ALERTS_LOG`` (a JSONL
        file), with ``MLPROD_ALERTS_OUTBOX``; None when none is set.

        Example:
            >>> import os
            >>> os.environ.pop("MLPROD_ALERTS_CONFIG", None); os.environ.pop("MLPROD_ALERTS_WEBHOOK", None)
            >>> os.environ.pop("MLPROD_ALERTS_LOG", None)
            >>> Alerts.from_env() is None
            True
        """
        path = os.environ.get("MLPROD_ALERTS_CONFIG")
        if path:
            return cls.from_file(path)
        hooks = [u.strip() for u in os.environ.get("MLPROD_ALERTS_WEBHOOK", "").split(",") if u.strip()]
        logfile = os.environ.get("MLPROD_ALERTS_LOG") or None
        if not hooks and not logfile:
            return None
        return cls(hooks, log=logfile, outbox=os.environ.get("MLPROD_ALERTS_OUTBOX") or None)


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


__all__ = ["KINDS", "Alerts"]
