"""TF Serving's contract, checked as its clients see it: TF Serving's own gRPC client and plain HTTP.

The models are built here: TF1-style SavedModels equivalent to TF Serving's ``half_plus_two`` test
models (y = 0.5x + 2; ``serving_default`` x->y, ``classify_x_to_y``, ``regress_x_to_y``,
``regress_x_to_y2``, ``regress_x2_to_y3``; ``00000123``-style version folders), a multi-input
Keras model with an int64 input and a ``*_bytes`` output, and TFLite models (float, dynamic
range, float16, full int8). Expected answers are TF Serving's documented ones, or the model's own
output (the SavedModel's signature, the TFLite interpreter).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

import mlprod
from mlprod import datasets

from .conftest import FEATURES


def half_plus_two(path: str, a: float = 0.5, b: float = 2.0, c: float = 3.0) -> None:
    """A TF1 SavedModel like TF Serving's half_plus_two test model (built here, not copied)."""
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        serialized = v1.placeholder(tf.string, name="tf_example")
        feats = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32),
                                                 "x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])})
        va, vb, vc = (v1.Variable(val, name=n) for val, n in ((a, "a"), (b, "b"), (c, "c")))
        x_in = v1.placeholder(tf.float32, [None], name="x")
        y_pred = tf.add(tf.multiply(va, x_in), vb, name="y")
        y = tf.add(tf.multiply(va, feats["x"]), vb)
        y2 = tf.add(tf.multiply(va, feats["x"]), vc)
        y3 = tf.add(tf.multiply(va, feats["x2"]), vc)
        u = v1.saved_model.utils.build_tensor_info
        sd = v1.saved_model.signature_def_utils.build_signature_def
        const = v1.saved_model.signature_constants
        sigs = {
            "serving_default": sd({"x": u(x_in)}, {"y": u(y_pred)}, const.PREDICT_METHOD_NAME),
            "classify_x_to_y": sd({const.CLASSIFY_INPUTS: u(serialized)}, {const.CLASSIFY_OUTPUT_SCORES: u(y)},
                                  const.CLASSIFY_METHOD_NAME),
            "regress_x_to_y": sd({const.REGRESS_INPUTS: u(serialized)}, {const.REGRESS_OUTPUTS: u(y)},
                                 const.REGRESS_METHOD_NAME),
            "regress_x_to_y2": sd({const.REGRESS_INPUTS: u(serialized)}, {const.REGRESS_OUTPUTS: u(y2)},
                                  const.REGRESS_METHOD_NAME),
            "regress_x2_to_y3": sd({const.REGRESS_INPUTS: u(serialized)}, {const.REGRESS_OUTPUTS: u(y3)},
                                   const.REGRESS_METHOD_NAME),
        }
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(path)
            builder.add_meta_graph_and_variables(sess, [v1.saved_model.tag_constants.SERVING], signature_def_map=sigs)
            builder.save()


def multi_input(path: str) -> tf.Module:
    """A tf.Module with a float and an int64 input and a ``*_bytes`` output (binary strings)."""
    class M(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[0.5], [-1.0], [2.0]])

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="dense"),
                                      tf.TensorSpec([None], tf.int64, name="count")])
        def serve(self, dense: tf.Tensor, count: tf.Tensor) -> dict:
            score = tf.squeeze(tf.matmul(dense, self.w), 1) + tf.cast(count, tf.float32)
            raw = tf.strings.join([tf.constant(b"\xff\x00"), tf.strings.as_string(count)])
            return {"score": score, "tag_bytes": raw}

    m = M()
    tf.saved_model.save(m, path, signatures={"serving_default": m.serve})
    return m


