"""Every rename keeps the old name working for one release, with a DeprecationWarning naming the
new one (issue 27). One entry per shim: (how the old name is reached, the new object)."""
from __future__ import annotations

import importlib
import warnings

import pytest

SHIMS = [
    ("mlprod.monitoring", "retrain_if", "mlprod.pipelines.retrain", "retrain_if"),
    ("mlprod.pipelines.runner", "evaluation_accuracy", "mlprod.pipelines.metadata", "evaluation_accuracy"),
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
]


@pytest.mark.parametrize("old_mod, old, new_mod, new", SHIMS)
def test_old_name_warns_and_is_the_new_object(old_mod, old, new_mod, new):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = getattr(importlib.import_module(old_mod), old)
    assert got is getattr(importlib.import_module(new_mod), new)
    msgs = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert msgs and any(new_mod in m or f"mlprod.{new}" in m for m in msgs), msgs


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
ATTRIBUTES = [
    (lambda: _eval_result(output_dir="tfma-out"), "output_path", "output_dir"),
    (lambda: _validation_result(reference_statistics="stats"), "baseline_statistics", "reference_statistics"),
]


@pytest.mark.parametrize("make, old, new", ATTRIBUTES, ids=[a[1] for a in ATTRIBUTES])
def test_old_result_attribute_reads_the_new_one_with_a_warning(make, old, new):
    r = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert getattr(r, old) == getattr(r, new)
    assert any(f"{old}=" in str(w.message) and f"use {new}=" in str(w.message) for w in caught
               if issubclass(w.category, DeprecationWarning))
