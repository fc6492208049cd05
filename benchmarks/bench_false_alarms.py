"""False-alarm rate (and power) of ``detect_skew`` / ``detect_drift`` on random splits of real data.

The numbers come from:

    scripts/in-env python benchmarks/bench_false_alarms.py --seeds 10

(``--quick`` = 5 seeds; default 20 seeds; ``--datasets wine,breast_cancer,penguins,taxi``;
``python -m benchmarks.bench_false_alarms`` works too). Progress goes to stderr, the markdown tables to
stdout.

False alarms: for each data set and seed the rows are shuffled with
``numpy.random.RandomState(seed)`` and cut into a baseline part A and a current part B — halves
(50/50), a small baseline vs a big current part (20/80) and the reverse (80/20). Both parts are
random samples of the *same* data, so every ``error`` row (i.e. every feature in ``.flagged``) is a
false alarm. Per data set x comparison x check the table gives the splits run, the splits with any
alarm and their rate, the alarms by check (the ``check`` column; schema rows are bucketed by the
short description before the first ``:``, e.g. "schema: Out-of-range values", and TFDV's "Multiple
errors" by its distinct reasons), the splits with only warnings (not alarms) and the warnings by
check, the closest call (largest value/threshold of the distance rows) and the seconds per call.
A second table lists the features that alarmed most.

Power: the shifts the checks must still catch. TFX's skewed penguin copy
(``datasets.penguins("skewed")``, must flag ``culmen_length_mm``); and for wine and breast_cancer,
half B with one numeric feature (drawn at random per seed among those with more than 20 distinct
values) shifted by +1 standard deviation (of the whole column), or separately multiplied by 1.5.
The table gives the share of seeds where that feature is flagged, the checks that caught it, how
many other (unshifted) features were flagged alongside, and the shifted features that were missed.

Data (all real and bundled, nothing is downloaded): scikit-learn's ``load_wine`` (178 rows,
label ``target``) and ``load_breast_cancer`` (569 rows, label ``target``), mlprod's
``datasets.penguins()`` (334 rows, label ``species``) and ``datasets.chicago_taxi()`` (15,002 rows,
label ``tips``) both as a fresh random 2,000-row sample per seed (``taxi_2000``) and in full
(``taxi_full``). No column is dropped: under a random split even the ID-/timestamp-like columns
(``trip_start_timestamp``, census tracts) come from the same distribution in both parts.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out of stderr

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.harness import print_table  # noqa: E402

DATASETS = ("wine", "breast_cancer", "penguins", "taxi")
COMPARISONS = {"50/50": 0.5, "20/80": 0.2, "80/20": 0.8}  # share of the rows in the baseline part A
TAXI_SAMPLE = 2000
DISTANCE_CHECKS = ("jsd", "linf", "unseen")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

def load_datasets(names: list[str]) -> dict[str, tuple[Callable[[int], pd.DataFrame], str | None, int]]:
    """name -> (frame for a seed, label, rows). Each frame is already shuffled with RandomState(seed)."""
    import sklearn.datasets as skd

    from mlprod import datasets

    unknown = set(names) - set(DATASETS) - {"taxi_2000", "taxi_full"}
    if unknown:
        raise SystemExit(f"unknown data set(s) {sorted(unknown)}; choose from {', '.join(DATASETS)}")

    def shuffled(df: pd.DataFrame, rows: int | None = None) -> Callable[[int], pd.DataFrame]:
        def draw(seed: int) -> pd.DataFrame:
            idx = np.random.RandomState(seed).permutation(len(df))
            return df.iloc[idx[:rows] if rows else idx].reset_index(drop=True)
        return draw

    out: dict[str, tuple[Callable[[int], pd.DataFrame], str | None, int]] = {}
    if "wine" in names:
        df = skd.load_wine(as_frame=True).frame
        out["wine"] = (shuffled(df), "target", len(df))
    if "breast_cancer" in names:
        df = skd.load_breast_cancer(as_frame=True).frame
        out["breast_cancer"] = (shuffled(df), "target", len(df))
    if "penguins" in names:
        df = datasets.penguins()
        out["penguins"] = (shuffled(df), "species", len(df))
    if {"taxi", "taxi_2000", "taxi_full"} & set(names):
        df = datasets.chicago_taxi()
        if {"taxi", "taxi_2000"} & set(names):
            out["taxi_2000"] = (shuffled(df, TAXI_SAMPLE), "tips", TAXI_SAMPLE)
        if {"taxi", "taxi_full"} & set(names):
            out["taxi_full"] = (shuffled(df), "tips", len(df))
    return out


def split(df: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Baseline = the first ``share`` of the (already shuffled) rows, current = the rest."""
    cut = int(round(len(df) * share))
    return df.iloc[:cut].reset_index(drop=True), df.iloc[cut:].reset_index(drop=True)


