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

    def _plots(self) -> str:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        parts = []
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
