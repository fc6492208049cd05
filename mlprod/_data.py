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


def list_files(data: str | Path | list) -> list[str]:
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


def check_frame(df: "pd.DataFrame", what: str = "data") -> None:
    """Reject empty frames and duplicate/blank column names before TFDV sees them."""
    if len(df.columns) == 0 or len(df) == 0:
        raise DataError(f"{what} is empty ({len(df)} rows, {len(df.columns)} columns); pass data with rows.")
    dup = df.columns[df.columns.duplicated()].tolist()
    if dup:
        raise DataError(f"{what} has duplicate column names {dup}; rename them.")


def read_tfrecord(files: list[str]) -> "pd.DataFrame":
    """``tf.Example`` TFRecords -> DataFrame (scalar features as columns, vectors as arrays)."""
    import pandas as pd
    import tensorflow as tf

    rows = []
    for rec in tf.data.TFRecordDataset(files):
        ex = tf.train.Example.FromString(rec.numpy())
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
