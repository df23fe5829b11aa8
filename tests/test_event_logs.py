"""Generic event logs: real CSV, JSONL, XES and OCEL 2.0 files written here, read into a real store.

Every expected number below is worked by hand from the file the test writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from stores import rows, snapshot

import loopmeter
from loopmeter import api
from loopmeter.sources.eventlog import EventLogError, Mapping

SRC = Path(loopmeter.__file__).resolve().parents[1]

CSV = """case,activity,timestamp,actor,cost
A,open,2024-01-01T08:00:00Z,ann,1
A,work,2024-01-01T10:00:00+01:00,bob,
,work,2024-01-01T11:00:00Z,bob,
A,close,2024-01-02T08:00:00Z,ann,"two
lines"
B,close,2024-13-45T00:00:00Z,bob,
B,open,2024-01-03T00:00:00Z,ann,
B,close,2024-01-03T06:00:00,bob,
C,open,2024-01-04T00:00:00Z,ann,
C,close,2024-01-06T12:00:00Z,ann,
D,open,,ann,
"""
# A: 08:00 -> next day 08:00 = 24 h (10:00+01:00 is 09:00 UTC, inside); B: 6 h (no offset = UTC);
# C: 60 h. Line 4 has no case, line 7 a month 13, line 12 no time; lines 5-6 are one quoted row.
CSV_HOURS = {"A": 24.0, "B": 6.0, "C": 60.0}


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "loopmeter", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def durations(store: Path, prefix: str) -> dict[str, float]:
    return {
        iid: h for iid, h in rows(store, "select item_id, epoch(max(ts) - min(ts)) / 3600.0 from events "
                                       f"where item_id like '{prefix}%' group by item_id")
    }


@pytest.fixture
def csv_log(tmp_path: Path) -> Path:
    p = tmp_path / "tickets.csv"
    p.write_text(CSV)
    return p


# --------------------------------------------------------------------------- CSV / JSONL


def test_csv_rows_become_cases_and_bad_rows_are_counted_with_their_line(tmp_path, csv_log):
    store = tmp_path / "s.duckdb"
    r = run("ingest", "--store", store, "--events", csv_log, "--actor", "actor", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "tickets (csv): 3 cases, 7 events, 3 rows skipped" in r.stdout
    assert "tickets.csv: line 4: missing case" in r.stdout
    assert "tickets.csv: line 7: unparseable timestamp" in r.stdout
    assert "tickets.csv: line 12: missing timestamp" in r.stdout

    assert durations(store, "events:tickets:") == {f"events:tickets:{c}": h for c, h in CSV_HOURS.items()}
    items = rows(store, "select item_id, kind, source, state, created_at, done_at, attrs from items order by 1")
    assert items[0][:6] == ("events:tickets:A", "case", "events:tickets", "closed",
                            datetime(2024, 1, 1, 8), datetime(2024, 1, 2, 8))
    assert json.loads(items[0][6]) == {"log": "tickets"}
    # the log's own activity names, the other columns as attributes, actors pseudonymous
    ev = rows(store, "select activity, attrs, actor_id from events where item_id = 'events:tickets:A' order by ts")
    assert [e[0] for e in ev] == ["open", "work", "close"]
    assert json.loads(ev[0][1]) == {"cost": "1"} and json.loads(ev[2][1]) == {"cost": "two\nlines"}
    names = rows(store, "select name from actors")
    assert sorted(n for (n,) in names) == ["ann", "bob"]
    assert ev[0][2] != "ann" and ev[0][2].startswith("a")
    (logrow,) = rows(store, "select name, format, cases, events, skipped_rows, skipped_reasons, skipped_sample from event_logs")
    assert logrow[:5] == ("tickets", "csv", 3, 7, 3)
    assert json.loads(logrow[5]) == {"missing case": 1, "unparseable timestamp": 1, "missing timestamp": 1}
    assert json.loads(logrow[6])[1] == {"where": "line 7", "reason": "unparseable timestamp"}


def test_report_gives_each_log_its_case_durations_and_skipped_rows(tmp_path, csv_log):
    store = tmp_path / "s.duckdb"
    api.ingest_events(csv_log, store_path=store, mapping=Mapping(actor="actor"))
    doc = api.report_from_store(store_path=store)
    # no git repository: the report still carries the logs
    assert doc["repos"] == [] and "totals" not in doc
    (log,) = doc["event_logs"]
    assert log["name"] == "tickets" and log["format"] == "csv" and log["cases"] == 3 and log["events"] == 7
    assert log["skipped_rows"] == {"count": 3, "reasons": {"missing case": 1, "unparseable timestamp": 1,
                                                            "missing timestamp": 1}}
    # durations 6, 24, 60: the median is 24; p85 sits 0.7 of the way from 24 to 60 (continuous)
    assert log["case_duration_hours"] == {"p50": 24.0, "p85": pytest.approx(24 + 0.7 * 36), "n": 3}


def test_html_of_a_store_without_git_leaves_out_the_sections_git_would_fill(tmp_path, csv_log):
    # A Jira- or event-log-only store: the page shows its logs, not a dozen "unknown" git sections.
    store = tmp_path / "s.duckdb"
    api.ingest_events(csv_log, store_path=store, mapping=Mapping(actor="actor"))
    html = tmp_path / "r.html"
    api.report_from_store(store_path=store, html_path=html)
    text = html.read_text()
    assert 'id="event-logs"' in text
    for section in ("lift", "throughput", "ai-share", "cycle", "size", "totals", "adoption"):
        assert f'<h2 id="{section}">' not in text, section
    assert "AI-assisted changes</div>" not in text  # the headline cards are git's
    assert "holds no git repository" in text


def test_csv_blank_lines_keep_line_numbers_and_misaligned_rows_are_named(tmp_path):
    p = tmp_path / "gaps.csv"
    p.write_text("case,activity,timestamp\n\nA,open,2024-01-01T00:00:00Z\n\n\nA,close\n"
                 "A,close,2024-01-01T01:00:00Z,extra\nA,close,2024-01-01T02:00:00Z\n")
    s = api.ingest_events(p, store_path=tmp_path / "s.duckdb")
    assert (s.cases, s.events) == (1, 2)
    assert [(k.where, k.reason) for k in s.skipped] == [("line 6", "fewer fields than the header"),
                                                        ("line 7", "more fields than the header")]


def test_small_batches_give_the_same_store_as_one_batch(tmp_path, csv_log, monkeypatch):
    """The streamed write (many batches, one transaction) is the same as writing it all at once."""
    from loopmeter.sources import eventlog

    store = tmp_path / "s.duckdb"  # one store: pseudonyms are salted per store
    api.ingest_events(csv_log, store_path=store, mapping=Mapping(actor="actor"))
    one = snapshot(store)
    monkeypatch.setattr(eventlog, "EVENT_BATCH", 2)
    api.ingest_events(csv_log, store_path=store, mapping=Mapping(actor="actor"))
    many = snapshot(store)
    for table in ("items", "events", "links", "event_log_items", "actors"):
        assert one[table] == many[table], table
    # and a file found unreadable after some batches were written leaves nothing behind
    bad = tmp_path / "late.xes"
    bad.write_text(XES.replace("</log>", "<trace></log>"))
    with pytest.raises(EventLogError, match="not well-formed"):
        api.ingest_events(bad, store_path=store)
    assert snapshot(store) == many


def test_reingesting_a_log_replaces_it(tmp_path, csv_log):
    store = tmp_path / "s.duckdb"
    api.ingest_events(csv_log, store_path=store)
    csv_log.write_text("case,activity,timestamp\nZ,open,2024-01-01T00:00:00Z\n")
    api.ingest_events(csv_log, store_path=store)
    assert rows(store, "select item_id from items") == [("events:tickets:Z",)]
    assert rows(store, "select count(*) from events") == [(1,)]
    assert rows(store, "select cases, skipped_rows from event_logs") == [(1, 0)]


def test_jsonl_truncated_line_is_skipped_not_fatal(tmp_path):
    p = tmp_path / "runs.jsonl"
    p.write_text(
        '{"run": "x", "step": "build", "at": "2024-02-01T00:00:00Z", "who": "ci"}\n'
        '{"run": "x", "step": "test", "at": "2024-02-01T05:00:00Z"}\n'
        '{"run": "y", "step": "build", "at": "2024-02-0\n'
        "\n"
        '["not", "an", "object"]\n'
        '{"run": "y", "step": "build", "at": "2024-02-02T00:00:00-05:00"}\n'
    )
    s = api.ingest_events(p, store_path=tmp_path / "s.duckdb",
                          mapping=Mapping(case="run", activity="step", timestamp="at", actor="who"))
    assert (s.cases, s.events) == (2, 3)
    assert [(k.where, k.reason) for k in s.skipped] == [("line 3", "not valid JSON"), ("line 5", "not a JSON object")]
    assert durations(tmp_path / "s.duckdb", "events:runs:") == {"events:runs:x": 5.0, "events:runs:y": 0.0}
    assert rows(tmp_path / "s.duckdb", "select ts from events where item_id = 'events:runs:y'") == [
        (datetime(2024, 2, 2, 5),)]


# --------------------------------------------------------------------------- XES

XES = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <string key="concept:name" value="hand-written log"/>
  <trace>
    <string key="concept:name" value="T1"/>
    <string key="department" value="ops"><int key="floor" value="3"/></string>
    <event>
      <string key="concept:name" value="register"/>
      <date key="time:timestamp" value="2024-05-01T09:00:00.000+02:00"/>
      <string key="org:resource" value="Rita"/>
      <string key="ticket" value="X-1">
        <string key="priority" value="high"><int key="level" value="2"/></string>
      </string>
      <list key="tags"><values><string key="tag" value="a"/><string key="tag" value="b"/></values></list>
      <float key="cost" value="2.5"/>
      <boolean key="urgent" value="true"/>
    </event>
    <event>
      <string key="concept:name" value="decide"/>
      <date key="time:timestamp" value="2024-05-01T17:30:00Z"/>
    </event>
    <event>
      <string key="concept:name" value="archive"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="empty"/>
  </trace>
  <trace>
    <string key="concept:name" value="T2"/>
    <event>
      <string key="concept:name" value="register"/>
      <date key="time:timestamp" value="2024-05-02T10:00:00Z"/>
    </event>
    <event>
      <string key="concept:name" value="decide"/>
      <date key="time:timestamp" value="yesterday"/>
    </event>
    <event>
      <string key="concept:name" value="decide"/>
      <date key="time:timestamp" value="2024-05-02T11:00:00Z"/>
    </event>
  </trace>
</log>
"""


