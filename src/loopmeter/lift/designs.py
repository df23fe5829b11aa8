"""Lift designs over the store: the arrays each design needs, every estimator run on them, the
caveats that apply, and the specification table.

Designs
- ``before-after``: changes landed after the adoption date vs before it. One date for every
  repository, or one per repository (staggered adoption). Cycle time and validated throughput per
  contributor-week.
- ``ai-vs-human``: AI-assisted vs human changes landed in the same period (since adoption when a
  date is known). Cycle time.
- ``experiment`` (a task table from a pilot) lives in `designs/pilot.py`; `experiment_design`
  only reshapes its answer into the same result rows.

Every estimator is a function in `stats/`; this module only builds their inputs from the
canonical tables and labels their answers. Unknown cycle times are left out and counted, never
zero; bots are left out of every comparison; open items (pull requests still open at the as-of
time, when a tracker source has them) are right-censored in the survival estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ..errors import ConfigError, DesignError, NoData
from ..stats.flow import flow_windows
from ..stats.json_values import json_ready
from ..stats.lift import Estimate, ratio_of_quantiles, ratio_of_rates
from ..stats.poisson_fe import poisson_rate_ratio_author_fe
from ..stats.ranks import hodges_lehmann
from ..stats.regression import identifying_groups, log_duration_ols, with_and_without_size
from ..stats.survival import kaplan_meier, km_ratio_of_medians
from . import checks as cv
from ..metrics.changes import Window, active_weeks
from .inputs import (
    Adoption,
    Periods,
    change_frame,
    detect_adoption,
    first_seen_by_repo,
    last_full_week,
    no_estimate,
    periods,
    resolve_adoption,
    weekly_activity,
)
from .weekly import (
    event_time_series,
    forecast_fans,
    forecasts,
    its_level_change,
    series_event_study,
    staggered_did,
)
from .units import REPO, Unit, detect_by_unit, team_summary, team_unit, team_warnings

DESIGNS = ("before-after", "ai-vs-human", "experiment")
#: The novelty check compares the first NOVELTY_WEEKS weeks after adoption with the rest.
NOVELTY_WEEKS = 4
#: Validation windows of the specification table (days).
SPEC_WINDOWS = (7, 14, 28)
#: Bootstrap replicates for the specification table's alternative rows (the headline rows use
#: the caller's n_boot): the table is about how the point estimate moves, and 500 replicates give
#: intervals good to about a percent at a quarter of the cost.
SPEC_BOOT = 500

CYCLE = "cycle_time_hours"
THROUGHPUT = "validated_throughput_per_contributor_week"
LABELS = {
    "after/before": ("the period after adoption", "the period before adoption"),
    "ai_assisted/human": ("the AI-assisted group", "the human group"),
    "treated/control": ("the treated group", "the control group"),
}


# --------------------------------------------------------------------------- results


def _result(design: str, metric: str, comparison: str, est: Estimate | Mapping, **fields) -> dict:
    d = est.to_dict() if hasattr(est, "to_dict") else dict(est)
    d.setdefault("p_value", None)
    ratio = d.get("ratio")
    # A shorter duration is a speed-up; for rates (more is better) the speed-up is ratio - 1.
    if "speedup" not in d and cv.finite(ratio):
        d["speedup"] = (ratio - 1.0) if metric == THROUGHPUT else (1.0 - ratio)
    d.setdefault("speedup", None)
    out = {"design": design, "metric": metric, "comparison": comparison, **d, **fields}
    out["caveats"] = list(d.get("caveats", []))
    out["caveat_codes"] = []
    return out


def _add(result: dict, *caveats: cv.Caveat | None) -> None:
    for c in caveats:
        if c is not None and c.code not in result["caveat_codes"]:
            result["caveats"].append(c.text)
            result["caveat_codes"].append(c.code)


# --------------------------------------------------------------------------- duration estimators


@dataclass
class Groups:
    """Known durations of two groups with their clusters, sizes and repositories."""

    a: pd.DataFrame  # columns: cycle_hours, author_id, size_lines, repo, observed, done_at
    b: pd.DataFrame
    labels: tuple[str, str]
    unit: Unit = REPO  # what the `repo` column holds (units.py)


# Each duration estimator: (name, function(groups, seed, n_boot) -> Estimate | None). None means
# "does not apply to this data". The survival estimate is run even when nothing is censored; it
# then differs from the ratio of medians only in how a median of an even count is taken (the
# Kaplan-Meier median is the lower middle value, numpy's the mean of the two middle values).
DurationEstimator = Callable[[Groups, int, int], Estimate]


def _quantile(q: float) -> DurationEstimator:
    def run(g: Groups, seed: int, n_boot: int) -> Estimate:
        a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
        name = "ratio_of_medians" if q == 0.5 else f"ratio_of_p{q * 100:g}"
        if a.empty or b.empty:
            return no_estimate(name, len(a), len(b), _n_clusters(a, b), "A group has no finished item with a known cycle time.")
        return ratio_of_quantiles(
            a["cycle_hours"].to_numpy(float), a["author_id"].to_numpy(), b["cycle_hours"].to_numpy(float),
            b["author_id"].to_numpy(), q=q, n_boot=n_boot, seed=seed, labels=g.labels,
        )

    return run


def _n_clusters(a: pd.DataFrame, b: pd.DataFrame) -> int:
    return int(pd.concat([a["author_id"], b["author_id"]]).nunique())


def _hodges_lehmann(g: Groups, seed: int, n_boot: int) -> Estimate:
    a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
    return hodges_lehmann(a["cycle_hours"].to_numpy(float), b["cycle_hours"].to_numpy(float),
                          clusters_a=a["author_id"].to_numpy(), clusters_b=b["author_id"].to_numpy(), labels=g.labels)


#: The regressions with author fixed effects: the same people compared with themselves.
AUTHOR_FE = "log_duration_regression_author_fe"
AUTHOR_FE_SIZE = "log_duration_regression_author_fe_size"


def _regressions(g: Groups) -> dict[str, Estimate]:
    """log(cycle hours) ~ group + repository fixed effects, authors as clusters; with and without
    log(1 + lines); and the same with author fixed effects as well. Only finished items with a
    known size enter every fit, so the fits differ by the covariate and the fixed effects alone."""
    rows = pd.concat([g.a.assign(treated=True), g.b.assign(treated=False)], ignore_index=True)
    rows = rows[rows["observed"] & rows["size_lines"].notna()]
    fe = {"repo": rows["repo"].to_numpy(object)} if rows["repo"].nunique() > 1 else None
    if g.unit.by_team:
        # Teams share repositories: both are fixed effects, so a team is compared with itself
        # within the same codebase.
        fe = {k: rows[c].to_numpy(object) for k, c in (("team", "repo"), ("repo", "source_repo"))
              if rows[c].nunique() > 1} or None
    log_size = np.log1p(rows["size_lines"].to_numpy(float))
    authors = rows["author_id"].to_numpy(object)
    common = dict(fixed_effects=fe, clusters=authors, labels=g.labels)
    y, treated = rows["cycle_hours"].to_numpy(float), rows["treated"].to_numpy(bool)
    names = {"unadjusted": "log_duration_regression", "adjusted": "log_duration_regression_size"}
    fits = _fit_both(y, treated, log_size, names, common)
    # Author fixed effects (absorbed, not thousands of dummies): each author's changes are compared
    # with that author's own, so a shift in who is in which group (fast people adopting first, new
    # hires after adoption) drops out. Only authors seen in both groups carry the effect.
    n_ident, n_changes = identifying_groups(treated, authors) if len(rows) else (0, 0)
    counts = {"n_identifying_authors": n_ident, "n_identifying_changes": n_changes}
    fe_names = {"unadjusted": AUTHOR_FE, "adjusted": AUTHOR_FE_SIZE}
    if n_ident == 0:
        why = cv.few_identifying_authors(0, 0, 0, g.labels).text
        n_a, n_b, n_cl = int(treated.sum()), int((~treated).sum()), int(pd.Series(authors).nunique())
        within = {name: no_estimate(name, n_a, n_b, n_cl, why) for name in fe_names.values()}
    else:
        within = _fit_both(y, treated, log_size, fe_names, dict(common, absorb=("author", authors)))
    for name, est in within.items():
        fits[name] = replace(est, extra={**est.extra, **counts})
    return fits


def _fit_both(y: np.ndarray, treated: np.ndarray, log_size: np.ndarray, names: Mapping[str, str],
              common: dict) -> dict[str, Estimate]:
    """The regression without and with log size, named by `names` ("unadjusted"/"adjusted")."""
    if len(log_size) and np.ptp(log_size) == 0:
        # A constant size is collinear with the intercept: there is nothing to adjust for (and
        # the fit with it would have no interval), so only the unadjusted model is fitted.
        plain = log_duration_ols(y, treated, **common)
        adjusted = no_estimate(names["adjusted"], plain.n_a, plain.n_b, plain.n_clusters,
                               "Every change has the same size, so there is nothing to adjust for.")
        return {names["unadjusted"]: replace(plain, estimator=names["unadjusted"]), names["adjusted"]: adjusted}
    fits = with_and_without_size(y, treated, log_size, size_name="log1p_lines", **common)
    return {name: replace(fits[k], estimator=name) for k, name in names.items()}


def _regression(which: str) -> DurationEstimator:
    def run(g: Groups, seed: int, n_boot: int) -> Estimate:
        a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
        if a.empty or b.empty:
            return no_estimate(which, len(a), len(b), _n_clusters(a, b), "A group has no finished item with a known cycle time.")
        return _regressions(g)[which]

    return run


def _km(g: Groups, seed: int, n_boot: int):
    a, b = g.a, g.b
    if a.empty or b.empty:
        return no_estimate("km_ratio_of_medians", len(a), len(b), _n_clusters(a, b), "A group has no item.")
    return km_ratio_of_medians(
        a["cycle_hours"].to_numpy(float), a["observed"].to_numpy(bool), a["author_id"].to_numpy(),
        b["cycle_hours"].to_numpy(float), b["observed"].to_numpy(bool), b["author_id"].to_numpy(),
        n_boot=n_boot, seed=seed, labels=g.labels)


DURATION_ESTIMATORS: dict[str, DurationEstimator] = {
    "ratio_of_medians": _quantile(0.5),
    "ratio_of_p85": _quantile(0.85),
    "hodges_lehmann": _hodges_lehmann,
    "log_duration_regression": _regression("log_duration_regression"),
    "log_duration_regression_size": _regression("log_duration_regression_size"),
    AUTHOR_FE: _regression(AUTHOR_FE),
    AUTHOR_FE_SIZE: _regression(AUTHOR_FE_SIZE),
    "km_median_ratio": _km,
}
#: The estimator whose estimate is the headline (first) row of a duration comparison.
HEADLINE = "ratio_of_medians"


def duration_results(design: str, comparison: str, g: Groups, *, seed: int, n_boot: int,
                     estimators: Mapping[str, DurationEstimator] | None = None) -> list[dict]:
    out = []
    fits = None
    for name, fn in (estimators or DURATION_ESTIMATORS).items():
        if name.startswith("log_duration_regression"):
            # One design matrix for both fits.
            a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
            if fits is None and not (a.empty or b.empty):
                fits = _regressions(g)
            est = fits[name] if fits else fn(g, seed, n_boot)
        else:
            est = fn(g, seed, n_boot)
        if est is None:
            continue
        out.append(_result(design, CYCLE, comparison, est))
    return out


def _within_repo_ratios(g: Groups) -> list[tuple[str, float | None, int]]:
    """Per repository, the ratio of median cycle times (point estimates) for the Simpson check."""
    out = []
    a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
    for repo in sorted(set(a["repo"]) & set(b["repo"])):
        x = a.loc[a["repo"] == repo, "cycle_hours"].to_numpy(float)
        y = b.loc[b["repo"] == repo, "cycle_hours"].to_numpy(float)
        out.append((repo, float(np.median(x) / np.median(y)) if len(x) and len(y) else None, min(len(x), len(y))))
    return out


def _duration_caveats(design: str, results: list[dict], g: Groups, *, randomized: bool = False,
                      prior: tuple[float | None, tuple[str, str]] | None = None,
                      n_unknown: int = 0, n_total: int = 0) -> list[cv.Caveat]:
    """The design-level caveats of a duration comparison, added to each of its results."""
    headline = next((r for r in results if r["estimator"] == HEADLINE), results[0] if results else None)
    adjusted = next((r for r in results if r["estimator"] == "log_duration_regression_size"), None)
    fin_a, fin_b = g.a[g.a["observed"]], g.b[g.b["observed"]]
    found: list[cv.Caveat | None] = [
        cv.unknown_durations(n_unknown, n_total),
        cv.size_mismatch(fin_a["size_lines"], fin_b["size_lines"], g.labels, adjusted),
        cv.selection(design, randomized=randomized, prior_ratio=prior[0] if prior else None,
                     prior_labels=prior[1] if prior else None),
    ]
    if headline is not None:
        found.append(cv.simpsons_paradox(headline.get("ratio"), _within_repo_ratios(g), unit=g.unit.plural))
    for r in results:
        # ratio_of_* estimators already warn about small groups and few clusters themselves.
        if not r["estimator"].startswith("ratio_of_"):
            _add(r, cv.too_few(r.get("n_a") or 0, r.get("n_b") or 0, r.get("n_clusters") or 0, g.labels))
        _add(r, *found)
    within = next((r for r in results if r["estimator"] == AUTHOR_FE and "n_identifying_authors" in r), None)
    if within is not None:
        few = cv.few_identifying_authors(within["n_identifying_authors"], within["n_identifying_changes"],
                                         within.get("n_clusters") or 0, g.labels)
        found.append(few)
        for r in results:
            # A row without a number already gives the reason (no author on both sides).
            if r["estimator"] in (AUTHOR_FE, AUTHOR_FE_SIZE) and cv.finite(r.get("ratio")):
                _add(r, few)
    return [c for c in found if c is not None]


# --------------------------------------------------------------------------- before / after


def before_after(con, window: Window, repos: list[str], adoption: Adoption, *, seed: int = 0,
                 n_boot: int = 2000, spec: bool = True, unit: Unit = REPO) -> dict:
    units = unit.labels(repos)
    dates = adoption.dates(units)
    if not any(dates.values()):
        raise NoData("no adoption date: none given (--adoption-date) and no sustained AI signatures found")
    df = unit.changes(change_frame(con, window, repos))
    act = unit.weekly(con, window, repos)
    out: dict = {"design": "before-after", "adoption": adoption.to_dict(units), "results": [], "specification": [],
                 "checks": [], "figures": {}}
    staggered = out["adoption"]["staggered"]

    # Cycle time: changes landed before vs after their unit's adoption date.
    cyc = _cycle_before_after(df, dates, window, all_history=False, unit=unit)
    rs = duration_results("before-after", "after/before", cyc["groups"], seed=seed, n_boot=n_boot)
    for r in rs:
        r.update(cyc["fields"])
    caveats = _duration_caveats("before-after", rs, cyc["groups"], n_unknown=cyc["n_unknown"], n_total=cyc["n_total"])
    nov = _cycle_novelty(cyc["groups"], cyc["adoption"])
    out["flow"] = _flow(df, cyc["periods"], unit)
    steady = cv.not_steady([(f"the period {w['period']} adoption ({w[unit.key]})", w) for w in out["flow"]])
    for r in rs:
        _add(r, nov, steady)
    out["results"] += rs
    out["checks"] += _checks(caveats + [nov, steady], ("unknown_durations", "size_mismatch", "selection",
                                                      "simpsons_paradox", "few_identifying_authors", "novelty",
                                                      "not_steady"), CYCLE)

    # Throughput per contributor-week.
    tp = throughput_before_after(act, window, dates, seed=seed, n_boot=n_boot, unit=unit)
    out["results"].append(tp["result"])
    out["results"] += tp["more"]
    out["checks"] += _checks(tp["caveats"], ("selection", "novelty", "simpsons_paradox", "pre_trends",
                                             "few_identifying_authors"), THROUGHPUT)
    out["weekly"] = tp["series"]
    out["figures"]["event_study"] = tp["event_study"]
    out["figures"]["km"] = km_figure(cyc["groups"])
    out["forecast"] = forecasts(tp["series"], seed=seed)
    out["figures"]["forecast"] = forecast_fans(out["forecast"])

    if spec:
        out["specification"] = _spec_before_after(con, window, repos, dates, df, act, rs, seed=seed, unit=unit)
        _apply_spec(out)
    out["staggered"] = staggered
    return out


def _cycle_before_after(df: pd.DataFrame, dates: Mapping[str, date | None], window: Window, *,
                        all_history: bool, skip_weeks: int = 0, unit: Unit = REPO) -> dict:
    done = df[df["observed"]]
    first = first_seen_by_repo(done.assign(day=pd.to_datetime(done["done_at"]).dt.date), "day")
    end = window.as_of.date() + timedelta(days=1)
    p = periods(dates, first, end, all_history=all_history, skip_weeks=skip_weeks)
    day = pd.to_datetime(df["done_at"]).dt.date
    # Open items have no landing day: they belong to the period in which they started.
    day = day.where(df["observed"], pd.to_datetime(df["started_at"]).dt.date)
    period = p.label(df["repo"], day)
    inside = df[period.notna()].assign(period=period[period.notna()])
    known = inside["cycle_hours"].notna() & (inside["cycle_hours"] > 0)
    n_unknown, n_total = int((~known & inside["observed"]).sum()), int(inside["observed"].sum())
    k = inside[known]
    g = Groups(a=k[k["period"] == "after"], b=k[k["period"] == "before"], labels=LABELS["after/before"], unit=unit)
    fields = {
        "periods": {r: {"before_from": p.before_from[r].isoformat(), "adoption": p.adoption[r].isoformat(),
                        "after_until": p.after_until[r].isoformat()} for r in p.adoption},
        "n_unknown": n_unknown, "n_censored": int((~k["observed"]).sum()),
    }
    return {"groups": g, "fields": fields, "n_unknown": n_unknown, "n_total": n_total, "adoption": p.adoption,
            "periods": p}


def _flow(df: pd.DataFrame, p: Periods, unit: Unit = REPO) -> list[dict]:
    """Little's law per repository (or team) and period (stats/flow.py), over items with a known start:
    landed changes with a known cycle time and items still open at as_of."""
    out = []
    known = df[df["cycle_hours"].notna() & (df["cycle_hours"] > 0)]
    for repo, a in p.adoption.items():
        d = known[known["repo"] == repo]
        if d.empty:
            continue
        starts = pd.to_datetime(d["started_at"]).to_numpy("datetime64[us]")
        ends = pd.to_datetime(d["done_at"]).to_numpy("datetime64[us]")
        edges = np.array([p.before_from[repo], a, p.after_until[repo]], dtype="datetime64[us]")
        if not (np.diff(edges) > np.timedelta64(0, "us")).all():
            continue
        for period, w in zip(("before", "after"), flow_windows(starts, ends, edges)):
            out.append({unit.key: repo, "period": period, **w.to_dict()})
    return out


def _cycle_novelty(g: Groups, adoption: Mapping[str, date]) -> cv.Caveat | None:
    """Early vs late post-adoption median cycle time, each relative to the before median."""
    a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
    if a.empty or b.empty:
        return None
    since = pd.Series([(d - adoption[r]).days if r in adoption else -1 for r, d in
                       zip(a["repo"], pd.to_datetime(a["done_at"]).dt.date)], index=a.index)
    early = a[since < 7 * NOVELTY_WEEKS]["cycle_hours"].to_numpy(float)
    late = a[since >= 7 * NOVELTY_WEEKS]["cycle_hours"].to_numpy(float)
    base = float(np.median(b["cycle_hours"]))
    if len(early) == 0 or len(late) == 0:
        return None
    return cv.novelty(float(np.median(early)) / base, float(np.median(late)) / base, len(early), len(late),
                      early_label=f"the first {NOVELTY_WEEKS} weeks after adoption")


def throughput_before_after(act: pd.DataFrame, window: Window, dates: Mapping[str, date | None], *,
                            seed: int = 0, n_boot: int = 2000, all_history: bool = False, its: bool = True,
                            did: bool = True, skip_weeks: int = 0, unit: Unit = REPO) -> dict:
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
        return {"result": _result("before-after", THROUGHPUT, "after/before", est), "more": [], "caveats": [],
                "series": [], "event_study": None}
    period = p.label(act["repo"], act["week"])
    a = act[period.notna()].assign(period=period[period.notna()])
    single = len(set(p.adoption.values())) == 1 and set(p.adoption) == {r for r, d in dates.items() if d}
    ev = a.groupby(["author_id", "period"])["validated"].sum().unstack(fill_value=0)
    # Same date everywhere: an author active in two repositories in a week is one contributor-week.
    weeks = a.drop_duplicates(["author_id", "week"]) if single else a
    ex = weeks.groupby(["author_id", "period"]).size().unstack(fill_value=0)
    for t in (ev, ex):
        for col in ("after", "before"):
            if col not in t:
                t[col] = 0
    ex = ex.reindex(ev.index, fill_value=0)
    est = ratio_of_rates(ev["after"].to_numpy(float), ex["after"].to_numpy(float), ev["before"].to_numpy(float),
                         ex["before"].to_numpy(float), n_boot=n_boot, seed=seed, labels=LABELS["after/before"])
    r = _result("before-after", THROUGHPUT, "after/before", est, window_days=window.days,
                periods={k: {"before_from": p.before_from[k].isoformat(), "adoption": p.adoption[k].isoformat(),
                             "after_until": p.after_until[k].isoformat()} for k in p.adoption},
                weeks_before=max(p.weeks_before.values()), weeks_after=max(p.weeks_after.values()))
    series = event_time_series(a, p, single)
    selection, novelty = cv.selection("before-after"), _throughput_novelty(series)
    found = [selection, novelty, _throughput_simpsons(a, r.get("ratio"), single, unit)]
    _add(r, *found)
    # The same people with themselves: a change in who is active (hires, leavers) moves the
    # pooled ratio above but not this one; only authors active on both sides carry it.
    fe = poisson_rate_ratio_author_fe(ev["after"].to_numpy(float), ex["after"].to_numpy(float),
                                      ev["before"].to_numpy(float), ex["before"].to_numpy(float),
                                      labels=LABELS["after/before"])
    fe_r = _result("before-after", THROUGHPUT, "after/before", fe, window_days=window.days)
    few = cv.few_identifying_authors(fe.extra["n_identifying_authors"], fe.extra["n_identifying_changes"],
                                     fe.n_clusters, LABELS["after/before"], changes="validated changes",
                                     side="active with validated changes")
    _add(fe_r, selection, novelty, few if cv.finite(fe.ratio) else None)
    found.append(few)
    more, event_study = [fe_r], series_event_study(series)
    if its:
        its_est, fits, pre = its_level_change(series)
        its_r = _result("before-after", THROUGHPUT, "after/before", its_est, window_days=window.days)
        _add(its_r, selection, novelty)
        # The plain after/before ratio takes any trend before adoption as part of the effect; the
        # segmented regression models that trend, so the caveat belongs to the former.
        _add(r, pre)
        found.append(pre)
        more.append(its_r)
        if event_study and fits:
            base = event_study["base"]
            event_study["fits"] = [{"name": f"trend {side} adoption (ITS)", "x": x, "y": [v / base for v in y]}
                                   for side, (x, y) in zip(("before", "after"), fits.values())]
    if did and not single:
        did_est, es, pre = staggered_did(act, dates, last_full, seed=seed, unit_noun=unit.noun)
        did_r = _result("before-after", THROUGHPUT, "after/before", did_est, window_days=window.days)
        _add(did_r, selection, pre)
        found.append(pre)
        more.append(did_r)
        if es is not None:
            event_study = es
    return {"result": r, "more": more, "caveats": [c for c in found if c is not None], "series": series,
            "event_study": event_study}


def _throughput_novelty(series: list[dict]) -> cv.Caveat | None:
    pre = [s for s in series if s["event_week"] < 0]
    early = [s for s in series if 0 <= s["event_week"] < NOVELTY_WEEKS]
    late = [s for s in series if s["event_week"] >= NOVELTY_WEEKS]

    def rate(rows):
        x = sum(s["contributor_weeks"] for s in rows)
        return (sum(s["validated"] for s in rows) / x) if x else None

    base, e, lt = rate(pre), rate(early), rate(late)
    if not base or e is None or lt is None:
        return None
    return cv.novelty(e / base, lt / base, sum(s["validated"] for s in early), sum(s["validated"] for s in late),
                      early_label=f"the first {NOVELTY_WEEKS} weeks after adoption")


def _throughput_simpsons(a: pd.DataFrame, pooled: float | None, single: bool, unit: Unit = REPO) -> cv.Caveat | None:
    within = []
    for repo, t in a.groupby("repo"):
        ev = t.groupby("period")["validated"].sum()
        ex = t.groupby("period").size()
        if ex.get("after", 0) and ex.get("before", 0) and ev.get("before", 0):
            within.append((repo, float((ev.get("after", 0) / ex["after"]) / (ev["before"] / ex["before"])),
                           int(min(ev.get("after", 0), ev["before"]))))
    return cv.simpsons_paradox(pooled, within, unit=unit.plural)


# --------------------------------------------------------------------------- survival curves

#: At most this many steps of a Kaplan-Meier curve go into the report's figure.
KM_FIGURE_POINTS = 300


def km_figure(g: Groups) -> dict | None:
    """Both groups' Kaplan-Meier curves (open items censored), thinned for the figure."""
    groups = []
    for df, label in ((g.a, g.labels[0]), (g.b, g.labels[1])):
        if df.empty:
            return None
        km = kaplan_meier(df["cycle_hours"].to_numpy(float), df["observed"].to_numpy(bool)).to_dict()
        n = len(km["times"])
        if n > KM_FIGURE_POINTS:
            keep = sorted(set(np.linspace(0, n - 1, KM_FIGURE_POINTS).round().astype(int).tolist()))
            for k in ("times", "survival", "ci_low", "ci_high", "at_risk", "events", "censored"):
                km[k] = [km[k][i] for i in keep]
        groups.append({"label": label, **km})
    return {"groups": groups}


