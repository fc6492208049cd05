"""Where events go: a webhook (JSON POST, stdlib ``urllib``) or a JSONL log file.

A sink's :meth:`send` returns normally when the event was delivered, raises :class:`Retry` when
trying again later may work (HTTP 5xx, 408, 429, a refused or timed-out connection) and
:class:`Rejected` when it will not (other HTTP 4xx).

Example:
    >>> import tempfile, os, json
    >>> from mlprod.alerts.events import Event
    >>> path = os.path.join(tempfile.mkdtemp(), "alerts.jsonl")
    >>> LogFile(path).send(Event("model_pushed", "model/penguin/3"))
    >>> json.loads(open(path).readline())["kind"]
    'model_pushed'
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from mlprod import __version__
from mlprod.alerts.events import Event


class Retry(Exception):
    """The delivery failed and may work later (the receiver or the network is down)."""


class Rejected(Exception):
    """The receiver refused the event for good (a 4xx answer): it is not retried."""


def _wants(kinds: tuple[str, ...], event: Event) -> bool:
    return not kinds or event.kind in kinds


@dataclass(frozen=True)
class Webhook:
    """POST each event as JSON to ``url``.

    Attributes:
        url: the receiver (Slack/Mattermost incoming webhooks show the payload's ``text``).
        headers: extra headers (``{"Authorization": "Bearer ..."}``; in ``alerts.yaml``,
            ``${VAR}`` reads an environment variable, so secrets stay out of the file).
        kinds: only these event kinds (empty: all).
        timeout_s: seconds to wait for the receiver's answer.
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()
    timeout_s: float = 10.0

    @property
    def name(self) -> str:
        """The sink's identity in the outbox (``webhook:URL``)."""
        return f"webhook:{self.url}"

    def wants(self, event: Event) -> bool:
        """Whether this sink takes ``event`` (its ``kinds``)."""
        return _wants(self.kinds, event)

    def send(self, event: Event) -> None:
        """POST ``event``; raises :class:`Retry` or :class:`Rejected` when it did not arrive."""
        body = json.dumps(event.to_json()).encode()
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"mlprod/{__version__}",
            "Idempotency-Key": event.id, **self.headers})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - the configured URL
                resp.read()
        except urllib.error.HTTPError as e:
            msg = f"HTTP {e.code} from {self.url}"
            if e.code >= 500 or e.code in (408, 429):
                raise Retry(msg) from None
            raise Rejected(msg) from None
        except (urllib.error.URLError, OSError) as e:  # refused, reset, DNS, timeout
            raise Retry(f"{type(e).__name__}: {getattr(e, 'reason', e)} ({self.url})") from None


@dataclass(frozen=True)
class LogFile:
    """Append each event as one JSON line to ``path`` (one ``write`` per line, so lines of several
    processes never interleave)."""

    path: str
    kinds: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The sink's identity in the outbox (``log:PATH``)."""
        return f"log:{os.path.abspath(os.path.expanduser(self.path))}"

    def wants(self, event: Event) -> bool:
        """Whether this sink takes ``event`` (its ``kinds``)."""
        return _wants(self.kinds, event)

    def send(self, event: Event) -> None:
        """Append ``event``; an unwritable file is a :class:`Retry` (the disk may get space again)."""
        path = os.path.abspath(os.path.expanduser(self.path))
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (json.dumps(event.to_json()) + "\n").encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise Retry(f"cannot append to {path}: {e}") from None
