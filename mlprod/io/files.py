"""Files: which files a path names (local or a ``gs://``-style URI), their kind, one glob for
them, and atomic writes (to a temporary path, then moved into place: a failure half-way never
leaves a half-written artifact, and never destroys the previous one).

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
import glob
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlprod.errors import ConfigError, DataError


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


def _list_remote(s: str) -> list[str]:
    """Files behind a URI (``gs://``, ``s3://``, ...): a folder's files, a glob's matches, or the file."""
    import tensorflow as tf

    try:
        if tf.io.gfile.isdir(s):
            # files only, hidden ones (.DS_Store, markers) left out as a local folder's glob leaves them
            return sorted(f"{s.rstrip('/')}/{n}" for n in tf.io.gfile.listdir(s)
                          if not n.endswith("/") and not n.startswith("."))
        return sorted(tf.io.gfile.glob(s)) if any(c in s for c in "*?[") else ([s] if tf.io.gfile.exists(s) else [])
    except (tf.errors.OpError, ValueError) as e:  # unsupported scheme, no credentials, ...
        raise DataError(f"cannot list {s!r} ({type(e).__name__}: {str(e).splitlines()[0][:200]}); check the "
                        "path and that TensorFlow can read that file system here.") from None


def list_files(data: "str | os.PathLike | list") -> list[str]:
    """The files a path, glob, folder (local or a ``gs://``-style URI) or list of them names.

    Raises:
        DataError: a path that matches nothing, or an empty folder.

    Example:
        >>> from mlprod import datasets
        >>> [os.path.basename(f) for f in list_files(datasets.path("penguin/labelled"))]
        ['penguins_processed.csv']
    """
    items = data if isinstance(data, list) else [data]
    files: list[str] = []
    for item in items:
        s = str(item)
        if "://" in s:
            matched = _list_remote(s)
            if not matched:
                raise DataError(f"{s!r} matches no file; pass a DataFrame, CSV/TFRecord/Parquet path(s) or statistics.")
            files += matched
        elif os.path.isdir(s):
            files += sorted(p for p in glob.glob(os.path.join(s, "*")) if os.path.isfile(p))
        else:
            matched = sorted(glob.glob(s)) if any(c in s for c in "*?[") else ([s] if os.path.exists(s) else [])
            if not matched:
                raise DataError(f"file {s!r} does not exist; pass a DataFrame, CSV/TFRecord path(s) or statistics.")
            files += matched
    if not files:
        raise DataError(f"no files found in {data!r}; the folder is empty.")
    return files


_TFRECORD = (".tfrecord", ".tfrecords", ".gz", ".tfrecord.gz")


_STATS = (".pb", ".stats", ".binarypb")


def file_kind(path: str) -> str:
    """``"csv"``, ``"tfrecord"`` (``tf.Example``), ``"parquet"`` or ``"stats"`` (TFDV), from the file's name.

    Raises:
        DataError: a name that says none of these.

    Example:
        >>> file_kind("gs://b/data/part-0.parquet"), file_kind("train.tfrecord.gz")
        ('parquet', 'tfrecord')
    """
    low = path.lower()
    base = low.rsplit("/", 1)[-1]
    if low.endswith((".csv", ".csv.gz")):
        return "csv"
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith(_TFRECORD) or "tfrecord" in base:
        return "tfrecord"
    if low.endswith(_STATS) or base == "featurestats.pb":
        return "stats"
    raise DataError(f"cannot tell what {path!r} holds from its name; use .csv, .tfrecord(.gz), .parquet or a TFDV "
                    "statistics file (.pb), or pass a pandas DataFrame.")


def files_kind(files: list[str], what: str = "data") -> str:
    """The one :func:`file_kind` all ``files`` share.

    Raises:
        DataError: mixed kinds.
    """
    kinds = {file_kind(f) for f in files}
    if len(kinds) > 1:
        raise DataError(f"{what}: mixed file kinds {sorted(kinds)} in {files[:4]}; pass one kind at a time.")
    return kinds.pop()


def file_pattern(data: Any, files: list[str]) -> str | None:
    """One glob that matches exactly ``files`` as :func:`list_files` found them from ``data``, or None.

    Callers that get None read the files in the driver instead, so a folder should not get None
    for a reason a glob can express (hidden files: ``[!.]*``).

    Example:
        >>> import os
        >>> os.makedirs("parts", exist_ok=True)
        >>> for name in ("a.csv", "b.csv"):
        ...     _ = open(os.path.join("parts", name), "w").write("x\\n1\\n")
        >>> file_pattern("parts", list_files("parts"))
        'parts/*'
        >>> file_pattern("parts", list_files("parts")[:1]).endswith("a.csv")   # one file: itself
        True
        >>> _ = open(os.path.join("parts", ".marker"), "w").write("")
        >>> file_pattern("parts", list_files("parts"))                          # hidden files left out
        'parts/[!.]*'
    """
    if len(files) == 1:
        return files[0]
    if not isinstance(data, (str, os.PathLike)):
        return None
    text = str(data)
    if any(c in text for c in "*?["):
        return text
    if "://" in text or any(n.startswith(".") for n in os.listdir(text)):
        # hidden files (list_files skips them) would match a runner's "*": leave them out (a remote
        # folder is not listed again to find out: the pattern matches the same files either way)
        return f"{text.rstrip('/')}/[!.]*"
    return f"{text.rstrip('/')}/*"  # a folder: list_files took every file in it


def version_folders(base_path: str) -> dict[int, str]:
    """Version number -> folder name of the numbered folders under ``base_path`` (local or a URI)
    — the one lister the server, the Pusher and the registry share. ``00000123`` is version 123
    (the layout of TF Serving's own test models); of two folders naming one version (``7`` and
    ``007``) the shorter name wins, with a warning.

    Example:
        >>> import os, tempfile
        >>> base = tempfile.mkdtemp()
        >>> for n in ("00000123", "7", "notes"):
        ...     os.makedirs(os.path.join(base, n))
        >>> version_folders(base)
        {7: '7', 123: '00000123'}
    """
    base_path = str(base_path)
    if "://" in base_path:  # gs://, s3://, ... (the Pusher's destinations): TensorFlow's file systems
        import tensorflow as tf

        if not tf.io.gfile.isdir(base_path):
            return {}
        names = [n.rstrip("/") for n in tf.io.gfile.listdir(base_path)]
        folders = [n for n in names if n.isdigit() and tf.io.gfile.isdir(f"{base_path.rstrip('/')}/{n}")]
    else:
        try:
            names = os.listdir(base_path)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        folders = [n for n in names if n.isdigit() and os.path.isdir(os.path.join(base_path, n))]
    out: dict[int, str] = {}
    for n in sorted(folders, key=lambda n: (len(n), n)):
        v = int(n)
        if v in out:
            logging.getLogger("mlprod").warning("folders %s and %s under %s both hold version %s; using %s",
                                                out[v], n, base_path, v, out[v])
            continue
        out[v] = n
    return dict(sorted(out.items()))


def span_files(root: str | Path, pattern: str) -> tuple[int, list[Path]]:
    """The newest span under ``root`` for a TFX span pattern, and its files.

    Raises:
        ConfigError: the pattern has no ``{SPAN}``.
        DataError: no file under ``root`` matches it.

    Example:
        >>> import pathlib, tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for n in (1, 2):
        ...     (root / f"span-{n}").mkdir(); _ = (root / f"span-{n}" / "data.csv").write_text("a\\n1\\n")
        >>> span, files = span_files(root, "span-{SPAN}/*.csv")
        >>> span, [f.parent.name for f in files]
        (2, ['span-2'])
    """
    import re

    if "{SPAN}" not in pattern:
        raise ConfigError(f"span_pattern={pattern!r} has no {{SPAN}}; write e.g. 'span-{{SPAN}}/*.csv'.")
    rx = re.compile("^" + re.escape(pattern).replace(re.escape("{SPAN}"), r"(\d+)").replace(r"\*", "[^/]*") + "$")
    found: dict[int, list[Path]] = {}
    for f in Path(root).rglob("*"):
        m = rx.match(f.relative_to(root).as_posix()) if f.is_file() else None
        if m:
            found.setdefault(int(m.group(1)), []).append(f)
    if not found:
        raise DataError(f"no file under {str(root)!r} matches span_pattern {pattern!r}; write the first span "
                        f"as e.g. {pattern.replace('{SPAN}', '1').replace('*', 'data.csv')!r}.")
    span = max(found)
    return span, sorted(found[span])
