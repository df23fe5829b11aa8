"""Commits stored before their files: the rows that complete them.

A long history's ingest does not diff the commits of the default branch's first-parent line: the
durability pass beside it (ingest_durability.py) diffs exactly those anyway, and hands back their
`git log --numstat` rows. Until they arrive such a commit is stored with its file counts NULL
(`files is null` means "not diffed yet", never "no files"). `complete` stores the rows the pass
gave, and any commit still pending afterwards (the pass failed, could not read a blob, or an
earlier ingest was killed in between) is diffed here as the ingest would have. Only then are the
ingest's tips recorded, so no reader ever sees a pending commit of a finished ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .db import Store, transaction

if TYPE_CHECKING:
    from ..sources.git import RepoInfo
    from ..sources.line_fates import Numstat


def pending(store: Store, repo: str) -> list[str]:
    """The repository's commits whose files are not stored yet."""
    return [r[0] for r in store.con.execute("select sha from commits where repo = ? and files is null",
                                            [repo]).fetchall()]


def complete(store: Store, info: RepoInfo, repo: str, numstat: Numstat | None,
             on_fallback: Callable[[str], None] | None = None) -> int:
    """Store the files of the repository's pending commits: from `numstat` where it has them, the rest
    diffed with `sources.git.iter_listed`. Returns how many commits were diffed here."""
    if numstat is not None and numstat.commits:
        _store(store, repo, numstat.commits, numstat.sha, numstat.path, numstat.old_path, numstat.added,
               numstat.deleted, numstat.binary, [False] * len(numstat.sha))
    todo = pending(store, repo)
    if not todo:
        return 0
    from ..sources.git import iter_listed

    done = 0
    for part in _slices(todo, 2000):
        commits = list(iter_listed(info, part, on_fallback=on_fallback))
        rows = [(c.sha, f) for c in commits for f in c.files]
        _store(store, repo, [c.sha for c in commits], [s for s, _ in rows], [f.path for _, f in rows],
               [f.old_path for _, f in rows], [f.added for _, f in rows], [f.deleted for _, f in rows],
               [f.binary for _, f in rows], [f.missing_blob for _, f in rows])
        done += len(commits)
    return done


def _slices(xs: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(xs), n):
        yield xs[i:i + n]


def _store(store: Store, repo: str, commits: list[str], sha, path, old_path, added, deleted, binary,
           missing) -> None:
    """One transaction: the files of those of `commits` still pending, and their counts as
    `git_load.commit_tables` computes them (a binary or unreadable file counts as unknown)."""
    import pyarrow as pa

    files = pa.table({
        "repo": pa.array([repo] * len(sha), pa.string()), "sha": pa.array(sha, pa.string()),
        "path": pa.array(path, pa.string()), "old_path": pa.array(old_path, pa.string()),
        "added": pa.array(added, pa.int64()), "deleted": pa.array(deleted, pa.int64()),
        "is_binary": pa.array(binary, pa.bool_()), "missing_blob": pa.array(missing, pa.bool_()),
    })
    done = pa.table({"sha": pa.array(commits, pa.string())})
    with transaction(store.con, _pf_files=files, _pf_done=done) as con:
        con.execute(
            "create or replace temp table _pf_todo as select d.sha from _pf_done d semi join "
            "(select sha from commits where repo = ? and files is null) c on d.sha = c.sha", [repo])
        con.execute("insert into commit_files select f.* from _pf_files f semi join _pf_todo t on f.sha = t.sha")
        con.execute(
            "update commits set files = s.n, added = s.a, deleted = s.d, unknown_files = s.u from ("
            "  select t.sha, count(f.sha)::integer as n, coalesce(sum(f.added), 0)::bigint as a,"
            "         coalesce(sum(f.deleted) filter (where f.added is not null), 0)::bigint as d,"
            "         count(f.sha) filter (where f.added is null)::integer as u"
            "  from _pf_todo t left join _pf_files f on f.sha = t.sha group by t.sha) s "
            "where commits.repo = ? and commits.sha = s.sha", [repo])
        con.execute("drop table _pf_todo")
