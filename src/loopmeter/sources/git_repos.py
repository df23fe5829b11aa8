"""Git repositories as a `Source` (sources/base.py): an adapter over the git ingest.

The git ingest's own machinery stays where it is (ingestion.py: batches of commits, one
transaction each, tips recorded last; ingest_reader.py: the opt-in reader process); this adapter
only puts it behind the protocol. `prepare` skips, without opening the store, every repository
whose refs did not move since the store read it (its digest is in meta `refs:REPO`) and checks
every other path; `load` runs the set: readers (one per core: forked processes when a core is
free and enough repositories are new, threads otherwise) run git, parse, build the rows and, for a
new repository, derive its changes and run its durability pass, while this thread, DuckDB's one
writer, appends what they made; small repositories are stored in groups (`Store.hold`), one
commit each (docs/design.md, "Many repositories in one ingest").
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb

from ..attribution import Matcher
from ..errors import ConfigError, EmptyRepository, StoreError, UnbornHead, UnreadablePath
from ..ingestion import (IngestResult, Progress, batch_size, derivation_rules, ingest_git, prepare, repo_keys,
                         stored_tips, unchanged_salt, write_ahead)
from ..store.db import Store
from .git import has_ref, in_threads, open_repository, open_with_refs
from .git_set import read_refs, state_of
from .provenance import NOTES_REF

if TYPE_CHECKING:
    from ..runner import Run

GROUP_COMMITS = 20_000
GROUP_SECONDS = 20.0
WRITE_COMMITS = 8000
CHECKPOINT_EVERY = "128MB"


class GitRepos:
    """The repositories at `paths`, read into the store (new history only). `load` returns one
    `IngestResult` per path, in the order given."""

    label = "git"
    restore_point = True
    relinks_sessions = False  # only when a repository was read: `load` does it then

    def __init__(self, paths, *, store_path: str | Path | None, matcher: Matcher, progress: Progress,
                 branch: str | None = None, pull_refs: bool = True, traces: str | Path | None = None,
                 durability: bool = True):
        self.paths = list(paths)
        self.store_path = store_path
        self.matcher = matcher
        self.progress = progress
        self.branch = branch
        self.pull_refs = pull_refs
        self.traces = traces
        self.durability = durability
        self.repos: list = []
        self.skipped: list[IngestResult] = []
        self.states: dict[str, str | None] = {}
        self.refs: list = []
        self._pool = None  # reader processes, when `prepare` chose them
        self._early = None  # the durability pass of one long new repository, started by `prepare`

    def prepare(self) -> bool:
        matcher, branch, pull_refs, traces = self.matcher, self.branch, self.pull_refs, self.traces
        salt = unchanged_salt(matcher, branch=branch, pull_refs=pull_refs) + f"\0durability={int(self.durability)}"
        # A repository whose refs did not move since the store last read it costs one git call: the
        # stored commits, changes and attributions are already what a full run would write.
        known = _stored_refs(self.store_path)
        todo: list[str | Path] = []
        keys = [str(Path(p).expanduser().resolve()) for p in self.paths]
        checked = _map_threads(read_refs, [k for k in keys if k in known])  # kept for the ones read again
        for p, key in zip(self.paths, keys):
            state = state_of(checked.get(key), salt=salt)
            # Agent Trace records live outside git: a run given them always reads the repository.
            if traces is None and state is not None and known[key][1] == state:
                self.skipped.append(known[key][2])
            else:
                todo.append(p)
        # Every other path is checked before the store is opened: a bad path neither creates a store
        # nor leaves one updated with only the repositories listed before it. Two git calls each (its
        # description, its refs), run by as many threads as cores: git does the work, not Python.
        warm = _warm_imports() if todo else None
        repos, refs = _open_all(todo, branch, checked, skip_empty=len(self.paths) > 1)
        for i in reversed([i for i, info in enumerate(repos) if info is None]):
            # A set (a discovered folder above all) holds repositories made but never committed to:
            # they have nothing to read, which is no reason to stop the others.
            path = Path(todo[i]).expanduser().resolve()
            w = f"{path}: the repository has no commits; left out"
            self.progress.note(w)
            self.skipped.append(IngestResult(repo=path.name, path=str(path), new_commits=0, head_commits=0, changes=0,
                                             incremental=False, warnings=[w]))
            del repos[i], refs[i]
        if (len(repos) == 1 and self.durability and traces is None and str(repos[0].path) not in known
                and not has_ref(refs[0] or b"", NOTES_REF) and _long(repos[0])):
            # One long history new to the store: its durability pass needs nothing from the store,
            # so it starts now, on the core that the imports, opening the store and the first read
            # leave idle. (A process started by fork and exec: the import thread does not matter.)
            from .. import ingest_durability

            self._early = ingest_durability.early(repos[0])
        if warm is not None:
            warm.join()  # before any reader process is forked: no import may be half-done then
        # A repository named twice (the same path, or a folder inside it) is read once.
        once = {str(info.path): i for i, info in reversed(list(enumerate(repos)))}
        keep = sorted(once.values())
        self.repos, self.refs = [repos[i] for i in keep], [refs[i] for i in keep]
        for info, r in zip(self.repos, self.refs):
            self.states[str(info.path)] = state_of(r, salt=salt)
        if traces is not None:
            if len(self.repos) != 1:
                raise ConfigError("--traces: give exactly one repository with it (its records name that repository's commits)")
            if not Path(traces).exists():
                raise UnreadablePath(f"{traces}: no such file or directory")
        # Processes pay off on whole histories: repositories new to the store (one that moved is
        # read from its last tips, usually a few commits).
        if self.repos and _reader_processes(sum(str(info.path) not in known for info in self.repos)):
            # Started now, so the readers start while the store is opened (created and migrated,
            # for a new one), and before the progress display starts its thread. An error before
            # `load` leaves them idle until exit.
            self._pool = _start_processes(min(os.cpu_count() or 1, len(self.repos)), (
                matcher, derivation_rules(matcher), pull_refs, self.durability and traces is None))
        self.progress.start_set(len(self.paths), done=len(self.skipped))
        return bool(self.repos)

    def idle(self) -> list[IngestResult]:
        return _in_order(self.paths, self.skipped, [])

    def load(self, run: Run) -> list[IngestResult]:
        store, repos, matcher, progress = run.store, self.repos, self.matcher, self.progress
        pull_refs, traces, durability, states = self.pull_refs, self.traces, self.durability, self.states
        results = []
        # Small repositories are stored in groups, one commit each (Store.hold): a commit costs more
        # than a small repository's rows. A group ends after GROUP_COMMITS new commits or
        # GROUP_SECONDS, so a killed run loses little; ingest_git ends it before a long history.
        pending, since = 0, time.monotonic()
        from concurrent.futures import ThreadPoolExecutor  # here: an idle run does not import it

        refs = self.refs
        keys = repo_keys(store, repos)
        previous = stored_tips(store)
        # What the store held before, so a new repository is written and derived without asking it.
        known_keys = {r[0] for r in store.con.execute("select repo from repos").fetchall()}
        with_provenance = {r[0] for r in store.con.execute("select distinct repo from line_provenance").fetchall()}
        salt_of_store = store.meta("salt") or ""
        first_seen: dict[str, int] = {}
        for i, k in enumerate(keys):
            first_seen.setdefault(k, i)
        limit = batch_size()
        # Reader threads run git and parse its output for the repositories ahead while this thread
        # (DuckDB's one writer) stores the current one; a few repositories ahead at most, so memory
        # stays bounded (a prefetched history is at most one batch).
        workers = max(1, min(os.cpu_count() or 1, len(repos)))
        # Reader processes (`prepare` started them) do the Python work: parsing, the commits' rows,
        # a new repository's changes and durability pass. Threads share one interpreter lock with
        # this writer, so they take over only git's waits and DuckDB's (which release it).
        processes, pool, self._pool = self._pool is not None, self._pool, None
        setting = None if processes else (matcher, derivation_rules(matcher), pull_refs, durability and traces is None)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loopmeter-git")
        # Up to this many repositories are read ahead; small ones already read are stored together,
        # up to WRITE_COMMITS commits per set of statements (a statement costs milliseconds).
        window = 16 * workers
        futures = {}
        # DuckDB checkpoints (compresses and writes the tables) at a commit once its write-ahead
        # log passes 16 MB: a set's groups did that several times, each rewriting what the one
        # before wrote (200 x 200 commits: 4.0 s of commits and a 44 MB file, against 2.4 s and
        # 29 MB with one checkpoint at the end). Bounded, so un-checkpointed rows stay modest.
        store.con.execute(f"set checkpoint_threshold = '{CHECKPOINT_EVERY}'")
        # Small repositories' statements run on DuckDB's calling thread alone: each moves a few
        # thousand rows, too few for its worker threads to pay for waking up (200 x 200 commits:
        # ~0.7 s less CPU, 9%), and the readers want the other core. A long history (its batches,
        # its derivation over the store) gets DuckDB's threads back.
        one_thread = _OneThread(store)
        # One repository (a thread reads it): a long history's read-ahead stays open for the writer,
        # which takes it next, rather than being dropped and read again. In a set the windows'
        # long histories would each hold a git process and a batch.
        keep_open = len(repos) == 1 and not processes

        def submit(i: int) -> None:
            if i < len(repos) and i not in futures:
                fresh = keys[i] not in known_keys and first_seen[keys[i]] == i
                futures[i] = pool.submit(_read, repos[i], keys[i], previous.get(keys[i], []), limit,
                                         refs[i] or b"", fresh, salt_of_store, setting, keep_open)

        try:
            for i, info in enumerate(repos):
                for j in range(i, i + window):
                    submit(j)
                ahead = futures.pop(i).result()
                if first_seen[keys[i]] == i:  # a path named twice is known to the store the second time
                    ahead.fresh = keys[i] not in known_keys
                    ahead.provenance = keys[i] in with_provenance
                one_thread.set(ahead.fits())
                store.hold()
                if ahead.written is None and ahead.fits():
                    # This and the next small repositories already read: their commits in one go
                    # (up to WRITE_COMMITS; each is at most one batch).
                    small, held = [ahead], ahead.total or 0
                    for j in range(i + 1, min(i + window, len(repos))):
                        if held >= WRITE_COMMITS:
                            break
                        nxt = futures[j].result()
                        if not nxt.fits():
                            break
                        small.append(nxt)
                        held += nxt.total or 0
                    write_ahead(store, small, matcher, salt_of_store)
                early, self._early = self._early, None
                r = ingest_git(store, info, matcher=matcher, progress=progress, pull_refs=pull_refs, traces=traces,
                               durability=durability, relink=False, ahead=ahead, early_pass=early)
                long = not store.held  # a long history committed batch by batch: end the group with it
                if long:
                    # Its ingest may have reopened the store (a new connection, at DuckDB's defaults):
                    # the rest of the set keeps the set's threshold.
                    store.con.execute(f"set checkpoint_threshold = '{CHECKPOINT_EVERY}'")
                store.hold()  # the relink and the refs digest commit together, after the rows
                if states.get(str(info.path)):
                    store.set_meta(f"refs:{r.repo}", json.dumps(
                        {"digest": states[str(info.path)], "head_commits": r.head_commits, "changes": r.changes}))
                results.append(r)
                pending += r.new_commits
                if long or pending >= GROUP_COMMITS or time.monotonic() - since > GROUP_SECONDS:
                    _finish_group(store, progress)
                    pending, since = 0, time.monotonic()
                progress.repo_done()
            _finish_group(store, progress)
        except BaseException:
            for f in futures.values():
                f.cancel()
            store.release(commit=False)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            try:
                store.con.execute("reset checkpoint_threshold")
                one_thread.set(False)
            except duckdb.Error:
                pass  # a connection DuckDB invalidated: the error that did it is the one to report
        if results:
            from ..runner import relink_sessions

            relink_sessions(store)
        return _in_order(self.paths, self.skipped, results)


#: A set with at least this many repositories new to the store is read by reader processes (one
#: per core) when the machine has two cores or more. Fewer are read by threads: a process costs an
#: interpreter start (~0.3 s of CPU for its imports), which a few repositories do not repay.
PROCESS_MIN_REPOS = 8

# A reader process's setting (`_reader_start`): the same for every repository of the set.
_SETTING: tuple = ()


def _start_processes(workers: int, setting: tuple):
    """A pool of `workers` reader processes told `setting` (see `_read`), all starting now."""
    import multiprocessing as mp
    import sys
    from concurrent.futures import ProcessPoolExecutor

    # Forked on Linux: a spawned reader first imports what it runs (~0.3 s of CPU each, and on a
    # loaded machine seconds before its first repository). This runs before the store is opened,
    # so no DuckDB connection or thread of ours is copied; a reader touches no lock another thread
    # may hold (it writes nothing to the terminal: results and errors go back on the pool's pipe).
    method = "fork" if sys.platform == "linux" else "spawn"
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method),
                               initializer=_reader_start, initargs=setting)
    for _ in range(workers):  # started now (a spawned one only when a task finds none idle)
        pool.submit(int)
    return pool


def _reader_start(matcher: Matcher, rules: str, pull_refs: bool, durability: bool) -> None:
    """A reader process's initializer: the set's setting is sent once, not with every repository."""
    global _SETTING
    import sys

    # pyarrow imports pandas (when installed) the first time it converts Python objects, to check
    # whether they are pandas'; a reader never has any, and the import was ~0.5 s of CPU in each
    # reader process, more than a hundred small repositories' parsing. An import that fails is
    # pyarrow's "no pandas here".
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())
    # The rows go back as one Arrow IPC stream a table, not pickled array by array: a third of the
    # CPU of sending a small repository's ~11 tables (0.3 ms against 0.95; 0.26 ms against 0.65 to
    # read them back in the writer, measured on the 200 x 200 set).
    import pyarrow as pa
    from multiprocessing.reduction import ForkingPickler

    ForkingPickler.register(pa.Table, _table_to_ipc)
    _SETTING = (matcher, rules, pull_refs, durability)


def _table_to_ipc(table):
    """Pickle `table` (in a reader process) as an Arrow IPC stream; `_table_from_ipc` reads it."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return _table_from_ipc, (sink.getvalue().to_pybytes(),)


