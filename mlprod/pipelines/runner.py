"""Run a TFX pipeline and summarise what it produced, read back from ML Metadata.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
    >>> from mlprod.pipelines import penguin
    >>> from mlprod.pipelines.runner import run_pipeline
    >>> summary = run_pipeline(penguin.create_pipeline(penguin.config("/tmp/penguin")))  # doctest: +SKIP
    >>> print(summary)                                                                    # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlprod._runtime import after_tft_run
from mlprod.errors import ConfigError, PipelineError
from mlprod.evaluation.trivial import GAIN, TRIVIAL
from mlprod.io.files import check_writable
from mlprod.reporting.html import HtmlResult, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from tfx import v1 as tfx

RUNNERS = ("local", "beam")


@dataclass
class RunSummary(HtmlResult):
    """What a pipeline run left behind (all read from the ML Metadata store).

    Follows the result protocol (:class:`~mlprod.reporting.html.HtmlResult`): ``.table`` (the
    summary as ``(item, value)`` rows), ``.executions_table`` (one row per component),
    ``to_html``, ``_repr_html_`` and ``.save(output_dir)`` (``table.csv``, ``executions.csv``,
    ``report.html``); ``print(summary)`` gives the same as text.

    Attributes:
        pipeline_name, pipeline_root, metadata_path: where things are.
        run_id: the ``pipeline_run`` context of this run.
        executions: component id -> final state of its execution in this run
            (``COMPLETE``, ``CACHED``, ``FAILED``...).
        artifacts: artifact type -> URI of the newest such artifact of the pipeline.
        accuracy: overall accuracy from the newest ModelEvaluation (None if none).
        trivial_baseline: what always predicting the most common class scores on the same
            evaluation data (the Evaluator's ``trivial_baseline``; None if not computed).
        warnings: what the run's numbers say that no gate may have: a model no better than the
            trivial baseline.
        blessed: whether the newest ModelBlessing blessed the model.
        pushed_model: the directory Pusher wrote (None if nothing was pushed).
        data_checks: node id of each mlprod data gate -> "passed" or "FAILED on [...]; report ...".
        seconds: wall time of the run.
        seed: the Trainer's random seed in this run, read from its ``custom_config`` in ML
            Metadata (None when no Trainer ran or it recorded none).
        mlflow_run_id: the MLflow run this run was logged to (None: not tracked).
        model_version: the registered model version its push became (alias ``candidate``;
            None: nothing pushed or not tracked).
    """

    pipeline_name: str
    pipeline_root: str
    metadata_path: str
    run_id: str | None = None
    executions: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    accuracy: float | None = None
    trivial_baseline: float | None = None
    warnings: list[str] = field(default_factory=list)
    blessed: bool | None = None
    pushed_model: str | None = None
    data_checks: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    seed: int | None = None
    mlflow_run_id: str | None = None
    model_version: int | None = None

    def events(self) -> list[Any]:
        """The lifecycle events of this run (:mod:`mlprod.alerts`): ``run_finished`` (verdict,
        accuracy, components, seconds), and ``model_pushed`` when this run pushed a blessed model
        (a Pusher reused from cache pushed nothing new). Keyed by run id and pushed folder, so a
        run is reported once.

        Example:
            >>> s = RunSummary("penguin", "/tmp/r", "/tmp/m.sqlite", run_id="r1", executions={"Pusher": "COMPLETE"},
            ...                blessed=True, pushed_model="/srv/models/penguin/17", accuracy=0.97)
            >>> [(e.kind, e.subject) for e in s.events()]
            [('run_finished', 'pipeline/penguin'), ('model_pushed', 'model/penguin/17')]
        """
        from mlprod.alerts import MODEL_PUSHED, RUN_FINISHED, Event

        facts: dict[str, Any] = {
            "run_id": self.run_id, "blessed": self.blessed, "pushed_model": self.pushed_model,
            "accuracy": self.accuracy, "trivial_baseline": self.trivial_baseline, "components": len(self.executions),
            "cached": len(self.cached), "seconds": round(self.seconds, 1), "pipeline_root": str(self.pipeline_root)}
        if self.data_checks:
            facts["data_checks"] = dict(self.data_checks)
        if self.warnings:
            facts["warnings"] = list(self.warnings)
        failed_gate = any(not v.startswith("passed") for v in self.data_checks.values())
        out = [Event(RUN_FINISHED, f"pipeline/{self.pipeline_name}",
                     "warning" if self.warnings or failed_gate or self.blessed is False else "info", facts,
                     key=f"{RUN_FINISHED}:{self.pipeline_name}:{self.run_id or self.seconds}")]
        pushers = [v for k, v in self.executions.items() if "Pusher" in k or "EdgeOptimizer" in k]
        if self.pushed_model and self.blessed is not False and (not pushers or "COMPLETE" in pushers):
            version = os.path.basename(os.path.normpath(self.pushed_model))
            out.append(Event(MODEL_PUSHED, f"model/{self.pipeline_name}/{version}", details={
                "pushed_model": self.pushed_model, "run_id": self.run_id, "accuracy": self.accuracy,
                "pipeline": self.pipeline_name}, key=f"{MODEL_PUSHED}:{self.pushed_model}"))
        return out

    @property
    def cached(self) -> list[str]:
        """Component ids whose execution was reused from cache in this run."""
        return sorted(k for k, v in self.executions.items() if v == "CACHED")

    @property
    def table(self) -> "pd.DataFrame":
        """The summary, one ``(item, value)`` row per line of :meth:`__str__`.

        Example:
            >>> RunSummary("p", "/tmp/root", "/tmp/m.sqlite", blessed=True).table.set_index("item").loc["blessed", "value"]
            'True'
        """
        import pandas as pd

        return pd.DataFrame(self._rows(), columns=["item", "value"])

    @property
    def executions_table(self) -> "pd.DataFrame":
        """One row per component of this run: ``component``, ``state``, ``cached``."""
        import pandas as pd

        return pd.DataFrame([(k, v, v == "CACHED") for k, v in sorted(self.executions.items())],
                            columns=["component", "state", "cached"])

    def to_html(self, full: bool = True) -> str:
        """The summary and the components' states as a page (``full=False``: a fragment)."""
        verdict = "blessed and pushed" if self.blessed and self.pushed_model else \
            "blessed" if self.blessed else "not blessed"
        return html_page(f"Pipeline run {self.pipeline_name}: {verdict}",
                         [("Summary", table_html(self.table)), ("Components", table_html(self.executions_table))],
                         full=full)

    def save(self, output_dir: "str | os.PathLike[str]") -> "dict[str, Any]":
        """``table.csv``, ``executions.csv`` and ``report.html`` under ``output_dir``; returns ``{name: path}``."""
        from pathlib import Path

        from mlprod.io.files import atomic_write_text

        written = super().save(Path(output_dir))
        written["executions"] = atomic_write_text(Path(output_dir) / "executions.csv",
                                                  self.executions_table.to_csv(index=False))
        return written

    def _rows(self) -> list[tuple[str, str]]:
        acc = "n/a" if self.accuracy is None else f"{self.accuracy:.4f}"
        rows = [
            ("pipeline", f"{self.pipeline_name} (run {self.run_id}, {self.seconds:.1f} s)"),
            ("artifacts", str(self.pipeline_root)),
            ("metadata store", str(self.metadata_path)),
            ("eval accuracy", acc + ("" if self.trivial_baseline is None else
                                     f" (trivial baseline {self.trivial_baseline:.4f}: always predicting the "
                                     "most common class)")),
            ("blessed", str(self.blessed)),
            ("pushed model", self.pushed_model or "nothing pushed"),
            ("executions", f"{len(self.executions)} ({len(self.cached)} reused from cache)"),
        ]
        if self.seed is not None:
            rows.append(("trainer seed", str(self.seed)))
        if self.mlflow_run_id is not None:
            rows.append(("mlflow run", self.mlflow_run_id + ("" if self.model_version is None else
                                                             f" (registered version {self.model_version}, "
                                                             "alias candidate)")))
        rows += [("data check", f"{node}: {text}") for node, text in sorted(self.data_checks.items())]
        rows += [("warning", w) for w in self.warnings]
        return rows

    def __str__(self) -> str:
        return "\n".join(f"{item:<16}{value}" for item, value in self._rows())


@contextlib.contextmanager
def run_lock(pipeline_root: str) -> Iterator[None]:
    """Hold ``<pipeline_root>/.mlprod-run.lock`` for one run; a second run into the same root is refused.

    Two runs sharing a root and ML Metadata store would both push and mix up each other's run
    ids. Remote roots (``gs://``) are not locked here (the orchestrator serializes them).

    Raises:
        PipelineError: another live process holds the lock.
    """
    if "://" in pipeline_root:
        yield
        return
    import fcntl

    os.makedirs(pipeline_root, exist_ok=True)
    path = os.path.join(pipeline_root, ".mlprod-run.lock")
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise PipelineError(f"another run is using {pipeline_root} ({holder}); wait for it to finish or give "
                                "this run its own output folder.") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _executions_in_state(store: Any, pipeline: "tfx.dsl.Pipeline", state: str) -> list[tuple[Any, str]]:
    """(execution, component id) of this pipeline's executions ML Metadata records in ``state``."""
    from ml_metadata.proto import metadata_store_pb2

    from mlprod.pipelines.metadata import node_of_executions

    wanted = metadata_store_pb2.Execution.State.Value(state)
    nodes = node_of_executions(store, pipeline.pipeline_info.pipeline_name)
    return [(e, nodes[e.id].split(".", 1)[-1]) for e in store.get_executions_by_id(list(nodes))
            if e.last_known_state == wanted]


def close_interrupted(pipeline: "tfx.dsl.Pipeline") -> list[str]:
    """Mark executions an earlier, killed run left RUNNING as CANCELED; return their components.

    Called with the run lock held, so no live run owns them. The rerun then resumes: finished
    steps come from cache and the interrupted ones run again.
    """
    try:
        from ml_metadata.proto import metadata_store_pb2

        from mlprod.pipelines.metadata import open_store

        cfg = pipeline.metadata_connection_config
        if cfg.sqlite.filename_uri and not os.path.isfile(cfg.sqlite.filename_uri):
            return []  # no store yet (opening one would create it)
        store = open_store(cfg)
        stale = _executions_in_state(store, pipeline, "RUNNING")
        for e, _ in stale:
            e.last_known_state = metadata_store_pb2.Execution.CANCELED
        if stale:
            store.put_executions([e for e, _ in stale])
        return sorted({name for _, name in stale})
    except Exception:  # noqa: BLE001 - housekeeping must never stop a run
        return []


@contextlib.contextmanager
def _run_tempdir() -> Iterator[None]:
    """Point temp files of the run (TFX's ~50 MB tfx_ephemeral package per Beam step) at a folder we remove."""
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="mlprod-run-")
    old_tempdir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = tmp
    os.environ["TMPDIR"] = tmp
    try:
        yield
    finally:
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
        # a portable runner's job server (Prism) lives on in this process and removes its own
        # beam-temp* folder when it stops at exit; everything else of the run goes now
        for entry in os.listdir(tmp):
            if not entry.startswith("beam-temp"):
                path = os.path.join(tmp, entry)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
        with contextlib.suppress(OSError):
            os.rmdir(tmp)


