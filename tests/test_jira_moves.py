"""Jira issues that leave a project between runs: moved to another project (a new key) or deleted.

Against the real FixtureServer replaying tests/fixtures/jira/ (the OPS project of test_jira.py) and
the hand-written answers in tests/fixtures/jira-moves/ (README there tells the story): OPS-3, open
after the first run, becomes DEV-7 on 03-06 10:00 UTC, is started at 12:00 and done at 18:00.

Hand-worked ticket numbers. First run: OPS-1 cycles from its first start 03-01 10:00 to its last
done 03-05 09:00 = 95 h; OPS-2 from 08:00 to 13:30 = 5.5 h; OPS-3 is open; 2 closed, 1 reopened
(OPS-1). After the move and DEV's run: DEV-7 cycles 12:00 -> 18:00 = 6 h, so the cycles are
5.5, 6, 95 (p50 6, p85 6 + 0.7 * 89 by linear interpolation), 3 closed, 1 reopened, nothing open.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path

import pytest
from apiserver import FixtureServer, Reply
from stores import rows
from test_jira import SEARCH, TOKEN, Quiet, cli, dump, searches

from loopmeter import api
from loopmeter.metrics.changes import backend
from loopmeter.metrics.flow import flow
from loopmeter.store.db import Store

MOVES = Path(__file__).parent / "fixtures" / "jira-moves"
AS_OF = datetime(2024, 3, 10)
JSON = {"Content-Type": "application/json"}


def fixture(name: str):
    return json.loads((MOVES / name).read_text())


@pytest.fixture(autouse=True)
def token_env(monkeypatch):
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    monkeypatch.delenv("JIRA_EMAIL", raising=False)


@pytest.fixture
def server():
    with FixtureServer("jira", token=TOKEN, paging="token", etags=False) as srv:
        srv.data["/rest/api/2/project/DEV"] = fixture("dev-project.json")
        srv.answer(SEARCH, fixture("dev-search.json"), jql=r'^project = "DEV"')
        yield srv


def ingest(server, store, project="OPS"):
    return api.ingest_jira(project, url=server.url, store_path=store, progress=Quiet(), sleep=lambda s: None)


def after_the_move(server) -> None:
    """What Jira answers OPS's incremental run once OPS-3 has left: OPS-1 (in the margin, unchanged)."""
    ops1 = next(e for e in server.data[SEARCH]["issues"] if e["key"] == "OPS-1")
    server.data[SEARCH] = {"issues": [copy.deepcopy(ops1)]}


def tickets(store) -> dict:
    with Store.open(store, create=False, read_only=True) as s:
        part = flow(s, backend(s), AS_OF)["issues"]
    return {"cycle": part["ticket_cycle_hours"], "reopen": part["reopen"]}


def jira_items(store) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in rows(store, "select item_id, state, started_at, done_at from items "
                                             "where source = 'jira' order by 1")}


FIRST = {"cycle": {"p50": pytest.approx((5.5 + 95) / 2), "p85": pytest.approx(5.5 + 0.85 * 89.5), "n": 2},
         "reopen": {"closed": 2, "reopened": 1, "rate": 0.5}}
AFTER = {"cycle": {"p50": pytest.approx(6.0), "p85": pytest.approx(6 + 0.7 * 89), "n": 3},
         "reopen": {"closed": 3, "reopened": 1, "rate": pytest.approx(1 / 3)}}
MOVED = {"jira:OPS-1": ("closed", datetime(2024, 3, 1, 10), datetime(2024, 3, 5, 9)),
         "jira:OPS-2": ("closed", datetime(2024, 3, 2, 8), datetime(2024, 3, 2, 13, 30)),
         "jira:DEV-7": ("closed", datetime(2024, 3, 6, 12), datetime(2024, 3, 6, 18))}


