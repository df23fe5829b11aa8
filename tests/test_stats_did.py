"""Callaway & Sant'Anna staggered DiD: hand-worked cells, a regression cross-check, a simulation where
two-way fixed effects fails, bad input, and (slow) interval coverage and pre-trend test size."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from loopmeter.errors import LoopmeterError
from loopmeter.stats.did import PanelError, callaway_santanna, to_ratio

# ------------------------------------------------------------------------- the hand-worked panel
# Five units, weeks 1..5. Cohort 3 = {a1, a2}, cohort 4 = {b}, never treated = {c, d}.
Y = {
    "a1": [1.0, 2.0, 4.0, 5.5, 6.0],
    "a2": [2.0, 2.5, 3.0, 6.0, 7.5],
    "b": [0.5, 1.5, 2.0, 4.0, 3.0],
    "c": [1.0, 1.2, 1.9, 2.1, 2.8],
    "d": [3.0, 2.9, 3.5, 3.4, 4.6],
}
FIRST = {"a1": 3, "a2": 3, "b": 4, "c": None, "d": None}


def hand_panel() -> pd.DataFrame:
    rows = [(u, t, Y[u][t - 1], FIRST[u]) for u in Y for t in range(1, 6)]
    return pd.DataFrame(rows, columns=["unit", "period", "y", "first_treated"])


def delta(unit: str, t: int, base: int) -> float:
    return Y[unit][t - 1] - Y[unit][base - 1]


def did(treated: list[str], controls: list[str], t: int, base: int) -> float:
    """One 2x2 DiD from group means: change in the cohort minus change in the controls."""
    return float(
        np.mean([delta(u, t, base) for u in treated]) - np.mean([delta(u, t, base) for u in controls])
    )


def hand_att() -> dict[tuple[int, int], float]:
    # Controls worked out by hand from "not yet treated at max(t, g-1), or never":
    # cohort 3 (base week 2): b adopts at 4, so it is a control for t=1 and t=3 but not t>=4.
    # cohort 4 (base week 3): a1/a2 adopted at 3, never a control; only c and d.
    a, cd = ["a1", "a2"], ["c", "d"]
    return {
        (3, 1): did(a, ["b", "c", "d"], 1, 2),
        (3, 3): did(a, ["b", "c", "d"], 3, 2),
        (3, 4): did(a, cd, 4, 2),
        (3, 5): did(a, cd, 5, 2),
        (4, 1): did(["b"], cd, 1, 3),
        (4, 2): did(["b"], cd, 2, 3),
        (4, 4): did(["b"], cd, 4, 3),
        (4, 5): did(["b"], cd, 5, 3),
    }


def test_group_time_effects_match_hand_worked_2x2_dids():
    r = callaway_santanna(hand_panel(), n_boot=200)
    got = {(c.g, c.t): c.effect.att for c in r.group_time}
    want = hand_att()
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    counts = {(c.g, c.t): (c.n_treated, c.n_control) for c in r.group_time}
    assert counts[(3, 3)] == (2, 3) and counts[(3, 4)] == (2, 2) and counts[(4, 1)] == (1, 2)
    assert r.n_units == 5 and r.n_treated_units == 3 and r.n_cohorts == 2


def test_aggregates_use_cohort_size_weights():
    r = callaway_santanna(hand_panel(), n_boot=200)
    a = hand_att()
    # Simple: post cells weighted by cohort size, 2 for cohort 3 and 1 for cohort 4, out of 8.
    simple = (2 * (a[3, 3] + a[3, 4] + a[3, 5]) + a[4, 4] + a[4, 5]) / 8
    assert r.att == pytest.approx(simple, abs=1e-9)
    es = {e: eff.att for e, eff, _ in r.event_study}
    assert es[-3] == pytest.approx(a[4, 1], abs=1e-9)
    assert es[-2] == pytest.approx((2 * a[3, 1] + a[4, 2]) / 3, abs=1e-9)
    assert es[-1] == 0.0
    assert es[0] == pytest.approx((2 * a[3, 3] + a[4, 4]) / 3, abs=1e-9)
    assert es[1] == pytest.approx((2 * a[3, 4] + a[4, 5]) / 3, abs=1e-9)
    assert es[2] == pytest.approx(a[3, 5], abs=1e-9)
    ns = {e: n for e, _, n in r.event_study}
    assert ns == {-3: 1, -2: 3, -1: 3, 0: 3, 1: 3, 2: 2}
    groups = {g: eff.att for g, eff, _ in r.by_group}
    assert groups[3] == pytest.approx((a[3, 3] + a[3, 4] + a[3, 5]) / 3, abs=1e-9)
    assert groups[4] == pytest.approx((a[4, 4] + a[4, 5]) / 2, abs=1e-9)


def test_event_window_trims_the_event_study_but_not_the_simple_aggregate():
    full = callaway_santanna(hand_panel(), n_boot=200, seed=1)
    cut = callaway_santanna(hand_panel(), n_boot=200, seed=1, event_window=(-2, 1))
    assert [e for e, _, _ in cut.event_study] == [-2, -1, 0, 1]
    full_es = {e: eff.att for e, eff, _ in full.event_study}
    assert all(eff.att == pytest.approx(full_es[e], abs=1e-12) for e, eff, _ in cut.event_study)
    assert cut.pre_trend.event_times == (-2,)
    assert cut.att == pytest.approx(full.att, abs=1e-12)
    with pytest.raises(PanelError, match="event_window"):
        callaway_santanna(hand_panel(), event_window=(0, 3))


def test_never_treated_controls_drop_the_not_yet_treated_cohort():
    r = callaway_santanna(hand_panel(), control_group="never_treated", n_boot=200)
    got = {(c.g, c.t): c.effect.att for c in r.group_time}
    assert got[3, 3] == pytest.approx(did(["a1", "a2"], ["c", "d"], 3, 2), abs=1e-9)
    assert got[3, 1] == pytest.approx(did(["a1", "a2"], ["c", "d"], 1, 2), abs=1e-9)


def test_arrays_give_the_same_result_as_a_dataframe():
    df = hand_panel()
    arrays = {k: df[k].to_numpy() for k in df.columns}
    a = callaway_santanna(df, n_boot=200, seed=3).to_dict()
    b = callaway_santanna(arrays, n_boot=200, seed=3).to_dict()
    assert a == b


def test_to_dict_is_json_and_carries_ratios_for_log_outcomes():
    r = callaway_santanna(hand_panel(), n_boot=200, log_outcome=True)
    d = json.loads(json.dumps(r.to_dict()))
    for key in (
        "estimator",
        "att",
        "ci_low",
        "ci_high",
        "se",
        "n_units",
        "n_treated_units",
        "n_cohorts",
        "group_time",
        "event_study",
        "pre_trend",
        "caveats",
    ):
        assert key in d
    assert d["estimator"] == "callaway_santanna"
    assert d["ratio"] == pytest.approx(math.exp(d["att"]))
    assert d["ci_low_ratio"] == pytest.approx(math.exp(d["ci_low"]))
    assert d["ci_high_ratio"] == pytest.approx(math.exp(d["ci_high"]))
    assert d["ci_low"] < d["att"] < d["ci_high"]
    row = d["event_study"][0]
    assert set(row) >= {"e", "att", "ci_low", "ci_high", "n", "ratio"}
    assert set(d["pre_trend"]) >= {"statistic", "p_value", "rejects"}
    assert to_ratio(math.log(0.8)) == pytest.approx(0.8)
    level = callaway_santanna(hand_panel(), n_boot=200).to_dict()
    assert level["ratio"] is None and level["event_study"][0]["ratio"] is None


def test_every_output_key_is_documented_in_metrics_md():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text()
    section = text[text.index("## Staggered adoption (difference-in-differences)") :]
    d = callaway_santanna(hand_panel(), n_boot=200, log_outcome=True).to_dict()
    keys = set(d) | set(d["pre_trend"])
    for nested in ("group_time", "event_study", "by_group"):
        keys |= set(d[nested][0])
    for key in sorted(keys):
        assert f"`{key}`" in section or re.search(rf"[{{, ]{key}[,}} .]", section), key


def test_same_seed_same_intervals():
    a = callaway_santanna(hand_panel(), n_boot=300, seed=11).to_dict()
    b = callaway_santanna(hand_panel(), n_boot=300, seed=11).to_dict()
    c = callaway_santanna(hand_panel(), n_boot=300, seed=12).to_dict()
    assert a == b
    assert a["se"] != c["se"]


# ---------------------------------------------------------------------- simulated staggered panels


def simulate(
    seed: int,
    cohorts: dict[int, int],
    weeks: int,
    slope: dict[int, float],
    *,
    sd: float = 0.2,
    drift: dict[int, float] | None = None,
) -> pd.DataFrame:
    """Units with their own level, shared week shocks, and a planted effect that grows with the weeks
    since adoption: ``slope[g] * (t - g + 1)``. Cohort 0 is never treated. ``drift`` adds a
    cohort-specific linear trend (a parallel-trends violation)."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, 0.3, weeks + 1)
    rows = []
    unit = 0
    for g, size in cohorts.items():
        for _ in range(size):
            level = rng.normal(0, 1)
            for t in range(1, weeks + 1):
                effect = slope.get(g, 0.0) * (t - g + 1) if g and t >= g else 0.0
                trend = (drift or {}).get(g, 0.0) * t
                rows.append(
                    (
                        f"repo{unit}",
                        t,
                        level + shocks[t] + trend + effect + rng.normal(0, sd),
                        g if g else None,
                    )
                )
            unit += 1
    return pd.DataFrame(rows, columns=["unit", "period", "y", "first_treated"])


