"""The penguin example: tabular classification of Palmer penguins (bundled data).

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
    >>> from mlprod.pipelines import penguin
    >>> cfg = penguin.config("/tmp/penguin-demo")
    >>> pipeline = penguin.create_pipeline(cfg)
    >>> from mlprod.pipelines.runner import run_pipeline
    >>> print(run_pipeline(pipeline))        # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod import datasets
from mlprod.io.files import join_uri
from mlprod.pipelines.tabular import PipelineConfig
from mlprod.pipelines.tabular import create_pipeline as _create_tabular
from mlprod.preprocessing.spec import FeatureSpec, Numeric

if TYPE_CHECKING:  # pragma: no cover
    from tfx import v1 as tfx

NAME = "penguin"
FEATURES = ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")
SPEC = FeatureSpec(label=datasets.PENGUIN_LABEL, features=tuple(Numeric(f) for f in FEATURES))


def config(output_dir: str | Path, **overrides: Any) -> PipelineConfig:
    """The penguin pipeline's config: bundled labelled data, label ``species``, under ``output_dir``.

    The skewed copy of the data plays the serving logs, checked by a skew gate in ``"warn"``
    mode (pass ``skew_mode="fail"`` to stop the run on skew).

    Args:
        output_dir: folder for the pipeline root, metadata store and pushed models.
        **overrides: any :class:`PipelineConfig` field (e.g. ``train_steps=100``).

    Example:
        >>> config("/tmp/p", train_steps=50).train_steps
        50
    """
    base = PipelineConfig(
        data_root=datasets.path("penguin/labelled").parent,
        label=datasets.PENGUIN_LABEL,
        pipeline_root=join_uri(output_dir, "pipeline_root"),
        metadata_path=join_uri(output_dir, "metadata.sqlite"),
        model_dir=join_uri(output_dir, "serving_model"),
        pipeline_name=NAME,
        min_accuracy=0.9,
        eval_slices=(datasets.PENGUIN_LABEL,),  # accuracy per species = per-class recall
        feature_spec=SPEC,
        # NAS through TFX's Tuner with mlprod's regularized-evolution oracle (small budget)
        tune={"strategy": "evolution", "max_trials": 3, "epochs": 2, "steps": 20, "depth": (1, 2),
              "width": (8, 32, 8), "batch_norm": (False,), "optimizers": ("adam",),
              "learning_rate": (3e-3, 3e-2)},
        # TFX's skew demo data stands in for serving logs: the gate flags culmen_length_mm
        # (one value of -1) and, in "warn" mode, records it without stopping the demo.
        serving_data_root=datasets.path("penguin/skewed").parent,
        skew_mode="warn",
    )
    return replace(base, **overrides)


def create_pipeline(cfg: PipelineConfig) -> "tfx.dsl.Pipeline":
    """Build the penguin pipeline from :func:`config` (or any compatible PipelineConfig).

    Example:
        >>> len(create_pipeline(config("/tmp/p")).components) >= 9
        True
    """
    return _create_tabular(cfg)
