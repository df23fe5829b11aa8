"""The few quantiles and tail areas of the t, normal, chi-squared and F distributions that the
estimators need, and average ranks, without importing scipy.stats.

scipy.stats costs about half a second of CPU to import (it loads scipy.optimize, linalg,
interpolate, spatial, ...), paid by every report that asks for a single t quantile. Its
distributions compute these values with the special functions called here (scipy 1.17
_continuous_distns.py: t._ppf = stdtrit, t._sf = stdtr(df, -x), norm._ppf = ndtri, chi2._sf =
chdtrc, f._sf = fdtrc), so the numbers are the same to the last bit; tests/test_stats_dist.py
compares them with scipy.stats.
"""

from __future__ import annotations

import numpy as np
from .special import special as _sc


def t_ppf(q, df):
    """Student's t quantile (scipy.stats.t.ppf(q, df))."""
    q = np.asarray(q, dtype=float)
    # stdtrit(df, 0) is +inf for some df; scipy.stats answers the lower end of the support itself.
    return np.where(q == 0.0, -np.inf, _sc.stdtrit(df, q))[()]


def t_sf(x, df):
    """Student's t upper tail area (scipy.stats.t.sf(x, df))."""
    return _sc.stdtr(df, np.negative(x))


def t_interval(beta: float, se: float, df: float, conf: float) -> tuple[float, float, float]:
    """``beta -+ t se`` at level ``conf`` on ``df`` degrees of freedom, and the two-sided p-value of
    ``beta = 0`` (statsmodels' own with use_t). A zero standard error gives the point as interval and
    p 0 (1 when beta is 0 too): the caller decides whether such an interval may be shown."""
    t = float(t_ppf(0.5 + conf / 2.0, df))
    p = float(2.0 * t_sf(abs(beta / se), df)) if se > 0 else (0.0 if beta != 0 else 1.0)
    return beta - t * se, beta + t * se, p


def norm_ppf(q):
    """Standard normal quantile (scipy.stats.norm.ppf(q))."""
    return _sc.ndtri(q)


def norm_isf(q):
    """Standard normal inverse upper tail (scipy.stats.norm.isf(q))."""
    return np.negative(_sc.ndtri(q))


def chi2_sf(x, df):
    """Chi-squared upper tail area (scipy.stats.chi2.sf(x, df))."""
    return _sc.chdtrc(df, x)


def f_sf(x, dfn, dfd):
    """F upper tail area (scipy.stats.f.sf(x, dfn, dfd))."""
    return _sc.fdtrc(dfn, dfd, x)


def rankdata(a) -> np.ndarray:
    """Average ranks (1-based; ties share the mean of their positions) of a one-dimensional array,
    as scipy.stats.rankdata(a) (method "average"). Ranks are whole numbers or halves, exact in
    floating point whatever the algorithm. Hand-written because scipy's is wrapped in its
    axis/NaN-policy machinery, which cost more than the ranking on the ~400 small calls a report's
    rank-based intervals make, and lives in scipy.stats. A NaN anywhere makes every rank NaN, as
    scipy's default nan_policy ("propagate") does."""
    x = np.asarray(a).ravel()
    n = x.size
    if n == 0:
        return np.empty(0, dtype=float)
    if x.dtype.kind == "f" and np.isnan(x).any():
        return np.full(n, np.nan)
    order = np.argsort(x, kind="mergesort")
    s = x[order]
    # Start of each run of equal values in sorted order, and the run each sorted element is in.
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    bounds = np.append(starts, n)
    # A run from 0-based positions i to j-1 has average 1-based rank (i + 1 + j) / 2.
    avg = 0.5 * (bounds[:-1] + bounds[1:] + 1)
    ranks = np.empty(n, dtype=float)
    ranks[order] = np.repeat(avg, np.diff(bounds))
    return ranks


def mann_whitney_p(x, y) -> float:
    """Two-sided Mann-Whitney U p-value, as scipy.stats.mannwhitneyu(x, y).pvalue with its defaults
    (continuity correction, method "auto": the exact null distribution when a sample has at most
    8 values and nothing is tied, else the normal approximation with the tie correction).

    Written out because mannwhitneyu lives in scipy.stats (half a second of every report's
    start-up for one p-value). The arithmetic is scipy 1.17's (_mannwhitneyu.py), in the same
    order, so the p-value is the same to the bit; tests/test_stats_dist.py compares them.
    """
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    if np.isnan(x).any() or np.isnan(y).any():
        return float("nan")  # scipy's nan_policy "propagate"
    if x.size == 0 or y.size == 0:
        raise ValueError("`x` and `y` must be of nonzero size.")
    n1, n2 = x.size, y.size
    xy = np.concatenate([x, y])
    ranks = rankdata(xy)
    _, t = np.unique(xy, return_counts=True)
    t = t.astype(float)
    u1 = np.sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    u = max(u1, n1 * n2 - u1)
    if (n1 > 8 and n2 > 8) or (t > 1).any():
        n = n1 + n2
        s = np.sqrt(n1 * n2 / 12 * ((n + 1) - np.sum(t**3 - t) / (n * (n - 1))))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (u - n1 * n2 / 2 - 0.5) / s
        p = _sc.ndtr(-z)
    else:
        p = _mwu_exact_sf(n1, n2, int(u))
    return float(np.clip(p * 2, 0.0, 1.0))


def _mwu_exact_sf(n1: int, n2: int, k: int) -> float:
    """P(U >= k) under the null, no ties, for ``k >= n1 n2 / 2`` (scipy's _MWU.sf: by symmetry the
    lower tail at n1 n2 - k, from the frequencies built by the recursion over divisor sums that
    scipy credits to @toobaz). scipy's other branch, for k below the middle, is left out: the
    two-sided U passed here is the larger of U and n1 n2 - U, never below the middle."""
    n1, n2 = min(n1, n2), max(n1, n2)
    return float(_mwu_cdf(n1, n2, n1 * n2 - k))


def _mwu_freqs(n1: int, n2: int, maxu: int) -> np.ndarray:
    s_array = np.zeros(maxu + 1, dtype=int)
    for d in np.arange(1, n1 + 1):
        s_array[np.arange(d, maxu + 1, d)] += d
    for d in np.arange(n2 + 1, n2 + n1 + 1):
        s_array[np.arange(d, maxu + 1, d)] -= d
    s_array = s_array[1:]
    configurations = np.zeros(maxu + 1, dtype=np.uint64)
    is_uint = True
    uint_max = np.iinfo(np.uint64).max
    configurations[0] = 1
    for u in np.arange(1, maxu + 1):
        new_val = np.dot(configurations[:u], s_array[u - 1::-1]) / u
        if new_val > uint_max and is_uint:
            configurations = configurations.astype(float)
            is_uint = False
        configurations[u] = new_val
    return configurations / _sc.binom(n1 + n2, n1)


def _mwu_cdf(n1: int, n2: int, k: int) -> float:
    return float(np.cumsum(_mwu_freqs(n1, n2, k))[k])
