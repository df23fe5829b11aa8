"""How stats/its.py's default interval was chosen: candidate 95% level-change intervals compared.

    /work/venv/bin/python bench/its_interval_choice.py [--sets 400] [--lengths 26,52,104] [--rho 0.4]

On bench/its_coverage.py's planted series (half without an effect, half with one; break
mid-series), every candidate starts from the same fit and is symmetric around the estimate:

- hac: Newey-West Wald interval, Student's t (what loopmeter reported before);
- wn-fixedb: the Newey-West t-ratio's critical value simulated for this very design with
  independent weeks, at the rule-of-thumb bandwidth and at bandwidth n/2 (the fixed-b idea:
  critical values that account for the variance estimator's own noise and bias);
- mbb-t: moving-block bootstrap of the residuals (blocks of lags + 1 weeks), studentised;
- dwb-t: dependent wild bootstrap (residuals times a Bartlett-correlated Gaussian process of
  bandwidth lags + 1), studentised;
- sieve-t: the default, a residual AR(1) sieve bootstrap-t (stats/its.py).

All bootstraps use 999 replicates and the one-matrix-product refits of stats/its.py.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from its_coverage import count_series, ols_series

from loopmeter.stats.hac import newey_west_variance
from loopmeter.stats.its import (
    _residual_ar1,
    _score_linearisation,
    ar1_sieve_draws,
    its_design,
    newey_west_maxlags,
)

R = 999


def moving_blocks(e: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    n = e.size
    starts = rng.integers(0, n - block + 1, size=(R, -(-n // block)))
    idx = (starts[:, :, None] + np.arange(block)).reshape(R, -1)[:, :n]
    return (e - e.mean())[idx]


def dependent_wild(e: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    # A moving sum of `block` standard normals over sqrt(block): variance 1, correlation
    # 1 - |k| / block at lag k (the Bartlett kernel).
    z = np.cumsum(np.pad(rng.standard_normal((R, e.size + block - 1)), ((0, 0), (1, 0))), axis=1)
    return e * (z[:, block:] - z[:, :-block]) / math.sqrt(block)


def t_quantile(E: np.ndarray, A: np.ndarray, M: np.ndarray, bw: int, small: float) -> float:
    """The 95% quantile of the replicates' |Newey-West t-ratio| of the level change."""
    t = (E @ A[2]) / np.sqrt(newey_west_variance(A[2] * (E @ M.T), bw) * small)
    return float(np.quantile(np.abs(t), 0.95))


def fit(model: str, y: np.ndarray, X: np.ndarray):
    if model == "ols":
        b = np.linalg.lstsq(X, y, rcond=None)[0]
        return b, np.ones_like(y), y - X @ b
    import statsmodels.api as sm

    res = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    mu = res.predict()
    return np.asarray(res.params), mu, y - mu


def main() -> None:
    from scipy.stats import t as student

    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=400)
    ap.add_argument("--lengths", default="26,52,104")
    ap.add_argument("--models", default="ols,poisson")
    ap.add_argument("--rho", type=float, default=0.4)
    args = ap.parse_args()
    names = ["hac", "wn-fixedb", "wn-fixedb-b0.5", "mbb-t", "dwb-t", "sieve-t"]
    print(f"coverage of nominal 95%, {args.sets} series per row, AR(1) rho {args.rho}")
    print(f"{'model':8} {'weeks':>5} " + " ".join(f"{n:>14}" for n in names))
    for model in args.models.split(","):
        for n in (int(v) for v in args.lengths.split(",")):
            rng, brng = np.random.default_rng(1000 * n + 7), np.random.default_rng(n)
            X = its_design(n, n // 2)
            lags, k = newey_west_maxlags(n), X.shape[1]
            small = n / (n - k)
            hits = dict.fromkeys(names, 0)
            for i in range(args.sets):
                planted = bool(i % 2)
                if model == "ols":
                    truth = 2.0 if planted else 0.0
                    y = ols_series(rng, n, truth, args.rho)
                else:
                    truth = math.log(1.5) if planted else 0.0
                    y = count_series(rng, n, math.exp(truth), args.rho)
                b, w, e = fit(model, y, X)
                A, M = _score_linearisation(X, w)
                sw = np.sqrt(w)

                white = brng.standard_normal((R, n)) * sw
                wide = max(lags, n // 2)
                _, rho = _residual_ar1(e / sw, X, w)
                se = math.sqrt(float(newey_west_variance(A[2] * e, lags)) * small)
                se_wide = math.sqrt(float(newey_west_variance(A[2] * e, wide)) * small)
                q = {
                    "hac": (student.ppf(0.975, n - k), se),
                    "wn-fixedb": (t_quantile(white, A, M, lags, small), se),
                    "wn-fixedb-b0.5": (t_quantile(white, A, M, wide, small), se_wide),
                    "mbb-t": (t_quantile(moving_blocks(e, lags + 1, brng), A, M, lags, small), se),
                    "dwb-t": (t_quantile(dependent_wild(e, lags + 1, brng), A, M, lags, small), se),
                    "sieve-t": (t_quantile(ar1_sieve_draws(e / sw, rho, R, brng) * sw, A, M, lags, small), se),
                }
                for name, (crit, s_) in q.items():
                    hits[name] += abs(b[2] - truth) <= crit * s_
            print(f"{model:8} {n:5d} " + " ".join(f"{hits[m] / args.sets:14.3f}" for m in names), flush=True)


if __name__ == "__main__":
    main()