def failed_component(pipeline: "tfx.dsl.Pipeline") -> str | None:
    """The node id of the newest execution ML Metadata records as failed (None when unknown)."""
    try:
        from mlprod.pipelines.metadata import open_store

        failed = _executions_in_state(open_store(pipeline.metadata_connection_config), pipeline, "FAILED")
    except Exception:  # noqa: BLE001 - naming the component is a courtesy; never mask the real error
        return None
    if not failed:
        return None
    return max(failed, key=lambda pair: (pair[0].last_update_time_since_epoch, pair[0].id))[1]


def run_pipeline(pipeline: "tfx.dsl.Pipeline", runner: str = "local", *, track: bool | None = None,
                 tracking_uri: str | None = None) -> RunSummary:
    """Run ``pipeline`` with TFX's ``LocalDagRunner`` (``"local"``) or ``BeamDagRunner`` (``"beam"``).

    Both run the Beam-powered components with the pipeline's ``beam_pipeline_args`` (any Beam
    runner). Re-running the same pipeline reuses cached executions, so a run that crashed
    half-way resumes where it stopped.

    Then the run is logged to MLflow (:func:`mlprod.pipelines.tracking.log_run`: params,
    the Evaluator's metrics, artifacts, a registered version for a push) in ``tracking_uri``
    (default: ``MLFLOW_TRACKING_URI``, else ``sqlite:///<pipeline_root>/mlflow.db``). ``track``:
    None (default) logs when MLflow is installed (a note says so when it is not, or when a local
    default cannot be made); True requires it; False never logs.

    Raises:
        ConfigError: unknown runner or unwritable pipeline root; ``track=True`` without MLflow.
        PipelineError: a component failed (the message names it; earlier artifacts stay intact).

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> run_pipeline(pipeline, runner="local").accuracy  # doctest: +SKIP
        0.97
    """
    from tfx import v1 as tfx

    if runner not in RUNNERS:
        raise ConfigError(f"unknown runner {runner!r}; choose one of {RUNNERS}.")
    root = str(pipeline.pipeline_info.pipeline_root)
    check_writable(root)
    t0 = time.perf_counter()
    with run_lock(root):
        interrupted = close_interrupted(pipeline)
        if interrupted:
            print(f"mlprod: an earlier run of {pipeline.pipeline_info.pipeline_name!r} stopped during "
                  f"{', '.join(interrupted)}; resuming: finished steps come from cache, those run again.",
                  file=sys.stderr, flush=True)
        try:
            with _run_tempdir():
                if runner == "local":
                    tfx.orchestration.LocalDagRunner().run(pipeline)
                else:
                    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

                    BeamDagRunner().run(pipeline)
        except Exception as e:  # surface which component failed, keep the cause chained
            node = failed_component(pipeline)
            where = f" in component {node!r}" if node else ""
            error = PipelineError(f"pipeline {pipeline.pipeline_info.pipeline_name!r} failed{where}: "
                                  f"{type(e).__name__}: {str(e)[:500]}")
            _report_failure(pipeline.pipeline_info.pipeline_name, root, node, e, time.perf_counter() - t0)
            raise error from e
        finally:
            after_tft_run()  # the Transform component's leftover cycles segfault when collected
        summary = summarize(pipeline)
    summary.seconds = time.perf_counter() - t0
    _track(summary, pipeline, track, tracking_uri)
    from mlprod.alerts import emit, enabled

    if enabled():
        for event in summary.events():
            emit(event)
    return summary


