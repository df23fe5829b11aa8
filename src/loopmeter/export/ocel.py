"""OCEL 2.0 writers (https://www.ocel-standard.org/): the JSON and the SQLite flavour.

Both are written with the standard library (json, sqlite3): the shapes are small and fixed by the
specification, and the only library that writes them (pm4py) is AGPL and would first copy the whole
log into pandas frames.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from ..sources.eventlog import ITEM_FIELDS, RESTORE_EXTRA, RESTORE_MARK, quote_name
from .canonical import CanonicalLog, field_text, iso

#: OCEL 2.0 gives attributes that never change the epoch as their time.
STATIC_TIME = "1970-01-01T00:00:00Z"
ITEM_QUALIFIER = "item"
EVENT_ATTRS = ("lm:actor_id", "lm:attrs", "lm:actor_kind", "lm:actor_agent")
OBJECT_ATTRS = tuple(f"lm:{f}" for f in ITEM_FIELDS) + RESTORE_EXTRA
assert RESTORE_MARK in OBJECT_ATTRS


def _object_attrs(log: CanonicalLog, iid: str, fields: dict) -> list[tuple[str, str]]:
    out = []
    for f in ITEM_FIELDS:
        text = field_text(f, fields.get(f))
        if text is not None:
            out.append((f"lm:{f}", text))
    kind, agent = log.actors.get(fields.get("author_id"), (None, None))
    extra = (("lm:author_kind", kind), ("lm:author_agent", agent), ("lm:attributions", log.attributions.get(iid)))
    return out + [(k, v) for k, v in extra if v is not None]


def _event_attrs(log: CanonicalLog, actor: str | None, attrs: str | None) -> list[tuple[str, str]]:
    kind, agent = log.actors.get(actor, (None, None))
    return [(k, v) for k, v in (("lm:actor_id", actor), ("lm:attrs", attrs), ("lm:actor_kind", kind),
                                ("lm:actor_agent", agent)) if v is not None]


def write_ocel_json(log: CanonicalLog, path: Path) -> None:
    kinds = sorted({f["kind"] or "" for f in log.items.values()})
    activities = sorted({e[2] for e in log.events})
    rel: dict[str, list[dict]] = {}
    for src, dst, kind in log.links:
        rel.setdefault(src, []).append({"objectId": dst, "qualifier": kind or ""})
    head = {
        "objectTypes": [{"name": k, "attributes": [{"name": a, "type": "string"} for a in OBJECT_ATTRS]}
                        for k in kinds],
        "eventTypes": [{"name": a, "attributes": [{"name": n, "type": "string"} for n in EVENT_ATTRS]}
                       for a in activities],
    }
    # Written object by object and event by event: a whole document in memory would cost several
    # times the file's size on a large store.
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ',\n"objects": [')
        for n, (iid, fields) in enumerate(log.items.items()):
            obj = {"id": iid, "type": fields["kind"] or "",
                   "attributes": [{"name": k, "time": STATIC_TIME, "value": v} for k, v in _object_attrs(log, iid, fields)]}
            if iid in rel:
                obj["relationships"] = rel[iid]
            f.write(("," if n else "") + "\n" + json.dumps(obj, ensure_ascii=False))
        f.write('\n],\n"events": [')
        for n, (iid, ts, activity, actor, attrs) in enumerate(log.events):
            ev = {"id": f"e{n + 1}", "type": activity, "time": iso(ts),
                  "attributes": [{"name": k, "value": v} for k, v in _event_attrs(log, actor, attrs)],
                  "relationships": [{"objectId": iid, "qualifier": ITEM_QUALIFIER}]}
            f.write(("," if n else "") + "\n" + json.dumps(ev, ensure_ascii=False))
        f.write("\n]}\n")


def _type_tables(names: list[str]) -> dict[str, str]:
    """The OCEL 2.0 SQLite `*_map_type` suffix of each type: letters and digits, unique."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", name) if w) or "Type"
        suffix, n = base, 1
        while suffix.lower() in used:
            n += 1
            suffix = f"{base}{n}"
        used.add(suffix.lower())
        out[name] = suffix
    return out


def write_ocel_sqlite(log: CanonicalLog, path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        kinds = _type_tables(sorted({f["kind"] or "" for f in log.items.values()}))
        activities = _type_tables(sorted({e[2] for e in log.events}))
        con.executescript(
            """
            create table event (ocel_id text primary key, ocel_type text);
            create table event_map_type (ocel_type text primary key, ocel_type_map text);
            create table object (ocel_id text primary key, ocel_type text);
            create table object_map_type (ocel_type text primary key, ocel_type_map text);
            create table event_object (ocel_event_id text, ocel_object_id text, ocel_qualifier text,
                primary key (ocel_event_id, ocel_object_id, ocel_qualifier));
            create table object_object (ocel_source_id text, ocel_target_id text, ocel_qualifier text,
                primary key (ocel_source_id, ocel_target_id, ocel_qualifier));
            """
        )
        attr_cols = ", ".join(f"{quote_name(a)} text" for a in OBJECT_ATTRS)
        for kind, suffix in kinds.items():
            con.execute("insert into object_map_type values (?, ?)", [kind, suffix])
            con.execute(f"create table {quote_name('object_' + suffix)} (ocel_id text, ocel_time timestamp, "
                        f"ocel_changed_field text, {attr_cols})")
        ev_cols = ", ".join(f"{quote_name(a)} text" for a in EVENT_ATTRS)
        for activity, suffix in activities.items():
            con.execute("insert into event_map_type values (?, ?)", [activity, suffix])
            con.execute(f"create table {quote_name('event_' + suffix)} (ocel_id text primary key, ocel_time timestamp, {ev_cols})")
        marks = ", ".join("?" for _ in OBJECT_ATTRS)
        for iid, f in log.items.items():
            kind = f["kind"] or ""
            con.execute("insert into object values (?, ?)", [iid, kind])
            values = dict(_object_attrs(log, iid, f))
            con.execute(f"insert into {quote_name('object_' + kinds[kind])} values (?, ?, NULL, {marks})",
                        [iid, STATIC_TIME.replace("T", " ").rstrip("Z")] + [values.get(a) for a in OBJECT_ATTRS])
        # duplicate links (same ends and kind) collapse: the relation is a set in OCEL 2.0
        con.executemany("insert or ignore into object_object values (?, ?, ?)",
                        [(s, d, k or "") for s, d, k in log.links])
        for n, (iid, ts, activity, actor, attrs) in enumerate(log.events, start=1):
            eid = f"e{n}"
            con.execute("insert into event values (?, ?)", [eid, activity])
            values = dict(_event_attrs(log, actor, attrs))
            con.execute(f"insert into {quote_name('event_' + activities[activity])} values (?, ?, {', '.join('?' for _ in EVENT_ATTRS)})",
                        [eid, ts.isoformat(sep=" ")] + [values.get(a) for a in EVENT_ATTRS])
            con.execute("insert into event_object values (?, ?, ?)", [eid, iid, ITEM_QUALIFIER])
        con.commit()
    finally:
        con.close()
