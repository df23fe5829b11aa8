"""The durability pass beside the ingest: a second process walks `git log -p` while this one reads
`git log --numstat` and stores the commits.

The pass (sources/line_fates.py) and the ingest read the same repository but need nothing from
each other when the repository has no line provenance: the pass only asks which lines were
AI-written, and without Git AI notes, Agent Trace files or stored provenance the answer is "none"
before a single commit is stored. On numpy the pass was 44% of the ingest run after it; beside
it, the machine's second core does that work while the first parses and writes (issue 14).

Only this process writes DuckDB: the child returns its result (the Arrow rows, pickled) on a pipe
and the ingest stores it where the pass used to run. When provenance turns up after all, or the
child fails for a reason other than git's (it was killed, it ran out of memory), its result is
dropped and the ingest runs the pass itself, as it did before; a git failure is the ingest's.

The child is a plain `python -c` running `_child` rather than a multiprocessing process: spawn
would import the parent's `__main__` (the whole CLI) first, and this child needs only the git
source and the line tracker.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import weakref

#: A history shorter than this many new commits is tracked in the ingest's own process: the
#: pass over it costs less than starting a second interpreter (~0.4 s of CPU for its imports).
MIN_COMMITS = 2000

#: DuckDB's memory limit while the pass's rows are stored (`Beside.finish`, `store.db.in_less_memory`).
STORE_MEMORY = "64MB"


def enabled() -> bool:
    """On unless LOOPMETER_DURABILITY_BESIDE=0 (benchmarks compare both ways)."""
    return os.environ.get("LOOPMETER_DURABILITY_BESIDE", "").strip() != "0"


def provenance_key(store, repo: str) -> str:
    """What the pass's AI input is, as a key: the pass is redone when it changes."""
    fp = store.con.execute(
        "select count(*), coalesce(sum(ai_lines), 0), coalesce(sum(hash(sha || path || coalesce(ranges, ''))), 0) "
        "from line_provenance where repo = ?", [repo]).fetchone()
    return f"{fp[0]}:{fp[1]}:{fp[2]}"


NO_PROVENANCE = "0:0:0"