# --------------------------------------------------------------------------- AI vs human


def ai_vs_human(con, window: Window, repos: list[str], adoption: Adoption | None, *, seed: int = 0,
                n_boot: int = 2000, spec: bool = True, unit: Unit = REPO) -> dict:
    df = unit.changes(change_frame(con, window, repos))
    units = unit.labels(repos)
    since = adoption.default if adoption is not None else None
    # Dates given (or detected) per repository restrict the groups as much as one date does.
    restricted = adoption is not None and any(adoption.dates(units).values())
    out: dict = {"design": "ai-vs-human", "since": since.isoformat() if since else None,
                 "adoption": adoption.to_dict(units) if adoption else None, "results": [], "specification": [],
                 "checks": [], "figures": {}}
    g, n_unknown, n_total = _ai_groups(df, adoption, units, unit)
    rs = duration_results("ai-vs-human", "ai_assisted/human", g, seed=seed, n_boot=n_boot)
    prior = _prior_selection(df, adoption, units)
    caveats = _duration_caveats("ai-vs-human", rs, g, prior=prior, n_unknown=n_unknown, n_total=n_total)
    if not restricted:
        extra = cv.Caveat("whole_history", "No adoption date, so the whole history is compared: older human work "
                                            "may differ for reasons other than AI.")
        for r in rs:
            _add(r, extra)
    out["results"] = rs
    out["checks"] = _checks(caveats, ("unknown_durations", "size_mismatch", "selection", "simpsons_paradox",
                                      "few_identifying_authors"), CYCLE)
    out["figures"]["km"] = km_figure(g)
    if spec:
        rows = []
        for label, adp in (("since adoption", adoption), ("whole history", None)):
            if label == "since adoption" and not restricted:
                continue
            if adp is adoption:
                found = rs  # the headline's own groups and estimates: no second bootstrap of them
            else:
                gg, _, _ = _ai_groups(df, adp, units, unit)
                found = duration_results("ai-vs-human", "ai_assisted/human", gg, seed=seed, n_boot=SPEC_BOOT)
            for res in found:
                rows.append(_spec_row(CYCLE, res, window_days=None, period=label,
                                      chosen=(label == "since adoption" or not restricted)))
        out["specification"] = rows
        _apply_spec(out)
    return json_ready(out)


