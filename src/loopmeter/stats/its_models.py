"""The interrupted time series' three models, fitted in numpy with Newey-West (HAC) errors.

Why not statsmodels, which fitted them before: its model classes and the scipy.stats they load
are ~0.6 s of CPU to import, paid by every report with an ITS, and the report's whole budget is
2 s start-up included (issue 14). What it computed is reproduced here, step for step where the
iterations matter, and tests/test_stats_its_models.py fits the same series with statsmodels:

- OLS: ``pinv(X) y`` (stats/ols.py); HAC ``B S B n / (n - k)`` with ``B = (X'X)^+`` and ``S`` the
  Bartlett-weighted autocovariances of ``x_t e_t`` (statsmodels' ``cov_type="HAC"`` with
  ``use_correction=True``; stats/hac.py, the sandwich of all three models). Agrees to rounding (~1e-12 relative).
- Poisson GLM: statsmodels' IRLS itself (start ``mu = (y + mean y) / 2``, weighted least squares
  by ``lstsq`` each step, stop when the deviance moves by <= 1e-8, at most 100 steps), so the same
  iterations stop at the same point; HAC with the score ``x_t (y_t - mu_t)`` and the information
  ``X' diag(mu) X``. Agrees to ~1e-10 relative.
- Negative binomial (NB2, dispersion alpha by maximum likelihood): Newton's method on
  ``(beta, log alpha)`` with step halving, from the Poisson fit and statsmodels' moment estimate
  of alpha, run until the step is ~1e-10; statsmodels runs BFGS to a gradient tolerance of 1e-5
  instead, so its numbers stop ~1e-6 short of the maximum and differ from these in the 6th-7th
  digit (the tests compare with statsmodels' Newton fit, which reaches the same maximum, to 1e-8).
  HAC with the five-column score (alpha's included) and the observed information, times
  ``n / (n - 5)``, as statsmodels' discrete models do.

Intervals and p-values are Student's t on ``n - 4`` degrees of freedom (``use_t``; the discrete
model does not count alpha there either).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from .special import special as _sc

from .dist import t_ppf, t_sf
from .hac import hac_cov
from .ols import ols

__all__ = ["ModelFit", "fit_model"]

_EPS = np.finfo(float).eps
_IRLS_MAXITER = 100
_IRLS_TOL = 1e-8
_NB_MAXITER = 200


@dataclass(frozen=True)
class ModelFit:
    params: np.ndarray  # the design's coefficients (alpha not among them)
    bse: np.ndarray  # HAC standard errors of params
    ci_low: np.ndarray
    ci_high: np.ndarray
    pvalues: np.ndarray
    fitted: np.ndarray  # fitted means per week
    converged: bool
    pearson_dispersion: float  # Poisson only: Pearson chi2 / (n - k)
    alpha: float  # negative binomial only: the dispersion


def fit_model(y: np.ndarray, X: np.ndarray, model: str, maxlags: int, alpha: float) -> ModelFit:
    """Fit ``model`` ("ols", "poisson" or "negbin") of ``y`` on the design ``X`` with HAC errors
    (``maxlags`` lags, small-sample factor); intervals at level ``1 - alpha``."""
    n, k = X.shape
    nan = float("nan")
    if model == "ols":
        fit = ols(y, X)
        cov = fit.cov_hac(maxlags)
        params, fitted, converged, disp, nb_alpha = fit.params, X @ fit.params, True, nan, nan
    elif model == "poisson":
        params, mu, converged = _poisson_irls(y, X)
        cov = hac_cov(np.linalg.inv(X.T @ (mu[:, None] * X)), X * (y - mu)[:, None], maxlags)
        fitted, nb_alpha = mu, nan
        disp = float(np.sum((y - mu) ** 2 / mu) / max(n - k, 1.0))
    elif model == "negbin":
        theta, converged = _negbin_newton(y, X)
        score, hess = _nb2_score_hessian(y, X, theta)
        cov = hac_cov(np.linalg.inv(hess), score, maxlags)
        params, nb_alpha, disp = theta[:k], float(theta[k]), nan
        fitted = np.exp(X @ params)
    else:
        raise ValueError(f"unknown model {model!r}")
    with np.errstate(invalid="ignore"):
        bse = np.sqrt(np.diag(cov)[:k])
    df = float(n - k)
    q = float(t_ppf(1.0 - alpha / 2.0, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        pvalues = 2.0 * t_sf(np.abs(params / bse), df)
    return ModelFit(params, bse, params - q * bse, params + q * bse, np.asarray(pvalues, dtype=float),
                    np.asarray(fitted, dtype=float), bool(converged), disp, nb_alpha)


def _poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    ratio = np.clip(y / mu, _EPS, np.inf)  # statsmodels' family._clean: y = 0 adds -(0 - mu)
    return float(np.sum(2.0 * (y * np.log(ratio) - (y - mu))))


def _poisson_irls(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """statsmodels GLM(y, X, Poisson()).fit()'s IRLS: (params, fitted means, converged)."""
    mu = (y + y.mean()) / 2.0
    lin = np.log(np.clip(mu, _EPS, np.inf))
    history = [math.inf, _poisson_deviance(y, mu)]
    converged = False
    params = np.zeros(X.shape[1])
    for _ in range(_IRLS_MAXITER):
        w = 1.0 / ((1.0 / mu) ** 2 * mu)  # 1 / (g'(mu)^2 V(mu)) for the log link, as statsmodels writes it
        z = lin + (y - mu) / mu
        sw = np.sqrt(w)
        params = np.linalg.lstsq(sw[:, None] * X, sw * z, rcond=-1)[0]
        lin = X @ params
        mu = np.exp(lin)
        history.append(_poisson_deviance(y, mu))
        if abs(history[-2] - history[-1]) <= _IRLS_TOL:
            converged = True
            break
    return params, mu, converged


