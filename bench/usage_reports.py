"""Usage reports in batches (issue 13): Copilot usage-metrics NDJSON and Claude Code admin reports of
N rows ingest in bounded memory and time linear in N.

For each size the script writes a synthetic file (distinct users x days), ingests it into a fresh
store in a child process, and prints wall time, peak RSS (the child's ru_maxrss) and seconds per
1,000 rows; the ratio of the largest size's time per row to the smallest's is the linearity check
(~1 is linear). Usage: python bench/usage_reports.py [--sizes 1000,10000,100000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path


def write_copilot(path: Path, n: int) -> None:
    d0 = date(2025, 1, 1)
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"day": (d0 + timedelta(days=i % 365)).isoformat(), "user_login": f"dev{i // 365}",
                                "user_initiated_interaction_count": i % 17, "loc_added_sum": i % 301,
                                "loc_deleted_sum": i % 57, "totals_by_cli": {"session_count": i % 5, "token_usage": {
                                    "prompt_tokens_sum": i % 9000, "output_tokens_sum": i % 3000}}}) + "\n")


def write_claude(path: Path, n: int) -> None:
    d0 = date(2025, 1, 1)
    data = [{"date": (d0 + timedelta(days=i % 365)).isoformat() + "T00:00:00Z",
             "actor": {"type": "user_actor", "email_address": f"dev{i // 365}@example.com"},
             "core_metrics": {"num_sessions": i % 5, "lines_of_code": {"added": i % 300, "removed": i % 50},
                              "commits_by_claude_code": i % 3, "pull_requests_by_claude_code": i % 2},
             "model_breakdown": [{"model": "m", "tokens": {"input": 100, "output": 50, "cache_read": 0, "cache_creation": 0},
                                  "estimated_cost": {"currency": "USD", "amount": 12}}]} for i in range(n)]
    path.write_text(json.dumps({"data": data}))


CHILD = """
import resource, sys, time
from loopmeter import api
t = time.perf_counter()
r = api.ingest_sessions([sys.argv[1]], store_path=sys.argv[2], fmt=sys.argv[3])
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r.usage_days)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        for fmt, writer, name in (("copilot-metrics", write_copilot, "m.ndjson"), ("claude-code-admin", write_claude, "u.json")):
            per_row = []
            for n in sizes:
                f = Path(d) / f"{n}-{name}"
                writer(f, n)
                store = Path(d) / f"{fmt}-{n}.duckdb"
                out = subprocess.run([sys.executable, "-c", CHILD, str(f), str(store), fmt], capture_output=True,
                                     text=True, check=True, env=dict(os.environ, LOOPMETER_RESTORE_POINT="0"))
                secs, rss_kb, days = out.stdout.split()
                per_row.append(float(secs) / n)
                print(f"{fmt:18} {n:>8,} rows: {float(secs):7.2f} s  {float(secs) / n * 1000:6.3f} s/1k rows  "
                      f"peak {int(rss_kb) / 1024:6.0f} MB  ({int(days):,} usage days stored)", flush=True)
            print(f"{fmt:18} time per row, largest / smallest size: {per_row[-1] / per_row[0]:.2f}x (1 = linear)")


if __name__ == "__main__":
    main()
