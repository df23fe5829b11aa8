"""Deriving changes (units of work) from a repository's stored commits.

A change is what landed on the default branch in one step:

- a merge commit on the first-parent line (`Merge pull request #N ...`, GitLab's `See merge request
  ...!N`, or any other merge) together with the commits it brought in;
- a squash merge (`subject (#N)`), together with the pull request's own commits when the repository
  has `refs/pull/N/head`;
- any other commit on the first-parent line (a direct commit, or one commit of a rebase merge).

Rules written down here are the product's contract (see docs/metrics.md); tests pin each one.

Cycle time is first authored commit -> landing (the mainline commit's committer time). It is
*unknown*, never zero, when nothing was authored before the landing moment: a single commit whose
author time equals its commit time (every GitHub squash merge without its PR commits, and most
direct commits), or a start after the landing (clock skew).

After an ingest, a repository's changes are derived and stored in one transaction, so the result
is idempotent and always agrees with the commits stored: in full, or (when the previous
derivation's head lies on the new head's first-parent line and nothing else it depended on moved)
only the changes the new commits landed, appended to those stored; the incremental rows are the
full derivation's (tests/test_incremental_changes.py). It holds the commit graph as integer arrays
(a few bytes a commit), not the commits themselves, and each change as a few integers and its
title; rows are built a slice of changes at a time (`slice_size`), so their memory does not grow
with the history (tests/test_sliced_derivation.py: the rows equal those made in one piece).
"""

from __future__ import annotations

import json
import os
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from typing import TYPE_CHECKING

from ..attribution import Matcher
from ..errors import ConfigError
from .db import Store, lowered_memory, register, shed, transaction
from .git_load import attr_schema, change_item_id
from .message_patterns import (
    GITLAB_MR,
    MERGE_BRANCH,
    PR_MERGE,
    REVERT_SUBJECT,
    REVERTS_PR,
    REVERTS_SHA,
    SQUASH,
)

if TYPE_CHECKING:  # loaded where rows are derived: an idle `ingest` re-run derives none
    from pathlib import Path

    import pyarrow as pa


class _Times:
    """Epoch microseconds of an array, as Python ints made on access."""

    def __init__(self, column: pa.ChunkedArray):
        self.us = column.to_numpy()

    def __getitem__(self, i: int) -> int:
        return int(self.us[i])


def _times(column: pa.ChunkedArray) -> list[int] | _Times:
    """A time column as epoch microseconds (ints order as the times do, and Arrow takes them back
    as timestamps without a datetime each way: a fifth of a small repository's derivation)."""
    if len(column) > _EAGER:
        return _Times(column)
    return column.to_pylist()


# A history up to this long has its graph made Python lists at once (a few MB): per value that
# costs a fifth of making them one at a time, most of a small repository's derivation.
_EAGER = 20_000


class _Some:
    """Columns of some commits (a slice's), as Python values by commit index: what the rows of a
    slice read, so the derivation holds no column of the whole history but the graph's."""

    def __init__(self, idx: list[int], table: pa.Table):
        self.idx = idx
        # Every commit in order (a short history read at once): the lists are indexed directly.
        self.pos = None if idx == list(range(len(idx))) else {i: k for k, i in enumerate(idx)}
        self.cols = {}
        for name in table.column_names:
            # Times stay epoch microseconds, as `_times` gives them (`_write` takes ints).
            self.cols[name] = table[name].to_pylist()

    def of(self, name: str) -> _Column | list:
        return self.cols[name] if self.pos is None else _Column(self.pos, self.cols[name])


class _Column:
    def __init__(self, pos: dict[int, int], values: list):
        self.pos, self.values = pos, values

    def __getitem__(self, i: int):
        return self.values[self.pos[i]]


def _parents(parents: pa.ChunkedArray, shas: _Shas) -> list[list[int]] | _Parents:
    p = _Parents(parents, shas)
    if len(shas) > _EAGER:
        return p
    idx, off = p.idx.tolist(), p.off.tolist()
    return [idx[off[i]:off[i + 1]] for i in range(len(off) - 1)]


class _Shas:
    """The commits' shas as one numpy array of fixed-width bytes, with the order that sorts it: a
    sha by its index, an index by its sha (`find`) and the shas starting with a prefix. A Python
    list of the shas and a dict from sha to index cost ~200 bytes a commit (40 MB at 200,000
    commits) for a handful of look-ups by sha; this costs 48."""

    def __init__(self, column: pa.ChunkedArray):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        col = column.combine_chunks()
        lengths = pc.binary_length(col)
        width = max(pc.max(lengths).as_py() or 1, 1)
        if pc.min(lengths).as_py() == width:  # every sha of a repository has one length (40, or 64)
            fixed = pc.cast(col, pa.binary(width))
            self.raw = np.frombuffer(fixed.buffers()[1], dtype=f"S{width}", count=len(col)).copy()
        else:
            self.raw = np.array([s.encode() for s in col.to_pylist()], dtype=f"S{width}")
        self.order = np.argsort(self.raw, kind="stable")

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, i: int) -> str:
        return self.raw[i].decode()

    def find_all(self, column: pa.Array):
        """Index of each sha of `column` (-1: not among them) as an int64 numpy array."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if not len(column) or not len(self.raw):
            return np.full(len(column), -1, dtype=np.int64)
        width = self.raw.dtype.itemsize
        lengths = pc.binary_length(column)
        if pc.max(lengths).as_py() > width:  # longer than any sha here: none of them is
            return np.array([self.find(s) for s in column.to_pylist()], dtype=np.int64)
        if pc.min(lengths).as_py() == width:
            keys = np.frombuffer(pc.cast(column, pa.binary(width)).buffers()[1], dtype=f"S{width}", count=len(column))
        else:
            keys = np.array([s.encode() for s in column.to_pylist()], dtype=f"S{width}")
        j = np.minimum(np.searchsorted(self.raw, keys, sorter=self.order), len(self.raw) - 1)
        at = self.order[j]
        return np.where(self.raw[at] == keys, at, -1).astype(np.int64)

    def _first(self, key: bytes) -> int:
        """Position in sorted order of the first sha >= key."""
        import numpy as np

        return int(np.searchsorted(self.raw, np.bytes_(key), sorter=self.order))

    def __contains__(self, sha: str) -> bool:
        return self.find(sha) >= 0

    def index(self, sha: str) -> int:
        """Index of the commit `sha`; KeyError when it is not among them (as a dict from sha to
        index raised: a look-up that must hit, where -1 would quietly index the last commit)."""
        i = self.find(sha)
        if i < 0:
            raise KeyError(sha)
        return i

    def find(self, sha: str) -> int:
        """Index of the commit `sha` (-1: not among them)."""
        key = sha.encode()
        j = self._first(key)
        if j < len(self.raw) and self.raw[self.order[j]] == key:
            return int(self.order[j])
        return -1

    def with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to `limit` shas starting with `prefix`, in sorted order."""
        key = prefix.encode()
        j = self._first(key)
        out = []
        for k in self.order[j:j + limit].tolist():
            if not self.raw[k].startswith(key):
                break
            out.append(self.raw[k].decode())
        return out


