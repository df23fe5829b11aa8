"""Interrupted time series: checked against statsmodels' formula API, a hand-computed Newey-West
covariance, and simulations with a planted level change."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from loopmeter.stats.its import (
    break_index_for,
    interrupted_time_series,
    newey_west_maxlags,
    placebo_breaks,
)


def _frame(y, b):
    t = np.arange(len(y))
    return pd.DataFrame(
        {"y": y, "t": t, "post": (t >= b).astype(int), "since": np.maximum(0, t - b)}
    )


def _hac(lags):
    # The options the module documents: Newey-West, n/(n-k) correction, Student's t intervals.
    return {"cov_type": "HAC", "cov_kwds": {"maxlags": lags, "use_correction": True}, "use_t": True}


def _planted_counts(rng, *, n=80, b=40, base=20.0, trend=0.004, ratio=1.5, overdispersion=0.0):
    t = np.arange(n)
    mu = np.exp(np.log(base) + trend * t + np.log(ratio) * (t >= b))
    if overdispersion > 0:  # gamma-Poisson: variance mu + overdispersion * mu^2
        mu = rng.gamma(1 / overdispersion, mu * overdispersion)
    return rng.poisson(mu)


def test_newey_west_rule_of_thumb():
    assert newey_west_maxlags(52) == 3  # 4 * 0.52^(2/9) = 3.46
    assert newey_west_maxlags(104) == 4  # 4 * 1.04^(2/9) = 4.03
    assert newey_west_maxlags(100) == 4


def test_ols_matches_formula_api_and_hand_computed_newey_west():
    rng = np.random.default_rng(1)
    n, b = 70, 30
    e = np.zeros(n)
    for i in range(1, n):  # AR(1) noise: what HAC is for
        e[i] = 0.5 * e[i - 1] + rng.normal(0, 3)
    y = 40 + 0.2 * np.arange(n) - 8 * (np.arange(n) >= b) + e
    res = interrupted_time_series(y, b, model="ols")
    lags = newey_west_maxlags(n)
    ref = smf.ols("y ~ t + post + since", data=_frame(y, b)).fit(**_hac(lags))
    assert res.maxlags == lags
    assert res.level_change == pytest.approx(ref.params["post"], abs=1e-6)
    assert res.slope_change == pytest.approx(ref.params["since"], abs=1e-6)
    assert res.pre_slope == pytest.approx(ref.params["t"], abs=1e-6)
    lo, hi = ref.conf_int(alpha=0.05).loc["post"]
    assert (res.level_ci_low, res.level_ci_high) == pytest.approx((lo, hi), abs=1e-6)
    assert res.level_p_value == pytest.approx(ref.pvalues["post"], abs=1e-6)

    # Newey-West by hand: Bartlett weights 1 - l/(L+1), times the small-sample factor n/(n-k).
    X = np.column_stack([np.ones(n), np.arange(n), np.arange(n) >= b, np.maximum(0, np.arange(n) - b)]).astype(float)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    u = y - X @ beta
    meat = (X * u[:, None] ** 2).T @ X
    for lag in range(1, lags + 1):
        g = (X[lag:] * (u[lag:] * u[:-lag])[:, None]).T @ X[:-lag]
        meat += (1 - lag / (lags + 1)) * (g + g.T)
    bread = np.linalg.inv(X.T @ X)
    se = np.sqrt(np.diag(bread @ meat @ bread) * n / (n - 4))
    assert res.std_errors["post"] == pytest.approx(se[2], rel=1e-9)
    assert res.std_errors["t_since_break"] == pytest.approx(se[3], rel=1e-9)
    json.dumps(res.to_dict(), allow_nan=False)


def test_poisson_matches_formula_api_as_rate_ratio():
    y = _planted_counts(np.random.default_rng(2))
    res = interrupted_time_series(y, 40, model="poisson", maxlags=2)
    ref = smf.glm("y ~ t + post + since", data=_frame(y, 40), family=sm.families.Poisson()).fit(
        **_hac(2)
    )
    assert res.scale == "rate_ratio"
    assert res.level_change == pytest.approx(math.exp(ref.params["post"]), abs=1e-6)
    lo, hi = np.exp(ref.conf_int(alpha=0.05).loc["post"])
    assert (res.level_ci_low, res.level_ci_high) == pytest.approx((lo, hi), abs=1e-6)
    assert res.slope_change == pytest.approx(math.exp(ref.params["since"]), abs=1e-6)
    assert res.level_p_value == pytest.approx(ref.pvalues["post"], abs=1e-6)


def test_negative_binomial_matches_formula_api_as_rate_ratio():
    y = _planted_counts(np.random.default_rng(3), overdispersion=0.1)
    res = interrupted_time_series(y, 40, model="negbin")
    lags = newey_west_maxlags(80)
    ref = smf.negativebinomial("y ~ t + post + since", data=_frame(y, 40)).fit(
        disp=0, maxiter=200, **_hac(lags)
    )
    assert res.level_change == pytest.approx(math.exp(ref.params["post"]), abs=1e-6)
    lo, hi = np.exp(ref.conf_int(alpha=0.05).loc["post"])
    assert (res.level_ci_low, res.level_ci_high) == pytest.approx((lo, hi), abs=1e-6)
    assert res.slope_change == pytest.approx(math.exp(ref.params["since"]), abs=1e-6)


@pytest.mark.parametrize("model", ["poisson", "negbin"])
def test_planted_one_and_a_half_level_change_is_inside_the_interval(model):
    y = _planted_counts(np.random.default_rng(4), overdispersion=0.05)
    res = interrupted_time_series(y, 40, model=model)
    assert res.level_ci_low <= 1.5 <= res.level_ci_high
    assert res.level_ci_low > 1.0  # and it is detected
    assert res.slope_ci_low <= 1.0 <= res.slope_ci_high  # no slope change was planted


def test_overdispersed_counts_warn_under_poisson():
    y = _planted_counts(np.random.default_rng(5), overdispersion=0.3)
    res = interrupted_time_series(y, 40, model="poisson")
    assert any("negative binomial" in c for c in res.caveats)


def test_a_side_without_counts_gives_no_rate_ratio_and_says_why():
    y = np.r_[np.zeros(20), np.random.default_rng(0).poisson(5, 20)]
    res = interrupted_time_series(y, 20, model="poisson")
    d = res.to_dict()
    assert d["level_change"] is None and d["level_ci_low"] is None
    assert "No counts at all before" in res.caveats[0]
    json.dumps(d, allow_nan=False)
    placebo = placebo_breaks(y, 20, model="poisson")
    assert placebo.p_value is None
    json.dumps(placebo.to_dict(), allow_nan=False)


def test_short_sides_are_caveated_and_too_short_rejected():
    y = np.arange(20.0)
    res = interrupted_time_series(y + np.random.default_rng(0).normal(0, 1, 20), 5)
    assert any("Only 5 weeks before" in c for c in res.caveats)
    with pytest.raises(ValueError, match="fewer than 3 weeks"):
        interrupted_time_series(y, 2)
    with pytest.raises(ValueError, match="whole non-negative"):
        interrupted_time_series(y + 0.5, 10, model="poisson")
    with pytest.raises(ValueError, match="NaN"):
        interrupted_time_series(np.r_[y[:-1], np.nan], 10)


def test_placebos_use_each_side_alone_and_give_a_permutation_p_value():
    rng = np.random.default_rng(6)
    y = _planted_counts(rng, n=60, b=30, ratio=2.0)
    res = placebo_breaks(y, 30, model="poisson", min_side=8)
    # Eligible fake breaks: 8..22 within each 30-week side, so 15 per side.
    assert res.placebo_indices == tuple(range(8, 23)) + tuple(range(38, 53))
    # Each placebo effect is the model refitted on its side alone, checked against statsmodels.
    k = res.placebo_indices.index(41)
    seg = y[30:]
    lags = newey_west_maxlags(30)
    ref = smf.glm("y ~ t + post + since", data=_frame(seg, 11), family=sm.families.Poisson()).fit(
        **_hac(lags)
    )
    assert res.placebo_effects[k] == pytest.approx(ref.params["post"], abs=1e-6)
    extreme = sum(abs(e) >= abs(res.real_effect) for e in res.placebo_effects)
    assert res.p_value == pytest.approx((1 + extreme) / 31)
    assert res.p_value < 0.1  # a doubling stands out among placebos
    json.dumps(res.to_dict(), allow_nan=False)


def test_placebo_p_value_is_not_small_without_an_effect():
    y = _planted_counts(np.random.default_rng(7), n=60, b=30, ratio=1.0, trend=0.0)
    res = placebo_breaks(y, 30, model="poisson", min_side=8)
    assert res.p_value > 0.1


def test_no_eligible_placebo_is_said():
    y = _planted_counts(np.random.default_rng(8), n=20, b=10)
    res = placebo_breaks(y, 10, model="poisson", min_side=8)
    assert res.p_value is None and res.n_placebos == 0
    assert any("No week" in c for c in res.caveats)


def test_break_index_for_dates():
    weeks = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    assert break_index_for(weeks, "2026-01-12") == 1
    assert break_index_for(weeks, "2026-01-14") == 2
    with pytest.raises(ValueError, match="consecutive"):
        break_index_for(["2026-01-05", "2026-01-19"], "2026-01-10")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["poisson", "negbin"])
def test_level_change_interval_covers_the_planted_ratio(model):
    # Five years of weeks: below that the module caveats that Newey-West runs narrow.
    rng = np.random.default_rng(100)
    hits, n_sets = 0, 300
    for _ in range(n_sets):
        y = _planted_counts(rng, n=260, b=130, trend=0.002, overdispersion=0.05)
        res = interrupted_time_series(y, 130, model=model)
        assert not any("run narrow" in c for c in res.caveats)
        hits += res.level_ci_low <= 1.5 <= res.level_ci_high
    assert 0.90 <= hits / n_sets <= 0.99, hits / n_sets


@pytest.mark.slow
def test_two_years_undercover_as_the_caveat_says():
    # The caveat's claim ("about 90% with two years"), measured: it must stay true.
    rng = np.random.default_rng(101)
    hits, n_sets = 0, 300
    for _ in range(n_sets):
        y = _planted_counts(rng, n=104, b=52, overdispersion=0.05)
        res = interrupted_time_series(y, 52, model="poisson")
        hits += res.level_ci_low <= 1.5 <= res.level_ci_high
    assert 0.85 <= hits / n_sets <= 0.95, hits / n_sets


def test_short_series_say_their_intervals_run_narrow():
    y = _planted_counts(np.random.default_rng(9), n=104, b=52)
    res = interrupted_time_series(y, 52, model="poisson")
    assert any("run narrow" in c for c in res.caveats)


@pytest.mark.parametrize("model", ["ols", "poisson"])
def test_a_series_the_model_fits_exactly_has_no_interval_and_says_why(model):
    # A constant series (or an exact line with a jump) leaves no residual: the HAC sandwich is
    # zero, so the interval would have zero width and the p-value would be rounding noise.
    t = np.arange(40.0)
    for y in (np.full(40, 5.0), 10.0 + 2.0 * t + 6.0 * (t >= 20)):
        if model == "poisson" and y[0] != 5.0:
            y = np.full(40, 7.0)
        res = interrupted_time_series(y, 20, model=model)
        d = res.to_dict()
        assert d["level_ci_low"] is None and d["level_ci_high"] is None and d["level_p_value"] is None
        assert d["slope_ci_low"] is None and d["slope_ci_high"] is None
        assert any("fits every week exactly" in c for c in res.caveats)
        json.dumps(d, allow_nan=False)
    # The point estimate is still the exact one: no jump in a constant series.
    assert interrupted_time_series(np.full(40, 5.0), 20, model=model).level_change == pytest.approx(
        0.0 if model == "ols" else 1.0, abs=1e-9
    )