def planted_simple_att(cohorts: dict[int, int], weeks: int, slope: dict[int, float]) -> float:
    """The simple aggregate's estimand, from the planted effects: every post week of every cohort,
    weighted by cohort size."""
    num = sum(cohorts[g] * slope[g] * (t - g + 1) for g in slope for t in range(g, weeks + 1))
    den = sum(cohorts[g] * (weeks - g + 1) for g in slope)
    return num / den


def twfe(df: pd.DataFrame) -> float:
    """The pooled two-way fixed-effects coefficient: OLS of y on a treated dummy, unit and week dummies."""
    treated = ((df.first_treated.notna()) & (df.period >= df.first_treated)).astype(float)
    dummies = pd.get_dummies(df[["unit", "period"]].astype(str), drop_first=True, dtype=float)
    x = sm.add_constant(pd.concat([treated.rename("treated"), dummies], axis=1))
    return float(sm.OLS(df.y.to_numpy(), x).fit().params["treated"])


STAGGERED = {4: 30, 10: 30, 16: 30, 0: 10}
GROWING = {4: 0.10, 10: 0.05, 16: 0.02}  # effects grow with time since adoption; earlier is bigger


def test_twfe_is_biased_under_staggered_dynamic_effects_and_cs_recovers_the_planted_effect():
    df = simulate(1, STAGGERED, 20, GROWING)
    truth = planted_simple_att(STAGGERED, 20, GROWING)
    r = callaway_santanna(df, seed=1)
    assert r.ci[0] <= truth <= r.ci[1]
    assert abs(r.att - truth) < 0.1 * truth
    beta = twfe(df)
    # The pooled regression leans on already-treated cohorts as controls: far off, here even negative.
    assert abs(beta - truth) > 0.3 * truth
    assert beta < 0 < truth


