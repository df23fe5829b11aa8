"""Generic event logs: CSV and JSONL with a column mapping, XES, and OCEL 2.0 (JSON and SQLite).

Every reader turns a file into a `ParsedLog`: usable events grouped by case (an OCEL object is a
case), plus every row that could not be used with where it was and why. Readers never touch the
store and raise `EventLogError` (one line naming the file and the line, column or field) for a file
they cannot read at all; a single unusable row is recorded in `skipped` instead, so that one bad
date does not cost the whole log and no row disappears without a trace.

Times: ISO 8601. A time with an offset is converted to UTC; a time without one is taken as UTC
(the store keeps naive UTC).
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import sys
import xml.parsers.expat
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import LoopmeterError
from . import safe

FORMATS = ("csv", "jsonl", "xes", "ocel")
#: Events handed to a sink at a time: large enough to write efficiently, small enough to keep a
#: long log's memory flat.
EVENT_BATCH = 20_000

#: Object attribute that marks an OCEL file written by `loopmeter export`; such a file is restored
#: as the canonical log it came from (same item ids, kinds and fields) instead of becoming cases.
RESTORE_MARK = "lm:source"
ITEM_FIELDS = ("source", "repo", "team", "title", "created_at", "started_at", "done_at", "state",
               "size_lines", "author_id", "attrs")
#: Object attributes beside the item fields: the author's kind and agent and the item's AI
#: attributions (JSON), so a restored store tells bots, agents and AI-assisted work apart as the
#: original did. Events carry lm:actor_kind and lm:actor_agent the same way.
RESTORE_EXTRA = ("lm:author_kind", "lm:author_agent", "lm:attributions")


class EventLogError(LoopmeterError):
    """An event log file cannot be read at all (wrong columns, malformed XML or JSON, ...)."""


@dataclass(frozen=True)
class Mapping:
    """Which CSV column / JSONL key holds each part of an event."""

    case: str = "case"
    activity: str = "activity"
    timestamp: str = "timestamp"
    actor: str | None = None


@dataclass(slots=True)  # one per row: slots keep a large log's heap small
class Event:
    case: str
    activity: str
    ts: datetime
    actor: str | None = None
    attrs: dict[str, Any] | None = field(default_factory=dict)  # None only when restoring a stored NULL


@dataclass
class Skipped:
    where: str  # "line 7", "events[3]", "event e12"
    reason: str


@dataclass
class ParsedLog:
    path: str
    format: str
    #: the events not yet handed to `sink` (all of them when there is no sink)
    events: list[Event] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: case id -> attributes of the case (trace attributes, OCEL object type and attributes)
    case_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (source case, target case, qualifier): OCEL object-to-object relations
    relations: list[tuple[str, str, str]] = field(default_factory=list)
    #: set for an OCEL file written by `loopmeter export`: case id -> item fields to restore
    restore_items: dict[str, dict[str, Any]] | None = None
    #: with restore_items: actor id -> (kind, agent), and item id -> its attributions
    restore_actors: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    restore_attributions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: called with every `batch` events as they are read, so a large log is never held whole
    sink: Callable[[ParsedLog, list[Event]], None] | None = None

    def add(self, event: Event) -> None:
        self.events.append(event)
        if self.sink is not None and len(self.events) >= EVENT_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.sink is not None and self.events:
            self.sink(self, self.events)
            self.events = []


def skipped_reasons(skipped: list[Skipped]) -> dict[str, int]:
    """How many unusable rows each reason cost, in the order the reasons were first met."""
    return dict(Counter(s.reason for s in skipped))


def _share(text: str) -> str:
    """One string object per distinct case, activity and actor: a log repeats them on every row,
    and a large log would otherwise hold a copy per event."""
    return sys.intern(text)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time, or Unix epoch seconds (milliseconds when above 1e11, as exporters and the
    agent-session readers write them), as naive UTC; None when it is neither.

    The agent-session readers' parser does the work; a log adds epoch numbers written as text
    (a CSV cell is always text) and datetimes (an OCEL SQLite column)."""
    return safe.parse_time(value)  # range-checked (1900..2200), never raises


