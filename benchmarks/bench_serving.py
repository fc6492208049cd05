"""Serving throughput and latency: mlprod serve (batching off/on, logging on) next to a plain
single-request FastAPI endpoint calling the same SavedModel, all in one run, loopback only.

Every server runs in its own process; the load generator keeps ``--concurrency`` requests in
flight until ``--requests`` have been answered (after a warm-up), each request one penguin as raw
features (``{"instances": [{...}]}``). The load generator is ``bombardier`` (a Go HTTP benchmarking
tool, as wrk; ``scripts/mlprod-env`` builds it when Go is installed) or, with ``--client aiohttp``
or without bombardier, a Python aiohttp client in one process. Both share the server's 2 cores;
the aiohttp client takes ~180 us of CPU per request (about 40% of the machine at 4,000 req/s),
bombardier ~50 us, so bombardier's numbers are closer to clients on other machines. The model is a small
penguin classifier whose ``serving_default`` parses serialized tf.Examples, as TFX exports.
Batching runs twice: with TF Serving's advice for CPUs (``batch_timeout_micros=0``,
``num_batch_threads`` = cores: a batch runs as soon as a thread is free and holds what queued
meanwhile) and with a fixed wait (``--batch-timeout-micros``, 5 ms). The access-control cases
run the fixed-wait batching case again with an API key (``Authorization: Bearer``), TLS, and both
(a test CA made for the run; the clients keep their connections, so this is the steady-state cost
of encryption and the key check, not of handshakes): compare it with its twin without.

Usage:
    scripts/in-env python -m benchmarks.bench_serving
    scripts/in-env python -m benchmarks.bench_serving --concurrency 32 --requests 4000
    scripts/in-env python -m benchmarks.bench_serving --cases "API key,TLS" --rounds 5   # + their twin
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import print_table

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, ca: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import ssl
    import urllib.request

    tls = ssl.create_default_context(cafile=ca) if ca else None
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{'https' if ca else 'http'}://127.0.0.1:{port}/healthz", timeout=1, context=tls)
            return p
        except Exception as e:  # noqa: BLE001 - not up yet
            if getattr(e, "code", None) == 404:  # the plain endpoint has no /healthz: it is up
                return p
            if p.poll() is not None:
                raise RuntimeError(f"server exited with {p.returncode}: {' '.join(cmd)}") from None
            time.sleep(0.2)
    p.kill()
    raise RuntimeError(f"server did not start: {' '.join(cmd)}")


async def _load(url: str, bodies: list[bytes], concurrency: int, n: int, headers: dict[str, str] | None = None,
                ca: str | None = None) -> tuple[list[float], int, float]:
    import ssl

    import aiohttp

    head = {"Content-Type": "application/json", **(headers or {})}
    lat: list[float] = []
    errors = 0
    sent = 0

    async def worker(session: Any) -> None:
        nonlocal sent, errors
        while sent < n:
            body = bodies[sent % len(bodies)]
            sent += 1
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=head) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            lat.append(time.perf_counter() - t0)

    conn = aiohttp.TCPConnector(limit=concurrency, ssl=ssl.create_default_context(cafile=ca) if ca else True)
    async with aiohttp.ClientSession(connector=conn) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return lat, errors, wall


def measure(url: str, bodies: list[bytes], concurrency: int, n: int, headers: dict[str, str] | None = None,
            ca: str | None = None) -> dict[str, Any]:
    asyncio.run(_load(url, bodies, concurrency, max(200, n // 10), headers, ca))  # warm-up
    lat, errors, wall = asyncio.run(_load(url, bodies, concurrency, n, headers, ca))
    lat.sort()
    return {"requests": n, "errors": errors, "req_per_s": round(n / wall),
            "p50_ms": round(1000 * statistics.median(lat), 1), "p99_ms": round(1000 * lat[int(0.99 * len(lat)) - 1], 1)}


def measure_bombardier(url: str, body: bytes, concurrency: int, n: int, headers: dict[str, str] | None = None,
                       ca: str | None = None) -> dict[str, Any]:
    """The same measurement with bombardier (one request body, repeated)."""
    import json

    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(body)
        f.flush()
        base = [shutil.which("bombardier") or "bombardier", "--fasthttp", "-c", str(concurrency), "-m", "POST",
                "-f", f.name, "-H", "Content-Type: application/json", "-t", "30s"]
        for k, v in (headers or {}).items():
            base += ["-H", f"{k}: {v}"]
        if ca:  # the test CA's server certificate (bombardier cannot take a CA file)
            base.append("--insecure")
        subprocess.run([*base, "-n", str(max(200, n // 10)), "-q", url], check=True, capture_output=True)  # warm-up
        out = subprocess.run([*base, "-n", str(n), "-l", "-p", "r", "-o", "j", url], check=True, capture_output=True,
                             text=True).stdout
    r = json.loads(out)["result"]
    ok = r["req2xx"]
    pct = r["latency"]["percentiles"]
    return {"requests": n, "errors": n - ok, "req_per_s": round(n / r["timeTakenSeconds"]),
            "p50_ms": round(pct["50"] / 1000, 1), "p99_ms": round(pct["99"] / 1000, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--requests", type=int, default=8000)
    ap.add_argument("--client", choices=["bombardier", "aiohttp"], default=None,
                    help="load generator (default: bombardier when it is on PATH, else aiohttp)")
    ap.add_argument("--max-batch-size", type=int, default=32)
    ap.add_argument("--batch-timeout-micros", type=int, default=5000,
                    help="the timeout of the second batching case (the first uses 0, TF Serving's CPU advice)")
    ap.add_argument("--batch-threads", type=int, default=os.cpu_count() or 2,
                    help="num_batch_threads (TF Serving's CPU advice: the number of cores)")
    ap.add_argument("--cases", default="", help="comma-separated substrings of case names (default: all; the "
                    "plain endpoint always runs, as the x_plain reference)")
    ap.add_argument("--rounds", type=int, default=3, help="each case is measured this many times, the cases "
                                                          "interleaved; the table gives the median round")
    args = ap.parse_args()
    client = args.client or ("bombardier" if shutil.which("bombardier") else "aiohttp")
    if client == "bombardier" and not shutil.which("bombardier"):
        raise SystemExit("bombardier is not on PATH: run `make env` with Go installed, or pass --client aiohttp.")
    if args.client is None and client == "aiohttp":
        print("bombardier not found (scripts/mlprod-env builds it when Go is installed): using the aiohttp client, "
              "which takes a large share of the CPU on a small machine", flush=True)

    import json

    from mlprod import datasets
    from tests.serving.conftest import FEATURES, export_penguin_model

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    base = work / "penguin"
    export_penguin_model(base / "1", epochs=5)
    df = datasets.penguins().dropna()
    bodies = [json.dumps({"instances": [{f: float(r[f]) for f in FEATURES}]}).encode() for _, r in df.iterrows()]
    py = sys.executable
    serve = [py, "-m", "mlprod.cli", "serve", "--model_base_path", str(base), "--model_name", "penguin", "--port", "-1"]
    from mlprod.serving.access import add_key
    from tests.serving.conftest import make_test_pki

    (work / "pki").mkdir()
    pki = make_test_pki(work / "pki")
    api_key = add_key(str(work / "keys.json"), "bench", "penguin")
    with_key = ["--api_keys_file", str(work / "keys.json")]
    with_tls = ["--tls_cert", pki["server_cert"], "--tls_key", pki["server_key"]]

    def batch(timeout_us: int) -> list[str]:
        return ["--enable_batching", "--max_batch_size", str(args.max_batch_size),
                "--batch_timeout_micros", str(timeout_us), "--num_batch_threads", str(args.batch_threads)]

    cases = [
        ("ceiling: FastAPI endpoint with no model (HTTP + JSON + load generator only)",
         lambda port: [py, "-m", "benchmarks.plain_endpoint", "-", str(port)]),
        ("plain FastAPI endpoint (peer)", lambda port: [py, "-m", "benchmarks.plain_endpoint", str(base / "1"), str(port)]),
        ("mlprod serve, no batching", lambda port: [*serve, "--rest_api_port", str(port)]),
        ("mlprod serve, batching (timeout 0: TF Serving's CPU setting)",
         lambda port: [*serve, "--rest_api_port", str(port), *batch(0)]),
        (f"mlprod serve, batching ({args.batch_timeout_micros} us timeout)",
         lambda port: [*serve, "--rest_api_port", str(port), *batch(args.batch_timeout_micros)]),
        (f"mlprod serve, batching ({args.batch_timeout_micros} us timeout), TensorFlow 1 intra-op / 1 inter-op thread",
         lambda port: [*serve, "--rest_api_port", str(port), *batch(args.batch_timeout_micros),
                       "--tensorflow_intra_op_parallelism", "1", "--tensorflow_inter_op_parallelism", "1"]),
        (f"mlprod serve, batching ({args.batch_timeout_micros} us timeout) + request log",
         lambda port: [*serve, "--rest_api_port", str(port), *batch(args.batch_timeout_micros),
                       "--log_dir", str(work / "logs")]),
        *[(f"mlprod serve, batching ({args.batch_timeout_micros} us timeout) + {what}",
           lambda port, extra=extra: [*serve, "--rest_api_port", str(port), *batch(args.batch_timeout_micros), *extra])
          for what, extra in (("API key", with_key), ("TLS", with_tls), ("API key + TLS", with_key + with_tls))],
    ]
    wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
    picked = {n for n, _ in cases if not wanted or n.startswith("plain") or any(w in n for w in wanted)}
    # the access cases run with their twin without
    picked |= {n.removesuffix(" + API key + TLS").removesuffix(" + API key").removesuffix(" + TLS") for n in picked}
    cases = [(n, c) for n, c in cases if n in picked]
    runs: dict[str, list[dict]] = {name: [] for name, _ in cases}
    for rnd in range(args.rounds):
        for name, cmd in cases:
            port = free_port()
            tls = "TLS" in name
            ca = pki["ca_cert"] if tls else None
            headers = {"Authorization": f"Bearer {api_key}"} if "API key" in name else None
            proc = start(cmd(port), port, ca)
            try:
                url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/v1/models/penguin:predict"
                row = measure_bombardier(url, bodies[0], args.concurrency, args.requests, headers, ca) \
                    if client == "bombardier" else measure(url, bodies, args.concurrency, args.requests, headers, ca)
            finally:
                proc.terminate()
                proc.wait(60)
            if "request log" in name:
                from mlprod.io.frames import read_tfrecord
                from mlprod.serving import request_files

                row["logged"] = len(read_tfrecord(request_files(str(work / "logs"))))
                shutil.rmtree(work / "logs", ignore_errors=True)
            runs[name].append(row)
            print(f"round {rnd + 1}: {name}: {row}", flush=True)
    rows = []
    for name, rs in runs.items():
        rs = sorted(rs, key=lambda r: r["req_per_s"])
        med = rs[len(rs) // 2]
        rows.append({"case": name, "concurrency": args.concurrency, **med,
                     "req_per_s range": f"{rs[0]['req_per_s']}-{rs[-1]['req_per_s']}"})
    plain = next(r["req_per_s"] for r in rows if r["case"].startswith("plain"))
    for r in rows:
        r["x_plain"] = round(r["req_per_s"] / plain, 2)
    print_table(rows, f"Serving, {args.requests} single-example requests at concurrency {args.concurrency}, "
                f"median of {args.rounds} interleaved rounds, load generator {client} ({os.cpu_count()} cores "
                "shared by server and load generator)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
