"""The store: one DuckDB file holding the canonical tables, opened and upgraded in place."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb

from ..errors import ConfigError, StoreError
from .migrations import MIGRATIONS, STORE_FORMAT

if TYPE_CHECKING:  # imported where a table is built: an idle `ingest` re-run builds none
    import pyarrow as pa

DEFAULT_STORE = Path(".loopmeter") / "loopmeter.duckdb"

T = TypeVar("T")


# Connections (by id) inside a held group transaction (Store.hold): a `transaction` there is part of
# the group and commits with it. A commit costs a few milliseconds (the write-ahead log is synced),
# and a small repository's ingest makes a dozen of them; a set of small repositories commits once
# per group instead. Atomicity is the group's: a killed ingest loses the whole group and re-reads it.
_HELD: set[int] = set()


#: An Arrow table of more chunks than this is made one chunk before DuckDB reads it.
MANY_CHUNKS = 64


def register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """`con.register`, but a table of many small chunks (one per repository of a set, when their
    rows are concatenated) is combined first: DuckDB buffers each chunk of an insert apart, and
    1,000 repositories' chunks ran out of the 256MB limit (tests/test_many_repos.py). A table of few
    large chunks (one long history) is left as it is, so it is never copied whole."""
    con.register(name, table.combine_chunks() if getattr(table, "num_columns", 0) and
                 max((c.num_chunks for c in table.columns), default=0) > MANY_CHUNKS else table)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    """One atomic unit of work, with the given Arrow tables visible to SQL by name while it runs."""
    for name, table in tables.items():
        register(con, name, table)
    if id(con) in _HELD:
        try:
            yield con
        finally:
            for name in tables:
                con.unregister(name)
        return
    con.execute("begin transaction")
    try:
        try:
            yield con
        except BaseException:
            con.execute("rollback")
            raise
        try:
            con.execute("commit")
        except duckdb.Error:
            # A commit that fails (its checkpoint short of memory: a TransactionException) was
            # rolled back by DuckDB itself; a rollback here would fail and hide why.
            try:
                con.execute("rollback")
            except duckdb.Error:
                pass
            raise
    finally:
        for name in tables:
            con.unregister(name)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# A store never reaches the network: DuckDB would otherwise download and load an extension when a
# file it opens (a SQLite database given as --store) or a query needs one.
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def restore_path(path: str | Path) -> Path:
    """Where the restore point of the store at `path` is kept (beside it)."""
    return Path(str(path) + ".restore")


def _lock_holder(message: str) -> str | None:
    held = re.search(r"Conflicting lock is held in .*?\(PID (\d+)\)", message)
    return held.group(1) if held else None


#: Whether this process has opened a store: report/beside.py forks a worker only before, since a
#: fork copies an open database's threads and locks half-way (and DuckDB would hand the worker
#: that copy again for the same file).
OPENED = False


def _connect(p: Path | None, *, read_only: bool = False, wait: float = 0.0) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to `p`, waiting up to `wait` seconds for another process's lock."""
    global OPENED
    OPENED = True
    if p is not None and p.exists() and p.stat().st_size:
        try:
            with p.open("rb") as f:
                head = f.read(16)
        except OSError as e:
            raise StoreError(f"{p}: cannot read the store ({e.strerror or type(e).__name__})") from None
        if head == _SQLITE_MAGIC:
            raise StoreError(f"{p}: not a readable loopmeter store (a SQLite database, not DuckDB)")
        if len(head) >= 12 and head[8:12] != b"DUCK":
            raise StoreError(f"{p}: not a readable loopmeter store (not a DuckDB file)")
    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(":memory:" if p is None else str(p), read_only=read_only, config=dict(_CONFIG))
        except duckdb.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            pid = _lock_holder(first)
            if pid and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if pid:
                # DuckDB lets one process write a file at a time: say so, not that the file is bad.
                raise StoreError(f"{p}: in use by another process (PID {pid}, holding its lock: another "
                                 f"loopmeter ingest, report or serve?); retry when it has finished") from None
            raise StoreError(f"{p}: not a readable loopmeter store ({first})") from None


def memory_limit() -> str:
    """The store's DuckDB memory limit: LOOPMETER_MEMORY_LIMIT, default 256MB (as set, so a step
    that lowers it for a while can put it back exactly)."""
    return os.environ.get("LOOPMETER_MEMORY_LIMIT", "256MB")


