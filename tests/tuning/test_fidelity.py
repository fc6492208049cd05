"""Compute-saving NAS: weight inheritance, Hyperband/ASHA over epochs and data, budgets per trial."""
import numpy as np
import pytest

import mlprod
from mlprod import datasets
from mlprod.errors import ConfigError
from mlprod.tuning import ASHAOracle, BudgetTuner, DenseSpace, RegularizedEvolutionOracle, inherit_weights
from mlprod.tuning.fidelity import rungs

FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
SPACE = DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 2), width=(8, 16, 8), batch_norm=(False,),
                   optimizers=("adam",), learning_rate=(3e-3, 3e-2))


@pytest.fixture(scope="module")
def penguins():
    df = datasets.penguins()
    return df[FEATURES].to_numpy("float32"), df["species"].to_numpy()


def test_inherit_weights_takes_every_matching_layer_from_both_ends(penguins):
    import keras_tuner as kt

    x, y = penguins
    hp = kt.HyperParameters()
    hp.values.update({"depth": 2, "units_0": 16, "units_1": 8, "dropout": 0.0})
    parent = SPACE.build(hp)
    parent.fit(x, y, epochs=2, verbose=0)
    hp.values["dropout"] = 0.2  # a mutation that keeps every shape: the whole network is inherited
    child = SPACE.build(hp)
    assert inherit_weights(child, parent) == 3
    for a, b in zip(child.get_weights(), parent.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    hp.values.update({"depth": 1, "dropout": 0.0})  # shallower: the first layer; the output layer's input differs
    shallow = SPACE.build(hp)
    assert inherit_weights(shallow, parent) == 1
    np.testing.assert_array_equal(shallow.layers[0].get_weights()[0], parent.layers[0].get_weights()[0])
    with pytest.raises(ConfigError, match="Keras model"):  # issue 27: a ConfigError, still a TypeError
        inherit_weights("not a model", parent)
    with pytest.raises(TypeError, match="Keras model or its layer_weights"):  # it was an AttributeError
        inherit_weights(child, "not a model")


def test_evolution_children_start_from_their_parents_trained_weights(penguins, tmp_path):
    """The weights a child has when its training starts are its parent's saved weights."""
    import keras
    import keras_tuner as kt

    x, y = penguins
    start: dict = {}
    oracle = RegularizedEvolutionOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=6,
                                        population_size=2, sample_size=1, seed=0, weight_inheritance=True)
    record: dict = {}
    tuner = BudgetTuner(oracle=oracle, hypermodel=SPACE.build, directory=str(tmp_path), project_name="evo",
                        inherited_epochs=1, record=record)

    def remember(model, epochs):  # a plain function: Keras Tuner deep-copies callbacks, not functions
        start[str(next(iter(tuner.oracle.ongoing_trials.values())).trial_id)] = (model.get_weights(), epochs)

    class AtStart(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            remember(self.model, self.params["epochs"])

    keras.utils.set_random_seed(0)
    tuner.search(x=x, y=y, validation_split=0.25, epochs=4, verbose=0, callbacks=[AtStart()])
    children = {c: p for c, p in oracle.parents.items() if c in record}
    assert len(children) >= 2
    for child, parent in children.items():
        assert record[child]["warm_start"] == parent and record[child]["inherited_layers"] >= 1
        assert start[child][1] == 1  # inherited_epochs, not the search's 4
        saved = tuner.load_model(oracle.get_trial(parent)).get_weights()
        # each inherited layer's kernel and bias are exactly arrays of the parent's trained model
        same = sum(any(a.shape == b.shape and np.array_equal(a, b) for b in saved) for a in start[child][0])
        assert same == 2 * record[child]["inherited_layers"]
    # a random trial (no parent) starts from fresh weights
    first = [t for t in record if t not in oracle.parents][0]
    assert record[first]["warm_start"] is None


def test_search_with_weight_inheritance_spends_fewer_epochs(penguins):
    kw = dict(strategy="evolution", max_trials=6, epochs=6, seed=0, progress=False, early_stopping=False,
              population_size=3, sample_size=2)
    inherit = mlprod.search(SPACE, penguins, weight_inheritance=True, **kw)
    kids = inherit.table[inherit.table["warm_start"].notna()]
    assert len(kids) == 3 and (kids["epochs"] == 2).all() and (kids["inherited_layers"] >= 1).all()
    assert inherit.table["budget"].sum() == 3 * 6 + 3 * 2  # plain evolution: 6 * 6
    # children continue a trained network: a 2-epoch child scores like a trained model, not a fresh one
    assert kids["score"].max() >= 0.9
    assert inherit.compute_curve()["epochs_spent"].iloc[-1] == 24


def test_asha_promotes_the_best_of_a_rung_without_waiting_for_it_to_fill(penguins):
    assert rungs(9, 3) == [1, 3, 9]
    r = mlprod.search(SPACE, penguins, strategy="asha", max_trials=8, epochs=9, seed=0, progress=False,
                      early_stopping=False)
    t = r.table.set_index("trial_id")
    assert list(t["hp.tuner/round"][:4]) == [0, 0, 0, 1]  # the 4th trial already promotes the best of 3
    promoted = t[t["warm_start"].notna()]
    assert len(promoted) >= 1
    for tid, row in promoted.iterrows():
        source = t.loc[row["warm_start"]]
        assert row["epochs"] == row["hp.tuner/epochs"] - row["hp.tuner/initial_epoch"]
        rivals = t[(t["hp.tuner/round"] == source["hp.tuner/round"]) & (t.index < tid)]
        assert source["score"] >= rivals["score"].median()  # among the best of its rung when promoted
        assert row["inherited_layers"] == row["hp.depth"] + 1  # the same network, continued
    assert t["budget"].sum() < 8 * 9


def test_hyperband_trains_each_trial_for_its_rung_and_over_data_subsets(penguins):
    r = mlprod.search(SPACE, penguins, strategy="hyperband", epochs=3, seed=0, progress=False, early_stopping=False)
    t = r.table
    assert (t["epochs"] == t["hp.tuner/epochs"] - t["hp.tuner/initial_epoch"]).all()  # not 3 epochs each
    assert t["budget"].sum() < len(t) * 3 and t["warm_start"].notna().any()
    d = mlprod.search(SPACE, penguins, strategy="hyperband", fidelity="data", max_resource=3, epochs=2, seed=0,
                      progress=False, early_stopping=False)
    assert sorted(set(np.round(d.table["fraction"], 4))) == [round(1 / 3, 4), 1.0]
    assert (d.table["epochs"] == 2).all()
    np.testing.assert_allclose(d.table["budget"], 2 * d.table["fraction"])
    a = mlprod.search(SPACE, penguins, strategy="asha", fidelity="data", max_trials=4, epochs=2, seed=0,
                      progress=False, early_stopping=False)
    assert list(np.round(a.table["fraction"], 4)) == [round(1 / 9, 4)] * 3 + [round(1 / 3, 4)]
    assert a.table["warm_start"].iloc[3] in set(a.table["trial_id"][:3])


def test_compute_saving_options_are_checked_up_front(penguins):
    with pytest.raises(ConfigError, match="weight_inheritance needs strategy='evolution'"):
        mlprod.search(SPACE, penguins, strategy="random", weight_inheritance=True)
    with pytest.raises(ConfigError, match="multi-fidelity"):
        mlprod.search(SPACE, penguins, strategy="random", fidelity="data")
    with pytest.raises(ConfigError, match="fidelity="):
        mlprod.search(SPACE, penguins, strategy="asha", fidelity="time")
    with pytest.raises(ConfigError, match="inherited_epochs"):
        mlprod.search(SPACE, penguins, strategy="evolution", weight_inheritance=True, inherited_epochs=0)
    with pytest.raises(ConfigError, match="eta"):
        rungs(9, eta=1)
    import keras_tuner as kt

    o = ASHAOracle(objective=kt.Objective("val_loss", "min"), max_resource=27, eta=3)
    assert o.rungs == [1, 3, 9, 27]
