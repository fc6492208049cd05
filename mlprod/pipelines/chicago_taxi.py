"""The Chicago taxi example: will the rider tip more than 20% of the fare?

Beam-heavy preprocessing from a :class:`~mlprod.preprocessing.FeatureSpec` (great-circle trip
distance, bucketized pickup hour, vocabularies/one-hot for payment type and company, log-scaled
fares), training, evaluation sliced by hour of day and payment type, and a drift check of the
last month (December) against the training months.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_chicago_taxi.py runs this path.)
    >>> from mlprod.pipelines import chicago_taxi
    >>> from mlprod.pipelines.runner import run_pipeline
    >>> print(run_pipeline(chicago_taxi.create_pipeline(chicago_taxi.config("/tmp/taxi"))))  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod import datasets
from mlprod.io.files import atomic_file, join_uri
from mlprod.pipelines.tabular import PipelineConfig
from mlprod.pipelines.tabular import create_pipeline as _create_tabular
from mlprod.preprocessing.spec import Categorical, DateParts, Distance, FeatureSpec, Numeric

if TYPE_CHECKING:  # pragma: no cover
    from tfx import v1 as tfx

NAME = "chicago_taxi"
LABEL = "big_tipper"
DRIFT_MONTH = 12

SPEC = FeatureSpec(label=LABEL, features=(
    Numeric("fare", scale="log"),
    Numeric("trip_miles", scale="log"),
    Numeric("trip_seconds", scale="log", impute="median"),
    Numeric("trip_start_hour", buckets=6),
    Categorical("payment_type", encoding="onehot", top_k=5),
    Categorical("company", encoding="onehot", top_k=10, impute="constant"),
    Distance("trip_km", "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
             impute="mean"),
    DateParts("start", "trip_start_timestamp", ("weekday",), utc_offset_hours=-6),
))


def prepare_data(output_dir: str | Path) -> tuple[Path, Path]:
    """Write the training months and the later month as CSV folders; returns ``(train, later)``.

    The label ``big_tipper`` (tips > 20% of the fare) replaces ``tips`` so the label cannot leak.
    Written atomically and only once (reruns reuse the folders, so TFX's cache holds).
    """
    df = datasets.chicago_taxi()
    df[LABEL] = (df["tips"] > 0.2 * df["fare"]).astype("int64")
    df = df.drop(columns=["tips"])
    root = Path(output_dir) / "data"
    folders = []
    for name, part in (("train", df[df.trip_start_month != DRIFT_MONTH]),
                       ("later_month", df[df.trip_start_month == DRIFT_MONTH])):
        target = root / name
        if not (target / "data.csv").is_file():  # ExampleGen reads every file here: write only data.csv
            with atomic_file(target / "data.csv") as tmp:
                part.to_csv(tmp, index=False)
        folders.append(target)
    return folders[0], folders[1]


def config(output_dir: str | Path, **overrides: Any) -> PipelineConfig:
    """The taxi pipeline's config (prepares the data folders under ``output_dir/data``).

    Example:
        >>> config("/tmp/taxi").check_kind
        'drift'
    """
    train, later = prepare_data(output_dir)
    base = PipelineConfig(
        data_root=train, label=LABEL, pipeline_root=join_uri(output_dir, "pipeline_root"),
        metadata_path=join_uri(output_dir, "metadata.sqlite"),
        model_dir=join_uri(output_dir, "serving_model"), pipeline_name=NAME,
        feature_spec=SPEC, serving_data_root=later, check_kind="drift", skew_mode="warn",
        eval_slices=("trip_start_hour", "payment_type"), min_accuracy=0.6, train_steps=400,
        hidden_units=(32, 16), learning_rate=0.003)
    return replace(base, **overrides)


def create_pipeline(cfg: PipelineConfig) -> "tfx.dsl.Pipeline":
    """Build the taxi pipeline from :func:`config`.

    Example:
        >>> [c.id for c in create_pipeline(config("/tmp/taxi")).components][-1]
        'Pusher'
    """
    return _create_tabular(cfg)