def check_name(row: Any, anomalies: Any = None) -> str:
    """``skew:jsd`` -> ``jsd``; schema rows -> ``schema: <short description>``.

    TFDV's "Multiple errors" is replaced by the distinct reasons (from the Anomalies proto), e.g.
    two out-of-range sides -> ``schema: Out-of-range values``.
    """
    if row["check"] != "schema":
        return str(row["check"]).split(":", 1)[-1]
    short = str(row["description"]).split(":", 1)[0].strip()
    feat = str(row["feature"])
    if short == "Multiple errors" and anomalies is not None and feat in anomalies.anomaly_info:
        reasons = dict.fromkeys(r.short_description for r in anomalies.anomaly_info[feat].reason)
        short = " + ".join(reasons) or short
    return "schema: " + short


def closest_call(table: pd.DataFrame) -> float:
    """Largest value/threshold among the distance rows (1.0 or more = an alarm)."""
    d = table[table["check"].astype(str).str.split(":").str[-1].isin(DISTANCE_CHECKS)]
    v = pd.to_numeric(d["value"], errors="coerce")
    t = pd.to_numeric(d["threshold"], errors="coerce")
    ratio = (v / t.where(t > 0)).dropna()
    return float(ratio.max()) if len(ratio) else float("nan")


def fmt_counts(c: Counter, top: int | None = None) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.most_common(top)) or "-"


# ---------------------------------------------------------------- false alarms

