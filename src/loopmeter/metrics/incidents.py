"""`incidents` in the report: PagerDuty and Opsgenie incidents (docs/metrics.md "Incidents").

Per service (and in total): incidents triggered per ISO week, time to acknowledge (acknowledged -
triggered) and time to restore (resolved - triggered; DORA's time to restore service), in hours,
p50/p85 over the incidents that have the later time. Unresolved incidents are counted as open
and left out of the time to restore, never given a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from ..store.db import Store
from ..teams import UNASSIGNED
from . import portable
from .loop_slice import INCIDENT_FORMATS
from .quantiles import quantile_of


def _q(v: list[float], q: float) -> float | None:
    x = quantile_of(v, q)
    return None if x is None else round(x, 4)


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


def _value(v):
    """A frame's cell as Python: pandas' NaN and NaT are SQL null."""
    return None if v is None or v != v else v


def incidents_sql(*, repos: Sequence[str] = (), team: str | None = None, since: date | None = None,
                  until: date | None = None) -> str:
    """One row per incident of the slice (service, repo, source, item_id, week, ack and res hours),
    DuckDB SQL with every value a literal, transpiled for another engine (metrics/portable.py)."""
    where = [portable.in_list("l.format", INCIDENT_FORMATS)]
    if repos:
        where.append(portable.in_list("i.repo", repos))
    if team == UNASSIGNED:
        where.append("i.team is null")
    elif team is not None:
        where.append(f"i.team = {portable.literal(team)}")
    if since is not None:
        where.append(f"i.created_at >= {portable.timestamp(datetime(since.year, since.month, since.day))}")
    if until is not None:
        where.append(f"i.created_at < {portable.timestamp(datetime(until.year, until.month, until.day) + timedelta(days=1))}")
    # Hours as `epoch(a) - epoch(b)`, not the epoch of an interval (DuckDB's only; docs/scale.md).
    return f"""
        select coalesce(json_extract_string(i.attrs, '$.service'), '(no service)') as service, i.repo, i.source,
               i.item_id, strftime(date_trunc('week', i.created_at), '%Y-%m-%d') as week,
               (epoch(try_cast(json_extract_string(i.attrs, '$.acknowledged_at') as timestamp))
                - epoch(i.created_at)) / 3600.0 as ack,
               (epoch(i.done_at) - epoch(i.created_at)) / 3600.0 as res
        from items i join event_log_items li on li.item_id = i.item_id
        join event_logs l on l.name = li.log
        where {" and ".join(where)}"""


def incidents(store: Store, *, repos: Sequence[str] = (), team: str | None = None, since: date | None = None,
              until: date | None = None, engine=None) -> dict:
    """`repos` / `team`: only the incidents `[[incidents.service]]` linked to them (`unassigned`:
    to no team); `since` / `until`: only those triggered on those days (UTC, inclusive). One query
    over the incidents, on `engine` when given (Spark over the Parquet export; written once in
    DuckDB's SQL and transpiled there, metrics/portable.py), else on the store; the per-service
    summaries are built here from one row per incident."""
    df = portable.frame(store.con, engine, incidents_sql(repos=repos, team=team, since=since, until=until))
    # An engine's rows come in no order: by service, then incident (binary order, as DuckDB sorts).
    df = df.sort_values(["service", "item_id"], kind="stable", ignore_index=True)
    by: dict[tuple, list] = {}
    for service, repo, source, week, ack, res in zip(df["service"], df["repo"], df["source"], df["week"],
                                                      df["ack"], df["res"]):
        repo, ack, res = _value(repo), _value(ack), _value(res)
        by.setdefault((service, repo, source), []).append(
            (service, week, None if ack is None else float(ack), None if res is None else float(res)))
    return {
        "total": _summary([r for v in by.values() for r in v]),
        "services": [{"service": s, "repo": repo, "source": src, **_summary(v)} for (s, repo, src), v in by.items()],
    }
