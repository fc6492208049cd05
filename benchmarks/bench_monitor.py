"""Monitoring a big request log: ``mlprod.monitor`` vs our plain ``detect_drift`` on the same windows.

Builds a request log of ``--rows`` logged requests (taxi trips resampled from the bundled data,
with a prediction per row) over ``--days`` days, written by the server's own ``RequestLog``
writer, then measures in one run:

* ``read_requests``: the log folder back into a DataFrame (the TFRecords are parsed);
* ``monitor`` on that DataFrame (daily windows, drift of each window against the previous one,
  estimated accuracy), with ``skew=False``: the same statistics work as the peer;
* ``monitor`` on the log folder (reading included);
* the peer: a plain loop of ``mlprod.detect_drift(previous day, day)`` over the same DataFrame.

Usage:
    scripts/in-env python -m benchmarks.bench_monitor --rows 1000000 --days 10
    scripts/in-env python -m benchmarks.bench_monitor --rows 100000 --days 5      # a quick look
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from benchmarks.harness import peak_rss_mb, print_table

FEATURES = ["trip_miles", "fare", "trip_seconds", "trip_start_hour", "payment_type", "company"]


def write_log(log_dir: str, rows: int, days: int, seed: int = 0) -> float:
    """``rows`` requests spread over ``days`` days, written with the server's RequestLog; seconds spent."""
    from mlprod import datasets
    from mlprod.serving.requestlog import RequestLog, build_records

    taxi = datasets.chicago_taxi()[FEATURES].dropna().reset_index(drop=True)
    rng = np.random.default_rng(seed)
    log = RequestLog(log_dir, flush_interval_s=0.5, max_file_bytes=256 << 20)
    t0 = time.perf_counter()
    start_ms = 1_700_000_000_000
    chunk = 20_000
    per_day = -(-rows // days)
    for i in [d * per_day + k for d in range(days) for k in range(0, per_day, chunk) if d * per_day + k < rows]:
        n = min(chunk, rows - i, per_day - (i % per_day))
        part = taxi.iloc[rng.integers(0, len(taxi), n)]
        inputs = {c: part[c].to_numpy(np.float32) if part[c].dtype.kind in "fi" else
                  part[c].astype(str).to_numpy(object) for c in FEATURES}
        p = rng.uniform(0.05, 0.95, n).astype(np.float32)
        outputs = {"outputs": np.column_stack([1 - p, p])}
        day = i // per_day
        log.append(build_records(inputs, outputs, takes_examples=False, version=1,
                                 request_ids=[f"r{i + j}" for j in range(n)], now_ms=start_ms + day * 86_400_000))
    log.close()
    return time.perf_counter() - t0


def timed(fn):  # noqa: ANN001, ANN201
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--keep", help="build the log here (and keep it); default: a temp folder, removed")
    args = ap.parse_args()

    import pandas as pd

    import mlprod

    log_dir = args.keep or tempfile.mkdtemp(prefix="bench-monitor-")
    try:
        if not os.path.isdir(log_dir) or not os.listdir(log_dir):
            print(f"writing {args.rows:,} logged requests ...", flush=True)
            wrote = write_log(log_dir, args.rows, args.days)
        else:
            wrote = float("nan")
        warm = mlprod.read_requests(log_dir).head(2000)  # imports and first calls, outside the timings
        mlprod.monitor(warm, window=500, features=FEATURES, skew=False)
        mlprod.detect_drift(warm[FEATURES].head(1000), warm[FEATURES].tail(1000))
        df, read_s = timed(lambda: mlprod.read_requests(log_dir))
        print(f"read {len(df):,} rows in {read_s:.1f}s", flush=True)
        opts = dict(window="1D", features=FEATURES, skew=False)
        r_df, mon_df_s = timed(lambda: mlprod.monitor(df, **opts))
        print(f"monitor (DataFrame): {mon_df_s:.1f}s", flush=True)
        _, mon_dir_s = timed(lambda: mlprod.monitor(log_dir, **opts))
        print(f"monitor (log folder): {mon_dir_s:.1f}s", flush=True)
        t = pd.to_datetime(df["_timestamp_ms"], unit="ms", utc=True).dt.floor("D")
        days = [g[FEATURES] for _, g in df.groupby(t.to_numpy(), sort=True)]
        assert len(days) == args.days, (len(days), args.days)

        def plain() -> int:
            alerts = 0
            for prev, cur in zip(days, days[1:], strict=False):
                alerts += len(mlprod.detect_drift(prev, cur).flagged)
            return alerts

        plain_alerts, plain_s = timed(plain)
        print(f"plain detect_drift loop: {plain_s:.1f}s", flush=True)
        n = len(df)
        mine = r_df.table
        drift_alerts = int(mine[mine["metric"].str.startswith("drift") & mine["alert"].astype(bool)]["feature"]
                           .groupby(mine["window"]).nunique().sum())
        rows = [
            {"case": "plain detect_drift, day vs previous day (peer)", "seconds": round(plain_s, 1),
             "rows/s": f"{n / plain_s:,.0f}", "x peer": "1.00", "alerts": plain_alerts},
            {"case": "mlprod.monitor(DataFrame), daily windows", "seconds": round(mon_df_s, 1),
             "rows/s": f"{n / mon_df_s:,.0f}", "x peer": f"{plain_s / mon_df_s:.2f}", "alerts": drift_alerts},
            {"case": "mlprod.monitor(log folder): reading included", "seconds": round(mon_dir_s, 1),
             "rows/s": f"{n / mon_dir_s:,.0f}", "x peer": f"{plain_s / mon_dir_s:.2f}", "alerts": drift_alerts},
            {"case": "read_requests(log folder) alone", "seconds": round(read_s, 1),
             "rows/s": f"{n / read_s:,.0f}", "x peer": "", "alerts": ""},
            {"case": "writing the log (RequestLog, not timed against the peer)", "seconds": round(wrote, 1),
             "rows/s": f"{n / wrote:,.0f}" if wrote == wrote else "", "x peer": "", "alerts": ""},
        ]
        print_table(rows, f"Monitoring {n:,} logged requests over {args.days} days, {len(FEATURES)} features; "
                          f"peak RSS {peak_rss_mb():,.0f} MiB")
    finally:
        if not args.keep:
            shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
