"""Load on the OTLP receiver (issue 13): N concurrent posts on loopback, each with one metric point of
its own session. Every post must be stored exactly once or answered 503 (then retried by the
exporter, as OTLP/HTTP clients do; here it is counted, not retried); nothing may be reset.

Prints: answers by status, connection errors, points stored vs 200s, and latency p50/p99/max.
Baseline in the same run: the same posts sent one after another (the receiver's serial speed).
Usage: python bench/otlp_load.py [--posts 500] [--max-connections 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from loopmeter.store.db import Store

SERVER = """
import sys
from loopmeter.otlp_server import OtlpReceiver
srv = OtlpReceiver(("127.0.0.1", 0), sys.argv[1], max_connections=int(sys.argv[2]))
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""

NS = 10**9
T0 = 1772445600


def body(i: int) -> bytes:
    return json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{
        "name": "claude_code.cost.usage", "sum": {"aggregationTemporality": 2, "dataPoints": [{
            "startTimeUnixNano": str(T0 * NS), "timeUnixNano": str((T0 + 60) * NS), "asDouble": 0.01 * (i + 1),
            "attributes": [{"key": "session.id", "value": {"stringValue": f"load-{i}"}}]}]}}]}]}]}).encode()


def post(url: str, i: int, out: list, barrier: threading.Barrier | None) -> None:
    if barrier is not None:
        barrier.wait()
    t = time.perf_counter()
    try:
        r = httpx.post(f"{url}/v1/metrics", content=body(i), headers={"Content-Type": "application/json"}, timeout=120)
        out.append((i, r.status_code, time.perf_counter() - t))
    except httpx.HTTPError as e:
        out.append((i, type(e).__name__, time.perf_counter() - t))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=500)
    ap.add_argument("--max-connections", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        store = Path(d) / "lm.duckdb"
        # The receiver runs in its own process, as `loopmeter serve` does: 500 client threads here
        # would otherwise compete with it for one interpreter lock.
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(store), str(args.max_connections)],
                                stdout=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
        serial: list = []
        t = time.perf_counter()
        for i in range(20):
            post(url, -1 - i, serial, None)
        per_post = (time.perf_counter() - t) / 20
        out: list = []
        barrier = threading.Barrier(args.posts)
        threads = [threading.Thread(target=post, args=(url, i, out, barrier)) for i in range(args.posts)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        proc.terminate()
        proc.wait()
        with Store.open_read(store) as s:
            stored = dict(s.con.execute("select session_id, count(*) from otel_points where session_id like 'load-%' "
                                        "and session_id not like 'load--%' group by 1").fetchall())
    by: dict = {}
    for _, status, _ in out:
        by[status] = by.get(status, 0) + 1
    ok = {f"load-{i}" for i, st, _ in out if st == 200}
    lat = sorted(x for _, _, x in out)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(f"{args.posts} concurrent posts in {wall:.2f} s; answers: {by}")
    print(f"stored exactly once: {sum(1 for k in ok if stored.get(k) == 1)} of {len(ok)} answered 200; "
          f"stored twice or more: {sum(1 for v in stored.values() if v > 1)}; stored without a 200: {len(set(stored) - ok)}")
    print(f"latency p50 {statistics.median(lat) * 1000:.0f} ms, p99 {p(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms; "
          f"serial baseline {per_post * 1000:.0f} ms a post (ratio p50/serial {statistics.median(lat) / per_post:.1f}x)")


if __name__ == "__main__":
    main()
