"""Skew/drift detection: mlprod vs plain TFDV vs Evidently on the Chicago taxi data.

Measures, in one run and each tool in its own process (so peak memory is per tool):
* throughput (rows/s of both sides together) and peak RSS of statistics + comparison;
* detection quality, on the real 15,002 rows: which features each tool flags on an
  unshifted random split (false alarms) and on injected shifts (hour +6, fares x1.2 and x1.5, 5% new payment type,
  trip_miles as strings, one month vs the first half-year).

Usage:
    scripts/in-env python -m benchmarks.bench_validation            # 100k rows (quick)
    scripts/in-env python -m benchmarks.bench_validation --rows 1000000
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.harness import print_table, replicate, run_isolated

TOOLS = ("mlprod", "mlprod (stats only)", "tfdv (JSD 0.1)", "evidently")


def taxi(rows: int, seed: int = 0) -> Any:
    from mlprod import datasets

    big = replicate(datasets.chicago_taxi(), rows)
    return big.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def scenarios(df: Any) -> dict[str, tuple[Any, Any, set[str]]]:
    half = len(df) // 2
    a, b = df.iloc[:half].reset_index(drop=True), df.iloc[half:].reset_index(drop=True)
    newcat = b.copy()
    newcat.loc[newcat.sample(frac=0.05, random_state=0).index, "payment_type"] = "Bitcoin"
    return {
        "random split": (a, b, set()),
        "hour +6": (a, b.assign(trip_start_hour=(b["trip_start_hour"] + 6) % 24), {"trip_start_hour"}),
        "fare x1.2": (a, b.assign(fare=b["fare"] * 1.2), {"fare"}),
        "fare x1.5": (a, b.assign(fare=b["fare"] * 1.5), {"fare"}),
        "new payment_type 5%": (a, newcat, {"payment_type"}),
        "trip_miles as str": (a, b.assign(trip_miles=b["trip_miles"].astype(str)), {"trip_miles"}),
        "month 12 vs 1-6": (df[df.trip_start_month <= 6], df[df.trip_start_month == 12],
                            {"trip_start_month", "trip_start_timestamp"}),
    }


def run_tool(tool: str, a: Any, b: Any) -> set[str]:
    """Flagged features of one tool on one pair of datasets."""
    if tool.startswith("mlprod"):
        import mlprod
        from mlprod.validation import compute_statistics

        if tool == "mlprod":
            return set(mlprod.detect_drift(a, b, label="tips").flagged)
        return set(mlprod.detect_drift(compute_statistics(a), compute_statistics(b), label="tips").flagged)
    if tool.startswith("tfdv"):
        import tensorflow_data_validation as tfdv

        sa = tfdv.generate_statistics_from_dataframe(a)
        sb = tfdv.generate_statistics_from_dataframe(b)
        schema = tfdv.infer_schema(sa)
        for f in schema.feature:
            if f.type == 3 or f.domain:  # BYTES / categorical
                f.drift_comparator.infinity_norm.threshold = 0.1
            else:
                f.drift_comparator.jensen_shannon_divergence.threshold = 0.1
        anomalies = tfdv.validate_statistics(sb, schema, previous_statistics=sa)
        return set(anomalies.anomaly_info)
    from evidently import Report
    from evidently.presets import DataDriftPreset

    empty = [c for c in a.columns if a[c].isna().all() or b[c].isna().all()]  # evidently raises on these
    a, b = a.drop(columns=empty), b.drop(columns=empty)
    try:
        snap = Report([DataDriftPreset()]).run(current_data=b, reference_data=a)
    except Exception as e:  # noqa: BLE001 - the table records the crash
        return {f"crash: {type(e).__name__}"}
    flagged = set()
    for m in snap.dict()["metrics"]:
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            value, th, method = m["value"], cfg["threshold"], cfg.get("method", "")
            if (value < th) if "p_value" in method else (value >= th):
                flagged.add(cfg["column"])
    return flagged


def _child(tool: str, rows: int) -> dict[str, Any]:
    a, b, _ = scenarios(taxi(rows))["random split"]
    t0 = time.perf_counter()
    run_tool(tool, a, b)
    seconds = time.perf_counter() - t0
    # quality on the real 15,002 rows (replicated rows would make random halves share values)
    quality = {name: sorted(run_tool(tool, x, y)) for name, (x, y, _) in scenarios(taxi(15_002)).items()}
    return {"seconds": seconds, "quality": quality}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    speed, quality = [], []
    expected = {name: want for name, (_, _, want) in scenarios(taxi(2000)).items()}
    for tool in TOOLS:
        print(f"running {tool} on {args.rows:,} rows ...", flush=True)
        res = run_isolated(_child, tool, args.rows)
        speed.append({"tool": tool, "rows": args.rows, "seconds": round(res["seconds"], 2),
                      "rows_per_s": round(args.rows / res["seconds"]), "peak_rss_mb": round(res["peak_rss_mb"])})
        row = {"tool": tool}
        for name, flagged in res["quality"].items():
            want = expected[name]
            hit = "ok" if set(flagged) == want else ("caught+extra" if want and want <= set(flagged) else
                                                     ("missed" if want else "false alarm"))
            row[name] = f"{hit}: {', '.join(flagged) or '-'}"
        quality.append(row)
    print_table(speed, f"Statistics + drift comparison, random split of {args.rows:,} taxi rows")
    print_table(quality, "Detection quality on the 15,002 real rows (flagged features)")


if __name__ == "__main__":
    main()
