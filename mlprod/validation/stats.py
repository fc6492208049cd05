"""Dataset statistics (TFDV) from whatever the user has: a DataFrame, CSV, TFRecord or stats.

Small in-memory data is summarised in-process (fast); files larger than
``IN_PROCESS_MAX_BYTES``, TFRecords and anything with ``beam_args`` go through TFDV's Beam
pipeline (DirectRunner by default, any Beam runner via ``beam_args``).

Example:
    >>> from mlprod import datasets
    >>> from mlprod.validation.stats import compute_statistics
    >>> stats = compute_statistics(datasets.penguins())
    >>> stats.datasets[0].num_examples
    334
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from mlprod._data import check_frame, check_tfrecords, list_files, read_csv
from mlprod.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from tensorflow_metadata.proto.v0 import statistics_pb2

Data = Union["pd.DataFrame", str, Path, list, "statistics_pb2.DatasetFeatureStatisticsList"]

# Quantile buckets kept in the statistics; mlprod's numeric drift compares on these bins.
QUANTILE_BUCKETS = 20
IN_PROCESS_MAX_BYTES = 200 * 1024 * 1024
_TFRECORD = (".tfrecord", ".tfrecords", ".gz", ".tfrecord.gz")
_STATS = (".pb", ".stats", ".binarypb")


def stats_options(**kw: Any) -> Any:
    """TFDV ``StatsOptions`` with mlprod's defaults (20 quantile buckets) and ``kw`` overrides.

    Example:
        >>> stats_options().num_quantiles_histogram_buckets
        20
    """
    import tensorflow_data_validation as tfdv

    kw.setdefault("num_quantiles_histogram_buckets", QUANTILE_BUCKETS)
    return tfdv.StatsOptions(**kw)


def _kind(path: str) -> str:
    low = path.lower()
    if low.endswith(".csv") or low.endswith(".csv.gz"):
        return "csv"
    if low.endswith(_TFRECORD) or "tfrecord" in os.path.basename(low):
        return "tfrecord"
    if low.endswith(_STATS) or os.path.basename(low) == "featurestats.pb":
        return "stats"
    raise DataError(f"cannot tell what {path!r} holds from its name; use .csv, .tfrecord(.gz) or a TFDV "
                    "statistics file (.pb), or pass a pandas DataFrame.")


def compute_statistics(data: Data, *, beam_args: list[str] | None = None, options: Any = None,
                       name: str = "data") -> "statistics_pb2.DatasetFeatureStatisticsList":
    """TFDV statistics of ``data``.

    Args:
        data: a pandas DataFrame; a path, glob or folder of CSV or TFRecord (``tf.Example``)
            files, or a list of them; a TFDV statistics file (``.pb``); or a
            ``DatasetFeatureStatisticsList`` (returned as is).
        beam_args: Beam pipeline args; given, files are always summarised on Beam with them.
        options: a ``tfdv.StatsOptions`` (default :func:`stats_options`).
        name: how errors refer to this input (e.g. ``"serving data"``).

    Raises:
        DataError: empty data, missing/unreadable files, unknown file kinds.

    Example:
        >>> from mlprod import datasets
        >>> s = compute_statistics(datasets.path("penguin/skewed"))
        >>> s.datasets[0].num_examples
        334
    """
    import pandas as pd
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    if isinstance(data, statistics_pb2.DatasetFeatureStatisticsList):
        if not data.datasets or data.datasets[0].num_examples == 0:
            raise DataError(f"{name}: the statistics describe no examples; compute them on non-empty data.")
        return data
    opts = options or stats_options()
    if isinstance(data, pd.DataFrame):
        check_frame(data, name)
        # a non-default index (e.g. after filtering) would become a column called __index_level_0__
        return tfdv.generate_statistics_from_dataframe(data.reset_index(drop=True), stats_options=opts)
    if not isinstance(data, (str, Path, list)):
        raise DataError(f"{name}: cannot compute statistics of a {type(data).__name__}; pass a pandas "
                        "DataFrame, CSV/TFRecord path(s) or TFDV statistics.")
    files = list_files(data)
    kinds = {_kind(f) for f in files}
    if len(kinds) > 1:
        raise DataError(f"{name}: mixed file kinds {sorted(kinds)} in {files}; pass one kind at a time.")
    kind = kinds.pop()
    if kind == "stats":
        return compute_statistics(tfdv.load_statistics(files[0]), name=name)
    if kind == "tfrecord":
        check_tfrecords(files)  # TFDV, like tf.data, would read a truncated file's first half silently
    small = sum(os.path.getsize(f) for f in files) <= IN_PROCESS_MAX_BYTES
    if kind == "csv" and small and not beam_args:
        return compute_statistics(read_csv(files), options=opts, name=name)
    from apache_beam.options.pipeline_options import PipelineOptions

    popts = PipelineOptions(beam_args or [])
    pattern = files[0] if len(files) == 1 else os.path.commonpath(files) + "/*"
    try:
        if kind == "csv":
            stats = tfdv.generate_statistics_from_csv(pattern, stats_options=opts, pipeline_options=popts)
        else:
            stats = tfdv.generate_statistics_from_tfrecord(pattern, stats_options=opts, pipeline_options=popts)
    except Exception as e:  # Beam wraps reader errors (DataLossError, parse errors) in its own types
        msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        if "DataLoss" in repr(e) or "corrupted record" in str(e) or "truncated" in str(e).lower():
            raise DataError(f"{name}: {files[:3]} hold a corrupt record ({msg}); re-copy or regenerate the "
                            "file(s).") from e
        raise DataError(f"{name}: TFDV could not summarise {files[:3]} ({type(e).__name__}: {msg}).") from e
    return compute_statistics(stats, name=name)