def _penguin_keras():
    import tf_keras as keras

    df = datasets.penguins().dropna()
    x = df[FEATURES].to_numpy(np.float32)  # unscaled on purpose: int8 ranges differ per input
    y = df["species"].to_numpy(np.int64)
    keras.utils.set_random_seed(0)
    norm = keras.layers.Normalization()
    norm.adapt(x)
    model = keras.Sequential([keras.Input((4,)), norm, keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, verbose=0)
    return model, x


def tflite_models(root: str) -> dict[str, str]:
    """float, dynamic-range, float16 and full-int8 TFLite versions of one penguin classifier."""
    import tf_keras as keras  # noqa: F401 - the converter takes the tf_keras model

    model, x = _penguin_keras()
    out = {}
    for kind in ("float", "dynamic", "float16", "int8"):
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if kind != "float":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if kind == "float16":
            conv.target_spec.supported_types = [tf.float16]
        if kind == "int8":
            conv.representative_dataset = lambda: ([r[None]] for r in x[:100])
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        folder = os.path.join(root, kind, "1")
        os.makedirs(folder)
        with open(os.path.join(folder, "model.tflite"), "wb") as f:
            f.write(conv.convert())
        out[kind] = os.path.join(root, kind)
    return out


def interpreter_output(file: str, x: np.ndarray) -> np.ndarray:
    """The TFLite interpreter's own answer, row by row, in real values."""
    interp = tf.lite.Interpreter(model_path=file)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    rows = []
    for r in x:
        v = r[None].astype(np.float32)
        if i["dtype"] == np.int8:
            s, z = i["quantization"]
            v = np.clip(np.round(v / s + z), -128, 127).astype(np.int8)
        interp.set_tensor(i["index"], v)
        interp.invoke()
        y = interp.get_tensor(o["index"])
        if o["dtype"] == np.int8:
            s, z = o["quantization"]
            y = (y.astype(np.float32) - z) * s
        rows.append(y[0])
    return np.stack(rows)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("contract")
    hpt = root / "half_plus_two"
    half_plus_two(str(hpt / "00000123"))
    half_plus_two(str(hpt / "00000124"), b=3.0)  # a second version: y = 0.5x + 3
    multi_input(str(root / "multi" / "1"))
    return {"hpt": hpt, "multi": root / "multi", "tflite": tflite_models(str(root / "tflite")), "root": root}


@pytest.fixture(scope="module")
def hpt(models):
    srv = mlprod.serve(str(models["hpt"]), model_name="half_plus_two", rest_port=0, grpc_port=0,
                       version_policy="all", version_labels={"stable": 123, "canary": 124})
    yield srv
    srv.stop()


def stub(srv):
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(srv.grpc_target))


def ex(**feats) -> tf.train.Example:
    e = tf.train.Example()
    for k, v in feats.items():
        e.features.feature[k].float_list.value.append(v)
    return e


