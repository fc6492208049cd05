"""Loading users' Keras model files without running code they carry.

Keras' ``safe_mode`` refuses Python ``lambda`` payloads only in the ``.keras`` format; tf_keras
loads a Lambda layer from a legacy ``.h5`` file or a SavedModel's Keras metadata and runs its
marshalled bytecode on the first call, whatever ``safe_mode`` says (measured with tf_keras 2.21).
So before loading we read the model's config (JSON, no code runs) and refuse Lambda layers and
serialized Python functions unless the caller says the file is trusted.

Example:
    >>> load_keras("/nonexistent/model.h5")
    Traceback (most recent call last):
    ...
    mlprod.errors.DataError: model file '/nonexistent/model.h5' does not exist; pass a .keras/.h5 file or a SavedModel folder.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlprod.errors import ConfigError, DataError

_CODE = re.compile(r'"class_name":\s*"Lambda"|"function_type":\s*"lambda"')


def _config_text(path: Path) -> str:
    """The model's serialized config as text, read without deserializing any layer."""
    if path.is_dir():
        meta = path / "keras_metadata.pb"
        return meta.read_bytes().decode("utf-8", "replace") if meta.is_file() else ""
    if path.suffix == ".h5" or path.suffix == ".hdf5":
        import h5py

        with h5py.File(path, "r") as f:
            cfg = f.attrs.get("model_config", "")
        return cfg.decode("utf-8", "replace") if isinstance(cfg, bytes) else str(cfg)
    return ""  # .keras: Keras' own safe_mode applies


def carries_code(path: "str | Path") -> bool:
    """True when the model file holds a Lambda layer or another serialized Python function."""
    return bool(_CODE.search(_config_text(Path(path))))


def load_keras(path: "str | Path", *, trusted: bool = False, compile: bool = True) -> Any:
    """Load a tf_keras model from ``.keras``, ``.h5`` or a SavedModel folder, safely by default.

    Args:
        path: the model file or folder.
        trusted: load even when the file carries Python code (Lambda layers); only for files
            you made or trust, since that code runs.
        compile: restore the training configuration too.

    Raises:
        DataError: the file is missing or not a Keras model.
        ConfigError: the file carries Python code and ``trusted`` is False.
    """
    import tf_keras

    p = Path(path)
    if not p.exists():
        raise DataError(f"model file {str(p)!r} does not exist; pass a .keras/.h5 file or a SavedModel folder.")
    try:
        code = carries_code(p)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read a Keras model from {str(p)!r} ({str(e)[:200]}).") from None
    if code and not trusted:
        raise ConfigError(f"{str(p)!r} holds a Lambda layer or other Python code, which would run on loading; "
                          "mlprod does not load it by default. If you made or trust this file, pass "
                          "trusted_model=True (CLI: --trust-model), or re-save the model without Lambda layers.")
    try:
        return tf_keras.models.load_model(str(p), compile=compile, safe_mode=not trusted)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise DataError(f"cannot load a tf_keras model from {str(p)!r} ({type(e).__name__}: {str(e)[:200]}).") \
            from None
