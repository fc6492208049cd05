import pytest

from mlprod import datasets
from mlprod.errors import ConfigError


def test_penguins_shapes_and_skew_value():
    lab = datasets.penguins()
    skew = datasets.penguins("skewed")
    assert lab.shape == (334, 5) and skew.shape == (334, 5)
    assert set(lab[datasets.PENGUIN_LABEL].unique()) == {0, 1, 2}
    assert lab["culmen_length_mm"].between(0, 1).all()
    assert (skew["culmen_length_mm"] == -1).sum() == 1


def test_taxi_has_label_and_features():
    df = datasets.chicago_taxi()
    assert len(df) == 15002 and datasets.TAXI_LABEL in df.columns and len(df.columns) == 18


def test_every_named_file_exists_and_licence_is_shipped():
    for name in datasets.names():
        assert datasets.path(name).is_file(), name
    assert "Licence" in (datasets.DATA_DIR / "SOURCES.md").read_text() or \
        "licence" in (datasets.DATA_DIR / "SOURCES.md").read_text()


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ConfigError, match="penguin/labelled"):
        datasets.path("penguins")
