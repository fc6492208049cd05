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
    r = mlprod.monitor(str(logs), baseline=train[[*NUM, CAT, "label"]], label="label", window="MS",
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
    assert before[before["metric"].isin(["drift:jsd", "drift:linf", "accuracy"])].empty, before
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
