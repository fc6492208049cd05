"""Edge optimization on real digits: real size/accuracy relations on the TFLite interpreter."""
import numpy as np
import pytest

import mlprod
from mlprod.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    y = d.target.astype("int64")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    return x[idx[:1400]], y[idx[:1400]], x[idx[1400:]], y[idx[1400:]]


@pytest.fixture(scope="module")
def model(digits):
    import tf_keras as keras

    x, y, _, _ = digits
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(64,)),
                          keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=15, batch_size=32, verbose=0)
    return m


@pytest.fixture(scope="module")
def result(model, digits):
    return mlprod.optimize(model, digits, techniques=["float", "dynamic", "int8", "qat", "prune_int8", "cluster"],
                           fine_tune_epochs=2, latency_samples=50, max_accuracy_drop=0.03, progress=False)


def _row(result, name):
    return result.table.set_index("technique").loc[name]


def test_sizes_and_accuracy_relations(result):
    t = result.table
    # measured models within max_accuracy_drop=0.03 (3 points) are ok, the others too_lossy (prune_int8 at 80%
    # sparsity after 2 epochs loses ~12 points here: it said "ok" before issue 25); digits are scaled, so no word
    # on scaling. accuracy_drop is a fraction (issue 27: it was points), the Keras accuracy minus the model's
    assert (t["status"] == np.where(t["accuracy_drop"] <= 0.03, "ok", "too_lossy")).all(), t[["technique", "note"]]
    keras_acc = _row(result, "keras")["accuracy"]
    np.testing.assert_allclose(t["accuracy_drop"], keras_acc - t["accuracy"])
    assert not t["note"].fillna("").str.contains("unscaled").any()
    fl, i8 = _row(result, "float"), _row(result, "int8")
    assert i8["size_bytes"] * 2 < fl["size_bytes"]  # int8 weights (~4x on weights; fixed overhead on this tiny model)
    assert abs(fl["accuracy"] - _row(result, "keras")["accuracy"]) < 1e-9  # float TFLite == Keras
    assert i8["accuracy_drop"] < 0.03
    assert _row(result, "qat")["accuracy_drop"] < 0.03
    pr = _row(result, "prune_int8")
    assert pr["sparsity"] >= 0.75 and pr["gzip_bytes"] < i8["gzip_bytes"]  # zeros compress
    assert result.best(max_accuracy_drop=0.03) in set(result.table["technique"])
    assert "<img" in result._repr_html_()


def test_interpreter_agrees_with_keras(model, digits, result):
    from mlprod._tflite import run_tflite

    _, _, x, _ = digits
    keras_probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(run_tflite(result.models["float"], x), keras_probs, atol=1e-5)
    int8 = run_tflite(result.models["int8"], x)
    assert np.mean(np.argmax(int8, 1) == np.argmax(keras_probs, 1)) > 0.95


def test_save_writes_models_atomically(result, tmp_path):
    paths = result.save(tmp_path / "models")
    assert paths["int8"].stat().st_size == len(result.models["int8"])
    assert (tmp_path / "models" / "metrics.csv").is_file()
    # the result protocol (issue 27): {name: path} with the table and the report, which save() writes by default
    assert paths["table"] == (tmp_path / "models" / "metrics.csv").absolute() and paths["report"].is_file()
    assert set(paths) == set(result.models) | {"table", "report"}


def test_result_protocol_plot_and_passing(result):
    """Issue 27: OptimizeResult has .plot() (size vs accuracy) and passing() (a DataFrame; blessed() is deprecated)."""
    ax = result.plot()
    assert ax.get_xlabel() == "model size (KiB, log)" and ax.get_ylabel() == "accuracy"
    measured = result.table["accuracy"].notna().sum()
    assert sum(len(c.get_offsets()) for c in ax.collections) == 2 * measured  # on disk and gzip, every model
    assert {t.get_text() for t in ax.texts} == set(result.table.loc[result.table["accuracy"].notna(), "technique"])
    passing = result.passing()
    assert set(passing["technique"]) == set(result.table.query("status == 'ok' and technique != 'keras'")["technique"])
    assert (passing["accuracy_drop"] <= 0.03 + 1e-9).all() and result.max_accuracy_drop == 0.03
    assert "max_accuracy_drop=0.03" in result.to_html()


def test_techniques_as_a_string_or_a_list():
    from mlprod.optimization import technique_names

    assert technique_names("float, int8") == technique_names(["float", "int8"]) == ["float", "int8"]
    assert technique_names('["qat", "prune"]') == ["qat", "prune"]  # how EdgeOptimizer stores a list
    for bad in ("int4", "", [], ["float", 3], 5, "[float"):
        with pytest.raises(ConfigError):
            technique_names(bad)


def test_bad_inputs_fail_before_training(model, digits):
    x, y, xt, yt = digits
    with pytest.raises(ConfigError, match="tf_keras model"):
        mlprod.optimize(object(), digits)
    with pytest.raises(ConfigError, match="unknown technique"):
        mlprod.optimize(model, digits, techniques=["int4"])
    with pytest.raises(ConfigError, match="sparsity"):
        mlprod.optimize(model, digits, techniques=["prune"], sparsity=1.5)
    with pytest.raises(DataError, match="shape"):
        mlprod.optimize(model, (x[:, :10], y, xt[:, :10], yt), techniques=["int8"])


def test_a_failing_technique_does_not_stop_the_others(model, digits):
    x, y, xt, yt = digits
    # labels outside the model's 10 classes: fine-tuning fails, conversion without training does not
    r = mlprod.optimize(model, (x, y + 10, xt, yt), techniques=["float", "qat"], progress=False, latency_samples=5)
    t = r.table.set_index("technique")
    assert t.loc["float", "status"] == "ok" and t.loc["qat", "status"] == "failed"
    assert t.loc["qat", "note"]


