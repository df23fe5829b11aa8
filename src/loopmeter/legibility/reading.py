"""A reading: what a repository's files and year of history say to the scorecard, at one tip.

Reading a repository (`scan`, `read_history`, the config files) is most of a scorecard's cost,
0.1-0.5 s a repository; the store's facts change with every ingest but the files only when the
tip moves. So the checks that read only the repository keep their evidence here, and the checks
that also read the store (context.Split) keep their repository half; the report keeps a reading
per repository in the store (legibility/cache.py) and judges it with the facts of the day.

A reading is valid for one tip, one scorer (`scorer()`: this package's source and the matcher's
rules) and, in a work tree, the index and the config files read as they were (`stamp`): a work
tree's uncommitted edit to a file the checks read is seen, not hidden behind an unmoved tip.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from ..attribution import Matcher
from . import callables, feedback, measurable, observable, owned
from .context import Context, Evidence, Split
from .history import YEAR, History
from .scan import Inventory

#: Bumped when the shape of a reading changes; the source digest catches every other change.
FORMAT = 1
FINDERS = {**observable.FINDERS, **callables.FINDERS, **measurable.FINDERS, **feedback.FINDERS, **owned.FINDERS}


@cache
def _source_digest() -> str:
    # Every module of the package and the code outside it whose answers a reading holds (the
    # message patterns and the matcher's code, used by the history checks; git's date parsing): an
    # upgrade that changes any rule rereads each repository once, and nobody has to remember a version.
    here = Path(__file__).parent
    h = hashlib.sha256()
    for p in [*sorted(here.glob("*.py")), here.parent / "store" / "message_patterns.py",
              here.parent / "attribution.py", here.parent / "sources" / "git.py"]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def scorer(matcher: Matcher) -> str:
    """The version a reading is valid for: its format, the scorer's source and the matcher's rules
    (the bus factor leaves out the bots and agents the matcher knows)."""
    return f"{FORMAT}:{_source_digest()}:{matcher.fingerprint}"


def stamp_of(paths: list[str]) -> list[list]:
    """(path, mtime_ns, size) of each path; None twice for a path that is not there."""
    out: list[list] = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append([p, st.st_mtime_ns, st.st_size])
        except OSError:
            out.append([p, None, None])
    return out


@dataclass
class Reading:
    """The repository's side of a scorecard (see the module docstring)."""

    repo: str
    path: str
    kind: str
    head: str | None
    as_of: datetime | None
    files: int
    unread: list[str]
    truncated: bool
    found: dict[str, Evidence]  # the checks that read only the repository
    parts: dict[str, Any]  # the repository half of each Split check
    stamp: list[list] = field(default_factory=list)  # a work tree's index and config files as read

    @property
    def is_git(self) -> bool:
        return self.kind != "directory"

    @property
    def since(self) -> datetime | None:
        return None if self.as_of is None else self.as_of - YEAR

    def still_holds(self) -> bool:
        """Whether the work tree's index and config files are as they were read."""
        return stamp_of([s[0] for s in self.stamp]) == self.stamp

    def to_json(self) -> str:
        d = asdict(self)
        d["as_of"] = None if self.as_of is None else self.as_of.isoformat()
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Reading:
        d = json.loads(text)
        d["as_of"] = None if d["as_of"] is None else datetime.fromisoformat(d["as_of"])
        d["found"] = {k: Evidence(**v) for k, v in d["found"].items()}
        return cls(**d)


def read(inv: Inventory, history: History, matcher: Matcher | None = None, git_dir: str | None = None) -> Reading:
    """Run the repository's side of every check. `git_dir` (a work tree's) names the index whose
    stamp, with the config files', says later whether the reading still holds."""
    ctx = Context(inv, history, matcher)
    found: dict[str, Evidence] = {}
    parts: dict[str, Any] = {}
    for cid, finder in FINDERS.items():
        if isinstance(finder, Split):
            parts[cid] = finder.read(ctx) if finder.read is not None else None
        else:
            found[cid] = finder(ctx)
    stamp: list[list] = []
    if inv.kind == "worktree" and git_dir is not None:
        # .mailmap too, present or not: git reads the work tree's for the history's names.
        stamp = stamp_of([os.path.join(git_dir, "index"), str(inv.root / ".mailmap"),
                          *(str(inv.root / p) for p in ctx.read)])
    return Reading(repo=inv.name, path=str(inv.root), kind=inv.kind, head=inv.head, as_of=history.as_of,
                   files=len(inv.files), unread=ctx.unread, truncated=history.truncated, found=found,
                   parts=parts, stamp=stamp)


def judged(reading: Reading, facts) -> dict[str, Evidence]:
    """Every check's evidence: the kept ones as read, the Split ones judged with `facts`."""
    out: dict[str, Evidence] = {}
    for cid, finder in FINDERS.items():
        if isinstance(finder, Split):
            out[cid] = finder.judge(reading.parts.get(cid), facts)
        else:
            ev = reading.found[cid]
            # A copy: scoring must never change what is kept.
            out[cid] = Evidence(ev.fraction, ev.value, list(ev.evidence), list(ev.missing), ev.unknown)
    return out


__all__ = ["FINDERS", "FORMAT", "Reading", "judged", "read", "scorer", "stamp_of"]
