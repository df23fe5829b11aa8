"""Author fixed effects absorbed by demeaning (stats/regression.py `absorb=`) against statsmodels'
formula API with one dummy per author, and the count of authors that identify the effect."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

from loopmeter.stats.regression import identifying_groups, log_duration_ols


def composition_rows(rng, *, n_authors=30, rows=700, only_human=5, only_ai=3):
    """Fast authors use AI more (a composition shift); the last `only_human` authors never use it,
    the `only_ai` before them always do. Within an author AI-assisted changes take 0.8x as long."""
    author = rng.integers(0, n_authors, rows)
    speed = rng.normal(0.0, 0.6, n_authors)
    p_ai = 1.0 / (1.0 + np.exp(3.0 * speed))  # faster (lower) authors use AI more
    treat = (rng.random(rows) < p_ai[author]).astype(int)
    treat[author >= n_authors - only_human] = 0
    treat[(author >= n_authors - only_human - only_ai) & (author < n_authors - only_human)] = 1
    repo = rng.integers(0, 3, rows)
    log_size = rng.normal(3.0, 1.0, rows)
    log_y = (np.log(20.0) + speed[author] + np.log(0.8) * treat + 0.3 * log_size
             + np.array([0.0, 0.2, -0.1])[repo] + rng.normal(0, 0.5, rows))
    return pd.DataFrame({"log_y": log_y, "treat": treat, "log_size": log_size,
                         "author": [f"a{a}" for a in author], "repo": [f"r{r}" for r in repo],
                         "team": [f"t{a % 4}" for a in author]})


def _absorbed(df, *, size=False, fe=("repo",), clusters=True, conf=0.95):
    return log_duration_ols(np.exp(df["log_y"]), df["treat"],
                            covariates={"log_size": df["log_size"]} if size else None,
                            fixed_effects={k: df[k] for k in fe}, clusters=df["author"] if clusters else None,
                            absorb=("author", df["author"]), conf=conf)


def _cr1_nested(ref, df, k: int) -> float:
    """CR1 with the author dummies, nested in the author clusters, not counted as parameters (as
    Stata's xtreg, fe, reghdfe and fixest do): the dummy fit's uncorrected cluster sandwich times
    G / (G - 1) * (N - 1) / (N - k), k the other coefficients (treatment, repositories, size)."""
    g, n = df["author"].nunique(), len(df)
    return float(ref.bse["treat"]) * math.sqrt(g / (g - 1) * (n - 1) / (n - k))


@pytest.mark.parametrize("size", [False, True])
def test_absorbed_author_fixed_effects_match_statsmodels_dummies_with_cr1_by_author(size):
    df = composition_rows(np.random.default_rng(4))
    formula = "log_y ~ treat + C(author) + C(repo)" + (" + log_size" if size else "")
    codes = pd.factorize(df["author"])[0]
    ref = smf.ols(formula, data=df).fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": False},
                                        use_t=True)
    plain = smf.ols(formula, data=df).fit()
    est = _absorbed(df, size=size, conf=0.9)
    assert est.extra["beta"] == pytest.approx(ref.params["treat"], rel=1e-6)
    assert est.ratio == pytest.approx(math.exp(ref.params["treat"]), rel=1e-6)
    se = _cr1_nested(ref, df, k=4 if size else 3)
    assert est.extra["se"] == pytest.approx(se, rel=1e-6)
    t = scipy.stats.t.ppf(0.95, 29)
    b = ref.params["treat"]
    assert (est.ci_low, est.ci_high) == pytest.approx((math.exp(b - t * se), math.exp(b + t * se)), rel=1e-6)
    assert est.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(b / se), 29), rel=1e-6)
    assert est.extra["df"] == 29 and est.extra["covariance"] == "CR1"
    assert est.extra["se_plain"] == pytest.approx(plain.bse["treat"], rel=1e-6)
    assert est.extra["p_value_plain"] == pytest.approx(plain.pvalues["treat"], rel=1e-6)
    assert est.extra["df_plain"] == plain.df_resid
    assert est.extra["fixed_effects"] == ["repo", "author"]
    assert not any("collinear" in c for c in est.caveats)


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")  # teams nest authors
def test_teams_nested_in_authors_and_hc1_match_statsmodels_too():
    df = composition_rows(np.random.default_rng(5))
    formula = "log_y ~ treat + log_size + C(author) + C(repo) + C(team)"
    codes = pd.factorize(df["author"])[0]
    ref = smf.ols(formula, data=df).fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": False})
    est = _absorbed(df, size=True, fe=("repo", "team"))
    assert est.extra["beta"] == pytest.approx(ref.params["treat"], rel=1e-6)
    # k: treatment, size, 2 repository and 3 team columns (the team ones zero after demeaning,
    # still counted as columns by statsmodels).
    assert est.extra["se"] == pytest.approx(_cr1_nested(ref, df, k=7), rel=1e-6)
    # The team dummies are absorbed by the authors: expected, not a collinearity to warn about.
    assert not any("collinear" in c for c in est.caveats)
    hc1 = smf.ols(formula, data=df).fit(cov_type="HC1", use_t=True)
    est = _absorbed(df, size=True, fe=("repo", "team"), clusters=False)
    assert est.extra["se"] == pytest.approx(hc1.bse["treat"], rel=1e-6)
    assert est.p_value == pytest.approx(hc1.pvalues["treat"], rel=1e-6)
    assert est.extra["df"] == hc1.df_resid


def test_author_fixed_effects_recover_the_within_author_ratio_the_pooled_fit_misses():
    df = composition_rows(np.random.default_rng(6), rows=3000)
    pooled = log_duration_ols(np.exp(df["log_y"]), df["treat"], covariates={"log_size": df["log_size"]},
                              fixed_effects={"repo": df["repo"]}, clusters=df["author"])
    within = _absorbed(df, size=True)
    assert within.ci_low < 0.8 < within.ci_high
    # Fast authors use AI more: pooled, AI looks much faster than it is, outside the within interval.
    assert pooled.ratio < within.ci_low and pooled.ratio < 0.65


def test_identifying_groups_counts_authors_with_rows_on_both_sides():
    # ann: both sides (3 rows); bob: only treated; cy: only untreated; dee: both (2 rows).
    treat = [1, 0, 1, 1, 1, 0, 0, 1, 0]
    who = ["ann", "ann", "ann", "bob", "bob", "cy", "cy", "dee", "dee"]
    assert identifying_groups(treat, who) == (2, 5)
    df = composition_rows(np.random.default_rng(7))
    both = df.groupby("author")["treat"].agg(["min", "max", "size"])
    both = both[both["min"] < both["max"]]
    assert identifying_groups(df["treat"], df["author"]) == (len(both), int(both["size"].sum()))
    assert len(both) <= 30 - 5 - 3  # the one-sided authors are left out


def test_no_author_on_both_sides_gives_no_ratio():
    rng = np.random.default_rng(8)
    author = np.repeat(np.arange(12), 6)
    treat = (author < 6).astype(int)
    est = log_duration_ols(rng.lognormal(3, 0.5, author.size), treat, clusters=author, absorb=("author", author))
    assert identifying_groups(treat, author) == (0, 0)
    assert est.ratio is None and est.ci_low is None
    assert any("cannot be separated" in c for c in est.caveats)


def test_a_covariate_constant_within_every_author_is_absorbed_not_a_column():
    # A per-author covariate (say, tenure) is a combination of the author dummies: demeaned it is
    # rounding noise, which the rank check must not take for a column of its own.
    df = composition_rows(np.random.default_rng(9))
    tenure = df["author"].map({f"a{i}": 0.1 * i + 1 / 3 for i in range(30)}).to_numpy(float)
    with_tenure = log_duration_ols(np.exp(df["log_y"]), df["treat"], covariates={"tenure": tenure},
                                   fixed_effects={"repo": df["repo"]}, clusters=df["author"],
                                   absorb=("author", df["author"]))
    without = _absorbed(df)
    assert with_tenure.extra["beta"] == pytest.approx(without.extra["beta"], rel=1e-9)
    assert not any("collinear" in c for c in with_tenure.caveats)


def test_absorbed_labels_must_be_complete():
    with pytest.raises(ValueError, match="fixed effect 'author'"):
        log_duration_ols([1.0, 2.0, 3.0], [0, 1, 1], absorb=("author", ["a", None, "b"]))
    with pytest.raises(ValueError, match="fixed effect 'author'"):
        log_duration_ols([1.0, 2.0, 3.0], [0, 1, 1], absorb=("author", ["a", "b"]))


def _coverage(n_datasets: int, *, authors: int, ai_authors: int) -> tuple[float, float]:
    """Share of datasets whose author-FE interval holds the planted 0.8, and whose pooled interval
    lies wholly below it, over lift_sim's changes since adoption (AI users twice as fast)."""
    from datetime import timedelta

    from lift_sim import START, Team, events

    team = Team(authors=authors, weeks=16, adoption_week=8, cycle_ratio=1.0, ai_share_after=0.6,
                ai_authors=ai_authors, ai_authors_speed=0.5, ai_ratio=0.8)
    cut = START + timedelta(weeks=8)
    hits = fooled = 0
    for seed in range(n_datasets):
        ev = [e for e in events(team, np.random.default_rng(seed)) if e[0] >= cut]
        y, who, ai = (np.array([e[i] for e in ev]) for i in (1, 2, 3))
        within = log_duration_ols(y, ai, clusters=who, absorb=("author", who))
        pooled = log_duration_ols(y, ai, clusters=who)
        hits += within.ci_low < 0.8 < within.ci_high
        fooled += pooled.ci_high < 0.8
    return hits / n_datasets, fooled / n_datasets


@pytest.mark.slow
def test_author_fe_interval_covers_the_planted_within_author_ratio():
    # 200 datasets, 8 of 20 authors identifying: binomial sd of a 95% coverage is 1.5 points.
    covered, fooled = _coverage(200, authors=20, ai_authors=8)
    assert 0.90 <= covered <= 0.99
    assert fooled > 0.95  # and the pooled regression is fooled by the composition nearly always


def test_author_dummies_nested_in_author_clusters_do_not_inflate_the_cr1_factor():
    # Two changes per author: counting the 200 author dummies in (N - 1) / (N - K) would nearly
    # double the variance (N - K = 400 - 203) for parameters the clustering already allows for.
    df = composition_rows(np.random.default_rng(9), rows=400, n_authors=200, only_human=0, only_ai=0)
    codes = pd.factorize(df["author"])[0]
    ref = smf.ols("log_y ~ treat + C(author) + C(repo)", data=df).fit(
        cov_type="cluster", cov_kwds={"groups": codes, "use_correction": False})
    est = _absorbed(df)
    assert est.extra["se"] == pytest.approx(_cr1_nested(ref, df, k=3), rel=1e-6)