class Beside:
    """A pass running in a child process; `finish` stores its result (or says it cannot)."""

    def __init__(self, proc: subprocess.Popen, err, repo: str | None, head: str):
        self.proc, self.err, self.repo, self.head = proc, err, repo, head
        # An ingest that fails before `finish` must not leave the child walking the history.
        self._finalizer = weakref.finalize(self, _stop, proc, err)

    def name(self, repo: str) -> None:
        """Tell a pass started `early` the repository's name in the store (its rows carry it)."""
        self.repo = repo
        try:
            pickle.dump(repo, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.close()
        except OSError:
            pass  # the child died: `finish` says so and the ingest runs the pass itself

    def stop(self) -> None:
        """Kill the child (a pass started early that this ingest cannot use)."""
        self._finalizer()

    def finish(self, store) -> bool:
        """Store the pass's result as the ingest's own pass would; False when it cannot be used (the
        repository gained provenance during the ingest, or the child died), and the caller runs it."""
        import pyarrow as pa

        from .errors import GitFailed
        from .store.db import in_less_memory
        from .store.provenance_load import write_line_fates_rows

        try:
            if self.repo is None or provenance_key(store, self.repo) != NO_PROVENANCE:
                return False
            try:
                kind, value = pickle.load(self.proc.stdout)
            except (EOFError, pickle.UnpicklingError, OSError):
                return False
            self.proc.wait()
            if kind == "error":
                if isinstance(value, GitFailed):
                    raise value
                return False
            # The blocks DuckDB cached for the derivation dropped, and the rows (one per commit of
            # the first-parent line, its deaths) inserted under a low limit: under the store's own
            # this insert was the ingest's peak, growing with the history (bench/README.md).
            pa.default_memory_pool().release_unused()
            in_less_memory(store, STORE_MEMORY, lambda: write_line_fates_rows(store, value))
            store.set_meta(f"line_fates:{self.repo}", f"{self.head}:{NO_PROVENANCE}")
            return True
        finally:
            self._finalizer()


def _stop(proc: subprocess.Popen, err) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for f in (proc.stdin, proc.stdout, err):
        try:
            f and f.close()
        except OSError:
            pass


def start(store, info, repo: str, *, new_commits: int | None, has_provenance: bool,
          early: Beside | None = None) -> Beside | None:
    """Start the pass for `repo` in a child process, when it can run beside the ingest: the
    repository has no provenance now or before (`has_provenance` says whether this ingest brings
    some: notes read, traces given), the history to read is long, and the pass has work to do.

    `early`: a pass `early` started before the store was opened, from scratch. It is this pass
    when the store holds no pass and no provenance of the repository (then it is named and
    returned); otherwise it is stopped and the pass starts here, as without it."""
    if not enabled() or has_provenance or new_commits is None or new_commits < MIN_COMMITS:
        if early is not None:
            early.stop()
        return None
    if provenance_key(store, repo) != NO_PROVENANCE:
        if early is not None:
            early.stop()
        return None
    stored = store.meta(f"line_fates:{repo}")
    if early is not None:
        if not stored and early.head == info.head_sha:
            early.name(repo)
            return early
        early.stop()
    done = (stored or "").split(":", 1)
    if done == [info.head_sha, NO_PROVENANCE]:
        return None
    resume = None
    if len(done) == 2 and done[1] == NO_PROVENANCE:
        from .ingestion import _on_first_parent_line
        from .store.provenance_load import load_line_state

        resume = load_line_state(store, repo)
        if resume is not None and not _on_first_parent_line(info, resume.head):
            resume = None
    return _spawn(info, resume, repo)


def early(info) -> Beside | None:
    """Start the pass over `info`'s whole first-parent line now, before the store is opened, for a
    repository that is likely new to the store and long (the caller judged): the child imports and
    walks while this process opens the store and starts its own read, a second core otherwise idle
    then. `start(..., early=)` later adopts it (naming the repository) or stops it."""
    if not enabled():
        return None
    return _spawn(info, None, None)


def _spawn(info, resume, repo: str | None) -> Beside | None:
    """The child, sent its job; `repo` None: its name follows (`Beside.name`), stdin stays open."""
    err = tempfile.TemporaryFile()
    # The child imports this very package (a checkout on PYTHONPATH, an installed copy) and then
    # takes the directory off the path again.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); import loopmeter.ingest_durability as m; "
            f"sys.path.remove({root!r}); m._child()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    try:
        pickle.dump((info, info.head_sha, resume, repo), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        if repo is None:
            proc.stdin.flush()
        else:
            proc.stdin.close()
    except OSError:
        _stop(proc, err)
        return None
    return Beside(proc, err, repo, info.head_sha)


def _child() -> None:
    """The child: read (info, head, resume, repo) on stdin, walk, write ("ok", rows) or ("error", e).
    `repo` None (`early`): the repository's name follows on stdin, read once the walk is done.

    The rows are the Arrow tables the store takes (`line_fates_rows`), made here: the pass's Python
    objects (a tuple per origin, a dict entry per death, an array per file) are several times their
    columns' size, and unpickled in the ingest they were its peak at 200,000 commits."""
    from .sources import line_fates
    from .store.provenance_load import line_fates_rows

    info, head, resume, repo = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        fates = line_fates.track(info, head, {}, provenance_shas=set(), resume=resume)
        if repo is None:  # started early: the name comes when the ingest adopts the pass
            try:
                repo = pickle.load(sys.stdin.buffer)
            except EOFError:
                return  # not adopted (the ingest stopped it, or ended)
        result = ("ok", line_fates_rows(repo, fates, incremental=resume is not None))
        del fates
    except Exception as e:  # handed to the ingest, which decides whether it is its own failure
        result = ("error", e)
    pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()
