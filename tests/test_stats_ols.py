"""stats/ols.py against statsmodels' OLS itself: the fit by the pseudo-inverse and its plain, HC1,
cluster (CR1) and Newey-West covariances agree to rounding, on full-rank and rank-deficient
designs (a fixed effect nested in another, as actors in teams)."""

import warnings

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS

from loopmeter.stats.ols import ols


def _designs():
    rng = np.random.default_rng(11)
    n = 90
    treated = (rng.random(n) < 0.4).astype(float)
    size = rng.normal(size=n)
    team = rng.integers(0, 4, n)
    actor = team * 3 + rng.integers(0, 3, n)  # actors nested in teams: collinear dummies
    full = np.column_stack([np.ones(n), treated, size, *(team == t for t in range(1, 4))]).astype(float)
    deficient = np.column_stack([full, *(actor == a for a in range(1, 12))]).astype(float)
    y = 0.3 * treated + 0.5 * size + 0.2 * team + rng.standard_t(4, n)
    clusters = rng.integers(0, 13, n)
    return [("full", full, y, clusters), ("deficient", deficient, y, clusters),
            ("tiny", full[:12, :3], y[:12], clusters[:12] % 3)]


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.mark.parametrize("name,X,y,clusters", _designs(), ids=lambda v: v if isinstance(v, str) else "")
def test_fit_and_covariances_equal_statsmodels(name, X, y, clusters):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns of the rank-deficient design
        ref = OLS(y, X).fit()
        codes = np.unique(clusters, return_inverse=True)[1]
        ref_cl = ref.get_robustcov_results(cov_type="cluster", groups=codes, use_t=True)
        ref_hc1 = ref.get_robustcov_results(cov_type="HC1", use_t=True)
        ref_hac = OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": 3, "use_correction": True}, use_t=True)
    got = ols(y, X)
    assert got.rank == int(np.linalg.matrix_rank(X)) and got.df_resid == ref.df_resid
    assert (got.rank < X.shape[1]) == (name == "deficient")
    # Parameters are compared through the fitted values where the design is rank-deficient (the
    # minimum-norm solution is the same, but its coordinates sit at the rounding of an SVD).
    assert _rel(got.params, ref.params) < 1e-9
    assert _rel(got.resid, ref.resid) < 1e-9
    for mine, theirs in ((got.cov_plain(), ref.cov_params()), (got.cov_hc1(), ref_hc1.cov_params()),
                         (got.cov_cluster(codes), ref_cl.cov_params()), (got.cov_hac(3), ref_hac.cov_params())):
        d = np.sqrt(np.abs(np.diag(theirs)))
        keep = d > 1e-8 * d.max()  # unidentified directions of a rank-deficient fit are rounding
        assert _rel(np.sqrt(np.diag(mine))[keep], d[keep]) < 1e-9
    # Hand-checked factor: CR1 is the unscaled cluster sandwich times G/(G-1) (n-1)/(n-K).
    b = np.linalg.pinv(X.T @ X)
    sums = np.array([(X * got.resid[:, None])[codes == g].sum(axis=0) for g in range(codes.max() + 1)])
    g, (n, k) = codes.max() + 1, X.shape
    raw = b @ sums.T @ sums @ b * g / (g - 1) * (n - 1) / (n - k)
    assert _rel(np.diag(got.cov_cluster(codes))[1], raw[1, 1]) < 1e-8


def test_bread_is_computed_once_and_is_statsmodels_normalized_cov_params():
    X, y = _designs()[0][1:3]
    got = ols(y, X)
    assert got.bread is got.bread  # cached on the frozen fit, not recomputed
    assert _rel(got.bread, OLS(y, X).fit().normalized_cov_params) < 1e-9
