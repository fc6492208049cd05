"""Beam sources: user files read on the Beam workers as Arrow RecordBatches (tfx_bsl TFXIO).

Example:
    >>> from mlprod import datasets
    >>> from mlprod.io import list_files
    >>> [type(io).__name__ for io in tfxio_sources(list_files(datasets.path("penguin/labelled")), "csv")]
    ['CsvTFXIO']
"""
from __future__ import annotations

from typing import Any

from mlprod.errors import DataError
from mlprod.io.frames import csv_header


def tfxio_sources(files: list[str], kind: str, schema: Any = None, pattern: str | None = None) -> list[Any]:
    """tfx_bsl TFXIOs that read ``files`` on the Beam workers as Arrow RecordBatches.

    CSV (one header row per file; one source for ``pattern``, a glob matching exactly the files,
    else one per file; types inferred on the workers unless ``schema`` is given), ``tf.Example``
    TFRecords or Parquet (one source). The driver reads at most the CSV headers.
    :func:`read_on_workers` applies them.

    Example:
        >>> from mlprod import datasets
        >>> from mlprod.io import list_files
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
