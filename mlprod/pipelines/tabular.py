"""A TFX pipeline for tabular classification, built from a small, checked config.

CsvExampleGen -> StatisticsGen -> SchemaGen -> SchemaCurator -> ExampleValidator ->
[serving data: ServingExampleGen -> ServingStatisticsGen -> SkewValidator (gate)] ->
Transform -> Trainer -> (latest-blessed-model Resolver) -> Evaluator -> Pusher, for
``LocalDagRunner`` with Beam's DirectRunner, in memory for small data and multi-processing for
large (:func:`mlprod.beam.choose_default`).

Without a ``feature_spec``, each column's role is inferred from a sample of the CSV
(:func:`mlprod.preprocessing.infer_feature_spec`), printed with the reasons and saved as
``<pipeline_root>/feature_spec.yaml`` to edit and pass back. A text label is mapped to class ids
0..K-1 in sorted order (``<pipeline_root>/label_classes.json``).

Example:
    >>> from mlprod.pipelines.tabular import PipelineConfig, create_pipeline
    >>> from mlprod import datasets
    >>> cfg = PipelineConfig(data_root=datasets.path("penguin/labelled").parent,
    ...                      label="species", pipeline_root="/tmp/penguin")
    >>> pipeline = create_pipeline(cfg)          # a tfx.dsl.Pipeline
    >>> pipeline.components[0].id
    'CsvExampleGen'
"""
from __future__ import annotations

import csv
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mlprod._compat import warn_renamed
from mlprod.beam import check_beam_args, choose_default, direct_args, worker_args
from mlprod.errors import ConfigError, DataError
from mlprod.io.files import (
    check_writable,
    join_uri,
    span_files,  # noqa: F401 - re-exported (older imports)
)
from mlprod.io.frames import csv_header, read_csv_file
from mlprod.params import Interval, Kind, check_params
from mlprod.validation.checks import GATE_PARAMS

if TYPE_CHECKING:  # pragma: no cover
    from tfx import v1 as tfx

MODULE = "mlprod.pipelines.tabular_module"
STAGED_LABELS = "data-label-ids"  # the copy of the data with text labels mapped to ids, under pipeline_root


def default_beam_args(workers: int | None = None) -> list[str]:
    """Beam DirectRunner in multi-processing mode with ``workers`` processes (:func:`mlprod.beam.direct_args`).

    Not the default of any tabular pipeline: that is :func:`mlprod.beam.default_args` (by data size).

    Example:
        >>> default_beam_args(2)
        ['--direct_running_mode=multi_processing', '--direct_num_workers=2', '--beam_plugins=mlprod']
    """
    return direct_args(workers)


def auto_beam_args(csv_bytes: int, cores: int | None = None) -> tuple[list[str], str]:
    """The default Beam args for ``csv_bytes`` of data, and a note saying which and why
    (:func:`mlprod.beam.choose_default`, the one default rule).

    Example:
        >>> auto_beam_args(40_000, cores=4)[0]
        ['--direct_running_mode=in_memory', '--beam_plugins=mlprod']
    """
    return choose_default(csv_bytes, cores)