def test_xes_traces_become_cases_with_nested_attributes(tmp_path):
    p = tmp_path / "hand.xes"
    p.write_text(XES)
    store = tmp_path / "s.duckdb"
    s = api.ingest_events(p, store_path=store)
    assert (s.format, s.cases, s.events) == ("xes", 2, 4)
    # line numbers of the <event> elements that could not be used
    assert [(k.where, k.reason) for k in s.skipped] == [("line 27", "missing timestamp"),
                                                        ("line 31", "trace with no events"),
                                                        ("line 40", "unparseable timestamp")]
    # T1: 09:00+02:00 = 07:00 UTC -> 17:30 UTC = 10.5 h; T2: 1 h
    assert durations(store, "events:hand:") == {"events:hand:T1": 10.5, "events:hand:T2": 1.0}
    ((attrs,),) = rows(store, "select attrs from events where item_id = 'events:hand:T1' and activity = 'register'")
    assert json.loads(attrs) == {
        "ticket": "X-1", "ticket/priority": "high", "ticket/priority/level": 2,
        "tags": [{"tag": "a"}, {"tag": "b"}], "cost": 2.5, "urgent": True,
    }
    ((item_attrs,),) = rows(store, "select attrs from items where item_id = 'events:hand:T1'")
    assert json.loads(item_attrs) == {"log": "hand", "department": "ops", "department/floor": 3}
    assert rows(store, "select name from actors") == [("Rita",)]