def _ai_groups(df: pd.DataFrame, adoption: Adoption | None, repos: list[str],
               unit: Unit = REPO) -> tuple[Groups, int, int]:
    d = df
    if adoption is not None:
        dates = adoption.dates(repos)
        day = pd.to_datetime(d["done_at"]).dt.date.where(d["observed"], pd.to_datetime(d["started_at"]).dt.date)
        keep = pd.Series([dates.get(r) is not None and x >= dates[r] for r, x in zip(d["repo"], day)], index=d.index,
                         dtype=bool)
        if any(dates.values()):
            d = d[keep]
    known = d["cycle_hours"].notna() & (d["cycle_hours"] > 0)
    n_unknown, n_total = int((~known & d["observed"]).sum()), int(d["observed"].sum())
    k = d[known]
    g = Groups(a=k[k["ai_assisted"].astype(bool)], b=k[~k["ai_assisted"].astype(bool)], labels=LABELS["ai_assisted/human"],
               unit=unit)
    return g, n_unknown, n_total


def _prior_selection(df: pd.DataFrame, adoption: Adoption | None, repos: list[str]):
    """Before adoption, the cycle time of authors who later used AI vs of those who did not."""
    if adoption is None:
        return None
    dates = adoption.dates(repos)
    if not any(dates.values()):
        return None
    fin = df[df["observed"] & df["cycle_hours"].notna() & (df["cycle_hours"] > 0)]
    day = pd.to_datetime(fin["done_at"]).dt.date
    before = pd.Series([dates.get(r) is not None and x < dates[r] for r, x in zip(fin["repo"], day)], index=fin.index,
                       dtype=bool)
    users = set(fin.loc[~before & fin["ai_assisted"].astype(bool), "author_id"])
    pre = fin[before]
    x = pre[pre["author_id"].isin(users)]["cycle_hours"]
    y = pre[~pre["author_id"].isin(users)]["cycle_hours"]
    if len(x) < cv.NOVELTY_MIN_ITEMS or len(y) < cv.NOVELTY_MIN_ITEMS:
        return None
    return float(np.median(x) / np.median(y)), ("the authors who later used AI", "the others")


