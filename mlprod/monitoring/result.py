"""The monitoring time series: a tidy table, its alerts, plots per feature and metric, HTML."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlprod.reporting import HtmlResult, figure_html, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

COLUMNS = ["window", "start", "end", "rows", "model_version", "metric", "feature", "value", "threshold", "alert",
           "reference"]
SKIPPED_COLUMNS = ["window", "start", "end", "rows", "check", "reason"]
#: alarm events speak of the newest windows only (an older window's alarm was news when it was newest)
ALARM_WINDOWS = 2


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else round(f, 6)


@dataclass
class MonitorResult(HtmlResult):
    """What :func:`mlprod.monitor` found, one row per (window, metric, feature).

    Attributes:
        table: columns window, start, end, rows, model_version, metric (``skew:jsd``,
            ``skew:linf``, ``drift:jsd``, ``drift:linf``, ``accuracy``, ``estimated_accuracy``,
            ``labelled``, ...), feature (empty for model metrics), value, threshold, alert, and
            reference: what the row was compared with (``training data``, ``previous window 004``,
            ``previous cycle (1Y): 2014-03-01 to 2014-04-01, 31 rows``, ``rolling: windows
            003-005, 92 rows``, ``estimated 0.9120 (windows 000-002)``, ...).
        reference_accuracy: what measured accuracy alerts compare with (``against="training"``;
            None where each window has its own reference).
        against: what windows were held to (``training``, ``previous_cycle (1Y)``, ``rolling``).
        reference_estimated_accuracy: what estimated accuracy alerts compare with
            (``against="training"``): the reference windows' own estimate.
        skipped: what was not compared and why: window, start, end, rows, check (``all`` for a
            window with too few rows, ``skew``, ``accuracy``, ...), reason.
        notes: what the defaults decided (also logged on ``mlprod.monitoring``).

    Example:
        (tests/monitoring/test_monitor.py runs this.)
        >>> r.alerts.groupby("metric")["window"].min()                          # doctest: +SKIP
    """

    table: "pd.DataFrame"
    reference_accuracy: float | None = None
    window: Any = None
    features: list[str] = field(default_factory=list)
    against: str = "training"
    reference_estimated_accuracy: float | None = None
    skipped: "pd.DataFrame" = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.skipped is None:
            import pandas as pd

            self.skipped = pd.DataFrame(columns=SKIPPED_COLUMNS)
        if "reference" not in self.table.columns:  # a table made by hand or by an older version
            self.table = self.table.assign(reference="")

    @property
    def alerts(self) -> "pd.DataFrame":
        """The rows that alert."""
        return self.table[self.table["alert"].astype(bool)].reset_index(drop=True)

    @property
    def windows(self) -> "pd.DataFrame":
        """One row per window: start, end, rows, model version, and whether anything alerted."""
        t = self.table
        g = t.groupby("window", sort=True)
        out = g[["start", "end", "rows", "model_version"]].first()
        out["alerts"] = g["alert"].sum().astype(int)
        return out.reset_index()

    def first_alert(self, metric: str | None = None, feature: str | None = None) -> str | None:
        """The first window that alerts (on ``metric`` / ``feature`` if given), or None."""
        a = self.alerts
        if metric is not None:
            a = a[a["metric"] == metric] if ":" in metric else a[a["metric"].str.startswith(metric)]
        if feature is not None:
            a = a[a["feature"] == feature]
        return None if a.empty else str(a["window"].min())

    def events(self, subject: str = "requests", last_windows: int = ALARM_WINDOWS) -> list[Any]:
        """The alarm events of the newest ``last_windows`` windows: one per window and kind
        (``drift_alarm``, ``skew_alarm``, ``decay_alarm`` for measured or estimated accuracy), each
        listing its alerting rows; keyed by kind, ``subject`` and window start, so a monitor
        re-run over the same logs does not send them again (:mod:`mlprod.alerts`).

        Example:
            >>> import pandas as pd
            >>> t = pd.DataFrame([{"window": "000", "start": "2024-01-01", "metric": "drift:jsd", "feature": "fare",
            ...                    "value": 0.3, "threshold": 0.1, "alert": True}])
            >>> [(e.kind, e.details["features"]) for e in MonitorResult(t).events("logs/taxi")]
            [('drift_alarm', ['fare'])]
        """
        from mlprod.alerts import DECAY_ALARM, DRIFT_ALARM, SKEW_ALARM, Event

        t = self.table
        if not len(t):
            return []
        newest = set(sorted(str(w) for w in t["window"].unique())[-last_windows:])
        out = []
        a = self.alerts
        a = a[a["window"].astype(str).isin(newest)]
        kind_of = {"drift": DRIFT_ALARM, "skew": SKEW_ALARM, "accuracy": DECAY_ALARM, "estimated_accuracy": DECAY_ALARM}
        a = a.assign(_kind=[kind_of.get(str(m).split(":", 1)[0]) for m in a["metric"]])
        for (window, kind), g in a[a["_kind"].notna()].groupby(["window", "_kind"], sort=True):
            first = g.iloc[0]
            start = str(first.get("start", ""))
            rows = [{"metric": str(r.metric), "feature": str(r.feature or ""), "value": _num(r.value),
                     "threshold": _num(r.threshold), "reference": str(getattr(r, "reference", "") or "")}
                    for r in g.itertuples(index=False)]
            version = first.get("model_version")
            out.append(Event(str(kind), subject, details={
                "window": str(window), "start": start, "end": str(first.get("end", "")),
                "model_version": None if version is None or version != version else int(version),
                "features": sorted({r["feature"] for r in rows if r["feature"]}), "alerts": rows},
                key=f"{kind}:{subject}:{start or window}"))
        return out

    def series(self, metric: str, feature: str = "") -> "pd.DataFrame":
        """One metric over time (window, start, value, threshold, alert)."""
        t = self.table
        return t[(t["metric"] == metric) & (t["feature"] == feature)][["window", "start", "value", "threshold", "alert"]]

    def __repr__(self) -> str:
        n = self.table["window"].nunique()
        kinds = sorted(self.alerts["metric"].unique())
        whole = int((self.skipped["check"] == "all").sum())
        return (f"MonitorResult({n} windows{f', {whole} skipped' if whole else ''}, {len(self.alerts)} alerts"
                f"{': ' + ', '.join(kinds) if kinds else ''})")

    def plot(self, metric: str | None = None, feature: str = "", ax: Any = None) -> Any:
        """Matplotlib plot of one metric over the windows, its threshold dashed, alerts in red.

        Without ``metric``: the first alert's metric and feature, else accuracy (measured, then
        estimated), else the table's first metric. Returns the Axes.
        """
        import matplotlib.pyplot as plt

        if metric is None:
            metric, feature = self._default_series()
        s = self.series(metric, feature)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 2.4))
        x = range(len(s))
        ax.plot(x, s["value"].astype(float), marker="o", ms=3, label=metric)
        if s["threshold"].notna().any():
            ax.plot(x, s["threshold"].astype(float), "--", color="gray", label="threshold")
        bad = [i for i, a in zip(x, s["alert"], strict=True) if a]
        ax.scatter(bad, s["value"].astype(float).iloc[bad], color="red", zorder=3, label="alert")
        ax.set_title(f"{metric} {feature}".strip())
        ax.set_xlabel("window")
        ax.legend(fontsize=7)
        return ax

    def _default_series(self) -> tuple[str, str]:
        a = self.alerts
        if len(a):
            first = a.sort_values("window", kind="stable").iloc[0]
            return str(first["metric"]), str(first["feature"])
        present = list(dict.fromkeys(self.table["metric"]))
        for m in ("accuracy", "estimated_accuracy"):
            if m in present:
                return m, ""
        if not present:
            from mlprod.errors import DataError

            raise DataError("the monitoring table is empty: nothing to plot.")
        row = self.table[self.table["metric"] == present[0]].iloc[0]
        return str(row["metric"]), str(row["feature"])

    def plot_accuracy(self, ax: Any = None, title: str = "served accuracy over time") -> Any:
        """The served model's accuracy over time, with the alarm and each model swap marked.

        Measured accuracy (windows with labels) solid and estimated accuracy dotted, one colour
        per model version; the reference accuracy dashed; a red line at the first window that
        alerts on drift or decay ("alarm") and a green line where a new version starts serving.
        The seed paper's Figure 11 (a model decaying after a sudden shift), from real logs.

        Example:
            (notebooks/monitoring.ipynb draws this; tests/monitoring/test_monitor.py checks it.)
            >>> result.plot_accuracy()                                                # doctest: +SKIP
        """
        import matplotlib.pyplot as plt
        import pandas as pd

        def when(col: Any) -> Any:
            return pd.to_datetime(col, utc=True).dt.tz_localize(None)

        if ax is None:
            _, ax = plt.subplots(figsize=(9.5, 3.2))
        w = self.windows
        versions = list(dict.fromkeys(v for v in w["model_version"] if v is not None and not pd.isna(v)))
        for metric, style, name in (("accuracy", "-", "accuracy"), ("estimated_accuracy", ":", "estimated")):
            s = self.series(metric).merge(w[["window", "model_version"]], on="window")
            for v, g in s.groupby("model_version", dropna=False, sort=False):
                k = versions.index(v) if v in versions else 0
                ax.plot(when(g["start"]), g["value"].astype(float), style, marker="o", ms=3, color=f"C{k}",
                        label=f"{name} (v{v})" if v is not None and not pd.isna(v) else name)
        if self.reference_accuracy is not None:
            ax.axhline(self.reference_accuracy, ls="--", color="gray", lw=1, label="reference")
        a = self.alerts
        a = a[a["metric"].str.contains("accuracy") | a["metric"].str.startswith("drift")]
        if len(a):
            first = a[a["window"] == a["window"].min()]
            ax.axvline(when(first["start"]).iloc[0], color="red", ls="--", lw=1.2,
                       label="alarm: " + ", ".join(sorted({f"{m} {f}".strip() for m, f in
                                                           zip(first["metric"], first["feature"], strict=True)}))[:60])
        starts = when(w["start"])
        for i in range(1, len(w)):
            v, prev = w["model_version"].iloc[i], w["model_version"].iloc[i - 1]
            if v is not None and prev is not None and v != prev:
                ax.axvline(starts.iloc[i], color="green", lw=1.2, label=f"v{v} serves")
        ax.set_title(title)
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.figure.autofmt_xdate()
        ax.figure.tight_layout()
        return ax

    def _plots(self) -> str:
        import matplotlib.pyplot as plt

        parts = []
        if self.table["metric"].isin(["accuracy", "estimated_accuracy"]).any():
            fig, ax = plt.subplots(figsize=(9.5, 3.2))
            self.plot_accuracy(ax=ax)
            parts.append(figure_html(fig))
        keys = self.table[["metric", "feature"]].drop_duplicates()
        keys = keys[~keys["metric"].isin(["labelled", "too_few_rows"]) & keys["metric"].str.contains(
            "accuracy|jsd|linf")]
        for metric, feature in keys.itertuples(index=False):
            fig, ax = plt.subplots(figsize=(7, 2.4))
            self.plot(metric, feature, ax=ax)
            parts.append(figure_html(fig))
        return "".join(parts)

    def to_html(self, full: bool = True) -> str:
        ref = "—" if self.reference_accuracy is None else f"{self.reference_accuracy:.3f}"
        summary = (f"<p>{self.table['window'].nunique()} windows ({html.escape(str(self.window))}), "
                   f"{len(self.alerts)} alerts; against {html.escape(self.against)}, reference accuracy "
                   f"{ref}.</p>" + "".join(f"<p>Note: {html.escape(n)}</p>" for n in self.notes))
        sections = [("Summary", summary + table_html(self.windows)),
                    ("Alerts", table_html(self.alerts) if len(self.alerts) else "<p>none</p>"),
                    ("Not compared", table_html(self.skipped) if len(self.skipped) else "<p>none</p>"),
                    ("Over time", self._plots())]
        return html_page("mlprod monitoring", sections, full=full)
