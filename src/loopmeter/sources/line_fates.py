"""Where every line that landed on the default branch went: one streaming pass over its history.

Durability (docs/metrics.md) asks whether a change's added lines are still present, unchanged, in
the default branch's tree N days after it landed. This module walks the first-parent line of the
ingested head oldest first, with ONE `git log --first-parent -p -U0` process (each commit diffed
against its first parent, merges included), and keeps, for every line of every file of the current
tree, the position of the first-parent commit that added it. A line is born when a diff adds it and
dies when a later diff deletes or changes it; its birth and death positions are all durability needs.

Why line tracking and not `git blame` at checkpoints: blame re-derives each file's history once per
checkpoint and file (hours on a 40k-commit history at three horizons for every change), while the
diffs are read once; the tracked state is one small integer per line of the current tree
(`array('q')`, 8 bytes a line), so memory follows the size of the tree, not of the history.
bench/durability.py measures the pass against the ingest on the same repository.

Rules that make "present, unchanged" exact and testable:
- a changed line is a deleted line plus an added line (it dies; the new text is born);
- a line the same commit deletes in one place and adds, byte for byte, in another (a move, within
  or across files, also a rename git does not detect) keeps its birth: within one commit, added
  lines are matched first-in first-out to deleted lines of identical content. Lines whose content
  without surrounding blanks is shorter than MOVE_MIN bytes (blank lines, lone braces) are not
  matched, as `git blame -M` also ignores trivial moves;
- a renamed file keeps its lines' births (git's rename detection, -M);
- a binary file holds no lines; a file turning binary kills its lines;
- a revert that restores deleted lines gives them a new birth (the revert commit's).
"""

from __future__ import annotations

import gc
import subprocess
from array import array
from collections import Counter, defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain

from .git import _GIT_CONFIG, _MISSING_OBJECT, RepoInfo, _git_env, header_identities

MOVE_MIN = 8
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class LineOrigin:
    """One commit of the first-parent line: its position, time and the lines its diff added."""

    pos: int
    sha: str
    landed_at: datetime  # committer time, naive UTC
    lines_added: int
    ai_lines_added: int
    with_provenance: bool


@dataclass
class LineFates:
    """The pass's result: the first-parent commits it read, (born_pos, died_pos) -> [lines, ai_lines]
    for the lines that died in them, and the tracked tree at the end (to resume from)."""

    origins: list[LineOrigin]
    deaths: dict[tuple[int, int], list[int]]
    state: "TreeState"

    @property
    def tracked_lines(self) -> int:
        """Lines in the head's tree at the end (all still alive)."""
        return sum(len(a) for a in self.state.files.values())


@dataclass
class TreeState:
    """Where a pass stopped: the head it reached, how many first-parent commits precede the next one,
    and per file the birth of each line (pos * 2 + 1 if AI-written); files git could not read."""

    head: str
    next_pos: int
    files: dict[str, array]
    unknown: set[str]


_ESCAPES = {ord("a"): 7, ord("b"): 8, ord("t"): 9, ord("n"): 10, ord("v"): 11, ord("f"): 12, ord("r"): 13,
            ord('"'): 34, ord("\\"): 92}


def _cunquote(p: bytes) -> bytes:
    """The bytes of a path git printed C-quoted ("a\\tb", "\\303\\251"), or as printed."""
    if len(p) < 2 or p[0] != 34 or p[-1] != 34:
        return p
    out = bytearray()
    i, n = 1, len(p) - 1
    while i < n:
        c = p[i]
        if c == 92 and i + 1 < n:
            e = p[i + 1]
            if 48 <= e <= 55:  # up to three octal digits: one raw byte (non-ASCII, control)
                j = i + 1
                while j < min(i + 4, n) and 48 <= p[j] <= 55:
                    j += 1
                out.append(int(p[i + 1:j], 8) & 0xFF)
                i = j
                continue
            out.append(_ESCAPES.get(e, e))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def _unquote(p: bytes) -> str:
    """A path as git printed it, as the pass keys files: its bytes, unquoted, decoded as UTF-8 with
    replacement, as `sources.git` decodes numstat paths. (Lone surrogates for undecodable bytes
    cannot be stored in `line_state`: a Latin-1 file name used to fail the whole ingest.)"""
    return _cunquote(p).decode("utf-8", "replace")