def _track(summary: RunSummary, pipeline: "tfx.dsl.Pipeline", track: bool | None, tracking_uri: str | None) -> None:
    """Log the run to MLflow (see :func:`run_pipeline`); in auto mode a failure is a warning, not an error."""
    from mlprod.tracking.store import available

    if track is False:
        return
    if track is None and not available():
        print("mlprod: MLflow is not installed, so this run is not tracked or registered "
              "(pip install mlprod[registry]; track=False silences this).", file=sys.stderr, flush=True)
        return
    if track is None and tracking_uri is None and not os.environ.get("MLFLOW_TRACKING_URI") \
            and "://" in summary.pipeline_root:
        print(f"mlprod: the pipeline root {summary.pipeline_root} is remote, so no local MLflow store is made; pass "
              "tracking_uri= to track this run.", file=sys.stderr, flush=True)
        return
    from mlprod.pipelines.tracking import log_run

    try:
        logged = log_run(summary, config=getattr(pipeline, "mlprod_config", None), tracking_uri=tracking_uri)
    except Exception as e:
        if track:
            raise
        summary.warnings.append(f"the run was not logged to MLflow: {type(e).__name__}: {str(e)[:300]}")
        return
    summary.mlflow_run_id = logged["run_id"]
    if logged["model_version"] is not None:
        summary.model_version = logged["model_version"]["version"]
    ui = f"; see it with `mlflow ui --backend-store-uri {logged['tracking_uri']}`" \
        if logged["tracking_uri"].startswith("sqlite:") else ""
    print(f"mlprod: logged the run to MLflow at {logged['tracking_uri']} (run {logged['run_id']}"
          + ("" if summary.model_version is None else f", registered version {summary.model_version} as 'candidate'")
          + f"){ui}.", file=sys.stderr, flush=True)


