"""TF Serving's version policy over a base folder of numbered versions.

:class:`Versions` polls ``base_path`` (TF Serving's ``file_system_poll_wait_seconds``, default
1 s) and keeps the wanted versions loaded: the newest ``num_latest`` (policy ``latest``, TF
Serving's default), ``all``, or the ``specific`` ones named. A new version is loaded while the
old one keeps serving; only when it is ready does it become the default, and the old one is
dropped after its in-flight requests finish (each request holds its version). A version that
fails to load (say, a folder still being copied) is retried when its files change; the serving
version is untouched.

Rollback is a *pin*: ``pin(3)`` (or ``mlprod rollback BASE 3``) writes ``BASE/.mlprod-serving.json``
and every server watching that folder serves version 3 alone until ``unpin()``: the pin lives
with the models, so it survives restarts and reaches every replica.

Example:
    (tests/serving/test_server.py runs this.)
    >>> v = Versions("/srv/models/penguin")                                   # doctest: +SKIP
    >>> v.poll(); v.get(None).version                                         # doctest: +SKIP
    2
    >>> v.pin(1); v.poll(); v.get(None).version                               # doctest: +SKIP
    1
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from mlprod._compat import renamed
from mlprod.errors import ConfigError, DataError
from mlprod.io.files import version_folders
from mlprod.serving.model import Servable, load_version

PIN_FILE = ".mlprod-serving.json"
POLICIES = ("latest", "all", "specific")
log = logging.getLogger("mlprod.serving")


@renamed(base_path="model_dir")
def list_versions(model_dir: str) -> list[int]:
    """Numbered version folders under ``model_dir``, ascending (``00000123`` is version 123)."""
    return list(version_folders(model_dir))


def _stamp(folder: str) -> tuple[int, float]:
    n, newest = 0, 0.0
    for root, _, files in os.walk(folder):
        for f in files:
            n += 1
            newest = max(newest, os.stat(os.path.join(root, f)).st_mtime)
    return n, newest


@renamed(base_path="model_dir")
def read_pin(model_dir: str) -> int | None:
    """The pinned version of ``model_dir`` (None when nothing is pinned).

    Raises:
        ConfigError: the pin file is not ``{"pinned_version": N or null}`` (the message names the
            file and the fix: ``mlprod rollback BASE N`` rewrites it, ``--unpin`` clears it).
    """
    file = os.path.join(model_dir, PIN_FILE)
    try:
        with open(file) as f:
            text = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        doc = json.loads(text)
        v = doc["pinned_version"] if isinstance(doc, dict) else doc
        if v is None and isinstance(doc, dict):
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(v)
    except (json.JSONDecodeError, KeyError, ValueError):
        raise ConfigError(f"the pin file {file} does not hold {{\"pinned_version\": N}} (it holds {text[:80]!r}); "
                          f"pin a version with `mlprod rollback {model_dir} N` or clear it with "
                          f"`mlprod rollback {model_dir} --unpin`.") from None
    return v


@renamed(base_path="model_dir")
def serving_version(model_dir: str) -> int | None:
    """The version servers of ``model_dir`` serve now: the pinned one, else the newest (None: no version)."""
    versions = list_versions(model_dir)
    if not versions:
        return None
    pin = read_pin(model_dir)
    return pin if pin is not None else versions[-1]


@renamed(base_path="model_dir")
def write_pin(model_dir: str, version: int | None) -> None:
    """Pin ``model_dir`` to ``version`` (None unpins). Checks the version exists."""
    from mlprod.io.files import atomic_write_text

    if version is not None and int(version) not in list_versions(model_dir):
        raise ConfigError(f"version {version} is not under {model_dir} (it has {list_versions(model_dir)}); "
                          "roll back to one of those.")
    atomic_write_text(os.path.join(model_dir, PIN_FILE),
                      json.dumps({"pinned_version": None if version is None else int(version),
                                  "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))


class Versions:
    """The loaded versions of one model and which one serves by default (see module doc)."""

    def __init__(self, base_path: str, *, policy: str = "latest", num_latest: int = 1,
                 specific: list[int] | None = None, poll_s: float = 1.0,
                 on_change: Callable[[int | None], None] | None = None, keep: list[int] | None = None,
                 name: str = "") -> None:
        if policy not in POLICIES:
            raise ConfigError(f"version policy {policy!r} is not one of {POLICIES}.")
        if policy == "specific" and not specific:
            raise ConfigError("policy='specific' needs versions=[...] to serve.")
        if num_latest < 1:
            raise ConfigError(f"num_latest must be >= 1, got {num_latest}.")
        self.base_path, self.policy, self.num_latest = str(base_path), policy, num_latest
        self.specific = sorted(int(v) for v in specific or [])
        self.poll_s, self._on_change = poll_s, on_change
        self.name = name  # the served model's name, given to each loaded Servable
        self.keep = sorted(set(keep or []))  # versions kept loaded besides the policy's (labelled ones)
        self._loaded: dict[int, Servable] = {}
        self._failed: dict[int, tuple[tuple[int, float], str]] = {}
        self._ended: set[int] = set()  # versions unloaded after serving (TF Serving reports them END)
        self.pin_error: str | None = None  # a bad pin file: the server reports itself unhealthy
        self._default: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wanted(self, on_disk: list[int]) -> list[int]:
        try:
            pin = read_pin(self.base_path)
        except ConfigError as e:
            self.pin_error = str(e)
            raise
        self.pin_error = None
        if pin is not None and pin in on_disk:
            return [pin]
        if self.policy == "all":
            return on_disk
        chosen = [v for v in self.specific if v in on_disk] if self.policy == "specific" else on_disk[-self.num_latest:]
        return sorted(set(chosen) | {v for v in self.keep if v in on_disk})

    def poll(self) -> None:
        """One scan: load wanted versions not loaded yet, then drop the unwanted ones."""
        folders = version_folders(self.base_path)
        wanted = self.wanted(list(folders))
        for v in sorted(set(wanted) - set(self._loaded), reverse=True):
            folder = os.path.join(self.base_path, folders[v])
            stamp = _stamp(folder)
            if v in self._failed and self._failed[v][0] == stamp:
                continue  # failed before and unchanged since: wait for its files to change
            try:
                sv = load_version(folder, v)
            except Exception as e:  # noqa: BLE001 - a bad version must not stop the server
                self._failed[v] = (stamp, f"{type(e).__name__}: {e}")
                log.warning("model version %s at %s failed to load: %s", v, folder, e)
                continue
            self._failed.pop(v, None)
            sv.model_name = self.name
            with self._lock:
                self._loaded[v] = sv
                self._ended.discard(v)
            log.info("loaded model version %s from %s", v, folder)
        with self._lock:
            ready = [v for v in wanted if v in self._loaded]
            if ready:  # drop what is no longer wanted only once a wanted version serves
                for v in set(self._loaded) - set(ready):
                    del self._loaded[v]
                    self._ended.add(v)
                    log.info("unloaded model version %s", v)
            old, self._default = self._default, (max(ready) if ready else
                                                 (max(self._loaded) if self._loaded else None))
        if old != self._default and self._on_change is not None:
            self._on_change(self._default)

    def get(self, version: int | None) -> Servable:
        """The servable for ``version`` (None: the default one)."""
        with self._lock:
            v = self._default if version is None else int(version)
            sv = self._loaded.get(v) if v is not None else None
        if sv is None:
            if version is None:
                raise DataError(f"no model version is loaded from {self.base_path} yet "
                                f"(on disk: {list_versions(self.base_path)}; errors: {self.errors()}).")
            raise DataError(f"model version {version} is not loaded (loaded: {sorted(self._loaded)}); "
                            "ask for one of those or omit the version.")
        return sv

    @property
    def default(self) -> int | None:
        return self._default

    def errors(self) -> dict[int, str]:
        return {v: e for v, (_, e) in self._failed.items()}

    def status(self, version: int | None = None) -> list[dict[str, Any]]:
        """TF Serving's ``model_version_status`` entries: AVAILABLE, END (unloaded after serving, or
        with its load error). ``version`` narrows to one; a version never seen raises NotFound-style
        :class:`DataError` (TF Serving's NOT_FOUND)."""
        with self._lock:
            loaded, ended = set(self._loaded), set(self._ended)
        errors = self.errors()
        out = [{"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
               for v in sorted(loaded, reverse=True)]
        out += [{"version": str(v), "state": "END", "status": {"error_code": "UNKNOWN", "error_message": errors[v]}}
                for v in sorted(errors, reverse=True) if v not in loaded]
        out += [{"version": str(v), "state": "END", "status": {"error_code": "OK", "error_message": ""}}
                for v in sorted(ended - loaded - set(errors), reverse=True)]
        if version is not None:
            out = [s for s in out if s["version"] == str(version)]
            if not out:
                raise DataError(f"version {version} of this model is not known (versions with a state: "
                                f"{sorted(loaded | ended | set(errors))}).")
        return out

    def pin(self, version: int | None) -> None:
        """Serve ``version`` alone (rollback); ``None`` returns to the policy. Takes effect at the next poll."""
        write_pin(self.base_path, version)
        self.poll()

    def unpin(self) -> None:
        self.pin(None)

    def start(self) -> None:
        """First poll now (raises if nothing can be served), then poll in the background."""
        if not os.path.isdir(self.base_path):
            raise DataError(f"model base path {self.base_path} does not exist; point it at the Pusher's "
                            "push destination (the folder holding numbered version folders).")
        self.poll()  # a bad pin file raises its ConfigError here: the server does not start
        if self._default is None:
            raise DataError(f"no servable version under {self.base_path}: on disk {list_versions(self.base_path)}, "
                            f"load errors {self.errors() or 'none'}. Push a model (numbered folder) first.")
        self._thread = threading.Thread(target=self._watch, name="mlprod-versions", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 - keep watching
                log.warning("polling %s failed: %s", self.base_path, e)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
