"""Reading user data into pandas (one home for it; used by validation, preprocessing, evaluation):
CSV headers and heads, samples, whole CSV/TFRecord files, and the checks a frame must pass.

Example:
    >>> from mlprod import datasets
    >>> from mlprod.io import load_frame
    >>> load_frame(datasets.path("penguin/labelled")).shape
    (334, 5)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlprod.errors import DataError
from mlprod.io.files import file_kind, files_kind, list_files  # noqa: F401 - list_files re-exported

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


SAMPLE_BYTES = 32 << 20  # at most this much of a CSV file is read for a sample



def csv_header(path: str) -> list[str]:
    """Column names from the first line of a (local or remote, optionally gzipped) CSV file.

    Raises:
        DataError: an empty or binary file.

    Example:
        >>> from mlprod import datasets
        >>> csv_header(list_files(datasets.path("penguin/labelled"))[0])[:2]
        ['species', 'culmen_length_mm']
    """
    import csv
    import gzip
    import io

    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as fh:
            raw = fh.read(1 << 20)
        if path.lower().endswith(".gz"):
            raw = gzip.GzipFile(fileobj=io.BytesIO(raw)).read(1 << 20) if raw else raw
        first = raw.decode("utf-8").splitlines()[0] if raw.strip() else ""
    except (UnicodeDecodeError, EOFError, OSError):
        raise DataError(f"{path} is not a text CSV file (binary content); pass a CSV or a TFRecord.") from None
    if not first:
        raise DataError(f"{path} is empty; it needs a header row and at least one data row.")
    names = next(csv.reader([first]))
    if len(set(names)) != len(names) or any(not n.strip() for n in names):
        raise DataError(f"{path}: the header {names} has blank or duplicate column names; fix the header row.")
    return names



def csv_head(path: str) -> bytes:
    """The first whole lines of a CSV file, at most ``SAMPLE_BYTES`` (local or remote; ``.gz`` unpacked).

    Example:
        >>> from mlprod import datasets
        >>> csv_head(list_files(datasets.path("chicago_taxi"))[0]).split(b"\\n", 1)[0].startswith(b"pickup_")
        True
    """
    import gzip

    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as fh:  # only the head is read
        stream: Any = gzip.GzipFile(fileobj=fh) if path.lower().endswith(".gz") else fh
        head = stream.read(SAMPLE_BYTES)
        more = bool(stream.read(1))
    return head[:head.rfind(b"\n") + 1] if more else head  # cut at the last whole line



def read_sample(files: list[str], kind: str, rows: int) -> "pd.DataFrame":
    """The first ``rows`` rows of ``files`` (what the driver reads of a file input to infer its schema).

    Raises:
        DataError: an unreadable or empty file.

    Example:
        >>> from mlprod import datasets
        >>> read_sample(list_files(datasets.path("chicago_taxi")), "csv", 5).shape[0]
        5
    """
    import pandas as pd

    if kind == "csv":
        import io

        df = read_csv_file(io.BytesIO(csv_head(files[0])), files[0], binary="pass a CSV.", nrows=rows)
    elif kind == "tfrecord":
        df = read_tfrecord(files[:1], limit=rows)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        try:
            if "://" in files[0]:  # pyarrow's own file systems (gs://, s3://, hdfs://) seek in place
                import pyarrow.fs as pafs

                fs, path = pafs.FileSystem.from_uri(files[0])
                handle: Any = fs.open_input_file(path)
            else:
                handle = files[0]
            first = next(pq.ParquetFile(handle).iter_batches(batch_size=rows), None)
            df = first.to_pandas() if first is not None else pd.DataFrame()
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError for non-Parquet bytes
            raise DataError(f"{files[0]} is not a readable Parquet file ({type(e).__name__}); re-copy or "
                            "regenerate it.") from None
    else:
        raise DataError(f"cannot read {kind!r} files as data; pass CSV, TFRecord (tf.Example) or Parquet files.")
    check_frame(df, files[0])
    return df



def read_csv_file(source: Any, name: str, *, binary: str = "pass a CSV or a TFRecord.",
                  binary_what: str = "a text CSV file (binary content)", **read_kw: Any) -> "pd.DataFrame":
    """``pd.read_csv(source, **read_kw)`` with the errors of a bad file named (``name``) and the fix.

    Raises:
        DataError: binary content, an empty file, or text that is not CSV.
    """
    import pandas as pd

    try:
        return pd.read_csv(source, **read_kw)
    except UnicodeDecodeError:
        raise DataError(f"{name} is not {binary_what}; {binary}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} is empty; it needs a header row and at least one data row.") from None
    except pd.errors.ParserError as e:
        raise DataError(f"{name} is not valid CSV ({str(e).splitlines()[0]}); fix the file.") from None


def read_csv(files: list[str]) -> "pd.DataFrame":
    """Read CSV files with one header into one DataFrame, with clear errors for bad files."""
    import pandas as pd

    frames = [read_csv_file(f, f) for f in files]
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



_ONE_KIND = {"string", "bytes", "integer", "floating", "mixed-integer-float", "boolean", "decimal", "empty"}



def check_frame(df: "pd.DataFrame", what: str = "data") -> None:
    """Reject empty frames and duplicate/blank column names before TFDV sees them."""
    import pandas as pd

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
        if pd.api.types.infer_dtype(df[c], skipna=True) in _ONE_KIND:  # one C pass; else look value by value
            continue
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



def read_tfrecord(files: list[str], limit: int | None = None) -> "pd.DataFrame":
    """``tf.Example`` TFRecords -> DataFrame (scalar features as columns, vectors as arrays).

    Records are read in batches and decoded in C++ (tfx_bsl's example decoder, to Arrow), so a
    million logged requests take seconds, not minutes. A feature with one value per row is a
    column of values (missing: NaN/None); one with several is a column of arrays.

    Args:
        files: TFRecord files (``.gz``: GZIP-compressed).
        limit: read at most this many records.

    Raises:
        DataError: a truncated or corrupt file, or records that are not ``tf.Example``.

    Example:
        (tests/serving/test_requestlog.py reads logs with this.)
        >>> read_tfrecord(["/srv/logs/taxi/2026-12-01/requests-0.tfrecord"])["_prediction"].head()  # doctest: +SKIP
    """
    import pandas as pd
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    check_tfrecords(files)
    gz = "GZIP" if all(f.lower().endswith(".gz") for f in files) else None
    records: list[bytes] = []
    try:
        ds = tf.data.TFRecordDataset(files, compression_type=gz)
        for batch in (ds.take(limit) if limit is not None else ds).batch(65536):
            records.extend(batch.numpy().tolist())
    except tf.errors.DataLossError as e:
        raise DataError(f"TFRecord file(s) {files[:3]} are corrupt ({str(e).splitlines()[0][-120:]}); re-copy or "
                        "regenerate them.") from None
    if not records:
        return pd.DataFrame()
    try:
        rb = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
    except Exception:  # noqa: BLE001 - the decoder raises a bare RuntimeError on bad bytes
        raise DataError(f"records in {files[:3]} are not tf.Example protos; write them with "
                        "tf.train.Example(...).SerializeToString().") from None
    return pd.DataFrame({name: _column(col, rb.num_rows) for name, col in zip(rb.schema.names, rb.columns,
                                                                             strict=True)})



def _column(col: Any, n: int) -> Any:
    """One decoded feature (an Arrow list column) as a pandas-ready column (see read_tfrecord)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = pc.list_value_length(col).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(col)
    if pa.types.is_binary(flat.type) or pa.types.is_large_binary(flat.type):
        values = np.array([v.decode("utf-8", "replace") for v in flat.to_pylist()], dtype=object)
    elif pa.types.is_floating(flat.type):
        values = flat.to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        values = flat.to_numpy(zero_copy_only=False)
    if n and lengths.max() <= 1:
        if lengths.all():
            return values
        out = np.full(n, None if values.dtype == object else np.nan,
                      dtype=object if values.dtype == object else np.float64)
        out[lengths == 1] = values
        return out
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return [values[s] if k == 1 else (values[s:s + k] if k else None) for s, k in zip(starts, lengths, strict=True)]



def load_frame(data: Any, what: str = "data") -> "pd.DataFrame":
    """A DataFrame from a DataFrame, or CSV, Parquet or TFRecord (``tf.Example``) path(s)/glob/folder.

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
        elif all(f.lower().endswith(".parquet") for f in files):
            df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        else:
            raise DataError(f"cannot read {files[:2]} as {what}: pass CSV, Parquet or TFRecord (tf.Example) files, "
                            "or a DataFrame.")
    else:
        raise DataError(f"cannot use a {type(data).__name__} as {what}; pass a DataFrame, CSV or TFRecord path(s).")
    check_frame(df, what)
    return df
