"""What the last year of history says: commits, who made them, which top-level folders they touched.

"The last year" is the 365 days before HEAD's commit time, not before now, so a scorecard of a
mirror fetched months ago is the same whenever it is computed (deterministic, no clock).
Two git processes read it: one `git log` (every commit of the year with its message) and one
`git diff-tree --stdin` without `-r`, which compares only root trees and so names the top-level
entries each commit touched at a fraction of the cost of a recursive `--name-only`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..sources.git import parse_raw_date
from ..store.message_patterns import GITLAB_MR, PR_MERGE, SQUASH
from .scan import Inventory, run_git

YEAR = timedelta(days=365)
#: A year of a very busy repository (the Linux kernel makes ~80,000 commits a year) is read as its
#: newest commits only, which keeps the scorecard within seconds; the shares become those of the sample.
MAX_COMMITS = 20_000

# An issue or ticket named in a message: "#123", "gh-123", "owner/repo#123", a Jira-style key
# ("ABC-123"), or an issue/pull/merge-request URL. Upper-case words that look like keys but name
# standards or encodings are not tickets.
_HASH_REF = re.compile(r"(?<![\w&/])(?:[\w.-]+/[\w.-]+)?#(\d+)\b|\bgh-(\d+)\b", re.I)
_KEY_REF = re.compile(r"\b([A-Z][A-Z0-9]{1,9})-(\d+)\b")
_URL_REF = re.compile(r"/(?:issues|pull|-/issues|-/merge_requests|browse)/[\w-]*\d+")
_NOT_TICKETS = frozenset({"UTF", "SHA", "ISO", "CVE", "RFC", "PEP", "GPL", "LGPL", "AGPL", "MIT", "BSD", "MD",
                          "CWE", "GHSA", "X", "TLS", "SSL", "HTTP", "IEEE", "ECMA", "ES", "PY", "CP"})


def pr_number(subject: str, message: str) -> int | None:
    """The pull or merge request a landing commit names in the way the hosts write it (the change
    derivation's patterns, store/message_patterns.py), if any."""
    if m := PR_MERGE.match(subject):
        return int(m.group(1))
    if m := GITLAB_MR.search(message):
        return int(m.group(2))
    m = SQUASH.search(subject)
    return int(m.group(1)) if m else None


def references_ticket(message: str) -> bool:
    """Whether a message names an issue or ticket, other than the pull request that landed it."""
    lines = message.split("\n")
    if lines and (PR_MERGE.match(lines[0]) or SQUASH.search(lines[0])):
        # Only the pull request's own number goes: a ticket key in the merged branch's name
        # (`from owner/ABC-12-fix`) still names a ticket.
        m = PR_MERGE.match(lines[0])
        first = SQUASH.sub("", lines[0][m.end(1):] if m else lines[0])
        message = "\n".join([first, *lines[1:]])
    message = GITLAB_MR.sub("", message)
    if _HASH_REF.search(message) or _URL_REF.search(message):
        return True
    return any(m.group(1) not in _NOT_TICKETS for m in _KEY_REF.finditer(message))


@dataclass
class Commit:
    sha: str
    parents: list[str]
    author_name: str
    author_email: str
    time: datetime
    message: str

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]


@dataclass
class History:
    """The commits of the year before `as_of`, the first-parent line among them, and what they touched."""

    as_of: datetime | None
    commits: list[Commit] = field(default_factory=list)
    first_parent: list[Commit] = field(default_factory=list)  # the landings (changes), newest first
    touched_top: set[str] = field(default_factory=set)  # top-level entries touched by a non-merge commit
    truncated: bool = False  # the year held more than MAX_COMMITS commits; only the newest were read

    @property
    def since(self) -> datetime | None:
        return None if self.as_of is None else self.as_of - YEAR


def read_history(inv: Inventory) -> History:
    if not inv.is_git or inv.head is None or inv.head_time is None:
        return History(as_of=None)
    hist = History(as_of=inv.head_time)
    since = str(int((hist.since - datetime(1970, 1, 1)).total_seconds()))
    out = run_git(inv, "log", "-z", f"--since={since}", f"--max-count={MAX_COMMITS}", "--format=%H%x1f%P%x1f%aN%x1f%aE%x1f%ct +0000%x1f%B", "HEAD")
    by_sha: dict[str, Commit] = {}
    for rec in out.split(b"\0"):
        f = rec.decode("utf-8", "replace").split("\x1f", 5)
        if len(f) < 6:
            continue
        t, _ = parse_raw_date(f[4].encode())
        if t is None:
            continue
        c = Commit(sha=f[0].strip(), parents=f[1].split(), author_name=f[2], author_email=f[3], time=t,
                   message=f[5].strip("\n"))
        hist.commits.append(c)
        by_sha[c.sha] = c
    hist.truncated = len(hist.commits) >= MAX_COMMITS
    # The first-parent line from HEAD, as far back as the year reaches.
    sha = inv.head
    while sha in by_sha:
        c = by_sha[sha]
        if c.time < hist.since:
            break
        hist.first_parent.append(c)
        sha = c.parents[0] if c.parents else ""
    singles = [c.sha for c in hist.commits if len(c.parents) <= 1]
    if singles:
        # Without -r, diff-tree names only the root tree's entries that changed; a root commit is
        # compared with the empty tree (--root).
        tops = run_git(inv, "diff-tree", "--stdin", "--root", "--no-commit-id", "--name-only", "-z",
                       input="\n".join(singles).encode() + b"\n")
        hist.touched_top = {p.decode("utf-8", "replace") for p in tops.split(b"\0") if p}
    return hist
