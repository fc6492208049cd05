"""Access control on a real server (loopback): API keys over REST (plain HTTP) and gRPC (TF
Serving's own client), rotation without restart, TLS and mutual TLS with a CA made here."""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import mlprod
from mlprod.cli import main
from mlprod.serving.access import KeyStore, add_key, list_keys, remove_key

from .conftest import export_penguin_model, make_test_pki, penguin_rows

MODELS = ("penguin", "other")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two served models (one small SavedModel under two names), TF Serving's config file."""
    root = tmp_path_factory.mktemp("access")
    export_penguin_model(root / "m" / "1", epochs=2)
    f = root / "models.config"
    f.write_text("model_config_list { " + " ".join(
        f'config {{ name: "{n}" base_path: "{root / "m"}" }}' for n in MODELS) + " }")
    return f


@pytest.fixture(scope="module")
def keyed(config_file: Path, tmp_path_factory: pytest.TempPathFactory):
    keys_file = tmp_path_factory.mktemp("keys") / "keys.json"
    keys = {"all": add_key(str(keys_file), "ops", "*"), "penguin": add_key(str(keys_file), "app", ["penguin"]),
            "expired": add_key(str(keys_file), "old", "penguin", expires="2020-01-01")}
    srv = mlprod.serve(model_config_file=str(config_file), rest_port=0, grpc_port=0, api_keys_file=str(keys_file))
    yield srv, keys, keys_file
    srv.stop(1)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def predict_request(name: str) -> predict_pb2.PredictRequest:
    req = predict_pb2.PredictRequest()
    req.model_spec.name = name
    exs = []
    for row in penguin_rows(3):
        ex = tf.train.Example()
        for k, v in row.items():
            ex.features.feature[k].float_list.value.append(v)
        exs.append(ex.SerializeToString())
    req.inputs["examples"].CopyFrom(tf.make_tensor_proto(exs))
    return req


def grpc_code(fn, req, key: str | None) -> grpc.StatusCode:
    md = [("authorization", f"Bearer {key}")] if key else None
    try:
        fn(req, metadata=md, timeout=30)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def wrong(key: str) -> str:
    """The same key id with another secret (the scrypt check refuses it, not the lookup)."""
    return key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")


