"""Data validation on TensorFlow Data Validation: schema inference and curation,
anomalies, training/serving skew and span-to-span drift, with readable reports.

Example:
    >>> import mlprod
    >>> from mlprod import datasets
    >>> r = mlprod.detect_skew(datasets.penguins(), datasets.penguins("skewed"), label="species")
    >>> r.flagged
    ['culmen_length_mm']
"""
from mlprod.validation.checks import compare, detect_drift, detect_skew, validate
from mlprod.validation.protos import SchemaResult, StatisticsResult, unwrap
from mlprod.validation.result import ValidationResult
from mlprod.validation.schema import (
           Curation,
           FeatureOverride,
           curate_schema,
           infer_schema,
           load_schema,
           save_schema,
)
from mlprod.validation.stats import compute_statistics

__all__ = ["Curation", "FeatureOverride", "SchemaResult", "StatisticsResult", "ValidationResult", "compare",
           "compute_statistics", "curate_schema", "detect_drift", "detect_skew", "infer_schema", "load_schema",
           "save_schema", "unwrap", "validate"]
