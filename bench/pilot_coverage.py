"""Coverage of the pilot design's 95% intervals on simulated pilot tables, and the interval choice
for its ratio of medians (percentile or BCa, from the same cluster-bootstrap resamples).

    /work/main/.venv/bin/python bench/pilot_coverage.py [--tables 300] [--seed 20261207] [--n-boot 2000]

Each table: 12-40 developers (uniform), 8-30 tasks each, log duration = 3 + developer effect
(sd 0.5) + log(0.75) [treated] + noise (sd 0.9), so every estimator's target is 0.75: the ratio of
geometric means, of medians and the Hodges-Lehmann ratio alike. Two cells: tasks randomized one by
one (``unit``) and whole developers randomized to one arm (``cluster``, half of them, at least
two per arm). Each estimator is called as designs/pilot.py calls it, with the developer as the
cluster. Coverage is the share of tables whose interval holds 0.75; the band beside it is the 95%
Clopper-Pearson interval of that share, so a coverage whose band excludes 0.95 is off for real, not
by simulation noise. An interval that is missing (or unbounded) counts as covering only if it would.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from loopmeter.stats.lift import ratio_of_quantiles
from loopmeter.stats.ranks import hodges_lehmann
from loopmeter.stats.regression import log_duration_ols

TRUE = 0.75
COLUMNS = (
    ("ols_cr1", "log-duration OLS, CR1 (headline)"),
    ("ols_plain", "log-duration OLS, plain errors"),
    ("hl_clustered", "Hodges-Lehmann, clustered rank test"),
    ("hl_plain", "Hodges-Lehmann, rows independent"),
    ("rom_percentile", "ratio of medians, percentile"),
    ("rom_bca", "ratio of medians, BCa"),
)


def table(rng: np.random.Generator, randomization: str):
    n_dev = int(rng.integers(12, 41))
    tasks = rng.integers(8, 31, n_dev)
    dev = np.repeat(np.arange(n_dev), tasks)
    if randomization == "cluster":
        arm_of = np.zeros(n_dev, dtype=bool)
        arm_of[rng.permutation(n_dev)[: n_dev // 2]] = True
        arm = arm_of[dev]
    else:
        arm = rng.random(dev.size) < 0.5
    y = np.exp(3.0 + rng.normal(0, 0.5, n_dev)[dev] + math.log(TRUE) * arm + rng.normal(0, 0.9, dev.size))
    return y, arm, dev


def intervals(y, arm, dev, n_boot: int, seed: int) -> dict[str, tuple[float | None, float | None]]:
    ols = log_duration_ols(y, arm, clusters=dev)
    hl = hodges_lehmann(y[arm], y[~arm], clusters_a=dev[arm], clusters_b=dev[~arm])
    rom = ratio_of_quantiles(y[arm], dev[arm], y[~arm], dev[~arm], n_boot=n_boot, seed=seed, interval="bca")
    e = rom.extra
    return {
        "ols_cr1": (ols.ci_low, ols.ci_high),
        "ols_plain": (ols.extra["ci_plain_low"], ols.extra["ci_plain_high"]),
        "hl_clustered": (hl.ci_low, hl.ci_high if not hl.extra.get("ci_high_unbounded") else math.inf),
        "hl_plain": (hl.extra["ci_plain_low"], hl.extra["ci_plain_high"]),
        "rom_percentile": (e["ci_percentile_low"], e["ci_percentile_high"]),
        "rom_bca": (e["ci_bca_low"], e["ci_bca_high"]),
    }


def covers(ci) -> bool:
    lo, hi = ci
    lo = 0.0 if lo is None else lo
    hi = math.inf if hi is None else hi
    return lo <= TRUE <= hi


def band(k: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    a = (1 - conf) / 2
    lo = scipy.stats.beta.ppf(a, k, n - k + 1) if k > 0 else 0.0
    hi = scipy.stats.beta.ppf(1 - a, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args(argv)
    print(f"pilot coverage: {args.tables} tables per cell, seed {args.seed}, {args.n_boot} resamples, "
          f"true ratio {TRUE}, nominal 95%")
    print()
    print(f"| estimator | {' | '.join(f'{r} randomized: coverage [95% band]' for r in ('unit', 'cluster'))} |")
    print("|---|---|---|")
    hits = {r: {k: 0 for k, _ in COLUMNS} for r in ("unit", "cluster")}
    width = {r: {k: [] for k, _ in COLUMNS} for r in ("unit", "cluster")}
    t0 = time.perf_counter()
    for r_i, randomization in enumerate(("unit", "cluster")):
        rng = np.random.default_rng([args.seed, r_i])
        for i in range(args.tables):
            y, arm, dev = table(rng, randomization)
            for k, ci in intervals(y, arm, dev, args.n_boot, seed=i).items():
                hits[randomization][k] += covers(ci)
                if ci[0] and ci[1] and math.isfinite(ci[1]):
                    width[randomization][k].append(math.log(ci[1] / ci[0]))
    for k, name in COLUMNS:
        cells = []
        for randomization in ("unit", "cluster"):
            h = hits[randomization][k]
            lo, hi = band(h, args.tables)
            cells.append(f"{100 * h / args.tables:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")
        print(f"| {name} | {' | '.join(cells)} |")
    print()
    print("median width of the interval, log scale (unit / cluster randomized):")
    for k, name in COLUMNS:
        print(f"  {name}: {np.median(width['unit'][k]):.3f} / {np.median(width['cluster'][k]):.3f}")
    print(f"\n{2 * args.tables} tables in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