def test_half_plus_two_rest_answers_as_tf_serving(hpt):
    u = f"{hpt.rest_url}/v1/models/half_plus_two"
    # 00000123-style folders load; version 124 is the newest
    assert [s["version"] for s in requests.get(u).json()["model_version_status"]] == ["124", "123"]
    r = requests.post(f"{u}/versions/123:predict", json={"instances": [1.0, 2.0, 5.0]})
    assert r.status_code == 200 and r.json() == {"predictions": [2.5, 3.0, 4.5]}
    assert requests.post(f"{u}:predict", json={"instances": [1.0, 2.0, 5.0]}).json() == {"predictions": [3.5, 4.0, 5.5]}
    assert requests.post(f"{u}/versions/123:predict", json={"inputs": [1, 2]}).json() == {"outputs": [2.5, 3.0]}
    # labels route to their versions
    assert requests.post(f"{u}/labels/stable:predict", json={"instances": [2.0]}).json() == {"predictions": [3.0]}
    assert requests.post(f"{u}/labels/canary:predict", json={"instances": [2.0]}).json() == {"predictions": [4.0]}
    r = requests.post(f"{u}/labels/nope:predict", json={"instances": [2.0]})
    assert r.status_code == 404 and "nope" in r.json()["error"]
    # classify with a scores-only signature: label "" (TF Serving), under "results"
    r = requests.post(f"{u}/versions/123:classify", json={"signature_name": "classify_x_to_y",
                                                           "examples": [{"x": 2.0}]})
    assert r.status_code == 200 and r.json() == {"results": [[["", 3.0]]]}
    for sig, feats, want in (("regress_x_to_y", {"x": 2.0}, 3.0), ("regress_x_to_y2", {"x": 2.0}, 4.0),
                             ("regress_x2_to_y3", {"x2": 2.0, "x": 1.0}, 4.0)):
        r = requests.post(f"{u}/versions/123:regress", json={"signature_name": sig, "examples": [feats]})
        assert r.status_code == 200 and r.json() == {"results": [want]}, (sig, r.text)
    # JSON integers for a float feature of a tf.Example signature (every JavaScript client sends 2 for 2.0)
    r = requests.post(f"{u}/versions/123:regress", json={"signature_name": "regress_x_to_y", "examples": [{"x": 2}]})
    assert r.status_code == 200 and r.json() == {"results": [3.0]}
    # metadata prints default-valued fields as TF Serving does
    md = requests.get(f"{u}/versions/123/metadata").json()
    assert md["model_spec"] == {"name": "half_plus_two", "signature_name": "", "version": "123"}
    x = md["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT" and x["tensor_shape"]["unknown_rank"] is False
    assert x["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert md["metadata"]["signature_def"]["signature_def"]["classify_x_to_y"]["method_name"] == \
        "tensorflow/serving/classify"


def test_half_plus_two_grpc_answers_as_tf_serving(hpt):
    s = stub(hpt)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "half_plus_two"
    req.model_spec.version.value = 123
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0, 5.0], np.float32)))
    resp = s.Predict(req)
    assert tf.make_ndarray(resp.outputs["y"]).tolist() == [2.5, 3.0, 4.5] and resp.model_spec.version.value == 123
    req.model_spec.version_label = "canary"
    assert tf.make_ndarray(s.Predict(req).outputs["y"]).tolist() == [3.5, 4.0, 5.5]
    # a DT_DOUBLE tensor for a float input: INVALID_ARGUMENT, naming the input
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float64)))
    with pytest.raises(grpc.RpcError) as e:
        s.Predict(req)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'x'" in e.value.details()

    creq = classification_pb2.ClassificationRequest()
    creq.model_spec.name = "half_plus_two"
    creq.model_spec.version.value = 123
    creq.model_spec.signature_name = "classify_x_to_y"
    creq.input.example_list.examples.add().CopyFrom(ex(x=2.0))
    c = s.Classify(creq).result.classifications[0].classes[0]
    assert c.label == "" and c.score == pytest.approx(3.0)
    rreq = regression_pb2.RegressionRequest()
    rreq.model_spec.name = "half_plus_two"
    rreq.model_spec.version.value = 123
    rreq.model_spec.signature_name = "regress_x2_to_y3"
    rreq.input.example_list.examples.add().CopyFrom(ex(x2=2.0, x=1.0))
    assert s.Regress(rreq).result.regressions[0].value == pytest.approx(4.0)

    # MultiInference: one classify and one regress task on the same examples
    mreq = inference_pb2.MultiInferenceRequest()
    for sig, method in (("classify_x_to_y", "tensorflow/serving/classify"),
                        ("regress_x_to_y2", "tensorflow/serving/regress")):
        t = mreq.tasks.add()
        t.model_spec.name = "half_plus_two"
        t.model_spec.version.value = 123
        t.model_spec.signature_name = sig
        t.method_name = method
    mreq.input.example_list.examples.add().CopyFrom(ex(x=2.0))
    res = s.MultiInference(mreq).results
    assert res[0].classification_result.classifications[0].classes[0].score == pytest.approx(3.0)
    assert res[1].regression_result.regressions[0].value == pytest.approx(4.0)

    # status: unknown version -> NOT_FOUND
    ms = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(hpt.grpc_target))
    sreq = get_model_status_pb2.GetModelStatusRequest()
    sreq.model_spec.name = "half_plus_two"
    sreq.model_spec.version.value = 7
    with pytest.raises(grpc.RpcError) as e:
        ms.GetModelStatus(sreq)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    sreq.model_spec.version.value = 123
    assert [v.version for v in ms.GetModelStatus(sreq).model_version_status] == [123]