def _key(p: str) -> str:
    """`_unquote`'s form of a path decoded with surrogateescape (as git's command line needs it)."""
    return p if p.isascii() else p.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _side(line: bytes) -> str | None:
    """The path of a "--- a/X" or "+++ b/Y" line; None for /dev/null. Git ends the line with a tab
    when the path holds a space (an unquoted path cannot end in a tab: git would quote it), which
    is not part of the path: without this a renamed file with a space in its name lost its lines."""
    p = line[4:]
    if p[-1:] == b"\t":
        p = p[:-1]
    return _strip_prefix(_unquote(p))


def _strip_prefix(p: str) -> str | None:
    if p == "/dev/null":
        return None
    return p[2:] if p[:2] in ("a/", "b/") else p


def _log_cmd(info: RepoInfo, head: str) -> list[str]:
    return ["git", "-C", str(info.path), *_GIT_CONFIG, "log", "--first-parent", "--diff-merges=first-parent",
            "--reverse", "--root", "-p", "-U0", "-M", "--no-color", "--no-ext-diff", "--no-textconv",
            "--format=%x00%H %ct", head]


# One hunk: (old path, new path, a, b, c, d, deleted lines, added lines) for "@@ -a,b +c,d @@", the
# lines with their "-"/"+" prefix. A tuple, not an object: numpy's first-parent line has 427k hunks,
# and a class's __init__ cost more than the rest of the header's parsing.
_Hunk = tuple
_NO_LINES: list[bytes] = []  # shared by every hunk that deletes (or adds) nothing; never mutated


class _Commit:
    """One commit's diff as parsed: hunks, renames, files dropped (deleted or turned binary)."""

    __slots__ = ("sha", "ctime", "hunks", "renames", "dropped", "unknown")

    def __init__(self, sha: str, ctime: int | None):
        self.sha, self.ctime = sha, ctime  # None: git printed no date (before 1970), see _landed
        self.hunks: list[_Hunk] = []
        self.renames: list[tuple[str, str]] = []
        self.dropped: list[str] = []
        self.unknown: list[str] = []  # files whose blob is missing from the object store


def _lines(stream, size: int = 1 << 22) -> Iterator[list[bytes]]:
    """The output of git as lists of lines (no newline), cut at commit headers (a NUL-led line),
    so that a hunk never straddles two lists; a list may hold many commits."""
    rest = b""
    while True:
        chunk = stream.read(size)
        if not chunk:
            break
        buf = rest + chunk
        cut = buf.rfind(b"\n\x00")
        if cut < 0:
            rest = buf
            continue
        rest = buf[cut + 1:]
        yield buf[:cut].split(b"\n")
    if rest:
        yield rest.rstrip(b"\n").split(b"\n")


