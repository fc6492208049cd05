"""TFX's Pusher that does not push a model identical to the version already serving.

Re-running an unchanged pipeline re-evaluates the same model against itself as baseline
(the Evaluator's input changed), blesses it again, and TFX's Pusher copies it to a new
numbered version folder: a byte-identical second version that a model server reloads for
nothing. :func:`pusher_component` is TFX's Pusher with an executor that first compares the
model with the newest version under the push destination and, when every file is the same,
records that version as the push (``pushed=1``, ``pushed_destination`` the existing folder,
``reused_version=1``) instead of copying.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_pusher.py runs this path.)
    >>> pusher = pusher_component(trainer.outputs["model"], evaluator.outputs["blessing"],
    ...                           "/srv/models/penguin")                            # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

from tfx import v1 as tfx
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from mlprod._compat import renamed
from mlprod.io.files import version_folders


def _digest(folder: str) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` (any filesystem TFX supports)."""
    out: dict[str, str] = {}
    for root, _, files in fileio.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with fileio.open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def latest_version(base_directory: str) -> str | None:
    """The newest numbered version folder under ``base_directory`` (None when there is none)."""
    folders = version_folders(base_directory)
    return folders[max(folders)] if folders else None


class DedupPusherExecutor(tfx_pusher.Executor):
    """TFX's Pusher executor, but an unchanged model re-uses the newest pushed version."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> None:
        dest = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], dest)
        if dest.WhichOneof("destination") == "filesystem" and self.CheckBlessing(input_dict):
            base = dest.filesystem.base_directory
            version = latest_version(base)
            model_path = self.GetModelPath(input_dict)
            if version is not None and _digest(model_path) == _digest(os.path.join(base, version)):
                model_push = artifact_utils.get_single_instance(
                    output_dict[standard_component_specs.PUSHED_MODEL_KEY])
                self._MarkPushed(model_push, pushed_destination=os.path.join(base, version), pushed_version=version)
                model_push.set_int_custom_property("reused_version", 1)
                return
        super().Do(input_dict, output_dict, exec_properties)


@renamed(serving_dir="model_dir")
def pusher_component(model: Any, blessing: Any, model_dir: str) -> Any:
    """``tfx.components.Pusher`` to ``model_dir`` (the folder servers watch; ``serving_dir=``: the old
    name, for one release) that skips byte-identical re-pushes (see module doc)."""
    return tfx.components.Pusher(
        model=model, model_blessing=blessing,
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=str(model_dir))),
        custom_executor_spec=executor_spec.ExecutorClassSpec(DedupPusherExecutor))
