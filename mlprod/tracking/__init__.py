"""MLflow as the registry and tracking store: runs, registered versions, approvals.

:mod:`mlprod.tracking.store` finds the store (embedded SQLite under the pipeline root, or any
tracking URI); :mod:`mlprod.tracking.models` registers pushes and moves the ``champion`` alias
(approve, rollback) into the pin file servers poll. A pipeline run is logged by
:func:`mlprod.pipelines.tracking.log_run` (``run_pipeline`` calls it).

Example:
    (tests/serving/test_approval.py runs this.)
    >>> from mlprod import tracking
    >>> tracking.approve("penguin", 2, note="reviewed", tracking_uri="sqlite:////srv/p/mlflow.db")  # doctest: +SKIP
"""
from mlprod.tracking.models import (
    CANDIDATE,
    CHAMPION,
    approve,
    model_versions,
    register_version,
    rollback,
    sync_serving,
)
from mlprod.tracking.store import default_tracking_uri, resolve_tracking_uri

__all__ = ["CANDIDATE", "CHAMPION", "approve", "default_tracking_uri", "model_versions", "register_version",
           "resolve_tracking_uri", "rollback", "sync_serving"]
