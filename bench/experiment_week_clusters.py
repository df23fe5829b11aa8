"""How often a small ML team's experiment gets a false verdict once its intervals fall back to
week clusters (metrics/experiments.py `cluster_unit`), on planted nulls; and how often a planted
effect is found.

    PYTHONPATH=src python bench/experiment_week_clusters.py [--runs 1000] [--users 3] [--effect 0.6]

Each run is tests/experiment_sim.py's null: `--users` people launch Poisson(12) runs a week for
20 weeks, each person with a lasting speed of their own and every week a shared shock; from week
10 half the runs are agent-tagged at random, with no effect on anything. Every improved or
worsened verdict is false; the nominal rate is 5% per question. Prints the rate per question with
a 95% Wilson interval, and the share of `--effect` runs (agent runs that much as long) whose
agent-vs-human run-duration verdict is improved. The test suite runs a bounded version
(tests/test_experiment_lift.py, 40 nulls).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from experiment_sim import verdicts  # noqa: E402


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return mid - half, mid + half


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--users", type=int, default=3)
    ap.add_argument("--effect", type=float, default=0.6)
    ap.add_argument("--power-runs", type=int, default=200)
    a = ap.parse_args()
    t = time.perf_counter()
    by_q: dict[str, Counter] = {}
    fell_back = 0
    for seed in range(a.runs):
        v, lift = verdicts(seed, users=a.users)
        fell_back += lift["designs"][0].get("cluster") == "week"
        for q, e in v.items():
            by_q.setdefault(q, Counter())[e["status"]] += 1
    null_s = time.perf_counter() - t
    print(f"{a.runs} planted nulls, {a.users} users, 20 weeks; week clusters used in {fell_back} ({null_s:.0f} s)")
    total_false = total = 0
    for q, c in by_q.items():
        n = sum(c.values())
        k = c["improved"] + c["worsened"]
        total_false, total = total_false + k, total + n
        lo, hi = wilson(k, n)
        print(f"  {q:<32} false verdicts {k:>4} / {n} = {k / n:6.1%}  [{lo:.1%}, {hi:.1%}]  "
              f"(not enough data {c['not_enough_data']}, inconsistent {c['inconsistent']})")
    lo, hi = wilson(total_false, total)
    print(f"  {'all questions':<32} false verdicts {total_false:>4} / {total} = {total_false / total:6.1%}  "
          f"[{lo:.1%}, {hi:.1%}]")
    found = Counter(verdicts(10_000 + s, users=a.users, effect=a.effect)[0]["run_duration_agent_vs_human"]["status"]
                    for s in range(a.power_runs))
    print(f"planted effect {a.effect}x on agent runs: improved in {found['improved']} / {a.power_runs} "
          f"({found['improved'] / a.power_runs:.0%}); {dict(found)}")


if __name__ == "__main__":
    main()
