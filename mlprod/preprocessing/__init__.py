"""Declarative feature engineering compiled to a TensorFlow Transform ``preprocessing_fn``,
analyzed on Apache Beam, with one graph for training and serving.

Example:
    >>> import mlprod
    >>> from mlprod.preprocessing import FeatureSpec, Numeric, Categorical, Distance, DateParts
    >>> spec = FeatureSpec(label="tips", features=(Numeric("fare", scale="log"),
    ...                                            Categorical("payment_type", encoding="onehot", top_k=5)))
    >>> result = mlprod.analyze_and_transform(mlprod.datasets.chicago_taxi().head(1000), spec, progress=False)
    >>> result.transformed["payment_type"].iloc[0].shape   # one-hot: top_k + 1 out-of-vocabulary slot
    (6,)
"""
from mlprod.io.examples import serialized_examples  # the platform layer's, offered beside serving_fn
from mlprod.preprocessing.analyze import TransformResult, analyze_and_transform, serving_fn
from mlprod.preprocessing.compile import build_preprocessing_fn
from mlprod.preprocessing.infer import ColumnRole, InferredSpec, infer_feature_spec
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

__all__ = ["NMF", "PCA", "SVD", "Categorical", "ColumnRole", "Cross", "DateParts", "Distance", "FeatureSpec",
           "InferredSpec", "Numeric", "TransformResult", "analyze_and_transform", "build_preprocessing_fn",
           "infer_feature_spec", "serialized_examples", "serving_fn"]
