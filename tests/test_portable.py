"""Beam-powered capabilities on a portable runner with isolated workers (Prism + a worker pool).

The workers run in their own mount namespace with an empty ``/tmp``, the driver's checkout
hidden and a Python environment without mlprod: they cannot see any file the driver wrote to
its temporary folder or its source tree, exactly like workers on other machines, and get mlprod
as stock remote workers do, from a wheel built here and staged with each job
(``--extra_package``), which Beam's boot program installs on the worker. They share only
``/var/tmp`` here, which stands in for a cluster's shared storage (``gs://``, HDFS): inputs are
copied there. Each test compares with the DirectRunner's answer on the same data.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mlprod import beam, datasets
from mlprod.errors import ConfigError

pytestmark = pytest.mark.portable


@pytest.fixture(scope="module")
def pool():
    if beam.prism_location() is None or beam.boot_location() is None:
        pytest.skip("Beam's Prism runner or Python boot program is not built (scripts/mlprod-env ensure builds "
                    "them when Go is installed)")
    with beam.worker_pool() as address:
        yield address


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """mlprod as a wheel, built from this checkout: the only way the pool's workers get mlprod."""
    checkout = beam.source_checkout()
    before = sorted(p.name for p in checkout.iterdir())
    built = beam.build_wheel(tmp_path_factory.mktemp("dist"))
    assert sorted(p.name for p in checkout.iterdir()) == before  # no build/ or egg-info left in the checkout
    return built


@pytest.fixture(scope="module")
def remote(pool, wheel):
    """Beam args for the isolated pool, mlprod's wheel staged with each job (+ more args)."""
    return lambda *extra: beam.prism_args(pool, packages=[wheel], extra=list(extra))


@pytest.fixture
def shared():
    """A folder the isolated workers can reach (not under /tmp, not in the checkout)."""
    where = Path(tempfile.mkdtemp(prefix="mlprod-portable-", dir="/var/tmp"))
    yield where
    shutil.rmtree(where, ignore_errors=True)


def _on_shared(shared: Path, name: str) -> Path:
    """The bundled dataset file ``name`` copied to shared storage (the workers cannot read the checkout)."""
    target = shared / "input" / name / datasets.path(name).name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(datasets.path(name), target)
    return target


