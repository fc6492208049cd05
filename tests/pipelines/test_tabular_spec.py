"""The tabular pipeline's default feature spec: role inference, YAML round trip, text labels, runner choice."""
import json

import numpy as np
import pandas as pd
import pytest

from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.pipelines.tabular import (
    PipelineConfig,
    auto_beam_args,
    check_config,
    load_feature_spec,
    stage_text_labels,
)
from mlprod.preprocessing import Categorical, DateParts, FeatureSpec, Numeric, infer_feature_spec
from tests.pipelines.weather import write_weather


def _mixed(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.date_range("2021-01-01", periods=n, freq="D")
    return pd.DataFrame({
        "serial": np.arange(1000, 1000 + n),                      # consecutive ids
        "date": days.strftime("%Y-%m-%d"),                         # ISO dates
        "when": (days + pd.to_timedelta(rng.integers(0, 86400, n), unit="s")).strftime("%Y-%m-%dT%H:%M:%S"),
        "us_date": days.strftime("%m/%d/%Y"),                      # dates, not ISO: ambiguous
        "start_time": (days.astype("int64") // 10**9 + 3600 * rng.integers(0, 24, n)).to_numpy(),  # Unix seconds
        "temp": np.where(rng.random(n) < 0.05, np.nan, rng.normal(10, 5, n)),  # numbers with holes
        "count": rng.integers(0, 5, n),                            # small integers: a number
        "city": rng.choice(["Oslo", "Bergen", "Tromsø"], n),       # low-cardinality text
        "zip": rng.choice([f"z{i}" for i in range(80)], n, p=np.r_[[0.4], np.full(79, 0.6 / 79)]),  # many, skewed
        "note": rng.choice([f"w{i}" for i in range(300)], n),      # many values, none frequent
        "name": [f"customer {i}" for i in range(n)],               # near-unique text
        "flag": rng.random(n) < 0.5,                               # true/false
        "const": "x",
        "empty": np.nan,
        "label": rng.choice(["sun", "rain"], n),
    })


def test_role_inference_on_a_mixed_csv(tmp_path):
    path = tmp_path / "mixed.csv"
    _mixed().to_csv(path, index=False)
    inferred = infer_feature_spec(path, "label")
    roles = {r.column: r.role for r in inferred.roles}
    assert roles == {"serial": "dropped", "date": "date", "when": "date", "us_date": "dropped", "start_time": "date",
                     "temp": "numeric", "count": "numeric", "city": "categorical", "zip": "categorical",
                     "note": "dropped", "name": "dropped", "flag": "categorical", "const": "dropped",
                     "empty": "dropped", "label": "label"}
    by_name = {f.name: f for f in inferred.spec.features}
    assert by_name["date"] == DateParts("date", "date", parts=("month", "weekday"))
    assert by_name["when"].parts == ("month", "weekday", "hour")  # the times vary
    assert by_name["start_time"].timestamp == "start_time" and "hour" in by_name["start_time"].parts
    assert by_name["city"] == Categorical("city", encoding="onehot", top_k=3, impute="constant")
    assert by_name["zip"].encoding == "onehot" and by_name["zip"].top_k == 50  # top 50 cover >= half the rows
    assert by_name["temp"] == Numeric("temp", impute="mean")
    # no text column reaches the network as a vocabulary id (the bug: date ids 0..730 as numbers)
    assert not [f for f in inferred.spec.features if isinstance(f, Categorical) and f.encoding != "onehot"]
    reasons = {r.column: r.reason for r in inferred.roles}
    assert "ISO 8601" in reasons["us_date"] and "near-unique" in reasons["name"] and "row number" in reasons["serial"]
    text = inferred.explain()
    assert all(c in text for c in roles)
    # YAML: the reasons as comments, the spec read back equal, then edited
    yaml_text = inferred.to_yaml(tmp_path / "spec.yaml")
    assert yaml_text.startswith("# mlprod feature spec") and "near-unique" in yaml_text
    assert load_feature_spec(tmp_path / "spec.yaml") == inferred.spec
    edited = yaml_text.replace("top_k: 3", "top_k: 2")
    assert FeatureSpec.from_yaml(edited) != inferred.spec


def test_text_labels_become_ids_and_the_spec_is_inferred(tmp_path):
    csv = write_weather(tmp_path / "data", days=120)
    facts = check_config(PipelineConfig(tmp_path / "data", "weather", tmp_path / "root"))
    assert facts["label_classes"] == sorted(set(pd.read_csv(csv)["weather"]))
    assert facts["num_classes"] == len(facts["label_classes"])
    assert [type(f).__name__ for f in facts["feature_spec"].features] == ["DateParts"] + ["Numeric"] * 4
    staged = stage_text_labels(facts["csv_files"], "weather", facts["label_classes"], tmp_path / "root" / "s")
    out = pd.read_csv(staged / csv.name)
    raw = pd.read_csv(csv)
    assert out["weather"].tolist() == [facts["label_classes"].index(v) for v in raw["weather"]]
    assert out.drop(columns="weather").equals(raw.drop(columns="weather"))
    assert json.loads((tmp_path / "root" / "label_classes.json").read_text())["classes"] == facts["label_classes"]
    mtime = (staged / csv.name).stat().st_mtime_ns
    stage_text_labels(facts["csv_files"], "weather", facts["label_classes"], tmp_path / "root" / "s")
    assert (staged / csv.name).stat().st_mtime_ns == mtime  # unchanged copy: ExampleGen's cache holds
    # text labels with spans cannot keep their ids from span to span
    (tmp_path / "spans" / "span-1").mkdir(parents=True)
    csv.rename(tmp_path / "spans" / "span-1" / "d.csv")
    with pytest.raises(DataError, match="map class names to integers"):
        check_config(PipelineConfig(tmp_path / "spans", "weather", tmp_path / "r2", span_pattern="span-{SPAN}/*.csv"))


def test_spec_from_a_yaml_path_and_a_mismatched_label(tmp_path):
    root = datasets.path("penguin/labelled").parent
    spec = FeatureSpec(label="species", features=(Numeric("body_mass_g"),))
    spec.to_yaml(tmp_path / "s.yaml")
    facts = check_config(PipelineConfig(root, "species", tmp_path / "r", feature_spec=str(tmp_path / "s.yaml")))
    assert facts["feature_spec"] == spec and facts["inferred"] is None
    with pytest.raises(ConfigError, match="not a file"):
        check_config(PipelineConfig(root, "species", tmp_path / "r", feature_spec=str(tmp_path / "nope.yaml")))
    with pytest.raises(ConfigError, match="label"):
        check_config(PipelineConfig(root, "species", tmp_path / "r",
                                    feature_spec=FeatureSpec(label="other", features=(Numeric("body_mass_g"),))))


def test_runner_mode_follows_the_data_size():
    small, note = auto_beam_args(30_000, cores=4)
    assert "--direct_running_mode=in_memory" in small and "in memory" in note
    big, note = auto_beam_args(200 * 2**20, cores=4)
    assert "--direct_running_mode=multi_processing" in big and "multi-processing with 4 workers" in note
    assert "--direct_running_mode=in_memory" in auto_beam_args(200 * 2**20, cores=1)[0]


def test_iso_date_strings_are_parsed_in_the_graph():
    import mlprod

    when = pd.Series(["2024-02-29", "1999-12-31T23:59:59", "2021-07-04 06:30", "2000/01/01", "", "garbage"])
    df = pd.DataFrame({"when": when.replace("", np.nan).fillna(""), "y": range(6)})
    spec = FeatureSpec(label="y", features=(DateParts("d", "when", parts=("year", "month", "day", "weekday",
                                                                          "hour")),))
    out = mlprod.analyze_and_transform(df.iloc[[0, 1, 2, 3]], spec, progress=False).transformed
    expect = pd.to_datetime(when.iloc[:4], format="mixed")
    assert out["d_year"].tolist() == expect.dt.year.tolist()
    assert out["d_month"].tolist() == expect.dt.month.tolist()
    assert out["d_day"].tolist() == expect.dt.day.tolist()
    assert out["d_weekday"].tolist() == expect.dt.weekday.tolist()
    assert out["d_hour"].tolist() == expect.dt.hour.tolist()
    with pytest.raises(DataError, match="ISO 8601"):
        mlprod.analyze_and_transform(df, spec, progress=False)


def _overall_metrics(eval_uri: str) -> dict:
    import tensorflow_model_analysis as tfma

    for slice_key, metrics in tfma.load_eval_result(eval_uri).slicing_metrics:
        if slice_key == ():
            return metrics
    raise AssertionError(f"no overall slice in {eval_uri}")


@pytest.mark.slow
def test_own_weather_csv_from_the_command_line_beats_the_majority(tmp_path, capfd):
    """Issue 25: a dated CSV with a text label, from `mlprod run --data`, decisions said, noise in run.log."""
    from mlprod import cli

    csv = write_weather(tmp_path / "in")
    majority = pd.read_csv(csv)["weather"].value_counts(normalize=True).iloc[0]
    rc = cli.main(["run", "--data", str(csv), "--label", "weather", "--output", str(tmp_path / "a")])
    out, err = capfd.readouterr()
    assert rc in (0, 3), err
    assert "date" in err and "DateParts: month, weekday" in err and "in memory" in err  # the decisions, said
    assert "WARNING:absl" not in out + err and "semi_persistent" not in out + err  # component noise: in run.log
    # the noise went to run.log (it may be empty here: a pytest worker that imported TensorFlow before
    # has already printed TensorFlow's start-up lines, so whether anything lands there depends on test order)
    assert (tmp_path / "a" / "run.log").is_file()
    assert "trainer seed    0" in out
    acc = float(out.split("eval accuracy")[1].split()[0])
    assert acc > majority + 0.1, (acc, majority)
    assert (tmp_path / "a" / "pipeline_root" / "feature_spec.yaml").is_file()


@pytest.mark.slow
def test_two_runs_of_one_config_give_the_same_metrics(tmp_path):
    """Issue 25: the same config and data, twice in one process (fresh roots, nothing cached): equal metrics.

    The default Beam mode for this size (in memory) writes the examples in a fixed order; the
    seeded Trainer does the rest. (Multi-processing Beam writes them in a varying order: see
    docs/pipelines.md.)
    """
    from mlprod.pipelines.runner import run_pipeline
    from mlprod.pipelines.tabular import create_pipeline

    write_weather(tmp_path / "in")
    runs = [run_pipeline(create_pipeline(PipelineConfig(tmp_path / "in", "weather", tmp_path / name,
                                                        train_steps=150)))
            for name in ("a", "b")]
    assert [r.seed for r in runs] == [0, 0]
    assert runs[0].accuracy == runs[1].accuracy
    assert _overall_metrics(runs[0].artifacts["ModelEvaluation"]) == _overall_metrics(
        runs[1].artifacts["ModelEvaluation"])