#: The OCEL flavours by name (as `export --format` writes them); `ocel` reads either.
OCEL_FLAVOURS = ("ocel-json", "ocel-sqlite")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".xes":
        return "xes"
    if suffix in (".jsonocel", ".sqlite", ".sqlite3", ".db") or path.name.lower().endswith((".ocel.json", ".ocel")):
        return "ocel"
    if suffix == ".json":
        return "ocel"
    raise EventLogError(f"{path}: cannot tell the format from the file name; pass --format csv|jsonl|xes|ocel")


def check_readable(path: str | Path, fmt: str | None = None) -> str:
    """The format of `path`, or EventLogError when it is missing or its format unknown: what can be
    said before anything is written."""
    p = Path(path)
    if not p.is_file():
        raise EventLogError(f"{p}: no such file")
    fmt = fmt or detect_format(p)
    if fmt in OCEL_FLAVOURS:
        # The names `export --format` and the report use: an OCEL file of that flavour.
        sqlite = _is_sqlite(p)
        if sqlite != (fmt == "ocel-sqlite"):
            raise EventLogError(f"{p}: is an OCEL {'SQLite' if sqlite else 'JSON'} file, not {fmt}; pass --format ocel")
        return "ocel"
    if fmt not in FORMATS:
        raise EventLogError(f"{p}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def read_event_log(path: str | Path, fmt: str | None = None, mapping: Mapping | None = None,
                   sink: Callable[[ParsedLog, list[Event]], None] | None = None) -> ParsedLog:
    """Read one event log file (see the module docstring). With `sink`, events are handed to it in
    batches as they are read instead of being kept in `events`."""
    log = _read(Path(path), fmt, mapping, sink)
    log.flush()
    return log


def _read(p: Path, fmt: str | None, mapping: Mapping | None,
          sink: Callable[[ParsedLog, list[Event]], None] | None) -> ParsedLog:
    fmt = check_readable(p, fmt)  # one of FORMATS from here on
    mapping = mapping or Mapping()
    if fmt == "csv":
        return _read_csv(ParsedLog(str(p), "csv", sink=sink), p, mapping)
    if fmt == "jsonl":
        return _read_jsonl(ParsedLog(str(p), "jsonl", sink=sink), p, mapping)
    if fmt == "xes":
        return _XesReader(p, ParsedLog(str(p), "xes", sink=sink)).read()
    if _is_sqlite(p):
        return _read_ocel_sqlite(ParsedLog(str(p), "ocel-sqlite", sink=sink), p)
    return _read_ocel_json(ParsedLog(str(p), "ocel-json", sink=sink), p)


def _is_sqlite(p: Path) -> bool:
    """Whether the file starts with SQLite's header: which OCEL flavour it is, whatever its name."""
    with p.open("rb") as f:
        return f.read(16).startswith(b"SQLite format 3")


# --------------------------------------------------------------------------- rows (CSV, JSONL)


