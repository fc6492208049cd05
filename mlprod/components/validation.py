"""TFX components for data validation: schema curation and a skew/drift gate.

(No ``from __future__ import annotations`` here: TFX reads the annotations at decoration time.)

Both are Python-function components over :mod:`mlprod.validation`.

Example:
    (Needs a pipeline or a run's outputs; tests/validation/test_components.py runs this path.)
    >>> curated = SchemaCurator(statistics=statistics_gen.outputs["statistics"],
    ...                         schema=schema_gen.outputs["schema"], label="species")   # doctest: +SKIP
    >>> gate = DistributionValidator(reference_statistics=statistics_gen.outputs["statistics"],
    ...                              statistics=serving_stats_gen.outputs["statistics"],
    ...                              schema=curated.outputs["curated_schema"], kind="skew",
    ...                              mode="fail")                                          # doctest: +SKIP
    >>> trainer.add_upstream_node(gate)      # training waits for (and stops on) the gate  # doctest: +SKIP
"""

import os
from typing import Any

from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter

from mlprod._compat import warn_renamed
from mlprod.components.artifacts import HtmlReport, stats_path
from mlprod.errors import ConfigError, PipelineError
from mlprod.params import check_params
from mlprod.validation.checks import GATE_PARAMS


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
    reference_statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    anomalies: OutputArtifact[standard_artifacts.ExampleAnomalies],
    report: OutputArtifact[HtmlReport],
    kind: Parameter[str] = "skew",
    mode: Parameter[str] = "fail",
    reference_split: Parameter[str] = "train",
    split: Parameter[str] = "train",
) -> None:
    """Compare current ``statistics`` with ``reference_statistics`` (skew: training vs serving;
    drift: span vs span). ``baseline_statistics=`` / ``baseline_split=`` are the old names (one
    release, with a DeprecationWarning); ``kind`` and ``mode`` are checked when the component is
    made (:data:`mlprod.validation.checks.GATE_PARAMS`, the same table as ``PipelineConfig``'s).

    Outputs the TFDV anomalies (``Split-<split>/SchemaDiff.pb``) plus ``checks.csv`` with every
    distance, and an HTML report. The ``anomalies`` artifact carries ``passed`` (0/1) and
    ``flagged`` custom properties, and ``report`` (the HTML path). In ``mode="fail"`` a failed check raises, so the run stops
    before any node that depends on this one (e.g. Trainer, Pusher); ``mode="warn"`` only records.
    """
    from mlprod.validation.checks import compare
    from mlprod.validation.schema import load_schema

    check_params("DistributionValidator", {"kind": kind, "mode": mode}, GATE_PARAMS)
    result = compare(_load_stats(reference_statistics, reference_split), _load_stats(statistics, split),
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


_GateComponent = DistributionValidator
_OLD = {"baseline_statistics": "reference_statistics", "baseline_split": "reference_split"}


class DistributionValidator(_GateComponent):  # type: ignore[valid-type,misc,no-redef]
    """The DistributionValidator component (parameters: the function above), checked when made;
    ``baseline_statistics=`` and ``baseline_split=`` still work for one release, with a warning."""

    def __init__(self, **kwargs: Any) -> None:
        for old, new in _OLD.items():
            if old in kwargs:
                if new in kwargs:
                    raise ConfigError(f"DistributionValidator: pass {new}= only ({old}= is its deprecated old name).")
                warn_renamed("DistributionValidator", old, new)
                kwargs[new] = kwargs.pop(old)
        check_params("DistributionValidator", kwargs, GATE_PARAMS)
        super().__init__(**kwargs)
