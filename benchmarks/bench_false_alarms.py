"""False alarms and power of mlprod's skew/drift checks over many random splits of real data.

    scripts/in-env python benchmarks/bench_false_alarms.py [--seeds 10] [--datasets wine,breast_cancer,...]

False alarms: each data set is shuffled and split (50/50, and 20/80: a small baseline, a bigger
current sample); ``detect_skew`` and ``detect_drift`` compare the two parts of the *same* data, so
every error is a false alarm. The table gives the share of splits with any error and which
checks raised them. Power: the shifts the checks must catch — TFX's skewed penguin copy (one -1),
+1 standard deviation on one feature of the current part, x1.5 on one feature, a quarter of the
rows past the range — with the share of splits where the shifted feature is flagged.

Data (all real, bundled, nothing downloaded): scikit-learn's wine (178 rows), breast_cancer
(569) and diabetes (442, unscaled), mlprod's penguins (334) and Chicago taxi (15,002; a
2,000-row sample for speed). Run it against another checkout (e.g. the previous release) with
that checkout's ``scripts/in-env`` to compare before/after.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter

import numpy as np
import pandas as pd


def _datasets(names: list[str]) -> dict[str, tuple[pd.DataFrame, str | None]]:
    import sklearn.datasets as skd

    from mlprod import datasets

    out: dict[str, tuple[pd.DataFrame, str | None]] = {}
    if "wine" in names:
        out["wine"] = (skd.load_wine(as_frame=True).frame, "target")
    if "breast_cancer" in names:
        out["breast_cancer"] = (skd.load_breast_cancer(as_frame=True).frame, "target")
    if "diabetes" in names:
        out["diabetes"] = (skd.load_diabetes(as_frame=True, scaled=False).frame, None)
    if "penguins" in names:
        out["penguins"] = (datasets.penguins(), "species")
    if "taxi" in names:
        out["taxi"] = (datasets.chicago_taxi().sample(2000, random_state=0).reset_index(drop=True), "tips")
    return out


def _check_name(row: pd.Series) -> str:
    if row["check"] != "schema":
        return str(row["check"]).split(":", 1)[-1]
    return "schema: " + str(row["description"]).split(":", 1)[0]


def false_alarms(data: dict, seeds: int) -> pd.DataFrame:
    import mlprod

    rows = []
    for name, (df, label) in data.items():
        for split in (0.5, 0.2):
            for kind, fn in (("skew", mlprod.detect_skew), ("drift", mlprod.detect_drift)):
                alarms, checks, features = 0, Counter(), Counter()
                t0 = time.perf_counter()
                for seed in range(seeds):
                    idx = np.random.RandomState(seed).permutation(len(df))
                    cut = int(len(df) * split)
                    r = fn(df.iloc[idx[:cut]], df.iloc[idx[cut:]], label=label)
                    errors = r.table[r.table["severity"] == "error"]
                    alarms += bool(len(errors))
                    checks.update(_check_name(e) for _, e in errors.iterrows())
                    features.update(errors["feature"])
                rows.append({"data": name, "rows": len(df), "split": f"{int(split * 100)}/{100 - int(split * 100)}",
                             "kind": kind, "splits": seeds, "with an alarm": alarms,
                             "rate": alarms / seeds,
                             "by check": ", ".join(f"{k} {v}" for k, v in checks.most_common(3)) or "-",
                             "features": ", ".join(f"{k} {v}" for k, v in features.most_common(3)) or "-",
                             "s/split": (time.perf_counter() - t0) / seeds})
                print(f"  {name} {split} {kind}: {alarms}/{seeds}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def power(data: dict, seeds: int) -> pd.DataFrame:
    import mlprod
    from mlprod import datasets

    rows = []
    r = mlprod.detect_skew(datasets.penguins(), datasets.penguins("skewed"), label="species")
    rows.append({"data": "penguins", "shift": "TFX skewed copy (one -1)", "feature": "culmen_length_mm",
                 "caught": float("culmen_length_mm" in r.flagged), "splits": 1})
    for name, (df, label) in data.items():
        if name in ("penguins",):
            continue
        numeric = [c for c in df.select_dtypes("number").columns if c != label and df[c].nunique() > 20]
        for shift in ("+1 sd", "x1.5", "25% past max"):
            caught = 0
            for seed in range(seeds):
                rng = np.random.RandomState(1000 + seed)
                feat = numeric[rng.randint(len(numeric))]
                idx = rng.permutation(len(df))
                a, b = df.iloc[idx[: len(df) // 2]], df.iloc[idx[len(df) // 2:]].copy()
                if shift == "+1 sd":
                    b[feat] = b[feat] + df[feat].std()
                elif shift == "x1.5":
                    b[feat] = b[feat] * 1.5
                else:
                    rows_past = b.index[: max(1, len(b) // 4)]
                    b.loc[rows_past, feat] = a[feat].max() + (a[feat].max() - a[feat].min())
                res = mlprod.detect_skew(a, b, label=label)
                caught += feat in res.flagged
            rows.append({"data": name, "shift": shift, "feature": "one at random", "caught": caught / seeds,
                         "splits": seeds})
            print(f"  power {name} {shift}: {caught}/{seeds}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--datasets", default="wine,breast_cancer,diabetes,penguins,taxi")
    p.add_argument("--quick", action="store_true", help="3 seeds")
    args = p.parse_args(argv)
    seeds = 3 if args.quick else args.seeds
    warnings.filterwarnings("ignore")
    data = _datasets(args.datasets.split(","))
    t0 = time.perf_counter()
    fa = false_alarms(data, seeds)
    pw = power(data, seeds)
    print(f"## False alarms: random splits of the same data ({seeds} seeds; any error = a false alarm)\n")
    print(fa.to_markdown(index=False, floatfmt=".2f"))
    print("\n## Power: shifts that must be caught (share of splits where the shifted feature is flagged)\n")
    print(pw.to_markdown(index=False, floatfmt=".2f"))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
