"""The model registry on MLflow: each push a registered version, approvals as aliases.

MLflow 3 names versions with *aliases* (stages are deprecated there). A push registers a version
under the alias ``candidate``; a person (or a policy) approves one with a note,
:func:`approve` (``mlprod registry approve NAME VERSION --note "..."``), which moves the
``champion`` alias to it and records who, when and why as version tags; :func:`rollback` moves
``champion`` back to the version approved before. Each change is written to the pin file of the
Pusher folder the version lives in (:func:`mlprod.serving.versions.write_pin`), so servers
started with ``require_approval=True`` (``mlprod serve --require-approval``) serve the champion
and answer ``/labels/candidate`` with the candidate, within one poll, without MLflow.

Version tags written here: ``mlprod.model_dir`` (the Pusher folder), ``mlprod.serving_version``
(the numbered folder), ``mlprod.approval`` (``approved`` / ``rolled back``),
``mlprod.approved_by``, ``mlprod.approved_at``, ``mlprod.approval_note``,
``mlprod.rolled_back_by``/``_at``/``_note``; the pipeline adds its ML Metadata ids and spans
(:func:`mlprod.pipelines.tracking.log_run`).

Example:
    (tests/serving/test_approval.py runs this.)
    >>> from mlprod import tracking
    >>> uri = "sqlite:////srv/registry/mlflow.db"
    >>> v = tracking.register_version("penguin", "/srv/models/penguin/1700000000", tracking_uri=uri)  # doctest: +SKIP
    >>> tracking.approve("penguin", v["version"], note="beats v3 on every species", tracking_uri=uri)  # doctest: +SKIP
    >>> tracking.rollback("penguin", note="latency regression", tracking_uri=uri)                    # doctest: +SKIP
"""
from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
from typing import TYPE_CHECKING, Any

from mlprod.errors import ConfigError, DataError
from mlprod.tracking.store import client

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

CANDIDATE, CHAMPION = "candidate", "champion"
TAG = "mlprod."
log = logging.getLogger("mlprod.tracking")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _who(by: str | None) -> str:
    if by:
        return str(by)
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container): say so
        user = "unknown"
    log.info("recorded as %r (the login name; pass by= / --by to name the person)", user)
    return user


def _version(c: Any, name: str, version: int | str) -> Any:
    try:
        return c.get_model_version(name, str(version))
    except Exception as e:  # noqa: BLE001 - MLflow raises MlflowException for both
        known = [mv.version for mv in _versions(c, name)] if _exists(c, name) else []
        what = f"versions {sorted(known, key=int)}" if known else "no such registered model"
        raise DataError(f"model {name!r} has no version {version} in the registry ({what}; {type(e).__name__}).") \
            from None


def _exists(c: Any, name: str) -> bool:
    try:
        c.get_registered_model(name)
    except Exception:  # noqa: BLE001
        return False
    return True


def _versions(c: Any, name: str) -> list[Any]:
    return sorted(c.search_model_versions(f"name='{name}'"), key=lambda mv: int(mv.version))


