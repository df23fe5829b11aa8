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
from scipy import special as _sc


def t_ppf(q, df):
    """Student's t quantile (scipy.stats.t.ppf(q, df))."""
    q = np.asarray(q, dtype=float)
    # stdtrit(df, 0) is +inf for some df; scipy.stats answers the lower end of the support itself.
    return np.where(q == 0.0, -np.inf, _sc.stdtrit(df, q))[()]


def t_sf(x, df):
    """Student's t upper tail area (scipy.stats.t.sf(x, df))."""
    return _sc.stdtr(df, np.negative(x))


def norm_ppf(q):
    """Standard normal quantile (scipy.stats.norm.ppf(q))."""
    return _sc.ndtri(q)


def norm_isf(q):
    """Standard normal inverse upper tail (scipy.stats.norm.isf(q))."""
    return np.negative(_sc.ndtri(q))


def norm_sf(x):
    """Standard normal upper tail area (scipy.stats.norm.sf(x))."""
    return _sc.ndtr(np.negative(x))


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
