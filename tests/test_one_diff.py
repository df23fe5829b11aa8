"""Every commit diffed once: the durability pass's `git log -p` gives the first-parent line's numstat
rows (sources/line_fates.py, `track(numstat=True)`), the ingest diffs only the other commits and
stores the pass's rows (store/pending_files.py). The stored tables must be exactly those of the
serial ingest that diffs every commit with `git log --numstat`, on a history with every awkward
kind of file change."""

from __future__ import annotations

import os

import pytest

from loopmeter import api, ingest_durability
from loopmeter.sources import git as gitsrc
from loopmeter.sources import line_fates
from loopmeter.store import pending_files
from loopmeter.store.db import Store

from gitrepo import GitRepo
from stores import every_table

NON_UTF8 = os.fsdecode(b"caf\xe9-latin1.txt")  # a Latin-1 file name: not valid UTF-8


def _day(i: int) -> str:
    return f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}T10:00:00+00:00"


def _build(path) -> GitRepo:
    r = GitRepo(path)
    ann, bo = ("Ann", "ann@example.com"), ("Bo", "bo@example.com")
    n = iter(range(200))
    r.commit("start", author=ann, date=_day(next(n)), files={
        "src/core.py": "".join(f"line {i}\n" for i in range(30)),
        "sp ace.txt": "one\ntwo\n",
        "ta\tb-\u00e9.txt": "quoted name, raw UTF-8 inside the quotes\n",
        'q"uote.txt': "a quote in the name\n",
        NON_UTF8: "latin-1 name\n",
        "doomed.txt": "x\ny\n",
        "nl.txt": "no newline at the end",
    })
    r.commit("rename with an edit", author=bo, date=_day(next(n)),
             files={"src/engine.py": "".join(f"line {i}\n" for i in range(30)).replace("line 7\n", "LINE 7\n")})
    r.git("rm", "-q", "src/core.py")
    r.commit("drop the old name", author=bo, date=_day(next(n)), files={})
    r.git("mv", "sp ace.txt", "sp ace 2.txt")
    r.commit("pure rename of a name with a space", author=ann, date=_day(next(n)), files={})
    r.commit("edit the renamed file", author=ann, date=_day(next(n)), files={"sp ace 2.txt": "one\nTWO\nthree\n"})
    r.commit("a binary file", author=ann, date=_day(next(n)), files={"logo.bin": bytes(range(256)) * 4})
    r.commit("change the binary", author=ann, date=_day(next(n)), files={"logo.bin": bytes(range(255, -1, -1)) * 4})
    r.commit("binary turns text", author=bo, date=_day(next(n)), files={"logo.bin": "now text\n"})
    r.commit("a binary to rename", author=ann, date=_day(next(n)), files={"pic.bin": b"\x00\x01" * 64})
    r.git("mv", "pic.bin", "pic2.bin")
    r.commit("pure rename of a binary", author=ann, date=_day(next(n)), files={})  # numstat: "- -"
    os.symlink("src/engine.py", r.path / "link")
    r.git("add", "link")
    r.commit("a symlink", author=bo, date=_day(next(n)), files={})
    os.remove(r.path / "link")
    r.commit("the symlink becomes a file", author=bo, date=_day(next(n)), files={"link": "one\ntwo\n"})
    r.git("update-index", "--chmod=+x", "src/engine.py")
    r.commit("mode only", author=bo, date=_day(next(n)), files={})
    r.commit("an empty file", author=ann, date=_day(next(n)), files={"empty.txt": ""})
    r.commit("nothing at all", author=ann, date=_day(next(n)), files={})
    r.commit("lines that look like headers", author=bo, date=_day(next(n)),
             files={"doomed.txt": "--- a/x\n+++ b/y\n@@ -1 +1 @@\n"})
    r.commit("newline added", author=bo, date=_day(next(n)), files={"nl.txt": "no newline at the end\n"})
    r.commit("edit odd names", author=ann, date=_day(next(n)),
             files={NON_UTF8: "latin-1 name\nmore\n", "ta\tb-\u00e9.txt": "changed\n", 'q"uote.txt': "b\n"})
    r.git("mv", NON_UTF8, os.fsdecode(b"renamed-\xe9.txt"))
    r.commit("rename the latin-1 file", author=ann, date=_day(next(n)), files={})
    # A side branch merged with --no-ff while the main line moved on.
    r.checkout("topic", new=True)
    for i in range(3):
        r.commit(f"topic {i}", author=("Cy", "cy@example.com"), date=_day(next(n)),
                 files={"topic.txt": "".join(f"t{j}\n" for j in range(i + 2)), "src/engine.py":
                        "".join(f"line {k}\n" for k in range(30 + i))})
    r.checkout("main")
    r.commit("meanwhile", author=ann, date=_day(next(n)), files={"main.txt": "m\n"})
    r.merge("topic", "Merge branch 'topic'", date=_day(next(n)))
    bad = r.commit("a change to revert", author=bo, date=_day(next(n)), files={"main.txt": "m\nmistake\n"})
    r.git("revert", "--no-edit", bad, env={"GIT_AUTHOR_DATE": _day(next(n)), "GIT_COMMITTER_DATE": _day(next(n))})
    r.git("rm", "-q", "empty.txt", "doomed.txt")
    r.commit("delete an empty and a full file", author=bo, date=_day(next(n)), files={})
    r.git("rm", "-q", "logo.bin")
    r.commit("delete the former binary", author=bo, date=_day(next(n)), files={})
    return r


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("onediff") / "repo")


