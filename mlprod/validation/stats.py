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

from mlprod.errors import ConfigError, DataError
from mlprod.io.files import file_pattern, files_kind, list_files
from mlprod.io.frames import check_frame, check_tfrecords, read_csv
from mlprod.io.sources import read_on_workers, tfxio_sources
from mlprod.validation.protos import STATS_FILE, StatisticsResult, unwrap

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from tensorflow_metadata.proto.v0 import statistics_pb2

Data = Union["pd.DataFrame", str, Path, list, "statistics_pb2.DatasetFeatureStatisticsList", StatisticsResult]

# Quantile buckets kept in the statistics; mlprod's numeric drift compares on these bins.
QUANTILE_BUCKETS = 20
IN_PROCESS_MAX_BYTES = 200 * 1024 * 1024


def stats_options(**kw: Any) -> Any:
    """TFDV ``StatsOptions`` with mlprod's defaults (20 quantile buckets) and ``kw`` overrides.

    Example:
        >>> stats_options().num_quantiles_histogram_buckets
        20
    """
    import tensorflow_data_validation as tfdv

    kw.setdefault("num_quantiles_histogram_buckets", QUANTILE_BUCKETS)
    return tfdv.StatsOptions(**kw)


def compute_statistics(data: Data, *, beam_args: list[str] | None = None, options: Any = None,
                       name: str = "data", output_dir: str | Path | None = None) -> StatisticsResult:
    """TFDV statistics of ``data``, as a :class:`~mlprod.validation.protos.StatisticsResult`.

    The result has a per-feature summary in ``.table`` (count, missing share, mean, std, min,
    median, max, unique, top value), an HTML view and ``.save(output_dir)``; the TFDV proto is
    ``.proto`` (pass that to TFDV's own functions, e.g. ``tfdv.visualize_statistics(s.proto)``),
    and the proto's attributes work on the result too (``s.datasets[0].num_examples``).

    Args:
        data: a pandas DataFrame; a path, glob or folder of CSV, TFRecord (``tf.Example``) or
            Parquet files (local or ``gs://``-style), or a list of them; a TFDV statistics file
            (``.pb``); or a ``DatasetFeatureStatisticsList`` / :class:`StatisticsResult` (wrapped as is).
        beam_args: Beam pipeline args; given, files are always summarised on Beam with them:
            the workers read the files (TFXIO) and write the statistics, the driver reads only
            the result. Runners whose workers do not share this disk need ``--temp_location``
            or ``output_dir`` (see :mod:`mlprod.beam`).
        options: a ``tfdv.StatsOptions`` (default :func:`stats_options`).
        name: how errors refer to this input (e.g. ``"serving data"``).
        output_dir: for the Beam path, keep the statistics here as ``statistics.pb`` (binary
            ``DatasetFeatureStatisticsList``, what ``tfdv.load_stats_binary`` reads).

    Raises:
        DataError: empty data, missing/unreadable files, unknown file kinds.

    Example:
        >>> from mlprod import datasets
        >>> s = compute_statistics(datasets.path("penguin/skewed"))
        >>> s.datasets[0].num_examples, s.table.loc[0, "feature"]
        (334, 'species')
    """
    return StatisticsResult(_statistics(data, beam_args=beam_args, options=options, name=name, output_dir=output_dir))


def _statistics(data: Data, *, beam_args: list[str] | None = None, options: Any = None, name: str = "data",
                output_dir: str | Path | None = None) -> "statistics_pb2.DatasetFeatureStatisticsList":
    """:func:`compute_statistics`'s proto."""
    import pandas as pd
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    data = unwrap(data)
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
    kind = files_kind(files, name)
    if kind == "stats":
        return _statistics(load_statistics_file(files[0]), name=name)
    if kind == "tfrecord":
        check_tfrecords(files)  # TFDV, like tf.data, would read a truncated file's first half silently
    local = all("://" not in f for f in files)
    small = local and sum(os.path.getsize(f) for f in files) <= IN_PROCESS_MAX_BYTES
    if kind == "csv" and small and not beam_args and output_dir is None:
        return _statistics(read_csv(files), options=opts, name=name)
    try:
        stats = _beam_statistics(files, kind, opts, beam_args, output_dir, file_pattern(data, files))
    except ConfigError:
        raise
    except Exception as e:  # Beam wraps reader errors (DataLossError, parse errors) in its own types
        msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        if "DataLoss" in repr(e) or "corrupted record" in str(e) or "truncated" in str(e).lower():
            raise DataError(f"{name}: {files[:3]} hold a corrupt record ({msg}); re-copy or regenerate the "
                            "file(s).") from e
        raise DataError(f"{name}: TFDV could not summarise {files[:3]} ({type(e).__name__}: {msg}).") from e
    return _statistics(stats, name=name)


