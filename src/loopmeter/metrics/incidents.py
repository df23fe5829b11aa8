"""`incidents` in the report: PagerDuty and Opsgenie incidents (docs/metrics.md "Incidents").

Per service (and in total): incidents triggered per ISO week, time to acknowledge (acknowledged -
triggered) and time to restore (resolved - triggered; DORA's time to restore service), in hours,
p50/p85 over the incidents that have the later time. Unresolved incidents are counted as open
and left out of the time to restore, never given a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np

from ..store.db import Store
from ..teams import UNASSIGNED


def _q(v: list[float], q: float) -> float | None:
    return None if not v else round(float(np.quantile(np.asarray(v, float), q)), 4)


def _summary(rows: list[tuple]) -> dict:
    ack = [a for _, _, a, _ in rows if a is not None]
    res = [r for _, _, _, r in rows if r is not None]
    weeks: dict[str, int] = {}
    for _, week, _, _ in rows:
        weeks[week] = weeks.get(week, 0) + 1
    return {
        "incidents": len(rows), "open": sum(1 for *_, r in rows if r is None),
        "time_to_acknowledge_hours": {"p50": _q(ack, 0.5), "p85": _q(ack, 0.85), "n": len(ack)},
        "time_to_restore_hours": {"p50": _q(res, 0.5), "p85": _q(res, 0.85), "n": len(res)},
        "weekly": [{"week_start": w, "incidents": n} for w, n in sorted(weeks.items())],
    }


def incidents(store: Store, *, repos: Sequence[str] = (), team: str | None = None, since: date | None = None,
              until: date | None = None) -> dict:
    """`repos` / `team`: only the incidents `[[incidents.service]]` linked to them (`unassigned`:
    to no team); `since` / `until`: only those triggered on those days (UTC, inclusive)."""
    where, params = [], []
    if repos:
        where.append("list_contains(?, i.repo)")
        params.append(list(repos))
    if team == UNASSIGNED:
        where.append("i.team is null")
    elif team is not None:
        where.append("i.team = ?")
        params.append(team)
    if since is not None:
        where.append("i.created_at >= ?")
        params.append(datetime(since.year, since.month, since.day))
    if until is not None:
        where.append("i.created_at < ?")
        params.append(datetime(until.year, until.month, until.day) + timedelta(days=1))
    rows = store.con.execute(
        """select coalesce(json_extract_string(i.attrs, '$.service'), '(no service)') as service, i.repo, i.source,
                  strftime(date_trunc('week', i.created_at), '%Y-%m-%d') as week,
                  epoch(try_cast(json_extract_string(i.attrs, '$.acknowledged_at') as timestamp) - i.created_at) / 3600.0,
                  epoch(i.done_at - i.created_at) / 3600.0
           from items i join event_log_items li on li.item_id = i.item_id
           join event_logs l on l.name = li.log and l.format in ('pagerduty-csv', 'opsgenie-csv', 'pagerduty-api', 'opsgenie-api')
           where true""" + "".join(f" and {w}" for w in where) + """
           order by service, i.item_id""", params).fetchall()
    by: dict[tuple, list] = {}
    for service, repo, source, week, ack, res in rows:
        by.setdefault((service, repo, source), []).append((service, week, ack, res))
    return {
        "total": _summary([r for v in by.values() for r in v]),
        "services": [{"service": s, "repo": repo, "source": src, **_summary(v)} for (s, repo, src), v in by.items()],
    }
