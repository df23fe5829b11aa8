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

After an ingest, a repository's changes are derived in one transaction, so the result is
idempotent and always agrees with the commits stored: in full, or (when the previous derivation's
head lies on the new head's first-parent line and nothing else it depended on moved) only the
changes the new commits landed, appended to those stored; the incremental rows are the full
derivation's (tests/test_incremental_changes.py). It holds the commit graph as integer arrays
(a few bytes a commit), not the commits themselves.
"""

from __future__ import annotations

import bisect
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from typing import TYPE_CHECKING

from ..attribution import Matcher
from .db import Store, transaction
from .git_load import attr_schema, change_item_id, commit_item_id
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
    import pyarrow as pa

_EPOCH = datetime(1970, 1, 1)


class _Lazy:
    """Python values of an Arrow column, made one at a time on access."""

    def __init__(self, column: pa.ChunkedArray):
        self.col = column.combine_chunks()

    def __getitem__(self, i: int):
        return self.col[i].as_py()


class _Times:
    """Naive UTC datetimes from an array of epoch microseconds, made on access."""

    def __init__(self, column: pa.ChunkedArray):
        self.us = column.to_numpy()

    def __getitem__(self, i: int) -> datetime:
        return _EPOCH + timedelta(microseconds=int(self.us[i]))


class _Parents:
    """Parent indexes per commit in compressed form (-1: a parent outside the store, e.g. shallow)."""

    def __init__(self, parents: pa.ChunkedArray, shas: pa.ChunkedArray):
        import numpy as np
        import pyarrow.compute as pc

        col = parents.combine_chunks()
        flat = pc.index_in(col.flatten(), value_set=shas.combine_chunks())
        self.idx = flat.fill_null(-1).to_numpy().astype(np.int64)
        self.off = col.offsets.to_numpy()

    def __getitem__(self, i: int) -> list[int]:
        return self.idx[self.off[i]: self.off[i + 1]].tolist()


@dataclass
class _Change:
    sha: str
    kind: str  # pr_merge | merge | squash | direct
    title: str
    done_at: datetime
    committer_id: str
    members: list[int] = field(default_factory=list)  # commit indexes, the landing commit included
    pr_number: int | None = None
    branch: str | None = None
    pr_commits_found: bool | None = None


_COLUMNS = ("select sha, parents, author_id, epoch_us(author_time) as atime, committer_id, "
            "epoch_us(committer_time) as ctime, subject, coalesce(added + deleted, 0) as lines, unknown_files, files "
            "from commits where repo = ?")
_REVERTS = ("select sha, message from commits where repo = ? and (message ilike '%this reverts commit%' "
            "or subject like 'Revert \"%' or message like '%Reverts %#%')")


def derive_changes(store: Store | None, repo: str, matcher: Matcher, *, head_sha: str | None = None,
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
        rows = con.execute(_COLUMNS, [repo]).to_arrow_table()

        def messages_of(want: list[str]) -> dict[str, str]:
            return _messages(store, repo, want)

        def revert_candidates() -> list[tuple[str, str]]:
            return con.execute(_REVERTS, [repo]).fetchall()
    else:
        rows = _columns_of(commits)

        def messages_of(want: list[str]) -> dict[str, str]:
            keep = pc.is_in(commits["sha"], value_set=pa.array(want, pa.string()))
            t = commits.filter(keep)
            return dict(zip(t["sha"].to_pylist(), t["message"].to_pylist()))

        def revert_candidates() -> list[tuple[str, str]]:
            return _reverts_of(commits)
    # The graph as integer arrays and the other columns as Arrow/numpy arrays: Python objects are
    # made only for the commits a change needs, which keeps a 100,000-commit derivation small.
    shas: list[str] = rows["sha"].to_pylist()
    n = len(shas)
    index = {s: i for i, s in enumerate(shas)}
    parents = _Parents(rows["parents"], rows["sha"])
    author = _Lazy(rows["author_id"])
    atime = _Times(rows["atime"])
    committer = _Lazy(rows["committer_id"])
    ctime = _Times(rows["ctime"])
    subject = _Lazy(rows["subject"])
    lines = rows["lines"].to_numpy()
    unknown_files = rows["unknown_files"].to_numpy()
    nfiles = rows["files"].to_numpy()
    del rows

    if head_sha not in index:
        return {}
    h = index[head_sha]
    old = _previous(store, repo, rules, pulls, index) if rules is not None and incremental and store else None
    if old is not None:
        try:
            return _derive(store, repo, matcher, h, shas, index, parents, author, atime, committer, ctime, subject,
                           lines, unknown_files, nfiles, pulls, messages_of, revert_candidates, rules, old)
        except _Full:
            pass  # the new commits reach into what was derived before: derive everything again
    return _derive(store, repo, matcher, h, shas, index, parents, author, atime, committer, ctime, subject,
                   lines, unknown_files, nfiles, pulls, messages_of, revert_candidates, rules, None)


# Owners of commits besides a change index: none yet, landed before the previous derivation's head
# (its ancestors), and taken by a squash merge derived before.
_FREE, _LANDED, _SQUASHED = -1, -2, -3


class _Full(Exception):
    """An incremental derivation would not give the rows of a full one: derive everything."""


@dataclass
class _Previous:
    """What the last derivation of a repository started from (meta `derived:REPO`)."""

    head: int  # index of its head commit
    changes: int  # how many changes it made
    squashed: list[int]  # commits its squash merges took from pull-request heads


def _previous(store: Store, repo: str, rules: str, pulls: dict[int, str], index: dict[str, int]) -> _Previous | None:
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
    if d.get("rules") != rules or head not in index:
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
    squashed = [index[s[len(prefix):]] for _, s in rows if s is not None and s[len(prefix):] in index]
    return _Previous(head=index[head], changes=count, squashed=squashed)


def _derive(store, repo, matcher, h, shas, index, parents, author, atime, committer, ctime, subject, lines,
            unknown_files, nfiles, pulls, messages_of, revert_candidates, rules, old: _Previous | None) -> dict[str, int]:
    """The derivation proper: of every change (`old` None), or of the changes the commits after
    `old.head` landed, added to those stored (raises _Full where that would differ)."""
    n = len(shas)
    owner = [_FREE] * n
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

    mainline = []
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

    # Walk the first-parent line oldest first. Every ancestor of an earlier landing is already owned,
    # so a breadth-first walk from a merge's other parents that stops at owned commits finds exactly
    # the commits that merge brought in (git's M^1..M).
    changes: list[_Change] = []
    messages = messages_of([shas[m] for m in mainline if len(parents[m]) > 1])
    for m in mainline:
        ch_idx = len(changes)
        owner[m] = ch_idx
        ps = parents[m]
        subj = subject[m]
        ch = _Change(sha=shas[m], kind="direct", title=subj, done_at=ctime[m], committer_id=committer[m], members=[m])
        if len(ps) > 1:
            msg = messages.get(shas[m], subj)
            ch.kind = "merge"
            mm = PR_MERGE.match(subj)
            gl = GITLAB_MR.search(msg)
            if mm:
                ch.kind, ch.pr_number = "pr_merge", int(mm.group(1))
                ch.branch = mm.group(2).split("/", 1)[1] if "/" in mm.group(2) else mm.group(2)
                body = msg.split("\n\n", 1)
                if len(body) > 1 and body[1].strip():
                    ch.title = body[1].strip().split("\n", 1)[0]
            elif gl:
                ch.kind, ch.pr_number = "pr_merge", int(gl.group(2))
                mb = MERGE_BRANCH.match(subj)
                if mb:
                    ch.branch = mb.group(1)
            else:
                mb = MERGE_BRANCH.match(subj)
                if mb:
                    ch.branch = mb.group(1)
            q = deque(p for p in ps[1:] if take(p))
            while q:
                i = q.popleft()
                if owner[i] != _FREE:
                    continue
                owner[i] = ch_idx
                ch.members.append(i)
                q.extend(p for p in parents[i] if take(p))
        else:
            sq = SQUASH.search(subj)
            if sq:
                ch.kind, ch.pr_number = "squash", int(sq.group(1))
        changes.append(ch)

    # A merge that brought in nothing new (its branch had already landed) is no unit of work: it
    # is dropped, and its commit belongs to no change.
    keep = [not (ch.kind in ("merge", "pr_merge") and len(ch.members) == 1) for ch in changes]
    if not all(keep):
        new_index, kept = [], []
        for ch, k in zip(changes, keep):
            new_index.append(len(kept) if k else -1)
            if k:
                kept.append(ch)
        owner = [new_index[o] if o >= 0 else o for o in owner]
        changes = kept

    # Squash merges: the pull request's own commits, where its head ref survives. They are not on
    # HEAD; a commit shared by stacked pull requests goes to the one that landed first.
    for ch_idx, ch in enumerate(changes):
        if ch.kind != "squash":
            continue
        tip = index.get(pulls.get(ch.pr_number, ""), -1)
        if tip < 0:
            ch.pr_commits_found = False
            continue
        found = 0
        q = deque([tip])
        while q:
            i = q.popleft()
            if owner[i] != _FREE or on_head[i]:
                continue
            owner[i] = ch_idx
            ch.members.append(i)
            found += 1
            q.extend(p for p in parents[i] if p >= 0 and owner[p] == _FREE and not on_head[p])
        ch.pr_commits_found = found > 0

    # Reverts, linked change -> change. A revert inside the same change (work in progress undone
    # before landing) reverts nothing that landed, so it is not a link.
    sorted_shas = sorted(shas)
    revert_links: set[tuple[int, int]] = set()
    if old is not None:
        _check_old_reverts(revert_candidates(), changes, owner, index, sorted_shas, subject)
    else:
        title_index: dict[str, list[tuple[datetime, int]]] = {}
        for ch_idx, ch in enumerate(changes):
            for key in {ch.title, subject[index[ch.sha]]}:
                title_index.setdefault(key, []).append((ch.done_at, ch_idx))
        by_pr: dict[int, int] = {}
        for ch_idx, ch in enumerate(changes):
            if ch.pr_number is not None:
                by_pr.setdefault(ch.pr_number, ch_idx)
        for sha, msg in revert_candidates():
            src = owner[index[sha]]
            if src < 0:
                continue
            targets = set()
            named = list(REVERTS_SHA.finditer(msg))
            for m in named:
                t = _resolve_prefix(sorted_shas, m.group(1).lower())
                if t is not None and owner[index[t]] >= 0:
                    targets.add(owner[index[t]])
            for m in REVERTS_PR.finditer(msg):
                if int(m.group(1)) in by_pr:
                    targets.add(by_pr[int(m.group(1))])
            # The subject is matched only when no commit is named: a named commit that is not in this
            # repository (a cherry-picked revert from elsewhere) must not fall back to a guess.
            if not targets and not named:
                ms = REVERT_SUBJECT.match(msg.split("\n", 1)[0])
                if ms:
                    before = [c for c in title_index.get(ms.group(1), []) if c[0] <= changes[src].done_at and c[1] != src]
                    if before:
                        targets.add(max(before)[1])
            for t in targets:
                if t != src:
                    revert_links.add((src, t))

    # What only the linking above needed goes before the rows are built (a 200,000-commit history:
    # tens of MB; the ingest's peak memory is this derivation's).
    sorted_shas = title_index = by_pr = None  # noqa: F841
    marker = None
    if rules is not None:
        marker = json.dumps({"head": shas[h], "pulls": {str(k): v for k, v in sorted(pulls.items())},
                             "changes": len(changes) + (old.changes if old else 0), "rules": rules})
    stats = _write(store, repo, matcher, shas, changes, author, atime, ctime, lines, unknown_files, nfiles,
                   parents, revert_links, on_head, append=old is not None, marker=marker)
    stats["incremental"] = old is not None
    if old is not None:
        stats["changes"] += old.changes
    return stats


def _check_old_reverts(candidates, changes: list[_Change], owner: list[int], index: dict[str, int],
                       sorted_shas: list[str], subject) -> None:
    """Raise _Full when a new change could alter a revert link: a revert commit among the new
    changes' commits, or an earlier revert whose named commit (or an abbreviation that is now
    ambiguous), pull request number or reverted subject a new change could match."""
    prs = {ch.pr_number for ch in changes if ch.pr_number is not None}
    titles = set()
    for ch in changes:
        titles.update((ch.title, subject[index[ch.sha]]))
    for sha, msg in candidates:
        if owner[index[sha]] >= 0:
            raise _Full
        named = list(REVERTS_SHA.finditer(msg))
        for m in named:
            prefix = m.group(1).lower()
            i = bisect.bisect_left(sorted_shas, prefix)
            hits = [s for s in sorted_shas[i:i + 2] if s.startswith(prefix)]
            if len(hits) > 1 or any(owner[index[s]] >= 0 for s in hits):
                raise _Full
        if any(int(m.group(1)) in prs for m in REVERTS_PR.finditer(msg)):
            raise _Full
        if not named:
            ms = REVERT_SUBJECT.match(msg.split("\n", 1)[0])
            if ms and ms.group(1) in titles:
                raise _Full


def _columns_of(commits: pa.Table) -> pa.Table:
    """The columns `_COLUMNS` reads from the store, from a batch of `commit_tables` rows."""
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


def _resolve_prefix(sorted_shas: list[str], prefix: str) -> str | None:
    i = bisect.bisect_left(sorted_shas, prefix)
    if i < len(sorted_shas) and sorted_shas[i].startswith(prefix):
        if i + 1 < len(sorted_shas) and sorted_shas[i + 1].startswith(prefix):
            return None  # ambiguous abbreviation: no link rather than a wrong one
        return sorted_shas[i]
    return None


def _append(columns: dict[str, list], **row) -> None:
    for k, v in row.items():
        columns[k].append(v)


def _write(store, repo, matcher, shas, changes, author, atime, ctime, lines, unknown_files, nfiles,
           parents, revert_links, on_head, *, append: bool = False, marker: str | None = None) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    items: dict[str, list] = {k: [] for k in (
        "item_id", "source", "kind", "repo", "team", "title", "created_at", "started_at", "done_at",
        "state", "size_lines", "author_id", "attrs")}
    ev: dict[str, list] = {k: [] for k in ("item_id", "ts", "activity", "actor_id", "attrs")}
    lk: dict[str, list] = {k: [] for k in ("src", "dst", "kind")}
    # part_of links, one per commit of a change, as indexes: their text is made by Arrow (two
    # Python strings per commit held until the insert were the largest part of the peak).
    part_commit: list[int] = []
    part_change: list[int] = []
    part_commit_first: list[str] = []  # change item ids, by change
    stats = {"changes": len(changes), "with_pr_commits": 0, "squash_without_pr_commits": 0}
    for ch in changes:
        cid = change_item_id(repo, ch.sha)
        land = ch.members[0]
        work = [i for i in ch.members[1:] if len(parents[i]) <= 1] if len(ch.members) > 1 else []
        reason = None
        if work:
            first = min(work, key=lambda i: atime[i])
            started, who = atime[first], author[first]
        else:
            started, who = atime[land], author[land]
            if not started < ctime[land]:
                started = None
                reason = "squash commit without its pull-request commits" if ch.kind == "squash" else "single commit: authored when it landed"
        if started is not None and started > ch.done_at:
            started, reason = None, "first commit dated after landing (clock skew)"
        if ch.kind == "squash" or len(parents[land]) <= 1:
            size = int(lines[land])
            unknown = int(unknown_files[land])
            nf = int(nfiles[land])
        else:
            size = int(sum(lines[i] for i in work)) if work else None
            unknown = int(sum(unknown_files[i] for i in work))
            nf = int(sum(nfiles[i] for i in work))
        if ch.kind == "squash":
            if ch.pr_commits_found:
                stats["with_pr_commits"] += 1
            else:
                stats["squash_without_pr_commits"] += 1
        attrs = {"merge_kind": ch.kind, "sha": ch.sha, "commits": len(work) if work else 1}
        if ch.pr_number is not None:
            attrs["pr_number"] = ch.pr_number
        if ch.branch:
            attrs["branch"] = ch.branch
        if ch.pr_commits_found is not None:
            attrs["pr_commits_found"] = ch.pr_commits_found
        if reason:
            attrs["cycle_time_unknown"] = reason
        if unknown:
            attrs["unknown_line_files"] = unknown
        attrs["files"] = nf
        items["item_id"].append(cid)
        items["source"].append("git")
        items["kind"].append("change")
        items["repo"].append(repo)
        items["team"].append(None)
        items["title"].append(ch.title)
        items["created_at"].append(started)
        items["started_at"].append(started)
        items["done_at"].append(ch.done_at)
        items["state"].append("merged")
        items["size_lines"].append(size)
        items["author_id"].append(who)
        items["attrs"].append(json.dumps(attrs))
        if started is not None:
            _append(ev, item_id=cid, ts=started, activity="committed", actor_id=who, attrs=None)
        _append(ev, item_id=cid, ts=ch.done_at, activity="merged", actor_id=ch.committer_id, attrs=None)
        part_commit.extend(ch.members)
        part_change.extend([len(part_commit_first)] * len(ch.members))
        part_commit_first.append(cid)
    for src, dst in sorted(revert_links):
        reverted = change_item_id(repo, changes[dst].sha)
        _append(lk, src=change_item_id(repo, changes[src].sha), dst=reverted, kind="reverts")
        _append(ev, item_id=reverted, ts=changes[src].done_at, activity="reverted",
                actor_id=changes[src].committer_id, attrs=json.dumps({"by": changes[src].sha}))

    # Branch names seen in merge messages are evidence too (claude/..., codex/..., copilot/...).
    branch_attr: dict[str, list] = {f.name: [] for f in attr_schema()}
    for ch in changes:
        if ch.branch:
            for e in matcher.match_branch(ch.branch):
                _append(branch_attr, item_id=change_item_id(repo, ch.sha), agent=e.agent, evidence=e.evidence,
                        signal=e.signal, confidence=e.confidence, evidence_class=e.evidence_class)

    t_items = pa.table(items, schema=pa.schema([
        ("item_id", pa.string()), ("source", pa.string()), ("kind", pa.string()), ("repo", pa.string()),
        ("team", pa.string()), ("title", pa.string()), ("created_at", pa.timestamp("us")),
        ("started_at", pa.timestamp("us")), ("done_at", pa.timestamp("us")), ("state", pa.string()),
        ("size_lines", pa.int64()), ("author_id", pa.string()), ("attrs", pa.string())]))
    t_events = pa.table(ev, schema=pa.schema([("item_id", pa.string()), ("ts", pa.timestamp("us")),
                                             ("activity", pa.string()), ("actor_id", pa.string()), ("attrs", pa.string())]))
    link_schema = pa.schema([("src", pa.string()), ("dst", pa.string()), ("kind", pa.string())])
    if part_commit:
        sha_col = pc.take(pa.array(shas, pa.string()), pa.array(part_commit, pa.int64()))
        src = pc.binary_join_element_wise(pa.scalar(f"git:{repo}:commit:"), sha_col, "")
        dst = pc.take(pa.array(part_commit_first, pa.string()), pa.array(part_change, pa.int64()))
        part_commit.clear(), part_change.clear(), part_commit_first.clear()
        parts = pa.table({"src": src, "dst": dst, "kind": pa.repeat("part_of", len(src))}, schema=link_schema)
    else:
        parts = link_schema.empty_table()
    t_links = pa.concat_tables([parts, pa.table(lk, schema=link_schema)])
    items.clear(), ev.clear(), lk.clear()  # the rows are in Arrow now
    t_battr = pa.table(branch_attr, schema=attr_schema())
    derived = (repo, t_items, t_events, t_links, t_battr, sum(on_head), append, marker)
    if store is None:
        stats["derived"] = derived
    else:
        store_derived(store, derived)
    stats["head_commits"] = sum(on_head)
    stats["reverts"] = len(revert_links)
    return stats


def store_derived(store: Store, derived: tuple) -> None:
    """Store what a derivation made (`stats["derived"]` of one made without a store): in a held
    group at its end with the other repositories' rows, otherwise now."""
    if store.defer("changes", derived, store_changes):
        if derived[7] is not None:  # a later derivation in the same group starts from this one
            store.set_meta(f"derived:{derived[0]}", derived[7])
    else:
        store_changes(store, [derived])


