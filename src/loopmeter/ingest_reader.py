"""Both cores for one long history: reader processes that each diff a share of its commits while
this process (DuckDB's one writer) stores what they parsed.

One `git log --numstat` is one core's work, and the Python that parses its output is more of the
same core's: git blocks on a full pipe while Python parses, and Python parses while DuckDB writes.
Here `git rev-list` lists the new commits once, the list is cut into chunks of one batch, and
reader k takes chunks k, k+N, k+2N, ...: it runs ONE `git diff-tree --stdin` over them (the
records `git log` prints, rename detection on, merges without a diff; `sources.git.iter_listed`),
parses them and builds each chunk's Arrow tables (`commit_tables`), and sends them to the writer.
Interleaved chunks keep the readers at the same pace whatever the history's shape (old commits
are smaller than new ones), so neither waits long for the other.

The rows are exactly a serial ingest's (a test compares every table). Each commit's rows depend
on the commit alone, with one exception: a person's first-seen name and e-mail (`actors`, kept
by the first insert). So a chunk's new actors are stored only once every chunk before it in git's
order is stored, and then in that order: the first spelling wins, as in one stream.

Memory stays flat: a reader holds the chunk it builds and the one it hands over (a pipe write
blocks until the writer takes it); the writer holds one chunk per reader and the (small) actor
rows of chunks that wait for an earlier one. No list of the whole history is built in Python:
the revision list stays one `bytes` and is cut at newlines.

The readers are plain `python -c` processes (as in ingest_durability.py): multiprocessing's spawn
would import the parent's `__main__`, the whole CLI, in each.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING

from .attribution import Matcher
from .errors import GitFailed
from .sources import git as gitsrc

if TYPE_CHECKING:  # Arrow is imported where rows are made, as in store/changes.py
    import pyarrow as pa

#: A history with fewer new commits than this is read in-process: starting a reader costs an
#: interpreter and its imports (~0.5 s of CPU), more than a short history's parse.
MIN_COMMITS = 10_000


def readers(total: int | None, *, busy: int = 0) -> int:
    """How many reader processes read a history of `total` new commits; 0: read it in-process.

    `busy`: cores already taken by other work of this ingest (the durability pass beside it). The
    in-process read is itself two busy processes (git, and Python parsing and storing), so readers
    pay only where at least two cores are left for them: more processes than cores only adds the
    readers' start-up and hand-over (on numpy, 41,819 commits, ~4 s of CPU) to the same work.

    LOOPMETER_READER_PROCESS: "0" never, a number N >= 1 always N (tests force short histories
    through them), unset: the free cores, up to 4, for a history of MIN_COMMITS or more."""
    raw = os.environ.get("LOOPMETER_READER_PROCESS", "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            from .errors import ConfigError

            raise ConfigError(f"LOOPMETER_READER_PROCESS: {raw!r} is not a whole number") from None
        return max(0, n)
    free = (os.cpu_count() or 1) - busy
    if free < 2 or total is None or total < MIN_COMMITS:
        return 0
    return min(free, 4)


def enabled() -> bool:
    """Whether reader processes are forced on (LOOPMETER_READER_PROCESS=N >= 1): the set loop then
    counts a repository's commits before reading it ahead, so a long one goes to the readers."""
    raw = os.environ.get("LOOPMETER_READER_PROCESS", "").strip()
    return raw.isdigit() and int(raw) >= 1


def revision_list(info: gitsrc.RepoInfo, tips: list[str], old: list[str]) -> bytes:
    """The new commits, one sha a line, in `git log`'s order (rev-list's default is the same)."""
    revs = "\n".join([*tips, *(f"^{x}" for x in old)]) + "\n"
    return gitsrc.git(info.path, "rev-list", "--stdin", input=revs.encode()).stdout


def chunks(listing: bytes, size: int) -> list[tuple[int, int]]:
    """(start, end) byte offsets of consecutive chunks of `size` lines of `listing`."""
    out, start = [], 0
    line = listing.find(b"\n") + 1  # every line is one sha and a newline: all the same length
    if line <= 0:
        return out
    step = line * size
    while start < len(listing):
        end = min(start + step, len(listing))
        out.append((start, end))
        start = end
    return out


