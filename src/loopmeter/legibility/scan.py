"""The file inventory of a repository or directory, and the few config files the checks read.

One `git ls-files -z` (a work tree), one `git ls-tree -r` (a bare mirror, which has no work
tree) or one directory walk (not a git repository) lists the files. File contents are never read
except for the config files a check names (`Inventory.read_all`), and those in one batch: from
disk for a work tree, through one `git cat-file --batch` for a bare repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from ..errors import EmptyRepository, GitFailed, UnreadablePath
from ..sources.git import git, parse_raw_date

#: Config files larger than this are not read (a manifest is a few KB; anything bigger is data).
READ_LIMIT = 512 * 1024

#: Directories a walk of a non-git directory skips: tools' caches and installed dependencies,
#: never the project's own files.
_WALK_SKIP = frozenset({
    ".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", "target", "dist", "build", ".eggs", ".loopmeter",
})


@dataclass
class Inventory:
    """What is tracked at `root` and how to read it."""

    root: Path
    kind: str  # "worktree" | "bare" | "directory"
    name: str
    files: list[str]
    head: str | None = None
    head_time: datetime | None = None  # committer time of HEAD (naive UTC): the "as of" of history checks

    @property
    def is_git(self) -> bool:
        return self.kind != "directory"

    def read_all(self, paths: list[str]) -> dict[str, str]:
        """The text of each given tracked file that exists and is small enough; others are left out."""
        wanted = list(dict.fromkeys(paths))
        if self.kind == "bare":
            texts = _cat_files(self.root, wanted)
        else:
            texts = {p: _read_disk(self.root / p) for p in wanted}
        return {p: t for p, t in texts.items() if t is not None}


def _read_disk(path: Path) -> str | None:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > READ_LIMIT:
            return None
        return path.read_bytes().decode("utf-8-sig", "replace")
    except OSError:
        return None


def _cat_files(root: Path, paths: list[str]) -> dict[str, str | None]:
    """Read HEAD:path for each path through one `git cat-file --batch` process."""
    # A path with a newline cannot be named on cat-file's line protocol; such files are not config.
    ok = [p for p in paths if "\n" not in p]
    out: dict[str, str | None] = {p: None for p in paths}
    if not ok:
        return out
    proc = git(root, "cat-file", "--batch", input="".join(f"HEAD:{p}\n" for p in ok).encode())
    data, pos = proc.stdout, 0
    for p in ok:
        eol = data.find(b"\n", pos)
        if eol < 0:
            break
        header = data[pos:eol].split()
        pos = eol + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            body = data[pos:pos + size]
            pos += size + 1
            out[p] = body.decode("utf-8-sig", "replace") if size <= READ_LIMIT else None
        # "<name> missing" or a tree: nothing follows the header line.
    return out


def _walk(root: Path) -> list[str]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _WALK_SKIP)
        rel = Path(dirpath).relative_to(root)
        for f in sorted(filenames):
            name = (rel / f).as_posix() if rel.parts else f
            files.append(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return files


def _split_z(data: bytes) -> list[str]:
    # A name that is not UTF-8 is shown with U+FFFD: it only has to be counted and displayed (a
    # config file that matters has an ASCII name), and a lone surrogate could not be printed or saved.
    return [p.decode("utf-8", "replace") for p in data.split(b"\0") if p]


def check_path(path: str | os.PathLike[str]) -> Path:
    """`path` as a Path, or one line saying why it cannot be scored."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UnreadablePath(f"{p}: no such file or directory")
    if not p.is_dir():
        raise UnreadablePath(f"{p}: not a directory")
    if not os.access(p, os.R_OK | os.X_OK):
        raise UnreadablePath(f"{p}: not a readable directory")
    return p


def scan(path: str | os.PathLike[str]) -> Inventory:
    """List the files at `path`: a git work tree, a bare repository, or a plain directory."""
    p = check_path(path)
    proc = git(p, "rev-parse", "--is-bare-repository", "--is-inside-work-tree", check=False)
    if proc.returncode != 0:
        if b"not a git repository" in proc.stderr.lower():
            root = p.resolve()
            return Inventory(root=root, kind="directory", name=root.name, files=_walk(root))
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UnreadablePath(f"{p}: cannot be read by git: {msg[-1] if msg else ''}")
    bare, inside = proc.stdout.decode().split("\n")[:2]
    if bare == "true":
        root = p.resolve()
    elif inside == "true":
        root = Path(git(p, "rev-parse", "--show-toplevel").stdout.decode("utf-8", "surrogateescape").strip())
    else:  # inside a .git directory of a work tree
        raise UnreadablePath(f"{p}: inside a repository's .git directory; give the work tree instead")
    bare = bare == "true"
    head = git(root, "log", "-1", "--format=%H %ct +0000", "HEAD", check=False)
    head_sha, head_time = None, None
    if head.returncode == 0 and head.stdout.strip():
        sha, _, raw = head.stdout.decode().strip().partition(" ")
        head_sha, (head_time, _) = sha, parse_raw_date(raw.encode())
    if bare:
        if head_sha is None:
            raise EmptyRepository(f"{p}: the repository has no commits")
        files = _split_z(git(root, "ls-tree", "-r", "-z", "--name-only", "HEAD").stdout)
    else:
        files = _split_z(git(root, "ls-files", "-z").stdout)
    return Inventory(root=root, kind="bare" if bare else "worktree", name=_repo_name(root, bare),
                     files=files, head=head_sha, head_time=head_time)


def _repo_name(root: Path, bare: bool) -> str:
    # The same naming as the git source, so a scorecard and an ingested repository agree.
    name = root.name
    if bare and name.endswith(".git") and len(name) > 4:
        name = name[:-4]
    if name == "repo":
        name = root.parent.name.replace("+", "/")
    return name


def top_dir(path: str) -> str | None:
    """The top-level directory of a tracked path, or None for a file at the root."""
    head, sep, _ = path.partition("/")
    return head if sep else None


def name_of(path: str) -> str:
    return PurePosixPath(path).name


def run_git(inv: Inventory, *args: str, input: bytes | None = None) -> bytes:
    """stdout of a git command in the inventory's repository ('' when git fails on odd history)."""
    try:
        return git(inv.root, *args, input=input).stdout
    except GitFailed:
        return b""


__all__ = ["Inventory", "check_path", "scan", "top_dir", "name_of", "run_git", "READ_LIMIT"]
