"""A bad pipeline config fails before any component runs, naming the problem."""
import pytest

from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.pipelines.tabular import PipelineConfig, check_config


def _cfg(root, **kw):
    return PipelineConfig(data_root=root, label=kw.pop("label", "species"), pipeline_root="/tmp/x", **kw)


def test_penguin_config_facts():
    facts = check_config(_cfg(datasets.path("penguin/labelled").parent))
    assert facts["num_classes"] == 3
    assert facts["columns"][0] == "species"


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        check_config(_cfg(tmp_path / "nope"))


def test_label_not_in_data():
    with pytest.raises(DataError, match="label column 'kind' is not in penguins_processed.csv"):
        check_config(_cfg(datasets.path("penguin/labelled").parent, label="kind"))


def test_empty_csv_and_header_only(tmp_path):
    (tmp_path / "a.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        check_config(_cfg(tmp_path))
    (tmp_path / "a.csv").write_text("species,x\n")
    with pytest.raises(DataError, match="no data rows"):
        check_config(_cfg(tmp_path))


def test_string_labels_and_mismatched_headers(tmp_path):
    (tmp_path / "a.csv").write_text("species,x\nAdelie,1\n")
    with pytest.raises(DataError, match="one class only"):
        check_config(_cfg(tmp_path))
    (tmp_path / "a.csv").write_text("species,x\nGentoo,1\nAdelie,2\nGentoo,3\n")
    facts = check_config(_cfg(tmp_path))  # text labels: ids in sorted order
    assert facts["label_classes"] == ["Adelie", "Gentoo"] and facts["num_classes"] == 2
    (tmp_path / "a.csv").write_text("species,x\n-1,1\n1,2\n")
    with pytest.raises(DataError, match="class ids 0..K-1"):
        check_config(_cfg(tmp_path))
    (tmp_path / "a.csv").write_text("species,x\n0,1\n")
    (tmp_path / "b.csv").write_text("species,y\n1,1\n")
    with pytest.raises(DataError, match="share one header"):
        check_config(_cfg(tmp_path))


def test_bad_budget_and_bound():
    """Single values are refused when the config is made (PIPELINE_PARAMS), with check_params' message."""
    root = datasets.path("penguin/labelled").parent
    with pytest.raises(ConfigError, match=r"PipelineConfig: train_steps=0 must be an integer >= 1\."):
        _cfg(root, train_steps=0)
    with pytest.raises(ConfigError, match=r"PipelineConfig: min_accuracy=1.5 must be a number in \[0, 1\] \(or None\)"):
        _cfg(root, min_accuracy=1.5)
    with pytest.raises(ConfigError, match="beam_args='--runner=PrismRunner' must be a list or tuple"):
        _cfg(root, beam_args="--runner=PrismRunner")


def test_beam_args_are_a_list_with_one_default(tmp_path):
    """A tuple becomes a list; no beam_args: mlprod.beam's one default rule (by data size), printed."""
    import io

    from mlprod import beam
    from mlprod.pipelines.tabular import create_pipeline

    root = datasets.path("penguin/labelled").parent
    assert _cfg(root, beam_args=("--direct_num_workers=1",)).beam_args == ["--direct_num_workers=1"]
    notes = io.StringIO()
    cfg = PipelineConfig(data_root=root, label="species", pipeline_root=str(tmp_path))
    pipeline = create_pipeline(cfg, notes=notes)
    assert pipeline.beam_pipeline_args == beam.default_args() == ["--direct_running_mode=in_memory",
                                                                   "--beam_plugins=mlprod"]
    assert "Beam DirectRunner in memory" in notes.getvalue()
    assert beam.default_args(2 * beam.MULTIPROCESS_BYTES, cores=4)[:2] == beam.direct_args(4)[:2]


def test_docstring_tune_example_rebuilds_in_the_trainer():
    """Issue 13: the Trainer's config holds its own float learning_rate beside the tuned space."""
    from mlprod.pipelines.tabular import _tuned_space
    from mlprod.tuning.tfx_fn import space_from_config

    cfg = _cfg(datasets.path("penguin/labelled").parent,
               tune={"strategy": "evolution", "max_trials": 4, "epochs": 2, "depth": (1, 2)})
    trainer_cfg = {"label": "species", "num_classes": 3, "hidden_units": [16, 8], "learning_rate": 0.01,
                   **_tuned_space(cfg)}
    space = space_from_config(trainer_cfg, 4)
    assert space.depth == (1, 2) and space.learning_rate == (1e-4, 1e-2)  # the Tuner's default, not 0.01
    with pytest.raises(ConfigError, match=r"tune\['depth'\]=2: give a list"):
        space_from_config({"num_classes": 3, "nas_space": {"depth": 2}}, 4)


@pytest.mark.parametrize("tune, match", [
    ({"max_trials": 0}, "max_trials=0 must be a positive integer"),
    ({"strategy": "magic"}, "choose one of"),
    ({"depth": 2}, "give a list"),
    ({"depht": [1, 2]}, "unknown key"),
    ({"strategy": "random", "weight_inheritance": True}, "needs strategy='evolution'"),
    ({"strategy": "random", "fidelity": "data"}, "'hyperband' or 'asha'"),
    ({"strategy": "evolution", "weight_inheritance": True, "inherited_epochs": 0}, "inherited_epochs=0"),
])
def test_bad_tune_configs_fail_before_any_component(tune, match):
    with pytest.raises(ConfigError, match=match):
        check_config(_cfg(datasets.path("penguin/labelled").parent, tune=tune))


def test_header_read_by_the_one_reader(tmp_path):
    """check_config reads headers with mlprod.io.frames.csv_header: a binary file and a blank column name
    are named as such."""
    (tmp_path / "a.csv").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(DataError, match="is not a text CSV file"):
        check_config(_cfg(tmp_path))
    (tmp_path / "a.csv").write_text("species,,x\n0,1,2\n1,2,3\n")
    with pytest.raises(DataError, match="blank or duplicate column names"):
        check_config(_cfg(tmp_path))


def test_eval_slices_must_be_columns():
    with pytest.raises(ConfigError, match=r"eval_slices name column\(s\) \['nope'\]"):
        check_config(_cfg(datasets.path("penguin/labelled").parent, eval_slices=("nope",)))
