"""Issue 13: re-running an unchanged pipeline pushed a byte-identical model as a new version."""
import json
import os

from tfx.types import standard_artifacts

from mlprod.components.pusher import DedupPusherExecutor


def _artifacts(tmp_path, tag, content=b"graph"):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"model_{tag}")
    os.makedirs(os.path.join(model.uri, "Format-Serving", "variables"))
    with open(os.path.join(model.uri, "Format-Serving", "saved_model.pb"), "wb") as f:
        f.write(content)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / f"blessing_{tag}")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed_{tag}")
    return {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}


def test_an_identical_model_reuses_the_pushed_version_and_a_changed_one_is_pushed(tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    props = {"push_destination": json.dumps({"filesystem": {"base_directory": str(serving)}})}
    clock = iter([1_700_000_000, 1_700_000_100, 1_700_000_200])
    monkeypatch.setattr("time.time", lambda: next(clock))
    ex = DedupPusherExecutor()
    inputs, outputs = _artifacts(tmp_path, "a")
    ex.Do(inputs, outputs, props)
    first = outputs["pushed_model"][0]
    assert first.get_int_custom_property("pushed") == 1 and os.listdir(serving) == ["1700000000"]

    inputs, outputs = _artifacts(tmp_path, "b")  # same bytes, a new Trainer artifact
    ex.Do(inputs, outputs, props)
    again = outputs["pushed_model"][0]
    assert again.get_int_custom_property("pushed") == 1 and again.get_int_custom_property("reused_version") == 1
    assert again.get_string_custom_property("pushed_destination") == str(serving / "1700000000")
    assert os.listdir(serving) == ["1700000000"]

    inputs, outputs = _artifacts(tmp_path, "c", content=b"retrained")
    ex.Do(inputs, outputs, props)
    assert sorted(os.listdir(serving)) == ["1700000000", "1700000100"]
