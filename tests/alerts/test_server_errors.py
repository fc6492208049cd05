"""A real server answering real 500s emits one ``server_errors`` event per incident; with alerts
off it starts no watch at all."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from mlprod import alerts
from mlprod.serving.server import Server


@pytest.fixture(scope="module")
def file_model(tmp_path_factory):
    """A SavedModel that reads the file a request names: a missing file is a NotFoundError (HTTP 500)."""
    import tensorflow as tf

    d = tmp_path_factory.mktemp("files")

    class Reader(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="path")])
        def size(self, path):
            return {"size": tf.map_fn(lambda p: tf.strings.length(tf.io.read_file(p)), path,
                                      fn_output_signature=tf.int32)}

    m = Reader()
    tf.saved_model.save(m, str(d / "models" / "1"), signatures={"serving_default": m.size})
    (d / "ok.txt").write_text("hello")
    return d


def _post(srv: Server, path: str) -> int:
    body = json.dumps({"instances": [path]}).encode()
    try:
        return urllib.request.urlopen(f"{srv.rest_url}/v1/models/files:predict", data=body, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code


def test_a_burst_of_500s_is_one_server_errors_event(file_model, tmp_path):
    log = tmp_path / "alerts.jsonl"
    alerts.configure(log=str(log), outbox=str(tmp_path / "o.sqlite"))
    srv = Server(str(file_model / "models"), model_name="files", rest_port=0, grpc_port=None)
    srv.error_watch_s = 0.5
    try:
        srv.start()
        assert _post(srv, str(file_model / "ok.txt")) == 200
        assert _post(srv, str(file_model / "missing.txt")) == 500
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # keeps failing over several readings: still one incident
            _post(srv, str(file_model / "missing.txt"))
    finally:
        srv.stop()
        alerts.configure(None)
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(e["kind"], e["subject"]) for e in events] == [("server_errors", "model/files")]
    assert events[0]["details"]["error_rate"] > 0.9 and set(events[0]["details"]["codes"]) == {"500"}


def test_no_alerts_no_watch(file_model):
    alerts.configure(None)
    before = set(threading.enumerate())
    srv = Server(str(file_model / "models"), model_name="files", rest_port=0, grpc_port=None)
    try:
        srv.start()
        assert "mlprod-error-rate" not in {t.name for t in set(threading.enumerate()) - before}
    finally:
        srv.stop()
