"""Reading a store from a test: a plain read-only DuckDB connection, apart from the code under test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb


def rows(store: str | Path, sql: str, params: Sequence | None = ()) -> list[tuple]:
    """The rows `sql` selects from the store at `store`."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, list(params or ())).fetchall()
    finally:
        con.close()


def snapshot(store: str | Path) -> dict[str, list[str]]:
    """Every row of every table, for comparing a store before and after a command."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        tables = sorted(r[0] for r in con.execute("select table_name from information_schema.tables").fetchall())
        return {t: sorted(map(repr, con.execute(f"select * from {t}").fetchall())) for t in tables}
    finally:
        con.close()