def test_unknown_version_status_is_404(hpt):
    r = requests.get(f"{hpt.rest_url}/v1/models/half_plus_two/versions/7")
    assert r.status_code == 404 and "7" in r.json()["error"]
    assert requests.get(f"{hpt.rest_url}/v1/models/half_plus_two/labels/stable").json() == {
        "model_version_status": [{"version": "123", "state": "AVAILABLE",
                                  "status": {"error_code": "OK", "error_message": ""}}]}


@pytest.mark.parametrize("value, why", [
    (None, "null"), ("1.5", "a string"), (True, "true/false"), ({"b64": "AAAA"}, "an object"),
])
def test_rest_refuses_bad_float_values(hpt, value, why):
    r = requests.post(f"{hpt.rest_url}/v1/models/half_plus_two/versions/123:predict", json={"instances": [1.0, value]})
    assert r.status_code == 400 and "'x'" in r.json()["error"] and why in r.json()["error"], r.text


def test_multi_input_int64_and_bytes(models):
    with mlprod.serve(str(models["multi"]), model_name="m", rest_port=0, grpc_port=0) as srv:
        u = f"{srv.rest_url}/v1/models/m:predict"
        fn = tf.saved_model.load(str(models["multi"] / "1")).signatures["serving_default"]
        dense = [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]]
        want = fn(dense=tf.constant(dense), count=tf.constant([3, 4], tf.int64))
        r = requests.post(u, json={"instances": [{"dense": dense[0], "count": 3}, {"dense": [0.5, 0, -1], "count": 4}]})
        assert r.status_code == 200, r.text
        p = r.json()["predictions"]
        np.testing.assert_allclose([q["score"] for q in p], want["score"].numpy(), rtol=1e-6)
        # *_bytes outputs travel as {"b64": ...} (TF Serving's rule), exactly the model's bytes
        assert [base64.b64decode(q["tag_bytes"]["b64"]) for q in p] == want["tag_bytes"].numpy().tolist()
        # an int64 input refuses a fraction, a bool, and a value beyond int64; extra keys are refused
        for bad, why in ((1.7, "fraction"), (True, "true/false"), (2 ** 70, "outside")):
            r = requests.post(u, json={"instances": [{"dense": dense[0], "count": bad}]})
            assert r.status_code == 400 and "'count'" in r.json()["error"] and why in r.json()["error"], r.text
        r = requests.post(u, json={"instances": [{"dense": dense[0], "count": 3, "extra": 1}]})
        assert r.status_code == 400 and "extra" in r.json()["error"]
        r = requests.post(u, json={"inputs": {"dense": dense, "count": [3, 4], "extra": [1, 2]}})
        assert r.status_code == 400 and "extra" in r.json()["error"]
        # 100k-deep JSON: 400, not 500
        r = requests.post(u, data="[" * 100000 + "]" * 100000)
        assert r.status_code == 400, r.text
        # gRPC: DT_FLOAT for the int64 input is INVALID_ARGUMENT (no truncation)
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "m"
        req.inputs["dense"].CopyFrom(tf.make_tensor_proto(np.array(dense, np.float32)))
        req.inputs["count"].CopyFrom(tf.make_tensor_proto(np.array([3.9, 4.2], np.float32)))
        with pytest.raises(grpc.RpcError) as e:
            stub(srv).Predict(req)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'count'" in e.value.details()
        req.inputs["count"].CopyFrom(tf.make_tensor_proto(np.array([3, 4], np.int64)))
        out = stub(srv).Predict(req)
        np.testing.assert_allclose(tf.make_ndarray(out.outputs["score"]), want["score"].numpy(), rtol=1e-6)
        assert tf.make_ndarray(out.outputs["tag_bytes"]).tolist() == want["tag_bytes"].numpy().tolist()