# --------------------------------------------------------------------------- specification table


def _spec_row(metric: str, est: Estimate | Mapping, *, window_days: int | None, period: str, chosen: bool) -> dict:
    d = est.to_dict() if hasattr(est, "to_dict") else dict(est)
    return {"metric": metric, "estimator": d.get("estimator"), "window_days": window_days, "period": period,
            "ratio": d.get("ratio"), "ci_low": d.get("ci_low"), "ci_high": d.get("ci_high"),
            "n_a": d.get("n_a"), "n_b": d.get("n_b"), "chosen": chosen}


def _spec_before_after(con, window: Window, repos: list[str], dates, df: pd.DataFrame, act: pd.DataFrame,
                       cycle: list[dict], *, seed: int, unit: Unit = REPO) -> list[dict]:
    """``act`` is the weekly activity of the chosen window and ``cycle`` the headline cycle-time
    results, both already computed by the caller; only the validated counts change with the
    window, so the other windows reuse one set of active weeks."""
    rows = []
    skip = f"equal windows, without the first {NOVELTY_WEEKS} weeks after adoption"
    variants = (("equal windows", False, 0), ("all history before", True, 0), (skip, False, NOVELTY_WEEKS))
    for label, all_history, skip_weeks in variants:
        if label == "equal windows":
            found = cycle  # the headline's own groups and estimates: no second bootstrap of them
        else:
            cyc = _cycle_before_after(df, dates, window, all_history=all_history, skip_weeks=skip_weeks, unit=unit)
            found = duration_results("before-after", "after/before", cyc["groups"], seed=seed, n_boot=SPEC_BOOT)
        for res in found:
            rows.append(_spec_row(CYCLE, res, window_days=None, period=label, chosen=label == "equal windows"))
    active = con.execute(active_weeks(con, window, repos, by_repo=True))
    for days in sorted(set(SPEC_WINDOWS) | {window.days}):
        w = replace(window, days=days)
        act_w = act if days == window.days else unit.weekly(con, w, repos, active=active)
        for label, all_history, skip_weeks in variants:
            # The series without its first post-adoption weeks has a gap an ITS cannot fit.
            tp = throughput_before_after(act_w, w, dates, seed=seed, n_boot=SPEC_BOOT, all_history=all_history, did=False,
                                         its=not skip_weeks, skip_weeks=skip_weeks, unit=unit)
            for res in [tp["result"], *tp["more"]]:
                rows.append(_spec_row(THROUGHPUT, res, window_days=days, period=label,
                                      chosen=(days == window.days and label == "equal windows")))
    return rows


