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


def every_table(store: str | Path) -> dict[str, list[tuple]]:
    """Every row of every table, sorted, without the columns that record when a row was written
    (`ingested_at`, `applied_at`) or the store's format: two ingests that should store the same
    thing compare equal."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        out = {}
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]
        for t in tables:
            cols = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_name = ? order by ordinal_position",
                [t]).fetchall() if r[0] not in ("ingested_at", "applied_at")]
            where = " where key <> 'store_format'" if t == "meta" else ""
            quoted = ", ".join(f'"{c}"' for c in cols)
            out[t] = sorted(con.execute(f"select {quoted} from {t}{where}").fetchall(), key=repr)
        return out
    finally:
        con.close()
