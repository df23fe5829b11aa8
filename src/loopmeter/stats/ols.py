"""Ordinary least squares by the pseudo-inverse, with the plain, HC1, cluster (CR1) and Newey-West
(HAC) covariances, equal to statsmodels' ``OLS(y, X).fit()`` and its ``get_robustcov_results``.

Why not statsmodels itself: importing its model classes (with the scipy.stats and pandas glue they
load) is ~0.6 s of CPU, paid by every report that regresses anything, and a report's own work
on a 1k-commit store is about as long (issue 14: a report in 2 s, start-up included). The
arithmetic is a few matrix products, written the way statsmodels does it so that the numbers
agree to rounding (tests/test_stats_ols.py fits the same data with statsmodels):

- the fit: ``pinv(X) y`` with singular values below ``1e-15 * max`` dropped (statsmodels'
  ``pinv_extended``), so a rank-deficient design (collinear fixed effects) still fits;
  ``df_resid = n - rank``;
- plain: ``s^2 pinv(X) pinv(X)'`` with ``s^2 = e'e / df_resid``;
- HC1: ``pinv(X) diag(e^2 n / df_resid) pinv(X)'``;
- CR1: ``B S B`` with ``B = pinv(X) pinv(X)'`` and ``S`` the cross-product of the clusters' sums of
  ``x_i e_i``, times ``G / (G - 1) * (n - 1) / (n - K)``, K the number of columns (not the rank);
- HAC: ``B S B`` with ``S`` the Bartlett-weighted autocovariances of ``x_t e_t`` up to ``maxlags``,
  times ``n / (n - K)`` (stats/hac.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .hac import hac_cov

__all__ = ["OLSFit", "ols"]


@dataclass(frozen=True)
class OLSFit:
    params: np.ndarray
    resid: np.ndarray
    pinv: np.ndarray  # pinv(X), k x n
    rank: int
    X: np.ndarray

    @property
    def nobs(self) -> int:
        return self.X.shape[0]

    @property
    def df_resid(self) -> float:
        return float(self.nobs - self.rank)

    # Computed once per fit: a regression asks for it for plain, robust and cluster covariances.
    # cached_property stores it in the instance __dict__ directly, which a frozen dataclass allows
    # (only attribute assignment is frozen); the fit's arrays are never changed after ``ols``.
    @cached_property
    def bread(self) -> np.ndarray:
        """(X'X)^+ as pinv(X) pinv(X)' (statsmodels' normalized_cov_params)."""
        return self.pinv @ self.pinv.T

    def cov_plain(self) -> np.ndarray:
        return self.bread * (float(self.resid @ self.resid) / self.df_resid)

    def cov_hc1(self) -> np.ndarray:
        scale = self.nobs / self.df_resid * self.resid**2
        return self.pinv @ (scale[:, None] * self.pinv.T)

    def cov_cluster(self, codes: np.ndarray) -> np.ndarray:
        """CR1; ``codes`` are cluster numbers 0..G-1, every one used."""
        xu = self.X * self.resid[:, None]
        n_groups = int(codes.max()) + 1
        sums = np.zeros((n_groups, xu.shape[1]))
        np.add.at(sums, codes, xu)
        b = self.bread
        n, k = xu.shape
        return (b @ (sums.T @ sums) @ b.T) * (n_groups / (n_groups - 1.0) * ((n - 1.0) / float(n - k)))

    def cov_hac(self, maxlags: int) -> np.ndarray:
        """Newey-West with the n / (n - K) factor (statsmodels' use_correction=True)."""
        return hac_cov(self.bread, self.X * self.resid[:, None], maxlags)


def _pinv(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-inverse and singular values, as statsmodels' tools.pinv_extended (rcond 1e-15)."""
    u, s, vt = np.linalg.svd(X, False)
    s_orig = s.copy()
    keep = s > 1e-15 * np.maximum.reduce(s)
    inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return np.dot(vt.T, inv[:, None] * u.T), s_orig


def ols(y, X) -> OLSFit:
    """Least squares of ``y`` on the columns of ``X`` (no constant added)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    pinv, s = _pinv(X)
    params = pinv @ y
    # numpy's matrix_rank of diag(s), as statsmodels takes it (k x k, so its tolerance is k eps max s).
    rank = int(np.sum(s > s.max() * s.size * np.finfo(float).eps)) if s.size else 0
    return OLSFit(params, y - X @ params, pinv, rank, X)

