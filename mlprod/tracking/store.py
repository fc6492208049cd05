"""Where MLflow keeps runs and registered models: the tracking URI and the client.

The embedded default is a SQLite file under the pipeline root, ``sqlite:///<root>/mlflow.db``,
with artifacts in ``<root>/mlartifacts``: no server to start, and ``mlflow ui
--backend-store-uri sqlite:///<root>/mlflow.db`` shows it. Any MLflow tracking URI works instead
(``http://mlflow.internal:5000``, ``databricks``, another database), given as ``tracking_uri=``
or in ``MLFLOW_TRACKING_URI``. MLflow is imported only when one of these functions runs; without
it (``pip install mlprod[registry]``) they raise a :class:`~mlprod.errors.ConfigError` saying so.

Example:
    >>> default_tracking_uri("/srv/pipelines/penguin")
    'sqlite:////srv/pipelines/penguin/mlflow.db'
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from mlprod.errors import ConfigError

DB_FILE = "mlflow.db"
ARTIFACTS = "mlartifacts"
log = logging.getLogger("mlprod.tracking")


def mlflow_module() -> Any:
    """``import mlflow``, or a ConfigError naming the extra that installs it."""
    try:
        import mlflow
    except ImportError as e:
        raise ConfigError(f"MLflow is not installed ({e}); the registry and tracking store need it: "
                          "pip install mlprod[registry]") from None
    return mlflow


def available() -> bool:
    """Whether MLflow can be imported (the ``registry`` extra is installed)."""
    import importlib.util

    return importlib.util.find_spec("mlflow") is not None


def default_tracking_uri(root: str | os.PathLike[str]) -> str:
    """The embedded store of a pipeline root: ``sqlite:///<root>/mlflow.db`` (absolute path).

    Raises:
        ConfigError: a remote root (``gs://``): a SQLite file cannot live there; pass a tracking URI.
    """
    if "://" in str(root):
        raise ConfigError(f"the pipeline root {root} is remote, where no SQLite file can live; pass "
                          "tracking_uri= (an MLflow server, e.g. http://mlflow:5000) or set MLFLOW_TRACKING_URI.")
    return f"sqlite:///{Path(root).expanduser().resolve()}/{DB_FILE}"


def resolve_tracking_uri(tracking_uri: str | None = None, root: str | os.PathLike[str] | None = None) -> str:
    """The tracking URI to use: the one given, else ``MLFLOW_TRACKING_URI``, else the embedded
    SQLite store under ``root``.

    Raises:
        ConfigError: none of the three (no URI, no variable, no root).

    Example:
        >>> resolve_tracking_uri("http://mlflow:5000", "/tmp/p")
        'http://mlflow:5000'
    """
    if tracking_uri:
        return str(tracking_uri)
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if root is None:
        raise ConfigError("no MLflow tracking store: pass tracking_uri= (sqlite:///path/mlflow.db for a local file, "
                          "or a server's URL), set MLFLOW_TRACKING_URI, or give the pipeline root.")
    return default_tracking_uri(root)


def artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``<db folder>/mlartifacts`` for a SQLite file
    (MLflow's own default, ``./mlruns``, would depend on the working folder); None (the server
    decides) otherwise."""
    if tracking_uri.startswith("sqlite:///"):
        return str(Path(tracking_uri[len("sqlite:///"):]).parent / ARTIFACTS)
    return None


def client(tracking_uri: str) -> Any:
    """An ``mlflow.MlflowClient`` on ``tracking_uri`` (tracking and model registry alike).

    A SQLite file's folder is created; MLflow's schema migrations run quietly on first use.
    """
    mlflow = mlflow_module()
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        for name in ("alembic", "alembic.runtime.migration", "mlflow.store.db.utils"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def experiment_id(c: Any, name: str, tracking_uri: str) -> str:
    """The id of experiment ``name``, created (with :func:`artifact_location`) when missing."""
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(c.create_experiment(name, artifact_location=artifact_location(tracking_uri)))
