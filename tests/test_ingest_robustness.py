"""Ingest robustness: idempotent, incremental, resumable, and exact on awkward repositories.

Every repository is real (built with the git CLI in tmp_path) and every store a real DuckDB file;
expected numbers are worked out by hand next to each assertion.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

import loopmeter
from loopmeter import ingestion
from loopmeter.errors import ConfigError
from loopmeter.store.db import Store

from conftest import BOB, build_demo
from gitrepo import GitRepo
from stores import rows

AS_OF = datetime(2024, 3, 1)
LOOPMETER = Path(sys.executable).with_name("loopmeter")

# The tables an ingest writes, each with the key no two of its rows may share.
KEYS = {
    "commits": "repo, sha",
    "commit_files": "repo, sha, path",
    "items": "item_id",
    "events": "item_id, ts, activity",
    "links": "src, dst, kind",
    "attributions": "item_id, agent, evidence",
    "actors": "actor_id",
}


def counts(store_path: Path) -> dict[str, tuple[int, int]]:
    """Per table: (rows, distinct keys)."""
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        return {
            t: con.execute(f"select count(*), count(distinct ({k})) from {t}").fetchone() for t, k in KEYS.items()
        }
    finally:
        con.close()


def rev_count(path: Path, rev: str = "HEAD") -> int:
    return int(subprocess.run(["git", "-C", str(path), "rev-list", "--count", rev], capture_output=True, check=True,
                              text=True).stdout)


def day(n: int, hour: int = 10) -> str:
    return f"2024-01-{n:02d}T{hour:02d}:00:00+00:00"


@pytest.fixture
def read_counter(monkeypatch) -> list[int]:
    """Counts the commits the git source hands to the runner, ingest by ingest."""
    seen: list[int] = []
    real = ingestion.gitsrc.iter_commits

    def counting(*args, **kwargs):
        seen.append(0)
        for c in real(*args, **kwargs):
            seen[-1] += 1
            yield c

    monkeypatch.setattr(ingestion.gitsrc, "iter_commits", counting)
    return seen


# -- 1. idempotent --------------------------------------------------------------------------------


def test_ingesting_the_same_repository_twice_changes_nothing(tmp_path, store_path):
    repo = tmp_path / "demo"
    build_demo(repo)
    first = loopmeter.ingest([repo], store_path=store_path)[0]
    before = counts(store_path)
    second = loopmeter.ingest([repo], store_path=store_path)[0]
    after = counts(store_path)
    assert first.new_commits == 12  # 10 on HEAD + the squashed PR's p1, p2 from refs/pull/3/head
    assert second.new_commits == 0 and second.incremental
    assert after == before
    # The hand count of conftest.build_demo: 8 changes + 1 release; 7 people and bots.
    assert before["commits"] == (12, 12)
    assert before["items"] == (9, 9)
    assert before["actors"] == (7, 7)
    for table, (n, distinct) in after.items():
        assert n == distinct, f"{table} has duplicate keys"


def test_a_second_store_of_the_same_repository_holds_the_same_rows(tmp_path):
    repo = tmp_path / "demo"
    build_demo(repo)
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    loopmeter.ingest([repo], store_path=a)
    loopmeter.ingest([repo], store_path=a)
    loopmeter.ingest([repo], store_path=b)
    q = "select item_id, started_at, done_at, size_lines, attrs::varchar from items order by item_id"
    assert rows(a, q) == rows(b, q)
    assert counts(a) == counts(b)


# -- 2. incremental -------------------------------------------------------------------------------


def test_a_second_ingest_reads_only_the_new_commits(tmp_path, store_path, read_counter):
    r = GitRepo(tmp_path / "inc")
    for i in range(1, 6):
        r.commit(f"c{i}", date=day(i))
    first = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert (first.new_commits, first.incremental, read_counter) == (5, False, [5])

    # Three more: a direct commit, and a branch of one commit merged with a merge commit.
    r.commit("c6", date=day(6))
    r.checkout("topic", new=True)
    r.commit("t1", author=BOB, date=day(7))
    r.checkout("main")
    r.merge("topic", "Merge branch 'topic'", date=day(8))
    second = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert second.incremental is True
    assert second.new_commits == 3 and read_counter[-1] == 3
    assert second.head_commits == rev_count(r.path) == 8
    assert second.changes == 7  # c1..c6 direct, the merge (bringing t1)

    doc = loopmeter.report_from_store(store_path=store_path, as_of=AS_OF)
    assert doc["totals"]["commits"] == 8
    assert doc["totals"]["changes"] == 7
    assert counts(store_path)["commits"] == (8, 8)

    third = loopmeter.ingest([r.path], store_path=store_path)[0]
    # Nothing moved: the refs digest says so and the history is not walked at all.
    assert (third.new_commits, third.unchanged, third.incremental, len(read_counter)) == (0, True, True, 2)


@pytest.mark.parametrize("gc", [True, False], ids=["old-tip-collected", "old-tip-still-in-object-store"])
def test_rewritten_history_is_ingested_as_it_now_is(tmp_path, store_path, read_counter, gc):
    r = GitRepo(tmp_path / "rw")
    shas = [r.commit(f"c{i}", date=day(i)) for i in range(1, 6)]
    loopmeter.ingest([r.path], store_path=store_path)
    # Drop c4 and c5, add n1..n3 on c3: HEAD now has c1 c2 c3 n1 n2 n3.
    r.git("reset", "--hard", "-q", shas[2])
    new = [r.commit(f"n{i}", author=BOB, date=day(10 + i)) for i in range(1, 4)]
    if gc:
        r.git("reflog", "expire", "--expire=now", "--all")
        r.git("gc", "-q", "--prune=now")
        assert subprocess.run(["git", "-C", str(r.path), "cat-file", "-e", shas[4]]).returncode != 0
    res = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert rev_count(r.path) == 6
    assert res.new_commits == 3 and res.head_commits == 6 and res.changes == 6
    if gc:
        # The old tip is gone, so nothing marks where the last ingest stopped: all six are read again.
        assert res.incremental is False and read_counter[-1] == 6
    else:
        assert res.incremental is True and read_counter[-1] == 3
    doc = loopmeter.report_from_store(store_path=store_path, as_of=AS_OF)
    assert doc["totals"]["commits"] == 6 and doc["totals"]["changes"] == 6
    landed = {r[0] for r in rows(store_path, "select json_extract_string(attrs, '$.sha') from items where kind = 'change'")}
    assert landed == set(shas[:3]) | set(new)


# -- 3. a killed ingest resumes ---------------------------------------------------------------------


def build_linear(path: Path, n: int) -> None:
    """n one-line commits by seven authors, one hour apart, written at once with git fast-import."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    out = []
    base = 1704103200  # 2024-01-01 10:00 UTC
    for i in range(1, n + 1):
        msg = f"commit {i}\n".encode()
        data = f"line {i}\n".encode()
        who = f"Dev {i % 7} <dev{i % 7}@example.com> {base + i * 3600} +0000"
        out += [b"commit refs/heads/main\n", f"mark :{i}\nauthor {who}\ncommitter {who}\n".encode(),
                f"data {len(msg)}\n".encode(), msg]
        if i > 1:
            out.append(f"from :{i - 1}\n".encode())
        out += [f"M 644 inline f{i % 50}.txt\ndata {len(data)}\n".encode(), data, b"\n"]
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(out), check=True)