class _Parents:
    """Parent indexes per commit in compressed form (-1: a parent outside the store, e.g. shallow)."""

    def __init__(self, parents: pa.ChunkedArray, shas: _Shas):
        col = parents.combine_chunks()
        # Looked up in the sorted shas: Arrow's index_in built a hash table of every sha, ~70 MB
        # at 200,000 commits that its allocator kept.
        self.idx = shas.find_all(col.flatten())
        self.off = col.offsets.to_numpy()

    def __getitem__(self, i: int) -> list[int]:
        return self.idx[self.off[i]: self.off[i + 1]].tolist()


# The graph, read whole: what the first pass walks (~80 bytes a commit as arrays), with each
# commit's row id, by which a long history's other columns are read a slice at a time.
_GRAPH = "select rowid as r, sha, parents, epoch_us(committer_time) as ctime from commits where repo = {repo}"
# The other columns, read for the commits of a slice (`_Some`), in the order of `_want`.
_ROW_COLUMNS = {"author_id": "author_id", "atime": "epoch_us(author_time)", "committer_id": "committer_id",
                "subject": "subject", "lines": "coalesce(added + deleted, 0)", "unknown_files": "unknown_files",
                "files": "files"}
# A short history (`_EAGER`): the graph and every other column in one scan.
_WHOLE = ("select sha, parents, epoch_us(committer_time) as ctime, "
          + ", ".join(f"{v} as {k}" for k, v in _ROW_COLUMNS.items()) + " from commits where repo = {repo}")
# Some commits' columns by row id: DuckDB reads just their row groups, not every commit of the
# repository as a join on sha did (one scan of all of them per slice and per chunk).
_BY_ROWID = "select rowid as r, sha, {columns} from commits where rowid in (select r from _want) order by rowid"
# The same by sha: only should the row ids have moved since the graph was read (they do not while
# the derivation runs; checked on every read).
_SOME = "select {columns} from commits c join _want w on c.sha = w.sha where c.repo = {repo} order by w.p"
_REVERTS = ("select sha, message from commits where repo = {repo} and (message ilike '%this reverts commit%' "
            "or subject like 'Revert \"%' or message like '%Reverts %#%')")


def _literal(text: str) -> str:
    """`text` as an SQL string literal. The two scans of a repository's commits name it literally,
    not as a parameter: with `repo = ?` a fresh process grew more over the scan (50,000 commits:
    +60 MB against +23 MB for the columns, +40 MB against +4 MB for the reverts)."""
    return "'" + text.replace("'", "''") + "'"


def derive_changes(store: Store | None, repo: str, matcher: Matcher, *, head_sha: str | None = None,
                   pulls: dict[int, str] | None = None, commits: pa.Table | None = None,
                   rules: str | None = None, incremental: bool = True) -> dict[str, int]:
    """Rebuild the change items, links, events and change-level attributions of `repo`
    (`_derive_changes`), a file store's under a lower DuckDB memory limit (`_derive_memory`): a
    derivation that needs more than that runs again under the store's own (it is atomic)."""
    low = _derive_memory() if store is not None and store.path is not None and not store.held else None
    def run() -> dict:
        return _derive_changes(store, repo, matcher, head_sha=head_sha, pulls=pulls, commits=commits, rules=rules,
                               incremental=incremental)

    if low is None:
        return run()
    import duckdb

    try:
        with lowered_memory(store, low, setting="LOOPMETER_DERIVE_MEMORY"):
            return run()
    except duckdb.OutOfMemoryException:
        return run()


