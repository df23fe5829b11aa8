"""The ingest runner: the one way every source reaches the store.

`run(source, store_path=...)` drives any `Source` (sources/base.py): git repositories, GitHub,
GitLab and Jira walks, agent logs, event logs and exports, incidents, MLflow. It owns what used to
be repeated around each of them:

- `source.prepare()` runs before the store is opened, so a bad path, option or token, or a file
  that cannot be read, is one line and creates nothing (and an idle run takes no restore point);
- the store is opened once (created, upgraded, copied to its restore point first);
- damage DuckDB finds only when it reads a block is one line naming the store, with the hint to
  restore it;
- a source that fails half-way loses only its open transaction: a group it held is rolled back,
  everything it committed before stays (each source commits at the points where what it stored
  is whole: a git batch, an API page, a whole log);
- afterwards, agent sessions are linked again when the source rebuilt what they link to.

The `Run` a source is handed is its only view of the store's writing side: `write_log` (a log's
rows, replaced or merged, with the source's resume state in the same transaction), `state`,
`group`, `identities`, and `progress`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .attribution import Matcher
from .config import Config, load_config
from .errors import StoreError
from .ingestion import Progress
from .store.db import Store

if TYPE_CHECKING:
    from .sources.base import Source
    from .sources.eventlog import Skipped
    from .store.event_logs import LogSummary, Rows
    from .store.git_load import Identities

# What DuckDB raises when a store's blocks are unreadable: a damaged file, not a bug in a query.
_DAMAGE = (duckdb.IOException, duckdb.InternalException, duckdb.SerializationException, duckdb.FatalException)


@contextmanager
def damaged_store(store_path: str | Path | None) -> Iterator[None]:
    """Report damage DuckDB finds only when it reads a block (not when it opens the file) as a StoreError."""
    try:
        yield
    except _DAMAGE as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        from .store.db import restore_path

        hint = ""
        if store_path is not None and restore_path(store_path).exists():
            hint = "; `loopmeter store restore` brings back the copy taken before the last ingest"
        raise StoreError(f"{store_path}: the store is damaged or cannot be written ({first}){hint}") from e


# Inside `one_command()` (an `ingest` reading several sources), only the first source to open the
# store copies it to the restore point, so `store restore` goes back to before the whole command,
# not only before its last source. None: no command is open, each run takes its own.
_restore_taken: ContextVar[bool | None] = ContextVar("loopmeter_restore_taken", default=None)


@contextmanager
def one_command() -> Iterator[None]:
    """Every `run` inside is one command: one restore point, taken by the first that opens the store."""
    token = _restore_taken.set(False)
    try:
        yield
    finally:
        _restore_taken.reset(token)


def relink_sessions(store: Store) -> None:
    """Agent sessions link to changes through commits, pull requests and branches; when any of
    those were rebuilt, the links are rebuilt too."""
    if store.con.execute("select count(*) from items where kind = 'agent_session'").fetchone()[0]:
        from .store.session_load import link_sessions

        link_sessions(store)


@dataclass
class Run:
    """What a source's `load` is given: the open store and the means to write to it."""

    store: Store
    config: Config
    matcher: Matcher
    progress: Progress
    source: str  # the source's label: the key of its resume state

    def identities(self) -> Identities:
        """Pseudonymous actor ids under this store's salt (people are never stored in clear by id)."""
        from .store.git_load import Identities

        return Identities(self.store.meta("salt") or "", self.matcher)

    @contextmanager
    def group(self) -> Iterator[Store]:
        """Every write inside commits together, or none does (nested groups join the outer one)."""
        if self.store.held:
            yield self.store
            return
        self.store.hold()
        try:
            yield self.store
        except BaseException:
            self.store.release(commit=False)
            raise
        self.store.release()

    def write_log(self, *, name: str, path: str, fmt: str, rows: Rows, skipped: list[Skipped] | None = None,
                  ids: Identities | None = None, merge: bool = False,
                  state: Mapping[str, str] | None = None) -> LogSummary:
        """Store log `name`'s canonical rows in ONE transaction with `state` (this source's resume
        state): replacing everything the log wrote before, or with `merge`, only the items it
        writes again (an incremental read)."""
        from .store.event_logs import write_log
        from .store.source_state import put_state

        with self.group() as store:
            summary = write_log(store, name=name, path=path, fmt=fmt, rows=rows, skipped=list(skipped or []),
                                ids=ids if ids is not None else self.identities(), merge=merge)
            for key, value in (state or {}).items():
                put_state(store, self.source, key, value)
        return summary

    def state(self, key: str) -> str | None:
        """This source's resume state `key` as last stored with its rows (None: never)."""
        from .store.source_state import get_state

        return get_state(self.store, self.source, key)


def run(source: Source, *, store_path: str | Path | None, config: Config | None = None,
        progress: Progress | None = None, matcher: Matcher | None = None) -> Any:
    """Drive `source` into the store at `store_path`: prepare, open, load, relink. Returns what
    its `load` returns (or its `idle()` when it had nothing to read)."""
    if not source.prepare():
        return source.idle()
    config = config or load_config()
    matcher = matcher or Matcher.load(config.signatures, config.bots)
    taken = _restore_taken.get()
    take = source.restore_point and not taken
    with damaged_store(store_path), Store.open(store_path, restore_point=take) as store:
        if take and taken is not None:
            _restore_taken.set(True)
        here = Run(store, config, matcher, progress or Progress(), source.label)
        try:
            result = source.load(here)
        except BaseException:
            store.release(commit=False)  # a group left open is not whole: nothing of it is kept
            raise
        store.release()  # a group the source left open is whole once load returned
        if source.relinks_sessions:
            relink_sessions(store)
        return result
