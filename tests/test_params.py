"""Declarative argument checks (issue 27): every constraint table refuses the invalid values it
generates itself, through the real function, with a ConfigError naming the parameter."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlprod
from mlprod.components.monitoring import RetrainTrigger
from mlprod.features.examples import EXAMPLES_PARAMS, write_examples
from mlprod.features.repo import ONLINE_PARAMS, TRAINING_PARAMS, FeatureRepo
from mlprod.monitoring.monitor import MONITOR_PARAMS
from mlprod.monitoring.retrain import RETRAIN_PARAMS, RetrainPolicy
from mlprod.optimization import OPTIMIZE_PARAMS
from mlprod.params import Interval, Kind, OneOf, check_params
from mlprod.pipelines.tabular import PIPELINE_PARAMS, PipelineConfig
from mlprod.serving.batching import BATCHING_PARAMS
from mlprod.serving.requestlog import LOG_PARAMS, RequestLog
from mlprod.serving.server import SERVE_PARAMS, Batching
from mlprod.tuning.search import SEARCH_PARAMS


def _feature_repo(tmp_path):
    repo = FeatureRepo(tmp_path / "features")
    repo.define("v", pd.DataFrame({"area": [1], "ts": pd.to_datetime(["2024-01-01"], utc=True), "x": [1.0]}),
                entity="area", timestamp="ts")
    return repo


def _calls(tmp_path):
    from mlprod.components.features import FeatureExampleGen

    df = pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1], "_timestamp_ms": [1, 2]})
    repo = _feature_repo(tmp_path)
    rows = pd.DataFrame({"area": [1, 1], "event_timestamp": pd.to_datetime(["2024-01-02"] * 2, utc=True)})
    space = mlprod.DenseSpace((2,), 2)
    data = (np.zeros((10, 2), np.float32), np.zeros(10, np.int64))
    return [
        ("serve", SERVE_PARAMS, lambda **kw: mlprod.serve(str(tmp_path / "none"), **{"rest_port": 0, "grpc_port": None,
                                                                                   **kw})),
        ("Batching", BATCHING_PARAMS, lambda **kw: Batching(**kw)),
        ("request log", LOG_PARAMS, lambda **kw: RequestLog(str(tmp_path / "log"), **kw)),
        ("monitor", MONITOR_PARAMS, lambda **kw: mlprod.monitor(df, **kw)),
        ("search", SEARCH_PARAMS, lambda **kw: mlprod.search(space, data, progress=False, **kw)),
        # the table is checked before the model: no model needed to see each value refused
        ("optimize", OPTIMIZE_PARAMS, lambda **kw: mlprod.optimize(object(), data, ["float"], **kw)),
        ("PipelineConfig", PIPELINE_PARAMS, lambda **kw: PipelineConfig(**{
            "data_root": "/data", "label": "label", "pipeline_root": str(tmp_path), **kw})),
        ("RetrainPolicy", RETRAIN_PARAMS, lambda **kw: RetrainPolicy(**kw)),
        ("RetrainTrigger", RETRAIN_PARAMS, lambda **kw: RetrainTrigger(log_dir=str(tmp_path), **kw)),
        ("training_frame", TRAINING_PARAMS, lambda **kw: repo.training_frame(rows, ["v:x"], **kw)),
        ("online_features", ONLINE_PARAMS, lambda **kw: repo.online_features([{"area": 1}], ["v:x"], **kw)),
        ("write_examples", EXAMPLES_PARAMS, lambda **kw: write_examples(repo, rows, ["v:x"], str(tmp_path / "ex"),
                                                                        **kw)),
        ("FeatureExampleGen", EXAMPLES_PARAMS, lambda **kw: FeatureExampleGen(
            repo=str(repo.path), entity_df=str(tmp_path / "rows.parquet"), features=["v:x"], **kw)),
    ]


def test_every_table_refuses_what_it_generates(tmp_path):
    checked = 0
    for where, table, call in _calls(tmp_path):
        for name, constraint in table.items():
            for bad in constraint.invalid_examples():
                with pytest.raises(mlprod.ConfigError) as e:
                    call(**{name: bad})
                assert name in str(e.value), (where, name, bad, str(e.value))
                checked += 1
    assert checked > 150


def test_pipeline_config_and_its_gate_share_one_message():
    """A skew gate's mode is checked by the same table in PipelineConfig and DistributionValidator."""
    from tfx import v1 as tfx

    from mlprod.components.validation import DistributionValidator

    with pytest.raises(mlprod.ConfigError, match=r"PipelineConfig: skew_mode='stop' must be one of 'fail', 'warn'\."):
        PipelineConfig("/data", "label", "/root", skew_mode="stop")
    gen = tfx.components.CsvExampleGen(input_base="/data")
    stats = tfx.components.StatisticsGen(examples=gen.outputs["examples"]).outputs["statistics"]
    with pytest.raises(mlprod.ConfigError, match=r"DistributionValidator: mode='stop' must be one of 'fail', 'warn'\."):
        DistributionValidator(reference_statistics=stats, statistics=stats,
                              schema=tfx.components.SchemaGen(statistics=stats).outputs["schema"], mode="stop")


def test_constraints_accept_what_they_describe():
    assert Interval(float, 0, 1, closed="right").ok(1) and not Interval(float, 0, 1, closed="right").ok(0)
    assert Interval(int, 1).ok(3) and not Interval(int, 1).ok(3.0) and not Interval(int, 1).ok(True)
    assert not Interval(float).ok(float("nan")) and Interval(float, optional=True).ok(None)
    assert OneOf("a", "b").ok("a") and not OneOf("a", "b").ok(["a"])
    assert Kind(bool).ok(False) and not Kind(int).ok(True)
    with pytest.raises(mlprod.ConfigError, match=r"Batching: max_batch_size=0 must be an integer >= 1\."):
        check_params("Batching", {"max_batch_size": 0}, BATCHING_PARAMS)
