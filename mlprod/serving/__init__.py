"""Serving: TF Serving's REST and gRPC APIs over a Pusher's version folders, with dynamic
batching, version policy and rollback, Prometheus metrics, and request logging for monitoring.

Example:
    (tests/serving/test_server.py runs this.)
    >>> import mlprod
    >>> srv = mlprod.serve("/srv/models/penguin", model_name="penguin", log_dir="/srv/logs/penguin")  # doctest: +SKIP
    >>> srv.stop()                                                              # doctest: +SKIP
"""
from mlprod.serving.model import Servable, load_version
from mlprod.serving.replay import ReplayResult, replay
from mlprod.serving.requestlog import RequestLog, log_feedback, read_requests, request_files
from mlprod.serving.server import Batching, Server, serve
from mlprod.serving.versions import list_versions, read_pin, write_pin

__all__ = ["Batching", "ReplayResult", "RequestLog", "Servable", "Server", "list_versions", "load_version", "log_feedback",
           "read_pin", "read_requests", "replay", "request_files", "serve", "write_pin"]
