"""TFX component for the production loop: a retraining trigger over the server's request log.

(No ``from __future__ import annotations`` here: TFX reads the annotations at decoration time.)

:func:`RetrainTrigger` monitors the request log (:func:`mlprod.monitor`) and applies a
:class:`~mlprod.monitoring.RetrainPolicy` (:func:`mlprod.monitoring.decide`). Its ``signal``
artifact carries ``fire`` (0/1: the policy's decision) and ``retrain`` (0/1). Given
``data_root`` and ``span_pattern``, a fired trigger also writes the labelled requests since the
change as the next span (:func:`mlprod.monitoring.plan_retrain`), and ``retrain`` is 1 only when
that span was written (not while feedback labels are still too few). Put the training part of
a pipeline under ``tfx.dsl.Cond`` on ``retrain``: a scheduled run (Airflow, Kubeflow, cron)
trains only when the policy fires, ExampleGen reads the new span, and the Evaluator still
compares the candidate with the serving model before the Pusher pushes.
``PipelineConfig(retrain_when={...})`` builds exactly that pipeline.

Example:
    (Needs a pipeline or a run's outputs; tests/monitoring/test_trigger.py runs this path.)
    >>> trigger = RetrainTrigger(log_dir="/srv/logs/taxi", label="big_tipper", window="7D",
    ...                          drift_features="trip_miles,fare", serving_dir="/srv/models/taxi")  # doctest: +SKIP
    >>> with tfx.dsl.Cond(trigger.outputs["signal"].future()[0].custom_property("retrain") == 1):   # doctest: +SKIP
    ...     trainer = tfx.components.Trainer(...)                                                    # doctest: +SKIP
"""

import os

from tfx import v1 as tfx
from tfx.v1.dsl.components import OutputArtifact, Parameter

from mlprod.components.artifacts import HtmlReport, RetrainSignal


@tfx.dsl.components.component
def RetrainTrigger(
    signal: OutputArtifact[RetrainSignal],
    report: OutputArtifact[HtmlReport],
    log_dir: Parameter[str],
    label: Parameter[str] = "label",
    window: Parameter[str] = "1D",
    features: Parameter[str] = "",
    drift_features: Parameter[str] = "*",
    on_decay: Parameter[int] = 1,
    max_age: Parameter[str] = "",
    last_windows: Parameter[int] = 2,
    serving_dir: Parameter[str] = "",
    time_column: Parameter[str] = "_timestamp_ms",
    time_unit: Parameter[str] = "ms",
    data_root: Parameter[str] = "",
    span_pattern: Parameter[str] = "",
    min_labelled_rows: Parameter[int] = 100,
    now: Parameter[str] = "",
) -> None:
    """Decide whether to retrain from the request log in ``log_dir``.

    ``window`` is a row count (digits) or a pandas frequency; ``features`` the comma-separated
    features to monitor (empty: all logged); ``drift_features`` those whose drift fires (``*``:
    any, empty: none); ``on_decay`` 1 lets measured and estimated accuracy alerts fire;
    ``max_age`` a staleness limit (``"30D"``) read from ``serving_dir``'s serving version;
    ``data_root`` + ``span_pattern``: where a fired trigger writes the next span (needs
    ``min_labelled_rows`` labelled requests); ``now`` the decision time (ISO, default the
    clock; a pipeline builder sets it per build, so a scheduled run never reuses a cached decision).
    """
    from types import SimpleNamespace

    from mlprod.monitoring import RetrainPolicy, plan_retrain

    names = [f.strip() for f in features.split(",") if f.strip()] or None
    named = None if drift_features.strip() == "*" else tuple(f.strip() for f in drift_features.split(",") if f.strip())
    policy = RetrainPolicy(drift_features=named, on_decay=bool(on_decay), on_estimated_decay=bool(on_decay),
                           max_age=max_age or None, last_windows=last_windows,
                           min_labelled_rows=min_labelled_rows)
    target = SimpleNamespace(label=label, serving_dir=serving_dir or None, data_root=data_root,
                             span_pattern=span_pattern or None)
    out = plan_retrain(log_dir, target, policy, window=int(window) if window.isdigit() else window, features=names,
                       time_column=time_column, time_unit=time_unit, dry_run=not data_root, now=now or None)
    result, decision = out.monitoring, out.decision
    result.table.to_csv(os.path.join(signal.uri, "monitoring.csv"), index=False)
    signal.set_int_custom_property("fire", int(decision.fire))
    signal.set_int_custom_property("retrain", int(decision.fire and (out.span is not None or not data_root)))
    signal.set_string_custom_property("reasons", "\n".join(decision.reasons))
    signal.set_string_custom_property("since", decision.since or "")
    signal.set_int_custom_property("span", out.span or 0)
    signal.set_int_custom_property("span_rows", out.span_rows)
    signal.set_string_custom_property("note", out.note)
    page = result.save_html(os.path.join(report.uri, "report.html"))
    signal.set_string_custom_property("report", str(page))