def _parse(blocks, on_commit) -> _Commit | None:
    """Parse `git log -p -U0` (or `git diff -p -U0`) output, calling on_commit for each complete
    commit. Returns the last commit, which the caller finishes (or re-reads, when git died in it).

    Hunk bodies are taken by their counts (b deleted lines, then d added ones), never by prefix,
    since a deleted line may itself start with "--- "; lines keep their "-"/"+" prefix."""
    com: _Commit | None = None
    hunks: list[_Hunk] = []
    old_path = new_path = rename_from = None
    header_paths: tuple[str | None, str | None] = (None, None)
    for lines in blocks:
        i, n = 0, len(lines)
        while i < n:
            line = lines[i]
            i += 1
            c0 = line[:1]  # one byte: CPython hands out a cached object, no allocation
            if c0 == b"@":
                if line[:3] != b"@@ ":
                    continue
                rng = line.split(b" ", 3)
                a, _, b = rng[1][1:].partition(b",")
                c, _, d = rng[2][1:].partition(b",")
                b = int(b) if b else 1
                d = int(d) if d else 1
                path = new_path if new_path is not None else old_path
                if b:
                    dels = lines[i: i + b]
                    i += b
                    if i < n and lines[i][:1] == b"\\":
                        i += 1  # "\ No newline at end of file"
                else:
                    dels = _NO_LINES
                if d:
                    adds = lines[i: i + d]
                    i += d
                    if i < n and lines[i][:1] == b"\\":
                        i += 1
                else:
                    adds = _NO_LINES
                hunks.append((old_path if old_path is not None else path, path, int(a), b, int(c), d, dels, adds))
                continue
            if c0 == b"\x00":
                if com is not None:
                    on_commit(com)
                sha, _, t = line[1:].strip().partition(b" ")
                com = _Commit(sha.decode(), int(t) if t else None)
                hunks = com.hunks
                old_path = new_path = rename_from = None
                continue
            if com is None:
                com = _Commit("", 0)  # `git diff` output: one commit, no header
                hunks = com.hunks
            # The other lines by their first byte (each prefix below starts with its own letter):
            # "index" lines and the blank line after a commit's header are the common ones to skip.
            if c0 == b"i" or not line:
                continue
            if c0 == b"d":
                if line.startswith(b"diff --git "):
                    body = line[11:]
                    # "a/X b/Y": exact when X == Y (the common case); otherwise ---/+++ or rename lines say.
                    half = (len(body) - 1) // 2
                    if body[half:half + 1] == b" " and body[2:half] == body[half + 3:]:
                        p = _unquote(body[2:half])
                        header_paths = (p, p)
                    else:
                        header_paths = (None, None)
                    old_path, new_path = header_paths
                    rename_from = None
                elif line.startswith(b"deleted file mode") and old_path is not None:
                    com.dropped.append(old_path)
            elif c0 == b"-":
                if line.startswith(b"--- "):
                    old_path = _side(line)
            elif c0 == b"+":
                if line.startswith(b"+++ "):
                    new_path = _side(line)
                    if new_path is None and old_path is not None:
                        com.dropped.append(old_path)
            elif c0 == b"r":
                if line.startswith(b"rename from "):
                    rename_from = old_path = _unquote(line[12:])
                elif line.startswith(b"rename to "):
                    new_path = _unquote(line[10:])
                    if rename_from is not None:
                        com.renames.append((rename_from, new_path))
            elif c0 == b"B" and line.startswith(b"Binary files "):
                # "Binary files a/X and b/Y differ": the file holds no lines from now on.
                com.dropped.extend(p for p in {*header_paths, old_path} if p is not None)
    return com


def track(info: RepoInfo, head: str, ai_ranges: Mapping[str, Mapping[str, list[tuple[int, int]]]] | None = None,
          *, provenance_shas: set[str] | frozenset[str] = frozenset(), resume: TreeState | None = None) -> LineFates:
    """Walk the first-parent line of `head` and return every line's birth and death.

    `resume`: the state a previous pass ended in, at a commit of head's first-parent line: only the
    commits after it are read (an incremental ingest), and positions continue from it.

    `ai_ranges`: sha -> path -> AI-written line ranges of that file as of that commit (from
    line_provenance); an added line inside them is an AI line. `provenance_shas`: commits whose
    provenance is known (with or without AI lines).

    A mirror whose object store lacks some blobs makes `git log -p` die at the first commit that
    needs one: that commit is read again file by file without the missing blobs, and the walk goes
    on after it. A file whose blob is missing has unknown lines from then on (until it is deleted or
    created anew): they are recorded as lost (died_pos -1) and left out of every durability count."""
    with _gc_paused():
        return _track(info, head, ai_ranges, provenance_shas, resume)


