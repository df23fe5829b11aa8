"""SQL written once, run on any engine: the metrics that are clearer as SQL than as Ibis expressions.

Their SQL is written in DuckDB's dialect (the local store's engine, where the tests run it) and
handed to Ibis with that dialect named; Ibis then transpiles it with sqlglot (a maintained
transpiler) to the engine's dialect when the engine is not DuckDB: `json_extract_string` becomes
Spark's `get_json_object` or BigQuery's `json_extract_scalar`, `epoch` becomes `unix_timestamp`,
`arg_min ... filter` becomes `min_by`, `list_contains` becomes `array_contains`, and so on. On
DuckDB the text runs as written. No hand-kept copy per dialect exists anywhere.

What the transpiler cannot make equal is listed in docs/scale.md ("What is still DuckDB-only").
"""

from __future__ import annotations

import ibis.expr.types as ir

#: The dialect every SQL metric in loopmeter is written in.
DIALECT = "duckdb"


def sql(con, query: str) -> ir.Table:
    """`query` (DuckDB SQL over the canonical tables) as a table on `con`'s engine."""
    return con.sql(query, dialect=DIALECT)


def transpile(query: str, engine: str) -> str:
    """`query` in the SQL dialect of `engine` (an Ibis backend name or sqlglot dialect), as `sql`
    would send it there; for reading and testing what another engine receives."""
    import sqlglot

    dialect = {"pyspark": "spark", "postgres": "postgres"}.get(engine, engine)
    if dialect == DIALECT:
        return query
    (out,) = sqlglot.transpile(query, read=DIALECT, write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)
    return out
