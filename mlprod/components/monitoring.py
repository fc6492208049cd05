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
    ...                          drift_features=["trip_miles", "fare"], model_dir="/srv/models/taxi")  # doctest: +SKIP
    >>> with tfx.dsl.Cond(trigger.outputs["signal"].future()[0].custom_property("retrain") == 1):   # doctest: +SKIP
    ...     trainer = tfx.components.Trainer(...)                                                    # doctest: +SKIP
"""

import os
from typing import Any

from tfx import v1 as tfx
from tfx.v1.dsl.components import OutputArtifact, Parameter

from mlprod._compat import warn_renamed
from mlprod.components.artifacts import HtmlReport, RetrainSignal
from mlprod.errors import ConfigError


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
    on_estimated_decay: Parameter[int] = -1,
    on_skew: Parameter[int] = 0,
    max_age: Parameter[str] = "",
    last_windows: Parameter[int] = 2,
    span_windows: Parameter[int] = 3,
    model_dir: Parameter[str] = "",
    time_column: Parameter[str] = "_timestamp_ms",
    time_unit: Parameter[str] = "ms",
    data_root: Parameter[str] = "",
    span_pattern: Parameter[str] = "",
    min_labelled_rows: Parameter[int] = 100,
    now: Parameter[str] = "",
) -> None:
    """Decide whether to retrain from the request log in ``log_dir``.

    ``window`` is a row count or a pandas frequency; ``features`` the features to monitor (a
    list, or ``"a,b"``; empty: all logged); ``drift_features`` those whose drift fires (``*``:
    any, empty: none); ``on_decay`` 1 lets measured accuracy alerts fire, ``on_estimated_decay``
    estimated ones (-1: as ``on_decay``); ``on_skew`` 1 lets skew against the newest training span
    fire; ``max_age`` a staleness limit (``"30D"``) read from ``model_dir``'s serving version (the
    Pusher folder; ``serving_dir=`` is its old name, one release); ``data_root`` + ``span_pattern``:
    where a fired trigger writes the next span (needs ``min_labelled_rows`` labelled requests, from
    the newest ``span_windows`` windows with labels when no window alert says where the change
    began); ``now`` the decision time (ISO, default the clock; a pipeline builder sets it per
    build, so a scheduled run never reuses a cached decision). The constructor takes lists and
    numbers and encodes them (TFX parameters are strings and ints).
    """
    from types import SimpleNamespace

    from mlprod.monitoring.retrain import plan_retrain, policy_of, split_names

    names = split_names(features) or None
    policy = policy_of({"drift_features": drift_features.strip(), "on_decay": on_decay,
                        "on_estimated_decay": on_estimated_decay, "on_skew": on_skew, "max_age": max_age,
                        "last_windows": last_windows, "span_windows": span_windows,
                        "min_labelled_rows": min_labelled_rows})
    target = SimpleNamespace(label=label, model_dir=model_dir or None, data_root=data_root,
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


_TriggerComponent = RetrainTrigger


def encode_names(value: Any, name: str, component: str = "RetrainTrigger") -> str:
    """Names for a TFX string parameter: a list/tuple joined as ``"a,b"`` (a string passes as is).

    Raises:
        ConfigError: a name holding a comma, or not a string.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and "," not in v for v in value):
        raise ConfigError(f"{component}: {name}={value!r} must be a list of feature names (without commas) or "
                          "one comma-separated string.")
    return ",".join(value)


class RetrainTrigger(_TriggerComponent):  # type: ignore[valid-type,misc,no-redef]
    """The RetrainTrigger component (see the function above for its parameters), built from Python values.

    ``features`` and ``drift_features`` may be lists, ``window`` a row count, flags bools;
    ``serving_dir=`` is ``model_dir``'s old name (one release, with a DeprecationWarning). The
    policy's values are checked here, when the pipeline is built (``RetrainPolicy``'s messages).
    """

    def __init__(self, **kwargs: Any) -> None:
        from mlprod.monitoring.retrain import policy_of

        if "serving_dir" in kwargs:
            if "model_dir" in kwargs:
                raise ConfigError("RetrainTrigger: pass model_dir= only (serving_dir= is its deprecated old name).")
            warn_renamed("RetrainTrigger", "serving_dir", "model_dir")
            kwargs["model_dir"] = kwargs.pop("serving_dir")
        for key in ("features", "drift_features"):
            if key in kwargs:
                kwargs[key] = encode_names(kwargs[key], key)
        if "window" in kwargs and isinstance(kwargs["window"], int) and not isinstance(kwargs["window"], bool):
            kwargs["window"] = str(kwargs["window"])
        policy_of(kwargs)  # RetrainPolicy's own checks, before any run
        for key in ("on_decay", "on_estimated_decay", "on_skew"):
            if isinstance(kwargs.get(key), bool):
                kwargs[key] = int(kwargs[key])
        if "model_dir" in kwargs:
            kwargs["model_dir"] = str(kwargs["model_dir"])
        super().__init__(**kwargs)
