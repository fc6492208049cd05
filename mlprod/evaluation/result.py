"""Tidy evaluation results read back from TFMA's output, with worst slices, fairness and HTML."""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod.evaluation.trivial import GAIN, TRIVIAL, describe
from mlprod.reporting import HtmlResult, figure_html, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from mlprod.evaluation.spec import EvalSpec

OVERALL = "Overall"


def slice_name(slice_key: Any) -> str:
    """``()`` -> ``"Overall"``; ``(("a", 1), ("b", "x"))`` -> ``"a=1, b=x"``."""
    if not slice_key:
        return OVERALL
    return ", ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}" for k, v in slice_key)


def _value(v: Any) -> float | None:
    if v.HasField("double_value"):
        return v.double_value.value
    return None


def parse_results(output_path: str, spec: "EvalSpec", has_baseline: bool = False) -> "EvalResult":
    """Read TFMA's metrics and validation result from ``output_path`` into an :class:`EvalResult`."""
    import pandas as pd
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.slicer import slicer_lib

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    counts: dict[str, float] = {}
    for m in tfma.load_metrics(output_path):
        sname = slice_name(slicer_lib.deserialize_slice_key(m.slice_key))
        for kv in m.metric_keys_and_values:
            key, val = kv.key, _value(kv.value)
            if val is None:
                continue
            name = key.name if not key.sub_key.HasField("top_k") else f"{key.name}@top{key.sub_key.top_k.value}"
            if key.sub_key.HasField("class_id"):
                name = f"{name}[class {key.sub_key.class_id.value}]"
            row = rows.setdefault((sname, name), {"slice": sname, "metric": name, "value": None,
                                                  "baseline": None, "change": None})
            if key.is_diff:
                row["change"] = val
            elif key.model_name == "baseline":
                row["baseline"] = val
            else:
                row["value"] = val
            if name == "example_count" and key.model_name != "baseline" and not key.is_diff:
                counts[sname] = val
    failures: set[tuple[str, str]] = set()
    validation_ok = True  # nothing to judge without thresholds (TFMA itself says "missing_thresholds")
    try:
        vr = tfma.load_validation_result(output_path)
        validation_ok = vr.validation_ok
        for per_slice in vr.metric_validations_per_slice:
            sname = slice_name(slicer_lib.deserialize_slice_key(per_slice.slice_key))
            for f in per_slice.failures:
                failures.add((sname, f.metric_key.name))
    except Exception:  # noqa: BLE001 - no validation result when no thresholds were set
        pass
    if not spec.judged_thresholds():
        validation_ok = True
    # the trivial baseline speaks of the whole data: on a slice, that slice's own majority class
    # is not a predictor anyone has (it would need the slice's labels)
    rows = {k: r for k, r in rows.items() if k[0] == OVERALL or k[1] not in (TRIVIAL, GAIN)}
    table = pd.DataFrame(list(rows.values()), columns=["slice", "metric", "value", "baseline", "change"])
    table["count"] = table["slice"].map(counts)
    table["too_small"] = table["count"].fillna(0) < spec.min_slice_size
    table = judge_table(table, spec, failures)
    order = {OVERALL: 0}
    table = table.sort_values(["slice", "metric"], key=lambda c: c.map(lambda v: (order.get(v, 1), str(v))),
                              ignore_index=True)
    if table.empty:
        from mlprod.errors import DataError

        raise DataError("TFMA produced no metrics; check that the label and predictions are present.")
    return EvalResult(table=table, spec=spec, validation_ok=validation_ok,
                      failures=sorted(failures), output_dir=output_path)


PROPORTIONS = {"sparse_categorical_accuracy", "binary_accuracy", "categorical_accuracy", "accuracy"}
Z95 = 1.959964


