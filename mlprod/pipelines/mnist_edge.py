"""The MNIST edge example: train a small image model, optimize it to TFLite, measure, push.

ImportExampleGen (bundled 1,000-digit MNIST subset) -> StatisticsGen -> SchemaGen -> Trainer ->
EdgeOptimizer (PTQ, QAT, pruning on the real TFLite interpreter; blesses models within
``max_accuracy_drop``, a fraction of accuracy; pushes the smallest blessed ``.tflite`` to ``model_dir``).

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_mnist_edge.py runs this path.)
    >>> from mlprod.pipelines import mnist_edge
    >>> from mlprod.pipelines.runner import run_pipeline
    >>> print(run_pipeline(mnist_edge.create_pipeline(mnist_edge.config("/tmp/mnist"))))  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod import datasets
from mlprod._compat import drop_as_fraction, renamed
from mlprod.beam import worker_args
from mlprod.errors import ConfigError
from mlprod.io.files import check_writable, join_uri
from mlprod.pipelines.tabular import default_beam_args

if TYPE_CHECKING:  # pragma: no cover
    from tfx import v1 as tfx

NAME = "mnist_edge"


@dataclass(frozen=True)
class MnistEdgeConfig:
    """Config of the MNIST edge pipeline (paths may be str or Path).

    ``model_dir``: the Pusher folder the smallest blessed ``.tflite`` goes to (``push_dir``: its
    deprecated old name, for one release). ``techniques``: a list of names or a comma-separated
    string. ``max_accuracy_drop``: a fraction (0.015 = 1.5 accuracy points; above 1 reads as the
    old points, with a DeprecationWarning).
    """

    pipeline_root: str
    metadata_path: str
    model_dir: str
    data_root: str = str(datasets.path("mnist").parent)
    pipeline_name: str = NAME
    train_steps: int = 300
    techniques: tuple[str, ...] | str = ("float", "dynamic", "int8", "qat", "prune_int8")
    max_accuracy_drop: float = 0.015
    # the MNIST examples are images: multi-processing pays off (mlprod.beam.direct_args)
    beam_args: list[str] = field(default_factory=default_beam_args)
    enable_cache: bool = True

    @property
    def metadata(self) -> str:
        return str(self.metadata_path)

    @property
    def push_dir(self) -> str:
        """Deprecated: :attr:`model_dir`."""
        import warnings

        warnings.warn("MnistEdgeConfig.push_dir is deprecated: use model_dir; the old name goes in the next release.",
                      DeprecationWarning, stacklevel=2)
        return self.model_dir


MnistEdgeConfig.__init__ = renamed(push_dir="model_dir")(MnistEdgeConfig.__init__)  # type: ignore[method-assign]


@renamed(push_dir="model_dir")
def config(output_dir: str | Path, **overrides: Any) -> MnistEdgeConfig:
    """Default config under ``output_dir`` (the pushed models in ``output_dir/serving_tflite``).

    Example:
        >>> config("/tmp/mnist").techniques
        ('float', 'dynamic', 'int8', 'qat', 'prune_int8')
    """
    base = MnistEdgeConfig(pipeline_root=join_uri(output_dir, "pipeline_root"),
                           metadata_path=join_uri(output_dir, "metadata.sqlite"),
                           model_dir=join_uri(output_dir, "serving_tflite"))
    return replace(base, **overrides)


def create_pipeline(cfg: MnistEdgeConfig) -> "tfx.dsl.Pipeline":
    """Build the pipeline (config checked first).

    Example:
        >>> [c.id for c in create_pipeline(config("/tmp/mnist")).components][-1]
        'EdgeOptimizer'
    """
    from tfx import v1 as tfx

    from mlprod.components.optimization import EdgeOptimizer
    from mlprod.optimization.optimize import technique_names

    technique_names(cfg.techniques)  # an unknown name fails before anything runs
    max_accuracy_drop = drop_as_fraction("MnistEdgeConfig", cfg.max_accuracy_drop)
    if cfg.train_steps <= 0:
        raise ConfigError("train_steps must be positive.")
    check_writable(cfg.pipeline_root)
    example_gen = tfx.components.ImportExampleGen(input_base=str(cfg.data_root))
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    trainer = tfx.components.Trainer(
        run_fn="mlprod.pipelines.mnist_edge_trainer.run_fn", examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"], train_args=tfx.proto.TrainArgs(num_steps=cfg.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=5))
    optimizer = EdgeOptimizer(model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
                              feature_key=datasets.MNIST_FEATURE, label_key=datasets.MNIST_LABEL,
                              techniques=cfg.techniques, max_accuracy_drop=max_accuracy_drop,
                              model_dir=str(cfg.model_dir))
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name, pipeline_root=str(cfg.pipeline_root),
        components=[example_gen, statistics_gen, schema_gen, trainer, optimizer], enable_cache=cfg.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(cfg.metadata),
        beam_pipeline_args=worker_args(cfg.beam_args))
