"""Request logging: what the server saw and answered, as ``tf.Example`` TFRecords.

Every logged request row becomes one ``tf.Example``: its features (the raw features a client
sent: the parsed ``tf.Example`` or the named inputs), the prediction (``_prediction``, or
``_prediction_<output>`` for several outputs), ``_model_version``, ``_request_id`` and
``_timestamp_ms``. Files live in one folder per UTC day, ``LOG_DIR/YYYY-MM-DD/requests-*.tfrecord``,
so ExampleGen reads a day as a span (``input_base=LOG_DIR``, pattern ``{YYYY}-{MM}-{DD}/*``) and
our validation reads them as any TFRecord file.

The response path only appends to an in-memory queue (with batching, the batch thread appends a
whole model call at once, after answering its requests); a writer thread frames the queued records
and appends them, oldest first, one ``write`` system call per run of like requests, on a fixed
cadence of half ``flush_interval_s`` (default 1 s). A ``SIGKILL`` therefore loses at most the last
``flush_interval_s`` of answered requests (while a flush takes under half the interval; the
request-log test checks the lag by timestamps under load) and never leaves a torn record (a single
``write`` to a local file is not split by a signal); ``close()`` (SIGTERM) writes everything.
``sample_rate`` logs a fraction of rows; ``max_file_bytes`` rotates files; ``max_total_bytes``
caps the folder by deleting the oldest request files. A full queue drops records (counted),
it never blocks a response.

Ground truth arrives later: :func:`log_feedback` appends ``(request id, label)`` records under
``LOG_DIR/feedback/`` and :func:`read_requests` joins them to the requests.

Example:
    (tests/serving/test_requestlog.py runs this.)
    >>> log = RequestLog("/tmp/reqlog", flush_interval_s=0.1)                 # doctest: +SKIP
    >>> log.log([{"x": 1.0}], {"y": np.array([[0.2, 0.8]])}, version=3, request_id="r1")  # doctest: +SKIP
    >>> log.close(); log_feedback("/tmp/reqlog", {"r1": 1})                   # doctest: +SKIP
    >>> read_requests("/tmp/reqlog")[["_request_id", "label"]]                # doctest: +SKIP
"""
from __future__ import annotations

import glob
import logging
import os
import random
import struct
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from mlprod.errors import DataError
from mlprod.params import Interval, check_params

log = logging.getLogger("mlprod.serving")
FEEDBACK_DIR = "feedback"


def _masked_crc(data: bytes) -> bytes:
    import google_crc32c

    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _frame(records: list[bytes]) -> bytes:
    """TFRecord framing: uint64 length, masked crc32c of it, the data, masked crc32c of the data."""
    parts: list[bytes] = []
    for r in records:
        n = struct.pack("<Q", len(r))
        parts += (n, _masked_crc(n), r, _masked_crc(r))
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _feature(values: Any) -> Any:
    import tensorflow as tf

    a = np.asarray(values)
    flat = a.reshape(-1) if a.ndim else a.reshape(1)
    if a.dtype.kind in "OSU":
        return tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat]))
    if a.dtype.kind in "iub":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=flat.astype(np.int64).tolist()))
    return tf.train.Feature(float_list=tf.train.FloatList(value=flat.astype(np.float32).tolist()))


def _list_column(values: Any, n: int) -> Any:
    """A batch-first array as an Arrow list column (row i: ``values[i]`` flattened, typed as
    :func:`_feature` types it), or None when it has no fixed row shape (ragged objects)."""
    import pyarrow as pa

    a = np.asarray(values)
    if a.ndim == 0 or len(a) != n:
        return None
    width = int(np.prod(a.shape[1:], dtype=np.int64)) if a.ndim > 1 else 1
    flat = a.reshape(-1)
    if a.dtype.kind in "OSU":
        if a.dtype.kind == "O" and not all(isinstance(v, (bytes, str)) for v in flat):
            return None
        vals = pa.array([v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat], pa.binary())
    elif a.dtype.kind in "iub":
        vals = pa.array(flat.astype(np.int64))
    else:
        vals = pa.array(flat.astype(np.float32))
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * width), vals)


def _arrow_records(columns: dict[str, Any], n: int) -> list[bytes] | None:
    """``columns`` as n serialized ``tf.Example`` in one tfx_bsl call, or None (see _list_column)."""
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    arrays = {}
    for k, v in columns.items():
        col = _list_column(v, n)
        if col is None:
            return None
        arrays[k] = col
    return list(example_coder.RecordBatchToExamples(pa.RecordBatch.from_pydict(arrays)))


