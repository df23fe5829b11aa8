"""Where the metrics run: the store's DuckDB, or an engine reading the Parquet export (Spark).

`open_export(DIR, engine)` opens what `loopmeter export --format parquet DIR` wrote (export/parquet.py)
twice: on the engine, every table as an Ibis table, where the metrics over changes run (counts,
distributions, weekly series, the lift designs' inputs); and on the driver, a DuckDB store whose
tables are views over the same files, for the sections that use the store's own connection (flow,
event logs, line provenance, legibility; listed in docs/scale.md). Statistics run on the driver over
aggregated results either way. With engine "duckdb" both are the driver's DuckDB (a report over an
export, without the store).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError
from .export.parquet import TABLES
from .metrics import portable
from .store.db import Store

ENGINES = ("duckdb", "spark")
#: The tables the metrics read through Ibis (`con.table(...)` in metrics/ and lift/, and the SQL of
#: `changes()`'s CI rule and of the flow metrics; releases read git_tags). Only these are opened on the engine: opening one
#: costs Spark a listing job; the driver's DuckDB opens every table of the export.
ENGINE_TABLES = ("items", "events", "links", "attributions", "actors", "repos", "commits", "agent_usage",
                 "session_links", "git_tags")


def check_engine(engine: str, parquet: str | Path | None) -> None:
    """`--engine` and `--from-parquet` make sense together (one line otherwise)."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine != "duckdb" and parquet is None:
        raise ConfigError(f"--engine {engine} reads a Parquet export: give --from-parquet DIR "
                          "(written by `loopmeter export --format parquet DIR`)")


def _check_export(path: Path) -> None:
    if not path.is_dir():
        raise ConfigError(f"{path}: no such directory; write a Parquet export with "
                          f"`loopmeter export --format parquet {path}`")
    if not (path / "items").is_dir():
        old = " (an export of an older loopmeter, one file per table; export again)" if (path / "items.parquet").exists() else ""
        raise ConfigError(f"{path}: not a loopmeter Parquet export (no items/ directory){old}")


def _columns(store: Store, table: str) -> list[tuple[str, str]]:
    return store.con.execute("select column_name, data_type from duckdb_columns() where table_name = ? "
                             "order by column_index", [table]).fetchall()


def _glob(path: Path) -> str:
    return "'" + str(path / "**" / "*.parquet").replace("'", "''") + "'"


def driver_store(path: Path) -> Store:
    """An in-memory store whose tables are views over the export at `path`, typed as the store's own
    (a table the export lacks stays an empty table)."""
    store = Store.open(None)
    for name in TABLES:
        if not (path / name).is_dir():
            continue
        cols = _columns(store, name)
        source = (f"read_parquet({_glob(path / name)}, "
                  "hive_partitioning = true, hive_types_autocast = false, union_by_name = true)")
        # A column added to the store after the export was written (events.seq) reads as null.
        present = {r[0] for r in store.con.execute(f"describe select * from {source}").fetchall()}
        # Partition values are read as text (hive_types_autocast off), then cast to the store's type.
        select = ", ".join(f'cast("{c}" as {t}) as "{c}"' if c in present else f'null::{t} as "{c}"'
                           for c, t in cols)
        store.con.execute(f"drop table {name}")
        store.con.execute(f"create view {name} as select {select} from read_parquet({_glob(path / name)}, "
                          "hive_partitioning = true, hive_types_autocast = false, union_by_name = true)")
    return store


def spark_session():
    """The active Spark session (spark-submit's, a Databricks cluster's, a test's), or a new local one.
    One line, not a traceback, when PySpark or Java is missing."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("--engine spark needs PySpark: pip install 'loopmeter[spark]' (and Java 17)") from None
    session = SparkSession.getActiveSession()
    if session is None:
        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise ConfigError("--engine spark needs Java 17 or newer: no `java` on PATH and JAVA_HOME is unset")
        try:
            # No master here: spark-submit's --master (or PYSPARK_SUBMIT_ARGS) decides; local[*] otherwise.
            session = (SparkSession.builder.appName("loopmeter")
                       .config("spark.ui.showConsoleProgress", "false").config("spark.log.level", "ERROR")
                       .getOrCreate())
        except Exception as e:  # PySpark raises its own runtime errors when the JVM does not start
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ConfigError(f"--engine spark: Spark did not start ({first})") from None
        session.sparkContext.setLogLevel("ERROR")
        if session.sparkContext.master.startswith("local"):
            # Spark's default of 200 shuffle partitions is for clusters; on one machine each is a
            # task of its own, and every aggregation of a report would pay for 200 of them.
            session.conf.set("spark.sql.shuffle.partitions", str(session.sparkContext.defaultParallelism))
            # Adaptive execution re-plans each stage as a job of its own: a report ran 169 jobs with
            # it, 99 without, and took 71-79 s against 60-64 s (bench/spark_report.py, two pairs).
            session.conf.set("spark.sql.adaptive.enabled", "false")
    # The export's timestamps are naive UTC; partition values are text (a repository named 2024
    # is not a number). Both are settings of this session only.
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
    return session


def _spark_tables(session, path: Path, store: Store) -> list[str]:
    """Each exported table as a temporary view with the store's columns (the derived month dropped)."""
    names = []
    for name in ENGINE_TABLES:
        if not (path / name).is_dir():
            continue
        df = session.read.parquet(str(path / name))
        missing = [c for c, _ in _columns(store, name) if c not in df.columns]
        if missing:
            raise ConfigError(f"{path / name}: no column {missing[0]}; export the store again with this loopmeter")
        df.select(*[c for c, _ in _columns(store, name)]).createOrReplaceTempView(name)
        names.append(name)
    return names


@contextmanager
def open_export(path: str | Path, engine: str = "spark") -> Iterator[tuple[Store, object]]:
    """(driver store, Ibis backend of `engine`) over the Parquet export at `path`, for as long as the
    block runs."""
    check_engine(engine, path)
    path = Path(path)
    _check_export(path)
    store = driver_store(path)
    views: list[str] = []
    session = None
    try:
        if engine == "duckdb":
            from .metrics.changes import backend

            yield store, backend(store)
            return
        import ibis

        session = spark_session()
        views = _spark_tables(session, path, store)
        con = ibis.pyspark.connect(session)
        portable.attach_store_connection(con, store.con)
        try:
            yield store, con
        finally:
            portable.detach_store_connection(con)
    finally:
        for name in views:
            session.catalog.dropTempView(name)
        store.close()
