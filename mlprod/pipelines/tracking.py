"""Log a pipeline run to MLflow: its parameters, the Evaluator's metrics, its artifacts, and the
push as a registered model version.

:func:`log_run` reads what ML Metadata recorded of one run (:class:`~mlprod.pipelines.runner.RunSummary`)
and writes one MLflow run in the experiment named after the pipeline:

- params: the :class:`~mlprod.pipelines.tabular.PipelineConfig` fields (``config.*``, when the
  config is known), the Trainer's execution properties (``trainer.*``), the feature spec
  (``spec.<column>`` = its kind and options, JSON) and the tuned hyperparameters (``tuned.*``, when a Tuner ran);
- metrics: every metric of the Evaluator's output (``tfma.load_metrics``), the overall slice under
  the metric's own name, each slice as ``<slice>/<metric>`` (``species:1/sparse_categorical_accuracy``),
  the baseline model's values as ``baseline/<metric>`` and the change against it as
  ``change/<metric>``;
- artifacts: the schema, every HTML/text report of the run's gates, the evaluation, the model;
- tags: ``mlprod.run_id`` (ML Metadata's ``pipeline_run``), ``mlprod.execution.<Component>`` (the
  execution ids), ``mlprod.spans`` (the ExampleGen spans the model was trained on), ``mlprod.blessed``.

A run that pushed registers the pushed folder as a version of the model named after the
pipeline, alias ``candidate`` (:func:`mlprod.tracking.register_version`), with the same tags.
Logging the same ML Metadata run twice updates its MLflow run; it never makes a second one.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_tracking.py runs this path.)
    >>> from mlprod.pipelines.tracking import log_run
    >>> log_run(summary, config=cfg)["metrics"]["sparse_categorical_accuracy"]  # doctest: +SKIP
    0.97
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import fields
from typing import Any

from mlprod.pipelines.metadata import _spans, open_store
from mlprod.tracking.models import TAG, register_version
from mlprod.tracking.store import client, experiment_id, resolve_tracking_uri

RunSummary = Any  # mlprod.pipelines.runner.RunSummary (runner imports this module: no import back)
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]+")


def metric_name(slice_name: str, metric: str, prefix: str = "") -> str:
    """The MLflow name of a TFMA metric on a slice (MLflow allows letters, digits, ``_-. :/``).

    Example:
        >>> metric_name("species=1", "sparse_categorical_accuracy")
        'species:1/sparse_categorical_accuracy'
        >>> metric_name("Overall", "auc", "baseline")
        'baseline/auc'
    """
    from mlprod.evaluation.result import OVERALL

    parts = [prefix] if prefix else []
    if slice_name != OVERALL:
        parts.append(slice_name.replace("=", ":").replace(", ", "&"))
    parts.append(metric)
    return _UNSAFE.sub("_", "/".join(parts))


def evaluation_metrics_all(eval_uri: str) -> dict[str, float]:
    """Every metric of an Evaluator output as MLflow names (:func:`metric_name`): overall, per
    slice, the baseline's and the change against it. Empty when the folder holds no metrics."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.slicer import slicer_lib

    from mlprod.evaluation.result import slice_name

    out: dict[str, float] = {}
    try:
        loaded = list(tfma.load_metrics(eval_uri))
    except Exception:  # noqa: BLE001 - an evaluation that never wrote metrics
        return out
    for m in loaded:
        sname = slice_name(slicer_lib.deserialize_slice_key(m.slice_key))
        for kv in m.metric_keys_and_values:
            if not kv.value.HasField("double_value"):
                continue
            key = kv.key
            name = key.name
            if key.sub_key.HasField("class_id"):
                name = f"{name}_class_{key.sub_key.class_id.value}"
            if key.sub_key.HasField("top_k"):
                name = f"{name}_top{key.sub_key.top_k.value}"
            prefix = "change" if key.is_diff else "baseline" if key.model_name == "baseline" else ""
            out[metric_name(sname, name, prefix)] = float(kv.value.double_value.value)
    return out


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flat(f"{prefix}.{k}", v, out)
    else:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[prefix] = text[:6000]  # MLflow's limit on a param value


