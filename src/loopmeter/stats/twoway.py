"""Cluster-robust variance of one coefficient clustered one way or two ways (Cameron, Gelbach and
Miller 2011), from each row's contribution to the coefficient.

Why two ways: a before/after comparison is a comparison of weeks. Clustering by person allows
for a person's changes being alike, but not for a week in which everyone is slower together (an
incident, a release crunch, holidays); with such shocks the weeks before and after differ by
chance far more than independent changes would, and an interval clustered by person alone
rejects a true null too often (bench/verdict_sim.py `--direct-before-after`, scenario
`null_weeks`). Clustering by author and week allows for both: ``V = V_author + V_week -
V_author x week`` with the t distribution on ``min(G) - 1`` degrees of freedom.

The estimator's per-row contributions ``c_i`` (for OLS: row i of ``(X'X)^-1 X'`` at the
coefficient times its residual; for a Poisson fit: the partialled regressor times the
residual over the information) make the code one sum per cluster, so the same function serves
the log-duration regression and the Poisson rate ratio. With ``n_k`` = (n, K) each one-way part
carries statsmodels' factor ``G / (G - 1) * (n - 1) / (n - K)`` (CR1), without it ``G / (G - 1)``;
with ``n_k`` it equals statsmodels' ``cov_type="cluster"`` with a two-column groups array
(tests/test_stats_twoway.py checks it). Hand-written because statsmodels offers the two-way
covariance only on its own fitted models, not for the concentrated Poisson fit of stats/poisson_fe.py.

Pure numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["one_way_var", "two_way_var", "ols_contributions", "poisson_fe_contributions",
           "poisson_fe_cell_contributions"]


def _codes(ids, n: int) -> np.ndarray:
    ids = np.asarray(ids, dtype=object)
    if ids.shape != (n,):
        raise ValueError(f"{n} rows but {ids.shape} cluster ids")
    return np.unique(ids.astype(str), return_inverse=True)[1].ravel()


def one_way_var(contrib, clusters, n_k: tuple[int, int] | None = None) -> tuple[float, int]:
    """CR1 variance of the coefficient whose per-row contributions are `contrib`, and the number
    of clusters G (the t distribution's df is G - 1)."""
    c = np.asarray(contrib, dtype=float)
    codes = _codes(clusters, len(c))
    g = int(codes.max()) + 1 if len(c) else 0
    if g < 2:
        return float("nan"), g
    s = np.bincount(codes, weights=c, minlength=g)
    factor = g / (g - 1)
    if n_k is not None:
        n, k = n_k
        factor *= (n - 1) / (n - k)
    return float(factor * (s @ s)), g


def two_way_var(contrib, first, second, n_k: tuple[int, int] | None = None) -> tuple[float, float, dict]:
    """Two-way (CGM) variance and its df, min(G_first, G_second) - 1, with the parts.

    The sum of the one-way variances less that clustered on their intersection can come out
    negative in a small sample; then the larger one-way variance is used (a conservative choice,
    recorded as ``parts["fallback"]``), since a negative variance has no interval."""
    c = np.asarray(contrib, dtype=float)
    first, second = np.asarray(first, dtype=object), np.asarray(second, dtype=object)
    both = np.array([f"{a}\x1f{b}" for a, b in zip(first.astype(str), second.astype(str))], dtype=object)
    va, ga = one_way_var(c, first, n_k)
    vb, gb = one_way_var(c, second, n_k)
    vab, _ = one_way_var(c, both, n_k)
    var = va + vb - vab
    fallback = not var > 0
    if fallback:
        var = max(va, vb)
    return float(var), float(min(ga, gb) - 1), {"first": va, "second": vb, "intersection": vab,
                                                 "clusters": (ga, gb), "fallback": fallback}


def ols_contributions(X, resid, j: int) -> np.ndarray:
    """Row i's contribution to OLS coefficient j: ((X'X)^-1 x_i)_j * e_i (summed, the coefficient's
    deviation from its truth), the input `one_way_var` and `two_way_var` take for a regression."""
    X = np.asarray(X, dtype=float)
    B = np.linalg.pinv(X.T @ X)
    return (X @ B[:, j]) * np.asarray(resid, dtype=float)


def poisson_fe_contributions(counts, exposure, after, beta: float) -> np.ndarray:
    """`poisson_fe_cell_contributions` on an authors x weeks table (`after`: one flag per week),
    returned flattened row-major (author by author)."""
    y = np.asarray(counts, dtype=float)
    na, nw = y.shape
    d = np.broadcast_to(np.asarray(after, dtype=bool)[None, :], y.shape)
    return poisson_fe_cell_contributions(np.repeat(np.arange(na), nw), d.ravel(), y.ravel(),
                                         np.asarray(exposure, dtype=float).ravel(), beta)


def poisson_fe_cell_contributions(author, after, events, exposure, beta: float) -> np.ndarray:
    """Each cell's contribution to the log rate ratio of the Poisson fit with author fixed effects
    (stats/poisson_fe.py) at its estimate `beta`: ``(d - p_i)(y - mu) / I``. A cell is any split of
    an author's events and exposure within a period (an author-week, an author-repository-week);
    `after` is its period.

    With the author effects concentrated out, the regressor left for beta is the cell's flag less
    the author's expected share of events after adoption, ``p_i = R x_ia / (R x_ia + x_ib)``;
    ``mu`` is the cell's exposure times the author's fitted rate in its period and ``I = sum_i n_i
    p_i (1 - p_i)`` the information. Summed by author these are stats/poisson_fe.py's scores over
    I exactly; summed by week, the scores that a shock shared by a week moves together. Authors
    the fit does not use (exposure on one side only, or no event) contribute 0."""
    codes = np.unique(np.asarray(author, dtype=object).astype(str), return_inverse=True)[1].ravel()
    d = np.asarray(after, dtype=bool)
    y, x = np.asarray(events, dtype=float), np.asarray(exposure, dtype=float)
    g = int(codes.max()) + 1 if len(codes) else 0
    xa = np.bincount(codes, x * d, minlength=g)
    xb = np.bincount(codes, x * ~d, minlength=g)
    n = np.bincount(codes, y, minlength=g)
    keep = (xa > 0) & (xb > 0) & (n > 0)  # the authors that carry beta (poisson_fe.py's `fit`)
    xa1, xb1 = np.where(keep, xa, 1.0), np.where(keep, xb, 1.0)  # unused authors: no log(0)
    p = np.where(keep, 1.0 / (1.0 + np.exp(-(beta + np.log(xa1) - np.log(xb1)))), 0.0)
    rate = np.where(d, (n * p / xa1)[codes], (n * (1 - p) / xb1)[codes])
    info = float((n * p * (1 - p))[keep].sum())
    c = (d - p[codes]) * (y - rate * x) / info
    c[~keep[codes]] = 0.0
    return c
