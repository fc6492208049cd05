"""The RetrainTrigger component over a real request log: penguins, then penguins with a shifted feature."""
import numpy as np
import pandas as pd
from tfx.types import artifact_utils  # noqa: F401  (TFX loaded before the component module)

from mlprod import datasets
from mlprod.components.artifacts import HtmlReport, RetrainSignal
from mlprod.serving.requestlog import RequestLog, build_records

FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]


def _write_log(log_dir: str) -> None:
    df = datasets.penguins()
    later = df.copy()
    later["culmen_length_mm"] = later["culmen_length_mm"] * 1.4  # a unit change in one feature
    log = RequestLog(log_dir, flush_interval_s=0.05)
    t0 = 1_700_000_000_000
    for day, part in enumerate((df, later)):
        inputs = {f: part[f].to_numpy(np.float32) for f in FEATURES}
        outputs = {"outputs": np.tile([0.8, 0.1, 0.1], (len(part), 1)).astype(np.float32)}
        ids = [f"{day}-{i}" for i in range(len(part))]
        log.append(build_records(inputs, outputs, takes_examples=False, version=1, request_ids=ids,
                                 now_ms=t0 + day * 86_400_000))
    log.close()


def _run(tmp_path, name, **params):
    from mlprod.components.monitoring import RetrainTrigger

    signal, report = RetrainSignal(), HtmlReport()
    signal.uri, report.uri = str(tmp_path / f"{name}-signal"), str(tmp_path / f"{name}-report")
    for a in (signal, report):
        import os

        os.makedirs(a.uri, exist_ok=True)
    RetrainTrigger.test_call(signal=signal, report=report, **params)
    return signal, report


def test_trigger_fires_on_drift_of_a_named_feature_only(tmp_path):
    logs = str(tmp_path / "logs")
    _write_log(logs)
    common = dict(log_dir=logs, window="1D", features=",".join(FEATURES), on_decay=0)
    signal, report = _run(tmp_path, "named", drift_features="culmen_length_mm", **common)
    assert signal.get_int_custom_property("fire") == 1
    assert "culmen_length_mm" in signal.get_string_custom_property("reasons")
    table = pd.read_csv(f"{signal.uri}/monitoring.csv")
    assert set(table["window"].astype(str).str.zfill(3)) == {"000", "001"}
    assert "<img" in open(f"{report.uri}/report.html").read()
    quiet, _ = _run(tmp_path, "other", drift_features="body_mass_g", **common)
    assert quiet.get_int_custom_property("fire") == 0 and quiet.get_string_custom_property("reasons") == ""


def test_monitor_and_retrain_if_commands(tmp_path, capsys):
    from mlprod import cli

    logs = str(tmp_path / "logs")
    _write_log(logs)
    common = ["--window", "1D", "--features", ",".join(FEATURES)]
    html = tmp_path / "monitor.html"
    assert cli.main(["monitor", logs, *common, "--html", str(html)]) == 0
    assert "alerts" in capsys.readouterr().out and "<img" in html.read_text()
    assert cli.main(["monitor", logs, *common, "--fail-on-alert"]) == 3  # the shifted day alerts
    args = ["retrain-if", logs, *common, "--data-root", str(tmp_path / "data"), "--label", "label",
            "--output", str(tmp_path / "out"), "--no-decay", "--dry-run"]
    assert cli.main([*args, "--drift-features", "culmen_length_mm"]) == 0
    out = capsys.readouterr().out
    assert "retrain: yes (dry run)" in out and "culmen_length_mm" in out
    assert cli.main([*args, "--drift-features", "body_mass_g"]) == 0
    assert "retrain: no" in capsys.readouterr().out
    assert not (tmp_path / "data").exists()  # a dry run writes nothing
