"""The tidy result of validation, skew and drift checks, with an offline HTML view."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlprod.reporting import HtmlResult, figure_html, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

COLUMNS = ["feature", "check", "value", "threshold", "severity", "description"]


@dataclass
class ValidationResult(HtmlResult):
    """What a check found, one row per (feature, check).

    Attributes:
        kind: ``"validate"``, ``"skew"`` or ``"drift"``.
        table: DataFrame with columns feature, check, value, threshold, severity
            (``error``/``warning``/``ok``), description. Distance rows exist for every
            compared feature, flagged or not.
        anomalies: TFDV ``Anomalies`` proto of the schema checks (for power users).
        reference_statistics, current_statistics: the TFDV statistics compared
            (``baseline_statistics``: the old name, for one release).
        schema: the schema used.
        distributions: feature -> (bin labels, reference probs, current probs) for plots.

    ``plot()`` draws each compared feature's distance against its threshold; ``save(output_dir)``
    writes ``table.csv`` and ``report.html``.

    Example:
        >>> r = mlprod.detect_skew(datasets.penguins(), datasets.penguins("skewed"), label="species")
        >>> r.passed, r.flagged
        (False, ['culmen_length_mm'])
    """

    kind: str
    table: "pd.DataFrame"
    anomalies: Any = None
    reference_statistics: Any = None
    current_statistics: Any = None
    schema: Any = None
    distributions: dict[str, tuple[list[str], list[float], list[float]]] = field(default_factory=dict)

    @property
    def baseline_statistics(self) -> Any:
        """Deprecated name of :attr:`reference_statistics` (one release)."""
        from mlprod._compat import warn_renamed

        warn_renamed("ValidationResult", "baseline_statistics", "reference_statistics")
        return self.reference_statistics

    @property
    def issues(self) -> "pd.DataFrame":
        """Only the rows that are not ``ok``."""
        return self.table[self.table["severity"] != "ok"].reset_index(drop=True)

    @property
    def flagged(self) -> list[str]:
        """Features with at least one error, in table order."""
        errs = self.table[self.table["severity"] == "error"]["feature"]
        return list(dict.fromkeys(errs))

    @property
    def passed(self) -> bool:
        """True when no check reported an error."""
        return not self.flagged

    def __repr__(self) -> str:
        state = "passed" if self.passed else f"FAILED on {self.flagged}"
        return f"<ValidationResult {self.kind}: {state}; {len(self.issues)} issue(s)>"

    def distances(self) -> "pd.DataFrame":
        """The distance rows (skew/drift: L-infinity, JSD, unseen values): feature, check, value, threshold, severity."""
        t = self.table
        keep = t["check"].str.contains(":") & t["value"].notna() & t["threshold"].notna()
        return t[keep][["feature", "check", "value", "threshold", "severity"]].reset_index(drop=True)

    def plot(self, ax: Any = None) -> Any:
        """Horizontal bars of each feature's distance with its threshold marked, flagged ones in red.

        A ``validate`` result (schema checks only) has no distances: the axes say so. Returns the
        matplotlib Axes.

        Example:
            >>> r = mlprod.detect_skew(datasets.penguins(), datasets.penguins("skewed"), label="species")
            >>> len(r.plot().patches) == len(r.distances())
            True
        """
        import matplotlib.pyplot as plt

        d = self.distances()
        if ax is None:
            _, ax = plt.subplots(figsize=(7, max(1.6, 0.3 * len(d) + 0.8)))
        if d.empty:
            ax.text(0.5, 0.5, "no distance checks", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return ax
        y = range(len(d))
        ax.barh(list(y), d["value"].astype(float), color=["#d9534f" if s == "error" else "#3b7dd8"
                                                          for s in d["severity"]])
        ax.scatter(d["threshold"].astype(float), list(y), marker="|", s=200, color="black", zorder=3,
                   label="threshold")
        ax.set_yticks(list(y))
        ax.set_yticklabels([f"{f} ({c.split(':', 1)[1]})" for f, c in zip(d["feature"], d["check"], strict=True)],
                           fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"{self.kind} distance (red: over the threshold)")
        ax.legend(fontsize=7)
        return ax

    def _plots(self) -> str:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        parts = [figure_html(self.plot().figure)] if len(self.distances()) else []
        for feat in self.flagged:
            if feat not in self.distributions:
                continue
            labels, base, cur = self.distributions[feat]
            fig, ax = plt.subplots(figsize=(7, 2.6))
            x = range(len(labels))
            ax.bar([i - 0.2 for i in x], base, width=0.4, label="reference")
            ax.bar([i + 0.2 for i in x], cur, width=0.4, label="current")
            ax.set_xticks(list(x))
            ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
            ax.set_ylabel("share")
            ax.set_title(feat)
            ax.legend(fontsize=8)
            parts.append(figure_html(fig))
        return "".join(parts) or "<p>No flagged feature has a distribution to plot.</p>"

    def to_html(self, full: bool = True) -> str:
        """Summary, the issues table, plots of flagged features and the full table."""
        status = ("<p class='mlprod-ok'>No issues.</p>" if self.passed else
                  f"<p class='mlprod-bad'>Flagged: {html.escape(', '.join(map(str, self.flagged)))}</p>")
        classes = {"error": "mlprod-bad", "warning": "mlprod-warn", "ok": ""}
        issues = self.issues
        sections = [("Summary", status),
                    ("Issues", table_html(issues, row_class=[classes[s] for s in issues["severity"]])
                     if len(issues) else "<p>none</p>"),
                    ("Baseline vs current (flagged features)", self._plots()),
                    ("All checks", table_html(self.table, row_class=[classes[s] for s in self.table["severity"]]))]
        return html_page(f"mlprod {self.kind} report", sections, full=full)
