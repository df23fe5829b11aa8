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

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from ..errors import ConfigError, DesignError, NoData
from ..stats.lift import Estimate, ratio_of_quantiles, ratio_of_rates
from . import lift_caveats as cv
from .changes import Window, changes, contributing_commits
from .lift import adoption as detect_pooled_adoption

DESIGNS = ("before-after", "ai-vs-human", "experiment")
#: The before period has at least this many weeks, and as many as the after period otherwise.
MIN_WEEKS_BEFORE = 8
#: The novelty check compares the first NOVELTY_WEEKS weeks after adoption with the rest.
NOVELTY_WEEKS = 4
#: Validation windows of the specification table (days).
SPEC_WINDOWS = (7, 14, 28)
#: Bootstrap replicates for the specification table's alternative rows (the headline rows use
#: the caller's n_boot): the table is about how the point estimate moves, and 500 replicates give
#: intervals good to about a percent at a quarter of the cost.
SPEC_BOOT = 500
#: Forecast horizon (weeks) and the backlog size of "when will K items be done".
FORECAST_WEEKS = 12
FORECAST_ITEMS = 100

CYCLE = "cycle_time_hours"
THROUGHPUT = "validated_throughput_per_contributor_week"
LABELS = {
    "after/before": ("the period after adoption", "the period before adoption"),
    "ai_assisted/human": ("the AI-assisted group", "the human group"),
    "treated/control": ("the treated group", "the control group"),
}


# --------------------------------------------------------------------------- adoption dates


@dataclass(frozen=True)
class Adoption:
    """Adoption date per repository; `default` applies to repositories not named in `per_repo`."""

    default: date | None = None
    per_repo: dict[str, date] = field(default_factory=dict)
    source: str | None = None  # "given", "given per repository", "detected"
    rule: str | None = None

    def date_for(self, repo: str) -> date | None:
        return self.per_repo.get(repo, self.default)

    def dates(self, repos: list[str]) -> dict[str, date | None]:
        return {r: self.date_for(r) for r in repos}

    def to_dict(self, repos: list[str]) -> dict:
        d = self.dates(repos)
        distinct = {v for v in d.values() if v is not None}
        return {
            "date": self.default.isoformat() if self.default else None,
            "per_repo": {r: (v.isoformat() if v else None) for r, v in d.items()},
            "staggered": len(distinct) > 1 or (bool(distinct) and None in d.values()),
            "source": self.source,
            "rule": self.rule,
        }


def parse_adoption(values: list[str] | None) -> Adoption | None:
    """`--adoption-date` values: one `YYYY-MM-DD`, or any number of `repo=YYYY-MM-DD`."""
    if not values:
        return None
    default, per_repo = None, {}
    for v in values:
        repo, sep, day = v.rpartition("=")
        try:
            d = date.fromisoformat(day.strip())
        except ValueError:
            raise ConfigError(f"--adoption-date: {v!r} is not YYYY-MM-DD or REPO=YYYY-MM-DD") from None
        if sep:
            if not repo.strip():
                raise ConfigError(f"--adoption-date: {v!r} names no repository before '='")
            if repo in per_repo:
                raise ConfigError(f"--adoption-date: repository {repo!r} is given twice")
            per_repo[repo.strip()] = d
        else:
            if default is not None:
                raise ConfigError("--adoption-date: give one date for all repositories, or REPO=DATE per repository")
            default = d
    return Adoption(default=default, per_repo=per_repo,
                    source="given per repository" if per_repo else "given", rule="set with --adoption-date")


def resolve_adoption(con, window: Window, repos: list[str], given: Adoption | None) -> Adoption:
    """The given dates (every named repository must exist), or the pooled detected date."""
    if given is not None:
        unknown = sorted(set(given.per_repo) - set(repos))
        if unknown:
            raise ConfigError(f"--adoption-date: no repository {unknown[0]!r} in the store (have: {', '.join(repos)})")
        return given
    info = detect_pooled_adoption(con, window, repos, None)
    d = date.fromisoformat(info["date"]) if info.get("date") else None
    return Adoption(default=d, source="detected" if d else None, rule=info.get("rule"))


# --------------------------------------------------------------------------- data from the store


