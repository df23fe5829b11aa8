"""Fuzz targets for every parser (issue 13): what each input is built from, and how it is read.

Shared by tests/test_fuzz.py (bounded, in the suite) and bench/fuzz.py (long campaigns). Each
target turns a Hypothesis draw into a file (or an HTTP body) and reads it the way the CLI does,
through `loopmeter.api`, into a real DuckDB store, so failures in the store writer (DuckDB,
pyarrow) count too. A *crash* is any exception other than a LoopmeterError: a LoopmeterError is
the one clear line the CLI prints; anything else would be a traceback.

The inputs start from valid templates (the formats' own examples, as in the tests' fixtures) and
replace a few values by hostile ones: times near year 1 and 9999, huge epochs, NaN/inf, integers
past 64 bits, lone surrogates, lists and objects where text belongs, deep nesting, cut lines.
"""

from __future__ import annotations

import copy
import io
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loopmeter import api  # noqa: E402
from loopmeter.config import load_config  # noqa: E402
from loopmeter.errors import LoopmeterError  # noqa: E402
from loopmeter.sources.eventlog import Mapping  # noqa: E402

FIXTURES = HERE / "fixtures" / "sessions"

# -- hostile values ------------------------------------------------------------------------------

EVIL_TIMES = ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59-05:00",
              "9999-12-31T23:59:59+00:00", "1969-12-31T23:59:59Z", "2024-02-30T10:00:00Z", "2024-01-01T25:00Z",
              "2024-01-01T10:00:00Z", "2024-01-01", "0", "-1", "1e400", "99999999999999999999", "NaN", ""]
EVIL_NUMBERS = [0, -1, 2**63, 2**64 + 1, -(2**70), 10**30, 1e300, -1e300, 0.5, 253402300800, 253402300800000,
                -62135596800, 10**19, float("nan"), float("inf"), float("-inf")]
EVIL_TEXT = ["\ud800", "a\udfffb", "\x00", "\u202e", "<script>alert(1)</script>", "'; drop table items; --",
             "x" * 5000, "💥", "\r\n", "[", "{}", "null"]

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(EVIL_NUMBERS), st.integers(), st.floats(),
    st.sampled_from(EVIL_TIMES), st.sampled_from(EVIL_TEXT), st.text(max_size=20),
)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                      max_leaves=8)


# Deep nesting is written into the text at the end (json.dumps itself would overflow on it).
DEEP = {"__deep_3000__": "[" * 3000 + "]" * 3000, "__deep_150__": "[" * 150 + '"x"' + "]" * 150}


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys / indices) inside a JSON value, the root excluded."""
    out = []
    if len(prefix) > 12:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append(prefix + (k,))
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append(prefix + (i,))
            out += _paths(v, prefix + (i,))
    return out


def _set(doc: Any, path: tuple, value: Any) -> None:
    for k in path[:-1]:
        doc = doc[k]
    doc[path[-1]] = value


@st.composite
def mutated(draw, template: Any, max_changes: int = 4) -> Any:
    """`template` (JSON) with up to `max_changes` values replaced by hostile ones."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(0, max_changes))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        value = draw(st.one_of(values, st.sampled_from(sorted(DEEP))))
        _set(doc, path, value)
    return doc


def _dumps(doc: Any) -> str:
    # ensure_ascii keeps lone surrogates writable (as \ud800 escapes), as a JSON producer may write them.
    text = json.dumps(doc, ensure_ascii=True)
    for token, deep in DEEP.items():
        text = text.replace(f'"{token}"', deep)
    return text


@st.composite
def jsonl_text(draw, templates: list[Any]) -> bytes:
    lines = [_dumps(draw(mutated(t))) for t in templates]
    extra = draw(st.lists(st.sampled_from(["[" * 50000, "{\"a\":", "\xff\xfe", "123", "\"text\"", ""]), max_size=2))
    for e in extra:
        lines.insert(draw(st.integers(0, len(lines))), e)
    text = "\n".join(lines).encode("utf-8", "surrogateescape")
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # cut anywhere: a live file being written
    return text


def _jsonl_templates(name: str) -> list[Any]:
    out = []
    for line in (FIXTURES / name).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # the fixtures keep a cut last line on purpose
    return out


# -- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    inputs: st.SearchStrategy  # bytes (a file's content) or, for otlp, (path, content type, body)
    run: Callable[[Any, Path], None]  # (drawn input, a fresh directory) -> reads it; raises on failure


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def _sessions(fmt: str, name: str) -> Callable[[bytes, Path], None]:
    def run(data: bytes, tmp: Path) -> None:
        api.ingest_sessions([_write(tmp, name, data)], store_path=tmp / "lm.duckdb", fmt=fmt)
    return run


