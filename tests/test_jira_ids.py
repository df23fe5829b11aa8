"""Jira's numeric issue id (`id`, stable across moves; the key is not) as the item's `jira_id`, and
the site a project was read from.

Against the real FixtureServer replaying tests/fixtures/jira/ (OPS-1 id 10001, OPS-2 id 10002, OPS-3
id 10003, open) and tests/fixtures/jira-moves/ (OPS-3 moved to DEV-7, same id). Hand-worked: after
OPS-3 leaves, the stale keys looked up are counted moved when Jira answers their stored id under
another key, deleted when it answers neither key nor id; a key from a store written before ids were
kept is settled by the answers no stored id claims, asked alone when several such keys could share
them (two stale keys of one issue are two moves; a count of answers would say one moved, one deleted).
"""

from __future__ import annotations

import copy
import json

import pytest
from apiserver import FixtureServer
from stores import rows
from test_jira import SEARCH, TOKEN, cli, dump, searches
from test_jira_moves import (
    AFTER,
    MOVED,
    after_the_move,
    fixture,
    ingest,
    jira_items,
    tickets,
)

from loopmeter.store.db import Store


@pytest.fixture(autouse=True)
def token_env(monkeypatch):
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    monkeypatch.delenv("JIRA_EMAIL", raising=False)


def serve():
    srv = FixtureServer("jira", token=TOKEN, paging="token", etags=False)
    srv.data["/rest/api/2/project/DEV"] = fixture("dev-project.json")
    return srv


#: Every column of items but attrs.
COLUMNS = "item_id, source, kind, repo, team, title, created_at, started_at, done_at, state, size_lines, author_id"


def jira_ids(store) -> dict[str, str | None]:
    return dict(rows(store, "select item_id, json_extract_string(attrs, '$.jira_id') from items "
                            "where source = 'jira' order by 1"))


def strip_ids(store) -> None:
    """Make the store what a version before this one wrote: the same rows, no `jira_id` in attrs."""
    with Store.open(store) as s:
        s.con.execute("""update items set attrs = json_merge_patch(attrs, '{"jira_id": null}') where source = 'jira'""")


def lookup(srv, keys: list[str], found: list[tuple[str, str]]) -> None:
    """Jira's answer to `key in (keys)`: the issues as (current key, id), only id and key (fields=key)."""
    jql = "key in (" + ", ".join(f'"{k}"' for k in keys) + ")"
    srv.answer(SEARCH, {"issues": [{"id": i, "key": k, "fields": {}} for k, i in found]},
               jql="^" + jql.replace("(", r"\(").replace(")", r"\)") + "$")


def test_the_numeric_id_is_stored_with_every_issue_read(tmp_path):
    store = tmp_path / "s.duckdb"
    with serve() as srv:
        ingest(srv, store)
    assert jira_ids(store) == {"jira:OPS-1": "10001", "jira:OPS-2": "10002", "jira:OPS-3": "10003"}


def test_an_old_store_without_ids_gets_them_on_the_next_read_of_each_issue_and_nothing_else_changes(tmp_path):
    store, fresh = tmp_path / "s.duckdb", tmp_path / "fresh.duckdb"
    with serve() as srv:
        ingest(srv, store)
        ingest(srv, fresh)
        strip_ids(store)
        assert set(jira_ids(store).values()) == {None}
        before = dump(store)
        items = rows(store, f"select {COLUMNS} from items order by 1")
        after_the_move(srv)  # the next listing: only OPS-1 (unchanged: its `updated` is the stored one)
        lookup(srv, ["OPS-3"], [("OPS-3", "10003")])  # OPS-3 still there, not updated
        n = len(srv.requests())
        r = ingest(srv, store)
        assert [x.query["jql"][:7] for x in searches(srv, n)] == ["project", "key in "]
    # OPS-1 was read again (unchanged otherwise) to fill its id; OPS-2 and OPS-3 were not read
    assert (r.items, r.removed) == ({"issues": 1}, {})
    assert jira_ids(store) == {"jira:OPS-1": "10001", "jira:OPS-2": None, "jira:OPS-3": None}
    after = dump(store)
    for table in ("events", "links", "actors"):
        assert after[table] == before[table]
    assert rows(store, f"select {COLUMNS} from items order by 1") == items  # all but attrs
    # ...and OPS-1's attrs are now what a store written with ids has
    assert rows(store, "select attrs from items where item_id = 'jira:OPS-1'") == \
        rows(fresh, "select attrs from items where item_id = 'jira:OPS-1'")


