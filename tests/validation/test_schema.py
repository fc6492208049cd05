import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

import mlprod
from mlprod import datasets
from mlprod.errors import ConfigError, DataError
from mlprod.validation import Curation, FeatureOverride, load_schema, save_schema


def _feature(schema, name):
    return next(f for f in schema.feature if f.name == name)


def test_curation_ranges_presence_environment_comparators():
    s = mlprod.infer_schema(datasets.penguins(), label="species")
    f = _feature(s, "culmen_length_mm")
    # observed [0, 1] widened by the tail allowance; the annotation says where the limits came from
    assert -0.6 < f.float_domain.min < 0 and 1 < f.float_domain.max < 2
    assert "baseline max 1 + allowance" in f.annotation.comment[0]
    assert _feature(s, "species").int_domain.min == 0  # a discrete label is not widened by a fraction
    assert f.presence.min_fraction == pytest.approx(1 - 7 / 334)  # small data: 7 examples of slack, not 1%
    assert f.drift_comparator.jensen_shannon_divergence.threshold == pytest.approx(0.05)
    label = _feature(s, "species")
    assert list(label.not_in_environment) == ["SERVING"] and not label.HasField("skew_comparator")
    assert list(s.default_environment) == ["TRAINING", "SERVING"]


def test_taxi_categoricals_heavy_tails_and_sparse_features():
    df = datasets.chicago_taxi()
    s = mlprod.infer_schema(df, label="tips", curation=Curation(max_categories=10))
    pay = _feature(s, "payment_type")
    assert pay.HasField("domain") and pay.skew_comparator.infinity_norm.threshold == pytest.approx(0.1)
    assert pay.distribution_constraints.min_domain_mass == pytest.approx(0.99)
    assert not _feature(s, "company").HasField("domain")  # > 10 categories: not a closed domain
    miles = _feature(s, "trip_miles")
    assert -10 < miles.float_domain.min <= 0 and not miles.float_domain.HasField("max")  # heavy upper tail
    assert _feature(s, "pickup_census_tract").presence.min_count == 0  # almost never present
    assert _feature(s, "company").presence.min_fraction == 0.0  # optional


def test_overrides_and_errors():
    s = mlprod.infer_schema(datasets.penguins(), overrides={"body_mass_g": FeatureOverride(min=0, max=1),
                                                            "culmen_depth_mm": {"drop": True}})
    assert _feature(s, "body_mass_g").float_domain.max == 1.0
    assert "culmen_depth_mm" not in [f.name for f in s.feature]
    with pytest.raises(ConfigError, match="not in the schema"):
        mlprod.infer_schema(datasets.penguins(), overrides={"beak": {"min": 0}})
    with pytest.raises(ConfigError, match="allowed keys"):
        mlprod.infer_schema(datasets.penguins(), overrides={"body_mass_g": {"minimum": 0}})


def test_save_load_roundtrip_and_bad_files(tmp_path):
    s = mlprod.infer_schema(datasets.penguins(), label="species")
    p = save_schema(s, tmp_path / "schema.pbtxt")
    assert load_schema(p) == s and load_schema(tmp_path) == s
    (tmp_path / "bad.pbtxt").write_text("feature { nme: 1 }")
    with pytest.raises(DataError, match="not a text-protobuf Schema"):
        load_schema(tmp_path / "bad.pbtxt")
    assert isinstance(load_schema(datasets.path("chicago_taxi/schema")), schema_pb2.Schema)
