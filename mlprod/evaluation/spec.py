"""The evaluation spec: a short, typed description that compiles to ``tfma.EvalConfig``.

Example:
    >>> from mlprod.evaluation import EvalSpec, Threshold, Buckets
    >>> spec = EvalSpec(label="big_tipper", model_type="binary",
    ...                 slices=["payment_type", ("trip_start_hour", "payment_type"),
    ...                         Buckets("trip_miles", (1, 3, 10))],
    ...                 fairness=["payment_type"],
    ...                 thresholds={"auc": Threshold(lower=0.6, max_drop=0.01)})
    >>> cfg = spec.to_eval_config()
    >>> len(cfg.slicing_specs)   # overall, payment_type, the cross, the buckets
    4
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlprod.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow_model_analysis.proto import config_pb2 as tfma

MODEL_TYPES = ("classification", "binary", "regression")

# TFMA metric class -> the name it reports, per task (the defaults are all of them)
METRICS: dict[str, dict[str, str]] = {
    "classification": {"ExampleCount": "example_count", "SparseCategoricalAccuracy": "sparse_categorical_accuracy"},
    "binary": {"ExampleCount": "example_count", "BinaryAccuracy": "binary_accuracy", "AUC": "auc",
               "Precision": "precision", "Recall": "recall", "Calibration": "calibration",
               "MeanLabel": "mean_label", "MeanPrediction": "mean_prediction"},
    "regression": {"ExampleCount": "example_count", "MeanSquaredError": "mean_squared_error",
                   "MeanAbsoluteError": "mean_absolute_error", "MeanLabel": "mean_label",
                   "MeanPrediction": "mean_prediction"},
}
# more metrics a spec may name in metrics=[...] (not in the default set)
OPTIONAL_METRICS: dict[str, dict[str, str]] = {
    "classification": {},
    "binary": {"F1Score": "f1_score", "AUCPrecisionRecall": "auc_precision_recall",
               "BinaryCrossEntropy": "binary_crossentropy"},
    "regression": {"MeanAbsolutePercentageError": "mean_absolute_percentage_error"},
}
LOWER_IS_BETTER = {"mean_squared_error", "mean_absolute_error", "binary_crossentropy",
                   "mean_absolute_percentage_error"}
# metrics that are shares or probabilities: thresholds outside [0, 1] are mistakes
BOUNDED = {"sparse_categorical_accuracy", "binary_accuracy", "auc", "precision", "recall", "fall_out",
           "miss_rate", "f1_score", "auc_precision_recall"}
# group rates reported for sensitive features of binary models: false positive rate (TFMA's
# FallOut), false negative rate (MissRate), true positive rate (Recall), mean score
FAIRNESS_CLASSES = {"FallOut": "fall_out", "MissRate": "miss_rate"}
FAIRNESS_RATES = ("fall_out", "miss_rate", "recall", "mean_prediction")


@dataclass(frozen=True)
class Buckets:
    """Slice a numeric feature by value ranges, e.g. ``Buckets("trip_miles", (1, 3, 10))``.

    Buckets are ``(-inf, 1)``, ``[1, 3)``, ``[3, 10)``, ``[10, inf)``; evaluation adds a column
    ``<feature>_bucket`` holding the bucket label to the data it evaluates.
    """

    feature: str
    boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.feature, str) or not self.feature:
            raise ConfigError(f"Buckets feature must be a column name, not {self.feature!r}.")
        try:
            b = [float(v) for v in self.boundaries]
        except (TypeError, ValueError):
            raise ConfigError(f"Buckets({self.feature!r}) boundaries must be numbers, e.g. (1, 3, 10); got "
                              f"{self.boundaries!r}.") from None
        if not b:
            raise ConfigError(f"Buckets({self.feature!r}) needs at least one boundary, e.g. (1, 3, 10).")
        if any(lo >= hi for lo, hi in zip(b, b[1:], strict=False)):
            raise ConfigError(f"Buckets({self.feature!r}) boundaries {tuple(self.boundaries)} must be strictly "
                              f"increasing, e.g. {tuple(sorted(set(b)))}.")
        object.__setattr__(self, "boundaries", tuple(b))

    @property
    def column(self) -> str:
        return f"{self.feature}_bucket"

    def labels(self) -> list[str]:
        b = list(self.boundaries)
        return [f"<{b[0]:g}"] + [f"[{lo:g},{hi:g})" for lo, hi in zip(b, b[1:], strict=False)] + [f">={b[-1]:g}"]


@dataclass(frozen=True)
class Threshold:
    """Bless only models that meet these bounds.

    Attributes:
        lower, upper: absolute bounds on the metric value.
        max_drop: largest allowed worsening vs the baseline model (absolute; for
            lower-is-better metrics, the largest allowed increase).
    """

    lower: float | None = None
    upper: float | None = None
    max_drop: float | None = None

    def __post_init__(self) -> None:
        for name in ("lower", "upper", "max_drop"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v != v):
                raise ConfigError(f"Threshold {name}={v!r} must be a number.")
        if self.lower is None and self.upper is None and self.max_drop is None:
            raise ConfigError("Threshold needs lower=, upper= or max_drop=.")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ConfigError(f"Threshold(lower={self.lower}, upper={self.upper}) can never hold; lower must be "
                              "<= upper.")
        if self.max_drop is not None and self.max_drop < 0:
            raise ConfigError(f"Threshold max_drop={self.max_drop} must be >= 0 (the largest allowed worsening).")


Slice = str | tuple | Buckets


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate and how (compiles to ``tfma.EvalConfig`` with :meth:`to_eval_config`).

    Attributes:
        label: label column.
        model_type: ``"classification"`` (integer classes, probability vector output),
            ``"binary"`` (0/1 label, one score) or ``"regression"``.
        slices: features (``"payment_type"``), crosses (``("hour", "payment_type")``) or
            :class:`Buckets`; the overall slice is always included.
        metrics: TFMA metric class names (default: all of :data:`METRICS` for the task).
        fairness: sensitive features: sliced on, and rates per group with their gaps reported.
        thresholds: reported metric name (e.g. ``"auc"``) -> :class:`Threshold`.
        prediction_key: output key when the model returns a dict with several outputs.
        weight_key: example weight column.
        min_slice_size: slices with fewer examples are flagged as too small to judge.
        signature: the SavedModel signature taking serialized examples.
        threshold_slices: ``"overall"`` (thresholds judge the whole data) or ``"all"`` (every
            slice must meet them, TFMA's default).
        beat_trivial: judge (on the overall slice) that the model beats the trivial baseline on
            the main metric: the most common class for accuracy, a constant score for AUC, the
            mean label for MSE/MAE (:mod:`mlprod.evaluation.trivial`), computed from the labels
            of the evaluated data. On by default; ``False`` still reports the baseline and warns.
    """

    label: str
    model_type: str = "classification"
    slices: tuple[Slice, ...] | list[Slice] = ()
    metrics: tuple[str, ...] | list[str] | None = None
    fairness: tuple[str, ...] | list[str] = ()
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    prediction_key: str | None = None
    weight_key: str | None = None
    min_slice_size: int = 30
    signature: str = "serving_default"
    threshold_slices: str = "overall"
    beat_trivial: bool = True

    def __post_init__(self) -> None:
        if not self.label or not isinstance(self.label, str):
            raise ConfigError(f"EvalSpec needs the label column name as a string (label='species'), not "
                              f"{self.label!r}.")
        for s in [*self.slices, *self.fairness]:
            if not isinstance(s, (str, tuple, list, Buckets)) or (isinstance(s, (tuple, list)) and (
                    not s or not all(isinstance(c, str) for c in s))):
                raise ConfigError(f"slice {s!r}: use a column name, a tuple of column names or Buckets(...).")
        # one shape whatever was given (lists or tuples): specs compare equal and survive JSON
        norm = lambda xs: tuple(x if isinstance(x, (str, Buckets)) else tuple(x) for x in xs)  # noqa: E731
        object.__setattr__(self, "slices", norm(self.slices))
        object.__setattr__(self, "fairness", norm(self.fairness))
        if self.metrics is not None and not isinstance(self.metrics, str):
            object.__setattr__(self, "metrics", tuple(self.metrics) or None)
        if self.model_type not in MODEL_TYPES:
            raise ConfigError(f"model_type={self.model_type!r}; choose one of {MODEL_TYPES}.")
        known = self.metric_names
        for m in self.metric_classes:
            if m not in known and m not in FAIRNESS_CLASSES:
                raise ConfigError(f"metric {m!r} does not fit a {self.model_type} model; use one of {sorted(known)}.")
        reported = set(known.values()) | set(FAIRNESS_RATES)
        for name, th in self.thresholds.items():
            if name not in reported:
                raise ConfigError(f"threshold on {name!r}, which is not reported for {self.model_type}; "
                                  f"use one of {sorted(known.values())}.")
            if not isinstance(th, Threshold):
                raise ConfigError(f"thresholds[{name!r}] must be a Threshold(lower=, upper=, max_drop=).")
            if name in BOUNDED and any(v is not None and not 0 <= v <= 1 for v in (th.lower, th.upper)):
                raise ConfigError(f"thresholds[{name!r}]: {name} lies in [0, 1], so bounds {th.lower}, {th.upper} "
                                  "cannot be meant; use a value in [0, 1] (e.g. 0.9).")
        if self.fairness and self.model_type == "regression":
            raise ConfigError("fairness rates need a classifier; use slices=... for regression.")
        if self.threshold_slices not in ("overall", "all"):
            raise ConfigError(f"threshold_slices={self.threshold_slices!r}; use 'overall' or 'all'.")
        if self.min_slice_size < 1:
            raise ConfigError("min_slice_size must be >= 1.")

    @property
    def main_metric(self) -> str:
        """The metric the model is judged on first: the first thresholded one, else the task's first."""
        names = [n for c, n in METRICS[self.model_type].items() if c != "ExampleCount"]
        return next((n for n in self.thresholds if n in names), names[0])

    @property
    def trivial_metric(self) -> str:
        """The metric the trivial baseline is measured on (:func:`mlprod.evaluation.trivial.trivial_metric`)."""
        from mlprod.evaluation.trivial import trivial_metric

        return trivial_metric(self.model_type, self.main_metric)

    def judged_thresholds(self) -> dict[str, Threshold]:
        """``thresholds`` plus, with ``beat_trivial``, ``gain_over_trivial > 0`` (beat the trivial baseline)."""
        from mlprod.evaluation.trivial import GAIN, MIN_GAIN

        return {**self.thresholds, **({GAIN: Threshold(lower=MIN_GAIN)} if self.beat_trivial else {})}

    @property
    def metric_names(self) -> dict[str, str]:
        """TFMA metric class -> reported name, for every metric this model type can report."""
        return {**METRICS[self.model_type], **OPTIONAL_METRICS[self.model_type]}

    @property
    def metric_classes(self) -> list[str]:
        if not self.metrics:
            return list(METRICS[self.model_type])
        classes = list(self.metrics)
        # the trivial baseline is compared on this metric: report it even when not asked for
        needed = {n: c for c, n in self.metric_names.items()}.get(self.trivial_metric)
        return classes + ([needed] if needed and needed not in classes else [])

    @property
    def slice_features(self) -> list[str]:
        """Every column the slices read (bucket columns included)."""
        cols: list[str] = []
        for s in [*self.slices, *self.fairness]:
            cols += [s.column] if isinstance(s, Buckets) else ([s] if isinstance(s, str) else list(s))
        return list(dict.fromkeys(cols))

    def source_features(self) -> list[str]:
        """The raw columns slices need from the data."""
        cols: list[str] = []
        for s in [*self.slices, *self.fairness]:
            cols += [s.feature] if isinstance(s, Buckets) else ([s] if isinstance(s, str) else list(s))
        return list(dict.fromkeys(cols))

    def to_eval_config(self) -> "tfma.EvalConfig":
        """Compile to ``tfma.EvalConfig`` (what TFX's Evaluator and ``tfma.run_model_analysis`` take)."""
        from tensorflow_model_analysis.proto import config_pb2 as tfma

        model_spec = tfma.ModelSpec(label_key=self.label, signature_name=self.signature)
        if self.prediction_key:
            model_spec.prediction_key = self.prediction_key
        if self.weight_key:
            model_spec.example_weight_key = self.weight_key
        slicing = [tfma.SlicingSpec()]
        for s in [*self.slices, *[f for f in self.fairness if f not in self.slices]]:
            keys = [s.column] if isinstance(s, Buckets) else ([s] if isinstance(s, str) else list(s))
            slicing.append(tfma.SlicingSpec(feature_keys=keys))
        names = self.metric_names
        configs = []
        for cls in self.metric_classes:
            mc = tfma.MetricConfig(class_name=cls)
            th = self.thresholds.get(names.get(cls, ""))
            if th is not None:
                bound = _threshold(th, names[cls] in LOWER_IS_BETTER)
                if self.threshold_slices == "all":
                    mc.threshold.CopyFrom(bound)
                else:
                    mc.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()], threshold=bound)
            configs.append(mc)
        if self.fairness and self.model_type == "binary":
            configs += [tfma.MetricConfig(class_name=c) for c in FAIRNESS_CLASSES if c not in self.metric_classes]
        configs.append(self._trivial_config())
        return tfma.EvalConfig(model_specs=[model_spec], slicing_specs=slicing,
                               metrics_specs=[tfma.MetricsSpec(metrics=configs)])

    def to_json(self) -> str:
        """The spec as JSON (what the pipelines' Evaluator stores as a parameter); :meth:`from_json` reads it.

        Example:
            >>> spec = EvalSpec(label="y", slices=["a", ("a", "b"), Buckets("x", (1, 2))],
            ...                 thresholds={"sparse_categorical_accuracy": Threshold(lower=0.9)})
            >>> EvalSpec.from_json(spec.to_json()) == spec
            True
        """
        import json
        from dataclasses import asdict, fields

        def slice_json(s: Any) -> Any:
            if isinstance(s, Buckets):
                return {"buckets": s.feature, "boundaries": list(s.boundaries)}
            return s if isinstance(s, str) else list(s)

        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["slices"] = [slice_json(s) for s in self.slices]
        out["fairness"] = [slice_json(s) for s in self.fairness]
        out["metrics"] = list(self.metrics) if self.metrics else None
        out["thresholds"] = {k: asdict(t) for k, t in self.thresholds.items()}
        return json.dumps(out, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "EvalSpec":
        """The spec :meth:`to_json` wrote (slices come back as tuples, like the ones given)."""
        import json

        def slice_of(s: Any) -> Any:
            if isinstance(s, dict):
                return Buckets(s["buckets"], tuple(s["boundaries"]))
            return s if isinstance(s, str) else tuple(s)

        d = json.loads(text)
        d["slices"] = tuple(slice_of(s) for s in d.get("slices", ()))
        d["fairness"] = tuple(slice_of(s) for s in d.get("fairness", ()))
        d["metrics"] = tuple(d["metrics"]) if d.get("metrics") else None
        d["thresholds"] = {k: Threshold(**t) for k, t in d.get("thresholds", {}).items()}
        return cls(**d)

    @classmethod
    def from_eval_config(cls, config: Any) -> "tuple[EvalSpec, list[str]]":
        """The :class:`EvalSpec` a ``tfma.EvalConfig`` says, and what in it the spec cannot say.

        Read: the first model spec's label, prediction and weight keys and signature; slicing by
        features (and crosses); metric classes mlprod knows (the model type follows from them);
        value thresholds and absolute change thresholds, on the overall slice or every slice.
        Everything else (fixed-value slices, cross slicing specs, other metrics, relative change
        thresholds, binarization or aggregation, several models) is listed in the second value:
        :func:`mlprod.evaluate` then runs TFMA itself on the config, with a note saying why.

        Example:
            >>> from tensorflow_model_analysis.proto import config_pb2 as c
            >>> cfg = c.EvalConfig(model_specs=[c.ModelSpec(label_key="y")],
            ...                    slicing_specs=[c.SlicingSpec(), c.SlicingSpec(feature_keys=["g"])],
            ...                    metrics_specs=[c.MetricsSpec(metrics=[c.MetricConfig(class_name="AUC")])])
            >>> spec, unsupported = EvalSpec.from_eval_config(cfg)
            >>> spec.model_type, spec.slices, unsupported
            ('binary', ('g',), [])
        """
        other: list[str] = []
        if len(config.model_specs) != 1:
            other.append(f"{len(config.model_specs)} model specs")
        ms = config.model_specs[0] if config.model_specs else None
        if ms is None or not ms.label_key:
            raise ConfigError("the EvalConfig names no label (model_specs[0].label_key); set it.")
        classes = [m.class_name for spec_ in config.metrics_specs for m in spec_.metrics]
        types = [t for t in MODEL_TYPES if any(c in {**METRICS[t], **OPTIONAL_METRICS[t]} and c != "ExampleCount"
                                              for c in classes)]
        model_type = types[0] if len(types) == 1 else "binary" if "binary" in types else (types or ["binary"])[0]
        known = {**METRICS[model_type], **OPTIONAL_METRICS[model_type], **FAIRNESS_CLASSES}
        unknown = [c for c in classes if c not in known and c != "TrivialBaseline"]
        if unknown:
            other.append(f"metrics {unknown}")
        slices: list[Any] = []
        for sl in config.slicing_specs:
            if sl.feature_values:
                other.append(f"fixed-value slice {dict(sl.feature_values)}")
            elif sl.feature_keys:
                slices.append(sl.feature_keys[0] if len(sl.feature_keys) == 1 else tuple(sl.feature_keys))
        if config.cross_slicing_specs:
            other.append("cross slicing specs")
        thresholds: dict[str, Threshold] = {}
        scope = "overall"
        for spec_ in config.metrics_specs:
            if spec_.HasField("binarize") or spec_.HasField("aggregate"):
                other.append("binarize/aggregate options")
            for m in spec_.metrics:
                name = known.get(m.class_name)
                ths = [m.threshold] if m.HasField("threshold") else []
                if m.HasField("threshold"):
                    scope = "all"
                ths += [p.threshold for p in m.per_slice_thresholds]
                for th in ths:
                    lower = th.value_threshold.lower_bound.value if th.value_threshold.HasField("lower_bound") else None
                    upper = th.value_threshold.upper_bound.value if th.value_threshold.HasField("upper_bound") else None
                    drop = abs(th.change_threshold.absolute.value) if th.change_threshold.HasField("absolute") else None
                    if th.change_threshold.HasField("relative"):
                        other.append(f"relative change threshold on {m.class_name}")
                    if name and name != "gain_over_trivial" and (lower, upper, drop) != (None, None, None):
                        thresholds[name] = Threshold(lower=lower, upper=upper, max_drop=drop)
        metrics = [c for c in classes if c in known and c not in FAIRNESS_CLASSES] or None
        spec = cls(label=ms.label_key, model_type=model_type, slices=tuple(slices), metrics=metrics,
                   thresholds=thresholds, prediction_key=ms.prediction_key or None,
                   weight_key=ms.example_weight_key or None, signature=ms.signature_name or "serving_default",
                   threshold_slices=scope, beat_trivial="TrivialBaseline" in classes)
        return spec, other

    def _trivial_config(self) -> Any:
        """TFMA config of :class:`mlprod.evaluation.metrics.TrivialBaseline` (judged on Overall with beat_trivial)."""
        import json

        from tensorflow_model_analysis.proto import config_pb2 as tfma

        from mlprod.evaluation.trivial import GAIN, MIN_GAIN

        mc = tfma.MetricConfig(class_name="TrivialBaseline", module="mlprod.evaluation.metrics",
                               config=json.dumps({"name": GAIN, "metric": self.trivial_metric}))
        if self.beat_trivial:  # judged on the whole data: a slice's own majority class is not a predictor
            mc.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()],
                                        threshold=_threshold(Threshold(lower=MIN_GAIN), False))
        return mc


def _threshold(th: Threshold, lower_is_better: bool) -> Any:
    from tensorflow_model_analysis.proto import config_pb2 as tfma

    mt = tfma.MetricThreshold()
    if th.lower is not None or th.upper is not None:
        vt = tfma.GenericValueThreshold()
        if th.lower is not None:
            vt.lower_bound.value = th.lower
        if th.upper is not None:
            vt.upper_bound.value = th.upper
        mt.value_threshold.CopyFrom(vt)
    if th.max_drop is not None:
        ct = tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.LOWER_IS_BETTER if lower_is_better else tfma.MetricDirection.HIGHER_IS_BETTER)
        ct.absolute.value = th.max_drop if lower_is_better else -th.max_drop
        mt.change_threshold.CopyFrom(ct)
    return mt