def _derive_changes(store: Store | None, repo: str, matcher: Matcher, *, head_sha: str | None = None,
                    pulls: dict[int, str] | None = None, commits: pa.Table | None = None,
                    rules: str | None = None, incremental: bool = True) -> dict[str, int]:
    """Rebuild the change items, links, events and change-level attributions of `repo`.

    `rules`: a fingerprint of what decides the derivation (code and signatures). When given, the
    derivation records what it started from (meta `derived:REPO`) and the next one with the same
    rules derives only the changes that commits after that head landed, where the result is
    provably what a full derivation gives (the new head's first-parent line runs through the old
    head, no pull-request head of an earlier squash merge moved, no revert link could change);
    anywhere else it derives everything. The stats say which (`incremental`). `incremental=False`
    derives everything (what the commits carry changed, e.g. their evidence) and records it.

    `store` None (with `head_sha`, `pulls` and `commits` given): derive without a store, e.g. in a
    reader process; the rows come back under `derived` in the stats, for `store_derived`.

    `head_sha` and `pulls` (the pull-request heads) are read from the store unless given.
    `commits`: every commit of the repository as `git_load.commit_tables` made them (`_batch`),
    when the caller holds them all (a repository new to the store, read in one batch): the
    derivation then reads nothing from the store, and its rows are the same (tests compare)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    con = store.con if store is not None else None
    if head_sha is None:
        head = con.execute("select head_sha from repos where repo = ?", [repo]).fetchone()
        if head is None:
            return {}
        head_sha = head[0]
    if pulls is None:
        pulls = dict(con.execute("select number, sha from git_pull_heads where repo = ?", [repo]).fetchall())
    if commits is None:
        lit = _literal(repo)
        eager = con.execute(f"select count(*) from commits where repo = {lit}").fetchone()[0] <= _EAGER
        rows = con.execute((_WHOLE if eager else _GRAPH).format(repo=lit)).to_arrow_table()
        rowid = None if eager else rows["r"].to_numpy()

        def columns_of(idx: list[int], names: tuple[str, ...]) -> _Some:
            return _read_some(con, repo, rowid, g["shas"], idx, [_ROW_COLUMNS[n] + f" as {n}" for n in names])

        def messages_of(want: list[str]) -> dict[str, str]:
            if eager or not want:  # a chunk without merges asks for none
                return _messages(store, repo, want)
            idx = [i for i in g["shas"].find_all(pa.array(want, pa.string())).tolist() if i >= 0]
            some = _read_some(con, repo, rowid, g["shas"], idx, ["message"])
            return {g["shas"][i]: v for i, v in zip(some.idx, some.cols["message"])}

        def revert_candidates() -> list[tuple[str, str]]:
            return con.execute(_REVERTS.format(repo=lit)).fetchall()
    else:
        rows = _columns_of(commits)
        eager = len(rows) <= _EAGER

        def columns_of(idx: list[int], names: tuple[str, ...]) -> _Some:
            return _Some(idx, rows.select(list(names)).take(pa.array(idx, pa.int64())))

        def messages_of(want: list[str]) -> dict[str, str]:
            keep = pc.is_in(commits["sha"], value_set=pa.array(want, pa.string()))
            t = commits.filter(keep)
            return dict(zip(t["sha"].to_pylist(), t["message"].to_pylist()))

        def revert_candidates() -> list[tuple[str, str]]:
            return _reverts_of(commits)
    # The graph as integer arrays and the other columns as Arrow/numpy arrays: Python objects are
    # made only for the commits a change needs, which keeps a 100,000-commit derivation small.
    # Held in one dict, not in locals here, so the derivation can let them go before its last step.
    shas = _Shas(rows["sha"])
    g = {"shas": shas, "parents": _parents(rows["parents"], shas),
         "ctime": _times(rows["ctime"]), "columns_of": columns_of}
    if eager:  # a short history: every column as Python lists at once (cheapest per value), read in one scan
        whole = _Some(list(range(len(shas))), rows.select(list(_ROW_COLUMNS)))
        g["columns_of"] = lambda idx, names: whole
    if commits is None:
        del rows
    del shas
    # Arrow's allocator keeps what reading the columns freed (~40 MB at 200,000 commits): give it back,
    # and DuckDB the blocks of the commits it read.
    pa.default_memory_pool().release_unused()
    shed(store)

    h = g["shas"].find(head_sha)
    if h < 0:
        return {}
    old = _previous(store, repo, rules, pulls, g["shas"]) if rules is not None and incremental and store else None
    if old is not None:
        try:
            return _derive(store, repo, matcher, h, g, pulls, messages_of, revert_candidates, rules, old)
        except _Full:
            pass  # the new commits reach into what was derived before: derive everything again
    return _derive(store, repo, matcher, h, g, pulls, messages_of, revert_candidates, rules, None)


# Owners of commits besides a change index: none yet, landed before the previous derivation's head
# (its ancestors), and taken by a squash merge derived before.
_FREE, _LANDED, _SQUASHED = -1, -2, -3
# A merge that brought in nothing: no change owns it (a walk stops there, as at an owned commit).
_DROPPED = -4
# Kinds of change, as stored in `merge_kind`.
_DIRECT, _MERGE, _PR_MERGE, _SQUASH_KIND = 0, 1, 2, 3
_KIND_NAMES = ("direct", "merge", "pr_merge", "squash")
# Changes built and stored per slice: Python objects for this many changes at a time (~ 20 MB),
# whatever the length of the history.
SLICE = 20_000


class _Full(Exception):
    """An incremental derivation would not give the rows of a full one: derive everything."""


@dataclass
class _Previous:
    """What the last derivation of a repository started from (meta `derived:REPO`)."""

    head: int  # index of its head commit
    changes: int  # how many changes it made
    squashed: list[int]  # commits its squash merges took from pull-request heads


def _previous(store: Store, repo: str, rules: str, pulls: dict[int, str], shas: _Shas) -> _Previous | None:
    """The last derivation, when this one may add to it: made under the same rules, its head still
    in the store, and no pull-request head it read moved, vanished, or arrived for a squash merge
    it made (their commits would belong to other changes)."""
    raw = store.meta(f"derived:{repo}")
    if not raw:
        return None
    try:
        d = json.loads(raw)
        head, old_pulls, count = d["head"], {int(k): v for k, v in d["pulls"].items()}, int(d["changes"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if d.get("rules") != rules or head not in shas:
        return None
    added = set()
    for number in set(old_pulls) | set(pulls):
        if old_pulls.get(number) != pulls.get(number):
            if number in old_pulls:
                return None
            added.add(number)
    rows = store.con.execute(
        "select json_extract_string(i.attrs, '$.pr_number'), l.src from items i left join links l on l.dst = i.item_id and l.kind = 'part_of' "
        "where i.source = 'git' and i.repo = ? and i.kind = 'change' and json_extract_string(i.attrs, '$.merge_kind') = 'squash'",
        [repo]).fetchall()
    if any(int(n) in added for n, _ in rows if n is not None):
        return None
    prefix = f"git:{repo}:commit:"
    found = (shas.find(s[len(prefix):]) for _, s in rows if s is not None)
    return _Previous(head=shas.index(head), changes=count, squashed=[i for i in found if i >= 0])


def slice_size() -> int:
    """Changes built and stored per slice: LOOPMETER_DERIVE_SLICE when set (tests force tiny
    slices), else SLICE."""
    raw = os.environ.get("LOOPMETER_DERIVE_SLICE", "").strip()
    try:
        n = int(raw) if raw else SLICE
    except ValueError:
        raise ConfigError(f"LOOPMETER_DERIVE_SLICE: {raw!r} is not a whole number") from None
    if n < 1:
        raise ConfigError(f"LOOPMETER_DERIVE_SLICE: must be at least 1, not {n}")
    return n


def _classify(subj: str, msg: str | None) -> tuple[int, int | None, str | None, str]:
    """Kind, pull-request number, branch and title of the change a mainline commit lands: `msg` is
    its message when it is a merge (None: not a merge)."""
    if msg is None:
        sq = SQUASH.search(subj)
        if sq:
            return _SQUASH_KIND, int(sq.group(1)), None, subj
        return _DIRECT, None, None, subj
    kind, pr, branch, title = _MERGE, None, None, subj
    mm = PR_MERGE.match(subj)
    gl = GITLAB_MR.search(msg)
    if mm:
        kind, pr = _PR_MERGE, int(mm.group(1))
        branch = mm.group(2).split("/", 1)[1] if "/" in mm.group(2) else mm.group(2)
        body = msg.split("\n\n", 1)
        if len(body) > 1 and body[1].strip():
            title = body[1].strip().split("\n", 1)[0]
    elif gl:
        kind, pr = _PR_MERGE, int(gl.group(2))
        mb = MERGE_BRANCH.match(subj)
        if mb:
            branch = mb.group(1)
    else:
        mb = MERGE_BRANCH.match(subj)
        if mb:
            branch = mb.group(1)
    return kind, pr, branch, title


def _derive(store, repo, matcher, h, g: dict, pulls, messages_of, revert_candidates, rules,
            old: _Previous | None) -> dict[str, int]:
    """The derivation proper: of every change (`old` None), or of the changes the commits after
    `old.head` landed, added to those stored (raises _Full where that would differ).

    Two passes, so the rows' memory does not grow with the history. The first walks the graph and
    keeps each change as a few integers (landing commit, kind, pull-request number; its commits as
    two integer arrays in the order they were taken); everything that can make an incremental
    derivation give other rows than a full one is found here, before anything is written. The
    second builds the rows a slice of changes at a time (`slice_size`), each slice stored (in a
    file store: written to the staging files, `store_changes`) before the next is built; the store
    changes in one transaction. `g`: the commits' columns (`derive_changes`)."""
    import pyarrow as pa

    shas, parents, ctime, columns_of = (g[k] for k in ("shas", "parents", "ctime", "columns_of"))
    n = len(shas)
    owner = array("q", [_FREE]) * n  # 8 bytes a commit, no int object per change index
    on_head = bytearray(n)

    def reach(start: int, mark: int) -> None:
        # Commits reachable from `start` not marked yet: this is what `git rev-list --count` counts.
        if on_head[start]:
            return
        stack = [start]
        on_head[start] = 1
        if mark != _FREE:
            owner[start] = mark
        while stack:
            i = stack.pop()
            for p in parents[i]:
                if p >= 0 and not on_head[p]:
                    on_head[p] = 1
                    if mark != _FREE:
                        owner[p] = mark
                    stack.append(p)

    if old is not None:
        # Everything the previous head reached had landed and was owned when the full derivation
        # reached the commits after it; the squash merges before took their pull requests' commits.
        reach(old.head, _LANDED)
        for i in old.squashed:
            if owner[i] == _FREE:
                owner[i] = _SQUASHED
    reach(h, _FREE)

    mainline = array("q")
    i = h
    while i >= 0:
        if old is not None and i == old.head:
            break
        if owner[i] != _FREE:  # the first-parent line meets the old history elsewhere: not a fast-forward
            raise _Full
        mainline.append(i)
        ps = parents[i]
        i = ps[0] if ps else -1
    else:
        if old is not None:  # the old head is not on the new first-parent line
            raise _Full
    mainline.reverse()

    def take(p: int) -> bool:
        """Whether a merge's walk goes on to parent `p`: a commit nobody owns yet. One a squash
        merge took before would be the merge's in a full derivation (it runs first): not here."""
        if p < 0:
            return False
        if owner[p] == _SQUASHED:
            raise _Full
        return owner[p] == _FREE

    # Reverts are few: what they name (subjects, pull requests) is known before the walk, so the walk
    # keeps only the changes a revert could point at, not every title.
    candidates = revert_candidates()
    wanted_titles: set[str] = set()
    wanted_prs: set[int] = set()
    for _, msg in candidates:
        wanted_prs.update(int(m.group(1)) for m in REVERTS_PR.finditer(msg))
        if not REVERTS_SHA.search(msg):
            ms = REVERT_SUBJECT.match(msg.split("\n", 1)[0])
            if ms:
                wanted_titles.add(ms.group(1))
    title_index: dict[str, list[tuple[int, int]]] = {}  # (landed, epoch us; change)
    by_pr: dict[int, int] = {}

    # The changes, as parallel integer arrays; their commits (the landing one first, then in the
    # order they were taken) as (commit, change) pairs.
    land, kinds, prs = array("q"), bytearray(), array("q")
    mem_commit, mem_change = array("q"), array("q")
    # Their titles and branches (from the landing commit's subject and, for a merge, its message),
    # a chunk's as one Arrow array: the second pass writes them without reading the subjects and
    # messages again, for about the title's bytes a change (a Python string costs ~50 more).
    titles: list[pa.Array] = []
    branches: list[pa.Array] = []

    # Walk the first-parent line oldest first. Every ancestor of an earlier landing is already owned,
    # so a breadth-first walk from a merge's other parents that stops at owned commits finds exactly
    # the commits that merge brought in (git's M^1..M).
    step = slice_size()
    for start in range(0, len(mainline), step):
        chunk = mainline[start:start + step]
        messages = messages_of([shas[m] for m in chunk if len(parents[m]) > 1])
        subject = columns_of(chunk.tolist(), ("subject",)).of("subject")
        chunk_titles: list[str] = []
        chunk_branches: list[str | None] = []
        for m in chunk:
            ch_idx = len(land)
            owner[m] = ch_idx
            ps = parents[m]
            subj = subject[m]
            kind, pr, branch, title = _classify(subj, messages.get(shas[m], subj) if len(ps) > 1 else None)
            mem_commit.append(m)
            mem_change.append(ch_idx)
            if len(ps) > 1:
                brought = 0
                q = deque(p for p in ps[1:] if take(p))
                while q:
                    i = q.popleft()
                    if owner[i] != _FREE:
                        continue
                    owner[i] = ch_idx
                    mem_commit.append(i)
                    mem_change.append(ch_idx)
                    brought += 1
                    q.extend(p for p in parents[i] if take(p))
                if not brought:
                    # A merge that brought in nothing new (its branch had already landed) is no
                    # unit of work: it is dropped, and its commit belongs to no change.
                    owner[m] = _DROPPED
                    mem_commit.pop()
                    mem_change.pop()
                    continue
            land.append(m)
            kinds.append(kind)
            prs.append(-1 if pr is None else pr)
            chunk_titles.append(title)
            chunk_branches.append(branch)
            for key in {title, subj} & wanted_titles:
                title_index.setdefault(key, []).append((ctime[m], ch_idx))
            if pr is not None and pr in wanted_prs:
                by_pr.setdefault(pr, ch_idx)
        titles.append(pa.array(chunk_titles, pa.string()))
        branches.append(pa.array(chunk_branches, pa.string()))
        del messages, subject, chunk_titles, chunk_branches
    del mainline
    nch = len(land)
    titles = pa.chunked_array(titles, pa.string())
    branches = pa.chunked_array(branches, pa.string())

    # Squash merges: the pull request's own commits, where its head ref survives. They are not on
    # HEAD; a commit shared by stacked pull requests goes to the one that landed first.
    found = bytearray(nch)  # 0: not a squash merge; 1: its pull request's commits not found; 2: found
    for ch_idx in range(nch):
        if kinds[ch_idx] != _SQUASH_KIND:
            continue
        tip = shas.find(pulls.get(prs[ch_idx], ""))
        found[ch_idx] = 1
        if tip < 0:
            continue
        q = deque([tip])
        while q:
            i = q.popleft()
            if owner[i] != _FREE or on_head[i]:
                continue
            owner[i] = ch_idx
            mem_commit.append(i)
            mem_change.append(ch_idx)
            found[ch_idx] = 2
            q.extend(p for p in parents[i] if p >= 0 and owner[p] == _FREE and not on_head[p])

    # Reverts, linked change -> change. A revert inside the same change (work in progress undone
    # before landing) reverts nothing that landed, so it is not a link.
    revert_links: set[tuple[int, int]] = set()
    if old is not None:
        _check_old_reverts(candidates, owner, shas, bool(title_index), bool(by_pr))
    else:
        for sha, msg in candidates:
            src = owner[shas.index(sha)]
            if src < 0:
                continue
            targets = set()
            named = list(REVERTS_SHA.finditer(msg))
            for m in named:
                t = _resolve_prefix(shas, m.group(1).lower())
                if t is not None and owner[shas.index(t)] >= 0:
                    targets.add(owner[shas.index(t)])
            for m in REVERTS_PR.finditer(msg):
                if int(m.group(1)) in by_pr:
                    targets.add(by_pr[int(m.group(1))])
            # The subject is matched only when no commit is named: a named commit that is not in this
            # repository (a cherry-picked revert from elsewhere) must not fall back to a guess.
            if not targets and not named:
                ms = REVERT_SUBJECT.match(msg.split("\n", 1)[0])
                if ms:
                    done = ctime[land[src]]
                    before = [c for c in title_index.get(ms.group(1), []) if c[0] <= done and c[1] != src]
                    if before:
                        targets.add(max(before)[1])
            for t in targets:
                if t != src:
                    revert_links.add((src, t))
    title_index = by_pr = candidates = None  # noqa: F841  (only the linking needed them)

    marker = None
    if rules is not None:
        marker = json.dumps({"head": shas[h], "pulls": {str(k): v for k, v in sorted(pulls.items())},
                             "changes": nch + (old.changes if old else 0), "rules": rules})
    head_commits = sum(on_head)
    stats = {"changes": nch, "with_pr_commits": found.count(2), "squash_without_pr_commits": found.count(1),
             "head_commits": head_commits, "reverts": len(revert_links)}
    owner = on_head = None  # noqa: F841  (the rows need neither)

    # Each change's commits, grouped by change in the order they were taken (a stable sort).
    import numpy as np

    by_change = np.frombuffer(mem_change, dtype=np.int64)
    order = np.argsort(by_change, kind="stable")
    members = np.frombuffer(mem_commit, dtype=np.int64)[order]
    bounds = np.searchsorted(by_change[order], np.arange(nch + 1)).tolist()
    del order, by_change, mem_commit, mem_change

    def rows(a: int, b: int) -> tuple:
        links = sorted(revert_links) if b == nch else []
        # The columns of the slice's commits (and of the reverting changes' landings, linked in
        # the last slice), read now: no column of the whole history is held.
        c = columns_of(members[bounds[a]:bounds[b]].tolist() + [land[src] for src, _ in links],
                       ("author_id", "atime", "committer_id", "lines", "unknown_files", "files"))
        return _write(repo, matcher, shas, a, b, land, kinds, prs, found, members, bounds, c.of("author_id"),
                      c.of("atime"), c.of("committer_id"), ctime, titles[a:b].to_pylist(),
                      branches[a:b].to_pylist(), c.of("lines"), c.of("unknown_files"), c.of("files"), parents,
                      links, head_commits, old is not None, marker)

    cuts = list(range(0, nch, step)) or [0]
    slices = (rows(a, min(a + step, nch)) for a in cuts)
    if len(cuts) == 1:
        derived = next(slices)
        if store is None:
            stats["derived"] = derived
        else:
            store_derived(store, derived)
    elif store is None:
        parts = list(slices)
        stats["derived"] = (repo, *(pa.concat_tables([p[k] for p in parts]) for k in (1, 2, 3, 4)), *parts[-1][5:])
    else:
        entry = [(repo, None, None, None, None, head_commits, old is not None, marker)]
        if store.held or store.path is None:
            store_changes(store, entry, slices=slices)
        else:
            staged = _stage(store, _repos_table(entry), slices)
            # Moving the staged rows into the store is the derivation's peak: the commits' columns
            # and the changes' arrays go first.
            slices = members = bounds = land = kinds = prs = found = titles = branches = None  # noqa: F841
            shas = parents = ctime = columns_of = None  # noqa: F841
            g.clear()
            # What the slices' Arrow tables and the columns held: Arrow's allocator keeps it (200,000
            # commits: the move into the store began at ~300 MB instead of ~370).
            pa.default_memory_pool().release_unused()
            shed(store)
            try:
                _move_staged(store, entry, staged)
            except BaseException:
                _remove(staged)
                raise
    stats["incremental"] = old is not None
    if old is not None:
        stats["changes"] += old.changes
    return stats


