"""Coverage of the interrupted time series' 95% level-change intervals on planted weekly series.

    /work/venv/bin/python bench/its_coverage.py [--sets 300] [--lengths 26,52,104,156] [--rho 0.4]

For each series length (break mid-series) and each of "no effect" / "planted effect", draws
``--sets`` seeded datasets and counts how often the interval holds the planted change, for the
Newey-West (HAC) interval and the default residual AR(1) sieve bootstrap-t, both from one call of
``interrupted_time_series`` (the HAC numbers are its ``*_hac`` fields):

- ols: y_t = 10 + 0.05 t + effect * post_t + AR(1) noise (coefficient --rho, innovation sd 1),
  planted effect 2;
- poisson / negbin (fitted to the same datasets): log rate = log 20 + 0.003 t + log(ratio) post_t
  + AR(1) noise (coefficient --rho, innovation sd 0.15), gamma-mixed (variance mu + 0.05 mu^2),
  then Poisson counts; planted ratio 1.5, judged on the log scale.

Prints one row per (model, length, effect) with both coverages, the bootstrap interval's median
width relative to the HAC one, and the median time of one call. MEASURED_COVERAGE in
src/loopmeter/stats/its.py holds the numbers this printed (effects pooled).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from loopmeter.stats.its import interrupted_time_series


def ar1_noise(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd / math.sqrt(1.0 - rho**2))
    z = rng.normal(0.0, sd, n)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + z[i]
    return x


def ols_series(rng, n: int, effect: float, rho: float) -> np.ndarray:
    t = np.arange(n)
    return 10.0 + 0.05 * t + effect * (t >= n // 2) + ar1_noise(rng, n, rho, 1.0)


def count_series(rng, n: int, ratio: float, rho: float) -> np.ndarray:
    t = np.arange(n)
    mu = np.exp(math.log(20.0) + 0.003 * t + math.log(ratio) * (t >= n // 2) + ar1_noise(rng, n, rho, 0.15))
    return rng.poisson(rng.gamma(20.0, mu / 20.0)).astype(float)


def measure(model: str, n: int, planted: bool, sets: int, rho: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    hits = {"hac": 0, "bootstrap": 0}
    ratios, times = [], []
    for i in range(sets):
        if model == "ols":
            truth = 2.0 if planted else 0.0
            y = ols_series(rng, n, truth, rho)
        else:
            truth = 1.5 if planted else 1.0
            y = count_series(rng, n, truth, rho)
        t0 = time.perf_counter()
        res = interrupted_time_series(y, n // 2, model=model, seed=i)
        times.append(time.perf_counter() - t0)
        hits["hac"] += res.level_ci_low_hac <= truth <= res.level_ci_high_hac
        hits["bootstrap"] += res.level_ci_low <= truth <= res.level_ci_high
        f = (lambda v: v) if model == "ols" else math.log
        ratios.append((f(res.level_ci_high) - f(res.level_ci_low)) / (f(res.level_ci_high_hac) - f(res.level_ci_low_hac)))
    return {k: v / sets for k, v in hits.items()} | {
        "width_ratio": statistics.median(ratios), "seconds": statistics.median(times)
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=300)
    ap.add_argument("--lengths", default="26,52,104,156")
    ap.add_argument("--models", default="ols,poisson,negbin")
    ap.add_argument("--rho", type=float, default=0.4)
    args = ap.parse_args()
    print(f"nominal 95%, {args.sets} datasets per row, AR(1) rho {args.rho}")
    print(f"{'model':8} {'weeks':>5} {'effect':8} {'HAC':>6} {'boot':>6} {'width x':>8} {'s/call':>7}")
    for model in args.models.split(","):
        for n in (int(v) for v in args.lengths.split(",")):
            for planted in (False, True):
                # The same seed for every model, so poisson and negbin see the same datasets.
                r = measure(model, n, planted, args.sets, args.rho, seed=1000 * n + planted)
                print(f"{model:8} {n:5d} {'planted' if planted else 'none':8} {r['hac']:6.3f} "
                      f"{r['bootstrap']:6.3f} {r['width_ratio']:8.2f} {r['seconds']:7.3f}", flush=True)


if __name__ == "__main__":
    main()