def _apply_spec(out: dict) -> None:
    """Range per metric over the specification table; a caveat on every result of that metric
    when the alternatives disagree."""
    # The headline rows were re-estimated with SPEC_BOOT replicates; show the headline's own
    # numbers there, so the two tables on one page never print two intervals for one choice.
    headline = {(r["metric"], r["estimator"]): r for r in out["results"]}
    for s in out["specification"]:
        r = headline.get((s["metric"], s["estimator"])) if s["chosen"] else None
        if r is not None:
            s.update({k: r.get(k) for k in ("ratio", "ci_low", "ci_high", "n_a", "n_b")})
    out["specification_range"] = {}
    for metric in sorted({r["metric"] for r in out["specification"]}):
        rng, caveat = cv.specification_spread([r for r in out["specification"] if r["metric"] == metric])
        out["specification_range"][metric] = rng
        for r in out["results"]:
            if r["metric"] == metric:
                _add(r, caveat)
        out["checks"] += _checks([caveat] if caveat else [], ("specification",), metric)


def _checks(found: list[cv.Caveat | None], codes: tuple[str, ...], metric: str) -> list[dict]:
    """Which checks ran on a metric and whether each applied, so the report can say 'looked, fine'."""
    hit = {c.code: c.text for c in found if c is not None}
    return [{"metric": metric, "check": code, "applies": code in hit, "text": hit.get(code)} for code in codes]