def _table_from_ipc(data: bytes):
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class _NoPandas:
    """An import hook refusing pandas (in a reader process only: see `_reader_start`)."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("a loopmeter reader process does not load pandas")
        return None


def _read(info, repo: str, previous: list[str], limit: int, refs: bytes, fresh: bool, salt: str,
          setting: tuple | None = None, keep: bool = False):
    """One repository of the set, in a reader: `ingestion.prepare` under the set's setting
    (`setting`: (matcher, rules, pull_refs, durability); None in a process: its initializer's).
    `keep`: see `ingestion.read_ahead` (a thread only: git's stream cannot leave a process)."""
    matcher, rules, pull_refs, durability = setting or _SETTING
    return prepare(info, repo, previous, pull_refs=pull_refs, limit=limit, refs=refs, salt=salt, matcher=matcher,
                   fresh=fresh, rules=rules, durability=durability, keep=keep)


def _reader_processes(repos: int) -> bool:
    """Whether a set with `repos` repositories new to the store is read by reader processes (`_read`:
    the readers parse, build the rows, derive a new repository's changes and run its durability
    pass, so the writer runs only DuckDB) rather than threads sharing the writer's interpreter lock.
    LOOPMETER_READERS=processes or threads decides; by default processes when the machine has two
    cores or more, at least PROCESS_MIN_REPOS repositories are new to the store, and a core is free
    (the 1-minute load average below the cores less one). Processes buy a second core for the
    Python work at ~0-5% more CPU since their rows travel as Arrow IPC (~9% before): on a
    machine whose cores were busy with other work they measured slower than threads then
    (bench/README.md, `many_repos.py`)."""
    choice = os.environ.get("LOOPMETER_READERS", "").strip()
    if choice not in ("", "processes", "threads"):
        raise ConfigError(f"LOOPMETER_READERS: 'processes' or 'threads', not {choice!r}")
    if choice:
        return choice == "processes"
    cores = os.cpu_count() or 1
    return cores >= 2 and repos >= PROCESS_MIN_REPOS and _load() < cores - 1


def _load() -> float:
    """The 1-minute load average (0 where the system does not say)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def arrow_without_pandas() -> None:
    """In a `loopmeter ingest` process (which ends with the ingest), keep pandas from being loaded
    by pyarrow and DuckDB: both import it (when installed) only to check whether the objects they
    are handed are pandas' (pyarrow at its first conversion of Python objects, DuckDB at its first
    query with parameters), and pandas was the largest import of a set's ingest (~0.25 s of CPU
    on an idle machine, ~0.5 s loaded, on the writer). Python code that imports pandas still gets
    it; only an import from inside a compiled extension is refused, and both remember the answer
    for the life of the process: so a process that later wants pandas through them (a report,
    `analyze`, the library) must not call this."""
    import sys

    if "pandas" not in sys.modules and not any(isinstance(h, _NoPandasForExtensions) for h in sys.meta_path):
        sys.meta_path.insert(0, _NoPandasForExtensions())


class _NoPandasForExtensions:
    """An import hook refusing pandas to compiled code (see `arrow_without_pandas`): the Python
    frame nearest the import is not running an `import` statement (pyarrow's and DuckDB's checks
    import from C, under whatever Python function called them)."""

    def find_spec(self, name: str, path=None, target=None):
        if name != "pandas":  # its submodules come only after it, from Python
            return None
        import dis
        import sys

        f = sys._getframe(1)
        while f is not None and f.f_code.co_filename.startswith("<frozen importlib"):
            f = f.f_back
        if f is None or f.f_code.co_filename.endswith(("importlib/__init__.py", "importlib\\__init__.py")):
            return None  # importlib.import_module("pandas"): asked for by Python
        if f.f_code.co_code[f.f_lasti] == dis.opmap["IMPORT_NAME"]:
            return None
        raise ImportError("a loopmeter ingest process does not load pandas for pyarrow or DuckDB")


def _warm_imports():
    """A thread importing, while git describes the repositories, what this process will import
    anyway once it stores rows: pyarrow and pyarrow.dataset (and pandas, which pyarrow loads the first
    time it converts Python objects, unless `arrow_without_pandas` said not to), which would otherwise
    land on the writer, the set's critical path."""
    import threading

    def warm() -> None:
        try:
            import pyarrow as pa

            pa.array(["x"])
            # DuckDB imports these the first time it scans a registered Arrow table (the writer's
            # first statement): 0.1 s idle, 0.3-0.5 s on a loaded machine.
            import pyarrow.dataset  # noqa: F401
        except Exception:  # only ever an earlier start of the same import
            pass

    t = threading.Thread(target=warm, name="loopmeter-imports", daemon=True)
    t.start()
    return t