def _nb2_loglike(y: np.ndarray, X: np.ndarray, theta: np.ndarray) -> float:
    beta, a = theta[:-1], theta[-1]
    mu = np.exp(X @ beta)
    r = 1.0 / a
    ll = (_sc.gammaln(y + r) - _sc.gammaln(r) - _sc.gammaln(y + 1.0)
          - r * np.log1p(a * mu) + y * (np.log(a * mu) - np.log1p(a * mu)))
    return float(np.sum(ll))


def _nb2_score_hessian(y: np.ndarray, X: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-week score (n x (k+1), alpha last) and the observed Hessian of the NB2 log-likelihood
    in (beta, alpha) (Cameron and Trivedi, Regression Analysis of Count Data, ch. 3)."""
    beta, a = theta[:-1], float(theta[-1])
    mu = np.exp(X @ beta)
    r = 1.0 / a
    d = 1.0 + a * mu
    lg = np.log1p(a * mu) - _sc.digamma(y + r) + _sc.digamma(r)
    s_beta = X * ((y - mu) / d)[:, None]
    s_alpha = lg / a**2 + (y - mu) / (a * d)
    h_bb = -(X * (mu * (1.0 + a * y) / d**2)[:, None]).T @ X
    h_ba = -(X * (mu * (y - mu) / d**2)[:, None]).sum(axis=0)
    dlg = mu / d + (_sc.polygamma(1, y + r) - _sc.polygamma(1, r)) / a**2
    h_aa = float(np.sum(-2.0 * lg / a**3 + dlg / a**2 - (y - mu) * (1.0 + 2.0 * a * mu) / (a * d) ** 2))
    k = X.shape[1]
    H = np.empty((k + 1, k + 1))
    H[:k, :k], H[:k, k], H[k, :k], H[k, k] = h_bb, h_ba, h_ba, h_aa
    return np.column_stack([s_beta, s_alpha]), H


def _negbin_newton(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, bool]:
    """Maximum likelihood (beta, alpha) of NB2 by Newton's method in (beta, log alpha)."""
    beta, mu, _ = _poisson_irls(y, X)
    n, k = X.shape
    # statsmodels' start for alpha: the NB2 moment estimate around the Poisson fit, at least 0.05.
    a0 = float(np.sum(((y - mu) ** 2 / mu - 1.0) / mu) / (n - k))
    eta = np.append(beta, math.log(max(0.05, a0)))

    def theta(e: np.ndarray) -> np.ndarray:
        return np.append(e[:k], math.exp(e[k]))

    ll = _nb2_loglike(y, X, theta(eta))
    converged = False
    for _ in range(_NB_MAXITER):
        a = math.exp(eta[k])
        score, H = _nb2_score_hessian(y, X, theta(eta))
        g = score.sum(axis=0)
        # The chain rule to log alpha: d/d eta = a d/da, d2/d eta2 = a^2 d2/da2 + a d/da.
        g_eta = g.copy()
        g_eta[k] *= a
        H_eta = H.copy()
        H_eta[:k, k] *= a
        H_eta[k, :k] *= a
        H_eta[k, k] = H[k, k] * a * a + g[k] * a
        try:
            step = np.linalg.solve(H_eta, g_eta)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        if np.max(np.abs(step)) < 1e-10 * (1.0 + np.max(np.abs(eta))):
            converged = True
            break
        # Newton ascends where -H is positive definite; otherwise, or when the full step does not
        # raise the likelihood, halve it (a gradient step when the Hessian is not negative definite).
        if float(g_eta @ step) >= 0.0:  # -H_eta^-1 g is not an ascent direction
            step = -g_eta / max(1.0, float(np.max(np.abs(np.diag(H_eta)))))
        t = 1.0
        for _ in range(60):
            cand = eta - t * step
            cand_ll = _nb2_loglike(y, X, theta(cand)) if abs(cand[k]) < 700 else -math.inf
            if cand_ll >= ll - 1e-12 * abs(ll):
                break
            t /= 2.0
        else:
            break
        eta, ll = cand, cand_ll
    if not converged and math.exp(eta[k]) < 1e-6:
        # Counts no more spread than a Poisson's: the maximum is on the boundary alpha -> 0, where
        # log alpha runs off without end. That is a maximum all the same (the Poisson fit) when the
        # coefficients have settled and the likelihood still falls as alpha grows.
        score, H = _nb2_score_hessian(y, X, theta(eta))
        g = score.sum(axis=0)
        try:
            settled = np.max(np.abs(np.linalg.solve(H[:k, :k], g[:k]))) < 1e-8 * (1.0 + np.max(np.abs(eta[:k])))
        except np.linalg.LinAlgError:
            settled = False
        converged = bool(settled and g[k] <= 0.0)
    return theta(eta), converged