def _check_old_reverts(candidates, owner: array, shas: _Shas,
                       title_hit: bool, pr_hit: bool) -> None:
    """Raise _Full when a new change could alter a revert link: a revert commit among the new
    changes' commits, or an earlier revert whose named commit (or an abbreviation that is now
    ambiguous), pull request number or reverted subject a new change matches (`pr_hit`,
    `title_hit`: the walk found a new change a revert names by its pull request or subject)."""
    if title_hit or pr_hit:
        raise _Full
    for sha, msg in candidates:
        if owner[shas.index(sha)] >= 0:
            raise _Full
        for m in REVERTS_SHA.finditer(msg):
            prefix = m.group(1).lower()
            hits = shas.with_prefix(prefix)
            if len(hits) > 1 or any(owner[shas.index(s)] >= 0 for s in hits):
                raise _Full


def _columns_of(commits: pa.Table) -> pa.Table:
    """The columns `_GRAPH` and `_ROW_COLUMNS` read from the store, from a batch of `commit_tables` rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa.table({
        "sha": commits["sha"], "parents": commits["parents"], "author_id": commits["author_id"],
        "atime": pc.cast(commits["author_time"], pa.int64()), "committer_id": commits["committer_id"],
        "ctime": pc.cast(commits["committer_time"], pa.int64()), "subject": commits["subject"],
        "lines": pc.fill_null(pc.add(commits["added"], commits["deleted"]), 0),
        "unknown_files": commits["unknown_files"], "files": commits["files"],
    })


def _reverts_of(commits: pa.Table) -> list[tuple[str, str]]:
    """`_REVERTS` over a batch of `commit_tables` rows (the same LIKE patterns, through Arrow)."""
    import pyarrow.compute as pc

    msg, subj = commits["message"], commits["subject"]
    hit = pc.or_(pc.or_(pc.match_like(msg, "%this reverts commit%", ignore_case=True),
                        pc.match_like(subj, 'Revert "%')), pc.match_like(msg, "%Reverts %#%"))
    t = commits.filter(pc.fill_null(hit, False))
    return list(zip(t["sha"].to_pylist(), t["message"].to_pylist()))


def _read_some(con, repo: str, rowid, shas: _Shas, idx: list[int], columns: list[str]) -> _Some:
    """The `columns` (SQL) of the commits `idx` (indexes into the graph `_GRAPH` read, whose row
    ids `rowid` holds), each once, read by row id. Their shas are read too and checked: rows that
    are not those commits (row ids moved) are read again by sha."""
    import numpy as np
    import pyarrow as pa

    ids = np.unique(np.asarray(idx, dtype=np.int64))  # a landing may be named twice in a slice
    ids = ids[np.argsort(rowid[ids], kind="stable")]  # in the order the rows come back
    register(con, "_want", pa.table({"r": pa.array(rowid[ids], pa.int64())}))
    try:
        t = con.execute(_BY_ROWID.format(columns=", ".join(columns))).to_arrow_table()
    finally:
        con.unregister("_want")
    if len(t) != len(ids) or not np.array_equal(shas.find_all(t["sha"].combine_chunks()), ids):
        want = pa.table({"p": pa.array(range(len(ids)), pa.int64()), "sha": pa.array([shas[i] for i in ids.tolist()], pa.string())})
        register(con, "_want", want)
        try:
            t = con.execute(_SOME.format(columns=", ".join(columns), repo=_literal(repo))).to_arrow_table()
        finally:
            con.unregister("_want")
    return _Some(ids.tolist(), t.drop_columns([c for c in ("r", "sha") if c in t.column_names]))


def _messages(store: Store, repo: str, shas: list[str]) -> dict[str, str]:
    import pyarrow as pa

    if not shas:
        return {}
    t = pa.table({"sha": shas})
    store.con.register("_want", t)
    try:
        return dict(
            store.con.execute(
                "select c.sha, c.message from commits c semi join _want w on c.sha = w.sha where c.repo = ?", [repo]
            ).fetchall()
        )
    finally:
        store.con.unregister("_want")


def _resolve_prefix(shas: _Shas, prefix: str) -> str | None:
    hits = shas.with_prefix(prefix)
    if len(hits) > 1:
        return None  # ambiguous abbreviation: no link rather than a wrong one
    return hits[0] if hits else None


def _json_encoder():
    """`json.dumps` with its default settings, less its per-call set-up (a change's attributes
    are encoded once each: ~2 us of ~4 a change). The same text; plain `json.dumps` where this
    interpreter's json has no C encoder or builds it otherwise."""
    try:
        from json import encoder as e

        enc = e.c_make_encoder(None, None, e.encode_basestring_ascii, None, ": ", ", ", False, False, True)
        probe = {"a": "\u00e9\"", "b": 1, "c": True, "d": None, "e": 1.5}
        if "".join(enc(probe, 0)) == json.dumps(probe):
            return lambda obj: "".join(enc(obj, 0))
    except (ImportError, TypeError, AttributeError):
        pass
    return json.dumps


