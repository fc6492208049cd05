"""The TFX components, run for real: StatisticsGen output in, curated schema / gate out."""
import os

import pytest
from tfx.types import artifact_utils, standard_artifacts

from mlprod import datasets
from mlprod.components.artifacts import HtmlReport
from mlprod.errors import PipelineError
from mlprod.validation import compute_statistics, infer_schema, load_schema, save_schema


def _stats_artifact(tmp_path, name, data):

    art = standard_artifacts.ExampleStatistics()
    art.uri = str(tmp_path / name)
    os.makedirs(os.path.join(art.uri, "Split-train"))
    stats = compute_statistics(data)
    with open(os.path.join(art.uri, "Split-train", "FeatureStats.pb"), "wb") as f:
        f.write(stats.SerializeToString())
    art.split_names = artifact_utils.encode_split_names(["train"])
    return art


def _out(cls, tmp_path, name):
    art = cls()
    art.uri = str(tmp_path / name)
    os.makedirs(art.uri)
    return art


@pytest.fixture()
def schema_artifact(tmp_path):
    art = standard_artifacts.Schema()
    art.uri = str(tmp_path / "schema")
    import tensorflow_data_validation as tfdv

    raw = tfdv.infer_schema(compute_statistics(datasets.penguins()).proto)  # TFDV takes the proto
    save_schema(raw, os.path.join(art.uri, "schema.pbtxt"))
    return art


def test_schema_curator(tmp_path, schema_artifact):
    from mlprod.components.validation import SchemaCurator

    stats = _stats_artifact(tmp_path, "stats", datasets.penguins())
    out = _out(standard_artifacts.Schema, tmp_path, "curated")
    SchemaCurator.test_call(statistics=stats, schema=schema_artifact, curated_schema=out, label="species")
    curated = load_schema(out.uri)
    assert curated == infer_schema(datasets.penguins(), label="species")


def test_distribution_validator_warn_and_fail(tmp_path):
    from mlprod.components.validation import DistributionValidator

    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    save_schema(infer_schema(datasets.penguins(), label="species"), os.path.join(schema.uri, "schema.pbtxt"))
    base = _stats_artifact(tmp_path, "train", datasets.penguins())
    cur = _stats_artifact(tmp_path, "serving", datasets.penguins("skewed"))

    anomalies, report = _out(standard_artifacts.ExampleAnomalies, tmp_path, "a1"), _out(HtmlReport, tmp_path, "r1")
    DistributionValidator.test_call(reference_statistics=base, statistics=cur, schema=schema, anomalies=anomalies,
                                    report=report, kind="skew", mode="warn")
    assert anomalies.get_int_custom_property("passed") == 0
    assert anomalies.get_string_custom_property("flagged") == "culmen_length_mm"
    assert os.path.isfile(os.path.join(anomalies.uri, "Split-train", "SchemaDiff.pb"))
    assert "culmen_length_mm" in open(os.path.join(report.uri, "report.html")).read()

    anomalies, report = _out(standard_artifacts.ExampleAnomalies, tmp_path, "a2"), _out(HtmlReport, tmp_path, "r2")
    with pytest.raises(PipelineError, match="skew check failed on \\['culmen_length_mm'\\]"):
        DistributionValidator.test_call(reference_statistics=base, statistics=cur, schema=schema,
                                        anomalies=anomalies, report=report, kind="skew", mode="fail")

    ok = _stats_artifact(tmp_path, "same", datasets.penguins())
    anomalies, report = _out(standard_artifacts.ExampleAnomalies, tmp_path, "a3"), _out(HtmlReport, tmp_path, "r3")
    DistributionValidator.test_call(reference_statistics=base, statistics=ok, schema=schema, anomalies=anomalies,
                                    report=report, kind="drift", mode="fail")
    assert anomalies.get_int_custom_property("passed") == 1
