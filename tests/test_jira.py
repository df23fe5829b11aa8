"""Jira: the REST API against a real HTTP server on 127.0.0.1 replaying hand-written responses
(shapes from Atlassian's REST v2 documentation), and CSV exports written here.

Expected times are worked by hand from the responses below (all UTC).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from stores import rows, snapshot
from test_event_logs import run

from loopmeter import api
from loopmeter.errors import LoopmeterError
from loopmeter.sources.eventlog import EventLogError

TOKEN = "jira-s3cr3t-t0ken-value"

STATUSES = [
    {"id": "1", "name": "To Do", "statusCategory": {"id": 2, "key": "new", "name": "To Do"}},
    {"id": "3", "name": "In Progress", "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"}},
    {"id": "10002", "name": "In Review", "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"}},
    {"id": "10001", "name": "Done", "statusCategory": {"id": 3, "key": "done", "name": "Done"}},
]


def _status(sid: str) -> dict:
    return next(s for s in STATUSES if s["id"] == sid)


def _move(hid: str, when: str, frm: str, to: str, who: str = "557058:aaa") -> dict:
    return {"id": hid, "author": {"accountId": who, "displayName": "Someone Real"}, "created": when,
            "items": [{"field": "status", "fieldtype": "jira", "from": frm, "fromString": _status(frm)["name"],
                       "to": to, "toString": _status(to)["name"]}]}


def _issue(key: str, itype: str, status: str, created: str, resolved: str | None, histories: list, total: int,
           labels: list[str] | None = None) -> dict:
    return {
        "id": key.split("-")[1], "key": key, "self": f"http://jira/rest/api/2/issue/{key}",
        "fields": {"summary": f"Summary of {key} <b>bold</b>", "issuetype": {"name": itype},
                   "status": _status(status), "created": created, "resolutiondate": resolved,
                   "updated": resolved or created, "labels": labels or [],
                   "reporter": {"accountId": "557058:rep", "displayName": "Reporter Person"}},
        "changelog": {"startAt": 0, "maxResults": len(histories), "total": total, "histories": histories},
    }


# OPS-1, a bug: created 03-01 09:00; In Progress 03-01 10:00; Done 03-02 10:00; reopened (Done -> In
# Progress) 03-04 09:00; Done again 03-05 09:00.  started 03-01 10:00, done 03-05 09:00, 1 reopen;
# hours: new 1, indeterminate 24 + 24 = 48, done 47 (03-02 10:00 -> 03-04 09:00).
OPS1 = _issue("OPS-1", "Bug", "10001", "2024-03-01T09:00:00.000+0000", "2024-03-05T09:00:00.000+0000", [
    _move("11", "2024-03-01T10:00:00.000+0000", "1", "3"),
    _move("12", "2024-03-02T10:00:00.000+0000", "3", "10001"),
    _move("13", "2024-03-04T10:00:00.000+0100", "10001", "3"),
    _move("14", "2024-03-05T09:00:00.000+0000", "3", "10001"),
], 4, ["customer"])
# OPS-2, an incident whose changelog (3 histories) is longer than the search embeds (1):
# created 08:00+01:00 = 07:00 UTC; In Progress 08:00; In Review 12:00; Done 13:30.
OPS2_HISTORY = [
    {**_move("21", "2024-03-02T08:00:00.000+0000", "1", "3"),
     "items": [{"field": "assignee", "fromString": None, "toString": "Someone"},
               _move("x", "2024-03-02T08:00:00.000+0000", "1", "3")["items"][0]]},
    _move("22", "2024-03-02T12:00:00.000+0000", "3", "10002"),
    _move("23", "2024-03-02T13:30:00.000+0000", "10002", "10001"),
]
OPS2 = _issue("OPS-2", "Incident", "10001", "2024-03-02T08:00:00.000+0100", "2024-03-02T13:30:00.000+0000",
              OPS2_HISTORY[:1], 3)
# OPS-3, a task never started.
OPS3 = _issue("OPS-3", "Task", "1", "2024-03-03T09:00:00.000+0000", None, [], 0)

RESPONSES = {
    ("/rest/api/2/status", None): STATUSES,
    # Jira caps maxResults at what it likes (2 here, though 50 were asked): paging follows the answer
    ("/rest/api/2/search", "0"): {"startAt": 0, "maxResults": 2, "total": 3, "issues": [OPS1, OPS2]},
    ("/rest/api/2/search", "2"): {"startAt": 2, "maxResults": 2, "total": 3, "issues": [OPS3]},
    ("/rest/api/2/issue/OPS-2/changelog", "0"): {"startAt": 0, "maxResults": 2, "total": 3, "isLast": False,
                                                 "values": OPS2_HISTORY[:2]},
    ("/rest/api/2/issue/OPS-2/changelog", "2"): {"startAt": 2, "maxResults": 2, "total": 3, "isLast": True,
                                                 "values": OPS2_HISTORY[2:]},
}


class _Handler(BaseHTTPRequestHandler):
    responses: ClassVar[dict] = RESPONSES
    seen: ClassVar[list] = []
    # (path, startAt) -> replies served before the recorded one: (status, raw body)
    faults: ClassVar[dict] = {}

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.seen.append((parts.path, query, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"errorMessages": ["You are not authenticated."]})
        start = query.get("startAt", [None])[0]
        queue = self.faults.get((parts.path, start))
        if queue:
            status, raw = queue.pop(0)
            return self._send_raw(status, raw)
        body = self.responses.get((parts.path, start))
        if body is None:
            return self._send(404, {"errorMessages": [f"no such thing: {parts.path}"]})
        if parts.path == "/rest/api/2/search":
            assert query["expand"] == ["changelog"] and query["jql"] == ['project = "OPS" ORDER BY key ASC']
        self._send(200, body)

    def _send(self, status: int, body) -> None:
        self._send_raw(status, json.dumps(body).encode())

    def _send_raw(self, status: int, raw: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def jira_server():
    _Handler.seen = []
    _Handler.faults = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.seen
    finally:
        server.shutdown()
        server.server_close()


def test_jira_api_gives_start_done_and_reopens_from_the_changelog(tmp_path, jira_server, monkeypatch):
    url, seen = jira_server
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    store = tmp_path / "s.duckdb"
    s = api.ingest_jira("OPS", url=url, store_path=store)
    assert (s.name, s.format, s.cases, s.skipped) == ("jira-OPS", "jira", 3, [])
    # both search pages and both changelog pages were read
    paths = [(p, q.get("startAt", [None])[0]) for p, q, _ in seen]
    assert paths == [("/rest/api/2/status", None), ("/rest/api/2/search", "0"),
                     ("/rest/api/2/issue/OPS-2/changelog", "0"), ("/rest/api/2/issue/OPS-2/changelog", "2"),
                     ("/rest/api/2/search", "2")]
    items = {r[0]: r[1:] for r in rows(store, "select item_id, kind, state, created_at, started_at, done_at, "
                                               "attrs from items order by 1")}
    kind, state, created, started, done, attrs = items["jira:OPS-1"]
    assert (kind, state, created, started, done) == (
        "issue", "closed", datetime(2024, 3, 1, 9), datetime(2024, 3, 1, 10), datetime(2024, 3, 5, 9))
    a = json.loads(attrs)
    assert a["reopens"] == 1 and a["type"] == "bug" and a["status_category"] == "done" and a["labels"] == ["customer"]
    assert a["hours_by_category"] == {"new": 1.0, "indeterminate": 48.0, "done": 47.0}
    acts = [r[0] for r in rows(store, "select activity from events where item_id = 'jira:OPS-1' order by ts, activity")]
    assert acts == ["opened", "transitioned", "closed", "transitioned", "reopened", "transitioned", "closed",
                    "transitioned"]
    ((t,),) = rows(store, "select attrs from events where item_id = 'jira:OPS-1' and activity = 'transitioned' "
                           "and ts = '2024-03-04 09:00:00'")
    assert json.loads(t) == {"from": "Done", "to": "In Progress", "from_category": "done",
                             "to_category": "indeterminate"}

    kind, state, created, started, done, attrs = items["jira:OPS-2"]
    assert (kind, state, created, started, done) == (
        "incident", "closed", datetime(2024, 3, 2, 7), datetime(2024, 3, 2, 8), datetime(2024, 3, 2, 13, 30))
    assert json.loads(attrs)["hours_by_category"] == {"new": 1.0, "indeterminate": 5.5, "done": 0.0}
    kind, state, created, started, done, attrs = items["jira:OPS-3"]
    assert (kind, state, started, done) == ("issue", "open", None, None)

    # the report's event_logs: issue durations first to last event: OPS-1 96 h, OPS-2 6.5 h, OPS-3 0 h
    doc = api.report_from_store(store_path=store)
    (log,) = doc["event_logs"]
    assert log["cases"] == 3 and log["case_duration_hours"]["p50"] == 6.5
    assert log["case_duration_hours"]["p85"] == pytest.approx(6.5 + 0.7 * (96 - 6.5))
    # people pseudonymous, the token nowhere
    ((aid, email),) = rows(store, "select actor_id, email from actors where name = 'Reporter Person'")
    assert email == "login:557058:rep@jira"
    ((author,),) = rows(store, "select author_id from items where item_id = 'jira:OPS-1'")
    assert author == aid and "Reporter" not in aid and "557058" not in aid
    assert api.report_from_store(store_path=store)["event_logs"] and "Reporter Person" not in json.dumps(doc)
    assert TOKEN.encode() not in store.read_bytes()


def test_jira_server_error_is_retried_and_a_malformed_page_keeps_the_store(tmp_path, jira_server, monkeypatch):
    url, seen = jira_server
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    _Handler.faults[("/rest/api/2/search", "2")] = [(502, b"<html>Bad Gateway</html>")]
    store = tmp_path / "s.duckdb"
    s = api.ingest_jira("OPS", url=url, store_path=store)
    assert s.cases == 3  # the 502 on page 2 was retried, nothing lost
    assert sum(1 for p, q, _ in seen if p == "/rest/api/2/search" and q["startAt"] == ["2"]) == 2
    before = snapshot(store)
    _Handler.faults[("/rest/api/2/issue/OPS-2/changelog", "2")] = [(200, b'{"startAt": 2, "values": [')]
    with pytest.raises(LoopmeterError, match="OPS-2/changelog: the response is not valid JSON") as e:
        api.ingest_jira("OPS", url=url, store_path=store)
    assert TOKEN not in str(e.value)
    assert snapshot(store) == before


def test_jira_cli_bad_token_exits_2_without_showing_it_and_keeps_the_store(tmp_path, jira_server):
    url, _ = jira_server
    store = tmp_path / "s.duckdb"
    (tmp_path / "t.csv").write_text("case,activity,timestamp\nA,x,2024-01-01T00:00:00Z\n")
    api.ingest_events(tmp_path / "t.csv", store_path=store)
    before = snapshot(store)
    import os

    os.environ["LM_TEST_WRONG"] = "wrong-" + TOKEN
    try:
        r = run("ingest", "--store", store, "--jira", "OPS", "--url", url, "--token-env", "LM_TEST_WRONG", cwd=tmp_path)
    finally:
        del os.environ["LM_TEST_WRONG"]
    assert r.returncode == 2
    assert "401" in r.stderr or "token" in r.stderr.lower()
    assert TOKEN not in r.stderr + r.stdout
    assert snapshot(store) == before


def test_jira_cli_reads_all_pages(tmp_path, jira_server):
    url, _ = jira_server
    import os

    env_before = os.environ.get("JIRA_TOKEN")
    os.environ["JIRA_TOKEN"] = TOKEN
    try:
        r = run("ingest", "--store", tmp_path / "s.duckdb", "--jira", "OPS", "--url", url, cwd=tmp_path)
    finally:
        if env_before is None:
            del os.environ["JIRA_TOKEN"]
        else:
            os.environ["JIRA_TOKEN"] = env_before
    assert r.returncode == 0, r.stderr
    assert "jira-OPS (jira): 3 issues" in r.stdout and TOKEN not in r.stdout + r.stderr


JIRA_CSV = """Summary,Issue key,Issue id,Issue Type,Status,Status Category,Status Category Changed,Created,Resolved,Updated,Labels,Labels,Reporter
Checkout fails,SHOP-1,101,Bug,Done,Done,04/Mar/24 5:00 PM,01/Mar/24 9:00 AM,04/Mar/24 5:00 PM,04/Mar/24 5:00 PM,payments,urgent,alice
Site down,SHOP-2,102,Incident,In Progress,In Progress,2024-03-05 10:30,2024-03-05T10:00:00Z,,,,,bob
,,103,Task,To Do,To Do,,01/Mar/24 9:00 AM,,,,,
Later,SHOP-4,104,Task,To Do,To Do,,31/Feb/24 9:00 AM,,,,,
"""


def test_jira_csv_export_gives_issues_and_incidents(tmp_path):
    p = tmp_path / "shop.csv"
    p.write_text(JIRA_CSV)
    store = tmp_path / "s.duckdb"
    s = api.ingest_jira_csv(p, store_path=store)
    assert (s.format, s.cases) == ("jira-csv", 2)
    assert [(k.where, k.reason) for k in s.skipped] == [("line 4", "missing issue key"),
                                                        ("line 5", "unparseable timestamp")]
    items = {r[0]: r[1:] for r in rows(store, "select item_id, kind, state, created_at, started_at, done_at, attrs "
                                               "from items order by 1")}
    kind, state, created, started, done, attrs = items["jira:SHOP-1"]
    assert (kind, state, created, started, done) == ("issue", "closed", datetime(2024, 3, 1, 9), None,
                                                     datetime(2024, 3, 4, 17))
    assert json.loads(attrs)["labels"] == ["payments", "urgent"]
    kind, state, created, started, done, _ = items["jira:SHOP-2"]
    # in progress now: it started when its status category last changed
    assert (kind, state, started, done) == ("incident", "open", datetime(2024, 3, 5, 10, 30), None)
    assert rows(store, "select activity from events where item_id = 'jira:SHOP-1' order by ts") == [
        ("opened",), ("closed",)]


def test_jira_csv_without_issue_key_column_names_it(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("Summary,Key,Created,Status\nx,A-1,2024-01-01,Done\n")
    with pytest.raises(EventLogError, match="bad.csv: no column 'Issue key'"):
        api.ingest_jira_csv(p, store_path=tmp_path / "s.duckdb")
    assert not (tmp_path / "s.duckdb").exists()