#: PipelineConfig's argument checks (:mod:`mlprod.params`), run when a config is made; the
#: retraining policy's own (``retrain_when``) are :data:`mlprod.monitoring.retrain.RETRAIN_PARAMS`
PIPELINE_PARAMS = {
    "label": Kind(str), "pipeline_name": Kind(str), "beam_args": Kind(list, tuple, optional=True),
    "train_steps": Interval(int, 1), "eval_steps": Interval(int, 1), "hidden_units": Kind(tuple, list),
    "learning_rate": Interval(float, 0, closed="neither"), "min_accuracy": Interval(float, 0, 1, optional=True),
    "enable_cache": Kind(bool), "num_classes": Interval(int, 2, optional=True), "eval_slices": Kind(tuple, list),
    "skew_mode": GATE_PARAMS["mode"], "check_kind": GATE_PARAMS["kind"], "tune": Kind(dict, optional=True),
    "curate_schema": Kind(bool), "span_pattern": Kind(str, optional=True), "retrain_when": Kind(dict, optional=True),
    "seed": Interval(int, 0), "feature_store": Kind(dict, optional=True),
}
#: the keys of ``PipelineConfig(feature_store={...})``: FeatureExampleGen's parameters
FEATURE_STORE_KEYS = {"repo", "entity_df", "features", "timestamp", "eval_share", "seed"}


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the tabular pipeline needs; paths may be ``str`` or ``Path``.

    Attributes:
        data_root: folder holding the CSV file(s) (what CsvExampleGen reads); None with ``feature_store``.
        label: name of the class column: integer ids 0..K-1, or text (mapped to ids 0..K-1 in
            sorted order in a copy of the data under ``pipeline_root``; the served model's
            probabilities follow that order, recorded in ``label_classes.json``).
        pipeline_root: where TFX writes artifacts.
        metadata_path: SQLite ML Metadata store (default ``<pipeline_root>/metadata.sqlite``).
        model_dir: the Pusher folder servers watch, where blessed models go as numbered version
            folders (default ``<pipeline_root>/serving_model``; read back, always the folder used,
            also after ``dataclasses.replace(config, pipeline_root=...)``). ``serving_model_dir=``
            is its old name (one release, with a DeprecationWarning).
        pipeline_name: the name in ML Metadata; runs with the same name share cache and baseline.
        beam_args: Beam pipeline args (a list of strings; a tuple is accepted) for the Beam-powered
            components (any runner); default (None): :func:`mlprod.beam.choose_default` by the CSV
            size, DirectRunner in memory below :data:`mlprod.beam.MULTIPROCESS_BYTES`,
            multi-processing above (the choice is printed).
        train_steps, eval_steps: Trainer budget.
        hidden_units: widths of the dense layers.
        min_accuracy: an absolute lower bound on the Evaluator's accuracy (below it the model is
            not blessed and not pushed). Default None: no absolute bound, because what accuracy
            is good depends on the task (0.8 rejects a fine model on a noisy 5-class task and
            blesses a useless one on a 80/20 binary task); the Evaluator always requires beating
            the trivial baseline (always predicting the most common class of the evaluated data)
            and, once a model is serving, being at most 1 point worse than it.
        enable_cache: reuse executions whose inputs did not change.
        num_classes: number of label classes (default: inferred from the data).
        eval_slices: slices for the Evaluator (features or crosses, as in
            :class:`mlprod.evaluation.EvalSpec`); thresholds judge the overall slice.
        serving_data_root: folder of serving CSV(s) (e.g. request logs); given, a skew gate
            compares them with the training data before Transform/Trainer run.
        skew_mode: ``"fail"`` stops the run when skew is found; ``"warn"`` records it only.
        check_kind: ``"skew"`` (serving data vs training) or ``"drift"`` (a later span vs training).
        tune: given, a Tuner searches the architecture before Trainer (NAS), e.g.
            ``{"strategy": "evolution", "max_trials": 4, "epochs": 2, "depth": (1, 2)}``
            (see :mod:`mlprod.tuning.tfx_fn`); Trainer rebuilds the best one in tf_keras.
        feature_spec: the :class:`mlprod.preprocessing.FeatureSpec` Transform applies, its dict, or
            a YAML file path. Default: inferred per column from a CSV sample
            (:func:`mlprod.preprocessing.infer_feature_spec`: numbers z-scored, low-cardinality
            text one-hot, ISO dates as DateParts, ids and near-unique text dropped), printed with
            the reasons and saved as ``<pipeline_root>/feature_spec.yaml``.
        seed: seeds the Trainer (weights, shuffling) and makes TensorFlow's ops deterministic
            there, so the same config and data give the same model with the in-memory Beam mode
            (multi-processing Beam writes the examples in a varying order, so results there still
            vary a little); recorded in the Trainer's ``custom_config`` in ML Metadata and in the
            run summary.
        curate_schema: apply mlprod's schema curation (ranges, domains, environments) to
            SchemaGen's schema (:class:`mlprod.components.SchemaCurator`).
        span_pattern: TFX span pattern under ``data_root``, e.g. ``"span-{SPAN}/*.csv"``: each run
            reads the newest span (ExampleGen records its number in ML Metadata), so a retrain on
            new data is a new span folder (:func:`mlprod.retrain_if` writes them).
        retrain_when: given, the pipeline is the scheduled retraining loop: a
            :class:`~mlprod.components.RetrainTrigger` first monitors the request log and applies
            the policy (its parameters, e.g. ``{"log_dir": "/srv/logs/taxi", "window": "7D",
            "drift_features": ["trip_miles"]}``, and every :class:`~mlprod.monitoring.RetrainPolicy`
            field: ``on_skew``, ``on_decay``, ``on_estimated_decay``, ``max_age``, ``last_windows``,
            ``span_windows``, ``min_labelled_rows``; ``label``, ``model_dir``, ``data_root`` and
            ``span_pattern`` come from this config); when it fires it writes the labelled
            requests as the next span, and everything else runs under ``tfx.dsl.Cond`` on that:
            a run where nothing fires trains nothing. Needs ``span_pattern``.
        feature_store: given, training data comes from a Feast feature repo instead of
            ``data_root`` (pass ``data_root=None``): ``{"repo": folder, "entity_df": Parquet/CSV
            file of entity key, event timestamp and label, "features": ["view:feature", ...]}``
            (optional ``timestamp``, ``eval_share``, ``seed``); a
            :class:`~mlprod.components.FeatureExampleGen` writes point-in-time-correct examples
            in ExampleGen's place (docs/feature-store.md). The feature spec is inferred from the
            first 2,000 entity rows joined with their features. Not with ``span_pattern`` or
            ``retrain_when`` (they write CSV spans); labels must be class ids.
    """

    data_root: str | Path | None
    label: str
    pipeline_root: str | Path
    metadata_path: str | Path | None = None
    model_dir: str | Path | None = None
    pipeline_name: str = "mlprod-tabular"
    beam_args: list[str] | None = None
    train_steps: int = 300
    eval_steps: int = 10
    hidden_units: tuple[int, ...] = (16, 8)
    learning_rate: float = 0.01
    min_accuracy: float | None = None
    enable_cache: bool = True
    num_classes: int | None = None
    eval_slices: tuple = ()
    serving_data_root: str | Path | None = None
    skew_mode: str = "fail"
    check_kind: str = "skew"
    tune: dict[str, Any] | None = None
    feature_spec: Any = None
    curate_schema: bool = True
    span_pattern: str | None = None
    retrain_when: dict[str, Any] | None = None
    seed: int = 0
    feature_store: dict[str, Any] | None = None
    # the default model_dir this config resolved (so replace(config, pipeline_root=...) moves it along)
    _default_model_dir: str | None = field(default=None, repr=False, compare=False, kw_only=True)

    def __post_init__(self) -> None:
        check_params("PipelineConfig", {f: getattr(self, f) for f in PIPELINE_PARAMS}, PIPELINE_PARAMS)
        object.__setattr__(self, "beam_args", check_beam_args(self.beam_args, "PipelineConfig: beam_args"))
        default = join_uri(self.pipeline_root, "serving_model")
        if self.model_dir is None or str(self.model_dir) == self._default_model_dir:
            object.__setattr__(self, "model_dir", default)
            object.__setattr__(self, "_default_model_dir", default)
        else:
            object.__setattr__(self, "model_dir", str(self.model_dir))
            object.__setattr__(self, "_default_model_dir", None)

    @property
    def metadata(self) -> str:
        """The SQLite ML Metadata path actually used."""
        return str(self.metadata_path or join_uri(self.pipeline_root, "metadata.sqlite"))

    @property
    def serving_dir(self) -> str:
        """Deprecated: :attr:`model_dir` (the push destination, always resolved now)."""
        warnings.warn("PipelineConfig.serving_dir is deprecated: use PipelineConfig.model_dir; the old name goes in "
                      "the next release.", DeprecationWarning, stacklevel=2)
        return str(self.model_dir)


def _serving_model_dir(self: PipelineConfig) -> str:
    """Deprecated: :attr:`PipelineConfig.model_dir`."""
    warnings.warn("PipelineConfig.serving_model_dir is deprecated: use PipelineConfig.model_dir; the old name goes "
                  "in the next release.", DeprecationWarning, stacklevel=2)
    return str(self.model_dir)


def _accepts_old_names(init: Any) -> Any:
    """PipelineConfig's ``__init__`` taking ``serving_model_dir=`` (model_dir's old name) for one release."""
    import functools

    @functools.wraps(init)
    def __init__(self: PipelineConfig, *args: Any, **kwargs: Any) -> None:
        if "serving_model_dir" in kwargs:
            if kwargs.get("model_dir") is not None or len(args) > 4:
                raise ConfigError("PipelineConfig: pass model_dir= only (serving_model_dir= is its deprecated old "
                                  "name).")
            warn_renamed("PipelineConfig", "serving_model_dir", "model_dir")
            kwargs["model_dir"] = kwargs.pop("serving_model_dir")
        init(self, *args, **kwargs)

    return __init__


# the old name, outside the dataclass's fields (so dataclasses.replace never passes it on): given,
# it lands in model_dir; read, it warns and gives model_dir
PipelineConfig.__init__ = _accepts_old_names(PipelineConfig.__init__)  # type: ignore[method-assign]
PipelineConfig.serving_model_dir = property(_serving_model_dir)  # type: ignore[attr-defined]


def check_config(config: PipelineConfig) -> dict[str, Any]:
    """Validate ``config`` against the data before any component runs.

    Reads the CSV headers and the label column, and a sample of the rows when the feature spec
    is to be inferred. Returns facts the pipeline needs (``csv_files``, ``columns``,
    ``num_classes``, ``feature_spec``; ``label_classes``: the sorted text labels, or None for
    integer labels; ``inferred``: the :class:`~mlprod.preprocessing.InferredSpec`, or None when
    the config gave a spec).

    (Single values are checked when the config is made: :data:`PIPELINE_PARAMS`.)

    Raises:
        DataError: missing folder/CSV, empty CSV, label not a column, negative integer labels,
            text labels with span_pattern.
        ConfigError: eval slices that are not columns, a bad ``tune`` or ``retrain_when``.

    Example:
        >>> from mlprod import datasets
        >>> cfg = PipelineConfig(datasets.path("penguin/labelled").parent, "species", "/tmp/p")
        >>> check_config(cfg)["num_classes"]
        3
    """
    if config.feature_store is not None:
        return _check_feature_store(config)
    if config.data_root is None:
        raise ConfigError("PipelineConfig: data_root=None needs feature_store={...}; pass the folder holding the "
                          "CSV file(s).")
    root = Path(config.data_root)
    if not root.is_dir():
        raise DataError(f"data_root {str(root)!r} is not a folder; point it at the folder holding your CSV file(s).")
    _check_retrain_when(config)
    if config.span_pattern:
        files = span_files(root, config.span_pattern)[1]
    else:
        files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"data_root {str(root)!r} has no files; put the training CSV there.")
    if config.serving_data_root is not None and not Path(config.serving_data_root).is_dir():
        raise DataError(f"serving_data_root {str(config.serving_data_root)!r} is not a folder; point it at "
                        "the folder holding the serving CSV(s), or set it to None.")
    columns: list[str] | None = None
    labels: set[str] = set()
    for f in files:
        header = csv_header(str(f))  # the one CSV header reader (empty or binary files named)
        if columns is None:
            columns = header
        elif header != columns:
            raise DataError(f"{f} has columns {header}, unlike {files[0].name} ({columns}); "
                            "every CSV in data_root must share one header.")
        if config.label not in header:
            raise DataError(f"label column {config.label!r} is not in {f.name} (columns: {header}); "
                            "pass the right label= name.")
        values = read_csv_file(str(f), str(f), binary="CsvExampleGen reads CSV text only.", usecols=[config.label],
                               dtype=str, keep_default_na=False)[config.label]
        if len(values) == 0:
            raise DataError(f"{f} has a header but no data rows; add data or remove the file.")
        labels.update(v for v in values if v != "")
    classes: list[str] | None = None
    try:
        ints = sorted(int(v) for v in labels)
    except ValueError:
        classes = sorted(labels)
        ints = list(range(len(classes)))
        if config.span_pattern or config.retrain_when is not None:
            raise DataError(f"label {config.label!r} holds text ({classes[:3]}); with span_pattern each new span "
                            "must keep the same class ids, so map class names to integers 0..K-1 in the data first.") from None
        if "://" in str(config.pipeline_root):
            raise DataError(f"label {config.label!r} holds text ({classes[:3]}); mlprod maps text labels in a local "
                            "copy of the data, which a remote pipeline_root cannot hold: map class names to "
                            "integers 0..K-1 in the data first.") from None
    if not ints or ints[0] < 0:
        raise DataError(f"label {config.label!r} must hold class ids 0..K-1 or class names (found {ints[:5]}).")
    if len(ints) < 2:
        raise DataError(f"label {config.label!r} has one class only ({sorted(labels)}); a classifier needs two or "
                        "more.")
    _check_outputs(config)
    spec, inferred = _spec_for(config, columns, files, "CSV header")
    return {"csv_files": files, "columns": columns, "num_classes": config.num_classes or ints[-1] + 1,
            "feature_spec": spec, "label_classes": classes, "inferred": inferred}


def _check_outputs(config: PipelineConfig) -> None:
    """Where the run writes can be written, and the tuning options fit (both data paths)."""
    check_writable(config.pipeline_root)
    if config.metadata_path is not None and "://" not in str(config.metadata_path):
        check_writable(Path(config.metadata_path).parent)
    _check_tune(config.tune)


def _spec_for(config: PipelineConfig, columns: list[str] | None, source: Any, where: str) -> tuple[Any, Any]:
    """``(feature spec, InferredSpec or None)`` for the training data ``source`` (CSV files or rows),
    with ``eval_slices``, the spec's label and its input columns checked against ``columns``
    (``where`` names them in the messages: "CSV header", "training rows")."""
    have = columns or []
    unknown = [c for s in config.eval_slices for c in ([s] if isinstance(s, str) else list(s)) if c not in have]
    if unknown:
        raise ConfigError(f"eval_slices name column(s) {unknown} that are not in the {where} {columns}; "
                          "fix eval_slices.")
    inferred = None
    if config.feature_spec is None:
        from mlprod.preprocessing.infer import infer_feature_spec

        inferred = infer_feature_spec(source, config.label)
        spec = inferred.spec
    else:
        spec = load_feature_spec(config.feature_spec)
    if spec.label is not None and spec.label != config.label:
        raise ConfigError(f"the feature spec's label is {spec.label!r} but the config's is {config.label!r}; make "
                          "them the same.")
    missing = [c for c in spec.input_columns() if c not in have]
    if missing:
        raise DataError(f"the feature spec names column(s) {missing} that are not in the {where} {columns}; "
                        "fix the spec.")
    return spec, inferred


def _check_feature_store(config: PipelineConfig) -> dict[str, Any]:
    """:func:`check_config` for ``feature_store=``: the facts read from a preview of the training
    rows (the first 2,000 entity rows joined with their features, as FeatureExampleGen joins them)."""
    from mlprod.features.examples import iso_times
    from mlprod.features.repo import FEAST_TIMESTAMP, FeatureRepo
    from mlprod.io.frames import load_frame

    fs = dict(config.feature_store or {})
    unknown, lacking = sorted(set(fs) - FEATURE_STORE_KEYS), sorted({"repo", "entity_df", "features"} - set(fs))
    if unknown or lacking:
        raise ConfigError(f"PipelineConfig: feature_store has unknown key(s) {unknown} / lacks {lacking}; it takes "
                          f"{sorted(FEATURE_STORE_KEYS)} (repo, entity_df and features are needed).")
    if config.span_pattern or config.retrain_when is not None:
        raise ConfigError("PipelineConfig: feature_store= cannot go with span_pattern= or retrain_when= (they read "
                          "and write CSV spans under data_root); add new labelled rows to the entity file instead.")
    if not (Path(fs["repo"]) / "feature_store.yaml").is_file():
        raise DataError(f"feature_store repo {str(fs['repo'])!r} has no feature_store.yaml; create it with "
                        "mlprod.feature_repo(path) and define the views first.")
    timestamp = fs.get("timestamp", FEAST_TIMESTAMP)
    entity = load_frame(str(fs["entity_df"]), what="entity rows")
    if config.label not in entity.columns:
        raise DataError(f"label column {config.label!r} is not in the entity rows {fs['entity_df']} (columns: "
                        f"{list(entity.columns)}); pass the right label= name.")
    try:
        ints = sorted({int(v) for v in entity[config.label].dropna()})
    except ValueError:
        raise DataError(f"label {config.label!r} of the entity rows holds text; map class names to integers 0..K-1 "
                        "in the entity file first.") from None
    if not ints or ints[0] < 0 or len(ints) < 2:
        raise DataError(f"label {config.label!r} must hold two or more class ids 0..K-1 (found {ints[:5]}).")
    if config.serving_data_root is not None and not Path(config.serving_data_root).is_dir():
        raise DataError(f"serving_data_root {str(config.serving_data_root)!r} is not a folder; point it at "
                        "the folder holding the serving CSV(s), or set it to None.")
    _check_outputs(config)
    preview = FeatureRepo(fs["repo"]).training_frame(entity.head(2000), fs["features"], timestamp=timestamp)
    preview[timestamp] = iso_times(preview[timestamp])  # as the examples hold it
    columns = list(preview.columns)
    spec, inferred = _spec_for(config, columns, preview, "training rows")
    return {"csv_files": [Path(fs["entity_df"])], "columns": columns, "num_classes": config.num_classes or ints[-1] + 1,
            "feature_spec": spec, "label_classes": None, "inferred": inferred}


def load_feature_spec(spec: Any) -> Any:
    """A :class:`~mlprod.preprocessing.FeatureSpec` from itself, its dict, or a YAML/JSON file path.

    Raises:
        ConfigError: a path that is not a file, or a spec that does not parse.

    Example:
        >>> from mlprod.preprocessing import FeatureSpec, Numeric
        >>> load_feature_spec({"label": "y", "features": [{"kind": "numeric", "name": "x"}]}).label
        'y'
    """
    from mlprod.preprocessing.spec import FeatureSpec

    if isinstance(spec, FeatureSpec):
        return spec
    if isinstance(spec, dict):
        return FeatureSpec.from_dict(spec)
    if isinstance(spec, (str, Path)):
        if not Path(spec).is_file():
            raise ConfigError(f"feature_spec {str(spec)!r} is not a file; pass a FeatureSpec, a dict or the path of a "
                              "YAML spec (e.g. the feature_spec.yaml a run without a spec saved).")
        return FeatureSpec.from_yaml(Path(spec).read_text())
    raise ConfigError(f"feature_spec must be a FeatureSpec, a dict or a YAML file path, not {type(spec).__name__}.")


def _check_tune(tune: dict[str, Any] | None) -> None:
    """The ``tune`` dict's budget, strategy and space, checked before the Tuner runs."""
    if tune is None:
        return
    from mlprod.tuning.search import STRATEGIES
    from mlprod.tuning.tfx_fn import SPACE_KEYS, space_from_config

    if not isinstance(tune, dict):
        raise ConfigError(f"tune must be a dict such as {{'strategy': 'evolution', 'max_trials': 4}}, not {tune!r}.")
    allowed = {"strategy", "max_trials", "epochs", "steps", "eval_steps", "early_termination", "fidelity",
               "weight_inheritance", "inherited_epochs", *SPACE_KEYS}
    unknown = sorted(set(tune) - allowed)
    if unknown:
        raise ConfigError(f"tune has unknown key(s) {unknown}; allowed: {sorted(allowed)}.")
    if tune.get("strategy", "random") not in STRATEGIES:
        raise ConfigError(f"tune strategy={tune.get('strategy')!r}; choose one of {STRATEGIES}.")
    for flag in ("early_termination", "weight_inheritance"):
        if not isinstance(tune.get(flag, False), bool):
            raise ConfigError(f"tune {flag}={tune[flag]!r} must be True or False.")
    if tune.get("weight_inheritance") and tune.get("strategy", "random") != "evolution":
        raise ConfigError("tune weight_inheritance=True needs strategy='evolution'.")
    if tune.get("fidelity", "epochs") not in ("epochs", "data") or (
            tune.get("fidelity") == "data" and tune.get("strategy", "random") not in ("hyperband", "asha")):
        raise ConfigError(f"tune fidelity={tune.get('fidelity')!r}: use 'epochs', or 'data' with strategy "
                          "'hyperband' or 'asha'.")
    for key in ("max_trials", "epochs", "steps", "eval_steps", "inherited_epochs"):
        value = tune.get(key, 1)
        if key == "inherited_epochs" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"tune {key}={value!r} must be a positive integer.")
    space_from_config({"num_classes": 2, "nas_space": tune}, 1)  # the space's own checks


