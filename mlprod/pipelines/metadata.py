"""A small model-registry view over ML Metadata (MLMD): runs, artifacts, models, lineage.

Works on the SQLite store the local runners write (pass its path) or on any MLMD
``ConnectionConfig`` (e.g. MySQL: ``metadata_store_pb2.ConnectionConfig(mysql=...)``).
Every function returns a pandas DataFrame.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
    >>> from mlprod.pipelines import metadata
    >>> metadata.runs("/tmp/penguin/metadata.sqlite")           # doctest: +SKIP
    >>> metadata.models("/tmp/penguin/metadata.sqlite")         # doctest: +SKIP
    >>> metadata.lineage("/tmp/penguin/metadata.sqlite", 12)    # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod._compat import moved
from mlprod.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Store = Any  # ml_metadata.metadata_store.MetadataStore


def open_store(store: "str | Path | Any") -> Store:
    """Open an MLMD store from a SQLite path, a ``ConnectionConfig`` or an open store.

    Raises:
        DataError: the SQLite file does not exist (MLMD would silently create an empty one).

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> open_store("/tmp/penguin/metadata.sqlite")  # doctest: +SKIP
    """
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    if isinstance(store, metadata_store.MetadataStore):
        return store
    if isinstance(store, metadata_store_pb2.ConnectionConfig):
        return metadata_store.MetadataStore(store)
    if isinstance(store, (str, Path)):
        p = Path(store)
        if not p.is_file():
            raise DataError(f"no ML Metadata store at {str(p)!r}; pass the metadata.sqlite of a pipeline "
                            "that has run (e.g. <output>/metadata.sqlite).")
        cfg = metadata_store_pb2.ConnectionConfig()
        cfg.sqlite.filename_uri = str(p)
        cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        return metadata_store.MetadataStore(cfg)
    raise ConfigError(f"cannot open an ML Metadata store from {type(store).__name__}; pass a SQLite path "
                      "or an ml_metadata ConnectionConfig.")


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if ms else ""


def _prop(a: Any, key: str) -> Any:
    for props in (a.custom_properties, a.properties):
        if key in props:
            v = props[key]
            return v.string_value or v.int_value or v.double_value
    return None


def node_of_executions(store: Store, pipeline_name: str | None = None) -> dict[int, str]:
    """Map execution id -> ``pipeline.node`` id (from MLMD's ``node`` contexts)."""
    out = {}
    for c in store.get_contexts_by_type("node"):
        if pipeline_name and not c.name.startswith(f"{pipeline_name}."):
            continue
        for e in store.get_executions_by_context(c.id):
            out[e.id] = c.name
    return out


def runs(store: "str | Path | Any", pipeline_name: str | None = None) -> "pd.DataFrame":
    """One row per pipeline run: run id, start time, and counts of executions by state.

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> runs("/tmp/penguin/metadata.sqlite")[["run_id", "complete", "cached"]]  # doctest: +SKIP
    """
    import pandas as pd
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    s = open_store(store)
    nodes = node_of_executions(s, pipeline_name)
    rows = []
    for c in s.get_contexts_by_type("pipeline_run"):
        execs = [e for e in s.get_executions_by_context(c.id) if e.id in nodes]
        if not execs:
            continue
        states = [mlmd.Execution.State.Name(e.last_known_state).lower() for e in execs]
        rows.append({"pipeline": nodes[execs[0].id].split(".", 1)[0], "run_id": c.name,
                     "started": _time(c.create_time_since_epoch), "executions": len(execs),
                     "complete": states.count("complete"), "cached": states.count("cached"),
                     "failed": states.count("failed"), "running": states.count("running")})
    return pd.DataFrame(rows, columns=["pipeline", "run_id", "started", "executions", "complete",
                                       "cached", "failed", "running"])


def artifacts(store: "str | Path | Any", type_name: str | None = None) -> "pd.DataFrame":
    """All artifacts (optionally of one type, e.g. ``"Model"``), newest first, with the node that made them.

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> artifacts("/tmp/penguin/metadata.sqlite", "PushedModel")  # doctest: +SKIP
    """
    import pandas as pd

    s = open_store(store)
    types = {t.id: t.name for t in s.get_artifact_types()}
    arts = s.get_artifacts_by_type(type_name) if type_name else s.get_artifacts()
    producer = producers(s)
    rows = [{"id": a.id, "type": types.get(a.type_id, "?"), "uri": a.uri,
             "produced_by": producer.get(a.id, ""), "created": _time(a.create_time_since_epoch)}
            for a in arts]
    df = pd.DataFrame(rows, columns=["id", "type", "uri", "produced_by", "created"])
    return df.sort_values("id", ascending=False, ignore_index=True)


def producers(s: Store) -> dict[int, str]:
    """artifact id -> node that produced it (OUTPUT events)."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    nodes = node_of_executions(s)
    events = s.get_events_by_execution_ids(list(nodes)) if nodes else []
    return {ev.artifact_id: nodes[ev.execution_id] for ev in events
            if ev.type in (mlmd.Event.OUTPUT, mlmd.Event.DECLARED_OUTPUT)}


def models(store: "str | Path | Any") -> "pd.DataFrame":
    """The registry view: each trained model with its blessing and where it was pushed.

    Columns: ``model_id``, ``uri``, ``created``, ``blessed`` (True/False/None when never
    evaluated), ``pushed_to`` (destination or empty).

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> models("/tmp/penguin/metadata.sqlite").query("blessed")  # doctest: +SKIP
    """
    import pandas as pd
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    s = open_store(store)
    blessed: dict[int, bool] = {}
    for b in s.get_artifacts_by_type("ModelBlessing"):
        mid = _prop(b, "current_model_id")
        if mid:
            blessed[int(mid)] = bool(_prop(b, "blessed"))
    # PushedModel -> the Model that was the Pusher's input
    pushed: dict[int, str] = {}
    pushed_arts = {a.id: a for a in s.get_artifacts_by_type("PushedModel")}
    if pushed_arts:
        out_events = [e for e in s.get_events_by_artifact_ids(list(pushed_arts))
                      if e.type == mlmd.Event.OUTPUT]
        for ev in out_events:
            a = pushed_arts[ev.artifact_id]
            if not _prop(a, "pushed"):
                continue
            model_types = {t.id for t in s.get_artifact_types() if t.name == "Model"}
            for inp in s.get_events_by_execution_ids([ev.execution_id]):
                if inp.type == mlmd.Event.INPUT:
                    (m,) = s.get_artifacts_by_id([inp.artifact_id])
                    if m.type_id in model_types:
                        pushed[m.id] = str(_prop(a, "pushed_destination") or a.uri)
    rows = [{"model_id": m.id, "uri": m.uri, "created": _time(m.create_time_since_epoch),
             "blessed": blessed.get(m.id), "pushed_to": pushed.get(m.id, "")}
            for m in s.get_artifacts_by_type("Model")]
    return pd.DataFrame(rows, columns=["model_id", "uri", "created", "blessed", "pushed_to"])


def lineage(store: "str | Path | Any", artifact_id: int, max_depth: int = 20) -> "pd.DataFrame":
    """Everything upstream of an artifact (e.g. a pushed model): which node made what from what.

    One row per (node, input artifact -> output artifact) step, from the artifact back to the
    raw examples.

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> lineage("/tmp/penguin/metadata.sqlite", pushed_model_id)  # doctest: +SKIP
    """
    import pandas as pd
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    s = open_store(store)
    if not s.get_artifacts_by_id([artifact_id]):
        raise DataError(f"no artifact with id {artifact_id} in this store; list ids with "
                        "mlprod.pipelines.metadata.artifacts(store).")
    types = {t.id: t.name for t in s.get_artifact_types()}
    nodes = node_of_executions(s)
    rows, frontier, seen = [], [artifact_id], set()
    for depth in range(max_depth):
        nxt = []
        for aid in frontier:
            if aid in seen:
                continue
            seen.add(aid)
            for ev in s.get_events_by_artifact_ids([aid]):
                if ev.type != mlmd.Event.OUTPUT:
                    continue
                for inp in s.get_events_by_execution_ids([ev.execution_id]):
                    if inp.type != mlmd.Event.INPUT:
                        continue
                    (a_in,) = s.get_artifacts_by_id([inp.artifact_id])
                    (a_out,) = s.get_artifacts_by_id([aid])
                    rows.append({"depth": depth, "node": nodes.get(ev.execution_id, str(ev.execution_id)),
                                 "input_id": a_in.id, "input_type": types.get(a_in.type_id, "?"),
                                 "output_id": aid, "output_type": types.get(a_out.type_id, "?"),
                                 "input_uri": a_in.uri})
                    nxt.append(a_in.id)
        frontier = nxt
        if not frontier:
            break
    df = pd.DataFrame(rows, columns=["depth", "node", "input_type", "input_id", "output_type",
                                     "output_id", "input_uri"])
    return df.drop_duplicates(["node", "input_id", "output_id"], ignore_index=True)


def _outputs_of_producer(s: Store, artifact_id: int, type_name: str) -> list[Any]:
    """Artifacts of ``type_name`` written by the execution that wrote ``artifact_id``."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    execs = [e.execution_id for e in s.get_events_by_artifact_ids([artifact_id]) if e.type == mlmd.Event.OUTPUT]
    if not execs:
        return []
    ids = [e.artifact_id for e in s.get_events_by_execution_ids(execs) if e.type == mlmd.Event.OUTPUT]
    wanted = {t.id for t in s.get_artifact_types() if t.name == type_name}
    return [a for a in s.get_artifacts_by_id(ids) if a.type_id in wanted]


def _spans(s: Store, model_id: int) -> str:
    """The spans (and versions) of the raw Examples a model was trained on, e.g. ``"0, 3"``."""
    steps = lineage(s, model_id)
    ids = [int(i) for i in steps.loc[steps["input_type"] == "Examples", "input_id"].unique()]
    spans = set()
    for a in s.get_artifacts_by_id(ids):
        if "span" in a.custom_properties and not _producer_reads_examples(s, a.id):
            spans.add(int(a.custom_properties["span"].int_value))
    return ", ".join(str(x) for x in sorted(spans))


def _producer_reads_examples(s: Store, artifact_id: int) -> bool:
    """True when the artifact was made from other Examples (Transform's output), not read from data."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    execs = [e.execution_id for e in s.get_events_by_artifact_ids([artifact_id]) if e.type == mlmd.Event.OUTPUT]
    inputs = [e.artifact_id for e in s.get_events_by_execution_ids(execs) if e.type == mlmd.Event.INPUT]
    examples = {t.id for t in s.get_artifact_types() if t.name == "Examples"}
    return any(a.type_id in examples for a in s.get_artifacts_by_id(inputs))


def evaluation_metrics(eval_uri: str) -> dict[str, float]:
    """Overall-slice metrics of the candidate model stored by TFX's Evaluator in ``eval_uri``
    (name -> value; changes against the baseline model left out; empty if absent).

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> evaluation_metrics("/path/to/Evaluator/evaluation/7")["trivial_baseline"]  # doctest: +SKIP
        0.437
    """
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_eval_result(eval_uri)
    except Exception:  # an evaluation that never wrote metrics
        return {}
    out: dict[str, float] = {}
    for slice_key, metrics in result.slicing_metrics:
        if slice_key != ():
            continue
        for per_output in metrics.values():
            for per_sub in per_output.values():
                for name, value in per_sub.items():
                    if "diff" in name.lower():
                        continue
                    with contextlib.suppress(TypeError, ValueError):
                        out.setdefault(name, float(value.get("doubleValue", value) if isinstance(value, dict)
                                                   else value))
    return out


def _accuracy_of(metrics: dict[str, float]) -> float | None:
    return next((v for k, v in metrics.items() if "accuracy" in k.lower()), None)


def evaluation_accuracy(eval_uri: str) -> float | None:
    """Overall-slice accuracy stored by TFX's Evaluator in ``eval_uri`` (None if absent).

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
        >>> evaluation_accuracy("/path/to/Evaluator/evaluation/7")  # doctest: +SKIP
        0.971
    """
    return _accuracy_of(evaluation_metrics(eval_uri))



def __getattr__(name: str) -> object:
    """``registry`` has its own module (:mod:`mlprod.pipelines.registry`, which reads this one); the
    old name raises an ImportError that says where."""
    raise moved(__name__, name)
