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


def test_a_retraining_config_with_serving_dir_still_names_its_model_dir(tmp_path):
    """plan_retrain's config: ``model_dir``; an older object with ``serving_dir`` works, with a warning."""
    from types import SimpleNamespace

    from mlprod.monitoring.retrain import _model_dir_of

    assert _model_dir_of(SimpleNamespace(model_dir="/srv/new", serving_dir="/srv/old")) == "/srv/new"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _model_dir_of(SimpleNamespace(serving_dir="/srv/old")) == "/srv/old"
    assert any("serving_dir is deprecated: name it model_dir" in m for m in _deprecations(caught))