def test_an_issue_moved_away_is_removed_by_the_next_run_and_counted_once_under_its_new_key(server, tmp_path):
    store = tmp_path / "s.duckdb"
    ingest(server, store)
    assert tickets(store) == FIRST  # the first run's numbers, as test_jira.py has them
    assert rows(store, "select count(*) from items where state = 'open'") == [(1,)]  # OPS-3
    after_the_move(server)
    server.answer(SEARCH, fixture("lookup-moved.json"), jql=r"^key in ")
    n = len(server.requests())
    r = ingest(server, store)
    second = server.requests()[n:]
    # 4 look-ups of the server, the listing, and one look-up of the one open issue it did not list
    assert [x.path for x in second][4:] == [SEARCH, SEARCH] and len(second) == 6
    lookup = second[-1].query
    assert (lookup["jql"], lookup["fields"]) == ('key in ("OPS-3")', "key")
    assert "validateQuery" not in lookup  # Cloud's enhanced search documents no such parameter
    assert (r.items, r.removed) == ({"issues": 1}, {"moved": 1})
    assert rows(store, "select count(*) from events where item_id = 'jira:OPS-3'") == [(0,)]
    assert rows(store, "select count(*) from api_item_versions where item_id = 'jira:OPS-3'") == [(0,)]
    assert rows(store, "select count(*) from items where state = 'open'") == [(0,)]  # not in progress forever
    ingest(server, store, "DEV")
    assert jira_items(store) == MOVED
    assert rows(store, "select count(*), count(distinct item_id) from items") == [(3, 3)]
    assert rows(store, "select json_extract(attrs, '$.hours_by_category') from items where item_id = 'jira:DEV-7'"
                ) == [('{"done":0.0,"indeterminate":6.0,"new":75.0}',)]  # To Do 03-03 09:00 -> 03-06 12:00
    assert tickets(store) == AFTER


def test_a_move_into_a_project_also_ingested_removes_the_old_key_with_the_new_one(server, tmp_path):
    store = tmp_path / "s.duckdb"
    ingest(server, store)
    after_the_move(server)
    # DEV is read first: DEV-7's changelog names its old key, so OPS-3 goes in the same transaction
    r = ingest(server, store, "DEV")
    assert (r.items, r.removed) == ({"issues": 1}, {"moved": 1})
    assert jira_items(store) == MOVED
    # OPS's next run then has no open issue it did not list: no look-up at all
    n = len(server.requests())
    r = ingest(server, store)
    assert (r.removed, [x.query["jql"][:7] for x in searches(server, n)]) == ({}, ["project"])
    assert tickets(store) == AFTER
    # the same rows as when OPS noticed the move first
    other = tmp_path / "o.duckdb"
    with FixtureServer("jira", token=TOKEN, paging="token", etags=False) as srv:
        srv.data["/rest/api/2/project/DEV"] = fixture("dev-project.json")
        srv.answer(SEARCH, fixture("dev-search.json"), jql=r'^project = "DEV"')
        ingest(srv, other)
        after_the_move(srv)
        srv.answer(SEARCH, fixture("lookup-moved.json"), jql=r"^key in ")
        ingest(srv, other)
        ingest(srv, other, "DEV")
    assert dump(other) == dump(store)


def test_a_deleted_issue_is_removed_on_data_center_by_a_query_that_is_not_validated(tmp_path):
    store = tmp_path / "s.duckdb"
    with FixtureServer("jira", token=TOKEN, paging="offset", etags=False) as srv:
        srv.data["/rest/api/2/serverInfo"] = {**srv.data["/rest/api/2/serverInfo"], "deploymentType": "DataCenter"}
        srv.data["/rest/api/2/search"] = srv.data.pop(SEARCH)
        ingest(srv, store)
        ops1 = srv.data["/rest/api/2/search"]["issues"][0]
        srv.data["/rest/api/2/search"] = {"issues": [ops1]}
        # validateQuery=false: Jira leaves the unknown key out instead of answering 400
        srv.answer("/rest/api/2/search", {"issues": []}, jql=r"^key in ", validateQuery="^false$")
        n = len(srv.requests())
        r = ingest(srv, store)
        second = srv.requests()[n:]
    assert len(second) == 6 and second[-1].query["jql"] == 'key in ("OPS-3")'
    assert r.removed == {"deleted": 1}
    assert sorted(jira_items(store)) == ["jira:OPS-1", "jira:OPS-2"]
    assert tickets(store) == FIRST  # OPS-3 never cycled: the closed issues' numbers are unchanged


def test_cloud_names_an_unknown_key_with_a_400_and_the_rest_of_the_batch_is_asked_again(server, tmp_path):
    store = tmp_path / "s.duckdb"
    listing = server.data[SEARCH]["issues"]
    ops4 = copy.deepcopy(next(e for e in listing if e["key"] == "OPS-3"))
    ops4.update(key="OPS-4", id="10004", self="https://acme.atlassian.net/rest/api/3/issue/10004")
    server.data[SEARCH] = {"issues": [*listing, ops4]}
    ingest(server, store)
    assert rows(store, "select item_id from items where state = 'open' order by 1") == [("jira:OPS-3",), ("jira:OPS-4",)]
    after_the_move(server)  # OPS-3 deleted this time; OPS-4 untouched
    server.answer(SEARCH, Reply(400, JSON, fixture("unknown-key.json")), jql=r'^key in \("OPS-3", "OPS-4"\)$')
    server.answer(SEARCH, {"issues": [{"id": "10004", "key": "OPS-4", "fields": {}}]}, jql=r'^key in \("OPS-4"\)$')
    n = len(server.requests())
    r = ingest(server, store)
    assert [x.query["jql"] for x in searches(server, n)][1:] == ['key in ("OPS-3", "OPS-4")', 'key in ("OPS-4")']
    assert len(server.requests()) - n == 7
    assert r.removed == {"deleted": 1}
    assert rows(store, "select item_id from items where state = 'open'") == [("jira:OPS-4",)]


