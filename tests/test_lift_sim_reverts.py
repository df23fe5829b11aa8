"""Reverts planted by the simulation generator (tests/lift_sim.py `reverts`) and the revert-rate
candidates' variance (bench/verdict_sim.py --direct-reverts) against statsmodels."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lift_sim import REVERT_SCENARIOS, START, Team, events, revert_team, reverts, scenario_teams  # noqa: E402
from loopmeter.stats.rates import rate_ratio_cr1  # noqa: E402
from loopmeter.stats.twoway import one_way_var, two_way_var  # noqa: E402


def _rows(team, seed):
    ev = events(team, np.random.default_rng(seed))
    week = np.array([(d - START).days // 7 for d, *_ in ev])
    author = np.array([a for _, _, a, _, _ in ev])
    return ev, week, author, week >= team.adoption_week


def test_planting_reverts_leaves_every_other_draw_unchanged():
    for name in ("null", "null_people", "null_weeks"):
        (plain,) = scenario_teams(name)
        assert events(plain, np.random.default_rng(3)) == events(revert_team(name), np.random.default_rng(3))
    # and without a revert probability nothing is reverted
    ev = events(Team(), np.random.default_rng(1))
    assert not reverts(Team(), ev, 1).any()


def test_planted_probability_and_ratio_are_what_is_drawn():
    # Pooled over 60 seeds (about 35,000 changes a side) the rates are the planted 3% and 1.5%
    # within four binomial standard errors.
    team = revert_team("effect_reverts")
    counts = np.zeros((2, 2))  # [after?][reverted, changes]
    for seed in range(60):
        ev, _, _, after = _rows(team, seed)
        rv = reverts(team, ev, seed)
        counts[1] += rv[after].sum(), after.sum()
        counts[0] += rv[~after].sum(), (~after).sum()
    for (k, n), p in zip(counts, (0.03, 0.015)):
        assert abs(k / n - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_week_shocks_make_weeks_vary_more_than_chance():
    # A week's reverts per change vary across weeks about as binomial chance allows without the
    # shock, and more with it (log sd 0.5: the dispersion 1 + n p (exp(0.25) (exp(0.25) - 1))), pooled over 30 seeds.
    def dispersion(team):
        ratios = []
        for seed in range(30):
            ev, week, _, _ = _rows(team, seed)
            rv = reverts(team, ev, seed)
            k, n = np.bincount(week, rv), np.bincount(week)
            p = k.sum() / n.sum()
            ratios.append(np.sum((k - n * p) ** 2 / (n * p * (1 - p))) / (len(n) - 1))  # Pearson dispersion
        return float(np.mean(ratios))

    plain, shocked = dispersion(revert_team("null")), dispersion(revert_team("null_weeks"))
    assert 0.8 < plain < 1.2
    assert shocked > 1.15  # expected about 1 + 0.75 x 0.37 = 1.28 (0.75 reverts a week)


def test_the_candidates_variances_match_statsmodels_poisson_glm_clustered():
    # A Poisson GLM of reverted on an after dummy, one row per change: the coefficient is the log
    # rate ratio, and its cluster-robust variance (by author, by week, two ways; statsmodels'
    # use_correction=False, then the G / (G - 1) factors) is what the bench computes from each
    # change's contribution; by author it is rate_ratio_cr1's on the author x period cells.
    team = dataclasses.replace(revert_team("null_weeks"), revert_p=0.08, revert_author_sd=0.5)
    ev, week, author, after = _rows(team, 5)
    y = reverts(team, ev, 5).astype(float)
    X = np.column_stack([np.ones(len(y)), after.astype(float)])
    glm = sm.GLM(y, X, family=sm.families.Poisson())
    fa, fb = y[after].sum(), y[~after].sum()
    ra, rb = fa / after.sum(), fb / (~after).sum()
    assert glm.fit().params[1] == pytest.approx(np.log(ra / rb), abs=1e-8)
    c = np.where(after, (y - ra) / fa, -(y - rb) / fb)

    def sm_var(groups):
        return glm.fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}).cov_params()[1, 1]

    ga, gw = len(set(author)), len(set(week))
    v_a, v_w = sm_var(author), sm_var(week)
    assert one_way_var(c, author)[0] == pytest.approx(ga / (ga - 1) * v_a, rel=1e-6)
    assert one_way_var(c, week)[0] == pytest.approx(gw / (gw - 1) * v_w, rel=1e-6)
    cells = author * 100 + week
    gaw = len(set(cells))
    assert sm_var(np.column_stack([author, week])) == pytest.approx(v_a + v_w - sm_var(cells), rel=1e-6)
    assert two_way_var(c, author, week)[0] == pytest.approx(
        ga / (ga - 1) * v_a + gw / (gw - 1) * v_w - gaw / (gaw - 1) * sm_var(cells), rel=1e-6)
    g = author.max() + 1
    arrays = (np.bincount(author[after], y[after], g), np.bincount(author[after], minlength=g),
              np.bincount(author[~after], y[~after], g), np.bincount(author[~after], minlength=g))
    est = rate_ratio_cr1(*arrays)
    n_cells = 2 * g
    assert est.ratio == pytest.approx(ra / rb)
    assert est.extra["se_log"] ** 2 == pytest.approx((n_cells - 1) / (n_cells - 2) * ga / (ga - 1) * v_a, rel=1e-6)


def test_every_revert_scenario_builds():
    for name in REVERT_SCENARIOS:
        assert revert_team(name).revert_p == 0.03


def test_the_revert_headline_is_the_wider_of_author_and_week_and_the_bootstrap_a_specification():
    # Changes of a planted team with reverts, as the design's frame (lift/quality.py): the headline
    # is rate_ratio_cr1 on author x period cells or on week x period cells, whichever interval is
    # wider (both computed independently here), the author bootstrap beside it.
    import pandas as pd

    from loopmeter.lift import verdict as vd
    from loopmeter.lift.inputs import Periods
    from loopmeter.lift.quality import revert_rate_before_after
    from loopmeter.report.lift_text import estimator_name

    team = revert_team("effect_reverts_weeks")
    ev = events(team, np.random.default_rng(40))
    rv = reverts(team, ev, 40)
    df = pd.DataFrame({"repo": "r", "done_at": [d for d, *_ in ev], "author_id": [f"a{a}" for _, _, a, _, _ in ev],
                       "observed": True, "state": np.where(rv, "reverted", "validated"), "ai_assisted": False})
    adoption = (START + pd.Timedelta(weeks=team.adoption_week)).date()
    p = Periods(before_from={"r": START.date()}, adoption={"r": adoption},
                after_until={"r": (START + pd.Timedelta(weeks=team.weeks)).date()},
                weeks_before={"r": team.adoption_week}, weeks_after={"r": team.weeks - team.adoption_week})
    head, boot = revert_rate_before_after(df, p, seed=1, n_boot=200)
    assert (head["estimator"], boot["estimator"]) == ("rate_ratio_cr1", "ratio_of_rates")
    _, week, author, after = _rows(team, 40)
    mine = []
    for codes in (author, week):
        g = codes.max() + 1
        mine.append(rate_ratio_cr1(np.bincount(codes[after], rv[after], g), np.bincount(codes[after], minlength=g),
                                   np.bincount(codes[~after], rv[~after], g), np.bincount(codes[~after], minlength=g)))
    wide = max(mine, key=lambda e: e.ci_high / e.ci_low)
    assert head["ratio"] == pytest.approx(rv[after].mean() / rv[~after].mean())
    assert (head["ci_low"], head["ci_high"]) == pytest.approx((wide.ci_low, wide.ci_high))
    assert head["interval_clusters"] == ("author" if wide is mine[0] else "week")
    assert head["se_by_author"] == pytest.approx(mine[0].extra["se_log"])
    assert head["se_by_week"] == pytest.approx(mine[1].extra["se_log"])
    assert boot["ratio"] == pytest.approx(head["ratio"])
    # The verdict takes the headline and names its clusters.
    e = vd.judge("revert_rate_after_vs_before", {"design": "before-after", "quality": [head, boot],
                                                  "exposure": {"ai_share_after": 0.5}, "results": []})
    assert e["headline"]["estimator"] == "rate_ratio_cr1"
    assert e["headline"]["interval_clusters"] == head["interval_clusters"]
    other = "author" if head["interval_clusters"] == "week" else "week"
    assert estimator_name("rate_ratio_cr1", e["headline"]) == \
        f"Poisson rate ratio, clustered by {head['interval_clusters']} (wider than by {other})"


def test_a_rate_ratio_without_an_interval_names_no_clusters():
    # A period without a revert gives a ratio with no interval (stats/rates.py): its name must not
    # claim week clusters that no interval was built from; with an interval the name is unchanged.
    from loopmeter.report.lift_text import estimator_name

    est = rate_ratio_cr1(np.array([0.0, 0.0, 0.0]), np.array([10.0, 12.0, 9.0]),
                         np.array([1.0, 2.0, 0.0]), np.array([11.0, 10.0, 8.0]))
    row = {"ratio": est.ratio, "ci_low": est.ci_low, "ci_high": est.ci_high}
    assert est.ci_low is None or not np.isfinite(est.ci_low)
    assert estimator_name("rate_ratio_cr1", row) == "Poisson rate ratio (no interval)"
    assert estimator_name("rate_ratio_cr1", {"ci_low": 0.5, "ci_high": 2.0}) == "Poisson rate ratio, clustered by week"
    assert estimator_name("rate_ratio_cr1") == "Poisson rate ratio, clustered by week"


def _headline_rejects(team, seed) -> bool | None:
    from loopmeter.lift.quality import _wider_of_authors_and_weeks

    ev, week, author, after = _rows(team, seed * 10)
    rv = reverts(team, ev, seed)
    ests = []
    for codes in (author, week):
        g = codes.max() + 1
        ests.append(rate_ratio_cr1(np.bincount(codes[after], rv[after], g), np.bincount(codes[after], minlength=g),
                                   np.bincount(codes[~after], rv[~after], g), np.bincount(codes[~after], minlength=g)))
    head = _wider_of_authors_and_weeks(*ests)
    return None if head.ci_low is None else not head.ci_low <= 1 <= head.ci_high


def test_the_headline_holds_its_size_under_week_shocks_and_finds_a_halved_revert_rate():
    # A bounded version of bench/verdict_sim.py --direct-reverts (bench/README.md: 2.6% of 2,000
    # null_weeks runs at 12 authors, 50.6% of 1,000 halved-rate runs with week shocks at 48).
    null = [_headline_rejects(revert_team("null_weeks"), s) for s in range(1, 301)]
    assert sum(bool(r) for r in null) <= 15  # 5% of 300; about 8 expected
    big = dataclasses.replace(revert_team("effect_reverts_weeks"), authors=48)
    found = [_headline_rejects(big, s) for s in range(1, 61)]
    assert sum(bool(r) for r in found) >= 18  # 30% of 60; about 30 expected