@pytest.mark.parametrize("kind", ["float", "dynamic", "float16", "int8"])
def test_tflite_kinds_equal_the_interpreter_rest_and_grpc(models, kind):
    base = models["tflite"][kind]
    x = datasets.penguins().dropna()[FEATURES].to_numpy(np.float32)[:60]
    want = interpreter_output(os.path.join(base, "1", "model.tflite"), x)
    with mlprod.serve(base, model_name="edge", rest_port=0, grpc_port=0) as srv:
        r = requests.post(f"{srv.rest_url}/v1/models/edge:predict", json={"instances": x.tolist()})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], want, rtol=1e-5, atol=1e-6)
        md = requests.get(f"{srv.rest_url}/v1/models/edge/metadata").json()
        sig = md["metadata"]["signature_def"]["signature_def"]["serving_default"]
        name, info = next(iter(sig["inputs"].items()))
        assert info["dtype"] == "DT_FLOAT"  # int8 models take real values; the server quantizes
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "edge"
        req.inputs[name].CopyFrom(tf.make_tensor_proto(x))
        out = stub(srv).Predict(req)
        np.testing.assert_allclose(tf.make_ndarray(next(iter(out.outputs.values()))), want, rtol=1e-5, atol=1e-6)
        # values beyond int8's range are real values like any other: 200, never a 500
        r = requests.post(f"{srv.rest_url}/v1/models/edge:predict", json={"instances": [[1001, 20, 200, 5000]]})
        assert r.status_code == 200, r.text


def test_bad_pin_file_clear_error_at_start_and_unhealthy_while_running(models, tmp_path):
    base = tmp_path / "hpt"
    shutil.copytree(models["hpt"] / "00000123", base / "00000123")
    (base / ".mlprod-serving.json").write_text("[1]")
    with pytest.raises(mlprod.ConfigError, match="pin file"):
        mlprod.serve(str(base), rest_port=0, grpc_port=None)
    (base / ".mlprod-serving.json").unlink()
    with mlprod.serve(str(base), model_name="h", rest_port=0, grpc_port=None, poll_s=0.1) as srv:
        assert requests.get(f"{srv.rest_url}/healthz").status_code == 200
        (base / ".mlprod-serving.json").write_text('{"pinned_version": "abc"}')
        deadline = time.time() + 10
        while requests.get(f"{srv.rest_url}/healthz").status_code == 200 and time.time() < deadline:
            time.sleep(0.1)
        h = requests.get(f"{srv.rest_url}/healthz")
        assert h.status_code == 503 and "pin file" in h.json()["error"]
        # it keeps answering with the version it had
        assert requests.post(f"{srv.rest_url}/v1/models/h:predict", json={"instances": [2.0]}).json() == \
            {"predictions": [3.0]}
    # pin 0 is a pin, not "no pin"
    from mlprod.serving.versions import serving_version
    shutil.copytree(models["hpt"] / "00000123", base / "0")
    (base / ".mlprod-serving.json").write_text('{"pinned_version": 0}')
    assert serving_version(str(base)) == 0