def change_frame(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    """Non-bot changes landed by as_of, one row each, plus pull requests still open at as_of
    (``observed`` False, duration to as_of), which only a tracker source provides."""
    ch = changes(con, window, repos)
    df = con.execute(
        ch.filter(~ch.bot).select("repo", "item_id", "author_id", "ai_assisted", "size_lines", "started_at",
                                  "done_at", "cycle_hours", "state", "validated")
    )
    df["observed"] = True
    df["size_lines"] = df["size_lines"].astype("float64")
    df["cycle_hours"] = df["cycle_hours"].astype("float64")
    open_ = _open_items(con, window, repos)
    if len(open_):
        df = pd.concat([df, open_], ignore_index=True)
    df["author_id"] = df["author_id"].fillna("unknown")
    return df


def _open_items(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    # Pull requests opened by as_of and not merged or closed by then: their duration is only known
    # to exceed as_of - start, which is what right-censoring means.
    q = """
        select i.repo, i.item_id, i.author_id, exists(select 1 from attributions a where a.item_id = i.item_id)
               as ai_assisted, cast(i.size_lines as double) as size_lines,
               coalesce(i.started_at, i.created_at) as started_at
        from items i left join actors x on x.actor_id = i.author_id
        where i.kind = 'pull_request' and coalesce(i.started_at, i.created_at) <= ?
          and (i.done_at is null or i.done_at > ?) and coalesce(x.kind, 'human') <> 'bot'
    """ + (" and list_contains(?, i.repo)" if repos else "")
    params = [window.as_of, window.as_of] + ([repos] if repos else [])
    df = con.con.execute(q, params).df() if hasattr(con, "con") else pd.DataFrame()
    if df.empty:
        return df
    df["done_at"] = pd.NaT
    df["cycle_hours"] = (pd.Timestamp(window.as_of) - pd.to_datetime(df["started_at"])).dt.total_seconds() / 3600.0
    df["state"] = "open"
    df["validated"] = False
    df["observed"] = False
    return df[df["cycle_hours"] > 0]


def weekly_activity(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    """(repo, author_id, week, validated, active): validated non-bot changes an author landed in a
    repository that week, on every (repo, author, week) where they were active (docs/metrics.md)."""
    ch = changes(con, window, repos)
    ok = ch.filter(~ch.bot & ch.validated)
    done = con.execute(ok.group_by(["repo", "author_id", "week"]).agg(validated=ok.count()))
    cc = contributing_commits(con, repos)
    a = con.execute(cc.filter(cc.kind != "bot").select("repo", "author_id", "week").distinct())
    nb = ch.filter(~ch.bot & ch.author_id.notnull())
    b = con.execute(nb.select("repo", "author_id", "week").distinct())
    act = pd.concat([a, b], ignore_index=True).drop_duplicates()
    out = act.merge(done, on=["repo", "author_id", "week"], how="outer")
    out["validated"] = out["validated"].fillna(0).astype(int)
    out["week"] = pd.to_datetime(out["week"]).dt.date
    return out


# --------------------------------------------------------------------------- periods


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


@dataclass(frozen=True)
class Periods:
    """Per repository: before = [before_from, adoption), after = [adoption, after_until)."""

    adoption: dict[str, date]
    before_from: dict[str, date]
    after_until: dict[str, date]
    weeks_before: dict[str, int]
    weeks_after: dict[str, int]

    def label(self, repo: pd.Series, day: pd.Series) -> pd.Series:
        """'after', 'before' or None per row (repo, a date)."""
        out = pd.Series([None] * len(repo), index=repo.index, dtype=object)
        for r, a in self.adoption.items():
            m = repo == r
            if not m.any():
                continue
            d = day[m]
            out[m & (day >= a) & (day < self.after_until[r])] = "after"
            out[m & (day < a) & (day >= self.before_from[r])] = "before"
        return out


def periods(adoption: Mapping[str, date | None], first_seen: Mapping[str, date], end: date, *,
            all_history: bool = False, weekly: bool = False) -> Periods:
    """Equal windows either side of each repository's adoption (at least MIN_WEEKS_BEFORE weeks
    before), never before the repository's first activity; or all history before adoption.
    `weekly` aligns adoption to its ISO week (for weekly series)."""
    ad, bf, au, wb, wa = {}, {}, {}, {}, {}
    for repo, a in adoption.items():
        if a is None or repo not in first_seen:
            continue
        start = _monday(a) if weekly else a
        if start >= end:
            continue
        weeks_after = max(1, math.ceil((end - start).days / 7))
        weeks_before = max(weeks_after, MIN_WEEKS_BEFORE)
        first = first_seen[repo] if all_history else max(first_seen[repo], start - timedelta(weeks=weeks_before))
        ad[repo], bf[repo], au[repo] = start, first, end
        wb[repo] = max(0, (start - first).days // 7)
        wa[repo] = weeks_after
    return Periods(ad, bf, au, wb, wa)


def _last_full_week(window: Window, activity: pd.DataFrame) -> date:
    # Weeks whose every change is past the validation window, and no later than the newest activity:
    # later weeks would look slow because their changes are still pending or not yet made.
    last = _monday(window.as_of.date() - timedelta(days=window.days))
    if len(activity):
        last = min(last, max(activity["week"]) + timedelta(weeks=1))
    return last


# --------------------------------------------------------------------------- results


def _result(design: str, metric: str, comparison: str, est: Estimate | Mapping, **fields) -> dict:
    d = est.to_dict() if hasattr(est, "to_dict") else dict(est)
    d.setdefault("p_value", None)
    ratio = d.get("ratio")
    # A shorter duration is a speed-up; for rates (more is better) the speed-up is ratio - 1.
    if "speedup" not in d and _num(ratio):
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


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _no_estimate(estimator: str, n_a: int, n_b: int, n_clusters: int, why: str) -> Estimate:
    return Estimate(estimator=estimator, ratio=None, ci_low=None, ci_high=None, n_a=n_a, n_b=n_b,
                    n_clusters=n_clusters, caveats=(why,))


# --------------------------------------------------------------------------- duration estimators


@dataclass
class Groups:
    """Known durations of two groups with their clusters, sizes and repositories."""

    a: pd.DataFrame  # columns: cycle_hours, author_id, size_lines, repo, observed, done_at
    b: pd.DataFrame
    labels: tuple[str, str]


# Each duration estimator: (name, function(groups, seed, n_boot) -> Estimate | None). None means
# "does not apply to this data" (e.g. the survival estimate when nothing is censored is still run:
# it then equals the median ratio, which is itself a check).
DurationEstimator = Callable[[Groups, int, int], Estimate]


def _quantile(q: float) -> DurationEstimator:
    def run(g: Groups, seed: int, n_boot: int) -> Estimate:
        a, b = g.a[g.a["observed"]], g.b[g.b["observed"]]
        name = "ratio_of_medians" if q == 0.5 else f"ratio_of_p{q * 100:g}"
        if a.empty or b.empty:
            return _no_estimate(name, len(a), len(b), _n_clusters(a, b), "A group has no finished item with a known cycle time.")
        return ratio_of_quantiles(
            a["cycle_hours"].to_numpy(float), a["author_id"].to_numpy(), b["cycle_hours"].to_numpy(float),
            b["author_id"].to_numpy(), q=q, n_boot=n_boot, seed=seed, labels=g.labels,
        )

    return run


def _n_clusters(a: pd.DataFrame, b: pd.DataFrame) -> int:
    return int(pd.concat([a["author_id"], b["author_id"]]).nunique())


DURATION_ESTIMATORS: dict[str, DurationEstimator] = {
    "ratio_of_medians": _quantile(0.5),
    "ratio_of_p85": _quantile(0.85),
}
#: The estimator whose estimate is the headline (first) row of a duration comparison.
HEADLINE = "ratio_of_medians"


def duration_results(design: str, comparison: str, g: Groups, *, seed: int, n_boot: int,
                     estimators: Mapping[str, DurationEstimator] | None = None) -> list[dict]:
    out = []
    for name, fn in (estimators or DURATION_ESTIMATORS).items():
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
        found.append(cv.simpsons_paradox(headline.get("ratio"), _within_repo_ratios(g)))
    for r in results:
        # ratio_of_* estimators already warn about small groups and few clusters themselves.
        if not r["estimator"].startswith("ratio_of_"):
            _add(r, cv.too_few(r.get("n_a") or 0, r.get("n_b") or 0, r.get("n_clusters") or 0, g.labels))
        _add(r, *found)
    return [c for c in found if c is not None]


# --------------------------------------------------------------------------- before / after


def _first_seen(df: pd.DataFrame, col: str) -> dict[str, date]:
    if df.empty:
        return {}
    s = df.groupby("repo")[col].min()
    return {r: (v.date() if hasattr(v, "date") else v) for r, v in s.items() if v == v}


def before_after(con, window: Window, repos: list[str], adoption: Adoption, *, seed: int = 0,
                 n_boot: int = 2000, spec: bool = True) -> dict:
    dates = adoption.dates(repos)
    if not any(dates.values()):
        raise NoData("no adoption date: none given (--adoption-date) and no sustained AI signatures found")
    df = change_frame(con, window, repos)
    act = weekly_activity(con, window, repos)
    out: dict = {"design": "before-after", "adoption": adoption.to_dict(repos), "results": [], "specification": [],
                 "checks": [], "figures": {}}
    staggered = out["adoption"]["staggered"]

    # Cycle time: changes landed before vs after their repository's adoption date.
    cyc = _cycle_before_after(df, dates, window, all_history=False)
    rs = duration_results("before-after", "after/before", cyc["groups"], seed=seed, n_boot=n_boot)
    for r in rs:
        r.update(cyc["fields"])
    caveats = _duration_caveats("before-after", rs, cyc["groups"], n_unknown=cyc["n_unknown"], n_total=cyc["n_total"])
    nov = _cycle_novelty(cyc["groups"], cyc["adoption"])
    for r in rs:
        _add(r, nov)
    out["results"] += rs
    out["checks"] += _checks(caveats + [nov], ("unknown_durations", "size_mismatch", "selection", "simpsons_paradox", "novelty"), CYCLE)

    # Throughput per contributor-week.
    tp = throughput_before_after(act, window, dates, seed=seed, n_boot=n_boot)
    out["results"].append(tp["result"])
    out["checks"] += _checks(tp["caveats"], ("selection", "novelty", "simpsons_paradox"), THROUGHPUT)
    out["weekly"] = tp["series"]
    out["figures"]["event_study"] = _series_event_study(tp["series"])

    if spec:
        out["specification"] = _spec_before_after(con, window, repos, dates, df, seed=seed)
        _apply_spec(out)
    out["staggered"] = staggered
    return out


def _cycle_before_after(df: pd.DataFrame, dates: Mapping[str, date | None], window: Window, *,
                        all_history: bool) -> dict:
    done = df[df["observed"]]
    first = _first_seen(done.assign(day=pd.to_datetime(done["done_at"]).dt.date), "day")
    end = window.as_of.date() + timedelta(days=1)
    p = periods(dates, first, end, all_history=all_history)
    day = pd.to_datetime(df["done_at"]).dt.date
    # Open items have no landing day: they belong to the period in which they started.
    day = day.where(df["observed"], pd.to_datetime(df["started_at"]).dt.date)
    period = p.label(df["repo"], day)
    inside = df[period.notna()].assign(period=period[period.notna()])
    known = inside["cycle_hours"].notna() & (inside["cycle_hours"] > 0)
    n_unknown, n_total = int((~known & inside["observed"]).sum()), int(inside["observed"].sum())
    k = inside[known]
    g = Groups(a=k[k["period"] == "after"], b=k[k["period"] == "before"], labels=LABELS["after/before"])
    fields = {
        "periods": {r: {"before_from": p.before_from[r].isoformat(), "adoption": p.adoption[r].isoformat(),
                        "after_until": p.after_until[r].isoformat()} for r in p.adoption},
        "n_unknown": n_unknown, "n_censored": int((~k["observed"]).sum()),
    }
    return {"groups": g, "fields": fields, "n_unknown": n_unknown, "n_total": n_total, "adoption": p.adoption}


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
                            seed: int = 0, n_boot: int = 2000, all_history: bool = False) -> dict:
    """Validated changes per contributor-week, after / before each repository's adoption week.

    With one date for every repository a contributor-week is an (author, week) with any activity,
    exactly as in the v1 lift; with per-repository dates it is an (author, repository, week),
    because the same week can be before adoption in one repository and after in another.
    """
    last_full = _last_full_week(window, act)
    first = _first_seen(act, "week")
    p = periods(dates, first, last_full, all_history=all_history, weekly=True)
    if not p.adoption:
        est = _no_estimate("ratio_of_rates", 0, 0, 0,
                           f"No complete week after adoption yet (weeks before {last_full} are past the "
                           f"{window.days}-day validation window).")
        return {"result": _result("before-after", THROUGHPUT, "after/before", est), "caveats": [], "series": []}
    period = p.label(act["repo"], act["week"])
    a = act[period.notna()].assign(period=period[period.notna()])
    single = len(set(p.adoption.values())) == 1 and set(p.adoption) == {r for r, d in dates.items() if d}
    if single:
        # Same date everywhere: an author active in two repositories in a week is one contributor-week.
        ev = a.groupby(["author_id", "period"])["validated"].sum().unstack(fill_value=0)
        ex = a.drop_duplicates(["author_id", "week"]).groupby(["author_id", "period"]).size().unstack(fill_value=0)
    else:
        ev = a.groupby(["author_id", "period"])["validated"].sum().unstack(fill_value=0)
        ex = a.groupby(["author_id", "period"]).size().unstack(fill_value=0)
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
    series = _event_time_series(a, p)
    found = [cv.selection("before-after"), _throughput_novelty(series), _throughput_simpsons(a, r.get("ratio"), single)]
    _add(r, *found)
    return {"result": r, "caveats": [c for c in found if c is not None], "series": series}


def _event_time_series(a: pd.DataFrame, p: Periods) -> list[dict]:
    """Pooled over repositories by weeks since each one's adoption: validated changes, contributor-weeks
    and their ratio. With one adoption date this is the calendar series."""
    k = [(w - p.adoption[r]).days // 7 for r, w in zip(a["repo"], a["week"])]
    t = a.assign(k=k)
    ev = t.groupby("k")["validated"].sum()
    ex = t.drop_duplicates(["repo", "author_id", "week"]).groupby("k").size()
    weeks = t.groupby("k")["week"].min()
    out = []
    for kk in sorted(ex.index):
        out.append({"event_week": int(kk), "week_start": weeks[kk].isoformat(), "validated": int(ev.get(kk, 0)),
                    "contributor_weeks": int(ex[kk]), "rate": float(ev.get(kk, 0) / ex[kk])})
    return out


def _series_event_study(series: list[dict]) -> dict | None:
    """The weekly rate by event time relative to the mean rate before adoption (1 = no change)."""
    pre = [s for s in series if s["event_week"] < 0]
    x = sum(s["contributor_weeks"] for s in pre)
    if not x or not series:
        return None
    base = sum(s["validated"] for s in pre) / x
    if base <= 0:
        return None
    return {
        "title": "Validated throughput per contributor-week, by weeks since adoption (relative to before)",
        "y_label": "rate / mean rate before adoption", "reference": 1.0,
        "points": [{"e": s["event_week"], "estimate": s["rate"] / base, "ci_low": None, "ci_high": None} for s in series],
    }


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


def _throughput_simpsons(a: pd.DataFrame, pooled: float | None, single: bool) -> cv.Caveat | None:
    within = []
    for repo, t in a.groupby("repo"):
        ev = t.groupby("period")["validated"].sum()
        ex = t.groupby("period").size()
        if ex.get("after", 0) and ex.get("before", 0) and ev.get("before", 0):
            within.append((repo, float((ev.get("after", 0) / ex["after"]) / (ev["before"] / ex["before"])),
                           int(min(ev.get("after", 0), ev["before"]))))
    return cv.simpsons_paradox(pooled, within)


# --------------------------------------------------------------------------- AI vs human


def ai_vs_human(con, window: Window, repos: list[str], adoption: Adoption | None, *, seed: int = 0,
                n_boot: int = 2000, spec: bool = True) -> dict:
    df = change_frame(con, window, repos)
    since = adoption.default if adoption is not None else None
    out: dict = {"design": "ai-vs-human", "since": since.isoformat() if since else None,
                 "adoption": adoption.to_dict(repos) if adoption else None, "results": [], "specification": [],
                 "checks": [], "figures": {}}
    g, n_unknown, n_total = _ai_groups(df, adoption, repos)
    rs = duration_results("ai-vs-human", "ai_assisted/human", g, seed=seed, n_boot=n_boot)
    prior = _prior_selection(df, adoption, repos)
    caveats = _duration_caveats("ai-vs-human", rs, g, prior=prior, n_unknown=n_unknown, n_total=n_total)
    if since is None:
        extra = cv.Caveat("whole_history", "No adoption date, so the whole history is compared: older human work "
                                            "may differ for reasons other than AI.")
        for r in rs:
            _add(r, extra)
    out["results"] = rs
    out["checks"] = _checks(caveats, ("unknown_durations", "size_mismatch", "selection", "simpsons_paradox"), CYCLE)
    if spec:
        rows = []
        for label, adp in (("since adoption", adoption), ("whole history", None)):
            if label == "since adoption" and (adoption is None or adoption.default is None and not adoption.per_repo):
                continue
            gg, _, _ = _ai_groups(df, adp, repos)
            for name, fn in DURATION_ESTIMATORS.items():
                rows.append(_spec_row(CYCLE, fn(gg, seed, SPEC_BOOT), window_days=None, period=label,
                                      chosen=(label == "since adoption" or since is None)))
        out["specification"] = rows
        _apply_spec(out)
    return out


def _ai_groups(df: pd.DataFrame, adoption: Adoption | None, repos: list[str]) -> tuple[Groups, int, int]:
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
    g = Groups(a=k[k["ai_assisted"].astype(bool)], b=k[~k["ai_assisted"].astype(bool)], labels=LABELS["ai_assisted/human"])
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


def _spec_before_after(con, window: Window, repos: list[str], dates, df: pd.DataFrame, *, seed: int) -> list[dict]:
    rows = []
    for label, all_history in (("equal windows", False), ("all history before", True)):
        cyc = _cycle_before_after(df, dates, window, all_history=all_history)
        for name, fn in DURATION_ESTIMATORS.items():
            rows.append(_spec_row(CYCLE, fn(cyc["groups"], seed, SPEC_BOOT), window_days=None, period=label,
                                  chosen=not all_history))
    for days in sorted(set(SPEC_WINDOWS) | {window.days}):
        w = replace(window, days=days)
        act = weekly_activity(con, w, repos)
        for label, all_history in (("equal windows", False), ("all history before", True)):
            tp = throughput_before_after(act, w, dates, seed=seed, n_boot=SPEC_BOOT, all_history=all_history)
            rows.append(_spec_row(THROUGHPUT, tp["result"], window_days=days, period=label,
                                  chosen=(days == window.days and not all_history)))
    return rows


def _apply_spec(out: dict) -> None:
    """Range per metric over the specification table; a caveat on every result of that metric
    when the alternatives disagree."""
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
               seed: int = 0, n_boot: int = 2000, spec: bool = True) -> dict:
    if design not in ("before-after", "ai-vs-human"):
        raise ConfigError(f"--design: {design!r} is not one of before-after, ai-vs-human (or give --csv)")
    names = store_repos(con, repos)
    adp = resolve_adoption(con, window, names, adoption)
    if design == "before-after":
        out = before_after(con, window, names, adp, seed=seed, n_boot=n_boot, spec=spec)
    else:
        out = ai_vs_human(con, window, names, adp if (adp.default or adp.per_repo) else None, seed=seed,
                          n_boot=n_boot, spec=spec)
    check_supported(out)
    return out


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
            dates = ", ".join(f"{r} {d}" for r, d in (out["adoption"]["per_repo"] or {}).items() if d)
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
    adp = Adoption(default=d, source=adoption_info.get("source"), rule=adoption_info.get("rule")) if d else None
    names = store_repos(con, repos)
    out = {"designs": []}
    if adp is not None:
        out["designs"].append(before_after(con, window, names, adp, seed=seed, n_boot=n_boot))
    out["designs"].append(ai_vs_human(con, window, names, adp, seed=seed, n_boot=n_boot))
    return out
