"""stats/hac.py: the Bartlett sum against statsmodels' S_hac_simple and a hand-worked series, and its
two shapes (a score matrix, a batch of one-coefficient scores) against each other."""

import numpy as np
from statsmodels.stats.sandwich_covariance import S_hac_simple

from loopmeter.stats.hac import bartlett_meat, hac_cov, newey_west_variance


def test_bartlett_meat_equals_statsmodels():
    rng = np.random.default_rng(3)
    xu = rng.normal(size=(40, 4))
    for lags in (0, 1, 3, 7):
        ref = S_hac_simple(xu, nlags=lags)
        assert np.allclose(bartlett_meat(xu, lags), ref, rtol=1e-12, atol=1e-12)
    # More lags than rows: the lags past the series add nothing (statsmodels agrees).
    short = xu[:5, :2]
    assert np.allclose(bartlett_meat(short, 7), S_hac_simple(short, nlags=7), rtol=1e-12, atol=1e-12)
    # By hand for one series: lags 1 and 2 of (1, 2) with weights 2/3 and 1/3: 5 + 2 * (2/3) * 2 = 23/3.
    assert np.isclose(newey_west_variance(np.array([1.0, 2.0]), 2), 23 / 3, rtol=1e-15)


def test_newey_west_variance_by_hand():
    # v = (1, 2, 3), one lag (weight 1/2): 1 + 4 + 9 + 2 * 0.5 * (2*1 + 3*2) = 22.
    assert newey_west_variance(np.array([1.0, 2.0, 3.0]), 1) == 22.0
    # Two lags (weights 2/3, 1/3): 14 + 2 * (2/3) * 8 + 2 * (1/3) * 3 = 14 + 32/3 + 2.
    assert np.isclose(newey_west_variance(np.array([1.0, 2.0, 3.0]), 2), 14 + 32 / 3 + 2, rtol=1e-15)


def test_batched_variance_is_each_replicates_own_meat():
    rng = np.random.default_rng(4)
    v = rng.normal(size=(2, 5, 30))  # any leading axes: one variance per replicate
    got = newey_west_variance(v, 3)
    assert got.shape == (2, 5)
    for i in range(2):
        for j in range(5):
            assert np.isclose(got[i, j], bartlett_meat(v[i, j][:, None], 3)[0, 0], rtol=1e-13)


def test_hac_cov_is_the_corrected_sandwich():
    rng = np.random.default_rng(5)
    score, bread = rng.normal(size=(25, 3)), rng.normal(size=(3, 3))
    ref = bread @ S_hac_simple(score, nlags=2) @ bread.T * 25 / 22
    assert np.allclose(hac_cov(bread, score, 2), ref, rtol=1e-12)
