"""One doubly robust 2x2 difference-in-differences cell (Sant'Anna & Zhao 2020, panel data).

Callaway & Sant'Anna's ATT(g,t) with covariates: among the cohort's units and the comparison
units of one cell, the change ``dy = y_t - y_base`` is compared after adjusting for covariates
``x`` (taken at the base period) in two ways at once: an outcome regression of ``dy`` on ``x`` in
the comparison units, and a logit propensity score of being in the cohort. The estimate is right
when either model is, hence "doubly robust":

    ATT = mean_treated(dy - x b) - sum_c w_c (dy_c - x_c b) / sum_c w_c,   w_c = p(x_c) / (1 - p(x_c))

Its influence function (the one of the R package DRDID's ``drdid_panel``, with the estimation
effects of both models) gives the cell's share of every unit's contribution to the variance, so
the caller aggregates cells and bootstraps exactly as without covariates. Comparison units with a
propensity above ``TRIM`` get no weight (DRDID's ``trim.level``), since their odds explode.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRIM", "dr_att"]

TRIM = 0.995
_MAX_ITER = 100


class CellError(ValueError):
    """The cell's models cannot be fitted (separation, collinear covariates)."""


def dr_att(dy: np.ndarray, treated: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """ATT and the influence function (one value per row; ``att_hat - att ~ mean(IF)``).

    ``dy``: outcome changes; ``treated``: bool (cohort) vs comparison; ``x``: covariates
    (rows x k, without the intercept). Raises CellError when a model cannot be fitted.
    """
    n = dy.size
    d = treated.astype(float)
    xi = np.column_stack([np.ones(n), x])
    ps, hess_inv = _logit(xi, d)
    ps = np.minimum(ps, 1.0 - 1e-6)
    trim = (d == 1) | (ps < TRIM)
    # Outcome regression on the comparison units.
    xc = xi[d == 0]
    xtx = xc.T @ xc
    if np.linalg.matrix_rank(xtx) < xtx.shape[0]:
        raise CellError("the covariates are collinear among the comparison units")
    beta = np.linalg.solve(xtx, xc.T @ dy[d == 0])
    out = xi @ beta
    w_t = d
    w_c = trim * ps * (1 - d) / (1 - ps)
    if w_c.sum() <= 0:
        raise CellError("no comparison unit keeps a weight after trimming")
    att_t = w_t * (dy - out)
    att_c = w_c * (dy - out)
    eta_t = att_t.mean() / w_t.mean()
    eta_c = att_c.mean() / w_c.mean()
    # Influence of the outcome regression and of the propensity score.
    w_ols = 1 - d
    xpx_inv = np.linalg.inv((w_ols[:, None] * xi).T @ xi / n)
    lin_ols = (w_ols * (dy - out))[:, None] * xi @ xpx_inv
    lin_ps = ((d - ps)[:, None] * xi) @ (hess_inv * n)
    inf_t = (att_t - w_t * eta_t - lin_ols @ (w_t[:, None] * xi).mean(axis=0)) / w_t.mean()
    m2 = (w_c * (dy - out - eta_c))[:, None] * xi
    inf_c = (att_c - w_c * eta_c + lin_ps @ m2.mean(axis=0) - lin_ols @ (w_c[:, None] * xi).mean(axis=0)) / w_c.mean()
    return float(eta_t - eta_c), inf_t - inf_c


def _logit(x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fitted probabilities and the inverse Hessian (the MLE's covariance) by Newton-Raphson.
    Hand-written: a cell needs only these two, thousands of times per panel."""
    beta = np.zeros(x.shape[1])
    share = d.mean()
    if share in (0.0, 1.0):
        raise CellError("one side of the cell is empty")
    beta[0] = np.log(share / (1 - share))
    for _ in range(_MAX_ITER):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        h = (x * (p * (1 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(h, x.T @ (d - p))
        except np.linalg.LinAlgError:
            raise CellError("the propensity score cannot be fitted (collinear covariates)") from None
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    else:
        raise CellError("the propensity score does not converge (the covariates separate the groups)")
    p = 1.0 / (1.0 + np.exp(-(x @ beta)))
    if p.max() > 1 - 1e-9 or np.max(np.abs(beta)) > 30:
        raise CellError("the covariates separate the cohort from its comparison units (no overlap)")
    h = (x * (p * (1 - p))[:, None]).T @ x
    return p, np.linalg.inv(h)
