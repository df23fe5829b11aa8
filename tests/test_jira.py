"""Jira: the REST API against a real HTTP server on 127.0.0.1 (tests/apiserver.py) replaying the
hand-written responses in tests/fixtures/jira/ (shapes from Atlassian's REST documentation: Cloud's
enhanced search `/rest/api/3/search/jql` paged by `nextPageToken`, Server's `/rest/api/2/search`
paged by `startAt`), and CSV exports written here.

The fixture project OPS (times UTC; the token's user lives in Europe/Berlin, UTC+1 in March):
  OPS-1 bug: created 03-01 09:00; In Progress 03-01 10:00; Done 03-02 10:00; reopened (Done -> In
        Progress) 03-04 09:00; Done again 03-05 09:00 = updated. started 03-01 10:00, done 03-05
        09:00, 1 reopen; hours: new 1, indeterminate 24 + 24 = 48, done 47 (03-02 10:00 -> 03-04 09:00).
  OPS-2 incident whose changelog (3 histories) is longer than the search embeds (1): created
        08:00+01:00 = 07:00; In Progress 08:00; In Review 12:00 (by an app); Done 13:30 = updated.
  OPS-3 task never started, updated 03-03 09:00.
Newest update first: OPS-1, OPS-3 | OPS-2 (two issues a page).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from apiserver import FixtureServer, Reply
from stores import rows, snapshot
from test_event_logs import run

from loopmeter import api
from loopmeter.attribution import Matcher
from loopmeter.errors import LoopmeterError
from loopmeter.sources.eventlog import EventLogError
from loopmeter.sources.jira import JiraIssue, Person, Transition, issue_rows
from loopmeter.store.api_load import login_actor_id
from loopmeter.store.db import Store
from loopmeter.store.event_logs import write_log
from loopmeter.store.git_load import Identities

TOKEN = "jira-s3cr3t-t0ken-value"
SRC = Path(__file__).resolve().parents[1] / "src"
SEARCH = "/rest/api/3/search/jql"
CHANGELOG = "/rest/api/2/issue/OPS-2/changelog"


@pytest.fixture
def server():
    with FixtureServer("jira", token=TOKEN, paging="token", etags=False) as srv:
        yield srv


@pytest.fixture(autouse=True)
def token_env(monkeypatch):
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    monkeypatch.delenv("JIRA_EMAIL", raising=False)


class Quiet:
    """The Progress interface the runner calls; waits are not slept (the server and requests are real)."""

    def start(self, *a) -> None: ...
    def advance(self, n) -> None: ...
    def note(self, m) -> None: ...
    def wait(self, s, reason) -> None: ...


def ingest(server, store, **kw):
    return api.ingest_jira("OPS", url=server.url, store_path=store, progress=Quiet(), sleep=lambda s: None, **kw)


def cli(*args, env=None):
    e = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "loopmeter", "ingest", *map(str, args)], capture_output=True,
                          text=True, env=e, timeout=60, check=False)


def dump(store_path) -> dict[str, list]:
    """Every canonical row, with the per-store salted actor ids replaced by the names they stand for."""
    with Store.open(store_path, create=False, read_only=True) as s:
        names = dict(s.con.execute("select actor_id, name || '/' || kind from actors").fetchall())
        out = {}
        for table, order in (("items", "item_id"), ("events", "item_id, ts, activity"), ("links", "src, dst, kind"),
                             ("actors", "name")):
            cols = "* exclude (actor_id)" if table == "actors" else "*"
            found = s.con.execute(f"select {cols} from {table} order by {order}").fetchall()
            out[table] = sorted(re.sub(r"\ba[0-9a-f]{15}\b", lambda m: "@" + names.get(m.group(0), "?"), repr(r))
                                for r in found)
        return out


def searches(server, since=0):
    return [r for r in server.requests()[since:] if r.path in (SEARCH, "/rest/api/2/search")]


# ----------------------------------------------------------------------------------- first run


def test_first_run_gives_start_done_and_reopens_from_the_changelog(server, tmp_path):
    store = tmp_path / "s.duckdb"
    r = ingest(server, store)
    assert (r.source, r.items, r.warnings) == ("jira:OPS", {"issues": 3}, [])
    # Cloud: the enhanced search, newest update first, paged by token; OPS-2's changelog in two pages
    assert [(x.path, x.query.get("startAt"), "nextPageToken" in x.query) for x in server.requests()] == [
        ("/rest/api/2/project/OPS", None, False), ("/rest/api/2/serverInfo", None, False),
        ("/rest/api/2/myself", None, False), ("/rest/api/2/status", None, False), (SEARCH, None, False),
        (SEARCH, None, True), (CHANGELOG, "0", False), (CHANGELOG, "2", False)]
    first = searches(server)[0].query
    assert first["jql"] == 'project = "OPS" ORDER BY updated DESC, key DESC' and first["expand"] == "changelog"
    assert set(first["fields"].split(",")) >= {"status", "created", "updated", "reporter", "resolutiondate"}

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
    # the cursor is the newest update read
    assert rows(store, "select source, stream, high_water from api_cursors") == [
        ("jira:OPS", "issues", datetime(2024, 3, 5, 9))]
    assert rows(store, "select count(*) from api_progress") == [(0,)]


def test_people_are_keyed_by_account_on_the_host_and_named_only_when_asked(server, tmp_path):
    store = tmp_path / "s.duckdb"
    ingest(server, store)
    with Store.open(store, create=False, read_only=True) as s:
        salt = s.meta("salt") or ""
    rep, someone, app = (login_actor_id(salt, a, "127.0.0.1") for a in
                         ("557058:rep", "557058:aaa", "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"))
    assert {r[0]: r[1:] for r in rows(store, "select actor_id, name, kind, email from actors")} == {
        rep: ("Reporter Person", "human", None), someone: ("Someone Real", "human", None),
        app: ("Automation for Jira", "bot", None)}
    assert rows(store, "select distinct author_id from items") == [(rep,)]
    assert rows(store, "select distinct actor_id from events where ts = '2024-03-02 12:00:00'") == [(app,)]
    # pseudonymous unless --show-names
    doc = api.report_from_store(store_path=store)
    assert "Reporter Person" not in json.dumps(doc) and "Someone Real" not in json.dumps(doc)
    names = {}
    for show in (False, True):
        out = tmp_path / f"export-{show}"
        api.export("parquet", out, store_path=store, show_names=show)
        con = duckdb.connect()
        names[show] = sorted(str(r[0]) for r in con.execute(f"select name from read_parquet('{out}/actors/**/*.parquet')").fetchall())
        con.close()
    # People's names only with --show-names; an automation account keeps its name (not a person,
    # and the report run over the export needs it to tell bots apart).
    assert names == {False: ["Automation for Jira", "None", "None"],
                     True: ["Automation for Jira", "Reporter Person", "Someone Real"]}


def test_server_and_data_center_read_the_offset_search_to_the_same_rows(tmp_path):
    with FixtureServer("jira", token=TOKEN, paging="token", etags=False) as cloud:
        ingest(cloud, tmp_path / "cloud.duckdb")
    with FixtureServer("jira", token=TOKEN, paging="offset", etags=False) as srv:
        srv.data["/rest/api/2/serverInfo"] = {**srv.data["/rest/api/2/serverInfo"], "deploymentType": "DataCenter",
                                              "version": "9.12.2"}
        srv.data["/rest/api/2/search"] = srv.data.pop(SEARCH)
        ingest(srv, tmp_path / "dc.duckdb")
        got = [x.query.get("startAt") for x in searches(srv)]
    assert got == ["0", "2"]
    assert dump(tmp_path / "dc.duckdb") == dump(tmp_path / "cloud.duckdb")


# ----------------------------------------------------------------------------------- incremental


def test_second_run_asks_only_for_issues_updated_since_the_first(server, tmp_path):
    store = tmp_path / "s.duckdb"
    ingest(server, store)
    before = {r[0]: r[1:] for r in rows(store, "select item_id, ts, activity, attrs from events where item_id = 'jira:OPS-1'")}
    # Since then: OPS-3 was started at 03-06 10:00 (+01:00 here), OPS-4 opened 03-06 11:00. OPS-1 is
    # inside the margin and unchanged. This is what Jira answers to the incremental JQL.
    data = server.data[SEARCH]["issues"]
    ops1, ops3 = copy.deepcopy(data[0]), copy.deepcopy(data[1])
    ops3["fields"].update(status={"id": "3", "name": "In Progress", "statusCategory": {"id": 4, "key": "indeterminate",
                                                                                       "name": "In Progress"}},
                          updated="2024-03-06T10:00:00.000+0100")
    ops3["changelog"] = {"startAt": 0, "maxResults": 1, "total": 1, "histories": [
        {"id": "31", "author": {"accountId": "557058:aaa", "displayName": "Someone Real"},
         "created": "2024-03-06T10:00:00.000+0100",
         "items": [{"field": "status", "from": "1", "fromString": "To Do", "to": "3", "toString": "In Progress"}]}]}
    ops4 = copy.deepcopy(ops3)
    ops4.update(key="OPS-4", id="10004")
    ops4["fields"].update(created="2024-03-06T11:00:00.000+0000", updated="2024-03-06T11:00:00.000+0000",
                          status=data[1]["fields"]["status"], summary="New one")
    ops4["changelog"] = {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}
    server.data[SEARCH] = {"issues": [ops4, ops3, ops1]}
    n = len(server.requests())
    r = ingest(server, store)
    second = server.requests()[n:]
    # the cursor 03-05 09:00 UTC less the hour's margin, in the user's zone: 09:00 Berlin
    (q,) = [x.query for x in second if x.path == SEARCH][:1]
    assert q["jql"] == 'project = "OPS" AND updated >= "2024/03/05 09:00" ORDER BY updated DESC, key DESC'
    # 4 look-ups of the server, then the two search pages; no changelog read again
    assert [x.path for x in second][4:] == [SEARCH, SEARCH] and len(second) == 6
    assert r.items == {"issues": 3}
    got = {r[0]: r[1:] for r in rows(store, "select item_id, state, started_at from items order by 1")}
    assert got == {"jira:OPS-1": ("closed", datetime(2024, 3, 1, 10)), "jira:OPS-2": ("closed", datetime(2024, 3, 2, 8)),
                   "jira:OPS-3": ("open", datetime(2024, 3, 6, 9)), "jira:OPS-4": ("open", None)}
    after = {r[0]: r[1:] for r in rows(store, "select item_id, ts, activity, attrs from events where item_id = 'jira:OPS-1'")}
    assert after == before
    assert rows(store, "select count(*), count(distinct (item_id, ts, activity)) from events") == [(16, 16)]  # 8 + 5 + 2 + 1
    assert rows(store, "select high_water from api_cursors") == [(datetime(2024, 3, 6, 11),)]


def test_a_run_without_a_known_time_zone_widens_the_margin(server, tmp_path):
    store = tmp_path / "s.duckdb"
    ingest(server, store)
    del server.data["/rest/api/2/myself"]  # anonymous access has no /myself: the zone is unknown
    n = len(server.requests())
    ingest(server, store)
    (q,) = [x.query for x in searches(server, n)][:1]
    # 03-05 09:00 less 1 h and 14 h (the widest UTC offset), read as UTC
    assert '"2024/03/04 18:00"' in q["jql"]


def test_since_asks_from_that_day(server, tmp_path):
    ingest(server, tmp_path / "s.duckdb", since=datetime(2024, 3, 3))
    (q,) = [x.query for x in searches(server)][:1]
    # 03-03 00:00 UTC less the margin, in Berlin: 03-03 00:00
    assert q["jql"] == 'project = "OPS" AND updated >= "2024/03/03 00:00" ORDER BY updated DESC, key DESC'
    # Jira answered all three (the fixture ignores the JQL); OPS-2, updated 03-02, is past the floor
    assert rows(tmp_path / "s.duckdb", "select item_id from items order by 1") == [("jira:OPS-1",), ("jira:OPS-3",)]


# ----------------------------------------------------------------------------------- resume


def test_a_cloud_walk_interrupted_longer_than_a_page_token_lives_starts_again(server, tmp_path):
    store = tmp_path / "s.duckdb"
    server.fault(SEARCH, Reply(200, {"Content-Type": "application/json"}, b'{"issues": ['), page=2)
    with pytest.raises(LoopmeterError, match="not valid JSON"):
        ingest(server, store)
    assert rows(store, "select pages from api_progress") == [(1,)]
    n = len(server.requests())
    with Store.open(store) as s:  # the walk began 7 days ago: its next page token has expired
        s.con.execute("update api_progress set started_at = started_at - interval 7 days")
    ingest(server, store)
    assert "nextPageToken" not in searches(server, n)[0].query
    assert rows(store, "select count(*) from items") == [(3,)] and rows(store, "select count(*) from api_progress") == [(0,)]


def test_killed_ingest_resumes_to_the_same_rows(server, tmp_path):
    clean = tmp_path / "clean.duckdb"
    assert cli("--jira", "OPS", "--url", server.url, "--store", clean).returncode == 0
    db = tmp_path / "s.duckdb"
    server.stalls.add((SEARCH, 2))  # the walk hangs on the second page of issues
    proc = subprocess.Popen([sys.executable, "-m", "loopmeter", "ingest", "--jira", "OPS", "--url", server.url,
                             "--store", str(db)], env={**os.environ, "PYTHONPATH": str(SRC)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert server.stalled.wait(60), "the ingest never reached the stalled page"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert rows(db, "select stream, pages, pending_high_water from api_progress") == [
        ("issues", 1, datetime(2024, 3, 5, 9))]
    assert rows(db, "select item_id from items order by 1") == [("jira:OPS-1",), ("jira:OPS-3",)]
    assert rows(db, "select count(*) from api_cursors") == [(0,)]
    server.release.set()
    # OPS-3, open and stored by the killed run, is not read by the resumed one: it is looked up
    # (tests/test_jira_moves.py), and Jira answers it under its own key
    server.answer(SEARCH, {"issues": [{"id": "10003", "key": "OPS-3", "fields": {}}]}, jql=r'^key in \("OPS-3"\)$')
    n = len(server.requests())
    r = cli("--jira", "OPS", "--url", server.url, "--store", db)
    assert r.returncode == 0, r.stderr
    resumed = searches(server, n)
    # it goes on from the second page (the token it recorded) and reads the first page no more
    assert len(resumed) == 2 and "nextPageToken" in resumed[0].query
    assert resumed[1].query["jql"] == 'key in ("OPS-3")'
    assert dump(db) == dump(clean)
    assert rows(db, "select count(*) from api_progress") == [(0,)]
    assert rows(db, "select high_water from api_cursors") == rows(clean, "select high_water from api_cursors")


# ----------------------------------------------------------------------------------- old stores


def _old_style_store(store: Path, server_url: str) -> None:
    """A store as loopmeter wrote it before Jira was an API source: event log `jira-OPS`, people
    through git's Identities keyed `login:ACCOUNT@jira` (not the host), and an issue OPS-9 since
    deleted in Jira. Next to it, an unrelated event log whose actor must survive."""
    with Store.open(store) as s:
        ids = Identities(s.meta("salt") or "", Matcher.load(None))
        old_rule = lambda p: ids.actor_id(p.name, f"login:{p.account}@jira")  # the old rule, verbatim
        someone = Person("Someone Real", "557058:aaa")
        issues = [
            JiraIssue("OPS-1", "Summary of OPS-1", "Bug", "Done", "done", datetime(2024, 3, 1, 9),
                      reporter=Person("Reporter Person", "557058:rep"),
                      transitions=[Transition(datetime(2024, 3, 1, 10), "To Do", "In Progress", "new", "indeterminate",
                                              someone)]),
            JiraIssue("OPS-9", "Gone since", "Task", "To Do", "new", datetime(2024, 2, 1, 9),
                      reporter=Person("Left Company", "557058:old")),
        ]
        write_log(s, name="jira-OPS", path=server_url, fmt="jira", rows=issue_rows(issues, old_rule, "OPS"),
                  skipped=[], ids=ids)
    (store.parent / "t.csv").write_text("case,activity,timestamp,who\nA,x,2024-01-01T00:00:00Z,Pat\n")
    from loopmeter.sources.eventlog import Mapping

    api.ingest_events(store.parent / "t.csv", store_path=store, mapping=Mapping(actor="who"))


def test_an_old_event_log_store_is_taken_over_without_orphans_or_duplicates(server, tmp_path):
    store = tmp_path / "s.duckdb"
    _old_style_store(store, server.url)
    assert rows(store, "select count(*) from actors where email like 'login:%@jira'") == [(3,)]
    ingest(server, store)
    # the old log and its keying are gone; the unrelated log and its actor stay
    assert rows(store, "select name from event_logs") == [("t",)]
    assert rows(store, "select count(*) from event_log_items where log = 'jira-OPS'") == [(0,)]
    assert rows(store, "select count(*) from actors where email like 'login:%@jira'") == [(0,)]
    assert rows(store, "select name from actors where name = 'Pat'") == [("Pat",)]
    # every actor is referred to; no item twice, none left of the deleted OPS-9
    assert rows(store, "select count(*) from actors a where a.actor_id not in (select author_id from items where "
                       "author_id is not null) and a.actor_id not in (select actor_id from events where actor_id is "
                       "not null)") == [(0,)]
    assert rows(store, "select item_id from items where source = 'jira' order by 1") == [
        ("jira:OPS-1",), ("jira:OPS-2",), ("jira:OPS-3",)]
    clean = tmp_path / "clean.duckdb"
    ingest(server, clean)
    mine = dump(store)
    mine["actors"] = [a for a in mine["actors"] if "'Pat'" not in a]
    mine["events"] = [e for e in mine["events"] if "events:t:" not in e]
    mine["items"] = [i for i in mine["items"] if "events:t:" not in i]
    assert mine == dump(clean)


# ----------------------------------------------------------------------------------- errors and tokens


def test_server_error_is_retried_and_a_malformed_page_resumes_later(server, tmp_path):
    server.fault(SEARCH, Reply(502, {}, b"<html>Bad Gateway</html>"), page=2)
    store = tmp_path / "s.duckdb"
    assert ingest(server, store).items == {"issues": 3}  # the 502 on page 2 was retried, nothing lost
    assert sum(1 for x in searches(server) if "nextPageToken" in x.query) == 2
    other = tmp_path / "o.duckdb"
    server.fault(CHANGELOG, Reply(200, {"Content-Type": "application/json"}, b'{"startAt": 2, "values": ['), page=2)
    with pytest.raises(LoopmeterError, match="OPS-2/changelog: the response is not valid JSON") as e:
        ingest(server, other)
    assert TOKEN not in str(e.value)
    # the first page is kept; the next run goes on from the second and ends where a clean run does
    assert rows(other, "select item_id from items order by 1") == [("jira:OPS-1",), ("jira:OPS-3",)]
    ingest(server, other)
    assert dump(other) == dump(store)


def test_unknown_project_is_one_line(server, tmp_path):
    with pytest.raises(LoopmeterError, match=r"^jira: project NOPE not found or not visible to this token$"):
        api.ingest_jira("NOPE", url=server.url, store_path=tmp_path / "s.duckdb", progress=Quiet())


def test_cli_bad_token_exits_2_without_showing_it_and_keeps_the_store(server, tmp_path):
    store = tmp_path / "s.duckdb"
    (tmp_path / "t.csv").write_text("case,activity,timestamp\nA,x,2024-01-01T00:00:00Z\n")
    api.ingest_events(tmp_path / "t.csv", store_path=store)
    before = snapshot(store)
    r = cli("--store", store, "--jira", "OPS", "--url", server.url, "--token-env", "LM_TEST_WRONG",
            env={"LM_TEST_WRONG": "wrong-" + TOKEN})
    assert r.returncode == 2
    assert r.stderr.startswith("error: Jira rejected the token (401)")
    assert TOKEN not in r.stderr + r.stdout
    assert snapshot(store) == before


def test_the_token_is_never_printed_stored_or_put_in_a_url(server, tmp_path):
    db = tmp_path / "s.duckdb"
    server.fault("/rest/api/2/status", Reply(500, {"Content-Type": "application/json"},
                                             {"errorMessages": [f"boom {TOKEN}"]}))  # retried
    r = cli("--jira", "OPS", "--url", server.url, "--store", db, "--debug")
    assert r.returncode == 0, r.stderr
    assert "jira:OPS: 3 issues; 9 requests" in r.stdout
    server.fault(SEARCH, Reply(418, {"Content-Type": "application/json"}, {"errorMessages": [f"teapot {TOKEN}"]}))
    r2 = cli("--jira", "OPS", "--url", server.url, "--store", db, "--debug")
    assert r2.returncode != 0 and "[token]" in r2.stderr  # --debug: the traceback is shown, redacted
    for text in (r.stdout, r.stderr, r2.stdout, r2.stderr):
        assert TOKEN not in text
    assert TOKEN.encode() not in db.read_bytes()
    wal = db.with_name(db.name + ".wal")
    assert not wal.exists() or TOKEN.encode() not in wal.read_bytes()
    for req in server.requests():
        assert req.headers.get("Authorization") == f"Bearer {TOKEN}"
        assert TOKEN not in json.dumps(req.query)
        assert all(TOKEN not in v for k, v in req.headers.items() if k.lower() != "authorization")


def test_jira_cloud_basic_auth_with_an_email(tmp_path, monkeypatch):
    basic = "Basic " + base64.b64encode(f"me@acme.test:{TOKEN}".encode()).decode()
    monkeypatch.setenv("JIRA_EMAIL", "me@acme.test")
    db = tmp_path / "s.duckdb"
    with FixtureServer("jira", authorization=basic, paging="token", etags=False) as srv:
        assert ingest(srv, db).items == {"issues": 3}
        assert {x.headers.get("Authorization") for x in srv.requests()} == {basic}
    assert TOKEN.encode() not in db.read_bytes() and basic.encode() not in db.read_bytes()


# ----------------------------------------------------------------------------------- CSV export


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
    # a reporter known only by name is pseudonymised by that name, as event logs do
    with Store.open(store, create=False, read_only=True) as st:
        alice = Identities(st.meta("salt") or "", Matcher.load(None)).actor_id("alice", "")
    assert rows(store, "select author_id from items where item_id = 'jira:SHOP-1'") == [(alice,)]


def test_jira_csv_with_account_ids_names_people_as_the_api_does(server, tmp_path):
    store = tmp_path / "s.duckdb"
    ingest(server, store)
    p = tmp_path / "shop.csv"
    p.write_text("Issue key,Summary,Status,Status Category,Created,Reporter,Reporter Id\n"
                 "SHOP-7,x,To Do,To Do,2024-03-01T09:00:00Z,Reporter Person,557058:rep\n")
    api.ingest_jira_csv(p, store_path=store, url=server.url)
    ((csv_author,),) = rows(store, "select author_id from items where item_id = 'jira:SHOP-7'")
    ((api_author,),) = rows(store, "select author_id from items where item_id = 'jira:OPS-1'")
    assert csv_author == api_author
    assert rows(store, "select count(*) from actors where name = 'Reporter Person'") == [(1,)]


def test_jira_csv_without_issue_key_column_names_it(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("Summary,Key,Created,Status\nx,A-1,2024-01-01,Done\n")
    with pytest.raises(EventLogError, match="bad.csv: no column 'Issue key'"):
        api.ingest_jira_csv(p, store_path=tmp_path / "s.duckdb")
    assert not (tmp_path / "s.duckdb").exists()


def test_jira_cli_reads_all_pages(server, tmp_path):
    r = run("ingest", "--store", tmp_path / "s.duckdb", "--jira", "OPS", "--url", server.url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "jira:OPS: 3 issues" in r.stdout and TOKEN not in r.stdout + r.stderr


def test_a_jira_team_member_names_the_account_the_rest_api_stored(server, tmp_path):
    # teams.py documents `jira:ACCOUNT` members; the REST source keys accounts on the site's host.
    import tomllib

    from loopmeter.teams import parse_teams, resolve

    store = tmp_path / "s.duckdb"
    ingest(server, store)
    text = '[[team]]\nname = "ops"\nmembers = ["jira:557058:rep"]\n'
    teams = parse_teams(tomllib.loads(text)["team"], text, tmp_path / "loopmeter.toml")
    with Store.open(store, create=False, read_only=True) as s:
        salt = s.meta("salt") or ""
        found, unmatched = resolve(s.con, teams, tmp_path / "loopmeter.toml")
    assert found == {login_actor_id(salt, "557058:rep", "127.0.0.1"): "ops"} and unmatched == []


def test_a_server_search_page_with_a_non_numeric_offset_is_one_line(tmp_path):
    # Jira Server pages by `startAt`/`total` in the body: junk there is an API error naming the
    # URL, not a Python traceback.
    with FixtureServer("jira", token=TOKEN, paging="offset", etags=False) as srv:
        srv.data["/rest/api/2/serverInfo"] = {**srv.data["/rest/api/2/serverInfo"], "deploymentType": "DataCenter"}
        srv.data["/rest/api/2/search"] = srv.data.pop(SEARCH)
        body = json.dumps({"startAt": 0, "total": "many", "issues": [{"id": "1"}]}).encode()
        srv.fault("/rest/api/2/search", Reply(200, {"Content-Type": "application/json"}, body))
        with pytest.raises(LoopmeterError, match=r"rest/api/2/search.*total") as e:
            ingest(srv, tmp_path / "s.duckdb")
    assert "\n" not in str(e.value)