TRIGGER_KEYS = ("log_dir", "window", "features", "drift_features", "on_decay", "on_estimated_decay", "on_skew",
                "max_age", "last_windows", "span_windows", "time_column", "time_unit", "min_labelled_rows")


def _check_retrain_when(config: PipelineConfig) -> None:
    """``retrain_when``: RetrainTrigger's parameters, a log folder, and a span pattern to write to."""
    when = config.retrain_when
    if when is None:
        return
    if not isinstance(when, dict) or "log_dir" not in when:
        raise ConfigError(f"retrain_when must be a dict with at least 'log_dir' (the server's request-log folder), "
                          f"e.g. {{'log_dir': '/srv/logs/taxi', 'window': '7D'}}; got {when!r}.")
    unknown = sorted(set(when) - set(TRIGGER_KEYS))
    if unknown:
        raise ConfigError(f"retrain_when has unknown key(s) {unknown}; allowed: {list(TRIGGER_KEYS)} (label, "
                          "model_dir, data_root and span_pattern come from the PipelineConfig).")
    if not config.span_pattern:
        raise ConfigError("retrain_when writes each retrain's data as a new span: set span_pattern, e.g. "
                          "'span-{SPAN}/*.csv', with the first training CSV in span-1/.")
    from mlprod.monitoring.retrain import policy_of

    policy_of(when)  # the policy's own checks (RetrainPolicy's messages), before any component runs


