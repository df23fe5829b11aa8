"""How often the verdict's waiting and change-failure-rate questions say the right thing about
simulated histories with planted truths (lift/waiting.py, lift/quality.py, lift/verdict.py).

The estimators run on frames built here, not through git and a store (the store side is pinned
by tests/test_verdict_waiting_failures.py), so hundreds of runs take minutes:

- waiting: `--authors` authors over 24 weeks, adoption at week 12, one merged pull request per
  author-week; log waiting hours = log 10 h + an author effect (sd 0.5) + noise (sd 0.8), times the
  planted ratio after adoption; 5% of PRs never waited, 3% waited 0 h;
- change failure rate: 15 production deployments a week over 24 weeks, 20% failing before
  adoption, the planted ratio after; each week's risk varies (log-normal, sd 0.3), so failures
  cluster in weeks as they do when one bad change fails every deployment that carries it.

Prints per question and planted ratio the share of runs per status and how often the planted
ratio is inside the headline interval, with 95% Wilson bands. Targets (issue 10): a planted null
gives `no_detectable_change` in at least 93% of runs; a planted effect gives `improved` with the
truth inside the interval.

    /work/main/.venv/bin/python bench/verdict_waiting_failures.py --runs 500 [--n-boot 200]

Last measured (--runs 500, --n-boot 200; docs/metrics.md "Verdict" has the table): waiting, null
no_detectable_change 96.6% [94.6, 97.9], 0.7x improved 96.6% with the truth inside 95.2%; change
failure rate, null no_detectable_change 95.2% [93.0, 96.8], 0.5x improved 66.4% with the truth
inside 95.6% (the week bootstrap's percentile interval: 93.2% and 92.8%). About 6 minutes on a
shared 2-core machine.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from loopmeter.lift.inputs import periods  # noqa: E402
from loopmeter.lift.quality import change_failure_before_after  # noqa: E402
from loopmeter.lift.verdict import judge  # noqa: E402
from loopmeter.lift.waiting import waiting_before_after  # noqa: E402

START = datetime(2024, 1, 1)
ADOPT = date(2024, 3, 25)
PERIODS = periods({"api": ADOPT}, {"api": START.date()}, date(2024, 6, 17))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def waiting_run(rng: np.random.Generator, ratio: float, authors: int) -> tuple[list, pd.DataFrame]:
    rows, waits = [], []
    effect = rng.normal(0, 0.5, authors)
    for week in range(24):
        for a in range(authors):
            iid = f"c{week}:{a}"
            done = START + timedelta(weeks=week, hours=float(rng.uniform(1, 100)))
            rows.append({"repo": "api", "item_id": iid, "author_id": f"a{a}", "size_lines": float(rng.integers(1, 400)),
                         "done_at": done, "observed": True, "started_at": done, "cycle_hours": 1.0})
            u = rng.random()
            h = np.nan if u < 0.05 else 0.0 if u < 0.08 else float(
                np.exp(np.log(10.0) + effect[a] + rng.normal(0, 0.8)) * (ratio if week >= 12 else 1.0))
            waits.append({"change_id": iid, "waiting_hours": h})
    return rows, pd.DataFrame(waits)


def failures_run(rng: np.random.Generator, ratio: float) -> pd.DataFrame:
    rows = []
    for week in range(24):
        p = min(0.95, 0.2 * (ratio if week >= 12 else 1.0) * float(np.exp(rng.normal(0, 0.3))))
        for k in range(15):
            rows.append({"item_id": f"d{week}-{k}", "repo": "api",
                         "ts": START + timedelta(weeks=week, hours=float(rng.uniform(0, 160))),
                         "failed": bool(rng.random() < p)})
    return pd.DataFrame(rows)


def design(key: str, rows: list[dict]) -> dict:
    return {"design": "before-after", "results": [], key: rows, "exposure": {"ai_share_after": 0.5}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--authors", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cells = [("waiting_after_vs_before", 1.0), ("waiting_after_vs_before", 0.7),
             ("change_failure_rate_after_vs_before", 1.0), ("change_failure_rate_after_vs_before", 0.5)]
    print(f"runs {a.runs} per cell, n_boot {a.n_boot}, waiting with {a.authors} authors; 95% Wilson bands")
    for question, ratio in cells:
        t0 = time.perf_counter()
        status, inside, boot_inside = Counter(), 0, 0
        for i in range(a.runs):
            rng = np.random.default_rng([a.seed, i, int(ratio * 100), len(question)])
            if question.startswith("waiting"):
                rows, waits = waiting_run(rng, ratio, a.authors)
                res = waiting_before_after(pd.DataFrame(rows), waits, PERIODS, seed=i, n_boot=a.n_boot)
                e = judge(question, design("waiting", res))
            else:
                res = change_failure_before_after(failures_run(rng, ratio), PERIODS, seed=i, n_boot=a.n_boot)
                e = judge(question, design("quality", res))
                boot = res[1]  # the week bootstrap's specification row, for the interval choice
                boot_inside += boot["ci_low"] is not None and boot["ci_low"] <= ratio <= boot["ci_high"]
            status[e["status"]] += 1
            h = e["headline"] or {}
            inside += h.get("ci_low") is not None and h["ci_low"] <= ratio <= h["ci_high"]
        want = "no_detectable_change" if ratio == 1.0 else "improved"
        k = status[want]
        lo, hi = wilson(k, a.runs)
        clo, chi = wilson(inside, a.runs)
        print(f"{question} planted {ratio}: {want} {k}/{a.runs} = {k / a.runs:.1%} [{lo:.1%}, {hi:.1%}]; "
              f"truth inside {inside}/{a.runs} = {inside / a.runs:.1%} [{clo:.1%}, {chi:.1%}]; "
              f"statuses {dict(status)}; {time.perf_counter() - t0:.0f} s")
        if not question.startswith("waiting"):
            blo, bhi = wilson(boot_inside, a.runs)
            print(f"    week bootstrap (ratio_of_rates, percentile) truth inside {boot_inside}/{a.runs} = "
                  f"{boot_inside / a.runs:.1%} [{blo:.1%}, {bhi:.1%}]")


if __name__ == "__main__":
    main()
