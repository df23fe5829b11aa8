"""Lift v1: the first two comparisons, built from the store and estimated by `stats`.

1. Cycle time of AI-assisted vs human changes in the same history (ratio of medians and of p85).
2. Validated throughput per contributor-week after vs before AI adoption (ratio of rates).

Both resample authors, not single changes, because one prolific author's changes are not
independent observations. Bot-authored changes are left out of both.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import ibis
import numpy as np

from ..attribution import MIN_ADOPTION_SHARE
from ..stats.lift import Estimate, detect_adoption, ratio_of_quantiles, ratio_of_rates
from ..metrics import adoption_evidence
from ..metrics.changes import Window, changes, salt_free_author_keys, with_salt_free_authors

# The detection rule in words at the default minimum share (metrics/adoption_evidence.py).
ADOPTION_RULE = adoption_evidence.rule(MIN_ADOPTION_SHARE)
OBSERVATIONAL = (
    "observational data: AI use was not randomized, so authors or tasks that used AI may differ from the rest"
)
BEFORE_AFTER = (
    "before/after comparison: anything else that changed around the adoption date (team size, release "
    "cycle, project phase) is mixed into this ratio"
)


def adoption(con, window: Window, repos: list[str] | None, given: date | None, *, evidence: bool = True) -> dict:
    """The adoption date: given by the user, or detected from the weekly AI-attributed changes.
    `evidence` False leaves out the `evidence` and `exposure_after` keys (two queries), which only
    the document shows (the lift designs read the date, its source and its rule)."""
    attach = adoption_evidence.attach if evidence else (lambda info, *a: info)
    if given is not None:
        return attach({"date": given.isoformat(), "source": "given", "rule": "set with --adoption-date"},
                      con, window, repos, given)
    rule = adoption_evidence.rule(window.min_adoption_share)
    df = adoption_evidence.weekly_ai(con, window, repos)
    if df.empty:
        return {"date": None, "source": None, "rule": rule, "evidence": [], "exposure_after": None}
    d = detect_adoption(list(df["week"]), df["ai"].astype(int).to_numpy(), df["n"].astype(int).to_numpy(),
                        min_share=window.min_adoption_share)
    return attach({"date": d.isoformat() if d else None, "source": "detected" if d else None, "rule": rule},
                  con, window, repos, d)


# What the groups are, for the caveats the estimators write (stats/ knows only groups a and b).
_GROUP_NAMES = {
    "ai_assisted/human": ("the AI-assisted group", "the human group"),
    "after/before": ("the period after adoption", "the period before adoption"),
}


def _result(metric: str, comparison: str, est: Estimate, extra_caveats: list[str]) -> dict:
    d = est.to_dict()
    d["metric"] = metric
    d["comparison"] = comparison
    d["caveats"] = list(d.get("caveats", [])) + extra_caveats
    return d


def cycle_time_ai_vs_human(
    con, window: Window, repos: list[str] | None, since: date | None = None, *, seed: int = 0, n_boot: int = 2000
) -> list[dict]:
    """AI-assisted vs human changes landed in the same period: since adoption when it is known, so
    that years of pre-AI history (other tools, other people, other code) do not stand in for "human"."""
    ch = changes(con, window, repos)
    compared = ~ch.bot
    if since is not None:
        compared = compared & (ch.done_at >= ibis.timestamp(datetime.combine(since, datetime.min.time())))
    keep = compared & ch.cycle_hours.notnull() & (ch.cycle_hours > 0)
    df = con.execute(ch.filter(keep).select("cycle_hours", "ai_assisted", "author_id", "size_lines"))
    df = with_salt_free_authors(df, salt_free_author_keys(con))
    period = [f"both groups are changes landed since the adoption date ({since.isoformat()})"] if since else [
        "no adoption date, so the whole history is compared: older human work may differ for reasons other than AI"
    ]
    period += _unknown_cycle_caveats(con, ch.filter(compared))
    ai = df[df["ai_assisted"]]
    hu = df[~df["ai_assisted"]]
    out = []
    for q, metric in ((0.5, "cycle_time_hours_p50"), (0.85, "cycle_time_hours_p85")):
        if ai.empty or hu.empty:
            est = Estimate(
                estimator="ratio_of_medians" if q == 0.5 else f"ratio_of_p{q * 100:g}", ratio=None, ci_low=None,
                ci_high=None, n_a=len(ai), n_b=len(hu), n_clusters=int(df["author_id"].nunique()),
                caveats=("no AI-assisted changes with a known cycle time" if ai.empty else
                         "no human changes with a known cycle time",),
            )
        else:
            est = ratio_of_quantiles(
                ai["cycle_hours"].to_numpy(float), ai["author_id"].to_numpy(),
                hu["cycle_hours"].to_numpy(float), hu["author_id"].to_numpy(),
                q=q, n_boot=n_boot, seed=seed, labels=_GROUP_NAMES["ai_assisted/human"],
                # Aligned with the durations; an unknown size is NaN, not a dropped row.
                sizes_a=ai["size_lines"].astype("float64").to_numpy(), sizes_b=hu["size_lines"].astype("float64").to_numpy(),
            )
        d = _result(metric, "ai_assisted/human", est, [OBSERVATIONAL, *period])
        d["since"] = since.isoformat() if since else None
        out.append(d)
    return out


def _unknown_cycle_caveats(con, compared) -> list[str]:
    """How many compared changes are left out for want of a cycle time, per group: never silently.

    Mostly single commits that landed the moment they were written and squash merges without
    their PR commits; if one group loses more of them, the groups compare different kinds of work."""
    unknown = compared.cycle_hours.isnull() | (compared.cycle_hours <= 0)
    df = con.execute(compared.group_by("ai_assisted").agg(n=compared.count(), unknown=unknown.sum()))
    out = []
    for ai, noun in ((True, "AI-assisted"), (False, "human")):
        row = df[df["ai_assisted"] == ai]
        if len(row) and int(row["unknown"].iloc[0]):
            out.append(
                f"{int(row['unknown'].iloc[0])} of {int(row['n'].iloc[0])} {noun} changes have no known cycle "
                "time (single commits that landed as they were written, squash merges without their "
                "pull-request commits) and are left out of this comparison"
            )
    return out


def throughput_after_vs_before(
    con, window: Window, repos: list[str] | None, adoption_date: date | None, *, seed: int = 0, n_boot: int = 2000
) -> dict:
    metric, comparison = "validated_throughput_per_contributor_week", "after/before"
    if adoption_date is None:
        est = Estimate(estimator="ratio_of_rates", ratio=None, ci_low=None, ci_high=None, n_a=0, n_b=0,
                       n_clusters=0, caveats=("no adoption date: none given and no sustained AI signatures found",))
        return _result(metric, comparison, est, [])
    # The periods are inputs' (the designs' rule), over the pooled history; the contributor-weeks
    # are the designs' panel, where an agent account's work is its delegator's: imported here
    # because inputs.py imports this module's adoption detection.
    from .inputs import last_full_week, monday, periods, weekly_activity

    start = monday(adoption_date)
    # Pooled over repositories, as the before-after design pools them under one date: a person
    # active in two repositories in a week is one contributor-week, with both validated counts. The
    # weeks an agent account keeps in its own name (changes no person was found for) stay, as there.
    weeks = weekly_activity(con, window, repos)
    weeks = weeks.groupby(["author_id", "week"], as_index=False, sort=False)["validated"].sum()
    # Only weeks whose every change is past the validation window, and none past the newest activity.
    last_full = last_full_week(window, weeks)
    # Equal windows either side of adoption (at least 8 weeks before, never before the first
    # activity): a decade of pre-AI history would otherwise stand in for "before". Without a
    # complete week after adoption the estimate is refused, and the before window it describes is
    # the shortest one (what a one-week after period gives).
    pooled = "all repositories"
    p = periods({pooled: adoption_date}, {pooled: min(weeks["week"]) if len(weeks) else date.min},
                max(last_full, start + timedelta(weeks=1)), weekly=True)
    first, weeks_before = p.before_from[pooled], p.weeks_before[pooled]
    weeks_after = p.weeks_after[pooled] if start < last_full else 0
    weeks = weeks[(weeks["week"] < last_full) & (weeks["week"] >= first)]
    authors = sorted(set(weeks["author_id"]))
    pos = {a: i for i, a in enumerate(authors)}
    ev = np.zeros((2, len(authors)))
    ex = np.zeros((2, len(authors)))
    for r in weeks.itertuples(index=False):
        ev[int(r.week >= start), pos[r.author_id]] += r.validated
        ex[int(r.week >= start), pos[r.author_id]] += 1
    extra = [OBSERVATIONAL, BEFORE_AFTER, f"compares {weeks_after} weeks after adoption with the {weeks_before} weeks before it"]
    if start >= last_full:
        est = Estimate(estimator="ratio_of_rates", ratio=None, ci_low=None, ci_high=None, n_a=0,
                       n_b=int(ev[0].sum()), n_clusters=len(authors),
                       caveats=(f"no complete week after adoption yet (weeks before {last_full} are past the "
                                f"{window.days}-day validation window)",))
    else:
        est = ratio_of_rates(ev[1], ex[1], ev[0], ex[0], n_boot=n_boot, seed=seed, labels=_GROUP_NAMES["after/before"])
    d = _result(metric, comparison, est, extra)
    d["adoption_date"] = adoption_date.isoformat()
    d["before_from"] = first.isoformat()
    d["after_until"] = last_full.isoformat()
    d["weeks_before"] = weeks_before
    d["weeks_after"] = weeks_after
    return d


def lift(con, window: Window, repos: list[str] | None, adoption_info: dict, *, seed: int = 0, n_boot: int = 2000) -> list[dict]:
    ad = date.fromisoformat(adoption_info["date"]) if adoption_info.get("date") else None
    return [
        *cycle_time_ai_vs_human(con, window, repos, ad, seed=seed, n_boot=n_boot),
        throughput_after_vs_before(con, window, repos, ad, seed=seed, n_boot=n_boot),
    ]


def lift_from_designs(designs: list[dict]) -> list[dict]:
    """The summary's entries (the shape of `lift`) taken from the designs' own rows, for adoption
    dates per repository or team: the summary then splits each unit at its own date, exactly as
    the sections below it do, instead of splitting everything at one pooled date."""
    by = {d.get("design"): d for d in designs}

    def row(design: str, metric: str, estimator: str) -> dict | None:
        return next((r for r in (by.get(design) or {}).get("results") or []
                     if r.get("metric") == metric and r.get("estimator") == estimator), None)

    keep = ("estimator", "ratio", "ci_low", "ci_high", "n_a", "n_b", "n_clusters", "p_value", "speedup", "caveats")
    out = []
    ai = by.get("ai-vs-human") or {}
    for estimator, metric in (("ratio_of_medians", "cycle_time_hours_p50"), ("ratio_of_p85", "cycle_time_hours_p85")):
        r = row("ai-vs-human", "cycle_time_hours", estimator)
        if r is not None:
            out.append({**{k: r.get(k) for k in keep}, "metric": metric, "comparison": "ai_assisted/human",
                        "since": ai.get("since"), "adoption": "per unit"})
    r = row("before-after", "validated_throughput_per_contributor_week", "ratio_of_rates")
    if r is not None:
        out.append({**{k: r.get(k) for k in keep}, "metric": "validated_throughput_per_contributor_week",
                    "comparison": "after/before", "adoption_date": None, "adoption": "per unit",
                    "weeks_before": r.get("weeks_before"), "weeks_after": r.get("weeks_after"),
                    "periods": r.get("periods")})
    return out
