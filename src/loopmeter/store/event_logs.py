"""Write a parsed event log (or a Jira project) into the canonical tables, replacing its last ingest.

A log is identified by its name: ingesting it again replaces every item it wrote before, in one
transaction, so a re-run never duplicates and a failed run leaves the previous ingest intact. A
file's events stream into that transaction in batches (`ingest_log`); Jira's rows, built in
memory, go through `write_log`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from ..sources.eventlog import Event, EventLogError, ParsedLog, Skipped, skipped_reasons
from .db import Store, transaction, utcnow
from .git_load import Identities

#: How many unusable rows are kept, with where they were, in `event_logs.skipped_sample`.
SKIPPED_SAMPLE = 50

_ITEMS = pa.schema([
    ("item_id", pa.string()), ("source", pa.string()), ("kind", pa.string()), ("repo", pa.string()),
    ("team", pa.string()), ("title", pa.string()), ("created_at", pa.timestamp("us")),
    ("started_at", pa.timestamp("us")), ("done_at", pa.timestamp("us")), ("state", pa.string()),
    ("size_lines", pa.int64()), ("author_id", pa.string()), ("attrs", pa.string()),
])
_EVENTS = pa.schema([
    ("item_id", pa.string()), ("ts", pa.timestamp("us")), ("activity", pa.string()),
    ("actor_id", pa.string()), ("attrs", pa.string()),
])
_LINKS = pa.schema([("src", pa.string()), ("dst", pa.string()), ("kind", pa.string())])
_ACTORS = pa.schema([
    ("actor_id", pa.string()), ("kind", pa.string()), ("name", pa.string()), ("email", pa.string()),
    ("team", pa.string()), ("agent", pa.string()),
])


def dumps(attrs: dict[str, Any] | None) -> str | None:
    """Attributes as stored: sorted JSON, so equal attributes are equal strings."""
    if attrs is None:
        return None
    return json.dumps(attrs, sort_keys=True, default=str, ensure_ascii=False)


@dataclass
class Rows:
    """Canonical rows for one log: items (dicts with the `items` columns), events, links."""

    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, datetime, str, str | None, str | None]] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class LogSummary:
    name: str
    path: str
    format: str
    cases: int
    events: int
    skipped: list[Skipped]

    @property
    def skipped_reasons(self) -> dict[str, int]:
        return skipped_reasons(self.skipped)


def case_id(log_name: str, case: str) -> str:
    return f"events:{log_name}:{case}"



class _Stager:
    """Receives a reader's events batch by batch and appends them to the temporary `new_events`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, ids: Identities):
        self.con, self.name, self.ids = con, name, ids
        self.item_of: dict[str, str] = {}  # one id string per case, not one per event

    def __call__(self, log: ParsedLog, events: list[Event]) -> None:
        restore = log.restore_items is not None
        rows = []
        for e in events:
            iid = self.item_of.get(e.case)
            if iid is None:
                iid = self.item_of[e.case] = e.case if restore else case_id(self.name, e.case)
            actor = e.actor if restore else (self.ids.actor_id(e.actor, "") if e.actor else None)
            rows.append((iid, e.ts, e.activity, actor, dumps(e.attrs)))
        batch = _table(rows, _EVENTS)
        self.con.register("event_batch", batch)
        try:
            self.con.execute("insert into new_events select * from event_batch")
        finally:
            self.con.unregister("event_batch")


def _case_items(con: duckdb.DuckDBPyConnection, log: ParsedLog, name: str) -> list[dict[str, Any]]:
    """Cases as `case` items (docs/design.md), spanning their first to last event; an OCEL file
    from `loopmeter export` gives its items back as they were."""
    if log.restore_items is not None:
        return [{"item_id": oid, **f} for oid, f in sorted(log.restore_items.items())]
    prefix = case_id(name, "")
    items = []
    for iid, first, last in con.execute(
            "select item_id, min(ts), max(ts) from new_events group by item_id order by item_id").fetchall():
        case = iid[len(prefix):]
        items.append({
            "item_id": iid, "source": f"events:{name}", "kind": "case", "repo": None, "team": None,
            "title": case, "created_at": first, "started_at": first, "done_at": last, "state": "closed",
            "size_lines": None, "author_id": None, "attrs": dumps({"log": name, **log.case_attrs.get(case, {})}),
        })
    return items


