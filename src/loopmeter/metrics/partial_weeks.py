"""The week the report's as-of time falls in is not over: its counts cover only the days up to
as_of, so drawn beside full weeks it reads as a drop in throughput that did not happen.

`mark_partial_weeks` flags that week's entries (`"partial": true`) in every weekly series of the
report document (`WEEKLY_SERIES`). Only the partial week's entries gain the key, so every other
entry, and every report whose data ends in an earlier week, is exactly as before.

The lift designs' weekly series (`designs.*.weekly`) are not in the list: they stop at the last
complete week (inputs.last_full_week), so they never hold the week in progress.
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


# Where the report keeps its weekly series (a path of keys from the document's top). Each entry
# names its week by `week_start` (a Monday), or, in `agent_loops`, by `week` holding that Monday.
WEEKLY_SERIES: tuple[tuple[str, ...], ...] = (
    ("weekly",),
    ("flow", "pr_cycle", "weekly"),
    ("flow", "waiting_on_humans", "weekly"),
    ("flow", "dora", "weekly"),
    ("flow", "ci", "weekly"),
    ("agent_loops", "weekly"),
    ("agent_loops", "per_validated_change", "weekly"),
)


def week_monday(entry: Any) -> str | None:
    """The Monday (ISO date) an entry of a weekly series stands for, or None."""
    if not isinstance(entry, MutableMapping):
        return None
    for key in ("week_start", "week"):
        v = entry.get(key)
        if v:
            try:
                return date.fromisoformat(str(v)[:10]).isoformat()
            except ValueError:
                continue  # an ISO week label ("2026-W05"): the other key names the Monday
    return None


def _mark(entries: Iterable[Any], as_of: datetime) -> None:
    for e in entries or ():
        start = week_monday(e)
        if start and week_is_partial(start, as_of):
            e["partial"] = True


def _series(report: MutableMapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = report
    for key in path:
        if not isinstance(node, MutableMapping):
            return None
        node = node.get(key)
    return node if isinstance(node, list) else None


def mark_partial_weeks(report: MutableMapping[str, Any], as_of: datetime) -> None:
    """Flag, in place, the entries of the week holding `as_of` (naive UTC) in every weekly series
    of `report` (WEEKLY_SERIES)."""
    as_of = as_of.replace(tzinfo=None)
    for path in WEEKLY_SERIES:
        _mark(_series(report, path) or [], as_of)
