"""Transform throughput on the taxi data: Beam DirectRunner modes vs a pandas/scikit-learn equivalent.

Same transforms everywhere: z-score fare, log trip_miles, median-imputed min-max trip_seconds,
quantile buckets of the hour, payment_type vocabulary, great-circle distance; with
``--decompositions`` also a 2-component truncated SVD and a 2-component NMF of the count columns
(fare, trip_miles, tips, trip_seconds; missing as 0), against scikit-learn's TruncatedSVD and NMF.
Each case runs in its own process (peak memory is its own).

Usage:
    scripts/in-env python -m benchmarks.bench_preprocessing              # 100k rows
    scripts/in-env python -m benchmarks.bench_preprocessing --rows 1000000 --cases in-memory,pandas
    scripts/in-env python -m benchmarks.bench_preprocessing --rows 1000000 --decompositions
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from benchmarks.harness import print_table, replicate, run_isolated

CASES = {
    "mlprod / DirectRunner in-memory": ["--direct_running_mode=in_memory"],
    "mlprod / DirectRunner multi-processing, 1 worker": ["--direct_running_mode=multi_processing",
                                                         "--direct_num_workers=1"],
    "mlprod / DirectRunner multi-processing, 2 workers": ["--direct_running_mode=multi_processing",
                                                          "--direct_num_workers=2"],
    "pandas + scikit-learn": None,
}


def data(rows: int) -> Any:
    from mlprod import datasets

    return replicate(datasets.chicago_taxi(), rows)


COUNTS = ("fare", "trip_miles", "tips", "trip_seconds")


def spec(decompositions: bool = False) -> Any:
    from mlprod.preprocessing import NMF, SVD, Categorical, Distance, FeatureSpec, Numeric

    extra = (SVD("counts_svd", COUNTS, components=2), NMF("counts_nmf", COUNTS, components=2)) if decompositions else ()
    return FeatureSpec(features=(
        Numeric("fare"), Numeric("trip_miles", scale="log"),
        Numeric("trip_seconds", scale="minmax", impute="median"), Numeric("trip_start_hour", buckets=4),
        Categorical("payment_type"),
        Distance("trip_km", "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
                 impute="mean"), *extra))


def pandas_sklearn(df: Any, decompositions: bool = False) -> Any:
    import pandas as pd
    from sklearn.preprocessing import KBinsDiscretizer, MinMaxScaler, OrdinalEncoder, StandardScaler

    out = pd.DataFrame(index=df.index)
    out["fare"] = StandardScaler().fit_transform(df[["fare"]]).ravel()
    out["trip_miles"] = StandardScaler().fit_transform(np.log1p(df[["trip_miles"]].clip(lower=0))).ravel()
    secs = df[["trip_seconds"]].fillna(df["trip_seconds"].median())
    out["trip_seconds"] = MinMaxScaler().fit_transform(secs).ravel()
    out["trip_start_hour"] = KBinsDiscretizer(4, encode="ordinal", strategy="quantile").fit_transform(
        df[["trip_start_hour"]]).ravel()
    out["payment_type"] = OrdinalEncoder().fit_transform(df[["payment_type"]]).ravel()
    cols = ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]
    lat1, lon1, lat2, lon2 = (np.radians(df[c].fillna(df[c].mean()).to_numpy()) for c in cols)
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    km = 2 * 6371.0088 * np.arcsin(np.sqrt(a))
    out["trip_km"] = (km - km.mean()) / km.std()
    if decompositions:
        from sklearn.decomposition import NMF, TruncatedSVD

        counts = df[list(COUNTS)].fillna(0.0).to_numpy(float)
        out[["svd_0", "svd_1"]] = TruncatedSVD(2, algorithm="arpack").fit_transform(counts)
        out[["nmf_0", "nmf_1"]] = NMF(2, max_iter=400).fit_transform(counts)
    return out


def _child(name: str, rows: int, decompositions: bool = False) -> dict[str, Any]:
    df = data(rows)
    t0 = time.perf_counter()
    if CASES[name] is None:
        pandas_sklearn(df, decompositions)
    else:
        import mlprod

        mlprod.analyze_and_transform(df, spec(decompositions), beam_args=CASES[name], progress=False)
    return {"seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--cases", default="", help="comma-separated substrings of case names (default: all)")
    ap.add_argument("--decompositions", action="store_true", help="add SVD and NMF of the count columns")
    args = ap.parse_args()
    wanted = [c for c in args.cases.split(",") if c]
    out = []
    for name in [n for n in CASES if not wanted or any(w in n for w in wanted)]:
        print(f"{name}: {args.rows:,} rows ...", flush=True)
        res = run_isolated(_child, name, args.rows, args.decompositions)
        out.append({"case": name, "rows": args.rows, "seconds": round(res["seconds"], 1),
                    "rows_per_s": round(args.rows / res["seconds"]), "peak_rss_mb": round(res["peak_rss_mb"])})
    what = " with SVD + NMF" if args.decompositions else ""
    print_table(out, f"Analyze + transform {args.rows:,} taxi rows{what} (2 cores)")


if __name__ == "__main__":
    main()
