"""Issue 30: serving follows the model registry's approvals (real MLflow SQLite store, real server
on loopback): an unapproved push is not served, approve -> served, rollback -> the previous one
served, each within one poll and with no failed request; the candidate answers under its label."""
from __future__ import annotations

import json
import shutil
import threading
import time

import numpy as np
import pytest
import requests

import mlprod
from mlprod import cli, tracking
from mlprod.serving.versions import PIN_FILE

from .test_server import direct, penguin_rows

pytest.importorskip("mlflow")


def _cli(argv: list[str]) -> str:
    """``mlprod ARGV``'s stdout (capsys would hand the server's uvicorn loggers a stream it closes)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(argv) == 0
    return out.getvalue()


def _wait(cond, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "the server did not follow the registry within the timeout"
        time.sleep(0.05)


def test_serving_follows_approval_and_rollback_with_no_failed_request(model_store, tmp_path):
    base = tmp_path / "serving" / "penguin"
    base.mkdir(parents=True)
    uri = tracking.default_tracking_uri(tmp_path / "root")
    rows = penguin_rows(3)
    good, flipped = direct(model_store["good"], rows), direct(model_store["flipped"], rows)
    assert not np.allclose(good, flipped, atol=1e-3)
    shutil.copytree(model_store["good"], base / "1")
    shutil.copytree(model_store["flipped"], base / "2")
    r1 = tracking.register_version("penguin", base / "1", tracking_uri=uri, tags={"mlprod.spans": "1"})
    r2 = tracking.register_version("penguin", base / "2", tracking_uri=uri)
    assert (r1["version"], r2["version"]) == (1, 2) and r1["created"] and r2["created"]
    assert tracking.register_version("penguin", base / "2", tracking_uri=uri)["created"] is False  # no duplicate
    versions = tracking.model_versions("penguin", tracking_uri=uri).set_index("version")
    assert versions.loc[2, "aliases"] == "candidate" and versions.loc[1, "aliases"] == ""
    assert versions.loc[1, "tags"]["mlprod.model_dir"] == str(base) and versions.loc[1, "serving_version"] == 1
    assert versions.loc[1, "tags"]["mlprod.spans"] == "1"

    # nothing approved: a require_approval server refuses to start (a plain one would serve version 2)
    with pytest.raises(mlprod.DataError, match="no version .* is approved"):
        mlprod.serve(str(base), model_name="penguin", rest_port=0, grpc_port=None, require_approval=True)
    with pytest.raises(mlprod.ConfigError, match="needs a note"):
        tracking.approve("penguin", 1, note=" ", tracking_uri=uri)

    a = tracking.approve("penguin", 1, note="first release", by="ana", tracking_uri=uri)
    assert (a["version"], a["serving_version"], a["by"], a["previous"]) == (1, 1, "ana", None)
    srv = mlprod.serve(str(base), model_name="penguin", rest_port=0, grpc_port=None, poll_s=0.2,
                       batching=True, require_approval=True)
    url = f"{srv.rest_url}/v1/models/penguin"
    seen, failures, stop = [], [], threading.Event()

    def client() -> None:
        s = requests.Session()
        while not stop.is_set():
            r = s.post(f"{url}:predict", json={"instances": rows})
            if r.status_code != 200:
                failures.append(r.text)
                continue
            p = np.array(r.json()["predictions"])
            seen.append(1 if np.allclose(p, good, atol=1e-4) else 2 if np.allclose(p, flipped, atol=1e-4) else 0)

    threads = [threading.Thread(target=client) for _ in range(3)]
    try:
        assert srv.versions.default == 1  # the approved one, not the newest
        cand = requests.post(f"{url}/labels/candidate:predict", json={"instances": rows})
        np.testing.assert_allclose(cand.json()["predictions"], flipped, rtol=1e-4)  # the candidate, by its label
        for t in threads:
            t.start()
        time.sleep(0.5)
        tracking.approve("penguin", 2, note="better on Gentoo", by="ben", tracking_uri=uri)
        _wait(lambda: srv.versions.default == 2)
        time.sleep(0.5)
        mid = len(seen)
        tracking.rollback("penguin", note="complaints", by="cy", tracking_uri=uri)
        _wait(lambda: srv.versions.default == 1)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
    finally:
        stop.set()
    assert failures == [] and 0 not in seen
    assert seen[0] == 1 and 2 in seen[:mid] and seen[-1] == 1
    v = tracking.model_versions("penguin", tracking_uri=uri).set_index("version")
    assert v.loc[1, "aliases"] == "champion" and v.loc[2, "approval"] == "rolled back"
    assert v.loc[2, "tags"]["mlprod.rolled_back_by"] == "cy" and v.loc[2, "tags"]["mlprod.rolled_back_note"] == "complaints"
    assert v.loc[2, "approved_by"] == "ben" and v.loc[2, "note"] == "better on Gentoo"
    with pytest.raises(mlprod.DataError, match="nothing to roll back to"):
        tracking.rollback("penguin", tracking_uri=uri)  # version 1 is the only approved one left

    # a new push is registered as the candidate and not served; approving it from the CLI serves it
    shutil.copytree(model_store["flipped"], base / "3")
    r3 = tracking.register_version("penguin", base / "3", tracking_uri=uri)
    srv.versions.poll()
    assert srv.versions.default == 1 and srv.label_version("candidate") == 3
    np.testing.assert_allclose(requests.post(f"{url}:predict", json={"instances": rows}).json()["predictions"], good,
                               rtol=1e-4)
    assert _cli(["registry", "approve", "penguin", str(r3["version"]), "--note", "reviewed", "--by", "dee",
                 "--tracking-uri", uri]).startswith("approved penguin version 3")
    _wait(lambda: srv.versions.default == 3)
    pin = json.loads((base / PIN_FILE).read_text())
    assert pin["approval"]["version"] == 3 and pin["approval"]["by"] == "dee" and pin["pinned_version"] is None
    # a manual pin leaves approval servers on the approved version (and says so)
    assert "--require-approval keep serving the approved version 3" in _cli(["rollback", str(base), "1"])
    srv.versions.poll()
    assert srv.versions.default == 3
    assert cli.main(["registry", "rollback", "penguin", "--note", "back", "--tracking-uri", uri]) == 0
    _wait(lambda: srv.versions.default == 1)
    srv.stop()


def test_registry_cli_needs_a_store_and_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert cli.main(["registry", "approve", "penguin", "1", "--note", "x"]) == 1
    assert "no MLflow store at mlprod-output/pipeline_root/mlflow.db" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["registry", "approve", "penguin", "1"])  # --note is required
    uri = tracking.default_tracking_uri(tmp_path)
    assert cli.main(["registry", "approve", "penguin", "1", "--note", "x", "--tracking-uri", uri]) == 1
    assert "no version 1" in capsys.readouterr().err


def test_a_pin_file_with_a_bad_approval_is_named(tmp_path):
    from mlprod.serving.versions import read_pin_state, write_pin

    (tmp_path / "1").mkdir()
    with pytest.raises(mlprod.ConfigError, match="approved version 7 is not under"):
        write_pin(str(tmp_path), approval={"version": 7})
    (tmp_path / PIN_FILE).write_text(json.dumps({"pinned_version": None, "approval": {"version": "one"}}))
    with pytest.raises(mlprod.ConfigError, match="approval or labels that are not the registry's"):
        read_pin_state(str(tmp_path))
    (tmp_path / PIN_FILE).unlink()
    write_pin(str(tmp_path), approval={"version": 1, "by": "ana"}, labels={"candidate": 1})
    write_pin(str(tmp_path), 1)  # a manual pin keeps the registry's part
    assert read_pin_state(str(tmp_path)) == {"pinned_version": 1, "approval": {"version": 1, "by": "ana"},
                                             "labels": {"candidate": 1}}
