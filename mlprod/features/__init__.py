"""A feature store on Feast: features kept by entity, point-in-time-correct training data, the
same values online (issue 29).

:class:`FeatureRepo` wraps a Feast repo folder with Feast's embedded local provider (Parquet
files as the offline store, SQLite as the online store, a file registry: nothing to start,
nothing downloaded). Feature views are Feast's own objects, registered with
``FeatureStore.apply``; historical retrieval is Feast's ``get_historical_features`` and online
lookups its ``get_online_features``. :func:`feature_repo` (``mlprod.feature_repo``) opens or
creates one. Feast is imported on first use: ``pip install mlprod[features]`` provides it.

Example:
    >>> import tempfile, pandas as pd, mlprod
    >>> repo = mlprod.feature_repo(tempfile.mkdtemp())
    >>> values = pd.DataFrame({"area": [8, 8], "ts": pd.to_datetime(["2024-01-01", "2024-01-03"], utc=True),
    ...                        "mean_fare": [10.0, 12.0]})
    >>> _ = repo.define("area_stats", values, entity="area", timestamp="ts")
    >>> labels = pd.DataFrame({"area": [8], "event_timestamp": pd.to_datetime(["2024-01-02"], utc=True), "y": [1]})
    >>> float(repo.training_frame(labels, ["area_stats:mean_fare"])["mean_fare"][0])   # the value before the label
    10.0
"""
from __future__ import annotations

from mlprod.features.repo import FeatureRepo, feature_repo

__all__ = ["FeatureRepo", "feature_repo"]
