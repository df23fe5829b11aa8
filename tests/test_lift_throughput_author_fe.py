"""The same people's throughput (Poisson with author fixed effects, `poisson_author_fe`) through the
whole pipeline: real git repositories from lift_sim, a real DuckDB store, `loopmeter.api.lift`.
Slower-producing hires join at adoption, so the pooled ratio of rates is dragged down while the
same people's rate ratio recovers the planted 1.5x; and with no author on both sides, no number."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lift_sim import START, Team, as_of, write_teams

import loopmeter
from loopmeter.api import lift
from loopmeter.metrics.changes import Window, backend
from loopmeter.lift.inputs import weekly_activity
from loopmeter.report.lift_text import sentence
from loopmeter.store.db import Store

THROUGHPUT, FE = "validated_throughput_per_contributor_week", "poisson_author_fe"
ADOPTION = START + timedelta(weeks=8)
# Twelve people work throughout: 2 validated changes a week before adoption, 3 after (1.5x each).
SENIORS = Team(name="seniors", authors=12, weeks=16, adoption_week=8, rate_before=1.0, rate_after=2.0)
# Twelve hires join in the adoption week and land one change a week. Their cycle time is short, so
# none of their work is authored before adoption (they are not active before it).
HIRES = Team(name="hires", authors=12, weeks=16, adoption_week=8, first_week=8, rate_after=0.0, base_cycle_h=2.0,
             cycle_ratio=1.0, author_offset=12)


@pytest.fixture(scope="module")
def hires(tmp_path_factory):
    root = tmp_path_factory.mktemp("hires")
    write_teams(root / "team", [SENIORS, HIRES], seed=11)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "team"], store_path=store)
    doc = lift(store_path=store, design="before-after", adoption_dates=[ADOPTION.date().isoformat()],
               as_of=as_of(SENIORS), n_boot=300, seed=1)
    return store, doc


def _row(doc, estimator):
    return next(r for r in doc["results"] if r["metric"] == THROUGHPUT and r["estimator"] == estimator)


@pytest.mark.slow
def test_hires_drag_the_pooled_ratio_down_but_the_same_people_show_the_planted_lift(hires):
    _, doc = hires
    pooled, within = _row(doc, "ratio_of_rates"), _row(doc, FE)
    # Pooled: (12 x 3 + 12 x 1) / 24 = 2 a week after vs 2 before, about 1.0x, far below 1.5x.
    assert pooled["ci_high"] < 1.5 and pooled["ratio"] < 1.2
    assert within["ci_low"] < 1.5 < within["ci_high"] and within["ci_low"] > pooled["ratio"]
    assert within["n_identifying_authors"] == SENIORS.authors and within["n_clusters"] == 24
    assert within["speedup"] == pytest.approx(1 - 1 / within["ratio"])
    assert "few_identifying_authors" not in within["caveat_codes"] and "selection" in within["caveat_codes"]
    check = next(c for c in doc["checks"] if c["metric"] == THROUGHPUT and c["check"] == "few_identifying_authors")
    assert check["applies"] is False


@pytest.mark.slow
def test_the_row_is_statsmodels_glm_with_author_dummies_on_the_store_weeks(hires):
    store, doc = hires
    with Store.open(store, create=False, read_only=True) as s:
        act = weekly_activity(backend(s), Window(as_of=as_of(SENIORS), days=14), None)
    # The pooled row's periods (equal windows: as many weeks before adoption as after it).
    (p,) = _row(doc, "ratio_of_rates")["periods"].values()
    week = act["week"].astype(str)
    act = act[(week >= p["before_from"]) & (week < p["after_until"])]
    act = act.assign(after=(week[act.index] >= p["adoption"]).astype(float))
    # One row per active author-week; the seniors are the only authors on both sides.
    both = act.groupby("author_id")["after"].transform(lambda s: s.nunique() == 2)
    rows = act[both]
    X = pd.get_dummies(rows["author_id"], dtype=float)
    X.insert(0, "after", rows["after"].to_numpy())
    codes = pd.factorize(rows["author_id"])[0]
    fit = sm.GLM(rows["validated"].to_numpy(float), X.to_numpy(), family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": codes, "use_correction": False}, tol=1e-12)
    g = rows["author_id"].nunique()
    r = _row(doc, FE)
    assert r["ratio"] == pytest.approx(np.exp(fit.params[0]), rel=1e-6)
    assert r["se"] == pytest.approx(fit.bse[0] * np.sqrt(g / (g - 1)), rel=1e-6)
    assert r["n_identifying_changes"] == int(rows["validated"].sum())
    assert g == SENIORS.authors


@pytest.mark.slow
def test_the_sentence_and_the_specification_table_show_it_beside_the_ratio_of_rates(hires):
    _, doc = hires
    r = _row(doc, FE)
    assert sentence(r) == (f"The same people (12 authors active on both sides) validated {r['ratio']:.2f}x as many "
                           f"changes per active week after adoption as before [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
    spec = [s for s in doc["specification"] if s["metric"] == THROUGHPUT]
    for est in ("ratio_of_rates", FE):
        assert {(s["window_days"], s["period"]) for s in spec if s["estimator"] == est} == {
            (s["window_days"], s["period"]) for s in spec if s["estimator"] == "ratio_of_rates"}
    chosen = next(s for s in spec if s["chosen"] and s["estimator"] == FE)
    assert (chosen["ratio"], chosen["ci_low"]) == (r["ratio"], r["ci_low"])


def test_no_author_on_both_sides_gives_no_number_and_says_why(tmp_path):
    # Everyone leaves at adoption and a new team takes over; short cycles keep each side's work
    # inside its own weeks.
    old = Team(name="old", authors=5, weeks=5, adoption_week=None, base_cycle_h=2.0, cycle_ratio=1.0)
    new = Team(name="new", authors=5, weeks=10, adoption_week=5, first_week=5, base_cycle_h=2.0, cycle_ratio=1.0,
               author_offset=5)
    write_teams(tmp_path / "team", [old, new], seed=2)
    loopmeter.ingest([tmp_path / "team"], store_path=tmp_path / "s.duckdb")
    doc = lift(store_path=tmp_path / "s.duckdb", design="before-after",
               adoption_dates=[(START + timedelta(weeks=5)).date().isoformat()], as_of=as_of(new), n_boot=100)
    r = _row(doc, FE)
    assert r["ratio"] is None and r["ci_low"] is None and r["ci_high"] is None
    assert r["n_identifying_authors"] == 0 and r["n_identifying_changes"] == 0
    assert r["caveats"][0].startswith("No author is active with validated changes in both the period after adoption "
                                      "and the period before adoption")
    assert sentence(r).endswith("no estimate (see the caveats).")
    assert _row(doc, "ratio_of_rates")["ratio"] is not None  # the pooled ratio still has a number
    check = next(c for c in doc["checks"] if c["metric"] == THROUGHPUT and c["check"] == "few_identifying_authors")
    assert check["applies"] is True


def test_few_identifying_authors_caveat_speaks_of_active_authors_and_validated_changes():
    from loopmeter.lift import checks as cv

    c = cv.few_identifying_authors(3, 41, 9, ("the period after adoption", "the period before adoption"),
                                   changes="validated changes", side="are active with validated changes")
    assert c.code == "few_identifying_authors"
    assert c.text.startswith("Only 3 of 9 authors are active with validated changes in both the period after adoption "
                             "and the period before adoption (41 validated changes)")
    assert cv.few_identifying_authors(10, 400, 12) is None