def _config_params(config: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in fields(config):
        if f.name.startswith("_"):
            continue
        v = getattr(config, f.name)
        if f.name == "feature_spec" and v is not None and not isinstance(v, (str, os.PathLike)):
            v = "given (see spec.*)"
        _flat(f"config.{f.name}", str(v) if isinstance(v, os.PathLike) else list(v) if isinstance(v, tuple) else v,
              out)
    return out


def _spec_params(config: Any, root: str) -> tuple[dict[str, str], str | None]:
    """``spec.<column>`` = kind, and the YAML text (from the config, else the inferred spec saved)."""
    spec = None
    if config is not None and getattr(config, "feature_spec", None) is not None:
        from mlprod.pipelines.tabular import load_feature_spec

        spec = load_feature_spec(config.feature_spec)
    elif os.path.isfile(os.path.join(root, "feature_spec.yaml")):
        from mlprod.preprocessing.spec import FeatureSpec

        with open(os.path.join(root, "feature_spec.yaml")) as f:
            spec = FeatureSpec.from_yaml(f.read())
    if spec is None:
        return {}, None
    out = {}
    for feat in spec.to_dict().get("features", []):
        name = feat.get("name") or "+".join(feat.get("columns", []))
        out[f"spec.{name}"] = json.dumps({k: v for k, v in feat.items() if k != "name"}, default=str)[:6000]
    return out, spec.to_yaml() if hasattr(spec, "to_yaml") else None


def _tuned(uri: str | None) -> dict[str, str]:
    if not uri:
        return {}
    path = os.path.join(uri, "best_hyperparameters.txt")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    values = doc.get("values", doc) if isinstance(doc, dict) else {}
    out: dict[str, str] = {}
    for k, v in values.items():
        _flat(f"tuned.{k}", v, out)
    return out


def _run_facts(summary: RunSummary) -> dict[str, Any]:
    """From ML Metadata: the run's execution ids per component, its Model artifact, Trainer properties, spans."""
    s = open_store(summary.metadata_path)
    facts: dict[str, Any] = {"executions": {}, "trainer": {}, "spans": "", "model_id": None}
    run = s.get_context_by_type_and_name("pipeline_run", summary.run_id) if summary.run_id else None
    if run is None:
        return facts
    from mlprod.pipelines.metadata import node_of_executions

    nodes = node_of_executions(s, summary.pipeline_name)
    for e in s.get_executions_by_context(run.id):
        node = nodes.get(e.id, f"{summary.pipeline_name}.{e.id}").split(".", 1)[1]
        facts["executions"][node] = e.id
        if node == "Trainer":
            for props in (e.properties, e.custom_properties):
                for k, v in props.items():
                    text = v.string_value or (str(v.int_value) if v.int_value else "")
                    try:
                        val = json.loads(text) if text[:1] in "{[" else text
                    except ValueError:
                        val = text
                    if text:
                        _flat(f"trainer.{k}", val, facts["trainer"])
    model_uri = summary.artifacts.get("Model")
    models = [a for a in s.get_artifacts_by_type("Model") if a.uri == model_uri]
    if models:
        facts["model_id"] = models[0].id
        facts["spans"] = _spans(s, models[0].id)
    return facts


def log_run(summary: RunSummary, *, config: Any = None, tracking_uri: str | None = None,
            model_name: str | None = None) -> dict[str, Any]:
    """Log one pipeline run to MLflow (see the module doc) and register its push.

    Args:
        summary: what :func:`~mlprod.pipelines.runner.run_pipeline` returned (or ``summarize``).
        config: the :class:`~mlprod.pipelines.tabular.PipelineConfig` the pipeline was built from
            (its fields become ``config.*`` params; without it, ML Metadata's Trainer properties only).
        tracking_uri: the MLflow store (default: ``MLFLOW_TRACKING_URI``, else
            ``sqlite:///<pipeline_root>/mlflow.db``).
        model_name: the registered model's name (default: the pipeline's name).

    Returns:
        ``{"tracking_uri", "experiment_id", "run_id", "metrics", "params", "model_version"}``
        (``model_version``: what :func:`mlprod.tracking.register_version` returned, or None when
        nothing was pushed).

    Raises:
        ConfigError: MLflow is not installed (``pip install mlprod[registry]``) or no store can be found.

    Example:
        (Needs a pipeline or a run's outputs; tests/pipelines/test_tracking.py runs this path.)
        >>> log_run(summary, config=cfg)["model_version"]["version"]  # doctest: +SKIP
        1
    """
    uri = resolve_tracking_uri(tracking_uri, summary.pipeline_root)
    c = client(uri)
    exp = experiment_id(c, summary.pipeline_name, uri)
    facts = _run_facts(summary)
    tags = {f"{TAG}pipeline": summary.pipeline_name, f"{TAG}run_id": summary.run_id or "",
            f"{TAG}metadata": str(summary.metadata_path), f"{TAG}spans": facts["spans"],
            f"{TAG}blessed": str(summary.blessed), f"{TAG}pushed_model": summary.pushed_model or "",
            **{f"{TAG}execution.{node}": str(eid) for node, eid in sorted(facts["executions"].items())}}
    if facts["model_id"] is not None:
        tags[f"{TAG}mlmd_model_id"] = str(facts["model_id"])
    found = c.search_runs([exp], filter_string=f"tags.`{TAG}run_id` = '{summary.run_id}'") if summary.run_id else []
    run = found[0] if found else c.create_run(exp, run_name=f"{summary.pipeline_name} {summary.run_id or ''}".strip(),
                                              tags=tags)
    rid = run.info.run_id
    params = _config_params(config) if config is not None else {}
    params.update(facts["trainer"])
    spec_params, spec_yaml = _spec_params(config, str(summary.pipeline_root))
    params.update(spec_params)
    params.update(_tuned(summary.artifacts.get("HyperParameters")))
    from mlflow.entities import Metric, Param, RunTag

    logged = {p.key: p.value for p in c.get_run(rid).data.params.values()} if found else {}
    new_params = [Param(k, v) for k, v in params.items() if k not in logged]  # params are write-once in MLflow
    eval_uri = summary.artifacts.get("ModelEvaluation")
    metrics = evaluation_metrics_all(eval_uri) if eval_uri else {}
    import time

    now = int(time.time() * 1000)
    batch_metrics = [Metric(k, v, now, 0) for k, v in metrics.items()]
    if summary.trivial_baseline is not None:
        batch_metrics.append(Metric("trivial_baseline", summary.trivial_baseline, now, 0))
    batch_metrics.append(Metric("run_seconds", float(summary.seconds), now, 0))
    for i in range(0, max(len(new_params), len(batch_metrics), 1), 100):  # MLflow takes 100 params per batch
        c.log_batch(rid, metrics=batch_metrics[i:i + 100], params=new_params[i:i + 100],
                    tags=[RunTag(k, v) for k, v in tags.items()] if i == 0 else [])
    _log_artifacts(c, rid, summary, spec_yaml)
    version = None
    if summary.pushed_model and os.path.basename(str(summary.pushed_model).rstrip("/")).isdigit():
        version = register_version(model_name or summary.pipeline_name, summary.pushed_model, tracking_uri=uri,
                                   run_id=rid, tags={k: v for k, v in tags.items() if v})
    c.set_terminated(rid, "FINISHED")
    return {"tracking_uri": uri, "experiment_id": exp, "run_id": rid, "metrics": metrics, "params": params,
            "model_version": version}


def _log_artifacts(c: Any, rid: str, summary: RunSummary, spec_yaml: str | None) -> None:
    import tempfile

    a = summary.artifacts
    if a.get("Schema") and os.path.isdir(a["Schema"]):
        c.log_artifacts(rid, a["Schema"], "schema")
    for t, uri in a.items():  # the gates' reports (HTML, text) in any artifact folder of the run
        if t in ("Model", "ModelRun", "Examples", "ExampleStatistics", "TransformGraph", "TransformCache") \
                or not os.path.isdir(uri):
            continue
        for root, _, files in os.walk(uri):
            for f in files:
                if f.endswith((".html", ".md")) or f == "report.txt":
                    c.log_artifact(rid, os.path.join(root, f), f"reports/{t}")
    if a.get("ModelEvaluation") and os.path.isdir(a["ModelEvaluation"]):
        c.log_artifacts(rid, a["ModelEvaluation"], "evaluation")
    model = summary.pushed_model or a.get("Model")
    if model and os.path.isdir(model):
        c.log_artifacts(rid, model, "model")
    if spec_yaml:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "feature_spec.yaml")
            with open(path, "w") as fh:
                fh.write(spec_yaml)
            c.log_artifact(rid, path)
