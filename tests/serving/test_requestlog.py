"""Request logs: what is answered is logged; SIGTERM loses nothing; SIGKILL at most one flush
interval and never a torn record; feedback joins; the logs read as data (validation, ExampleGen)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

import mlprod
from mlprod.io.frames import check_tfrecords
from mlprod.serving import RequestLog, log_feedback, read_requests, request_files

from .conftest import penguin_rows


def start_cli(base: Path, log_dir: Path, flush: float, *extra: str) -> tuple[subprocess.Popen, str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    p = subprocess.Popen([sys.executable, "-m", "mlprod.cli", "serve", "--model_base_path", str(base),
                          "--model_name", "penguin", "--rest_api_port", "0", "--port", "-1", "--enable_batching",
                          "--log_dir", str(log_dir), "--log_flush_interval", str(flush), *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 180
    assert p.stdout is not None
    while time.time() < deadline:
        line = p.stdout.readline()
        m = re.search(r"REST (http://\S+),", line)
        if m:
            return p, m.group(1)
        if p.poll() is not None:
            break
    p.kill()
    raise AssertionError(f"server did not start: {p.stdout.read()}")


def load(url: str, stop: threading.Event, answered: dict[str, float], n_threads: int = 4) -> list[threading.Thread]:
    rows = penguin_rows(5)

    def client(t: int) -> None:
        s, i = requests.Session(), 0
        while not stop.is_set():
            rid = f"t{t}-{i}"
            i += 1
            try:
                r = s.post(f"{url}/v1/models/penguin:predict", json={"instances": [rows[i % 5]]},
                           headers={"X-Request-Id": rid}, timeout=30)
            except requests.ConnectionError:
                return  # the server has closed its port
            if r.status_code == 200:
                answered[rid] = time.time()

    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(n_threads)]
    for th in threads:
        th.start()
    return threads


def test_sigterm_under_load_drains_and_loses_no_record(base, tmp_path):
    proc, url = start_cli(base, tmp_path / "logs", flush=1.0)
    answered: dict[str, float] = {}
    stop = threading.Event()
    threads = load(url, stop, answered)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    stop.set()
    for t in threads:
        t.join(30)
    assert proc.returncode == 0, out
    assert "draining" in out
    assert len(answered) > 20
    logged = set(read_requests(str(tmp_path / "logs"))["_request_id"])
    assert set(answered) <= logged, f"{len(set(answered) - logged)} answered requests were not logged"


def test_sigkill_loses_at_most_the_last_flush_interval(base, tmp_path):
    flush = 1.0
    proc, url = start_cli(base, tmp_path / "logs", flush=flush)
    answered: dict[str, float] = {}
    stop = threading.Event()
    threads = load(url, stop, answered)
    time.sleep(3.3)
    proc.kill()
    killed = time.time()
    proc.wait(30)
    stop.set()
    for t in threads:
        t.join(30)
    files = request_files(str(tmp_path / "logs"))
    check_tfrecords(files)  # every file holds whole records only
    logged = set(read_requests(str(tmp_path / "logs"))["_request_id"])
    assert logged <= set(answered)
    lost = {rid: killed - t for rid, t in answered.items() if rid not in logged}
    assert len(logged) > 10
    assert all(age <= flush + 0.5 for age in lost.values()), sorted(lost.values())[-3:]


def test_feedback_over_rest_joins_labels(base, tmp_path):
    logs = tmp_path / "logs"
    with mlprod.serve(str(base), model_name="penguin", rest_port=0, grpc_port=None, log_dir=str(logs),
                      log_flush_interval_s=0.1) as srv:
        u = srv.rest_url
        r = requests.post(f"{u}/v1/models/penguin:predict", json={"instances": penguin_rows(3)},
                          headers={"X-Request-Id": "batch"})
        assert r.status_code == 200
        r = requests.post(f"{u}/v1/feedback", json={"labels": {"batch-0": 0, "batch-2": 2}, "label": "species"})
        assert r.json() == {"recorded": 2}
        assert requests.post(f"{u}/v1/feedback", json={"labels": []}).status_code == 400
    df = read_requests(str(logs), label="species").set_index("_request_id")
    assert df.loc["batch-0", "species"] == 0 and df.loc["batch-2", "species"] == 2
    assert df["species"].isna().sum() == 1
    # later feedback for the same id wins
    log_feedback(str(logs), {"batch-0": 1}, label="species")
    assert read_requests(str(logs), label="species").set_index("_request_id").loc["batch-0", "species"] == 1


def test_logs_are_data_for_validation_and_examplegen(base, tmp_path):
    logs = tmp_path / "logs"
    with mlprod.serve(str(base), model_name="penguin", rest_port=0, grpc_port=None, log_dir=str(logs),
                      log_flush_interval_s=0.1) as srv:
        for _ in range(5):
            requests.post(f"{srv.rest_url}/v1/models/penguin:predict", json={"instances": penguin_rows(20)})
    files = request_files(str(logs))
    day = Path(files[0]).parent.name
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day)  # one folder per UTC day: an ExampleGen span
    stats = mlprod.compute_statistics(files)
    names = {f.path.step[0] for f in stats.datasets[0].features}
    assert {"culmen_length_mm", "_prediction", "_model_version", "_request_id"} <= names
    assert stats.datasets[0].num_examples == 100
    # TFX's own span resolution finds today's folder (as days since 1970-01-01, TFX's date spans)
    import datetime

    from tfx.components.example_gen import utils
    from tfx.proto import example_gen_pb2

    splits = [example_gen_pb2.Input.Split(name="logs", pattern="{YYYY}-{MM}-{DD}/requests-*.tfrecord")]
    span, _version = utils.calculate_splits_fingerprint_span_and_version(str(logs), splits)[1:]
    assert span == (datetime.date.fromisoformat(day) - datetime.date(1970, 1, 1)).days


def test_sampling_size_cap_and_bad_options(tmp_path):
    import numpy as np

    log = RequestLog(str(tmp_path / "s"), sample_rate=0.25, flush_interval_s=0.05, seed=0)
    x = {"x": np.arange(4000, dtype=np.float32)}
    log.log(x, {"y": x["x"] * 2}, version=1, request_ids=[str(i) for i in range(4000)])
    log.close()
    assert 800 < log.written < 1200
    capped = RequestLog(str(tmp_path / "c"), flush_interval_s=0.01, max_file_bytes=2000, max_total_bytes=6000)
    for i in range(60):
        capped.log({"x": np.ones((5, 8), np.float32)}, {"y": np.ones((5, 1), np.float32)}, version=1,
                   request_ids=[f"{i}-{j}" for j in range(5)])
        time.sleep(0.02)
    capped.close()
    files = request_files(str(tmp_path / "c"))
    assert sum(os.path.getsize(f) for f in files) <= 6000 + 2000 + 2000 and len(files) >= 2
    with pytest.raises(mlprod.ConfigError, match="sample_rate"):
        RequestLog(str(tmp_path / "b"), sample_rate=0)
    with pytest.raises(mlprod.DataError, match="no request logs"):
        read_requests(str(tmp_path / "nothing"))


def test_requests_queued_together_are_encoded_together_and_a_bad_one_alone(tmp_path):
    # one flush holds requests of two shapes, two versions and one that cannot be encoded (a ragged
    # object column): every good row is written once, with its own id, version and timestamp
    import numpy as np

    log = RequestLog(str(tmp_path / "g"), flush_interval_s=30)  # nothing is written before close()
    for i in range(20):
        log.log({"x": np.full((2, 3), i, np.float32)}, {"y": np.array([[i], [i]], np.float32)},
                version=1 + i % 2, request_ids=[f"a{i}-0", f"a{i}-1"])
        log.log({"s": np.array([b"k%d" % i])}, {"y": np.array([[0.5]], np.float32)}, version=1,
                request_ids=[f"b{i}"])
    log.log({"x": np.array([[1.0, 2.0, 3.0]], np.float32)}, {"y": np.array([[7.0]], np.float32)}, version=1,
            request_ids=["bad"], takes_examples=True)  # claims tf.Examples but sends floats
    log.close()
    df = read_requests(str(tmp_path / "g"))
    assert log.written == 60 and log.dropped == 1 and len(df) == 60
    assert sorted(df["_request_id"]) == sorted([f"a{i}-{j}" for i in range(20) for j in (0, 1)] + [f"b{i}" for i in range(20)])
    a = df[df["_request_id"].str.startswith("a")]
    i = a["_request_id"].str.extract(r"a(\d+)-")[0].astype(int)
    assert (a["_model_version"] == 1 + i % 2).all()
    assert all(np.allclose(list(x), [k] * 3) for x, k in zip(a["x"], i, strict=True))
    assert (df["_timestamp_ms"] > 0).all()


def test_tensorflow_thread_flags(base, tmp_path, capsys):
    # TF Serving's --tensorflow_intra_op_parallelism / --tensorflow_inter_op_parallelism: applied
    # before the model loads (the server answers and logs), a negative count is one clear error
    from mlprod import cli

    p, url = start_cli(base, tmp_path / "logs", 0.1, "--tensorflow_intra_op_parallelism", "1",
                       "--tensorflow_inter_op_parallelism", "1")
    try:
        r = requests.post(f"{url}/v1/models/penguin:predict", json={"instances": penguin_rows(3)}, timeout=60)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 3
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
    assert p.returncode == 0 and len(read_requests(str(tmp_path / "logs"))) == 3
    rc = cli.main(["serve", "--model_base_path", str(base), "--tensorflow_intra_op_parallelism", "-1"])
    assert rc == 1 and "must be >= 0" in capsys.readouterr().err


def test_batched_requests_are_logged_once_each_with_their_own_prediction(base, tmp_path):
    """Batching logs a whole model call at once (from the batch thread): every request of a
    batch, single- or multi-row, REST or gRPC, must still be logged once under its own id with
    the prediction it was answered."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from mlprod.serving.codec import example_from_features

    logs = tmp_path / "logs"
    rows = penguin_rows(12)
    with mlprod.serve(str(base), model_name="penguin", rest_port=0, grpc_port=0, log_dir=str(logs),
                      batching=mlprod.serving.Batching(max_batch_size=16, batch_timeout_s=0.02)) as srv:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(srv.grpc_target))

        def rest(i: int) -> dict[str, list]:
            k = 1 + i % 3  # 1-, 2- and 3-row requests share batches
            inst = [rows[(i + j) % 12] for j in range(k)]
            r = requests.post(f"{srv.rest_url}/v1/models/penguin:predict", json={"instances": inst},
                              headers={"X-Request-Id": f"r{i}"}, timeout=60)
            assert r.status_code == 200, r.text
            preds = r.json()["predictions"]
            return {f"r{i}": preds[0]} if k == 1 else {f"r{i}-{j}": p for j, p in enumerate(preds)}

        def grpc_call(i: int) -> dict[str, list]:
            req = predict_pb2.PredictRequest()
            req.model_spec.name = "penguin"
            req.inputs["examples"].CopyFrom(tf.make_tensor_proto([example_from_features(rows[i % 12])]))
            out = stub.Predict(req, metadata=[("x-request-id", f"g{i}")], timeout=60)
            return {f"g{i}": tf.make_ndarray(out.outputs["outputs"])[0].tolist()}

        with ThreadPoolExecutor(16) as pool:
            answers: dict[str, list] = {}
            for d in pool.map(lambda i: rest(i) if i % 4 else grpc_call(i), range(80)):
                answers.update(d)
        sizes = srv.m["batch"].labels("penguin").collect()[0].samples
    n_calls = next(s.value for s in sizes if s.name.endswith("_count"))
    assert n_calls < 80  # requests did share model calls
    df = read_requests(str(logs), with_feedback=False)
    assert sorted(df["_request_id"]) == sorted(answers)  # each exactly once
    for rid, pred in zip(df["_request_id"], df["_prediction"], strict=True):
        np.testing.assert_allclose(pred, answers[rid], rtol=1e-5)


