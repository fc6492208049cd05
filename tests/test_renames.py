"""Every rename keeps the old name working for one release, with a DeprecationWarning naming the
new one (issue 27). One entry per shim: (how the old name is reached, the new object)."""
from __future__ import annotations

import importlib
import warnings

import pytest

SHIMS = [
    ("mlprod.pipelines.runner", "evaluation_accuracy", "mlprod.pipelines.metadata", "evaluation_accuracy"),
]

#: names that moved up a layer: their old module may not import the new one (that was an import
#: circle), so the old path raises an ImportError naming the new home (mlprod._compat.MOVED)
MOVED = [
    ("mlprod.monitoring", "retrain_if", "mlprod.pipelines.retrain", "retrain_if"),
    ("mlprod.pipelines.metadata", "registry", "mlprod.pipelines.registry", "registry"),
]

#: (function, old keyword, new keyword): each old keyword still works, warns, and lands in the new one
KEYWORDS = [
    ("mlprod.validation.checks:detect_skew", "training", "reference"),
    ("mlprod.validation.checks:detect_skew", "serving", "current"),
    ("mlprod.validation.checks:detect_drift", "previous", "reference"),
    ("mlprod.validation.checks:compare", "baseline", "reference"),
    ("mlprod.validation.checks:compare", "baseline_statistics", "reference_statistics"),
    ("mlprod.serving.server:serve", "base_path", "model_dir"),
    ("mlprod.serving.versions:list_versions", "base_path", "model_dir"),
    ("mlprod.serving.versions:read_pin", "base_path", "model_dir"),
    ("mlprod.serving.versions:write_pin", "base_path", "model_dir"),
    ("mlprod.pipelines.registry:registry", "serving_dir", "model_dir"),
    ("mlprod.components.pusher:pusher_component", "serving_dir", "model_dir"),
    ("mlprod.evaluation.evaluate:evaluate", "baseline", "baseline_model"),
    ("mlprod.monitoring.monitor:monitor", "baseline", "reference"),
    ("mlprod.monitoring.retrain:plan_retrain", "baseline", "reference"),
    ("mlprod.pipelines.retrain:retrain_if", "baseline", "reference"),
    ("mlprod.monitoring.retrain:decide_for", "serving_dir", "model_dir"),
    ("mlprod.tuning.search:search", "directory", "output_dir"),
    ("mlprod.tuning.search:search", "verbose", "progress"),
]

#: (result class, old attribute, new attribute): the old one is a property that warns and returns the new one
ATTRIBUTES = [
    ("mlprod.tuning.search:SearchResult", "trials", "table"),
]


@pytest.mark.parametrize("old_mod, old, new_mod, new", SHIMS)
def test_old_name_warns_and_is_the_new_object(old_mod, old, new_mod, new):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = getattr(importlib.import_module(old_mod), old)
    assert got is getattr(importlib.import_module(new_mod), new)
    msgs = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert msgs and any(new_mod in m or f"mlprod.{new}" in m for m in msgs), msgs


@pytest.mark.parametrize("old_mod, old, new_mod, new", MOVED)
def test_moved_name_says_where_it_lives_now(old_mod, old, new_mod, new):
    module = importlib.import_module(old_mod)
    with pytest.raises(ImportError, match=f"{old_mod}.{old} moved: import mlprod.{new} .*{new_mod}"):
        getattr(module, old)
    with pytest.raises(ImportError, match=f"import mlprod.{new}"):
        exec(f"from {old_mod} import {old}", {})
    import mlprod

    assert getattr(mlprod, new) is getattr(importlib.import_module(new_mod), new)
    with pytest.raises(AttributeError):  # other names are still plain AttributeErrors
        module.no_such_name  # noqa: B018


