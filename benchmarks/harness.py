"""Tiny benchmark harness shared by every script in ``benchmarks/``.

Run a case N times, report the median wall time, peak memory (of the process tree, via
``resource``), and print a side-by-side table (markdown, ready for ``docs/benchmarks.md``).

Example:
    >>> from benchmarks.harness import Case, run_cases, print_table
    >>> rows = run_cases([Case("sum", lambda: sum(range(1000)), rows=1000)], repeat=3)
    >>> rows[0]["case"]
    'sum'
"""
from __future__ import annotations

import gc
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    """One thing to measure. ``fn`` returns an optional dict of extra columns."""

    name: str
    fn: Callable[[], "dict[str, Any] | None"]
    rows: int | None = None  # items processed per call, for a throughput column
    setup: Callable[[], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def peak_rss_mb() -> float:
    """Peak resident memory so far of this process and its waited-for children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def run_case(case: Case, repeat: int = 3) -> dict[str, Any]:
    """Run ``case`` ``repeat`` times; return median/min seconds, rows/s and peak RSS."""
    times, extra = [], {}
    for _ in range(repeat):
        if case.setup:
            case.setup()
        gc.collect()
        t0 = time.perf_counter()
        out = case.fn()
        times.append(time.perf_counter() - t0)
        if out:
            extra.update(out)
    med = statistics.median(times)
    row: dict[str, Any] = {"case": case.name, "median_s": round(med, 3), "min_s": round(min(times), 3),
                           "runs": repeat}
    if case.rows:
        row["rows_per_s"] = round(case.rows / med)
    row["peak_rss_mb"] = round(peak_rss_mb())
    row.update(case.extra)
    row.update(extra)
    return row


def run_cases(cases: list[Case], repeat: int = 3) -> list[dict[str, Any]]:
    """Run every case (printing progress) and return one row per case."""
    rows = []
    for i, c in enumerate(cases, 1):
        print(f"[{i}/{len(cases)}] {c.name} ...", flush=True)
        rows.append(run_case(c, repeat))
    return rows


def _isolated_child(target: Callable[..., dict[str, Any]], args: tuple, q: Any) -> None:
    out = target(*args)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put(out)


def run_isolated(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``target(*args)`` (a module-level function returning a dict) in a fresh process.

    Each tool then pays its own imports and its peak memory is its own: the result gains
    ``peak_rss_mb`` (the child's peak resident memory; children it spawns are not included).
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_isolated_child, args=(target, args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def replicate(df: Any, rows: int) -> Any:
    """``df`` repeated until it has ``rows`` rows (the "taxi data replicated to ~1M rows")."""
    import pandas as pd

    return pd.concat([df] * max(1, -(-rows // len(df))), ignore_index=True).iloc[:rows].copy()


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of ``rows`` (columns: union of keys, in first-seen order)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(out)


def print_table(rows: list[dict[str, Any]], title: str = "") -> None:
    """Print ``rows`` as a markdown table under an optional title."""
    if title:
        print(f"\n### {title}\n")
    print(format_table(rows))