def build_records(inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray], *, takes_examples: bool,
                  version: int, request_ids: list[str], now_ms: int | np.ndarray | None = None) -> list[bytes]:
    """One serialized ``tf.Example`` per request row: features + prediction + version/id/time.

    The whole request is encoded in one tfx_bsl call; for a signature that takes serialized
    ``tf.Example`` the logged fields are appended to the client's bytes (protobuf merges
    concatenated messages; a logged field replaces a feature of the same name).

    Example:
        >>> import tensorflow as tf
        >>> rec = build_records({"x": np.array([1.5, 2.5])}, {"p": np.array([[0.2], [0.9]])}, takes_examples=False,
        ...                     version=3, request_ids=["a", "b"], now_ms=0)
        >>> f = tf.train.Example.FromString(rec[1]).features.feature
        >>> f["x"].float_list.value[0], round(f["_prediction"].float_list.value[0], 2), f["_model_version"].int64_list.value[0]
        (2.5, 0.9, 3)
    """
    import tensorflow as tf

    n = len(request_ids)
    stamps = np.full(n, int(time.time() * 1000) if now_ms is None else now_ms, np.int64)  # an int or one per row
    logged = {("_prediction" if len(outputs) == 1 else f"_prediction_{k}"): v for k, v in outputs.items()}
    logged.update({"_model_version": np.full(n, int(version), np.int64),
                   "_request_id": np.array([r.encode("utf-8") for r in request_ids], dtype=object),
                   "_timestamp_ms": stamps})
    if takes_examples:
        given = next(iter(inputs.values()))
        if not all(isinstance(v, bytes) for v in given):
            raise DataError("a signature that takes tf.Examples was given something else than serialized "
                            f"tf.Example bytes ({np.asarray(given).dtype}); nothing was logged for it.")
        extra = _arrow_records(logged, n)
        if extra is not None and len(given) == n:
            return [bytes(a) + b for a, b in zip(given, extra, strict=True)]
    else:
        fast = _arrow_records({**inputs, **logged}, n)
        if fast is not None:
            return fast
    out = []
    for i in range(n):
        if takes_examples:
            ex = tf.train.Example.FromString(next(iter(inputs.values()))[i])
        else:
            ex = tf.train.Example()
            for k, v in inputs.items():
                ex.features.feature[k].CopyFrom(_feature(v[i]))
        f = ex.features.feature
        for k, v in outputs.items():
            f["_prediction" if len(outputs) == 1 else f"_prediction_{k}"].CopyFrom(_feature(v[i]))
        f["_model_version"].int64_list.value.append(int(version))
        f["_request_id"].bytes_list.value.append(request_ids[i].encode("utf-8"))
        f["_timestamp_ms"].int64_list.value.append(int(stamps[i]))
        out.append(ex.SerializeToString())
    return out


def _groups(requests: list[tuple[Any, Any, dict[str, Any]]]) -> list[list[tuple[Any, Any, dict[str, Any]]]]:
    """Queued requests grouped so that each group's arrays concatenate: same signature kind,
    model version, input and output names, dtypes and trailing shapes (order kept within a group)."""
    from mlprod.serving.batching import batch_key  # what must agree to concatenate, as the batcher asks

    groups: dict[Any, list[tuple[Any, Any, dict[str, Any]]]] = {}
    for r in requests:
        try:
            key: Any = batch_key((r[2]["takes_examples"], r[2]["version"], batch_key(None, r[1])), r[0])
        except Exception:  # noqa: BLE001 - odd inputs: a group of its own, encoded (or dropped) alone
            key = id(r)
        groups.setdefault(key, []).append(r)
    return list(groups.values())


#: the request log's options (serve(log_*=...), mlprod serve --log_*; mlprod.params)
LOG_PARAMS = {"sample_rate": Interval(float, 0, 1, closed="right"),
              "flush_interval_s": Interval(float, 0, closed="neither"), "max_file_bytes": Interval(int, 1),
              "max_total_bytes": Interval(int, 1, optional=True), "max_queue": Interval(int, 1)}