def test_event_study_traces_the_planted_dynamic_path():
    df = simulate(2, STAGGERED, 20, GROWING)
    r = callaway_santanna(df, seed=2)
    for e, eff, n in r.event_study:
        contributing = [g for g in GROWING if 1 <= g + e <= 20]
        if e < -1:
            truth = 0.0
        else:
            w = [STAGGERED[g] for g in contributing]
            truth = float(
                np.average([GROWING[g] * (e + 1) if e >= 0 else 0.0 for g in contributing], weights=w)
            )
        assert eff.ci_low - 0.02 <= truth <= eff.ci_high + 0.02, (e, eff, truth)
        assert n == sum(STAGGERED[g] for g in contributing)


def test_each_cell_equals_the_interaction_coefficient_of_its_own_two_by_two_regression():
    df = simulate(3, {3: 4, 5: 3, 0: 4}, 7, {3: 0.3, 5: 0.1}, sd=0.5)
    r = callaway_santanna(df, n_boot=200)
    for c in r.group_time:
        if (c.g, c.t) not in {(3, 1), (3, 4), (5, 2), (5, 7)}:
            continue
        base = c.g - 1
        first = df.first_treated.fillna(0)
        control = (first == 0) | (first > max(c.t, base))
        sub = df[df.period.isin([c.t, base]) & ((first == c.g) | control)]
        sub = sub.assign(
            cohort=(sub.first_treated == c.g).astype(float), after=(sub.period == c.t).astype(float)
        )
        coef = smf.ols("y ~ cohort * after", data=sub).fit().params["cohort:after"]
        assert c.effect.att == pytest.approx(coef, abs=1e-9)


