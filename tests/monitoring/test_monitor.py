"""The taxi months replayed through the real server; a shift injected at 2015-01 is found.

Train on 2013, serve, replay 2014-2015 as REST requests (raw features + the trip's time), feed
labels back one month late, and from 2015-01 on: trip_miles arrive in kilometres (covariate
shift) and credit-card riders tip the other way (concept drift)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlprod
from mlprod import datasets
from mlprod.serving import replay

NUM = ["trip_miles", "fare", "trip_seconds"]
CAT = "payment_type"
SHIFT = pd.Period("2015-01", "M")


def export(train: pd.DataFrame, path) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    x = np.log1p(np.clip(train[NUM].to_numpy(np.float32), 0, None))
    norm = tf.keras.layers.Normalization()
    norm.adapt(x)
    lookup = tf.keras.layers.StringLookup(vocabulary=sorted(train[CAT].unique()), output_mode="one_hot")
    num_in, cat_in = tf.keras.Input((len(NUM),)), tf.keras.Input((1,), dtype=tf.string)
    h = tf.keras.layers.concatenate([norm(tf.math.log1p(tf.maximum(num_in, 0.0))), lookup(cat_in)])
    out = tf.keras.layers.Dense(2, activation="softmax")(tf.keras.layers.Dense(16, activation="relu")(h))
    model = tf.keras.Model([num_in, cat_in], out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit([train[NUM].to_numpy(np.float32), train[[CAT]].to_numpy()], train["label"].to_numpy(),
              epochs=15, batch_size=64, verbose=0)
    spec = {f: tf.io.FixedLenFeature([], tf.float32, default_value=0.0) for f in NUM}
    spec[CAT] = tf.io.FixedLenFeature([], tf.string, default_value="")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples: tf.Tensor) -> dict:
        f = tf.io.parse_example(examples, spec)
        return {"outputs": model([tf.stack([f[n] for n in NUM], 1), tf.reshape(f[CAT], [-1, 1])])}

    model.save(str(path), save_format="tf", signatures={"serving_default": serve})


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    df = datasets.chicago_taxi().sort_values("trip_start_timestamp")
    df = df[[*NUM, CAT, "tips", "trip_start_timestamp"]].dropna().reset_index(drop=True)
    df["label"] = (df.tips > 0.2 * df.fare).astype(int)
    df["month"] = pd.to_datetime(df.trip_start_timestamp, unit="s").dt.to_period("M")
    train = df[df.month < "2014-01"]
    root = tmp_path_factory.mktemp("loop")
    export(train, root / "models" / "1")
    logs = root / "logs"
    with mlprod.serve(str(root / "models"), model_name="taxi", rest_port=0, grpc_port=None, batching=True,
                      log_dir=str(logs), log_flush_interval_s=0.1) as srv:
        pending = None
        for m in pd.period_range("2014-01", "2015-12", freq="M"):
            w = df[df.month == m].copy()
            if m >= SHIFT:
                w["trip_miles"] *= 1.609
                cc = w[CAT] == "Credit Card"
                w.loc[cc, "label"] = 1 - w.loc[cc, "label"]
            out = replay(srv.rest_url, w[[*NUM, CAT, "trip_start_timestamp", "label"]], model="taxi", label="label",
                         id_prefix=str(m))
            assert out.failed == [] and out.sent == len(w)
            labels = {k: int(v) for k, v in out.labels.items()}
            if pending:
                mlprod.log_feedback(str(logs), pending)  # labels arrive one month late
            pending = labels
    return train, logs


def test_shift_is_found_and_stable_months_raise_no_alarm(replayed):
    train, logs = replayed
    r = mlprod.monitor(str(logs), reference=train[[*NUM, CAT, "label"]], label="label", window="MS",
                       time_column="trip_start_timestamp", time_unit="s", features=[*NUM, CAT],
                       reference_windows=3, max_accuracy_drop=0.08, skew=False)
    w = r.windows
    assert len(w) == 24 and (w["rows"] > 250).all()
    shift = w.index[pd.to_datetime(w["start"]).dt.strftime("%Y-%m") == "2015-01"][0]
    first = f"{shift:03d}"
    drift = r.alerts[(r.alerts["metric"] == "drift:jsd") & (r.alerts["feature"] == "trip_miles")]
    assert drift["window"].min() == first  # the covariate shift, in its first window, before any label
    accuracy = r.alerts[r.alerts["metric"] == "accuracy"]
    assert accuracy["window"].min() == first and len(accuracy) >= 8  # measured decay once labels come
    before = r.alerts[r.alerts["window"] < first]
    assert before[before["metric"].isin(["drift:jsd", "drift:linf", "accuracy", "estimated_accuracy"])].empty, before
    assert set(accuracy["reference"]) == {f"accuracy {r.reference_accuracy:.4f} (windows 000-002)"}
    acc = r.series("accuracy")
    assert acc[acc["window"] < first]["value"].min() > 0.84 and acc[acc["window"] >= first]["value"].mean() < 0.8
    assert r.series("estimated_accuracy")["value"].between(0.7, 1).all()
    html = r.to_html()
    assert "mlprod monitoring" in html and html.count("<img") >= 6
    ax = r.plot_accuracy()  # Figure 11: the alarm at the shift's window
    alarms = [ln.get_label() for ln in ax.get_lines() if ln.get_label().startswith("alarm")]
    assert alarms == ["alarm: accuracy, drift:jsd trip_miles"] and not any("serves" in ln.get_label()
                                                                           for ln in ax.get_lines())


def test_bad_inputs(replayed):
    train, logs = replayed
    with pytest.raises(mlprod.DataError, match="not in the logged requests"):
        mlprod.monitor(str(logs), features=["nope"])
    with pytest.raises(mlprod.ConfigError, match="window"):
        mlprod.monitor(str(logs), window="fortnightly", features=NUM)
    with pytest.raises(mlprod.DataError, match="no request logs"):
        mlprod.monitor(str(logs / "missing"))


def test_without_a_baseline_drift_uses_a_schema_from_the_first_window(replayed):
    _, logs = replayed
    r = mlprod.monitor(str(logs), window=2000, features=NUM)
    drift = r.table[r.table["metric"] == "drift:jsd"]
    assert set(drift["feature"]) == set(NUM) and r.table["metric"].str.startswith("skew").sum() == 0


def weather(seed: int = 0) -> pd.DataFrame:
    """Three years of daily weather: temperatures on a yearly sinusoid, humidity too, rain from humidity."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2013-01-01", "2015-12-31", freq="D")
    season = np.sin(2 * np.pi * (days.dayofyear.to_numpy() - 105) / 365.25)
    temp_max = 15 + 10 * season + rng.normal(0, 3, len(days))
    humidity = np.clip(60 - 10 * season + rng.normal(0, 12, len(days)), 0, 100)
    return pd.DataFrame({"date": days, "temp_max": temp_max, "temp_min": temp_max - 8 + rng.normal(0, 2, len(days)),
                         "humidity": humidity, "label": (humidity + rng.normal(0, 4, len(days)) > 70).astype(int)})