def store_changes(store: Store, derived: list[tuple]) -> None:
    """Replace the changes (and releases) of several repositories with those derived, in one
    transaction and a fixed number of statements for all of them: a set of small repositories
    pays per statement, not per row. `derived`: (repo, items, events, links, branch evidence,
    commits on head, append, marker) per repository, as `_write` makes them; `append`: the rows
    are the changes after the previous derivation's head, added to those stored (the releases are
    made again); `marker`: what the derivation started from, kept in meta `derived:REPO` in the
    same transaction (None: removed, so no later derivation starts from a stale one)."""
    import pyarrow as pa

    repos = [d[0] for d in derived]
    rp = pa.table({"repo": repos, "prefix": [f"git:{r}:" for r in repos], "head_commits": [d[5] for d in derived],
                   "append": [bool(d[6]) for d in derived]},
                  schema=pa.schema([("repo", pa.string()), ("prefix", pa.string()), ("head_commits", pa.int64()),
                                    ("append", pa.bool_())]))
    cat = [pa.concat_tables([d[k] for d in derived]).combine_chunks() for k in (1, 2, 3, 4)]
    appended = sorted({d[0] for d in derived if d[6]})
    last = {d[0]: d[7] for d in derived}  # a repository derived twice keeps its last marker
    mk = pa.table({"repo": list(last), "marker": list(last.values())},
                  schema=pa.schema([("repo", pa.string()), ("marker", pa.string())]))
    with transaction(store.con, _rp=rp, _mk=mk, _items=cat[0], _events=cat[1], _links=cat[2], _battr=cat[3]) as con:
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
        # One statement for every repository's marker (one each cost ~5 ms a repository).
        con.execute("delete from meta where key in (select 'derived:' || repo from _mk where marker is null)")
        con.execute("insert or replace into meta select 'derived:' || repo, marker from _mk where marker is not null")
        con.execute("insert into items select * replace (attrs::json as attrs) from _items")
        con.execute("insert into events by name select * replace (attrs::json as attrs) from _events")
        con.execute("insert into links select * from _links")
        # A change inherits the evidence of every commit in it, keeping the strongest signal per
        # (agent, kind of evidence, class). The part_of links of these repositories are exactly
        # _links now (the old ones were deleted above).
        con.execute(
            """
            insert into attributions (item_id, agent, evidence, signal, confidence, evidence_class)
            select dst, agent, evidence, arg_max(signal, confidence), max(confidence), evidence_class from (
                select l.dst, a.agent, a.evidence, a.signal, a.confidence, a.evidence_class
                from _links l join attributions a on a.item_id = l.src
                where l.kind = 'part_of'
                union all select item_id, agent, evidence, signal, confidence, evidence_class from _battr
            ) group by dst, agent, evidence, evidence_class
            """
        )
        # Tags become releases, linked to the change that contains the tagged commit.
        con.execute(
            """
            insert into items
            select p.prefix || 'tag:' || t.name, 'git', 'release', t.repo, null, t.name, t.time, t.time, t.time,
                   'released', null, null, json_object('sha', t.sha)
            from git_tags t join _rp p on p.repo = t.repo
            """
        )
        con.execute(
            """
            insert into links
            select p.prefix || 'tag:' || t.name, l.dst, 'releases'
            from git_tags t join _rp p on p.repo = t.repo and not p.append
            join _links l on l.src = p.prefix || 'commit:' || t.sha and l.kind = 'part_of'
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