def ingest_log(store: Store, *, name: str, path: str, ids: Identities,
               read: Callable[[Callable[[ParsedLog, list[Event]], None]], ParsedLog]) -> LogSummary:
    """Read a log with `read(sink)` straight into the store, replacing log `name`, in ONE transaction.

    Events reach the store in batches as they are read, so memory stays flat however long the log
    is; a file that turns out unreadable half-way (malformed XML, a mapped key no row has) rolls
    the transaction back and leaves the store as it was.
    """
    registered: list[str] = []
    # The tables to register exist only once the file has been read, inside the transaction.
    with transaction(store.con) as con:
        try:
            con.execute("create temp table new_events (item_id varchar, ts timestamp, activity varchar, "
                        "actor_id varchar, attrs varchar)")
            log = read(_Stager(con, name, ids))
            items = pa.Table.from_pylist(_case_items(con, log, name), schema=_ITEMS)
            have = set(items.column("item_id").to_pylist())
            restore = log.restore_items is not None
            links = []
            for a, b, q in log.relations:
                src, dst = (a, b) if restore else (case_id(name, a), case_id(name, b))
                if src in have and dst in have:
                    links.append((src, dst, q))
            for tname, table in (("new_items", items), ("new_links", _links_table(links)),
                                 ("new_actors", _actor_table(ids))):
                con.register(tname, table)
                registered.append(tname)
            summary = _replace(con, name=name, path=path, fmt=log.format, skipped=log.skipped)
            if restore:
                _restore_actors_and_attributions(con, log)
            con.execute("drop table new_events")
        finally:
            for tname in registered:
                con.unregister(tname)
    return summary


# The order within a case: time, then activity, then resource id (nulls last, as ORDER BY puts them).
# Over it each event gets its place (`seq`), its successor's time (`next_ts`) and whether a
# different known resource performs the successor (`handoff`), all stored at ingest (docs/metrics.md
# "order within a case"), so a report never sorts a case again.
EVENT_ORDER = "order by ne.ts, ne.activity, ne.actor_id"


def write_log(store: Store, *, name: str, path: str, fmt: str, rows: Rows, skipped: list[Skipped],
              ids: Identities, merge: bool = False) -> LogSummary:
    """Replace log `name`'s items, events and links with `rows` (built in memory), atomically.

    With `merge`, only the items in `rows` are replaced (an incremental read: the log keeps the
    items it wrote before and does not list again); the log's record then counts all its items."""
    items = pa.Table.from_pylist(rows.items, schema=_ITEMS)
    events = _table(rows.events, _EVENTS)
    with transaction(store.con, new_items=items, new_events=events, new_links=_links_table(rows.links),
                     new_actors=_actor_table(ids)) as con:
        return _replace(con, name=name, path=path, fmt=fmt, skipped=skipped, merge=merge)


