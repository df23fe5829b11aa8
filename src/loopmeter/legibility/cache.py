"""The readings a report keeps beside the store (`STORE.legibility.json`, `readings_path`): one entry
per repository, replaced when its tip, its path, the scorer or a work tree's files moved.

Finding out whether the tip moved costs one `git rev-parse` a repository (`tips`, a few
milliseconds; threads, as the time is the process's start-up, not Python's); a report of 1,000
repositories whose tips did not move reads no tree and no history.

Why a file beside the store and not a table in it: a report opens the store read-only, and several
readers (reports, the dashboard) may hold it at once; writing a table would need the store's write
lock, which fails every other reader while held, and would change the store that the dashboard
watches. The file is replaced whole (written aside, then renamed), so a reader sees the old or the
new one, never half; two reports writing at once keep the last one's. An entry can always be lost
(an unreadable file reads as empty); nothing else depends on it. A Parquet export keeps none.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..sources.git import git, in_threads
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
    return dict(zip(paths, in_threads(tip, paths, workers=min(8, 2 * (os.cpu_count() or 1)))))


@dataclass(frozen=True)
class Kept:
    path: str
    head: str
    scorer: str
    reading: str


def readings_path(store: Store) -> Path | None:
    """Where the store's readings are kept, or None (an in-memory store, a Parquet export)."""
    if store.export or store.path is None:
        return None
    return Path(str(store.path) + ".legibility.json")


def _load(path: Path | None) -> dict[str, dict]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: read the repositories again
    return data if isinstance(data, dict) else {}


def kept(store: Store, repos: list[str]) -> dict[str, Kept]:
    """The kept reading of each of `repos` (none for a Parquet export, which carries no cache)."""
    if not repos:
        return {}
    data = _load(readings_path(store))
    out = {}
    for repo in repos:
        e = data.get(repo)
        if isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("path", "head", "scorer", "reading")):
            out[repo] = Kept(e["path"], e["head"], e["scorer"], e["reading"])
    return out


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


def forget_in_process() -> None:
    """Drop what this process remembers (as a new process starts: only the file beside the store
    remembers then)."""
    _MEMO.clear()


def remember(repo: str, path: str, scorer: str, reading: Reading) -> None:
    """Keep a fresh reading in this process too."""
    if reading.head is not None:
        _MEMO[repo] = (path, reading.head, scorer, reading)


def keep(store: Store, scorer: str, fresh: dict[str, tuple[str, Reading]]) -> None:
    """Keep `fresh` readings ({repo: (path, reading)}) beside the store (best effort, see the
    module docstring)."""
    path = readings_path(store)
    if not fresh or path is None:
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    data = _load(path)
    for repo, (where, r) in sorted(fresh.items()):
        data[repo] = {"path": where, "head": r.head, "scorer": scorer, "reading": r.to_json(), "read_at": now}
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError:  # a read-only folder: the next report reads these again
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(tmp, path)
    except OSError:  # a full disk
        Path(tmp).unlink(missing_ok=True)


__all__ = ["Kept", "Tip", "forget_in_process", "keep", "kept", "readings_path", "remember", "tip", "tips", "valid"]
