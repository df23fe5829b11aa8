"""The store file: named migrations applied once, upgrades in place, a stable pseudonym salt, refusals."""

from __future__ import annotations

import duckdb
import pytest

import loopmeter
from loopmeter.errors import StoreError
from loopmeter.store import db
from loopmeter.store.migrations import MIGRATIONS, STORE_FORMAT

SHIPPED = [name for name, _ in MIGRATIONS]

from conftest import ALICE, build_demo
from gitrepo import GitRepo


def applied(path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select name, applied_at from schema_migrations order by name").fetchall()
    finally:
        con.close()


@pytest.fixture
def extra_migration(monkeypatch):
    """Adds a migration 002 (as a later loopmeter would) and counts how often it runs."""
    calls: list[str] = []

    def m002(con):
        calls.append("002")
        con.execute("alter table commits add column review_state varchar default 'none'")
        con.execute("create table reviews (item_id varchar, reviewer_id varchar, ts timestamp)")

    monkeypatch.setattr(db, "MIGRATIONS", [*MIGRATIONS, ("999_reviews", m002)])
    return calls


def test_a_new_store_records_each_migration_by_name(store_path):
    with db.Store.open(store_path) as st:
        names = [name for name, _ in MIGRATIONS]
        assert st.migrations() == names and names[0] == "001_canonical_tables"
        assert names == sorted(names) and len(set(names)) == len(names)
        assert st.meta("store_format") == str(STORE_FORMAT)
        assert len(st.meta("salt")) == 32


def test_reopening_a_store_applies_nothing_twice(store_path, extra_migration):
    with db.Store.open(store_path):
        pass
    first = applied(store_path)
    for _ in range(3):
        with db.Store.open(store_path) as st:
            assert st.migrations() == [*SHIPPED, "999_reviews"]
    assert applied(store_path) == first  # same rows, same applied_at
    assert extra_migration == ["002"]


def test_an_existing_store_gets_later_migrations_and_keeps_its_data(tmp_path, store_path, monkeypatch):
    repo = tmp_path / "demo"
    build_demo(repo)
    loopmeter.ingest([repo], store_path=store_path)
    assert [n for n, _ in applied(store_path)] == SHIPPED
    with db.Store.open(store_path) as st:
        salt = st.meta("salt")
        before = st.con.execute("select sha, author_id, added from commits order by sha").fetchall()

    calls: list[str] = []

    def m002(con):
        calls.append("002")
        con.execute("alter table commits add column review_state varchar default 'none'")

    monkeypatch.setattr(db, "MIGRATIONS", [*MIGRATIONS, ("999_reviews", m002)])
    with db.Store.open(store_path) as st:
        assert st.migrations() == [*SHIPPED, "999_reviews"]
        assert st.meta("salt") == salt
        assert st.con.execute("select sha, author_id, added from commits order by sha").fetchall() == before
        assert st.con.execute("select distinct review_state from commits").fetchall() == [("none",)]
    # The upgraded store goes on ingesting: nothing new, nothing duplicated.
    assert loopmeter.ingest([repo], store_path=store_path)[0].new_commits == 0
    assert calls == ["002"]


def test_a_failing_migration_is_rolled_back_and_not_recorded(store_path, monkeypatch):
    with db.Store.open(store_path):
        pass

    def broken(con):
        con.execute("create table half_done (x integer)")
        con.execute("select * from no_such_table")

    monkeypatch.setattr(db, "MIGRATIONS", [*MIGRATIONS, ("002_broken", broken)])
    with pytest.raises(StoreError, match=str(store_path.name)):
        db.Store.open(store_path)
    con = duckdb.connect(str(store_path), read_only=True)
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    names = [r[0] for r in con.execute("select name from schema_migrations").fetchall()]
    con.close()
    assert "half_done" not in tables
    assert names == SHIPPED


def test_a_read_only_open_does_not_upgrade(store_path, monkeypatch):
    with db.Store.open(store_path):
        pass
    calls: list[str] = []
    monkeypatch.setattr(db, "MIGRATIONS", [*MIGRATIONS, ("999_reviews", lambda con: calls.append("002"))])
    with pytest.raises(StoreError, match="needs an upgrade"):
        db.Store.open(store_path, read_only=True)
    assert calls == [] and [n for n, _ in applied(store_path)] == SHIPPED


def test_the_pseudonym_salt_is_stable_across_opens_and_differs_between_stores(tmp_path, store_path):
    r = GitRepo(tmp_path / "r")
    r.commit("one", author=ALICE, date="2024-01-01T10:00:00+00:00")
    loopmeter.ingest([r.path], store_path=store_path)
    with db.Store.open(store_path) as st:
        salt = st.meta("salt")
        alice = st.con.execute("select author_id from commits").fetchone()[0]
    r.commit("two", author=ALICE, date="2024-01-02T10:00:00+00:00")
    loopmeter.ingest([r.path], store_path=store_path)
    with db.Store.open(store_path) as st:
        assert st.meta("salt") == salt
        assert st.con.execute("select distinct author_id from commits").fetchall() == [(alice,)]
        assert st.con.execute("select count(*) from actors").fetchone()[0] == 1
    other = tmp_path / "other.duckdb"
    loopmeter.ingest([r.path], store_path=other)
    with db.Store.open(other) as st:
        assert st.meta("salt") != salt
        assert st.con.execute("select distinct author_id from commits").fetchall() != [(alice,)]


def test_a_missing_store_is_not_created_by_a_report(tmp_path):
    path = tmp_path / "nowhere" / "lm.duckdb"
    with pytest.raises(StoreError, match="no store here"):
        db.Store.open(path, create=False)
    assert not path.exists() and not path.parent.exists()


def test_a_store_from_a_newer_loopmeter_is_refused_untouched(store_path):
    with db.Store.open(store_path) as st:
        st.set_meta("store_format", str(STORE_FORMAT + 1))
    before = store_path.read_bytes()
    with pytest.raises(StoreError, match=f"newer loopmeter \\(format {STORE_FORMAT + 1}"):
        db.Store.open(store_path)
    assert store_path.read_bytes() == before


def test_a_duckdb_file_of_something_else_is_refused_untouched(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table sales (x integer); insert into sales values (1), (2)")
    con.close()
    with pytest.raises(StoreError, match="not a loopmeter store"):
        db.Store.open(path)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("select table_name from information_schema.tables").fetchall() == [("sales",)]
    assert con.execute("select sum(x) from sales").fetchone() == (3,)
    con.close()


def test_a_store_another_process_holds_is_named_as_in_use_not_unreadable(tmp_path, store_path):
    import subprocess
    import sys

    db.Store.open(store_path).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(store_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError) as e:
            db.Store.open(store_path)
        msg = str(e.value)
        assert "in use by another process" in msg and f"PID {holder.pid}" in msg and "not a readable" not in msg
        assert "\n" not in msg
    finally:
        holder.kill()
        holder.wait()


def test_a_directory_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="is a directory"):
        db.Store.open(tmp_path)


def test_shed_puts_back_the_limit_in_force_on_this_stores_connection(store_path):
    # A step's lowered limit is kept with the store (db.lowered_memory), not by connection id: a
    # reopened store's new connection runs at the store's own limit, and shedding keeps it there.
    def limit(st):
        return st.con.execute("select current_setting('memory_limit')").fetchone()[0]

    with db.Store.open(store_path) as st:
        own = limit(st)
        with db.lowered_memory(st, "100MB", setting="TEST_LIMIT"):
            low = limit(st)
            db.shed(st)
            assert limit(st) == low != own
            st.reopen()
            assert limit(st) == own
            db.shed(st)
            assert limit(st) == own
        assert limit(st) == own and st.lowered is None
        with pytest.raises(Exception, match="TEST_LIMIT: 'lots' is not a memory size"):
            with db.lowered_memory(st, "lots", setting="TEST_LIMIT"):
                pass
        assert limit(st) == own


def test_a_write_in_less_memory_runs_under_that_limit_and_again_under_the_one_before_when_short(store_path,
                                                                                              monkeypatch):
    monkeypatch.delenv("LOOPMETER_MEMORY_LIMIT", raising=False)

    def limit(st):
        return st.con.execute("select current_setting('memory_limit')").fetchone()[0]

    with db.Store.open(store_path) as st:
        own = limit(st)
        st.con.execute("set memory_limit = '50MB'")
        low = limit(st)
        st.con.execute(f"set memory_limit = '{own}'")
        seen = []

        def write(fail: int, key: str = "k"):
            def run():
                db.shed(st)  # keeps the limit in force
                seen.append(limit(st))
                with db.transaction(st.con) as con:
                    con.execute("insert or replace into meta values (? || ?, 'v')", [key, len(seen)])
                    if len(seen) <= fail:
                        raise duckdb.OutOfMemoryException("could not allocate")
                return len(seen)
            return run

        assert db.in_less_memory(st, "50MB", write(0)) == 1 and seen == [low] and limit(st) == own
        seen.clear()
        # Short of memory: rolled back, then again under the limit in force before.
        assert db.in_less_memory(st, "50MB", write(1, "short")) == 2 and seen == [low, own] and limit(st) == own
        assert st.meta("short1") is None and st.meta("short2") == "v"
        seen.clear()
        with pytest.raises(duckdb.OutOfMemoryException):
            db.in_less_memory(st, "50MB", write(2))
        assert seen == [low, own] and limit(st) == own
        # Inside a held group, or with the user's limit set, the write runs as it is.
        seen.clear()
        st.hold()
        db.in_less_memory(st, "50MB", write(0))
        st.release()
        monkeypatch.setenv("LOOPMETER_MEMORY_LIMIT", "200MB")
        st.con.execute("set memory_limit = '200MB'")
        user = limit(st)
        db.in_less_memory(st, "50MB", write(0))
        assert seen == [own, user]