def _tuned_space(config: PipelineConfig) -> dict[str, Any]:
    """The space/strategy settings the Trainer needs to rebuild the tuned architecture."""
    return {"nas_space": {k: list(v) if isinstance(v, tuple) else v for k, v in (config.tune or {}).items()}}


def default_feature_spec(files: list[Path], label: str) -> Any:
    """The spec inferred from a sample of ``files`` (:func:`mlprod.preprocessing.infer_feature_spec`).

    Example:
        >>> from mlprod import datasets
        >>> spec = default_feature_spec([datasets.path("penguin/labelled")], "species")
        >>> [type(f).__name__ for f in spec.features]
        ['Numeric', 'Numeric', 'Numeric', 'Numeric']
    """
    from mlprod.preprocessing.infer import infer_feature_spec

    return infer_feature_spec(list(files), label).spec


def stage_text_labels(files: list[Path], label: str, classes: list[str], folder: str | Path) -> Path:
    """Copy ``files`` into ``folder`` with the text ``label`` replaced by its index in ``classes``.

    Other cells keep their values; a file is rewritten only when its content changes,
    so an unchanged copy keeps ExampleGen's cache. ``folder/../label_classes.json`` records
    the mapping.

    Example:
        >>> import json, pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.csv").write_text("x,y\\n1,cat\\n2,dog\\n")
        >>> out = stage_text_labels([d / "a.csv"], "y", ["cat", "dog"], d / "staged")
        >>> (out / "a.csv").read_text().splitlines()
        ['x,y', '1,0', '2,1']
    """
    import io
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ids = {c: str(i) for i, c in enumerate(classes)}
    keep = set()
    for f in files:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        with open(f, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            idx = header.index(label)
            writer.writerow(header)
            for row in reader:
                if idx < len(row) and row[idx] != "":
                    row[idx] = ids[row[idx]]
                writer.writerow(row)
        target = folder / f.name
        keep.add(target.name)
        text = buf.getvalue()
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    for old in folder.iterdir():  # a file no longer in data_root must not be read again
        if old.name not in keep:
            old.unlink()
    mapping = {"label": label, "classes": classes}
    (folder.parent / "label_classes.json").write_text(json.dumps(mapping, indent=1))
    return folder


def create_pipeline(config: PipelineConfig, notes: TextIO | None = None) -> "tfx.dsl.Pipeline":
    """Build the tabular classification pipeline described by ``config`` (validated first).

    Returns a ``tfx.dsl.Pipeline``; run it with :func:`mlprod.pipelines.runner.run_pipeline` or
    any TFX runner. Components keep TFX's standard ids, so users can swap one out. What was
    decided for you (the inferred feature spec and why, text-label ids, the Beam mode) is
    printed to ``notes`` (default ``sys.stderr``).

    Example:
        >>> from mlprod import datasets
        >>> cfg = PipelineConfig(datasets.path("penguin/labelled").parent, "species", "/tmp/p")
        >>> len(create_pipeline(cfg).components)
        10
    """
    from tfx import v1 as tfx

    facts = check_config(config)
    facts["data_root"] = str(config.data_root)
    said = []
    if facts["inferred"] is not None:
        said.append(facts["inferred"].explain())
        if "://" not in str(config.pipeline_root):
            facts["inferred"].to_yaml(Path(config.pipeline_root) / "feature_spec.yaml")
            said.append(f"saved as {Path(config.pipeline_root) / 'feature_spec.yaml'}: edit it and pass "
                         "feature_spec=<path> (mlprod run --spec <path>) to change a decision.")
    if facts["label_classes"] is not None:
        staged = stage_text_labels(facts["csv_files"], config.label, facts["label_classes"],
                                   Path(config.pipeline_root) / STAGED_LABELS)
        facts["data_root"] = str(staged)
        said.append(f"label {config.label!r} is text: classes {facts['label_classes']} are trained as ids "
                     f"0..{len(facts['label_classes']) - 1} (in that order in the model's output; "
                     f"{Path(config.pipeline_root) / 'label_classes.json'}); the data is read from {staged}.")
    beam_args = config.beam_args
    if beam_args is None:
        beam_args, note = choose_default(sum(Path(f).stat().st_size for f in facts["csv_files"]))
        said.append(note)
    for note in said:
        print(f"mlprod: {note}", file=notes or sys.stderr, flush=True)
    if config.retrain_when is None:
        nodes = _training_nodes(config, facts)
    else:
        import datetime

        from mlprod.components.monitoring import RetrainTrigger

        # now: a new value each time the pipeline is built, so a scheduled run decides afresh (not from cache)
        trigger = RetrainTrigger(label=config.label, model_dir=config.model_dir, data_root=str(config.data_root),
                                 span_pattern=str(config.span_pattern),
                                 now=datetime.datetime.now(datetime.timezone.utc).isoformat(), **config.retrain_when)
        with tfx.dsl.Cond(trigger.outputs["signal"].future()[0].custom_property("retrain") == 1):
            nodes = _training_nodes(config, facts)
        nodes = [trigger, *nodes]
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(config.pipeline_root),
        components=nodes,
        enable_cache=config.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(config.metadata)),
        beam_pipeline_args=worker_args(beam_args))
    pipeline.mlprod_config = config  # run_pipeline logs its fields as the MLflow run's params
    return pipeline


