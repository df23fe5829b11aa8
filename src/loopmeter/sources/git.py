"""The git source: streams commits (with per-file line counts) and tags out of a repository.

We read history through the git CLI rather than pygit2 or GitPython: streaming one
`git log --numstat` process into this parser costs about 1.2x git's own time, while pygit2 with
per-commit diff stats costs about 2.4x (measured on the same repositories; see bench/git_ingest.py).
pygit2 is kept for one job the CLI cannot do: mirrors whose object store lacks some blobs make
`git log --numstat` die, so from the first missing blob on we walk with pygit2, which lets us
skip an absent blob and record its line counts as unknown.

The source yields records and never touches the store.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import EmptyRepository, GitFailed, NotAGitRepository, UnbornHead, UnreadablePath
from ..model import Commit, FileChange, Person, Tag

_EPOCH = datetime(1970, 1, 1)
# git (2.39 at least) prints no date at all for a timestamp before 1970 (or one it cannot parse):
# such a record gets this object, told apart by identity, and its dates are read from the raw
# commit header instead (`_redated`).
_UNDATED = datetime(1970, 1, 1)
_FIELD = b"\x1f"
# With -z every record ends in NUL (after its header, or after its last numstat entry) and a
# message cannot hold NUL, so NUL + "\x1eC" only ever starts a record.
_RECORD = b"\x00\x1eC"
# One record per commit: hash, parents, author name/email/date, committer name/email/date, raw body.
# Dates are "--date=raw" (epoch seconds and the original offset). The header ends at the first NUL
# (git cannot store NUL in a message), after which -z numstat entries follow, NUL-terminated.
_FORMAT = "%x1eC%H%x1f%P%x1f%aN%x1f%aE%x1f%ad%x1f%cN%x1f%cE%x1f%cd%x1f%B%x1f"
_HEX = re.compile(rb"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_MISSING_OBJECT = re.compile(
    r"unable to read|missing blob|could not fetch|promisor|bad object|could not read|does not exist",
    re.I,
)


@dataclass(frozen=True)
class RepoInfo:
    """What we learned about a repository before reading its history."""

    path: Path
    git_dir: Path
    name: str
    head_ref: str  # e.g. refs/heads/main
    head_sha: str
    is_bare: bool
    is_shallow: bool


# What `git rev-parse --local-env-vars` lists as naming one repository's parts. Set around a git
# hook or a `git -c alias.x='!loopmeter ...'`, they would make `git -C OTHER` read that repository
# under OTHER's name. GIT_NO_REPLACE_OBJECTS and GIT_CONFIG_PARAMETERS stay: they say how to read.
REPOSITORY_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                  "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_GRAFT_FILE", "GIT_SHALLOW_FILE",
                  "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX")


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in REPOSITORY_ENV}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",  # never write into the analyzed repository (no index refresh)
        LC_ALL="C",
        GIT_PAGER="cat",
    )
    # A partial clone would otherwise try to fetch missing blobs over the network, one at a time.
    env["GIT_NO_LAZY_FETCH"] = "1"
    return env


# Settings that make output independent of the user's git configuration.
_GIT_CONFIG = [
    "-c", "core.quotepath=off",
    "-c", "i18n.logOutputEncoding=UTF-8",
    "-c", "log.showSignature=false",
    "-c", "diff.renames=true",
    "-c", "log.follow=false",
    "-c", "log.showRoot=true",  # with false, git log prints the root commit without its files
    "-c", "diff.ignoreSubmodules=none",  # "all" would hide every submodule bump
]


def in_threads(fn: Callable, items: list, *, workers: int) -> list:
    """[fn(x) for x in items], up to `workers` at a time in threads: for calls that mostly wait on
    a git process (its start and run release the GIL). Results in the order of `items`; the first
    exception in that order is raised."""
    if len(items) < 2 or workers < 2:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor  # here: only several calls pay for the import

    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="loopmeter-git") as pool:
        return list(pool.map(fn, items))


def git(path: Path, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run one short git command in `path` and return its completed process."""
    proc = subprocess.run(
        ["git", "-C", str(path), *_GIT_CONFIG, *args],
        capture_output=True,
        env=_git_env(),
        input=input,
    )
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(f"git {args[0]} failed in {path}: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc


def open_repository(path: str | os.PathLike[str], branch: str | None = None) -> RepoInfo:
    """Check that `path` is a readable git repository with history and describe it."""
    return _open(path, branch, refs=False)[0]


def open_with_refs(path: str | os.PathLike[str], branch: str | None = None) -> tuple[RepoInfo, bytes | None]:
    """`open_repository`, and every ref with HEAD exactly as `git show-ref --head` lists them
    (`git_set.read_refs`), from one git process instead of two: a set of a thousand new
    repositories pays per process. The listing is None when git has no ref to list."""
    return _open(path, branch, refs=True)


def _open(path: str | os.PathLike[str], branch: str | None, *, refs: bool) -> tuple[RepoInfo, bytes | None]:
    p = Path(path).expanduser()
    if not p.exists():
        raise UnreadablePath(f"{p}: no such file or directory")
    if not os.access(p, os.R_OK | os.X_OK) or not p.is_dir():
        raise UnreadablePath(f"{p}: not a readable directory")
    shown_path = os.fsencode(p.resolve()).decode("utf-8", "backslashreplace")
    if shown_path != str(p.resolve()):
        # The store keeps a repository's path and name as text (UTF-8): these bytes have no text.
        raise UnreadablePath(f"{shown_path}: the path is not UTF-8, which the store needs for a repository's path "
                             "and name; rename the folder (or a parent) to a UTF-8 name")
    if "\n" in shown_path:
        # git prints the paths rev-parse answers one a line: a line break inside one shifts them all.
        raise UnreadablePath(f"{shown_path!r}: the path holds a line break, which git's answers cannot carry; "
                             "rename the folder (or a parent)")
    ref = branch or "HEAD"
    # One process answers everything (a set of a thousand repositories pays per process): the git
    # dir, bare, shallow, the commit the ref names (printed back verbatim when it names none), the
    # branch HEAD points at, and last the work tree's top, which a bare repository refuses after
    # printing the rest.
    # With `refs`, HEAD's commit and every ref's object (`--all`) follow the commit, and every
    # ref's name (`--symbolic --all`, in the same order) follows HEAD's branch: show-ref's listing.
    listing = ["HEAD", "--all"] if refs else []
    names = ["--symbolic", "--all"] if refs else []
    proc = git(p, "rev-parse", "--absolute-git-dir", "--is-bare-repository", "--is-shallow-repository",
               f"{ref}^{{commit}}", *listing, "--symbolic-full-name", "HEAD", *names, "--show-toplevel", check=False)
    lines = proc.stdout.decode("utf-8", "surrogateescape").split("\n")
    shown: bytes | None = None
    if refs and len(lines) > 3 and _HEX.match(lines[3].encode("utf-8", "surrogateescape")):
        cut = _take_refs(lines)
        if cut is None:  # another shape (HEAD unborn, no ref at all): the two calls of old
            from .git_set import read_refs

            info = _open(path, branch, refs=False)[0]
            return info, read_refs(info.path)
        lines, shown = cut
    err = proc.stderr.decode("utf-8", "replace")
    if len(lines) < 4:
        if "not a git repository" in err.lower():
            raise NotAGitRepository(f"{p}: not a git repository")
        if "dubious ownership" in err:  # git's own hint is the command on its last line
            raise UnreadablePath(f"{p}: git refuses a repository owned by another user (dubious ownership); if you "
                                 f"trust it: {err.strip().splitlines()[-1].strip()}")
        raise UnreadablePath(f"{p}: cannot be read by git: {err.strip().splitlines()[-1] if err.strip() else ''}")
    git_dir, bare, shallow, sha = lines[:4]
    p = p.resolve()  # the same repository given relatively and absolutely is one repository
    if not _HEX.match(sha.encode("utf-8", "surrogateescape")):
        if bare != "true":  # git stopped at the ref: name the work tree's top as a success would
            top = git(p, "rev-parse", "--show-toplevel", check=False).stdout.decode().strip()
            p = Path(top) if top else p
        if branch:
            raise NotAGitRepository(f"{p}: branch {branch!r} does not exist")
        _unborn_head(p)
        raise EmptyRepository(f"{p}: the repository has no commits")
    sym = lines[4] if len(lines) > 4 else ""
    if bare != "true" and len(lines) > 5 and lines[5]:
        p = Path(lines[5])
    if branch:
        head_ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    else:
        head_ref = sym if sym.startswith("refs/") else "HEAD"
    # git allows any bytes in a ref's name; the store keeps it as text, for showing only.
    head_ref = head_ref.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    name = Path(git_dir).name if bare == "true" and Path(git_dir).name != ".git" else p.name
    if name == ".git" and bare != "true":  # a work tree's git directory, given itself: it is the work tree's
        p = Path(git_dir).parent  # repository, one repository however it is named
        name = p.name
    if name.endswith(".git") and len(name) > 4:
        name = name[:-4]
    if name == "repo":  # mirrors laid out as owner+name/repo: the parent folder names the project
        name = Path(git_dir).parent.name.replace("+", "/")
    return RepoInfo(
        path=p,
        git_dir=Path(git_dir),
        name=name,
        head_ref=head_ref,
        head_sha=sha,
        is_bare=bare == "true",
        is_shallow=shallow == "true",
    ), shown


def _unborn_head(p: Path) -> None:
    """Raise the error that says what to pass when HEAD names a branch without commits while other
    branches have some (a bare repository made with one default branch and pushed another)."""
    head = git(p, "symbolic-ref", "-q", "HEAD", check=False).stdout.decode("utf-8", "replace").strip()
    listed = git(p, "for-each-ref", "--count=6", "--format=%(refname:short)", "refs/heads/", check=False)
    branches = listed.stdout.decode("utf-8", "replace").split()
    if branches:
        shown = ", ".join(branches[:5]) + (", ..." if len(branches) > 5 else "")
        raise UnbornHead(f"{p}: HEAD names {head or 'no branch'}, which has no commits; pass --branch with one "
                              f"of the branches that have some: {shown}")


def _take_refs(lines: list[str]) -> tuple[list[str], bytes] | None:
    """Cut the refs out of `_open`'s rev-parse output (lines 4.. are HEAD's commit, the refs'
    objects, HEAD's branch, the refs' names, the work tree's top): the lines `open_repository`
    reads, and the listing as show-ref prints it ("sha name" a line, HEAD first). None for
    output of another shape."""
    j = 5
    while j < len(lines) and _HEX.match(lines[j].encode("utf-8", "surrogateescape")):
        j += 1
    shas = lines[5:j]
    names = lines[j + 1:j + 1 + len(shas)]
    if (len(lines) <= 4 or not _HEX.match(lines[4].encode("utf-8", "surrogateescape")) or not shas
            or len(names) != len(shas)
            or not all(n.startswith("refs/") for n in names)):
        return None
    shown = "".join(f"{s} {n}\n" for s, n in zip([lines[4], *shas], ["HEAD", *names]))
    return lines[:4] + [lines[j]] + lines[j + 1 + len(shas):], shown.encode("utf-8", "surrogateescape")


def pull_heads(info: RepoInfo) -> dict[int, str]:
    """The pull requests' head commits (`refs/pull/N/head`), where the repository has them."""
    proc = git(info.path, "for-each-ref", "--format=%(refname) %(objectname)", "refs/pull/")
    heads: dict[int, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        ref, _, sha = line.partition(" ")
        parts = ref.split("/")
        if len(parts) == 4 and parts[3] == "head" and parts[2].isdigit():
            heads[int(parts[2])] = sha
    return heads


def pull_heads_of(refs: bytes) -> dict[int, str]:
    """`pull_heads` from a listing of refs already read (`git show-ref`: "sha refname" lines)."""
    heads: dict[int, str] = {}
    for line in refs.decode("utf-8", "replace").splitlines():
        sha, _, ref = line.partition(" ")
        parts = ref.split("/")
        if len(parts) == 4 and parts[:2] == ["refs", "pull"] and parts[3] == "head" and parts[2].isdigit():
            heads[int(parts[2])] = sha
    return heads


def has_ref(refs: bytes, prefix: str) -> bool:
    """Whether a listing of refs (`git show-ref`) names a ref at or under `prefix`."""
    want = prefix.rstrip("/").encode()
    for line in refs.splitlines():
        ref = line.partition(b" ")[2]
        if ref == want or ref.startswith(want + b"/"):
            return True
    return False


def list_tags(info: RepoInfo) -> list[Tag]:
    """Tags peeled to commits, dated by their tagger (annotated) or by their commit (lightweight)."""
    fmt = "%(refname:short)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)%00%(taggerdate:raw)%00%(committerdate:raw)%00%(*committerdate:raw)"
    proc = git(info.path, "for-each-ref", f"--format={fmt}", "refs/tags/")
    tags = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        f = line.split("\0")
        if len(f) < 8:
            continue
        name, otype, oid, ptype, poid, tagger, cdate, pcdate = f[:8]
        if otype == "commit":
            sha, when = oid, cdate
        elif otype == "tag" and ptype == "commit":
            sha, when = poid, tagger or pcdate
        else:
            continue  # tags of trees or blobs are not releases
        t, _ = parse_raw_date(when.encode())
        if t is not None:
            tags.append(Tag(name=name, sha=sha, time=t))
    return tags


def existing_commits(info: RepoInfo, shas: Iterable[str]) -> list[str]:
    """The subset of `shas` that still name commits in the repository (history can be rewritten)."""
    shas = list(shas)
    if not shas:
        return []
    proc = git(info.path, "cat-file", "--batch-check=%(objectname) %(objecttype)", input="\n".join(shas).encode() + b"\n")
    found = []
    for line in proc.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "commit":
            found.append(parts[0])
    return found


def parse_raw_date(raw: bytes) -> tuple[datetime | None, int]:
    """'1700000000 +0130' -> (naive UTC datetime, offset minutes). Odd or broken dates give (None, 0)."""
    parts = raw.split()
    if not parts:
        return None, 0
    try:
        t = _EPOCH + timedelta(seconds=int(parts[0]))
    except (ValueError, OverflowError):
        return None, 0
    tz = 0
    if len(parts) > 1:
        z = parts[1]
        sign = -1 if z[:1] == b"-" else 1
        digits = z.lstrip(b"+-")
        if digits.isdigit():
            # git stores the offset as written: hhmm, but broken tools write other widths.
            v = int(digits)
            tz = sign * ((v // 100) * 60 + v % 100) if len(digits) == 4 else sign * v * 60 if len(digits) <= 2 else 0
    return t, tz


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _parse_numstat(body: bytes) -> tuple[FileChange, ...]:
    # body: "\n" then NUL-terminated tokens: "a\td\tpath" or "a\td\t" followed by old and new path.
    toks = body.lstrip(b"\n").split(b"\0")
    out = []
    i, n = 0, len(toks)
    while i < n:
        tok = toks[i]
        i += 1
        if not tok:
            continue
        a, _, rest = tok.partition(b"\t")
        d, _, path = rest.partition(b"\t")
        old = None
        if not path:  # rename or copy: old and new paths follow as two tokens
            if i + 1 >= n + 1:
                break
            old = _decode(toks[i])
            path = toks[i + 1] if i + 1 < n else b""
            i += 2
        binary = a == b"-"
        out.append(
            FileChange(
                path=_decode(path),
                added=None if binary else int(a),
                deleted=None if binary else int(d),
                old_path=old,
                binary=binary,
            )
        )
    return tuple(out)


# A history repeats a few identities thousands of times; a Person is immutable, so one object per
# (name, email) as git printed them serves every commit (filled by any reader thread; bounded).
_PEOPLE: dict[tuple[bytes, bytes], Person] = {}


def _person(name: bytes, email: bytes) -> Person:
    p = _PEOPLE.get((name, email))
    if p is None:
        if len(_PEOPLE) >= 50_000:
            _PEOPLE.clear()
        p = _PEOPLE[(name, email)] = Person(_decode(name), _decode(email))
    return p


def _parse_record(rec: bytes) -> Commit | None:
    end = rec.find(b"\0")
    header, body = (rec, b"") if end < 0 else (rec[:end], rec[end + 1 :])
    f = header.split(_FIELD)
    if len(f) < 10:
        return None
    message = _FIELD.join(f[8:-1]) if len(f) > 10 else f[8]
    at, atz = parse_raw_date(f[4])
    # Most commits were committed as authored: the same date is not parsed twice.
    ct, ctz = (at, atz) if f[7] == f[4] else parse_raw_date(f[7])
    if ct is None:
        ct, ctz = at, atz
    if at is None:
        at, atz = ct, ctz
    if at is None or ct is None:
        at = ct = _UNDATED
    return Commit(
        sha=f[0].decode(),
        parents=tuple(f[1].decode().split()),  # hex ids: ASCII
        author=_person(f[2], f[3]),
        author_time=at,
        author_tz_minutes=atz,
        committer=_person(f[5], f[6]),
        committer_time=ct,
        committer_tz_minutes=ctz,
        message=_decode(message).rstrip("\n"),
        files=_parse_numstat(body),
    )


def _log_cmd(info: RepoInfo) -> list[str]:
    # Merges get no diff: a first-parent diff of every merge costs 3x the whole log on merge-heavy
    # histories, and a merged change's size is the sum of the commits it brought in.
    return ["git", "-C", str(info.path), *_GIT_CONFIG, "log", "--no-color", "--no-ext-diff", "--no-textconv",
            "--date=raw", f"--format={_FORMAT}", "-z", "--numstat", "--stdin"]


def _diff_tree_cmd(info: RepoInfo) -> list[str]:
    # Same records as _log_cmd, for commits named on stdin, in that order (--always: merges too).
    # diff-tree is plumbing and ignores diff.renames, so rename detection is asked for with -M.
    return ["git", "-C", str(info.path), *_GIT_CONFIG, "diff-tree", "--stdin", "--always", "--root", "-r", "-M",
            "--no-color", "--no-ext-diff", "--no-textconv", "--date=raw", f"--format={_FORMAT}", "-z", "--numstat"]


class _RecordStream:
    """One streaming git process (log or diff-tree) whose output is parsed record by record."""

    def __init__(self, cmd: list[str], stdin_lines: Iterable[str]):
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_git_env(),
            bufsize=1 << 20,
        )
        # A writer thread, so a long input (tens of thousands of revisions) cannot deadlock against
        # git's output filling its pipe. An input that fits in the pipe's buffer (64 KiB on Linux,
        # at least 4 KiB on any POSIX system) is written at once: a small repository's few tips
        # need no thread (~1 ms each, a set of repositories' hundreds).
        self._writer: threading.Thread | None = None
        small = ("".join(f"{x}\n" for x in stdin_lines).encode()
                 if isinstance(stdin_lines, (list, tuple)) and len(stdin_lines) <= 64 else None)
        if small is not None and len(small) <= 4096:
            self._write_all(small)
        else:
            self._writer = threading.Thread(target=self._write, args=(stdin_lines,), daemon=True)
            self._writer.start()
        self.stderr = b""
        self.returncode: int | None = None
        self.cut: str | None = None  # where git died: the sha of the newest record, not yielded

    def _write_all(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(data)
            stdin.close()
        except (BrokenPipeError, OSError):
            pass  # git died; its exit status says why

    def _write(self, lines: Iterable[str]) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            buf = []
            for line in lines:
                buf.append(line)
                if len(buf) >= 4096:
                    stdin.write(("\n".join(buf) + "\n").encode())
                    buf = []
            if buf:
                stdin.write(("\n".join(buf) + "\n").encode())
            stdin.close()
        except (BrokenPipeError, OSError):
            pass  # git died; its exit status says why

    def __iter__(self) -> Iterator[Commit]:
        out = self.proc.stdout
        assert out is not None
        pending: bytes | None = None  # the newest record, not yet known to be complete

        def feed(part: bytes) -> Commit | None:
            """Take one piece between separators; return the record it completes, if any."""
            nonlocal pending
            if _FIELD in part and _HEX.match(part[: part.find(_FIELD)]):
                done, pending = pending, part
                return _parse_record(done) if done is not None else None
            # Cannot happen with NUL-led separators; kept so a malformed stream loses nothing.
            pending = (pending or b"") + _RECORD + part
            return None

        buf = b"\x00"  # the first record has no NUL before it
        while True:
            chunk = out.read1(1 << 20)
            if not chunk:
                break
            parts = (buf + chunk).split(_RECORD)
            buf = parts.pop()
            for part in parts:
                if part and (c := feed(part)) is not None:
                    yield c
        if buf and (c := feed(buf)) is not None:
            yield c
        self.stderr = self.proc.stderr.read() if self.proc.stderr else b""
        self.returncode = self.proc.wait()
        if self._writer is not None:
            self._writer.join(timeout=5)
        # Where git died, the newest record may be cut short: the caller re-reads it another way.
        if self.returncode == 0 and pending is not None:
            c = _parse_record(pending)
            if c is not None:
                yield c
        elif pending is not None:
            self.cut = pending[: pending.find(_FIELD)].decode("ascii", "replace")

    def failure(self, info: RepoInfo, what: str) -> str:
        """The last line git printed, raising GitFailed unless it is about a missing object."""
        err = self.stderr.decode("utf-8", "replace").strip()
        last = err.splitlines()[-1] if err else f"exit {self.returncode}"
        if not _MISSING_OBJECT.search(err):
            raise GitFailed(f"git {what} failed in {info.path}: {last}")
        return last


def iter_commits(
    info: RepoInfo,
    tips: list[str],
    exclude: Iterable[str] = (),
    on_fallback: Callable[[str], None] | None = None,
) -> Iterator[Commit]:
    """Yield every commit reachable from `tips` and not from `exclude`, with per-file line counts.

    Order is git's default (newest first). Files whose blobs are absent from the object store
    come back with `missing_blob=True` and unknown line counts.
    """
    revs = list(tips) + [f"^{x}" for x in exclude]
    stream = _RecordStream(_log_cmd(info), revs)
    # The shas read, for `_resume` to skip should git die: packed as bytes (20 or 32 a commit), not
    # a set of strings (~130 bytes a commit, 26 MB at 200,000 commits), since git seldom dies.
    seen = bytearray()
    try:
        for c in stream:
            seen += bytes.fromhex(c.sha)
            yield _redated(info, c)
    finally:
        if stream.returncode is None:  # the reader stopped early (closed): git need not go on
            stream.proc.kill()
            stream.proc.wait()
    if stream.returncode == 0:
        return
    last = stream.failure(info, "log")
    if on_fallback:
        on_fallback(last)
    yield from _resume(info, revs, seen)


def _resume(info: RepoInfo, revs: list[str], read: bytearray) -> Iterator[Commit]:
    """Finish a history whose object store lacks blobs: `git rev-list` lists the commits still to
    read (it needs no blobs) and `iter_listed` reads them. `read`: the shas read already, packed."""
    proc = git(info.path, "rev-list", "--stdin", input=("\n".join(revs) + "\n").encode())
    listed = proc.stdout.decode().split()
    width = len(listed[0]) // 2 if listed else 20
    seen = {bytes(read[i:i + width]) for i in range(0, len(read), width)}
    read.clear()
    todo = [s for s in listed if bytes.fromhex(s) not in seen]
    seen.clear()
    del listed
    del proc
    yield from iter_listed(info, todo)


def iter_listed(info: RepoInfo, todo: list[str], on_fallback: Callable[[str], None] | None = None) -> Iterator[Commit]:
    """Yield the commits named in `todo`, in that order, with the records `iter_commits` gives.

    `git diff-tree --stdin` diffs them at git log's speed and dies at the next commit that touches
    a missing blob. That one commit is read with pygit2, which can skip the absent blob, and
    diff-tree restarts after it. Which commits pygit2 reads depends only on the object store, not
    on where a list starts: a record git printed whole just before it died is kept (asked of git
    again, alone), so a history read as several lists (ingest_reader.py) gives the same rows.
    """
    reader: _Pygit2Reader | None = None
    i = 0
    while i < len(todo):
        stream = _RecordStream(_diff_tree_cmd(info), itertools.islice(todo, i, None))
        n = 0
        for c in stream:
            n += 1
            yield _redated(info, c)
        if stream.returncode == 0:
            return
        last = stream.failure(info, "diff-tree")
        if on_fallback:
            on_fallback(last)
        i += n
        if stream.cut is not None and i < len(todo) and stream.cut == todo[i]:
            whole = _diff_alone(info, todo[i])
            if whole is not None:  # git died on the next commit, after this one was complete
                yield _redated(info, whole)
                i += 1
        if i < len(todo):
            reader = reader or _Pygit2Reader(info)
            yield reader.commit(todo[i])
            i += 1


def _ident(rest: bytes) -> tuple[Person, datetime | None, int]:
    """'Name <email> 1700000000 +0100' from a commit header, also without the <email> git requires."""
    if b"<" in rest and b">" in rest:
        name, _, tail = rest.partition(b"<")
        email, _, date = tail.rpartition(b">")
    else:  # a tool that wrote no <email>: the date is the last two words, when they are one
        words = rest.split()
        cut = len(words) - 2 if len(words) >= 2 and words[-2].lstrip(b"-").isdigit() else len(words)
        name, email, date = b" ".join(words[:cut]), b"", b" ".join(words[cut:])
    t, tz = parse_raw_date(date)
    return Person(_decode(name.strip()), _decode(email.strip())), t, tz


def header_identities(info: RepoInfo, sha: str) -> dict[bytes, tuple[Person, datetime | None, int]]:
    """{b"author" | b"committer": (person, time or None, tz minutes)} as the raw commit header
    records them: for dates git prints none of (before 1970, or an identity it cannot parse)."""
    raw = git(info.path, "cat-file", "commit", sha, check=False).stdout
    seen: dict[bytes, tuple[Person, datetime | None, int]] = {}
    for line in raw.split(b"\n\n", 1)[0].split(b"\n"):
        key, _, rest = line.partition(b" ")
        if key in (b"author", b"committer") and key not in seen:
            seen[key] = _ident(rest)
    return seen


def _redated(info: RepoInfo, c: Commit) -> Commit:
    """`c` with the dates its raw header records, where git printed none (before 1970, or an
    identity git cannot parse: it then prints its placeholders, "%aN", as the name)."""
    if c.author_time is not _UNDATED:
        return c
    seen = header_identities(info, c.sha)
    author, at, atz = seen.get(b"author", (c.author, None, 0))
    committer, ct, ctz = seen.get(b"committer", (c.committer, None, 0))
    at, atz = (at, atz) if at is not None else (ct, ctz)
    ct, ctz = (ct, ctz) if ct is not None else (at, atz)
    if at is None or ct is None:  # no date git or we can read: the epoch, as git log shows it
        at = ct = _EPOCH
    # git's own (mailmapped) names are kept, unless it printed its placeholders for want of one.
    author = author if c.author.name in ("%aN", "") and c.author.email in ("%aE", "") else c.author
    committer = committer if c.committer.name in ("%cN", "") and c.committer.email in ("%cE", "") else c.committer
    return replace(c, author=author, author_time=at, author_tz_minutes=atz, committer=committer, committer_time=ct,
                   committer_tz_minutes=ctz)


def _diff_alone(info: RepoInfo, sha: str) -> Commit | None:
    """One commit's record from diff-tree, or None when git cannot diff it."""
    stream = _RecordStream(_diff_tree_cmd(info), [sha])
    got = list(stream)
    return got[0] if stream.returncode == 0 and len(got) == 1 else None


class _Pygit2Reader:
    """Reads single commits with pygit2, treating absent blobs as unknown line counts."""

    def __init__(self, info: RepoInfo):
        import pygit2

        self.pygit2 = pygit2
        try:
            self.repo = pygit2.Repository(str(info.git_dir))
        except (pygit2.GitError, ValueError) as e:  # libgit2 1.9 opens no SHA-256 repository (InvalidError)
            raise GitFailed(
                f"{info.path}: some blobs are missing (partial clone or trimmed mirror) and the reader of such "
                f"commits (libgit2) cannot open this repository ({e}); clone it again without --filter "
                "(or fetch the missing blobs) and run again"
            ) from None
        try:
            self.mailmap = pygit2.Mailmap.from_repository(self.repo)
        except Exception:  # a broken .mailmap must not stop the analysis
            self.mailmap = None
        self.replaced = _replacements(self.repo)

    def commit(self, sha: str) -> Commit:
        try:
            return _commit_from_pygit2(self.repo, self.mailmap, self.repo[self.replaced.get(sha, sha)], sha=sha,
                                       replaced=self.replaced)
        finally:
            # libgit2 keeps the pack files it opened mapped; on a large mirror that is ~70 MB held
            # for the rest of the ingest, for the handful of commits read this way.
            self.repo.free()


def _replacements(repo) -> dict[str, str]:
    """Object id -> the id git reads in its place (`git replace`: refs/replace/<id>, chains followed
    as git does, five deep), for the commits the CLI reads replaced; libgit2 ignores replace refs. The
    CLI's own switches are honoured: GIT_NO_REPLACE_OBJECTS, core.useReplaceRefs=false and
    GIT_REPLACE_REF_BASE, so that both readers give the same rows whatever the user set."""
    if "GIT_NO_REPLACE_OBJECTS" in os.environ:
        return {}
    try:
        if not repo.config.get_bool("core.useReplaceRefs"):
            return {}
    except Exception:  # unset (KeyError) or unreadable: git's default, honoured
        pass
    base = os.environ.get("GIT_REPLACE_REF_BASE") or "refs/replace/"
    base = base if base.endswith("/") else base + "/"
    direct: dict[str, str] = {}
    for name in repo.references:
        if name.startswith(base):
            try:
                direct[name[len(base):]] = str(repo.references[name].resolve().target)
            except Exception:  # a broken ref: git warns and ignores it too
                continue
    out = {}
    for orig, new in direct.items():
        for _ in range(5):  # git's MAXREPLACEDEPTH
            if new not in direct:
                break
            new = direct[new]
        out[orig] = new
    return out


def _sig(mailmap, sig) -> tuple[Person, datetime, int]:
    if mailmap is not None:
        try:
            sig = mailmap.resolve_signature(sig)
        except Exception:
            pass
    name = sig.raw_name.decode("utf-8", "replace") if hasattr(sig, "raw_name") else sig.name
    email = sig.raw_email.decode("utf-8", "replace") if hasattr(sig, "raw_email") else sig.email
    return Person(name, email), _EPOCH + timedelta(seconds=sig.time), sig.offset


def _commit_from_pygit2(repo, mailmap, c, *, sha: str | None = None, replaced: dict[str, str] | None = None) -> Commit:
    """`c` as a record; `sha`: the id it is read under when `c` replaces it (`git replace`), whose
    parents are then `c`'s, and whose first parent is diffed as replaced too, as git log does."""
    import pygit2

    a, at, atz = _sig(mailmap, c.author)
    m, ct, ctz = _sig(mailmap, c.committer)
    raw_msg = c.raw_message.decode("utf-8", "replace") if hasattr(c, "raw_message") else c.message
    if len(c.parents) > 1:
        diff = None  # like git log: merges carry no diff of their own
    elif c.parents:
        first = str(c.parent_ids[0])
        diff = repo.diff(repo[(replaced or {}).get(first, first)], c)
    else:
        diff = c.tree.diff_to_tree(swap=True)
    files = []
    zero = pygit2.Oid(hex="0" * 40)
    if diff is not None:
        try:
            # Exact renames need no blob contents; similarity-based ones would read the missing blobs.
            diff.find_similar(flags=pygit2.enums.DiffFind.FIND_RENAMES | pygit2.enums.DiffFind.FIND_EXACT_MATCH_ONLY)
        except (pygit2.GitError, KeyError):
            pass
    deltas = [] if diff is None else list(diff.deltas)
    for i, delta in enumerate(deltas):
        path = delta.new_file.path or delta.old_file.path
        old = delta.old_file.path if delta.status_char() == "R" else None
        ids = [x for x in (delta.old_file.id, delta.new_file.id) if x != zero]
        if any(x not in repo for x in ids):
            files.append(FileChange(path=path, added=None, deleted=None, old_path=old, missing_blob=True))
            continue
        try:
            patch = diff[i]
        except (pygit2.GitError, KeyError, IndexError):
            files.append(FileChange(path=path, added=None, deleted=None, old_path=old, missing_blob=True))
            continue
        if patch is None or patch.delta.is_binary:
            files.append(FileChange(path=path, added=None, deleted=None, old_path=old, binary=True))
            continue
        _, adds, dels = patch.line_stats
        files.append(FileChange(path=path, added=adds, deleted=dels, old_path=old))
    return Commit(
        sha=sha or str(c.id),
        parents=tuple(str(p) for p in c.parent_ids),
        author=a,
        author_time=at,
        author_tz_minutes=atz,
        committer=m,
        committer_time=ct,
        committer_tz_minutes=ctz,
        message=raw_msg.rstrip("\n"),
        files=tuple(files),
    )
