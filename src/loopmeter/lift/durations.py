"""Cycle-time comparisons of two groups: the duration estimators, the groups before/after
adoption, the caveats of a duration comparison and the survival curves of the report.

Every estimator is a function in `stats/`; this module builds their inputs and labels their
answers. Unknown cycle times are left out and counted, never zero; open items are right-censored
in the survival estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ..metrics.changes import Window
from ..stats.lift import Estimate, ratio_of_quantiles
from ..stats.ranks import hodges_lehmann
from ..stats.regression import identifying_groups, log_duration_ols, with_and_without_size
from ..stats.survival import kaplan_meier, km_ratio_of_medians
from ..stats.wider_interval import wider_of_author_and_week
from . import checks as cv
from .inputs import first_seen_by_repo, no_estimate, periods
from .results import CYCLE, LABELS, add_caveats, effective_clusters, result_row
from .units import REPO, Unit

#: The novelty check compares the first NOVELTY_WEEKS weeks after adoption with the rest.
NOVELTY_WEEKS = 4


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
    # The headlines of both cycle-time questions: CR2 errors with Bell-McCaffrey df, which held the
    # nominal 5% false-positive rate with a dozen authors where CR1 on G - 1 ran over it
    # (bench/verdict_sim.py, docs/metrics.md "Verdict").
    fits = _fit_both(y, treated, log_size, names, dict(common, covariance="CR2"))
    if g.labels == LABELS["after/before"] and len(rows):
        fits = _allow_for_week_shocks(fits, y, treated, log_size, names, common, rows["done_at"])
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


def _allow_for_week_shocks(fits: dict[str, Estimate], y, treated, log_size, names: Mapping[str, str], common: dict,
                           done_at: pd.Series) -> dict[str, Estimate]:
    """The before/after regressions' interval: the wider of CR2 by author and CR2 by landing week
    (stats/wider_interval.py says why and what the row keeps).

    On simulated teams with week shocks (log sd 0.3 a week) the author-clustered interval
    excluded 1 in half the null runs; by week alone it ran over 12% where people differ in how
    they changed; the wider of the two held at most 5% in every null scenario
    (bench/verdict_sim.py --direct-before-after, bench/README.md). With fewer than 3 weeks there
    is no week interval to compare, and the author one stands."""
    week = pd.to_datetime(done_at).dt.to_period("W-SUN").astype(str).to_numpy(object)
    n_weeks = len(set(week))
    if n_weeks < 3:
        by_week = {name: replace(fits[name], ci_low=None, ci_high=None, n_clusters=n_weeks) for name in names.values()}
    else:
        by_week = _fit_both(y, treated, log_size, names, dict(common, clusters=week, covariance="CR2"))
    return {**fits, **{name: wider_of_author_and_week(fits[name], by_week[name]).estimate for name in names.values()}}


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
    clusters = _group_clusters(g)  # the same groups for every estimator: counted once
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
        out.append(result_row(design, CYCLE, comparison, est, **clusters))
    return out


def _group_clusters(g: Groups) -> dict:
    """Authors with a finished item on each side, and how many equal authors they amount to (Kish):
    a clustered interval with a handful of authors on one side, or one author making most of its
    changes, rests on those few people however many changes they made (the verdict's minimum)."""
    a, b = g.a.loc[g.a["observed"], "author_id"], g.b.loc[g.b["observed"], "author_id"]
    return {"n_clusters_a": int(a.nunique()), "n_clusters_b": int(b.nunique()),
            "effective_clusters_a": effective_clusters(a.value_counts()),
            "effective_clusters_b": effective_clusters(b.value_counts())}


def _within_repo_ratios(g: Groups) -> list[tuple[str, float | None, int]]:
    """Per repository, the ratio of median cycle times (point estimates) for the Simpson check."""
    out = []
    a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
    for repo in sorted(set(a["repo"]) & set(b["repo"])):
        x = a.loc[a["repo"] == repo, "cycle_hours"].to_numpy(float)
        y = b.loc[b["repo"] == repo, "cycle_hours"].to_numpy(float)
        out.append((repo, float(np.median(x) / np.median(y)) if len(x) and len(y) else None, min(len(x), len(y))))
    return out


def duration_caveats(design: str, results: list[dict], g: Groups, *, randomized: bool = False,
                      prior: tuple[float | None, tuple[str, str]] | None = None,
                      n_unknown: int = 0, n_total: int = 0) -> list[cv.Caveat | cv.NotRun]:
    """The design-level caveats of a duration comparison, added to each of its results."""
    headline = next((r for r in results if r["estimator"] == HEADLINE), results[0] if results else None)
    adjusted = next((r for r in results if r["estimator"] == "log_duration_regression_size"), None)
    fin_a, fin_b = g.a[g.a["observed"]], g.b[g.b["observed"]]
    found: list[cv.Outcome] = [
        cv.unknown_durations(n_unknown, n_total),
        cv.size_mismatch(fin_a["size_lines"], fin_b["size_lines"], g.labels, adjusted),
        cv.selection(design, randomized=randomized, prior_ratio=prior[0] if prior else None,
                     prior_labels=prior[1] if prior else None),
    ]
    if headline is not None:
        found.append(cv.simpsons_paradox(headline.get("ratio"), _within_repo_ratios(g), unit=g.unit.plural))
    else:
        found.append(cv.NotRun("simpsons_paradox", "There is no pooled estimate to compare."))
    for r in results:
        # ratio_of_* estimators already warn about small groups and few clusters themselves. The
        # minimum is on authors, also where the interval shown is the (wider) one by week.
        if not r["estimator"].startswith("ratio_of_"):
            n_authors = r.get("n_authors", r.get("n_clusters")) or 0
            add_caveats(r, cv.too_few(r.get("n_a") or 0, r.get("n_b") or 0, n_authors, g.labels))
        add_caveats(r, *found)
    within = next((r for r in results if r["estimator"] == AUTHOR_FE and "n_identifying_authors" in r), None)
    if within is None:
        found.append(cv.NotRun("few_identifying_authors", "There is no same-people (author fixed effects) estimate."))
    else:
        few = cv.few_identifying_authors(within["n_identifying_authors"], within["n_identifying_changes"],
                                         within.get("n_clusters") or 0, g.labels)
        found.append(few)
        for r in results:
            # A row without a number already gives the reason (no author on both sides).
            if r["estimator"] in (AUTHOR_FE, AUTHOR_FE_SIZE) and cv.finite(r.get("ratio")):
                add_caveats(r, few)
    return [c for c in found if c is not None]




def cycle_before_after(df: pd.DataFrame, dates: Mapping[str, date | None], window: Window, *,
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



def cycle_novelty(g: Groups, adoption: Mapping[str, date]) -> cv.Outcome:
    """Early vs late post-adoption median cycle time, each relative to the before median."""
    a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
    if a.empty or b.empty:
        return cv.NotRun("novelty", "A group has no finished item with a known cycle time.")
    since = pd.Series([(d - adoption[r]).days if r in adoption else -1 for r, d in
                       zip(a["repo"], pd.to_datetime(a["done_at"]).dt.date)], index=a.index)
    early = a[since < 7 * NOVELTY_WEEKS]["cycle_hours"].to_numpy(float)
    late = a[since >= 7 * NOVELTY_WEEKS]["cycle_hours"].to_numpy(float)
    base = float(np.median(b["cycle_hours"]))
    if len(early) == 0 or len(late) == 0:
        return cv.NotRun("novelty", f"No finished item in the first {NOVELTY_WEEKS} weeks after adoption or none "
                                    "after them.")
    return cv.novelty(float(np.median(early)) / base, float(np.median(late)) / base, len(early), len(late),
                      early_label=f"the first {NOVELTY_WEEKS} weeks after adoption")



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