def test_a_killed_ingest_resumes_to_the_same_store(tmp_path):
    repo = tmp_path / "big"
    build_linear(repo, 3000)
    killed, whole = tmp_path / "killed.duckdb", tmp_path / "whole.duckdb"
    wal = Path(str(killed) + ".wal")
    env = dict(os.environ, LOOPMETER_BATCH="20")
    proc = subprocess.Popen([str(LOOPMETER), "ingest", str(repo), "--store", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    # Each batch of 20 commits adds about 12 KB to the write-ahead log: kill after a few batches.
    while proc.poll() is None and time.monotonic() < deadline:
        if wal.exists() and wal.stat().st_size > 100_000:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the ingest finished before it could be killed"

    partial = rows(killed, "select count(*) from commits")[0][0]
    assert 0 < partial < 3000
    assert partial % 20 == 0  # batches commit whole or not at all
    assert rows(killed, "select count(*) from git_tips") == [(0,)]  # not marked complete

    res = loopmeter.ingest([repo], store_path=killed)[0]
    assert res.new_commits == 3000 - partial and res.incremental is False
    loopmeter.ingest([repo], store_path=whole)
    assert counts(killed) == counts(whole)
    assert counts(killed)["commits"] == (3000, 3000) and counts(killed)["items"] == (3000, 3000)
    for q in ("select sha, parents, author_time, files, added, deleted from commits order by sha",
              "select sha, path, added, deleted from commit_files order by sha, path",
              "select item_id, started_at, done_at, size_lines from items order by item_id"):
        assert rows(killed, q) == rows(whole, q)
    assert loopmeter.ingest([repo], store_path=killed)[0].new_commits == 0


def test_a_new_repository_appends_its_batches_and_a_resumed_one_looks_them_up(tmp_path, monkeypatch):
    """A repository new to the store is stored batch by batch without asking which commits are
    there (each is new); one with commits stored (a killed ingest) asks, so nothing is added twice."""
    from loopmeter.store import git_load

    repo = tmp_path / "big"
    build_linear(repo, 120)
    monkeypatch.setenv("LOOPMETER_BATCH", "20")
    monkeypatch.setenv("LOOPMETER_READER_PROCESS", "0")
    seen, real = [], git_load.store_commits_of_repos
    monkeypatch.setattr(git_load, "store_commits_of_repos",
                        lambda s, t, new_repos=False: seen.append(new_repos) or real(s, t, new_repos=new_repos))
    fresh, resumed = tmp_path / "fresh.duckdb", tmp_path / "resumed.duckdb"
    loopmeter.ingest([repo], store_path=fresh)
    assert seen == [True] * 6
    # A killed ingest: its first two batches stored, no tips recorded.
    loopmeter.ingest([repo], store_path=resumed)
    with Store.open(resumed) as s:
        keep = "(select sha from commits order by committer_time limit 40)"
        for table in ("commits", "commit_files"):
            s.con.execute(f"delete from {table} where sha not in {keep}")
        s.con.execute(f"delete from attributions where item_id like 'git:%:commit:%' and split_part(item_id, ':', 4) not in {keep}")
        s.con.execute("delete from git_tips")
        s.con.execute("delete from meta where key like 'refs:%'")  # written only by a complete ingest
    seen.clear()
    assert loopmeter.ingest([repo], store_path=resumed)[0].new_commits == 80
    assert seen == [False] * 6
    for q in ("select sha, parents, author_time, files, added, deleted from commits order by sha",
              "select sha, path, added, deleted from commit_files order by sha, path",
              "select item_id, agent, evidence from attributions order by all"):
        assert rows(resumed, q) == rows(fresh, q)


def test_the_batch_size_is_2000_unless_overridden(monkeypatch):
    monkeypatch.delenv("LOOPMETER_BATCH", raising=False)
    assert ingestion.batch_size() == ingestion.BATCH == 2000
    monkeypatch.setenv("LOOPMETER_BATCH", "20")
    assert ingestion.batch_size() == 20


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_bad_batch_size_override_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv("LOOPMETER_BATCH", value)
    with pytest.raises(ConfigError, match="LOOPMETER_BATCH"):
        ingestion.batch_size()


# -- 4. missing blobs ----------------------------------------------------------------------------------


def build_blob_repo(path: Path) -> tuple[GitRepo, dict[str, str]]:
    """Six commits with loose objects; returns the repo and the blob ids a test may delete.

      one    a.txt 1 2 3 (+3)              r.txt r1..r10 (+10)
      two    r.txt -> s.txt, r11 added (+1, one renamed row)   c.txt c c (+2)
      three  a.txt 1 2 3 4 (+1)            <- blob A3
      four   a.txt 1 3 4 5 (+1 -1)         b.txt b (+1)
      five   b.txt b b2 (+1)               <- blob B5       d.txt d (+1)
      six    b.txt b3 (+1 -2)
    Neither A3 nor B5 is in the work tree, so git cannot read them from there either.
    """
    r = GitRepo(path)
    ten = "".join(f"r{i}\n" for i in range(1, 11))
    r.commit("one", date=day(1), files={"a.txt": "1\n2\n3\n", "r.txt": ten})
    r.git("mv", "r.txt", "s.txt")
    r.commit("two", date=day(2), files={"s.txt": ten + "r11\n", "c.txt": "c\nc\n"})
    r.commit("three", date=day(3), files={"a.txt": "1\n2\n3\n4\n"})
    r.commit("four", date=day(4), files={"a.txt": "1\n3\n4\n5\n", "b.txt": "b\n"})
    r.commit("five", date=day(5), files={"b.txt": "b\nb2\n", "d.txt": "d\n"})
    r.commit("six", date=day(6), files={"b.txt": "b3\n"})
    return r, {"A3": r.git("rev-parse", "HEAD~3:a.txt"), "B5": r.git("rev-parse", "HEAD~1:b.txt")}


EXACT = {  # (subject, path) -> (added, deleted, old_path)
    ("one", "a.txt"): (3, 0, None), ("one", "r.txt"): (10, 0, None),
    ("two", "s.txt"): (1, 0, "r.txt"), ("two", "c.txt"): (2, 0, None),
    ("three", "a.txt"): (1, 0, None),
    ("four", "a.txt"): (1, 1, None), ("four", "b.txt"): (1, 0, None),
    ("five", "b.txt"): (1, 0, None), ("five", "d.txt"): (1, 0, None),
    ("six", "b.txt"): (1, 2, None),
}


@pytest.mark.parametrize(
    "lost, unknown",
    [
        (["A3"], {("three", "a.txt"), ("four", "a.txt")}),
        (["A3", "B5"], {("three", "a.txt"), ("four", "a.txt"), ("five", "b.txt"), ("six", "b.txt")}),
    ],
    ids=["one-blob-in-a-middle-commit", "blobs-of-two-commits"],
)
def test_missing_blobs_leave_only_their_files_unknown(tmp_path, store_path, lost, unknown):
    r, blobs = build_blob_repo(tmp_path / "holes")
    for name in lost:
        os.remove(r.path / ".git" / "objects" / blobs[name][:2] / blobs[name][2:])
    log = subprocess.run(["git", "-C", str(r.path), "log", "--numstat"], capture_output=True, text=True)
    assert log.returncode != 0 and "unable to read" in log.stderr  # what the fallback exists for

    res = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert res.new_commits == rev_count(r.path) == 6
    got = {
        (s, p): (a, d, o, m, b)
        for s, p, a, d, o, m, b in rows(
            store_path,
            "select c.subject, f.path, f.added, f.deleted, f.old_path, f.missing_blob, f.is_binary "
            "from commit_files f join commits c using (repo, sha)",
        )
    }
    assert set(got) == set(EXACT)  # the rename is one row, whichever reader saw it
    for key, (a, d, old) in EXACT.items():
        if key in unknown:
            assert got[key] == (None, None, old, True, False), key
        else:
            assert got[key] == (a, d, old, False, False), key
    files = len(unknown)
    commits = len({s for s, _ in unknown})
    assert any(f"{files} files in {commits} commits have no blob" in w for w in res.warnings), res.warnings
    assert rows(store_path, "select missing_blob_files from repos") == [(files,)]
    # A commit's line total counts only what is known, and says how many files were not.
    four = rows(store_path, "select added, deleted, unknown_files from commits where subject = 'four'")[0]
    assert four == (1, 0, 1)


def test_renames_are_one_row_with_the_old_path(tmp_path, store_path):
    r = GitRepo(tmp_path / "mv")
    ten = "".join(f"{i}\n" for i in range(10))
    r.commit("add", date=day(1), files={"old/name.py": ten})
    (r.path / "new").mkdir()
    r.git("mv", "old/name.py", "new/name.py")
    sha = r.commit("move and edit", date=day(2), files={"new/name.py": ten + "10\n"})
    loopmeter.ingest([r.path], store_path=store_path)
    assert rows(store_path, "select path, old_path, added, deleted from commit_files where sha = ?", [sha]) == [
        ("new/name.py", "old/name.py", 1, 0)
    ]


# -- 5. awkward repositories ------------------------------------------------------------------------


def test_a_shallow_clone_is_ingested_with_a_clear_warning(tmp_path, store_path):
    r = GitRepo(tmp_path / "full")
    for i in range(1, 9):
        r.commit(f"c{i}", date=day(i))
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "3", f"file://{r.path}", str(shallow)], check=True)
    assert rev_count(shallow) == 3
    res = loopmeter.ingest([shallow], store_path=store_path)[0]
    assert any("shallow clone" in w and "--unshallow" in w for w in res.warnings), res.warnings
    doc = loopmeter.report_from_store(store_path=store_path, as_of=AS_OF)
    assert doc["totals"]["commits"] == 3
    assert doc["repos"][0]["shallow"] is True
    assert any("shallow" in w for w in doc["warnings"])


