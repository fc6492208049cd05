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
import math
import time

import numpy as np

from benchmarks._tuning_common import SPACES, pick, run_searches, search_data
from benchmarks.harness import print_table

RULES = ("none", "old", "new")
CURRENT = None  # the library's stop rule, restored after an "old" search in the same worker
SEARCH = {"strategy": "evolution", "max_trials": 6, "epochs": 8, "population_size": 3, "sample_size": 2}


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


def run_one(task: tuple) -> dict:
    """One search: its best score, epochs trained, trials stopped (and why)."""
    data_name, rule, seed = task
    import mlprod
    from mlprod.tuning import estimation

    global CURRENT
    CURRENT = CURRENT or estimation.hopeless
    estimation.hopeless = old_hopeless if rule == "old" else CURRENT  # this worker only: the rule as it was
    data, space = search_data(data_name)
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
    names = pick(SPACES, args.data)  # mnist, penguins, taxi tips (benchmarks._tuning_common)
    tasks = [(d, rule, seed) for seed in range(args.seeds) for d in names for rule in rules]

    def line(r: dict, seconds: float) -> str:
        why = "".join(f"\n        stopped: {w}" for w in r["why"])
        return (f"[{seconds:6.0f}s] {r['data']} | {r['rule']} | seed {r['seed']}: best {r['best']:.4f}, "
                f"{r['epochs']} epochs, {r['stopped']} stopped, {r['seconds']:.0f}s{why}")

    results = run_searches(tasks, run_one, jobs=args.jobs, out=args.out, task_key=tuple,
                           result_key=lambda r: (r["data"], r["rule"], r["seed"]), line=line)
    print_table(summarize(results), f"Early termination regret: {SEARCH}, early_stopping on (the issue's call)")


if __name__ == "__main__":
    main()