class RequestLog:
    """Appends request records to rotating TFRecord files from a background thread (module doc)."""

    def __init__(self, log_dir: str, *, sample_rate: float = 1.0, flush_interval_s: float = 1.0,
                 max_file_bytes: int = 64 << 20, max_total_bytes: int | None = None,
                 max_queue: int = 1_000_000, seed: int | None = None) -> None:
        check_params("request log", locals(), LOG_PARAMS)
        self.log_dir, self.sample_rate, self.flush_interval_s = str(log_dir), sample_rate, flush_interval_s
        self.max_file_bytes, self.max_total_bytes = max_file_bytes, max_total_bytes
        os.makedirs(self.log_dir, exist_ok=True)
        _frame([build_records({"x": np.zeros(1)}, {}, takes_examples=False, version=0, request_ids=["warm"])[0]])
        self._q: deque[Any] = deque()  # append/popleft are atomic: no lock on the response path
        self.max_queue = max_queue
        self._wake = threading.Event()
        self._rng = random.Random(seed)
        self._fd: int | None = None
        self._path: str | None = None
        self._day: str | None = None
        self._size = 0
        self._seq = 0
        self.written = 0
        self.dropped = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="mlprod-request-log", daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        """Whether to log the next row (``sample_rate``)."""
        return self.sample_rate >= 1.0 or self._rng.random() < self.sample_rate

    def append(self, records: list[bytes]) -> None:
        """Queue serialized records; never blocks (a full queue drops and counts them)."""
        self._put(records, len(records))

    def _put(self, item: Any, n: int) -> None:
        if not n or self._closed:
            return
        if len(self._q) >= self.max_queue:
            self.dropped += n
        else:
            self._q.append(item)

    def log(self, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray], *, version: int,
            request_ids: list[str], takes_examples: bool = False) -> None:
        """Queue one answered request (rows sampled by ``sample_rate``); records are built on the writer thread."""
        keep = [i for i in range(len(request_ids)) if self.sampled()]
        if not keep:
            return
        if len(keep) < len(request_ids):
            inputs = {k: np.asarray(v)[keep] for k, v in inputs.items()}
            outputs = {k: np.asarray(v)[keep] for k, v in outputs.items()}
            request_ids = [request_ids[i] for i in keep]
        kw = {"takes_examples": takes_examples, "version": version, "request_ids": request_ids,
              "now_ms": int(time.time() * 1000)}
        self._put((inputs, outputs, kw), len(request_ids))

    def _open(self) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime())
        folder = os.path.join(self.log_dir, day)
        os.makedirs(folder, exist_ok=True)
        self._seq += 1
        name = f"requests-{time.strftime('%H%M%S', time.gmtime())}-{os.getpid()}-{self._seq:05d}.tfrecord"
        self._path = os.path.join(folder, name)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._day, self._size = day, 0

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _flush(self, batches: list[list[bytes]]) -> None:
        records = [r for b in batches for r in b]
        if not records:
            return
        if self._fd is None or self._size >= self.max_file_bytes or \
                self._day != time.strftime("%Y-%m-%d", time.gmtime()):
            self._close_file()
            self._open()
            self._enforce_cap()
        data = _frame(records)
        assert self._fd is not None
        _write_all(self._fd, data)
        self._size += len(data)
        self.written += len(records)

    def _enforce_cap(self) -> None:
        if self.max_total_bytes is None:
            return
        files = sorted(request_files(self.log_dir), key=os.path.getmtime)
        total = sum(os.path.getsize(f) for f in files)
        for f in files:
            if total <= self.max_total_bytes or f == self._path:
                break
            total -= os.path.getsize(f)
            os.remove(f)
            log.info("request log over %d bytes: removed %s", self.max_total_bytes, f)

    def _drain(self) -> tuple[list[Any], bool]:
        """Everything queued now, in arrival order: record lists and request groups."""
        items: list[Any] = []
        stop = False
        while True:
            try:
                b = self._q.popleft()
            except IndexError:
                break
            if b is None:
                stop = True
            else:
                items.append(b)
        return items, stop

    def _write_items(self, items: list[Any]) -> None:
        """Encode and write in arrival order, one write per run of like requests, so the oldest
        records reach the file first (a SIGKILL mid-flush keeps everything written before it)."""
        i = 0
        while i < len(items):
            if not isinstance(items[i], tuple):
                self._write(items[i])
                i += 1
                continue
            j = i
            while j < len(items) and isinstance(items[j], tuple):
                j += 1
            for group in _groups(items[i:j]):  # one encode per group of like requests
                for records in self._build(group):
                    self._write(records)
            i = j

    def _write(self, records: list[bytes]) -> None:
        try:
            self._flush([records])
        except OSError as e:  # disk full, folder removed: count, keep serving
            self.dropped += len(records)
            log.warning("request log write failed (%s); %d records dropped", e, self.dropped)

    def _build(self, group: list[tuple[Any, Any, dict[str, Any]]]) -> list[list[bytes]]:
        try:
            if len(group) == 1:
                return [build_records(group[0][0], group[0][1], **group[0][2])]
            kw = {**group[0][2], "request_ids": [r for g in group for r in g[2]["request_ids"]],
                  "now_ms": np.repeat(np.array([g[2]["now_ms"] for g in group], np.int64),
                                      [len(g[2]["request_ids"]) for g in group])}
            inputs = {k: np.concatenate([np.asarray(g[0][k]) for g in group]) for k in group[0][0]}
            outputs = {k: np.concatenate([np.asarray(g[1][k]) for g in group]) for k in group[0][1]}
            return [build_records(inputs, outputs, **kw)]
        except Exception as e:  # noqa: BLE001 - a record that cannot be built must not stop logging
            if len(group) > 1:  # encode each alone: only the bad request is dropped
                return [b for g in group for b in self._build([g])]
            self.dropped += len(group[0][2]["request_ids"])
            log.warning("could not log a request (%s); %d records dropped so far", e, self.dropped)
            return []

    def _loop(self) -> None:
        # flushes start on a fixed cadence of half the interval (not "wait an interval after the
        # last flush ended"), so a record answered more than flush_interval_s ago is on disk as
        # long as one flush takes less than half the interval (measured: tests/serving/test_requestlog.py)
        period = self.flush_interval_s / 2
        stop = False
        next_at = time.monotonic() + period
        while not stop:
            self._wake.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at + period, time.monotonic())
            items, stop = self._drain()
            self._write_items(items)
        self._close_file()

    def close(self, timeout: float = 30.0) -> None:
        """Write every queued record and close the file (graceful shutdown)."""
        if self._closed:
            return
        self._closed = True
        self._q.append(None)
        self._wake.set()
        self._thread.join(timeout)


