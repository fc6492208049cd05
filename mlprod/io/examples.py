"""DataFrame <-> ``tf.Example`` conversion (one home for it; used by evaluation and preprocessing).

Example:
    >>> import pandas as pd
    >>> from mlprod.io import to_examples
    >>> ex = to_examples(pd.DataFrame({"x": [1.5], "c": ["a"], "n": [3]}))[0]
    >>> sorted(ex.features.feature)
    ['c', 'n', 'x']
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def _feature(value: Any, kind: str) -> Any:
    import tensorflow as tf

    if kind == "f":
        vals = list(value) if hasattr(value, "__len__") else [value]
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in vals]))
    if kind == "i":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode("utf-8")]))


def _kinds(df: "pd.DataFrame") -> dict[str, str]:
    import pandas as pd

    kinds = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
            kinds[c] = "i"
        elif pd.api.types.is_float_dtype(s):
            kinds[c] = "f"
        elif s.map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any():
            kinds[c] = "f"  # vectors, e.g. predicted probabilities
        else:
            kinds[c] = "s"
    return kinds


def _missing(v: Any) -> bool:
    # None, NaN, and pandas' NA/NaT (nullable columns: Int64, string, datetimes)
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")


def to_examples(df: "pd.DataFrame") -> list[Any]:
    """One ``tf.train.Example`` per row; missing values (NaN/None) are left out of the example."""
    import tensorflow as tf

    kinds = _kinds(df)
    out = []
    for row in df.itertuples(index=False, name=None):
        feats = {c: _feature(v, kinds[c]) for c, v in zip(df.columns, row, strict=True) if not _missing(v)}
        out.append(tf.train.Example(features=tf.train.Features(feature=feats)))
    return out


def write_tfrecord(df: "pd.DataFrame", path: "str | Path", compression: str | None = None) -> str:
    """Write ``df`` as a TFRecord file of ``tf.Example`` (local path or ``gs://``-style URI); return the path.

    ``compression="GZIP"`` writes what ExampleGen writes (``Split-*/data_tfrecord-*.gz``).
    """
    import tensorflow as tf

    path = str(path)
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0] if "://" in path else str(Path(path).parent))
    with tf.io.TFRecordWriter(path, options=compression) as w:
        for ex in to_examples(df):
            w.write(ex.SerializeToString())
    return path


def serialized_examples(df: "pd.DataFrame") -> list[bytes]:
    """Rows of ``df`` as serialized raw ``tf.Example``s, the input of :func:`mlprod.preprocessing.serving_fn`.

    Models exported with the Transform graph inside (raw-example serving signatures, as the
    pipelines push) take the same.
    Integer and boolean columns become ``int64_list``, float columns (and columns of vectors)
    ``float_list``, any other column UTF-8 ``bytes_list``; a missing value (NaN, None) is left out
    of its example, as ExampleGen leaves it.

    Example:
        >>> import pandas as pd
        >>> from tensorflow.core.example import example_pb2
        >>> data = serialized_examples(pd.DataFrame({"fare": [7.5, float("nan")], "payment_type": ["Cash", "Card"]}))
        >>> sorted(example_pb2.Example.FromString(data[1]).features.feature)   # the NaN fare is missing
        ['payment_type']
    """
    return [ex.SerializeToString() for ex in to_examples(df)]


serialized = serialized_examples  # the private name mlprod._examples had (one release)


def write_example_batches(prefix: str, counter: str | None = None) -> Any:
    """A Beam ``PTransform``: Arrow RecordBatches (or ``(batch, ...)`` tuples) -> ``tf.Example`` TFRecords.

    The workers encode each batch in C++ (tfx_bsl) and write its records in one go, so the cost
    per row is a few microseconds, not a Beam element each (``WriteToTFRecord``). Files are
    ``prefix-SSSSS-of-NNNNN``, written by Beam's file sink (temporary files, renamed when the
    stage commits: a retried bundle leaves no duplicate), on any file system Beam supports.
    ``counter`` names a Beam counter (namespace ``mlprod``) of the rows written.

    Example:
        >>> import apache_beam as beam, pyarrow as pa
        >>> batch = pa.RecordBatch.from_pydict({"x": pa.array([[1.0], [2.0]], pa.large_list(pa.float32()))})
        >>> with beam.Pipeline() as p:
        ...     _ = p | beam.Create([batch]) | write_example_batches("out/part")
        >>> import tensorflow as tf
        >>> sum(1 for _ in tf.data.TFRecordDataset(tf.io.gfile.glob("out/part*")))
        2
    """
    import apache_beam as beam
    from apache_beam.io import filebasedsink, iobase
    from apache_beam.io.tfrecordio import _TFRecordUtil  # TFRecord framing, as WriteToTFRecord writes it

    class _ExampleBatchSink(filebasedsink.FileBasedSink):
        def __init__(self) -> None:
            super().__init__(prefix, coder=None, shard_name_template="-SSSSS-of-NNNNN")

        def write_record(self, file_handle: Any, value: Any) -> None:
            from apache_beam.metrics.metric import Metrics
            from tfx_bsl.coders import example_coder

            batch = value[0] if isinstance(value, tuple) else value
            for record in example_coder.RecordBatchToExamples(batch):
                _TFRecordUtil.write_record(file_handle, record)
            if counter:
                Metrics.counter("mlprod", counter).inc(batch.num_rows)

    class WriteExampleBatches(beam.PTransform):
        def expand(self, pcoll: Any) -> Any:
            return pcoll | iobase.Write(_ExampleBatchSink())

    return WriteExampleBatches()
