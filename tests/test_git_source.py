"""The git source's record stream, on messages built to confuse it."""

from __future__ import annotations

from loopmeter.sources import git as gitsrc
from gitrepo import GitRepo


def test_record_separators_inside_a_message_do_not_split_the_commit(tmp_path):
    r = GitRepo(tmp_path / "sep")
    first = r.commit("Plain", date="2024-01-01T09:00:00+00:00")
    tricky = "Odd \x1eCdeadbeef\x1f and \x1eC" + "a" * 40 + "\x1fmore\n\nbody"
    second = r.commit(tricky, date="2024-01-02T09:00:00+00:00", files={"x.txt": "1\n2\n"})
    info = gitsrc.open_repository(r.path)
    commits = {c.sha: c for c in gitsrc.iter_commits(info, [info.head_sha])}
    assert set(commits) == {first, second}
    assert commits[second].message == tricky
    assert [(f.path, f.added, f.deleted) for f in commits[second].files] == [("x.txt", 2, 0)]
