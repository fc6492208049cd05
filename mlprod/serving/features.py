"""Online features at serving time: a request carries entity keys, the server adds the rest.

For a model whose signature takes serialized ``tf.Example``s (what TFX's Trainer exports, and
what TF Serving's classify/regress APIs and the ``instances`` of such a model become), each
request's examples are read once, the feature store's online values for their entity keys are
fetched in **one** batched call (:meth:`mlprod.features.FeatureRepo.online_features`), written
into the examples, and the joined examples go to the model — and to the request log, so skew
detection compares the features actually served with the training features.

* A feature the request itself carries (a request-time feature) is kept as sent.
* An entity the store does not know, or a value older than the view's TTL, is a 400 naming the
  rows and features (``on_missing="error"``, the default): the model never sees a silent zero.
  ``on_missing="absent"`` leaves the feature out of that example instead, so the model's own
  parse default applies (say so in the model's docs if you choose it).

Example:
    (Needs a materialized feature repo; tests/serving/test_online_features.py runs this.)
    >>> srv = mlprod.serve("serving_model", feature_store=OnlineFeatures("repo", ["area_stats:trips_7d"]))  # doctest: +SKIP
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlprod.errors import ConfigError, DataError

ON_MISSING = ("error", "absent")


class OnlineFeatures:
    """The feature-store join a :class:`mlprod.serving.Server` applies to example-taking requests.

    Args:
        repo: a feature repo folder (:func:`mlprod.feature_repo`) or a ``FeatureRepo``.
        features: feature references ``"view:feature"`` the model needs from the store.
        on_missing: ``"error"`` (default: a 400 naming rows and features) or ``"absent"``.
    """

    def __init__(self, repo: Any, features: Sequence[str] | str, *, on_missing: str = "error") -> None:
        from mlprod.features import FeatureRepo

        if on_missing not in ON_MISSING:
            raise ConfigError(f"on_missing={on_missing!r}; choose one of {ON_MISSING}.")
        self.repo = repo if isinstance(repo, FeatureRepo) else FeatureRepo(str(repo))
        self.features = [f.strip() for f in features.split(",")] if isinstance(features, str) else list(features)
        if not self.features or any(":" not in f for f in self.features):
            raise ConfigError(f"features={features!r}: give references 'view:feature' (e.g. 'area_stats:trips_7d').")
        self.on_missing = on_missing
        self.names = [f.split(":", 1)[1] for f in self.features]

    def join(self, serialized: np.ndarray, kinds: dict[str, str] | None = None) -> np.ndarray:
        """``serialized`` tf.Examples with the store's features added (one online lookup); ``kinds``
        (feature -> ``float``/``int64``/``bytes``, as the model's parse op declares them) sets each
        added feature's type, so an integer count feeds a float feature as the model expects."""
        import tensorflow as tf

        examples = [tf.train.Example.FromString(bytes(b)) for b in np.asarray(serialized, dtype=object).ravel()]
        rows = [{k: _value(ex.features.feature[k]) for k in ex.features.feature} for ex in examples]
        found = self.repo.online_features(rows, self.features)
        if self.on_missing == "error" and not found["_found"].all():
            bad = [(i, m) for i, (ok, m) in enumerate(zip(found["_found"], found["_missing"], strict=True)) if not ok]
            shown = "; ".join(f"row {i}: {m}" for i, m in bad[:5])
            raise DataError(f"the feature store has no current value for {len(bad)} of {len(rows)} rows ({shown}); "
                            "materialize the entity's features, or send them with the request.")
        for ex, row, (_, values) in zip(examples, rows, found.iterrows(), strict=True):
            for name in self.names:
                if name in row:   # a request-time value: kept as sent
                    continue
                v = values.get(name)
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    continue   # "absent": the model's parse default applies
                _put(ex.features.feature[name], v, (kinds or {}).get(name))
        return np.array([ex.SerializeToString() for ex in examples], dtype=object)


def _value(feature: Any) -> Any:
    """The first value of a tf.train.Feature as Python (text decoded), None when empty."""
    kind = feature.WhichOneof("kind")
    vals = getattr(feature, kind).value if kind else []
    if not vals:
        return None
    v = vals[0]
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def _put(feature: Any, v: Any, kind: str | None = None) -> None:
    if kind == "float":
        feature.float_list.value.extend(float(x) for x in np.atleast_1d(np.asarray(v, dtype=float)))
    elif kind == "int64":
        feature.int64_list.value.extend(int(x) for x in np.atleast_1d(np.asarray(v)))
    elif kind == "bytes":
        feature.bytes_list.value.append(str(v).encode("utf-8"))
    elif isinstance(v, (bool, np.bool_, int, np.integer)):
        feature.int64_list.value.append(int(v))
    elif isinstance(v, (float, np.floating)):
        feature.float_list.value.append(float(v))
    elif isinstance(v, (list, tuple, np.ndarray)):
        arr = np.asarray(v)
        if np.issubdtype(arr.dtype, np.integer):
            feature.int64_list.value.extend(int(x) for x in arr)
        else:
            feature.float_list.value.extend(float(x) for x in arr)
    else:
        feature.bytes_list.value.append(str(v).encode("utf-8"))
