"""How often the verdict says the right thing about simulated teams with planted truths.

Each run writes the scenario's repositories with `git fast-import` (tests/lift_sim.py), ingests
them into a fresh store and runs the before-after (and AI-vs-human) designs with the planted
adoption date, then the verdict (lift/verdict.py). Scenarios (tests/lift_sim.py SCENARIOS):

- effect: 12 authors, 24 weeks, adoption at week 12, cycle time 0.7x and throughput 1.5x after;
- null: the same team, AI used on half the changes after adoption, nothing planted;
- simpson: two repositories, each 0.8x faster after adoption, whose mix makes the pooled ratio > 1.

Prints, per scenario and question, the share of runs with each status and (effect) how often the
planted truth is inside the headline interval, with 95% Wilson bands. Targets (issue 10): null ->
`no_detectable_change` in at least 93% of runs; effect -> `improved` with the truth inside the
interval; simpson -> `inconsistent` or the within-repository answer (`improved`), never `worsened`.

    /work/main/.venv/bin/python bench/verdict_sim.py --runs 100 [--scenario null] [--n-boot 200]

Last measured (--spec-boot 200; docs/metrics.md "Verdict" has the table): null, 30 runs:
cycle time after/before no_detectable_change 30/30, throughput 29/30, AI vs human 27/30; effect,
20 runs: improved 20/20 for cycle time and throughput, truth inside 19/20 each; Simpson, 10 runs:
inconsistent 10/10. About 20-60 s a run on a shared 2-core machine.

The bootstrap replicates of the headline rows are --n-boot (the cycle-time headline is a
regression and has none); the specification table's alternatives use SPEC_BOOT as in a report
unless --spec-boot says otherwise.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from lift_sim import SCENARIOS, run_scenario  # noqa: E402

TRUTH = {("effect", "cycle_time_after_vs_before"): 0.7, ("effect", "throughput_after_vs_before"): 1.5,
         ("null", "cycle_time_after_vs_before"): 1.0, ("null", "throughput_after_vs_before"): 1.0,
         ("null", "cycle_time_ai_vs_human"): 1.0, ("effect", "cycle_time_ai_vs_human"): 1.0}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100, help="seeded runs per scenario")
    ap.add_argument("--scenario", choices=SCENARIOS, action="append", help="only these (repeatable)")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--spec-boot", type=int, default=None,
                    help="bootstrap replicates of the specification table's alternatives (default: SPEC_BOOT)")
    args = ap.parse_args()
    if args.spec_boot:
        from loopmeter.lift import designs, specification

        specification.SPEC_BOOT = designs.SPEC_BOOT = args.spec_boot
    for name in args.scenario or SCENARIOS:
        status: dict[str, Counter] = {}
        covered: dict[str, list[bool]] = {}
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.first_seed, args.first_seed + args.runs):
                run_dir = Path(tmp) / str(seed)
                run_dir.mkdir()
                out = run_scenario(run_dir, name, seed, n_boot=args.n_boot)
                print(f"  {name} seed {seed}: " + ", ".join(f"{e['question']} {e['status']}" for e in out["verdict"]),
                      flush=True)
                for e in out["verdict"]:
                    status.setdefault(e["question"], Counter())[e["status"]] += 1
                    truth = TRUTH.get((name, e["question"]))
                    h = e["headline"] or {}
                    if truth is not None and h.get("ci_low") is not None:
                        covered.setdefault(e["question"], []).append(h["ci_low"] <= truth <= h["ci_high"])
        secs = time.perf_counter() - t0
        print(f"\n{name}: {args.runs} runs, {secs:.0f} s ({secs / args.runs:.1f} s a run)")
        for q, c in status.items():
            n = sum(c.values())
            parts = []
            for s, k in c.most_common():
                lo, hi = wilson(k, n)
                parts.append(f"{s} {k / n:.1%} [{lo:.1%}, {hi:.1%}]")
            print(f"  {q}: " + "; ".join(parts))
            if q in covered:
                k, m = sum(covered[q]), len(covered[q])
                lo, hi = wilson(k, m)
                print(f"    truth {TRUTH[(name, q)]} inside the headline interval: {k}/{m} = {k / m:.1%} [{lo:.1%}, {hi:.1%}]")


if __name__ == "__main__":
    main()