def _report_failure(pipeline_name: str, root: str, node: str | None, error: Exception, seconds: float) -> None:
    """Emit ``run_failed`` (keyed by pipeline, component and error type: a cron job failing the
    same way every hour reports once per dedup window)."""
    from mlprod.alerts import RUN_FAILED, Event, emit, enabled

    if enabled():
        emit(Event(RUN_FAILED, f"pipeline/{pipeline_name}", details={
            "component": node, "error": f"{type(error).__name__}: {str(error)[:500]}", "pipeline_root": root,
            "seconds": round(seconds, 1)}, key=f"{RUN_FAILED}:{pipeline_name}:{node}:{type(error).__name__}"))


def summarize(pipeline: "tfx.dsl.Pipeline") -> RunSummary:
    """Read the newest run of ``pipeline`` back from its ML Metadata store.

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> print(summarize(pipeline))  # doctest: +SKIP
    """
    name = pipeline.pipeline_info.pipeline_name
    cfg = pipeline.metadata_connection_config
    summary = RunSummary(name, pipeline.pipeline_info.pipeline_root,
                         getattr(getattr(cfg, "sqlite", None), "filename_uri", "") or str(cfg))
    from mlprod.pipelines.metadata import _accuracy_of, evaluation_metrics, node_of_executions, open_store

    store = open_store(cfg)
    ctx = store.get_context_by_type_and_name("pipeline", name)
    if ctx is None:
        return summary
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    newest: dict[str, Any] = {}
    for a in store.get_artifacts_by_context(ctx.id):
        t = type_names.get(a.type_id, "?")
        if t not in newest or a.id > newest[t].id:
            newest[t] = a
    summary.artifacts = {t: a.uri for t, a in sorted(newest.items())}
    summary.data_checks = _data_checks(store, ctx, name)

    ours = {e.id for e in store.get_executions_by_context(ctx.id)}
    runs = [c for c in store.get_contexts_by_type("pipeline_run")
            if ours & {e.id for e in store.get_executions_by_context(c.id)}]
    if runs:
        # the verdict fields below speak of this run only: a run whose training was skipped
        # (a conditional pipeline whose trigger did not fire) blessed and pushed nothing
        run_execs = {e.id for e in store.get_executions_by_context(max(
            runs, key=lambda c: c.create_time_since_epoch or c.id).id)}
        made = {ev.artifact_id for ev in store.get_events_by_execution_ids(list(run_execs))
                if ev.type == ev.OUTPUT}
        newest = {t: a for t, a in newest.items()
                  if t not in ("ModelBlessing", "PushedModel", "ModelEvaluation") or a.id in made}
        run = max(runs, key=lambda c: c.create_time_since_epoch or c.id)
        summary.run_id = run.name
        from ml_metadata.proto import metadata_store_pb2 as mlmd

        node_of = node_of_executions(store, name)
        for e in store.get_executions_by_context(run.id):
            node = node_of.get(e.id, f"{name}.{e.id}").split(".", 1)[1]
            summary.executions[node] = mlmd.Execution.State.Name(e.last_known_state)
            if node == "Trainer":
                summary.seed = _trainer_seed(e)

    if "ModelBlessing" in newest:
        b = newest["ModelBlessing"].custom_properties.get("blessed")
        summary.blessed = bool(b.int_value) if b is not None else None
        dest = newest["ModelBlessing"].custom_properties.get("pushed_destination")  # EdgeOptimizer pushes
        if dest is not None and dest.string_value:
            summary.pushed_model = dest.string_value
    if "PushedModel" in newest:
        a = newest["PushedModel"]
        pushed = a.custom_properties.get("pushed")
        dest = a.custom_properties.get("pushed_destination")
        if pushed is not None and pushed.int_value and dest is not None:
            summary.pushed_model = dest.string_value
    if "ModelEvaluation" in newest:
        metrics = evaluation_metrics(newest["ModelEvaluation"].uri)
        summary.accuracy = _accuracy_of(metrics)
        summary.trivial_baseline = metrics.get(TRIVIAL)
        summary.warnings = trivial_warnings(summary.accuracy, summary.trivial_baseline, metrics.get(GAIN))
    return summary


