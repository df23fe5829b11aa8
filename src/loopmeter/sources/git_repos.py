"""Git repositories as a `Source` (sources/base.py): an adapter over the git ingest.

The git ingest's own machinery stays where it is (ingestion.py: batches of commits, one
transaction each, tips recorded last; ingest_reader.py: the opt-in reader process); this adapter
only puts it behind the protocol. `prepare` skips, without opening the store, every repository
whose refs did not move since the store read it (its digest is in meta `refs:REPO`) and checks
every other path; `load` runs the set: reader threads (one per core) run git and parse the next
repositories while this thread, DuckDB's one writer, stores the current one, and small
repositories are stored in groups (`Store.hold`), one commit each (docs/design.md, "Many
repositories in one ingest").
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ..attribution import Matcher
from ..errors import ConfigError, StoreError, UnreadablePath
from ..ingestion import (IngestResult, Progress, batch_size, ingest_git, read_ahead, repo_keys, stored_tips,
                         unchanged_salt, write_ahead)
from ..store.db import Store
from .git import open_repository
from .git_set import refs_state

if TYPE_CHECKING:
    from ..runner import Run

GROUP_COMMITS = 5000
GROUP_SECONDS = 10.0


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

    def prepare(self) -> bool:
        matcher, branch, pull_refs, traces = self.matcher, self.branch, self.pull_refs, self.traces
        salt = unchanged_salt(matcher, branch=branch, pull_refs=pull_refs) + f"\0durability={int(self.durability)}"
        # A repository whose refs did not move since the store last read it costs one git call: the
        # stored commits, changes and attributions are already what a full run would write.
        known = _stored_refs(self.store_path)
        todo: list[str | Path] = []
        for p in self.paths:
            key = str(Path(p).expanduser().resolve())
            state = refs_state(key, salt=salt) if key in known else None
            # Agent Trace records live outside git: a run given them always reads the repository.
            if traces is None and state is not None and known[key][1] == state:
                self.skipped.append(known[key][2])
            else:
                todo.append(p)
        # Every other path is checked before the store is opened: a bad path neither creates a store
        # nor leaves one updated with only the repositories listed before it.
        self.repos = [open_repository(p, branch) for p in todo]
        for info in self.repos:
            self.states[str(info.path)] = refs_state(info.path, salt=salt)
        if traces is not None:
            if len(self.repos) != 1:
                raise ConfigError("--traces: give exactly one repository with it (its records name that repository's commits)")
            if not Path(traces).exists():
                raise UnreadablePath(f"{traces}: no such file or directory")
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

        keys = repo_keys(store, repos)
        previous = stored_tips(store)
        limit = batch_size()
        # Reader threads run git and parse its output for the repositories ahead while this thread
        # (DuckDB's one writer) stores the current one; a few repositories ahead at most, so memory
        # stays bounded (a prefetched history is at most one batch).
        workers = max(1, min(os.cpu_count() or 1, len(repos)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loopmeter-git")
        window = 2 * workers
        futures = {}

        def submit(i: int) -> None:
            if i < len(repos) and i not in futures:
                futures[i] = pool.submit(read_ahead, repos[i], keys[i], previous.get(keys[i], []),
                                         pull_refs=pull_refs, limit=limit)

        try:
            for i, info in enumerate(repos):
                for j in range(i, i + window):
                    submit(j)
                ahead = futures.pop(i).result()
                store.hold()
                if ahead.written is None and ahead.commits is not None:
                    # This and the next small repositories already read: their commits in one go.
                    small = [ahead]
                    for j in range(i + 1, min(i + window, len(repos))):
                        nxt = futures[j].result()
                        if nxt.commits is None:
                            break
                        small.append(nxt)
                    write_ahead(store, small, matcher)
                r = ingest_git(store, info, matcher=matcher, progress=progress, pull_refs=pull_refs, traces=traces,
                               durability=durability, relink=False, ahead=ahead)
                long = not store.held  # a long history committed batch by batch: end the group with it
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
        if results:
            from ..runner import relink_sessions

            relink_sessions(store)
        return _in_order(self.paths, self.skipped, results)


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
