"""Lift designs through the whole pipeline: simulated teams written as real git repositories, ingested
into a real DuckDB store, estimated by `loopmeter.api.lift` and the report. Planted effects must be
recovered inside the 95% intervals, and the caveats built into the data must be raised."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from lift_sim import EPOCH, START, Team, as_of, events, write_repo

import loopmeter
from loopmeter.api import lift
from loopmeter.errors import ConfigError, DesignError
from loopmeter.lift import designs as ld
from loopmeter.metrics.changes import Window, backend
from loopmeter.lift.inputs import change_frame
from loopmeter.store.db import Store

PLANTED = Team(name="team", authors=12, weeks=24, adoption_week=12, cycle_ratio=0.7, rate_before=1.0, rate_after=2.0)
ADOPTION = (START + timedelta(weeks=PLANTED.adoption_week)).date()


@pytest.fixture(scope="module")
def planted_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    write_repo(root / "team", PLANTED, seed=11)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "team"], store_path=store)
    return store


@pytest.fixture(scope="module")
def before_after(planted_store):
    return lift(store_path=planted_store, design="before-after", as_of=as_of(PLANTED), seed=3)


def _row(doc, metric, estimator):
    return next(r for r in doc["results"] if r["metric"] == metric and r["estimator"] == estimator)


def test_planted_cycle_time_ratio_is_recovered_inside_the_interval(before_after):
    r = _row(before_after, "cycle_time_hours", "ratio_of_medians")
    assert r["ci_low"] < PLANTED.cycle_ratio < r["ci_high"] < 1.0
    assert r["n_clusters"] == PLANTED.authors
    assert r["speedup"] == pytest.approx(1 - r["ratio"])
    assert r["design"] == "before-after" and r["comparison"] == "after/before"


def test_planted_throughput_lift_is_recovered_inside_the_interval(before_after):
    r = _row(before_after, "validated_throughput_per_contributor_week", "ratio_of_rates")
    assert 1.0 < r["ci_low"] < 1.5 < r["ci_high"]
    # The after period ends with the last simulated week; the before period is as long (all 12 weeks).
    assert r["weeks_before"] == r["weeks_after"] == PLANTED.weeks - PLANTED.adoption_week


@pytest.mark.parametrize("estimator", ["ratio_of_medians", "ratio_of_p85", "hodges_lehmann", "log_duration_regression",
                                       "log_duration_regression_size", "log_duration_regression_author_fe",
                                       "log_duration_regression_author_fe_size", "km_median_ratio"])
def test_every_cycle_time_estimator_recovers_the_planted_ratio(before_after, estimator):
    r = _row(before_after, "cycle_time_hours", estimator)
    assert r["ci_low"] < PLANTED.cycle_ratio < r["ci_high"] < 1.0, r


def test_interrupted_time_series_recovers_the_planted_throughput_lift(before_after):
    r = _row(before_after, "validated_throughput_per_contributor_week", "its_level_change")
    assert r["ci_low"] < 1.5 < r["ci_high"] and r["p_value"] < 0.05
    assert r["n_clusters"] == PLANTED.weeks  # one point per week
    # The interval is stats/its.py's bootstrap-t; the Newey-West one stays in the row, narrower.
    assert r["interval"] == "sieve_bootstrap_t"
    assert r["ci_low"] < r["ci_low_hac"] < r["ci_high_hac"] < r["ci_high"], r


def test_the_regression_is_the_one_statsmodels_fits_on_the_store_rows(planted_store, before_after):
    import statsmodels.formula.api as smf

    with Store.open(planted_store, create=False, read_only=True) as store:
        df = change_frame(backend(store), Window(as_of=as_of(PLANTED), days=14), None)
    df = df[df["cycle_hours"] > 0].assign(after=(df["done_at"] >= datetime.combine(ADOPTION, datetime.min.time())))
    df = df.assign(y=np.log(df["cycle_hours"]), lsize=np.log1p(df["size_lines"]), after=df["after"].astype(float))
    for formula, estimator in (("y ~ after", "log_duration_regression"), ("y ~ after + lsize", "log_duration_regression_size")):
        fit = smf.ols(formula, df).fit(cov_type="cluster", cov_kwds={"groups": df["author_id"].astype("category").cat.codes},
                                       use_t=True)
        r = _row(before_after, "cycle_time_hours", estimator)
        assert r["ratio"] == pytest.approx(np.exp(fit.params["after"]), rel=1e-9)
        # CR1 (t on G - 1 df) is kept beside the interval, which is CR2 with Bell-McCaffrey df
        # (stats/cr2.py, tested there against its definitions): wider than CR1 on fewer df.
        from scipy import stats

        from loopmeter.stats.cr2 import cr2
        assert r["se_cr1"] == pytest.approx(fit.bse["after"], rel=1e-6) and r["df_cr1"] == PLANTED.authors - 1
        X = fit.model.exog
        se, bm = cr2(X, fit.resid.to_numpy(), df["author_id"].to_numpy(object), list(fit.params.index).index("after"))
        assert r["covariance"] == "CR2" and r["se"] == pytest.approx(se, rel=1e-6) and r["df"] == pytest.approx(bm, rel=1e-6)
        t = stats.t.ppf(0.975, bm)
        assert r["ci_low"] == pytest.approx(np.exp(fit.params["after"] - t * se), rel=1e-6)
        assert r["ci_high"] == pytest.approx(np.exp(fit.params["after"] + t * se), rel=1e-6)


def test_forecasts_from_before_and_after_scale_with_the_planted_rates(before_after):
    fc = before_after["forecast"]
    pre, post = fc["periods"]
    assert pre["label"].endswith("before adoption") and post["label"].endswith("after adoption")
    # 12 authors landing 2 a week before and 3 after: about 24 and 36 a week.
    assert 12 * 20 < pre["how_many"]["percentiles"]["p50"] < 12 * 28
    assert 12 * 31 < post["how_many"]["percentiles"]["p50"] < 12 * 41
    assert post["when"]["percentiles"]["p50"] <= pre["when"]["percentiles"]["p50"]
    fan = before_after["figures"]["forecast"]["fans"][1]
    assert len(fan["p50"]) == fc["weeks_ahead"] and fan["p5"][-1] <= fan["p50"][-1] <= fan["p95"][-1]


def test_adoption_is_detected_and_reported_per_repository(before_after):
    assert before_after["adoption"]["source"] == "detected"
    assert before_after["adoption"]["per_repo"] == {"team": ADOPTION.isoformat()}
    assert before_after["adoption"]["staggered"] is False


def test_ratio_of_medians_equals_the_ratio_worked_out_from_the_planted_commits(before_after):
    # Independent of the store: the planted commits' own timestamps, split at the adoption date.
    evs = events(PLANTED, np.random.default_rng(11))
    cut = datetime.combine(ADOPTION, datetime.min.time())
    before, after = [], []
    for done, cycle, *_ in evs:
        started = done - timedelta(hours=cycle)
        hours = (int((done - EPOCH).total_seconds()) - int((started - EPOCH).total_seconds())) / 3600
        (after if done >= cut else before).append(hours)
    r = _row(before_after, "cycle_time_hours", "ratio_of_medians")
    assert r["n_a"] == len(after) and r["n_b"] == len(before)
    assert r["ratio"] == pytest.approx(np.median(after) / np.median(before), rel=1e-9)


def test_every_result_carries_the_documented_keys_and_the_selection_caveat(before_after):
    for r in before_after["results"]:
        for key in ("design", "metric", "estimator", "ratio", "ci_low", "ci_high", "p_value", "n_a", "n_b",
                    "n_clusters", "caveats"):
            assert key in r, key
        assert "selection" in r["caveat_codes"]
    checks = {(c["metric"], c["check"]): c["applies"] for c in before_after["checks"]}
    assert checks[("cycle_time_hours", "simpsons_paradox")] is False
    assert checks[("cycle_time_hours", "novelty")] is False


def test_specification_table_spans_estimators_windows_and_periods(before_after):
    spec = before_after["specification"]
    assert {s["window_days"] for s in spec if s["metric"] == "validated_throughput_per_contributor_week"} == {7, 14, 28}
    assert {s["period"] for s in spec} == {"equal windows", "all history before",
                                           "equal windows, without the first 4 weeks after adoption"}
    assert {"ratio_of_medians", "ratio_of_p85"} <= {s["estimator"] for s in spec if s["metric"] == "cycle_time_hours"}
    rng = before_after["specification_range"]["cycle_time_hours"]
    ratios = [s["ratio"] for s in spec if s["metric"] == "cycle_time_hours"]
    assert rng["min"] == min(ratios) and rng["max"] == max(ratios)
    # One headline row per estimator: the report's window and the equal-windows period.
    for est in {s["estimator"] for s in spec}:
        assert sum(s["chosen"] for s in spec if s["estimator"] == est) == 1, est


def test_headline_rows_of_the_specification_table_print_the_headline_interval(planted_store, before_after):
    # The page shows the results table and the specification table one above the other: a row
    # marked as the headline choice must carry the very interval printed as the headline.
    ai = lift(store_path=planted_store, design="ai-vs-human", as_of=as_of(PLANTED), seed=3)
    for doc in (before_after, ai):
        chosen = [s for s in doc["specification"] if s["chosen"]]
        assert chosen
        for s in chosen:
            r = _row(doc, s["metric"], s["estimator"])
            assert (s["ratio"], s["ci_low"], s["ci_high"], s["n_a"], s["n_b"]) == (
                r["ratio"], r["ci_low"], r["ci_high"], r["n_a"], r["n_b"]), (doc["design"], s["estimator"])


def test_report_keeps_the_v1_lift_and_its_throughput_agrees_with_the_design(planted_store):
    doc = loopmeter.report_from_store(store_path=planted_store, as_of=as_of(PLANTED), seed=3)
    v1 = next(e for e in doc["lift"] if e["metric"] == "validated_throughput_per_contributor_week")
    ba = next(d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after")
    r = _row(ba, "validated_throughput_per_contributor_week", "ratio_of_rates")
    # One adoption date for every repository: the same contributor-weeks as the v1 lift.
    assert r["ratio"] == pytest.approx(v1["ratio"], rel=1e-12)
    assert [d["design"] for d in doc["lift_designs"]["designs"]] == ["before-after", "ai-vs-human"]


def test_a_fading_effect_raises_the_novelty_caveat(tmp_path):
    team = Team(authors=10, weeks=22, adoption_week=8, cycle_ratio=0.5, fade_after_weeks=4)
    write_repo(tmp_path / "fade", team, seed=5)
    loopmeter.ingest([tmp_path / "fade"], store_path=tmp_path / "s.duckdb")
    doc = lift(store_path=tmp_path / "s.duckdb", design="before-after", adoption_dates=[
        (START + timedelta(weeks=8)).date().isoformat()], as_of=as_of(team), n_boot=200)
    r = _row(doc, "cycle_time_hours", "ratio_of_medians")
    assert "novelty" in r["caveat_codes"]
    # Without the first 4 weeks the planted effect is gone, and the specification table shows it.
    late = next(s for s in doc["specification"] if s["estimator"] == "ratio_of_medians"
                and s["period"].startswith("equal windows, without"))
    assert late["ci_low"] < 1.0 < late["ci_high"]
    assert "specification" in r["caveat_codes"]


# --------------------------------------------------------------------------- several repositories


@pytest.fixture(scope="module")
def simpson_store(tmp_path_factory):
    """AI-assisted work lands mostly in a slow repository, human work mostly in a fast one, and in each
    repository AI-assisted changes take 0.7x as long: pooled, AI looks slower."""
    root = tmp_path_factory.mktemp("simpson")
    slow = Team(name="slow", authors=10, weeks=16, adoption_week=0, base_cycle_h=200, ai_share_after=0.85,
                ai_ratio=0.7, cycle_ratio=1.0, rate_before=1.0, rate_after=1.0)
    fast = Team(name="fast", authors=10, weeks=16, adoption_week=0, base_cycle_h=10, ai_share_after=0.15,
                ai_ratio=0.7, cycle_ratio=1.0, rate_before=1.0, rate_after=1.0, author_offset=100)
    write_repo(root / "slow", slow, seed=1)
    write_repo(root / "fast", fast, seed=2)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "slow", root / "fast"], store_path=store)
    return store, as_of(slow)


def test_simpsons_paradox_is_flagged_when_the_pooled_ratio_points_the_other_way(simpson_store):
    store, when = simpson_store
    doc = lift(store_path=store, design="ai-vs-human", adoption_dates=[START.date().isoformat()], as_of=when, n_boot=300)
    r = _row(doc, "cycle_time_hours", "ratio_of_medians")
    assert r["ratio"] > 1  # pooled: AI looks slower
    assert "simpsons_paradox" in r["caveat_codes"]
    text = r["caveats"][r["caveat_codes"].index("simpsons_paradox")]
    assert "in 2 of 2 repositories" in text


def test_simpsons_paradox_is_not_flagged_within_one_repository(simpson_store):
    store, when = simpson_store
    doc = lift(store_path=store, design="ai-vs-human", repos=["slow"], adoption_dates=[START.date().isoformat()],
               as_of=when, n_boot=300)
    r = _row(doc, "cycle_time_hours", "ratio_of_medians")
    assert r["ci_high"] < 1 and "simpsons_paradox" not in r["caveat_codes"]


@pytest.fixture(scope="module")
def staggered_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("staggered")
    early = Team(name="early", authors=8, weeks=24, adoption_week=8, cycle_ratio=0.7)
    late = Team(name="late", authors=8, weeks=24, adoption_week=16, cycle_ratio=0.7, author_offset=50)
    write_repo(root / "early", early, seed=21)
    write_repo(root / "late", late, seed=22)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "early", root / "late"], store_path=store)
    return store, as_of(early)


def test_per_repository_adoption_dates_split_each_repository_at_its_own_date(staggered_store):
    store, when = staggered_store
    d_early = (START + timedelta(weeks=8)).date()
    d_late = (START + timedelta(weeks=16)).date()
    doc = lift(store_path=store, adoption_dates=[f"early={d_early}", f"late={d_late}"], as_of=when, n_boot=400)
    assert doc["adoption"]["staggered"] is True
    r = _row(doc, "cycle_time_hours", "ratio_of_medians")
    assert r["periods"]["early"]["adoption"] == d_early.isoformat()
    assert r["periods"]["late"]["adoption"] == d_late.isoformat()
    assert r["ci_low"] < 0.7 < r["ci_high"]
    t = _row(doc, "validated_throughput_per_contributor_week", "ratio_of_rates")
    assert t["ci_low"] < 1.5 < t["ci_high"]
    did = _row(doc, "validated_throughput_per_contributor_week", "did_att")
    assert did["ci_low"] < 1.5 < did["ci_high"]
    assert did["att_ci_low"] < 1.0 < did["att_ci_high"]  # planted: 2 -> 3 changes per contributor-week
    es = doc["figures"]["event_study"]
    assert min(p["e"] for p in es["points"]) < -1 and max(p["e"] for p in es["points"]) > 0
    checks = {(c["metric"], c["check"]): c["applies"] for c in doc["checks"]}
    assert checks[("validated_throughput_per_contributor_week", "pre_trends")] is False


def test_without_dates_each_repository_is_detected_at_its_own_adoption(staggered_store):
    store, when = staggered_store
    doc = lift(store_path=store, as_of=when, n_boot=200)
    adoption = doc["adoption"]
    assert adoption["source"] == "detected per repository" and adoption["staggered"] is True
    for repo, week in (("early", 8), ("late", 16)):
        found = date.fromisoformat(adoption["per_repo"][repo])
        assert abs((found - (START + timedelta(weeks=week)).date()).days) < 7, (repo, found)
    r = _row(doc, "cycle_time_hours", "ratio_of_medians")
    assert r["ci_low"] < 0.7 < r["ci_high"]


def test_one_date_for_both_staggered_repositories_blurs_the_effect(staggered_store):
    # Splitting both at the early date puts 8 weeks of the late repository's pre-AI work "after".
    store, when = staggered_store
    d_early = (START + timedelta(weeks=8)).date()
    doc = lift(store_path=store, adoption_dates=[d_early.isoformat()], as_of=when, n_boot=200)
    assert _row(doc, "cycle_time_hours", "ratio_of_medians")["ratio"] > 0.72


# --------------------------------------------------------------------------- bad input


def test_an_adoption_date_after_all_data_is_an_empty_group(planted_store):
    with pytest.raises(DesignError, match="no change with a known cycle time"):
        lift(store_path=planted_store, adoption_dates=["2030-01-01"], as_of=as_of(PLANTED))


def test_bad_adoption_dates_are_one_line_config_errors(planted_store):
    with pytest.raises(ConfigError, match="not YYYY-MM-DD"):
        lift(store_path=planted_store, adoption_dates=["March"])
    with pytest.raises(ConfigError, match="no repository 'nope'"):
        lift(store_path=planted_store, adoption_dates=["nope=2024-01-01"])
    with pytest.raises(ConfigError, match="one date for all repositories"):
        lift(store_path=planted_store, adoption_dates=["2024-01-01", "2024-02-01"])


def test_a_single_author_is_a_single_cluster(tmp_path):
    team = Team(authors=1, weeks=16, adoption_week=8)
    write_repo(tmp_path / "solo", team, seed=4)
    loopmeter.ingest([tmp_path / "solo"], store_path=tmp_path / "s.duckdb")
    with pytest.raises(DesignError, match="1 cluster"):
        lift(store_path=tmp_path / "s.duckdb", adoption_dates=[date(2024, 2, 26).isoformat()], as_of=as_of(team))


def test_open_pull_requests_are_censored_not_dropped_in_the_survival_estimate(tmp_path):
    from lifelines import KaplanMeierFitter

    team = Team(authors=10, weeks=16, adoption_week=8)
    write_repo(tmp_path / "team", team, seed=8)
    store = tmp_path / "s.duckdb"
    loopmeter.ingest([tmp_path / "team"], store_path=store)
    when = as_of(team)
    # What a tracker source writes (docs/design.md): pull requests under the tracker's own repository
    # name, matched to the git repository by a merged one's same_as link to its change.
    insert = ("insert into items (item_id, source, kind, repo, title, created_at, started_at, done_at, state, "
              "size_lines, author_id, attrs) values (?, 'github', 'pull_request', 'acme/team', 'work', ?, ?, ?, ?, 10, ?, ?)")
    with Store.open(store) as s:
        authors = [r[0] for r in s.con.execute("select actor_id from actors order by actor_id").fetchall()]
        change, landed = s.con.execute("select item_id, done_at from items where kind = 'change' limit 1").fetchone()
        s.con.execute(insert, ["github:acme/team:pr:1000", landed, landed, landed, "merged", authors[0], "{}"])
        s.con.execute("insert into links (src, dst, kind) values ('github:acme/team:pr:1000', ?, 'same_as')", [change])
        for i in range(40):  # still open
            opened = when - timedelta(hours=100 + 10 * i)
            s.con.execute(insert, [f"github:acme/team:pr:{i}", opened, opened, None, "open", authors[i % 10], "{}"])
        for i in range(3):  # closed without merging after as_of: open at as_of
            opened = when - timedelta(hours=300)
            closed = f'{{"closed_at": "{(when + timedelta(days=2)).isoformat()}"}}'
            s.con.execute(insert, [f"github:acme/team:pr:{100 + i}", opened, opened, None, "closed", authors[i], closed])
        for i in range(5):  # abandoned before as_of: neither done nor open, left out
            opened = when - timedelta(hours=300)
            closed = f'{{"closed_at": "{(when - timedelta(days=2)).isoformat()}"}}'
            s.con.execute(insert, [f"github:acme/team:pr:{200 + i}", opened, opened, None, "closed", authors[i], closed])
    adoption = (START + timedelta(weeks=8)).date()
    doc = lift(store_path=store, adoption_dates=[adoption.isoformat()], as_of=when, n_boot=300)
    km = _row(doc, "cycle_time_hours", "km_median_ratio")
    med = _row(doc, "cycle_time_hours", "ratio_of_medians")
    assert km["censored_a"] == 43 and km["censored_b"] == 0 and km["n_censored"] == 43
    assert km["n_a"] == med["n_a"] + 43
    # The independent computation: lifelines on the same finished and open durations.
    with Store.open(store, create=False, read_only=True) as s:
        df = change_frame(backend(s), Window(as_of=when, days=14), None)
    after = df[(df["done_at"].isna()) | (df["done_at"] >= datetime.combine(adoption, datetime.min.time()))]
    after = after[after["cycle_hours"] > 0]
    assert len(after) == km["n_a"]
    fit = KaplanMeierFitter().fit(after["cycle_hours"].to_numpy(float), event_observed=after["observed"].to_numpy(bool))
    # The median is the first time the curve is at or below one half. Here it is exactly 1/2 at an
    # event time, which lifelines' own median_survival_time_ misses by a rounding error in its
    # product, so the median is read from lifelines' curve with that tolerance.
    sf = fit.survival_function_["KM_estimate"]
    assert km["median_a"] == pytest.approx(sf.index[np.argmax(sf.to_numpy() <= 0.5 + 1e-12)], rel=1e-12)
    # Counting the slow open items makes the "after" median longer than dropping them would.
    assert km["ratio"] > med["ratio"]


def test_ai_users_who_were_already_faster_are_named_in_the_selection_caveat(tmp_path):
    # Half the team uses AI after adoption, and that half was 0.6x as slow all along: AI does nothing.
    team = Team(authors=12, weeks=16, adoption_week=8, cycle_ratio=1.0, ai_share_after=0.8, ai_authors=6,
                ai_authors_speed=0.6)
    write_repo(tmp_path / "team", team, seed=9)
    loopmeter.ingest([tmp_path / "team"], store_path=tmp_path / "s.duckdb")
    doc = lift(store_path=tmp_path / "s.duckdb", design="ai-vs-human",
               adoption_dates=[(START + timedelta(weeks=8)).date().isoformat()], as_of=as_of(team), n_boot=300)
    r = _row(doc, "cycle_time_hours", "ratio_of_medians")
    assert r["ci_high"] < 1  # AI-assisted changes look faster ...
    text = r["caveats"][r["caveat_codes"].index("selection")]
    # ... but the same people were faster before anyone used AI; worked out from the planted commits.
    cut = START + timedelta(weeks=8)
    pre = {True: [], False: []}
    for done, cycle, author, *_ in events(team, np.random.default_rng(9)):
        if done < cut:
            started = done - timedelta(hours=cycle)
            pre[author < 6].append((int((done - EPOCH).total_seconds()) - int((started - EPOCH).total_seconds())) / 3600)
    expected = np.median(pre[True]) / np.median(pre[False])
    assert expected < 0.8
    assert f"Before adoption, the authors who later used AI already had {expected:.2f}x the value of the others" in text


def test_staggered_event_study_figure_shows_pre_periods_with_intervals(staggered_store):
    from loopmeter.report.lift_figures import event_study_figure

    store, when = staggered_store
    d_early, d_late = (START + timedelta(weeks=8)).date(), (START + timedelta(weeks=16)).date()
    doc = lift(store_path=store, adoption_dates=[f"early={d_early}", f"late={d_late}"], as_of=when, n_boot=200)
    fig = event_study_figure(doc["figures"]["event_study"])
    points = fig.data[0]
    assert min(points.x) < -1 < 0 < max(points.x)
    assert points.error_y.array is not None and len(points.error_y.array) == len(points.x)


def test_figures_escape_untrusted_labels(before_after):
    from loopmeter.report.lift_figures import km_figure

    km = dict(before_after["figures"]["km"])
    km["groups"] = [dict(g, label="<b>x</b>") for g in km["groups"]]
    names = [t.name for t in km_figure(km).data if t.name]
    assert names and all("&lt;b&gt;x&lt;/b&gt;" in n for n in names)


def test_the_report_splits_each_repository_at_its_own_detected_date(staggered_store):
    store, when = staggered_store
    doc = loopmeter.report_from_store(store_path=store, html_path=None, as_of=when)
    before_after = next(d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after")
    assert before_after["adoption"]["source"] == "detected per repository"
    assert set(before_after["adoption"]["per_repo"]) == {"early", "late"}
    assert before_after["adoption"]["per_repo"]["early"] < before_after["adoption"]["per_repo"]["late"]
    # The summary says the same dates: a two-repository analyze once printed "AI adoption: <the pooled
    # date> (detected per repository)", a date no section used (docs/json-report.md: "date" is null).
    assert doc["adoption"]["date"] is None
    assert doc["adoption"]["per_repo"] == before_after["adoption"]["per_repo"]
    from rich.console import Console

    from loopmeter.report.terminal import render_terminal

    console = Console(record=True, width=200)
    render_terminal(doc, console)
    line = next(ln for ln in console.export_text().splitlines() if ln.startswith("AI adoption:"))
    for repo, day in doc["adoption"]["per_repo"].items():
        assert f"{repo} {day}" in line, line


def test_ai_vs_human_with_per_repository_dates_is_restricted_to_after_adoption(staggered_store):
    store, when = staggered_store
    d_early = (START + timedelta(weeks=8)).date()
    d_late = (START + timedelta(weeks=16)).date()
    doc = lift(store_path=store, design="ai-vs-human", adoption_dates=[f"early={d_early}", f"late={d_late}"],
               as_of=when, n_boot=200)
    r = _row(doc, "cycle_time_hours", "ratio_of_medians")
    assert "whole_history" not in r["caveat_codes"]
    chosen = {row["period"] for row in doc["specification"] if row["chosen"]}
    assert chosen == {"since adoption"}


def test_the_same_history_in_two_fresh_stores_gives_the_same_intervals(tmp_path):
    # Pseudonyms are salted per store; a seeded bootstrap must not depend on them, or a re-ingest
    # prints a different interval for the same data (it once moved a CI bound across the truth).
    team = Team(name="team", authors=6, weeks=16, adoption_week=8, cycle_ratio=0.7)
    write_repo(tmp_path / "team", team, seed=5)
    docs, reports, actors = [], [], []
    for name in ("one", "two"):
        store = tmp_path / f"{name}.duckdb"
        loopmeter.ingest([tmp_path / "team"], store_path=store)
        docs.append(lift(store_path=store, as_of=as_of(team), n_boot=200))
        reports.append(loopmeter.report_from_store(store_path=store, as_of=as_of(team))["lift"])
        with Store.open(store) as s:
            actors.append({r[0] for r in s.con.execute("select actor_id from actors").fetchall()})
    assert actors[0].isdisjoint(actors[1])  # the salts differ, so the ids do
    bounds = [[(r["metric"], r["estimator"], r["ci_low"], r["ci_high"]) for r in d["results"]] for d in docs]
    assert bounds[0] == bounds[1] and any(b[2] is not None for b in bounds[0])
    assert reports[0] == reports[1] and any(r.get("ci_low") is not None for r in reports[0])


def test_the_staggered_did_interval_is_the_same_in_two_fresh_stores(tmp_path):
    # Two repositories adopting eight weeks apart run the staggered DiD, whose units are taken in
    # the order the weekly activity lists them; that order must not follow the salted pseudonyms.
    write_repo(tmp_path / "a", Team(name="a", authors=5, weeks=20, adoption_week=6), seed=1)
    write_repo(tmp_path / "b", Team(name="b", authors=5, weeks=20, adoption_week=14, author_offset=10), seed=2)
    found = []
    for name in ("one", "two"):
        store = tmp_path / f"{name}.duckdb"
        loopmeter.ingest([tmp_path / "a", tmp_path / "b"], store_path=store)
        with Store.open(store, create=False, read_only=True) as s:
            doc = ld.run_design(backend(s), Window(as_of=datetime(2024, 5, 20), days=14), None, "before-after", None,
                                n_boot=200, spec=False)
        found.append(next((r["ci_low"], r["ci_high"]) for r in doc["results"] if r["estimator"] == "did_att"))
    assert found[0][0] is not None
    assert found[0] == found[1]


def test_a_did_upper_limit_past_the_counterfactual_reads_as_no_upper_bound():
    # Almost nothing was validated before adoption anywhere, so the adopters' counterfactual mean
    # is near zero and the ATT's upper limit passes it: the ratio is open above, not missing.
    from loopmeter.lift.weekly import staggered_did
    from loopmeter.report.lift_text import ci_text, sentence

    rng = np.random.default_rng(0)
    w0, rows = date(2024, 1, 1), []
    for repo, adopt in (("early", 4), ("late", 8)):
        for author in range(6):
            for k in range(12):
                after = k >= adopt
                rows.append({"repo": repo, "author_id": f"{repo}{author}", "week": w0 + timedelta(weeks=k),
                             "validated": int(rng.poisson(3.0 if after else 0.05))})
    act = pd.DataFrame(rows)
    dates = {"early": w0 + timedelta(weeks=4), "late": w0 + timedelta(weeks=8)}
    est, _, _ = staggered_did(act, dates, w0 + timedelta(weeks=12), seed=1)
    d = est.to_dict()
    mean_after = act[[(r.week - w0).days // 7 >= (4 if r.repo == "early" else 8) for r in act.itertuples()]]["validated"].mean()
    assert d["att_ci_high"] >= mean_after  # the premise: the counterfactual can be zero
    assert d["ci_high"] is None and d["ci_high_unbounded"] is True and d["ci_low"] > 1
    assert ci_text(d) == f"[{d['ci_low']:.2f}, no upper bound]"
    assert "no upper bound" in sentence({**d, "metric": "validated_throughput_per_contributor_week",
                                         "comparison": "after/before"})


def test_the_regression_sentence_names_repository_fixed_effects_only_when_there_were_several(before_after):
    from loopmeter.report.lift_text import sentence

    r = _row(before_after, "cycle_time_hours", "log_duration_regression")
    assert r["fixed_effects"] == []  # one repository
    assert "no repository fixed effects" in sentence(r)
    assert "with repository fixed effects" in sentence({**r, "fixed_effects": ["repo"]})


def test_the_time_series_row_says_in_plain_words_which_interval_it_shows(before_after):
    from loopmeter.report.lift_text import ci_text, sentence

    r = _row(before_after, "validated_throughput_per_contributor_week", "its_level_change")
    words = "bootstrap interval that allows for week-to-week correlation"
    assert r["interval"] == "sieve_bootstrap_t"
    assert f"{ci_text(r)} ({words})" in sentence(r)
    hac = {**r, "interval": "newey_west", "ci_low": r["ci_low_hac"], "ci_high": r["ci_high_hac"]}
    assert f"{ci_text(hac)} (Newey-West interval that allows for week-to-week correlation)" in sentence(hac)
    # Rows of other estimators keep their sentences: their intervals are not about weeks.
    other = _row(before_after, "validated_throughput_per_contributor_week", "ratio_of_rates")
    assert "week-to-week" not in sentence(other)


def test_the_report_lift_table_names_the_time_series_interval(planted_store, tmp_path):
    import html as html_lib
    import re

    out = tmp_path / "r.html"
    loopmeter.report_from_store(store_path=planted_store, as_of=as_of(PLANTED), html_path=out, seed=3)
    page = out.read_text()
    rows = [html_lib.unescape(re.sub(r"<[^>]+>", " ", tr)) for tr in re.findall(r"<tr>.*?</tr>", page, re.S)]
    results = [tr for tr in rows if " clusters" in tr]  # the results tables (not the specification table)
    its = [tr for tr in results if "interrupted time series" in tr]
    assert its, "no interrupted-time-series row in the lift table"
    for tr in its:
        # Once under the 95% CI column, once in the plain-words sentence.
        assert tr.count("bootstrap interval that allows for week-to-week correlation") == 2, tr
    assert all("week-to-week" not in tr for tr in results if "ratio of medians" in tr)


def test_an_interval_holding_1_is_not_read_as_proof_of_no_difference():
    from loopmeter.report.lift_text import sentence

    r = {"metric": "cycle_time_hours", "comparison": "after/before", "estimator": "ratio_of_medians",
         "ratio": 0.7, "ci_low": 0.45, "ci_high": 1.1}
    text = sentence(r)
    # A wide interval that holds 1 holds a 55% speed-up too: "no difference" is one possibility, not the finding.
    assert "includes 1" in text and "(no difference)" not in text
    assert "no difference is also consistent with the data" in text
