"""SQL written once, run on any engine: the metrics that are clearer as SQL than as Ibis expressions.

Their SQL is written in DuckDB's dialect (the local store's engine, where the tests run it) and
transpiled with sqlglot (a maintained transpiler) to the engine's dialect when the engine is not
DuckDB: `json_extract_string` becomes Spark's `get_json_object` or BigQuery's `json_extract_scalar`,
`epoch` becomes `unix_timestamp`, `arg_min ... filter` becomes `min_by`, `list_contains` becomes
`array_contains`, and so on. On DuckDB the text runs as written. No hand-kept copy per dialect
exists anywhere.

One construct is not left to the transpiler: the continuous quantile (`quantile_cont`, the only
percentile loopmeter's SQL writes; metrics/quantiles.py). sqlglot renders DuckDB's
`quantile_cont(x, q)` as `PERCENTILE_CONT(x, q)`, which Spark and BigQuery do not accept as an
aggregate, and the ordered-set form as Spark's `percentile_approx`; `_exact_quantiles` writes each
engine's exact linear-interpolation percentile instead (Spark and Databricks `percentile`,
Snowflake and Postgres `percentile_cont ... within group`) and refuses engines that have none as an
aggregate (Trino, BigQuery) rather than send an approximation silently (docs/scale.md).

Sections that need the store's own DuckDB connection (Arrow registration, temporary views) find it
with `store_connection`: on another engine it is the driver's DuckDB over the same Parquet export
(engine.open_export attaches it), so their SQL runs where the export is, never nowhere.

What the transpiler cannot make equal is listed in docs/scale.md ("What is still DuckDB-only").
"""

from __future__ import annotations

import ibis.expr.types as ir

from ..errors import ConfigError

#: The dialect every SQL metric in loopmeter is written in.
DIALECT = "duckdb"
#: Ibis backend names that are not sqlglot dialect names.
_DIALECTS = {"pyspark": "spark"}
#: How each engine writes the exact continuous quantile as an aggregate ({x}, {q}); engines not
#: listed here and not DuckDB have none (Trino, BigQuery: approximate or window-only).
_EXACT = {
    "spark": "percentile({x}, {q})",
    "spark2": "percentile({x}, {q})",
    "databricks": "percentile({x}, {q})",
    "snowflake": "percentile_cont({q}) within group (order by {x})",
    "postgres": "percentile_cont({q}) within group (order by {x})",
}


def dialect_of(engine: str) -> str:
    """The sqlglot dialect of an Ibis backend name (or a sqlglot dialect name)."""
    return _DIALECTS.get(engine, engine)


def sql(con, query: str) -> ir.Table:
    """`query` (DuckDB SQL over the canonical tables) as a table on `con`'s engine."""
    if con.name == DIALECT:
        return con.sql(query, dialect=DIALECT)
    target = dialect_of(con.name)
    return con.sql(transpile(query, target), dialect=target)


def transpile(query: str, engine: str) -> str:
    """`query` in the SQL dialect of `engine` (an Ibis backend name or sqlglot dialect), as `sql`
    sends it there, with exact quantiles (see the module's docstring)."""
    import sqlglot

    dialect = dialect_of(engine)
    if dialect == DIALECT:
        return query
    tree = _exact_quantiles(sqlglot.parse_one(query, read=DIALECT), dialect)
    tree = _double_literals(_json_lists(_exact_epochs(_no_cte_hints(tree), dialect), dialect), dialect)
    return tree.sql(dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)


def _exact_quantiles(tree, dialect: str):
    """`tree` with every continuous quantile written as `dialect`'s exact aggregate."""
    from sqlglot import exp

    def exact(node):
        if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
            x, q = node.expression.expressions[0].this, node.this.this  # percentile_cont(q) within group (order by x)
        elif isinstance(node, exp.PercentileCont) and node.expression is not None:
            x, q = node.this, node.expression  # DuckDB's quantile_cont(x, q)
        else:
            return node
        form = _EXACT.get(dialect)
        if form is None:
            raise ConfigError(f"the {dialect} engine has no exact percentile aggregate; loopmeter sends no "
                              "approximate one unasked (docs/scale.md, 'Engines other than DuckDB')")
        return exp.maybe_parse(form.format(x=x.sql(dialect=dialect), q=q.sql(dialect=dialect)), dialect=dialect)

    return tree.transform(exact)


