"""Cloud targets: compile for Vertex AI / Kubeflow Pipelines V2, and Beam args for Dataflow.

What can be checked offline is checked here (the compiled spec is valid JSON naming our
components); submitting needs a Google Cloud project (see docs/pipelines.md).

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_cloud.py runs this path.)
    >>> from mlprod.pipelines import penguin
    >>> from mlprod.pipelines.cloud import compile_kubeflow_v2, dataflow_beam_args
    >>> args = dataflow_beam_args("my-project", "europe-west1", "gs://my-bucket/tmp")
    >>> args[0]
    '--runner=DataflowRunner'
    >>> spec = compile_kubeflow_v2(penguin.create_pipeline(penguin.config("gs://b/penguin")),
    ...                            "penguin.json", image="europe-docker.pkg.dev/p/r/mlprod:0.1")  # doctest: +SKIP
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from mlprod.beam import worker_args
from mlprod.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from tfx import v1 as tfx


def dataflow_beam_args(project: str, region: str, temp_location: str, *, image: str | None = None,
                       setup_file: str | None = None, max_num_workers: int = 4,
                       machine_type: str | None = None, extra: list[str] | None = None) -> list[str]:
    """Beam pipeline args that run the Beam-powered components on Google Cloud Dataflow.

    Pass them as ``beam_args`` of a pipeline config or of any Beam-powered call. Workers need
    mlprod and ``TF_USE_LEGACY_KERAS=1``: give ``image`` (a container built from the
    repository's Dockerfile, which sets the variable), or install mlprod on stock workers from a
    staged package: ``extra=[f"--extra_package={mlprod.beam.build_wheel('dist')}"]``, or
    ``setup_file`` (the checkout's ``pyproject.toml``; Beam builds an sdist of it with
    ``python -m build``, which must be installed); either way ``--beam_plugins=mlprod`` makes every
    worker import mlprod, which sets the variable, before it runs any step (:mod:`mlprod.beam`).

    Raises:
        ConfigError: empty project/region, or a temp location that is not a ``gs://`` path.

    Example:
        >>> dataflow_beam_args("p", "us-central1", "gs://b/tmp")[1:3]
        ['--project=p', '--region=us-central1']
        >>> dataflow_beam_args("p", "us-central1", "gs://b/tmp", image="eu.gcr.io/p/mlprod:0.1")[-3:]
        ['--sdk_container_image=eu.gcr.io/p/mlprod:0.1', '--experiments=use_runner_v2', '--beam_plugins=mlprod']
    """
    if not project or not region:
        raise ConfigError("Dataflow needs a Google Cloud project and region, e.g. ('my-project', 'us-central1').")
    if not temp_location.startswith("gs://"):
        raise ConfigError(f"temp_location {temp_location!r} must be a gs:// path Dataflow can write to.")
    args = ["--runner=DataflowRunner", f"--project={project}", f"--region={region}",
            f"--temp_location={temp_location}", f"--max_num_workers={max_num_workers}"]
    if machine_type:
        args.append(f"--machine_type={machine_type}")
    args += list(extra or [])
    if image:
        args += [f"--sdk_container_image={image}", "--experiments=use_runner_v2"]
    elif setup_file:
        args.append(f"--setup_file={setup_file}")
    return worker_args(args)


def compile_kubeflow_v2(pipeline: "tfx.dsl.Pipeline", output_file: "str | Path", *, image: str) -> dict:
    """Compile ``pipeline`` to a Kubeflow Pipelines V2 / Vertex AI Pipelines JSON spec.

    Args:
        pipeline: a ``tfx.dsl.Pipeline`` (its pipeline root should be a ``gs://`` path for Vertex).
        output_file: where to write the JSON.
        image: the container image the tasks run in (built from the repository's Dockerfile).

    Returns:
        The parsed spec (``pipelineSpec.root.dag.tasks`` holds one task per component).

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_cloud.py runs this path.)
        >>> spec = compile_kubeflow_v2(pipeline, "/tmp/p.json", image="img")  # doctest: +SKIP
        >>> sorted(spec["pipelineSpec"]["root"]["dag"]["tasks"])[:1]          # doctest: +SKIP
    """
    if not image:
        raise ConfigError("compile_kubeflow_v2 needs the container image the tasks run in (image=...).")
    try:
        from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfv2
    except ImportError as e:  # kfp is an optional extra
        raise ConfigError("Kubeflow V2 compilation needs kfp: pip install 'mlprod[kfp]'.") from e
    out = Path(output_file).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    runner = kfv2.KubeflowV2DagRunner(config=kfv2.KubeflowV2DagRunnerConfig(default_image=image),
                                      output_dir=str(out.parent), output_filename=out.name)
    runner.run(pipeline)
    return json.loads(out.read_text())