def evaluation_spec(config: PipelineConfig) -> Any:
    """The Evaluator's :class:`~mlprod.evaluation.EvalSpec`: bless a model that beats the trivial
    baseline (the most common class) and is at most 1 accuracy point worse than the serving model
    (TFMA's change threshold; the first model has none to compare with), plus ``min_accuracy`` as
    an absolute bound when set. Logs the rule it chose.

    Example:
        >>> from mlprod import datasets
        >>> spec = evaluation_spec(PipelineConfig(datasets.path("penguin/labelled").parent, "species", "/tmp/p"))
        >>> spec.thresholds["sparse_categorical_accuracy"], spec.beat_trivial
        (Threshold(lower=None, upper=None, max_drop=0.01), True)
    """
    import logging

    from mlprod.evaluation.spec import EvalSpec, Threshold

    acc = "sparse_categorical_accuracy"
    rule = ("beat the trivial baseline (always predicting the most common class) and be at most 1 accuracy point "
            "worse than the serving model")
    if config.min_accuracy is None:
        logging.getLogger("mlprod.pipelines").info("Evaluator blesses a model that must %s; set min_accuracy= for "
                                                   "an absolute bound too.", rule)
    else:
        rule += f", with accuracy >= {config.min_accuracy:g} (min_accuracy)"
        logging.getLogger("mlprod.pipelines").info("Evaluator blesses a model that must %s.", rule)
    return EvalSpec(label=config.label, model_type="classification", slices=list(config.eval_slices),
                    thresholds={acc: Threshold(lower=config.min_accuracy, max_drop=0.01)})