def test_the_wheel_holds_the_package_and_its_data(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mlprod/beam.py", "mlprod/py.typed", "mlprod/datasets/data/chicago_taxi/data.csv"} <= names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


def test_remote_runner_without_shared_location_is_refused_before_running():
    from mlprod.validation.stats import compute_statistics

    args = beam.prism_args("localhost:1", prism="/bin/true")
    with pytest.raises(ConfigError, match="--temp_location"):
        compute_statistics(datasets.path("chicago_taxi"), beam_args=args)


def _on_workers(args: list[str], shared: Path, items: list[str], fn) -> list[str]:
    import apache_beam as beam_sdk

    seen = shared / "seen"
    with beam_sdk.Pipeline(options=beam.pipeline_options(args)) as p:
        _ = (p | beam_sdk.Create(items) | beam_sdk.Map(fn)
             | beam_sdk.io.WriteToText(str(seen), shard_name_template=""))
    return sorted(seen.read_text().split())


def test_isolated_workers_cannot_see_the_drivers_tmp_or_checkout(pool, shared):
    """The premise of every test here: driver-local files, the checkout included, are invisible to the workers."""
    local = Path(tempfile.mkdtemp()) / "driver-only.txt"
    local.write_text("x")
    checkout = beam.source_checkout()
    assert checkout is not None and (checkout / "pyproject.toml").is_file()
    files = [str(local), str(shared), str(checkout / "pyproject.toml")]
    seen = _on_workers(beam.prism_args(pool), shared, files, lambda f: f"{f}={Path(f).exists()}")
    assert seen == sorted([f"{local}=False", f"{shared}=True", f"{checkout / 'pyproject.toml'}=False"])


def test_workers_get_mlprod_only_from_the_staged_wheel(pool, wheel, shared):
    """Without the package the workers have no mlprod; with it, the wheel's copy (not the checkout's)."""
    import importlib.util

    assert _on_workers(beam.prism_args(pool), shared, ["x"],
                       lambda _: f"found={importlib.util.find_spec('mlprod') is not None}") == ["found=False"]
    where = _on_workers(beam.prism_args(pool, packages=[wheel]), shared, ["x"],
                        lambda _: f"{__import__('mlprod').__file__}|{__import__('os').environ['TF_USE_LEGACY_KERAS']}")
    path, legacy = where[0].split("|")
    assert "site-packages" in path and not path.startswith(str(beam.source_checkout())), path
    assert legacy == "1"  # --beam_plugins=mlprod: imported before any step, it set the variable


def test_statistics_read_and_written_by_workers(remote, shared):
    from mlprod.validation.stats import compute_statistics

    taxi = _on_shared(shared, "chicago_taxi")
    scratch = shared / "scratch"
    scratch.mkdir()
    args = remote(f"--temp_location={scratch}")
    on_workers = compute_statistics(taxi, beam_args=args)
    local = compute_statistics(taxi, beam_args=["--direct_running_mode=in_memory"])
    assert on_workers.datasets[0].num_examples == local.datasets[0].num_examples == 15002
    mean = {f.path.step[0]: f.num_stats.mean for f in on_workers.datasets[0].features if f.HasField("num_stats")}
    mean_local = {f.path.step[0]: f.num_stats.mean for f in local.datasets[0].features if f.HasField("num_stats")}
    assert mean == pytest.approx(mean_local)
    assert list(scratch.iterdir()) == []  # the scratch folder under --temp_location is removed

    kept = compute_statistics(taxi, beam_args=remote(), output_dir=shared / "stats")
    assert (shared / "stats" / "statistics.pb").is_file() and kept.datasets[0].num_examples == 15002


def test_transform_from_files_and_frames_on_isolated_workers(remote, shared):
    import tensorflow as tf

    from mlprod import analyze_and_transform
    from mlprod.preprocessing import Categorical, FeatureSpec, Numeric

    spec = FeatureSpec(label="tips", features=(Numeric("fare"), Numeric("trip_start_hour", buckets=4),
                                              Categorical("payment_type")))
    taxi = datasets.chicago_taxi()
    direct = analyze_and_transform(taxi, spec, progress=False)
    args = remote(f"--temp_location={shared / 'tmp'}")
    frame = analyze_and_transform(taxi, spec, beam_args=args, progress=False)
    assert frame.output_dir.startswith(str(shared / "tmp"))
    for c in direct.transformed.columns:
        np.testing.assert_allclose(frame.transformed[c], direct.transformed[c], atol=1e-5)

    files = analyze_and_transform(_on_shared(shared, "chicago_taxi"), spec, beam_args=args, progress=False,
                                  output_dir=shared / "graph", preview_rows=200)
    assert files.num_rows == 15002 and len(files.transformed) == 200
    assert files.transformed_files and all(f.startswith(str(shared / "graph")) for f in files.transformed_files)
    # one analysis over all rows on the workers: the files' graph maps raw rows as the frame's does
    from mlprod.preprocessing import serialized_examples, serving_fn

    out = serving_fn(files.transform_output, label="tips")(tf.constant(serialized_examples(taxi.head(50))))
    for c in ("fare", "trip_start_hour", "payment_type"):
        np.testing.assert_allclose(out[c].numpy().ravel(), direct.transformed[c].head(50), atol=1e-5)


def test_evaluate_on_isolated_workers(remote, shared):
    """A Keras model (predictions in the driver) and a SavedModel (loaded by TFMA on the workers)."""
    from mlprod import evaluate
    from mlprod.evaluation import EvalSpec
    from tests.evaluation.conftest import PENGUIN_FEATURES, _fit, export_raw_example_model

    df = datasets.penguins()
    model = _fit(df[PENGUIN_FEATURES].to_numpy("float32"), df["species"].to_numpy(), 3,
                 "sparse_categorical_crossentropy", 20)
    saved = export_raw_example_model(model, PENGUIN_FEATURES, shared / "saved_model")
    spec = EvalSpec(label="species", slices=["species"])
    args = remote(f"--temp_location={shared / 'tmp'}")
    cols = ["slice", "metric", "value"]
    for candidate, kw in ((model, {"feature_columns": PENGUIN_FEATURES}), (saved, {})):
        local = evaluate(candidate, df, spec, **kw).table[cols].sort_values(cols[:2]).reset_index(drop=True)
        remote = evaluate(candidate, df, spec, beam_args=args, **kw).table[cols].sort_values(cols[:2])
        remote = remote.reset_index(drop=True)
        assert len(local) > 5 and local[cols[:2]].equals(remote[cols[:2]])
        np.testing.assert_allclose(local["value"].astype(float), remote["value"].astype(float), rtol=1e-5)
    assert list((shared / "tmp").iterdir()) == []  # scratch folders removed

    # TFRecord files + a SavedModel: TFMA's workers read the files themselves
    from mlprod.io.examples import write_tfrecord

    write_tfrecord(df.iloc[:150], shared / "data" / "part-0.tfrecord")
    write_tfrecord(df.iloc[150:], shared / "data" / "part-1.tfrecord")
    files = evaluate(saved, shared / "data", spec, beam_args=args).table[cols].sort_values(cols[:2])
    np.testing.assert_allclose(local["value"].astype(float), files.reset_index(drop=True)["value"].astype(float),
                               rtol=1e-5)


@pytest.mark.slow
def test_penguin_pipeline_on_isolated_workers(remote, shared):
    """StatisticsGen, Transform and the Evaluator (a Keras SavedModel loaded on the workers)."""
    from mlprod.pipelines import penguin
    from mlprod.pipelines.runner import run_pipeline

    cfg = penguin.config(shared, beam_args=remote(), tune=None,
                         data_root=_on_shared(shared, "penguin/labelled").parent,
                         serving_data_root=_on_shared(shared, "penguin/skewed").parent)
    summary = run_pipeline(penguin.create_pipeline(cfg))
    assert summary.blessed is True and summary.accuracy >= 0.9, summary
    assert summary.executions["Evaluator"] == "COMPLETE" and summary.pushed_model


@pytest.mark.slow
def test_taxi_pipeline_on_isolated_workers(remote, shared):
    from mlprod.pipelines import chicago_taxi
    from mlprod.pipelines.runner import run_pipeline

    # (config writes the data folders under shared/data)
    cfg = chicago_taxi.config(shared, beam_args=remote(), train_steps=100, min_accuracy=0.5)
    summary = run_pipeline(chicago_taxi.create_pipeline(cfg))
    assert summary.executions["Transform"] == "COMPLETE" and summary.executions["Evaluator"] == "COMPLETE"
    assert "trip_start_month" in summary.data_checks["DriftValidator"]


def test_runner_args_carry_the_worker_environment():
    """One place builds runner args; each list makes workers import mlprod (TF_USE_LEGACY_KERAS=1)."""
    from mlprod.pipelines.cloud import dataflow_beam_args

    lists = [beam.direct_args(2), beam.prism_args(prism="/bin/true"), beam.flink_args("f:8081", image="i"),
             beam.spark_args("spark://m:7077", image="i"),
             dataflow_beam_args("p", "r", "gs://b/t", image="i"), dataflow_beam_args("p", "r", "gs://b/t",
                                                                                    setup_file="./pyproject.toml")]
    for args in lists:
        assert args.count("--beam_plugins=mlprod") == 1, args
    assert beam.worker_args(["--beam_plugins=mlprod,other"]) == ["--beam_plugins=mlprod,other"]
    assert not beam.is_local(beam.flink_args("f:8081", image="i")) and beam.is_local(beam.direct_args(1))
    with pytest.raises(ConfigError, match="list of flags"):
        beam.worker_args("--runner=DirectRunner")
    with pytest.raises(ConfigError, match="spark://"):
        beam.spark_args("m:7077", image="i")
    with pytest.raises(ConfigError, match="--temp_location"):
        beam.default_output(beam.flink_args("f:8081", image="i"))


def test_workers_import_mlprod_first():
    """`--beam_plugins=mlprod` is what Beam's worker boot imports; importing it sets the variable."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    code = ("from apache_beam.runners.worker.sdk_worker_main import _import_beam_plugins; import os; "
            "_import_beam_plugins(['mlprod']); print(os.environ['TF_USE_LEGACY_KERAS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr[-2000:]
