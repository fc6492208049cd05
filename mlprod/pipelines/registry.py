"""The model registry view: every trained model with its stage (serving, rolled back, retired,
pushed, blessed, rejected, trained), read from ML Metadata and the Pusher folder servers watch.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
    >>> import mlprod
    >>> mlprod.registry("/tmp/penguin/metadata.sqlite", "/tmp/penguin/serving_model")  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod._compat import renamed
from mlprod.pipelines.metadata import (
    _accuracy_of,
    _outputs_of_producer,
    _prop,
    _spans,
    _time,
    evaluation_metrics,
    models,
    open_store,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@renamed(serving_dir="model_dir")
def registry(store: "str | Path | Any", model_dir: "str | Path | None" = None, *,
             tracking_uri: str | None = None) -> "pd.DataFrame":
    """The model registry with stages: every trained model, its verdict, metrics, data, approval and
    where it serves, from ML Metadata and MLflow's model registry together.

    One row per ``Model`` artifact, newest first. ``stage`` is:

    - ``serving``: the version a server of ``model_dir`` (the Pusher folder servers watch;
      ``serving_dir=`` is its old name, for one release) serves now: the approved one (the
      registry's ``champion``, what ``require_approval`` servers serve) once any version was
      approved, else the pinned version after a rollback, else the newest;
    - ``candidate``: pushed and registered, not approved (``require_approval`` servers answer it
      under ``/labels/candidate`` only);
    - ``rolled back``: pushed, moved off (a registry rollback, or newer than the pinned version);
    - ``retired``: pushed earlier, since replaced by a newer version;
    - ``pushed``: pushed (``model_dir`` not given, so serving cannot be told);
    - ``blessed``: blessed by the Evaluator but not pushed; ``rejected``: not blessed (the
      thresholds or the comparison with the serving model failed); ``trained``: never evaluated.

    Other columns: ``model_id``, ``created``, ``version`` (the pushed version folder), ``blessed``,
    ``baseline_model_id`` (the model it was compared with), ``accuracy`` (overall, from the
    Evaluator), ``metrics`` (every overall metric of the Evaluator), ``spans`` (the ExampleGen spans
    it was trained on, from ML Metadata lineage), from MLflow (empty without it):
    ``registry_version`` (the registered version number), ``aliases`` (``champion``,
    ``candidate``), ``approval`` (``approved``, ``rolled back``), ``approved_by``, ``approved_at``,
    ``note``; and ``uri``.

    Args:
        store: the ML Metadata store (SQLite path or ConnectionConfig).
        model_dir: the Pusher folder servers watch.
        tracking_uri: the MLflow store. Default: ``MLFLOW_TRACKING_URI``, else the embedded
            ``mlflow.db`` under the models' pipeline root when there is one; no MLflow (not
            installed, or no store): those columns stay empty.

    Raises:
        DataError: no store at that path.

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_tracking.py runs this path.)
        >>> registry("/tmp/penguin/metadata.sqlite", "/tmp/penguin/serving_model")[["model_id", "stage"]]  # doctest: +SKIP
    """
    import os

    import pandas as pd

    s = open_store(store)
    blessing: dict[int, Any] = {}
    for b in s.get_artifacts_by_type("ModelBlessing"):
        mid = _prop(b, "current_model_id")
        if mid and (int(mid) not in blessing or b.id > blessing[int(mid)].id):
            blessing[int(mid)] = b
    pushed = models(s).set_index("model_id")["pushed_to"].to_dict()
    model_arts = s.get_artifacts_by_type("Model")
    reg = _registered(model_arts, tracking_uri)
    pin = serving = approved = None
    if model_dir is not None:
        from mlprod.serving.versions import read_pin_state, serving_version

        state = read_pin_state(str(model_dir))
        pin, serving = state["pinned_version"], serving_version(str(model_dir))
        if state["approval"] is not None:
            approved = serving = state["approval"]["version"]
    rows = []
    for m in model_arts:
        b = blessing.get(m.id)
        blessed = None if b is None else bool(_prop(b, "blessed"))
        dest = pushed.get(m.id, "")
        version = int(os.path.basename(dest.rstrip("/"))) if dest and os.path.basename(dest.rstrip("/")).isdigit() \
            else None
        r = reg.get(m.id) or (reg.get(("folder", version)) if version is not None else None) or {}
        if version is not None and model_dir is not None:
            if version == serving:
                stage = "serving"
            elif r.get("approval") == "rolled back" or (approved is None and pin is not None and version > pin):
                stage = "rolled back"
            elif approved is not None and r and r.get("approval") != "approved":
                stage = "candidate"
            else:
                stage = "retired"
        elif dest:
            stage = "pushed"
        else:
            stage = {True: "blessed", False: "rejected", None: "trained"}[blessed]
        evals = _outputs_of_producer(s, b.id, "ModelEvaluation") if b is not None else []
        metrics = evaluation_metrics(evals[0].uri) if evals else {}
        baseline = _prop(b, "baseline_model_id") if b is not None else None
        rows.append({"model_id": m.id, "created": _time(m.create_time_since_epoch), "stage": stage,
                     "version": version, "blessed": blessed, "baseline_model_id": int(baseline) if baseline else None,
                     "accuracy": _accuracy_of(metrics), "metrics": metrics, "spans": _spans(s, m.id),
                     "registry_version": r.get("version"), "aliases": r.get("aliases", ""),
                     "approval": r.get("approval", ""), "approved_by": r.get("approved_by", ""),
                     "approved_at": r.get("approved_at", ""), "note": r.get("note", ""), "uri": m.uri})
    cols = ["model_id", "created", "stage", "version", "blessed", "baseline_model_id", "accuracy", "metrics", "spans",
            "registry_version", "aliases", "approval", "approved_by", "approved_at", "note", "uri"]
    return pd.DataFrame(rows, columns=cols).sort_values("model_id", ascending=False, ignore_index=True)


def _registered(model_arts: list[Any], tracking_uri: str | None) -> dict[Any, dict[str, Any]]:
    """MLflow's registered versions keyed by ML Metadata model id (and by ``("folder", N)``)."""
    import os

    from mlprod.tracking.store import DB_FILE, available

    if not available():
        return {}
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:  # the embedded store: <pipeline_root>/mlflow.db, the root holding <root>/<Component>/model/<id>
        for m in model_arts:
            root = Path(m.uri).parents[2] if len(Path(m.uri).parents) > 2 else None
            if root is not None and (root / DB_FILE).is_file():
                uri = f"sqlite:///{root / DB_FILE}"
                break
    if not uri:
        return {}
    from mlprod.tracking.models import TAG, model_versions

    out: dict[Any, dict[str, Any]] = {}
    for _, row in model_versions(tracking_uri=uri).iloc[::-1].iterrows():  # oldest first: newer ones win
        r = row.to_dict()
        mid = r["tags"].get(f"{TAG}mlmd_model_id")
        if mid:
            out[int(mid)] = r
        if r["serving_version"] is not None:
            out[("folder", int(r["serving_version"]))] = r
    return out