def _no_cte_hints(tree):
    """`tree` without DuckDB's `with x as [not] materialized (...)`: a hint to DuckDB's planner
    only (metrics/log_loops.py), which other engines' parsers refuse."""
    from sqlglot import exp

    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    return tree


def _exact_epochs(tree, dialect: str):
    """`tree` with DuckDB's `epoch(ts)` (seconds as a double, fractions kept) written as
    `unix_micros(ts) / 1e6` for Spark: sqlglot renders it as `unix_timestamp`, whole seconds, so an
    event log's sub-second gaps would sum to other hours on Spark than on DuckDB."""
    from sqlglot import exp

    if dialect not in ("spark", "spark2", "databricks"):
        return tree

    def micros(node):
        if isinstance(node, exp.TimeToUnix) and not node.args.get("format"):
            return exp.Paren(this=exp.Div(this=exp.Anonymous(this="unix_micros", expressions=[node.this.copy()]),
                                          expression=exp.Literal.number("1e6")))
        return node

    return tree.transform(micros)


def _json_lists(tree, dialect: str):
    """`tree` with DuckDB's list extraction `json_extract_string(x, '$.key[*]')` (a list of text)
    written as Spark's `from_json(get_json_object(x, '$.key'), 'array<string>')`: sqlglot renders it
    as `get_json_object(x, '$.key[*]')`, which is one string of JSON text on Spark, not a list.
    Other engines keep sqlglot's rendering (docs/scale.md lists what is untested there)."""
    from sqlglot import exp

    if dialect not in ("spark", "spark2", "databricks"):
        return tree

    def lists(node):
        if not (isinstance(node, exp.JSONExtractScalar) and isinstance(node.expression, exp.JSONPath)):
            return node
        parts = node.expression.expressions
        if not (len(parts) > 1 and isinstance(parts[-1], exp.JSONPathSubscript)
                and isinstance(parts[-1].this, exp.JSONPathWildcard)):
            return node
        whole = exp.JSONPath(expressions=[p.copy() for p in parts[:-1]])
        text = exp.JSONExtractScalar(this=node.this.copy(), expression=whole)
        return exp.maybe_parse(f"from_json({text.sql(dialect=dialect)}, 'array<string>')", dialect=dialect)

    return tree.transform(lists)


def _double_literals(tree, dialect: str):
    """`tree` with each decimal literal (`3600.0`) a double on Spark. DuckDB's `epoch()` is a double,
    so `epoch(e) - epoch(s)) / 3600.0` is double arithmetic there; Spark's `unix_timestamp` is a
    bigint, and bigint / decimal(5,1) is a decimal rounded to 6 places (0.166667 hours, not 1/6)."""
    from sqlglot import exp

    if dialect not in ("spark", "spark2", "databricks"):
        return tree

    def double(node):
        if (isinstance(node, exp.Literal) and node.is_number and "." in node.this
                and "e" not in node.this.lower()
                # a percentile's fraction is a double to Spark already
                and not isinstance(node.parent, exp.Quantile | exp.PercentileCont | exp.Anonymous)):
            return exp.cast(node.copy(), exp.DataType.build("double"))
        return node

    return tree.transform(double)


def on_engine(engine) -> bool:
    """Whether `engine` is an engine other than the store's DuckDB (Spark over the Parquet export)."""
    return engine is not None and engine.name != DIALECT


def frame(store_con, engine, query: str):
    """`query` (DuckDB SQL over the canonical tables, every value a literal) as a pandas frame, run
    where the data is: on `engine`, transpiled, when it is another engine; else on the store's own
    DuckDB connection `store_con`. Rows come back in no order from an engine: sort them after."""
    if on_engine(engine):
        return engine.execute(sql(engine, query))
    return store_con.execute(query).df()


