"""What the search benchmarks share: their data sets and spaces, the worker set-up, and the
resumable loop that runs searches in worker processes.

``bench_tuning.py`` (strategies at one budget) and ``bench_early_termination.py`` (the stop
rule's regret) each turn a task tuple into one ``mlprod.search`` in a worker; this module runs
the tasks, appends each result to ``--out`` as it finishes (a rerun skips what is there) and prints
a line per search.

Example:
    >>> sorted(SPACES)
    ['mnist (1,000)', 'penguins', 'taxi tips (2,000)']
    >>> run_searches([], lambda t: {}, jobs=1, out=None, task_key=lambda t: t, result_key=lambda r: r,
    ...              line=lambda r, s: "")
    []
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

import numpy as np

TAXI_FEATURES = ["trip_miles", "fare", "trip_seconds", "trip_start_hour", "trip_start_day", "trip_start_month",
                 "pickup_latitude", "pickup_longitude"]
#: data set name -> keyword arguments of its DenseSpace
SPACES: dict[str, dict[str, Any]] = {
    "mnist (1,000)": {"input_shape": (784,), "num_classes": 10, "depth": (1, 2), "width": (32, 128, 32),
                      "batch_norm": (False,), "learning_rate": (1e-4, 1e-2)},
    "penguins": {"input_shape": (4,), "num_classes": 3, "depth": (1, 3), "width": (8, 64, 8),
                 "learning_rate": (1e-3, 3e-2)},
    "taxi tips (2,000)": {"input_shape": (len(TAXI_FEATURES),), "num_classes": 2, "depth": (1, 3),
                          "width": (8, 64, 8), "learning_rate": (1e-4, 1e-2)},
}


def _arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    from mlprod import datasets

    if name == "mnist (1,000)":
        return datasets.mnist()
    if name == "penguins":
        df = datasets.penguins()
        return df.drop(columns="species").to_numpy("float32"), df["species"].to_numpy()
    if name == "taxi tips (2,000)":  # signed log, standardized; label: a tip above 20% of the fare
        num = TAXI_FEATURES
        taxi = datasets.chicago_taxi().dropna(subset=[*num, "tips"]).sample(2000, random_state=0)
        tx = np.log1p(np.abs(taxi[num].to_numpy("float64"))) * np.sign(taxi[num].to_numpy("float64"))
        tx = ((tx - tx.mean(0)) / (tx.std(0) + 1e-9)).astype("float32")
        return tx, (taxi["tips"] > 0.2 * taxi["fare"]).astype(int).to_numpy()
    raise KeyError(f"unknown data set {name!r}; one of {list(SPACES)}")


def search_data(name: str) -> tuple[tuple[np.ndarray, np.ndarray], Any]:
    """``((x, y), DenseSpace)`` of one data set of :data:`SPACES`, all from ``mlprod.datasets``."""
    from mlprod.tuning import DenseSpace

    return _arrays(name), DenseSpace(**SPACES[name])


def pick(names: Iterable[str], wanted: str) -> list[str]:
    """The data set names matching ``--data`` (comma-separated substrings; empty: all)."""
    return [n for n in names if not wanted or any(w in n for w in wanted.split(","))]


def init_worker() -> None:
    """One TensorFlow thread per worker process (``--jobs`` searches side by side)."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def run_searches(tasks: list[tuple], run_one: Callable[[tuple], dict], *, jobs: int, out: str | None,
                 task_key: Callable[[tuple], Hashable], result_key: Callable[[dict], Hashable],
                 line: Callable[[dict, float], str]) -> list[dict]:
    """Run ``run_one`` on every task in ``jobs`` worker processes (spawned, :func:`init_worker`).

    With ``out``: results already in that JSON-lines file are loaded and their tasks skipped
    (``task_key(task) == result_key(result)``); each new result is appended as it finishes.
    ``line(result, seconds since start)`` is printed per finished search. Returns every result,
    the loaded ones first.
    """
    results: list[dict] = []
    if out and os.path.exists(out):  # resume: searches already in --out are not run again
        with open(out) as f:
            results = [json.loads(row) for row in f if row.strip()]
        done = {result_key(r) for r in results}
        tasks = [t for t in tasks if task_key(t) not in done]
    if not tasks:
        return results
    t0 = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=init_worker) as pool:
        for fut in as_completed([pool.submit(run_one, t) for t in tasks]):
            r = fut.result()
            results.append(r)
            if out:
                with open(out, "a") as f:
                    f.write(json.dumps(r) + "\n")
            print(line(r, time.perf_counter() - t0), flush=True)
    return results