def _map_threads(fn: Callable, args: list) -> dict:
    """{arg: fn(arg)} with one thread per core: for git calls, whose waits release the GIL. The
    first exception (in the order of `args`) is raised."""
    return dict(zip(args, in_threads(fn, args, workers=os.cpu_count() or 1)))


def _long(info) -> bool:
    """Whether the history of `info`'s head is long enough for the durability pass beside the
    ingest (`ingest_durability.MIN_COMMITS`): a walk that stops there (~20 ms on numpy)."""
    from ..ingest_durability import MIN_COMMITS
    from .git import git

    out = git(info.path, "rev-list", "--count", f"--max-count={MIN_COMMITS}", info.head_sha, check=False).stdout
    return out.strip().isdigit() and int(out) >= MIN_COMMITS


def _open_all(paths: list, branch: str | None, refs: dict, *, skip_empty: bool = False) -> tuple[list, list]:
    """`open_repository` and `read_refs` of every path, in order (refs already read are taken
    from `refs`, by path); the first bad path raises. With `skip_empty`, a repository without
    any commit (no branch has one) is None instead."""

    def one(i: int):
        key = str(Path(paths[i]).expanduser().resolve())
        try:
            if key in refs:  # read already (its digest moved): only described
                return open_repository(paths[i], branch), refs[key]
            return open_with_refs(paths[i], branch)  # one git process, not two
        except EmptyRepository as e:
            if not skip_empty or isinstance(e, UnbornHead) or branch:
                raise
            return None, None

    out = _map_threads(one, list(range(len(paths))))
    return [out[i][0] for i in range(len(paths))], [out[i][1] for i in range(len(paths))]