def naive_utc(values):
    """A column of `frame`'s timestamps as naive UTC datetime64[ns], whichever engine read it (an
    engine may hand them over zoned, or as objects)."""
    import pandas as pd  # here, not at the top: this module is imported by SQL builders that need no pandas

    values = pd.to_datetime(values)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype("datetime64[ns]")


def literal(text) -> str:
    """A text literal of SQL that reads the same on every engine (quotes doubled)."""
    return "'" + str(text).replace("'", "''") + "'"


def timestamp(t) -> str:
    """A naive UTC datetime as a timestamp literal (to the microsecond) on every engine."""
    return f"timestamp '{t:%Y-%m-%d %H:%M:%S.%f}'"


def in_list(column: str, values) -> str:
    """`column in ('a', 'b')`, or `false` for no values (an empty `in ()` is no SQL)."""
    values = list(values)
    return f"{column} in ({', '.join(literal(v) for v in values)})" if values else "false"


def json_column(column):
    """A JSON column as JSON: the store's `attrs` are JSON on DuckDB, but text once read from Parquet
    by another engine (Spark), where indexing text would fail."""
    return column if column.type().is_json() else column.cast("json")


# The DuckDB connection of store-level SQL per engine (id(con) -> connection), for engines other
# than DuckDB: attached while a Parquet export is open on them (engine.open_export).
_STORE_CONNECTIONS: dict[int, object] = {}


def attach_store_connection(con, raw) -> None:
    _STORE_CONNECTIONS[id(con)] = raw


def detach_store_connection(con) -> None:
    _STORE_CONNECTIONS.pop(id(con), None)


def store_connection(con):
    """The DuckDB connection for the SQL that runs on the store itself (Arrow registration,
    temporary views): `con`'s own on DuckDB, else the driver's over the export `con` reads, else None."""
    import ibis

    if not isinstance(con, ibis.BaseBackend):
        return con  # already a DuckDB connection
    if con.name == DIALECT:
        return con.con
    return _STORE_CONNECTIONS.get(id(con))


class Scratch:
    """Named intermediate tables on `con`'s engine, for SQL that reads them by name (the flow
    metrics' `_lm_*`), dropped by `close()`.

    On DuckDB they live on the store's own connection: a temporary view, or an Arrow table
    registered there (a computed intermediate is materialised once, so each later aggregate
    compiles a small query instead of the whole derivation). On another engine (Spark) they are
    temporary views of that session; a computed intermediate is cached there (`Table.cache()`) and
    the view reads the cache. No name outlives the block that opened it."""

    def __init__(self, con):
        self.con = con
        self.duckdb = con.name == DIALECT
        self.raw = con.con if self.duckdb else None
        self._views: list[str] = []
        self._registered: list[str] = []
        self._cached: list = []

    def view(self, name: str, query: str) -> str:
        """`query` (DuckDB SQL) as a view `name`, computed where it is read; returns the name."""
        if self.duckdb:
            self.raw.execute(f"create or replace temp view {name} as {query}")
        else:
            self.con.raw_sql(f"create or replace temporary view {name} as {transpile(query, self.con.name)}")
        self._views.append(name)
        return name

    def keep(self, name: str, t: ir.Table) -> ir.Table:
        """`t` computed once and readable as `name` (by SQL and as the returned table)."""
        if self.duckdb:
            return self.arrow(name, self.con.to_pyarrow(t))
        cached = t.cache()
        self._cached.append(cached)
        self.con.create_view(name, cached, overwrite=True)
        self._views.append(name)
        return self.con.table(name)

    def arrow(self, name: str, table) -> ir.Table:
        """A table computed on the driver (a pyarrow Table) readable as `name` on the engine."""
        import ibis

        if self.duckdb:
            self.raw.register(name, table)
            self._registered.append(name)
        else:
            self.con.create_view(name, ibis.memtable(table), overwrite=True)
            self._views.append(name)
        return self.con.table(name)

    def close(self) -> None:
        for name in reversed(self._views):
            if self.duckdb:
                self.raw.execute(f"drop view if exists {name}")
            else:
                self.con.raw_sql(f"drop view if exists {name}")
        for name in self._registered:
            self.raw.unregister(name)
        for cached in self._cached:
            cached.release()
        self._views, self._registered, self._cached = [], [], []
