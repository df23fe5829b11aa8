"""`event_logs` in the report: per ingested log, its size, unusable rows and case durations.

A case's duration is the time from its first to its last event (an item of a log with a single
event lasts 0 hours; an item with no event has no duration and is not in `n`). Percentiles are
continuous (linear interpolation), from metrics/quantiles.py as a SQL fragment because the numbers
come from one small grouped query over the store.
"""

from __future__ import annotations

import json

from ..store.db import Store
from . import portable
from .quantiles import quantile_sql

_QUERY = f"""
with members as (
    select li.log, li.{{key}} as key from event_log_items li join items i on i.item_id = li.item_id
),
-- Events grouped by case first: joining a million cases to ten million events and grouping the
-- join cost half as much again. In a store a log event's case number keys it (an integer, and
-- only log events have one); a Parquet export may predate it and is keyed by item id.
spans as (
    select m.log, m.key, coalesce(s.n_events, 0) as n_events, s.hours
    from members m left join (
        select {{key}} as key, count(ts) as n_events, (epoch(max(ts)) - epoch(min(ts))) / 3600.0 as hours
        from events where {{key}} is not null group by {{key}}) s on s.key = m.key
)
select l.name, l.format, count(s.key) as cases, coalesce(sum(s.n_events), 0) as events,
       l.skipped_rows, l.skipped_reasons,
       {quantile_sql('s.hours', 0.5)} as p50, {quantile_sql('s.hours', 0.85)} as p85, count(s.hours) as n
from event_logs l left join spans s on s.log = l.name
group by l.name, l.format, l.skipped_rows, l.skipped_reasons
order by l.name
"""


def stored_order(store: Store) -> bool:
    """Whether the store's log events carry the case numbers and order stored at ingest
    (store/event_logs.py EVENT_ORDER): a store does, a Parquet export opened as views (engine.py)
    may predate them (set once when it is opened, `Store.export`)."""
    return not store.export


def _hours(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


def event_logs(store: Store, engine=None) -> list[dict]:
    """One entry per ingested log (docs/json-report.md, `event_logs`), computed on `engine` (an Ibis
    backend over the same tables, e.g. Spark over the Parquet export; the query is transpiled there)
    or else on the store's DuckDB."""
    # The driver store over an export is views, not tables: keyed by item id there (stored_order).
    query = _QUERY.format(key="case_no" if stored_order(store) else "item_id")
    if engine is None or engine.name == "duckdb":
        rows = store.con.execute(query).fetchall()
    else:
        df = engine.execute(portable.sql(engine, query))
        rows = [tuple(None if isinstance(v, float) and v != v else v for v in r)  # pandas' NaN is SQL null
                for r in df.itertuples(index=False, name=None)]
    out = []
    for name, fmt, cases, events, skipped, reasons, p50, p85, n in rows:
        out.append({
            "name": name,
            "format": fmt,
            "cases": int(cases),
            "events": int(events),
            "skipped_rows": {"count": int(skipped or 0), "reasons": json.loads(reasons) if reasons else {}},
            "case_duration_hours": {"p50": _hours(p50), "p85": _hours(p85), "n": int(n)},
        })
    return out
