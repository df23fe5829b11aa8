"""Lift designs through the whole pipeline: simulated teams written as real git repositories, ingested
into a real DuckDB store, estimated by `loopmeter.api.lift` and the report. Planted effects must be
recovered inside the 95% intervals, and the caveats built into the data must be raised."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

import loopmeter
from loopmeter.api import lift
from loopmeter.errors import ConfigError, DesignError

from lift_sim import EPOCH, START, Team, as_of, events, write_repo

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
    assert {s["period"] for s in spec} == {"equal windows", "all history before"}
    assert {"ratio_of_medians", "ratio_of_p85"} <= {s["estimator"] for s in spec if s["metric"] == "cycle_time_hours"}
    rng = before_after["specification_range"]["cycle_time_hours"]
    ratios = [s["ratio"] for s in spec if s["metric"] == "cycle_time_hours"]
    assert rng["min"] == min(ratios) and rng["max"] == max(ratios)
    assert sum(s["chosen"] for s in spec if s["metric"] == "validated_throughput_per_contributor_week") == 1


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
