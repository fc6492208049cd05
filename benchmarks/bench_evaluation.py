"""Sliced evaluation throughput: mlprod vs TFMA with a hand-written config vs pandas/scikit-learn.

Binary "big tipper" predictions on the Chicago taxi data (replicated to --rows), evaluated
with 1, ~10 and ~100 slices; each tool runs in its own process so peak memory is its own.
The predictions are a fixed score column, so only evaluation is timed.

Usage:
    scripts/in-env python -m benchmarks.bench_evaluation                 # 100k rows (quick)
    scripts/in-env python -m benchmarks.bench_evaluation --rows 1000000
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import numpy as np

from benchmarks.harness import print_table, replicate, run_isolated

SLICINGS = {1: [], 10: ["payment_type"], 100: ["trip_start_hour", "pickup_community_area"]}
TOOLS = ("mlprod", "tfma (hand-written config)", "pandas + sklearn groupby")


def data(rows: int) -> Any:
    from mlprod import datasets

    df = replicate(datasets.chicago_taxi(), rows)
    df["big_tipper"] = (df["tips"] > 0.2 * df["fare"]).astype("int64")
    z = (np.log1p(df["fare"].fillna(0)) - 2.0) + 0.3 * (df["payment_type"] == "Credit Card")
    df["score"] = 1 / (1 + np.exp(-z.to_numpy()))
    df["pickup_community_area"] = df["pickup_community_area"].fillna(-1).astype("int64")
    return df[["big_tipper", "score", "payment_type", "trip_start_hour", "pickup_community_area"]]


def run(tool: str, df: Any, slices: list[str]) -> int:
    """Evaluate; returns the number of (slice, metric) values produced."""
    if tool == "mlprod":
        import mlprod

        spec = mlprod.EvalSpec(label="big_tipper", model_type="binary", slices=slices, prediction_key="score",
                               metrics=["ExampleCount", "BinaryAccuracy", "AUC", "Precision", "Recall"])
        return len(mlprod.evaluate(None, df, spec).table)
    if tool.startswith("tfma"):
        import tensorflow_model_analysis as tfma
        from tensorflow_model_analysis.proto import config_pb2 as c

        from mlprod.io.examples import write_tfrecord

        cfg = c.EvalConfig(model_specs=[c.ModelSpec(label_key="big_tipper", prediction_key="score")],
                           slicing_specs=[c.SlicingSpec()] + [c.SlicingSpec(feature_keys=[s]) for s in slices],
                           metrics_specs=[c.MetricsSpec(metrics=[c.MetricConfig(class_name=n) for n in (
                               "ExampleCount", "BinaryAccuracy", "AUC", "Precision", "Recall")])])
        with tempfile.TemporaryDirectory() as tmp:
            path = write_tfrecord(df, os.path.join(tmp, "d.tfrecord"))
            res = tfma.run_model_analysis(eval_config=cfg, data_location=str(path), output_path=tmp + "/out")
            return sum(len(per_sub) for _, m in res.slicing_metrics for per_out in m.values()
                       for per_sub in per_out.values())
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    def metrics(g: Any) -> dict:
        y, p = g["big_tipper"].to_numpy(), g["score"].to_numpy()
        yhat = p > 0.5
        auc = roc_auc_score(y, p) if 0 < y.sum() < len(y) else float("nan")
        return {"count": len(g), "accuracy": float(np.mean(yhat == y)), "auc": auc,
                "precision": precision_score(y, yhat, zero_division=0), "recall": recall_score(y, yhat, zero_division=0)}

    out = [metrics(df)]
    for s in slices:
        out += [metrics(g) for _, g in df.groupby(s)]
    return len(out) * 5


def _child(tool: str, rows: int, slices: list[str]) -> dict[str, Any]:
    df = data(rows)
    t0 = time.perf_counter()
    n = run(tool, df, slices)
    return {"seconds": time.perf_counter() - t0, "values": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    rows = []
    for n_slices, slices in SLICINGS.items():
        for tool in TOOLS:
            print(f"{tool}: ~{n_slices} slices on {args.rows:,} rows ...", flush=True)
            res = run_isolated(_child, tool, args.rows, slices)
            rows.append({"slices": f"~{n_slices} ({', '.join(slices) or 'overall'})", "tool": tool,
                         "seconds": round(res["seconds"], 2), "examples_per_s": round(args.rows / res["seconds"]),
                         "peak_rss_mb": round(res["peak_rss_mb"]), "values": res["values"]})
    print_table(rows, f"Sliced evaluation of {args.rows:,} taxi predictions")


if __name__ == "__main__":
    main()