def _wilson(p: float, n: float) -> tuple[float, float]:
    """95% Wilson interval of a proportion ``p`` measured on ``n`` examples."""
    import math

    if not n or p != p:
        return float("nan"), float("nan")
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def threshold_text(th: Any, metric: str) -> str:
    """A threshold as people read it, e.g. ``">= 0.9, drop <= 0.01"``.

    Example:
        >>> from mlprod.evaluation import Threshold
        >>> threshold_text(Threshold(lower=0.9, max_drop=0.01), "auc")
        '>= 0.9, drop <= 0.01'
    """
    from mlprod.evaluation.spec import LOWER_IS_BETTER

    if metric == GAIN:
        return "> 0 (beat the trivial baseline)"
    parts = []
    if th.lower is not None:
        parts.append(f">= {th.lower:g}")
    if th.upper is not None:
        parts.append(f"<= {th.upper:g}")
    if th.max_drop is not None:
        parts.append(f"{'rise' if metric in LOWER_IS_BETTER else 'drop'} <= {th.max_drop:g}")
    return ", ".join(parts)


def judge_table(table: "pd.DataFrame", spec: "EvalSpec", failures: set[tuple[str, str]]) -> "pd.DataFrame":
    """Add what each row was judged against and how sure its value is.

    Columns added: ``threshold`` (text, on every row of a thresholded metric), ``judged`` (the
    row's slice is one the thresholds judge: ``Overall`` unless ``threshold_slices="all"``),
    ``passed`` (None when not judged), ``meets_threshold`` (the row's value is within the value
    bounds, shown for every slice but deciding nothing unless judged), and ``ci_low``/``ci_high``
    (95% Wilson interval for accuracy-type metrics).
    """
    t = table.copy()
    ths = spec.judged_thresholds()
    t["threshold"] = [threshold_text(ths[m], m) if m in ths else "" for m in t["metric"]]
    t["judged"] = [m in ths and (spec.threshold_slices == "all" or s == OVERALL) and (m != GAIN or s == OVERALL)
                   for s, m in zip(t["slice"], t["metric"], strict=True)]
    t["passed"] = [((s, m) not in failures) if j else None
                   for s, m, j in zip(t["slice"], t["metric"], t["judged"], strict=True)]

    def meets(m: str, v: Any) -> Any:
        th = ths.get(m)
        if th is None or v is None or v != v or (th.lower is None and th.upper is None):
            return None
        return (th.lower is None or v >= th.lower) and (th.upper is None or v <= th.upper)

    t["meets_threshold"] = [meets(m, v) for m, v in zip(t["metric"], t["value"], strict=True)]
    cis = [_wilson(v, c) if m in PROPORTIONS and v is not None else (float("nan"), float("nan"))
           for m, v, c in zip(t["metric"], t["value"], t["count"], strict=True)]
    t["ci_low"], t["ci_high"] = [c[0] for c in cis], [c[1] for c in cis]
    return t