def test_a_bare_clone_gives_the_same_totals_as_the_working_clone(tmp_path):
    work = tmp_path / "demo"
    build_demo(work)
    bare = tmp_path / "demo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    # clone --bare copies branches and tags only; bring refs/pull/3/head along so both see S3's PR commits.
    subprocess.run(["git", "-C", str(bare), "fetch", "-q", str(work), "+refs/pull/*:refs/pull/*"], check=True)
    a = loopmeter.analyze([work], store_path=tmp_path / "w.duckdb", html_path=None, as_of=AS_OF)
    b = loopmeter.analyze([bare], store_path=tmp_path / "b.duckdb", html_path=None, as_of=AS_OF)
    assert b["repos"][0]["repo"] == "demo"  # the .git suffix is not part of the name
    assert a["totals"] == b["totals"]
    assert b["totals"]["commits"] == rev_count(bare) == 10


@pytest.mark.parametrize("branch", ["master", "trunk"])
def test_the_default_branch_need_not_be_main(tmp_path, store_path, branch):
    r = GitRepo(tmp_path / branch, branch=branch)
    for i in range(1, 4):
        r.commit(f"c{i}", date=day(i))
    r.checkout("side", new=True)
    r.commit("not on HEAD", date=day(5))
    r.checkout(branch)
    res = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert (res.new_commits, res.head_commits, res.changes) == (3, 3, 3)
    assert rows(store_path, "select head_ref from repos") == [(f"refs/heads/{branch}",)]


