"""The Poisson rate ratio with author fixed effects (stats/poisson_fe.py) against statsmodels' GLM
Poisson with one dummy per author and log exposure as offset: point and cluster-robust SE."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.api as sm

from loopmeter.stats.poisson_fe import poisson_rate_ratio_author_fe


def panel(rng, n=40):
    """Per author: active weeks before/after and validated changes; authors differ a lot in rate,
    a few are on one side only (hires, leavers) and one is active on both sides with no change."""
    speed = np.exp(rng.normal(0.0, 0.7, n))
    xb = rng.integers(1, 12, n).astype(float)
    xa = rng.integers(1, 12, n).astype(float)
    xb[:4] = 0.0  # hires: after only
    xa[4:7] = 0.0  # leavers: before only
    eb = rng.poisson(speed * xb * 1.2).astype(float)
    ea = rng.poisson(speed * xa * 1.2 * 1.4 * np.exp(rng.normal(0, 0.3, n))).astype(float)
    ea[7] = eb[7] = 0.0
    return ea, xa, eb, xb


def _glm(ea, xa, eb, xb):
    keep = (xa > 0) & (xb > 0) & (ea + eb > 0)
    rows = pd.DataFrame({"author": np.repeat(np.flatnonzero(keep), 2), "after": np.tile([1.0, 0.0], keep.sum()),
                         "y": np.column_stack([ea[keep], eb[keep]]).ravel(),
                         "x": np.column_stack([xa[keep], xb[keep]]).ravel()})
    X = pd.get_dummies(rows["author"], prefix="a", dtype=float)
    X.insert(0, "after", rows["after"])
    model = sm.GLM(rows["y"], X, family=sm.families.Poisson(), offset=np.log(rows["x"]))
    codes = pd.factorize(rows["author"])[0]
    return rows, model.fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": False}, tol=1e-12), keep


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_point_and_cluster_robust_se_equal_statsmodels_glm_with_author_dummies(seed):
    ea, xa, eb, xb = panel(np.random.default_rng(seed))
    _, ref, keep = _glm(ea, xa, eb, xb)
    est = poisson_rate_ratio_author_fe(ea, xa, eb, xb, conf=0.9)
    g = int(keep.sum())
    assert est.extra["beta"] == pytest.approx(ref.params["after"], rel=1e-6, abs=1e-9)
    assert est.ratio == pytest.approx(math.exp(ref.params["after"]), rel=1e-6)
    # statsmodels without its correction, times the G / (G - 1) this estimator uses.
    assert est.extra["se"] == pytest.approx(ref.bse["after"] * math.sqrt(g / (g - 1)), rel=1e-6)
    t = scipy.stats.t.ppf(0.95, g - 1)
    b, se = ref.params["after"], ref.bse["after"] * math.sqrt(g / (g - 1))
    assert (est.ci_low, est.ci_high) == pytest.approx((math.exp(b - t * se), math.exp(b + t * se)), rel=1e-6)
    assert est.extra["n_identifying_authors"] == g and g <= 40 - 8  # hires, leavers, the idle one out
    assert est.extra["n_identifying_changes"] == int(ea[keep].sum() + eb[keep].sum())
    assert est.n_clusters == 40 and est.n_a == int(ea.sum()) and est.n_b == int(eb.sum())


def test_a_shift_in_who_is_active_moves_the_pooled_ratio_but_not_this_one():
    # Two fast people work throughout at 1.5x their old rate; three slow hires join after.
    ea, xa = np.array([30.0, 30.0, 2.0, 2.0, 2.0]), np.array([10.0, 10.0, 10.0, 10.0, 10.0])
    eb, xb = np.array([20.0, 20.0, 0.0, 0.0, 0.0]), np.array([10.0, 10.0, 0.0, 0.0, 0.0])
    est = poisson_rate_ratio_author_fe(ea, xa, eb, xb)
    assert est.ratio == pytest.approx(1.5, rel=1e-12)  # both rates exactly 1.5x: the MLE is exact
    assert (ea.sum() / xa.sum()) / (eb.sum() / xb.sum()) < 1.0  # the pooled ratio says "slower"
    assert est.extra["n_identifying_authors"] == 2


def test_no_author_on_both_sides_gives_no_number_and_says_why():
    est = poisson_rate_ratio_author_fe([5, 0], [3, 0], [0, 4], [0, 2], labels=("after", "before"))
    assert est.ratio is None and est.ci_low is None and est.extra["n_identifying_authors"] == 0
    assert est.caveats[0].startswith("No author is active with validated changes in both after and before")


def test_no_event_on_one_side_of_the_fit_gives_no_number():
    est = poisson_rate_ratio_author_fe([0, 0], [3, 2], [4, 5], [2, 2])
    assert est.ratio is None and "rate ratio is 0" in est.caveats[0]


def test_events_without_exposure_are_refused():
    with pytest.raises(ValueError, match="zero exposure"):
        poisson_rate_ratio_author_fe([1], [0], [1], [1])


def test_one_author_on_both_sides_has_a_ratio_but_no_interval():
    est = poisson_rate_ratio_author_fe([6, 3], [2, 3], [2, 0], [2, 0])
    assert est.ratio == pytest.approx(3.0) and est.ci_low is None and est.ci_high is None
    assert est.extra["n_identifying_authors"] == 1 and est.n_clusters == 2
    assert any("no cluster-robust interval" in c for c in est.caveats)


def test_the_interval_covers_a_planted_same_people_lift_about_95_percent_of_the_time():
    # Twelve authors with very different rates, over-dispersed weekly counts (gamma-Poisson), each
    # 1.5x faster after: the cluster-robust interval should cover 1.5 close to 95% of the time.
    rng = np.random.default_rng(0)
    hits, reps = 0, 600
    for _ in range(reps):
        speed = 2.0 * np.exp(rng.normal(0, 0.7, 12))
        xb, xa = rng.integers(4, 9, 12).astype(float), rng.integers(4, 9, 12).astype(float)
        eb = np.array([rng.poisson(rng.gamma(2, s / 2, int(w))).sum() for s, w in zip(speed, xb)], float)
        ea = np.array([rng.poisson(rng.gamma(2, 1.5 * s / 2, int(w))).sum() for s, w in zip(speed, xa)], float)
        est = poisson_rate_ratio_author_fe(ea, xa, eb, xb)
        hits += est.ci_low < 1.5 < est.ci_high
    assert 0.90 <= hits / reps <= 0.98


def test_authors_whose_counts_fit_the_ratio_exactly_get_no_zero_width_interval():
    # Both authors doubled their rate exactly: every author's score is zero at the MLE, so the
    # sandwich is zero; an interval [2.00, 2.00] would claim certainty two people cannot give.
    est = poisson_rate_ratio_author_fe([4, 8], [2, 4], [1, 2], [1, 2])
    assert est.ratio == pytest.approx(2.0)  # by hand: each author's rate after is twice before
    assert est.ci_low is None and est.ci_high is None and est.p_value is None
    assert any("exactly" in c and "no interval" in c for c in est.caveats)