# --------------------------------------------------------------------------- OCEL 2.0

OCEL_JSON = {
    "objectTypes": [
        {"name": "order", "attributes": [{"name": "price", "type": "float"}]},
        {"name": "item", "attributes": []},
    ],
    "eventTypes": [
        {"name": "place order", "attributes": [{"name": "channel", "type": "string"}]},
        {"name": "pick item", "attributes": []},
        {"name": "ship", "attributes": []},
    ],
    "objects": [
        {"id": "o1", "type": "order",
         "attributes": [{"name": "price", "time": "1970-01-01T00:00:00Z", "value": 10.0},
                        {"name": "price", "time": "2024-06-02T00:00:00Z", "value": 12.0}],
         "relationships": [{"objectId": "i1", "qualifier": "contains"}, {"objectId": "i2", "qualifier": "contains"}]},
        {"id": "i1", "type": "item"},
        {"id": "i2", "type": "item"},
        {"id": "i3", "type": "item"},
    ],
    "events": [
        {"id": "e1", "type": "place order", "time": "2024-06-01T10:00:00Z",
         "attributes": [{"name": "channel", "value": "web"}],
         "relationships": [{"objectId": "o1", "qualifier": "order"}, {"objectId": "i1", "qualifier": "item"},
                           {"objectId": "i2", "qualifier": "item"}]},
        {"id": "e2", "type": "pick item", "time": "2024-06-01T12:00:00Z",
         "relationships": [{"objectId": "i1", "qualifier": "item"}]},
        {"id": "e3", "type": "pick item", "time": "2024-06-02T10:00:00Z",
         "relationships": [{"objectId": "i2", "qualifier": "item"}]},
        {"id": "e4", "type": "ship", "time": "2024-06-03T12:00:00+02:00",
         "relationships": [{"objectId": "o1", "qualifier": "order"}, {"objectId": "i1", "qualifier": "item"}]},
        {"id": "e5", "type": "ship", "time": "yesterday", "relationships": [{"objectId": "o1", "qualifier": "order"}]},
        {"id": "e6", "type": "ship", "time": "2024-06-04T00:00:00Z",
         "relationships": [{"objectId": "ghost", "qualifier": "order"}]},
    ],
}
# o1: 06-01 10:00 -> 06-03 10:00 UTC = 48 h; i1 the same; i2: -> 06-02 10:00 = 24 h; i3 has no event.
OCEL_HOURS = {"o1": 48.0, "i1": 48.0, "i2": 24.0}
OCEL_SKIPPED = [("event e5", "unparseable timestamp"), ("event e6", "relationship to an unknown object"),
                ("event e6", "relates to no object"), ("object i3", "object with no events")]


