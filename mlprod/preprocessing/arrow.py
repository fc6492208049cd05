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