def load_statistics_file(path: str) -> "statistics_pb2.DatasetFeatureStatisticsList":
    """A statistics file as TFDV writes them: a one-record TFRecord, text proto, or binary proto
    (``statistics.pb``: what :func:`compute_statistics` ``output_dir=`` and ``StatisticsResult.save`` write).

    Raises:
        DataError: the file is none of these.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    try:
        return tfdv.load_statistics(path)  # TFRecord, else text
    except Exception:  # noqa: BLE001 - a binary proto is neither
        pass
    try:
        with open(path, "rb") as f:
            return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path} is not a TFDV statistics file (TFRecord, text or binary "
                        f"DatasetFeatureStatisticsList): {type(e).__name__}.") from None


def csv_kinds(head: bytes) -> dict[str, str]:
    """Value kind per CSV column, from the first lines of a file, as TFDV's CSV decoder types them.

    pyarrow's type inference on the sample: integers (``5``; missing cells allowed) are ``int``,
    decimals (``5.0``) ``float``, a column with no value in the sample ``float64`` (large integer
    ids stay exact), everything else (text, booleans, dates) ``bytes``. A later value that does
    not parse as its kind makes the fast reader fail, and :func:`compute_statistics` then falls
    back to TFDV's own CSV decoder, which types from all rows.

    Example:
        >>> csv_kinds(b"n,x,s,b,e\\n1,1.5,a,true,\\n,2.0,b,false,\\n")
        {'n': 'int', 'x': 'float', 's': 'bytes', 'b': 'bytes', 'e': 'float64'}
    """
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        schema = pacsv.read_csv(io.BytesIO(head)).schema
    except pa.ArrowInvalid as e:
        raise DataError(f"the CSV sample does not parse ({str(e).splitlines()[0]}); fix the file.") from None
    return {f.name: "int" if pa.types.is_integer(f.type) else "float" if pa.types.is_floating(f.type)
            else "float64" if pa.types.is_null(f.type) else "bytes" for f in schema}


def _beam_statistics(files: list[str], kind: str, opts: Any, beam_args: list[str] | None,
                     output_dir: str | Path | None, pattern: str | None
                     ) -> "statistics_pb2.DatasetFeatureStatisticsList":
    """Workers read ``files`` and write the statistics; the driver reads back only the result.

    CSV files are read by pyarrow's C++ reader on the workers (types from a sample of the first
    file; ~10x faster than TFDV's CSV decoder); when a value does not parse as its sampled type,
    the run is repeated with TFDV's decoder (CsvTFXIO), which infers types from all rows.
    """
    import contextlib

    import apache_beam as beam
    import tensorflow_data_validation as tfdv

    from mlprod.beam import pipeline_options, scratch_location
    from mlprod.io.files import atomic_output, join_uri
    from mlprod.io.frames import csv_head, read_sample
    from mlprod.preprocessing.arrow import read_files

    if kind == "csv":
        read_sample(files, "csv", 10)  # clear errors for an empty, binary or malformed file
    kinds = csv_kinds(csv_head(files[0])) if kind == "csv" else None
    where = atomic_output(output_dir) if output_dir is not None else scratch_location(beam_args, "mlprod-stats-")
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(where)
        target = join_uri(folder, STATS_FILE)

        def run(fast: bool) -> None:
            with beam.Pipeline(options=pipeline_options(beam_args)) as p:
                raw = (read_files(p, files, "csv", kinds or {}, null_missing=True) if fast
                       else read_on_workers(p, tfxio_sources(files, kind, pattern=pattern)))
                _ = (raw | "Statistics" >> tfdv.GenerateStatistics(opts)
                     | "Write" >> tfdv.WriteStatisticsToBinaryFile(target))

        try:
            run(fast=kinds is not None)
        except Exception as e:
            if kinds is None or "conversion error" not in str(e):
                raise
            run(fast=False)  # a value unlike the sample's type: TFDV's decoder types from all rows
        stats = tfdv.load_stats_binary(target)
    return stats
