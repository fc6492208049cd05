"""Dynamic request batching, as TF Serving's ``--enable_batching``: concurrent requests for the
same model version and signature are concatenated along the batch axis and run as one call.

A batch runs when it holds ``max_batch_size`` rows or its oldest request has waited
``batch_timeout_s`` (TF Serving's ``batch_timeout_micros``), whichever comes first.
``num_batch_threads`` batches run at once (TensorFlow releases the GIL while it computes).
``on_run(key, items, inputs, outputs)`` sees every model call that answered, after its
requests have their results: ``items`` lists each request's ``(tag, rows)`` (the server logs
a whole batch this way, in one call, from the batch thread).
Requests whose inputs cannot be concatenated (other dtypes or trailing shapes) go in separate
batches. A request larger than ``max_batch_size`` runs alone.

Example:
    >>> import numpy as np
    >>> b = Batcher(lambda key, x: {"y": x["x"] * 2}, max_batch_size=8, batch_timeout_s=0.001)
    >>> b.submit("k", {"x": np.array([1.0, 2.0])}).result()["y"].tolist()
    [2.0, 4.0]
    >>> async def one():  # from an event loop (the REST server): an awaitable, settled once per batch
    ...     return (await b.submit_async("k", {"x": np.array([3.0])}))["y"].tolist()
    >>> asyncio.run(one())
    [6.0]
    >>> b.close()
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlprod.errors import DataError, Unavailable
from mlprod.params import Interval, check_params

#: TF Serving's batching parameters, checked alike by Batching, the Batcher and mlprod serve
BATCHING_PARAMS = {"max_batch_size": Interval(int, 1), "batch_timeout_s": Interval(float, 0),
                   "num_batch_threads": Interval(int, 1)}

log = logging.getLogger("mlprod.serving")


@dataclass
class _Item:
    key: Any
    inputs: dict[str, np.ndarray]
    rows: int
    future: Future | asyncio.Future
    loop: asyncio.AbstractEventLoop | None = None  # set for an asyncio future: settled on its loop
    tag: Any = None  # the caller's (the server's: the request id), handed to on_run
    t: float = field(default_factory=time.monotonic)


def request_rows(inputs: dict[str, np.ndarray]) -> int | None:
    """The batch size (first dimension) all of a request's inputs share, or None when they do not.

    Example:
        >>> request_rows({"a": np.zeros((3, 2)), "b": np.zeros(3)}), request_rows({"a": np.zeros(3), "b": np.zeros(2)})
        (3, None)
    """
    rows = {int(v.shape[0]) if v.ndim else -1 for v in inputs.values()}
    return rows.pop() if len(rows) == 1 and -1 not in rows else None


def batch_key(key: Hashable, inputs: dict[str, np.ndarray]) -> Hashable:
    """``key`` plus each input's dtype and trailing shape: what must agree to concatenate."""
    return (key, tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items())))


