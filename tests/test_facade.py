"""The public surface: fast import, no heavy imports, a snapshot of ``__all__``."""
import subprocess
import sys

import mlprod

# Snapshot: a name must never disappear by accident. Add new names here on purpose.
EXPECTED_PUBLIC = {
    "ConfigError", "DataError", "MlprodError", "PipelineConfig", "PipelineError",
    "__version__", "create_pipeline", "datasets", "errors", "pipelines", "reporting",
    "run_pipeline", "infer_schema", "validate", "detect_skew", "detect_drift", "ValidationResult", "validation",
    "evaluate", "EvalSpec", "Threshold", "Buckets", "EvalResult", "evaluation",
    "analyze_and_transform", "FeatureSpec", "Numeric", "Categorical", "Cross", "PCA", "SVD", "NMF", "Distance", "DateParts",
    "preprocessing", "optimize", "OptimizeResult", "optimization",
    "search", "DenseSpace", "ConvSpace", "SearchResult", "tuning",
    "alerts", "Alerts",
    "feature_repo", "FeatureRepo", "features",
}


def test_all_is_a_superset_of_the_snapshot():
    missing = EXPECTED_PUBLIC - set(mlprod.__all__)
    assert not missing, f"public names disappeared: {missing}"


def test_every_public_name_resolves():
    for name in mlprod.__all__:
        assert getattr(mlprod, name) is not None, name


def test_import_is_light_and_fast():
    code = ("import sys, time; t=time.perf_counter(); import mlprod; dt=time.perf_counter()-t;"
            "heavy=[m for m in ('tensorflow','apache_beam','tensorflow_model_analysis','tfx',"
            "'tensorflow_data_validation','pandas','feast') if m in sys.modules]; print(dt, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    dt, heavy = out.split(" ", 1)
    assert float(dt) < 1.0
    assert heavy.strip() == "[]"


def test_legacy_keras_default_does_not_override_user(monkeypatch):
    code = "import os; import mlprod; print(os.environ['TF_USE_LEGACY_KERAS'])"
    env = {"TF_USE_LEGACY_KERAS": "0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "0"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, check=True)
    assert out.stdout.strip() == "1"


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute"):
        mlprod.not_a_thing  # noqa: B018