def test_warmup_requests_run_before_a_version_serves(models, tmp_path):
    base = tmp_path / "hpt"
    v = base / "00000123"
    shutil.copytree(models["hpt"] / "00000123", v)
    (v / "assets.extra").mkdir()
    with tf.io.TFRecordWriter(str(v / "assets.extra" / "tf_serving_warmup_requests")) as w:
        log = prediction_log_pb2.PredictionLog()
        log.predict_log.request.model_spec.name = "h"
        log.predict_log.request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
        w.write(log.SerializeToString())
    with mlprod.serve(str(base), model_name="h", rest_port=0, grpc_port=None) as srv:
        assert srv.versions.get(None).warmed_up == 1
    # a warm-up request the model refuses fails the version's load (TF Serving does the same)
    with tf.io.TFRecordWriter(str(v / "assets.extra" / "tf_serving_warmup_requests")) as w:
        log = prediction_log_pb2.PredictionLog()
        log.predict_log.request.inputs["nope"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
        w.write(log.SerializeToString())
    with pytest.raises(mlprod.DataError, match="warm-up"):
        mlprod.serve(str(base), model_name="h", rest_port=0, grpc_port=None)


def test_request_received_before_sigterm_is_answered(models):
    """A large request fully sent before draining begins is answered 200; new ones get 503."""
    srv = mlprod.serve(str(models["hpt"]), model_name="h", rest_port=0, grpc_port=None)
    body = json.dumps({"instances": [1.0] * 1_500_000}).encode()  # ~6 MB
    sock = socket.create_connection(("127.0.0.1", srv.rest_port))
    sock.sendall(b"POST /v1/models/h:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    time.sleep(0.05)
    import threading

    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()  # a kept-alive connection would hold the drain to its grace period
    stopper.join()
    assert data.startswith(b"HTTP/1.1 200"), data[:200]


def test_model_config_file_serves_several_models_with_policies_and_labels(models, tmp_path):
    cfg = tmp_path / "models.config"
    cfg.write_text(f"""
model_config_list {{
  config {{
    name: "half_plus_two"
    base_path: "{models['hpt']}"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 123 }} }}
    version_labels {{ key: "stable" value: 123 }}
  }}
  config {{
    name: "hpt_all"
    base_path: "{models['hpt']}"
    model_version_policy {{ all {{}} }}
  }}
  config {{ name: "multi" base_path: "{models['multi']}" }}
}}
""")
    with mlprod.serve(model_config_file=str(cfg), rest_port=0, grpc_port=0) as srv:
        u = f"{srv.rest_url}/v1/models"
        # specific {123}: the older version alone, even though 124 is newer
        assert [s["version"] for s in requests.get(f"{u}/half_plus_two").json()["model_version_status"]] == ["123"]
        assert requests.post(f"{u}/half_plus_two:predict", json={"instances": [2.0]}).json() == {"predictions": [3.0]}
        assert requests.post(f"{u}/half_plus_two/labels/stable:predict", json={"instances": [2.0]}).json() == \
            {"predictions": [3.0]}
        assert [s["version"] for s in requests.get(f"{u}/hpt_all").json()["model_version_status"]] == ["124", "123"]
        r = requests.post(f"{u}/multi:predict", json={"instances": [{"dense": [1.0, 2.0, 3.0], "count": 1}]})
        assert r.status_code == 200 and "score" in r.json()["predictions"][0]
        assert requests.get(f"{u}/nope").status_code == 404
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "hpt_all"
        req.model_spec.version.value = 124
        req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0], np.float32)))
        resp = stub(srv).Predict(req)
        assert tf.make_ndarray(resp.outputs["y"]).tolist() == [4.0] and resp.model_spec.name == "hpt_all"
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { config { name: 'a' } }")
    with pytest.raises(mlprod.ConfigError, match="base_path"):
        mlprod.serve(model_config_file=str(bad), rest_port=0, grpc_port=None)
    bad.write_text("not a proto {")
    with pytest.raises(mlprod.ConfigError, match="ModelServerConfig"):
        mlprod.serve(model_config_file=str(bad), rest_port=0, grpc_port=None)


def _count(metrics_text: str, api: str, code: str, model: str = "half_plus_two") -> float:
    import re

    m = re.search(rf'mlprod_serving_requests_total\{{api="{api}",code="{code}",model="{model}"\}} (\S+)', metrics_text)
    return float(m.group(1)) if m else 0.0


def test_metrics_count_gets_unrouted_and_disconnects_honestly(hpt):
    murl = f"{hpt.rest_url}/monitoring/prometheus/metrics"
    before = requests.get(murl).text
    requests.get(f"{hpt.rest_url}/v1/models/half_plus_two")
    requests.get(f"{hpt.rest_url}/v1/models/half_plus_two/versions/123/metadata")
    requests.get(f"{hpt.rest_url}/nowhere")
    sock = socket.create_connection(("127.0.0.1", hpt.rest_port))  # a client that leaves mid-body
    sock.sendall(b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[1,")
    sock.close()
    time.sleep(0.5)
    after = requests.get(murl).text
    assert _count(after, "status", "200") == _count(before, "status", "200") + 1
    assert _count(after, "metadata", "200") == _count(before, "metadata", "200") + 1
    assert _count(after, "unrouted", "404") == _count(before, "unrouted", "404") + 1
    assert _count(after, "predict", "500") == _count(before, "predict", "500") == 0
