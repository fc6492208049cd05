"""NAS strategies at one trial budget, several seeds, vs plain Keras Tuner RandomSearch; compute counted.

Every case is one search (data set, strategy, options, seed) run in a worker process (``--jobs``
processes, one TensorFlow thread each). The table gives the median and spread of the best
validation accuracy and of the training spent, counted in full-data epochs (an epoch on a third
of the data counts 1/3), not timed. A second table compares evolution with weight inheritance
against our random search **at equal epochs** (random's best after as many epochs as evolution
spent in all, from its best-vs-compute curve). ``--plot`` saves the median best-vs-compute curves.

Usage:
    scripts/in-env python -m benchmarks.bench_tuning --trials 30 --epochs 10 --seeds 5 --jobs 2 \
        --plot docs/img/tuning_compute.png
    scripts/in-env python -m benchmarks.bench_tuning --trials 6 --epochs 4 --seeds 1 --data penguins \
        --strategies "random,evolution + weight inheritance"
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from benchmarks._tuning_common import pick, run_searches, search_data
from benchmarks.harness import print_table

DATA = ("mnist (1,000)", "penguins")  # of benchmarks._tuning_common.SPACES
# (label, strategy, search options); plain Keras Tuner random is the peer
CASES = [
    ("plain keras_tuner.RandomSearch", "plain", {}),
    ("random", "random", {}),
    ("random + early termination", "random", {"early_termination": True}),
    ("bayesian", "bayesian", {}),
    ("bayesian + early termination", "bayesian", {"early_termination": True}),
    ("hyperband", "hyperband", {}),
    ("hyperband + early termination", "hyperband", {"early_termination": True}),
    ("hyperband over data subsets", "hyperband", {"fidelity": "data"}),
    ("asha", "asha", {}),
    ("asha over data subsets", "asha", {"fidelity": "data"}),
    ("evolution", "evolution", {}),
    ("evolution + early termination", "evolution", {"early_termination": True}),
    ("evolution + weight inheritance", "evolution", {"weight_inheritance": True}),
    ("evolution + weight inheritance + early termination", "evolution",
     {"weight_inheritance": True, "early_termination": True}),
]


def plain_random(space, data, trials, epochs, seed):  # noqa: ANN001, ANN201
    """What users would otherwise run: keras_tuner.RandomSearch on the same space and split."""
    import keras
    import keras_tuner as kt

    x, y = data
    idx = np.random.default_rng(seed).permutation(len(x))
    n = max(1, int(len(x) * 0.2))
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as work:
        tuner = kt.RandomSearch(lambda hp: space.build(hp), objective="val_accuracy", max_trials=trials, seed=seed,
                                overwrite=True, directory=work, project_name="plain")
        tuner.search(x[idx[n:]], y[idx[n:]], validation_data=(x[idx[:n]], y[idx[:n]]), epochs=epochs, verbose=0)
        scores = [t.score for t in sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))]
    best = np.maximum.accumulate([s if s is not None else 0.0 for s in scores])
    return [(epochs * (i + 1), float(b)) for i, b in enumerate(best)]


def run_one(task: tuple) -> dict:
    """One search; returns its best score, epochs spent and best-vs-epochs curve."""
    data_name, label, strategy, options, trials, epochs, seed = task
    import mlprod

    data, space = search_data(data_name)
    t0 = time.perf_counter()
    if strategy == "plain":
        curve = plain_random(space, data, trials, epochs, seed)
    else:
        r = mlprod.search(space, data, strategy=strategy, max_trials=trials, epochs=epochs, seed=seed,
                          progress=False, early_stopping=False, **options)
        c = r.compute_curve()
        curve = list(zip(c["epochs_spent"].astype(float), c["best_score"].astype(float), strict=True))
    return {"data": data_name, "case": label, "seed": seed, "best": curve[-1][1], "epochs": curve[-1][0],
            "trials": len(curve), "seconds": time.perf_counter() - t0, "curve": curve}


def best_at(curve: list[tuple[float, float]], epochs: float) -> float:
    """The best score a search had reached after spending ``epochs`` (0 before its first trial ended)."""
    reached = [b for e, b in curve if e <= epochs + 1e-9]
    return max(reached) if reached else 0.0


def summarize(results: list[dict], trials: int, epochs: int) -> tuple[list[dict], list[dict]]:
    rows, equal = [], []
    for data in dict.fromkeys(r["data"] for r in results):
        mine = [r for r in results if r["data"] == data]
        plain = [r for r in mine if r["case"].startswith("plain")]
        plain_med = float(np.median([r["best"] for r in plain])) if plain else None
        plain_epochs = float(np.median([r["epochs"] for r in plain])) if plain else trials * epochs
        for case in dict.fromkeys(r["case"] for r in mine):
            rs = [r for r in mine if r["case"] == case]
            b, e = [r["best"] for r in rs], [r["epochs"] for r in rs]
            rows.append({"data": data, "strategy": case, "median best val acc": round(float(np.median(b)), 4),
                         "min-max": f"{min(b):.3f}-{max(b):.3f}",
                         "vs plain (pts)": "" if plain_med is None else f"{100 * (np.median(b) - plain_med):+.1f}",
                         "median epochs": round(float(np.median(e)), 1),
                         "epochs vs plain": f"{np.median(e) / plain_epochs:.0%}",
                         "trials": int(np.median([r["trials"] for r in rs])), "seeds": len(rs),
                         "median s": round(float(np.median([r["seconds"] for r in rs])), 1)})
        by_seed = {(r["case"], r["seed"]): r for r in mine}
        for case in [c for c in dict.fromkeys(r["case"] for r in mine) if "weight inheritance" in c]:
            pairs = [(by_seed[(case, s)], by_seed[("random", s)]) for c, s in by_seed
                     if c == case and ("random", s) in by_seed]
            if not pairs:
                continue
            evo = [p[0]["best"] for p in pairs]
            rnd = [best_at(p[1]["curve"], p[0]["epochs"]) for p in pairs]
            equal.append({"data": data, "strategy": case, "its median epochs": round(float(np.median(
                [p[0]["epochs"] for p in pairs])), 1), "its median best": round(float(np.median(evo)), 4),
                "random at the same epochs (median)": round(float(np.median(rnd)), 4),
                "seeds where it is >= random": f"{sum(a >= b for a, b in zip(evo, rnd, strict=True))}/{len(pairs)}"})
    return rows, equal


def plot(results: list[dict], path: str) -> None:
    """Median (over seeds) best validation accuracy against full-data epochs spent, per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["data"] for r in results))
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 4.2))
    show = ["plain keras_tuner.RandomSearch", "random", "random + early termination", "bayesian", "hyperband",
            "asha", "evolution", "evolution + weight inheritance + early termination"]
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        mine = [r for r in results if r["data"] == name]
        top = max(r["epochs"] for r in mine)
        grid = np.linspace(0, top, 120)
        for case in [c for c in show if any(r["case"] == c for r in mine)]:
            curves = [r["curve"] for r in mine if r["case"] == case]
            med = np.median([[best_at(c, g) for g in grid] for c in curves], axis=0)
            ax.plot(grid, med, label=case, lw=2.2 if "inheritance" in case or case.startswith("plain") else 1.2,
                    color="#555" if case.startswith("plain") else None)
        ax.set_xlabel("training spent (full-data epochs, all trials)")
        ax.set_ylabel("best validation accuracy (median of seeds)")
        lows = [r["best"] for r in mine]
        ax.set_ylim(max(0.0, min(lows) - 0.1), min(1.0, max(lows) + 0.02))
        ax.set_title(name)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="searches run side by side (worker processes)")
    ap.add_argument("--plot", help="save the best-vs-compute curves (PNG) here")
    ap.add_argument("--data", default="", help="comma-separated substrings of data set names (default: all)")
    ap.add_argument("--strategies", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--out", help="append each search's result to this JSON-lines file as it finishes; searches "
                                  "already in it are not run again (resume)")
    ap.add_argument("--summarize", help="only print the tables (and --plot) from a --out file of an earlier run")
    args = ap.parse_args()
    if args.summarize:
        with open(args.summarize) as f:
            report([json.loads(line) for line in f if line.strip()], args)
        return
    wanted = [w.strip() for w in args.strategies.split(",") if w.strip()]
    cases = [c for c in CASES if not wanted or c[0] in wanted or (c[1] == "plain" and "plain" in wanted)]
    names = pick(DATA, args.data)
    # seed-major: a run stopped early (resume with --out) still has every case at the same seeds
    tasks = [(d, label, strategy, options, args.trials, args.epochs, seed)
             for seed in range(args.seeds) for d in names for label, strategy, options in cases]
    results = run_searches(
        tasks, run_one, jobs=args.jobs, out=args.out, task_key=lambda t: (t[0], t[1], t[6]),
        result_key=lambda r: (r["data"], r["case"], r["seed"]),
        line=lambda r, s: (f"[{s:6.0f}s] {r['data']} | {r['case']} | seed {r['seed']}: best {r['best']:.4f} after "
                           f"{r['epochs']:.1f} epochs, {r['trials']} trials, {r['seconds']:.0f}s"))
    report(results, args)


def report(results: list[dict], args: argparse.Namespace) -> None:
    """Print the tables (and save the plot) for finished searches."""
    rows, equal = summarize(results, args.trials, args.epochs)
    print_table(rows, f"Budget: {args.trials} trials x {args.epochs} epochs (Hyperband: its brackets), "
                      "epochs counted in full-data epochs")
    if equal:
        print_table(equal, "Evolution with weight inheritance vs our random search at equal epochs")
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
