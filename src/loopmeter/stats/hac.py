"""Newey-West (HAC) covariances: the Bartlett-weighted sum of autocovariances, written once.

``S = G_0 + sum_{l=1..L} (1 - l / (L + 1)) (G_l + G_l')`` with ``G_l`` the lag-``l``
cross-product of a score series (statsmodels' ``S_hac_simple`` with Bartlett weights), and the
sandwich ``B S B' n / (n - k)`` built from it (statsmodels' ``cov_type="HAC"`` with
``use_correction=True``). Two shapes of score use the same sum:

- a (weeks x k) score matrix, for a model's whole covariance (``hac_cov``: OLS, Poisson and NB2
  fits in stats/ols.py and stats/its_models.py);
- a single coefficient's score ``v_t = a_t e_t`` over the last axis, for many bootstrap replicates
  at once (``newey_west_variance``, stats/its.py): one k = 1 sum per replicate, without the
  replicates x replicates matrix the first form would build.

Only the lag cross-product differs between them (a matrix product, or a dot product along the
last axis), so each shape passes its own to ``_bartlett``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["bartlett_meat", "hac_cov", "newey_west_variance"]


def _bartlett(cross: Callable[[int], np.ndarray], maxlags: int) -> np.ndarray:
    """G_0 + sum_l (1 - l/(L+1)) (G_l + G_l'), with ``cross(l)`` giving G_l (``... x k x k``)."""
    S = cross(0)
    for lag in range(1, maxlags + 1):
        g = cross(lag)
        S = S + (1.0 - lag / (maxlags + 1.0)) * (g + np.swapaxes(g, -1, -2))
    return S


def bartlett_meat(xu: np.ndarray, maxlags: int) -> np.ndarray:
    """The k x k Newey-West middle matrix of the rows of the (n x k) score ``xu``."""
    n = xu.shape[0]
    return _bartlett(lambda lag: xu[lag:].T @ xu[:max(n - lag, 0)], maxlags)  # a lag past n adds nothing


def newey_west_variance(v: np.ndarray, maxlags: int) -> np.ndarray:
    """Bartlett-kernel long-run variance sum_t v_t^2 + 2 sum_l (1 - l/(L+1)) sum_t v_t v_{t-l}.

    Works on the last axis, so a (replicates x weeks) array gives one variance per replicate.
    With ``v_t = a_t e_t`` (``a`` one row of the coefficient map) it is the Newey-West variance
    of that coefficient before the n / (n - k) factor.
    """
    n = v.shape[-1]
    # Each replicate's G_l is 1 x 1, its own transpose: G_l + G_l' is the 2 G_l of the formula.
    return _bartlett(lambda lag: np.einsum("...t,...t->...", v[..., lag:], v[..., :max(n - lag, 0)])[..., None, None],
                     maxlags)[..., 0, 0]


def hac_cov(bread: np.ndarray, score: np.ndarray, maxlags: int) -> np.ndarray:
    """The sandwich ``bread S bread' n / (n - k)`` for an (n x k) ``score`` (``S`` = bartlett_meat)."""
    n, k = score.shape
    return bread @ bartlett_meat(score, maxlags) @ bread.T * (n / float(n - k))
