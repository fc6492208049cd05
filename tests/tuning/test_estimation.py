"""Early termination from learning curves: the extrapolation, the stop rule, and real searches."""
import numpy as np
import pytest

import mlprod
from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.tuning import DenseSpace
from mlprod.tuning.estimation import extrapolate, hopeless, trial_callback, validation_noise

FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]


def test_extrapolation_recovers_a_saturating_curve_and_its_uncertainty():
    curve = [0.9 - 0.4 / t for t in range(1, 6)]
    pred, se = extrapolate(curve, 30)
    assert pred == pytest.approx(0.9 - 0.4 / 30) and se < 1e-9
    noisy = np.array(curve) + np.random.default_rng(0).normal(0, 0.02, len(curve))
    pred, se = extrapolate(noisy, 30)
    assert abs(pred - (0.9 - 0.4 / 30)) < 3 * se + 0.02 and se > 0
    with pytest.raises(DataError, match="at least 3"):
        extrapolate([0.5, 0.6], 10)


def test_extrapolation_errors_are_mlprod_errors_and_still_value_errors():
    """Issue 27: extrapolate raised plain ValueErrors; now DataError/ConfigError (both ValueErrors)."""
    with pytest.raises(ConfigError, match=r"horizon=2 .* pass horizon >= 3"):
        extrapolate([0.5, 0.6, 0.7], 2)
    with pytest.raises(DataError, match="NaN or infinite"):
        extrapolate([0.5, float("nan"), 0.7], 10)
    with pytest.raises(ValueError):  # code written against the old errors still catches them
        extrapolate([0.5], 10)


def test_stop_rule():
    rising = [0.40, 0.60, 0.70, 0.75]  # heading to ~0.9: may still beat 0.85
    assert hopeless(rising, 20, best=0.85, maximize=True) is None
    assert hopeless([0.30, 0.31, 0.30, 0.31], 20, best=0.85, maximize=True)  # flat and far below
    assert hopeless([0.30, 0.31], 20, best=0.85, maximize=True) is None  # too early to judge
    assert hopeless([0.30, 0.31, 0.30, 0.31], 20, best=None, maximize=True) is None  # nothing to beat yet
    assert hopeless([0.30, 0.31, 0.30, 0.31], 4, best=0.85, maximize=True) is None  # the trial is over
    assert hopeless([2.0, 1.9, 1.9, 1.9], 20, best=0.3, maximize=False)  # a loss: lower is better
    assert hopeless([0.5, 0.4, 0.35, 0.33], 20, best=0.6, maximize=False) is None


def test_stop_rule_allows_for_the_noise_of_a_small_validation_set():
    """Issue 25: after 3 epochs the fit was sure (0.6904 +- 0.0010) the trial would not beat 0.7094; it
    finished at 0.7222. On 200 validation rows an accuracy is uncertain by ~3 points, so it must go on."""
    curve = [0.6700, 0.6830, 0.6870]  # levelling off: the fit's own scatter is ~0
    pred, se = extrapolate(curve, 8)
    assert 0.68 < pred < 0.70 and se < 0.002
    assert hopeless(curve, 8, best=0.7094, maximize=True)  # the fit alone: stopped (the bug)
    assert hopeless(curve, 8, best=0.7094, maximize=True, validation_rows=200) is None
    assert hopeless(curve, 8, best=0.7094, maximize=True, validation_rows=100_000)  # a big set: noise is small
    why = hopeless([0.30, 0.31, 0.30, 0.31], 20, best=0.85, maximize=True, validation_rows=200)
    assert why and "validation noise ± 0.03" in why and "on 200 rows" in why  # hopeless ones still stop
    assert validation_noise(0.7, 200) == pytest.approx((0.7 * 0.3 / 200) ** 0.5, rel=0.02)
    assert validation_noise(1.0, 60) > 0.02  # a perfect score on 60 rows is not certain


@pytest.fixture(scope="module")
def penguins():
    df = datasets.penguins()
    return df[FEATURES].to_numpy("float32"), df["species"].to_numpy()


def _fit(penguins, optimizer, best, epochs=20):
    import keras

    x, y = penguins
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    record: dict = {}
    cb = trial_callback("val_accuracy", epochs, lambda: best, lambda: "t", record, terminate=True)
    hist = model.fit(x, y, validation_split=0.3, epochs=epochs, verbose=0, callbacks=[cb])
    return record["t"], hist.history["val_accuracy"]


def test_a_hopeless_real_training_is_stopped_and_a_promising_one_is_not(penguins):
    import keras

    slow, curve = _fit(penguins, keras.optimizers.SGD(1e-5), best=0.95)
    assert slow["stopped"] and slow["epochs"] < 20 and max(curve) < 0.95  # truly worse on what it saw
    good, curve = _fit(penguins, keras.optimizers.Adam(3e-2), best=0.5)
    assert good["stopped"] is None and good["epochs"] == 20 and max(curve) > 0.5


def test_search_with_early_termination_spends_fewer_epochs_and_explains_stops(penguins):
    space = DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 1), width=(8, 16, 8), batch_norm=(False,),
                       optimizers=("adam", "sgd"), learning_rate=(1e-5, 3e-2), dropout=(0.0, 0.0))
    kw = dict(strategy="random", max_trials=6, epochs=12, seed=3, early_stopping=False, progress=False)
    full = mlprod.search(space, penguins, **kw)
    cut = mlprod.search(space, penguins, early_termination=True, **kw)
    assert (full.table["epochs"] == 12).all() and full.table["stopped"].isna().all()
    stopped = cut.table[cut.table["stopped"].notna()]
    assert len(stopped) >= 1 and (stopped["epochs"] < 12).all()
    assert stopped["stopped"].str.contains("would not beat").all()
    assert stopped["stopped"].str.contains("validation noise .* on 66 rows").all()  # the search passed its rows
    assert (stopped["score"] < cut.table["score"].max()).all()  # each stopped trial was behind on what it saw
    assert cut.table["epochs"].sum() < full.table["epochs"].sum()
    # the same draws (same seed): the best trial is not lost by stopping the others
    assert cut.table["score"].max() >= full.table["score"].max() - 0.05