@contextmanager
def _gc_paused():
    """Python's cycle collector off for the pass. The pass allocates millions of short-lived lists,
    tuples and deques (no cycles among them), and each 700 allocations start a collection that walks
    every young container: on numpy's history that was 0.6-1.0 s of the pass's 4.5 s of Python.
    Whatever cycles appear meanwhile are collected when it is switched back on."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _landed(info: RepoInfo, com: _Commit) -> _Commit:
    """`com` with its committer time, which git's `%ct` leaves empty before 1970 (git prints no
    date before the epoch): read from the raw commit header, as the commit read does (git.py
    `_redated`), so a line written in 1966 is dated 1966, not 1970. The author time stands in for a
    header without a readable committer date; neither: the epoch, as git log shows it."""
    if com.ctime is None:
        seen = header_identities(info, com.sha)
        at = seen.get(b"committer", (None, None))[1] or seen.get(b"author", (None, None))[1]
        com.ctime = 0 if at is None else round((at - _EPOCH).total_seconds())
    return com


def _track(info, head, ai_ranges, provenance_shas, resume) -> LineFates:
    t = _Tracker(ai_ranges or {}, provenance_shas, resume)

    def land(com: _Commit) -> None:  # every commit's time known before it is applied
        t.commit(_landed(info, com))

    since: str | None = resume.head if resume is not None else None
    while True:
        rng = head if since is None else f"{since}..{head}"
        proc = subprocess.Popen(_log_cmd(info, rng), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_git_env(),
                                bufsize=1 << 20)
        assert proc.stdout is not None
        last = _parse(_lines(proc.stdout), land)
        err = proc.stderr.read() if proc.stderr else b""
        if proc.wait() == 0:
            if last is not None:
                land(last)
            break
        text = err.decode("utf-8", "replace")
        if not _MISSING_OBJECT.search(text):
            from ..errors import GitFailed

            msg = text.strip().splitlines()
            raise GitFailed(f"git log -p failed in {info.path}: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
        # git dies either while printing a commit's diff (`last` is that commit, cut short) or, when
        # rename detection needs the blob, before printing the commit at all (`last` is then the
        # previous one, complete, or None). Reading `last` again without missing blobs is exact in
        # both cases; a commit git never printed is named by rev-list and read the same way.
        if last is not None:
            land(_without_missing(info, last.sha, last.ctime))
            since = last.sha
            continue
        first = subprocess.run(["git", "-C", str(info.path), "rev-list", "--first-parent", "--reverse", "--format=%ct",
                                rng], capture_output=True, env=_git_env()).stdout.split(b"\n")[:2]
        if len(first) < 2 or not first[0].startswith(b"commit "):
            from ..errors import GitFailed

            raise GitFailed(f"git log -p failed in {info.path}: {text.strip().splitlines()[-1]}")
        sha = first[0].split()[1].decode()
        land(_without_missing(info, sha, int(first[1]) if first[1] else None))
        since = sha
    end = TreeState(head=head, next_pos=t.base + len(t.origins), files=t.files, unknown=t.unknown)
    return LineFates(origins=t.origins, deaths=dict(t.deaths), state=end)


def _without_missing(info: RepoInfo, sha: str, ctime: int | None) -> _Commit:
    """One commit's first-parent diff with the files whose blobs are missing left out (and named)."""
    parent = subprocess.run(["git", "-C", str(info.path), "rev-parse", "-q", "--verify", f"{sha}^1"],
                            capture_output=True, env=_git_env()).stdout.decode().strip()
    base = parent or "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the empty tree
    raw = subprocess.run(["git", "-C", str(info.path), *_GIT_CONFIG, "diff-tree", "-r", "-z", "--no-renames", base, sha],
                         capture_output=True, env=_git_env()).stdout.split(b"\x00")
    entries = []  # (old blob, new blob, path); the all-zero id of an added or deleted side is no blob,
    i = 0  # and a submodule's id (mode 160000) names a commit of another repository
    while i + 1 < len(raw):
        meta = raw[i].lstrip(b":").split()
        if len(meta) >= 5 and b"160000" not in meta[:2]:
            entries.append((meta[2].decode(), meta[3].decode(), raw[i + 1].decode("utf-8", "surrogateescape")))
        i += 2
    null = "0" * 40
    blobs = "".join(f"{o}\n{n}\n" for o, n, _ in entries if o != null or n != null).encode()
    check = subprocess.run(["git", "-C", str(info.path), "cat-file", "--batch-check"], input=blobs,
                           capture_output=True, env=_git_env()).stdout.decode().splitlines()
    missing = {ln.split()[0] for ln in check if ln.endswith(" missing")} - {null}
    unknown = [p for o, n, p in entries if o in missing or n in missing]
    cmd = ["git", "-C", str(info.path), *_GIT_CONFIG, "diff", "-p", "-U0", "-M", "--no-color", "--no-ext-diff",
           "--no-textconv", base, sha, "--", "."] + [f":(exclude,literal){p}" for p in unknown]
    out = subprocess.run(cmd, capture_output=True, env=_git_env()).stdout
    com = _parse([out.rstrip(b"\n").split(b"\n")], lambda c: None) or _Commit("", 0)
    com.sha, com.ctime, com.unknown = sha, ctime, [_key(p) for p in unknown]
    return com


