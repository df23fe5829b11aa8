"""One row per event-log loop and per MLflow experiment, as every reader shows them: the terminal,
the HTML page and the dashboard read these rows (and report/verdict_view.py for the verdicts), so
a loop's numbers, adoption date and verdict are the same wherever a person looks.

A rate per week divides by the calendar weeks from the loop's first week to its last, empty weeks
included (for validated cases, the last week before any week whose cases are still pending): the document's `weekly` lists only weeks with activity, and dividing by those alone
would overstate the rate of a loop that is quiet some weeks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from .verdict_view import VerdictRow, loop_verdict_rows

__all__ = ["LoopRow", "log_rows", "experiment_rows", "calendar_weeks", "loops_document"]


def calendar_weeks(weekly: list[Mapping[str, Any]]) -> int:
    """Weeks from the first row's week to the last row's, both included (0 without rows)."""
    starts = [date.fromisoformat(str(w["week_start"])) for w in weekly if w.get("week_start")]
    if not starts:
        return 0
    return (max(starts) - min(starts)).days // 7 + 1


def _per_week(weekly: list[Mapping[str, Any]], key: str) -> float | None:
    n = calendar_weeks(weekly)
    return round(sum(int(w.get(key) or 0) for w in weekly) / n, 2) if n else None


def _settled_per_week(weekly: list[Mapping[str, Any]]) -> float | None:
    """Validated cases per calendar week over the weeks before the first one still holding pending
    cases (done less than a window ago): those weeks' counts are not final, and dividing by them
    would understate the rate, as the lift's weekly rate leaves them out too (metrics/log_lift.py)."""
    settled = []
    for w in weekly:
        if int(w.get("pending") or 0) > 0:
            break
        settled.append(w)
    return _per_week(settled, "validated")


def _adoption(entry: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(date, source, why there is none) of the loop's before/after design."""
    for d in (entry.get("lift") or {}).get("designs") or []:
        if isinstance(d, Mapping) and d.get("design") == "before-after":
            a = d.get("adoption") or {}
            return a.get("date"), a.get("source"), d.get("unavailable")
    return None, None, None


@dataclass(frozen=True)
class LoopRow:
    kind: str  # "event log" / "experiment"
    name: str
    #: label -> value (numbers or None), in the order a table shows them
    numbers: dict[str, float | int | None]
    adoption: str | None  # "2024-02-26 (detected)"
    adoption_missing: str | None  # why there is no before/after split
    dates: str | None  # "2024-02-01 to 2024-03-31" when the report was cut to dates
    verdict: list[VerdictRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _dates(entry: Mapping[str, Any]) -> str | None:
    d = entry.get("dates")
    if not isinstance(d, Mapping):
        return None
    return f"{d.get('from') or 'the start'} to {d.get('to') or 'the end'}"


def _adoption_text(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    when, source, why = _adoption(entry)
    return (f"{when} ({source})" if when and source else when), (None if when else why)


def log_rows(doc: Mapping[str, Any]) -> list[LoopRow]:
    """The event logs measured as loops (entries with `cycle_time_hours`), in the document's order."""
    out = []
    for g in doc.get("event_logs") or []:
        if not isinstance(g, Mapping) or "cycle_time_hours" not in g:
            continue
        c, w, ai = g.get("cycle_time_hours") or {}, g.get("waiting") or {}, g.get("ai_share") or {}
        weekly = g.get("weekly") or []
        adoption, missing = _adoption_text(g)
        out.append(LoopRow(
            kind="event log", name=str(g.get("name")),
            numbers={"done": c.get("n"), "open": c.get("open"), "cycle_p50_hours": c.get("p50"),
                     "cycle_p85_hours": c.get("p85"), "weeks": calendar_weeks(weekly),
                     "validated_per_week": _settled_per_week(weekly),
                     "waiting_share": w.get("share_of_cycle"), "ai_share": ai.get("share")},
            adoption=adoption, adoption_missing=missing, dates=_dates(g), verdict=loop_verdict_rows(g.get("verdict"))))
    return out


def experiment_rows(doc: Mapping[str, Any]) -> list[LoopRow]:
    """The MLflow experiments, in the document's order."""
    out = []
    for e in doc.get("experiments") or []:
        if not isinstance(e, Mapping):
            continue
        run, turn = e.get("run_minutes") or {}, e.get("turnaround_minutes") or {}
        obj = e.get("objective") if isinstance(e.get("objective"), Mapping) else None
        adoption, missing = _adoption_text(e)
        out.append(LoopRow(
            kind="experiment", name=str(e.get("name")),
            numbers={"runs": e.get("runs"), "weeks": calendar_weeks(e.get("weekly") or []),
                     "runs_per_week": _per_week(e.get("weekly") or [], "runs"),
                     "run_p50_minutes": run.get("p50"), "run_p85_minutes": run.get("p85"),
                     "turnaround_p50_minutes": turn.get("p50"), "turnaround_p85_minutes": turn.get("p85"),
                     "failed_share": e.get("failed_share"), "agent_share": e.get("agent_share"),
                     "improvements": obj.get("improvements") if obj else None},
            adoption=adoption, adoption_missing=missing, dates=_dates(e), verdict=loop_verdict_rows(e.get("verdict"))))
    return out


def loops_document(doc: Mapping[str, Any]) -> dict:
    """`{"filters", "event_logs": [row], "experiments": [row], "left_out": [...]}`: the rows as
    plain values (the dashboard's /api/loops), each with its verdict rows as the HTML page shows
    them, and the loops the slice could not cut (the report's `left_out`)."""
    return {"filters": doc.get("filters"), "event_logs": [r.to_dict() for r in log_rows(doc)],
            "experiments": [r.to_dict() for r in experiment_rows(doc)], "left_out": list(doc.get("left_out") or [])}
