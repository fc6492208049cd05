"""DataFrames as Arrow RecordBatches for TensorFlow Transform's Arrow path (TFXIO).

TFT's fast path takes ``pyarrow.RecordBatch``es whose columns are list arrays (one list of
values per example; an empty list is a missing value) plus a ``TensorAdapterConfig`` saying how
the columns become tensors. Feeding that instead of one Python dict per row is what makes
:func:`mlprod.analyze_and_transform` run at TFT's own speed (docs/benchmarks.md).

Example:
    >>> import pandas as pd
    >>> import tensorflow as tf
    >>> df = pd.DataFrame({"fare": [1.5, None], "kind": ["a", "b"]})
    >>> spec = {"fare": tf.io.VarLenFeature(tf.float32), "kind": tf.io.FixedLenFeature([], tf.string)}
    >>> [b.num_rows for b in record_batches(df, spec)]
    [2]
    >>> record_batches(df, spec)[0].column(0).to_pylist()
    [[1.5], []]
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

BATCH_ROWS = 50_000


def _column(values: "pd.Series", dtype: Any) -> "pa.Array":
    import pyarrow as pa
    import tensorflow as tf

    mask = values.isna().to_numpy()
    present = values[~mask]
    if dtype == tf.string:
        flat = pa.array(present.astype(str).to_numpy(), pa.string()).cast(pa.large_binary())
    elif dtype == tf.int64:
        flat = pa.array(present.to_numpy().astype(np.int64))
    else:
        flat = pa.array(present.to_numpy().astype(np.float32))
    offsets = pa.array(np.concatenate([[0], np.cumsum(~mask)]).astype(np.int64))
    return pa.LargeListArray.from_arrays(offsets, flat)


def record_batches(df: "pd.DataFrame", feature_spec: dict[str, Any],
                   batch_rows: int = BATCH_ROWS) -> list["pa.RecordBatch"]:
    """The ``feature_spec`` columns of ``df`` as RecordBatches of ``batch_rows`` rows (large list arrays)."""
    import pyarrow as pa

    names = list(feature_spec)
    out = []
    for start in range(0, len(df), batch_rows):
        part = df.iloc[start:start + batch_rows]
        out.append(pa.RecordBatch.from_arrays([_column(part[c], feature_spec[c].dtype) for c in names], names))
    return out


def tensor_adapter_config(arrow_schema: "pa.Schema", feature_spec: dict[str, Any]) -> Any:
    """How TFT turns the RecordBatch columns into tensors (dense for FixedLen, sparse for VarLen)."""
    from tensorflow_transform.tf_metadata import schema_utils
    from tfx_bsl.public import tfxio
    from tfx_bsl.tfxio import tensor_representation_util

    schema = schema_utils.schema_from_feature_spec(feature_spec)
    return tfxio.TensorAdapterConfig(arrow_schema,
                                     tensor_representation_util.InferTensorRepresentationsFromSchema(schema))


def value_kinds(feature_spec: dict[str, Any]) -> dict[str, str]:
    """``{"column": "bytes"|"int"|"float"}`` of a TF feature spec (what the workers need, without TF).

    Example:
        >>> import tensorflow as tf
        >>> value_kinds({"fare": tf.io.VarLenFeature(tf.float32), "kind": tf.io.FixedLenFeature([], tf.string)})
        {'fare': 'float', 'kind': 'bytes'}
    """
    import tensorflow as tf

    return {c: "bytes" if f.dtype == tf.string else "int" if f.dtype == tf.int64 else "float"
            for c, f in feature_spec.items()}


_ARROW = {"bytes": "large_binary", "int": "int64", "float": "float32", "float64": "float64"}


def arrow_schema(kinds: dict[str, str]) -> "pa.Schema":
    """The RecordBatch schema :func:`list_batch` produces: one large list column per feature."""
    import pyarrow as pa

    return pa.schema([(c, pa.large_list(getattr(pa, _ARROW[k])())) for c, k in kinds.items()])


def list_batch(batch: "pa.RecordBatch", kinds: dict[str, str], null_missing: bool = False) -> "pa.RecordBatch":
    """A flat Arrow batch (as pyarrow reads CSV/Parquet) -> list columns, typed.

    A missing value becomes an empty list (what TFT reads as a missing VarLen value), or with
    ``null_missing`` a null list (what TFDV counts as a missing feature, as its CSV decoder does).

    Example:
        >>> import pyarrow as pa
        >>> b = pa.RecordBatch.from_pydict({"fare": [1.5, None], "kind": ["a", "b"]})
        >>> list_batch(b, {"fare": "float", "kind": "bytes"}).column(0).to_pylist()
        [[1.5], []]
    """
    import pyarrow as pa

    arrays = []
    for c, k in kinds.items():
        arr = batch.column(batch.schema.get_field_index(c))
        valid = np.asarray(arr.is_valid(), dtype=bool) if arr.null_count else np.ones(len(arr), dtype=bool)
        flat = arr.drop_null() if arr.null_count else arr
        if k == "bytes" and not (pa.types.is_string(flat.type) or pa.types.is_large_string(flat.type)
                                 or pa.types.is_binary(flat.type) or pa.types.is_large_binary(flat.type)):
            flat = flat.cast(pa.string())
        flat = flat.cast(getattr(pa, _ARROW[k])())
        offsets = np.zeros(len(arr) + 1, dtype=np.int64)
        np.cumsum(valid, out=offsets[1:])
        mask = pa.array(~valid) if null_missing and arr.null_count else None
        arrays.append(pa.LargeListArray.from_arrays(pa.array(offsets), flat, mask=mask))
    return pa.RecordBatch.from_arrays(arrays, list(kinds))


def read_files(pipeline: Any, files: list[str], kind: str, kinds: dict[str, str],
               batch_rows: int = BATCH_ROWS, label: str = "", null_missing: bool = False) -> Any:
    """RecordBatches of the ``kinds`` columns of CSV or Parquet ``files``, read by the Beam workers.

    Each worker reads whole files with pyarrow's C++ readers through Beam's file systems (local,
    ``gs://``, ... ; ``.gz`` CSV decompressed), in batches of at most ``batch_rows`` rows; CSV
    values are parsed as the given kinds (an empty cell is a missing value). ``label`` prefixes
    the step names (to read the same files twice in one pipeline); ``null_missing``: see
    :func:`list_batch`.
    """
    import apache_beam as beam

    return (pipeline | f"{label}Files" >> beam.Create(files) | f"{label}Spread" >> beam.Reshuffle()
            | f"{label}ReadArrow" >> beam.ParDo(_ReadFile(kind, kinds, batch_rows, null_missing)))


class _ReadFile:  # a DoFn, built lazily so this module imports without Beam
    def __new__(cls, kind: str, kinds: dict[str, str], batch_rows: int, null_missing: bool = False) -> Any:
        import apache_beam as beam

        class ReadFile(beam.DoFn):
            def process(self, path: str) -> Any:
                import pyarrow as pa
                from apache_beam.io.filesystem import CompressionTypes
                from apache_beam.io.filesystems import FileSystems

                if kind == "csv":
                    import pyarrow.csv as pacsv

                    types = {c: {"bytes": pa.string(), "int": pa.int64()}.get(k, pa.float64())
                             for c, k in kinds.items()}
                    with FileSystems.open(path) as fh:  # compression from the file name
                        reader = pacsv.open_csv(
                            fh, read_options=pacsv.ReadOptions(block_size=16 << 20),
                            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(kinds),
                                                                 strings_can_be_null=True))
                        for batch in reader:
                            for start in range(0, batch.num_rows, batch_rows):
                                yield list_batch(batch.slice(start, batch_rows), kinds, null_missing)
                else:
                    import pyarrow.parquet as pq

                    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                        for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_rows, columns=list(kinds)):
                            yield list_batch(batch, kinds, null_missing)

        return ReadFile()
