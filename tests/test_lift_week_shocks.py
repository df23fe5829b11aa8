"""The before/after cycle-time interval allows for weeks that move together (lift/durations.py
`_allow_for_week_shocks`): it is the wider of CR2 by author and CR2 by landing week, each checked
here against stats/cr2.py on statsmodels' own design and residuals."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

from loopmeter.lift import durations
from loopmeter.lift.results import LABELS
from loopmeter.stats.cr2 import cr2

START = datetime(2024, 1, 1)  # a Monday


def _rows(seed: int, week_sd: float, authors: int = 10, weeks: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shock = rng.normal(0, week_sd, weeks)
    own = rng.normal(0, 0.3, authors)
    out = []
    for w in range(weeks):
        for a in range(authors):
            for _ in range(1 + rng.poisson(1.0)):
                done = START + timedelta(weeks=w, hours=float(rng.uniform(1, 110)))
                out.append({"cycle_hours": float(np.exp(np.log(30) + own[a] + shock[w] + rng.normal(0, 0.5))),
                            "author_id": f"a{a}", "size_lines": float(rng.integers(1, 300)), "repo": "r",
                            "observed": True, "done_at": done, "after": w >= weeks // 2})
    return pd.DataFrame(out)


def _reference(df: pd.DataFrame, clusters: str):
    d = df.assign(y=np.log(df["cycle_hours"]), after=df["after"].astype(float),
                  week=pd.to_datetime(df["done_at"]).dt.to_period("W-SUN").astype(str))
    fit = smf.ols("y ~ after", d).fit()
    se, dof = cr2(fit.model.exog, fit.resid.to_numpy(), d[clusters].to_numpy(object), 1)
    t = scipy.stats.t.ppf(0.975, dof)
    b = fit.params["after"]
    return np.exp(b - t * se), np.exp(b + t * se), se, dof


@pytest.mark.parametrize("seed,week_sd,wider", [(1, 0.4, "week"), (2, 0.4, "week"), (3, 0.0, "author"), (6, 0.0, None)])
def test_before_after_interval_is_the_wider_of_author_and_week_clustering(seed, week_sd, wider):
    df = _rows(seed, week_sd)
    g = durations.Groups(a=df[df["after"]], b=df[~df["after"]], labels=LABELS["after/before"])
    r = durations._regressions(g)["log_duration_regression"]
    by_author, by_week = _reference(df, "author_id"), _reference(df, "week")
    widths = {"author": by_author[1] / by_author[0], "week": by_week[1] / by_week[0]}
    chosen = max(widths, key=widths.get)
    if wider:  # strong shared week shocks: the week interval is the wider; seed 3 shows the other branch
        assert chosen == wider
    ref = by_week if chosen == "week" else by_author
    assert r.extra["interval_clusters"] == chosen
    assert (r.ci_low, r.ci_high) == pytest.approx(ref[:2], rel=1e-6)
    assert r.extra["se"] == pytest.approx(ref[2], rel=1e-6) and r.extra["df"] == pytest.approx(ref[3], rel=1e-6)
    assert r.extra["se_by_week"] == pytest.approx(by_week[2], rel=1e-6)
    assert r.extra["se_by_author"] == pytest.approx(by_author[2], rel=1e-6)
    assert r.extra["n_weeks"] == 20 and r.extra["n_authors"] == 10
    assert r.n_clusters == (20 if chosen == "week" else 10)  # the clusters of the interval shown


def test_ai_vs_human_keeps_author_clustering():
    # AI and human changes share their weeks, so a week shock moves both: only before/after
    # compares weeks, and only it widens.
    df = _rows(4, 0.4)
    g = durations.Groups(a=df[df["after"]], b=df[~df["after"]], labels=LABELS["ai_assisted/human"])
    r = durations._regressions(g)["log_duration_regression"]
    lo, hi, se, _ = _reference(df, "author_id")
    assert "interval_clusters" not in r.extra and (r.ci_low, r.ci_high) == pytest.approx((lo, hi), rel=1e-6)


def _author_weeks(seed: int, week_sd: float, authors: int = 10, weeks: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shock = np.exp(rng.normal(0, week_sd, weeks))
    rows = [{"author_id": f"a{a}", "week": (START + timedelta(weeks=w)).date(), "repo": "r",
             "period": "after" if w >= weeks // 2 else "before", "validated": int(rng.poisson(2.0 * shock[w]))}
            for a in range(authors) for w in range(weeks) if rng.random() < 0.9]  # some weeks inactive
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed,week_sd", [(1, 0.5), (2, 0.5), (3, 0.0)])
def test_throughput_interval_is_the_wider_of_author_and_week_clustering(seed, week_sd):
    import statsmodels.api as sm

    from loopmeter.lift import throughput
    from loopmeter.lift.results import author_period_tables
    from loopmeter.stats.poisson_fe import poisson_rate_ratio_author_fe

    a = _author_weeks(seed, week_sd)
    ev, ex = author_period_tables(a, "validated", a)
    fe = poisson_rate_ratio_author_fe(ev["after"].to_numpy(float), ex["after"].to_numpy(float),
                                      ev["before"].to_numpy(float), ex["before"].to_numpy(float))
    r = throughput._allow_for_week_shocks(fe, a, a)
    # Independently: the GLM with one dummy per author on the author-week counts, clustered by week
    # (statsmodels without its (n - 1) / (n - K), which counts every dummy; G / (G - 1) as CR1).
    dummies = pd.get_dummies(a["author_id"]).to_numpy(float)
    X = np.column_stack([(a["period"] == "after").to_numpy(float), dummies])
    glm = sm.GLM(a["validated"].to_numpy(float), X, family=sm.families.Poisson())
    ref = glm.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(a["week"])[0], "use_correction": False})
    g = a["week"].nunique()
    se_w = np.sqrt(g / (g - 1) * ref.cov_params()[0, 0])
    assert ref.params[0] == pytest.approx(fe.extra["beta"], abs=1e-7)
    assert r.extra["se_by_week"] == pytest.approx(se_w, rel=1e-6) and r.extra["df_by_week"] == g - 1
    width = {"author": scipy.stats.t.ppf(0.975, fe.extra["df"]) * fe.extra["se"],
             "week": scipy.stats.t.ppf(0.975, g - 1) * se_w}
    chosen = max(width, key=width.get)
    if week_sd:
        assert chosen == "week"
    assert r.extra["interval_clusters"] == chosen and r.ratio == fe.ratio
    assert r.n_clusters == (g if chosen == "week" else 10) and r.extra["n_authors"] == fe.n_clusters == 10
    b = fe.extra["beta"]
    assert (r.ci_low, r.ci_high) == pytest.approx((np.exp(b - width[chosen]), np.exp(b + width[chosen])), rel=1e-6)
    if chosen == "author":
        assert (r.ci_low, r.ci_high, r.p_value) == (fe.ci_low, fe.ci_high, fe.p_value)
