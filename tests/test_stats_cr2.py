"""CR2 with Bell-McCaffrey df (stats/cr2.py) against independent computations: statsmodels' HC2 and
Welch's test (each row its own cluster), the closed-form Satterthwaite df of the two-sample case, a
dense n x n computation that forms every matrix of the definition, and a simulation of the
variance estimate's mean and spread under independent normal errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from statsmodels.regression.linear_model import OLS

from loopmeter.stats.cr2 import cr2
from loopmeter.stats.regression import log_duration_ols


def _two_sample(na=7, nb=11, seed=1):
    rng = np.random.default_rng(seed)
    y = np.r_[rng.normal(1, 1, na), rng.normal(0, 2, nb)]
    X = np.c_[np.ones(na + nb), np.r_[np.ones(na), np.zeros(nb)]]
    return X, y


def test_singleton_clusters_give_hc2_which_is_welchs_standard_error():
    X, y = _two_sample()
    fit = OLS(y, X).fit()
    se, _ = cr2(X, fit.resid, np.arange(len(y)), 1)
    assert se == pytest.approx(fit.get_robustcov_results("HC2").bse[1], rel=1e-10)
    a, b = y[X[:, 1] == 1], y[X[:, 1] == 0]
    welch = scipy.stats.ttest_ind(a, b, equal_var=False)
    assert fit.params[1] / se == pytest.approx(welch.statistic, rel=1e-10)


def test_two_sample_df_is_the_satterthwaite_formula_under_equal_variances():
    # V = s_a^2 / n_a + s_b^2 / n_b with s^2 ~ sigma^2 chi2(n - 1) / (n - 1): E V = sigma^2 (1/n_a + 1/n_b),
    # Var V = 2 sigma^4 (1 / (n_a^2 (n_a - 1)) + 1 / (n_b^2 (n_b - 1))), df = 2 (E V)^2 / Var V.
    na, nb = 7, 11
    X, y = _two_sample(na, nb)
    _, df = cr2(X, OLS(y, X).fit().resid, np.arange(na + nb), 1)
    expected = (1 / na + 1 / nb) ** 2 / (1 / (na**2 * (na - 1)) + 1 / (nb**2 * (nb - 1)))
    assert df == pytest.approx(expected, rel=1e-10)


def _clustered_design(seed=3):
    rng = np.random.default_rng(seed)
    sizes = [2, 3, 5, 8, 13, 4, 6]  # unequal clusters, one of two rows
    codes = np.repeat(np.arange(len(sizes)), sizes)
    n = len(codes)
    treated = (rng.random(n) < np.linspace(0.2, 0.8, len(sizes))[codes]).astype(float)
    treated[:2] = (1.0, 0.0)
    X = np.c_[np.ones(n), treated, rng.normal(size=n), (codes % 2 == 0).astype(float)]
    y = X @ np.array([1.0, 0.3, 0.5, -0.2]) + rng.normal(size=len(sizes))[codes] * 0.5 + rng.normal(size=n)
    return X, y, codes


def _dense(X, e, codes, j):
    """The definitions with every matrix formed: A_g = (I - H_gg)^(-1/2) by scipy's matrix square
    root, V = sum_g (c' X_g' A_g e_g)^2, and df = (tr Q)^2 / tr(Q^2), Q = G' (I - H) G with G the
    n x G matrix of the clusters' weights a_g = A_g X_g (X'X)^-1 e_j."""
    n = len(e)
    B = np.linalg.inv(X.T @ X)
    M = np.eye(n) - X @ B @ X.T
    cols, var = [], 0.0
    for g in np.unique(codes):
        rows = codes == g
        A = np.real(scipy.linalg.sqrtm(np.linalg.inv(M[np.ix_(rows, rows)])))
        a = A @ X[rows] @ B[:, j]
        var += float(a @ e[rows]) ** 2
        col = np.zeros(n)
        col[rows] = a
        cols.append(col)
    G = np.array(cols).T
    Q = G.T @ M @ G
    return np.sqrt(var), np.trace(Q) ** 2 / np.trace(Q @ Q), G, M


def test_clustered_cr2_and_its_df_equal_the_dense_definitions():
    X, y, codes = _clustered_design()
    e = OLS(y, X).fit().resid
    se, df = cr2(X, e, codes, 1)
    se_d, df_d, _, _ = _dense(X, e, codes, 1)
    assert se == pytest.approx(se_d, rel=1e-8)
    assert df == pytest.approx(df_d, rel=1e-8)
    # Cluster ids are labels: their spelling and order do not matter.
    labels = np.array([f"dev{c}" for c in (codes * 7) % 11], dtype=object)
    assert cr2(X, e, labels, 1) == pytest.approx((se, df), rel=1e-10)


def test_under_independent_errors_the_cr2_variance_is_unbiased_and_spread_as_its_df_says():
    # Bell and McCaffrey's two claims, checked by simulation (not by the algebra the code uses):
    # E[V] = sigma^2 [(X'X)^-1]_jj exactly, and V is about sigma^2-scaled chi2(df) / df.
    X, _, codes = _clustered_design()
    _, df, G, M = _dense(X, np.zeros(len(codes)), codes, 1)
    rng = np.random.default_rng(11)
    eps = rng.normal(size=(len(codes), 20_000))
    V = ((G.T @ (M @ eps)) ** 2).sum(axis=0)  # the CR2 variance of each draw's residuals M eps
    target = np.linalg.inv(X.T @ X)[1, 1]
    assert V.mean() == pytest.approx(target, rel=0.03)
    assert 2 * V.mean() ** 2 / V.var() == pytest.approx(df, rel=0.08)
    # And the code's own estimate on one draw is this V.
    assert cr2(X, M @ eps[:, 0], codes, 1)[0] ** 2 == pytest.approx(V[0], rel=1e-8)


def test_a_fixed_effect_level_inside_one_cluster_uses_the_pseudo_inverse():
    # A dummy that is 1 on cluster 0's rows only: that cluster has a leverage-1 direction.
    X, y, codes = _clustered_design()
    X = np.c_[X, (codes == 0).astype(float)]
    se, df = cr2(X, OLS(y, X).fit().resid, codes, 1)
    assert np.isfinite(se) and se > 0 and np.isfinite(df) and df > 0


def test_log_duration_ols_with_cr2_uses_it_and_keeps_cr1_beside_it():
    X, y, codes = _clustered_design()
    durations = np.exp(y)
    covs = {"x": X[:, 2], "even": X[:, 3]}
    cr1 = log_duration_ols(durations, X[:, 1], covariates=covs, clusters=codes)
    est = log_duration_ols(durations, X[:, 1], covariates=covs, clusters=codes, covariance="CR2")
    se, df = cr2(X, OLS(y, X).fit().resid, codes, 1)
    assert est.ratio == pytest.approx(cr1.ratio, rel=1e-12)
    assert est.extra["covariance"] == "CR2" and est.extra["se"] == pytest.approx(se, rel=1e-8)
    assert est.extra["df"] == pytest.approx(df, rel=1e-8)
    assert est.extra["se_cr1"] == pytest.approx(cr1.extra["se"], rel=1e-12) and est.extra["df_cr1"] == 6
    t = scipy.stats.t.ppf(0.975, df)
    assert est.ci_low == pytest.approx(np.exp(np.log(est.ratio) - t * se), rel=1e-8)
    assert est.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(np.log(est.ratio)) / se, df), rel=1e-8)
    assert est.clustered is True
    # With an absorbed fixed effect CR2 is not computed: the row says CR1, as it is.
    fe = log_duration_ols(durations, X[:, 1], covariates=covs, clusters=codes, covariance="CR2",
                          absorb=("author", codes))
    assert fe.extra["covariance"] == "CR1" and "se_cr1" not in fe.extra
    with pytest.raises(ValueError, match="covariance"):
        log_duration_ols(durations, X[:, 1], clusters=codes, covariance="CR3")
