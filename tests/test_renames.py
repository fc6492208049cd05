"""Every rename keeps the old name working for one release, with a DeprecationWarning naming the
new one (issue 27). One entry per shim: (how the old name is reached, the new object)."""
from __future__ import annotations

import importlib
import warnings

import pytest

SHIMS = [
    ("mlprod.monitoring", "retrain_if", "mlprod.pipelines.retrain", "retrain_if"),
    ("mlprod.pipelines.runner", "evaluation_accuracy", "mlprod.pipelines.metadata", "evaluation_accuracy"),
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
    assert _fs.atomic_dir is io.atomic_dir and _examples.serialized is io.serialized
