"""The RetrainTrigger component over a real request log: penguins, then penguins with a shifted feature."""
import numpy as np
import pandas as pd
import pytest
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
    assert cli.main(["monitor", logs, *common, "--report", str(html)]) == 0
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


@pytest.mark.slow
def test_scheduled_pipeline_trains_only_when_the_trigger_fires(tmp_path):
    """PipelineConfig(retrain_when=...): RetrainTrigger, then ExampleGen..Pusher under tfx.dsl.Cond."""
    from mlprod.pipelines.runner import run_pipeline
    from mlprod.pipelines.tabular import PipelineConfig, create_pipeline
    from mlprod.serving import log_feedback

    df = datasets.penguins()
    (tmp_path / "data" / "span-1").mkdir(parents=True)
    df.to_csv(tmp_path / "data" / "span-1" / "data.csv", index=False)
    logs = str(tmp_path / "logs")
    _write_log(logs)
    log_feedback(logs, {f"1-{i}": int(y) for i, y in enumerate(df["species"])}, label="species")  # day 1's truth
    base = dict(data_root=tmp_path / "data", label="species", span_pattern="span-{SPAN}/*.csv",
                pipeline_root=tmp_path / "root", pipeline_name="scheduled", train_steps=50, min_accuracy=0.5,
                hidden_units=(8,), beam_args=("--direct_running_mode=in_memory", "--direct_num_workers=1"))
    when = {"log_dir": logs, "window": "1D", "features": FEATURES, "on_decay": 0, "min_labelled_rows": 100}

    quiet = run_pipeline(create_pipeline(PipelineConfig(**base, retrain_when={**when, "drift_features": "body_mass_g"})))
    assert quiet.executions.get("RetrainTrigger") == "COMPLETE", quiet.executions
    assert quiet.executions.get("Trainer") != "COMPLETE" and quiet.pushed_model is None and not quiet.blessed
    assert not (tmp_path / "data" / "span-2").exists()

    cfg = PipelineConfig(**base, retrain_when={**when, "drift_features": ("culmen_length_mm",)})
    fired = run_pipeline(create_pipeline(cfg))
    assert fired.executions["Trainer"] == "COMPLETE" and fired.blessed and fired.pushed_model, fired
    span = pd.read_csv(tmp_path / "data" / "span-2" / "data.csv")  # the shifted day, with its labels
    assert len(span) == len(df) and span["culmen_length_mm"].mean() == pytest.approx(
        1.4 * df["culmen_length_mm"].mean(), rel=1e-3)
    assert list(span.columns) == list(df.columns)


def test_retrain_when_bad_configs(tmp_path):
    from mlprod.errors import ConfigError
    from mlprod.pipelines.tabular import PipelineConfig, create_pipeline

    (tmp_path / "data" / "span-1").mkdir(parents=True)
    datasets.penguins().to_csv(tmp_path / "data" / "span-1" / "data.csv", index=False)
    base = dict(data_root=tmp_path / "data", label="species", pipeline_root=tmp_path / "root")
    with pytest.raises(ConfigError, match="log_dir"):
        create_pipeline(PipelineConfig(**base, span_pattern="span-{SPAN}/*.csv", retrain_when={"window": "1D"}))
    with pytest.raises(ConfigError, match="unknown key"):
        create_pipeline(PipelineConfig(**base, span_pattern="span-{SPAN}/*.csv",
                                       retrain_when={"log_dir": "x", "label": "y"}))
    with pytest.raises(ConfigError, match="span_pattern"):
        create_pipeline(PipelineConfig(**base, retrain_when={"log_dir": "x"}))
    with pytest.raises(ConfigError, match="max_age"):
        create_pipeline(PipelineConfig(**base, span_pattern="span-{SPAN}/*.csv",
                                       retrain_when={"log_dir": "x", "max_age": "soon"}))


def test_trigger_takes_lists_and_every_policy_field(tmp_path):
    """Names as lists, a row-count window as an int; on_skew, on_estimated_decay and span_windows
    (RetrainPolicy fields PipelineConfig could not set) reach the component and its policy."""
    from mlprod.components.monitoring import RetrainTrigger
    from mlprod.errors import ConfigError
    from mlprod.pipelines.tabular import PipelineConfig, create_pipeline

    t = RetrainTrigger(log_dir="/logs", features=FEATURES, drift_features=("fare", "tips"), window=500,
                       on_skew=True, on_estimated_decay=False, span_windows=5)
    props = t.exec_properties
    assert props["features"] == ",".join(FEATURES) and props["drift_features"] == "fare,tips"
    assert props["window"] == "500" and props["on_skew"] == 1 and props["on_estimated_decay"] == 0
    assert props["span_windows"] == 5
    with pytest.raises(ConfigError, match="must be a list of feature names"):
        RetrainTrigger(log_dir="/logs", features=["a,b"])
    with pytest.raises(ConfigError, match=r"RetrainPolicy: span_windows=0 must be an integer >= 1\."):
        RetrainTrigger(log_dir="/logs", span_windows=0)

    (tmp_path / "data" / "span-1").mkdir(parents=True)
    datasets.penguins().to_csv(tmp_path / "data" / "span-1" / "data.csv", index=False)
    base = dict(data_root=tmp_path / "data", label="species", pipeline_root=tmp_path / "root",
                span_pattern="span-{SPAN}/*.csv")
    when = {"log_dir": "/logs", "on_skew": True, "on_estimated_decay": False, "span_windows": 4}
    trigger = create_pipeline(PipelineConfig(**base, retrain_when=when)).components[0]
    assert trigger.id == "RetrainTrigger"
    assert {k: trigger.exec_properties[k] for k in ("on_skew", "on_estimated_decay", "span_windows")} == \
        {"on_skew": 1, "on_estimated_decay": 0, "span_windows": 4}
    assert trigger.exec_properties["model_dir"] == str(tmp_path / "root" / "serving_model")
    with pytest.raises(ConfigError, match=r"RetrainPolicy: on_skew='yes' must be a bool\."):
        create_pipeline(PipelineConfig(**base, retrain_when={"log_dir": "/logs", "on_skew": "yes"}))


def test_trigger_on_skew_holds_requests_to_the_training_span(tmp_path):
    """on_skew=1: the newest training span is the reference, so the shifted day's skew fires too
    (without it no skew is measured: the trigger has no other training data)."""
    logs = str(tmp_path / "logs")
    _write_log(logs)
    (tmp_path / "data" / "span-1").mkdir(parents=True)
    datasets.penguins().to_csv(tmp_path / "data" / "span-1" / "data.csv", index=False)
    common = dict(log_dir=logs, window="1D", features=",".join(FEATURES), on_decay=0, drift_features="culmen_length_mm",
                  data_root=str(tmp_path / "data"), span_pattern="span-{SPAN}/*.csv", label="species")
    skew, _ = _run(tmp_path, "skew", on_skew=1, **common)
    assert skew.get_int_custom_property("fire") == 1
    assert "skew:jsd on culmen_length_mm in window 001" in skew.get_string_custom_property("reasons")
    assert skew.get_int_custom_property("retrain") == 0  # no feedback labels yet: no span written
    drift_only, _ = _run(tmp_path, "noskew", on_skew=0, **common)
    reasons = drift_only.get_string_custom_property("reasons")
    assert drift_only.get_int_custom_property("fire") == 1 and "drift:jsd" in reasons and "skew" not in reasons