def register_version(name: str, version_dir: str | os.PathLike[str], *, tracking_uri: str,
                     run_id: str | None = None, source: str | None = None,
                     tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Register the pushed version folder ``version_dir`` (``<model_dir>/<N>``) as a new version of
    ``name`` with the alias ``candidate``, and mirror the aliases into the folder's pin file.

    The same folder registered again (a rerun that pushed nothing new) returns the version it has.

    Args:
        name: the registered model's name (the pipeline's name when the pipeline registers).
        version_dir: the numbered folder the Pusher wrote.
        tracking_uri: the MLflow store (:func:`mlprod.tracking.store.resolve_tracking_uri`).
        run_id: the MLflow run that produced it (links the version to its params and metrics).
        source: the model's artifact URI (default: the run's ``model`` artifacts, else the folder).
        tags: more version tags (strings).

    Returns:
        ``{"name", "version", "serving_version", "model_dir", "created"}`` (``created`` False when
        the folder was registered before).

    Raises:
        DataError: ``version_dir`` is not a numbered folder.
    """
    folder = os.path.abspath(os.fspath(version_dir)).rstrip("/")
    model_dir, number = os.path.dirname(folder), os.path.basename(folder)
    if not number.isdigit() or not os.path.isdir(folder):
        raise DataError(f"{version_dir} is not a numbered version folder of a Pusher folder (<model_dir>/<N>); "
                        "register what the Pusher wrote.")
    c = client(tracking_uri)
    if not _exists(c, name):
        c.create_registered_model(name, tags={f"{TAG}model_dir": model_dir},
                                  description="Registered by mlprod: each push a version (alias 'candidate'), "
                                              "approvals move the alias 'champion'.")
    for mv in _versions(c, name):
        if mv.tags.get(f"{TAG}model_dir") == model_dir and mv.tags.get(f"{TAG}serving_version") == str(int(number)):
            return {"name": name, "version": int(mv.version), "serving_version": int(number), "model_dir": model_dir,
                    "created": False}
    if source is None:
        source = f"runs:/{run_id}/model" if run_id else folder
    all_tags = {f"{TAG}model_dir": model_dir, f"{TAG}serving_version": str(int(number)),
                **{k: str(v) for k, v in (tags or {}).items()}}
    mv = c.create_model_version(name, source, run_id=run_id, tags=all_tags)
    c.set_registered_model_alias(name, CANDIDATE, mv.version)
    sync_serving(name, tracking_uri=tracking_uri)
    log.info("registered %s version %s (%s) as %r", name, mv.version, folder, CANDIDATE)
    return {"name": name, "version": int(mv.version), "serving_version": int(number), "model_dir": model_dir,
            "created": True}


def approve(name: str, version: int | str, *, note: str, by: str | None = None, tracking_uri: str) -> dict[str, Any]:
    """Approve ``version`` of ``name`` for release: the alias ``champion`` moves to it, and who,
    when and why are recorded as its tags; servers with ``require_approval`` serve it next.

    Args:
        name, version: the registered model and its version number (MLflow's, not the folder's).
        note: why (required: an approval with no reason cannot be reviewed).
        by: who (default: the login name, recorded with a log note).
        tracking_uri: the MLflow store.

    Returns:
        The approval: ``{"name", "version", "serving_version", "model_dir", "by", "at", "note",
        "previous"}`` (``previous``: the champion it replaced, or None).

    Raises:
        ConfigError: an empty note.
        DataError: no such version.

    Example:
        (tests/serving/test_approval.py runs this.)
        >>> approve("penguin", 3, note="beats v2 on every species", tracking_uri=uri)  # doctest: +SKIP
    """
    if not isinstance(note, str) or not note.strip():
        raise ConfigError(f"approving {name} version {version} needs a note saying why (note=..., --note \"...\").")
    c = client(tracking_uri)
    mv = _version(c, name, version)
    _serving_tags(mv, name)
    previous = _alias_version(c, name, CHAMPION)
    record = {"approval": "approved", "approved_by": _who(by), "approved_at": _now(), "approval_note": note.strip()}
    for k, v in record.items():
        c.set_model_version_tag(name, mv.version, f"{TAG}{k}", v)
    c.set_registered_model_alias(name, CHAMPION, mv.version)
    if _alias_version(c, name, CANDIDATE) == int(mv.version):
        c.delete_registered_model_alias(name, CANDIDATE)  # approved: no longer a candidate
    sync_serving(name, tracking_uri=tracking_uri)
    log.info("%s version %s approved by %s: %s", name, mv.version, record["approved_by"], note)
    from mlprod.alerts import MODEL_APPROVED, emit

    emit(MODEL_APPROVED, f"model/{name}/{mv.version}", key=f"{MODEL_APPROVED}:{name}:{mv.version}",
         details={"by": record["approved_by"], "note": note, "previous": previous})
    return _approval(c, name, int(mv.version)) | {"previous": previous}


def rollback(name: str, *, note: str = "", by: str | None = None, tracking_uri: str) -> dict[str, Any]:
    """Move ``champion`` back to the version approved before the current one (skipping versions
    rolled back since); the current one is tagged ``rolled back`` with who/when/why.

    Returns:
        The approval now in force (as :func:`approve`), ``previous`` being the version rolled back.

    Raises:
        DataError: no champion, or no earlier approved version to go back to.

    Example:
        (tests/serving/test_approval.py runs this.)
        >>> rollback("penguin", note="latency regression", tracking_uri=uri)["version"]  # doctest: +SKIP
        2
    """
    c = client(tracking_uri)
    current = _alias_version(c, name, CHAMPION)
    if current is None:
        raise DataError(f"model {name!r} has no approved version ('{CHAMPION}' alias) to roll back from; approve one "
                        "with `mlprod registry approve NAME VERSION --note ...`.")
    earlier = [mv for mv in _versions(c, name)
               if int(mv.version) != current and mv.tags.get(f"{TAG}approval") == "approved"]
    if not earlier:
        raise DataError(f"model {name!r}: no version was approved before version {current}, so there is nothing to "
                        "roll back to; approve another version instead.")
    target = max(earlier, key=lambda mv: (mv.tags.get(f"{TAG}approved_at", ""), int(mv.version)))
    for k, v in {"approval": "rolled back", "rolled_back_by": _who(by), "rolled_back_at": _now(),
                 "rolled_back_note": note or "(no note)"}.items():
        c.set_model_version_tag(name, str(current), f"{TAG}{k}", v)
    c.set_registered_model_alias(name, CHAMPION, target.version)
    sync_serving(name, tracking_uri=tracking_uri)
    log.info("%s rolled back from version %s to %s", name, current, target.version)
    from mlprod.alerts import MODEL_ROLLED_BACK, emit

    emit(MODEL_ROLLED_BACK, f"model/{name}/{target.version}", key=f"{MODEL_ROLLED_BACK}:{name}:{current}->{target.version}",
         details={"from_version": current, "to_version": int(target.version), "by": _who(by), "note": note})
    return _approval(c, name, int(target.version)) | {"previous": current}


def _alias_version(c: Any, name: str, alias: str) -> int | None:
    try:
        return int(c.get_model_version_by_alias(name, alias).version)
    except Exception:  # noqa: BLE001 - no such alias
        return None


def _serving_tags(mv: Any, name: str) -> tuple[str, int]:
    d, v = mv.tags.get(f"{TAG}model_dir"), mv.tags.get(f"{TAG}serving_version")
    if not d or not v:
        raise DataError(f"{name} version {mv.version} was not registered from a Pusher folder (no {TAG}model_dir / "
                        f"{TAG}serving_version tags), so no server can serve it; register pushes with "
                        "mlprod.tracking.register_version.")
    return d, int(v)


def _approval(c: Any, name: str, version: int) -> dict[str, Any]:
    mv = c.get_model_version(name, str(version))
    model_dir, number = _serving_tags(mv, name)
    t = mv.tags
    return {"name": name, "version": version, "serving_version": number, "model_dir": model_dir,
            "by": t.get(f"{TAG}approved_by"), "at": t.get(f"{TAG}approved_at"), "note": t.get(f"{TAG}approval_note")}


def sync_serving(name: str, *, tracking_uri: str) -> dict[str, Any]:
    """Write the registry's state of ``name`` into the pin file of its Pusher folder(s): the
    champion as the approval, every alias as a version label. Returns what was written per folder.

    Called by :func:`register_version`, :func:`approve` and :func:`rollback`; call it after
    setting an alias with MLflow directly (e.g. ``canary``).
    """
    from mlprod.serving.versions import write_pin

    c = client(tracking_uri)
    aliases = c.get_registered_model(name).aliases or {}
    per_dir: dict[str, dict[str, Any]] = {}
    for mv in _versions(c, name):
        d = mv.tags.get(f"{TAG}model_dir")
        if d:
            per_dir.setdefault(d, {"approval": None, "labels": {}})
    for alias, version in aliases.items():
        mv = c.get_model_version(name, str(version))
        d, number = mv.tags.get(f"{TAG}model_dir"), mv.tags.get(f"{TAG}serving_version")
        if not d or not number:
            continue
        per_dir[d]["labels"][alias] = int(number)
        if alias == CHAMPION:
            a = _approval(c, name, int(version))
            per_dir[d]["approval"] = {"version": int(number), "model": name, "registry_version": int(version),
                                      "by": a["by"], "at": a["at"], "note": a["note"]}
    for d, state in per_dir.items():
        if os.path.isdir(d):
            write_pin(d, approval=state["approval"], labels=state["labels"])
        else:
            log.warning("the Pusher folder %s of %s is not here; its servers' pin file was not updated", d, name)
    return per_dir


def model_versions(name: str | None = None, *, tracking_uri: str) -> "pd.DataFrame":
    """Every registered version (of ``name``, or of every model), newest first: ``name``,
    ``version``, ``aliases``, ``approval`` (``approved``, ``rolled back`` or empty), ``approved_by``,
    ``approved_at``, ``note``, ``model_dir``, ``serving_version``, ``run_id``, ``created``, ``tags``.

    Example:
        (tests/serving/test_approval.py runs this.)
        >>> model_versions("penguin", tracking_uri=uri)[["version", "aliases", "approval"]]  # doctest: +SKIP
    """
    import pandas as pd

    c = client(tracking_uri)
    names = [name] if name else [m.name for m in c.search_registered_models()]
    rows = []
    for n in names:
        if not _exists(c, n):
            continue
        by_version: dict[int, list[str]] = {}
        for alias, v in (c.get_registered_model(n).aliases or {}).items():
            by_version.setdefault(int(v), []).append(alias)
        for mv in _versions(c, n):
            t = mv.tags
            number = t.get(f"{TAG}serving_version")
            rows.append({"name": n, "version": int(mv.version), "aliases": ", ".join(sorted(by_version.get(
                int(mv.version), []))), "approval": t.get(f"{TAG}approval", ""),
                "approved_by": t.get(f"{TAG}approved_by", ""), "approved_at": t.get(f"{TAG}approved_at", ""),
                "note": t.get(f"{TAG}approval_note", ""), "model_dir": t.get(f"{TAG}model_dir", ""),
                "serving_version": int(number) if number else None, "run_id": mv.run_id or "",
                "created": dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.timezone.utc).strftime(
                    "%Y-%m-%d %H:%M:%S"), "tags": dict(t)})
    cols = ["name", "version", "aliases", "approval", "approved_by", "approved_at", "note", "model_dir",
            "serving_version", "run_id", "created", "tags"]
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["name", "version"], ascending=[True, False], ignore_index=True)
