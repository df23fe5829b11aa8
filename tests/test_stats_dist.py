"""stats/dist.py gives scipy.stats' numbers to the last bit (it calls the special functions
scipy.stats' distributions call), so replacing scipy.stats with it changed no report."""

import numpy as np
import pytest
import scipy.stats

from loopmeter.stats import dist

Q = np.array([0.0, 1e-12, 0.001, 0.025, 0.05, 0.25, 0.5, 0.75, 0.8, 0.95, 0.975, 0.999, 1.0 - 1e-12, 1.0])
X = np.array([-np.inf, -40.0, -3.2, -1.96, -0.5, 0.0, 0.3, 1.0, 2.5, 8.0, 40.0, np.inf])
DF = [1.0, 2.0, 3.5, 7.0, 29.0, 120.0, 1e6]


def _same(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True), (a, b)


@pytest.mark.parametrize("df", DF)
def test_t_quantiles_and_tails_equal_scipy_stats(df):
    _same(dist.t_ppf(Q, df), scipy.stats.t.ppf(Q, df))
    _same(dist.t_sf(X, df), scipy.stats.t.sf(X, df))
    for q in (0.975, 0.995):
        assert float(dist.t_ppf(q, df)) == float(scipy.stats.t.ppf(q, df))
    # Arrays of degrees of freedom, as did.py passes them.
    dfs = np.array(DF)
    _same(dist.t_sf(np.full(dfs.size, 2.1), dfs), scipy.stats.t.sf(2.1, dfs))


@pytest.mark.parametrize("df", [2.0, 7.0, 29.0])
def test_t_interval_equals_scipy_stats(df):
    for beta, se, conf in ((0.4, 0.15, 0.95), (-1.2, 0.9, 0.9), (0.0, 0.3, 0.99)):
        lo, hi, p = dist.t_interval(beta, se, df, conf)
        ref_lo, ref_hi = scipy.stats.t.interval(conf, df, loc=beta, scale=se)
        assert lo == pytest.approx(ref_lo, rel=1e-14) and hi == pytest.approx(ref_hi, rel=1e-14)
        assert p == pytest.approx(scipy.stats.t.sf(abs(beta) / se, df) * 2, rel=1e-14)
    # Hand-worked: on 1 df the 95% quantile is tan(0.475 pi) = 12.7062...; a t of 1 has p 0.5.
    lo, hi, p = dist.t_interval(1.0, 1.0, 1.0, 0.95)
    assert hi - 1.0 == pytest.approx(np.tan(0.475 * np.pi), rel=1e-12) and p == pytest.approx(0.5, rel=1e-14)
    # No spread: the point itself, p 0 for a non-zero estimate, 1 for zero.
    assert dist.t_interval(0.5, 0.0, df, 0.95) == (0.5, 0.5, 0.0)
    assert dist.t_interval(0.0, 0.0, df, 0.95) == (0.0, 0.0, 1.0)


def test_normal_chi2_and_f_equal_scipy_stats():
    _same(dist.norm_ppf(Q), scipy.stats.norm.ppf(Q))
    _same(dist.norm_isf(Q), scipy.stats.norm.isf(Q))
    for df in (1, 2, 5):
        _same(dist.chi2_sf(np.abs(X), df), scipy.stats.chi2.sf(np.abs(X), df))
    for dfn, dfd in ((1, 3), (4, 19), (10, 200)):
        _same(dist.f_sf(np.abs(X), dfn, dfd), scipy.stats.f.sf(np.abs(X), dfn, dfd))
    # Outside [0, 1] a quantile is unknown, as in scipy.stats.
    assert np.isnan(dist.norm_ppf(1.5)) and np.isnan(dist.t_ppf(-0.1, 3.0))


