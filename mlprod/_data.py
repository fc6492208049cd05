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


SAMPLE_BYTES = 32 << 20  # at most this much of a CSV file is read for a sample
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


def tfxio_sources(files: list[str], kind: str, schema: Any = None, pattern: str | None = None) -> list[Any]:
    """tfx_bsl TFXIOs that read ``files`` on the Beam workers as Arrow RecordBatches.

    CSV (one header row per file; one source for ``pattern``, a glob matching exactly the files,
    else one per file; types inferred on the workers unless ``schema`` is given), ``tf.Example``
    TFRecords or Parquet (one source). The driver reads at most the CSV headers.
    :func:`read_on_workers` applies them.

    Example:
        >>> from mlprod import datasets
        >>> [type(io).__name__ for io in tfxio_sources(list_files(datasets.path("penguin/labelled")), "csv")]
        ['CsvTFXIO']
    """
    from tfx_bsl.public import tfxio

    if kind == "csv":
        names = csv_header(files[0])
        for f in files[1:]:
            if csv_header(f) != names:
                raise DataError(f"CSV files {files[0]} and {f} have different headers; give files that share one.")
        return [tfxio.CsvTFXIO(f, column_names=names, skip_header_lines=1, schema=schema,
                               telemetry_descriptors=["mlprod"]) for f in ([pattern] if pattern else files)]
    if kind == "tfrecord":
        return [tfxio.TFExampleRecord(files, schema=schema, telemetry_descriptors=["mlprod"])]
    if kind == "parquet":
        from tfx_bsl.tfxio.parquet_tfxio import ParquetTFXIO

        return [ParquetTFXIO(files, schema=schema, telemetry_descriptors=["mlprod"])]
    raise DataError(f"cannot read {kind!r} files on Beam; pass CSV, TFRecord (tf.Example) or Parquet files.")


def read_on_workers(pipeline: Any, sources: list[Any], label: str = "Read", batch_rows: int | None = None) -> Any:
    """The PCollection of RecordBatches the ``sources`` read (flattened when several).

    ``batch_rows`` fixes the RecordBatch size (default: tfx_bsl's, at most 1,000 rows).
    """
    import apache_beam as beam

    parts = [pipeline | f"{label}{i}" >> io.BeamSource(batch_size=batch_rows) for i, io in enumerate(sources)]
    return parts[0] if len(parts) == 1 else parts | f"{label}All" >> beam.Flatten()


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

        head = csv_head(files[0])
        try:
            df = pd.read_csv(io.BytesIO(head), nrows=rows)
        except UnicodeDecodeError:
            raise DataError(f"{files[0]} is not a text CSV file (binary content); pass a CSV.") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{files[0]} is empty; it needs a header row and at least one data row.") from None
        except pd.errors.ParserError as e:
            raise DataError(f"{files[0]} is not valid CSV ({str(e).splitlines()[0]}); fix the file.") from None
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