def write_ocel_sqlite(path: Path, doc: dict) -> None:
    """The OCEL 2.0 SQLite layout, written from the spec's table list (not by loopmeter's writer)."""
    con = sqlite3.connect(path)
    con.executescript("""
        create table event (ocel_id text primary key, ocel_type text);
        create table event_map_type (ocel_type text, ocel_type_map text);
        create table object (ocel_id text primary key, ocel_type text);
        create table object_map_type (ocel_type text, ocel_type_map text);
        create table event_object (ocel_event_id text, ocel_object_id text, ocel_qualifier text);
        create table object_object (ocel_source_id text, ocel_target_id text, ocel_qualifier text);
        create table event_PlaceOrder (ocel_id text, ocel_time timestamp, channel text);
        create table event_PickItem (ocel_id text, ocel_time timestamp);
        create table event_Ship (ocel_id text, ocel_time timestamp);
        create table object_Order (ocel_id text, ocel_time timestamp, ocel_changed_field text, price real);
        create table object_Item (ocel_id text, ocel_time timestamp, ocel_changed_field text);
    """)
    emap = {"place order": "PlaceOrder", "pick item": "PickItem", "ship": "Ship"}
    omap = {"order": "Order", "item": "Item"}
    con.executemany("insert into event_map_type values (?, ?)", emap.items())
    con.executemany("insert into object_map_type values (?, ?)", omap.items())
    for o in doc["objects"]:
        con.execute("insert into object values (?, ?)", [o["id"], o["type"]])
        if o["type"] == "order":
            con.execute("insert into object_Order values (?, '1970-01-01 00:00:00', NULL, 10.0)", [o["id"]])
            con.execute("insert into object_Order values (?, '2024-06-02 00:00:00', 'price', 12.0)", [o["id"]])
        else:
            con.execute("insert into object_Item values (?, '1970-01-01 00:00:00', NULL)", [o["id"]])
        for r in o.get("relationships", []):
            con.execute("insert into object_object values (?, ?, ?)", [o["id"], r["objectId"], r["qualifier"]])
    for e in doc["events"]:
        con.execute("insert into event values (?, ?)", [e["id"], e["type"]])
        table = "event_" + emap[e["type"]]
        if e["type"] == "place order":
            con.execute(f"insert into {table} values (?, ?, 'web')", [e["id"], e["time"]])
        else:
            con.execute(f"insert into {table} values (?, ?)", [e["id"], e["time"]])
        for r in e["relationships"]:
            con.execute("insert into event_object values (?, ?, ?)", [e["id"], r["objectId"], r["qualifier"]])
    con.commit()
    con.close()