_json = _json_encoder()


def _append(columns: dict[str, list], **row) -> None:
    for k, v in row.items():
        columns[k].append(v)


def _write(repo, matcher, shas, a, b, land, kinds, prs, found, members, bounds, author, atime, committer, ctime,
           title_of, branch_of, lines, unknown_files, nfiles, parents, revert_links, head_commits, append,
           marker) -> tuple:
    """The rows of changes a..b-1 (and of `revert_links`), as Arrow tables: the tuple `store_changes`
    takes. `title_of`, `branch_of`: the changes' titles and branches, from a (the first pass's)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    items: dict[str, list] = {k: [] for k in (
        "item_id", "source", "kind", "repo", "team", "title", "created_at", "started_at", "done_at",
        "state", "size_lines", "author_id", "attrs")}
    ev: dict[str, list] = {k: [] for k in ("item_id", "ts", "activity", "actor_id", "attrs")}
    lk: dict[str, list] = {k: [] for k in ("src", "dst", "kind")}
    branch_attr: dict[str, list] = {f.name: [] for f in attr_schema()}
    # Appends bound once, and the columns that hold one value filled after the loop: the loop runs
    # once a change, and a set of small repositories derives tens of thousands.
    put_id, put_title, put_created, put_done = (items[k].append for k in ("item_id", "title", "created_at", "done_at"))
    put_size, put_author, put_attrs = (items[k].append for k in ("size_lines", "author_id", "attrs"))
    ev_id, ev_ts, ev_act, ev_actor, ev_attrs = (ev[k].append for k in ("item_id", "ts", "activity", "actor_id", "attrs"))
    for c in range(a, b):
        m = land[c]
        sha = shas[m]
        cid = change_item_id(repo, sha)
        kind, title, branch = _KIND_NAMES[kinds[c]], title_of[c - a], branch_of[c - a]
        pr = prs[c] if prs[c] >= 0 else None
        done_at = ctime[m]
        lo, hi = bounds[c], bounds[c + 1]
        work = [i for i in members[lo + 1:hi].tolist() if len(parents[i]) <= 1] if hi - lo > 1 else []
        reason = None
        if work:
            first = min(work, key=lambda i: atime[i])
            started, who = atime[first], author[first]
        else:
            started, who = atime[m], author[m]
            if not started < done_at:
                started = None
                reason = "squash commit without its pull-request commits" if kind == "squash" else "single commit: authored when it landed"
        if started is not None and started > done_at:
            started, reason = None, "first commit dated after landing (clock skew)"
        if kind == "squash" or len(parents[m]) <= 1:
            size = int(lines[m])
            unknown = int(unknown_files[m])
            nf = int(nfiles[m])
        else:
            size = int(sum(lines[i] for i in work)) if work else None
            unknown = int(sum(unknown_files[i] for i in work))
            nf = int(sum(nfiles[i] for i in work))
        attrs = {"merge_kind": kind, "sha": sha, "commits": len(work) if work else 1}
        if pr is not None:
            attrs["pr_number"] = pr
        if branch:
            attrs["branch"] = branch
        if found[c]:
            attrs["pr_commits_found"] = found[c] == 2
        if reason:
            attrs["cycle_time_unknown"] = reason
        if unknown:
            attrs["unknown_line_files"] = unknown
        attrs["files"] = nf
        put_id(cid)
        put_title(title)
        put_created(started)
        put_done(done_at)
        put_size(size)
        put_author(who)
        put_attrs(_json(attrs))
        if started is not None:
            ev_id(cid)
            ev_ts(started)
            ev_act("committed")
            ev_actor(who)
            ev_attrs(None)
        ev_id(cid)
        ev_ts(done_at)
        ev_act("merged")
        ev_actor(committer[m])
        ev_attrs(None)
        # Branch names seen in merge messages are evidence too (claude/..., codex/..., copilot/...).
        if branch:
            for e in matcher.match_branch(branch):
                _append(branch_attr, item_id=cid, agent=e.agent, evidence=e.evidence, signal=e.signal,
                        confidence=e.confidence, evidence_class=e.evidence_class)
    made = len(items["item_id"])
    items["started_at"] = list(items["created_at"])
    for k, v in (("source", "git"), ("kind", "change"), ("repo", repo), ("team", None), ("state", "merged")):
        items[k] = [v] * made
    for src, dst in revert_links:
        s, d = shas[land[src]], shas[land[dst]]
        reverted = change_item_id(repo, d)
        _append(lk, src=change_item_id(repo, s), dst=reverted, kind="reverts")
        _append(ev, item_id=reverted, ts=ctime[land[src]], activity="reverted",
                actor_id=committer[land[src]], attrs=json.dumps({"by": s}))

    t_items = pa.table(items, schema=pa.schema([
        ("item_id", pa.string()), ("source", pa.string()), ("kind", pa.string()), ("repo", pa.string()),
        ("team", pa.string()), ("title", pa.string()), ("created_at", pa.timestamp("us")),
        ("started_at", pa.timestamp("us")), ("done_at", pa.timestamp("us")), ("state", pa.string()),
        ("size_lines", pa.int64()), ("author_id", pa.string()), ("attrs", pa.string())]))
    t_events = pa.table(ev, schema=pa.schema([("item_id", pa.string()), ("ts", pa.timestamp("us")),
                                             ("activity", pa.string()), ("actor_id", pa.string()), ("attrs", pa.string())]))
    link_schema = pa.schema([("src", pa.string()), ("dst", pa.string()), ("kind", pa.string())])
    # part_of links, one per commit of a change: their text is made by Arrow, not as Python strings.
    part = members[bounds[a]:bounds[b]]
    if len(part):
        import numpy as np

        sha_col = pa.array([shas[i] for i in part.tolist()], pa.string())
        src = pc.binary_join_element_wise(pa.scalar(f"git:{repo}:commit:"), sha_col, "")
        counts = np.diff(np.asarray(bounds[a:b + 1], dtype=np.int64))
        dst = pc.take(t_items["item_id"], pa.array(np.repeat(np.arange(b - a), counts)))
        parts = pa.table({"src": src, "dst": dst, "kind": pa.repeat("part_of", len(src))}, schema=link_schema)
    else:
        parts = link_schema.empty_table()
    t_links = pa.concat_tables([parts, pa.table(lk, schema=link_schema)])
    t_battr = pa.table(branch_attr, schema=attr_schema())
    return (repo, t_items, t_events, t_links, t_battr, head_commits, append, marker)


def store_derived(store: Store, derived: tuple) -> None:
    """Store what a derivation made (`stats["derived"]` of one made without a store): in a held
    group at its end with the other repositories' rows, otherwise now."""
    if store.defer("changes", derived, store_changes):
        if derived[7] is not None:  # a later derivation in the same group starts from this one
            store.set_meta(f"derived:{derived[0]}", derived[7])
    else:
        store_changes(store, [derived])


