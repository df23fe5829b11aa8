"""A long history's batches (store/db.py `LongRead`): stored under DuckDB's default checkpoint
threshold and a low memory limit, even inside a set that raised the threshold for its small
repositories, with both put back after; a batch that runs out of memory there is stored again
under the store's own limit, and the store holds what an ingest without the fault holds."""

from __future__ import annotations

from contextlib import contextmanager

import duckdb
import pytest

from loopmeter import api, ingestion
from loopmeter.sources import git_repos
from loopmeter.store import db, git_load
from loopmeter.store.db import Store
from gitrepo import GitRepo
from stores import every_table


def _repo(path, n: int) -> GitRepo:
    r = GitRepo(path)
    for i in range(n):
        # A new author every other commit: a batch stored again must keep the actors it brought.
        r.commit(f"change {i}", author=(f"Dev {i // 2}", f"dev{i // 2}@example.com"), date=f"2024-01-{i + 1:02d}T10:00:00+00:00")
    return r


def _shown(setting: str, value: str) -> str:
    """`value` as DuckDB shows `setting` once set (it rounds: '128MB' is '122.0 MiB')."""
    con = duckdb.connect()
    try:
        con.execute(f"set {setting} = '{value}'")
        return con.execute(f"select current_setting('{setting}')").fetchone()[0]
    finally:
        con.close()


def _settings(con) -> tuple[str, str]:
    return con.execute("select current_setting('checkpoint_threshold'), current_setting('memory_limit')").fetchone()


def _set(tmp_path):
    """Two small repositories around a long one (7 commits, batches of 2)."""
    return [_repo(tmp_path / "a", 1).path, _repo(tmp_path / "long", 7).path, _repo(tmp_path / "b", 2).path]


def _new_store(path) -> None:
    with Store.open(path) as s:
        s.set_meta("salt", "one salt, so pseudonyms agree")


@pytest.fixture
def batches(monkeypatch):
    """(repositories, checkpoint threshold, memory limit) of every write of commits."""
    seen = []

    def record(real):
        def write(store, tables, **k):
            seen.append((sorted(set(tables["_batch"]["repo"].to_pylist())), *_settings(store.con)))
            return real(store, tables, **k)
        return write

    monkeypatch.setenv("LOOPMETER_BATCH", "2")
    monkeypatch.setenv("LOOPMETER_READERS", "threads")
    monkeypatch.delenv("LOOPMETER_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(git_load, "store_commits_of_repos", record(git_load.store_commits_of_repos))
    monkeypatch.setattr(ingestion, "store_commits_of_repos", record(ingestion.store_commits_of_repos))
    return seen


def test_a_long_historys_batches_are_stored_under_the_default_threshold_and_a_low_limit(tmp_path, batches):
    _new_store(tmp_path / "s.duckdb")
    api.ingest(_set(tmp_path), store_path=tmp_path / "s.duckdb")
    own = _shown("memory_limit", db.memory_limit())
    small = (_shown("checkpoint_threshold", git_repos.CHECKPOINT_EVERY), own)
    long = (_shown("checkpoint_threshold", db.READ_CHECKPOINT), _shown("memory_limit", db.READ_MEMORY))
    assert small[0] != long[0] and small[1] != long[1]
    # The small repositories keep the set's threshold and the store's limit, before and after.
    assert batches == [(["a"], *small)] + [(["long"], *long)] * 4 + [(["b"], *small)]


def test_the_set_s_threshold_outlives_a_long_history_that_reopened_the_store(tmp_path, batches, monkeypatch):
    # A long enough history reopens the store (a new connection, at DuckDB's defaults): the small
    # repositories after it keep the set's threshold all the same.
    monkeypatch.setattr(ingestion, "REOPEN_AFTER", 1)
    _new_store(tmp_path / "s.duckdb")
    api.ingest(_set(tmp_path), store_path=tmp_path / "s.duckdb")
    assert batches[-1][:2] == (["b"], _shown("checkpoint_threshold", git_repos.CHECKPOINT_EVERY))


def test_the_user_s_memory_limit_is_kept_while_a_long_history_is_read(tmp_path, batches, monkeypatch):
    monkeypatch.setenv("LOOPMETER_MEMORY_LIMIT", "200MB")
    _new_store(tmp_path / "s.duckdb")
    api.ingest([_repo(tmp_path / "long", 5).path], store_path=tmp_path / "s.duckdb")
    assert {b[1:] for b in batches} == {(_shown("checkpoint_threshold", db.READ_CHECKPOINT),
                                         _shown("memory_limit", "200MB"))}


def test_a_batch_short_of_memory_is_stored_again_under_the_stores_limit(tmp_path, batches, monkeypatch):
    paths = _set(tmp_path)
    _new_store(tmp_path / "clean.duckdb")
    api.ingest(paths, store_path=tmp_path / "clean.duckdb")
    batches.clear()
    real, writes = git_load.transaction, []

    @contextmanager
    def short(con, **tables):  # the second batch of the long history runs out of memory half-way
        with real(con, **tables) as c:
            writes.extend(["_batch"] if "_batch" in tables else [])
            if len(writes) == 3 and "_batch" in tables:
                c.execute("insert into commits select * from _batch")
                raise duckdb.OutOfMemoryException("could not allocate")
            yield c

    monkeypatch.setattr(git_load, "transaction", short)
    _new_store(tmp_path / "s.duckdb")
    api.ingest(paths, store_path=tmp_path / "s.duckdb")
    own = _shown("memory_limit", db.memory_limit())
    low = _shown("memory_limit", db.READ_MEMORY)
    assert [b[2] for b in batches if b[0] == ["long"]] == [low, low, own, own, own]  # that batch again, and the rest
    assert every_table(tmp_path / "s.duckdb") == every_table(tmp_path / "clean.duckdb")


class _CommitFails:
    """A connection whose commit fails as DuckDB 1.5's does when the checkpoint it runs is short of
    memory: a TransactionException, the transaction already rolled back (so a rollback fails too)."""

    def __init__(self):
        self.calls = []

    def execute(self, sql, *a):
        self.calls.append(sql)
        if sql == "commit":
            raise duckdb.TransactionException("TransactionContext Error: Failed to commit: failed to pin block of "
                                              "size 256.0 KiB (64.0 MiB/64.0 MiB used)")
        if sql == "rollback":
            raise duckdb.TransactionException("TransactionContext Error: cannot rollback - no transaction is active")


def test_a_commit_short_of_memory_is_reported_as_such_and_counts_as_out_of_memory():
    con = _CommitFails()
    with pytest.raises(duckdb.TransactionException, match="failed to pin block") as e:
        with db.transaction(con):
            con.execute("insert into t values (1)")
    assert con.calls == ["begin transaction", "insert into t values (1)", "commit", "rollback"]
    assert db.out_of_memory(e.value) and db.out_of_memory(duckdb.OutOfMemoryException("could not allocate"))
    assert not db.out_of_memory(duckdb.TransactionException("Failed to commit: constraint violated"))
    assert not db.out_of_memory(duckdb.CatalogException("no table t"))