class _OneThread:
    """Switches the store's connection between DuckDB's calling thread alone and its default
    threads (only when the wanted setting changes: a `set` is a statement)."""

    def __init__(self, store: Store):
        self.store, self.on = store, False  # store.con, not kept: `Store.reopen` replaces it

    def set(self, on: bool) -> None:
        if on != self.on:
            self.store.con.execute("set threads = 1" if on else "reset threads")
            self.on = on


def _finish_group(store: Store, progress: Progress) -> None:
    """Re-join API items to the changes rebuilt since the last group, and commit the group."""
    from ..store.api_load import relink_api_sources

    progress.step("linking pull requests and issues")
    store.flush()  # the changes deferred by the group are written before API items join them
    relink_api_sources(store)
    store.release()


def _stored_refs(store_path: str | Path | None) -> dict[str, tuple[str, str, IngestResult]]:
    """path -> (repo, refs digest, what an idle run reports) for each repository the store holds.

    Read without opening the store for writing when it exists; an absent store knows nothing."""
    if store_path is None or not Path(store_path).is_file():
        return {}
    try:
        with Store.open_read(store_path) as store:
            rows = store.con.execute(
                "select r.repo, r.path, m.value from repos r join meta m on m.key = 'refs:' || r.repo"
            ).fetchall()
    except (StoreError, duckdb.Error):
        return {}  # the full path opens it again and reports what is wrong
    out = {}
    for repo, path, value in rows:
        try:
            v = json.loads(value)
            out[path] = (repo, v["digest"], IngestResult(
                repo=repo, path=path, new_commits=0, head_commits=int(v["head_commits"]), changes=int(v["changes"]),
                incremental=True, unchanged=True))
        except (ValueError, KeyError, TypeError):
            continue  # an unreadable record only costs a full read
    return out


def _in_order(paths, skipped: list[IngestResult], done: list[IngestResult]) -> list[IngestResult]:
    """Results in the order the paths were given (skipped and read ones interleave)."""
    by_path = {r.path: r for r in (*skipped, *done)}
    out = []
    for p in paths:
        r = by_path.pop(str(Path(p).expanduser().resolve()), None)
        if r is not None:
            out.append(r)
    return out + list(by_path.values())