def request_files(log_dir: str) -> list[str]:
    """The request log files under ``log_dir``, oldest day first."""
    return sorted(glob.glob(os.path.join(str(log_dir), "*", "requests-*.tfrecord")))


def log_feedback(log_dir: str, labels: "dict[str, Any] | list[tuple[str, Any]]", *, label: str = "label") -> str:
    """Record ground truth for logged requests: ``{request_id: label}``. Returns the file written.

    Example:
        (tests/serving/test_requestlog.py runs this.)
        >>> log_feedback("/srv/logs/penguin", {"5f0c...": 2})                   # doctest: +SKIP
    """
    import tensorflow as tf

    pairs = list(labels.items()) if isinstance(labels, dict) else list(labels)
    if not pairs:
        raise DataError("no feedback given: pass {request_id: label, ...}.")
    records = []
    now = int(time.time() * 1000)
    for rid, y in pairs:
        ex = tf.train.Example()
        ex.features.feature["_request_id"].bytes_list.value.append(str(rid).encode("utf-8"))
        ex.features.feature[label].CopyFrom(_feature(y))
        ex.features.feature["_feedback_ms"].int64_list.value.append(now)
        records.append(ex.SerializeToString())
    from mlprod.io.files import atomic_file

    path = os.path.join(str(log_dir), FEEDBACK_DIR,
                        f"feedback-{now}-{os.getpid()}-{threading.get_ident() % 100000}.tfrecord")
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        f.write(_frame(records))
    return path


def read_requests(log_dir: str, *, with_feedback: bool = True, label: str = "label") -> "Any":
    """Logged requests as a DataFrame (one row per request row), feedback labels joined on ``_request_id``.

    Example:
        (tests/serving/test_requestlog.py runs this.)
        >>> df = read_requests("/srv/logs/penguin")                             # doctest: +SKIP
        >>> df[["_request_id", "_model_version", "_prediction", "label"]].head()  # doctest: +SKIP
    """
    import pandas as pd

    from mlprod.io.frames import read_tfrecord

    files = request_files(log_dir)
    if not files:
        raise DataError(f"no request logs under {log_dir} (expected YYYY-MM-DD/requests-*.tfrecord); "
                        "serve with log_dir=... and send requests first.")
    df = read_tfrecord(files)
    df = df.sort_values("_timestamp_ms", kind="stable").reset_index(drop=True)
    fb_files = sorted(glob.glob(os.path.join(str(log_dir), FEEDBACK_DIR, "feedback-*.tfrecord")))
    if with_feedback and fb_files:
        fb = read_tfrecord(fb_files).sort_values("_feedback_ms").drop_duplicates("_request_id", keep="last")
        if label in df.columns:
            df = df.drop(columns=[label])
        df = df.merge(fb[["_request_id", label, "_feedback_ms"]], on="_request_id", how="left")
    elif with_feedback:
        df[label] = pd.NA
    return df
