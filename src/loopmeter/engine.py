"""Where the metrics run: the store's DuckDB, or an engine reading the Parquet export (Spark).

`open_export(DIR, engine)` opens what `loopmeter export --format parquet DIR` wrote (export/parquet.py)
twice: on the engine, every table as an Ibis table, where the metrics over changes run (counts,
distributions, weekly series, the lift designs' inputs); and on the driver, a DuckDB store whose
tables are views over the same files, for the rows that use the store's own connection (line
provenance, the repository rows, warnings and objectives in `meta`; listed in docs/scale.md). Statistics run on the driver over
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
from .export.parquet import DELEGATIONS, TABLES
from .metrics import portable
from .store.db import Store

ENGINES = ("duckdb", "spark")
#: The tables the metrics read through Ibis (`con.table(...)` in metrics/ and lift/, and the SQL of
#: `changes()`'s CI rule, of the flow metrics (releases read git_tags) and of the event_logs section). Only these are opened on the engine: opening one
#: costs Spark a listing job; the driver's DuckDB opens every table of the export.
ENGINE_TABLES = ("items", "events", "links", "attributions", "actors", "repos", "commits", "agent_usage",
                 "session_links", "git_tags", "event_logs", "event_log_items")


def check_engine(engine: str, parquet: str | Path | None) -> None:
    """`--engine` and `--from-parquet` make sense together (one line otherwise)."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine != "duckdb" and parquet is None:
        raise ConfigError(f"--engine {engine} reads a Parquet export: give --from-parquet DIR "
                          "(written by `loopmeter export --format parquet DIR`)")


def _url(location: str | Path) -> str | None:
    """`location` when it is a URL (`s3a://bucket/lake`, `gs://...`, `file:///...`), else None.
    A URL is kept as text: Path() would fold its `//` and Spark would no longer know the scheme."""
    text = str(location)
    return text.rstrip("/") if "://" in text else None


def _local(url: str) -> Path | None:
    """The local directory of a `file://` URL (None for any other scheme)."""
    from urllib.parse import unquote, urlparse

    u = urlparse(url)
    return Path(unquote(u.path)) if u.scheme == "file" and u.netloc in ("", "localhost") else None


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
        if (path / name).is_dir():
            _typed_view(store, name, f"read_parquet({_glob(path / name)}, "
                                     "hive_partitioning = true, hive_types_autocast = false, union_by_name = true)")
    if (path / DELEGATIONS).is_dir():
        store.con.execute(f"create view {DELEGATIONS} as select * from read_parquet({_glob(path / DELEGATIONS)})")
    store.export = True  # an export, not a store: no stored event order, perhaps no names (Store.export)
    return store


def _typed_view(store: Store, name: str, source: str) -> None:
    """Replace the store's empty table `name` by a view of `source` with the store's columns and types."""
    cols = _columns(store, name)
    # A column added to the store after the export was written (events.seq) reads as null.
    present = {r[0] for r in store.con.execute(f"describe select * from {source}").fetchall()}
    # Partition values are read as text (hive_types_autocast off), then cast to the store's type.
    select = ", ".join(f'cast("{c}" as {t}) as "{c}"' if c in present else f'null::{t} as "{c}"'
                       for c, t in cols)
    store.con.execute(f"drop table {name}")
    store.con.execute(f"create view {name} as select {select} from {source}")


def driver_store_from_spark(session, url: str) -> Store:
    """The driver's store over an export at an object-store URL (`s3a://`, `gs://`, `abfss://`), read
    through Spark, which holds the credentials and the filesystem connectors there (the driver's
    DuckDB reaches no network: its httpfs extension is not loaded). Each table Spark finds is brought
    to the driver once, as Arrow, and typed as the store's own; a table the export lacks stays empty.
    What the driver reads this way is listed in docs/scale.md (the store-level sections)."""
    import pyarrow as pa

    url = url.rstrip("/")
    store = Store.open(None)
    for name in TABLES:
        df = _spark_read(session, f"{url}/{name}")
        if df is None:
            continue
        table = df.toArrow()
        # Spark hands timestamps over with the session's zone (UTC); the store's are naive UTC.
        table = pa.table({f.name: (table[f.name].cast(pa.timestamp(f.type.unit))
                                   if pa.types.is_timestamp(f.type) and f.type.tz else table[f.name])
                          for f in table.schema})
        store.con.register(f"_lm_export_{name}", table)
        _typed_view(store, name, f"_lm_export_{name}")
    df = _spark_read(session, f"{url}/{DELEGATIONS}")
    if df is not None:
        store.con.register(f"_lm_export_{DELEGATIONS}", df.toArrow())
        store.con.execute(f"create view {DELEGATIONS} as select * from _lm_export_{DELEGATIONS}")
    store.export = True
    return store


def _spark_read(session, location: str):
    """The Parquet table at `location` as a Spark DataFrame, or None when there is none."""
    try:
        return session.read.parquet(location)
    except Exception as e:  # Spark's AnalysisException: PATH_NOT_FOUND (or an empty directory)
        if "PATH_NOT_FOUND" in str(e) or "UNABLE_TO_INFER_SCHEMA" in str(e) or "does not exist" in str(e):
            return None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"{location}: Spark cannot read it ({first})") from None


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


def _spark_tables(session, location: str, store: Store) -> list[str]:
    """Each exported table as a temporary view with the store's columns (the derived month dropped).
    `location` is a local directory or a URL, given to Spark as it is."""
    names = []
    for name in ENGINE_TABLES:
        df = _spark_read(session, f"{location.rstrip('/')}/{name}")
        if df is None:
            continue
        missing = [c for c, _ in _columns(store, name) if c not in df.columns]
        if missing:
            raise ConfigError(f"{location}/{name}: no column {missing[0]}; export the store again with this loopmeter")
        df.select(*[c for c, _ in _columns(store, name)]).createOrReplaceTempView(name)
        names.append(name)
    return names


@contextmanager
def open_export(path: str | Path, engine: str = "spark") -> Iterator[tuple[Store, object]]:
    """(driver store, Ibis backend of `engine`) over the Parquet export at `path` (a directory, or on
    Spark any URL its filesystems read: `file:///`, `s3a://`, `gs://`, `abfss://`), for as long as the
    block runs."""
    check_engine(engine, path)
    url = _url(path)
    local = _local(url) if url else Path(path)
    if local is None and engine != "spark":
        raise ConfigError(f"--from-parquet {url}: only --engine spark reads an object store (the driver's DuckDB "
                          "reaches no network); copy the export to a local or mounted directory for DuckDB")
    if local is not None:
        _check_export(local)
    session = spark_session() if engine == "spark" else None
    # The driver's own tables: DuckDB over the files where they are on this machine, else read by Spark.
    store = driver_store(local) if local is not None else driver_store_from_spark(session, url)
    if local is None and not store.con.execute("select count(*) from repos").fetchone()[0] \
            and not store.con.execute("select count(*) from items").fetchone()[0]:
        store.close()
        raise ConfigError(f"{url}: not a loopmeter Parquet export (no items/ or repos/ there)")
    views: list[str] = []
    try:
        if engine == "duckdb":
            from .metrics.changes import backend

            yield store, backend(store)
            return
        import ibis

        # Spark gets the location as given (a URL unchanged), never a path rebuilt from it.
        views = _spark_tables(session, url or str(local), store)
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
