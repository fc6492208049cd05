"""File-system helpers: write to a temporary path, then move into place.

A failure half-way therefore never leaves a half-written artifact, and never destroys the
previous one.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with atomic_dir(os.path.join(d, "out")) as tmp:
    ...     _ = open(os.path.join(tmp, "f.txt"), "w").write("x")
    >>> os.listdir(os.path.join(d, "out"))
    ['f.txt']
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mlprod.errors import ConfigError


def atomic_write_text(path: "str | Path", text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_dir(path: "str | Path") -> Iterator[str]:
    """Yield a temp folder beside ``path``; on success it replaces ``path``, on error it is removed.

    The previous content of ``path`` survives any exception raised inside the block.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent)
        os.rmdir(old)
        os.replace(path, old)
    os.replace(tmp, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)


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
