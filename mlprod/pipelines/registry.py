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
    _outputs_of_producer,
    _prop,
    _spans,
    _time,
    evaluation_accuracy,
    models,
    open_store,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@renamed(serving_dir="model_dir")
def registry(store: "str | Path | Any", model_dir: "str | Path | None" = None) -> "pd.DataFrame":
    """The model registry with stages: every trained model, its verdict, metrics, data and where it serves.

    One row per ``Model`` artifact, newest first. ``stage`` is:

    - ``serving``: the version a server of ``model_dir`` (the Pusher folder servers watch;
      ``serving_dir=`` is its old name, for one release) serves now (the pinned version after
      a rollback, else the newest);
    - ``rolled back``: pushed, newer than the pinned version, so servers moved off it;
    - ``retired``: pushed earlier, since replaced by a newer version;
    - ``pushed``: pushed (``model_dir`` not given, so serving cannot be told);
    - ``blessed``: blessed by the Evaluator but not pushed; ``rejected``: not blessed (the
      thresholds or the comparison with the serving model failed); ``trained``: never evaluated.

    Other columns: ``model_id``, ``created``, ``version`` (the pushed version folder), ``blessed``,
    ``baseline_model_id`` (the model it was compared with), ``accuracy`` (overall, from the
    Evaluator), ``spans`` (the ExampleGen spans it was trained on, from ML Metadata lineage),
    ``uri``.

    Raises:
        DataError: no store at that path.

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_registry.py runs this path.)
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
    pin = serving = None
    if model_dir is not None:
        from mlprod.serving.versions import read_pin, serving_version

        pin, serving = read_pin(str(model_dir)), serving_version(str(model_dir))
    rows = []
    for m in s.get_artifacts_by_type("Model"):
        b = blessing.get(m.id)
        blessed = None if b is None else bool(_prop(b, "blessed"))
        dest = pushed.get(m.id, "")
        version = int(os.path.basename(dest.rstrip("/"))) if dest and os.path.basename(dest.rstrip("/")).isdigit() \
            else None
        if version is not None and model_dir is not None:
            stage = ("serving" if version == serving else "rolled back" if pin is not None and version > pin
                     else "retired")
        elif dest:
            stage = "pushed"
        else:
            stage = {True: "blessed", False: "rejected", None: "trained"}[blessed]
        evals = _outputs_of_producer(s, b.id, "ModelEvaluation") if b is not None else []
        baseline = _prop(b, "baseline_model_id") if b is not None else None
        rows.append({"model_id": m.id, "created": _time(m.create_time_since_epoch), "stage": stage,
                     "version": version, "blessed": blessed, "baseline_model_id": int(baseline) if baseline else None,
                     "accuracy": evaluation_accuracy(evals[0].uri) if evals else None,
                     "spans": _spans(s, m.id), "uri": m.uri})
    cols = ["model_id", "created", "stage", "version", "blessed", "baseline_model_id", "accuracy", "spans", "uri"]
    return pd.DataFrame(rows, columns=cols).sort_values("model_id", ascending=False, ignore_index=True)
