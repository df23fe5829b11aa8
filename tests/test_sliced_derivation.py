"""Change derivation in slices: a history derived a few changes at a time (rows built and stored
slice by slice, through the staging files beside the store) gives exactly the rows of one derived
in one piece, in a reader process (no store) and in the store, in full and incrementally."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopmeter import api, ingestion
from loopmeter.attribution import Matcher
from loopmeter.store import changes
from loopmeter.store.db import Store
from conftest import ALICE, BOB, build_demo
from gitrepo import GitRepo
from stores import every_table, rows

CLAUDE = "Co-authored-by: Claude <noreply@anthropic.com>"


def _extend(r: GitRepo, day: int) -> None:
    """More shapes after the demo history: a merge from an agent's branch, one that brings nothing
    (its branch had landed), a GitLab merge request, two commits authored at the same second (the
    change's author is the first taken), reverts by subject and by pull request."""
    d = f"2024-02-{day:02d}T10:00:00+00:00"
    r.checkout(f"claude/fix-{day}", new=True)
    r.commit(f"agent fix {day}\n\n{CLAUDE}", author=BOB, date=d)
    r.commit(f"agent fix {day}, same second", author=ALICE, date=d)
    r.checkout("main")
    r.merge(f"claude/fix-{day}", f"Merge branch 'claude/fix-{day}'", date=f"2024-02-{day:02d}T11:00:00+00:00")
    r.merge(f"claude/fix-{day}", f"Merge pull request #{day} from x/claude/fix-{day}",
            date=f"2024-02-{day:02d}T11:30:00+00:00")  # already landed: no change
    r.land_branch(f"mr-{day}", f"mr work {day}", f"Merge branch 'mr-{day}' into 'main'\n\nSee merge request g/p!{day}",
                  author=ALICE, work_date=d, merge_date=f"2024-02-{day:02d}T12:00:00+00:00")
    r.commit(f"tidy {day}", author=ALICE, date=f"2024-02-{day:02d}T12:30:00+00:00")
    r.commit(f"Revert \"tidy {day}\"", author=BOB, date=f"2024-02-{day:02d}T13:00:00+00:00")
    r.commit("Undo\n\nReverts acme/demo#1", author=BOB, date=f"2024-02-{day:02d}T14:00:00+00:00")
    r.tag(f"v{day}")


def _demo_store(tmp_path: Path) -> tuple[Path, dict]:
    """A store of the demo repository, and every table of it as ingested."""
    r = GitRepo(tmp_path / "demo")
    build_demo(r.path)
    store = tmp_path / "lm.duckdb"
    _ingest(r.path, store)
    return store, every_table(store)


def _ingest(repo: Path, store: Path) -> None:
    with Store.open(store) as s:
        s.set_meta("salt", "one salt, so pseudonyms agree")
    api.ingest([repo], store_path=store)


def test_a_history_derived_in_slices_of_one_change_gives_the_rows_of_one_piece(tmp_path, monkeypatch):
    r = GitRepo(tmp_path / "demo")
    build_demo(r.path)
    _extend(r, 3)
    whole, sliced = tmp_path / "whole.duckdb", tmp_path / "sliced.duckdb"
    _ingest(r.path, whole)
    n = rows(whole, "select count(*) from items where kind = 'change'")[0][0]
    assert n >= 12
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "1")
    _ingest(r.path, sliced)  # a new repository: derived by a reader, without the store
    assert every_table(sliced) == every_table(whole)

    # The same history derived again in the store, a change per slice through the staging file.
    m = Matcher.load()
    staged, stage = [], changes._stage
    monkeypatch.setattr(changes, "_stage", lambda *a: staged.append(1) or stage(*a))
    with Store.open(sliced) as s:
        stats = changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m), incremental=False)
    assert stats["changes"] == n and stats["reverts"] >= 3 and staged == [1]
    assert every_table(sliced) == every_table(whole)
    assert not Path(f"{sliced}.derive").exists()
    # Inside a held group (a set's writer): the slices go into the group's own transaction.
    monkeypatch.setattr(changes, "_stage", lambda *a: pytest.fail("a held group has no staging file"))
    with Store.open(sliced) as s:
        s.hold()
        changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m), incremental=False)
        s.release()
    assert every_table(sliced) == every_table(whole)
    monkeypatch.setattr(changes, "_stage", lambda *a: staged.append(1) or stage(*a))

    # New commits: derived incrementally in slices, the rows of the whole store's derivation.
    _extend(r, 4)
    seen = []
    real = ingestion.derive_changes
    monkeypatch.setattr(ingestion, "derive_changes", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    api.ingest([r.path], store_path=sliced)
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "1000")
    api.ingest([r.path], store_path=whole)
    assert [s.get("incremental") for s in seen] == [False, False]  # a revert names a new change: in full
    assert every_table(sliced) == every_table(whole)
    r.commit("a plain fix", author=ALICE, date="2024-03-01T10:00:00+00:00")
    r.commit("another plain fix", author=BOB, date="2024-03-02T10:00:00+00:00")
    r.commit("a third plain fix", author=ALICE, date="2024-03-03T10:00:00+00:00")
    api.ingest([r.path], store_path=whole)
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "1")
    # The commits stored, derived after the ingest's group (as a long history is): in the store,
    # appended to the changes derived before, through the staging file.
    monkeypatch.setattr(ingestion, "derive_changes", lambda *a, **k: {})
    api.ingest([r.path], store_path=sliced)
    staged.clear()
    with Store.open(sliced) as s:
        stats = changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m))
    assert [s.get("incremental") for s in seen[2:]] == [True] and stats["incremental"] and staged == [1]
    a, b = every_table(sliced), every_table(whole)
    # `refs:REPO` keeps what the ingest's own derivation counted (here it derived nothing).
    for t in (a, b):
        t["meta"] = [kv for kv in t["meta"] if kv[0] != "refs:demo"]
    assert a == b