def _replace(con: duckdb.DuckDBPyConnection, *, name: str, path: str, fmt: str, skipped: list[Skipped],
             merge: bool = False, n_events: int | None = None) -> LogSummary:
    """Inside a transaction, with `new_items`, `new_events`, `new_links` and `new_actors` visible:
    put them in place of what log `name` wrote before (`merge`: of those of its items they hold
    again), and record the log. `n_events`: how many
    rows `new_events` has, when the caller knows (it may be a view that reads a file again)."""
    # A log may replace what logs wrote, never what another source did (a restored OCEL export
    # holding git change items, say): that would silently swap the store's own data.
    taken = con.execute(
        "select item_id from new_items where item_id in (select item_id from items) "
        "and item_id not in (select item_id from event_log_items) order by item_id").fetchall()
    if taken:
        raise EventLogError(
            f"{path}: {len(taken):,} of its items are already in the store from another source "
            f"(first: {taken[0][0]}); ingest it into a new store (--store)")
    # Everything this log wrote last time (merging: only what it writes again), plus anything a
    # restored export brings back.
    con.execute(
        "create temp table gone as select item_id from event_log_items where log = ? and not ? "
        "union select item_id from new_items", [name, merge])
    con.execute("delete from items where item_id in (select item_id from gone)")
    con.execute("delete from events where item_id in (select item_id from gone)")
    con.execute("delete from links where src in (select item_id from gone)")
    con.execute("delete from event_log_items where (log = ? and not ?) or item_id in (select item_id from gone)",
                [name, merge])
    con.execute("drop table gone")
    con.execute("insert into items by name select * from new_items")
    # Each case's number, after every number in use (a log's cases take one run of numbers, in
    # item id order).
    con.execute("""create temp table new_case_nos as
                   select item_id, (select coalesce(max(case_no), 0) from event_log_items)
                                   + row_number() over (order by item_id) as case_no
                   from new_items""")
    # Each event's place in its case, successor time and handoff (EVENT_ORDER), sorted once here so
    # that a report groups a case's events by its number instead of sorting them. An event whose
    # item is not one of the log's (a restored export's) keeps null ones.
    con.execute(f"""insert into events by name
                    select ne.*, n.case_no,
                           case when n.case_no is not null then (row_number() over w)::integer end as seq,
                           case when n.case_no is not null then lead(ne.ts) over w end as next_ts,
                           case when n.case_no is not null
                                then coalesce(ne.actor_id <> lead(ne.actor_id) over w, false) end as handoff
                    from new_events ne left join new_case_nos n on n.item_id = ne.item_id
                    window w as (partition by n.case_no {EVENT_ORDER})""")
    con.execute("insert into links by name select * from new_links")
    con.execute("insert into event_log_items by name select ? as log, item_id, case_no from new_case_nos", [name])
    con.execute("drop table new_case_nos")
    con.execute("insert into actors by name select * from new_actors "
                "where actor_id not in (select actor_id from actors)")
    if merge:
        (n_items,) = con.execute("select count(*) from event_log_items where log = ?", [name]).fetchone()
        (n_events,) = con.execute("select count(*) from events where item_id in "
                                  "(select item_id from event_log_items where log = ?)", [name]).fetchone()
    else:
        (n_items,) = con.execute("select count(*) from new_items").fetchone()
        if n_events is None:
            (n_events,) = con.execute("select count(*) from new_events").fetchone()
    sample = [{"where": s.where, "reason": s.reason} for s in skipped[:SKIPPED_SAMPLE]]
    con.execute(
        "insert or replace into event_logs values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [name, path, fmt, n_items, n_events, len(skipped), json.dumps(skipped_reasons(skipped)), json.dumps(sample), utcnow()],
    )
    return LogSummary(name, path, fmt, n_items, n_events, skipped)


def _restore_actors_and_attributions(con: duckdb.DuckDBPyConnection, log: ParsedLog) -> None:
    """A restored export's actor kinds (an actor the store already knows keeps its row) and its
    items' AI attributions (replacing theirs), so bots, agents and AI-assisted work stay apart."""
    actors = pa.table({"actor_id": list(log.restore_actors), "kind": [k for k, _ in log.restore_actors.values()],
                       "agent": [g for _, g in log.restore_actors.values()]},
                      schema=pa.schema([("actor_id", pa.string()), ("kind", pa.string()), ("agent", pa.string())]))
    rows = [(iid, a["agent"], a["evidence"], a["signal"], a["confidence"], a.get("class"))
            for iid, attrs in log.restore_attributions.items() for a in attrs]
    attributions = _table(rows, pa.schema([("item_id", pa.string()), ("agent", pa.string()), ("evidence", pa.string()),
                                           ("signal", pa.string()), ("confidence", pa.float64()),
                                           ("evidence_class", pa.string())]))
    con.register("restored_actors", actors)
    con.register("restored_attributions", attributions)
    try:
        con.execute("insert into actors by name select actor_id, kind, agent from restored_actors "
                    "where actor_id not in (select actor_id from actors)")
        con.execute("delete from attributions where item_id in (select item_id from new_items)")
        con.execute("insert into attributions by name select * from restored_attributions")
    finally:
        con.unregister("restored_actors")
        con.unregister("restored_attributions")


def _table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Rows of tuples (one value per column of `schema`) as an Arrow table."""
    return pa.Table.from_arrays([pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(schema)],
                                schema=schema)


def _links_table(links: list[tuple[str, str, str]]) -> pa.Table:
    return _table(links, _LINKS)


def _actor_table(ids: Identities) -> pa.Table:
    return _table([(aid, kind, nm, email, None, agent) for aid, kind, nm, email, agent in ids.take_new()], _ACTORS)
