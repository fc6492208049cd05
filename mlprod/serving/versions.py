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

The same file carries the registry's *approval* (:mod:`mlprod.tracking`: ``mlprod registry
approve`` / ``rollback`` write it): the approved version and who approved it, and the registry's
aliases as version labels (``champion``, ``candidate``). A server started with
``require_approval=True`` serves the approved version as its default and nothing else by
default (a manual pin does not override it), keeps the labelled versions loaded for
``/labels/candidate`` requests, and follows a new approval or rollback at its next poll.

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


def read_pin_state(model_dir: str) -> dict[str, Any]:
    """Everything the pin file of ``model_dir`` says: ``pinned_version`` (None: no pin),
    ``approval`` (the registry's approved version: ``{"version": N, "model": ..., "by": ...,
    "at": ..., "note": ...}``, or None) and ``labels`` (registry aliases as version labels).

    Raises:
        ConfigError: the pin file does not parse (as :func:`read_pin`), or its approval or labels
            are not what the registry writes.

    Example:
        >>> import tempfile
        >>> read_pin_state(tempfile.mkdtemp())
        {'pinned_version': None, 'approval': None, 'labels': {}}
    """
    pinned = read_pin(model_dir)
    file = os.path.join(model_dir, PIN_FILE)
    try:
        with open(file) as f:
            doc = json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    approval, labels = doc.get("approval"), doc.get("labels") or {}
    ok = (approval is None or (isinstance(approval, dict) and _is_version(approval.get("version")))) and \
        isinstance(labels, dict) and all(isinstance(k, str) and _is_version(v) for k, v in labels.items())
    if not ok:
        raise ConfigError(f"the pin file {file} holds an approval or labels that are not the registry's "
                          f"({str(approval)[:80]!r}, {str(labels)[:80]!r}); rewrite them with "
                          "`mlprod registry approve NAME VERSION --note ...`.")
    return {"pinned_version": pinned, "approval": approval, "labels": dict(labels)}


