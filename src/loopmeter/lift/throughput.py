"""Validated throughput per contributor-week after vs before adoption: the pooled ratio of rates,
the same people with themselves (Poisson author fixed effects), the interrupted time series and,
with staggered dates, difference-in-differences."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

import math
from dataclasses import replace

import pandas as pd

from ..metrics.changes import Window
from ..stats.dist import t_interval
from ..stats.lift import Estimate, ratio_of_rates
from ..stats.poisson_fe import poisson_rate_ratio_author_fe
from ..stats.twoway import one_way_var, poisson_fe_cell_contributions
from ..stats.wider_interval import wider_of_author_and_week
from . import checks as cv
from .durations import NOVELTY_WEEKS
from .inputs import first_seen_by_repo, last_full_week, no_estimate, periods
from .results import LABELS, THROUGHPUT, add_caveats, author_period_tables, effective_clusters, result_row
from .units import REPO, Unit
from .weekly import event_time_series, its_level_change, series_event_study, staggered_did


def throughput_before_after(act: pd.DataFrame, window: Window, dates: Mapping[str, date | None], *,
                            seed: int = 0, n_boot: int = 2000, all_history: bool = False, its: bool = True,
                            did: bool = True, skip_weeks: int = 0, unit: Unit = REPO,
                            agents: Collection[str] = ()) -> dict:
    """Validated changes per contributor-week, after / before each repository's adoption week.

    `its` adds the interrupted time series on the weekly rate; `did` the staggered
    difference-in-differences when repositories adopted at different dates.

    With one date for every repository a contributor-week is an (author, week) with any activity,
    exactly as in the v1 lift; with per-repository dates it is an (author, repository, week),
    because the same week can be before adoption in one repository and after in another.
    """
    last_full = last_full_week(window, act)
    first = first_seen_by_repo(act, "week")
    p = periods(dates, first, last_full, all_history=all_history, weekly=True, skip_weeks=skip_weeks)
    if not p.adoption:
        est = no_estimate("ratio_of_rates", 0, 0, 0,
                           f"No complete week after adoption yet (weeks before {last_full} are past the "
                           f"{window.days}-day validation window).")
        return {"result": result_row("before-after", THROUGHPUT, "after/before", est), "more": [], "caveats": [],
                "series": [], "event_study": None}
    period = p.label(act["repo"], act["week"])
    a = act[period.notna()].assign(period=period[period.notna()])
    single = len(set(p.adoption.values())) == 1 and set(p.adoption) == {r for r, d in dates.items() if d}
    # Same date everywhere: an author active in two repositories in a week is one contributor-week.
    weeks = a.drop_duplicates(["author_id", "week"]) if single else a
    ev, ex = author_period_tables(a, "validated", weeks)
    # The contributor-weeks of the periods that agent accounts keep in their own name (`agents`:
    # changes no person was found for), which the weekly table's people leave out.
    agent_weeks = int(weeks["author_id"].isin(set(agents)).sum()) if len(agents) else 0
    est = ratio_of_rates(ev["after"].to_numpy(float), ex["after"].to_numpy(float), ev["before"].to_numpy(float),
                         ex["before"].to_numpy(float), n_boot=n_boot, seed=seed, labels=LABELS["after/before"])
    sides = dict(weeks_before=max(p.weeks_before.values()), weeks_after=max(p.weeks_after.values()),
                 n_clusters_a=int((ex["after"] > 0).sum()), n_clusters_b=int((ex["before"] > 0).sum()),
                 effective_clusters_a=effective_clusters(ev["after"]),
                 effective_clusters_b=effective_clusters(ev["before"]))
    r = result_row("before-after", THROUGHPUT, "after/before", est, window_days=window.days,
                periods={k: {"before_from": p.before_from[k].isoformat(), "adoption": p.adoption[k].isoformat(),
                             "after_until": p.after_until[k].isoformat()} for k in p.adoption}, **sides)
    series = event_time_series(a, p, single)
    selection, novelty = cv.selection("before-after"), _throughput_novelty(series)
    found = [selection, novelty, _throughput_simpsons(a, r.get("ratio"), single, unit)]
    add_caveats(r, *found)
    # The same people with themselves: a change in who is active (hires, leavers) moves the
    # pooled ratio above but not this one; only authors active on both sides carry it.
    fe = poisson_rate_ratio_author_fe(ev["after"].to_numpy(float), ex["after"].to_numpy(float),
                                      ev["before"].to_numpy(float), ex["before"].to_numpy(float),
                                      labels=LABELS["after/before"])
    n_authors = fe.n_clusters  # the widened interval's n_clusters may count weeks
    fe = _allow_for_week_shocks(fe, a, weeks)
    fe_r = result_row("before-after", THROUGHPUT, "after/before", fe, window_days=window.days, **sides)
    few = cv.few_identifying_authors(fe.extra["n_identifying_authors"], fe.extra["n_identifying_changes"],
                                     n_authors, LABELS["after/before"], changes="validated changes",
                                     side="active with validated changes")
    add_caveats(fe_r, selection, novelty, few if cv.finite(fe.ratio) else None)
    found.append(few)
    more, event_study = [fe_r], series_event_study(series)
    if its:
        its_est, fits, pre = its_level_change(series)
        its_r = result_row("before-after", THROUGHPUT, "after/before", its_est, window_days=window.days)
        add_caveats(its_r, selection, novelty)
        # The plain after/before ratio takes any trend before adoption as part of the effect; the
        # segmented regression models that trend, so the caveat belongs to the former.
        add_caveats(r, pre)
        found.append(pre)
        more.append(its_r)
        if event_study and fits:
            base = event_study["base"]
            event_study["fits"] = [{"name": f"trend {side} adoption (ITS)", "x": x, "y": [v / base for v in y]}
                                   for side, (x, y) in zip(("before", "after"), fits.values())]
    if did and not single:
        did_est, es, pre = staggered_did(act, dates, last_full, seed=seed, unit_noun=unit.noun)
        did_r = result_row("before-after", THROUGHPUT, "after/before", did_est, window_days=window.days)
        add_caveats(did_r, selection, pre)
        found.append(pre)
        more.append(did_r)
        if es is not None:
            event_study = es
    return {"result": r, "more": more, "caveats": [c for c in found if c is not None], "series": series,
            "event_study": event_study, "activity": a, "agent_weeks": agent_weeks}  # activity: per_unit.py's weights


def _allow_for_week_shocks(fe: Estimate, a: pd.DataFrame, weeks: pd.DataFrame, conf: float = 0.95) -> Estimate:
    """The same-people rate ratio's interval: the wider of CR1 by author (stats/poisson_fe.py) and
    CR1 by calendar week, from each author-week's contribution to the fit (stats/twoway.py);
    stats/wider_interval.py says why and what the row keeps.

    On simulated teams with week shocks the author-clustered interval excluded 1 in 35% of null
    runs; the wider of the two held 6.4% there and 2.3-2.4% without shocks (bench/verdict_sim.py
    --direct-before-after, bench/README.md)."""
    beta, se = fe.extra.get("beta"), fe.extra.get("se")
    if fe.ci_low is None or not se:
        return fe
    ev = a.groupby(["author_id", "week", "period"])["validated"].sum()
    ex = weeks.groupby(["author_id", "week", "period"]).size().reindex(ev.index, fill_value=0)
    idx = ev.index.to_frame(index=False)
    c = poisson_fe_cell_contributions(idx["author_id"].to_numpy(object), (idx["period"] == "after").to_numpy(),
                                      ev.to_numpy(float), ex.to_numpy(float), beta)
    var_w, g_w = one_way_var(c, idx["week"].astype(str).to_numpy(object))
    by_week = replace(fe, ci_low=None, ci_high=None, p_value=None, n_clusters=g_w, extra={})
    if g_w >= 3 and var_w > 0:
        se_w, df_w = math.sqrt(var_w), float(g_w - 1)
        lo, hi, p = t_interval(beta, se_w, df_w, conf)
        by_week = replace(by_week, ci_low=math.exp(lo), ci_high=math.exp(hi), p_value=p,
                          extra={"se": se_w, "df": df_w, "covariance": "CR1"})
    return wider_of_author_and_week(fe, by_week).estimate


def _throughput_novelty(series: list[dict]) -> cv.Outcome:
    pre = [s for s in series if s["event_week"] < 0]
    early = [s for s in series if 0 <= s["event_week"] < NOVELTY_WEEKS]
    late = [s for s in series if s["event_week"] >= NOVELTY_WEEKS]

    def rate(rows):
        x = sum(s["contributor_weeks"] for s in rows)
        return (sum(s["validated"] for s in rows) / x) if x else None

    base, e, lt = rate(pre), rate(early), rate(late)
    if not base or e is None or lt is None:
        return cv.NotRun("novelty", f"No validated change before adoption, or no week in the first {NOVELTY_WEEKS} "
                                    "weeks after it or after those.")
    return cv.novelty(e / base, lt / base, sum(s["validated"] for s in early), sum(s["validated"] for s in late),
                      early_label=f"the first {NOVELTY_WEEKS} weeks after adoption")


def _throughput_simpsons(a: pd.DataFrame, pooled: float | None, single: bool, unit: Unit = REPO) -> cv.Outcome:
    within = []
    for repo, t in a.groupby("repo"):
        ev = t.groupby("period")["validated"].sum()
        ex = t.groupby("period").size()
        if ex.get("after", 0) and ex.get("before", 0) and ev.get("before", 0):
            within.append((repo, float((ev.get("after", 0) / ex["after"]) / (ev["before"] / ex["before"])),
                           int(min(ev.get("after", 0), ev["before"]))))
    return cv.simpsons_paradox(pooled, within, unit=unit.plural)