def test_a_derivation_that_fails_half_way_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    store, before = _demo_store(tmp_path)
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "2")
    real, calls = changes._insert_changes, []

    def fail_on_the_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(changes, "_insert_changes", fail_on_the_third)
    m = Matcher.load()
    with Store.open(store) as s, pytest.raises(OSError, match="disk full"):
        changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m), incremental=False)
    assert every_table(store) == before
    assert not Path(f"{store}.derive").exists()


def test_the_slice_size_is_checked(monkeypatch):
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "0")
    with pytest.raises(Exception, match="LOOPMETER_DERIVE_SLICE: must be at least 1"):
        changes.slice_size()
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "many")
    with pytest.raises(Exception, match="not a whole number"):
        changes.slice_size()


def test_a_derivation_short_of_memory_runs_again_under_the_stores_limit(tmp_path, monkeypatch):
    import duckdb

    store, before = _demo_store(tmp_path)
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "2")
    monkeypatch.setenv("LOOPMETER_DERIVE_MEMORY", "100MB")
    real, inserts = changes._insert_changes, []

    def short(con, *a, **k):  # DuckDB runs out of memory half-way through staging, once
        inserts.append(con.execute("select current_setting('memory_limit')").fetchone()[0])
        if len(inserts) == 2:
            raise duckdb.OutOfMemoryException("could not allocate")
        return real(con, *a, **k)

    monkeypatch.setattr(changes, "_insert_changes", short)
    m = Matcher.load()
    with Store.open(store) as s:
        own = s.con.execute("select current_setting('memory_limit')").fetchone()[0]
        changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m), incremental=False)
        after = s.con.execute("select current_setting('memory_limit')").fetchone()[0]
    assert inserts[0] == inserts[1] != own and set(inserts[2:]) == {own} == {after}  # 100MB, then the store's
    assert every_table(store) == before and not Path(f"{store}.derive").exists()
    monkeypatch.setenv("LOOPMETER_DERIVE_MEMORY", "lots")
    with Store.open(store) as s, pytest.raises(Exception, match="LOOPMETER_DERIVE_MEMORY: 'lots'"):
        changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m), incremental=False)


