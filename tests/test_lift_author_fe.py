"""The regression with author fixed effects through the whole pipeline (real git repositories from
lift_sim, a real DuckDB store, `loopmeter.api.lift`): a composition shift that fools the pooled
estimate, the same people's ratio recovered, the identifying authors counted, and no overlap."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from lift_sim import START, Team, as_of, events, write_repo, write_teams

import loopmeter
from loopmeter.api import lift
from loopmeter.metrics.changes import Window, backend
from loopmeter.lift.inputs import change_frame
from loopmeter.report.lift_text import sentence
from loopmeter.store.db import Store

AUTHOR_FE, AUTHOR_FE_SIZE = "log_duration_regression_author_fe", "log_duration_regression_author_fe_size"
ADOPTION_WEEK = 8
# Eight of twenty authors use AI after adoption, and those eight were twice as fast all along; within
# each of them an AI-assisted change takes 0.8x as long as their own human ones.
SHIFT = Team(authors=20, weeks=16, adoption_week=ADOPTION_WEEK, cycle_ratio=1.0, ai_share_after=0.6, ai_authors=8,
             ai_authors_speed=0.5, ai_ratio=0.8)
SEED = 21
CUT = START + timedelta(weeks=ADOPTION_WEEK)


@pytest.fixture(scope="module")
def shift(tmp_path_factory):
    root = tmp_path_factory.mktemp("shift")
    write_repo(root / "team", SHIFT, seed=SEED)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "team"], store_path=store)
    doc = lift(store_path=store, design="ai-vs-human", adoption_dates=[CUT.date().isoformat()], as_of=as_of(SHIFT),
               n_boot=300, seed=1)
    return store, doc


def _row(doc, estimator):
    return next(r for r in doc["results"] if r["metric"] == "cycle_time_hours" and r["estimator"] == estimator)


def test_same_people_regression_recovers_the_planted_ratio_the_pooled_one_misses(shift):
    _, doc = shift
    pooled, within = _row(doc, "log_duration_regression"), _row(doc, AUTHOR_FE)
    assert within["ci_low"] < SHIFT.ai_ratio < within["ci_high"]
    # Pooled, the AI users' own speed (0.5x) is mixed in: about 0.8 x 0.5 = 0.4, far below 0.8.
    assert pooled["ci_high"] < SHIFT.ai_ratio and pooled["ratio"] < within["ci_low"]
    sized = _row(doc, AUTHOR_FE_SIZE)
    assert sized["ci_low"] < SHIFT.ai_ratio < sized["ci_high"]
    assert within["fixed_effects"] == ["author"] and sized["adjusted_for"] == ["log1p_lines"]


def test_identifying_authors_and_changes_are_those_with_both_kinds_since_adoption(shift):
    _, doc = shift
    kinds: dict[int, set[bool]] = {}
    count: dict[int, int] = {}
    for done, _cycle, author, ai, _lines in events(SHIFT, np.random.default_rng(SEED)):
        if done >= CUT:
            kinds.setdefault(author, set()).add(ai)
            count[author] = count.get(author, 0) + 1
    both = [a for a, k in kinds.items() if k == {True, False}]
    assert sorted(both) == list(range(8))  # the eight AI users; the other twelve are human only
    for est in (AUTHOR_FE, AUTHOR_FE_SIZE):
        r = _row(doc, est)
        assert r["n_identifying_authors"] == len(both)
        assert r["n_identifying_changes"] == sum(count[a] for a in both)
        assert r["n_clusters"] == SHIFT.authors
        # Eight people carry the comparison: fewer than the ten the cluster-robust interval needs.
        assert "few_identifying_authors" in r["caveat_codes"]
        assert any(c.startswith(f"Only 8 of 20 authors have changes in both the AI-assisted group and the human group "
                                f"({r['n_identifying_changes']:,} changes)") for c in r["caveats"])
    check = next(c for c in doc["checks"] if c["check"] == "few_identifying_authors")
    assert check["applies"] is True
    assert "few_identifying_authors" not in _row(doc, "log_duration_regression")["caveat_codes"]


def test_the_author_fe_row_is_the_one_statsmodels_fits_with_author_dummies_on_the_store_rows(shift):
    store, doc = shift
    with Store.open(store, create=False, read_only=True) as s:
        df = change_frame(backend(s), Window(as_of=as_of(SHIFT), days=14), None)
    df = df[(df["cycle_hours"] > 0) & (df["done_at"] >= CUT)]
    df = df.assign(y=np.log(df["cycle_hours"]), lsize=np.log1p(df["size_lines"]), ai=df["ai_assisted"].astype(float))
    codes = df["author_id"].astype("category").cat.codes
    g, n = int(codes.nunique()), len(df)
    for formula, est, k in (("y ~ ai + C(author_id)", AUTHOR_FE, 1), ("y ~ ai + lsize + C(author_id)", AUTHOR_FE_SIZE, 2)):
        fit = smf.ols(formula, df).fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": False})
        r = _row(doc, est)
        # CR1 with the author dummies (nested in the author clusters) not counted in K, as xtreg, fe.
        se = float(fit.bse["ai"]) * np.sqrt(g / (g - 1) * (n - 1) / (n - k))
        t = scipy.stats.t.ppf(0.975, g - 1)
        b = fit.params["ai"]
        assert r["ratio"] == pytest.approx(np.exp(b), rel=1e-9)
        assert r["se"] == pytest.approx(se, rel=1e-6)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((np.exp(b - t * se), np.exp(b + t * se)), rel=1e-6)


def test_the_report_sentence_says_it_compares_the_same_people(shift):
    _, doc = shift
    r = _row(doc, AUTHOR_FE)
    text = sentence(r)
    assert text.startswith("Comparing the same people's AI-assisted and human changes (8 authors with changes on "
                           "both sides), the cycle time of their AI-assisted changes is ")
    assert f"{r['ratio']:.2f}x that of their human changes [{r['ci_low']:.2f}, {r['ci_high']:.2f}]" in text


def test_the_specification_table_lists_the_same_people_rows(shift):
    _, doc = shift
    spec = [s for s in doc["specification"] if s["estimator"] in (AUTHOR_FE, AUTHOR_FE_SIZE)]
    assert {(s["estimator"], s["period"]) for s in spec} == {
        (e, p) for e in (AUTHOR_FE, AUTHOR_FE_SIZE) for p in ("since adoption", "whole history")}
    chosen = next(s for s in spec if s["chosen"] and s["estimator"] == AUTHOR_FE)
    assert chosen["ratio"] == _row(doc, AUTHOR_FE)["ratio"]


def test_no_author_on_both_sides_gives_no_number_and_says_why(tmp_path):
    # Every AI user uses AI for every change after adoption; the rest never do.
    team = Team(authors=8, weeks=10, adoption_week=5, cycle_ratio=1.0, ai_share_after=1.0, ai_authors=3)
    write_repo(tmp_path / "team", team, seed=3)
    loopmeter.ingest([tmp_path / "team"], store_path=tmp_path / "s.duckdb")
    doc = lift(store_path=tmp_path / "s.duckdb", design="ai-vs-human",
               adoption_dates=[(START + timedelta(weeks=5)).date().isoformat()], as_of=as_of(team), n_boot=200)
    for est in (AUTHOR_FE, AUTHOR_FE_SIZE):
        r = _row(doc, est)
        assert r["ratio"] is None and r["ci_low"] is None and r["ci_high"] is None
        assert r["n_identifying_authors"] == 0 and r["n_identifying_changes"] == 0
        assert any(c.startswith("No author has changes in both the AI-assisted group and the human group") for c in
                   r["caveats"])
        assert sentence(r).endswith("no estimate (see the caveats).")
    assert _row(doc, "log_duration_regression")["ratio"] is not None  # the pooled fit still has a number
    assert next(c for c in doc["checks"] if c["check"] == "few_identifying_authors")["applies"] is True


def test_new_hires_after_adoption_fool_the_pooled_before_after_but_not_the_same_people(tmp_path):
    # Ten people work throughout and nothing changes for them at adoption; six slower new hires
    # (4x their cycle time) join in the adoption week. Pooled, "after" looks much slower.
    seniors = Team(name="seniors", authors=10, weeks=16, adoption_week=8, base_cycle_h=20.0, cycle_ratio=1.0)
    hires = Team(name="hires", authors=6, weeks=16, adoption_week=8, first_week=8, base_cycle_h=80.0, cycle_ratio=1.0,
                 author_offset=10)
    write_teams(tmp_path / "team", [seniors, hires], seed=5)
    loopmeter.ingest([tmp_path / "team"], store_path=tmp_path / "s.duckdb")
    doc = lift(store_path=tmp_path / "s.duckdb", design="before-after",
               adoption_dates=[(START + timedelta(weeks=8)).date().isoformat()], as_of=as_of(seniors), n_boot=200)
    pooled, within = _row(doc, "log_duration_regression"), _row(doc, AUTHOR_FE)
    # The hires' slowness taken for an effect of adoption: about 4 ** (6 / 16) = 1.7x.
    assert pooled["ci_low"] > 1.0 and pooled["ratio"] > 1.4
    assert within["ci_low"] < 1.0 < within["ci_high"] < pooled["ratio"]
    assert within["n_identifying_authors"] == seniors.authors and within["n_clusters"] == 16
    assert "few_identifying_authors" not in within["caveat_codes"]
    assert next(c for c in doc["checks"] if c["check"] == "few_identifying_authors")["applies"] is False
    assert sentence(within).startswith("Comparing the same people before and after adoption (10 authors with changes "
                                       "on both sides), their cycle time after adoption is ")
