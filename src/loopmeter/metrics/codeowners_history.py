"""Every version of a repository's CODEOWNERS along the ingested commit's first-parent line, so a
change is assigned by the CODEOWNERS that was in force when it landed, not by today's.

A change's landing commit is a commit of HEAD's first-parent line (store/changes.py), and that line
is the order in which the default branch's tree changed. So the version in force at a change is the
one in the tree of its landing commit: the last version whose commit is at or before the landing
commit on that line. We order by ancestry, not by time: committer times on the line need not
increase (rebased or imported history, clock skew), while a CODEOWNERS edit takes effect exactly
where its commit (or the merge that brought it) sits on the line.

Three git processes per repository, however many versions there are:

1. `git rev-list --first-parent HEAD`: the line, for each landing commit's position on it;
2. `git log --first-parent --diff-merges=first-parent --raw --no-renames -- <locations>`: each
   commit of the line that added, changed or deleted a CODEOWNERS at any location, with the blob
   ids (a merge is compared with its first parent, so an edit from a merged branch counts where
   the merge landed; a file moved between locations is a delete plus an add);
3. `git cat-file --batch`: each distinct blob, read once.

Walking the log oldest first keeps which location holds which blob; at each commit the file in
force is the first present of `LOCATIONS` (GitHub's `.github/` first, then the root and `docs/`
that both forges read, then GitLab's `.gitlab/`: the same choice as for the ingested commit), and
none when every location is empty (never created yet, or deleted).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..legibility.codeowners import LOCATIONS


@dataclass(frozen=True)
class Version:
    #: Position on the first-parent line (0 = the oldest commit) of the commit it took effect at.
    index: int
    sha: str
    #: Where the file in force lives and its text; both None when there is none from here on.
    location: str | None
    text: str | None


@dataclass(frozen=True)
class History:
    #: landing commit sha -> position on HEAD's first-parent line (0 = the oldest).
    position: dict[str, int]
    #: The versions, oldest first; before the first one there is no CODEOWNERS.
    versions: list[Version]


def _git(repo: str, path: str, *args: str, stdin: bytes | None = None) -> bytes:
    p = subprocess.run(["git", "-C", path, *args], input=stdin, capture_output=True, check=False)
    if p.returncode != 0:
        first = (p.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[0]
        raise ConfigError(f"--by codeowners: git {args[0]} failed in the clone of {repo!r} at {path!r}: {first} "
                          "(re-ingest the repository if its history was rewritten)")
    return p.stdout


def codeowners_history(repo: str, path: str | None, sha: str | None) -> History:
    """The first-parent line of the ingested commit and every CODEOWNERS version along it."""
    if not path or not Path(path).exists():
        raise ConfigError(f"--by codeowners: repository {repo!r} has no clone at {path!r} to read CODEOWNERS from")
    head = sha or "HEAD"
    line = _git(repo, path, "rev-list", "--first-parent", head, "--").decode().split()
    position = {s: i for i, s in enumerate(reversed(line))}
    # --root and --no-color: a user's log.showRoot=false or color.ui=always would hide a CODEOWNERS
    # the root commit added, or colour the rows read here.
    log = _git(repo, path, "log", "--first-parent", "--diff-merges=first-parent", "--raw", "--no-renames",
               "--root", "--no-color", "--no-abbrev", "--format=%x01%H", head, "--",
               *LOCATIONS).decode("utf-8", "replace")
    edits: list[tuple[str, dict[str, str | None]]] = []  # newest first, as git log lists them
    for block in log.split("\x01")[1:]:
        rows = block.strip("\n").split("\n")
        changed: dict[str, str | None] = {}
        for row in rows[1:]:
            if not row.startswith(":"):
                continue
            meta, loc = row.split("\t", 1)
            fields = meta.split()
            # :old-mode new-mode old-blob new-blob status; a deletion leaves no blob.
            changed[loc] = None if fields[4].startswith("D") else fields[3]
        if changed:
            edits.append((rows[0].strip(), changed))
    edits.reverse()

    blobs = sorted({b for _, ch in edits for b in ch.values() if b is not None})
    texts = _read_blobs(repo, path, blobs)
    versions: list[Version] = []
    present: dict[str, str] = {}
    for commit, changed in edits:
        for loc, blob in changed.items():
            if blob is None:
                present.pop(loc, None)
            else:
                present[loc] = blob
        if commit not in position:  # not on the line (cannot happen for a first-parent log)
            continue
        loc = next((lo for lo in LOCATIONS if lo in present), None)
        versions.append(Version(position[commit], commit, loc, None if loc is None else texts[present[loc]]))
    return History(position, versions)


def _read_blobs(repo: str, path: str, blobs: list[str]) -> dict[str, str]:
    """The text of each blob, all through one `git cat-file --batch`."""
    if not blobs:
        return {}
    out = _git(repo, path, "cat-file", "--batch", stdin="".join(b + "\n" for b in blobs).encode())
    texts: dict[str, str] = {}
    i = 0
    for blob in blobs:
        nl = out.index(b"\n", i)
        header = out[i:nl].decode().split()
        if len(header) < 3:  # "<sha> missing": a partial clone without the blob
            raise ConfigError(f"--by codeowners: the clone of {repo!r} at {path!r} lacks CODEOWNERS blob {blob}")
        size = int(header[2])
        texts[blob] = out[nl + 1:nl + 1 + size].decode("utf-8", "replace")
        i = nl + 1 + size + 1  # the content is followed by a newline
    return texts
