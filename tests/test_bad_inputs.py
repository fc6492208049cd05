"""Issue 15, items 6-8: no silent wrong answers, one clear mlprod error, no contradictory config accepted."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlprod
from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.evaluation import Buckets, EvalSpec, Threshold
from mlprod.preprocessing import Categorical, Cross, FeatureSpec, Numeric
from mlprod.validation import FeatureOverride


def _tfrecord(path, n=1000):
    from mlprod.io.examples import write_tfrecord

    df = pd.DataFrame({"x": np.arange(n, dtype="float64"), "y": np.arange(n) % 2})
    return Path(write_tfrecord(df, str(path)))


def test_truncated_and_corrupt_tfrecords_are_errors_not_half_the_rows(tmp_path):
    from mlprod.io.frames import load_frame

    path = _tfrecord(tmp_path / "d.tfrecord")
    assert len(load_frame(str(path))) == 1000
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2 + 7)  # mid-record (a cut exactly between records looks like a shorter file)
    for call in (lambda: load_frame(str(path)),
                 lambda: mlprod.analyze_and_transform(str(path), FeatureSpec([Numeric("x")]), progress=False),
                 lambda: mlprod.validation.compute_statistics(str(path))):
        with pytest.raises(DataError, match="truncated or corrupt"):
            call()
    path = _tfrecord(tmp_path / "c.tfrecord")
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xff\xff")
    with pytest.raises(DataError, match="corrupt"):
        load_frame(str(path))


def test_a_high_cardinality_feature_whose_values_are_all_new_is_flagged():
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"zip": [f"z{i}" for i in rng.integers(0, 10000, 20000)], "x": rng.normal(size=20000)})
    cur = base.assign(zip=[f"new{i}" for i in rng.integers(0, 10000, 20000)])
    r = mlprod.detect_skew(base, cur)
    assert r.flagged == ["zip"]
    row = r.issues.iloc[0]
    assert row["check"] == "skew:unseen" and row["value"] == 1.0
    half = mlprod.detect_skew(base.iloc[:10000], base.iloc[10000:])  # a random split of the same IDs: fine
    assert half.passed, half.issues


def test_an_all_missing_column_gets_a_row():
    base = datasets.penguins()
    cur = base.assign(body_mass_g=np.nan)
    r = mlprod.detect_skew(base, cur, label="species")
    assert "body_mass_g" in r.flagged
    rows = r.issues[r.issues["feature"] == "body_mass_g"]
    assert (rows["check"] == "skew:missing").any() and rows["description"].str.contains("every value is missing").any()


def test_mixed_types_and_integer_column_names_are_one_clear_error():
    df = datasets.penguins()
    mixed = df.astype({"body_mass_g": object})
    mixed.loc[3, "body_mass_g"] = "heavy"
    with pytest.raises(DataError, match=r"'body_mass_g' \(numbers and text\) mix value types"):
        mlprod.infer_schema(mixed)
    with pytest.raises(DataError, match="mix value types"):
        mlprod.detect_skew(df, mixed)
    with pytest.raises(DataError, match="column names that are not strings"):
        mlprod.detect_skew(df, df.set_axis(range(len(df.columns)), axis=1))


@pytest.mark.parametrize("make, match", [
    (lambda: Buckets("x", ()), "at least one boundary"),
    (lambda: Buckets("x", (3, 1, 10)), "strictly increasing"),
    (lambda: Threshold(lower=0.9, upper=0.5), "can never hold"),
    (lambda: Threshold(max_drop=-5), "max_drop=-5 must be >= 0"),
    (lambda: EvalSpec(label="y", thresholds={"sparse_categorical_accuracy": Threshold(lower=2.0)}), r"in \[0, 1\]"),
    (lambda: EvalSpec(label=["a", "b"]), "label column name as a string"),
    (lambda: FeatureOverride(min=5, max=1), "min must be <= max"),
    (lambda: Categorical("c", encoding="hash", hash_buckets=-5), "hash_buckets=-5 must be an integer >= 1"),
    (lambda: Categorical("c", encoding="onehot", top_k="abc"), "top_k='abc' must be an integer"),
    (lambda: Cross("ab", columns="ab"), "must be a list of column names"),
    (lambda: FeatureSpec([Numeric("x")], label=[1, 2]), "label=\\[1, 2\\] must be a column name"),
])
def test_contradictory_or_mistyped_configs_are_refused(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_yaml_spec_with_bad_values_is_refused():
    with pytest.raises(ConfigError, match="hash_buckets=-5"):
        FeatureSpec.from_yaml("features:\n- {kind: categorical, name: c, encoding: hash, hash_buckets: -5}")
    with pytest.raises(ConfigError, match="top_k='abc'"):
        FeatureSpec.from_yaml("features:\n- {kind: categorical, name: c, encoding: onehot, top_k: abc}")


def test_unsorted_bucket_slices_cannot_mislabel_rows():
    # before: Buckets("x", (1, -1)) labelled rows below -1 as "<1"
    with pytest.raises(ConfigError, match="strictly increasing"):
        EvalSpec(label="y", slices=[Buckets("x", (1, -1))])