def test_the_pass_gives_the_numstat_rows_of_git_log(repo):
    """Row for row what `git log -z --numstat` gives (parsed by sources.git) for every non-merge
    commit of the first-parent line; merges have no rows."""
    info = gitsrc.open_repository(repo.path)
    fates = line_fates.track(info, info.head_sha, {}, numstat=True)
    ns = fates.numstat
    line = gitsrc.git(info.path, "rev-list", "--first-parent", "--no-merges", "HEAD").stdout.decode().split()
    assert len(line) == len(fates.origins) - 1  # one merge on the line
    got: dict[str, list] = {s: [] for s in ns.commits}
    for i, sha in enumerate(ns.sha):
        got[sha].append((ns.path[i], ns.old_path[i], ns.added[i], ns.deleted[i], ns.binary[i]))
    want = {c.sha: [(f.path, f.old_path, f.added, f.deleted, f.binary) for f in c.files]
            for c in gitsrc.iter_commits(info, [info.head_sha]) if c.sha in line}
    assert got == {s: want[s] for s in got}
    # Left to the ingest: the commits with a file whose patch shows no line and no "Binary" (whether
    # numstat says "0 0" or "- -" depends on content the patch does not show).
    subjects = {s: gitsrc.git(info.path, "log", "-1", "--format=%s", s).stdout.decode().strip() for s in line}
    assert sorted(subjects[s] for s in set(line) - set(got)) == [
        "mode only", "pure rename of a binary", "pure rename of a name with a space", "rename the latin-1 file"]
    assert ("pic2.bin", "pic.bin", None, None, True) in [r for rs in want.values() for r in rs]
    # A type change is one numstat row though the patch shows a deletion and a creation.
    change = next(s for s in got if subjects[s] == "the symlink becomes a file")
    assert got[change] == [("link", None, 2, 1, False)]
    # The awkward rows are really there.
    rows = [r for rs in want.values() for r in rs]
    assert ("sp ace 2.txt", "sp ace.txt", 0, 0, False) in rows  # a pure rename, a space in both names
    assert ("src/engine.py", None, 0, 0, False) in rows  # mode only
    assert ("empty.txt", None, 0, 0, False) in rows
    assert sum(1 for r in rows if r[4]) == 5  # logo added, changed, turned text; pic added, renamed
    assert any("\ufffd" in r[0] for r in rows) and any("\t" in r[0] for r in rows) and any('"' in r[0] for r in rows)
    assert [] in want.values()  # the empty commit: covered, no rows