def test_odd_identities_dates_and_offsets_are_kept_as_recorded(tmp_path, store_path):
    r = GitRepo(tmp_path / "odd")
    r.commit("normal", date=day(1))
    no_mail = r.commit("no email", author=("Nomail Person", ""), date=day(2))
    chatham = r.commit("odd offset", date="2024-01-03T10:00:00+13:45")
    # git normalises a -0000 it is given to +0000, so this commit object is written by hand.
    who = "Alice Example <alice@example.com> 1704362400 -0000"  # 2024-01-04 10:00 UTC
    obj = f"tree {r.git('rev-parse', 'HEAD^{tree}')}\nparent {r.head()}\nauthor {who}\ncommitter {who}\n\nminus zero\n"
    minus_zero = r.git("hash-object", "-t", "commit", "-w", "--stdin", input=obj.encode())
    r.set_ref("refs/heads/main", minus_zero)
    assert f"author {who}" in r.git("cat-file", "commit", minus_zero)
    future = r.commit("from the future", date="2099-06-01T10:00:00+00:00")
    res = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert res.new_commits == 5
    assert any("1 commits are dated in the future" in w for w in res.warnings), res.warnings
    got = {s: (t, tz, a) for s, t, tz, a in rows(store_path, "select sha, author_time, author_tz, author_id from commits")}
    assert got[chatham][:2] == (datetime(2024, 1, 2, 20, 15), 13 * 60 + 45)  # 10:00 +13:45 is 20:15 UTC the day before
    assert got[minus_zero][:2] == (datetime(2024, 1, 4, 10, 0), 0)
    assert got[future][0] == datetime(2099, 6, 1, 10, 0)
    # The empty email is a person of its own (known by name), not merged with anyone else.
    assert got[no_mail][2] != got[chatham][2]
    assert rows(store_path, "select name, email from actors where actor_id = ?", [got[no_mail][2]]) == [("Nomail Person", "")]
    # Nothing crashes on 2099, the HTML report included.
    doc = loopmeter.report_from_store(store_path=store_path, as_of=AS_OF, html_path=tmp_path / "r.html")
    assert doc["totals"]["commits"] == 5
    assert any("future" in w for w in doc["warnings"])