class _Tracker:
    """The tracked tree (path -> birth of each line, as pos * 2 + ai) and what the pass found."""

    def __init__(self, ai_ranges, provenance_shas, resume: TreeState | None = None):
        self.ai_ranges = ai_ranges
        self.provenance_shas = provenance_shas
        self.files: dict[str, array] = resume.files if resume else {}
        self.unknown: set[str] = resume.unknown if resume else set()
        self.base = resume.next_pos if resume else 0
        self.deaths: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
        self.origins: list[LineOrigin] = []

    def _die(self, v: int, pos: int, n: int = 1) -> None:
        rec = self.deaths[(v >> 1, pos)]
        rec[0] += n
        if v & 1:
            rec[1] += n

    def commit(self, com: _Commit) -> None:
        pos = self.base + len(self.origins)
        for p in com.unknown:
            # Lines of a file git cannot read: whatever was tracked there has an unknown fate.
            for v in self.files.pop(p, ()):
                self._die(v, -1)
            self.unknown.add(p)
        for src, dst in com.renames:
            if src in self.unknown:
                self.unknown.discard(src)
                self.unknown.add(dst)
        lost = 0
        hunks = [] if self.unknown else com.hunks
        for h in (com.hunks if self.unknown else ()):
            src, dst, a, b, _, d = h[:6]
            if a == 0 and b == 0 and dst in self.unknown:
                self.unknown.discard(dst)  # created anew: known again
            if src in self.unknown or dst in self.unknown:
                lost += d
                continue
            hunks.append(h)
        for p in com.dropped:
            self.unknown.discard(p)
        added, ai_added = _apply(pos, com.sha, self.files, hunks, com.renames, com.dropped, self._die,
                                 self.ai_ranges.get(com.sha))
        if lost:
            self._die(pos * 2, -1, lost)
        self.origins.append(LineOrigin(pos=pos, sha=com.sha, landed_at=_EPOCH + timedelta(seconds=com.ctime),
                                       lines_added=added + lost, ai_lines_added=ai_added,
                                       with_provenance=com.sha in self.provenance_shas))


def _in_ranges(n: int, ranges: list[tuple[int, int]]) -> bool:
    for a, b in ranges:
        if a <= n <= b:
            return True
    return False


# A move needs a deleted and an added line of the same text. When one side of a commit has at most
# this many distinct texts long enough to move, one substring search of the other side's lines
# (joined) per text can show that none occurs there (a line with that text contains it), and then
# not one line of the other side is stripped.
_FEW_TEXTS = 8


def _texts(lines: list[bytes]) -> list[bytes]:
    """What a line is matched on as a move: its text without the "-"/"+" and surrounding blanks."""
    return [c[1:].strip() for c in lines]


def _by_start(x):
    return x[0][2]


def _pool_deleted(keys, values, shared, pool: dict, dying: list) -> None:
    """One hunk's deleted lines (texts `keys`, births `values`): a line whose text some added line of
    the commit has (`shared`) waits in `pool` to be taken by a move, any other dies (`dying`)."""
    for key, v in zip(keys, values):
        if key in shared:
            q = pool.get(key)
            if q is None:
                pool[key] = q = deque()
            q.append(v)
        else:
            dying.append(v)


