"""Latency of the dashboard's /api/report under 50 concurrent clients, against `loopmeter report --json`.

    /work/main/.venv/bin/python bench/dashboard_load.py --store STORE [--clients 50] [--requests 20] [--views 5]
    /work/main/.venv/bin/python bench/dashboard_load.py --repo /work/.mirror/numpy+numpy/repo   # ingests first

Baseline (same run, same store): the wall time of `python -m loopmeter report --json --store STORE`
as a child process, i.e. what one person pays for the same document without the dashboard.

Then `python -m loopmeter serve --store STORE --port 0` runs as a child process and a client
process of N threads (one keep-alive connection each) asks /api/report on 127.0.0.1:

1. cold: 50 clients ask the same, not yet computed view at once; each one's latency is the wait
   for the one computation they share (the cache computes a view once however many ask);
2. hot: 50 clients x --requests requests of that view, now cached;
3. mixed: 50 clients x --requests requests spread over --views views (repository, date slices)
   the server has not computed yet; the first asks of each view wait for its computation.

For each: p50, p99 and max latency, requests per second, and p50 and p99 as a ratio of the
baseline. Targets: hot p99 <= 0.05x the baseline (a cached view costs a small fraction of a
report), cold p99 <= 1.5x (fifty people waiting for one computation wait about as long as one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parent.parent / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OPENBLAS_NUM_THREADS": "1"}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def baseline(store: Path) -> tuple[float, dict]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "loopmeter", "report", "--json", "--store", str(store)],
                         capture_output=True, text=True, env=ENV, check=True)
    return time.perf_counter() - t, json.loads(out.stdout)


def load(url: str, paths: list[str], clients: int, per_client: int) -> tuple[list[float], float, list[int]]:
    """Each client asks its share of `paths` in turn (client i starts at path i), one at a time."""
    lat: list[float] = []
    codes: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(i: int) -> None:
        mine, statuses = [], []
        with httpx.Client(base_url=url, timeout=3600) as c:
            start.wait()
            for k in range(per_client):
                path = paths[(i + k) % len(paths)]
                t = time.perf_counter()
                r = c.get(path)
                r.read()
                mine.append(time.perf_counter() - t)
                statuses.append(r.status_code)
        with lock:
            lat.extend(mine)
            codes.extend(statuses)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, time.perf_counter() - t0, codes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path)
    ap.add_argument("--repo", type=Path, help="ingest this repository into a temporary store first")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=20, help="requests per client in the hot and mixed phases")
    ap.add_argument("--views", type=int, default=5)
    a = ap.parse_args()
    tmp = None
    store = a.store
    if store is None or not store.exists():
        if a.repo is None:
            sys.exit("give --store STORE (an existing store) or --repo REPO to ingest")
        tmp = tempfile.TemporaryDirectory(prefix="lm-dash-")
        store = store or Path(tmp.name) / "lm.duckdb"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "loopmeter", "ingest", str(a.repo), "--store", str(store)],
                       env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"ingest: {time.perf_counter() - t:.1f} s")

    base_s, doc = baseline(store)
    repos = [r["repo"] for r in doc["repos"]]
    weeks = [w["week_start"] for w in doc.get("weekly", [])]
    print(f"store: {store} ({store.stat().st_size / 1e6:.0f} MB), repositories {', '.join(repos)}, "
          f"{doc['totals']['commits']:,} commits on HEAD, {doc['totals']['changes']:,} changes, {len(weeks)} weeks")
    print(f"baseline: loopmeter report --json: {base_s:.2f} s")

    proc = subprocess.Popen([sys.executable, "-m", "loopmeter", "serve", "--store", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        url = re.search(r"http://\S+", proc.stdout.readline()).group(0).rstrip("/")
        rows = []

        def phase(name: str, paths: list[str], per_client: int) -> None:
            lat, wall, codes = load(url, paths, a.clients, per_client)
            bad = len([c for c in codes if c != 200])
            p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
            rows.append((name, len(lat), bad, p50, p99, max(lat), len(lat) / wall))
            print(f"{name:6} {len(lat):6,} requests ({bad} not 200): p50 {p50 * 1000:9.1f} ms  p99 {p99 * 1000:9.1f} ms  "
                  f"max {max(lat) * 1000:9.1f} ms  {len(lat) / wall:8.1f} req/s  "
                  f"p50/baseline {p50 / base_s:.3f}x  p99/baseline {p99 / base_s:.3f}x", flush=True)

        phase("cold", ["/api/report"], 1)
        phase("hot", ["/api/report"], a.requests)
        # Views not asked yet: each repository, and date slices of the newest weeks.
        views = [f"/api/report?repo={r}" for r in repos]
        for i in range(max(0, a.views - len(views))):
            if len(weeks) > 8 * (i + 1):
                views.append(f"/api/report?from={weeks[-8 * (i + 1)]}")
        phase("mixed", views[: a.views] or ["/api/report"], a.requests)
        hot_p99 = rows[1][4] / base_s
        cold_p99 = rows[0][4] / base_s
        print(f"targets: hot p99 <= 0.05x baseline: {hot_p99:.4f}x {'PASS' if hot_p99 <= 0.05 else 'FAIL'}; "
              f"cold p99 <= 1.5x baseline: {cold_p99:.2f}x {'PASS' if cold_p99 <= 1.5 else 'FAIL'}")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
