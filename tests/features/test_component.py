"""FeatureExampleGen in a real TFX pipeline (LocalDagRunner): taxi features per community area in
Feast -> point-in-time examples split as ExampleGen splits -> StatisticsGen and SchemaGen read them."""
import gzip
import os

import pandas as pd
import pytest

from mlprod import datasets
from mlprod.features import FeatureRepo


def taxi_features(tmp_path, trips=400):
    """Daily per-community-area aggregates of the bundled taxi trips (known at the day's end) in a
    feature repo, and a Parquet file of trips to label (area, start time, big_tipper)."""
    taxi = datasets.chicago_taxi().dropna(subset=["pickup_community_area", "fare"])
    taxi["area"] = taxi["pickup_community_area"].astype("int64")
    taxi["ts"] = pd.to_datetime(taxi["trip_start_timestamp"], unit="s", utc=True)
    daily = (taxi.groupby(["area", taxi["ts"].dt.floor("D")])
             .agg(mean_fare=("fare", "mean"), trips=("fare", "size"), mean_miles=("trip_miles", "mean"))
             .reset_index())
    daily["ts"] += pd.Timedelta("1D")  # a day's aggregate is known when the day is over
    repo = FeatureRepo(tmp_path / "features")
    repo.define("area_daily", daily, entity="area", timestamp="ts", ttl="30D")
    rows = taxi.sample(trips, random_state=0)
    entity = pd.DataFrame({"area": rows["area"], "event_timestamp": rows["ts"],
                           "big_tipper": (rows["tips"] > 0.2 * rows["fare"]).astype("int64")})
    path = tmp_path / "trips.parquet"
    entity.to_parquet(path, index=False)
    return repo, path, daily


def _records(folder):
    import tensorflow as tf

    files = [os.path.join(folder, f) for f in os.listdir(folder)]
    assert files and all(f.endswith(".gz") for f in files)
    with gzip.open(files[0]) as f:  # really gzip, as ExampleGen writes
        f.read(1)
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_feature_example_gen_in_a_pipeline_feeds_statistics_gen(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfx
    from tfx.types import artifact_utils

    from mlprod.components import FeatureExampleGen

    repo, trips, daily = taxi_features(tmp_path)
    refs = ["area_daily:mean_fare", "area_daily:trips", "area_daily:mean_miles"]
    gen = FeatureExampleGen(repo=repo.path, entity_df=trips, features=refs)
    stats = tfx.components.StatisticsGen(examples=gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=stats.outputs["statistics"])
    db = str(tmp_path / "metadata.sqlite")
    pipeline = tfx.dsl.Pipeline(pipeline_name="features", pipeline_root=str(tmp_path / "root"),
                                components=[gen, stats, schema], enable_cache=False,
                                metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(db))
    tfx.orchestration.LocalDagRunner().run(pipeline)

    store = metadata_store.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(db))
    [examples] = store.get_artifacts_by_type("Examples")
    props = examples.custom_properties
    assert props["feature_references"].string_value == ",".join(refs)
    assert props["registry_version"].string_value == repo.registry_version()
    assert props["train_rows"].int_value == 320 and props["eval_rows"].int_value == 80
    assert artifact_utils.decode_split_names(examples.properties["split_names"].string_value) == ["train", "eval"]

    train = _records(os.path.join(examples.uri, "Split-train"))
    held = _records(os.path.join(examples.uri, "Split-eval"))
    assert (len(train), len(held)) == (320, 80)
    names = set().union(*(e.features.feature.keys() for e in train))
    assert names == {"area", "event_timestamp", "big_tipper", "mean_fare", "trips", "mean_miles"}
    # point in time: every example's features are an earlier day's (never the trip's own day), within the TTL
    got = pd.DataFrame({"area": [e.features.feature["area"].int64_list.value[0] for e in train],
                        "when": pd.to_datetime([e.features.feature["event_timestamp"].bytes_list.value[0].decode()
                                                for e in train], utc=True, format="ISO8601"),
                        "mean_fare": [e.features.feature["mean_fare"].float_list.value[0]
                                      if "mean_fare" in e.features.feature else float("nan") for e in train]})
    expected = pd.merge_asof(got.reset_index().sort_values("when"), daily.sort_values("ts"), left_on="when",
                             right_on="ts", by="area", tolerance=pd.Timedelta("30D")).sort_values("index")
    pd.testing.assert_series_equal(got["mean_fare"], expected["mean_fare_y"].set_axis(got.index), rtol=1e-6,
                                   check_names=False)
    missing = sum("mean_fare" not in e.features.feature for e in train + held)
    assert 0 < missing < 400  # some trips have no recent aggregate: left out, not zero

    [statistics] = store.get_artifacts_by_type("ExampleStatistics")
    for split in ("train", "eval"):
        assert os.path.isfile(os.path.join(statistics.uri, f"Split-{split}", "FeatureStats.pb"))
    [schema_art] = store.get_artifacts_by_type("Schema")
    import tensorflow_data_validation as tfdv

    features = {f.name for f in tfdv.load_schema_text(os.path.join(schema_art.uri, "schema.pbtxt")).feature}
    assert {"mean_fare", "trips", "big_tipper"} <= features


def test_fingerprint_follows_the_inputs(tmp_path):
    from mlprod.components.features import input_fingerprint
    from mlprod.errors import DataError

    repo, trips, daily = taxi_features(tmp_path, trips=20)
    before = input_fingerprint(str(repo.path), str(trips))
    assert input_fingerprint(str(repo.path), str(trips)) == before
    repo.define("area_daily", daily, entity="area", timestamp="ts", ttl="7D")
    assert input_fingerprint(str(repo.path), str(trips)) != before
    with pytest.raises(DataError, match="not a feature repo"):
        input_fingerprint(str(tmp_path), str(trips))