def _events(fmt: str, name: str, mapping: Mapping | None = None) -> Callable[[bytes, Path], None]:
    def run(data: bytes, tmp: Path) -> None:
        api.ingest_events(_write(tmp, name, data), store_path=tmp / "lm.duckdb", fmt=fmt, mapping=mapping)
    return run


def _jira_csv(data: bytes, tmp: Path) -> None:
    api.ingest_jira_csv(_write(tmp, "jira.csv", data), store_path=tmp / "lm.duckdb")


def _toml(data: bytes, tmp: Path) -> None:
    from loopmeter.attribution import Matcher

    config = load_config(_write(tmp, "loopmeter.toml", data))
    Matcher.load(config.signatures)  # the signatures are used at once by every ingest


csv_cell = st.one_of(st.sampled_from(EVIL_TIMES), st.sampled_from([t for t in EVIL_TEXT if "\ud800" not in t
                                                                    and "\udfff" not in t]),
                     st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12))


@st.composite
def csv_text(draw, header: list[str], good: list[list[str]]) -> bytes:
    import csv

    rows = [list(r) for r in good]
    for _ in range(draw(st.integers(0, 6))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(header) - 1))
        rows[r][c] = draw(csv_cell)
    if draw(st.booleans()):
        rows.append(list(rows[0]))  # a duplicate row (a duplicate Jira key)
    if draw(st.booleans()):
        rows.append(draw(st.lists(csv_cell, max_size=len(header) + 2)))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(draw(st.sampled_from([header, header, header[:-1], header + ["extra"]])))
    w.writerows(rows)
    data = buf.getvalue().encode()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 9)) == 0:
        data += b"\xff\xfe bad bytes\n"
    return data


EVENTS_HEADER = ["case", "activity", "timestamp", "who"]
EVENTS_ROWS = [["c1", "open", "2024-01-01T10:00:00Z", "ann"], ["c1", "close", "2024-01-02T10:00:00+02:00", "bo"],
               ["c2", "open", "1704103200", ""]]
JIRA_HEADER = ["Issue key", "Summary", "Issue Type", "Status", "Created", "Resolved", "Updated", "Reporter"]
JIRA_ROWS = [["OPS-1", "Fix it", "Bug", "Done", "2024-01-01 10:00", "2024-01-03 10:00", "2024-01-03 10:00", "ann"],
             ["OPS-2", "Add it", "Story", "To Do", "01/Jan/24 9:00 AM", "", "02/Jan/24 9:00 AM", "bo"]]

XES_EVENT = ('<event><string key="concept:name" value="{a}"/><date key="time:timestamp" value="{t}"/>'
             '<{ty} key="{k}" value="{v}"/></event>')


def _xml_attr(s: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(s)[1:-1]


xml_text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=12)


@st.composite
def xes_text(draw) -> bytes:
    events = []
    for _ in range(draw(st.integers(1, 4))):
        events.append(XES_EVENT.format(
            a=_xml_attr(draw(st.one_of(xml_text, st.just("register")))),
            t=_xml_attr(draw(st.sampled_from(EVIL_TIMES))),
            ty=draw(st.sampled_from(["string", "int", "float", "boolean", "date", "id", "list", "container"])),
            k=_xml_attr(draw(xml_text)),
            v=_xml_attr(draw(st.one_of(xml_text, st.sampled_from([str(n) for n in EVIL_NUMBERS]),
                                       st.sampled_from(EVIL_TIMES)))),
        ))
    nest = draw(st.integers(0, 3)) * 100
    inner = '<string key="n" value="x">' * nest + "</string>" * nest
    doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0">\n<trace>'
           f'<string key="concept:name" value="{_xml_attr(draw(xml_text))}"/>{inner}{"".join(events)}</trace>\n</log>\n')
    data = doc.encode()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


OCEL_TEMPLATE = {
    "objectTypes": [{"name": "order", "attributes": [{"name": "price", "type": "float"}]}],
    "eventTypes": [{"name": "place", "attributes": [{"name": "channel", "type": "string"}]}],
    "objects": [{"id": "o1", "type": "order", "attributes": [{"name": "price", "time": "2024-06-02T00:00:00Z",
                                                              "value": 12.0}],
                 "relationships": [{"objectId": "o2", "qualifier": "contains"}]},
                {"id": "o2", "type": "order"}],
    "events": [{"id": "e1", "type": "place", "time": "2024-06-01T10:00:00Z",
                "attributes": [{"name": "channel", "value": "web"}],
                "relationships": [{"objectId": "o1", "qualifier": "order"}]},
               {"id": "e2", "type": "place", "time": "2024-06-02T10:00:00Z",
                "relationships": [{"objectId": "o1", "qualifier": "order"}, {"objectId": "o2", "qualifier": "x"}]}],
}


