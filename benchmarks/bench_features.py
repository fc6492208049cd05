"""Feature store: point-in-time retrieval through mlprod beside Feast's own call, and online lookups.

A repo with one feature view of 10 float features (``--entities`` entities, ``--updates`` values
each over 30 days, TTL 3 days) on Feast's local provider; ``--rows`` entity rows at random times.
Each retrieval case runs in its own process (its peak RSS is its own), imports before the clock:

- ``Feast get_historical_features`` called directly (``.to_df()``);
- ``mlprod training_frame`` (the same call per distinct (entity, time), joined back: every row in
  order, TTL as Feast applies it).

Then the online store after ``materialize``: ``FeatureRepo.online_features`` for one entity row
(what a served request costs), p50/p99 over ``--lookups`` calls.

Usage:
    scripts/in-env python -m benchmarks.bench_features                 # 1,000,000 rows
    scripts/in-env python -m benchmarks.bench_features --rows 100000
"""
from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import numpy as np

from benchmarks.harness import print_table, run_isolated

FEATURES = [f"v:f{i}" for i in range(10)]


def build(folder: str, entities: int, updates: int) -> None:
    """The repo (one view, 10 features) under ``folder``."""
    import pandas as pd

    from mlprod.features import FeatureRepo

    rng = np.random.default_rng(0)
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    values = pd.DataFrame({"area": np.repeat(np.arange(entities), updates),
                           "ts": t0 + pd.to_timedelta(rng.integers(0, 30 * 86400, entities * updates), unit="s")})
    for i in range(10):
        values[f"f{i}"] = rng.normal(size=len(values))
    FeatureRepo(folder).define("v", values, entity="area", timestamp="ts", ttl="3D")


def entity_rows(rows: int, entities: int) -> Any:
    import pandas as pd

    rng = np.random.default_rng(1)
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    return pd.DataFrame({"area": rng.integers(0, entities, rows),
                         "event_timestamp": t0 + pd.to_timedelta(rng.integers(0, 31 * 86400, rows), unit="s"),
                         "label": rng.integers(0, 2, rows)})


def _retrieve(tool: str, folder: str, rows: int, entities: int) -> dict[str, Any]:
    from mlprod.features import FeatureRepo

    repo = FeatureRepo(folder)
    df = entity_rows(rows, entities)
    t0 = time.perf_counter()
    if tool == "feast":
        out = repo.store.get_historical_features(entity_df=df, features=FEATURES).to_df()
    else:
        out = repo.training_frame(df, FEATURES)
    return {"seconds": time.perf_counter() - t0, "rows_back": len(out),
            "nulls": int(out[[f.split(":")[1] for f in FEATURES]].isna().any(axis=1).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--entities", type=int, default=1000)
    ap.add_argument("--updates", type=int, default=50)
    ap.add_argument("--lookups", type=int, default=2000)
    args = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-features-")
    build(folder, args.entities, args.updates)
    table = []
    for tool, name in (("feast", "Feast get_historical_features, directly"), ("mlprod", "mlprod training_frame")):
        print(f"{name} ...", flush=True)
        r = run_isolated(_retrieve, tool, folder, args.rows, args.entities)
        table.append({"case": name, "entity rows": args.rows, "rows back": r["rows_back"], "rows with nulls": r["nulls"],
                      "seconds": round(r["seconds"], 1), "rows/s": round(args.rows / r["seconds"]),
                      "peak_rss_mb": round(r["peak_rss_mb"])})
        print(table[-1], flush=True)
    print_table(table, f"Point-in-time retrieval: {args.rows:,} entity rows x 10 features (2 cores)")

    import pandas as pd

    from mlprod.features import FeatureRepo

    repo = FeatureRepo(folder)
    repo.materialize(end=pd.Timestamp("2024-02-01", tz="UTC"))
    now = pd.Timestamp("2024-01-31", tz="UTC")
    rng = np.random.default_rng(2)
    times = []
    for a in rng.integers(0, args.entities, args.lookups):
        t0 = time.perf_counter()
        repo.online_features([{"area": int(a)}], FEATURES, now=now)
        times.append(time.perf_counter() - t0)
    ms = np.array(times[50:]) * 1000   # the first calls warm Feast's registry cache
    print_table([{"case": "online_features, 1 entity row, SQLite online store", "lookups": len(ms),
                  "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}],
                "Online lookups")


if __name__ == "__main__":
    main()
