"""Write a parsed event log (or a Jira project) into the canonical tables, replacing its last ingest.

A log is identified by its name: ingesting it again replaces every item it wrote before, in one
transaction, so a re-run never duplicates and a failed run leaves the previous ingest intact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from ..sources.eventlog import EventLogError, ParsedLog, Skipped
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
        out: dict[str, int] = {}
        for s in self.skipped:
            out[s.reason] = out.get(s.reason, 0) + 1
        return out


def case_id(log_name: str, case: str) -> str:
    return f"events:{log_name}:{case}"


def rows_from_log(log: ParsedLog, name: str, ids: Identities) -> Rows:
    """Cases as `case` items (docs/design.md); an OCEL file from `loopmeter export` as it was."""
    rows = Rows()
    restore = log.restore_items is not None
    ident = (lambda c: c) if restore else (lambda c: case_id(name, c))
    span: dict[str, list[datetime]] = {}
    item_of: dict[str, str] = {}  # one id string per case, not one per event
    for e in log.events:
        iid = item_of.get(e.case)
        if iid is None:
            iid = item_of[e.case] = ident(e.case)
        actor = e.actor if restore else (ids.actor_id(e.actor, "") if e.actor else None)
        rows.events.append((iid, e.ts, e.activity, actor, dumps(e.attrs)))
        s = span.setdefault(iid, [e.ts, e.ts])
        s[0], s[1] = min(s[0], e.ts), max(s[1], e.ts)
    if restore:
        assert log.restore_items is not None
        for oid, f in log.restore_items.items():
            rows.items.append({"item_id": oid, **f})
    else:
        for case, attrs in log.case_attrs.items():
            iid = ident(case)
            if iid not in span:
                continue
            first, last = span[iid]
            rows.items.append({
                "item_id": iid, "source": f"events:{name}", "kind": "case", "repo": None, "team": None,
                "title": case, "created_at": first, "started_at": first, "done_at": last, "state": "closed",
                "size_lines": None, "author_id": None, "attrs": dumps({"log": name, **attrs}),
            })
        for case in span.keys() - {ident(c) for c in log.case_attrs}:
            first, last = span[case]
            rows.items.append({
                "item_id": case, "source": f"events:{name}", "kind": "case", "repo": None, "team": None,
                "title": case.removeprefix(f"events:{name}:"), "created_at": first, "started_at": first,
                "done_at": last, "state": "closed", "size_lines": None, "author_id": None,
                "attrs": dumps({"log": name}),
            })
    have = {r["item_id"] for r in rows.items}
    for src, dst, q in log.relations:
        a, b = ident(src), ident(dst)
        if a in have and b in have:
            rows.links.append((a, b, q))
    rows.items.sort(key=lambda r: r["item_id"])
    return rows


def write_log(store: Store, *, name: str, path: str, fmt: str, rows: Rows, skipped: list[Skipped],
              ids: Identities) -> LogSummary:
    """Replace log `name`'s items, events and links with `rows`, and record the log, atomically."""
    items = pa.Table.from_pylist(rows.items, schema=_ITEMS)
    events = pa.Table.from_arrays(
        [pa.array([e[i] for e in rows.events], type=t.type) for i, t in enumerate(_EVENTS)], schema=_EVENTS)
    links = pa.Table.from_arrays(
        [pa.array([lk[i] for lk in rows.links], type=pa.string()) for i in range(3)], schema=_LINKS)
    actors = _actor_table(ids)
    reasons: dict[str, int] = {}
    for s in skipped:
        reasons[s.reason] = reasons.get(s.reason, 0) + 1
    sample = [{"where": s.where, "reason": s.reason} for s in skipped[:SKIPPED_SAMPLE]]
    with transaction(store.con, new_items=items, new_events=events, new_links=links, new_actors=actors) as con:
        # A log may replace what logs wrote, never what another source did (a restored OCEL export
        # holding git change items, say): that would silently swap the store's own data.
        taken = con.execute(
            "select item_id from new_items where item_id in (select item_id from items) "
            "and item_id not in (select item_id from event_log_items) order by item_id").fetchall()
        if taken:
            raise EventLogError(
                f"{path}: {len(taken):,} of its items are already in the store from another source "
                f"(first: {taken[0][0]}); ingest it into a new store (--store)")
        # Everything this log wrote last time, plus anything a restored export brings back.
        con.execute(
            "create temp table gone as select item_id from event_log_items where log = ? "
            "union select item_id from new_items", [name])
        con.execute("delete from items where item_id in (select item_id from gone)")
        con.execute("delete from events where item_id in (select item_id from gone)")
        con.execute("delete from links where src in (select item_id from gone)")
        con.execute("delete from event_log_items where log = ? or item_id in (select item_id from gone)", [name])
        con.execute("drop table gone")
        con.execute("insert into items by name select * from new_items")
        con.execute("insert into events by name select * from new_events")
        con.execute("insert into links by name select * from new_links")
        con.execute("insert into event_log_items select ?, item_id from new_items", [name])
        con.execute("insert into actors by name select * from new_actors "
                    "where actor_id not in (select actor_id from actors)")
        con.execute(
            "insert or replace into event_logs values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, path, fmt, items.num_rows, events.num_rows, len(skipped), json.dumps(reasons),
             json.dumps(sample), utcnow()],
        )
    return LogSummary(name, path, fmt, items.num_rows, events.num_rows, skipped)


def _actor_table(ids: Identities) -> pa.Table:
    new = ids.take_new()
    cols: list[list[Any]] = [[], [], [], [], [], []]
    for aid, kind, nm, email, agent in new:
        for col, v in zip(cols, (aid, kind, nm, email, None, agent)):
            col.append(v)
    return pa.Table.from_arrays([pa.array(c, type=pa.string()) for c in cols], schema=_ACTORS)
