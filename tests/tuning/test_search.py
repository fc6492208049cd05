"""Each strategy on a small budget with real penguins; budgets, size constraint, errors."""
import numpy as np
import pytest

import mlprod
from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.tuning import DenseSpace, RegularizedEvolutionOracle, make_oracle

FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
SPACE = DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 2), width=(8, 32, 8), batch_norm=(False,),
                   optimizers=("adam",), learning_rate=(3e-3, 3e-2))


@pytest.fixture(scope="module")
def penguins():
    df = datasets.penguins()
    return df[FEATURES].to_numpy("float32"), df["species"].to_numpy()


@pytest.mark.parametrize("strategy", ["random", "grid", "bayesian", "hyperband", "evolution"])
def test_each_strategy_runs_and_returns_a_tf_keras_model(strategy, penguins):
    x, y = penguins
    kw = {"population_size": 2, "sample_size": 1} if strategy == "evolution" else {}
    r = mlprod.search(SPACE, (x, y), strategy=strategy, max_trials=3, epochs=3, seed=0, progress=False, **kw)
    import tf_keras

    assert isinstance(r.best_model, tf_keras.Model)
    done = r.table[r.table["status"] == "COMPLETED"]
    assert 1 <= len(done) and (strategy == "hyperband" or len(r.table) <= 3)
    best = done["score"].max()
    assert best > 0.3
    # the tf_keras copy carries the searched weights: it scores like the best trial on validation data
    assert r.best_model.count_params() == int(r.table.set_index("trial_id").loc[done.loc[done["score"].idxmax(),
                                                                                  "trial_id"], "params"])
    assert "<img" in r._repr_html_()


def test_deterministic_given_a_seed(penguins):
    x, y = penguins
    a = mlprod.search(SPACE, (x, y), strategy="random", max_trials=2, epochs=2, seed=3, progress=False)
    b = mlprod.search(SPACE, (x, y), strategy="random", max_trials=2, epochs=2, seed=3, progress=False)
    assert a.best_hyperparameters == b.best_hyperparameters
    np.testing.assert_allclose(a.table["score"], b.table["score"], atol=1e-6)


def test_size_budget_picks_a_model_that_fits(penguins):
    x, y = penguins
    r = mlprod.search(SPACE, (x, y), strategy="random", max_trials=4, epochs=2, max_params=400, seed=1,
                      progress=False)
    assert r.best_model.count_params() <= 400
    assert (r.table.loc[r.table["fits_budget"], "params"] <= 400).all()


def test_evolution_mutates_from_the_population():
    import keras_tuner as kt

    o = RegularizedEvolutionOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=5,
                                   population_size=2, sample_size=1, seed=0)
    assert isinstance(o, kt.Oracle)
    with pytest.raises(ConfigError, match="population_size"):
        RegularizedEvolutionOracle(population_size=1)
    assert isinstance(make_oracle("evolution", "val_loss", 4, 2, 0), RegularizedEvolutionOracle)


def test_bad_inputs_fail_before_any_trial(penguins):
    x, y = penguins
    with pytest.raises(ConfigError, match="contradictory"):
        DenseSpace(input_shape=(4,), num_classes=3, depth=(3, 1))
    with pytest.raises(ConfigError, match="no choices"):
        DenseSpace(input_shape=(4,), num_classes=3, activations=())
    with pytest.raises(ConfigError, match="strategy"):
        mlprod.search(SPACE, (x, y), strategy="annealing")
    with pytest.raises(ConfigError, match="budget is too small"):
        mlprod.search(SPACE, (x, y), max_trials=0)
    with pytest.raises(ConfigError, match="objective"):
        mlprod.search(SPACE, (x, y), objective="val_f1")
    with pytest.raises(DataError, match="shape"):
        mlprod.search(SPACE, (x[:, :2], y))


