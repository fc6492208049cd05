"""Training examples from the feature store: point-in-time rows written as ExampleGen writes them.

:func:`write_examples` runs :meth:`~mlprod.features.FeatureRepo.training_frame` and writes
``Split-train/`` and ``Split-eval/`` gzip TFRecords of ``tf.Example`` (one file each,
``data_tfrecord-00000-of-00001.gz``), so StatisticsGen, SchemaGen, Transform, Trainer and the
Evaluator read them as they read ExampleGen's output. The split is mlprod's one holdout rule
(:mod:`mlprod.io.splits`: a seeded random 20% is eval; ExampleGen's own default is a 2:1 hash
split). The :class:`~mlprod.components.features.FeatureExampleGen` component is this function
plus ML Metadata.

Example:
    >>> import tempfile, pandas as pd
    >>> from mlprod.features import FeatureRepo
    >>> repo = FeatureRepo(tempfile.mkdtemp())
    >>> vals = pd.DataFrame({"area": [8] * 10, "ts": pd.date_range("2024-01-01", periods=10, tz="UTC"),
    ...                      "trips": range(10)})
    >>> _ = repo.define("area_stats", vals, entity="area", timestamp="ts")
    >>> rows = pd.DataFrame({"area": [8] * 10, "event_timestamp": pd.date_range("2024-01-01 12:00", periods=10,
    ...                      tz="UTC"), "label": [0, 1] * 5})
    >>> out = write_examples(repo, rows, ["area_stats:trips"], tempfile.mkdtemp())
    >>> out["rows"], out["split_names"]
    ({'train': 8, 'eval': 2}, ['train', 'eval'])
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mlprod.features.repo import FEAST_TIMESTAMP, FeatureRepo
from mlprod.io.splits import HOLDOUT_SHARE, holdout_indices
from mlprod.params import Interval, Kind, check_params

SPLITS = ("train", "eval")
FILE_NAME = "data_tfrecord-00000-of-00001.gz"  # ExampleGen's file name for a one-shard split
# write_examples' and FeatureExampleGen's arguments (checked when the component is made, too)
EXAMPLES_PARAMS = {"eval_share": Interval(float, 0, 1, closed="neither"), "seed": Interval(int, 0),
                   "full_names": Kind(bool, int), "timestamp": Kind(str)}


def iso_times(series: Any) -> Any:
    """A timestamp column as the ISO-8601 text (UTC) the examples hold, e.g. ``2024-01-02T00:00:00+00:00``."""
    from mlprod.features.repo import _utc

    return _utc(series, "the timestamp column").map(lambda t: t.isoformat())


def write_examples(repo: FeatureRepo | str, entity_df: Any, features: Sequence[str] | str, output_dir: str, *,
                   timestamp: str = FEAST_TIMESTAMP, eval_share: float = HOLDOUT_SHARE, seed: int = 0,
                   full_names: bool = False) -> dict[str, Any]:
    """Point-in-time training rows for ``entity_df`` written as ExampleGen's ``Split-train``/``Split-eval``.

    The timestamp column is written as ISO-8601 text (UTC); a null feature value is left out of
    its example (as ExampleGen leaves a missing CSV cell), so the schema sees it as missing.

    Args:
        repo: a :class:`~mlprod.features.FeatureRepo` or its folder.
        entity_df: a DataFrame or a Parquet/CSV file: entity key(s), ``timestamp``, label(s).
        features: references ``"view:feature"``.
        output_dir: where the ``Split-*`` folders go (an Examples artifact's uri).
        timestamp: the entity rows' time column.
        eval_share: the share of rows held out as ``eval`` (seeded random, at least one row).
        seed: the split's seed.
        full_names: name the feature columns ``view__feature``.

    Returns:
        ``{"rows": {split: n}, "split_names": [...], "features": [...], "registry_version": ...,
        "columns": [...]}``.

    Raises:
        DataError: fewer than two entity rows, or the errors of ``training_frame``.
        ConfigError: an argument outside :data:`EXAMPLES_PARAMS`.
    """
    from mlprod.errors import DataError
    from mlprod.features.repo import _split_refs
    from mlprod.io.examples import write_tfrecord

    check_params("write_examples", {"eval_share": eval_share, "seed": seed, "full_names": full_names,
                                    "timestamp": timestamp}, EXAMPLES_PARAMS)
    repo = repo if isinstance(repo, FeatureRepo) else FeatureRepo(repo)
    refs = [f"{v}:{f}" for v, f in _split_refs(features)]
    version = repo.registry_version()
    frame = repo.training_frame(entity_df, refs, timestamp=timestamp, full_names=full_names)
    if len(frame) < 2:
        raise DataError(f"{len(frame)} entity row(s): a train and an eval split need two or more.")
    frame[timestamp] = iso_times(frame[timestamp])
    train, held = holdout_indices(len(frame), share=eval_share, seed=seed)
    rows = {}
    for split, idx in zip(SPLITS, (sorted(train), sorted(held)), strict=True):
        part = frame.iloc[idx].reset_index(drop=True)
        write_tfrecord(part, os.path.join(output_dir, f"Split-{split}", FILE_NAME), compression="GZIP")
        rows[split] = len(part)
    return {"rows": rows, "split_names": list(SPLITS), "features": refs, "registry_version": version,
            "columns": list(frame.columns)}
