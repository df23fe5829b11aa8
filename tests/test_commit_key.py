"""`commits` has no primary key (migration 014_commit_key: its index grew in memory with the
history): an older store upgrades keeping every row, and the loader alone keeps each commit once,
however often a history is read again."""

from __future__ import annotations

import duckdb

import loopmeter
from loopmeter.store import db
from conftest import ALICE, build_demo
from gitrepo import GitRepo
from stores import every_table, rows

# `commits` as migration 001 made it, before 014.
_OLD_COMMITS = """
    create table commits_old (
        repo varchar, sha varchar, parents varchar[],
        author_id varchar, author_time timestamp, author_tz smallint,
        committer_id varchar, committer_time timestamp, committer_tz smallint,
        author_name varchar, author_email varchar, committer_name varchar, committer_email varchar,
        subject varchar, message varchar, trailers struct(key varchar, value varchar)[],
        files integer, added bigint, deleted bigint, unknown_files integer,
        primary key (repo, sha)
    )
"""


def _keys(path) -> list[tuple]:
    return rows(path, "select constraint_type from duckdb_constraints() "
                      "where table_name = 'commits' and constraint_type in ('PRIMARY KEY', 'UNIQUE')")


def _once(path) -> tuple[int, int]:
    """(rows, distinct (repo, sha)) of the commits table."""
    return rows(path, "select count(*), count(distinct (repo, sha)) from commits")[0]


def _make_old(path) -> None:
    """Turn a store into one written before 014: its commits keyed, the migration not recorded."""
    con = duckdb.connect(str(path))
    try:
        con.execute(_OLD_COMMITS)
        con.execute("insert into commits_old select * from commits")
        con.execute("drop table commits")
        con.execute("alter table commits_old rename to commits")
        con.execute("delete from schema_migrations where name = '014_commit_key'")
    finally:
        con.close()


def test_a_store_from_before_the_change_upgrades_and_keeps_every_row(tmp_path, store_path):
    repo = tmp_path / "demo"
    build_demo(repo)
    loopmeter.ingest([repo], store_path=store_path)
    assert _keys(store_path) == []
    before = every_table(store_path)
    order = rows(store_path, "select repo, sha from commits order by rowid")
    _make_old(store_path)
    assert _keys(store_path) == [("PRIMARY KEY",)]
    assert "014_commit_key" not in {r[0] for r in rows(store_path, "select name from schema_migrations")}

    with db.Store.open(store_path) as st:
        assert "014_commit_key" in st.migrations()
    assert _keys(store_path) == []
    assert every_table(store_path) == before
    # In their stored order: a repository's rows stay together for its scans.
    assert rows(store_path, "select repo, sha from commits order by rowid") == order
    assert rows(store_path, "select count(*) from commits where repo is null or sha is null") == [(0,)]
    # The upgraded store goes on ingesting: nothing new, nothing twice.
    assert loopmeter.ingest([repo], store_path=store_path)[0].new_commits == 0
    assert _once(store_path) == (len(order), len(order))


def test_no_commit_is_stored_twice_however_often_its_history_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPMETER_BATCH", "3")  # several batches, each a transaction of its own
    r = GitRepo(tmp_path / "demo")
    build_demo(r.path)
    store = tmp_path / "s.duckdb"
    loopmeter.ingest([r.path], store_path=store)
    first = rows(store, "select sha from commits order by sha")
    assert len(first) > 3 and _once(store) == (len(first), len(first))

    assert loopmeter.ingest([r.path], store_path=store)[0].new_commits == 0  # nothing moved
    r.commit("one more", author=ALICE, date="2024-03-01T10:00:00+00:00")
    assert loopmeter.ingest([r.path], store_path=store)[0].new_commits == 1
    # As after an ingest killed before it finished: no tips recorded, so the whole history is read
    # again and every batch is looked up against what is stored.
    con = duckdb.connect(str(store))
    con.execute("delete from git_tips")
    con.execute("delete from meta where key like 'refs:%'")
    con.close()
    assert loopmeter.ingest([r.path], store_path=store)[0].new_commits == 0
    n = len(first) + 1
    assert _once(store) == (n, n)

    # A set naming the same repository twice, into a store new to it.
    other = tmp_path / "set.duckdb"
    res = loopmeter.ingest([r.path, r.path], store_path=other)
    assert sum(x.new_commits for x in res) == n
    assert _once(other) == (n, n)
    assert rows(other, "select sha from commits order by sha") == rows(store, "select sha from commits order by sha")