def _repos_table(derived: list[tuple]) -> pa.Table:
    """Per repository (`store_changes`' `derived`): its name, item-id prefix, commits on head and
    whether the rows are appended."""
    import pyarrow as pa

    repos = [d[0] for d in derived]
    return pa.table({"repo": repos, "prefix": [f"git:{r}:" for r in repos], "head_commits": [d[5] for d in derived],
                     "append": [bool(d[6]) for d in derived]},
                    schema=pa.schema([("repo", pa.string()), ("prefix", pa.string()), ("head_commits", pa.int64()),
                                      ("append", pa.bool_())]))


def store_changes(store: Store, derived: list[tuple], *, slices: Iterator[tuple] | None = None,
                  staged: Path | None = None) -> None:
    """Replace the changes (and releases) of several repositories with those derived, in one
    transaction and a fixed number of statements for all of them: a set of small repositories
    pays per statement, not per row. `derived`: (repo, items, events, links, branch evidence,
    commits on head, append, marker) per repository, as `_write` makes them; `append`: the rows
    are the changes after the previous derivation's head, added to those stored (the releases are
    made again); `marker`: what the derivation started from, kept in meta `derived:REPO` in the
    same transaction (None: removed, so no later derivation starts from a stale one).

    `slices`: the rows of one long repository (`derived` its one entry, without rows), made and
    inserted a slice at a time, so no more than one slice of them is in memory; `staged`: those rows
    already in the staging files `_stage` wrote (they move into the store here). Rows inserted
    in an open transaction stay in memory until it commits (a 150,000-change history: ~300 MB more),
    so a file store takes the slices through the staging files: written there one by one, moved
    into the store in one transaction (DuckDB writes a large INSERT ... SELECT out as it goes). The
    store changes atomically, as before."""
    import pyarrow as pa

    rp = _repos_table(derived)
    appended = sorted({d[0] for d in derived if d[6]})
    last = {d[0]: d[7] for d in derived}  # a repository derived twice keeps its last marker
    mk = pa.table({"repo": list(last), "marker": list(last.values())},
                  schema=pa.schema([("repo", pa.string()), ("marker", pa.string())]))
    stage = staged
    if stage is not None:
        slices = iter(())
    elif slices is None:
        slices = iter([(None, *(pa.concat_tables([d[k] for d in derived]) for k in (1, 2, 3, 4)))])
    elif store.held:
        store.flush()  # rows this group deferred for the same repository go first, as they would
    with transaction(store.con, _rp=rp, _mk=mk) as con:
        # Only a repository with changes stored before has rows to replace; a fresh one (the
        # common case for a new set) skips the scans of events, links and attributions.
        stored = [r[0] for r in con.execute(
            "select distinct repo from items where source = 'git' and repo in (select repo from _rp)").fetchall()]
        for repo in sorted(stored):
            prefix = f"git:{repo}:"
            if repo in appended:
                con.execute("delete from items where source = 'git' and repo = ? and kind = 'release'", [repo])
                con.execute("delete from links where kind = 'releases' and starts_with(src, ?)", [prefix + "tag:"])
                continue
            con.execute("delete from items where source = 'git' and repo = ? and kind in ('change', 'release')", [repo])
            con.execute("delete from events where starts_with(item_id, ?)", [prefix + "change:"])
            con.execute("delete from links where starts_with(src, ?) or starts_with(dst, ?)", [prefix, prefix])
            con.execute("delete from attributions where starts_with(item_id, ?)", [prefix + "change:"])
        for part in slices:
            _insert_changes(con, *part[1:5])
            del part
        if stage is not None:
            _move(con, stage)
        # One statement for every repository's marker (one each cost ~5 ms a repository).
        con.execute("delete from meta where key in (select 'derived:' || repo from _mk where marker is null)")
        con.execute("insert or replace into meta select 'derived:' || repo, marker from _mk where marker is not null")
        # Tags become releases, linked to the change that contains the tagged commit.
        con.execute(
            """
            insert into items
            select p.prefix || 'tag:' || t.name, 'git', 'release', t.repo, null, t.name, t.time, t.time, t.time,
                   'released', null, null, json_object('sha', t.sha)
            from git_tags t join _rp p on p.repo = t.repo
            """
        )
        if appended:  # a tag may name a commit of a change derived before: read the stored links
            con.execute(
                """
                insert into links
                select p.prefix || 'tag:' || t.name, l.dst, 'releases'
                from git_tags t join _rp p on p.repo = t.repo and p.append
                join links l on l.src = p.prefix || 'commit:' || t.sha and l.kind = 'part_of'
                """
            )
        con.execute("update repos set head_commits = p.head_commits from _rp p where repos.repo = p.repo")
    if stage is not None:
        _remove(stage)