@pytest.mark.parametrize("flavour", ["json", "sqlite"])
def test_ocel_objects_become_cases_and_relations_become_links(tmp_path, flavour):
    p = tmp_path / "orders.jsonocel" if flavour == "json" else tmp_path / "orders.sqlite"
    if flavour == "json":
        p.write_text(json.dumps(OCEL_JSON))
    else:
        write_ocel_sqlite(p, OCEL_JSON)
    store = tmp_path / "s.duckdb"
    s = api.ingest_events(p, store_path=store, fmt="ocel")
    assert s.format == f"ocel-{flavour}"
    # e1 relates to three objects and e4 to two: one event row per related object
    assert (s.cases, s.events) == (3, 7)
    assert sorted((k.where, k.reason) for k in s.skipped) == sorted(OCEL_SKIPPED)
    assert durations(store, "events:orders:") == {f"events:orders:{o}": h for o, h in OCEL_HOURS.items()}
    assert sorted(rows(store, "select src, dst, kind from links")) == [
        ("events:orders:o1", "events:orders:i1", "contains"), ("events:orders:o1", "events:orders:i2", "contains")]
    ((attrs,),) = rows(store, "select attrs from items where item_id = 'events:orders:o1'")
    assert json.loads(attrs) == {"log": "orders", "object_type": "order", "price": 12.0}  # the latest value
    ((ev,),) = rows(store, "select attrs from events where item_id = 'events:orders:i1' and activity = 'place order'")
    assert json.loads(ev) == {"channel": "web"}


def test_ocel_json_and_sqlite_flavours_give_the_same_rows(tmp_path):
    (tmp_path / "orders.jsonocel").write_text(json.dumps(OCEL_JSON))
    write_ocel_sqlite(tmp_path / "orders.sqlite", OCEL_JSON)
    for name in ("orders.jsonocel", "orders.sqlite"):
        api.ingest_events(tmp_path / name, store_path=tmp_path / f"{name}.duckdb", fmt="ocel")
    a, b = (snapshot(tmp_path / f"{n}.duckdb") for n in ("orders.jsonocel", "orders.sqlite"))
    for table in ("items", "events", "links"):
        assert a[table] == b[table], table
    assert a["items"] and a["events"]  # both flavours read something, not nothing alike


def test_the_format_names_export_writes_and_the_report_shows_are_accepted_by_ingest(tmp_path):
    # `export --format ocel-sqlite` and the report's event_logs say "ocel-sqlite"; ingest takes it back.
    (tmp_path / "orders.jsonocel").write_text(json.dumps(OCEL_JSON))
    write_ocel_sqlite(tmp_path / "orders.sqlite", OCEL_JSON)
    for name, fmt in (("orders.jsonocel", "ocel-json"), ("orders.sqlite", "ocel-sqlite")):
        s = api.ingest_events(tmp_path / name, store_path=tmp_path / f"{name}.duckdb", fmt=fmt)
        assert (s.format, s.cases) == (fmt, 3)
    with pytest.raises(EventLogError, match="orders.jsonocel: is an OCEL JSON file, not ocel-sqlite"):
        api.ingest_events(tmp_path / "orders.jsonocel", store_path=tmp_path / "x.duckdb", fmt="ocel-sqlite")
    assert not (tmp_path / "x.duckdb").exists()


# --------------------------------------------------------------------------- bad input


def test_csv_without_the_mapped_column_names_it_and_keeps_the_store(tmp_path, csv_log):
    store = tmp_path / "s.duckdb"
    api.ingest_events(csv_log, store_path=store)
    before = snapshot(store)
    bad = tmp_path / "other.csv"
    bad.write_text("id,what,when\n1,open,2024-01-01\n")
    r = run("ingest", "--store", store, "--events", bad, "--case", "id", "--activity", "what", cwd=tmp_path)
    assert r.returncode == 2
    line = r.stderr.strip()
    assert line.count("\n") == 0 and "other.csv" in line and "'timestamp'" in line and "--timestamp" in line
    assert "Traceback" not in r.stderr
    assert snapshot(store) == before


