"""Reading user data into pandas (one home for it; used by validation, preprocessing, evaluation).

Example:
    >>> from mlprod import datasets
    >>> from mlprod._data import load_frame
    >>> load_frame(datasets.path("penguin/labelled")).shape
    (334, 5)
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlprod.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def list_files(data: "str | os.PathLike | list") -> list[str]:
    items = data if isinstance(data, list) else [data]
    files: list[str] = []
    for item in items:
        s = str(item)
        if os.path.isdir(s):
            files += sorted(p for p in glob.glob(os.path.join(s, "*")) if os.path.isfile(p))
        else:
            matched = sorted(glob.glob(s)) if any(c in s for c in "*?[") else ([s] if os.path.exists(s) else [])
            if not matched:
                raise DataError(f"file {s!r} does not exist; pass a DataFrame, CSV/TFRecord path(s) or statistics.")
            files += matched
    if not files:
        raise DataError(f"no files found in {data!r}; the folder is empty.")
    return files


def read_csv(files: list[str]) -> "pd.DataFrame":
    """Read CSV files with one header into one DataFrame, with clear errors for bad files."""
    import pandas as pd

    frames = []
    for f in files:
        try:
            frames.append(pd.read_csv(f))
        except UnicodeDecodeError:
            raise DataError(f"{f} is not a text CSV file (binary content); pass a CSV or a TFRecord.") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{f} is empty; it needs a header row and at least one data row.") from None
        except pd.errors.ParserError as e:
            raise DataError(f"{f} is not valid CSV ({str(e).splitlines()[0]}); fix the file.") from None
    if len({tuple(fr.columns) for fr in frames}) > 1:
        raise DataError(f"CSV files {files} have different columns; give files that share one header.")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _kind_of(v: Any) -> str:
    if isinstance(v, (str, bytes)):
        return "text"
    if isinstance(v, (bool, int, float, np.number, np.bool_)):
        return "numbers"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "array"
    return type(v).__name__


def check_frame(df: "pd.DataFrame", what: str = "data") -> None:
    """Reject empty frames and duplicate/blank column names before TFDV sees them."""
    if len(df.columns) == 0 or len(df) == 0:
        raise DataError(f"{what} is empty ({len(df)} rows, {len(df.columns)} columns); pass data with rows.")
    odd = [c for c in df.columns if not isinstance(c, str)]
    if odd:
        raise DataError(f"{what} has column names that are not strings ({odd[:5]}); name the columns, e.g. "
                        "df.columns = [str(c) for c in df.columns].")
    dup = df.columns[df.columns.duplicated()].tolist()
    if dup:
        raise DataError(f"{what} has duplicate column names {dup}; rename them.")
    mixed = []
    for c in df.select_dtypes(include="object").columns:
        kinds = {_kind_of(v) for v in df[c].dropna().head(100_000)}
        if len(kinds - {"array"}) > 1:
            mixed.append(f"{c!r} ({' and '.join(sorted(kinds))})")
    if mixed:
        raise DataError(f"{what}: column(s) {', '.join(mixed)} mix value types; make each column one type, e.g. "
                        "df[col] = df[col].astype(str) or pd.to_numeric(df[col], errors='coerce').")


def check_tfrecords(files: list[str]) -> None:
    """Raise :class:`DataError` for a truncated or corrupt (uncompressed, local) TFRecord file.

    TensorFlow's reader stops silently at a partial record at the end of a file (a file cut
    in half reads as half the rows); here each record's length header is followed and the
    file must end exactly after the last record.

    Example:
        >>> from mlprod import datasets
        >>> check_tfrecords([str(datasets.path("mnist"))])
    """
    import struct

    for f in files:
        if "://" in f or f.lower().endswith(".gz") or not os.path.isfile(f):
            continue  # compressed or remote: TensorFlow's own CRC checks apply
        size, end, n = os.path.getsize(f), 0, 0  # end: just after the last whole record
        with open(f, "rb") as fh:
            while end < size:
                head = fh.read(12)
                if len(head) < 12:
                    break
                (length,) = struct.unpack("<Q", head[:8])
                if end + 12 + length + 4 > size:
                    break
                end += 12 + length + 4
                fh.seek(end)
                n += 1
        if end != size:
            raise DataError(f"{f} is truncated or corrupt: {n} whole record(s), then {size - end} byte(s) that do "
                            "not form a record; re-copy or regenerate the file.")


def read_tfrecord(files: list[str]) -> "pd.DataFrame":
    """``tf.Example`` TFRecords -> DataFrame (scalar features as columns, vectors as arrays).

    Raises:
        DataError: a truncated or corrupt file, or records that are not ``tf.Example``.
    """
    import pandas as pd
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    check_tfrecords(files)
    rows = []
    try:
        records = [r.numpy() for r in tf.data.TFRecordDataset(files)]
    except tf.errors.DataLossError as e:
        raise DataError(f"TFRecord file(s) {files[:3]} are corrupt ({str(e).splitlines()[0][-120:]}); re-copy or "
                        "regenerate them.") from None
    for rec in records:
        try:
            ex = tf.train.Example.FromString(rec)
        except DecodeError:
            raise DataError(f"records in {files[:3]} are not tf.Example protos; write them with "
                            "tf.train.Example(...).SerializeToString().") from None
        row = {}
        for k, feat in ex.features.feature.items():
            kind = feat.WhichOneof("kind")
            vals = list(getattr(feat, kind).value) if kind else []
            if kind == "bytes_list":
                vals = [v.decode("utf-8", "replace") for v in vals]
            row[k] = vals[0] if len(vals) == 1 else (np.asarray(vals) if vals else None)
        rows.append(row)
    return pd.DataFrame(rows)


def load_frame(data: Any, what: str = "data") -> "pd.DataFrame":
    """A DataFrame from a DataFrame, or CSV or TFRecord (``tf.Example``) path(s)/glob/folder.

    Raises:
        DataError: unknown input type, mixed or unknown file kinds, empty data.
    """
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        df = data.reset_index(drop=True)
    elif isinstance(data, (str, Path, list)):
        files = list_files(data)
        if all(f.lower().endswith(".csv") for f in files):
            df = read_csv(files)
        elif all("tfrecord" in os.path.basename(f).lower() for f in files):
            df = read_tfrecord(files)
        else:
            raise DataError(f"cannot read {files[:2]} as {what}: pass CSV or TFRecord (tf.Example) files, or a "
                            "DataFrame.")
    else:
        raise DataError(f"cannot use a {type(data).__name__} as {what}; pass a DataFrame, CSV or TFRecord path(s).")
    check_frame(df, what)
    return df