@st.composite
def ocel_sqlite(draw) -> bytes:
    """An OCEL 2.0 SQLite file (the spec's tables) with a few cells replaced by hostile values."""
    import tempfile

    cells = draw(st.lists(st.tuples(st.sampled_from(["event", "object", "event_object", "event_Place", "object_Order",
                                                     "event_map_type", "object_map_type", "object_object"]),
                                    st.integers(0, 3),
                                    st.one_of(st.sampled_from([n for n in EVIL_NUMBERS if n == n]),
                                              st.sampled_from(EVIL_TIMES), st.none(),
                                              st.sampled_from([t for t in EVIL_TEXT if "\ud800" not in t
                                                               and "\udfff" not in t]), st.binary(max_size=8))),
                          max_size=5))
    drop = draw(st.sampled_from([None, "event", "event_object", "object_map_type", "event_Place"]))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.sqlite"
        con = sqlite3.connect(p)
        con.executescript("""
            create table event (ocel_id text primary key, ocel_type text);
            create table event_map_type (ocel_type text, ocel_type_map text);
            create table object (ocel_id text primary key, ocel_type text);
            create table object_map_type (ocel_type text, ocel_type_map text);
            create table event_object (ocel_event_id text, ocel_object_id text, ocel_qualifier text);
            create table object_object (ocel_source_id text, ocel_target_id text, ocel_qualifier text);
            create table event_Place (ocel_id text, ocel_time timestamp, channel text);
            create table object_Order (ocel_id text, ocel_time timestamp, ocel_changed_field text, price real);
            insert into event_map_type values ('place', 'Place');
            insert into object_map_type values ('order', 'Order');
            insert into object values ('o1', 'order'), ('o2', 'order');
            insert into object_Order values ('o1', '1970-01-01 00:00:00', NULL, 10.0);
            insert into object_object values ('o1', 'o2', 'contains');
            insert into event values ('e1', 'place'), ('e2', 'place');
            insert into event_Place values ('e1', '2024-06-01 10:00:00', 'web'), ('e2', '2024-06-02 10:00:00', NULL);
            insert into event_object values ('e1', 'o1', 'order'), ('e2', 'o2', 'order');
        """)
        for table, row, value in cells:
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                value = float(value)  # SQLite's INTEGER is 64-bit; a bigger number is stored as REAL
            cols = [r[1] for r in con.execute(f"pragma table_info({table})")]
            col = cols[row % len(cols)]
            con.execute(f"update {table} set {col} = ? where rowid = (select min(rowid) from {table})", [value])
        if drop:
            con.execute(f"drop table {drop}")
        con.commit()
        con.close()
        return p.read_bytes()


TOML_VALUES = ["1", "-5", "0", "true", '"x"', "[]", "[1, 2]", "{}", '{ signature = 1 }', "1e400", "nan", "inf",
               "99999999999999999999", '"\\ud800"', "1979-05-27T07:32:00Z", '[{ agent = 1 }]',
               '[{ agent = "a", evidence = "trailer", pattern = "(" }]', '[{ agent = "a", evidence = 3 }]',
               '[{ name = "t", members = 1 }]', '[{ name = 1, members = ["a@b"] }]', '[{ members = [[1]] }]']


EVIDENCE = ['"trailer"', '"author"']
PATTERNS = ['"(unclosed"', '"ok"']
MEMBERS = ['["github:x", "a@b.c"]']