def _training_nodes(config: PipelineConfig, facts: dict[str, Any]) -> list[Any]:
    """ExampleGen ... Pusher (with the optional gates and Tuner), in run order."""
    from tfx import v1 as tfx

    from mlprod.components import pusher_component, transform_component, tuner_component
    from mlprod.components.evaluation import evaluator_components

    custom = {"label": config.label, "num_classes": facts["num_classes"],
              "hidden_units": list(config.hidden_units), "learning_rate": config.learning_rate,
              "seed": config.seed}
    if facts.get("label_classes") is not None:
        custom["label_classes"] = list(facts["label_classes"])
    if config.feature_store is not None:
        from mlprod.components.features import FeatureExampleGen

        example_gen = FeatureExampleGen(**config.feature_store)
    else:
        example_gen = tfx.components.CsvExampleGen(
            input_base=facts.get("data_root", str(config.data_root)),
            input_config=tfx.proto.Input(splits=[tfx.proto.Input.Split(name="single_split",
                                                                       pattern=config.span_pattern)])
            if config.span_pattern else None)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                          infer_feature_shape=True)
    nodes: list[Any] = [example_gen, statistics_gen, schema_gen]
    schema = schema_gen.outputs["schema"]
    if config.curate_schema:
        from mlprod.components.validation import SchemaCurator

        curator = SchemaCurator(statistics=statistics_gen.outputs["statistics"], schema=schema,
                                label=config.label)
        schema = curator.outputs["curated_schema"]
        nodes.append(curator)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema)
    nodes.append(example_validator)
    gates = []
    if config.serving_data_root is not None:
        from mlprod.components.validation import DistributionValidator

        serving_gen = tfx.components.CsvExampleGen(
            input_base=str(config.serving_data_root),
            output_config=tfx.proto.Output(split_config=tfx.proto.SplitConfig(
                splits=[tfx.proto.SplitConfig.Split(name="serving", hash_buckets=1)]))).with_id("ServingExampleGen")
        serving_stats = tfx.components.StatisticsGen(
            examples=serving_gen.outputs["examples"]).with_id("ServingStatisticsGen")
        skew = DistributionValidator(reference_statistics=statistics_gen.outputs["statistics"],
                                     statistics=serving_stats.outputs["statistics"], schema=schema,
                                     kind=config.check_kind, mode=config.skew_mode,
                                     split="serving").with_id(f"{config.check_kind.capitalize()}Validator")
        nodes += [serving_gen, serving_stats, skew]
        gates.append(skew)
    transform = transform_component(example_gen.outputs["examples"], schema, facts["feature_spec"])
    for gate in gates:  # a failed gate in "fail" mode stops the run before Transform/Trainer
        transform.add_upstream_node(gate)
    tuner = None
    if config.tune is not None:
        tuner = tuner_component(transform.outputs["transformed_examples"], transform.outputs["transform_graph"],
                                label=config.label, num_classes=facts["num_classes"],
                                eval_steps=config.eval_steps, **config.tune)
        custom.update(_tuned_space(config))  # the Trainer rebuilds the tuned architecture from these
    trainer = tfx.components.Trainer(
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        run_fn=f"{MODULE}.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        train_args=tfx.proto.TrainArgs(num_steps=config.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=config.eval_steps),
        custom_config=custom)
    model_resolver, evaluator = evaluator_components(
        example_gen.outputs["examples"], trainer.outputs["model"], evaluation_spec(config))
    pusher = pusher_component(trainer.outputs["model"], evaluator.outputs["blessing"], config.model_dir)
    return [*nodes, transform, *([tuner] if tuner else []), trainer, model_resolver, evaluator, pusher]