def _newest_timestamp_ms(log_dir: Path) -> int:
    """The ``_timestamp_ms`` of the last complete record on disk (TFRecord frames walked, only the last parsed)."""
    import struct

    from tensorflow.core.example import example_pb2

    newest = 0
    for f in request_files(str(log_dir)):
        data = Path(f).read_bytes()
        pos, last = 0, None
        while pos + 12 <= len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            if pos + 12 + n + 4 > len(data):
                break
            last = data[pos + 12:pos + 12 + n]
            pos += 12 + n + 4
        if last is not None:
            ex = example_pb2.Example.FromString(last)
            newest = max(newest, ex.features.feature["_timestamp_ms"].int64_list.value[0])
    return newest


def test_log_lag_stays_within_the_flush_interval_under_load(tmp_path):
    """What SIGKILL can lose is bounded by time: every record answered more than ``flush_interval_s``
    ago is on disk, checked by the records' own timestamps while 200-row requests keep arriving."""
    import numpy as np

    interval = 0.5
    rl = RequestLog(str(tmp_path / "log"), flush_interval_s=interval)
    rows = 200
    x = np.random.default_rng(0).normal(size=(rows, 4)).astype(np.float32)
    y = np.random.default_rng(1).random((rows, 3)).astype(np.float32)
    stop = threading.Event()
    sent = [0]

    def producer() -> None:
        while not stop.is_set():
            rl.log({"x": x}, {"y": y}, version=1, request_ids=[f"r{sent[0]}-{i}" for i in range(rows)])
            sent[0] += 1
            time.sleep(0.002)

    t = threading.Thread(target=producer)
    t.start()
    lags = []
    try:
        time.sleep(1.0)
        for _ in range(8):
            time.sleep(0.37)
            lags.append(time.time() * 1000 - _newest_timestamp_ms(tmp_path / "log"))
    finally:
        stop.set()
        t.join()
        rl.close()
    assert sent[0] * rows > 50_000, "the producer must load the writer"
    assert max(lags) <= interval * 1000 + 150, f"log lag {max(lags):.0f} ms > the {interval} s flush interval"
    assert rl.written == sent[0] * rows
