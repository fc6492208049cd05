"""Issue 30 item 3: lifecycle events to a real webhook receiver (http.server on loopback), retried,
de-duplicated, and none lost or duplicated when the sender is killed and restarted."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import mlprod
from mlprod import alerts
from mlprod.alerts import Alerts, Event
from mlprod.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A webhook receiver: answers each POST with the next code of ``codes`` (then 200), records
    every request, and counts as *accepted* only those it answered 200."""

    def __init__(self, codes: list[int] | None = None, block_first: bool = False) -> None:
        self.codes = list(codes or [])
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        self.got_first = threading.Event()
        self.release = threading.Event()
        self.block_first = block_first
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    first = not outer.requests
                    outer.requests.append({"body": body, "headers": dict(self.headers)})
                    code = outer.codes.pop(0) if outer.codes else 200
                if first and outer.block_first:
                    outer.got_first.set()
                    outer.release.wait(30)
                    code = 500  # the sender is gone: this answer reaches nobody
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"{}")
                except OSError:
                    return
                if code == 200:
                    with outer.lock:
                        outer.accepted.append(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        return [b["id"] for b in self.accepted]


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(codes=None, block_first=False):
        r = Receiver(codes, block_first)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture(autouse=True)
def no_process_alerts(monkeypatch):
    """Each test starts with alerts off and no environment config."""
    for var in ("MLPROD_ALERTS_CONFIG", "MLPROD_ALERTS_WEBHOOK", "MLPROD_ALERTS_LOG", "MLPROD_ALERTS_OUTBOX"):
        monkeypatch.delenv(var, raising=False)
    alerts.configure(None)
    yield
    alerts.configure(None)


def test_each_event_reaches_the_receiver_once_and_the_log(tmp_path, receiver):
    r = receiver()
    a = Alerts([r.url], log=str(tmp_path / "alerts.jsonl"), outbox=str(tmp_path / "o.sqlite"))
    sent = [a.emit("model_pushed", f"model/penguin/{v}", details={"accuracy": 0.9 + v / 100}) for v in range(5)]
    assert a.flush(10) == 0
    a.stop(0)
    assert sorted(r.ids()) == sorted(e.id for e in sent) and len(r.requests) == 5
    first = next(q for q in r.requests if q["body"]["id"] == sent[0].id)
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["Idempotency-Key"] == sent[0].id
    assert first["body"]["kind"] == "model_pushed" and first["body"]["details"]["accuracy"] == 0.9
    assert first["body"]["text"].startswith("[info] model_pushed model/penguin/0")
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [e.id for e in sent]
    assert a.outbox.counts() == {f"webhook:{r.url}": {"delivered": 5},
                                 f"log:{tmp_path / 'alerts.jsonl'}": {"delivered": 5}}


def test_a_500_is_retried_with_backoff_and_delivered_exactly_once(tmp_path, receiver):
    r = receiver(codes=[500, 503])
    a = Alerts([r.url], outbox=str(tmp_path / "o.sqlite"), backoff=0.2, background=False)
    t0 = time.monotonic()
    e = a.emit("run_failed", "pipeline/penguin", details={"component": "Trainer"})
    assert a.pending() == 1  # the first try got a 500: still queued
    assert a.flush(10) == 0
    waited = time.monotonic() - t0
    assert [q["body"]["id"] for q in r.requests] == [e.id] * 3  # 500, 503, then 200
    assert r.ids() == [e.id]
    assert waited >= 0.2 + 0.4 - 0.05  # backoff doubles: 0.2 s, then 0.4 s


def test_a_refused_connection_stays_queued_and_a_4xx_is_not_retried(tmp_path, receiver):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    a = Alerts([f"http://127.0.0.1:{port}/hook"], outbox=str(tmp_path / "o.sqlite"), backoff=0.05, background=False)
    a.emit("drift_alarm", "logs/taxi")
    assert a.flush(0.3) == 1  # still pending: a receiver that is down loses nothing
    r = receiver(codes=[400])
    b = Alerts([r.url], outbox=str(tmp_path / "o2.sqlite"), backoff=0.05, background=False)
    b.emit("drift_alarm", "logs/taxi")
    assert b.flush(2) == 0 and len(r.requests) == 1 and r.accepted == []
    assert b.outbox.counts()[f"webhook:{r.url}"] == {"rejected": 1}


def test_a_new_sender_on_the_same_outbox_replays_what_the_old_one_left(tmp_path, receiver):
    r = receiver(codes=[503] * 100)  # down while the first sender lives
    box = str(tmp_path / "o.sqlite")
    old = Alerts([r.url], outbox=box, backoff=0.05)
    sent = [old.emit("decay_alarm", f"logs/penguin/{i}") for i in range(3)]
    assert old.flush(0.5) == 3
    old.stop(0)  # the process ends with the receiver still down
    del old
    r.codes.clear()  # the receiver is back
    new = Alerts([r.url], outbox=box, backoff=0.05).start()
    assert new.flush(10) == 0
    new.stop(0)
    assert sorted(r.ids()) == sorted(e.id for e in sent)  # none lost, none twice


SENDER = textwrap.dedent("""
    import sys, time
    from mlprod.alerts import Alerts
    a = Alerts([sys.argv[1]], outbox=sys.argv[2], backoff=0.05, exit_timeout=0)
    for i in range(3):
        e = a.emit("run_finished", f"pipeline/p{i}", details={"i": i})
        print(e.id, flush=True)
    time.sleep(60)
""")


def test_a_sender_killed_mid_delivery_loses_none_and_duplicates_none(tmp_path, receiver):
    r = receiver(block_first=True)
    box = str(tmp_path / "o.sqlite")
    proc = subprocess.Popen([sys.executable, "-c", SENDER, r.url, box], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert r.got_first.wait(60), "the sender never posted"
        os.kill(proc.pid, signal.SIGKILL)  # killed while its first POST waits for an answer
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    ids = proc.stdout.read().split()
    assert len(ids) == 3  # all three were in the outbox before the kill
    r.release.set()
    restarted = Alerts([r.url], outbox=box, backoff=0.05).start()
    assert restarted.flush(10) == 0  # the dead sender's claim is freed at once, not after its lease
    restarted.stop(0)
    assert sorted(r.ids()) == sorted(ids)  # every event accepted exactly once
    assert {b["source"]["pid"] for b in r.accepted} == {proc.pid}  # replayed, still naming who emitted it
    # the interrupted POST and its replay carry the same Idempotency-Key
    assert r.requests[0]["headers"]["Idempotency-Key"] in ids


def test_dedup_by_key_within_the_window_and_across_senders(tmp_path, receiver):
    r = receiver()
    box = str(tmp_path / "o.sqlite")
    a = Alerts([r.url], outbox=box, dedup_window=0.5, background=False)
    assert a.emit("drift_alarm", "logs/taxi", key="drift:taxi:w7") is not None
    assert a.emit("drift_alarm", "logs/taxi", key="drift:taxi:w7") is None  # same key, within the window
    assert Alerts([r.url], outbox=box, dedup_window=0.5).emit("drift_alarm", "logs/taxi", key="drift:taxi:w7") is None
    assert a.emit("drift_alarm", "logs/taxi", key="drift:taxi:w8") is not None  # another key
    time.sleep(0.6)
    assert a.emit("drift_alarm", "logs/taxi", key="drift:taxi:w7") is not None  # the window passed
    assert a.flush(5) == 0 and len(r.accepted) == 3


def test_kinds_and_min_severity_filter_sinks(tmp_path, receiver):
    r = receiver()
    log = tmp_path / "a.jsonl"
    a = Alerts([{"url": r.url, "kinds": ["run_failed"]}], log=str(log), outbox=str(tmp_path / "o.sqlite"),
               min_severity="warning", background=False)
    assert a.emit("run_finished", "pipeline/p") is None  # info < warning
    a.emit("drift_alarm", "logs/p")
    a.emit("run_failed", "pipeline/p")
    assert [b["kind"] for b in r.accepted] == ["run_failed"]
    assert [json.loads(x)["kind"] for x in log.read_text().splitlines()] == ["drift_alarm", "run_failed"]
    with pytest.raises(ConfigError, match="unknown event kind"):
        Alerts([{"url": r.url, "kinds": ["nope"]}], outbox=str(tmp_path / "o.sqlite"))
    with pytest.raises(ConfigError, match="unknown event kind"):
        Event("model_promoted", "model/p/1")


def test_config_from_one_file_and_the_environment(tmp_path, receiver, monkeypatch):
    r = receiver()
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(f"webhooks:\n  - url: {r.url}\n    headers: {{Authorization: 'Bearer ${{HOOK_TOKEN}}'}}\n"
                   f"log: {tmp_path / 'a.jsonl'}\noutbox: {tmp_path / 'o.sqlite'}\ndedup_window: 10m\n")
    monkeypatch.setenv("MLPROD_ALERTS_CONFIG", str(cfg))
    alerts._state["alerts"] = alerts._UNSET  # as in a fresh process
    a = alerts.current()
    assert a is not None and a.dedup_s == 600
    alerts.emit("model_approved", "model/penguin/3", details={"by": "ana"})
    assert a.flush(10) == 0
    assert r.requests[0]["headers"]["Authorization"] == "Bearer s3cret"
    bad = tmp_path / "bad.yaml"
    bad.write_text("webhook: http://x\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['webhook'\]"):
        Alerts.from_file(str(bad))
    with pytest.raises(ConfigError, match="needs a sink"):
        Alerts()
    with pytest.raises(ConfigError, match="not an http"):
        Alerts(["ftp://x"])
    monkeypatch.delenv("MLPROD_ALERTS_CONFIG")
    monkeypatch.setenv("MLPROD_ALERTS_WEBHOOK", r.url)
    monkeypatch.setenv("MLPROD_ALERTS_OUTBOX", str(tmp_path / "env.sqlite"))
    env = Alerts.from_env()
    assert env is not None and [s.name for s in env.sinks] == [f"webhook:{r.url}"]


def test_off_by_default_nothing_written_no_thread(tmp_path, monkeypatch):
    alerts._state["alerts"] = alerts._UNSET
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    before = {t.name for t in threading.enumerate()}
    assert alerts.emit("run_failed", "pipeline/p") is None and not alerts.enabled()
    assert list(tmp_path.iterdir()) == [] and "mlprod-alerts" not in {t.name for t in threading.enumerate()} - before
    code = ("import sys, mlprod.alerts; print(sorted(m for m in ('tensorflow', 'tfx', 'pandas', 'apache_beam') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # a pure core: no TFX, no pandas


def test_emit_never_raises_for_the_emitters(tmp_path, caplog):
    alerts.configure(log=str(tmp_path / "a.jsonl"), outbox=str(tmp_path / "o.sqlite"))
    assert alerts.emit("run_finished", "p", details={"x": object()}) is not None  # not JSON: str() of it
    with caplog.at_level("WARNING", logger="mlprod.alerts"):
        assert alerts.emit("no_such_kind", "p") is None
    assert "unknown event kind" in caplog.text


# ---- the emitters ---------------------------------------------------------------------------------------
def _events(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_run_summary_events_push_once(tmp_path):
    from mlprod.pipelines.runner import RunSummary

    s = RunSummary("penguin", "/r", "/r/m.sqlite", run_id="run-1", blessed=True, accuracy=0.97,
                   pushed_model="/srv/models/penguin/1712", executions={"Trainer": "COMPLETE", "Pusher": "COMPLETE"})
    kinds = [(e.kind, e.subject, e.severity) for e in s.events()]
    assert kinds == [("run_finished", "pipeline/penguin", "info"), ("model_pushed", "model/penguin/1712", "info")]
    cached = RunSummary("penguin", "/r", "/r/m.sqlite", run_id="run-2", blessed=True, accuracy=0.97,
                        pushed_model="/srv/models/penguin/1712", executions={"Trainer": "CACHED", "Pusher": "CACHED"})
    assert [e.kind for e in cached.events()] == ["run_finished"]  # a cached Pusher pushed nothing new
    unblessed = RunSummary("penguin", "/r", "/r/m.sqlite", run_id="run-3", blessed=False,
                           data_checks={"SkewValidator": "FAILED on [culmen_length_mm]; report r.html"})
    [e] = unblessed.events()
    assert e.severity == "warning" and e.details["data_checks"]["SkewValidator"].startswith("FAILED")


def test_run_failed_is_emitted_once_per_component_and_error(tmp_path):
    from mlprod.pipelines.runner import _report_failure

    log = tmp_path / "a.jsonl"
    alerts.configure(log=str(log), outbox=str(tmp_path / "o.sqlite"))
    for _ in range(3):  # a cron job failing the same way each hour
        _report_failure("penguin", "/r", "Trainer", ValueError("bad"), 3.0)
    _report_failure("penguin", "/r", "Transform", ValueError("bad"), 3.0)
    got = [(e["kind"], e["details"]["component"]) for e in _events(log)]
    assert got == [("run_failed", "Trainer"), ("run_failed", "Transform")]


def test_monitor_sends_the_newest_windows_alarms_once(tmp_path):
    """A real drift: penguins whose culmen length grows by 30% after the first 300 requests."""
    import numpy as np

    from mlprod import datasets

    df = datasets.penguins().sample(frac=1.0, random_state=0).reset_index(drop=True)
    logs = df.iloc[:600].copy() if len(df) >= 600 else df.sample(600, replace=True, random_state=1).reset_index(drop=True)
    logs["_timestamp_ms"] = np.arange(len(logs)) * 1000
    logs.loc[300:, "culmen_length_mm"] *= 1.3
    log = tmp_path / "a.jsonl"
    alerts.configure(log=str(log), outbox=str(tmp_path / "o.sqlite"))
    train = df.iloc[:300]
    r = mlprod.monitor(logs, train, label="species", window=150, alert_subject="logs/penguin")
    sent = _events(log)
    assert len(r.alerts) and sent, r
    newest = sorted(r.table["window"].unique())[-2:]
    assert {e["details"]["window"] for e in sent} <= set(newest)
    assert {e["kind"] for e in sent} <= {"drift_alarm", "skew_alarm", "decay_alarm"}
    skew = [e for e in sent if e["kind"] == "skew_alarm"]
    assert skew and all("culmen_length_mm" in e["details"]["features"] for e in skew)
    assert all(e["subject"] == "logs/penguin" for e in sent)
    mlprod.monitor(logs, train, label="species", window=150, alert_subject="logs/penguin")
    assert len(_events(log)) == len(sent)  # the same alarms again: de-duplicated


def test_retrain_fired_event_names_the_reasons_and_span():
    import pandas as pd

    from mlprod.monitoring import MonitorResult, RetrainOutcome
    from mlprod.monitoring.retrain import RetrainDecision

    out = RetrainOutcome(RetrainDecision(True, ["drift:jsd on fare in window 003: 0.3 > 0.1"], since="003"),
                         MonitorResult(pd.DataFrame()), span=4, span_rows=250)

    class Config:
        pipeline_name, model_dir = "taxi", "/srv/models/taxi"

    e = out.event(Config())
    assert (e.kind, e.subject, e.details["span"], e.details["model_dir"]) == \
        ("retrain_fired", "pipeline/taxi", 4, "/srv/models/taxi")
    assert e.key == "retrain_fired:taxi:003:4"
    assert RetrainOutcome(RetrainDecision(False), MonitorResult(pd.DataFrame())).event() is None


def test_cli_rollback_emits_and_alerts_rules_and_send(tmp_path, receiver, capsys):
    from mlprod import cli

    base = tmp_path / "models"
    for v in (1, 2):
        (base / str(v)).mkdir(parents=True)
    r = receiver()
    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(json.dumps({"webhooks": [r.url], "outbox": str(tmp_path / "o.sqlite")}))  # JSON is YAML too
    assert cli.main(["--alerts", str(cfg), "rollback", str(base), "1"]) == 0
    assert alerts.current().flush(10) == 0
    [b] = r.accepted
    assert (b["kind"], b["subject"], b["details"]["from_version"]) == ("model_rolled_back", "model/models/1", 2)
    assert cli.main(["--alerts", str(cfg), "alerts", "send", "model_approved", "model/models/1",
                     "--detail", "by=ana"]) == 0
    assert r.accepted[-1]["details"] == {"by": "ana"}
    out = tmp_path / "rules" / "mlprod.yml"
    assert cli.main(["alerts", "rules", "--out", str(out)]) == 0
    assert out.read_text() == alerts.rules()
    alerts.configure(None)
    assert cli.main(["alerts", "flush"]) == 1  # not configured: a clear error
    assert "alerts are not configured" in capsys.readouterr().err


# ---- Prometheus rules -------------------------------------------------------------------------------------
def test_prometheus_rules_are_valid_and_name_the_servers_metrics():
    import re
    import shutil

    import yaml
    from prometheus_client import generate_latest

    from mlprod.serving.server import _metrics

    doc = yaml.safe_load(alerts.rules())
    m = _metrics("penguin")  # the server's own registry, one sample of each metric, as /metrics exports it
    m["requests"].labels("penguin", "predict", "200").inc()
    m["latency"].labels("penguin", "predict").observe(0.01)
    for gauge in ("version", "logged", "dropped"):
        m[gauge].labels("penguin").set(1)
    exported = {line.split("{")[0].split(" ")[0] for line in generate_latest(m["registry"]).decode().splitlines()
                if line and not line.startswith("#")}
    used = set()
    names = []
    for group in doc["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
            assert rule["labels"]["severity"] in ("info", "warning", "critical")
            assert rule["labels"]["mlprod_kind"] in alerts.KINDS
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            expr = rule["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            if "for" in rule:
                assert re.fullmatch(r"\d+[smhd]", rule["for"])
            used |= set(re.findall(r"\b(mlprod_[a-z_]+)", expr))
            names.append(rule["alert"])
    assert len(names) == len(set(names))
    assert used and used <= exported, used - exported  # every metric a rule reads is one the server exports
    assert "mlprod_serving_requests_total" in used
    if shutil.which("promtool"):  # pragma: no cover - not in the test environment
        subprocess.run(["promtool", "check", "rules", str(alerts.RULES_FILE)], check=True)


def test_server_errors_from_the_servers_own_counters():
    """The server's registry, counted as its REST and gRPC handlers count: one event per incident."""
    from mlprod.alerts.rate import ErrorRate, request_counts
    from mlprod.serving.server import _metrics

    m = _metrics("penguin")
    req = m["requests"]
    w = ErrorRate(max_rate=0.05, min_requests=20)
    assert w.observe(request_counts(m["registry"]), now=0.0) == []
    req.labels("penguin", "predict", "200").inc(95)
    req.labels("penguin", "predict", "400").inc(5)  # client errors are not server errors
    assert w.observe(request_counts(m["registry"]), now=60.0) == []
    req.labels("penguin", "predict", "200").inc(80)
    req.labels("penguin", "predict", "500").inc(12)
    req.labels("penguin", "classify", "INTERNAL").inc(8)  # gRPC
    [e] = w.observe(request_counts(m["registry"]), now=120.0)
    assert (e.kind, e.subject, e.severity) == ("server_errors", "model/penguin", "error")
    assert e.details["codes"] == {"500": 12, "INTERNAL": 8} and e.details["error_rate"] == 0.2
    req.labels("penguin", "predict", "500").inc(30)
    assert w.observe(request_counts(m["registry"]), now=180.0) == []  # still the same incident
    req.labels("penguin", "predict", "200").inc(100)
    assert w.observe(request_counts(m["registry"]), now=240.0) == []  # recovered
    req.labels("penguin", "predict", "503").inc(25)
    [again] = w.observe(request_counts(m["registry"]), now=300.0)  # a new incident
    assert again.key != e.key
    req.labels("penguin", "predict", "500").inc(5)
    assert ErrorRate(min_requests=20).observe(request_counts(m["registry"]), 0.0) == []  # first reading: a base
