"""The platform pieces the feature store added to mlprod.io: Parquet frames, pandas' NA left out of
tf.Examples (nullable columns from Feast), gzip TFRecords as ExampleGen writes them."""
import pandas as pd
import pytest
import tensorflow as tf

from mlprod.io import load_frame, to_examples, write_tfrecord


def test_nullable_values_are_left_out_of_examples():
    df = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "s": pd.array(["a", None], dtype="string"),
                       "x": [1.5, float("nan")]})
    first, second = to_examples(df)
    assert sorted(first.features.feature) == ["n", "s", "x"] and first.features.feature["n"].int64_list.value == [1]
    assert len(second.features.feature) == 0  # missing, never a zero or the text "<NA>"


def test_parquet_frames_and_gzip_records(tmp_path):
    df = pd.DataFrame({"area": [8, 9], "fare": [1.0, 2.0]})
    df.to_parquet(tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(load_frame(str(tmp_path / "a.parquet")), df)
    path = write_tfrecord(df, tmp_path / "Split-train" / "data_tfrecord-00000-of-00001.gz", compression="GZIP")
    assert open(path, "rb").read(2) == b"\x1f\x8b"  # gzip magic
    assert sum(1 for _ in tf.data.TFRecordDataset(path, compression_type="GZIP")) == 2
    with pytest.raises(Exception, match="cannot read"):
        load_frame([str(tmp_path / "a.parquet"), path])
