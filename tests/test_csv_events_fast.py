"""A clean CSV log read by DuckDB (store/csv_events.py) is stored exactly as the Python reader
stores it; a file that needs the reader's judgment goes to the reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from stores import rows, snapshot

from loopmeter import api
from loopmeter.sources.eventlog import Mapping
from loopmeter.store import csv_events

# Offsets (with and without a colon), no offset, a space for the T, minutes only, fractions,
# epoch seconds and milliseconds, quoted commas and newlines, non-ASCII, empty and spaced cells.
CLEAN = """case,activity,timestamp,actor,note,cost
A,open,2024-01-01T08:00:00Z,ann,"a, quoted
note",1
A,work,2024-01-01T10:00:00+01:00,Émile,,
A,close,2024-01-02 08:00,ann,  spaced  ,3.5
B,open,2024-01-03T00:00:00.5-05:30,bob,ü "q",
B,close,1704300000,,x,
C,open,1704300000123,bob,,
C,close,2024-01-05T01:02:03+0200, carl ,y,
"""


def _ingest(tmp: Path, text: str, fast: bool, monkeypatch) -> tuple[dict, object, list]:
    d = tmp / ("fast" if fast else "slow")
    d.mkdir()
    p = d / "log.csv"
    p.write_text(text, encoding="utf-8")
    tried = []
    real = csv_events.ingest_csv
    monkeypatch.setattr(csv_events, "ingest_csv", lambda *a, **k: tried.append(r := real(*a, **k)) or r)
    if not fast:
        monkeypatch.setattr(csv_events, "_header", lambda _p: None)  # force the Python reader
    s = d / "s.duckdb"
    summary = api.ingest_events(p, store_path=s, log_name="l", mapping=Mapping(actor="actor"))
    monkeypatch.undo()
    snap = snapshot(s)
    for volatile in ("meta", "event_logs", "schema_migrations", "actors", "events"):
        snap.pop(volatile, None)
    # Actor ids are salted per store: events and actors are compared through the actor's name.
    snap["events"] = rows(s, "select e.item_id, e.ts, e.activity, a.name, a.kind, e.attrs from events e "
                             "left join actors a using (actor_id) order by all")
    return snap, summary, tried


def test_fast_path_stores_what_the_python_reader_stores(tmp_path: Path, monkeypatch):
    fast, s1, tried = _ingest(tmp_path, CLEAN, True, monkeypatch)
    assert tried and tried[0] is not None  # DuckDB's reader did the work
    slow, s2, tried = _ingest(tmp_path, CLEAN, False, monkeypatch)
    assert tried == [None]
    assert (s1.cases, s1.events, s2.cases, s2.events) == (3, 7, 3, 7)
    assert fast == slow
    assert len(fast["events"]) == 7 and fast["items"]


@pytest.mark.parametrize("bad", [
    "A,open,2024-02-30T00:00:00Z,ann,,\n",  # an impossible date
    "A,open,yesterday,ann,,\n",             # not a time at all
    ",open,2024-01-01T00:00:00Z,ann,,\n",   # no case
    "A,open,2024-01-01T00:00:00Z,ann,,,\n",  # one field too many
])
def test_a_file_needing_the_readers_judgment_goes_to_the_reader(tmp_path: Path, bad: str):
    p = tmp_path / "log.csv"
    p.write_text(CLEAN + bad)
    s = tmp_path / "s.duckdb"
    summary = api.ingest_events(p, store_path=s, log_name="l", mapping=Mapping(actor="actor"))
    assert summary.events == 7
    assert [sk.where for sk in summary.skipped] == ["line 10"]  # the reader's line number


def test_times_in_the_common_form_and_its_neighbours_read_alike_on_both_paths(tmp_path: Path, monkeypatch):
    # The common form (cast directly) with and without Z, with a space for the T, and the forms
    # beside it that take the full pattern: fractions, an offset, minutes only.
    extra = ("D,open,2024-01-06T00:00:00,ann,,\nD,work,2024-01-06 01:00:00Z,ann,,\n"
             "D,work,2024-01-06T02:00:00.25Z,ann,,\nD,work,2024-01-06T05:00:00+02:00,ann,,\n"
             "D,close,2024-01-06 04:30,ann,,\n")
    fast, s1, tried = _ingest(tmp_path, CLEAN + extra, True, monkeypatch)
    assert tried and tried[0] is not None
    slow, s2, _ = _ingest(tmp_path, CLEAN + extra, False, monkeypatch)
    assert fast == slow and s1.events == s2.events == 12
    d = [r for r in fast["events"] if r[0].endswith(":D")]
    assert [r[1].isoformat() for r in d] == ["2024-01-06T00:00:00", "2024-01-06T01:00:00", "2024-01-06T02:00:00.250000",
                                            "2024-01-06T03:00:00", "2024-01-06T04:30:00"]


def test_a_file_whose_times_are_all_in_the_common_form_reads_alike_on_both_paths(tmp_path: Path, monkeypatch):
    # No time outside the common form: the second read casts each without the pattern (csv_events
    # `stored_ts`), and must still store the instants the Python reader does.
    text = ("case,activity,timestamp,actor,x,y\nA,open,2024-01-06T00:00:00,ann,,\nA,work,2024-01-06 01:00:07Z,bob,,\n"
            "A,close,2024-01-06T23:59:59Z,ann,,\nB,open,2024-02-29 12:00:00,ann,,\n")
    fast, s1, tried = _ingest(tmp_path, text, True, monkeypatch)
    assert tried and tried[0] is not None
    slow, s2, _ = _ingest(tmp_path, text, False, monkeypatch)
    assert fast == slow and s1.events == s2.events == 4
    assert [r[1].isoformat() for r in fast["events"]] == ["2024-01-06T00:00:00", "2024-01-06T01:00:07",
                                                         "2024-01-06T23:59:59", "2024-02-29T12:00:00"]


@pytest.mark.parametrize("cell", ["open\t", "\topen", "open\r"])
def test_a_value_with_other_whitespace_at_an_end_goes_to_the_reader(tmp_path: Path, monkeypatch, cell: str):
    extra = f'D,"{cell}",2024-01-06T00:00:00Z,ann,,\n'
    fast, s1, tried = _ingest(tmp_path, CLEAN + extra, True, monkeypatch)
    assert tried == [None]  # the reader stripped it, as it strips every value
    assert ("events:l:D", "open") in {(r[0], r[2]) for r in fast["events"]}