def test_wall_clock_budget_tflite_budget_and_failed_trials(penguins):
    x, y = penguins
    r = mlprod.search(SPACE, (x, y), strategy="random", max_trials=50, epochs=1, max_seconds=0.001, seed=0,
                      progress=False)
    assert len(r.table) == 1  # the budget ran out after the first trial
    r = mlprod.search(SPACE, (x, y), strategy="random", max_trials=2, epochs=1, max_tflite_bytes=10**6,
                      progress=False)
    assert r.table["tflite_bytes"].notna().all() and r.table["fits_budget"].all()

    import keras_tuner as kt

    def flaky(hp):  # a custom build(hp) where one variant crashes
        if hp.Choice("variant", ["ok", "crash"]) == "crash":
            raise ValueError("this architecture does not build")
        return SPACE.build(kt.HyperParameters())

    r = mlprod.search(flaky, (x, y), strategy="grid", max_trials=2, epochs=1, seed=0, progress=False)
    assert {"FAILED", "COMPLETED"} <= set(r.table["status"])  # recorded as failed, the search went on
    with pytest.raises(ConfigError, match="cannot build"):  # checked before any trial
        mlprod.search(lambda hp: SPACE.build(hp) if False else 1 / 0, (x, y), progress=False)


def test_a_search_on_unscaled_features_says_why_it_scores_chance(tmp_path):
    """Issue 13: a search on unscaled features scored chance with no hint."""
    import glob
    import tempfile

    df = datasets.chicago_taxi().dropna(subset=["trip_seconds", "trip_miles", "fare"]).head(600)
    x = df[["trip_start_timestamp", "trip_seconds", "fare"]].to_numpy("float32")  # 1e9, 1e3, 1e1
    y = (df["tips"] > 0).to_numpy().astype("int64")
    r = mlprod.search(DenseSpace((3,), 2, depth=(1, 1), width=(8, 8, 8), optimizers=("sgd",)), (x, y),
                      max_trials=1, epochs=1, progress=False)
    assert any("unscaled" in n and "standardize" in n for n in r.notes), r.notes
    # a search that fails before any trial leaves no mlprod-search-* folder behind
    before = set(glob.glob(f"{tempfile.gettempdir()}/mlprod-search-*"))
    with pytest.raises(DataError):
        mlprod.search(DenseSpace((3,), 2), (x, y[:10]), max_trials=1, epochs=1, progress=False)
    assert set(glob.glob(f"{tempfile.gettempdir()}/mlprod-search-*")) == before


def test_labels_outside_num_classes_name_the_first_trials_error(penguins):
    """Issue 25: labels >= num_classes ended with a bare 'no trial completed' and, progress=False, no trace of why."""
    x, y = penguins
    space = DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 1), width=(8, 8, 8), optimizers=("adam",))
    with pytest.raises(DataError, match=r"no trial completed\. The first failed trial \(0\) raised: .*InvalidArgument"
                                        r".*label value of 5 which is outside the valid range of \[0, 3\)"):
        mlprod.search(space, (x, y + 3), max_trials=1, epochs=1, progress=False)


def test_strategies_come_from_one_registry_and_an_oracle_instance_is_taken_as_is(penguins):
    """search(strategy=...) takes a registered name or a Keras Tuner Oracle; the rules on which
    options go with which strategy are the registry's (issue 27)."""
    import keras_tuner as kt

    from mlprod.tuning import STRATEGIES, Strategy, check_strategy, register
    from mlprod.tuning.strategies import STRATEGIES as REGISTRY

    assert set(STRATEGIES) == set(REGISTRY)
    x, y = penguins
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=2, seed=0)
    r = mlprod.search(SPACE, (x, y), strategy=oracle, max_trials=2, epochs=1, progress=False)
    assert r.strategy == "RandomSearchOracle" and len(r.table) == 2
    with pytest.raises(ConfigError, match="multi-fidelity"):  # a plain Oracle declares no rungs
        check_strategy(oracle, fidelity="data")
    with pytest.raises(ConfigError, match="keras_tuner Oracle"):
        mlprod.search(SPACE, (x, y), strategy=42)
    # a new strategy is one registration; the component's and search's checks know it at once
    register(Strategy("random_rungs", REGISTRY["random"].build, multi_fidelity=True))
    try:
        check_strategy("random_rungs", fidelity="data")
        with pytest.raises(ConfigError, match="weight_inheritance needs strategy='evolution'"):
            check_strategy("random_rungs", weight_inheritance=True)
    finally:
        del REGISTRY["random_rungs"]


def test_tf_data_datasets_are_searched(penguins):
    """``data=(train_ds, val_ds)``, as documented (it failed to unpack before)."""
    import tensorflow as tf

    x, y = penguins
    train = tf.data.Dataset.from_tensor_slices((x[:200], y[:200])).batch(32)
    val = tf.data.Dataset.from_tensor_slices((x[200:], y[200:])).batch(32)
    r = mlprod.search(SPACE, (train, val), max_trials=1, epochs=1, progress=False, early_termination=True)
    assert len(r.table) == 1 and r.table["status"].iloc[0] == "COMPLETED"


