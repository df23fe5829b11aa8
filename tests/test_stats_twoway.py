"""Two-way cluster-robust variance (stats/twoway.py) against statsmodels' own CGM covariance."""

import numpy as np
import pytest
import statsmodels.api as sm

from loopmeter.stats.poisson_fe import poisson_rate_ratio_author_fe
from loopmeter.stats.twoway import ols_contributions, one_way_var, poisson_fe_contributions, two_way_var


def _data(seed):
    rng = np.random.default_rng(seed)
    authors, weeks = 9, 16
    a = np.repeat(np.arange(authors), weeks * 3)
    w = np.tile(np.repeat(np.arange(weeks), 3), authors)
    after = (w >= 8).astype(float)
    size = rng.normal(0, 1, len(a))
    y = 0.2 * after + 0.3 * size + rng.normal(0, 0.4, authors)[a] + rng.normal(0, 0.3, weeks)[w] + rng.normal(0, 1, len(a))
    keep = rng.random(len(a)) < 0.8  # unbalanced cells
    return y[keep], np.column_stack([np.ones(keep.sum()), after[keep], size[keep]]), a[keep], w[keep]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_way_matches_statsmodels(seed):
    y, X, a, w = _data(seed)
    fit = sm.OLS(y, X).fit()
    ref = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": np.column_stack([a, w])}, use_t=True)
    c = ols_contributions(X, fit.resid, 1)
    var, df, parts = two_way_var(c, a, w, n_k=X.shape)
    assert not parts["fallback"]
    assert var == pytest.approx(ref.cov_params()[1, 1], rel=1e-9)
    assert df == ref.df_resid_inference == min(len(set(a)), len(set(w))) - 1


def test_one_way_matches_statsmodels():
    y, X, a, w = _data(4)
    fit = sm.OLS(y, X).fit()
    c = ols_contributions(X, fit.resid, 1)
    for g in (a, w):
        ref = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": g}, use_t=True)
        var, G = one_way_var(c, g, n_k=X.shape)
        assert var == pytest.approx(ref.cov_params()[1, 1], rel=1e-9)
        assert G - 1 == ref.df_resid_inference


def test_negative_two_way_falls_back_to_larger_one_way():
    # Two rows per cell whose contributions cancel within each cell pair's row and column sums
    # but not within cells: V_a + V_b - V_ab < 0.
    c = np.array([1.0, 1.0, -1.0, -1.0])
    first, second = np.array([0, 1, 0, 1]), np.array([0, 1, 1, 0])
    var, df, parts = two_way_var(c, first, second)
    assert parts["first"] + parts["second"] - parts["intersection"] <= 0
    assert parts["fallback"] and var == max(parts["first"], parts["second"]) and df == 1


def test_poisson_fe_week_clustering_matches_statsmodels_glm():
    # Author-week counts with a shock shared by each week; the GLM with one dummy per author,
    # clustered by week and two ways, without statsmodels' (n - 1) / (n - K) (which counts every
    # dummy as a parameter; stats/poisson_fe.py uses G / (G - 1) alone).
    rng = np.random.default_rng(7)
    authors, weeks = 8, 14
    after = np.arange(weeks) >= 7
    exposure = rng.integers(1, 3, (authors, weeks)).astype(float)
    mean = exposure * np.exp(rng.normal(0, 0.5, authors)[:, None] + rng.normal(0, 0.4, weeks)[None, :] + 0.2 * after)
    counts = rng.poisson(mean).astype(float)
    fe = poisson_rate_ratio_author_fe(counts[:, after].sum(1), exposure[:, after].sum(1),
                                      counts[:, ~after].sum(1), exposure[:, ~after].sum(1))
    c = poisson_fe_contributions(counts, exposure, after, fe.extra["beta"])
    a, w = np.repeat(np.arange(authors), weeks), np.tile(np.arange(weeks), authors)
    X = np.column_stack([np.tile(after, authors).astype(float), (a[:, None] == np.arange(authors)).astype(float)])
    glm = sm.GLM(counts.ravel(), X, family=sm.families.Poisson(), offset=np.log(exposure.ravel()))
    assert glm.fit().params[0] == pytest.approx(fe.extra["beta"], abs=1e-8)
    # by author: the function's own CR1 variance
    assert one_way_var(c, a)[0] == pytest.approx(fe.extra["se"] ** 2, rel=1e-8)
    for groups, mine in ((w, lambda: one_way_var(c, w)[0]), (np.column_stack([a, w]), lambda: two_way_var(c, a, w)[0])):
        ref = glm.fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
        if groups.ndim == 1:
            g = len(set(w))
            assert mine() == pytest.approx(g / (g - 1) * ref.cov_params()[0, 0], rel=1e-6)
        else:
            v_a, v_w, v_aw = (glm.fit(cov_type="cluster", cov_kwds={"groups": k, "use_correction": False}).cov_params()[0, 0]
                              for k in (a, w, a * weeks + w))
            assert ref.cov_params()[0, 0] == pytest.approx(v_a + v_w - v_aw, rel=1e-6)
            ga, gw, gaw = authors, weeks, authors * weeks
            assert mine() == pytest.approx(ga / (ga - 1) * v_a + gw / (gw - 1) * v_w - gaw / (gaw - 1) * v_aw, rel=1e-6)