@st.composite
def toml_text(draw) -> bytes:
    keys = ["window_days", "attribution", "team", "attribution.signature", "unknown"]
    lines = [f"{draw(st.sampled_from(keys))} = {draw(st.sampled_from(TOML_VALUES))}" for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        lines += ["[[attribution.signature]]", f"agent = {draw(st.sampled_from(TOML_VALUES))}",
                  f"evidence = {draw(st.sampled_from(TOML_VALUES + EVIDENCE))}",
                  f"pattern = {draw(st.sampled_from(TOML_VALUES + PATTERNS))}"]
    if draw(st.booleans()):
        lines += ["[[team]]", f"name = {draw(st.sampled_from(TOML_VALUES))}",
                  f"members = {draw(st.sampled_from(TOML_VALUES + MEMBERS))}"]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


T0_NS = 1772445600 * 10**9


def _kv(key: str, value: Any) -> dict:
    return {"key": key, "value": {"stringValue": value}}


OTLP_LOGS = {"resourceLogs": [{"resource": {"attributes": [_kv("service.name", "claude-code")]}, "scopeLogs": [{
    "logRecords": [{"timeUnixNano": str(T0_NS), "attributes": [
        _kv("event.name", "tool_result"), _kv("session.id", "s-1"), _kv("user.email", "dev@example.com"),
        _kv("event.timestamp", "2026-03-02T10:00:00.000Z"), _kv("tool_name", "Bash"), _kv("success", "true"),
        {"key": "duration_ms", "value": {"intValue": "900"}},
        _kv("tool_parameters", json.dumps({"full_command": "pytest -q"}))]}]}]}]}
OTLP_METRICS = {"resourceMetrics": [{"resource": {"attributes": [_kv("service.name", "claude-code")]}, "scopeMetrics": [{
    "metrics": [{"name": "claude_code.cost.usage", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
                 "dataPoints": [{"startTimeUnixNano": str(T0_NS), "timeUnixNano": str(T0_NS + 60 * 10**9),
                                 "asDouble": 0.5, "attributes": [_kv("session.id", "s-1"), _kv("model", "m")]}]}}]}]}]}


@st.composite
def otlp_request(draw) -> tuple[str, str, bytes]:
    path, template = draw(st.sampled_from([("/v1/logs", OTLP_LOGS), ("/v1/metrics", OTLP_METRICS)]))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return path, "application/x-protobuf", draw(st.binary(max_size=200))
    body = _dumps(draw(mutated(template, 5))).encode()
    if kind == 1:
        body = body[: draw(st.integers(0, len(body)))]
    return path, "application/json", body


def otlp_runner():
    """A receiver on 127.0.0.1 (started on first use) and a function posting one drawn request to it."""
    import threading

    import httpx

    from loopmeter.otlp_server import OtlpReceiver

    state: dict[str, Any] = {}

    def run(req: tuple[str, str, bytes], tmp: Path) -> None:
        if "server" not in state:
            server = OtlpReceiver(("127.0.0.1", 0), tmp / "otlp.duckdb", max_body=1 << 20)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            state["server"] = server
            state["client"] = httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=30)
        path, ctype, body = req
        r = state["client"].post(path, content=body, headers={"Content-Type": ctype})
        if r.status_code not in (200, 400, 413, 415):
            raise AssertionError(f"OTLP answered {r.status_code}: {r.text[:200]}")
        if state["client"].get("/healthz").status_code != 200:
            raise AssertionError("the receiver stopped answering")

    def close() -> None:
        if "server" in state:
            state["client"].close()
            state["server"].shutdown()
            state["server"].server_close()
            state.clear()

    run.close = close  # type: ignore[attr-defined]
    return run


def targets() -> list[Target]:
    return [
        Target("events-csv", csv_text(EVENTS_HEADER, EVENTS_ROWS),
               _events("csv", "log.csv", Mapping(actor="who"))),
        Target("events-jsonl", jsonl_text([dict(zip(EVENTS_HEADER, r)) for r in EVENTS_ROWS]),
               _events("jsonl", "log.jsonl", Mapping(actor="who"))),
        Target("xes", xes_text(), _events("xes", "log.xes")),
        Target("ocel-json", mutated(OCEL_TEMPLATE, 6).map(lambda d: _dumps(d).encode()),
               _events("ocel", "log.jsonocel")),
        Target("ocel-sqlite", ocel_sqlite(), _events("ocel", "log.sqlite")),
        Target("claude-code", jsonl_text(_jsonl_templates("claude_session.jsonl")),
               _sessions("claude-code", "s.jsonl")),
        Target("codex", jsonl_text(_jsonl_templates("codex_rollout.jsonl")), _sessions("codex", "rollout.jsonl")),
        Target("copilot-metrics", jsonl_text(_jsonl_templates("copilot_metrics.ndjson")),
               _sessions("copilot-metrics", "m.ndjson")),
        Target("claude-admin-report", mutated(json.loads((FIXTURES / "claude_code_usage.json").read_text()), 6)
               .map(lambda d: _dumps(d).encode()), _sessions("claude-code-admin", "usage.json")),
        Target("jira-csv", csv_text(JIRA_HEADER, JIRA_ROWS), _jira_csv),
        Target("loopmeter-toml", toml_text(), _toml),
    ]


def is_crash(e: BaseException) -> bool:
    """Whether `e` would reach the user as a traceback rather than one line."""
    return not isinstance(e, LoopmeterError)