def test_search_result_follows_the_result_protocol_and_old_names_still_work(penguins, tmp_path):
    """Issue 27: ``directory=``/``verbose=`` are ``output_dir=``/``progress=``; ``.trials`` is ``.table``;
    ``.plot()`` is a Figure and ``.save(output_dir)`` writes the table, the report and the best values."""
    import json
    import warnings

    import pandas as pd
    from matplotlib.figure import Figure

    x, y = penguins
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = mlprod.search(SPACE, (x, y), strategy="random", max_trials=2, epochs=1, seed=0,
                          directory=str(tmp_path / "kt"), verbose=False)
    said = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any("directory=" in m and "use output_dir=" in m for m in said), said
    assert any("verbose=" in m and "use progress=" in m for m in said), said
    assert (tmp_path / "kt" / "random_0").is_dir()  # the trials were kept where directory= said
    assert isinstance(r.table, pd.DataFrame) and len(r.table) == 2
    with pytest.warns(DeprecationWarning, match=r"SearchResult\.trials is deprecated: use SearchResult\.table"):
        assert r.trials is r.table
    fig = r.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert r.plot_html().startswith("<img")
    written = r.save(tmp_path / "report")
    assert sorted(written) == ["best_hyperparameters", "report", "table"]
    assert pd.read_csv(written["table"])["trial_id"].astype(str).tolist() == r.table["trial_id"].astype(str).tolist()
    best = json.loads(written["best_hyperparameters"].read_text())
    assert best["values"] == r.best_hyperparameters and best["trial_id"] == r.best_trial_id
    assert best["score"] == pytest.approx(r.table["score"].max())
    assert "<img" in written["report"].read_text()
    with pytest.raises(ConfigError, match="pass output_dir= only"):
        mlprod.search(SPACE, (x, y), directory=str(tmp_path), output_dir=str(tmp_path))


def test_keras_tuners_stop_after_three_failed_trials_is_an_mlprod_error_or_a_note(penguins):
    """Keras Tuner ends a search with a plain RuntimeError after 3 failed trials in a row: with no
    completed trial that is the DataError naming the first failure; otherwise the best completed trial
    is returned with a note saying the search stopped early."""
    import keras_tuner as kt

    x, y = penguins
    with pytest.raises(DataError, match=r"no trial completed \(Keras Tuner stopped the search after 3 failed "
                                        r"trials in a row\)\. The first failed trial \(0\) raised: .*label value"):
        mlprod.search(DenseSpace((4,), 3, depth=(1, 1), width=(8, 8, 8)), (x, y + 3), max_trials=4, epochs=1,
                      progress=False)

    def late_crashes(hp):  # the first variant builds, the next three do not
        if hp.Choice("variant", ["ok", "crash1", "crash2", "crash3"]) != "ok":
            raise ValueError("this architecture does not build")
        return SPACE.build(kt.HyperParameters())

    r = mlprod.search(late_crashes, (x, y), strategy="grid", max_trials=4, epochs=1, progress=False)
    assert list(r.table["status"]) == ["COMPLETED", "FAILED", "FAILED", "FAILED"]
    assert any("stopped the search after 3 failed trials in a row" in n for n in r.notes), r.notes


def test_space_choices_are_checked_when_the_space_is_made():
    """An unknown optimizer failed only in the trials that drew it (a KeyError), an unknown pooling
    silently meant average pooling, and depth=3 raised a TypeError: all ConfigErrors now."""
    from mlprod.tuning import ConvSpace

    with pytest.raises(ConfigError, match=r"optimizers has unknown choice\(s\) \['adamw'\]"):
        DenseSpace((4,), 3, optimizers=("adam", "adamw"))
    with pytest.raises(ConfigError, match=r"pooling has unknown choice\(s\) \['min'\]"):
        ConvSpace((28, 28, 1), 10, pooling=("max", "min"))
    with pytest.raises(ConfigError, match=r"depth=3 must be a tuple of numbers"):
        DenseSpace((4,), 3, depth=3)
    with pytest.raises(ConfigError, match=r"activations='relu' must be a tuple of choices"):
        DenseSpace((4,), 3, activations="relu")
    assert DenseSpace((4,), 3, depth=[1, 2], optimizers=["rmsprop"]).depth == [1, 2]  # lists are fine
