"""Regret of early termination: the best trial found with the stopping rule vs without, same seeds.

Issue 25: ``mlprod.search(space, mnist, strategy="evolution", max_trials=6, epochs=8,
early_termination=True, seed=0, population_size=3, sample_size=2)`` stopped, after 3 epochs, the
trial that trained fully is the best of the search (1.3 points lost to save 6 of 48 epochs): the
learning-curve bound ignored the noise of a 200-row validation set. This benchmark runs every
(data set, seed) search three times: without early termination, with the rule as it was before
issue 25 (``old``: the fit's own scatter only), and with the current rule (``new``: noise floored
by the binomial standard error ``sqrt(p(1-p)/n)`` of an accuracy on n validation rows). Regret is
the best validation accuracy without termination minus the best with it, in accuracy points (a
negative regret: the search with termination found a better trial, as searches diverge once a
trial is cut). Epochs are those trained in all, counted by the search.

Usage (the numbers in docs/benchmarks.md):
    scripts/in-env python -m benchmarks.bench_early_termination --seeds 3 --jobs 1
    scripts/in-env python -m benchmarks.bench_early_termination --seeds 1 --data mnist --rules none,new
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import numpy as np

from benchmarks.harness import print_table

RULES = ("none", "old", "new")
CURRENT = None  # the library's stop rule, restored after an "old" search in the same worker
SEARCH = {"strategy": "evolution", "max_trials": 6, "epochs": 8, "population_size": 3, "sample_size": 2}


def datasets_() -> dict:
    """(x, y) and a search space per data set, all from mlprod.datasets."""
    from mlprod import datasets
    from mlprod.tuning import DenseSpace

    x, y = datasets.mnist()
    peng = datasets.penguins()
    px, py = peng.drop(columns="species").to_numpy("float32"), peng["species"].to_numpy()
    taxi = datasets.chicago_taxi()
    num = ["trip_miles", "fare", "trip_seconds", "trip_start_hour", "trip_start_day", "trip_start_month",
           "pickup_latitude", "pickup_longitude"]
    taxi = taxi.dropna(subset=[*num, "tips"]).sample(2000, random_state=0)
    tx = np.log1p(np.abs(taxi[num].to_numpy("float64"))) * np.sign(taxi[num].to_numpy("float64"))
    tx = ((tx - tx.mean(0)) / (tx.std(0) + 1e-9)).astype("float32")
    ty = (taxi["tips"] > 0.2 * taxi["fare"]).astype(int).to_numpy()
    return {
        "mnist (1,000)": ((x, y), DenseSpace(input_shape=(784,), num_classes=10, depth=(1, 2), width=(32, 128, 32),
                                              batch_norm=(False,), learning_rate=(1e-4, 1e-2))),
        "penguins": ((px, py), DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 3), width=(8, 64, 8),
                                          learning_rate=(1e-3, 3e-2))),
        "taxi tips (2,000)": ((tx, ty), DenseSpace(input_shape=(len(num),), num_classes=2, depth=(1, 3),
                                                   width=(8, 64, 8), learning_rate=(1e-4, 1e-2))),
    }


def old_hopeless(curve, horizon, best, maximize, z=2.0, min_epochs=3, validation_rows=None):  # noqa: ANN001, ANN201
    """The stop rule before issue 25, kept here to measure it: the fit's own scatter, no validation noise."""
    from mlprod.tuning.estimation import _fit, extrapolate

    if best is None or len(curve) < max(min_epochs, 3) or len(curve) >= horizon:
        return None
    sign = 1.0 if maximize else -1.0
    ys = [sign * float(y) for y in curve]
    if not all(math.isfinite(y) for y in ys):
        return None
    pred, se = extrapolate(ys, horizon)
    bound = max(pred + z * se, max(ys) + z * math.sqrt(_fit(ys)[2]))
    if bound >= sign * best:
        return None
    return f"predicted {sign * pred:.4f} ± {se:.4f}; even {sign * bound:.4f} would not beat {best:.4f}"


def _init_worker() -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def run_one(task: tuple) -> dict:
    """One search: its best score, epochs trained, trials stopped (and why)."""
    data_name, rule, seed = task
    import mlprod
    from mlprod.tuning import estimation

    global CURRENT
    CURRENT = CURRENT or estimation.hopeless
    estimation.hopeless = old_hopeless if rule == "old" else CURRENT  # this worker only: the rule as it was
    data, space = datasets_()[data_name]
    t0 = time.perf_counter()
    r = mlprod.search(space, data, seed=seed, progress=False, early_termination=rule != "none", **SEARCH)
    t = r.table
    stopped = t[t["stopped"].notna()]
    return {"data": data_name, "rule": rule, "seed": seed, "best": float(t["score"].max()),
            "epochs": int(t["epochs"].fillna(0).sum()), "stopped": len(stopped),
            "why": [str(s) for s in stopped["stopped"]], "seconds": time.perf_counter() - t0}


def summarize(results: list[dict]) -> list[dict]:
    """Per data set and rule: regret against no termination (same seed) and epochs saved."""
    by = {(r["data"], r["rule"], r["seed"]): r for r in results}
    rows = []
    for data in dict.fromkeys(r["data"] for r in results):
        for rule in [x for x in RULES if x != "none"]:
            pairs = [(by[(data, "none", s)], by[(data, rule, s)]) for (d, ru, s) in by
                     if d == data and ru == rule and (data, "none", s) in by]
            if not pairs:
                continue
            regret = [100 * (a["best"] - b["best"]) for a, b in pairs]
            full, cut = sum(a["epochs"] for a, _ in pairs), sum(b["epochs"] for _, b in pairs)
            rows.append({"data": data, "rule": rule, "seeds": len(pairs),
                         "regret per seed (pts)": " ".join(f"{x:+.1f}" for x in regret),
                         "mean regret (pts)": round(float(np.mean(regret)), 2),
                         "worst (pts)": round(float(max(regret)), 1),
                         "epochs (no termination)": full, "epochs": cut,
                         "epochs saved": f"{1 - cut / full:.0%}" if full else "",
                         "trials stopped": sum(b["stopped"] for _, b in pairs)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=1, help="searches run side by side (worker processes)")
    ap.add_argument("--data", default="", help="comma-separated substrings of data set names (default: all)")
    ap.add_argument("--rules", default=",".join(RULES), help=f"comma-separated, of {RULES}")
    ap.add_argument("--out", help="append each search's result to this JSON-lines file; searches already in it "
                                  "are not run again (resume)")
    args = ap.parse_args()
    rules = [r.strip() for r in args.rules.split(",") if r.strip() in RULES]
    names = [n for n in datasets_() if not args.data or any(w in n for w in args.data.split(","))]
    tasks = [(d, rule, seed) for seed in range(args.seeds) for d in names for rule in rules]
    results = []
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            results = [json.loads(line) for line in f if line.strip()]
        done = {(r["data"], r["rule"], r["seed"]) for r in results}
        tasks = [t for t in tasks if t not in done]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        for fut in as_completed([pool.submit(run_one, t) for t in tasks]):
            r = fut.result()
            results.append(r)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
            print(f"[{time.perf_counter() - t0:6.0f}s] {r['data']} | {r['rule']} | seed {r['seed']}: best "
                  f"{r['best']:.4f}, {r['epochs']} epochs, {r['stopped']} stopped, {r['seconds']:.0f}s", flush=True)
            for why in r["why"]:
                print(f"        stopped: {why}", flush=True)
    print_table(summarize(results), f"Early termination regret: {SEARCH}, early_stopping on (the issue's call)")


if __name__ == "__main__":
    main()
