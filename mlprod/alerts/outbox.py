"""The durable outbox: every event is committed to SQLite before any delivery is tried.

One row per event (``events``) and one per (event, sink) (``deliveries``: pending, delivered or
rejected, attempts, when to try next). A sender that is killed loses nothing: the next
:class:`~mlprod.alerts.Alerts` on the same file replays what is still pending. A delivery is
*claimed* for a lease before it is tried, so two senders on one file (a restarted process
beside a dying one, a server and a cron job) never send the same event twice. De-duplication by
key also lives here, so it holds across processes and restarts.

Example:
    >>> import tempfile, os
    >>> from mlprod.alerts.events import Event
    >>> box = Outbox(os.path.join(tempfile.mkdtemp(), "outbox.sqlite"))
    >>> box.enqueue(Event("model_pushed", "model/p/1", key="k"), ["log:a"], dedup_s=60)
    True
    >>> box.enqueue(Event("model_pushed", "model/p/1", key="k"), ["log:a"], dedup_s=60)
    False
    >>> [e.key for _, e in box.claim(["log:a"], "me")]
    ['k']
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator

from mlprod.alerts.events import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, key TEXT NOT NULL, created REAL NOT NULL,
                                   payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_key ON events (key, created);
CREATE TABLE IF NOT EXISTS deliveries (event_id TEXT NOT NULL, sink TEXT NOT NULL, state TEXT NOT NULL,
                                       attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL,
                                       claimed_by TEXT, claimed_until REAL, last_error TEXT, done REAL,
                                       PRIMARY KEY (event_id, sink));
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_try);
"""