def test_cell_standard_error_matches_the_two_sample_variance_of_the_changes():
    df = simulate(4, {5: 40, 0: 40}, 8, {5: 0.2})
    r = callaway_santanna(df, n_boot=4000, seed=4)
    cell = next(c for c in r.group_time if (c.g, c.t) == (5, 7))
    wide = df.pivot(index="unit", columns="period", values="y")
    change = wide[7] - wide[4]
    treated = df.groupby("unit").first_treated.first().notna()
    analytic = math.sqrt(
        change[treated].var(ddof=1) / treated.sum() + change[~treated].var(ddof=1) / (~treated).sum()
    )
    assert cell.effect.se == pytest.approx(analytic, rel=0.05)


# ----------------------------------------------------------------------------------- bad input


def test_no_treated_units_is_an_error():
    df = hand_panel().assign(first_treated=None)
    with pytest.raises(PanelError, match="no unit adopts"):
        callaway_santanna(df)


def test_single_unit_is_an_error():
    df = hand_panel().query("unit == 'a1'")
    with pytest.raises(LoopmeterError, match="single unit"):
        callaway_santanna(df)


def test_nan_outcome_is_named():
    df = hand_panel()
    df.loc[(df.unit == "b") & (df.period == 4), "y"] = np.nan
    with pytest.raises(PanelError, match=r"unit 'b' week 4"):
        callaway_santanna(df)


def test_units_treated_in_the_first_week_are_left_out_with_a_caveat():
    df = hand_panel()
    early = pd.DataFrame([("z", t, 10.0 + t * t, 1) for t in range(1, 6)], columns=df.columns)
    r = callaway_santanna(pd.concat([df, early]), n_boot=200, seed=5)
    assert r.n_units == 5
    assert any("first week" in c and "z" in c for c in r.caveats)
    assert r.att == pytest.approx(callaway_santanna(df, n_boot=200).att, abs=1e-12)


def test_week_numbering_does_not_matter_and_empty_means_never_treated():
    base = callaway_santanna(hand_panel(), n_boot=200, seed=9).to_dict()
    shifted = hand_panel().assign(period=lambda d: d.period - 2, first_treated=lambda d: d.first_treated - 2)
    r = callaway_santanna(shifted, n_boot=200, seed=9).to_dict()  # weeks -1..3, adoption at 1 and 2
    assert r["att"] == pytest.approx(base["att"], abs=1e-12)
    assert [c["att"] for c in r["group_time"]] == pytest.approx(
        [c["att"] for c in base["group_time"]], abs=1e-12
    )
    assert {c["g"] for c in r["group_time"]} == {1, 2}


def test_units_adopting_after_the_last_week_are_controls_with_a_note():
    df = hand_panel()
    r = callaway_santanna(df.assign(first_treated=df.first_treated.where(df.unit != "c", 9)), n_boot=200)
    assert r.att == pytest.approx(callaway_santanna(df, n_boot=200).att, abs=1e-12)
    assert any("after the last week" in c and "c" in c for c in r.caveats)