# --------------------------------------------------------------------------- experiment (a pilot's CSV)

# Keys of pilot_lift's document that describe the whole table rather than its main estimate.
_PILOT_TABLE_KEYS = ("source", "duration_source", "rows", "treatment_levels", "cluster", "missing_duration_rows",
                     "conf", "size_sensitivity", "alternatives")


def experiment_design(csv_path, *, duration: str | None, start: str | None, end: str | None, treatment: str | None,
                      treated: str | None = None, cluster: str | None, covariates: tuple[str, ...] = (), seed: int = 0,
                      n_boot: int = 2000) -> dict:
    """The pilot's log-duration regression (designs/pilot.py) and its alternative estimators as
    result rows of the same shape as the store designs, with the specification range over them."""
    from ..designs.pilot import pilot_lift

    if not treatment:
        raise ConfigError("--treatment: the --csv design needs the column that says which tasks were treated")
    raw = pilot_lift(csv_path, duration=duration, start=start, end=end, treatment=treatment, treated=treated, cluster=cluster,
                     covariates=covariates, n_boot=n_boot, seed=seed)
    main = {k: v for k, v in raw.items() if k not in _PILOT_TABLE_KEYS and k not in ("design", "metric", "comparison")}
    results = [_result("experiment", "duration", "treated/control", main)]
    for alt in raw.get("alternatives") or []:
        results.append(_result("experiment", "duration", "treated/control", alt))
    spec = [_spec_row("duration", r, window_days=None, period="whole table", chosen=(i == 0))
            for i, r in enumerate(results)]
    if cv.finite(raw.get("ci_plain_low")) and cv.finite(raw.get("ci_plain_high")) and cv.finite(raw.get("ratio")):
        spec.append({"metric": "duration", "estimator": "log_duration_ols_plain_se", "window_days": None,
                     "period": "whole table", "ratio": raw["ratio"], "ci_low": raw["ci_plain_low"],
                     "ci_high": raw["ci_plain_high"], "n_a": raw.get("n_a"), "n_b": raw.get("n_b"), "chosen": False})
    out = {"design": "experiment", **{k: raw.get(k) for k in _PILOT_TABLE_KEYS if k != "alternatives"},
           "results": results, "specification": spec, "checks": [], "figures": {}}
    _apply_spec(out)
    return json_ready(out)


