"""One long history read by several reader processes (ingest_reader.py) stores exactly the rows of
one `git log` read in-process: every table, row for row, on a repository with merges, renames,
binary files, a .mailmap, one person under two spellings, and blobs missing from the object store."""

from __future__ import annotations

import os
import subprocess

import pytest

from loopmeter import api, ingest_reader
from loopmeter.sources import git as gitsrc
from loopmeter.store.db import Store

from gitrepo import GitRepo
from stores import every_table


def _day(i: int) -> str:
    return f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}T10:00:00+00:00"


def _build(path) -> tuple[GitRepo, list[str]]:
    """35 commits: a main line, a topic branch merged with --no-ff, a rename with an edit, a binary
    file, a .mailmap, Ann under two spellings (the later one first in git's order), a Co-authored-by
    trailer; returns the repository and the blobs a test may delete (loose objects)."""
    r = GitRepo(path)
    ann, ann2 = ("Ann", "ann@example.com"), ("Ann Smith", "ANN@example.com")
    r.commit("start", author=ann, date=_day(0),
             files={".mailmap": "Bo Canonical <bo@example.com>\nBo Canonical <bo@example.com> <bo@old.example.com>\n",
                    "src/core.py": "".join(f"line {i}\n" for i in range(40))})
    n = 1
    for i in range(8):
        r.commit(f"main {i}", author=ann if i % 3 else ann2, date=_day(n))
        n += 1
    r.git("mv", "src/core.py", "src/engine.py")
    r.commit("rename core to engine", author=("Bo", "bo@old.example.com"), date=_day(n),
             files={"src/engine.py": "".join(f"line {i}\n" for i in range(41))})
    n += 1
    r.commit("a logo", author=ann, date=_day(n), files={"logo.png": bytes(range(256)) * 4})
    n += 1
    lost = []
    r.checkout("topic", new=True)
    for i in range(7):
        r.commit(f"topic {i}\n\nCo-authored-by: Claude <noreply@anthropic.com>", author=("Cy", "cy@example.com"),
                 date=_day(n), files={"topic.txt": "".join(f"t{j}\n" for j in range(i + 1))})
        if i in (2, 5):
            lost.append(r.git("rev-parse", "HEAD:topic.txt"))
        n += 1
    r.checkout("main")
    for i in range(4):
        r.commit(f"meanwhile {i}", author=ann2, date=_day(n))
        n += 1
    r.merge("topic", "Merge branch 'topic'", date=_day(n))
    n += 1
    r.commit("logo again", author=ann, date=_day(n), files={"logo.png": bytes(range(255, -1, -1)) * 4})
    n += 1
    for i in range(11):
        r.commit(f"late {i}", author=ann if i % 2 else ("Bo", "bo@example.com"), date=_day(n))
        n += 1
    return r, lost


@pytest.fixture(scope="module")
def holes(tmp_path_factory):
    r, lost = _build(tmp_path_factory.mktemp("ranges") / "repo")
    for blob in lost:
        os.remove(r.path / ".git" / "objects" / blob[:2] / blob[2:])
    log = subprocess.run(["git", "-C", str(r.path), "log", "--numstat"], capture_output=True, text=True)
    assert log.returncode != 0 and "unable to read" in log.stderr  # the missing-blob fallback is exercised
    return r


def _ingest(path, store, monkeypatch, readers: str):
    monkeypatch.setenv("LOOPMETER_READER_PROCESS", readers)
    with Store.open(store) as s:
        s.set_meta("salt", "same salt, so pseudonyms agree")
    return api.ingest([path], store_path=store)[0]


def test_readers_over_chunks_store_exactly_the_rows_of_one_git_log(holes, tmp_path, monkeypatch):
    readers = "3"
    monkeypatch.setenv("LOOPMETER_BATCH", "4")  # 35 commits: 9 chunks, interleaved over 3 readers
    used = []
    real = ingest_reader.read_batches
    monkeypatch.setattr(ingest_reader, "read_batches", lambda *a, **k: (used.append(k["n"]), real(*a, **k))[1])
    par = _ingest(holes.path, tmp_path / "par.duckdb", monkeypatch, readers)
    assert used == [int(readers)]
    one = _ingest(holes.path, tmp_path / "one.duckdb", monkeypatch, "0")
    assert used == [int(readers)]  # the serial side read in-process
    got, want = every_table(tmp_path / "par.duckdb"), every_table(tmp_path / "one.duckdb")
    assert par.new_commits == one.new_commits == 35
    assert par.warnings == one.warnings and any("no blob" in w for w in one.warnings)
    # The awkward cases are really in the rows compared (else equality would prove little).
    with Store.open(tmp_path / "one.duckdb") as s:
        files = s.con.execute("select count(*) filter (missing_blob), count(*) filter (is_binary), "
                              "count(*) filter (old_path is not null) from commit_files").fetchone()
        names = s.con.execute("select name from actors where email ilike 'ann@example.com'").fetchall()
        bo = s.con.execute("select count(*) from commits where author_name = 'Bo Canonical'").fetchone()[0]
    assert files[0] >= 2 and files[1] == 2 and files[2] == 1
    assert names == [("Ann",)]  # the spelling met first in git's order (newest first) is kept, once
    assert bo == 7  # the .mailmap applied by whichever process read the commit
    assert got == want


