"""The platform layer every capability reads and writes through (public, so a new data source,
model format or metric has an obvious home):

- :mod:`mlprod.io.files`: which files a path, folder, glob or URI names (:func:`list_files`),
  their kind, one glob for them, atomic writes (:func:`atomic_dir`, :func:`atomic_write_text`).
- :mod:`mlprod.io.frames`: pandas readers (:func:`load_frame`, :func:`read_csv`,
  :func:`read_tfrecord`, :func:`csv_header`) and the checks a frame must pass.
- :mod:`mlprod.io.sources`: the same files read on Beam workers as Arrow batches.
- :mod:`mlprod.io.splits`: the one train/holdout rule (a seeded random 20%).
- :mod:`mlprod.io.examples`: DataFrames <-> ``tf.Example`` (:func:`to_examples`,
  :func:`serialized_examples`, :func:`write_tfrecord`).

Example:
    >>> from mlprod import datasets, io
    >>> df = io.load_frame(datasets.path("penguin/labelled"))
    >>> len(io.serialized_examples(df.head(3)))
    3
"""
from __future__ import annotations

from mlprod.io.examples import serialized_examples, to_examples, write_tfrecord
from mlprod.io.files import atomic_dir, atomic_write_text, file_kind, files_kind, join_uri, list_files
from mlprod.io.frames import check_frame, csv_header, load_frame, read_csv, read_sample, read_tfrecord

__all__ = ["atomic_dir", "atomic_write_text", "check_frame", "csv_header", "file_kind", "files_kind", "join_uri",
           "list_files", "load_frame", "read_csv", "read_sample", "read_tfrecord", "serialized_examples", "to_examples",
           "write_tfrecord"]
