"""The verdict's two questions where the store has pull requests and deployments: waiting on humans
after vs before adoption (lift/waiting.py) and the change failure rate after vs before
(lift/quality.py). Hand-worked stores (tests/canon.py), independent computations (statsmodels, a
week bootstrap written here) and bounded planted-effect simulations; the rates over many seeds of
the revert-style ratio of rates are bench/verdict_sim.py's business, not a test's."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import apiserver
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from canon import Canon
from rich.console import Console
from test_stats_cr2 import _dense

from loopmeter.lift import designs as ld
from loopmeter.lift.inputs import Adoption, periods
from loopmeter.lift.quality import change_failure_before_after, judged_deployments
from loopmeter.lift.verdict import MIN_EXPOSURE, QUESTIONS, judge, verdict
from loopmeter.lift.waiting import WAITING, union_hours, waiting_before_after, waiting_hours
from loopmeter.metrics.changes import Window, backend
from loopmeter.report.terminal import render_verdict
from loopmeter.report.verdict_view import title, verdict_rows

WAIT_Q, CFR_Q = "waiting_after_vs_before", "change_failure_rate_after_vs_before"
START = datetime(2024, 1, 1)  # a Monday
ADOPT = date(2024, 3, 25)  # week 12
END = date(2024, 6, 17)  # 12 weeks after


def _periods(repos=("api",)):
    return periods({r: ADOPT for r in repos}, {r: START.date() for r in repos}, END)


# ------------------------------------------------------------------------------ waiting: the hours


def test_union_counts_an_hour_in_overlapping_states_once():
    t = pd.Timestamp
    st = pd.DataFrame({"item_id": ["p", "p", "p", "q", "r"],
                       "s": [t("2024-03-04 10:00"), t("2024-03-04 12:00"), t("2024-03-04 20:00"),
                             t("2024-03-05 09:00"), t("2024-03-05 09:00")],
                       "e": [t("2024-03-04 13:00"), t("2024-03-04 14:00"), t("2024-03-04 21:30"),
                             t("2024-03-05 09:00"), t("2024-03-05 10:00")]})
    h = union_hours(st)
    assert h["p"] == 4.0 + 1.5  # 10-14 (two states overlapping 12-13) and 20-21:30
    assert h["q"] == 0.0 and h["r"] == 1.0  # a wait resolved the moment it began is a wait of 0 h


def test_waiting_hours_of_a_merged_pull_request_from_the_store(tmp_path):
    """The flow tests' busy PR (tests/test_flow_metrics.py): review requested 10-13 and 14-16,
    approved 16-18 and 20-08, CI green 19:30-08. As one union: 10-13, 14-18, 19:30-08 = 19.5 h."""
    c = Canon(tmp_path / "lm.duckdb")
    for who in ("alice", "bob", "carol"):
        c.actor(who)
    p = c.pr(20, author="alice", opened="2024-03-04 09:00", merged="2024-03-05 08:00", merge_sha="m20", head_sha="h2")
    c.event(p, "2024-03-04 10:00", "review_requested", "alice", reviewer="bob")
    c.event(p, "2024-03-04 13:00", "reviewed", "bob", state="commented")
    c.event(p, "2024-03-04 14:00", "review_requested", "alice", reviewer="carol")
    c.event(p, "2024-03-04 16:00", "reviewed", "carol", state="approved")
    c.event(p, "2024-03-04 18:00", "reviewed", "bob", state="changes_requested")
    c.event(p, "2024-03-04 20:00", "reviewed", "bob", state="approved")
    c.ci_run(2, sha="h2", queued="2024-03-04 18:30", verdict_at="2024-03-04 19:30", ok=True)
    quiet = c.pr(21, author="bob", opened="2024-03-06 09:00", merged="2024-03-06 10:00", merge_sha="m21")
    c.pr(22, author="bob", opened="2024-03-06 09:00", merged="2024-03-06 10:00", merge_sha="m22")  # no git change
    for n, pr in ((20, p), (21, quiet)):
        c.item(f"git:api:change:m{n}", "change", done="2024-03-06 10:00", author="alice", repo="api")
        c.link(pr, f"git:api:change:m{n}", "same_as")
    w = waiting_hours(backend(c.store), Window(as_of=datetime(2024, 4, 1), days=14)).set_index("change_id")
    c.close()
    assert w.loc["git:api:change:m20", "waiting_hours"] == pytest.approx(19.5)
    assert np.isnan(w.loc["git:api:change:m21", "waiting_hours"])  # never waited: unknown, not zero
    assert len(w) == 2


# ------------------------------------------------------------------------------ waiting: the estimate


def _waiting_frames(rng, *, authors=24, ratio=0.6, sigma=0.6, per_week=1, repos=("api",)):
    """Changes each with a merged pull request's waiting hours: author effects, a planted after /
    before ratio, a few PRs that never waited and a few 0 h waits."""
    rows, waits = [], []
    effect = rng.normal(0, 0.5, authors)
    for week in range(24):
        after = week >= 12
        for a in range(authors):
            for k in range(per_week):
                iid = f"git:c:{week}:{a}:{k}"
                done = START + timedelta(weeks=week, hours=float(rng.uniform(1, 100)))
                repo = repos[a % len(repos)]
                rows.append({"repo": repo, "item_id": iid, "author_id": f"a{a}", "size_lines": float(rng.integers(1, 400)),
                             "done_at": done, "observed": True, "started_at": done - timedelta(hours=30),
                             "cycle_hours": 30.0})
                u = rng.random()
                h = np.nan if u < 0.05 else 0.0 if u < 0.08 else float(
                    np.exp(np.log(10.0) + effect[a] + rng.normal(0, sigma)) * (ratio if after else 1.0))
                waits.append({"change_id": iid, "waiting_hours": h})
    return pd.DataFrame(rows), pd.DataFrame(waits)


def test_the_headline_is_the_clustered_log_regression_checked_against_statsmodels():
    rng = np.random.default_rng(4)
    df, waits = _waiting_frames(rng, authors=14, repos=("api", "web"))
    rows = waiting_before_after(df, waits, _periods(("api", "web")), seed=0, n_boot=50)
    head = rows[0]
    assert head["estimator"] == "log_duration_regression" and head["metric"] == WAITING
    # Independently: the same rows in statsmodels' formula API. The headline's interval is CR2 by
    # author with Bell-McCaffrey df, as the cycle-time headlines (docs/metrics.md "Verdict"): its
    # standard error and df from the dense definitions (tests/test_stats_cr2.py) on statsmodels'
    # design and residuals; CR1 on G - 1, statsmodels' own, is kept beside it.
    d = df.merge(waits, left_on="item_id", right_on="change_id")
    d = d[d["waiting_hours"] > 0].assign(after=lambda x: (pd.to_datetime(x["done_at"]).dt.date >= ADOPT).astype(int))
    codes = pd.factorize(d["author_id"])[0]
    ref = smf.ols("np.log(waiting_hours) ~ after + C(repo)", data=d).fit(cov_type="cluster", cov_kwds={"groups": codes},
                                                                        use_t=True)
    X = ref.model.exog
    j = list(ref.model.exog_names).index("after")
    se, dof, _, _ = _dense(X, np.asarray(ref.resid), codes, j)
    t = scipy.stats.t.ppf(0.975, dof)
    beta = ref.params["after"]
    assert head["ratio"] == pytest.approx(np.exp(beta), rel=1e-9)
    assert head["ci_low"] == pytest.approx(np.exp(beta - t * se), rel=1e-6)
    assert head["ci_high"] == pytest.approx(np.exp(beta + t * se), rel=1e-6)
    assert head["se_cr1"] == pytest.approx(ref.bse["after"], rel=1e-6)
    assert head["n_clusters"] == 14 and head["clustered"] is True
    # What was left out is counted: never waited (NaN) and 0 h waits, per period.
    after = pd.to_datetime(df.set_index("item_id").loc[waits["change_id"], "done_at"]).dt.date.to_numpy() >= ADOPT
    assert head["n_never_waited_a"] == int(waits["waiting_hours"].isna()[after].sum())
    assert head["n_zero_b"] == int((waits["waiting_hours"] == 0)[~after].sum())
    assert head["n_a"] + head["n_b"] == len(d)


def _design(rows_key: str, rows: list[dict], share: float = 0.5) -> dict:
    return {"design": "before-after", "results": [], "quality": rows if rows_key == "quality" else [],
            "waiting": rows if rows_key == "waiting" else [], "exposure": {"ai_share_after": share}}


def test_a_planted_shorter_wait_is_improved_with_the_truth_inside_and_a_null_is_no_change():
    for planted, expected, seed in ((0.6, "improved", 1), (1.0, "no_detectable_change", 2)):
        df, waits = _waiting_frames(np.random.default_rng(seed), ratio=planted)
        e = judge(WAIT_Q, _design("waiting", waiting_before_after(df, waits, _periods(), seed=seed, n_boot=100)))
        assert e["status"] == expected, e["sentence"]
        assert e["headline"]["ci_low"] <= planted <= e["headline"]["ci_high"]
        assert e["headline"]["estimator"] == "log_duration_regression"
        assert e["agreement"]["specifications"] >= 4  # the other regressions and the author-bootstrap quantiles
        assert "waited on a person" in e["sentence"]


def test_few_authors_or_little_exposure_is_not_enough_data_with_no_ratio():
    df, waits = _waiting_frames(np.random.default_rng(3), authors=4, per_week=3)
    e = judge(WAIT_Q, _design("waiting", waiting_before_after(df, waits, _periods(), seed=0, n_boot=50)))
    assert e["status"] == "not_enough_data" and e["headline"]["ratio"] is None
    assert "Only 4 authors in the comparison" in e["sentence"]
    df, waits = _waiting_frames(np.random.default_rng(3))
    e = judge(WAIT_Q, _design("waiting", waiting_before_after(df, waits, _periods(), seed=0, n_boot=50), share=0.04))
    assert e["status"] == "not_enough_data" and f"{MIN_EXPOSURE:.0%}" in e["sentence"]


def test_no_pull_request_data_leaves_the_question_out():
    df, _ = _waiting_frames(np.random.default_rng(5), authors=6)
    empty = pd.DataFrame(columns=["change_id", "waiting_hours"])
    assert waiting_before_after(df, empty, _periods(), seed=0, n_boot=10) == []
    assert [e["question"] for e in verdict([_design("waiting", [])])] == []


# ------------------------------------------------------------------------------ change failure rate


def _deploys(rng, *, weeks=24, per_week=15, p_before=0.2, ratio=0.5, week_sd=0.0):
    rows = []
    for week in range(weeks):
        after = week >= 12
        # A week's own risk (code in flight, who is on call): failures cluster in weeks.
        p = min(0.95, (p_before * (ratio if after else 1.0)) * float(np.exp(rng.normal(0, week_sd))))
        for k in range(per_week):
            rows.append({"item_id": f"d{week}-{k}", "repo": "api",
                         "ts": START + timedelta(weeks=week, hours=float(rng.uniform(0, 160))),
                         "failed": bool(rng.random() < p)})
    return pd.DataFrame(rows)


def test_change_failure_rate_from_the_store_by_hand(tmp_path):
    """Two weeks before adoption, two after. Before: 4 judged, 2 failed (a revert, a linked
    incident); after: 3 judged, 1 failed (a hotfix); a failed attempt and a pending deployment are
    not judged; a deployment of another tracker repository is left out."""
    c = Canon(tmp_path / "lm.duckdb")
    c.actor("alice")
    c.store.con.execute("insert into repos (repo, path) values ('api', '/x/api')")
    c.pr(1, author="alice", opened="2024-03-11 07:00", merged="2024-03-11 08:00", merge_sha="m1")
    c.item("git:api:change:m1", "change", done="2024-03-11 08:00", author="alice", repo="api", sha="m1")
    c.link("github:acme/api:pr:1", "git:api:change:m1", "same_as")  # acme/api is the git repository api
    c.pr(2, author="alice", opened="2024-03-11 19:00", merged="2024-03-11 20:00", merge_sha="m2", title="Revert PR 1")
    c.link("github:acme/api:pr:2", "github:acme/api:pr:1", "reverts")
    c.deployment(1, sha="m1", at="2024-03-11 09:00")  # reverted 11 h later: failed
    c.deployment(2, sha="m1", at="2024-03-13 09:00")  # ok
    c.deployment(3, sha="m1", at="2024-03-18 09:00")  # incident linked 2 h later: failed
    c.item("github:acme/api:issue:9", "incident", created="2024-03-18 11:00", state="open")
    c.link("github:acme/api:issue:9", "github:acme/api:deployment:3", "caused_by")
    c.deployment(4, sha="m1", at="2024-03-20 09:00")  # ok
    c.deployment(5, sha="m1", at="2024-03-21 09:00", ok=False)  # a failed attempt: not judged
    c.deployment(6, sha="m1", at="2024-03-25 09:00")  # after: a hotfix 5 h later: failed
    c.pr(3, author="alice", opened="2024-03-25 13:00", merged="2024-03-25 14:00", merge_sha="m3", branch="hotfix/x")
    c.deployment(7, sha="m1", at="2024-03-27 09:00")  # ok
    c.deployment(8, sha="m1", at="2024-04-02 09:00")  # ok
    c.deployment(9, sha="m1", at="2024-04-07 09:00")  # younger than 24 h at as_of: pending
    c.deployment(10, sha="zz", at="2024-03-12 09:00", repo="other/tracker")  # no git repository: left out
    deps = judged_deployments(backend(c.store), Window(as_of=datetime(2024, 4, 7, 20), days=14))
    c.close()
    assert sorted(deps["item_id"].str.rsplit(":", n=1).str[1].astype(int)) == [1, 2, 3, 4, 6, 7, 8]
    assert set(deps["repo"]) == {"api"}
    p = periods({"api": ADOPT}, {"api": date(2024, 3, 11)}, date(2024, 4, 8))
    rows = change_failure_before_after(deps, p, seed=0, n_boot=200)
    assert [r["estimator"] for r in rows] == ["rate_ratio_cr1", "ratio_of_rates"]
    row = rows[0]
    assert rows[1]["ratio"] == row["ratio"] and rows[1]["n_deployments_a"] == 3
    assert (row["n_deployments_a"], row["failed_a"], row["n_deployments_b"], row["failed_b"]) == (3, 1, 4, 2)
    assert row["ratio"] == pytest.approx((1 / 3) / (2 / 4))
    assert row["change_failure_rate_b"] == 0.5 and row["cluster"] == "week"
    assert (row["n_clusters_a"], row["n_clusters_b"]) == (2, 2)
    # Far below the minimums: no ratio speaks.
    e = judge(CFR_Q, _design("quality", rows))
    assert e["status"] == "not_enough_data" and e["headline"]["ratio"] is None
    assert "Only 3 production deployments judged after adoption" in e["sentence"]


def _week_bootstrap(d: pd.DataFrame, n_boot: int, seed: int) -> tuple[float, float]:
    """Independent of stats/: resample whole weeks (each carrying its deployments of both periods)
    with replacement; percentile interval of the ratio of the pooled rates."""
    rng = np.random.default_rng(seed)
    after = (pd.to_datetime(d["ts"]).dt.date >= ADOPT).to_numpy()
    week = pd.to_datetime(d["ts"]).dt.to_period("W").astype(str).to_numpy()
    weeks = sorted(set(week))
    f = d["failed"].to_numpy(float)
    table = np.array([[f[(week == w) & after].sum(), ((week == w) & after).sum(),
                       f[(week == w) & ~after].sum(), ((week == w) & ~after).sum()] for w in weeks])
    out = []
    for _ in range(n_boot):
        s = table[rng.integers(0, len(table), len(table))].sum(axis=0)
        if s[1] > 0 and s[3] > 0 and s[0] > 0 and s[2] > 0:
            out.append((s[0] / s[1]) / (s[2] / s[3]))
    return tuple(np.percentile(out, [2.5, 97.5]))


def test_the_headline_is_the_poisson_rate_ratio_clustered_by_week_checked_against_statsmodels():
    import statsmodels.api as sm
    from scipy import stats

    d = _deploys(np.random.default_rng(7), week_sd=1.0)  # failures cluster heavily in weeks
    head = change_failure_before_after(d, _periods(), seed=1, n_boot=200)[0]
    assert head["estimator"] == "rate_ratio_cr1" and head["clustered"] is True
    # Independently: statsmodels' Poisson GLM on the week x period cells, log exposure as offset,
    # cluster-robust by week; the interval with t on G - 1 as every clustered headline here.
    cells = d.assign(after=(pd.to_datetime(d["ts"]).dt.date >= ADOPT).astype(float),
                     week=pd.to_datetime(d["ts"]).dt.to_period("W").astype(str), f=d["failed"].astype(float))
    cells = cells.groupby(["week", "after"], as_index=False).agg(f=("f", "sum"), n=("f", "size"))
    fit = sm.GLM(cells["f"], sm.add_constant(cells["after"]), family=sm.families.Poisson(),
                 exposure=cells["n"]).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(cells["week"])[0]})
    g = cells["week"].nunique()
    t = stats.t.ppf(0.975, g - 1)
    beta, se = fit.params["after"], fit.bse["after"]
    assert head["ratio"] == pytest.approx(np.exp(beta), rel=1e-9) and head["se_log"] == pytest.approx(se, rel=1e-9)
    assert head["ci_low"] == pytest.approx(np.exp(beta - t * se), rel=1e-9)
    assert head["ci_high"] == pytest.approx(np.exp(beta + t * se), rel=1e-9)
    assert head["n_clusters"] == g == 24 and head["df"] == 23
    # A deployment-level interval (each deployment independent) would be far narrower.
    after = pd.to_datetime(d["ts"]).dt.date >= ADOPT
    fa, fb = d["failed"][after].to_numpy(float), d["failed"][~after].to_numpy(float)
    naive_se = np.sqrt(1 / fa.sum() - 1 / len(fa) + 1 / fb.sum() - 1 / len(fb))
    assert se > 1.3 * naive_se


def test_the_week_bootstrap_specification_resamples_weeks():
    d = _deploys(np.random.default_rng(7), week_sd=1.0)
    boot = change_failure_before_after(d, _periods(), seed=1, n_boot=4000)[1]
    assert boot["estimator"] == "ratio_of_rates" and boot["clustered"] is True
    lo, hi = _week_bootstrap(d, 4000, seed=2)
    assert boot["ci_low"] == pytest.approx(lo, rel=0.12) and boot["ci_high"] == pytest.approx(hi, rel=0.12)


def test_a_planted_lower_failure_rate_is_covered_and_improved():
    # Bounded coverage check: 200 seeded histories with a true ratio of 0.5 and week-level noise.
    hits = 0
    for seed in range(200):
        r = change_failure_before_after(_deploys(np.random.default_rng(100 + seed), week_sd=0.3), _periods(),
                                        seed=seed, n_boot=10)[0]
        hits += r["ci_low"] <= 0.5 <= r["ci_high"]
    assert hits / 200 >= 0.89  # nominal 95%; 0.89 is outside the binomial noise of a calibrated interval
    rows = change_failure_before_after(_deploys(np.random.default_rng(11), per_week=30), _periods(), seed=0, n_boot=200)
    e = judge(CFR_Q, _design("quality", rows))
    assert e["status"] == "improved" and e["headline"]["ci_low"] <= 0.5 <= e["headline"]["ci_high"], e["sentence"]
    assert e["headline"]["n_a"] == rows[0]["n_deployments_a"] and "failed" in e["sentence"]
    assert e["agreement"]["specifications"] == 2  # the week bootstrap is the other credible estimate


def test_few_weeks_with_deployments_is_not_enough_data():
    d = _deploys(np.random.default_rng(8), per_week=15)
    monday = pd.to_datetime(d["ts"]).dt.to_period("W").dt.start_time
    d = d[(monday.dt.day <= 7) | (pd.to_datetime(d["ts"]).dt.date < ADOPT)]  # after: one week a month
    rows = change_failure_before_after(d, _periods(), seed=0, n_boot=200)
    e = judge(CFR_Q, _design("quality", rows))
    assert e["status"] == "not_enough_data" and "Only 3 weeks have" in e["sentence"], e["sentence"]


def test_deployments_crowded_into_one_week_are_worded_as_weeks_not_people():
    d = _deploys(np.random.default_rng(9), per_week=15)
    monday = pd.to_datetime(d["ts"]).dt.to_period("W").dt.start_time
    after = pd.to_datetime(d["ts"]).dt.date >= ADOPT
    first = monday == monday[after].min()
    # After adoption: the first week keeps its 15 and gets 200 more; every other week keeps one.
    crowd = d[after & first].sample(200, replace=True, random_state=0).assign(
        item_id=lambda x: [f"x{i}" for i in range(len(x))])
    d = pd.concat([d[~after], d[after & first], crowd, d[after & ~first].groupby(monday).head(1)])
    rows = change_failure_before_after(d, _periods(), seed=0, n_boot=50)
    eff = rows[0]["effective_clusters_a"]
    assert eff < 5 and rows[0]["n_clusters_a"] == 12
    e = judge(CFR_Q, _design("quality", rows))
    assert e["status"] == "not_enough_data"
    assert f"come from 12 weeks but amount to only {eff:.1f} equal ones (a few weeks held most of them" in e["sentence"]
    assert "those weeks, not the whole period" in e["sentence"] and "people" not in e["sentence"]


# ------------------------------------------------------------------------------ end to end


def _full_store(path):
    """Twelve authors over 24 weeks: each change lands through a pull request that waited on a
    review (planted 0.5x after adoption), and production deployments every weekday."""
    rng = np.random.default_rng(21)
    c = Canon(path)
    c.store.con.execute("insert into repos (repo, path) values ('api', '/x/api')")
    for a in range(12):
        c.actor(f"dev{a}")
    n = 0
    for week in range(24):
        after = week >= 12
        for a in range(12):
            for _ in range(1):
                n += 1
                opened = START + timedelta(weeks=week, hours=float(rng.uniform(0, 100)))
                wait = float(np.exp(np.log(8.0) + rng.normal(0, 0.5))) * (0.5 if after else 1.0)
                merged = opened + timedelta(hours=wait)
                fmt = "%Y-%m-%d %H:%M:%S"
                pr = c.pr(n, author=f"dev{a}", opened=opened.strftime(fmt), merged=merged.strftime(fmt),
                          merge_sha=f"m{n}")
                c.event(pr, opened.strftime(fmt), "review_requested", f"dev{a}", reviewer=f"dev{(a + 1) % 12}")
                c.event(pr, merged.strftime(fmt), "reviewed", f"dev{(a + 1) % 12}", state="approved")
                cid = f"git:api:change:m{n}"
                c.item(cid, "change", started=(opened - timedelta(hours=5)).strftime(fmt), done=merged.strftime(fmt),
                       author=f"dev{a}", repo="api", state="landed", sha=f"m{n}")
                c.store.con.execute("update items set size_lines = 40 where item_id = ?", [cid])
                c.link(pr, cid, "same_as")
                if after and rng.random() < 0.5:
                    c.attribution(cid)
        for day in range(5):
            at = START + timedelta(weeks=week, days=day, hours=15)
            d = c.deployment(1000 + week * 5 + day, sha=f"m{n}", at=at.strftime("%Y-%m-%d %H:%M"))
            if rng.random() < 0.25:
                inc = f"github:acme/api:issue:{week * 5 + day}"
                c.item(inc, "incident", created=(at + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M"), state="open")
                c.link(inc, d, "caused_by")
    return c


def test_both_questions_in_the_designs_verdict_terminal_and_page(tmp_path):
    c = _full_store(tmp_path / "lm.duckdb")
    try:
        con = backend(c.store)
        window = Window(as_of=datetime(2024, 6, 24), days=14)
        # The report's path (designs.lift_designs) less the specification table, which is not
        # what this test is about and costs most of the time.
        ba = ld.before_after(con, window, ["api"], Adoption(default=ADOPT, source="given", rule="planted"), seed=0,
                             n_boot=100, spec=False)
        out = {"designs": [ba], "verdict": verdict([ba])}
        prs = c.store.con.execute("select created_at, done_at from items where kind = 'pull_request'").fetchall()
    finally:
        c.close()
    by_q = {e["question"]: e for e in out["verdict"]}
    w = by_q[WAIT_Q]
    # Independently: one repository and no covariate, so the regression's ratio is the ratio of the
    # geometric mean waits (each PR waited from its request at opening to the approval at merge).
    logs = {s: [np.log((e - o).total_seconds() / 3600) for o, e in prs if (e.date() >= ADOPT) == s] for s in (True, False)}
    assert w["headline"]["ratio"] == pytest.approx(np.exp(np.mean(logs[True]) - np.mean(logs[False])), rel=1e-9)
    assert w["status"] == "improved" and w["headline"]["ci_high"] < 0.75, w["sentence"]  # planted 0.5
    assert w["title"] == QUESTIONS[WAIT_Q]["title"] and w["exposure"]["ai_share_after"] > 0.3
    f = by_q[CFR_Q]  # 60 judged deployments a side with no planted change; 12 weeks a side
    assert f["status"] in ("no_detectable_change", "improved", "worsened") and f["headline"]["n_clusters"] == 24
    assert f["headline"]["n_a"] == 60 and 55 <= f["headline"]["n_b"] <= 60  # week 0 from the first landing
    assert [r["metric"] for r in ba["waiting"]][0] == WAITING
    console = Console(record=True, width=250)
    render_verdict(out["verdict"], console)
    text = console.export_text()
    assert "waiting on humans, after vs before" in text and "quality: change failure rate, after vs before" in text
    rows = {r.question: r for r in verdict_rows({"verdict": out["verdict"]})[0]}
    assert rows[WAIT_Q].label == title(WAIT_Q) == "Waiting on humans, after vs before"
    assert rows[WAIT_Q].term == "waiting" and rows[CFR_Q].term == "change-failure-rate"
    # The report page's verdict block (tests/test_report_page.py's sample document with these entries).
    from test_report_page import sample

    from loopmeter.report.html import render_page

    doc, changes = sample(hostile=False)
    doc["verdict"] = [by_q[WAIT_Q], by_q[CFR_Q]]
    html = render_page(doc, changes)
    block = html[html.index('id="verdict"'):html.index('id="headline"')]
    assert block.count('<div class="v ') == 2 and 'data-status="improved"' in block
    assert "Waiting on humans, after vs before" in block and 'href="#g-waiting"' in block
    assert "Quality: change failure rate, after vs before" in block and 'href="#g-change-failure-rate"' in block
    # The waiting rows in `lift`'s terminal table and the page's collapsed estimates of the design,
    # numbered after the cycle-time rows, each with its sentence; untrusted caveats escaped.
    from test_report_page import HOSTILE_CAVEAT

    from loopmeter.cli_lift import render_lift

    waits = ba["waiting"]
    head = next(r for r in waits if r["estimator"] == "log_duration_regression")
    console = Console(record=True, width=250)
    render_lift({**ba, "verdict": out["verdict"]}, console)
    text = console.export_text()
    n = len(ba["results"])
    table = [ln for ln in text.splitlines() if ln.startswith("│") and "waiting on humans" in ln]
    assert len(table) == len(waits) and f"({n + 1}) " in text and f"({n + len(waits) + 1}) " not in text
    assert (f"Time pull requests waited on a person by regression (one repository, so no repository fixed effects) "
            f"after adoption is {head['ratio']:.2f}x before [{head['ci_low']:.2f}, {head['ci_high']:.2f}]") in text
    hostile = [dict(r, caveats=[HOSTILE_CAVEAT]) for r in waits]
    console = Console(record=True, width=250)
    render_lift({**ba, "waiting": hostile}, console)
    assert HOSTILE_CAVEAT in console.export_text()  # printed as text, not read as markup
    doc["lift_designs"] = {"unit": "repo", "designs": [{**ba, "waiting": hostile}]}
    html = render_page(doc, changes)
    section = html[html.index('id="lift-designs"'):html.index('id="changes"')]
    table = section[section.index("Estimates of this design"):section.index("</table>")]
    assert table.count("<td>waiting on humans</td>") == len(waits)
    assert f"Estimates of this design ({n + len(waits)})" in section
    assert "Time pull requests waited on a person by regression" in table and f"{head['ratio']:.2f}" in table
    assert "<img src=x" not in section and "&lt;img src=x onerror=window.__pwned=1&gt;" in section


def test_lift_takes_the_reports_failure_window(tmp_path):
    """`lift --failure-window` judges deployments as `report --failure-window` does: every incident
    of _full_store opens 3 h after its deployment, so a 2 h window fails none and the default
    24 h window fails exactly the deployments with an incident."""
    from typer.testing import CliRunner

    from loopmeter.cli import app

    path = tmp_path / "lm.duckdb"
    c = _full_store(path)
    caused = {r[0] for r in c.store.con.execute("select dst from links where kind = 'caused_by'").fetchall()}
    c.close()
    args = ["lift", "--store", str(path), "--adoption-date", f"api={ADOPT}", "--as-of", "2024-06-24", "--json"]
    rows = {}
    for hours in ("2", None):
        res = CliRunner().invoke(app, args + (["--failure-window", hours] if hours else []))
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        (rows[hours],) = [r for r in doc["quality"] if r["estimator"] == "rate_ratio_cr1" and r["metric"] == "change_failure_rate"]
    assert rows["2"]["failed_a"] == rows["2"]["failed_b"] == 0
    assert rows["2"]["n_deployments_a"] == rows[None]["n_deployments_a"] == 60
    assert rows[None]["failed_a"] + rows[None]["failed_b"] == len(caused) > 0
    for bad, word in ((["--failure-window", "0"], "--failure-window: must be a positive number"),
                      (["--incident-rule", "any"], "--incident-rule: must be one of linked, repo"),
                      (["--failure-window", "4", "--csv", str(tmp_path / "t.csv")], "--failure-window judges")):
        res = CliRunner().invoke(app, args + bad)
        assert res.exit_code != 0 and word in res.output, res.output


def test_through_the_github_source_the_entries_say_why_there_is_too_little(tmp_path, monkeypatch):
    """The replayed GitHub fixture (tests/fixtures/github, acme/widgets): two merged pull requests
    that waited and one production deployment, too few for either question, which each say why."""
    from loopmeter import api
    from loopmeter.store.db import Store

    token = "ghp_TESTtoken0123456789abcdefSECRET"
    monkeypatch.setenv("LM_VQ_TOKEN", token)
    path = tmp_path / "lm.duckdb"
    with Store.open(path) as s:  # the git changes PR #2 and #3 landed as (as the git source derives them)
        s.con.execute("insert into repos (repo, path) values ('widgets', '/x/widgets')")
        for sha, at in (("2" * 40, "2024-03-03 15:00"), ("3" * 40, "2024-03-05 16:00")):
            s.con.execute("insert into items (item_id, source, kind, repo, state, done_at, started_at, attrs) values "
                          "(?, 'git', 'change', 'widgets', 'landed', ?, ?, ?::json)",
                          [f"git:widgets:change:{sha}", at, "2024-02-20 00:00", f'{{"sha": "{sha}"}}'])
    with apiserver.FixtureServer("github", token=token) as server:
        api.ingest_github(["acme/widgets"], store_path=path, url=server.url, token_env="LM_VQ_TOKEN",
                          sleep=lambda s: None)
    with Store.open(path) as s:
        con = backend(s)
        window = Window(as_of=datetime(2024, 3, 20), days=14)
        waits = waiting_hours(con, window).set_index("change_id")["waiting_hours"]
        deps = judged_deployments(con, window)
        out = ld.lift_designs(con, window, None, {}, seed=0, n_boot=50,
                              given=Adoption(default=date(2024, 3, 4), source="given", rule="set"))
    # PR #2 (tests/test_flow_github_e2e.py): review requested 03-01 10:05 until bob's review 03-02
    # 09:30 (23 h 25 min), approved 03-03 11:00 until the merge at 15:00 (4 h); no CI on its head.
    assert waits["git:widgets:change:" + "2" * 40] == pytest.approx(23 + 25 / 60 + 4)
    assert list(deps["repo"]) == ["widgets"]  # deployment 401, production, under the git repository
    by_q = {e["question"]: e for e in out["verdict"]}
    w, f = by_q[WAIT_Q], by_q[CFR_Q]
    # The git rows written here carry no size, and every regression fits only changes of known size.
    assert w["status"] == "not_enough_data" and w["headline"]["ratio"] is None
    assert w["sentence"] == ("Not enough data to say: Only 0 merged pull requests that waited on a person after "
                             "adoption (at least 20 are needed).")
    # Deployment 401 (03-04 08:10) is the only judged one, on the adoption day: none before.
    assert f["status"] == "not_enough_data" and f["headline"]["n_a"] == 1 and f["headline"]["n_b"] == 0
    assert f["headline"]["estimator"] == "rate_ratio_cr1"
    assert "Only 1 production deployments judged after adoption" in f["sentence"]


def test_the_lift_table_names_the_waiting_metric_without_importing_the_lift_at_start_up():
    # cli_lift spells the metric out (importing lift.waiting would load pandas and scipy with the CLI).
    from loopmeter.cli_lift import _SHORT

    assert _SHORT[WAITING] == "waiting on humans"
