"""Every public result follows one protocol (issue 27; mlprod.reporting.HtmlResult): ``.table`` is a
DataFrame, ``to_html()`` a full page, ``_repr_html_()`` a fragment, ``.save(dir)`` writes the files it
returns (``table.csv`` and ``report.html`` at least), and ``.plot()`` draws where there is something
to plot.

Each result is built for real, small and fast, by a builder in :data:`RESULTS`; another result
class joins by adding ``(name, builder, plots)`` there.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlprod import datasets

FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]


def schema_result(tmp_path: Path) -> Any:
    import mlprod

    return mlprod.infer_schema(datasets.penguins(), label="species")


def statistics_result(tmp_path: Path) -> Any:
    import mlprod

    return mlprod.compute_statistics(datasets.penguins())


def validation_result(tmp_path: Path) -> Any:
    import mlprod

    return mlprod.detect_skew(datasets.penguins(), datasets.penguins("skewed"), label="species")


def transform_result(tmp_path: Path) -> Any:
    import mlprod
    from mlprod.preprocessing import Categorical, FeatureSpec, Numeric

    spec = FeatureSpec(label="tips", features=(Numeric("fare"), Categorical("payment_type")))
    return mlprod.analyze_and_transform(datasets.chicago_taxi().head(200), spec, output_dir=tmp_path / "tft",
                                        progress=False)


def eval_result(tmp_path: Path) -> Any:
    import tf_keras as keras

    import mlprod
    from mlprod.evaluation import EvalSpec

    df = datasets.penguins()
    x = df[FEATURES].to_numpy("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Normalization(input_shape=(4,)), keras.layers.Dense(3, activation="softmax")])
    model.layers[0].adapt(x)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, df["species"].to_numpy(), epochs=3, verbose=0)
    df = df.assign(big=np.where(df["body_mass_g"] > df["body_mass_g"].median(), "yes", "no"))
    return mlprod.evaluate(model, df, EvalSpec(label="species", slices=["big"]), feature_columns=FEATURES,
                           output_dir=tmp_path / "tfma")


def monitor_result(tmp_path: Path) -> Any:
    import mlprod

    df = datasets.penguins()
    later = df.assign(culmen_length_mm=df["culmen_length_mm"] * 1.4)  # a unit change on day 2
    t0 = 1_700_000_000_000
    log = pd.concat([df.assign(_timestamp_ms=t0), later.assign(_timestamp_ms=t0 + 86_400_000)], ignore_index=True)
    return mlprod.monitor(log, df, label="species", window="1D", features=FEATURES)


def replay_result(tmp_path: Path) -> Any:
    """Real requests to a real server: the first rows answered, then a model the server does not have."""
    import mlprod
    from mlprod.serving import replay

    from .serving.conftest import export_penguin_model

    export_penguin_model(tmp_path / "models" / "1", epochs=2)
    rows = datasets.penguins().dropna().head(6)[[*FEATURES, "species"]]
    srv = mlprod.serve(str(tmp_path / "models"), model_name="penguin", rest_port=0, grpc_port=None)
    try:
        ok = replay(srv.rest_url, rows, model="penguin", label="species", batch_size=4, id_prefix="ok")
        bad = replay(srv.rest_url, rows.head(2), model="nope", batch_size=4, id_prefix="bad")
    finally:
        srv.stop()
    assert ok.sent == 6 and not ok.failed and bad.failed
    ok.failed, ok.sent = bad.failed, ok.sent + bad.sent  # one result holding both kinds of rows
    for name in ("predictions", "request_ids", "batch_ids"):
        getattr(ok, name).extend(getattr(bad, name))
    return ok


#: (name, builder, has a plot): one entry per result class
RESULTS = [
    ("SchemaResult", schema_result, False),
    ("StatisticsResult", statistics_result, False),
    ("ValidationResult", validation_result, True),
    ("TransformResult", transform_result, False),
    ("EvalResult", eval_result, True),
    ("MonitorResult", monitor_result, True),
    ("ReplayResult", replay_result, False),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cache: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            builder = next(b for n, b, _ in RESULTS if n == name)
            cache[name] = builder(tmp_path_factory.mktemp(name))
        return cache[name]

    return get


@pytest.mark.parametrize("name, builder, plots", RESULTS, ids=[r[0] for r in RESULTS])
def test_result_protocol(name, builder, plots, built, tmp_path):
    from mlprod.reporting import HtmlResult

    r = built(name)
    assert type(r).__name__ == name and isinstance(r, HtmlResult)
    assert isinstance(r.table, pd.DataFrame) and len(r.table) > 0
    page, fragment = r.to_html(), r._repr_html_()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert fragment.startswith('<div class="mlprod-report">') and "<html" not in fragment
    written = r.save(tmp_path / "out")
    assert {"table", "report"} <= set(written)
    for path in written.values():
        assert Path(path).is_file() and Path(path).stat().st_size > 0 and Path(path).parent == tmp_path / "out"
    saved = pd.read_csv(written["table"])
    assert list(saved.columns) == list(r.table.columns) and len(saved) == len(r.table)
    assert Path(written["report"]).read_text() == page
    if plots:
        import matplotlib

        matplotlib.use("Agg")
        ax = r.plot()
        assert ax.figure is not None and (ax.patches or ax.lines or ax.texts)


def test_schema_and_statistics_results_stand_in_for_their_protos(built, tmp_path):
    """Old code keeps working: proto attributes, equality, TFDV via .proto, every mlprod function takes either."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

    import mlprod
    from mlprod.validation import curate_schema, load_schema, save_schema, unwrap

    schema, stats = built("SchemaResult"), built("StatisticsResult")
    assert isinstance(schema.proto, schema_pb2.Schema) and isinstance(stats.proto, statistics_pb2.DatasetFeatureStatisticsList)
    assert unwrap(schema) is schema.proto and unwrap(schema.proto) is schema.proto
    assert [f.name for f in schema.feature] == schema.table["feature"].tolist()
    assert stats.datasets[0].num_examples == stats.num_examples == 334
    assert schema_pb2.Schema.FromString(schema.SerializeToString()) == schema == schema.proto
    assert schema.table.set_index("feature").loc["species", "not_in"] == "SERVING"
    assert stats.table.set_index("feature").loc["body_mass_g", "mean"] == pytest.approx(
        datasets.penguins()["body_mass_g"].mean(), rel=1e-6)
    files = schema.save(tmp_path / "s")
    assert load_schema(files["schema"]) == schema and load_schema(save_schema(schema, tmp_path / "x.pbtxt")) == schema
    files = stats.save(tmp_path / "st")
    assert tfdv.load_stats_binary(str(files["statistics"])) == stats
    assert mlprod.compute_statistics(str(files["statistics"])) == stats and mlprod.compute_statistics(stats) == stats
    anomalies = tfdv.validate_statistics(stats.proto, schema.proto)  # TFDV's own functions take .proto
    assert not anomalies.anomaly_info
    assert curate_schema(tfdv.infer_schema(stats.proto), stats).feature[0].name == "species"
    skewed = datasets.penguins("skewed")
    assert mlprod.validate(skewed, schema).flagged == mlprod.validate(skewed, schema.proto).flagged == ["culmen_length_mm"]
    r = mlprod.detect_skew(stats, skewed, schema)
    assert r.flagged == ["culmen_length_mm"] and isinstance(r.reference_statistics, statistics_pb2.DatasetFeatureStatisticsList)
    import copy
    import pickle

    assert copy.deepcopy(schema) == schema and pickle.loads(pickle.dumps(stats)) == stats
    assert "feature {" in str(schema)  # print() shows the text proto, as before