WEATHER = ["temp_max", "temp_min", "humidity"]


@pytest.fixture(scope="module")
def seasonal():
    """Train on 2013, serve 2014-2015 daily; from 2015-07 the humidity sensor reads 40% low (a real shift)."""
    from sklearn.linear_model import LogisticRegression

    df = weather()
    train = df[df.date < "2014-01-01"]
    model = LogisticRegression().fit(train[["humidity"]], train["label"])
    served = df[df.date >= "2014-01-01"].copy()
    shifted = served.date >= "2015-07-01"
    served.loc[shifted, "humidity"] *= 0.6
    served["_prediction"] = list(model.predict_proba(served[["humidity"]]))
    return train, served


def test_seasonal_data_against_the_training_year_alarms_every_month(seasonal):
    train, served = seasonal
    r = mlprod.monitor(served, reference=train, label="label", window="MS", time_column="date", features=WEATHER)
    skew = r.alerts[r.alerts["metric"].str.startswith("skew")]
    for feature in ("temp_max", "temp_min"):  # the issue's symptom: every compared month alerts
        assert skew[skew["feature"] == feature]["window"].nunique() == 22
    assert set(skew["reference"]) == {"training data"}
    # the Februaries (28 daily rows < min_window_rows=30) are reported, not silently left out
    assert list(r.skipped[r.skipped["check"] == "all"]["window"]) == ["001", "013"]
    assert r.skipped["reason"].str.contains("28 rows < min_window_rows=30").all()
    assert any("not compared (001, 013)" in n for n in r.notes) and "2 skipped" in repr(r)
    assert "Not compared" in r.to_html()


