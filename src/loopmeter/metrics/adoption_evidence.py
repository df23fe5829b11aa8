"""What a detected adoption date stands on: the weekly AI share it is detected from, the evidence
behind it, and how much of the work after it was AI-assisted (docs/metrics.md "Adoption").

Detection counts only evidence that an agent wrote or helped write the code (classes `authored`
and `assisted`), whatever loopmeter.toml opts in for the AI share: an accepted review suggestion or
an AI-written commit message is not adoption of an AI coding tool.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, timedelta

import pandas as pd

from ..attribution import AI_CLASSES
from .changes import Window, changes, classified_attributions

#: Weeks after the adoption date whose changes show which evidence the date stands on.
FIRST_WEEKS = 4


def rule(min_share: float) -> str:
    """The detection rule in words, with the minimum share in force."""
    return (f"the first ISO week in which at least {min_share:.0%} of non-bot changes are "
            "AI-assisted by authored or assisted evidence (and at least one is), such that at least 3 of the "
            "4 weeks starting there are such weeks")


def _date_of(dates: Mapping[str, date | None] | date | None):
    if dates is None or isinstance(dates, date):
        return lambda _repo: dates
    return dates.get


def detection_window(window: Window) -> Window:
    """`window` counting only authored/assisted evidence as AI."""
    return dataclasses.replace(window, ai_classes=AI_CLASSES)


def weekly_ai(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    """(week, ai, n): non-bot changes per week and how many are AI-assisted by authored/assisted evidence."""
    ch = changes(con, detection_window(window), repos)
    ch = ch.filter(~ch.bot)
    return con.execute(ch.group_by("week").agg(ai=ch.ai_assisted.sum(), n=ch.count()).order_by("week"))


def _landed(con, window: Window, repos: list[str] | None):
    ch = changes(con, detection_window(window), repos)
    return ch.filter(~ch.bot)


def evidence(con, window: Window, repos: list[str] | None, dates: Mapping[str, date | None] | date | None) -> list[dict]:
    """One entry per (agent, class) of authored/assisted evidence on non-bot changes: when it was
    first seen and how many changes carried it in the FIRST_WEEKS weeks from its repository's
    adoption date. Entries with changes in those weeks come first (most first)."""
    date_of = _date_of(dates)
    if dates is None or (isinstance(dates, Mapping) and not any(dates.values())):
        return []
    ch = _landed(con, window, repos)
    a = classified_attributions(con)
    a = a.filter(a.evidence_class.isin(list(AI_CLASSES)))
    j = a.join(ch, a.item_id == ch.item_id).select(
        repo=ch.repo, agent=a.agent, cls=a.evidence_class, item_id=ch.item_id, done_at=ch.done_at
    )
    df = con.execute(j)
    if df.empty:
        return []
    starts = pd.to_datetime(df["repo"].map(date_of))
    done = pd.to_datetime(df["done_at"])
    df["first4"] = starts.notna() & (done >= starts) & (done < starts + timedelta(weeks=FIRST_WEEKS))
    out = []
    for (agent, cls), g in df.groupby(["agent", "cls"], sort=True):
        out.append({
            "agent": agent, "class": cls, "first_seen": pd.Timestamp(g["done_at"].min()).date().isoformat(),
            "changes_in_first_4_weeks": int(g.loc[g["first4"], "item_id"].nunique()),
        })
    out.sort(key=lambda e: (-e["changes_in_first_4_weeks"], e["first_seen"], e["agent"], e["class"]))
    return out


def exposure_after(con, window: Window, repos: list[str] | None, dates: Mapping[str, date | None] | date | None) -> float | None:
    """Share of non-bot changes landed on or after their repository's adoption date that are
    AI-assisted (by the classes the report counts: `window.ai_classes`). None without a date or
    without changes after it."""
    date_of = _date_of(dates)
    if dates is None or (isinstance(dates, Mapping) and not any(dates.values())):
        return None
    ch = changes(con, window, repos)
    ch = ch.filter(~ch.bot)
    df = con.execute(ch.select("repo", "done_at", "ai_assisted"))
    if df.empty:
        return None
    start = pd.to_datetime(df["repo"].map(date_of))
    after = start.notna() & (pd.to_datetime(df["done_at"]) >= start)
    n = int(after.sum())
    return float(df.loc[after, "ai_assisted"].astype(bool).sum()) / n if n else None


def attach(info: dict, con, window: Window, repos: list[str] | None, dates: Mapping[str, date | None] | date | None) -> dict:
    """`info` (an adoption dict) with `evidence` and `exposure_after` added."""
    info["evidence"] = evidence(con, window, repos, dates)
    info["exposure_after"] = exposure_after(con, window, repos, dates)
    return info


__all__ = ["FIRST_WEEKS", "attach", "detection_window", "evidence", "exposure_after", "rule", "weekly_ai"]
