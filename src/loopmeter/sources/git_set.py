"""Sets of repositories: a list file, a directory tree to discover, and each one's refs in one call.

An organisation's ingest names hundreds or thousands of repositories. This module finds them and
says, with one `git` process per repository, whether anything a store reads from it has moved
(`refs_state`), so a daily re-run over a thousand quiet repositories costs a thousand `git`
calls and nothing else.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import ConfigError
from .git import git

# Directories never worth descending into while looking for repositories: dependency trees and
# build output hold vendored clones that are not the organisation's work.
_SKIP_DIRS = {"node_modules", ".venv", "venv", "__pycache__", ".tox", "target", "build", "dist"}


def read_repo_list(path: str | os.PathLike[str]) -> list[str]:
    """Repository paths from a file, one a line; blank lines and `#` comments are skipped.

    Relative paths are taken relative to the list file's folder, so a list can travel with the
    checkouts it names."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8-sig")  # a list saved by Notepad starts with a BOM
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the repository list ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: the repository list is not UTF-8 text") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        q = Path(line).expanduser()
        if not q.is_absolute():
            q = p.parent / q
        if not q.is_dir():
            raise ConfigError(f"{p} line {n}: {line!r} is not a directory")
        out.append(str(q))
    if not out:
        raise ConfigError(f"{p}: the repository list names no repository")
    return out


def _is_repo(d: Path) -> bool:
    if (d / ".git").exists():
        return True
    # A bare repository (a mirror): HEAD, objects/ and refs/ side by side.
    return (d / "HEAD").is_file() and (d / "objects").is_dir() and (d / "refs").is_dir()


def discover_repositories(root: str | os.PathLike[str]) -> list[str]:
    """Every git repository at or under `root` (work trees and bare mirrors), sorted by path.

    A repository's own folders are not searched further (submodules and vendored clones inside a
    repository belong to it, and their history is not the organisation's). Symbolic links to
    folders are followed: a folder of links to the organisation's clones or mirrors is a common
    way to name a set. A folder reached twice (two links to one clone, a link back up the tree) is
    searched once, and a repository reached twice is listed once, under the first path found."""
    r = Path(root).expanduser()
    if not r.is_dir():
        raise ConfigError(f"--discover: {r} is not a directory")
    found: list[str] = []
    seen: set[str] = set()
    for dirpath, dirnames, _ in os.walk(r, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a loop of links, or a second way to the same folder
            dirnames[:] = []
            continue
        seen.add(real)
        d = Path(dirpath)
        if _is_repo(d):
            found.append(str(d))
            dirnames[:] = []
            continue
        dirnames[:] = sorted(n for n in dirnames if n not in _SKIP_DIRS and not n.startswith("."))
    if not found:
        raise ConfigError(f"--discover: no git repository at or under {r}")
    return sorted(found)


def read_refs(path: str | os.PathLike[str]) -> bytes | None:
    """Every ref of the repository and HEAD, as `git show-ref --head` prints them ("sha name" a
    line, sorted by name); None when git cannot say (not a repository, no refs)."""
    proc = git(Path(path), "show-ref", "--head", check=False)
    if proc.returncode != 0 or not proc.stdout:
        return None
    return proc.stdout


def state_of(refs: bytes | None, *, salt: str) -> str | None:
    """The digest `refs_state` gives, from refs already read (`read_refs`)."""
    if refs is None:
        return None
    h = hashlib.sha256(salt.encode())
    h.update(b"\0")
    h.update(refs)
    return h.hexdigest()


def refs_state(path: str | os.PathLike[str], *, salt: str) -> str | None:
    """A digest of every ref of the repository and of HEAD, from one `git show-ref --head`.

    `salt` carries what else decides the stored result (the branch asked for, whether pull refs
    are read, the attribution rules, the derivation's version). None when git cannot say (not a
    repository, no refs): the caller then takes the full path, which reports the problem."""
    return state_of(read_refs(path), salt=salt)
