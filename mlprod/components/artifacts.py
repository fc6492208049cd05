"""Artifact types mlprod adds to TFX's standard ones."""
from __future__ import annotations

from tfx import v1 as tfx
from tfx.types import artifact_utils


class HtmlReport(tfx.dsl.Artifact):
    """A folder holding ``report.html``: a self-contained report (inline plots, no CDN)."""

    TYPE_NAME = "mlprod.HtmlReport"


def stats_path(artifact: tfx.dsl.Artifact, split: str) -> str:
    """Path of ``FeatureStats.pb`` for ``split`` inside a StatisticsGen artifact."""
    import os

    from mlprod.errors import DataError

    splits = artifact_utils.decode_split_names(artifact.split_names) if artifact.split_names else []
    if splits and split not in splits:
        raise DataError(f"split {split!r} is not in statistics {artifact.uri} (splits: {splits}); "
                        "pass one of those.")
    return os.path.join(artifact.uri, f"Split-{split}", "FeatureStats.pb")


class RetrainSignal(tfx.dsl.Artifact):
    """A retraining decision: custom properties ``fire`` (0/1), ``reasons`` and ``since``, and
    ``monitoring.csv`` (the monitoring table it was made from)."""

    TYPE_NAME = "mlprod.RetrainSignal"