@pytest.mark.parametrize("name, text, expected", [
    ("broken.xes", '<?xml version="1.0"?>\n<log>\n <trace>\n  <event>\n </trace>\n</log>\n',
     "broken.xes: line 5: not well-formed XES (mismatched tag)"),
    ("laughs.xes", '<?xml version="1.0"?>\n<!DOCTYPE log [<!ENTITY a "aaaaaaaaaa">]>\n<log>&a;</log>\n',
     "laughs.xes: line 2: XES file contains a DTD (DOCTYPE)"),
    ("notxes.xes", '<?xml version="1.0"?>\n<html/>\n', "notxes.xes: line 2: the root element is <html>"),
    ("cut.jsonocel", '{"objects": [],\n "events": [\n  {"id": "e1",\n', "cut.jsonocel: line 4: not valid JSON"),
    ("noev.jsonocel", '{"objects": []}', "noev.jsonocel: field 'events' is missing"),
    ("badobj.jsonocel", '{"objects": [{"id": "o1"}], "events": []}', "field objects[0] needs a string 'id' and 'type'"),
])
def test_malformed_xes_and_ocel_name_the_line_or_field_and_keep_the_store(tmp_path, csv_log, name, text, expected):
    store = tmp_path / "s.duckdb"
    api.ingest_events(csv_log, store_path=store)
    before = snapshot(store)
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(EventLogError) as e:
        api.ingest_events(p, store_path=store)
    assert expected in str(e.value)
    assert snapshot(store) == before


def test_malformed_ocel_sqlite_names_the_missing_table_and_exits_2(tmp_path, csv_log):
    store = tmp_path / "s.duckdb"
    api.ingest_events(csv_log, store_path=store)
    before = snapshot(store)
    p = tmp_path / "half.sqlite"
    write_ocel_sqlite(p, OCEL_JSON)
    con = sqlite3.connect(p)
    con.execute("drop table event_Ship")
    con.commit()
    con.close()
    r = run("ingest", "--store", store, "--events", p, "--format", "ocel", cwd=tmp_path)
    assert r.returncode == 2
    assert "half.sqlite: table 'event_Ship' is missing (named for event type 'ship')" in r.stderr
    assert snapshot(store) == before


def test_log_name_with_the_id_separator_is_refused(tmp_path, csv_log):
    with pytest.raises(loopmeter.errors.LoopmeterError, match="--log-name"):
        api.ingest_events(csv_log, store_path=tmp_path / "s.duckdb", log_name="a:b")
    assert not (tmp_path / "s.duckdb").exists()


def test_jsonl_mapping_a_key_no_object_has_names_it(tmp_path):
    p = tmp_path / "runs.jsonl"
    p.write_text('{"run": "x", "step": "build", "at": "2024-02-01T00:00:00Z"}\n')
    with pytest.raises(EventLogError, match="runs.jsonl: no object has the key 'case' .mapped by --case."):
        api.ingest_events(p, store_path=tmp_path / "s.duckdb", mapping=Mapping(activity="step", timestamp="at"))


def test_unknown_extension_or_format_is_refused_before_the_store_exists(tmp_path):
    p = tmp_path / "log.txt"
    p.write_text("case,activity,timestamp\n")
    with pytest.raises(EventLogError, match="log.txt: cannot tell the format.*--format"):
        api.ingest_events(p, store_path=tmp_path / "s.duckdb")
    with pytest.raises(EventLogError, match="unknown format 'parquet'"):
        api.ingest_events(p, store_path=tmp_path / "s.duckdb", fmt="parquet")
    assert not (tmp_path / "s.duckdb").exists()


def test_epoch_timestamps_in_seconds_and_milliseconds_are_read(tmp_path):
    from loopmeter.sources.eventlog import parse_time

    assert parse_time("1709287200") == datetime(2024, 3, 1, 10, 0)
    assert parse_time("1709287200000") == datetime(2024, 3, 1, 10, 0)
    assert parse_time(1709287200.5) == datetime(2024, 3, 1, 10, 0, 0, 500000)
    assert parse_time("2024-03-01T10:00:00Z") == datetime(2024, 3, 1, 10, 0)
    assert parse_time("12") is None and parse_time(True) is None