def _is_version(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


@renamed(base_path="model_dir")
def serving_version(model_dir: str) -> int | None:
    """The version servers of ``model_dir`` serve now: the pinned one, else the newest (None: no version)."""
    versions = list_versions(model_dir)
    if not versions:
        return None
    pin = read_pin(model_dir)
    return pin if pin is not None else versions[-1]


_KEEP: Any = object()  # write_pin: leave this part of the pin file as it is


@renamed(base_path="model_dir")
def write_pin(model_dir: str, version: int | None = _KEEP, *, approval: dict[str, Any] | None = _KEEP,
              labels: dict[str, int] | None = _KEEP) -> None:
    """Pin ``model_dir`` to ``version`` (None unpins); ``approval=`` and ``labels=`` set the
    registry's part of the file (what :mod:`mlprod.tracking` writes; None clears it). What is not
    passed stays as it is. Checks that the versions named exist.

    Example:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp(); os.mkdir(os.path.join(d, "1"))
        >>> write_pin(d, approval={"version": 1, "by": "ana", "note": "ok"}, labels={"champion": 1})
        >>> read_pin_state(d)["approval"]["version"], read_pin(d)
        (1, None)
    """
    from mlprod.io.files import atomic_write_text

    on_disk = list_versions(model_dir)
    state = read_pin_state(model_dir)
    named = {"version": version} if version not in (None, _KEEP) else {}
    if approval not in (None, _KEEP):
        named["approved version"] = approval["version"]
    for k, v in (labels if labels not in (None, _KEEP) else {}).items():
        named[f"label {k!r}"] = v
    for what, v in named.items():
        if int(v) not in on_disk:
            raise ConfigError(f"{what} {v} is not under {model_dir} (it has {on_disk}); name one of those.")
    doc = {"pinned_version": state["pinned_version"] if version is _KEEP else None if version is None else int(version),
           "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    approval = state["approval"] if approval is _KEEP else approval
    labels = state["labels"] if labels is _KEEP else labels
    if approval is not None:
        doc["approval"] = {**approval, "version": int(approval["version"])}
    if labels:
        doc["labels"] = {k: int(v) for k, v in labels.items()}
    atomic_write_text(os.path.join(model_dir, PIN_FILE), json.dumps(doc))


class Versions:
    """The loaded versions of one model and which one serves by default (see module doc)."""

    def __init__(self, base_path: str, *, policy: str = "latest", num_latest: int = 1,
                 specific: list[int] | None = None, poll_s: float = 1.0,
                 on_change: Callable[[int | None], None] | None = None, keep: list[int] | None = None,
                 name: str = "", require_approval: bool = False) -> None:
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
        self.require_approval = bool(require_approval)
        self.approval: dict[str, Any] | None = None  # the pin file's approval, read at each poll
        self.file_labels: dict[str, int] = {}  # the registry's aliases as labels (require_approval only)
        self._said = ""
        self._loaded: dict[int, Servable] = {}
        self._failed: dict[int, tuple[tuple[int, float], str]] = {}
        self._ended: set[int] = set()  # versions unloaded after serving (TF Serving reports them END)
        self.pin_error: str | None = None  # a bad pin file: the server reports itself unhealthy
        self._default: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def plan(self, on_disk: list[int]) -> tuple[list[int], list[int]]:
        """(the versions that may serve by default, the versions loaded besides them for labels).

        The default ones: the approved version (``require_approval``; none before an approval),
        else the pinned one, else the policy's choice.
        """
        try:
            state = read_pin_state(self.base_path)
        except ConfigError as e:
            self.pin_error = str(e)
            raise
        self.pin_error = None
        pin = state["pinned_version"]
        if self.require_approval:
            self.approval = state["approval"]
            self.file_labels = {k: v for k, v in state["labels"].items() if v in on_disk}
            main = [self.approval["version"]] if self.approval and self.approval["version"] in on_disk else []
            extra = set(self.keep) | set(self.file_labels.values())
            return main, sorted(v for v in extra - set(main) if v in on_disk)
        if pin is not None and pin in on_disk:
            return [pin], []
        if self.policy == "all":
            return on_disk, []
        chosen = [v for v in self.specific if v in on_disk] if self.policy == "specific" else on_disk[-self.num_latest:]
        return chosen, sorted({v for v in self.keep if v in on_disk} - set(chosen))

    def wanted(self, on_disk: list[int]) -> list[int]:
        main, extra = self.plan(on_disk)
        return sorted(set(main) | set(extra))

    def poll(self) -> None:
        """One scan: load wanted versions not loaded yet, then drop the unwanted ones."""
        folders = version_folders(self.base_path)
        main, extra = self.plan(list(folders))
        wanted = sorted(set(main) | set(extra))
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
            ready_main = [v for v in main if v in self._loaded]
            if ready_main or (ready and not self.require_approval):
                # drop what is no longer wanted only once a wanted version serves
                for v in set(self._loaded) - set(ready):
                    del self._loaded[v]
                    self._ended.add(v)
                    log.info("unloaded model version %s", v)
            new: int | None
            if ready_main:
                new = max(ready_main)
                self._said = ""
            elif self.require_approval:  # no approved version loads: keep the one serving (or none)
                new = self._default if self._default in self._loaded else None
                problem = self.approval_problem(list(folders))
                if problem != self._said:  # once per change, not at every poll
                    log.warning("%s", problem)
                    self._said = problem
            else:
                new = max(ready) if ready else (max(self._loaded) if self._loaded else None)
            old, self._default = self._default, new
        if old != self._default and self._on_change is not None:
            self._on_change(self._default)

    def approval_problem(self, on_disk: list[int]) -> str:
        """Why no approved version serves (``require_approval``), with the fix."""
        if self.approval is None:
            return (f"no version of {self.base_path} is approved (on disk: {on_disk}); this server serves only an "
                    "approved version: approve one with `mlprod registry approve NAME VERSION --note ...`.")
        v = self.approval["version"]
        if v not in on_disk:
            return f"the approved version {v} is not under {self.base_path} (on disk: {on_disk})."
        return f"the approved version {v} does not load: {self.errors().get(v, 'loading')}."

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
        if self._default is None and self.require_approval:
            raise DataError(self.approval_problem(list_versions(self.base_path)))
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