def test_two_stale_keys_of_one_issue_in_an_old_store_are_two_moves_not_a_move_and_a_deletion(tmp_path):
    store = tmp_path / "s.duckdb"
    with serve() as srv:
        ingest(srv, store)
        strip_ids(store)
        # An earlier version could hold one issue under two keys of a project: OPS-3, and OPS-4 when
        # it came back from another project without the changelog naming OPS-3 (the same rows).
        with Store.open(store) as s:
            s.con.execute("insert into items select * replace ('jira:OPS-4' as item_id) from items "
                          "where item_id = 'jira:OPS-3'")
            s.con.execute("insert into api_item_versions select * replace ('jira:OPS-4' as item_id) "
                          "from api_item_versions where item_id = 'jira:OPS-3'")
        after_the_move(srv)
        # Now DEV-7 (id 10003): Jira answers it once for both of its old keys, then for each alone
        lookup(srv, ["OPS-3", "OPS-4"], [("DEV-7", "10003")])
        lookup(srv, ["OPS-3"], [("DEV-7", "10003")])
        lookup(srv, ["OPS-4"], [("DEV-7", "10003")])
        n = len(srv.requests())
        r = ingest(srv, store)
        asked = [x.query["jql"] for x in searches(srv, n)][1:]
    assert asked == ['key in ("OPS-3", "OPS-4")', 'key in ("OPS-3")', 'key in ("OPS-4")']
    assert r.removed == {"moved": 2}
    assert sorted(jira_items(store)) == ["jira:OPS-1", "jira:OPS-2"]


def test_with_ids_each_stale_key_is_moved_or_deleted_by_its_own_id_without_more_requests(tmp_path):
    store = tmp_path / "s.duckdb"
    with serve() as srv:
        listing = srv.data[SEARCH]["issues"]
        ops3 = next(e for e in listing if e["key"] == "OPS-3")
        more = []
        for n in (4, 5, 6):
            e = copy.deepcopy(ops3)
            e.update(key=f"OPS-{n}", id=f"1000{n}")
            more.append(e)
        srv.data[SEARCH] = {"issues": [*listing, *more]}
        ingest(srv, store)
        after_the_move(srv)
        # OPS-3 deleted, OPS-4 moved to DEV-8, OPS-5 untouched, OPS-6 moved to DEV-9. A count of the
        # answers under keys not asked (2) would also say 2 moved here; the ids say which ones.
        keys = ["OPS-3", "OPS-4", "OPS-5", "OPS-6"]
        lookup(srv, keys, [("DEV-8", "10004"), ("OPS-5", "10005"), ("DEV-9", "10006")])
        n = len(srv.requests())
        r = ingest(srv, store)
        # the listing and one look-up (in two pages of the fixture server's two issues)
        assert len({x.query["jql"] for x in searches(srv, n)}) == 2
    assert r.removed == {"moved": 2, "deleted": 1}
    assert sorted(jira_items(store)) == ["jira:OPS-1", "jira:OPS-2", "jira:OPS-5"]


def _dev_without_key_change() -> dict:
    """DEV-7 whose changelog does not show the move (the "Key" item gone, as when history is pruned)."""
    dev = copy.deepcopy(fixture("dev-search.json"))
    for h in dev["issues"][0]["changelog"]["histories"]:
        h["items"] = [i for i in h["items"] if i["field"] != "Key"]
    return dev


