"""`--by codeowners` reads CODEOWNERS as it was when each change landed (codeowners_history.py):
real repositories built with the git CLI, ingested into a real store, teams checked by hand."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from gitrepo import GitRepo

import loopmeter
from loopmeter.errors import ConfigError
from loopmeter.metrics.codeowners_history import codeowners_history
from loopmeter.metrics.codeowners_teams import change_teams
from loopmeter.store.db import Store


def _day(n: int) -> str:
    return f"2024-01-{n:02d}T10:00:00+00:00"


def _teams(tmp_path, repo: GitRepo) -> tuple[dict[str, str], list[str]]:
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    with Store.open(store, create=False, read_only=True) as s:
        return change_teams(s.con, [repo.path.name])


def _by_name(teams: dict[str, str], repo: GitRepo, shas: dict[str, str]) -> dict[str, str]:
    return {k: teams[f"git:{repo.path.name}:change:{sha}"] for k, sha in shas.items()}


def test_a_change_belongs_to_the_team_that_owned_its_folder_when_it_landed(tmp_path):
    repo = GitRepo(tmp_path / "api")
    shas = {"before any CODEOWNERS": repo.commit("0", files={"svc/x.py": "1\n2\n"}, date=_day(1))}
    shas["owners: a"] = repo.commit("owners", files={"CODEOWNERS": "/svc/ @org/a\n/web/ @org/w\n"}, date=_day(2))
    shas["a 1"] = repo.commit("1", files={"svc/a.py": "1\n2\n3\n"}, date=_day(3))
    shas["a 2"] = repo.commit("2", files={"svc/b.py": "1\n", "web/q.js": "1\n"}, date=_day(4))  # 1 each: tie -> org/a
    # A branch authored while org/a owned svc/ but merged after the move: it landed under org/b.
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("on a branch", files={"svc/late.py": "1\n2\n3\n4\n"}, date=_day(5))
    repo.git("checkout", "-q", "main")
    shas["move to b"] = repo.commit("reorg", files={"CODEOWNERS": "/svc/ @org/b\n/web/ @org/w\n"}, date=_day(6))
    shas["b 1"] = repo.commit("3", files={"svc/c.py": "1\n2\n"}, date=_day(7))
    repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature",
             env={"GIT_AUTHOR_DATE": _day(8), "GIT_COMMITTER_DATE": _day(8)})
    shas["merged after the move"] = repo.head()
    shas["b 2"] = repo.commit("4", files={"svc/a.py": "1\n2\n3\nfour\n"}, date=_day(9))

    teams, named = _teams(tmp_path, repo)
    assert named == ["org/a", "org/b", "org/w"]  # every team any version named
    assert _by_name(teams, repo, shas) == {
        "before any CODEOWNERS": "unassigned",
        "owners: a": "unassigned",  # CODEOWNERS itself: no rule owns it
        "a 1": "org/a", "a 2": "org/a",
        "move to b": "unassigned",
        "b 1": "org/b", "merged after the move": "org/b", "b 2": "org/b",
    }


def test_an_edit_made_on_a_branch_takes_effect_where_its_merge_landed(tmp_path):
    repo = GitRepo(tmp_path / "api")
    repo.commit("owners", files={".github/CODEOWNERS": "/svc/ @org/a\n"}, date=_day(1))
    repo.git("checkout", "-q", "-b", "reorg")
    repo.commit("reorg", files={".github/CODEOWNERS": "/svc/ @org/b\n"}, date=_day(2))  # authored first
    repo.git("checkout", "-q", "main")
    shas = {"still a": repo.commit("1", files={"svc/a.py": "1\n"}, date=_day(3))}
    repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'reorg'", "reorg",
             env={"GIT_AUTHOR_DATE": _day(4), "GIT_COMMITTER_DATE": _day(4)})
    shas["now b"] = repo.commit("2", files={"svc/b.py": "1\n"}, date=_day(5))
    teams, _ = _teams(tmp_path, repo)
    assert _by_name(teams, repo, shas) == {"still a": "org/a", "now b": "org/b"}


def test_codeowners_moved_between_locations_and_deleted(tmp_path):
    repo = GitRepo(tmp_path / "api")
    repo.commit("owners", files={"CODEOWNERS": "/svc/ @org/root\n"}, date=_day(1))
    shas = {"root": repo.commit("1", files={"svc/a.py": "1\n"}, date=_day(2))}
    # .github/ appears next to the root file: GitHub reads .github/ first.
    repo.commit("github too", files={".github/CODEOWNERS": "/svc/ @org/github\n"}, date=_day(3))
    shas[".github wins over the root"] = repo.commit("2", files={"svc/b.py": "1\n"}, date=_day(4))
    repo.git("rm", "-q", ".github/CODEOWNERS")
    repo.commit("drop .github", files={}, date=_day(5))
    shas["the root again"] = repo.commit("3", files={"svc/c.py": "1\n"}, date=_day(6))
    # The root file moves to .github/ (a rename is a delete plus an add) with a new owner.
    (repo.path / ".github").mkdir(exist_ok=True)  # git rm took the emptied folder away
    repo.git("mv", "CODEOWNERS", ".github/CODEOWNERS")
    repo.commit("move", files={".github/CODEOWNERS": "/svc/ @org/moved\n"}, date=_day(7))
    shas["moved"] = repo.commit("4", files={"svc/d.py": "1\n"}, date=_day(8))
    repo.git("rm", "-q", ".github/CODEOWNERS")
    repo.commit("delete", files={}, date=_day(9))
    shas["after the deletion"] = repo.commit("5", files={"svc/e.py": "1\n"}, date=_day(10))

    teams, named = _teams(tmp_path, repo)
    assert named == ["org/github", "org/moved", "org/root"]
    assert _by_name(teams, repo, shas) == {
        "root": "org/root", ".github wins over the root": "org/github", "the root again": "org/root",
        "moved": "org/moved", "after the deletion": "unassigned"}

    h = codeowners_history("api", str(repo.path), repo.head())
    assert [(v.location, v.text) for v in h.versions] == [
        ("CODEOWNERS", "/svc/ @org/root\n"), (".github/CODEOWNERS", "/svc/ @org/github\n"),
        ("CODEOWNERS", "/svc/ @org/root\n"), (".github/CODEOWNERS", "/svc/ @org/moved\n"), (None, None)]


def test_history_reads_the_same_from_a_bare_clone(tmp_path):
    repo = GitRepo(tmp_path / "api")
    repo.commit("owners", files={"docs/CODEOWNERS": "* @org/a\n"}, date=_day(1))
    repo.commit("1", date=_day(2))
    repo.commit("edit", files={"docs/CODEOWNERS": "* @org/b\n"}, date=_day(3))
    bare = tmp_path / "api.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True)
    work = codeowners_history("api", str(repo.path), repo.head())
    mirrored = codeowners_history("api", str(bare), repo.head())
    assert mirrored == work
    assert [(v.index, v.text) for v in mirrored.versions] == [(0, "* @org/a\n"), (2, "* @org/b\n")]


def test_a_clone_no_longer_on_disk_is_one_clear_line(tmp_path):
    repo = GitRepo(tmp_path / "api")
    repo.commit("owners", files={"CODEOWNERS": "* @org/a\n"}, date=_day(1))
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    shutil.rmtree(repo.path)
    with Store.open(store, create=False, read_only=True) as s, pytest.raises(ConfigError) as e:
        change_teams(s.con, ["api"])
    assert str(e.value) == f"--by codeowners: repository 'api' has no clone at {str(repo.path)!r} to read CODEOWNERS from"


def test_a_rewritten_clone_without_the_ingested_commit_is_one_clear_line(tmp_path):
    repo = GitRepo(tmp_path / "api")
    repo.commit("owners", files={"CODEOWNERS": "* @org/a\n"}, date=_day(1))
    with pytest.raises(ConfigError) as e:
        codeowners_history("api", str(repo.path), "0" * 40)
    msg = str(e.value)
    assert msg.startswith("--by codeowners: git rev-list failed in the clone of 'api'") and "\n" not in msg


def test_many_versions_are_read_with_three_git_processes(tmp_path, monkeypatch):
    from loopmeter.metrics import codeowners_history as ch

    repo = GitRepo(tmp_path / "api")
    for v in range(12):  # 12 versions, every third one at the other location
        loc = ".github/CODEOWNERS" if v % 3 == 2 else "CODEOWNERS"
        other = "CODEOWNERS" if loc != "CODEOWNERS" else ".github/CODEOWNERS"
        if (repo.path / other).exists():
            repo.git("rm", "-q", other)
        repo.commit(f"v{v}", files={loc: f"* @org/t{v}\n"}, date=_day(1 + v))
    head = repo.head()
    ran: list[str] = []
    real = ch.subprocess.run

    def counting(args, *rest, **kw):  # counts, and runs the real git
        ran.append(args[3])
        return real(args, *rest, **kw)

    monkeypatch.setattr(ch.subprocess, "run", counting)
    h = ch.codeowners_history("api", str(repo.path), head)
    assert ran == ["rev-list", "log", "cat-file"]
    assert [v.text for v in h.versions] == [f"* @org/t{v}\n" for v in range(12)]
    assert [v.location for v in h.versions] == [".github/CODEOWNERS" if v % 3 == 2 else "CODEOWNERS" for v in range(12)]
