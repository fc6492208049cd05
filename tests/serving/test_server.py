"""The server through TF Serving's own gRPC client and plain HTTP only (no mlprod client code)."""
from __future__ import annotations

import base64
import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

import mlprod
from mlprod.serving import read_requests

from .conftest import FEATURES, penguin_rows


def example(row: dict) -> tf.train.Example:
    ex = tf.train.Example()
    for k, v in row.items():
        ex.features.feature[k].float_list.value.append(v)
    return ex


@pytest.fixture(scope="module")
def server(base):
    srv = mlprod.serve(str(base), model_name="penguin", rest_port=0, grpc_port=0)
    yield srv
    srv.stop()


def direct(model_dir, rows) -> np.ndarray:
    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    return fn(examples=tf.constant([example(r).SerializeToString() for r in rows]))["outputs"].numpy()


def test_rest_status_metadata_and_predict_forms(server, model_store):
    u = f"{server.rest_url}/v1/models/penguin"
    st = requests.get(u).json()["model_version_status"]
    assert st == [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]
    md = requests.get(f"{u}/metadata").json()
    assert md["model_spec"]["version"] == "1"
    sigs = md["metadata"]["signature_def"]["signature_def"]
    assert set(sigs) == {"serving_default", "by_features"}
    assert sigs["serving_default"]["inputs"]["examples"]["dtype"] == "DT_STRING"

    rows = penguin_rows(5)
    want = direct(model_store["good"], rows)
    # raw feature dicts (the model's Transform-style parsing graph does the rest)
    r = requests.post(f"{u}:predict", json={"instances": rows}, headers={"X-Request-Id": "abc"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "abc"
    np.testing.assert_allclose(r.json()["predictions"], want, rtol=1e-5)
    # JSON integers for float features (a JavaScript client sends 3750 for 3750.0): the parse spec decides
    whole = [{k: float(round(v)) if k == "body_mass_g" else v for k, v in row.items()} for row in rows]
    ints = [{k: int(v) if k == "body_mass_g" else v for k, v in row.items()} for row in whole]
    r = requests.post(f"{u}:predict", json={"instances": ints})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["predictions"], direct(model_store["good"], whole), rtol=1e-5)
    # TF Serving's b64 form of serialized examples, row and columnar
    b64 = [{"b64": base64.b64encode(example(x).SerializeToString()).decode()} for x in rows]
    np.testing.assert_allclose(requests.post(f"{u}:predict", json={"instances": b64}).json()["predictions"], want,
                               rtol=1e-5)
    np.testing.assert_allclose(requests.post(f"{u}/versions/1:predict", json={"inputs": {"examples": b64}}).json()
                               ["outputs"], want, rtol=1e-5)
    # a tensor signature with two outputs answers objects per row
    x = [[r[f] for f in FEATURES] for r in rows]
    preds = requests.post(f"{u}:predict", json={"signature_name": "by_features", "instances": x}).json()["predictions"]
    assert [p["classes"] for p in preds] == want.argmax(1).tolist()
    # classify: [label, score] pairs per example, context merged into each example
    ctx = {"body_mass_g": rows[0]["body_mass_g"]}
    res = requests.post(f"{u}:classify", json={"context": ctx, "examples": [{k: v for k, v in rows[0].items()
                                                                             if k != "body_mass_g"}]}).json()
    assert [lab for lab, _ in res["results"][0]] == ["", "", ""]  # scores only: TF Serving leaves labels empty
    np.testing.assert_allclose([s for _, s in res["results"][0]], want[0], rtol=1e-5)


def test_rest_errors_name_the_problem(server):
    u = f"{server.rest_url}/v1/models"
    r = requests.post(f"{u}/penguin:predict", json={"instances": [{"culmen_length_mm": 0.3}]})
    assert r.status_code == 400 and "body_mass_g" in r.json()["error"]
    r = requests.post(f"{u}/nope:predict", json={"instances": [1]})
    assert r.status_code == 404 and "penguin" in r.json()["error"]
    r = requests.post(f"{u}/penguin/versions/7:predict", json={"instances": penguin_rows(1)})
    assert r.status_code == 404 and "not loaded" in r.json()["error"]
    r = requests.post(f"{u}/penguin:predict", data=b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = requests.post(f"{u}/penguin:predict", json={"signature_name": "missing", "instances": [1]})
    assert r.status_code == 400 and "by_features" in r.json()["error"]
    r = requests.post(f"{u}/penguin:regress", json={"examples": penguin_rows(1)})
    assert r.status_code == 400 and "one value per example" in r.json()["error"]
    r = requests.post(f"{u}/penguin:classify", json={"signature_name": "by_features", "examples": penguin_rows(1)})
    assert r.status_code == 400 and ":predict" in r.json()["error"]
    # a value of the wrong type names its feature (TensorFlow's parse error, without its stack)
    row = {**penguin_rows(1)[0], "culmen_length_mm": "long"}
    r = requests.post(f"{u}/penguin:predict", json={"instances": [row]})
    assert r.status_code == 400 and "culmen_length_mm" in r.json()["error"] and "Data types" in r.json()["error"]
    r = requests.post(f"{u}/penguin:predict", json={"instances": [{**row, "culmen_length_mm": [1, "a"]}]})
    assert r.status_code == 400 and "culmen_length_mm" in r.json()["error"] and "mixes" in r.json()["error"]
    r = requests.post(f"{u}/penguin:predict", json={"instances": []})
    assert r.status_code == 400 and r.json()["error"].startswith("'instances' must be")
    # unknown paths and methods answer JSON errors too, as TF Serving does
    r = requests.get(f"{server.rest_url}/v2/models/penguin")
    assert r.status_code == 404 and "/v2/models/penguin" in r.json()["error"]
    r = requests.delete(f"{u}/penguin")
    assert r.status_code == 405 and "DELETE" in r.json()["error"]


def test_grpc_with_tf_serving_client(server, model_store):
    channel = grpc.insecure_channel(server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    rows = penguin_rows(4)
    want = direct(model_store["good"], rows)

    req = predict_pb2.PredictRequest()
    req.model_spec.name = "penguin"
    req.inputs["examples"].CopyFrom(tf.make_tensor_proto([example(r).SerializeToString() for r in rows]))
    resp, call = stub.Predict.with_call(req, metadata=(("x-request-id", "g1"),))
    np.testing.assert_allclose(tf.make_ndarray(resp.outputs["outputs"]), want, rtol=1e-5)
    assert resp.model_spec.version.value == 1 and resp.model_spec.signature_name == "serving_default"
    assert dict(call.initial_metadata())["x-request-id"] == "g1"

    creq = classification_pb2.ClassificationRequest()
    creq.model_spec.name = "penguin"
    for r in rows:
        creq.input.example_list.examples.add().CopyFrom(example(r))
    cls = stub.Classify(creq).result.classifications
    np.testing.assert_allclose([[c.score for c in k.classes] for k in cls], want, rtol=1e-5)

    mreq = get_model_metadata_pb2.GetModelMetadataRequest()
    mreq.model_spec.name = "penguin"
    mreq.metadata_field.append("signature_def")
    defs = get_model_metadata_pb2.SignatureDefMap()
    stub.GetModelMetadata(mreq).metadata["signature_def"].Unpack(defs)
    assert set(defs.signature_def) == {"serving_default", "by_features"}

    sreq = get_model_status_pb2.GetModelStatusRequest()
    sreq.model_spec.name = "penguin"
    st = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(sreq).model_version_status
    assert [(s.version, s.state) for s in st] == [(1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]

    bad = predict_pb2.PredictRequest()
    bad.model_spec.name = "other"
    with pytest.raises(grpc.RpcError) as e:
        stub.Predict(bad)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    rreq = regression_pb2.RegressionRequest()
    rreq.model_spec.name = "penguin"
    rreq.input.example_list.examples.add().CopyFrom(example(rows[0]))
    with pytest.raises(grpc.RpcError) as e:
        stub.Regress(rreq)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_metrics_and_health(server):
    requests.post(f"{server.rest_url}/v1/models/penguin:predict", json={"instances": penguin_rows(2)})
    text = requests.get(f"{server.rest_url}/monitoring/prometheus/metrics").text
    assert 'mlprod_serving_requests_total{api="predict",code="200",model="penguin"}' in text
    assert "mlprod_serving_request_latency_seconds_bucket" in text
    assert 'mlprod_serving_model_version{model="penguin"} 1.0' in text
    assert requests.get(f"{server.rest_url}/healthz").json() == {"status": "ok", "version": 1}


def test_new_version_swaps_with_no_failed_request_and_rollback(model_store, tmp_path):
    base = tmp_path / "penguin"
    base.mkdir()
    shutil.copytree(model_store["good"], base / "1")
    rows = penguin_rows(3)
    v1, v2 = direct(model_store["good"], rows), direct(model_store["flipped"], rows)
    assert not np.allclose(v1, v2, atol=1e-3)
    srv = mlprod.serve(str(base), model_name="penguin", rest_port=0, grpc_port=None, poll_s=0.2, batching=True)
    url = f"{srv.rest_url}/v1/models/penguin:predict"
    seen, failures, stop = [], [], threading.Event()

    def client() -> None:
        s = requests.Session()
        while not stop.is_set():
            r = s.post(url, json={"instances": rows})
            if r.status_code != 200:
                failures.append(r.text)
            else:
                p = np.array(r.json()["predictions"])
                seen.append(1 if np.allclose(p, v1, atol=1e-4) else 2 if np.allclose(p, v2, atol=1e-4) else 0)

    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        shutil.copytree(model_store["flipped"], base / "2")  # copied in place, file by file, like a Pusher
        deadline = time.time() + 60
        while srv.versions.default != 2 and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
    finally:
        stop.set()
    assert failures == [] and 0 not in seen
    assert seen[0] == 1 and seen[-1] == 2 and set(seen) == {1, 2}
    assert sorted(seen) == seen, "once version 2 answered, version 1 never answered again"
    # latest policy: version 1 unloaded, reported END with OK status (as TF Serving)
    assert [(s["version"], s["state"]) for s in srv.status()] == [("2", "AVAILABLE"), ("1", "END")]
    st = requests.get(f"{srv.rest_url}/v1/models/penguin/versions/1").json()["model_version_status"]
    assert st == [{"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}}]

    srv.rollback(1)  # one call: a pin beside the models
    assert srv.versions.default == 1
    np.testing.assert_allclose(requests.post(url, json={"instances": rows}).json()["predictions"], v1, rtol=1e-5)
    with pytest.raises(mlprod.ConfigError, match="version 9 is not under"):
        srv.rollback(9)
    srv.unpin()
    assert srv.versions.default == 2
    # a broken version never replaces a working one
    (base / "3").mkdir()
    (base / "3" / "saved_model.pb").write_bytes(b"not a model")
    srv.versions.poll()
    assert srv.versions.default == 2
    assert {s["version"]: s["status"]["error_code"] for s in srv.status() if s["state"] == "END"}["3"] == "UNKNOWN"
    srv.stop()


def test_batching_merges_requests_and_isolates_bad_ones(base, tmp_path):
    srv = mlprod.serve(str(base), model_name="penguin", rest_port=0, grpc_port=None,
                       batching=mlprod.serving.Batching(max_batch_size=64, batch_timeout_s=0.02),
                       log_dir=str(tmp_path / "logs"), log_flush_interval_s=0.1)
    url = f"{srv.rest_url}/v1/models/penguin:predict"
    rows = penguin_rows(40)
    results: dict[int, requests.Response] = {}

    def one(i: int) -> None:
        body = {"instances": [rows[i]]} if i != 7 else {"instances": [{"culmen_length_mm": 1.0}]}
        results[i] = requests.post(url, json=body, headers={"X-Request-Id": f"r{i}"})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[7].status_code == 400
    good = {i: r for i, r in results.items() if i != 7}
    assert all(r.status_code == 200 for r in good.values())
    want = direct(base / "1", rows)
    for i, r in good.items():
        np.testing.assert_allclose(r.json()["predictions"][0], want[i], rtol=1e-5)
    text = requests.get(f"{srv.rest_url}/metrics").text
    count = float(text.split('mlprod_serving_batch_size_count{model="penguin"} ')[1].split()[0])
    assert count < 39, f"39 good requests ran in {count} model calls: batching merged nothing"
    srv.stop()
    log = read_requests(str(tmp_path / "logs"))
    assert sorted(log["_request_id"]) == sorted(f"r{i}" for i in good)
    row = log.set_index("_request_id").loc["r3"]
    np.testing.assert_allclose(row["_prediction"], want[3], rtol=1e-5)
    assert row["culmen_length_mm"] == pytest.approx(rows[3]["culmen_length_mm"]) and row["_model_version"] == 1


def test_tflite_version(model_store, tmp_path):
    base = tmp_path / "edge"
    base.mkdir()
    shutil.copytree(model_store["tflite"], base / "1700000000")
    with mlprod.serve(str(base), model_name="edge", rest_port=0, grpc_port=0) as srv:
        x = [[r[f] for f in FEATURES] for r in penguin_rows(3)]
        r = requests.post(f"{srv.rest_url}/v1/models/edge:predict", json={"instances": x})
        p = np.array(r.json()["predictions"])
        assert r.status_code == 200 and p.shape == (3, 3)
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
        md = requests.get(f"{srv.rest_url}/v1/models/edge/metadata").json()
        assert md["model_spec"]["version"] == "1700000000"
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "edge"
        name = next(iter(srv.versions.get(None).signature(None).inputs))
        req.inputs[name].CopyFrom(tf.make_tensor_proto(np.array(x, np.float32)))
        out = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(srv.grpc_target)).Predict(req)
        np.testing.assert_allclose(tf.make_ndarray(next(iter(out.outputs.values()))), p, rtol=1e-5)


def test_bad_base_paths(tmp_path):
    with pytest.raises(mlprod.DataError, match="does not exist"):
        mlprod.serve(str(tmp_path / "missing"), rest_port=0, grpc_port=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(mlprod.DataError, match="no servable version"):
        mlprod.serve(str(tmp_path / "empty"), rest_port=0, grpc_port=None)
    (tmp_path / "empty" / "1").mkdir()
    with pytest.raises(mlprod.DataError, match="neither saved_model.pb nor"):
        mlprod.serve(str(tmp_path / "empty"), rest_port=0, grpc_port=None)
    with pytest.raises(mlprod.ConfigError, match="model_name"):
        mlprod.serve(str(tmp_path / "empty"), model_name="a/b")
