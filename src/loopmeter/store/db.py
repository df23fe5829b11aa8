"""The store: one DuckDB file holding the canonical tables, opened and upgraded in place."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from ..errors import StoreError
from .migrations import MIGRATIONS, STORE_FORMAT

DEFAULT_STORE = Path(".loopmeter") / "loopmeter.duckdb"


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    """One atomic unit of work, with the given Arrow tables visible to SQL by name while it runs."""
    for name, table in tables.items():
        con.register(name, table)
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        for name in tables:
            con.unregister(name)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    # DuckDB would otherwise cache up to 80% of the machine's memory; loopmeter's working set is
    # small and larger intermediate results spill to disk, so a modest cap keeps the peak flat.
    con.execute(f"set memory_limit = '{os.environ.get('LOOPMETER_MEMORY_LIMIT', '256MB')}'")


class Store:
    """An open loopmeter store. Use `Store.open(path)`; close it (or use `with`) when done."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None):
        self.con = con
        self.path = path

    @classmethod
    def open(cls, path: str | Path | None = None, *, create: bool = True, read_only: bool = False) -> "Store":
        """Open (and create or upgrade) the store at `path`; None means an in-memory store."""
        p = None if path is None else Path(path)
        if p is not None:
            if p.exists() and p.is_dir():
                raise StoreError(f"{p}: the store path is a directory, not a file")
            if not p.exists():
                if not create:
                    raise StoreError(f"{p}: no store here; run `loopmeter ingest` or `loopmeter analyze` first")
                p.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(":memory:" if p is None else str(p), read_only=read_only)
        except duckdb.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            held = re.search(r"Conflicting lock is held in .*?\(PID (\d+)\)", first)
            if held:
                # DuckDB lets one process open a file at a time: say so, not that the file is bad.
                raise StoreError(f"{p}: in use by another process (PID {held.group(1)}, holding its lock: another "
                                 f"loopmeter ingest, report or serve?); try again when it has finished") from None
            raise StoreError(f"{p}: not a readable loopmeter store ({first})") from None
        _configure(con)
        store = cls(con, p)
        try:
            store._check_and_migrate(read_only=read_only)
        except duckdb.Error as e:
            con.close()
            raise StoreError(f"{p}: the store is damaged ({str(e).strip().splitlines()[0]})") from None
        except StoreError:
            con.close()
            raise
        return store

    def close(self) -> None:
        self.con.close()

    def reopen(self) -> None:
        """Close and reconnect a file store, releasing the memory DuckDB keeps from earlier work.

        A long ingest leaves DuckDB holding ~100 MB of allocator caches that it does not return
        while the database is open; the change derivation that follows would stack on top of them.
        """
        if self.path is None:
            return
        self.con.close()
        self.con = duckdb.connect(str(self.path))
        _configure(self.con)

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
        row = self.con.execute("select value from meta where key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("insert or replace into meta values (?, ?)", [key, value])