def _event_time(raw: Any, where: str, log: ParsedLog) -> datetime | None:
    """The time of an event, or None after recording why the event has none it can use."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        log.skipped.append(Skipped(where, "missing timestamp"))
        return None
    ts = parse_time(raw)
    if ts is None:
        log.skipped.append(Skipped(where, "unparseable timestamp"))
    return ts


def _row_event(row: dict[str, Any], m: Mapping, where: str, log: ParsedLog) -> None:
    """Turn one mapped row into an event, or record why it cannot be one."""
    case = row.get(m.case)
    case = None if case is None else str(case).strip()
    if not case:
        log.skipped.append(Skipped(where, "missing case"))
        return
    activity = row.get(m.activity)
    activity = None if activity is None else str(activity).strip()
    if not activity:
        log.skipped.append(Skipped(where, "missing activity"))
        return
    ts = _event_time(row.get(m.timestamp), where, log)
    if ts is None:
        return
    actor = row.get(m.actor) if m.actor else None
    actor = None if actor is None or str(actor).strip() == "" else str(actor).strip()
    used = {m.case, m.activity, m.timestamp, m.actor}
    attrs = {k: v for k, v in row.items() if k not in used and k is not None and v not in (None, "")}
    log.add(Event(_share(case), _share(activity), ts, _share(actor) if actor else None, attrs))


def _read_csv(log: ParsedLog, p: Path, m: Mapping) -> ParsedLog:
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            sample = f.read(4096)
            f.seek(0)
            delimiter = "\t" if p.suffix.lower() == ".tsv" or sample.split("\n", 1)[0].count("\t") > sample.split("\n", 1)[0].count(",") else ","
            # csv.reader rather than DictReader: DictReader skips blank lines without saying so,
            # which would shift the line numbers we report for the rows after them.
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None) or []
            wanted = [("--case", m.case), ("--activity", m.activity), ("--timestamp", m.timestamp)]
            if m.actor:
                wanted.append(("--actor", m.actor))
            for option, col in wanted:
                if col not in header:
                    raise EventLogError(
                        f"{p}: no column {col!r} (mapped by {option}); the header has: {', '.join(header) or 'nothing'}"
                    )
            start = reader.line_num + 1  # the header may span lines (a quoted newline)
            for rec in reader:
                where = f"line {start}"
                start = reader.line_num + 1
                if not rec:
                    continue  # a blank line is not a row
                if len(rec) > len(header):  # the row is misaligned: no field can be trusted
                    log.skipped.append(Skipped(where, "more fields than the header"))
                elif len(rec) < len(header):
                    log.skipped.append(Skipped(where, "fewer fields than the header"))
                else:
                    _row_event(dict(zip(header, rec)), m, where, log)
    except UnicodeDecodeError as e:
        raise EventLogError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise EventLogError(f"{p}: line {reader.line_num}: not valid CSV ({e})") from None
    return log


def _read_jsonl(log: ParsedLog, p: Path, m: Mapping) -> ParsedLog:
    seen_keys: set[str] = set()
    rows = 0
    with p.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            rows += 1
            try:
                row = safe.loads(raw)
            except ValueError:
                log.skipped.append(Skipped(f"line {n}", "not valid JSON"))
                continue
            if not isinstance(row, dict):
                log.skipped.append(Skipped(f"line {n}", "not a JSON object"))
                continue
            seen_keys.update(row)
            _row_event(row, m, f"line {n}", log)
    # A key missing from every object is a wrong mapping, not a few bad rows.
    if rows and seen_keys:
        for option, key in (("--case", m.case), ("--activity", m.activity), ("--timestamp", m.timestamp)):
            if key not in seen_keys:
                raise EventLogError(
                    f"{p}: no object has the key {key!r} (mapped by {option}); keys seen: {', '.join(sorted(seen_keys))}"
                )
    return log


# --------------------------------------------------------------------------- XES


_XES_TYPES = {"string", "date", "int", "float", "boolean", "id", "list", "container"}


def _xes_value(tag: str, value: str | None) -> Any:
    if value is None:
        return None
    if tag == "int":
        try:
            return int(value)
        except ValueError:
            return value
    if tag == "float":
        try:
            return float(value)
        except ValueError:
            return value
    if tag == "boolean":
        return value.strip().lower() == "true"
    return value


class _XesReader:
    """Streams a XES file through expat, one event at a time.

    ElementTree's iterparse offers no hook to refuse a DTD, and expat expands internal entities
    (a "billion laughs" file blows up memory) before any element reaches us. So we drive the same
    expat parser ElementTree uses, with handlers that stop at the first DOCTYPE or entity
    declaration: XES has no use for either (this is what defusedxml does; it is not a dependency).
    """

    def __init__(self, p: Path, log: ParsedLog):
        self.p = p
        self.log = log
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = self._refuse("a DTD (DOCTYPE)")
        self.parser.EntityDeclHandler = self._refuse("an entity declaration")
        self.parser.ExternalEntityRefHandler = self._refuse("an external entity")
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.depth_stack: list[str] = []
        # attribute containers being filled: (dict for the element's attributes, kind)
        self.trace: dict[str, Any] | None = None
        self.trace_line = 0
        self.trace_events: list[tuple[dict[str, Any], int]] = []
        self.event: dict[str, Any] | None = None
        self.event_line = 0
        self.attr_stack: list[tuple[dict[str, Any] | list, str]] = []
        self.in_global = 0
        self.trace_no = 0

    def _refuse(self, what: str):
        def handler(*_args: Any) -> None:
            raise EventLogError(f"{self.p}: line {self.parser.CurrentLineNumber}: XES file contains {what}; "
                                "refused because entity expansion can exhaust memory or read local files")
        return handler

    def _target(self) -> dict[str, Any] | list | None:
        if self.attr_stack:
            return self.attr_stack[-1][0]
        if self.event is not None:
            return self.event
        if self.trace is not None:
            return self.trace
        return None

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        line = self.parser.CurrentLineNumber
        if not self.depth_stack and tag != "log":
            raise EventLogError(f"{self.p}: line {line}: the root element is <{tag}>, not a XES <log>")
        self.depth_stack.append(tag)
        if tag == "global":
            self.in_global += 1
            return
        if self.in_global:
            return
        if tag == "trace":
            self.trace, self.trace_line, self.trace_events = {}, line, []
            self.trace_no += 1
        elif tag == "event":
            self.event, self.event_line = {}, line
        elif tag == "values":
            return  # the children of a <list> follow
        elif tag in _XES_TYPES:
            target = self._target()
            key = attrs.get("key")
            if target is None:
                self.attr_stack.append(({}, tag))  # a log-level attribute: read and ignored
                return
            if tag in ("list", "container"):
                value: Any = []
            else:
                value = _xes_value(tag, attrs.get("value"))
            if isinstance(target, list):
                target.append({key: value} if key is not None else value)
            elif key is not None:
                target[key] = value
            # nested attributes (XES allows children on any attribute) go under "key/child"
            holder: dict[str, Any] | list = value if isinstance(value, list) else {}
            self.attr_stack.append((holder, key or ""))

    def _end(self, tag: str) -> None:
        self.depth_stack.pop()
        if tag == "global":
            self.in_global -= 1
            return
        if self.in_global:
            return
        if tag in _XES_TYPES:
            holder, key = self.attr_stack.pop()
            if isinstance(holder, dict) and holder:
                parent = self._target()
                if isinstance(parent, dict):
                    for k, v in holder.items():
                        parent[f"{key}/{k}"] = v
            return
        if tag == "event":
            if self.trace is None:
                self.log.skipped.append(Skipped(f"line {self.event_line}", "event outside a trace"))
            else:
                self.trace_events.append((self.event or {}, self.event_line))
            self.event = None
        elif tag == "trace":
            self._finish_trace()
            self.trace = None

    def _finish_trace(self) -> None:
        trace = self.trace or {}
        if not self.trace_events:  # nothing to measure, but not silently gone either
            self.log.skipped.append(Skipped(f"line {self.trace_line}", "trace with no events"))
            return
        case = trace.get("concept:name")
        case = None if case is None else str(case).strip()
        if not case:
            for _, line in self.trace_events:
                self.log.skipped.append(Skipped(f"line {line}", "missing case"))
            return
        self.log.case_attrs.setdefault(case, {}).update(
            {k: v for k, v in trace.items() if k != "concept:name"})
        for ev, line in self.trace_events:
            where = f"line {line}"
            activity = ev.get("concept:name")
            if activity is None or not str(activity).strip():
                self.log.skipped.append(Skipped(where, "missing activity"))
                continue
            ts = _event_time(ev.get("time:timestamp"), where, self.log)
            if ts is None:
                continue
            actor = ev.get("org:resource")
            attrs = {k: v for k, v in ev.items() if k not in ("concept:name", "time:timestamp", "org:resource")}
            self.log.add(Event(_share(case), _share(str(activity).strip()), ts,
                                         None if actor in (None, "") else _share(str(actor)), attrs))

    def read(self) -> ParsedLog:
        try:
            with self.p.open("rb") as f:
                while chunk := f.read(1 << 16):
                    self.parser.Parse(chunk, False)
                self.parser.Parse(b"", True)
        except xml.parsers.expat.ExpatError as e:
            raise EventLogError(
                f"{self.p}: line {e.lineno}: not well-formed XES ({xml.parsers.expat.ErrorString(e.code)})"
            ) from None
        return self.log


# --------------------------------------------------------------------------- OCEL 2.0


def _static_attrs(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """Object attributes at their latest time (OCEL 2.0 lets an attribute change over time)."""
    out: dict[str, tuple[str, Any]] = {}
    for a in attributes:
        name = a.get("name")
        if name is None:
            continue
        time = str(a.get("time") or "")
        if name not in out or time >= out[name][0]:
            out[name] = (time, a.get("value"))
    return {k: v for k, (_, v) in out.items()}


def _ocel_events(log: ParsedLog, objects: dict[str, tuple[str, dict[str, Any]]],
                 events: list[tuple[str, str, Any, dict[str, Any], list[str]]]) -> None:
    """Attach OCEL events (id, type, time, attributes, related object ids) to their objects."""
    restore = bool(objects) and all(RESTORE_MARK in a for _, a in objects.values())
    if restore:
        log.restore_items = {}  # filled below; set first so a sink knows the ids are kept as they are
    used: set[str] = set()
    for eid, etype, time, attrs, related in events:
        where = f"event {eid}"
        if not etype:
            log.skipped.append(Skipped(where, "missing activity"))
            continue
        ts = _event_time(time, where, log)
        if ts is None:
            continue
        known = [o for o in related if o in objects]
        if len(known) < len(related):
            log.skipped.append(Skipped(where, "relationship to an unknown object"))
        if not known:
            log.skipped.append(Skipped(where, "relates to no object"))
            continue
        attrs = dict(attrs)
        if restore:
            actor = attrs.pop("lm:actor_id", None)
            kind, agent = attrs.pop("lm:actor_kind", None), attrs.pop("lm:actor_agent", None)
            if actor not in (None, "") and kind not in (None, ""):
                log.restore_actors[str(actor)] = (str(kind), None if agent in (None, "") else str(agent))
            raw = attrs.pop("lm:attrs", None)
            try:
                attrs = safe.loads(raw) if isinstance(raw, str) else None
            except ValueError:
                raise EventLogError(f"{log.path}: field lm:attrs of event {eid} is not JSON") from None
        else:
            actor = attrs.pop("org:resource", None)
        for oid in dict.fromkeys(known):
            used.add(oid)
            log.add(Event(oid, str(etype), ts, None if actor in (None, "") else str(actor),
                                    None if attrs is None else dict(attrs)))
    for oid, (otype, attrs) in objects.items():
        if restore:
            log.case_attrs[oid] = {"kind": otype}
        else:
            log.case_attrs[oid] = {"object_type": otype, **attrs}
    if log.restore_items is not None:
        for oid, (otype, attrs) in objects.items():
            fields = {f: attrs.get(f"lm:{f}") for f in ITEM_FIELDS}
            if fields["source"] == "":  # written for every object so the file is recognised; NULL in the store
                fields["source"] = None
            fields["kind"] = otype
            for f in ("created_at", "started_at", "done_at"):
                fields[f] = parse_time(fields[f]) if fields[f] else None
            fields["size_lines"] = safe.to_int(fields["size_lines"], minimum=0)
            log.restore_items[oid] = fields
            kind, agent = attrs.get("lm:author_kind"), attrs.get("lm:author_agent")
            if fields["author_id"] not in (None, "") and kind not in (None, ""):
                log.restore_actors[str(fields["author_id"])] = (str(kind), None if agent in (None, "") else str(agent))
            raw = attrs.get("lm:attributions")
            if raw not in (None, ""):
                try:
                    rows = safe.loads(raw)
                    log.restore_attributions[oid] = [
                        {**{k: r[k] for k in ("agent", "evidence", "signal", "confidence")},
                         "class": r.get("class")} for r in rows]
                except (ValueError, TypeError, KeyError):
                    raise EventLogError(f"{log.path}: field lm:attributions of object {oid} is not a list of "
                                        "attributions") from None
    else:
        for oid in objects:
            if oid not in used:
                log.skipped.append(Skipped(f"object {oid}", "object with no events"))


def _read_ocel_json(log: ParsedLog, p: Path) -> ParsedLog:
    try:
        with p.open(encoding="utf-8") as f:
            doc = safe.loads(f.read())
    except json.JSONDecodeError as e:
        raise EventLogError(f"{p}: line {e.lineno}: not valid JSON ({e.msg})") from None
    except ValueError as e:  # nested too deeply, an integer too long
        raise EventLogError(f"{p}: not usable JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise EventLogError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not isinstance(doc, dict):
        raise EventLogError(f"{p}: an OCEL 2.0 JSON file is an object with 'objects' and 'events'")
    for key in ("objects", "events"):
        if not isinstance(doc.get(key), list):
            raise EventLogError(f"{p}: field {key!r} is missing or not a list (OCEL 2.0 JSON)")
    objects: dict[str, tuple[str, dict[str, Any]]] = {}
    for i, o in enumerate(doc["objects"]):
        if not isinstance(o, dict) or not isinstance(o.get("id"), (str, int)) or not isinstance(o.get("type"), str):
            raise EventLogError(f"{p}: field objects[{i}] needs a string 'id' and 'type' (OCEL 2.0 JSON)")
        oid = str(o["id"])
        attrs = o.get("attributes") or []
        if not isinstance(attrs, list) or not all(isinstance(a, dict) for a in attrs):
            raise EventLogError(f"{p}: field objects[{i}].attributes is not a list of objects")
        objects[oid] = (o["type"], _static_attrs(attrs))
        for j, r in enumerate(o.get("relationships") or []):
            if not isinstance(r, dict) or "objectId" not in r:
                raise EventLogError(f"{p}: field objects[{i}].relationships[{j}] has no 'objectId'")
            log.relations.append((oid, str(r["objectId"]), str(r.get("qualifier") or "")))
    events = []
    for i, e in enumerate(doc["events"]):
        if not isinstance(e, dict) or "id" not in e:
            raise EventLogError(f"{p}: field events[{i}] has no 'id' (OCEL 2.0 JSON)")
        rel = e.get("relationships") or []
        if not isinstance(rel, list) or not all(isinstance(r, dict) and "objectId" in r for r in rel):
            raise EventLogError(f"{p}: field events[{i}].relationships is not a list of {{objectId, qualifier}}")
        attrs = e.get("attributes") or []
        if not isinstance(attrs, list) or not all(isinstance(a, dict) and "name" in a for a in attrs):
            raise EventLogError(f"{p}: field events[{i}].attributes is not a list of {{name, value}}")
        events.append((str(e["id"]), e.get("type"), e.get("time"), {a["name"]: a.get("value") for a in attrs},
                       [str(r["objectId"]) for r in rel]))
    _ocel_events(log, objects, events)
    known = set(objects)
    kept = [r for r in log.relations if r[1] in known]
    for src, dst, _ in log.relations:
        if dst not in known:
            log.skipped.append(Skipped(f"object {src}", "relationship to an unknown object"))
    log.relations = kept
    return log


def quote_name(name: str) -> str:
    """A table or column name as an SQLite identifier (OCEL 2.0 SQLite names tables after types)."""
    return '"' + name.replace('"', '""') + '"'


def _read_ocel_sqlite(log: ParsedLog, p: Path) -> ParsedLog:
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise EventLogError(f"{p}: not a readable SQLite file ({e})") from None
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
        for t in ("event", "object", "event_object", "event_map_type", "object_map_type"):
            if t not in tables:
                raise EventLogError(f"{p}: table {t!r} is missing (OCEL 2.0 SQLite)")

        def rows(sql: str, table: str) -> list[tuple]:
            try:
                return con.execute(sql).fetchall()
            except sqlite3.Error as e:
                raise EventLogError(f"{p}: table {table!r}: {e} (OCEL 2.0 SQLite)") from None

        objects: dict[str, tuple[str, dict[str, Any]]] = {
            str(oid): (otype, {}) for oid, otype in rows("select ocel_id, ocel_type from object", "object")
        }
        for otype, suffix in rows("select ocel_type, ocel_type_map from object_map_type", "object_map_type"):
            table = f"object_{suffix}"
            if table not in tables:
                raise EventLogError(f"{p}: table {table!r} is missing (named for object type {otype!r})")
            cur = con.execute(f"select * from {quote_name(table)}")
            cols = [c[0] for c in cur.description]
            if "ocel_id" not in cols:
                raise EventLogError(f"{p}: table {table!r} has no column 'ocel_id'")
            latest: dict[str, dict[str, tuple[str, Any]]] = {}
            for r in cur.fetchall():
                rec = dict(zip(cols, r))
                oid = str(rec.pop("ocel_id"))
                time = str(rec.pop("ocel_time", "") or "")
                rec.pop("ocel_changed_field", None)
                slot = latest.setdefault(oid, {})
                for k, v in rec.items():
                    if v is not None and (k not in slot or time >= slot[k][0]):
                        slot[k] = (time, v)
            for oid, slot in latest.items():
                if oid in objects:
                    objects[oid][1].update({k: v for k, (_, v) in slot.items()})
        etype_of = {str(eid): et for eid, et in rows("select ocel_id, ocel_type from event", "event")}
        times: dict[str, tuple[Any, dict[str, Any]]] = {}
        for etype, suffix in rows("select ocel_type, ocel_type_map from event_map_type", "event_map_type"):
            table = f"event_{suffix}"
            if table not in tables:
                raise EventLogError(f"{p}: table {table!r} is missing (named for event type {etype!r})")
            cur = con.execute(f"select * from {quote_name(table)}")
            cols = [c[0] for c in cur.description]
            for c in ("ocel_id", "ocel_time"):
                if c not in cols:
                    raise EventLogError(f"{p}: table {table!r} has no column {c!r}")
            for r in cur.fetchall():
                rec = dict(zip(cols, r))
                eid = str(rec.pop("ocel_id"))
                time = rec.pop("ocel_time")
                times[eid] = (time, {k: v for k, v in rec.items() if v is not None})
        related: dict[str, list[str]] = {}
        for eid, oid in rows("select ocel_event_id, ocel_object_id from event_object", "event_object"):
            related.setdefault(str(eid), []).append(str(oid))
        if "object_object" in tables:
            for src, dst, q in rows("select ocel_source_id, ocel_target_id, ocel_qualifier from object_object",
                                    "object_object"):
                if str(dst) in objects and str(src) in objects:
                    log.relations.append((str(src), str(dst), str(q or "")))
                else:
                    log.skipped.append(Skipped(f"object {src}", "relationship to an unknown object"))
        events = []
        for eid, etype in etype_of.items():
            time, attrs = times.get(eid, (None, {}))
            events.append((eid, etype, time, attrs, related.get(eid, [])))
    except sqlite3.DatabaseError as e:
        raise EventLogError(f"{p}: not a readable OCEL 2.0 SQLite file ({e})") from None
    finally:
        con.close()
    _ocel_events(log, objects, events)
    return log