def test_which_commits_fall_back_to_pygit2_does_not_depend_on_where_a_list_starts(holes):
    info = gitsrc.open_repository(holes.path)
    todo = gitsrc.git(info.path, "rev-list", "HEAD").stdout.decode().split()
    whole = {c.sha: c for c in gitsrc.iter_listed(info, todo)}
    assert list(whole) == todo
    undiffable = [i for i, s in enumerate(todo) if gitsrc._diff_alone(info, s) is None]
    assert len(undiffable) == 4  # each lost blob: the commit that wrote it and the next that changed it
    # A list that starts at, just before or just after a commit git cannot diff, or whose end does.
    for cut in sorted({c for i in undiffable for c in (i - 1, i, i + 1, i + 2) if 0 < c < len(todo)}):
        parts = [*gitsrc.iter_listed(info, todo[:cut]), *gitsrc.iter_listed(info, todo[cut:])]
        assert [c.sha for c in parts] == todo
        assert [c for c in parts] == [whole[s] for s in todo], f"split at {cut}"
    # And the same records as `git log` followed by the fallback (the serial reader).
    assert list(gitsrc.iter_commits(info, [info.head_sha])) == [whole[s] for s in todo]


def test_chunks_cut_a_revision_list_at_line_ends():
    listing = b"".join(f"{i:040x}\n".encode() for i in range(7))
    parts = ingest_reader.chunks(listing, 3)
    assert [listing[a:b].count(b"\n") for a, b in parts] == [3, 3, 1]
    assert b"".join(listing[a:b] for a, b in parts) == listing
    assert ingest_reader.chunks(b"", 3) == []


@pytest.mark.parametrize("raw, cores, busy, total, want", [
    ("0", 8, 0, 50_000, 0), ("2", 1, 1, 3, 2),  # the variable decides
    ("", 2, 0, 50_000, 2), ("", 2, 0, 9_999, 0),  # a long history, both cores free
    ("", 2, 1, 50_000, 0),  # the durability pass beside takes one of two cores: read in-process
    ("", 4, 1, 50_000, 3), ("", 16, 1, 50_000, 4),
])
def test_reader_count(monkeypatch, raw, cores, busy, total, want):
    monkeypatch.setenv("LOOPMETER_READER_PROCESS", raw)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert ingest_reader.readers(total, busy=busy) == want


def test_a_reader_that_dies_fails_the_ingest_in_one_line_and_stores_no_tips(holes, tmp_path, monkeypatch):
    from loopmeter.errors import GitFailed

    monkeypatch.setenv("LOOPMETER_BATCH", "4")
    monkeypatch.setattr(ingest_reader.sys, "executable", "/bin/false")  # every reader exits at once
    with pytest.raises(GitFailed) as e:
        _ingest(holes.path, tmp_path / "dead.duckdb", monkeypatch, "2")
    assert "git reader" in str(e.value) and "\n" not in str(e.value)
    with Store.open(tmp_path / "dead.duckdb") as s:  # not marked complete: the next run reads it all
        assert s.con.execute("select count(*) from git_tips").fetchone()[0] == 0


def test_a_long_history_read_ahead_is_read_on_not_again(holes, tmp_path, monkeypatch):
    """One repository longer than a batch: the read-ahead's `git log` is the one the writer goes on
    with (one `git log`, not two), and the rows are those of a read-ahead dropped and read again,
    git's death at a missing blob and the fallback after it included."""
    from loopmeter import ingestion

    monkeypatch.setenv("LOOPMETER_BATCH", "4")  # 35 commits: the read-ahead stops after 5
    logs = []
    real_iter = gitsrc.iter_commits
    monkeypatch.setattr(gitsrc, "iter_commits", lambda *a, **k: (logs.append(1), real_iter(*a, **k))[1])
    kept = _ingest(holes.path, tmp_path / "kept.duckdb", monkeypatch, "0")
    assert len(logs) == 1
    real_ahead = ingestion.read_ahead
    monkeypatch.setattr(ingestion, "read_ahead", lambda *a, **k: real_ahead(*a, **{**k, "keep": False}))
    dropped = _ingest(holes.path, tmp_path / "dropped.duckdb", monkeypatch, "0")
    assert len(logs) == 3  # dropped: read ahead, then read again from the start
    assert kept.new_commits == dropped.new_commits == 35
    assert kept.warnings == dropped.warnings and any("no blob" in w for w in kept.warnings)
    assert every_table(tmp_path / "kept.duckdb") == every_table(tmp_path / "dropped.duckdb")
