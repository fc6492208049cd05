"""TFX component: an ExampleGen over the feature store (point-in-time-correct training examples).

(No ``from __future__ import annotations`` here: TFX reads the annotations at decoration time.)

:func:`FeatureExampleGen` reads the entity rows (entity key, event timestamp, label), runs
Feast's historical retrieval (:func:`mlprod.features.examples.write_examples`) and writes an
``Examples`` artifact as ExampleGen does: ``Split-train/`` and ``Split-eval/`` gzip TFRecords of
``tf.Example`` and the ``split_names`` property, so StatisticsGen, SchemaGen, Transform,
Trainer and the Evaluator take it unchanged. ML Metadata records, as the artifact's custom
properties, the ``feature_references``, the repo's ``registry_version``, the ``feature_repo``
folder, the ``entity_df`` file and the rows per split.

The constructor takes ``features`` as a list and adds a ``fingerprint`` parameter (sizes and
modification times of the entity file and the repo's data files), so TFX's cache reruns the
component when the entity rows, the feature data or the definitions change.

Example:
    (Needs a pipeline; tests/features/test_component.py runs this path.)
    >>> gen = FeatureExampleGen(repo="/srv/features", entity_df="/srv/labels/trips.parquet",
    ...                         features=["area_stats:mean_fare", "area_stats:trips"])   # doctest: +SKIP
    >>> statistics_gen = tfx.components.StatisticsGen(examples=gen.outputs["examples"])  # doctest: +SKIP
"""

import hashlib
import os
from typing import Any

from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts
from tfx.v1.dsl.components import OutputArtifact, Parameter

from mlprod.components.monitoring import encode_names
from mlprod.errors import DataError
from mlprod.params import check_params


@tfx.dsl.components.component
def FeatureExampleGen(
    examples: OutputArtifact[standard_artifacts.Examples],
    repo: Parameter[str],
    entity_df: Parameter[str],
    features: Parameter[str],
    timestamp: Parameter[str] = "event_timestamp",
    eval_share: Parameter[float] = 0.2,
    seed: Parameter[int] = 0,
    full_names: Parameter[int] = 0,
    fingerprint: Parameter[str] = "",
) -> None:
    """Point-in-time training examples from the Feast repo ``repo`` for the rows in ``entity_df``.

    ``features``: ``"view:feature"`` references (a list, or ``"a:x,a:y"``); ``timestamp``: the
    entity rows' time column; ``eval_share``/``seed``: the seeded random eval share
    (:mod:`mlprod.io.splits`); ``full_names`` 1 names columns ``view__feature``;
    ``fingerprint``: set by the constructor (the cache key of the inputs' files).
    """
    from mlprod.features.examples import write_examples
    from mlprod.monitoring.retrain import split_names

    out = write_examples(repo, entity_df, split_names(features), examples.uri, timestamp=timestamp,
                         eval_share=eval_share, seed=seed, full_names=bool(full_names))
    examples.split_names = artifact_utils.encode_split_names(out["split_names"])
    examples.span = 0
    examples.set_string_custom_property("payload_format", "FORMAT_TF_EXAMPLE")
    examples.set_string_custom_property("feature_references", ",".join(out["features"]))
    examples.set_string_custom_property("registry_version", out["registry_version"])
    examples.set_string_custom_property("feature_repo", str(repo))
    examples.set_string_custom_property("entity_df", str(entity_df))
    for split, n in out["rows"].items():
        examples.set_int_custom_property(f"{split}_rows", n)


_FeatureExampleGen = FeatureExampleGen


def input_fingerprint(repo: str, entity_df: str) -> str:
    """A digest of the sizes and modification times of ``entity_df`` and the repo's files (its
    YAML, registry and offline data; the online store left out): a changed input, a new key.

    Raises:
        DataError: ``entity_df`` or ``repo`` does not exist.
    """
    if not os.path.exists(entity_df):
        raise DataError(f"FeatureExampleGen: entity_df {entity_df!r} does not exist; pass the Parquet/CSV file of "
                        "entity rows (entity key, event timestamp, label).")
    if not os.path.isfile(os.path.join(repo, "feature_store.yaml")):
        raise DataError(f"FeatureExampleGen: {repo!r} is not a feature repo (no feature_store.yaml); create it with "
                        "mlprod.feature_repo(path) and define the views first.")
    digest = hashlib.sha256()
    paths = [entity_df] if os.path.isfile(entity_df) else [os.path.join(r, f) for r, _, fs in os.walk(entity_df)
                                                          for f in fs]
    paths += [os.path.join(r, f) for r, _, fs in os.walk(repo) for f in fs if not f.startswith("online.db")]
    for p in sorted(paths):
        st = os.stat(p)
        digest.update(f"{p}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class FeatureExampleGen(_FeatureExampleGen):  # type: ignore[valid-type,misc,no-redef]
    """The FeatureExampleGen component (parameters: the function above), built from Python values:
    ``features`` may be a list, ``repo``/``entity_df`` paths, ``full_names`` a bool."""

    def __init__(self, **kwargs: Any) -> None:
        from mlprod.features.examples import EXAMPLES_PARAMS

        check_params("FeatureExampleGen", kwargs, EXAMPLES_PARAMS)
        if "features" in kwargs:
            kwargs["features"] = encode_names(kwargs["features"], "features", "FeatureExampleGen")
        for key in ("repo", "entity_df"):
            if key in kwargs:
                kwargs[key] = os.path.abspath(os.fspath(kwargs[key]))
        if isinstance(kwargs.get("full_names"), bool):
            kwargs["full_names"] = int(kwargs["full_names"])
        if "repo" in kwargs and "entity_df" in kwargs and not kwargs.get("fingerprint"):
            kwargs["fingerprint"] = input_fingerprint(kwargs["repo"], kwargs["entity_df"])
        super().__init__(**kwargs)