def _derive_memory() -> str | None:
    """DuckDB's memory limit while a file store derives changes: LOOPMETER_DERIVE_MEMORY, default
    160MB (DuckDB's buffers are much of the derivation's peak: 200k commits, 519-546 MB at the
    store's 256MB, 436 MB at 160MB); None (the store's own) when the user set
    LOOPMETER_MEMORY_LIMIT."""
    if os.environ.get("LOOPMETER_MEMORY_LIMIT", "").strip():
        return None
    return os.environ.get("LOOPMETER_DERIVE_MEMORY", "").strip() or "160MB"


# DuckDB's memory limit while the staged rows move into the store, below the derivation's: the
# move's working set is the items' key index (~28 MB at 150,000 changes) and the blocks it
# writes, and DuckDB otherwise fills whatever limit it has with blocks it no longer needs
# (200,000 commits: +150 MB under 160MB, +60 MB under 64MB).
MOVE_MEMORY = "64MB"


def _move_staged(store: Store, entry: list[tuple], staged: Path) -> None:
    """`store_changes` from the staging files under MOVE_MEMORY, when the derivation runs under its
    own lower limit (not when the user set LOOPMETER_MEMORY_LIMIT); a move that needs more runs
    again under the derivation's limit (the transaction rolled back, the files are still there)."""
    import duckdb

    con = store.con
    own = store.lowered
    if own is None:
        store_changes(store, entry, staged=staged)
        return
    try:
        con.execute(f"set memory_limit = '{MOVE_MEMORY}'")
    except duckdb.OutOfMemoryException:  # DuckDB holds more than that already
        store_changes(store, entry, staged=staged)
        return
    moved = False
    try:
        store_changes(store, entry, staged=staged)
        moved = True
    except duckdb.OutOfMemoryException:
        pass  # rolled back; the staged files are still there
    finally:
        con.execute(f"set memory_limit = '{own}'")
    if not moved:
        store_changes(store, entry, staged=staged)


