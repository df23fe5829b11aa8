"""Coverage of `lift --panel`'s two 95% intervals (Callaway-Sant'Anna, doubly robust with a
covariate, and the Borusyak-Jaravel-Spiess imputation estimate) on planted staggered panels.

    /work/main/.venv/bin/python bench/panel_coverage.py [--panels 300] [--units 60] [--seed 7]

Each panel: `units` units over 10 periods, adoption in period 4, 6 or 8 or never, more likely for
units with a high covariate x (which shifts levels, not trends: both estimators' parallel trends
hold); unit effects, a common trend, and a constant effect 0.3 from adoption on, so both target
0.3. CS is run doubly robust on x (exercising the propensity and outcome models); the imputation
fit absorbs the time-invariant x in the unit effects. Coverage is the share of panels whose interval holds
0.3, with its 95% Clopper-Pearson band.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from loopmeter.stats.did import callaway_santanna
from loopmeter.stats.imputation import NEVER, imputation_did

EFFECT = 0.3


def panel(rng, n):
    x = rng.normal(0, 1, n)
    g = np.where(rng.random(n) < 1 / (1 + np.exp(-x)), rng.choice([4, 6, 8], n), 0)
    t = np.arange(1, 11)
    y = (rng.normal(0, 1, n)[:, None] + 0.1 * t + 0.5 * x[:, None]
         + EFFECT * ((g[:, None] > 0) & (t >= g[:, None])) + rng.normal(0, 0.5, (n, t.size)))
    return pd.DataFrame({"unit": np.repeat(np.arange(n), t.size), "period": np.tile(t, n), "y": y.ravel(),
                         "first_treated": np.repeat(np.where(g > 0, g, np.nan), t.size), "x": np.repeat(x, t.size)})


def band(k, n):
    lo = scipy.stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
    hi = scipy.stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return 100 * lo, 100 * hi


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", type=int, default=300)
    ap.add_argument("--units", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    hits = {"cs_dr": 0, "imputation": 0}
    width = {"cs_dr": [], "imputation": []}
    t0 = time.perf_counter()
    for i in range(args.panels):
        df = panel(rng, args.units)
        cs = callaway_santanna(df, covariates=("x",), n_boot=499, seed=i)
        g = df["first_treated"].fillna(-1).astype(int).to_numpy()
        imp = imputation_did(df["unit"].to_numpy(), df["period"].to_numpy(), df["y"].to_numpy(),
                             np.where(g > 0, g, NEVER))
        for k, (lo, hi) in (("cs_dr", cs.ci), ("imputation", (imp.ci_low, imp.ci_high))):
            hits[k] += lo <= EFFECT <= hi
            width[k].append(hi - lo)
    print(f"panel coverage: {args.panels} panels of {args.units} units x 10 periods, seed {args.seed}, "
          f"effect {EFFECT}, nominal 95%\n")
    print("| estimator | coverage [95% band] | median width |")
    print("|---|---|---|")
    for k, name in (("cs_dr", "Callaway-Sant'Anna, doubly robust (x)"), ("imputation", "imputation (BJS)")):
        lo, hi = band(hits[k], args.panels)
        print(f"| {name} | {100 * hits[k] / args.panels:.1f}% [{lo:.1f}, {hi:.1f}] | {np.median(width[k]):.3f} |")
    print(f"\n{args.panels} panels in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