def test_cells_without_controls_are_skipped_and_named():
    # Everyone adopts by week 5: at weeks 5..6 nobody is left untreated to compare against, and
    # cohort 5 never has a comparison (cohort 3 is treated at its base week 4).
    df = simulate(6, {3: 3, 5: 3}, 6, {3: 0.5, 5: 0.5})
    r = callaway_santanna(df, n_boot=200)
    skipped = {(g, t) for g, t, _ in r.skipped_cells}
    assert skipped == {(3, 5), (3, 6), (5, 1), (5, 2), (5, 3), (5, 5), (5, 6)}
    assert r.n_cohorts == 1 and r.n_treated_units == 3
    assert any("skipped" in c and "g=3 t=5" in c for c in r.caveats)
    assert {(c.g, c.t) for c in r.group_time if c.t >= c.g} == {(3, 3), (3, 4)}
    assert r.to_dict()["skipped_cells"][0]["reason"]


def test_no_estimable_post_cell_is_an_error():
    df = simulate(7, {3: 3, 4: 3}, 5, {3: 0.5, 4: 0.5})
    df = df[~((df.first_treated == 4) & (df.period >= 3))]  # the only control for cohort 3 vanishes
    with pytest.raises(PanelError, match="no post-adoption group-time cell"):
        callaway_santanna(df)


def test_unbalanced_panel_uses_units_seen_in_both_weeks():
    df = hand_panel()
    df = df[~((df.unit == "c") & (df.period == 4))]
    r = callaway_santanna(df, n_boot=200)
    cell = {(c.g, c.t): c for c in r.group_time}
    assert cell[3, 4].n_control == 1
    assert cell[3, 4].effect.att == pytest.approx(did(["a1", "a2"], ["d"], 4, 2), abs=1e-9)
    assert any("unbalanced" in c for c in r.caveats)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns="first_treated"), "lacks column"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "repeat a \\(unit, period\\) pair"),
        (lambda d: d.assign(period=d.period + 0.5), "integer week index"),
        (
            lambda d: d.assign(period=pd.to_datetime("2024-01-01") + pd.to_timedelta(d.period, "W")),
            "not a date",
        ),
        (lambda d: d.assign(y=d.y.astype(object).where(d.unit != "c", "fast")), "y is not a number"),
        (
            lambda d: d.assign(first_treated=np.where(d.unit.eq("b") & d.period.eq(2), 5, d.first_treated)),
            "not constant within unit 'b'",
        ),
        (lambda d: d.assign(period=d.period - 1, first_treated=d.first_treated.fillna(0)), "ambiguous"),
        (lambda d: d.assign(first_treated=1), "already treated in the first week"),
    ],
)
def test_malformed_panels_get_one_clear_line(mutate, message):
    with pytest.raises(PanelError, match=message) as err:
        callaway_santanna(mutate(hand_panel()))
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------ slow: calibration

COVERAGE_COHORTS = {3: 15, 5: 15, 7: 15, 0: 15}
COVERAGE_SLOPES = {3: 0.15, 5: 0.08, 7: 0.03}


@pytest.mark.slow
def test_simple_aggregate_interval_covers_the_planted_effect_about_95_percent():
    truth = planted_simple_att(COVERAGE_COHORTS, 9, COVERAGE_SLOPES)
    hits = 0
    runs = 250
    for seed in range(runs):
        df = simulate(1000 + seed, COVERAGE_COHORTS, 9, COVERAGE_SLOPES, sd=0.3)
        r = callaway_santanna(df, n_boot=499, seed=seed)
        hits += r.ci[0] <= truth <= r.ci[1]
    assert 0.90 <= hits / runs <= 0.99, hits / runs


@pytest.mark.slow
def test_pre_trend_test_rejects_about_5_percent_without_effect_or_drift():
    runs = 400
    rejections = 0
    for seed in range(runs):
        df = simulate(5000 + seed, COVERAGE_COHORTS, 9, {})
        rejections += bool(callaway_santanna(df, n_boot=50, seed=seed).pre_trend.rejects)
    assert 0.02 <= rejections / runs <= 0.09, rejections / runs