def _ingest(path, store, monkeypatch, beside: bool) -> None:
    monkeypatch.setenv("LOOPMETER_READER_PROCESS", "0")
    monkeypatch.setenv("LOOPMETER_BATCH", "5")  # longer than a batch: streamed by the writer, not read ahead
    monkeypatch.setenv("LOOPMETER_DURABILITY_BESIDE", "1" if beside else "0")
    monkeypatch.setattr(ingest_durability, "MIN_COMMITS", 0)  # a short history, beside all the same
    with Store.open(store) as s:
        s.set_meta("salt", "same salt, so pseudonyms agree")
    return api.ingest([path], store_path=store)[0]


def test_an_ingest_that_diffs_each_commit_once_stores_the_serial_rows(repo, tmp_path, monkeypatch):
    given = []
    real = pending_files.complete
    monkeypatch.setattr(pending_files, "complete",
                        lambda store, info, r, ns, **k: (given.append(ns), real(store, info, r, ns, **k))[1])
    once = _ingest(repo.path, tmp_path / "once.duckdb", monkeypatch, beside=True)
    # Every non-merge commit of the first-parent line but the four the pass leaves to the ingest.
    assert given and given[0] is not None and len(given[0].commits) == int(
        repo.git("rev-list", "--count", "--first-parent", "--no-merges", "HEAD")) - 4
    serial = _ingest(repo.path, tmp_path / "serial.duckdb", monkeypatch, beside=False)
    assert once.new_commits == serial.new_commits == repo.count()
    got, want = every_table(tmp_path / "once.duckdb"), every_table(tmp_path / "serial.duckdb")
    assert all(got[t] for t in ("commits", "commit_files", "line_origins", "line_deaths", "line_state"))
    assert got == want


def test_commits_left_pending_are_diffed_by_the_next_ingest(repo, tmp_path, monkeypatch):
    """An ingest killed after storing commits without their files, before the pass's rows: the next
    ingest completes them (the tips were not recorded, so it reads the history again)."""
    monkeypatch.setattr(pending_files, "complete", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        _ingest(repo.path, tmp_path / "killed.duckdb", monkeypatch, beside=True)
    with Store.open(tmp_path / "killed.duckdb") as s:
        assert len(pending_files.pending(s, "repo")) == int(
            repo.git("rev-list", "--count", "--first-parent", "--no-merges", "HEAD"))
    monkeypatch.undo()
    _ingest(repo.path, tmp_path / "killed.duckdb", monkeypatch, beside=False)
    _ingest(repo.path, tmp_path / "serial.duckdb", monkeypatch, beside=False)
    assert every_table(tmp_path / "killed.duckdb") == every_table(tmp_path / "serial.duckdb")


def test_blobs_missing_on_the_first_parent_line_give_the_serial_rows(repo, tmp_path, monkeypatch):
    """The pass leaves out the commits it could not diff whole; the ingest diffs them with its own
    fallback (pygit2, unknown line counts), as the serial ingest does."""
    import shutil

    holes = tmp_path / "holes"
    shutil.copytree(repo.path, holes, symlinks=True)
    bad = repo.git("log", "--format=%H", "-1", "--grep", "a change to revert")
    blob = repo.git("rev-parse", f"{bad}:main.txt")
    os.remove(holes / ".git" / "objects" / blob[:2] / blob[2:])
    given = []
    real = pending_files.complete
    monkeypatch.setattr(pending_files, "complete",
                        lambda store, info, r, ns, **k: (given.append(ns), real(store, info, r, ns, **k))[1])
    once = _ingest(holes, tmp_path / "once.duckdb", monkeypatch, beside=True)
    line = set(repo.git("rev-list", "--first-parent", "--no-merges", "HEAD").split())
    revert = repo.git("log", "--format=%H", "-1", "--grep", "Revert")
    left = line - set(given[0].commits)
    # The change and its revert need the lost blob (git may die a commit early, in the one before).
    assert {bad, revert} <= left and len(left) <= 3 + 4  # and the four with no line to count
    serial = _ingest(holes, tmp_path / "serial.duckdb", monkeypatch, beside=False)
    assert once.warnings == serial.warnings and any("no blob" in w for w in once.warnings)
    got, want = every_table(tmp_path / "once.duckdb"), every_table(tmp_path / "serial.duckdb")
    assert sum(1 for r in got["commit_files"] if r[-1]) >= 2  # missing_blob: at least the two commits' main.txt
    assert got == want
