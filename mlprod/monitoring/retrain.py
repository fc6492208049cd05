"""Closing the loop: a retraining policy over monitoring, a new span from the logs, a gated rollout.

:func:`decide` is the pure core: given a :class:`~mlprod.monitoring.MonitorResult` and a
:class:`RetrainPolicy` (drift on named features, measured or estimated decay, staleness by
age), it says whether to retrain and why. :func:`plan_retrain` does steps 1-3 below;
:func:`mlprod.retrain_if` (in :mod:`mlprod.pipelines.retrain`, since it runs a pipeline) runs the
whole loop for a scheduler (cron, Airflow, Kubeflow; ``mlprod retrain-if`` on the command line):

1. monitor the request log (features, predictions, feedback labels) window by window;
2. decide with the policy;
3. when it fires, write the newest labelled requests as a **new span** under the pipeline's
   ``data_root`` (``span_pattern``, e.g. ``span-{SPAN}/*.csv``);
4. run the tabular pipeline on that span: its Evaluator compares the candidate with the latest
   blessed (serving) model on the new data (change threshold) and its Pusher pushes only a
   blessed model as a new version folder, which every server watching the folder loads
   without a failed request.

Example:
    (tests/monitoring/test_retrain.py runs this.)
    >>> policy = RetrainPolicy(drift_features=("trip_miles",), max_age="30D")
    >>> out = retrain_if("/srv/logs/taxi", config, policy, window="7D")         # doctest: +SKIP
    >>> out.decision.reasons, out.run.blessed                                    # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlprod._compat import renamed
from mlprod.errors import ConfigError, DataError
from mlprod.monitoring.result import MonitorResult
from mlprod.params import Interval, Kind, check_params
from mlprod.reporting.html import HtmlResult, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

DECAY_METRICS = {"accuracy": "on_decay", "estimated_accuracy": "on_estimated_decay"}
#: RetrainPolicy's argument checks, shared by RetrainTrigger and ``PipelineConfig(retrain_when=...)``
RETRAIN_PARAMS = {"drift_features": Kind(tuple, list, optional=True), "on_skew": Kind(bool), "on_decay": Kind(bool),
                  "on_estimated_decay": Kind(bool), "max_age": Kind(str, optional=True),
                  "last_windows": Interval(int, 1), "span_windows": Interval(int, 1),
                  "min_labelled_rows": Interval(int, 1)}


@dataclass(frozen=True)
class RetrainPolicy:
    """When to retrain.

    Attributes:
        drift_features: drift on these features fires (None: any monitored feature; ``()``: drift
            never fires).
        on_skew: skew against the training data fires too (same features; the reference data is
            the ``reference=`` given, else the config's newest training span).
        on_decay: a measured accuracy alert (labels arrived) fires.
        on_estimated_decay: an estimated accuracy alert (before labels) fires.
        max_age: a serving model older than this fires (pandas timedelta, e.g. ``"30D"``).
        last_windows: how many of the newest windows the decision looks at (labels arrive late,
            so a decay alert shows up in a window that is no longer the newest).
        span_windows: for a retrain without a window alert (staleness), the newest windows with
            labels whose rows make the new span; otherwise the span is every labelled row from the
            first alerting window on (the data after the change).
        min_labelled_rows: a new span needs at least this many labelled requests.

    Example:
        >>> RetrainPolicy(drift_features=("fare",), max_age="14D").last_windows
        2
    """

    drift_features: tuple[str, ...] | None = None
    on_skew: bool = False
    on_decay: bool = True
    on_estimated_decay: bool = True
    max_age: str | None = None
    last_windows: int = 2
    span_windows: int = 3
    min_labelled_rows: int = 100

    def __post_init__(self) -> None:
        import pandas as pd

        if isinstance(self.drift_features, str):
            raise ConfigError(f"RetrainPolicy: drift_features={self.drift_features!r} must be a tuple of names, "
                              f"e.g. ({self.drift_features!r},).")
        check_params("RetrainPolicy", vars(self), RETRAIN_PARAMS)
        if isinstance(self.drift_features, list):
            object.__setattr__(self, "drift_features", tuple(self.drift_features))
        if self.max_age is not None:
            try:
                pd.Timedelta(self.max_age)
            except ValueError as e:
                raise ConfigError(f"RetrainPolicy: max_age={self.max_age!r} is not a duration like '30D' or '12h'.") \
                    from e


def split_names(value: "str | list[str] | tuple[str, ...] | None") -> list[str]:
    """Feature names from a list or a comma-separated string (how a TFX parameter carries them).

    Example:
        >>> split_names("fare, trip_miles"), split_names(["fare"]), split_names(None)
        (['fare', 'trip_miles'], ['fare'], [])
    """
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(f).strip() for f in items if str(f).strip()]


def policy_of(params: Any) -> RetrainPolicy:
    """The :class:`RetrainPolicy` that a :class:`~mlprod.components.RetrainTrigger`'s parameters
    (or ``PipelineConfig(retrain_when=...)``) describe: ``drift_features`` as names or ``"a,b"``
    (``"*"``: any, ``""``: none), flags as bools or 0/1, ``on_estimated_decay`` -1 (or absent):
    the same as ``on_decay``.

    Raises:
        ConfigError: a value RetrainPolicy refuses (:data:`RETRAIN_PARAMS`).

    Example:
        >>> policy_of({"drift_features": "fare", "on_decay": 0, "span_windows": 5})
        RetrainPolicy(drift_features=('fare',), on_skew=False, on_decay=False, on_estimated_decay=False, \
max_age=None, last_windows=2, span_windows=5, min_labelled_rows=100)
    """
    def flag(v: Any) -> Any:
        return bool(v) if isinstance(v, int) and v in (0, 1) else v

    drift = params.get("drift_features", "*")
    on_decay = flag(params.get("on_decay", True))
    estimated = params.get("on_estimated_decay", -1)
    return RetrainPolicy(
        drift_features=None if drift in ("*", None) else tuple(split_names(drift)),
        on_skew=flag(params.get("on_skew", False)), on_decay=on_decay,
        on_estimated_decay=on_decay if isinstance(estimated, int) and estimated == -1 else flag(estimated),
        max_age=params.get("max_age") or None, last_windows=params.get("last_windows", 2),
        span_windows=params.get("span_windows", 3), min_labelled_rows=params.get("min_labelled_rows", 100))


@dataclass
class RetrainDecision:
    """Whether to retrain (``fire``; also the object's truth value), why, which windows were read,
    and ``since``: the first window whose alert fired (the new span starts there)."""

    fire: bool
    reasons: list[str] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)
    since: str | None = None

    def __bool__(self) -> bool:
        return self.fire


def decide(result: MonitorResult, policy: RetrainPolicy | None = None, *, model_time: Any = None,
           now: Any = None, serving_version: int | None = None) -> RetrainDecision:
    """Apply ``policy`` to the newest windows of a monitoring result.

    Args:
        result: what :func:`mlprod.monitor` returned.
        policy: the rules (default :class:`RetrainPolicy()`: any drift, measured or estimated decay).
        model_time: when the serving model was made (for ``max_age``); ``now`` defaults to now.
        serving_version: the version serving now; windows served mostly by another version are
            not held against it (after a retrain, the old model's alerts do not fire again).

    Example:
        >>> import pandas as pd
        >>> table = pd.DataFrame([{"window": "000", "metric": "drift:jsd", "feature": "fare", "value": 0.3,
        ...                        "threshold": 0.1, "alert": True}])
        >>> d = decide(MonitorResult(table), RetrainPolicy(drift_features=("fare",)))
        >>> bool(d), d.reasons
        (True, ['drift:jsd on fare in window 000: 0.3 > 0.1'])
        >>> bool(decide(MonitorResult(table), RetrainPolicy(drift_features=("tips",))))
        False
    """
    import pandas as pd

    policy = policy or RetrainPolicy()
    table = result.table
    if serving_version is not None and "model_version" in table:
        table = table[table["model_version"].isna() | (table["model_version"] == serving_version)]
    windows = sorted(str(w) for w in table["window"].unique())[-policy.last_windows:] if len(table) else []
    reasons, fired = [], []
    for r in result.alerts.itertuples(index=False):
        if str(r.window) not in windows:
            continue
        metric, feature = str(r.metric), str(r.feature or "")
        kind = metric.split(":", 1)[0]
        named = policy.drift_features is None or feature in policy.drift_features
        if (kind == "drift" and named) or (kind == "skew" and policy.on_skew and named):
            fires = True
        else:
            fires = bool(getattr(policy, DECAY_METRICS.get(metric, ""), False))
        if fires:
            where = f" on {feature}" if feature else ""
            op = "<" if metric in DECAY_METRICS else ">"
            reasons.append(f"{metric}{where} in window {r.window}: {r.value:.4g} {op} {r.threshold:.4g}")
            fired.append(str(r.window))
    if policy.max_age is not None and model_time is not None:
        made = pd.Timestamp(model_time, tz="UTC") if not isinstance(model_time, pd.Timestamp) else model_time
        made = made if made.tzinfo else made.tz_localize("UTC")
        at = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
        at = at if at.tzinfo else at.tz_localize("UTC")
        if at - made > pd.Timedelta(policy.max_age):
            reasons.append(f"stale: the serving model is {at - made} old (max_age {policy.max_age})")
    return RetrainDecision(bool(reasons), reasons, windows, min(fired) if fired else None)


@renamed(serving_dir="model_dir")
def decide_for(result: MonitorResult, policy: RetrainPolicy | None, model_dir: str | None,
               now: Any = None) -> RetrainDecision:
    """:func:`decide` for the model serving from ``model_dir`` (the Pusher folder: its version and
    push time; None: unknown).

    Example:
        >>> import pandas as pd
        >>> bool(decide_for(MonitorResult(pd.DataFrame(columns=["window", "metric", "alert"])), None, None))
        False
    """
    import pandas as pd

    from mlprod.serving.versions import serving_version

    version, made = None, None
    if model_dir:
        version = serving_version(model_dir)
        if version is not None:
            made = pd.Timestamp(os.path.getmtime(os.path.join(model_dir, str(version))), unit="s", tz="UTC")
    return decide(result, policy, model_time=made, now=now, serving_version=version)


def write_span(requests: "pd.DataFrame", result: MonitorResult, config: Any, policy: RetrainPolicy,
               label: str, time_column: str = "_timestamp_ms", time_unit: str = "ms",
               since: str | None = None) -> tuple[int, str, int]:
    """Write the newest labelled requests as the next span of ``config``; return (span, file, rows).

    The rows are the labelled ones from window ``since`` on (the data after a detected change),
    or, without ``since``, those of the newest ``policy.span_windows`` windows that hold labels;
    with the columns of the pipeline's current span (features and label).

    Raises:
        ConfigError: ``config`` has no ``span_pattern``.
        DataError: a column of the training data is not in the logs, or too few labelled rows.
    """
    import pandas as pd

    from mlprod.io.files import atomic_file, span_files
    from mlprod.io.frames import csv_header

    pattern = config.span_pattern
    if not pattern or "/" not in pattern or "{SPAN}" not in pattern.split("/")[0]:
        raise ConfigError("retraining writes a new span: give the pipeline a span_pattern whose folder holds "
                          "{SPAN}, e.g. span_pattern='span-{SPAN}/*.csv', and put the training CSV in span-1/.")
    span, files = span_files(config.data_root, pattern)
    columns = csv_header(str(files[0]))
    missing = [c for c in columns if c not in requests.columns]
    if missing:
        raise DataError(f"the request log has no column(s) {missing} of the training data; log the raw "
                        "features the pipeline trains on (and send feedback labels).")
    labelled = requests[requests[label].notna()] if label in requests.columns else requests.iloc[:0]
    t = result.table
    windows = sorted({str(w) for w in t.loc[(t["metric"] == "labelled") & (t["value"] > 0), "window"]})
    keep = [since] if since is not None else windows[-policy.span_windows:]
    starts = t[t["window"].astype(str).isin(keep)]["start"]
    if len(starts) and time_column in labelled.columns:
        ts = labelled[time_column]
        when = pd.to_datetime(ts, unit=time_unit, utc=True) if pd.api.types.is_numeric_dtype(ts) else \
            pd.to_datetime(ts, utc=True)
        labelled = labelled[(when >= pd.Timestamp(starts.min())).to_numpy()]
    if len(labelled) < policy.min_labelled_rows:
        raise DataError(f"only {len(labelled)} labelled requests in the newest windows; a new span needs "
                        f"{policy.min_labelled_rows} (RetrainPolicy.min_labelled_rows). Wait for feedback.")
    out = labelled[columns].copy()
    out[label] = out[label].astype("int64")
    folder = os.path.join(str(config.data_root), pattern.split("/")[0].replace("{SPAN}", str(span + 1)))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "data.csv")
    with atomic_file(path) as tmp:
        out.to_csv(tmp, index=False)
    return span + 1, path, len(out)


@dataclass
class RetrainOutcome(HtmlResult):
    """What :func:`retrain_if` did: the decision, the monitoring it read, and the run when it retrained.

    Follows the result protocol (:class:`~mlprod.reporting.html.HtmlResult`): ``.table`` (one
    row per fact: fire, each reason, the span, the run's verdict), ``to_html``, ``_repr_html_``,
    ``.save(output_dir)`` (``table.csv``, ``report.html`` and the
    monitoring's own ``monitoring.csv``).

    Attributes:
        decision: fire or not, and why.
        monitoring: the :class:`~mlprod.monitoring.MonitorResult` (plots, HTML).
        span, span_file, span_rows: the new span written (None without a retrain).
        run: the pipeline's :class:`~mlprod.pipelines.runner.RunSummary` (``blessed``, ``pushed_model``).
        note: why a fired decision did not retrain (e.g. too few labels yet), else "".
    """

    decision: RetrainDecision
    monitoring: MonitorResult
    span: int | None = None
    span_file: str | None = None
    span_rows: int = 0
    run: Any = None
    note: str = ""

    def event(self, config: Any = None) -> Any:
        """The ``retrain_fired`` event of a fired decision (None when it did not fire): reasons,
        the span written (or the note why none was), keyed by pipeline, first alerting window and
        span so that one decision is one event.

        Example:
            >>> import pandas as pd
            >>> out = RetrainOutcome(RetrainDecision(True, ["stale"]), MonitorResult(pd.DataFrame()), span=2)
            >>> out.event().kind, out.event().details["span"]
            ('retrain_fired', 2)
        """
        from mlprod.alerts import RETRAIN_FIRED, Event

        if not self.decision:
            return None
        name = getattr(config, "pipeline_name", None) or "retrain"
        return Event(RETRAIN_FIRED, f"pipeline/{name}", details={
            "reasons": list(self.decision.reasons), "since_window": self.decision.since, "span": self.span,
            "span_file": self.span_file, "span_rows": self.span_rows, "note": self.note,
            "model_dir": _model_dir_of(config) if config is not None else None},
            key=f"{RETRAIN_FIRED}:{name}:{self.decision.since or ''}:{self.span if self.span is not None else 'none'}")

    @property
    def pushed(self) -> bool:
        """True when a new model was blessed and pushed."""
        return bool(self.run is not None and self.run.blessed and self.run.pushed_model)

    @property
    def table(self) -> "pd.DataFrame":
        """What was decided and done, one ``(item, value)`` row each.

        Example:
            >>> import pandas as pd
            >>> out = RetrainOutcome(RetrainDecision(True, ["stale"]), MonitorResult(pd.DataFrame()))
            >>> out.table.values.tolist()[:2]
            [['fire', 'True'], ['reason', 'stale']]
        """
        import pandas as pd

        rows = [("fire", str(self.decision.fire))] + [("reason", r) for r in self.decision.reasons]
        if self.decision.since:
            rows.append(("since window", self.decision.since))
        if self.span is not None:
            rows += [("new span", str(self.span)), ("span file", str(self.span_file)), ("span rows", str(self.span_rows))]
        if self.note:
            rows.append(("note", self.note))
        if self.run is not None:
            rows += [("blessed", str(self.run.blessed)), ("pushed model", str(self.run.pushed_model or "nothing"))]
        return pd.DataFrame(rows, columns=["item", "value"])

    def to_html(self, full: bool = True) -> str:
        """The decision (and run) above the monitoring report."""
        verdict = "retrain" if self.decision.fire else "no retrain"
        return html_page(f"Retraining decision: {verdict}", [("Decision", table_html(self.table)),
                                                              ("Monitoring", self.monitoring.to_html(full=False))],
                         full=full)

    def save(self, output_dir: Any) -> dict[str, Any]:
        """``table.csv``, ``report.html`` and ``monitoring.csv`` under ``output_dir``; returns ``{name: path}``."""
        from pathlib import Path

        from mlprod.io.files import atomic_write_text

        written = super().save(output_dir)
        written["monitoring"] = atomic_write_text(Path(output_dir) / "monitoring.csv",
                                                  self.monitoring.table.to_csv(index=False))
        return written


def _model_dir_of(config: Any) -> str | None:
    """``config.model_dir`` (an older duck-typed config's ``serving_dir`` works with a warning)."""
    if hasattr(config, "model_dir"):
        return config.model_dir
    if getattr(config, "serving_dir", None) is not None:
        import warnings

        warnings.warn("a retraining config's serving_dir is deprecated: name it model_dir; the old name goes in the "
                      "next release.", DeprecationWarning, stacklevel=3)
        return config.serving_dir
    return None


def _training_span(config: Any) -> "pd.DataFrame":
    """The newest training span of ``config`` (the reference data of ``on_skew``).

    Raises:
        ConfigError: no ``span_pattern``/``data_root`` to read it from.
    """
    from mlprod.io.files import span_files
    from mlprod.io.frames import read_csv

    if not getattr(config, "span_pattern", None) or not getattr(config, "data_root", None):
        raise ConfigError("RetrainPolicy(on_skew=True) compares the requests with the training data: pass "
                          "reference=<training data>, or a config with data_root and span_pattern.")
    return read_csv([str(f) for f in span_files(config.data_root, config.span_pattern)[1]])


@renamed(baseline="reference")
def plan_retrain(logs: Any, config: Any, policy: RetrainPolicy | None = None, *, reference: Any = None,
                 label: str | None = None, window: int | str = "1D", features: list[str] | None = None,
                 time_column: str = "_timestamp_ms", time_unit: str = "ms", dry_run: bool = False,
                 now: Any = None, **monitor_kwargs: Any) -> RetrainOutcome:
    """Everything :func:`mlprod.retrain_if` does but the training run: monitor, decide, write the next span.

    ``config`` needs ``label``, ``model_dir``, ``data_root`` and ``span_pattern`` (a
    :class:`~mlprod.pipelines.tabular.PipelineConfig` has them; a ``serving_dir`` of an
    older config object is read with a DeprecationWarning); the
    :class:`~mlprod.components.RetrainTrigger` component calls this inside a scheduled pipeline
    whose training part runs only when a span was written (``outcome.span``).

    Example:
        (tests/monitoring/test_trigger.py runs this through the component.)
        >>> out = plan_retrain("/srv/logs/penguin", penguin_config, RetrainPolicy())   # doctest: +SKIP
        >>> out.span, out.span_rows, out.note                                           # doctest: +SKIP
        (2, 334, '')
    """
    import pandas as pd

    from mlprod.monitoring.monitor import monitor
    from mlprod.serving.requestlog import read_requests

    label = label or config.label
    requests = logs if isinstance(logs, pd.DataFrame) else read_requests(str(logs), label=label)
    if policy is not None and policy.on_skew and reference is None:
        reference = _training_span(config)
    monitor_kwargs.setdefault("alert_subject", f"logs/{logs}" if not isinstance(logs, pd.DataFrame) else None)
    result = monitor(requests, reference, label=label, window=window, features=features, time_column=time_column,
                     time_unit=time_unit, **monitor_kwargs)
    decision = decide_for(result, policy, _model_dir_of(config), now)
    outcome = RetrainOutcome(decision, result)
    if not decision or dry_run:
        return outcome
    try:
        outcome.span, outcome.span_file, outcome.span_rows = write_span(
            requests, result, config, policy or RetrainPolicy(), label, time_column, time_unit, decision.since)
    except DataError as e:
        if "labelled requests" not in str(e):
            raise
        outcome.note = str(e)
    from mlprod.alerts import emit, enabled

    if enabled():
        emit(outcome.event(config))
    return outcome
