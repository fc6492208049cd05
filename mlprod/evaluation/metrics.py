"""TFMA metrics mlprod adds; TFMA imports this module by name (on the Beam workers too).

:class:`TrivialBaseline` reports ``trivial_baseline`` (the value a model that ignores its inputs
gets on the main metric, from the slice's labels: :mod:`mlprod.evaluation.trivial`) and
``gain_over_trivial`` (how much better the model is than that). A threshold on
``gain_over_trivial`` blesses only models that beat it, in :func:`mlprod.evaluate` and in TFX's
Evaluator alike.

Example:
    >>> from tensorflow_model_analysis.proto import config_pb2
    >>> cfg = config_pb2.MetricConfig(class_name="TrivialBaseline", module="mlprod.evaluation.metrics",
    ...                               config='{"metric": "sparse_categorical_accuracy"}')
    >>> from tensorflow_model_analysis.metrics import metric_specs
    >>> metric_specs.metric_instance(cfg).name
    'gain_over_trivial'
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from mlprod.evaluation.trivial import ACCURACIES, GAIN, LOWER_IS_BETTER, TRIVIAL, trivial_value


class _LabelsCombiner(beam.CombineFn):
    """Collects (label, weight) of one slice; outputs the trivial predictor's value of the metric.

    Labels are kept as weight per class for accuracy, as running sums for MSE, and as arrays for
    MAE (the mean is known only at the end).
    """

    def __init__(self, key: metric_types.MetricKey, metric: str, eval_config: Any, example_weighted: bool) -> None:
        self._key, self._metric = key, metric
        self._eval_config, self._weighted = eval_config, example_weighted

    def create_accumulator(self) -> dict[str, Any]:
        return {"classes": {}, "w": 0.0, "wy": 0.0, "wyy": 0.0, "y": [], "ws": []}

    def add_input(self, acc: dict[str, Any], element: metric_types.StandardMetricInputs) -> dict[str, Any]:
        for label, _, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, example_weighted=self._weighted, flatten=False,
                allow_none=True):
            if label is None or not np.asarray(label).size:
                continue
            w = float(np.asarray(weight).ravel()[0]) if weight is not None and np.asarray(weight).size else 1.0
            y = float(np.asarray(label, dtype=float).ravel()[0])
            acc["w"] += w
            if self._metric in ACCURACIES:
                c = int(round(y))
                acc["classes"][c] = acc["classes"].get(c, 0.0) + w
            elif self._metric == "mean_absolute_error":
                acc["y"].append(y)
                acc["ws"].append(w)
            else:
                acc["wy"] += w * y
                acc["wyy"] += w * y * y
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, Any]]) -> dict[str, Any]:
        out = self.create_accumulator()
        for a in accs:
            for c, w in a["classes"].items():
                out["classes"][c] = out["classes"].get(c, 0.0) + w
            for k in ("w", "wy", "wyy"):
                out[k] += a[k]
            out["y"] += a["y"]
            out["ws"] += a["ws"]
        return out

    def extract_output(self, acc: dict[str, Any]) -> dict[metric_types.MetricKey, float]:
        if not acc["w"]:
            return {self._key: float("nan")}
        if self._metric == "auc":
            value = 0.5
        elif self._metric in ACCURACIES:
            value = max(acc["classes"].values()) / acc["w"]
        elif self._metric == "mean_absolute_error":
            value = trivial_value(self._metric, np.asarray(acc["y"]), np.asarray(acc["ws"]))
        else:
            mean = acc["wy"] / acc["w"]
            value = max(acc["wyy"] / acc["w"] - mean * mean, 0.0)
        return {self._key: float(value)}


def _model_value(metrics: dict[Any, Any], metric: str, model_name: str, output_name: str) -> float:
    """The model's own value of ``metric`` in this slice's metrics (as TFMA computed it)."""
    for k, v in metrics.items():
        if (k.name == metric and k.model_name == model_name and k.output_name == output_name and not k.sub_key
                and not k.is_diff and isinstance(v, (int, float, np.floating))):
            return float(v)
    return float("nan")


def _computations(name: str = GAIN, metric: str = "sparse_categorical_accuracy", eval_config: Any = None,
                  model_name: str = "", output_name: str = "",
                  example_weighted: bool = False) -> metric_types.MetricComputations:
    trivial_key = metric_types.MetricKey(name=TRIVIAL, model_name=model_name, output_name=output_name,
                                         example_weighted=example_weighted)
    gain_key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                      example_weighted=example_weighted)

    def gain_over_trivial(metrics: dict[Any, Any]) -> dict[metric_types.MetricKey, float]:
        model = _model_value(metrics, metric, model_name, output_name)
        trivial = float(metrics.get(trivial_key, float("nan")))
        return {gain_key: trivial - model if metric in LOWER_IS_BETTER else model - trivial}

    return [metric_types.MetricComputation(keys=[trivial_key], preprocessors=None,
                                           combiner=_LabelsCombiner(trivial_key, metric, eval_config,
                                                                    example_weighted)),
            metric_types.DerivedMetricComputation(keys=[gain_key], result=gain_over_trivial)]


class TrivialBaseline(metric_types.Metric):
    """``trivial_baseline`` and ``gain_over_trivial`` of the model on ``metric`` (see the module)."""

    def __init__(self, name: str = GAIN, metric: str = "sparse_categorical_accuracy") -> None:
        super().__init__(metric_util.merge_per_key_computations(_computations), name=name, metric=metric)