def test_a_history_read_lazily_column_by_column_gives_the_rows_of_one_read_at_once(tmp_path, monkeypatch):
    """Past `_EAGER` commits the graph is read one value at a time (`_Times`, `_Parents`) and the
    other columns slice by slice (`_Some`): the same rows, times included (epoch microseconds)."""
    r = GitRepo(tmp_path / "demo")
    build_demo(r.path)
    _extend(r, 3)
    eager, lazy = tmp_path / "eager.duckdb", tmp_path / "lazy.duckdb"
    _ingest(r.path, eager)
    monkeypatch.setattr(changes, "_EAGER", 0)
    _ingest(r.path, lazy)
    assert rows(lazy, "select count(*) from items where kind = 'change' and started_at is not null")[0][0] >= 5
    assert every_table(lazy) == every_table(eager)


@pytest.mark.parametrize("moved", [False, True])
def test_a_long_history_read_from_the_store_by_row_id_gives_the_rows_of_one_scan(tmp_path, monkeypatch, moved):
    """Derived from the store past `_EAGER` commits, a slice's columns and the merges' messages are
    read by row id; should the rows found there not be those commits (`moved`: row ids shifted by
    one), they are read again by sha. Either way the rows of a short history's one scan."""
    store, before = _demo_store(tmp_path)
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "2")
    monkeypatch.setattr(changes, "_EAGER", 0)
    by_sha = []

    class _Counted(str):
        def format(self, *a, **k):
            by_sha.append(k)
            return str.format(self, *a, **k)

    monkeypatch.setattr(changes, "_SOME", _Counted(changes._SOME))
    if moved:
        monkeypatch.setattr(changes, "_BY_ROWID", changes._BY_ROWID.replace("select r from", "select r + 1 from"))
    m = Matcher.load()
    with Store.open(store) as s:
        changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m), incremental=False)
    assert every_table(store) == before
    assert (len(by_sha) > 0) == moved


def test_a_move_short_of_memory_runs_again_under_the_derivations_limit(tmp_path, monkeypatch):
    import duckdb

    store, before = _demo_store(tmp_path)
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "2")
    real, limits, files = changes.store_changes, [], []

    def short(s, *a, staged=None, **k):  # the move from the staging files runs out of memory, once
        limits.append(s.con.execute("select current_setting('memory_limit')").fetchone()[0])
        files.append(sorted(p.name for p in staged.iterdir()))
        if len(limits) == 1:
            raise duckdb.OutOfMemoryException("could not allocate")
        return real(s, *a, staged=staged, **k)

    monkeypatch.setattr(changes, "store_changes", short)
    m = Matcher.load()
    with Store.open(store) as s:
        s.con.execute(f"set memory_limit = '{changes.MOVE_MEMORY}'")
        move = s.con.execute("select current_setting('memory_limit')").fetchone()[0]
        s.con.execute("set memory_limit = '160MB'")
        derive = s.con.execute("select current_setting('memory_limit')").fetchone()[0]
        changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m), incremental=False)
    # Staged as Parquet (no DuckDB file to checkpoint), moved under MOVE_MEMORY, then again under
    # the derivation's limit (not the whole derivation again under the store's); the rows are
    # those derived before.
    assert files[0] == files[1] == ["attributions.parquet", "events.parquet", "items.parquet", "links.parquet"]
    assert limits == [move, derive] and move != derive
    assert every_table(store) == before and not Path(f"{store}.derive").exists()


def test_a_staging_leftover_of_a_crash_or_an_older_loopmeter_is_dropped(tmp_path, monkeypatch):
    store, before = _demo_store(tmp_path)
    monkeypatch.setenv("LOOPMETER_DERIVE_SLICE", "2")
    m = Matcher.load()
    # An older loopmeter staged into a DuckDB file (and its log); a crash leaves a directory.
    for leftover in ("file", "directory"):
        stage = Path(f"{store}.derive")
        if leftover == "file":
            stage.write_bytes(b"not parquet")
            Path(f"{stage}.wal").write_bytes(b"x")
        else:
            stage.mkdir()
            (stage / "items.parquet").write_bytes(b"half a file")
        with Store.open(store) as s:
            changes.derive_changes(s, "demo", m, rules=ingestion.derivation_rules(m), incremental=False)
        assert every_table(store) == before
        assert not stage.exists() and not Path(f"{stage}.wal").exists()