def false_alarms(data: dict, seeds: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import mlprod

    kinds = (("skew", mlprod.detect_skew), ("drift", mlprod.detect_drift))
    rows, features_rows = [], []
    for draw, label, _ in list(data.values())[:1]:  # warm-up: TFDV's imports stay out of s/call
        mlprod.detect_drift(*split(draw(0), 0.5), label=label)
    for name, (draw, label, n) in data.items():
        feats: Counter = Counter()
        feat_checks: dict[str, Counter] = {}
        for comp, share in COMPARISONS.items():
            for kind, fn in kinds:
                alarms = warned = crashed = 0
                checks: Counter = Counter()
                warns: Counter = Counter()
                worst, seconds = float("nan"), 0.0
                for seed in range(seeds):
                    a, b = split(draw(seed), share)
                    t0 = time.perf_counter()
                    try:
                        r = fn(a, b, label=label)
                    except Exception as exc:  # noqa: BLE001 - a crash is recorded, not fatal
                        seconds += time.perf_counter() - t0
                        crashed += 1
                        checks[f"crash: {type(exc).__name__}"] += 1
                        log(f"  ! {name} {comp} {kind} seed {seed}: {type(exc).__name__}: {exc}")
                        continue
                    seconds += time.perf_counter() - t0
                    table = r.table
                    errors = table[table["severity"] == "error"]
                    alarms += int(len(errors) > 0)
                    warnings_ = table[table["severity"] == "warning"]
                    warned += int(not len(errors) and len(warnings_) > 0)
                    warns.update(check_name(w, r.anomalies) for _, w in warnings_.iterrows())
                    worst = np.nanmax([worst, closest_call(table)])
                    for _, e in errors.iterrows():
                        c = check_name(e, r.anomalies)
                        checks[c] += 1
                        feats[str(e["feature"])] += 1
                        feat_checks.setdefault(str(e["feature"]), Counter())[f"{comp} {kind} {c}"] += 1
                rows.append({"data": name, "rows": n, "A/B": comp, "check": kind, "splits": seeds,
                             "with alarm": alarms, "rate": f"{alarms / seeds:.2f}",
                             "alarms by check": fmt_counts(checks), "warning only": warned,
                             "warnings by check": fmt_counts(warns),
                             "crashes": crashed, "closest call": f"{worst:.2f}",
                             "s/call": f"{seconds / seeds:.2f}"})
                log(f"  {name} {comp} {kind}: {alarms}/{seeds} splits with an alarm"
                    + (f" ({fmt_counts(checks)})" if checks else ""))
        for feat, count in feats.most_common(5):
            features_rows.append({"data": name, "feature": feat, "alarms": count,
                                  "of runs": seeds * len(COMPARISONS) * len(kinds),
                                  "where": fmt_counts(feat_checks[feat], 4)})
    return rows, features_rows


# ---------------------------------------------------------------- power

def power(data: dict, seeds: int) -> list[dict[str, Any]]:
    import mlprod
    from mlprod import datasets

    rows = []
    if "penguins" in data:
        for kind, fn in (("skew", mlprod.detect_skew), ("drift", mlprod.detect_drift)):
            r = fn(datasets.penguins(), datasets.penguins("skewed"), label="species")
            hit = "culmen_length_mm" in r.flagged
            errs = r.table[(r.table["severity"] == "error") & (r.table["feature"] == "culmen_length_mm")]
            rows.append({"data": "penguins", "shift": "TFX skewed copy", "check": kind,
                         "feature": "culmen_length_mm", "splits": 1, "caught": f"{float(hit):.2f}",
                         "caught by": fmt_counts(Counter(check_name(e, r.anomalies)
                                                         for _, e in errs.iterrows())),
                         "others flagged": len([f for f in r.flagged if f != "culmen_length_mm"]),
                         "missed": "-" if hit else "culmen_length_mm"})
            log(f"  power penguins skewed {kind}: flagged {r.flagged}")
    for name in ("wine", "breast_cancer"):
        if name not in data:
            continue
        draw, label, _ = data[name]
        for shift in ("+1 sd", "x1.5"):
            for kind, fn in (("skew", mlprod.detect_skew), ("drift", mlprod.detect_drift)):
                caught, others = 0, 0
                by: Counter = Counter()
                missed: Counter = Counter()
                for seed in range(seeds):
                    df = draw(seed)
                    numeric = [c for c in df.select_dtypes("number").columns
                               if c != label and df[c].nunique() > 20]
                    feat = numeric[np.random.RandomState(10_000 + seed).randint(len(numeric))]
                    a, b = split(df, 0.5)
                    b = b.copy()
                    b[feat] = b[feat] + df[feat].std() if shift == "+1 sd" else b[feat] * 1.5
                    r = fn(a, b, label=label)
                    caught += int(feat in r.flagged)
                    if feat not in r.flagged:
                        missed[feat] += 1
                    others += len([f for f in r.flagged if f != feat])
                    errs = r.table[(r.table["severity"] == "error") & (r.table["feature"] == feat)]
                    by.update(check_name(e, r.anomalies) for _, e in errs.iterrows())
                rows.append({"data": name, "shift": shift, "check": kind,
                             "feature": f"1 of {len(numeric)} at random", "splits": seeds,
                             "caught": f"{caught / seeds:.2f}", "caught by": fmt_counts(by),
                             "others flagged": others, "missed": fmt_counts(missed)})
                log(f"  power {name} {shift} {kind}: {caught}/{seeds}")
    return rows


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20, help="random splits per data set and comparison")
    p.add_argument("--datasets", default=",".join(DATASETS),
                   help="comma-separated: wine, breast_cancer, penguins, taxi (= taxi_2000 + taxi_full)")
    p.add_argument("--quick", action="store_true", help="5 seeds")
    args = p.parse_args(argv)
    seeds = 5 if args.quick else args.seeds
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    data = load_datasets([d.strip() for d in args.datasets.split(",") if d.strip()])
    log(f"false alarms: {', '.join(data)}; {seeds} seeds x {len(COMPARISONS)} splits x skew/drift")
    fa, feats = false_alarms(data, seeds)
    log("power ...")
    pw = power(data, seeds)
    total = time.perf_counter() - t0

    alarms = sum(r["with alarm"] for r in fa)
    runs = sum(r["splits"] for r in fa)
    print(f"## False alarms: random splits of the same data ({seeds} seeds; any error = a false alarm)")
    print(f"\n{alarms} of {runs} comparisons raised an alarm ({alarms / max(runs, 1):.1%}).")
    print_table(fa, "Splits with an alarm, by data set, split (A/B = baseline/current share) and check")
    if feats:
        print_table(feats, "Features that alarmed most (top 5 per data set)")
    else:
        print("\nNo feature alarmed.")
    if pw:
        print("\n## Power: shifts that must be caught (share of splits where the shifted feature is flagged)")
        print_table(pw, "Detection of injected shifts")
    print(f"\ntotal {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