@pytest.mark.slow
def test_pre_trend_test_catches_a_cohort_drifting_before_adoption():
    caught = 0
    for seed in range(40):
        df = simulate(9000 + seed, COVERAGE_COHORTS, 9, {}, drift={7: 0.08})
        r = callaway_santanna(df, n_boot=50, seed=seed)
        caught += bool(r.pre_trend.rejects) and any(
            "parallel-trends assumption looks wrong" in c for c in r.caveats
        )
    assert caught >= 36


@pytest.mark.slow
def test_multiplier_se_agrees_with_resampling_whole_units():
    # An independent check of the aggregate's influence function (incl. estimated cohort shares):
    # re-estimate on panels of units drawn with replacement and compare the spread.
    df = simulate(8, STAGGERED, 12, GROWING)
    r = callaway_santanna(df, seed=8)
    units = df.unit.unique()
    rng = np.random.default_rng(8)
    by_unit = {u: g for u, g in df.groupby("unit")}
    draws = []
    for _ in range(200):
        pick = rng.choice(units, size=len(units), replace=True)
        boot = pd.concat([by_unit[u].assign(unit=f"{u}#{i}") for i, u in enumerate(pick)])
        draws.append(callaway_santanna(boot, n_boot=50).att)
    assert r.overall.se == pytest.approx(float(np.std(draws, ddof=1)), rel=0.2)


def test_an_outcome_without_variation_is_an_error_not_a_zero_width_interval():
    # Every unit's outcome is the same every week: att 0 with the interval [0, 0] would claim
    # certainty; nothing in the data measures the uncertainty.
    rows = [(u, t, 1.0, 5 if u < 10 else None) for u in range(20) for t in range(1, 9)]
    df = pd.DataFrame(rows, columns=["unit", "period", "y", "first_treated"])
    with pytest.raises(PanelError, match="do not vary"):
        callaway_santanna(df, n_boot=100)
    # The same when the constant is written two ways that differ in the last bit (0.1 + 0.2 vs
    # 0.3): rounding noise is not variation.
    noisy = df.assign(y=[(0.1 + 0.2 if (u + t) % 2 else 0.3) * 7.7 for u, t in zip(df.unit, df.period)])
    with pytest.raises(PanelError, match="do not vary"):
        callaway_santanna(noisy, n_boot=100)


def test_pre_periods_without_variation_are_not_called_missing():
    # Weeks 1..4 are flat for everyone, so the pre-adoption points are exactly zero with zero
    # standard error: untestable, but they exist, so the caveat must not say there are none.
    rng = np.random.default_rng(0)
    rows = [
        (u, t, 1.0 if t <= 4 else float(rng.normal()), 5 if u < 10 else None)
        for u in range(20) for t in range(1, 9)
    ]
    df = pd.DataFrame(rows, columns=["unit", "period", "y", "first_treated"])
    r = callaway_santanna(df, n_boot=100)
    assert r.pre_trend.statistic is None
    assert not any("No pre-adoption weeks" in c for c in r.caveats)
    assert any("pre-adoption points do not vary" in c for c in r.caveats)


def test_cells_resting_on_one_unit_each_side_are_flagged_not_passed_off_as_certain():
    # Cohort 4 is the single unit "b" and the only never-treated unit is "c": with never-treated
    # controls each of its cells compares one unit with one unit, so its standard error is zero
    # and the interval [att, att]. That must be said, since it is not certainty.
    rng = np.random.default_rng(3)
    first = {"a1": 3, "a2": 3, "b": 4, "c": None}
    rows = [(u, t, float(rng.normal()), g) for u, g in first.items() for t in range(1, 6)]
    df = pd.DataFrame(rows, columns=["unit", "period", "y", "first_treated"])
    r = callaway_santanna(df, control_group="never_treated", n_boot=100)
    flat = [c for c in r.group_time if c.g == 4]
    assert flat and all(c.effect.se == 0.0 for c in flat)  # what is being flagged
    assert any("zero width" in c and "g=4" in c for c in r.caveats)
    # and the error message for a panel with nothing but such cells names both causes
    two = df[df.unit.isin(["b", "c"])]
    with pytest.raises(PanelError, match="single unit on each side"):
        callaway_santanna(two, control_group="never_treated", n_boot=100)
