"""The models one server serves: :class:`ModelConfig`, and TF Serving's model-config file.

TF Serving's ``--model_config_file`` is a text ``ModelServerConfig`` proto: a
``model_config_list`` of ``config`` entries, each with a ``name``, a ``base_path``, a
``model_version_policy`` (``latest { num_versions: N }``, ``all {}`` or
``specific { versions: ... }``) and ``version_labels`` (``stable`` -> 123). :func:`read_model_config`
reads that file (with TF Serving's own proto) into :class:`ModelConfig`\\ s; ``mlprod serve
--model_config_file`` and ``serve(model_config_file=...)`` serve them all from one REST and one gRPC
port (``/v1/models/NAME``).

Example:
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "models.config")
    >>> _ = open(f, "w").write('''model_config_list { config { name: "a" base_path: "/m/a"
    ...   model_version_policy { specific { versions: 1 versions: 2 } }
    ...   version_labels { key: "stable" value: 1 } } }''')
    >>> read_model_config(f)[0]
    ModelConfig(name='a', base_path='/m/a', version_policy='specific', num_latest=1, versions=[1, 2], version_labels={'stable': 1})
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlprod.errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """One served model: TF Serving's ``ModelConfig`` (name, base folder, version policy, labels)."""

    name: str
    base_path: str
    version_policy: str = "latest"  # "latest" | "all" | "specific"
    num_latest: int = 1
    versions: list[int] | None = None
    version_labels: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or ":" in self.name:
            raise ConfigError(f"model_name {self.name!r} must be a non-empty name without '/' or ':'.")


def read_model_config(path: str) -> list[ModelConfig]:
    """The models of a TF Serving model-config file (text ``ModelServerConfig``).

    Relative ``base_path``\\ s are read from the file's folder.

    Raises:
        ConfigError: the file is missing, is not a ModelServerConfig text proto, lists no models,
            names a model twice, or uses a platform other than ``tensorflow``/``tflite``.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read the model config file {path} ({e}).") from None
    msg = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as e:
        raise ConfigError(f"{path} is not a TF Serving model config (ModelServerConfig text proto): {e}. "
                          "Write model_config_list { config { name: 'm' base_path: '/models/m' } }.") from None
    if msg.WhichOneof("config") != "model_config_list" or not msg.model_config_list.config:
        raise ConfigError(f"{path} lists no models; add model_config_list {{ config {{ name: ... base_path: ... }} }}.")
    out: list[ModelConfig] = []
    for c in msg.model_config_list.config:
        if c.model_platform not in ("", "tensorflow", "tflite"):
            raise ConfigError(f"model {c.name!r} in {path}: model_platform {c.model_platform!r} is not served here "
                              "(use 'tensorflow'; .tflite version folders load too).")
        if not c.base_path:
            raise ConfigError(f"model {c.name!r} in {path} has no base_path.")
        base = c.base_path if os.path.isabs(c.base_path) or "://" in c.base_path else \
            os.path.join(os.path.dirname(os.path.abspath(path)), c.base_path)
        pol = c.model_version_policy.WhichOneof("policy_choice") or "latest"
        num = c.model_version_policy.latest.num_versions or 1
        versions = [int(v) for v in c.model_version_policy.specific.versions] if pol == "specific" else None
        out.append(ModelConfig(c.name, base, pol, num, versions, dict(c.version_labels)))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path} names a model more than once ({names}); give each model one config entry.")
    return out