def read_batches(info: gitsrc.RepoInfo, repo: str, tips: list[str], old: list[str], *, salt: str,
                 matcher: Matcher, size: int, fallback: list[str], n: int = 2) -> Iterator[tuple[int, dict]]:
    """(commits in the chunk, its tables) for every chunk of the new history, read by `n` reader
    processes, in the order the chunks arrive. Each table set is what `commit_tables` makes of
    that chunk, except that `_actors` holds the rows that may be stored now (see the module's
    docstring). Messages git gave where blobs were missing are appended to `fallback`."""
    listing = revision_list(info, tips, old)
    parts = chunks(listing, size)
    if not parts:
        return
    n = max(1, min(n, len(parts)))
    procs: list[subprocess.Popen] = []
    errs = []
    got: queue.Queue = queue.Queue(maxsize=n)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); import loopmeter.ingest_reader as m; "
            f"sys.path.remove({root!r}); m._child()")
    try:
        for k in range(n):
            mine = [(j, listing[a:b]) for j, (a, b) in enumerate(parts) if j % n == k]
            err = tempfile.TemporaryFile()
            errs.append(err)
            proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err)
            procs.append(proc)
            threading.Thread(target=_pump, args=(proc, (info, repo, mine, salt, matcher), got), daemon=True,
                             name=f"loopmeter-reader-{k}").start()
        del listing
        yield from _in_order_actors(got, n, len(parts), fallback, procs, errs, info)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                try:
                    f and f.close()
                except OSError:
                    pass
        for err in errs:
            err.close()


def _pump(proc: subprocess.Popen, job: tuple, got: queue.Queue) -> None:
    """A writer-side thread per reader: hand the reader its job, then pass its messages on."""
    try:
        pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        proc.stdin.close()
        while True:
            msg = pickle.load(proc.stdout)
            got.put(msg)
            if msg[0] != "chunk":
                return
    except (EOFError, OSError, pickle.UnpicklingError):
        got.put(("died", None, None, None))


def _in_order_actors(got: queue.Queue, n: int, total_chunks: int, fallback: list[str],
                     procs: list[subprocess.Popen], errs: list, info: gitsrc.RepoInfo) -> Iterator[tuple[int, dict]]:
    waiting: dict[int, pa.Table] = {}  # chunk -> its new actors, until every earlier chunk is stored
    following = 0  # the first chunk whose actors are not stored yet
    finished = 0
    while finished < n:
        kind, a, b, c = got.get()
        if kind == "chunk":
            tables = dict(c)
            waiting[a] = tables.pop("_actors")
            ready = []
            while following in waiting:
                ready.append(waiting.pop(following))
                following += 1
            tables["_actors"] = _first_seen(ready) if ready else c["_actors"].schema.empty_table()
            yield b, tables
        elif kind == "done":
            fallback.extend(a)
            finished += 1
        elif kind == "error":
            raise a
        else:
            for proc, err in zip(procs, errs):
                try:
                    proc.wait(timeout=5)  # its output ended: it is exiting, or has
                except subprocess.TimeoutExpired:
                    continue
                if proc.returncode != 0:
                    err.seek(0)
                    lines = err.read().decode("utf-8", "replace").strip().splitlines()
                    raise GitFailed(f"a git reader for {info.path} stopped: {lines[-1] if lines else f'exit {proc.returncode}'}")
            raise GitFailed(f"a git reader for {info.path} stopped without a word")
    if following != total_chunks or waiting:  # cannot happen unless a reader skipped a chunk
        raise GitFailed(f"the git readers for {info.path} returned {following} of {total_chunks} chunks")


def _first_seen(tables: list[pa.Table]) -> pa.Table:
    """The actor rows of consecutive chunks, in order, each actor once: its first spelling, as the
    first insert of a serial ingest keeps it."""
    import pyarrow as pa

    t = pa.concat_tables(tables)
    seen: set[str] = set()
    keep = []
    for i, aid in enumerate(t["actor_id"].to_pylist()):
        if aid not in seen:
            seen.add(aid)
            keep.append(i)
    return t.take(keep) if len(keep) < t.num_rows else t


def _child() -> None:
    """A reader: take (info, repo, [(chunk, shas)], salt, matcher) on stdin; write ("chunk", index,
    commits, tables) for each chunk, then ("done", fallback messages, ...) or ("error", e, ...)."""
    from .store.git_load import Identities, commit_tables

    info, repo, mine, salt, matcher = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        ids = Identities(salt, matcher)
        fallback: list[str] = []
        todo = b"".join(shas for _, shas in mine).decode("ascii").split()
        stream = gitsrc.iter_listed(info, todo, on_fallback=fallback.append)
        for j, shas in mine:
            count = shas.count(b"\n")
            batch = list(islice(stream, count))
            if len(batch) != count:
                raise GitFailed(f"git diff-tree in {info.path} gave {len(batch)} of the {count} commits listed")
            pickle.dump(("chunk", j, len(batch), commit_tables(repo, batch, ids, matcher)), out,
                        protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            del batch
        result = ("done", fallback, None, None)
    except BaseException as e:  # handed to the writer, which raises it as its own
        result = ("error", e, None, None)
    pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()