def test_a_huge_commit_and_a_binary_file(tmp_path, store_path):
    r = GitRepo(tmp_path / "huge")
    r.commit("start", date=day(1))
    for i in range(3000):
        p = r.path / "gen" / f"d{i // 100}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"{i}\n{i}\n")
    r.git("add", "-A")
    huge = r.commit("vendor everything", date=day(2), files={})
    binary = r.commit("add a logo", date=day(3), files={"logo.png": b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 8,
                                                          "notes.txt": "one\ntwo\n"})
    loopmeter.ingest([r.path], store_path=store_path)
    assert rows(store_path, "select files, added, deleted, unknown_files from commits where sha = ?", [huge]) == [
        (3000, 6000, 0, 0)
    ]
    assert rows(store_path, "select count(*), sum(added) from commit_files where sha = ?", [huge]) == [(3000, 6000)]
    got = rows(store_path, "select path, added, deleted, is_binary, missing_blob from commit_files where sha = ? order by path",
               [binary])
    assert got == [("logo.png", None, None, True, False), ("notes.txt", 2, 0, False, False)]
    assert rows(store_path, "select added, unknown_files from commits where sha = ?", [binary]) == [(2, 1)]
    size = rows(store_path, "select size_lines from items where json_extract_string(attrs, '$.sha') = ?", [huge])
    assert size == [(6000,)]


def test_a_missing_blob_in_a_bare_mirror(tmp_path, store_path):
    r, blobs = build_blob_repo(tmp_path / "src")
    bare = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(r.path), str(bare)], check=True)
    # A clone packs its objects; unpack them so one blob can be taken away.
    packs = list((bare / "objects" / "pack").glob("*.pack"))
    for p in packs:
        moved = tmp_path / p.name
        p.rename(moved)
        p.with_suffix(".idx").unlink()
        subprocess.run(["git", "-C", str(bare), "unpack-objects", "-q"], stdin=moved.open("rb"), check=True)
    os.remove(bare / "objects" / blobs["B5"][:2] / blobs["B5"][2:])
    res = loopmeter.ingest([bare], store_path=store_path)[0]
    assert res.new_commits == 6
    assert rows(store_path, "select c.subject, f.path from commit_files f join commits c using (repo, sha) "
                            "where f.missing_blob order by c.subject") == [("five", "b.txt"), ("six", "b.txt")]
    assert any("2 files in 2 commits" in w for w in res.warnings)