def _take_moved(keys, pool, born: int) -> tuple[array, int]:
    """The births of one hunk's added lines whose texts are `keys`: a line whose text a deleted
    line of the same commit had (in `pool`, first in first out) keeps that line's birth, any other
    is born `born`. Returns the births and how many were kept."""
    vals = array("q", [born]) * len(keys)
    kept = 0
    for k, key in enumerate(keys):
        q = pool.get(key)
        if q:
            vals[k] = q.popleft()
            kept += 1
    return vals, kept


def _apply_in_place(pos, files, hunks, dropped, die, shared, del_texts, add_texts) -> int:
    """`_apply` for a commit that renames no file and has no AI-written line (nearly all): the
    hunks whose deleted lines have a text in `shared` fill the pool first and the added lines that
    can take a value from it are matched, in diff order, as `_apply` does; then each file's hunks,
    last first, take out what they delete and put in their lines, in one walk. Without renames a
    hunk's old and new path name one tracked array (or none), so a hunk reads its deleted lines from
    the array it changes before any hunk in front of it changes that array. Returns lines added."""
    pool: dict[bytes, deque] = {}
    dying: list[int] = []
    pooled: set[int] = set()  # hunks whose deleted lines went through the pool
    taken: dict[int, array] = {}  # hunks with added lines that took a moved line's value
    added = 0
    born = pos * 2
    if shared:
        for j, h in enumerate(hunks):
            if h[3] and not shared.isdisjoint(keys := del_texts[j]):
                arr = files.get(h[0])
                if arr is None:
                    continue
                pooled.add(j)
                _pool_deleted(keys, arr[h[2] - 1: h[2] - 1 + h[3]], shared, pool, dying)
        for j, h in enumerate(hunks) if pool else ():
            keys = add_texts[j]
            if pool.keys().isdisjoint(keys):
                continue
            vals, kept = _take_moved(keys, pool, born)
            added += len(keys) - kept
            taken[j] = vals
        for q in pool.values():
            dying.extend(q)
    by_file: dict[str, list[int]] = {}
    for j, h in enumerate(hunks):
        path = h[1] or h[0]
        js = by_file.get(path)
        if js is None:
            by_file[path] = [j]
        else:
            js.append(j)
    one = array("q", [born])
    for path, js in by_file.items():
        arr = files.get(path)
        if arr is None:
            src = hunks[js[0]][0]
            arr = files.pop(src, None) if src and src != path else None
            if arr is None:
                arr = array("q")
        if len(js) > 1:
            js.sort(key=lambda j: hunks[j][2], reverse=True)
        for j in js:
            h = hunks[j]
            a, b = h[2], h[3]
            vals = taken.get(j) if taken else None
            if vals is None:
                vals = one * h[5]
                added += h[5]
            if b:
                if j not in pooled:
                    dying.extend(arr[a - 1: a - 1 + b])
                arr[a - 1: a - 1 + b] = vals
            else:
                arr[a:a] = vals
        files[path] = arr
    for v, n in Counter(dying).items():
        die(v, pos, n)
    for p in dropped:
        arr = files.pop(p, None)
        if arr:
            for v, n in Counter(arr).items():
                die(v, pos, n)
    return added


