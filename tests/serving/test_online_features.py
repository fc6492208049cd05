"""Online features at serving time: requests carry an entity key, the server adds the feature store's
values (real Feast local provider, a real SavedModel, REST and gRPC on loopback)."""
import json
import urllib.error
import urllib.request

import grpc
import pandas as pd
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import mlprod
from mlprod.errors import ConfigError
from mlprod.features import FeatureRepo
from mlprod.serving.features import OnlineFeatures

FEATURES = ["area_stats:trips", "area_stats:mean_fare"]


def _model(path):
    """serving_default parses tf.Examples: trips + 10 * mean_fare + 100 * x (x a request-time feature)."""
    spec = {"trips": tf.io.FixedLenFeature([], tf.float32, default_value=-1.0),
            "mean_fare": tf.io.FixedLenFeature([], tf.float32, default_value=-1.0),
            "x": tf.io.FixedLenFeature([], tf.float32, default_value=0.0)}

    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            f = tf.io.parse_example(examples, spec)
            return {"outputs": f["trips"] + 10.0 * f["mean_fare"] + 100.0 * f["x"]}

    m = M()
    tf.saved_model.save(m, str(path / "1"), signatures={"serving_default": m.serve})
    return str(path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("online")
    now = pd.Timestamp.now(tz="UTC")
    values = pd.DataFrame({"area": [0, 0, 1, 2], "ts": [now - pd.Timedelta("3h"), now - pd.Timedelta("1h"),
                                                         now - pd.Timedelta("2h"), now - pd.Timedelta("40D")],
                           "trips": [5, 7, 3, 9], "mean_fare": [1.5, 2.5, 4.0, 8.0]})
    repo = FeatureRepo(tmp / "repo")
    repo.define("area_stats", values, entity="area", timestamp="ts", ttl=pd.Timedelta("30D"))
    repo.materialize(end=now + pd.Timedelta("1min"))
    srv = mlprod.serve(_model(tmp / "model"), rest_port=0, grpc_port=0, log_dir=str(tmp / "log"),
                       log_flush_interval_s=0.1, feature_store=OnlineFeatures(repo, FEATURES))
    yield srv, tmp
    srv.stop()


def _predict(srv, instances):
    req = urllib.request.Request(f"{srv.rest_url}/v1/models/model:predict", json.dumps({"instances": instances}).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_store_fills_what_the_request_lacks_over_rest_and_grpc(served):
    srv, tmp = served
    status, body = _predict(srv, [{"area": 0, "x": 1.0}, {"area": 1, "x": 0.0}])
    assert status == 200
    assert body["predictions"] == pytest.approx([7 + 25 + 100, 3 + 40])   # area 0's newest values: 7, 2.5
    # a request-time value the request carries is kept as sent
    status, body = _predict(srv, [{"area": 0, "trips": 1000.0}])
    assert status == 200 and body["predictions"] == pytest.approx([1000 + 25])
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(srv.grpc_target))
    ex = tf.train.Example()
    ex.features.feature["area"].int64_list.value.append(1)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "model"
    req.inputs["examples"].CopyFrom(tf.make_tensor_proto([ex.SerializeToString()], dtype=tf.string))
    out = stub.Predict(req, timeout=10)
    assert tf.make_ndarray(out.outputs["outputs"]).tolist() == pytest.approx([43.0])


def test_an_entity_without_current_values_is_a_400_not_a_zero(served):
    srv, _ = served
    status, body = _predict(srv, [{"area": 0}, {"area": 2}, {"area": 42}])   # 2 expired (TTL), 42 unknown
    assert status == 400
    assert "2 of 3 rows" in body["error"] and "row 1" in body["error"] and "row 2" in body["error"]


def test_the_request_log_holds_the_features_the_model_saw(served):
    srv, tmp = served
    assert _predict(srv, [{"area": 1, "x": 2.0}])[0] == 200
    import time

    from mlprod.serving import read_requests

    deadline = time.time() + 10
    while True:
        try:
            logged = read_requests(str(tmp / "log"))
            if (logged.get("x") == 2.0).any():
                break
        except mlprod.errors.DataError:
            pass
        assert time.time() < deadline, "the request was not logged"
        time.sleep(0.2)
    row = logged[logged["x"] == 2.0].iloc[-1]
    assert row["trips"] == 3 and row["mean_fare"] == pytest.approx(4.0) and row["area"] == 1


def test_bad_feature_references_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="view:feature"):
        OnlineFeatures(FeatureRepo(tmp_path / "r"), ["trips"])
    with pytest.raises(ConfigError, match="on_missing"):
        OnlineFeatures(FeatureRepo(tmp_path / "r"), FEATURES, on_missing="zero")