def _stage(store: Store, rp: pa.Table, slices: Iterator[tuple]) -> Path:
    """Write the slices of derived rows one by one into Parquet files in a staging directory beside
    the store (made anew: one a crash left is dropped); returns its path.

    Parquet, not a staging DuckDB file: DuckDB checkpoints an attached database once its
    write-ahead log passes 16 MB, and that checkpoint of everything staged so far was the
    staging's peak (+50 MB at 200,000 commits, growing with the history); a Parquet writer keeps
    only the row group it writes."""
    from pathlib import Path

    path = Path(f"{store.path}.derive")
    _remove(path)
    path.mkdir()
    staging = _Staging(path)
    con = store.con
    try:
        for part in slices:
            with transaction(con, _rp=rp):
                _insert_changes(con, *part[1:5], into=staging)
            del part
            shed(store)
        staging.close()
    except BaseException:
        staging.close()
        _remove(path)
        raise
    return path


class _Staging:
    """The staged rows' Parquet files, one per table, a row group per slice."""

    TABLES = ("items", "events", "links", "attributions")

    def __init__(self, path: Path):
        self.path = path
        self.writers: dict = {}

    def write(self, table: str, rows: pa.Table) -> None:
        import pyarrow.parquet as pq

        w = self.writers.get(table)
        if w is None:
            w = self.writers[table] = pq.ParquetWriter(self.path / f"{table}.parquet", rows.schema)
        w.write_table(rows.cast(w.schema) if rows.schema != w.schema else rows)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()


def _move(con, path: Path) -> None:
    """Insert the staged rows (`_stage`) into the store's tables, in the caller's transaction."""
    def src(table: str) -> str | None:
        f = path / f"{table}.parquet"
        return "read_parquet('%s')" % str(f).replace("'", "''") if f.exists() else None

    if src("items"):
        con.execute(f"insert into items select * replace (attrs::json as attrs) from {src('items')}")
    if src("events"):
        con.execute(f"insert into events by name select * replace (attrs::json as attrs) from {src('events')}")
    if src("links"):
        con.execute(f"insert into links select src, dst, kind from {src('links')}")
    if src("attributions"):
        con.execute("insert into attributions (item_id, agent, evidence, signal, confidence, evidence_class) "
                    f"select item_id, agent, evidence, signal, confidence, evidence_class from {src('attributions')}")


def _remove(path) -> None:
    """A staging directory (or the staging DuckDB file an older loopmeter left) and its leftovers."""
    import shutil
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
    Path(f"{p}.wal").unlink(missing_ok=True)


# A change inherits the evidence of every commit in it, keeping the strongest signal per (agent,
# kind of evidence, class). A change's part_of links are all in one slice.
_INHERITED = """
    select dst as item_id, agent, evidence, arg_max(signal, confidence) as signal, max(confidence) as confidence,
           evidence_class from (
        select l.dst, a.agent, a.evidence, a.signal, a.confidence, a.evidence_class
        from _links l join main.attributions a on a.item_id = l.src
        where l.kind = 'part_of'
        union all select item_id, agent, evidence, signal, confidence, evidence_class from _battr
    ) group by dst, agent, evidence, evidence_class
"""
# The releases tagged inside the slice's changes.
_TAG_LINKS = """
    select p.prefix || 'tag:' || t.name as src, l.dst, 'releases' as kind
    from git_tags t join _rp p on p.repo = t.repo and not p.append
    join _links l on l.src = p.prefix || 'commit:' || t.sha and l.kind = 'part_of'
"""


def _insert_changes(con, items, events, links, battr, *, into: _Staging | None = None) -> None:
    """Insert one slice of derived rows (`store_changes`, in its transaction) into the tables of the
    store or (`into`) the staging files: the changes, their events and links, the evidence they
    inherit and the links of the releases tagged inside them."""
    for name, table in (("_items", items), ("_events", events), ("_links", links), ("_battr", battr)):
        register(con, name, table)
    try:
        if into is not None:
            into.write("items", items)
            into.write("events", events)
            into.write("links", links)
            into.write("attributions", con.execute(_INHERITED).to_arrow_table().cast(attr_schema()))
            into.write("links", con.execute(_TAG_LINKS).to_arrow_table().cast(links.schema))
            return
        con.execute("insert into items select * replace (attrs::json as attrs) from _items")
        con.execute("insert into events by name select * replace (attrs::json as attrs) from _events")
        con.execute("insert into links select * from _links")
        con.execute(f"insert into attributions (item_id, agent, evidence, signal, confidence, evidence_class) {_INHERITED}")
        con.execute(f"insert into links {_TAG_LINKS}")
    finally:
        for name in ("_items", "_events", "_links", "_battr"):
            con.unregister(name)