def _apply(pos, sha, files, hunks, renames, dropped, die, ai_of_commit) -> tuple[int, int]:
    """Apply one commit's diff to the tracked tree; record deaths; return (lines added, AI lines added).
    Hunk lines carry their "-"/"+" prefix."""
    # 1. Renames move a file's lines before its hunks (which are in the old file's numbering) apply.
    moved: dict[str, array] = {}
    for src, dst in renames:
        if src in files:
            moved[dst] = files.pop(src)
    files.update(moved)
    # 2. The texts both deleted and added (long enough): only lines with one of them can move. The
    #    smaller side is stripped first; the other only when some of its texts could still match.
    #    A commit that deletes nothing (or adds nothing) strips nothing. (Deleted lines of files not
    #    tracked count here too: a text they add to `shared` is still only matched by tracked ones.)
    n_del = n_add = 0
    for h in hunks:
        n_del += h[3]
        n_add += h[5]
    shared: set[bytes] = set()
    del_texts = add_texts = None  # per hunk, where stripped
    if n_del and n_add:
        dels_first = n_del <= n_add
        if dels_first:
            del_texts = [_texts(h[6]) for h in hunks]
            cand = {k for ks in del_texts for k in ks if len(k) >= MOVE_MIN}
        else:
            add_texts = [_texts(h[7]) for h in hunks]
            cand = {k for ks in add_texts for k in ks if len(k) >= MOVE_MIN}
        if cand and len(cand) <= _FEW_TEXTS:
            other = b"\n".join(chain.from_iterable(h[7] if dels_first else h[6] for h in hunks))
            cand = {k for k in cand if k in other}
        if cand:
            if dels_first:
                add_texts = [_texts(h[7]) for h in hunks]
                shared = cand.intersection(chain.from_iterable(add_texts))
            else:
                del_texts = [_texts(h[6]) for h in hunks]
                shared = cand.intersection(chain.from_iterable(del_texts))
    if not moved and not ai_of_commit:
        return _apply_in_place(pos, files, hunks, dropped, die, shared, del_texts, add_texts), 0
    # 3. What each hunk deletes, read before anything changes (hunks number the old file).
    gones = []  # (hunk index, the values of the tracked lines it deletes)
    for j, h in enumerate(hunks):
        if h[3]:
            arr = files.get(h[1]) if h[1] in moved else files.get(h[0])
            if arr is not None:
                gones.append((j, arr[h[2] - 1: h[2] - 1 + h[3]]))
    # 4. Deleted lines whose text some added line has wait in the pool; the rest die, in bulk.
    pool: dict[bytes, deque] = {}
    dying: list[int] = []
    for j, gone in gones:
        if not shared or shared.isdisjoint(keys := del_texts[j]):
            dying.extend(gone)
            continue
        _pool_deleted(keys, gone, shared, pool, dying)
    # 5. Values of added lines: a move keeps its birth, anything else is born here.
    added = ai_added = 0
    new_vals: list[array] = []
    born = pos * 2
    for j, h in enumerate(hunks):
        ai = ai_of_commit.get(h[1]) if ai_of_commit else None
        keys = add_texts[j] if add_texts is not None else None
        if not ai:
            if not pool or pool.keys().isdisjoint(keys):
                new_vals.append(array("q", [born]) * h[5])
                added += h[5]
                continue
            vals, kept = _take_moved(keys, pool, born)
            added += len(keys) - kept
            new_vals.append(vals)
            continue
        vals = array("q")
        c = h[4]
        for k, key in enumerate(keys if keys is not None else [None] * len(h[7])):
            q = pool.get(key)
            if q:
                vals.append(q.popleft())
                continue
            flag = 1 if _in_ranges(c + k, ai) else 0
            vals.append(born + flag)
            added += 1
            ai_added += flag
        new_vals.append(vals)
    # 6. Deleted lines not matched by a move die here (a matched value left the pool once).
    for q in pool.values():
        dying.extend(q)
    if dying:  # most commits delete nothing: no Counter for them
        for v, n in Counter(dying).items():
            die(v, pos, n)
    # 7. Apply hunks per file, last first, so earlier hunks' old numbering stays valid.
    by_file: dict[str, list[tuple[_Hunk, array]]] = {}
    for h, vals in zip(hunks, new_vals):
        path = h[1] or h[0]
        hs = by_file.get(path)
        if hs is None:
            by_file[path] = [(h, vals)]
        else:
            hs.append((h, vals))
    for path, hs in by_file.items():
        src = hs[0][0][0]
        arr = files.get(path)
        if arr is None:
            arr = files.pop(src, None) if src and src != path else None
        if arr is None:
            arr = array("q")
        if len(hs) > 1:
            hs.sort(key=_by_start, reverse=True)
        for h, vals in hs:
            b = h[3]
            start = h[2] - 1 if b else h[2]
            arr[start: start + b] = vals
        files[path] = arr
    # 8. Files deleted or turned binary: anything still tracked there dies (deleted files already
    #    lost their lines through their hunks; a binary file's lines have no hunk).
    for p in dropped:
        arr = files.pop(p, None)
        if arr:
            for v, n in Counter(arr).items():
                die(v, pos, n)
    return added, ai_added
