"""TFX components for data validation: schema curation and a skew/drift gate.

(No ``from __future__ import annotations`` here: TFX reads the annotations at decoration time.)

Both are Python-function components over :mod:`mlprod.validation`.

Example:
    (Needs a pipeline or a run's outputs; tests/validation/test_components.py runs this path.)
    >>> curated = SchemaCurator(statistics=statistics_gen.outputs["statistics"],
    ...                         schema=schema_gen.outputs["schema"], label="species")   # doctest: +SKIP
    >>> gate = DistributionValidator(baseline_statistics=statistics_gen.outputs["statistics"],
    ...                              statistics=serving_stats_gen.outputs["statistics"],
    ...                              schema=curated.outputs["curated_schema"], kind="skew",
    ...                              mode="fail")                                          # doctest: +SKIP
    >>> trainer.add_upstream_node(gate)      # training waits for (and stops on) the gate  # doctest: +SKIP
"""

import os

from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter

from mlprod.components.artifacts import HtmlReport, stats_path
from mlprod.errors import ConfigError, PipelineError


def _load_stats(artifact: tfx.dsl.Artifact, split: str):  # noqa: ANN202
    import tensorflow_data_validation as tfdv

    return tfdv.load_stats_binary(stats_path(artifact, split))


@tfx.dsl.components.component
def SchemaCurator(
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    curated_schema: OutputArtifact[standard_artifacts.Schema],
    label: Parameter[str] = "",
    range_margin: Parameter[float] = 0.0,
    max_categories: Parameter[int] = 50,
    split: Parameter[str] = "train",
) -> None:
    """Curate SchemaGen's (or an imported) schema: ranges, domains, presence, environments, comparators.

    Writes ``schema.pbtxt`` into the curated Schema artifact (what SchemaGen writes).
    """
    from mlprod.validation.schema import Curation, curate_schema, load_schema, save_schema

    curated = curate_schema(load_schema(schema.uri), _load_stats(statistics, split),
                            Curation(label=label or None, range_margin=range_margin, max_categories=max_categories))
    save_schema(curated, os.path.join(curated_schema.uri, "schema.pbtxt"))


@tfx.dsl.components.component
def DistributionValidator(
    baseline_statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    anomalies: OutputArtifact[standard_artifacts.ExampleAnomalies],
    report: OutputArtifact[HtmlReport],
    kind: Parameter[str] = "skew",
    mode: Parameter[str] = "fail",
    baseline_split: Parameter[str] = "train",
    split: Parameter[str] = "train",
) -> None:
    """Compare current statistics with a baseline (skew: training vs serving; drift: span vs span).

    Outputs the TFDV anomalies (``Split-<split>/SchemaDiff.pb``) plus ``checks.csv`` with every
    distance, and an HTML report. The ``anomalies`` artifact carries ``passed`` (0/1) and
    ``flagged`` custom properties, and ``report`` (the HTML path). In ``mode="fail"`` a failed check raises, so the run stops
    before any node that depends on this one (e.g. Trainer, Pusher); ``mode="warn"`` only records.
    """
    from mlprod.validation.checks import compare
    from mlprod.validation.schema import load_schema

    if kind not in ("skew", "drift"):
        raise ConfigError(f"kind={kind!r}; use 'skew' (training vs serving) or 'drift' (span vs span).")
    if mode not in ("fail", "warn"):
        raise ConfigError(f"mode={mode!r}; use 'fail' (stop the pipeline) or 'warn' (record only).")
    result = compare(_load_stats(baseline_statistics, baseline_split), _load_stats(statistics, split),
                     load_schema(schema.uri), kind=kind, environment="SERVING" if kind == "skew" else None)
    split_dir = os.path.join(anomalies.uri, f"Split-{split}")
    os.makedirs(split_dir, exist_ok=True)
    with open(os.path.join(split_dir, "SchemaDiff.pb"), "wb") as f:
        f.write(result.anomalies.SerializeToString())
    result.table.to_csv(os.path.join(anomalies.uri, "checks.csv"), index=False)
    anomalies.split_names = artifact_utils.encode_split_names([split])
    anomalies.set_int_custom_property("passed", int(result.passed))
    anomalies.set_string_custom_property("flagged", ",".join(result.flagged))
    page = result.save_html(os.path.join(report.uri, "report.html"))
    anomalies.set_string_custom_property("report", str(page))
    if not result.passed and mode == "fail":
        raise PipelineError(f"{kind} check failed on {result.flagged}; downstream components will not run. "
                            f"Report: {page}")