def test_save_keeps_foreign_files_and_refuses_to_overwrite_them(result, tmp_path, monkeypatch):
    """Issue 15: save() replaced the whole folder; --output . failed with a raw OSError."""
    import os
    import stat

    out = tmp_path / "models"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result.save(out)  # the report is written by default (the result protocol)
    assert (out / "notes.txt").read_text() == "mine" and (out / "report.html").is_file()
    assert stat.S_IMODE(os.stat(out / "report.html").st_mode) == 0o666 & ~_umask()  # not mkstemp's 0600
    result.save(out, report=False)  # a second save replaces what the first wrote (report.html was ours: removed)
    assert (out / "notes.txt").read_text() == "mine" and not (out / "report.html").exists()
    (out / "int8.tflite").write_text("someone else's file")  # changed since mlprod wrote it: not ours any more
    before = sorted(os.listdir(out))
    with pytest.raises(ConfigError, match="mlprod did not write"):
        result.save(out, report=False)
    assert sorted(os.listdir(out)) == before and (out / "int8.tflite").read_text() == "someone else's file"
    monkeypatch.chdir(tmp_path / "models")
    (out / "int8.tflite").unlink()
    paths = result.save(".", report=False)  # the current folder works too, beside the files already there
    assert paths["int8"].is_file() and (out / "notes.txt").is_file()
    assert not [p for p in os.listdir(out) if p.startswith(".mlprod-tmp")]


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_nonfinite_calibration_data_fails_only_its_rows(model, digits):
    """Issue 15: int8 with inf in the calibration data killed the process (status 139)."""
    x, y, xt, yt = digits
    x = x.copy()
    x[3, 5] = np.inf
    r = mlprod.optimize(model, (x, y, xt, yt), techniques=["float", "int8"], progress=False, latency_samples=5)
    t = r.table.set_index("technique")
    assert t.loc["float", "status"] == "ok"
    assert t.loc["int8", "status"] == "failed" and "1 NaN/inf values" in t.loc["int8", "note"]
    with pytest.raises(DataError, match="test data holds 1 NaN/inf"):
        xt2 = xt.copy()
        xt2[0, 0] = np.nan
        mlprod.optimize(model, (x, y, xt2, yt), techniques=["float"], progress=False)
    with pytest.raises(DataError, match="looks one-hot"):
        mlprod.optimize(model, (x, np.eye(10)[y], xt, yt), techniques=["float"], progress=False)


def test_dynamic_range_on_a_small_model_says_why_the_size_did_not_change(result):
    note = _row(result, "dynamic")["note"]
    assert "1024 elements" not in note  # 64x64 weights: this model is big enough to quantize
    import tf_keras as keras

    small = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(4,)), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = np.arange(40) % 3
    r = mlprod.optimize(small, (x, y, x, y), techniques=["float", "dynamic"], progress=False, latency_samples=5)
    assert "1024 elements" in r.table.set_index("technique").loc["dynamic", "note"]


PENGUIN_FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]


def _penguins_in_their_units():
    """Penguins in mm and g (the bundled copy is min-max scaled; these are the data's own ranges), shuffled."""
    from mlprod import datasets

    df = datasets.penguins()
    lo, hi = np.array([32.1, 13.1, 172.0, 2700.0]), np.array([59.6, 21.5, 231.0, 6300.0])
    x = (df[PENGUIN_FEATURES].to_numpy() * (hi - lo) + lo).astype("float32")
    idx = np.random.default_rng(0).permutation(len(x))
    return x[idx], df["species"].to_numpy()[idx]


def _penguin_model(x, y):
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.layers.Normalization(input_shape=(4,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])
    m.layers[0].adapt(x)
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=20, batch_size=32, verbose=0)
    return m


def test_int8_on_unscaled_inputs_is_too_lossy_and_says_why():
    """Issue 25: int8 on unscaled features dropped 76 accuracy points and reported status 'ok'."""
    x, y = _penguins_in_their_units()
    data = (x[:260], y[:260], x[260:], y[260:])
    r = mlprod.optimize(_penguin_model(x[:260], y[:260]), data, techniques=["float", "int8", "dynamic"],
                        max_accuracy_drop=0.02, latency_samples=5, progress=False)
    t = r.table.set_index("technique")
    assert t.loc["int8", "accuracy_drop"] > 0.02  # the Normalization layer inside does not save it
    assert t.loc["int8", "status"] == "too_lossy"
    note = t.loc["int8", "note"]
    drop = t.loc["int8", "accuracy_drop"]
    assert f"fell {drop * 100:.1f} points (accuracy_drop={drop:.3f})" in note and "max_accuracy_drop=0.02" in note
    assert "inputs are unscaled" in note and "column 3 (2.85e+03..6.3e+03) dominates" in note
    assert "column 1 (13.1..21.5) spans 0.3" in note and "standardize" in note
    assert t.loc["float", "status"] == "ok" and t.loc["dynamic", "status"] == "ok"  # activations in float
    assert r.best() in ("float", "dynamic") and "int8" not in set(r.passing()["technique"])

    # the same data z-scored before the model: int8 keeps the accuracy, and nothing is said about scaling
    mean, std = x[:260].mean(0), x[:260].std(0)
    z = ((x - mean) / std).astype("float32")
    r = mlprod.optimize(_penguin_model(z[:260], y[:260]), (z[:260], y[:260], z[260:], y[260:]),
                        techniques=["int8"], max_accuracy_drop=0.02, latency_samples=5, progress=False)
    row = r.table.set_index("technique").loc["int8"]
    assert row["status"] == "ok" and row["accuracy_drop"] <= 0.02 and "unscaled" not in str(row["note"])