@dataclass
class EvalResult(HtmlResult):
    """Sliced metrics, threshold verdicts and fairness, as DataFrames with an offline HTML view.

    Attributes:
        table: slice, metric, value, baseline, change, count, too_small, passed. The Overall
            slice also holds ``trivial_baseline`` (what always predicting the most common class,
            a constant score or the mean label scores on the main metric) and
            ``gain_over_trivial`` (how much better the model is; judged ``> 0`` by default).
        validation_ok: TFMA's verdict over all thresholds (what blesses a model in TFX).
        failures: (slice, metric) pairs that broke a threshold.
        output_dir: TFMA's output folder (``output_path``: the old name, for one release).

    ``plot()`` draws the main metric per slice; ``save(output_dir)`` writes ``table.csv``,
    ``report.html`` and ``worst_slices.csv``.
    """

    table: "pd.DataFrame"
    spec: "EvalSpec"
    validation_ok: bool = True
    failures: list[tuple[str, str]] | None = None
    output_dir: str | None = None

    @property
    def output_path(self) -> str | None:
        """Deprecated name of :attr:`output_dir` (one release)."""
        from mlprod._compat import warn_renamed

        warn_renamed("EvalResult", "output_path", "output_dir")
        return self.output_dir

    @property
    def passed(self) -> bool:
        """True when every threshold holds (the model would be blessed)."""
        return self.validation_ok

    @property
    def primary_metric(self) -> str:
        from mlprod.evaluation.spec import METRICS

        names = [n for c, n in METRICS[self.spec.model_type].items() if c != "ExampleCount"]
        present = set(self.table["metric"])
        return next((n for n in [*self.spec.thresholds, *names] if n in present), names[0])

    def trivial(self) -> dict[str, Any]:
        """The trivial baseline on the Overall slice: ``metric``, ``model``, ``trivial``, ``gain``,
        ``predictor`` (in words) and ``beaten`` (gain > 0).

        Example:
            (tests/evaluation/test_evaluate.py runs this.)
            >>> r.trivial()["predictor"]                    # doctest: +SKIP
            'always predicting the most common class: 0.4371'
        """
        from mlprod.evaluation.trivial import MIN_GAIN

        o = self.overall()
        metric = self.spec.trivial_metric
        trivial = o.get(TRIVIAL, float("nan"))
        gain = o.get(GAIN, float("nan"))
        trivial, gain = (float("nan") if v is None else float(v) for v in (trivial, gain))
        model = o.get(metric, float("nan"))
        return {"metric": metric, "model": float("nan") if model is None else float(model), "trivial": trivial,
                "gain": gain, "predictor": describe(metric, trivial), "beaten": bool(gain > MIN_GAIN)}

    @property
    def warnings(self) -> list[str]:
        """What to worry about although no threshold may have said so: a model no better than the trivial baseline."""
        t = self.trivial()
        if t["trivial"] != t["trivial"]:
            return []
        if t["gain"] != t["gain"]:
            return [f"could not compare with the trivial baseline: {t['metric']} is not among the metrics; add it "
                    "to EvalSpec(metrics=...)."]
        if t["beaten"]:
            return []
        return [f"the model does not beat the trivial baseline: {t['metric']} {t['model']:.4g} vs "
                f"{t['trivial']:.4g} for {t['predictor'].rsplit(':', 1)[0]} (from the evaluated labels); it learned "
                "nothing usable from its features. Check the features it gets (scaling, leakage, the right columns) "
                "and the training."]

    def overall(self) -> "pd.Series":
        """Metric -> value on the whole data."""
        t = self.table[self.table["slice"] == OVERALL]
        return t.set_index("metric")["value"]

    def worst_slices(self, metric: str | None = None, min_size: int | None = None) -> "pd.DataFrame":
        """Slices ranked by how surely ``metric`` falls behind the overall value (worst first).

        ``z_to_overall`` is the gap to the overall value in standard errors of the slice's
        value (accuracy-type metrics: binomial error on the slice's count), so a 0.625 on 8
        examples ranks below a 0.85 on 500. Metrics without an error estimate rank by the raw gap.
        Slices smaller than ``min_size`` (default ``spec.min_slice_size``) stay in the ranking,
        marked ``too_small``.
        """
        import numpy as np

        from mlprod.evaluation.spec import LOWER_IS_BETTER

        metric = metric or self.primary_metric
        min_size = self.spec.min_slice_size if min_size is None else min_size
        t = self.table[(self.table["metric"] == metric) & (self.table["slice"] != OVERALL)].copy()
        overall = self.overall().get(metric)
        sign = 1 if metric in LOWER_IS_BETTER else -1
        t["gap_to_overall"] = (t["value"] - overall) * (-sign)
        if metric in PROPORTIONS and overall is not None:
            p = min(max(float(overall), 0.5 / max(t["count"].max(), 1)), 1 - 0.5 / max(t["count"].max(), 1))
            se = np.sqrt(p * (1 - p) / t["count"].clip(lower=1).astype(float))
            t["z_to_overall"] = t["gap_to_overall"] / se
        else:
            t["z_to_overall"] = t["gap_to_overall"]
        t["too_small"] = t["count"].fillna(0) < min_size
        return t.sort_values(["z_to_overall", "gap_to_overall"], ignore_index=True)[
            ["slice", "metric", "value", "ci_low", "ci_high", "count", "too_small", "gap_to_overall", "z_to_overall",
             "threshold", "meets_threshold"]]

    def fairness_notes(self) -> list[str]:
        """Why :meth:`fairness` has no row (or fewer rates) for a sensitive feature, in words."""
        notes = []
        if self.spec.fairness and self.spec.model_type != "binary":
            notes.append(f"false positive/negative rates per group need a binary model; this {self.spec.model_type} "
                         f"model is compared on {self.primary_metric} per group only.")
        for feat in self.spec.fairness:
            t = self.table[self.table["slice"].str.startswith(f"{feat}=") & ~self.table["slice"].str.contains(", ")
                           & (self.table["metric"] == self.primary_metric)]
            big = t[~t["too_small"]]
            if len(big) < 2:
                sizes = ", ".join(f"{s[len(feat) + 1:]}: {int(c)}" for s, c in zip(t["slice"], t["count"].fillna(0),
                                                                                  strict=True))
                notes.append(f"{feat}: fewer than 2 groups with at least min_slice_size={self.spec.min_slice_size} "
                             f"examples (group sizes: {sizes or 'none'}); lower EvalSpec(min_slice_size=...) or "
                             "evaluate on more data.")
        return notes

    def fairness(self) -> "pd.DataFrame":
        """Per sensitive feature and rate: the value per group and the largest gap between groups.

        Groups smaller than ``spec.min_slice_size`` are left out; :meth:`fairness_notes` says
        when that (or a multiclass model) leaves a feature without rows.
        """
        import pandas as pd

        rows = []
        from mlprod.evaluation.spec import FAIRNESS_RATES

        rates = [m for m in self.table["metric"].unique() if m in FAIRNESS_RATES or m == self.primary_metric]
        for feat in self.spec.fairness:
            prefix = f"{feat}="
            t = self.table[self.table["slice"].str.startswith(prefix) & ~self.table["slice"].str.contains(", ")
                           & ~self.table["too_small"]]
            for metric in rates:
                g = t[t["metric"] == metric].dropna(subset=["value"])
                if len(g) < 2:
                    continue
                best, worst = g.loc[g["value"].idxmax()], g.loc[g["value"].idxmin()]
                rows.append({"feature": feat, "metric": metric, "groups": len(g),
                             "max_group": best["slice"][len(prefix):], "max": best["value"],
                             "min_group": worst["slice"][len(prefix):], "min": worst["value"],
                             "gap": best["value"] - worst["value"]})
        return pd.DataFrame(rows, columns=["feature", "metric", "groups", "max_group", "max", "min_group", "min",
                                           "gap"])

    def with_baseline(self, baseline_table: "pd.DataFrame") -> "EvalResult":
        """This result with a baseline's values merged in and change thresholds applied.

        Used when the candidate and baseline are evaluated separately (Keras/TFLite models).
        """
        from dataclasses import replace

        from mlprod.evaluation.spec import LOWER_IS_BETTER

        base = baseline_table.set_index(["slice", "metric"])["value"]
        t = self.table.copy()
        t["baseline"] = [base.get((s, m)) for s, m in zip(t["slice"], t["metric"], strict=True)]
        t["change"] = t["value"] - t["baseline"]
        failures = set(self.failures or [])
        t = judge_table(t, self.spec, failures)   # what the full spec judges (change thresholds included)
        for _, row in t.iterrows():
            th = self.spec.thresholds.get(row["metric"])
            if th is None or th.max_drop is None or row["change"] != row["change"]:
                continue
            worse = row["change"] if row["metric"] in LOWER_IS_BETTER else -row["change"]
            if row["judged"] and worse > th.max_drop:
                failures.add((row["slice"], row["metric"]))
        t = judge_table(t, self.spec, failures)
        return replace(self, table=t, failures=sorted(failures), validation_ok=self.validation_ok and not (
            failures - set(self.failures or [])))

    def __repr__(self) -> str:
        t = self.trivial()
        trivial = f" (trivial baseline {t['trivial']:.4f})" if t["trivial"] == t["trivial"] else ""
        return (f"<EvalResult {'passed' if self.passed else 'FAILED'}: {self.primary_metric}="
                f"{self.overall().get(self.primary_metric, float('nan')):.4f} overall{trivial}, "
                f"{self.table['slice'].nunique()} slices>")

    def plot(self, metric: str | None = None, ax: Any = None) -> Any:
        """Bar chart of ``metric`` (default :attr:`primary_metric`) per slice, the first 40 slices;
        slices under ``min_slice_size`` in grey. Returns the matplotlib Axes.

        Example:
            (tests/test_results.py runs this.)
            >>> r.plot("sparse_categorical_accuracy")                       # doctest: +SKIP
        """
        import matplotlib.pyplot as plt

        metric = metric or self.primary_metric
        t = self.table[(self.table["metric"] == metric)].head(40)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, max(2.0, 0.22 * len(t))))
        colors = ["#bbb" if small else "#3b7dd8" for small in t["too_small"]]
        ax.barh(range(len(t)), t["value"], color=colors)
        ax.set_yticks(range(len(t)))
        ax.set_yticklabels([f"{s} (n={int(c) if c == c else 0})" for s, c in zip(t["slice"], t["count"],
                                                                                  strict=True)], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(metric + " (grey: slice too small)")
        return ax

    def _plot(self, metric: str) -> str:
        import matplotlib

        matplotlib.use("Agg", force=False)
        return figure_html(self.plot(metric).figure)

    def save(self, output_dir: "str | Path") -> "dict[str, Path]":
        """``table.csv``, ``report.html`` and ``worst_slices.csv`` under ``output_dir``; returns ``{name: path}``."""
        from mlprod.io.files import atomic_write_text

        written = super().save(output_dir)
        written["worst_slices"] = atomic_write_text(Path(output_dir) / "worst_slices.csv",
                                                    self.worst_slices().to_csv(index=False))
        return written

    def to_html(self, full: bool = True) -> str:
        """Summary, metric per slice plot, worst slices, fairness gaps, thresholds, full table."""
        m = self.primary_metric
        judged = self.table[self.table["judged"]]
        if judged.empty:
            status = "<p>No thresholds set: nothing was judged.</p>"
        elif self.passed:
            status = "<p class='mlprod-ok'>All thresholds hold.</p>"
        else:
            status = f"<p class='mlprod-bad'>Thresholds broken: {html.escape(str(self.failures))}</p>"
        if len(judged):
            scope = ("every slice (the trivial baseline: Overall only)" if self.spec.threshold_slices == "all" else
                     "the Overall slice (other slices show meets_threshold but are not judged)")
            items = "; ".join(sorted({f"{m} {th}" for m, th in zip(judged["metric"], judged["threshold"], strict=True)},
                                     key=lambda text: (text.startswith(GAIN), text)))  # the user's thresholds first
            status += f"<p>Judged: {html.escape(items)} on {scope}.</p>"
        t = self.trivial()
        if t["trivial"] == t["trivial"]:
            status += (f"<p>Trivial baseline ({html.escape(t['predictor'])}) on {html.escape(t['metric'])}; "
                       f"the model: {t['model']:.4g} (gain {t['gain']:+.4g}).</p>")
        status += "".join(f"<p class='mlprod-bad'>Warning: {html.escape(w)}</p>" for w in self.warnings)
        fair = self.fairness()
        sections = [("Summary", status + table_html(self.overall().reset_index())),
                    (f"{m} per slice", self._plot(m)),
                    ("Worst slices", table_html(self.worst_slices().head(10))),
                    ("Fairness gaps", (table_html(fair) if len(fair) else "<p>no fairness rows</p>") + "".join(
                        f"<p>{html.escape(n)}</p>" for n in self.fairness_notes())),
                    ("All metrics", table_html(self.table))]
        return html_page("mlprod evaluation report", sections, full=full)