def test_rest_refuses_missing_wrong_expired_and_other_model_keys_and_leaks_nothing(keyed):
    srv, keys, _ = keyed
    u = srv.rest_url
    body = {"instances": penguin_rows(2)}
    for headers in ({}, bearer(wrong(keys["penguin"])), bearer("not-a-key"), {"Authorization": keys["penguin"]},
                    bearer(keys["expired"])):
        for r in (requests.post(f"{u}/v1/models/penguin:predict", json=body, headers=headers),
                  requests.get(f"{u}/v1/models/penguin", headers=headers),
                  requests.get(f"{u}/v1/models/penguin/metadata", headers=headers),
                  requests.get(f"{u}/v1/models/ghost", headers=headers),
                  requests.get(f"{u}/metrics", headers=headers),
                  requests.post(f"{u}/v1/feedback", json={"labels": {"x": 1}}, headers=headers)):
            assert r.status_code == 401, (headers, r.url, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            text = r.json()["error"]
            assert not any(n in text for n in MODELS) and "ghost" not in text, text
    assert "expired" in requests.get(f"{u}/v1/models/penguin", headers=bearer(keys["expired"])).json()["error"]
    # health is open by default: status only, no version, no model names
    h = requests.get(f"{u}/healthz")
    assert h.status_code == 200 and h.json() == {"status": "ok"}
    # a valid key for penguin: the other model (served or not) is 403, never 404
    pk = bearer(keys["penguin"])
    for r in (requests.post(f"{u}/v1/models/other:predict", json=body, headers=pk),
              requests.get(f"{u}/v1/models/other/metadata", headers=pk),
              requests.get(f"{u}/v1/models/ghost", headers=pk),
              requests.get(f"{u}/metrics", headers=pk)):
        assert r.status_code == 403, (r.url, r.text)
        assert "ghost" in r.url or "other" in r.url or "metrics" in r.url
    r = requests.post(f"{u}/v1/models/penguin:predict", json=body, headers=pk)
    assert r.status_code == 200 and len(r.json()["predictions"]) == 2
    assert requests.get(f"{u}/v1/models/penguin", headers=pk).json()["model_version_status"][0]["version"] == "1"
    # the all-models key: metrics, health details; an unserved model is 404 without the served names
    ak = bearer(keys["all"])
    assert requests.post(f"{u}/v1/models/other:predict", json=body, headers=ak).status_code == 200
    m = requests.get(f"{u}/metrics", headers=ak)
    assert m.status_code == 200 and 'code="401"' in m.text and 'code="403"' in m.text
    assert requests.get(f"{u}/healthz", headers=ak).json() == {"status": "ok", "version": 1}
    nf = requests.get(f"{u}/v1/models/ghost", headers=ak)
    assert nf.status_code == 404 and "other" not in nf.json()["error"] and "penguin" not in nf.json()["error"]
    assert "access control: on, 3 API keys" in srv.access_note() and "metrics protected" in srv.access_note()


def test_grpc_refuses_missing_wrong_expired_and_other_model_keys(keyed):
    srv, keys, _ = keyed
    ch = grpc.insecure_channel(srv.grpc_target)
    predict = prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict
    status = model_service_pb2_grpc.ModelServiceStub(ch).GetModelStatus
    st_req = get_model_status_pb2.GetModelStatusRequest()
    st_req.model_spec.name = "penguin"
    for key in (None, wrong(keys["penguin"]), "garbage", keys["expired"]):
        assert grpc_code(predict, predict_request("penguin"), key) == grpc.StatusCode.UNAUTHENTICATED
        assert grpc_code(status, st_req, key) == grpc.StatusCode.UNAUTHENTICATED
    try:
        predict(predict_request("ghost"), timeout=30)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED and "ghost" not in e.details() and "other" not in e.details()
    for name in ("other", "ghost"):
        assert grpc_code(predict, predict_request(name), keys["penguin"]) == grpc.StatusCode.PERMISSION_DENIED
    assert grpc_code(predict, predict_request("penguin"), keys["penguin"]) == grpc.StatusCode.OK
    assert grpc_code(status, st_req, keys["penguin"]) == grpc.StatusCode.OK
    assert grpc_code(predict, predict_request("other"), keys["all"]) == grpc.StatusCode.OK
    resp = predict(predict_request("penguin"), metadata=[("authorization", f"Bearer {keys['penguin']}")])
    assert tf.make_ndarray(resp.outputs["outputs"]).shape == (3, 3)


def until(check, timeout: float = 10.0) -> float:
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, "not in effect within the deadline"
        time.sleep(0.1)
    return time.monotonic() - t0


def test_rotation_without_restart(keyed):
    srv, keys, keys_file = keyed
    u = f"{srv.rest_url}/v1/models/penguin"
    ch = grpc.insecure_channel(srv.grpc_target)
    predict = prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict
    new = add_key(str(keys_file), "app-2", "penguin,other")
    took = until(lambda: requests.get(u, headers=bearer(new)).status_code == 200)
    assert took < 3
    assert grpc_code(predict, predict_request("other"), new) == grpc.StatusCode.OK  # verified and cached now
    remove_key(str(keys_file), "app-2")  # a key the cache has seen is refused once it leaves the file
    until(lambda: requests.get(u, headers=bearer(new)).status_code == 401)
    assert grpc_code(predict, predict_request("other"), new) == grpc.StatusCode.UNAUTHENTICATED
    assert requests.get(u, headers=bearer(keys["penguin"])).status_code == 200  # the others stay
    # a broken file keeps the last good keys, and health says why (to a key for every model)
    good = keys_file.read_text()
    keys_file.write_text("{not json")
    try:
        until(lambda: requests.get(f"{srv.rest_url}/healthz").status_code == 503)  # the file is re-read lazily
        assert srv.keys.error is not None
        assert requests.get(u, headers=bearer(keys["penguin"])).status_code == 200
        h = requests.get(f"{srv.rest_url}/healthz", headers=bearer(keys["all"]))
        assert h.status_code == 503 and "API keys file" in h.json()["error"]
        assert requests.get(f"{srv.rest_url}/healthz").json() == {"status": "unavailable"}
    finally:
        keys_file.write_text(good)
    until(lambda: requests.get(f"{srv.rest_url}/healthz").status_code == 200)


def test_keys_file_helpers_and_cli(tmp_path, capsys):
    f = str(tmp_path / "keys.json")
    assert main(["serve-keys", "add", f, "--name", "ci", "--models", "penguin,taxi", "--expires", "30D"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("mlp_") and key not in Path(f).read_text()  # only the hash is stored
    entry = json.loads(Path(f).read_text())["keys"][0]
    assert entry["models"] == ["penguin", "taxi"] and entry["kdf"]["name"] == "scrypt"
    assert (Path(f).stat().st_mode & 0o777) == 0o600
    left = dt.datetime.fromisoformat(entry["expires"]) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=29) < left <= dt.timedelta(days=30)
    store = KeyStore(f)
    assert store.authenticate(f"bearer {key}").name == "ci"
    with pytest.raises(mlprod.ConfigError, match="already has a key named 'ci'"):
        add_key(f, "ci", "*")
    with pytest.raises(mlprod.ConfigError, match="models must name"):
        add_key(f, "x", "")
    assert main(["serve-keys", "list", f]) == 0 and "penguin,taxi" in capsys.readouterr().out
    assert main(["serve-keys", "remove", f, "--name", "ci"]) == 0
    assert list_keys(f).empty
    assert main(["serve-keys", "remove", f, "--name", "ci"]) == 1  # NotFound: one clear line
    with pytest.raises(mlprod.ConfigError, match="does not exist"):
        mlprod.serve(str(tmp_path), rest_port=0, grpc_port=None, api_keys_file=str(tmp_path / "none.json"))
    with pytest.raises(mlprod.ConfigError, match="tls_cert .* and tls_key"):
        mlprod.serve(str(tmp_path), rest_port=0, grpc_port=None, tls_cert=f)
    with pytest.raises(mlprod.ConfigError, match="open_health=False protects"):
        mlprod.serve(str(tmp_path), rest_port=0, grpc_port=None, open_health=False)
    with pytest.raises(mlprod.ConfigError, match="tls_client_ca"):
        mlprod.serve(str(tmp_path), rest_port=0, grpc_port=None, tls_client_ca=f)


def test_tls_and_mutual_tls_with_a_test_ca(config_file, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mlprod.serving")
    pki = make_test_pki(tmp_path)
    keys_file = str(tmp_path / "keys.json")
    key = add_key(keys_file, "app", "penguin")
    ca = Path(pki["ca_cert"]).read_bytes()
    req = predict_request("penguin")
    md = [("authorization", f"Bearer {key}")]
    # TLS with a key: the client checks the server against the test CA
    with mlprod.serve(model_config_file=str(config_file), rest_port=0, grpc_port=0, api_keys_file=keys_file,
                      tls_cert=pki["server_cert"], tls_key=pki["server_key"]) as srv:
        assert srv.rest_url.startswith("https://")
        r = requests.post(f"{srv.rest_url}/v1/models/penguin:predict", json={"instances": penguin_rows(2)},
                          headers=bearer(key), verify=pki["ca_cert"])
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2
        # a response object holds its TLS socket open, and the server's TLS shutdown waits for the
        # client's close_notify (up to the drain grace, 30 s): a client that keeps sockets open delays a drain
        del r
        assert requests.get(f"{srv.rest_url}/v1/models/penguin", verify=pki["ca_cert"]).status_code == 401
        with pytest.raises(requests.exceptions.SSLError):  # the system CAs do not know the test CA
            requests.get(f"{srv.rest_url}/healthz")
        with pytest.raises(requests.exceptions.ConnectionError):  # plain HTTP to the TLS port
            requests.get(f"http://{srv.host}:{srv.rest_port}/healthz", timeout=5)
        creds = grpc.ssl_channel_credentials(root_certificates=ca)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.secure_channel(srv.grpc_target, creds))
        assert stub.Predict(req, metadata=md, timeout=30).outputs["outputs"].tensor_shape.dim[0].size == 3
        assert grpc_code(stub.Predict, req, None) == grpc.StatusCode.UNAUTHENTICATED
        plain = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(srv.grpc_target))
        assert grpc_code(plain.Predict, req, key) == grpc.StatusCode.UNAVAILABLE
    # mutual TLS: a client without a certificate the CA signed is refused in the handshake
    with mlprod.serve(model_config_file=str(config_file), rest_port=0, grpc_port=0, tls_cert=pki["server_cert"],
                      tls_key=pki["server_key"], tls_client_ca=pki["ca_cert"]) as srv:
        assert "mutual TLS" in srv.access_note() and "access control: off" in srv.access_note()
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("access control")]
        assert said[0].startswith("access control: on, 1 API keys") and said[1] == srv.access_note()
        client = grpc.ssl_channel_credentials(root_certificates=ca, private_key=Path(pki["client_key"]).read_bytes(),
                                              certificate_chain=Path(pki["client_cert"]).read_bytes())
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.secure_channel(srv.grpc_target, client))
        assert grpc_code(stub.Predict, req, None) == grpc.StatusCode.OK
        anon = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.secure_channel(srv.grpc_target, grpc.ssl_channel_credentials(root_certificates=ca)))
        assert grpc_code(anon.Predict, req, None) == grpc.StatusCode.UNAVAILABLE
        u = f"{srv.rest_url}/v1/models/penguin"
        assert requests.get(u, verify=pki["ca_cert"], cert=(pki["client_cert"], pki["client_key"])).status_code == 200
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            requests.get(u, verify=pki["ca_cert"], timeout=5)
