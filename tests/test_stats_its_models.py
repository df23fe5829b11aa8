"""stats/its_models.py against statsmodels itself, which fitted the ITS before (its import was a
fifth of every report's start-up): OLS and the Poisson GLM with Newey-West errors agree to
rounding (the same IRLS iterations), the negative binomial with statsmodels' Newton fit (its
default BFGS stops ~1e-6 short of the maximum; the module says so). Edge cases: a boundary
maximum (counts less spread than a Poisson's), a fit that does not converge, the overdispersion
figure the Poisson caveat quotes."""

import warnings

import numpy as np
import pytest
from statsmodels.discrete.discrete_model import NegativeBinomial
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS

from loopmeter.stats.its import interrupted_time_series, its_design, newey_west_maxlags
from loopmeter.stats.its_models import fit_model


def _hac(lags):
    return {"cov_type": "HAC", "cov_kwds": {"maxlags": lags, "use_correction": True}, "use_t": True}


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _series():
    """(name, counts, break) of several lengths and shapes: trend, jump, overdispersion, zeros."""
    rng = np.random.default_rng(4)
    out = []
    for n, b, disp in ((16, 8, 0.0), (33, 16, 0.5), (52, 26, 1.0), (104, 40, 0.3)):
        t = np.arange(n)
        lam = np.exp(1.2 + 0.01 * t + 0.4 * (t >= b))
        mult = rng.gamma(1 / disp, disp, n) if disp else 1.0
        out.append((f"n{n}", rng.poisson(lam * mult).astype(float), b))
    out.append(("sparse", np.array([0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 1, 0], float), 10))
    return out


def _compare(got, ref, tol):
    ci = np.asarray(ref.conf_int(alpha=0.05))[:4]
    assert _rel(got.params, np.asarray(ref.params)[:4]) < tol
    assert _rel(got.bse, np.asarray(ref.bse)[:4]) < tol
    assert _rel(got.ci_low, ci[:, 0]) < tol and _rel(got.ci_high, ci[:, 1]) < tol
    assert _rel(got.pvalues, np.asarray(ref.pvalues)[:4]) < 100 * tol  # small p-values lose digits in the tail


@pytest.mark.parametrize("name,y,b", _series(), ids=lambda v: v if isinstance(v, str) else "")
def test_ols_and_poisson_equal_statsmodels_to_rounding(name, y, b):
    X = its_design(y.size, b)
    lags = newey_west_maxlags(y.size)
    yl = np.log1p(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_ols = OLS(yl, X).fit(**_hac(lags))
        ref_poi = GLM(y, X, family=families.Poisson()).fit(**_hac(lags))
    _compare(fit_model(yl, X, "ols", lags, 0.05), ref_ols, 1e-10)
    got = fit_model(y, X, "poisson", lags, 0.05)
    _compare(got, ref_poi, 1e-10)
    assert got.converged == ref_poi.converged
    assert got.pearson_dispersion == pytest.approx(ref_poi.pearson_chi2 / ref_poi.df_resid, rel=1e-10)
    assert _rel(got.fitted, ref_poi.predict()) < 1e-10


@pytest.mark.parametrize("name,y,b", _series()[1:], ids=lambda v: v if isinstance(v, str) else "")
def test_negative_binomial_reaches_statsmodels_maximum(name, y, b):
    X = its_design(y.size, b)
    lags = newey_west_maxlags(y.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        newton = NegativeBinomial(y, X, loglike_method="nb2").fit(
            method="newton", maxiter=300, tol=1e-14, disp=0, **_hac(lags))
        bfgs = NegativeBinomial(y, X, loglike_method="nb2").fit(disp=0, maxiter=200, **_hac(lags))
    got = fit_model(y, X, "negbin", lags, 0.05)
    assert got.converged
    _compare(got, newton, 1e-8)
    assert got.alpha == pytest.approx(newton.params[-1], rel=1e-8)
    # statsmodels' default (what the report used before) stops at BFGS's gradient tolerance: a
    # difference far inside the standard error.
    se = np.asarray(bfgs.bse)[:4]
    assert np.all(np.abs(got.params - np.asarray(bfgs.params)[:4]) < 1e-3 * se)
    assert np.all(np.abs(got.bse - se) < 1e-3 * se)
    # It is the maximum: the log-likelihood is no lower than statsmodels' at either fit.
    ll = newton.model.loglike  # in (beta, alpha) once fitted
    assert ll(np.append(got.params, got.alpha)) >= max(newton.llf, bfgs.llf) - 1e-9


def test_counts_less_spread_than_a_poisson_give_the_poisson_fit_at_the_boundary():
    # NB2's maximum is at alpha -> 0: the Poisson fit. It counts as converged (so the report can
    # use it), as statsmodels' BFGS does.
    y = np.array([5, 5, 6, 5, 4, 5, 5, 6, 5, 5, 7, 6, 7, 7, 6, 7, 7, 8, 7, 7], float)
    X = its_design(y.size, 10)
    nb, poi = fit_model(y, X, "negbin", 2, 0.05), fit_model(y, X, "poisson", 2, 0.05)
    assert nb.converged and nb.alpha < 1e-6
    assert _rel(nb.params, poi.params) < 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = NegativeBinomial(y, X, loglike_method="nb2").fit(disp=0, maxiter=200, **_hac(2))
    assert ref.mle_retvals["converged"]
    assert np.all(np.abs(nb.params - np.asarray(ref.params)[:4]) < 1e-3 * np.asarray(ref.bse)[:4])


def test_a_fit_running_off_to_infinity_is_not_converged_and_says_so():
    # Counts vanish a few weeks before the break: the pre-break trend runs to minus infinity, NB2's
    # dispersion to zero. statsmodels does not converge either.
    y = np.array([9, 3, 1, 0, 0, 0, 0, 0, 0, 0, 4, 5, 3, 6, 4, 5, 4, 6, 5, 5], float)
    X = its_design(y.size, 10)
    assert not fit_model(y, X, "negbin", 2, 0.05).converged
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = NegativeBinomial(y, X, loglike_method="nb2").fit(disp=0, maxiter=200, **_hac(2))
    assert not ref.mle_retvals["converged"]
    res = interrupted_time_series(y, 10, model="negbin", interval="hac")
    assert any("did not converge" in c for c in res.caveats)


def test_overdispersed_counts_are_caveated_with_statsmodels_figure():
    y = _series()[2][1]
    X = its_design(y.size, 26)
    res = interrupted_time_series(y, 26, model="poisson", interval="hac")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GLM(y, X, family=families.Poisson()).fit()
    disp = ref.pearson_chi2 / ref.df_resid
    assert disp > 1.5
    assert any(f"vary {disp:.1f}x more than a Poisson" in c for c in res.caveats)


@pytest.mark.parametrize("model", ["ols", "poisson", "negbin"])
def test_an_exact_fit_has_no_interval(model):
    t = np.arange(24, dtype=float)
    y = 3.0 + 0.5 * t + 2.0 * (t >= 12) if model == "ols" else np.round(np.exp(1.0 + 0.05 * t + 0.5 * (t >= 12)) * 1e6)
    res = interrupted_time_series(y, 12, model=model, interval="hac")
    if model == "ols":
        assert res.level_change == pytest.approx(2.0, abs=1e-9)
        assert np.isnan(res.level_ci_low) and any("fits every week exactly" in c for c in res.caveats)
    else:  # counts rounded to whole numbers leave a residual far below the fit's tolerance
        assert res.level_change == pytest.approx(np.exp(0.5), rel=1e-6)