def _alive(owner: str) -> bool:
    """Whether the process of an owner id ``host:pid:token`` still runs (on this host)."""
    try:
        pid = int(owner.split(":")[1])
    except (IndexError, ValueError):
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    """Events and their deliveries in one SQLite file (WAL, ``synchronous=FULL``: a commit survives a crash)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(os.path.expanduser(str(path)))
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection per use: safe from any thread and any process."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def enqueue(self, event: Event, sinks: list[str], dedup_s: float) -> bool:
        """Commit ``event`` with one pending delivery per sink; False (nothing stored) when an
        event with the same key was stored within the last ``dedup_s`` seconds."""
        with self._tx() as db:
            seen = db.execute("SELECT 1 FROM events WHERE key = ? AND created >= ? LIMIT 1",
                              (event.key, event.time - dedup_s)).fetchone()
            if seen is not None:
                return False
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?)",
                       (event.id, event.key, event.time, json.dumps(event.to_json())))
            db.executemany("INSERT INTO deliveries (event_id, sink, state, next_try) VALUES (?, ?, 'pending', ?)",
                           [(event.id, s, event.time) for s in sinks])
        return True

    def claim(self, sinks: list[str], owner: str, lease_s: float = 60.0, limit: int = 50,
              now: float | None = None) -> list[tuple[str, Event]]:
        """Take up to ``limit`` due deliveries to ``sinks`` (oldest first) for ``lease_s`` seconds."""
        now = time.time() if now is None else now
        if not sinks:
            return []
        marks = ",".join("?" * len(sinks))
        with self._tx() as db:
            rows = db.execute(
                f"SELECT d.sink, e.payload, e.created FROM deliveries d JOIN events e ON e.id = d.event_id "
                f"WHERE d.state = 'pending' AND d.next_try <= ? AND d.sink IN ({marks}) "
                f"AND (d.claimed_until IS NULL OR d.claimed_until < ?) ORDER BY e.created LIMIT ?",
                (now, *sinks, now, limit)).fetchall()
            out = [(sink, Event.from_json(json.loads(payload), created)) for sink, payload, created in rows]
            db.executemany("UPDATE deliveries SET claimed_by = ?, claimed_until = ? WHERE event_id = ? AND sink = ?",
                           [(owner, now + lease_s, e.id, s) for s, e in out])
        return out

    def delivered(self, event_id: str, sink: str) -> None:
        """Record a delivery as done (it is never tried again)."""
        with self._tx() as db:
            db.execute("UPDATE deliveries SET state = 'delivered', done = ?, claimed_by = NULL, claimed_until = NULL, "
                       "attempts = attempts + 1 WHERE event_id = ? AND sink = ?", (time.time(), event_id, sink))

    def retry(self, event_id: str, sink: str, error: str, backoff_s: float, cap_s: float) -> float:
        """Record a failed try; the next one is due after ``backoff_s * 2**attempts`` (at most ``cap_s``).
        Returns that delay."""
        with self._tx() as db:
            row = db.execute("SELECT attempts FROM deliveries WHERE event_id = ? AND sink = ?",
                             (event_id, sink)).fetchone()
            attempts = int(row[0]) if row else 0
            delay = min(cap_s, backoff_s * 2 ** attempts)
            db.execute("UPDATE deliveries SET attempts = attempts + 1, next_try = ?, last_error = ?, claimed_by = NULL, "
                       "claimed_until = NULL WHERE event_id = ? AND sink = ?",
                       (time.time() + delay, error[:500], event_id, sink))
        return delay

    def rejected(self, event_id: str, sink: str, error: str) -> None:
        """Record a delivery the receiver refused for good (HTTP 4xx other than 408/429)."""
        with self._tx() as db:
            db.execute("UPDATE deliveries SET state = 'rejected', done = ?, last_error = ?, claimed_by = NULL, "
                       "claimed_until = NULL, attempts = attempts + 1 WHERE event_id = ? AND sink = ?",
                       (time.time(), error[:500], event_id, sink))

    def release_dead_claims(self, host: str) -> int:
        """Free the claims of senders on ``host`` whose process is gone (killed mid-delivery), so a
        restarted sender replays them at once instead of after the lease. Returns how many."""
        with self._tx() as db:
            owners = [r[0] for r in db.execute("SELECT DISTINCT claimed_by FROM deliveries WHERE state = 'pending' "
                                               "AND claimed_by LIKE ?", (f"{host}:%",))]
            dead = [o for o in owners if not _alive(o)]
            for o in dead:
                db.execute("UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?", (o,))
        return len(dead)

    def next_due(self, sinks: list[str]) -> float | None:
        """When the soonest pending delivery to ``sinks`` is due (None: nothing pending)."""
        if not sinks:
            return None
        marks = ",".join("?" * len(sinks))
        with self._db() as db:
            row = db.execute(f"SELECT MIN(MAX(next_try, COALESCE(claimed_until, 0))) FROM deliveries "
                             f"WHERE state = 'pending' AND sink IN ({marks})", sinks).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def counts(self) -> dict[str, dict[str, int]]:
        """sink -> {state: deliveries} (``pending``, ``delivered``, ``rejected``).

        Example:
            >>> import tempfile, os
            >>> Outbox(os.path.join(tempfile.mkdtemp(), "o.sqlite")).counts()
            {}
        """
        out: dict[str, dict[str, int]] = {}
        with self._db() as db:
            for sink, state, n in db.execute("SELECT sink, state, COUNT(*) FROM deliveries GROUP BY sink, state"):
                out.setdefault(sink, {})[state] = n
        return out

    def prune(self, older_than_s: float) -> int:
        """Forget events whose deliveries are all finished and that are older than ``older_than_s``
        (and older than any dedup window that still needs them). Returns how many."""
        cutoff = time.time() - older_than_s
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM events e WHERE created < ? AND NOT EXISTS (SELECT 1 FROM deliveries d "
                "WHERE d.event_id = e.id AND d.state = 'pending')", (cutoff,))]
            db.executemany("DELETE FROM deliveries WHERE event_id = ?", [(i,) for i in ids])
            db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])
        return len(ids)