def test_a_400_that_names_no_key_asked_is_an_error_and_keeps_the_store(server, tmp_path):
    store = tmp_path / "s.duckdb"
    ingest(server, store)
    after_the_move(server)
    server.answer(SEARCH, Reply(400, JSON, {"errorMessages": ["Error in the JQL Query: boom"]}), jql=r"^key in ")
    from loopmeter.errors import LoopmeterError

    with pytest.raises(LoopmeterError, match="answered 400"):
        ingest(server, store)
    assert sorted(jira_items(store)) == ["jira:OPS-1", "jira:OPS-2", "jira:OPS-3"]


def _issue(n: int) -> dict:
    return {"id": str(20000 + n), "key": f"OPS-{n}", "fields": {
        "summary": f"t{n}", "issuetype": {"name": "Task"},
        "status": {"id": "1", "name": "To Do", "statusCategory": {"key": "new"}},
        "created": "2024-03-01T09:00:00.000+0000", "updated": f"2024-03-01T{9 + n // 60:02d}:{n % 60:02d}:00.000+0000"},
        "changelog": {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}}


def test_open_issues_are_looked_up_a_hundred_to_a_request_and_the_cli_says_what_left(tmp_path):
    store = tmp_path / "s.duckdb"
    with FixtureServer("jira", token=TOKEN, paging="token", etags=False, page_size=100) as srv:
        srv.data[SEARCH] = {"issues": [_issue(n) for n in range(150, 0, -1)]}  # newest first
        assert cli("--jira", "OPS", "--url", srv.url, "--store", store).returncode == 0
        assert rows(store, "select count(*) from items where state = 'open'") == [(150,)]
        srv.data[SEARCH] = {"issues": []}  # nothing updated since
        keys = sorted(f"OPS-{n}" for n in range(1, 151))  # in the order of their item ids
        first, second = keys[:100], keys[100:]
        moved = {first[0]: "DEV-1", first[50]: "DEV-2"}
        deleted = second[7]
        for batch in (first, second):
            jql = "key in (" + ", ".join(f'"{k}"' for k in batch) + ")"
            found = [{"id": str(20000 + int(k[4:])), "key": moved.get(k, k), "fields": {}} for k in batch if k != deleted]
            srv.answer(SEARCH, {"issues": found}, jql="^" + jql.replace("(", r"\(").replace(")", r"\)") + "$")
        n = len(srv.requests())
        r = cli("--jira", "OPS", "--url", srv.url, "--store", store)
        run = srv.requests()[n:]
    assert r.returncode == 0, r.stderr
    assert "jira:OPS: 0 issues, 2 moved, 1 deleted; 7 requests" in r.stdout
    assert [x.path for x in run][4:] == [SEARCH] * 3  # the listing, then 150 keys in 2 look-ups
    assert rows(store, "select count(*) from items where state = 'open'") == [(147,)]
    gone = {f"jira:{k}" for k in (*moved, deleted)}
    assert rows(store, "select count(*) from items where list_contains(?, item_id)", [sorted(gone)]) == [(0,)]


def test_every_earlier_key_of_a_chain_of_moves_is_found_in_the_changelog():
    from loopmeter.sources.jira import moved_from

    def move(frm, to, **extra):
        return {"created": "2024-03-06T10:00:00.000+0000",
                "items": [{"field": "Key", "fromString": frm, "toString": to, **extra},
                          {"field": "status", "fromString": "To Do", "toString": "Done"}]}

    # OPS-3 -> DEV-7 -> QA-2; Cloud may name the field by id only; a status change is no move
    histories = [move("DEV-7", "QA-2"), {"items": [{"fieldId": "issuekey", "fromString": "OPS-3", "toString": "DEV-7"}]},
                 move("not a key", "QA-2")]
    assert moved_from(histories, "QA-2") == ["DEV-7", "OPS-3"]
    assert moved_from([move("OPS-3", "DEV-7")], "OPS-3") == ["DEV-7"]  # moved back: the other key is the old one
    assert moved_from([{"items": [{"field": "status", "fromString": "OPS-1", "toString": "OPS-2"}]}], "X-1") == []
