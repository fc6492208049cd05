"""Compile a :class:`FeatureSpec` into a TensorFlow Transform ``preprocessing_fn``.

Every output is dense: scalars as ``[batch]``, one-hot, PCA, SVD and NMF as ``[batch, k]``. Inputs may
be dense (``[batch]`` or ``[batch, 1]``) or sparse (optional features), so the same function
serves TFX's Transform (schema-driven inputs) and :func:`analyze_and_transform`.

Example:
    >>> from mlprod.preprocessing import FeatureSpec, Numeric
    >>> fn = build_preprocessing_fn(FeatureSpec(features=(Numeric("fare"),)))
    >>> callable(fn)
    True
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mlprod.preprocessing.spec import (
    NMF,
    PCA,
    SVD,
    Categorical,
    Cross,
    DateParts,
    Distance,
    FeatureSpec,
    Numeric,
)

Fn = Callable[[dict[str, Any]], dict[str, Any]]
EARTH_RADIUS_KM = 6371.0088


def _dense(x: Any, default: Any) -> Any:
    """[batch] dense tensor; missing values of a sparse input become ``default``."""
    import tensorflow as tf

    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=default)
    return tf.reshape(x, [-1])


def _numeric_input(x: Any, impute: str | None, fill: float) -> Any:
    """float32 [batch] with missing values imputed (NaN marks missing while analyzing)."""
    import tensorflow as tf
    import tensorflow_transform as tft

    v = tf.cast(_dense(x, tf.cast(float("nan"), x.dtype) if x.dtype.is_floating else 0), tf.float32)
    if isinstance(x, tf.SparseTensor) and not x.dtype.is_floating:
        present = tf.reshape(tf.sparse.to_dense(tf.SparseTensor(x.indices, tf.ones_like(x.values, tf.bool),
                                                                [x.dense_shape[0], 1]), False), [-1])
        v = tf.where(present, v, float("nan"))
    missing = tf.math.is_nan(v)
    if impute is None:
        return v
    present_values = tf.boolean_mask(v, ~missing)
    if impute == "mean":
        fill_t = tft.mean(present_values)
    elif impute == "median":
        fill_t = tf.reshape(tft.quantiles(present_values, num_buckets=2, epsilon=0.001), [-1])[0]
    else:
        fill_t = tf.constant(fill, tf.float32)
    return tf.where(missing, fill_t, v)


def _scale(v: Any, scale: str) -> Any:
    import tensorflow as tf
    import tensorflow_transform as tft

    if scale == "zscore":
        return tft.scale_to_z_score(v)
    if scale == "minmax":
        return tft.scale_to_0_1(v)
    if scale == "minus1_1":
        return tft.scale_by_min_max(v, -1.0, 1.0)
    if scale == "log":
        return tft.scale_to_z_score(tf.math.log1p(tf.maximum(v, 0.0)))
    return v


def _string_input(x: Any, impute: str | None, fill: str) -> Any:
    import tensorflow as tf
    import tensorflow_transform as tft

    s = x if x.dtype == tf.string else (tf.SparseTensor(x.indices, tf.strings.as_string(x.values), x.dense_shape)
                                        if isinstance(x, tf.SparseTensor) else tf.strings.as_string(x))
    v = _dense(s, "")
    if impute == "constant":
        return tf.where(tf.equal(v, ""), fill, v)
    if impute == "mode":
        keys, counts = tft.count_per_key(tf.boolean_mask(v, tf.not_equal(v, "")))
        return tf.where(tf.equal(v, ""), keys[tf.argmax(counts)], v)
    return v


def _numeric(f: Numeric, inputs: dict[str, Any]) -> Any:
    import tensorflow as tf
    import tensorflow_transform as tft

    v = _numeric_input(inputs[f.name], f.impute, f.fill_value)
    if f.clip is not None:
        v = tf.clip_by_value(v, float(f.clip[0]), float(f.clip[1]))
    if f.buckets:
        return tft.bucketize(v, num_buckets=f.buckets, epsilon=0.001)
    return _scale(v, f.scale)


def _categorical(f: Categorical, inputs: dict[str, Any]) -> Any:
    import tensorflow as tf
    import tensorflow_transform as tft

    v = _string_input(inputs[f.name], f.impute, f.fill_value)
    if f.encoding == "hash":
        return tf.strings.to_hash_bucket_fast(v, f.hash_buckets)
    ids = tft.compute_and_apply_vocabulary(v, top_k=f.top_k, frequency_threshold=f.frequency_threshold,
                                           num_oov_buckets=f.num_oov_buckets, vocab_filename=f"vocab_{f.name}")
    if f.encoding == "onehot":
        return tf.one_hot(ids, depth=int(f.top_k or 0) + f.num_oov_buckets, dtype=tf.float32)
    return ids


def _distance(f: Distance, inputs: dict[str, Any]) -> Any:
    import tensorflow as tf

    lat1, lon1, lat2, lon2 = (_numeric_input(inputs[c], f.impute, 0.0) * (math.pi / 180.0) for c in f.inputs)
    a = tf.sin((lat2 - lat1) / 2) ** 2 + tf.cos(lat1) * tf.cos(lat2) * tf.sin((lon2 - lon1) / 2) ** 2
    km = 2.0 * EARTH_RADIUS_KM * tf.asin(tf.sqrt(tf.clip_by_value(a, 0.0, 1.0)))
    return _scale(km, f.scale)


ISO_DATE = r"\d{4}[-/]\d{2}[-/]\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d*)?)?)?(Z|[+-]\d{2}:?\d{2})?"


def _iso_seconds(x: Any) -> Any:
    """Seconds since 1970 of ISO 8601 strings (``YYYY-MM-DD[THH:MM[:SS]]``), zone ignored; bad/empty -> 0."""
    import tensorflow as tf

    s = _dense(x, "")
    s = tf.where(tf.strings.regex_full_match(s, ISO_DATE), s, "1970-01-01")
    long = tf.strings.length(s) >= 16
    t = tf.where(long, s, "1970-01-01T00:00:00")
    has_sec = long & (tf.strings.length(s) >= 19) & tf.equal(tf.strings.substr(t, 16, 1), ":")
    t = tf.where(has_sec, t, tf.strings.join([tf.strings.substr(t, 0, 16), ":00"]))

    def num(text: Any, pos: int, length: int) -> Any:
        return tf.strings.to_number(tf.strings.substr(text, pos, length), tf.int64)

    y, m, d = num(s, 0, 4), num(s, 5, 2), num(s, 8, 2)
    # days since 1970-01-01 of (y, m, d): H. Hinnant's days_from_civil, integer ops
    y = y - tf.cast(m <= 2, tf.int64)
    era = tf.math.floordiv(y, 400)
    yoe = y - era * 400
    doy = tf.math.floordiv(153 * (m + tf.where(m > 2, tf.constant(-3, tf.int64), 9)) + 2, 5) + d - 1
    doe = yoe * 365 + tf.math.floordiv(yoe, 4) - tf.math.floordiv(yoe, 100) + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + num(t, 11, 2) * 3600 + num(t, 14, 2) * 60 + num(t, 17, 2)


def _date_parts(f: DateParts, inputs: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    x = inputs[f.timestamp]
    ts = _iso_seconds(x) if x.dtype == tf.string else tf.cast(_dense(x, 0), tf.int64)
    ts = ts + int(round(f.utc_offset_hours * 3600))
    days = tf.math.floordiv(ts, 86400)
    out = {}
    # (year, month, day) from days since 1970-01-01: H. Hinnant's civil_from_days, integer ops
    z = days + 719468
    era = tf.math.floordiv(z, 146097)
    doe = z - era * 146097
    yoe = tf.math.floordiv(doe - tf.math.floordiv(doe, 1460) + tf.math.floordiv(doe, 36524)
                           - tf.math.floordiv(doe, 146096), 365)
    doy = doe - (365 * yoe + tf.math.floordiv(yoe, 4) - tf.math.floordiv(yoe, 100))
    mp = tf.math.floordiv(5 * doy + 2, 153)
    day = doy - tf.math.floordiv(153 * mp + 2, 5) + 1
    month = mp + 3 - 12 * tf.math.floordiv(mp, 10)
    year = yoe + era * 400 + tf.cast(month <= 2, tf.int64)
    parts = {"hour": tf.math.floormod(tf.math.floordiv(ts, 3600), 24),
             "weekday": tf.math.floormod(days + 3, 7), "day": day, "month": month, "year": year}
    for p in f.parts:
        out[f"{f.name}_{p}"] = parts[p]
    return out


def _cross(f: Cross, inputs: dict[str, Any]) -> Any:
    import tensorflow as tf

    parts = [_string_input(inputs[c], "constant", "") for c in f.columns]
    return tf.strings.to_hash_bucket_fast(tf.strings.join(parts, separator="\x1f"), f.hash_buckets)


def _pca(f: PCA, inputs: dict[str, Any]) -> Any:
    import tensorflow as tf
    import tensorflow_transform as tft

    # float64: TFT's covariance is E[xx'] - E[x]E[x]', which float32 cancels to noise for
    # features like latitudes (mean ~42, variance ~0.003)
    x = tf.cast(tf.stack([_numeric_input(inputs[c], f.impute, 0.0) for c in f.columns], axis=1), tf.float64)
    matrix = tft.pca(x, output_dim=f.components, dtype=tf.float64)
    return tf.cast(tf.matmul(x, matrix), tf.float32)


def _decomposition(f: SVD | NMF, inputs: dict[str, Any]) -> Any:
    import tensorflow as tf

    from mlprod.preprocessing.decompose import nmf_project, svd_project

    x = tf.cast(tf.stack([_numeric_input(inputs[c], f.impute, f.fill_value) for c in f.columns], axis=1),
                tf.float64)
    out = svd_project(x, f.components) if isinstance(f, SVD) else nmf_project(x, f)
    return tf.cast(out, tf.float32)


def build_preprocessing_fn(spec: FeatureSpec, user_fn: Fn | None = None) -> Fn:
    """The ``preprocessing_fn`` for ``spec``; ``user_fn``'s outputs are merged in (they win on clashes).

    Example:
        >>> def extra(inputs):
        ...     return {"fare_per_mile": inputs["fare"] / (inputs["trip_miles"] + 1.0)}
        >>> fn = build_preprocessing_fn(FeatureSpec(features=(Numeric("fare"),)), user_fn=extra)
    """
    def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        out: dict[str, Any] = {}
        for f in spec.features:
            if isinstance(f, Numeric):
                out[f.name] = _numeric(f, inputs)
            elif isinstance(f, Categorical):
                out[f.name] = _categorical(f, inputs)
            elif isinstance(f, Distance):
                out[f.name] = _distance(f, inputs)
            elif isinstance(f, DateParts):
                out.update(_date_parts(f, inputs))
            elif isinstance(f, Cross):
                out[f.name] = _cross(f, inputs)
            elif isinstance(f, PCA):
                out[f.name] = _pca(f, inputs)
            elif isinstance(f, (SVD, NMF)):
                out[f.name] = _decomposition(f, inputs)
        for name in spec.passthrough:
            out[name] = _dense(inputs[name], 0)
        if spec.label:
            x = inputs[spec.label]
            out[spec.label] = _dense(x, "" if x.dtype == tf.string else tf.cast(0, x.dtype))
        if user_fn is not None:
            out.update(user_fn(inputs))
        return out

    return preprocessing_fn
