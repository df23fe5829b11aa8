"""The week the report's as-of time falls in is not over: its counts cover only the days up to
as_of, so drawn beside full weeks it reads as a drop in throughput that did not happen.

`mark_partial_weeks` flags that week's entries (`"partial": true`) in the report's weekly series
that are drawn as charts: `weekly` (validated throughput) and `flow.waiting_on_humans.weekly`
(hours waiting on people). Only the partial week's entries gain the key, so every other entry, and
every report whose data ends in an earlier week, is exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from datetime import date, datetime, timedelta
from typing import Any


def week_is_partial(week_start: str | date, as_of: datetime) -> bool:
    """True when the ISO week (Monday `week_start`, UTC) holds `as_of` and has not ended by it."""
    start = date.fromisoformat(week_start) if isinstance(week_start, str) else week_start
    begin = datetime.combine(start, datetime.min.time())
    return begin <= as_of < begin + timedelta(days=7)


def _mark(entries: Iterable[Any], as_of: datetime) -> None:
    for e in entries or ():
        if isinstance(e, MutableMapping) and e.get("week_start") and week_is_partial(str(e["week_start"]), as_of):
            e["partial"] = True


def mark_partial_weeks(report: MutableMapping[str, Any], as_of: datetime) -> None:
    """Flag, in place, the entries of the week holding `as_of` (naive UTC) in `report`'s charted
    weekly series."""
    as_of = as_of.replace(tzinfo=None)
    _mark(report.get("weekly") or [], as_of)
    waiting = (report.get("flow") or {}).get("waiting_on_humans")
    if isinstance(waiting, MutableMapping):
        _mark(waiting.get("weekly") or [], as_of)