# --------------------------------------------------------------------------- entry points


def store_repos(con, repos: list[str] | None) -> list[str]:
    t = con.table("repos")
    names = sorted(con.execute(t.select("repo"))["repo"])
    if repos:
        missing = sorted(set(repos) - set(names))
        if missing:
            raise ConfigError(f"--repo: no repository {missing[0]!r} in the store")
        names = [r for r in names if r in repos]
    if not names:
        raise NoData("the store holds no repositories; run `loopmeter ingest PATH` first")
    return names


def run_design(con, window: Window, repos: list[str] | None, design: str, adoption: Adoption | None, *,
               seed: int = 0, n_boot: int = 2000, spec: bool = True, by: str = "repo", teams=None,
               config_path=None) -> dict:
    """One design over the store, per repository (`by` "repo") or per team (`by` "team", with
    `teams` from loopmeter.toml at `config_path`; see units.py)."""
    if design not in ("before-after", "ai-vs-human"):
        raise ConfigError(f"--design: {design!r} is not one of before-after, ai-vs-human (or give --csv)")
    names = store_repos(con, repos)
    unit, summary = REPO, None
    if by in ("team", "codeowners"):
        unit, summary, adp = _team_adoption(con, window, names, adoption, teams if by == "team" else None,
                                            config_path)
    else:
        adp = resolve_adoption(con, window, names, adoption)
    if design == "before-after":
        out = before_after(con, window, names, adp, seed=seed, n_boot=n_boot, spec=spec, unit=unit)
    else:
        out = ai_vs_human(con, window, names, adp if (adp.default or adp.per_repo) else None, seed=seed,
                          n_boot=n_boot, spec=spec, unit=unit)
    check_supported(out)
    if summary is not None:
        out["teams"] = summary
        out["team_members_unmatched"] = list(unit.unmatched)
        out["team_warnings"] = team_warnings(unit, summary)
    return json_ready(out)


