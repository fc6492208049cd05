"""File-system helpers: write to a temporary path, then move into place.

A failure half-way therefore never leaves a half-written artifact, and never destroys the
previous one.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with atomic_dir(os.path.join(d, "out")) as tmp:
    ...     _ = open(os.path.join(tmp, "f.txt"), "w").write("x")
    >>> sorted(os.listdir(os.path.join(d, "out")))
    ['.mlprod-output.json', 'f.txt']
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mlprod.errors import ConfigError


def umask_mode(base: int = 0o666) -> int:
    """``base`` with the process umask applied: the mode a plain ``open``/``mkdir`` would give.

    ``tempfile`` creates files 0600 and folders 0700; what we move into place gets this instead,
    so reports and artifacts are as readable as any other file the user writes.

    Example:
        >>> oct(umask_mode(0o777) | 0o022) in ("0o777", "0o755")
        True
    """
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


@contextlib.contextmanager
def atomic_file(path: "str | Path") -> Iterator[str]:
    """Yield a temp file path beside ``path``; on success it replaces ``path`` (umask mode), on error it goes.

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "data.csv")
        >>> with atomic_file(target) as tmp:
        ...     _ = open(tmp, "w").write("a,b\\n1,2\\n")
        >>> open(target).read()
        'a,b\\n1,2\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: "str | Path", text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``.

    The file gets the mode a plain ``open`` would give (umask applied), not ``mkstemp``'s 0600.
    """
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


MANIFEST = ".mlprod-output.json"


def _stamp(p: Path) -> list[int]:
    """Size and modification time of a file ([] for folders): tells whether it changed since we wrote it."""
    st = os.lstat(p)
    return [] if p.is_dir() and not p.is_symlink() else [st.st_size, st.st_mtime_ns]


def _owned(folder: Path) -> set[str]:
    """Entries of ``folder`` that an earlier mlprod write put there and nobody changed since (manifest)."""
    try:
        entries = json.loads((folder / MANIFEST).read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    if not isinstance(entries, dict):
        return set()
    owned = set()
    for name, stamp in entries.items():
        try:
            if _stamp(folder / name) == stamp:
                owned.add(name)
        except OSError:  # gone since: nothing to protect
            owned.add(name)
    return owned


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def atomic_dir(path: "str | Path") -> Iterator[str]:
    """Yield a temp folder inside ``path``; on success its entries are moved into ``path``.

    Only what mlprod writes is touched: each entry written in the block replaces the entry of
    the same name that an earlier mlprod write left (recorded with its size and time in
    ``.mlprod-output.json``), our stale entries are removed, and every other file in ``path`` is
    left alone. An entry that would overwrite a file mlprod did not write (or one changed since)
    is refused with :class:`ConfigError`. On an
    exception inside the block nothing in ``path`` changes.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> _ = open(os.path.join(d, "notes.txt"), "w").write("mine")
        >>> with atomic_dir(d) as tmp:
        ...     _ = open(os.path.join(tmp, "model.tflite"), "w").write("x")
        >>> sorted(os.listdir(d))
        ['.mlprod-output.json', 'model.tflite', 'notes.txt']
    """
    path = Path(os.path.abspath(path))
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create output folder {str(path)!r} ({e.strerror}); choose another "
                          "output folder.") from None
    if not path.is_dir():
        raise ConfigError(f"output path {str(path)!r} is a file, not a folder; choose a folder.")
    tmp = Path(tempfile.mkdtemp(prefix=".mlprod-tmp-", dir=path))
    try:
        yield str(tmp)
        owned = _owned(path)
        entries = sorted(os.listdir(tmp))
        foreign = [n for n in entries if n not in owned and os.path.lexists(path / n)]
        if foreign:
            raise ConfigError(f"{str(path)!r} already holds {foreign}, which mlprod did not write; "
                              "choose an empty or new output folder, or move those files away.")
        for n in entries:
            src, dst = tmp / n, path / n
            os.chmod(src, umask_mode(0o777 if src.is_dir() else 0o666))
            if os.path.lexists(dst) and dst.is_dir() and not dst.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=".mlprod-old-", dir=path))
                os.replace(dst, old / n)
                os.replace(src, dst)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(src, dst)
        for n in sorted(owned - set(entries)):
            _remove(path / n)
        stamps = {n: _stamp(path / n) for n in entries}
        atomic_write_text(path / MANIFEST, json.dumps({"writer": "mlprod", "entries": stamps}, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only when still empty: we made it
        raise
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(path: "str | Path") -> Iterator[str]:
    """:func:`atomic_dir` for local folders; a URI (``gs://...``) is written in place (object stores
    have no atomic folder rename), after creating it.

    Example:
        >>> import tempfile
        >>> with atomic_output(tempfile.mkdtemp()) as where:
        ...     os.path.basename(where).startswith(".mlprod-tmp-")
        True
    """
    if "://" not in str(path):
        with atomic_dir(path) as tmp:
            yield tmp
        return
    import tensorflow as tf

    try:
        tf.io.gfile.makedirs(str(path))
    except (tf.errors.OpError, ValueError) as e:
        raise ConfigError(f"cannot create output location {str(path)!r} ({type(e).__name__}); check the path and "
                          "credentials.") from None
    yield str(path)


def join_uri(base: "str | Path", *parts: str) -> str:
    """Join path parts, keeping URIs such as ``gs://bucket/x`` intact (``Path`` would mangle ``//``).

    Example:
        >>> join_uri("gs://b/run", "pipeline_root")
        'gs://b/run/pipeline_root'
        >>> join_uri("/tmp/run", "a", "b")
        '/tmp/run/a/b'
    """
    base = str(base)
    if "://" in base:
        return "/".join([base.rstrip("/"), *parts])
    return str(Path(base, *parts))


def check_writable(root: "str | Path") -> None:
    """Create ``root`` if needed and make sure we can write there (remote URIs are skipped).

    Raises:
        ConfigError: the folder cannot be created or is not writable.

    Example:
        >>> check_writable("/tmp/mlprod-example")
    """
    root = str(root)
    if "://" in root:  # remote roots are checked by the runner that writes them
        return
    p = Path(root)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create output folder {root!r} ({e.strerror}); choose another --output folder.") from None
    if not os.access(p, os.W_OK):
        raise ConfigError(f"output folder {root!r} is not writable; choose another --output folder.")