def test_transform_table_is_the_summary(built):
    r = built("TransformResult")
    pd.testing.assert_frame_equal(r.table, r.summary())
    assert r.table["feature"].tolist() == ["fare", "payment_type"]


def test_eval_result_output_dir_and_its_old_name(built, tmp_path):
    r = built("EvalResult")
    assert r.output_dir and Path(r.output_dir).is_dir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert r.output_path == r.output_dir
    assert any("output_path" in str(w.message) and "output_dir" in str(w.message) for w in caught
               if issubclass(w.category, DeprecationWarning))
    ax = r.plot()
    assert len(ax.patches) == len(r.table[r.table["metric"] == r.primary_metric])
    assert "worst_slices" in r.save(tmp_path / "e")


def test_validation_plot_marks_what_is_flagged(built):
    r = built("ValidationResult")
    d = r.distances()
    assert set(d["feature"]) >= {"culmen_length_mm", "body_mass_g"}
    red = [p.get_facecolor()[0] > 0.8 for p in r.plot().patches]  # flagged bars are red
    assert red == [s == "error" for s in d["severity"]]


def test_replay_table_has_a_row_per_row_sent(built):
    r = built("ReplayResult")
    t = r.table
    assert len(t) == r.sent == 8
    ok, bad = t[t["error"].isna()], t[t["error"].notna()]
    assert len(ok) == 6 and len(bad) == 2 and ok["prediction"].map(len).eq(3).all()
    assert ok["request_id"].tolist()[:2] == ["ok-0-0", "ok-0-1"] and ok["request_id"].iloc[-1] == "ok-4-1"
    assert ok["label"].tolist() == datasets.penguins().dropna().head(6)["species"].tolist()
    assert bad["prediction"].isna().all() and bad["error"].str.contains("404").all()


def test_monitor_plot_defaults_to_the_first_alert(built):
    r = built("MonitorResult")
    ax = r.plot()
    first = r.alerts.sort_values("window", kind="stable").iloc[0]
    assert ax.get_title() == f"{first['metric']} {first['feature']}".strip()
