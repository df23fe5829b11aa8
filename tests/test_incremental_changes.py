"""Incremental change derivation: after new commits, only the changes they landed are derived, and
the store's rows are exactly those of a store that read the same history from scratch."""

from __future__ import annotations

import shutil

from loopmeter import api, ingestion
from loopmeter.attribution import Matcher
from loopmeter.store.db import Store
from gitrepo import GitRepo
from stores import every_table

ANN, BO = ("Ann", "ann@example.com"), ("Bo", "bo@example.com")
CLAUDE = "Co-authored-by: Claude <noreply@anthropic.com>"


def _day(d: int, h: int = 10) -> str:
    return f"2024-03-{d:02d}T{h:02d}:00:00+00:00"


def _salted(path):
    with Store.open(path) as s:
        s.set_meta("salt", "one salt, so pseudonyms agree")
    return path


def test_new_commits_derive_only_their_changes_and_the_rows_equal_a_derivation_from_scratch(tmp_path, monkeypatch):
    r = GitRepo(tmp_path / "svc")
    seen: list[tuple[bool, int]] = []
    real = ingestion.derive_changes

    def spy(store, repo, matcher, **known):
        stats = real(store, repo, matcher, **known)
        seen.append((stats.get("incremental", False), stats.get("changes", 0)))
        return stats

    monkeypatch.setattr(ingestion, "derive_changes", spy)
    running = _salted(tmp_path / "running.duckdb")

    def step(k: int, *, scratch: bool = False, rewritten: bool = False) -> bool:
        """Ingest into the running store; its rows must be those of a full derivation of the same
        store and (`scratch`; not after a rewrite: the store keeps commits no ref reaches any more)
        those of a new store that read the repository once."""
        seen.clear()
        api.ingest([r.path], store_path=running)
        incremental, changes = seen[-1]
        again = tmp_path / f"again{k}.duckdb"
        shutil.copy(running, again)
        with Store.open(again) as s:
            m = Matcher.load()
            assert real(s, "svc", m, rules=ingestion.derivation_rules(m), incremental=False)["changes"] == changes
        assert every_table(again) == every_table(running), k
        if scratch and not rewritten:
            new = _salted(tmp_path / f"scratch{k}.duckdb")
            api.ingest([r.path], store_path=new)
            assert seen[-1] == (False, changes)  # a new store derives everything, the same changes
            assert every_table(new) == every_table(running), k
        return incremental

    # 1. A history with a pull-request merge, a squash with its PR commits, a tag.
    r.commit("init", author=ANN, date=_day(1))
    r.checkout("feature", new=True)
    r.commit("feature work", author=BO, date=_day(2))
    r.commit(f"feature done\n\n{CLAUDE}", author=BO, date=_day(2, 12))
    r.checkout("main")
    r.merge("feature", "Merge pull request #1 from bo/feature\n\nThe feature", date=_day(3))
    r.checkout("pr2", new=True)
    p2 = r.commit("two, part one", author=ANN, date=_day(4))
    r.checkout("main")
    r.git("merge", "--squash", "-q", "pr2")
    r.commit("Add two (#2)", author=ANN, date=_day(5), files={})
    r.set_ref("refs/pull/2/head", p2)
    r.git("branch", "-D", "pr2", "feature")
    r.tag("v1")
    assert step(1) is False  # first ingest

    # 2. Direct commits: only they are derived.
    r.commit("fix a", author=ANN, date=_day(6))
    r.commit(f"fix b\n\n{CLAUDE}", author=BO, date=_day(7))
    assert step(2) is True

    # 3. A pull request pushed (refs/pull/3/head) but not merged: nothing lands.
    r.checkout("pr3", new=True)
    r.commit("three a", author=BO, date=_day(8))
    p3 = r.commit("three b", author=BO, date=_day(8, 12))
    r.checkout("main")
    r.set_ref("refs/pull/3/head", p3)
    assert step(3) is True

    # 4. That pull request merged: its commits, read before, belong to the new change.
    r.merge("pr3", "Merge pull request #3 from bo/pr3\n\nThree", date=_day(9))
    assert step(4, scratch=True) is True

    # 5. A squash merge with its PR commits and a tag on a commit derived before.
    r.checkout("pr5", new=True)
    p5 = r.commit("five", author=ANN, date=_day(10))
    r.checkout("main")
    r.git("merge", "--squash", "-q", "pr5")
    r.commit("Add five (#5)", author=ANN, date=_day(11), files={})
    r.set_ref("refs/pull/5/head", p5)
    r.git("branch", "-D", "pr5", "pr3")
    r.tag("v0.9", r.git("rev-parse", "HEAD~3"))
    assert step(5, scratch=True) is True

    # 5b. The squashed pull request's branch merged again as is: its commit, taken by the squash
    # merge before, is the new merge's in a full derivation (the first-parent walk runs first).
    r.git("branch", "again5", p5)
    r.merge("again5", "Merge branch 'again5'", date=_day(11, 14))
    r.git("branch", "-D", "again5")
    assert step(55) is False

    # 6. A revert among the new commits: revert links are derived over the whole history.
    fix_a = r.git("log", "--format=%H", "--grep=fix a", "-n1")
    r.commit(f'Revert "fix a"\n\nThis reverts commit {fix_a}.', author=ANN, date=_day(12))
    assert step(6) is False

    # 7. An earlier squash merge's pull-request head moved: its commits may differ.
    r.set_ref("refs/pull/2/head", r.git("rev-parse", "HEAD~1"))
    r.commit("after the move", author=BO, date=_day(13))
    assert step(7, rewritten=True) is False

    # 8. History rewritten: the old head is not on the new first-parent line.
    r.git("reset", "-q", "--hard", "HEAD~2")
    r.commit("rewritten", author=BO, date=_day(14))
    assert step(8, rewritten=True) is False

    # 9. And after all that, new commits are derived incrementally again.
    r.commit("later", author=ANN, date=_day(15))
    assert step(9, rewritten=True) is True