def _trainer_seed(execution: Any) -> int | None:
    """The ``seed`` in a Trainer execution's ``custom_config`` property (JSON), or None."""
    import json

    for props in (execution.custom_properties, execution.properties):
        if "custom_config" in props:
            try:
                seed = json.loads(props["custom_config"].string_value or "{}").get("seed")
            except (ValueError, AttributeError):
                return None
            return int(seed) if seed is not None else None
    return None


def trivial_warnings(accuracy: float | None, trivial: float | None, gain: float | None) -> list[str]:
    """The run summary's warning when the evaluated model does not beat the trivial baseline.

    Example:
        >>> trivial_warnings(0.44, 0.44, 0.0)[0][:52]
        'the model does not beat the trivial baseline: accura'
    """
    from mlprod.evaluation.trivial import MIN_GAIN

    if trivial is None or gain is None or gain != gain or gain > MIN_GAIN:
        return []
    acc = "n/a" if accuracy is None else f"{accuracy:.4f}"
    return [f"the model does not beat the trivial baseline: accuracy {acc} vs {trivial:.4f} for always predicting "
            "the most common class; it learned nothing usable from its features."]


def _data_checks(store: Any, ctx: Any, name: str) -> dict[str, str]:
    """Newest verdict of each mlprod data gate (ExampleAnomalies carrying a ``passed`` property)."""
    from mlprod.pipelines.metadata import producers

    producer = producers(store)
    out: dict[str, tuple[int, str]] = {}
    for a in store.get_artifacts_by_context(ctx.id):
        if "passed" not in a.custom_properties:
            continue
        node = producer.get(a.id, str(a.id)).split(".", 1)[-1]
        flagged = a.custom_properties["flagged"].string_value if "flagged" in a.custom_properties else ""
        text = "passed" if a.custom_properties["passed"].int_value else f"FAILED on [{flagged}]"
        report = a.custom_properties["report"].string_value if "report" in a.custom_properties else ""
        if node not in out or a.id > out[node][0]:
            out[node] = (a.id, f"{text}; report {report}")
    return {k: v for k, (_, v) in out.items()}


def __getattr__(name: str) -> object:
    """``evaluation_accuracy`` lives in :mod:`mlprod.pipelines.metadata` now (it reads what the
    metadata store points at); the old import keeps working for one release."""
    if name == "evaluation_accuracy":
        import warnings

        from mlprod.pipelines import metadata

        warnings.warn("mlprod.pipelines.runner.evaluation_accuracy moved to mlprod.pipelines.metadata.",
                      DeprecationWarning, stacklevel=2)
        return metadata.evaluation_accuracy
    raise AttributeError(f"module 'mlprod.pipelines.runner' has no attribute {name!r}")
