"""The ``mlprod`` command line.

Exit codes: 0 success; 1 an mlprod error (one clear line on stderr, full trace with
``--verbose``); 2 usage error; 3 the run finished but a gate said no (model not blessed/pushed).

Example:
    $ mlprod run penguin --output /tmp/penguin
    $ mlprod --help
"""
from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from mlprod import __version__
from mlprod.errors import ConfigError, MlprodError

PIPELINES = ("penguin", "chicago_taxi", "mnist_edge")


def _cmd_run(args: argparse.Namespace) -> int:
    from mlprod.pipelines.runner import run_pipeline

    module = _pipeline_module(args.pipeline)
    out = Path(args.output).resolve()
    print(f"running pipeline {args.pipeline!r} with the {args.runner} runner in {out} ...", flush=True)
    summary = run_pipeline(module.create_pipeline(module.config(out)), runner=args.runner)
    print(summary)
    return 0 if summary.pushed_model else 3


def _pipeline_module(name: str):  # noqa: ANN202
    import importlib

    if name not in PIPELINES:
        raise ConfigError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}.")
    return importlib.import_module(f"mlprod.pipelines.{name}")


def _cmd_compile(args: argparse.Namespace) -> int:
    from mlprod.pipelines.cloud import compile_kubeflow_v2

    module = _pipeline_module(args.pipeline)
    cfg = module.config(args.root, beam_args=(), metadata_path=str(Path(args.output).resolve().parent /
                                                                      f".{args.pipeline}-compile.sqlite"))
    spec = compile_kubeflow_v2(module.create_pipeline(cfg), args.output, image=args.image)
    tasks = sorted(spec["pipelineSpec"]["root"]["dag"]["tasks"])
    print(f"wrote {args.output}: Kubeflow Pipelines V2 spec with {len(tasks)} tasks ({', '.join(tasks)})")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlprod.pipelines import metadata

    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print("runs:")
        print(metadata.runs(args.metadata).to_string(index=False))
        print("\nmodels:")
        print(metadata.models(args.metadata).to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and for docs)."""
    p = argparse.ArgumentParser(prog="mlprod", description="Composable TFX components, from experiment "
                                "to production.")
    p.add_argument("--version", action="version", version=f"mlprod {__version__}")
    p.add_argument("--verbose", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an example pipeline end to end")
    run.add_argument("pipeline", help=f"one of: {', '.join(PIPELINES)}")
    run.add_argument("--runner", default="local", choices=["local", "beam"],
                     help="TFX LocalDagRunner or BeamDagRunner (default: local)")
    run.add_argument("--output", default="mlprod-output", help="folder for artifacts and metadata")
    run.set_defaults(func=_cmd_run)

    comp = sub.add_parser("compile", help="compile an example pipeline for Vertex AI / Kubeflow Pipelines V2")
    comp.add_argument("pipeline", help=f"one of: {', '.join(PIPELINES)}")
    comp.add_argument("--image", required=True, help="container image the tasks run in")
    comp.add_argument("--root", required=True, help="pipeline root on cloud storage, e.g. gs://bucket/run")
    comp.add_argument("--output", default="pipeline.json", help="where to write the JSON spec")
    comp.set_defaults(func=_cmd_compile)

    runs = sub.add_parser("runs", help="list runs and models recorded in an ML Metadata store")
    runs.add_argument("--metadata", default="mlprod-output/metadata.sqlite",
                      help="SQLite ML Metadata store (default: mlprod-output/metadata.sqlite)")
    runs.set_defaults(func=_cmd_runs)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mlprod`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except MlprodError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"mlprod: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        print("mlprod: interrupted; rerun the same command to resume (cached steps are reused).",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
