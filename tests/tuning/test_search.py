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
    r = mlprod.search(SPACE, (x, y), strategy=strategy, max_trials=3, epochs=3, seed=0, verbose=False, **kw)
    import tf_keras

    assert isinstance(r.best_model, tf_keras.Model)
    done = r.trials[r.trials["status"] == "COMPLETED"]
    assert 1 <= len(done) and (strategy == "hyperband" or len(r.trials) <= 3)
    best = done["score"].max()
    assert best > 0.3
    # the tf_keras copy carries the searched weights: it scores like the best trial on validation data
    assert r.best_model.count_params() == int(r.trials.set_index("trial_id").loc[done.loc[done["score"].idxmax(),
                                                                                  "trial_id"], "params"])
    assert "<img" in r._repr_html_()


def test_deterministic_given_a_seed(penguins):
    x, y = penguins
    a = mlprod.search(SPACE, (x, y), strategy="random", max_trials=2, epochs=2, seed=3, verbose=False)
    b = mlprod.search(SPACE, (x, y), strategy="random", max_trials=2, epochs=2, seed=3, verbose=False)
    assert a.best_hyperparameters == b.best_hyperparameters
    np.testing.assert_allclose(a.trials["score"], b.trials["score"], atol=1e-6)


def test_size_budget_picks_a_model_that_fits(penguins):
    x, y = penguins
    r = mlprod.search(SPACE, (x, y), strategy="random", max_trials=4, epochs=2, max_params=400, seed=1,
                      verbose=False)
    assert r.best_model.count_params() <= 400
    assert (r.trials.loc[r.trials["fits_budget"], "params"] <= 400).all()


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
                      verbose=False)
    assert len(r.trials) == 1  # the budget ran out after the first trial
    r = mlprod.search(SPACE, (x, y), strategy="random", max_trials=2, epochs=1, max_tflite_bytes=10**6,
                      verbose=False)
    assert r.trials["tflite_bytes"].notna().all() and r.trials["fits_budget"].all()

    import keras_tuner as kt

    def flaky(hp):  # a custom build(hp) where one variant crashes
        if hp.Choice("variant", ["ok", "crash"]) == "crash":
            raise ValueError("this architecture does not build")
        return SPACE.build(kt.HyperParameters())

    r = mlprod.search(flaky, (x, y), strategy="grid", max_trials=2, epochs=1, seed=0, verbose=False)
    assert {"FAILED", "COMPLETED"} <= set(r.trials["status"])  # recorded as failed, the search went on
    with pytest.raises(ConfigError, match="cannot build"):  # checked before any trial
        mlprod.search(lambda hp: SPACE.build(hp) if False else 1 / 0, (x, y), verbose=False)


def test_a_search_on_unscaled_features_says_why_it_scores_chance(tmp_path):
    """Issue 13: a search on unscaled features scored chance with no hint."""
    import glob
    import tempfile

    df = datasets.chicago_taxi().dropna(subset=["trip_seconds", "trip_miles", "fare"]).head(600)
    x = df[["trip_start_timestamp", "trip_seconds", "fare"]].to_numpy("float32")  # 1e9, 1e3, 1e1
    y = (df["tips"] > 0).to_numpy().astype("int64")
    r = mlprod.search(DenseSpace((3,), 2, depth=(1, 1), width=(8, 8, 8), optimizers=("sgd",)), (x, y),
                      max_trials=1, epochs=1, verbose=False)
    assert any("unscaled" in n and "standardize" in n for n in r.notes), r.notes
    # a search that fails before any trial leaves no mlprod-search-* folder behind
    before = set(glob.glob(f"{tempfile.gettempdir()}/mlprod-search-*"))
    with pytest.raises(DataError):
        mlprod.search(DenseSpace((3,), 2), (x, y[:10]), max_trials=1, epochs=1, verbose=False)
    assert set(glob.glob(f"{tempfile.gettempdir()}/mlprod-search-*")) == before


def test_labels_outside_num_classes_name_the_first_trials_error(penguins):
    """Issue 25: labels >= num_classes ended with a bare 'no trial completed' and, verbose=False, no trace of why."""
    x, y = penguins
    space = DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 1), width=(8, 8, 8), optimizers=("adam",))
    with pytest.raises(DataError, match=r"no trial completed\. The first failed trial \(0\) raised: .*InvalidArgument"
                                        r".*label value of 5 which is outside the valid range of \[0, 3\)"):
        mlprod.search(space, (x, y + 3), max_trials=1, epochs=1, verbose=False)


def test_strategies_come_from_one_registry_and_an_oracle_instance_is_taken_as_is(penguins):
    """search(strategy=...) takes a registered name or a Keras Tuner Oracle; the rules on which
    options go with which strategy are the registry's (issue 27)."""
    import keras_tuner as kt

    from mlprod.tuning import STRATEGIES, Strategy, check_strategy, register
    from mlprod.tuning.strategies import STRATEGIES as REGISTRY

    assert set(STRATEGIES) == set(REGISTRY)
    x, y = penguins
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=2, seed=0)
    r = mlprod.search(SPACE, (x, y), strategy=oracle, max_trials=2, epochs=1, verbose=False)
    assert r.strategy == "RandomSearchOracle" and len(r.trials) == 2
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
    r = mlprod.search(SPACE, (train, val), max_trials=1, epochs=1, verbose=False, early_termination=True)
    assert len(r.trials) == 1 and r.trials["status"].iloc[0] == "COMPLETED"