class Batcher:
    """Collects requests into batches and runs ``run(key, inputs) -> outputs`` on worker threads."""

    def __init__(self, run: Callable[[Hashable, dict[str, np.ndarray]], dict[str, np.ndarray]], *,
                 max_batch_size: int = 32, batch_timeout_s: float = 0.002, num_batch_threads: int = 2,
                 on_run: Callable[[Any, list[tuple[Any, int]], dict[str, np.ndarray], dict[str, np.ndarray]], None]
                 | None = None) -> None:
        check_params("batching", locals(), BATCHING_PARAMS)
        self._run, self.max_batch_size, self.timeout = run, max_batch_size, batch_timeout_s
        self._on_run = on_run
        self._pending: dict[Hashable, list[_Item]] = {}
        self._cv = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._loop, name=f"mlprod-batch-{i}", daemon=True)
                         for i in range(num_batch_threads)]
        for t in self._threads:
            t.start()

    def submit(self, key: Hashable, inputs: dict[str, np.ndarray], tag: Any = None) -> Future:
        """Queue one request (batch-first arrays); the future resolves to its slice of the outputs."""
        fut: Future = Future()
        self._queue(key, inputs, fut, None, tag)
        return fut

    def submit_async(self, key: Hashable, inputs: dict[str, np.ndarray], tag: Any = None) -> asyncio.Future:
        """:meth:`submit` for a caller on an asyncio event loop (call it from the loop's thread).

        The batch thread hands every result of one batch to the loop in one call, instead of one
        cross-thread wake-up per request (what ``asyncio.wrap_future`` of :meth:`submit` costs).
        """
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue(key, inputs, fut, loop, tag)
        return fut

    def _queue(self, key: Hashable, inputs: dict[str, np.ndarray], fut: Future | asyncio.Future,
               loop: asyncio.AbstractEventLoop | None, tag: Any) -> None:
        rows = request_rows(inputs)
        if rows is None:
            got = sorted({int(v.shape[0]) if v.ndim else 1 for v in inputs.values()})
            fut.set_exception(DataError(f"every input needs the same batch size (first dimension); got {got}."))
            return
        item = _Item(batch_key(key, inputs), inputs, rows, fut, loop, tag)
        with self._cv:
            if self._closed:
                raise Unavailable("the batcher is closed (the server is shutting down); retry on another replica.")
            items = self._pending.setdefault(item.key, [])
            items.append(item)
            # wake a batch thread only when its wait changes: a new head (a waiting thread may sleep
            # untimed or past this item's deadline) or a full batch; not once per request
            if len(items) == 1 or len(items) >= self.max_batch_size or \
                    sum(i.rows for i in items) >= self.max_batch_size:  # the sum: over < max_batch_size items
                self._cv.notify()

    def _take(self) -> list[_Item] | None:
        """Wait for a batch that is full or old enough; None once closed and empty."""
        with self._cv:
            while True:
                if not self._pending:
                    if self._closed:
                        return None
                    self._cv.wait()
                    continue
                key = min(self._pending, key=lambda k: self._pending[k][0].t)
                items = self._pending[key]
                rows = sum(i.rows for i in items)
                wait = items[0].t + self.timeout - time.monotonic()
                if rows >= self.max_batch_size or wait <= 0 or self._closed:
                    batch: list[_Item] = []
                    n = 0
                    while items and (not batch or n + items[0].rows <= self.max_batch_size):
                        it = items.pop(0)
                        batch.append(it)
                        n += it.rows
                    if not items:
                        del self._pending[key]
                    if self._pending:  # what is left may be due: let another thread look
                        self._cv.notify()
                    return batch
                self._cv.wait(wait)

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            done: list[tuple[_Item, Any, BaseException | None]] = []
            calls: list[tuple[list[_Item], dict[str, np.ndarray], dict[str, np.ndarray]]] = []  # for on_run
            try:
                if len(batch) == 1:
                    out = self._run(batch[0].key[0], batch[0].inputs)
                    calls.append((batch, batch[0].inputs, out))
                    done = [(batch[0], out, None)]
                else:
                    joined = {k: np.concatenate([i.inputs[k] for i in batch]) for k in batch[0].inputs}
                    out = self._run(batch[0].key[0], joined)
                    calls.append((batch, joined, out))
                    bounds = np.cumsum([0] + [i.rows for i in batch])
                    done = [(it, {k: v[bounds[j]:bounds[j + 1]] for k, v in out.items()}, None)
                            for j, it in enumerate(batch)]
            except Exception as e:  # noqa: BLE001 - one bad request must not fail its batch-mates
                calls = []
                if len(batch) == 1:
                    done = [(batch[0], None, e)]
                else:
                    for it in batch:  # run each alone: the good ones answer, the bad one gets its own error
                        try:
                            o = self._run(it.key[0], it.inputs)
                            calls.append(([it], it.inputs, o))
                            done.append((it, o, None))
                        except Exception as e1:  # noqa: BLE001
                            done.append((it, None, e1))
            _settle(done)  # answer first; then what watches the calls (metrics, the request log)
            if self._on_run is not None:
                for items, ins, outs in calls:
                    try:
                        self._on_run(items[0].key[0], [(i.tag, i.rows) for i in items], ins, outs)
                    except Exception as e:  # noqa: BLE001 - a watcher's failure must not stop serving
                        log.warning("batch watcher failed: %s", e)

    def close(self, timeout: float | None = 30.0) -> None:
        """Run what is queued, then stop the worker threads (a drain, for graceful shutdown)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout)


def _settle(done: list[tuple[_Item, Any, BaseException | None]]) -> None:
    """Resolve futures: thread futures here, asyncio ones in one call per event loop."""
    per_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for it, out, exc in done:
        if it.loop is None:
            if exc is None:
                it.future.set_result(out)
            else:
                it.future.set_exception(exc)
        else:
            per_loop.setdefault(it.loop, []).append((it.future, out, exc))
    for loop, items in per_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, items)
        except RuntimeError:  # the loop has closed: nobody waits for these any more
            pass


def _settle_on_loop(items: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    for fut, out, exc in items:
        if fut.done():  # cancelled: the client went away
            continue
        if exc is None:
            fut.set_result(out)
        else:
            fut.set_exception(exc)


def run_unbatched(run: Callable[[Hashable, dict[str, np.ndarray]], dict[str, np.ndarray]],
                  key: Hashable, inputs: dict[str, np.ndarray]) -> Future:
    """The same interface without batching: run now, in the caller's thread."""
    fut: Future = Future()
    try:
        fut.set_result(run(key, inputs))
    except Exception as e:  # noqa: BLE001
        fut.set_exception(e)
    return fut