def test_the_same_id_under_a_new_key_in_a_project_read_later_replaces_the_old_item(tmp_path):
    store = tmp_path / "s.duckdb"
    with serve() as srv:
        ingest(srv, store)
        after_the_move(srv)
        srv.answer(SEARCH, _dev_without_key_change(), jql=r'^project = "DEV"')
        r = ingest(srv, store, "DEV")
    assert (r.items, r.removed) == ({"issues": 1}, {"moved": 1})
    assert jira_items(store) == MOVED
    assert jira_ids(store)["jira:DEV-7"] == "10003"
    assert rows(store, "select count(*) from events where item_id = 'jira:OPS-3'") == [(0,)]
    assert tickets(store) == AFTER  # counted once


def test_an_issue_of_another_site_with_the_same_numeric_id_replaces_nothing(tmp_path):
    store = tmp_path / "s.duckdb"
    with serve() as a:
        ingest(a, store)
    with serve() as b:  # another Jira (another port of 127.0.0.1): its DEV-7 is also id 10003
        b.answer(SEARCH, _dev_without_key_change(), jql=r'^project = "DEV"')
        r = ingest(b, store, "DEV")
    assert r.removed == {}
    assert sorted(jira_items(store)) == ["jira:DEV-7", "jira:OPS-1", "jira:OPS-2", "jira:OPS-3"]


def test_a_project_key_already_stored_from_another_site_is_refused_in_one_line_and_nothing_is_lost(tmp_path):
    store = tmp_path / "s.duckdb"
    with serve() as a, serve() as b:
        assert cli("--jira", "OPS", "--url", a.url, "--store", store).returncode == 0
        before = dump(store)
        r = cli("--jira", "OPS", "--url", b.url, "--store", store)
        assert b.requests() == []  # refused before asking the second site anything
        # the first site again (written differently) is the same site
        again = cli("--jira", "OPS", "--url", a.url + "/", "--store", store)
    host_a, host_b = a.url.split("//")[1], b.url.split("//")[1]
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert host_a in lines[0] and host_b in lines[0] and "OPS" in lines[0]
    assert TOKEN not in r.stderr + r.stdout
    assert dump(store) == before
    assert again.returncode == 0, again.stderr


def test_a_store_from_before_sites_were_recorded_is_claimed_by_the_first_site_read_again(tmp_path):
    store = tmp_path / "s.duckdb"
    with serve() as a, serve() as b:
        ingest(a, store)
        with Store.open(store) as s:
            s.con.execute("delete from meta where starts_with(key, 'jira_site:')")
        ingest(a, store)
        with Store.open(store, create=False, read_only=True) as s:
            assert s.meta("jira_site:OPS") == a.url.split("//")[1]
        r = cli("--jira", "OPS", "--url", b.url, "--store", store)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_the_site_is_the_host_port_and_context_path():
    from loopmeter.sources.jira import site

    assert site("https://ACME.atlassian.net/") == "acme.atlassian.net"
    assert site("https://corp.example:8443/jira/") == "corp.example:8443/jira"
    assert json.dumps(site("http://127.0.0.1:5000")) == '"127.0.0.1:5000"'
    # the scheme's own port is the same site as no port
    assert site("https://acme.atlassian.net:443") == site("https://acme.atlassian.net") == "acme.atlassian.net"
    assert site("http://corp.example:80/jira") == "corp.example/jira"
    assert site("http://corp.example:443/jira") == "corp.example:443/jira"


@pytest.mark.parametrize(("answer", "removed"), [([("DEV-7", "10003")], {"moved": 1}), ([], {"deleted": 1})])
def test_one_stale_key_of_an_old_store_is_settled_by_the_batch_answer_alone(tmp_path, answer, removed):
    store = tmp_path / "s.duckdb"
    with serve() as srv:
        ingest(srv, store)
        strip_ids(store)
        after_the_move(srv)
        lookup(srv, ["OPS-3"], answer)
        n = len(srv.requests())
        r = ingest(srv, store)
        assert [x.query["jql"] for x in searches(srv, n)][1:] == ['key in ("OPS-3")']  # no second look-up
    assert r.removed == removed
    assert sorted(jira_items(store)) == ["jira:OPS-1", "jira:OPS-2"]
