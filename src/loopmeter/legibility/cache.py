"""The readings a report keeps in the store (`legibility_readings`, migration 015_legibility_cache):
one row per repository, replaced when its tip, its path, the scorer or a work tree's files moved.

Finding out whether the tip moved costs one `git rev-parse` a repository (`tips`, a few
milliseconds; threads, as the time is the process's start-up, not Python's); a report of 1,000
repositories whose tips did not move reads no tree and no history.

A report opens the store read-only, so the rows it read afresh are written when it closes the
store (`Store.write_later`): if another process holds the file then, they are dropped and the next
report reads those repositories again. A cache row can always be lost; nothing else depends on it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

from ..sources.git import git
from ..store.db import Store
from .reading import Reading


@dataclass(frozen=True)
class Tip:
    head: str
    git_dir: str
    bare: bool


def tip(path: str) -> Tip | None:
    """HEAD's commit and the git directory at `path`, or None (not a repository, no commit yet)."""
    try:
        proc = git(path, "rev-parse", "--is-bare-repository", "--absolute-git-dir", "HEAD", check=False)
    except OSError:
        return None
    lines = proc.stdout.decode("utf-8", "surrogateescape").split("\n")
    if proc.returncode != 0 or len(lines) < 3 or len(lines[2]) < 40:
        return None
    return Tip(head=lines[2], git_dir=lines[1], bare=lines[0] == "true")


def tips(paths: list[str]) -> dict[str, Tip | None]:
    """`tip` of every path, a few at a time."""
    if len(paths) < 4:
        return {p: tip(p) for p in paths}
    with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
        return dict(zip(paths, pool.map(tip, paths)))


@dataclass(frozen=True)
class Kept:
    path: str
    head: str
    scorer: str
    reading: str


def _has_table(store: Store) -> bool:
    return bool(store.con.execute(
        "select count(*) from information_schema.tables where table_name = 'legibility_readings'").fetchone()[0])


def kept(store: Store, repos: list[str]) -> dict[str, Kept]:
    """The kept reading of each of `repos` (none for a Parquet export, which carries no cache)."""
    if not repos or store.export or not _has_table(store):
        return {}
    rows = store.con.execute(
        "select repo, path, head, scorer, reading from legibility_readings where list_contains(?, repo)",
        [repos]).fetchall()
    return {r[0]: Kept(*r[1:]) for r in rows}


#: The readings this process made or loaded, one per repository (the dashboard computes a document
#: per filter set: none of them reads a repository, or parses its kept reading, twice).
_MEMO: dict[str, tuple[str, str, str, Reading]] = {}


def valid(repo: str, k: Kept | None, path: str, t: Tip | None, scorer: str) -> Reading | None:
    """The kept reading when it was read at this path and tip by this scorer and its work tree's
    files are as they were; otherwise None (read the repository again)."""
    if t is None:
        return None
    memo = _MEMO.get(repo)
    if memo is not None and memo[:3] == (path, t.head, scorer):
        reading = memo[3]
    elif k is not None and (k.path, k.head, k.scorer) == (path, t.head, scorer):
        reading = Reading.from_json(k.reading)
    else:
        return None
    if not reading.still_holds():
        return None
    _MEMO[repo] = (path, t.head, scorer, reading)
    return reading


def remember(repo: str, path: str, scorer: str, reading: Reading) -> None:
    """Keep a fresh reading in this process too."""
    if reading.head is not None:
        _MEMO[repo] = (path, reading.head, scorer, reading)


def keep(store: Store, scorer: str, fresh: dict[str, tuple[str, Reading]]) -> None:
    """Keep `fresh` readings ({repo: (path, reading)}): now if the store is open for writing,
    else when it is closed (best effort, see the module docstring)."""
    if not fresh or store.export or store.path is None:
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [(repo, path, r.head, scorer, r.to_json(), now) for repo, (path, r) in sorted(fresh.items())]

    def write(con) -> None:
        con.executemany("insert or replace into legibility_readings values (?, ?, ?, ?, ?, ?)", rows)

    store.write_later(write)


__all__ = ["Kept", "Tip", "keep", "kept", "remember", "tip", "tips", "valid"]