def test_rankdata_equals_scipy_average_ranks():
    rng = np.random.default_rng(7)
    cases = [
        np.array([]),
        np.array([3.0]),
        np.array([2.0, 2.0, 2.0]),
        np.array([1.0, 3.0, 2.0, 3.0, 1.0, 5.0]),
        rng.integers(0, 6, 200).astype(float),  # many ties
        rng.normal(size=333),
        np.log(rng.exponential(size=50)) - np.log(rng.exponential(size=50)),
        np.array([-np.inf, 0.0, np.inf, 0.0]),
        np.array([1.0, np.nan, 0.5]),  # NaN propagates, as scipy's default policy
        np.array([4, 1, 4, 2]),  # integers
    ]
    for a in cases:
        _same(dist.rankdata(a), scipy.stats.rankdata(a))
    # Hand-worked: ties share the mean of their positions.
    assert dist.rankdata([10, 20, 10, 30]).tolist() == [1.5, 3.0, 1.5, 4.0]


def test_mann_whitney_p_equals_scipy_to_the_bit():
    # Both methods scipy's "auto" picks: exact (a sample of at most 8, no ties), normal with the
    # tie and continuity corrections otherwise; ties, one-value samples, all-equal samples.
    rng = np.random.default_rng(3)
    seen = set()
    for n1 in (1, 2, 5, 8, 9, 14):
        for n2 in (1, 3, 8, 9, 30):
            a, b = rng.lognormal(0, 1, n1), rng.lognormal(0.4, 1, n2)
            for x, y in ((a, b), (np.round(a) + 1, np.round(b) + 1), (b, a), (np.full(n1, 2.0), np.full(n2, 2.0))):
                ref = scipy.stats.mannwhitneyu(x, y, alternative="two-sided")
                assert dist.mann_whitney_p(x, y) == ref.pvalue, (x, y)
                seen.add("exact" if min(n1, n2) <= 8 and len(np.unique(np.concatenate([x, y]))) == n1 + n2 else "normal")
    assert seen == {"exact", "normal"}
    # Hand-worked: a = {1, 2}, b = {3, 4, 5}: U = 6 of 6, P(U >= 6) = 1 / C(5, 2); two-sided 0.2.
    assert dist.mann_whitney_p([1.0, 2.0], [3.0, 4.0, 5.0]) == pytest.approx(0.2, abs=1e-15)


def test_special_functions_are_scipy_specials_to_the_bit():
    import scipy.special

    from loopmeter.stats.special import special

    x = np.array([0.05, 0.5, 1.0, 2.5, 7.0, 30.0, 1e3])
    assert np.array_equal(special.gammaln(x), scipy.special.gammaln(x))
    assert np.array_equal(special.digamma(x), scipy.special.digamma(x))
    for n in (0, 1, 2):
        assert np.array_equal(special.polygamma(n, x), scipy.special.polygamma(n, x))
    assert np.array_equal(special.binom(10.0, np.arange(11.0)), scipy.special.binom(10.0, np.arange(11.0)))
    assert np.array_equal(special.ndtr(X), scipy.special.ndtr(X))
    assert np.array_equal(special.ndtri(Q), scipy.special.ndtri(Q), equal_nan=True)


def test_the_whole_package_stands_in_when_scipys_private_module_is_gone(monkeypatch):
    # stats/special.py reads scipy's private `_ufuncs`; a scipy without it must cost the whole
    # package's import, never the report. Both routes give the same functions' values.
    import scipy.special

    from loopmeter.stats import special as mod

    def gone():
        raise ImportError("no scipy.special._ufuncs")

    monkeypatch.setattr(mod, "_ufuncs", gone)
    with pytest.raises(ImportError):
        mod._from_ufuncs()
    whole = mod._whole()
    x = np.array([0.05, 0.5, 1.0, 2.5, 7.0])
    for name in ("ndtr", "gammaln", "digamma"):
        assert np.array_equal(getattr(whole, name)(x), getattr(mod.special, name)(x))
    assert np.array_equal(whole.polygamma(1, x), mod.special.polygamma(1, x))
    assert whole.ndtr is scipy.special.ndtr