def _team_adoption(con, window: Window, names: list[str], given: Adoption | None, teams, config_path):
    """The team unit, how many changes each team holds, and the adoption dates per team: given
    (every named team must be a team of loopmeter.toml, or of CODEOWNERS when `teams` is None, or
    `unassigned`) or detected per team."""
    from ..teams import UNASSIGNED
    from ..metrics.codeowners_teams import codeowners_unit

    frame = change_frame(con, window, names)
    if teams is None:
        unit, named = codeowners_unit(con, names, frame)
        where = "CODEOWNERS"
    elif not teams:
        raise ConfigError("--by team: loopmeter.toml defines no team ([[team]] with name and members)")
    else:
        unit, named, where = team_unit(con, teams, config_path, frame), [t.name for t in teams], "loopmeter.toml"
    frame = unit.changes(frame)
    if not unit.names:  # else "no adoption date ... none given" would blame a date that was given
        raise NoData(f"no non-bot change landed by {window.as_of:%Y-%m-%d %H:%M} in {', '.join(names)}: "
                     "no team has work to compare")
    if given is not None:
        known = [*named, UNASSIGNED]
        unknown = sorted(set(given.per_repo) - set(known))
        if unknown:
            raise ConfigError(f"--adoption-date: no team {unknown[0]!r} in {where} (have: {', '.join(known)})")
        adp = replace(given, unit="team")
    else:
        adp = detect_by_unit(frame, list(unit.names), unit, window.min_adoption_share)
    return unit, team_summary(frame, unit.names), adp


def check_supported(out: dict) -> None:
    """Refuse, in one line, a design none of whose headline comparisons has two non-empty groups
    and two clusters: any number printed then would pretend to be an estimate. (The report shows
    such designs as "no estimate" instead, since it has other sections to show.)"""
    problems = []
    for metric, estimator in ((CYCLE, HEADLINE), (THROUGHPUT, "ratio_of_rates")):
        head = next((r for r in out["results"] if r["metric"] == metric and r["estimator"] == estimator), None)
        if head is None:
            continue
        what = "change with a known cycle time" if metric == CYCLE else "validated change in a complete week"
        a, b = LABELS.get(head["comparison"], ("the first group", "the second group"))
        if out["design"] == "before-after":
            per = out["adoption"].get("per_repo", out["adoption"].get("per_team"))
            dates = ", ".join(f"{r} {d}" for r, d in (per or {}).items() if d)
            where = f" (adoption: {dates})" if dates else ""
        else:
            where = f" (since {out['since']})" if out.get("since") else ""
        empty = [label for label, n in ((a, head["n_a"]), (b, head["n_b"])) if not n]
        if empty:
            problems.append(f"{out['design']}: {empty[0]} has no {what}{where}; nothing to compare")
        elif head["n_clusters"] < 2:
            problems.append(f"{out['design']}: every compared change has the same author (1 cluster); "
                            "no interval is possible, so no estimate is given")
        else:
            return
    if problems:
        raise DesignError(problems[0])


def lift_designs(con, window: Window, repos: list[str] | None, adoption_info: dict, *, seed: int = 0,
                 n_boot: int = 2000) -> dict:
    """The report's `lift_designs` key: both observational designs on the report's adoption date."""
    d = date.fromisoformat(adoption_info["date"]) if adoption_info.get("date") else None
    names = store_repos(con, repos)
    if adoption_info.get("source") == "detected" and len(names) > 1:
        adp = detect_adoption(con, window, names)  # each repository at its own date
        adp = adp if adp.default or adp.per_repo else None
    else:
        adp = Adoption(default=d, source=adoption_info.get("source"), rule=adoption_info.get("rule")) if d else None
    out = {"designs": []}
    if adp is not None:
        out["designs"].append(before_after(con, window, names, adp, seed=seed, n_boot=n_boot))
    out["designs"].append(ai_vs_human(con, window, names, adp, seed=seed, n_boot=n_boot))
    return json_ready(out)