def _user_limit() -> bool:
    """Whether the user set DuckDB's memory limit (LOOPMETER_MEMORY_LIMIT): no step lowers it then."""
    return bool(os.environ.get("LOOPMETER_MEMORY_LIMIT", "").strip())


@contextmanager
def lowered_memory(store: Store, limit: str, *, setting: str) -> Iterator[None]:
    """DuckDB's memory limit `limit` on the store's connection while the block runs (a step that
    should keep less than the store's limit, e.g. the change derivation), the store's own after.
    `setting`: where `limit` came from, named when DuckDB does not take it. Raises
    duckdb.OutOfMemoryException when DuckDB holds more than `limit` already (the caller goes on
    under the store's own limit)."""
    try:
        store.con.execute(f"set memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error:
        raise ConfigError(f"{setting}: {limit!r} is not a memory size DuckDB takes (e.g. 160MB)") from None
    store.lowered = limit
    try:
        yield
    finally:
        store.lowered = None
        # The store's own, as set (DuckDB shows it rounded: '244.1 MiB' set back is not 256MB).
        store.con.execute(f"set memory_limit = '{memory_limit()}'")


def shed(store: Store | None) -> None:
    """Make DuckDB drop the table blocks it keeps cached (up to its memory limit) by lowering the
    limit for a moment: a file store's, outside a held group (nothing uncommitted in memory), between
    the derivation's steps and before the store is reopened after a long read. What a step read
    stays cached otherwise, and the cache grows with the history until the limit (200,000 commits:
    ~20 MB after reading the graph, ~75 MB after staging). Committed rows not yet checkpointed may
    go to DuckDB's temporary file meanwhile (at most its checkpoint threshold, 16 MB of log). The
    limit put back is the one in force: `lowered_memory`'s inside it, else the store's own."""
    if store is None or store.path is None or store.held:
        return
    con = store.con
    try:
        con.execute("set memory_limit = '1MB'")
    except duckdb.OutOfMemoryException:
        pass  # it keeps what it cannot drop; the rest is dropped
    finally:
        con.execute(f"set memory_limit = '{store.lowered or memory_limit()}'")


def out_of_memory(e: duckdb.Error) -> bool:
    """Whether DuckDB ran short of memory: in a statement (OutOfMemoryException), or in the
    checkpoint a commit runs (a TransactionException "Failed to commit: ... failed to pin block",
    DuckDB 1.5). Either way the transaction was rolled back and may be run again."""
    if isinstance(e, duckdb.OutOfMemoryException):
        return True
    text = str(e).lower()
    return (isinstance(e, duckdb.TransactionException) and "failed to commit" in text
            and ("memory" in text or "pin block" in text))


def in_less_memory(store: Store, limit: str | None, write: Callable[[], T]) -> T:
    """`write()`, one transaction of its own, under DuckDB memory limit `limit` (None: as it is), the
    blocks DuckDB keeps cached dropped first (`shed`); when DuckDB runs out of memory there (the
    transaction rolled back) it runs again under the limit in force before. For a file store's
    large writes outside a held group: DuckDB fills whatever limit it has with blocks it wrote or
    read and no longer needs, more of them the longer the history. Not when the user set
    LOOPMETER_MEMORY_LIMIT: that limit is kept."""
    if limit is None or store.path is None or store.held or _user_limit():
        return write()
    shed(store)
    lowered = store.lowered
    before = lowered or memory_limit()
    try:
        store.con.execute(f"set memory_limit = '{limit}'")
    except duckdb.OutOfMemoryException:  # DuckDB holds more than that already
        store.con.execute(f"set memory_limit = '{before}'")
        return write()
    store.lowered = limit  # a `shed` inside puts this one back
    try:
        return write()
    except duckdb.Error as e:
        if not out_of_memory(e):
            raise
        # rolled back: again under the limit it had
    finally:
        store.lowered = lowered
        store.con.execute(f"set memory_limit = '{before}'")
    return write()


#: DuckDB's checkpoint threshold and memory limit while a long history is stored batch by batch
#: (`LongRead`). DuckDB keeps the rows committed since its last checkpoint in memory: a set of
#: repositories raises the threshold to 128MB (sources/git_repos.py), which a long history read by
#: the same command kept, ~0.6 KB a commit until 128 MB of log (122 MB at 200,000 commits); at
#: 16MB (DuckDB's default) the checkpoints themselves peaked higher the larger the table, unless
#: DuckDB also keeps few cached blocks (bench/README.md, "A long history's batches").
READ_CHECKPOINT = "16MB"
READ_MEMORY = "64MB"


class LongRead:
    """DuckDB's settings while a long history's batches are stored (each its own transaction):
    READ_CHECKPOINT and, for a file store whose user did not set LOOPMETER_MEMORY_LIMIT,
    READ_MEMORY; both put back as they were when the read ends. `write(fn)` stores one batch; a
    batch that runs out of memory under READ_MEMORY (rolled back) is stored again, and the rest of
    the read, under the store's own limit. `on=False` (a history of one batch, stored in a held
    group): nothing is changed and `write(fn)` is `fn()`."""

    def __init__(self, store: Store, *, on: bool = True):
        self.store, self.on = store, on
        self.threshold: str | None = None
        self.low = READ_MEMORY if on and store.path is not None and not _user_limit() else None

    def __enter__(self) -> "LongRead":
        if not self.on:
            return self
        con = self.store.con
        self.threshold = con.execute("select current_setting('checkpoint_threshold')").fetchone()[0]
        con.execute(f"set checkpoint_threshold = '{READ_CHECKPOINT}'")
        if self.low is not None:
            try:
                con.execute(f"set memory_limit = '{self.low}'")
                self.store.lowered = self.low
            except duckdb.OutOfMemoryException:  # DuckDB holds more than that already
                self._raise_limit()
        return self

    def write(self, fn: Callable[[], T]) -> T:
        if self.low is None:
            return fn()
        try:
            return fn()
        except duckdb.Error as e:
            if not out_of_memory(e):
                raise
            self._raise_limit()  # the batch rolled back: it and the rest under the store's own
        return fn()

    def _raise_limit(self) -> None:
        self.low = None
        self.store.lowered = None
        self.store.con.execute(f"set memory_limit = '{memory_limit()}'")

    def __exit__(self, *exc: object) -> None:
        con = self.store.con
        try:
            if self.low is not None:
                self._raise_limit()
            if self.threshold is not None:
                con.execute(f"set checkpoint_threshold = '{self.threshold}'")
        except duckdb.Error:
            if exc[0] is None:
                raise  # otherwise the error that invalidated the connection is the one to report


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    # DuckDB would otherwise cache up to 80% of the machine's memory; loopmeter's working set is
    # small and larger intermediate results spill to disk, so a modest cap keeps the peak flat.
    con.execute(f"set memory_limit = '{memory_limit()}'")
    # DuckDB draws a progress bar on stdout for any query past two seconds (a large event log's
    # per-case query): it would land inside `report --json`'s document.
    con.execute("set enable_progress_bar = false")


class Store:
    """An open loopmeter store. Use `Store.open(path)`; close it (or use `with`) when done."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None):
        self.con = con
        self.path = path
        # Writes a held group defers to its end, batched over its repositories (see `defer`).
        self._deferred: dict[str, tuple] = {}
        self._pending_meta: dict[str, str] = {}
        # Whether this is a Parquet export opened as views (engine.py driver_store), not a store:
        # its log events may lack the case numbers and order stored at ingest (store/event_logs.py
        # EVENT_ORDER), and its people their names (export without --show-names). Said once, here.
        self.export = False
        # The memory limit `lowered_memory` set on this connection (None: the store's own), for
        # `shed` to put back exactly. Kept with the store, whose connection it describes (`reopen`
        # makes a new one, at the store's own limit), not in a table keyed by the connection's id:
        # a closed connection's id may be a new one's.
        self.lowered: str | None = None

    @classmethod
    def open(cls, path: str | Path | None = None, *, create: bool = True, read_only: bool = False,
             restore_point: bool = False) -> "Store":
        """Open (and create or upgrade) the store at `path`; None means an in-memory store.

        `restore_point`: before anything is written to an existing store, copy it (checkpointed,
        under this process's lock) to `restore_path(path)`, for `loopmeter store restore`."""
        p = None if path is None else Path(path)
        created = False
        if p is not None:
            if p.exists() and p.is_dir():
                raise StoreError(f"{p}: the store path is a directory, not a file")
            if not p.exists():
                if not create:
                    raise StoreError(f"{p}: no store here; run `loopmeter ingest` or `loopmeter analyze` first")
                try:
                    if not p.parent.exists():
                        p.parent.mkdir(mode=0o700, parents=True)  # 0700: the write-ahead log lives here too
                except OSError as e:
                    raise StoreError(f"{p.parent}: cannot create the store's directory "
                                     f"({e.strerror or type(e).__name__})") from None
                created = True
        if created:
            # Created 0600 (umask 077 while DuckDB creates it): the store holds people's names and
            # emails in clear (docs/design.md "Privacy", SECURITY.md).
            umask = os.umask(0o077)
            try:
                con = _connect(p, read_only=read_only)
            finally:
                os.umask(umask)
        else:
            con = _connect(p, read_only=read_only)
        _configure(con)
        store = cls(con, p)
        try:
            store._check_and_migrate(read_only=read_only)
        except duckdb.OutOfMemoryException as e:
            con.close()  # not damage: the limit is too small for the store's own schema
            raise StoreError(f"{p}: DuckDB ran out of memory opening the store ({str(e).strip().splitlines()[0]}); "
                             "give it more with LOOPMETER_MEMORY_LIMIT (e.g. 1GB)") from None
        except duckdb.Error as e:
            con.close()
            raise StoreError(f"{p}: the store is damaged ({str(e).strip().splitlines()[0]})") from None
        except StoreError:
            con.close()
            raise
        # LOOPMETER_RESTORE_POINT=0 turns restore points off (a very large store on a slow disk).
        if (restore_point and p is not None and not created and not read_only
                and os.environ.get("LOOPMETER_RESTORE_POINT", "1") != "0"):
            try:
                store.make_restore_point()
            except BaseException:
                con.close()
                raise
        return store

    @classmethod
    def open_read(cls, path: str | Path) -> "Store":
        """Open an existing store read-only (report, lift, export, the dashboard): nothing is written,
        a read-only file or directory works, and other readers may open it at the same time. A store
        from an older loopmeter is upgraded once (read-write) first."""
        try:
            return cls.open(path, create=False, read_only=True)
        except StoreError as e:
            if "needs an upgrade" not in str(e):
                raise
        cls.open(path, create=False).close()
        return cls.open(path, create=False, read_only=True)

    def make_restore_point(self) -> Path:
        """Checkpoint, then copy the store beside itself (`.restore`), atomically, while holding its lock.

        A checkpointed DuckDB file with an empty write-ahead log is a complete store on its own, so
        the copy is one; written to a temporary name and renamed, a crash mid-copy never replaces
        the last good restore point."""
        assert self.path is not None
        self.con.execute("checkpoint")
        target = restore_path(self.path)
        tmp = Path(str(target) + ".tmp")
        try:
            shutil.copyfile(self.path, tmp)
            os.chmod(tmp, 0o600)
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{target}: cannot write the restore point ({e.strerror or type(e).__name__}); "
                             "nothing was ingested") from None
        return target

    def close(self) -> None:
        _HELD.discard(id(self.con))  # closing rolls a held group back: it was not finished
        self.con.close()

    def reopen(self) -> None:
        """Close and reconnect a file store, releasing the memory DuckDB keeps from earlier work.

        A long ingest leaves DuckDB holding ~100 MB of allocator caches that it does not return
        while the database is open; the change derivation that follows would stack on top of them.
        Between close and connect another process (a report) may take the file: we wait for it
        (up to LOOPMETER_LOCK_WAIT seconds, default 120) rather than abort half-way, and otherwise
        say who holds it; everything committed so far is kept and the same command resumes.
        """
        if self.path is None:
            return
        self.release()
        self.con.close()
        self.con = _connect(self.path, wait=float(os.environ.get("LOOPMETER_LOCK_WAIT", "120")))
        _configure(self.con)
        self.lowered = None

    @property
    def held(self) -> bool:
        return id(self.con) in _HELD

    def hold(self) -> None:
        """Begin a group transaction: every write until `release` commits (or rolls back) as one."""
        if not self.held:
            self.con.execute("begin transaction")
            _HELD.add(id(self.con))

    def flush(self) -> None:
        """Write what the held group deferred (in the group's transaction, not committing it)."""
        while self._deferred:
            key = next(iter(self._deferred))
            flush, items = self._deferred.pop(key)
            flush(self, items)
        if self._pending_meta:
            import pyarrow as pa

            m = pa.table({"key": list(self._pending_meta), "value": list(self._pending_meta.values())})
            self._pending_meta = {}
            with transaction(self.con, _meta=m) as con:
                con.execute("insert or replace into meta select key, value from _meta")

    def release(self, *, commit: bool = True) -> None:
        """End the group transaction begun by `hold` (nothing when none is held): the deferred
        writes run first, in the same transaction."""
        if not self.held:
            return
        try:
            if commit:
                self.flush()
        except BaseException:
            commit = False
            raise
        finally:
            self._deferred.clear()
            self._pending_meta.clear()
            _HELD.discard(id(self.con))
            self.con.execute("commit" if commit else "rollback")

    def defer(self, key: str, item, flush) -> bool:
        """In a held group, keep `item` to be written by `flush(store, items)` (all items of `key`,
        in order) when the group ends, and return True; outside a group return False (the caller
        writes it now). A statement costs milliseconds whatever its size, so a set of small
        repositories writes several repositories' rows per statement."""
        if not self.held:
            return False
        self._deferred.setdefault(key, (flush, []))[1].append(item)
        return True

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ------------------------------------------------------------------------------

    def _check_and_migrate(self, *, read_only: bool) -> None:
        tables = {r[0] for r in self.con.execute("select table_name from information_schema.tables").fetchall()}
        if tables and "schema_migrations" not in tables:
            raise StoreError(f"{self.path}: this DuckDB file is not a loopmeter store")
        if "meta" in tables:
            row = self.con.execute("select value from meta where key = 'store_format'").fetchone()
            if row and int(row[0]) > STORE_FORMAT:
                raise StoreError(
                    f"{self.path}: the store was written by a newer loopmeter (format {row[0]}, this one reads up to "
                    f"{STORE_FORMAT}); upgrade loopmeter"
                )
        done = set()
        if "schema_migrations" in tables:
            done = {r[0] for r in self.con.execute("select name from schema_migrations").fetchall()}
        todo = [(n, f) for n, f in MIGRATIONS if n not in done]
        if not todo:
            return
        if read_only:
            raise StoreError(f"{self.path}: the store needs an upgrade; open it once without read-only")
        for name, apply in todo:
            # Each migration and its record commit together, so a crash never half-applies one.
            with transaction(self.con):
                apply(self.con)
                self.con.execute("insert into schema_migrations values (?, ?)", [name, utcnow()])
        self.con.execute(
            "insert or replace into meta values ('store_format', ?)", [str(STORE_FORMAT)]
        )
        if self.meta("salt") is None:
            # The salt makes pseudonyms stable within a store and unlinkable across stores.
            self.set_meta("salt", secrets.token_hex(16))

    def migrations(self) -> list[str]:
        return [r[0] for r in self.con.execute("select name from schema_migrations order by applied_at, name").fetchall()]

    # -- small key/value state ---------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        if key in self._pending_meta:
            return self._pending_meta[key]
        row = self.con.execute("select value from meta where key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        if self.held:  # written with the group's other deferred writes
            self._pending_meta[key] = value
            return
        self.con.execute("insert or replace into meta values (?, ?)", [key, value])


def restore(path: str | Path) -> tuple[Path, Path | None]:
    """Put the restore point back in place of the store at `path`; returns (restored, kept aside).

    The current file (and its write-ahead log) is kept beside it as `.damaged-<UTC time>`, never
    deleted: restoring loses what the last ingest added, and the user may still want to look."""
    p = Path(path)
    rp = restore_path(p)
    if not rp.is_file():
        raise StoreError(f"{rp}: no restore point here (one is taken before each ingest that changes an existing store)")
    check = _connect(rp, read_only=True)
    try:
        if not check.execute("select count(*) from information_schema.tables where table_name = 'schema_migrations'"
                             ).fetchone()[0]:
            raise StoreError(f"{rp}: the restore point is not a loopmeter store")
    finally:
        check.close()
    if p.exists():
        try:
            _connect(p, read_only=True).close()  # refuses, naming the PID, when a process holds the store
        except StoreError as e:
            if "in use by another process" in str(e):
                raise
    aside = None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    try:
        if p.exists():
            aside = Path(f"{p}.damaged-{stamp}")
            os.replace(p, aside)
        wal = Path(str(p) + ".wal")
        if wal.exists():
            os.replace(wal, Path(f"{p}.damaged-{stamp}.wal"))
        tmp = Path(str(p) + ".restoring")
        shutil.copyfile(rp, tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)
    except OSError as e:
        raise StoreError(f"{p}: cannot restore ({e.strerror or type(e).__name__}: {e.filename})") from None
    return p, aside