def test_previous_cycle_reference_raises_no_seasonal_alarm_and_catches_a_real_shift(seasonal):
    train, served = seasonal
    r = mlprod.monitor(served, reference=train, label="label", window="MS", time_column="date", features=WEATHER,
                       against="previous_cycle", period="1Y")
    start = pd.to_datetime(r.windows["start"])
    shift = f"{int(np.flatnonzero(start.dt.strftime('%Y-%m') == '2015-07')[0]):03d}"
    assert r.alerts[r.alerts["window"] < shift].empty, r.alerts  # no alarm of any kind before the shift
    humidity = r.alerts[(r.alerts["metric"] == "skew:jsd") & (r.alerts["feature"] == "humidity")]
    assert humidity["window"].min() == shift and humidity["window"].nunique() == 6  # every shifted month
    assert humidity["reference"].iloc[0] == "previous cycle (1Y): 2014-07-01 to 2014-08-01, 31 rows"
    # the first year is held to the training year's same month (the baseline has the date column)
    jan = r.table[(r.table["window"] == "000") & (r.table["metric"] == "skew:jsd")]
    assert set(jan["reference"]) == {"previous cycle (1Y): 2013-01-01 to 2013-02-01, 31 rows"}
    # no predictions a year before the first year: its accuracy checks are skipped and say why
    first_year = r.skipped[(r.skipped["window"] < "012") & (r.skipped["check"] == "accuracy")]
    assert len(first_year) == 11 and first_year["reason"].str.contains("0 requests one cycle").all()
    assert r.table["metric"].str.startswith("drift").sum() == 0 and any("drift" in n for n in r.notes)
    assert r.against == "previous_cycle (1Y)"


def test_rolling_reference_names_the_windows_it_rolls_over(seasonal):
    train, served = seasonal
    r = mlprod.monitor(served, label="label", window="MS", time_column="date", features=WEATHER,
                       against="rolling", reference_windows=2, drift=False)
    refs = r.table[(r.table["window"] == "003") & (r.table["metric"] == "skew:jsd")]["reference"]
    assert set(refs) == {"rolling: windows 000-002, 62 rows"}  # 001 (February) was not compared
    assert r.skipped[r.skipped["window"] == "000"]["reason"].str.contains("no earlier window").all()
    with pytest.raises(mlprod.ConfigError, match="against="):
        mlprod.monitor(served, window="MS", time_column="date", features=WEATHER, against="last_year")
    with pytest.raises(mlprod.ConfigError, match="period"):
        mlprod.monitor(served, window="MS", time_column="date", features=WEATHER, against="rolling", period="1Y")
    with pytest.raises(mlprod.ConfigError, match="calendar period"):
        mlprod.monitor(served, window="MS", time_column="date", features=WEATHER, against="previous_cycle",
                       period="yearly")


def test_an_over_confident_model_losing_confidence_raises_the_estimated_accuracy_alert():
    """Estimated accuracy is held to the reference's estimate, not to its measured accuracy."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    n = 3000
    df = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=n, freq="h"), "humidity": rng.normal(50, 15, n)})
    df["label"] = (df["humidity"] + rng.normal(0, 6, n) > 60).astype(float)
    model = LogisticRegression().fit(df[["humidity"]][:1000], df["label"][:1000])
    late = df.index >= 2000  # requests move onto the decision boundary: the model is less sure
    df.loc[late, "humidity"] = rng.normal(60, 6, late.sum())
    p = 1 / (1 + np.exp(-3 * model.decision_function(df[["humidity"]])))  # logits x3: over-confident
    df["_prediction"] = list(np.column_stack([1 - p, p]))
    df.loc[df.index >= 500, "label"] = np.nan  # labels came back for the first window only
    r = mlprod.monitor(df, label="label", window=500, time_column="t", features=["humidity"], drift=False)
    assert r.reference_estimated_accuracy > r.reference_accuracy + 0.04  # confident beyond its accuracy
    est = r.series("estimated_accuracy")
    assert not est["alert"].iloc[:4].any() and est["alert"].iloc[4:].all()
    # the old comparison, estimate against measured accuracy, would not have alerted
    assert (est["value"].iloc[4:] > r.reference_accuracy - 0.05).all()
    alerts = r.alerts[r.alerts["metric"] == "estimated_accuracy"]
    assert alerts["reference"].str.startswith(f"estimated {r.reference_estimated_accuracy:.4f} (window 000)").all()