def _deprecations(caught):
    return [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


def test_pipeline_config_serving_model_dir_is_model_dir():
    import dataclasses

    from mlprod import ConfigError
    from mlprod.pipelines.tabular import PipelineConfig

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = PipelineConfig("/data", "y", "/root", serving_model_dir="/srv/models/m")
        assert cfg.model_dir == "/srv/models/m"
        assert cfg.serving_model_dir == "/srv/models/m" and cfg.serving_dir == "/srv/models/m"
    msgs = _deprecations(caught)
    assert len(msgs) == 3 and all("model_dir" in m for m in msgs), msgs
    assert "PipelineConfig(serving_model_dir=...) is deprecated: use model_dir=" in msgs[0]
    with pytest.raises(ConfigError, match="model_dir= only"):
        PipelineConfig("/data", "y", "/root", model_dir="/a", serving_model_dir="/b")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the new name and replace() never warn
        default = PipelineConfig("/data", "y", "/root")
        assert default.model_dir == "/root/serving_model"
        assert dataclasses.replace(default, pipeline_root="/other").model_dir == "/other/serving_model"
        assert dataclasses.replace(cfg, pipeline_root="/other").model_dir == "/srv/models/m"


def test_components_take_their_old_keywords():
    """RetrainTrigger(serving_dir=) -> model_dir, DistributionValidator(baseline_statistics=,
    baseline_split=) -> reference_statistics, reference_split: each warns and lands in the new one."""
    from tfx import v1 as tfx

    from mlprod.components.monitoring import RetrainTrigger
    from mlprod.components.validation import DistributionValidator

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trigger = RetrainTrigger(log_dir="/logs", serving_dir="/srv/m")
    assert trigger.exec_properties["model_dir"] == "/srv/m" and trigger.id == "RetrainTrigger"
    assert any("RetrainTrigger(serving_dir=...) is deprecated: use model_dir=" in m for m in _deprecations(caught))

    gen = tfx.components.CsvExampleGen(input_base="/data")
    stats = tfx.components.StatisticsGen(examples=gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=stats.outputs["statistics"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gate = DistributionValidator(baseline_statistics=stats.outputs["statistics"], baseline_split="eval",
                                     statistics=stats.outputs["statistics"], schema=schema.outputs["schema"])
    assert "reference_statistics" in gate.inputs and gate.exec_properties["reference_split"] == "eval"
    msgs = _deprecations(caught)
    assert any("use reference_statistics=" in m for m in msgs) and any("use reference_split=" in m for m in msgs)


def test_private_data_modules_moved_to_the_public_io_layer():
    """``mlprod._data``/``_fs``/``_examples`` (private) re-export mlprod.io for one release."""
    from mlprod import _data, _examples, _fs, io

    assert _data.load_frame is io.load_frame and _data.list_files is io.list_files
    assert _fs.atomic_dir is io.atomic_dir and _examples.serialized is io.serialized_examples
    from mlprod.preprocessing import serialized_examples

    assert serialized_examples is io.serialized_examples


@pytest.mark.parametrize("where, old, new", KEYWORDS)
def test_old_keyword_is_mapped_with_a_warning(where, old, new):
    """The function's rename table maps the old keyword to a parameter it has; the same table,
    applied by the shim, delivers the value under the new name with a warning naming both."""
    import inspect

    from mlprod._compat import renamed

    mod, fn_name = where.split(":")
    fn = getattr(importlib.import_module(mod), fn_name)
    params = inspect.signature(fn).parameters
    assert fn.__renamed__[old][0] == new and new in params and old not in params
    seen = {}
    shim = renamed(**{o: t[0] if t[1] is None else t for o, t in fn.__renamed__.items()})(lambda **kw: seen.update(kw))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shim(**{old: "value"})
    assert seen == {new: "value"}
    assert any(f"{old}=" in str(w.message) and f"use {new}=" in str(w.message) for w in caught
               if issubclass(w.category, DeprecationWarning))


@pytest.mark.parametrize("where, old, new", ATTRIBUTES)
def test_old_result_attribute_warns_and_returns_the_new_one(where, old, new):
    """A renamed result attribute stays as a deprecated property (read on a bare instance: no run needed)."""
    import inspect

    mod, cls_name = where.split(":")
    cls = getattr(importlib.import_module(mod), cls_name)
    assert isinstance(inspect.getattr_static(cls, old), property) and new in cls.__dataclass_fields__
    obj = object.__new__(cls)
    sentinel = object()
    object.__setattr__(obj, new, sentinel)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert getattr(obj, old) is sentinel
    assert any(f".{old} is deprecated" in str(w.message) and f".{new}" in str(w.message) for w in caught
               if issubclass(w.category, DeprecationWarning))


def test_both_old_and_new_keyword_is_an_error():
    from mlprod import ConfigError
    from mlprod.validation.checks import detect_drift

    with pytest.raises(ConfigError, match="reference= only"):
        detect_drift(previous=1, reference=2, current=3)


def test_public_functions_use_the_table_names():
    """No public function of the facade or a capability keeps an old name as a parameter."""
    import inspect

    import mlprod
    from mlprod._compat import RETIRED

    for name in mlprod.__all__:
        obj = getattr(mlprod, name)
        if not callable(obj):
            continue
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            continue
        stale = set(params) & set(RETIRED)
        assert not stale, f"mlprod.{name} still takes {sorted(stale)}; the naming table says " + \
            ", ".join(f"{o} -> {RETIRED[o]}" for o in sorted(stale))


# --- edge optimization (issue 27): accuracy drops are fractions, the Pusher folder is model_dir ---------------


def _deprecations(caught):
    return [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


def _toy_result():
    import pandas as pd

    from mlprod.optimization import OptimizeResult

    table = pd.DataFrame({"technique": ["keras", "float", "int8", "prune_int8"], "accuracy": [0.9, 0.9, 0.885, 0.8],
                          "accuracy_drop": [0.0, 0.0, 0.015, 0.1], "size_bytes": [40, 30, 10, 10],
                          "gzip_bytes": [30, 25, 8, 4], "status": ["ok", "ok", "ok", "too_lossy"],
                          "note": ["", "", "", ""]})
    return OptimizeResult(table, {"float": b"f", "int8": b"i"}, max_accuracy_drop=0.02)


def test_optimize_max_drop_points_become_a_fraction():
    """optimize(max_drop=points) -> max_accuracy_drop=points/100, with a warning saying so."""
    import mlprod
    from mlprod.optimization.optimize import optimize

    assert optimize.__renamed__["max_drop"][0] == "max_accuracy_drop"
    assert optimize.__renamed__["max_drop"][1](1.5) == 0.015
    with warnings.catch_warnings(record=True) as caught, pytest.raises(mlprod.ConfigError, match=r"max_accuracy_drop=2\.5 "):
        warnings.simplefilter("always")
        optimize(object(), None, max_drop=250)  # 250 points = 2.5: refused by the fraction's range, so it was converted
    msg = _deprecations(caught)[0]
    assert "max_drop=" in msg and "use max_accuracy_drop=" in msg and "fraction: /100" in msg


def test_optimize_result_passing_best_and_the_old_blessed_max_drop():
    r = _toy_result()
    assert list(r.passing()["technique"]) == ["float", "int8"]  # 0.015 <= 0.02
    assert list(r.passing(0.01)["technique"]) == ["float"]
    assert r.best() == "int8" and r.best(max_accuracy_drop=0.01) == "float"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(r.blessed(1.0)["technique"]) == ["float"]  # points, as before
        assert r.best(max_drop=1.0) == "float" and r.best(max_drop=2.0) == "int8"
        assert r.best(2.0) == "int8"  # a positional value above 1 can only be points
        assert r.max_drop == 2.0  # the old attribute, in points
    msgs = _deprecations(caught)
    assert any("blessed" in m and "passing(max_accuracy_drop" in m for m in msgs)
    assert any("best(max_drop=...)" in m and "use max_accuracy_drop=" in m for m in msgs)
    assert any("points are deprecated, give a fraction" in m for m in msgs)
    assert any("max_drop (points) is deprecated" in m for m in msgs)


def test_optimize_result_save_folder_is_output_dir(tmp_path):
    r = _toy_result()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = r.save(folder=tmp_path / "m", report=False)
    assert any("save(folder=...)" in m and "use output_dir=" in m for m in _deprecations(caught))
    assert paths["int8"].read_bytes() == b"i" and paths["table"].name == "metrics.csv" and "report" not in paths


def test_edge_optimizer_push_dir_points_and_a_list_of_techniques():
    import json

    from tfx.types import channel, standard_artifacts

    from mlprod import ConfigError
    from mlprod.components.optimization import EdgeOptimizer

    ins = {"model": channel.Channel(type=standard_artifacts.Model),
           "examples": channel.Channel(type=standard_artifacts.Examples), "feature_key": "f", "label_key": "l"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = EdgeOptimizer(**ins, techniques=["float", "int8"], max_accuracy_drop=1.5, push_dir="/srv/tflite")
    p = c.exec_properties
    assert p["model_dir"] == "/srv/tflite" and "push_dir" not in p
    assert p["max_accuracy_drop"] == pytest.approx(0.015) and json.loads(p["techniques"]) == ["float", "int8"]
    msgs = _deprecations(caught)
    assert any("push_dir=" in m and "use model_dir=" in m for m in msgs)
    assert any("max_accuracy_drop=1.5" in m and "points are deprecated, give a fraction" in m for m in msgs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = EdgeOptimizer(**ins, techniques="float,qat", max_accuracy_drop=0.02, model_dir="/srv/tflite")
    assert not _deprecations(caught) and c.exec_properties["techniques"] == "float,qat"  # the string form works
    assert c.exec_properties["max_accuracy_drop"] == 0.02 and c.id == "EdgeOptimizer"
    with pytest.raises(ConfigError, match="unknown technique"):
        EdgeOptimizer(**ins, techniques=["float", "int4"])


def test_mnist_edge_push_dir_is_model_dir():
    from mlprod.pipelines import mnist_edge

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = mnist_edge.config("/tmp/mnist-edge", push_dir="/srv/tflite")
        assert cfg.model_dir == "/srv/tflite" and cfg.push_dir == "/srv/tflite"
        assert mnist_edge.MnistEdgeConfig("r", "m", push_dir="/srv/x").model_dir == "/srv/x"
    msgs = _deprecations(caught)
    assert any("config(push_dir=...)" in m and "use model_dir=" in m for m in msgs)
    assert any("MnistEdgeConfig.push_dir is deprecated: use model_dir" in m for m in msgs)
    assert any("__init__(push_dir=...)" in m for m in msgs)
    assert mnist_edge.config("/tmp/mnist-edge").max_accuracy_drop == 0.015  # 1.5 points, as a fraction


def test_cli_optimize_max_drop_flag(capsys, tmp_path):
    """--max-drop (points) -> --max-accuracy-drop (a fraction), converted with a warning; both: an error."""
    from mlprod import cli

    base = ["optimize", str(tmp_path / "m.h5"), "--data", str(tmp_path / "none.npz")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = cli.main([*base, "--max-drop", "250"])  # 2.5 after /100: refused before loading anything
    err = capsys.readouterr().err
    assert rc == 1 and "--max-drop is deprecated: use --max-accuracy-drop" in err and "max_accuracy_drop=2.5" in err
    assert any("--max-accuracy-drop 2.5" in m for m in _deprecations(caught))
    rc = cli.main([*base, "--max-drop", "1", "--max-accuracy-drop", "0.01"])
    assert rc == 1 and "--max-accuracy-drop only" in capsys.readouterr().err
    rc = cli.main([*base, "--max-accuracy-drop", "0.01"])  # the new flag passes its check; the data is missing
    assert rc == 1 and "--data" in capsys.readouterr().err


#: (command line with the old flag, the new flag, argparse dest, expected value)
CLI_FLAGS = [
    (["monitor", "logs", "--html", "r.html"], "--report", "report", "r.html"),
    (["monitor", "logs", "--baseline", "train.csv"], "--reference", "reference", "train.csv"),
]


@pytest.mark.parametrize("argv, new, dest, value", CLI_FLAGS)
def test_old_cli_flag_works_and_names_the_new_one(argv, new, dest, value, capsys):
    from mlprod.cli import build_parser

    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert f"{argv[-2]} is deprecated: use {new}" in err
    new_args = build_parser().parse_args([*argv[:-2], new, value])  # the new flag: same value, no message
    assert getattr(new_args, dest) == value and "deprecated" not in capsys.readouterr().err


def _eval_result(**kw):
    import pandas as pd

    from mlprod.evaluation import EvalSpec
    from mlprod.evaluation.result import EvalResult

    return EvalResult(table=pd.DataFrame(), spec=EvalSpec(label="y"), **kw)


def _validation_result(**kw):
    import pandas as pd

    from mlprod.validation import ValidationResult

    return ValidationResult("drift", pd.DataFrame(), **kw)


#: (a result made with the new attribute set, old attribute, new attribute)
RESULT_ATTRIBUTES = [
    (lambda: _eval_result(output_dir="tfma-out"), "output_path", "output_dir"),
    (lambda: _validation_result(reference_statistics="stats"), "baseline_statistics", "reference_statistics"),
]


@pytest.mark.parametrize("make, old, new", RESULT_ATTRIBUTES, ids=[a[1] for a in RESULT_ATTRIBUTES])
def test_old_result_attribute_reads_the_new_one_with_a_warning(make, old, new):
    r = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert getattr(r, old) == getattr(r, new)
    assert any(f"{old}=" in str(w.message) and f"use {new}=" in str(w.message) for w in caught
               if issubclass(w.category, DeprecationWarning))


def test_a_retraining_config_with_serving_dir_still_names_its_model_dir(tmp_path):
    """plan_retrain's config: ``model_dir``; an older object with ``serving_dir`` works, with a warning."""
    from types import SimpleNamespace

    from mlprod.monitoring.retrain import _model_dir_of

    assert _model_dir_of(SimpleNamespace(model_dir="/srv/new", serving_dir="/srv/old")) == "/srv/new"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _model_dir_of(SimpleNamespace(serving_dir="/srv/old")) == "/srv/old"
    assert any("serving_dir is deprecated: name it model_dir" in m for m in _deprecations(caught))
