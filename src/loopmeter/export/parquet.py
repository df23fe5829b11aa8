"""Parquet: every table the metrics read, one directory per table, written by DuckDB's COPY.

Tables with a time are partitioned by its month (Hive layout, `items/month=2024-03/data_0.parquet`),
so an engine such as Spark reads only the months a report asks for; the rest are one file. The
repository is a column in the files, not a folder: an organisation of 1,000 repositories would
make a folder per repository-month, hundreds of thousands of small files (eight real repositories
made 2,519 files in 2,198 folders; by month alone 1,872 in 1,201, and that count no longer grows
with the repositories, only with the months of history), which costs every reader more to list and
open than pruning by repository saves; a reader filtering on `repo` uses the files' statistics.
(Ordering the rows by repository, for tighter statistics, raised the export's peak memory from
330 to 450 MB on those repositories and was left out.) A table with no rows is one file with the table's columns (a
partitioned write of nothing writes no file, and a reader needs the schema). `engine.open_export`
reads it back, and reads the older layout (`repo=.../month=...`) as well.

Partition values are written escaped (`__HIVE_DEFAULT_PARTITION__` for null), as Hive and Spark
expect; the partition columns hold text, so a reader must not infer their types.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..store.db import Store
from .canonical import ExportSummary


@dataclass(frozen=True)
class Table:
    """One exported table: the query that reads it from the store and the time whose month
    partitions it (a SQL expression)."""

    query: str
    month: str | None = None

    @property
    def partitions(self) -> tuple[str, ...]:
        return ("month",) if self.month else ()


#: Rows a DuckDB thread holds for a partitioned write before writing them out (DuckDB's default:
#: 524,288); measured on eight real repositories, 16,384 still fit 256 MB and 65,536 did not. By
#: month alone a partition holds every repository's rows of the month: 8,192 no longer fit the
#: 48 MB of tests/test_export.py's 300 repository-months, 2,048 do (a few more files).
PARTITION_FLUSH_ROWS = 2048

#: The name of the derived partition column (not a column of the store's table; readers drop it).
MONTH = "month"
_COMMIT_PEOPLE = ("author_name", "author_email", "committer_name", "committer_email")
_COMMITS_PSEUDONYMOUS = ("select * replace (" + ", ".join(f"null::varchar as {c}" for c in _COMMIT_PEOPLE)
                         + ") from commits")
# Bots and agents are not people: the report names them (automation accounts) whatever --show-names says.
_ACTORS_PSEUDONYMOUS = ("select actor_id, kind, case when kind in ('bot', 'agent') then name end as name, "
                        "case when kind in ('bot', 'agent') then email end as email, team, agent from actors")

#: Every table a report or a lift design reads. Left out: ingestion state (HTTP cache, API cursors,
#: line_state, schema_migrations) and the pseudonym salt (with it, pseudonyms could be matched to
#: e-mail addresses); names and e-mails only with `show_names`.
TABLES: dict[str, Table] = {
    "items": Table("select * from items", month="coalesce(done_at, started_at, created_at)"),
    "events": Table("select * from events", month="ts"),
    "links": Table("select * from links"),
    "attributions": Table("select * from attributions"),
    "actors": Table(_ACTORS_PSEUDONYMOUS),
    "repos": Table("select * from repos"),
    "commits": Table(_COMMITS_PSEUDONYMOUS, month="author_time"),
    "commit_files": Table("select * from commit_files"),
    "git_pull_heads": Table("select * from git_pull_heads"),
    "git_tags": Table("select * from git_tags"),
    "git_tips": Table("select * from git_tips"),
    "line_provenance": Table("select * from line_provenance"),
    "line_origins": Table("select * from line_origins", month="landed_at"),
    "line_deaths": Table("select * from line_deaths"),
    "trace_files": Table("select * from trace_files"),
    "agent_usage": Table("select * from agent_usage", month="day"),
    "agent_files": Table("select * from agent_files"),
    "otel_points": Table("select * from otel_points"),
    "session_links": Table("select * from session_links"),
    "event_logs": Table("select * from event_logs"),
    "event_log_items": Table("select * from event_log_items"),
    "meta": Table("select * from meta where key not in ('salt')"),
    # Which pseudonyms are one person (store/identity_links.py): salted ids only, no address.
    "identity_links": Table("select * from identity_links"),
}
_NAMED = {"actors": "select * from actors", "commits": "select * from commits"}

#: Who delegated each agent-authored change (metrics/delegation.py `delegators`), as the store works
#: it out: with the pseudonym salt (a co-author's pseudonym is the salted hash of their address) and
#: people's names and addresses (is this committer a person?), neither of which an export holds. A
#: report over the export reads these rows instead of working them out again, so that it moves the
#: same changes to the same people as the store's own report, on every engine.
DELEGATIONS = "delegations"


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _write_table(store: Store, name: str, table: Table, query: str, target: Path) -> None:
    month = f", strftime({table.month}, '%Y-%m') as {MONTH}" if table.month else ""
    rows = f"select *{month} from ({query})"
    target.mkdir(parents=True)
    empty = store.con.execute(f"select count(*) from ({query})").fetchone()[0] == 0
    if table.partitions and not empty:
        # DuckDB buffers up to half a million rows a thread before it writes a partition out, with
        # blocks for every column of every partition held: eight real repositories (604 repository-
        # months of items) ran out of the store's 256 MB. Flushing every few thousand rows bounds
        # that by the rows, not by how many repositories and months there are (a few more files).
        (flush,) = store.con.execute("select current_setting('partitioned_write_flush_threshold')").fetchone()
        store.con.execute(f"set partitioned_write_flush_threshold = {PARTITION_FLUSH_ROWS}")
        try:
            store.con.execute(f"copy ({rows}) to {_quote(target)} "
                              f"(format parquet, partition_by ({', '.join(table.partitions)}))")
        finally:
            store.con.execute(f"set partitioned_write_flush_threshold = {int(flush)}")
    else:
        store.con.execute(f"copy ({rows}) to {_quote(target / 'data_0.parquet')} (format parquet)")


def _write_delegations(store: Store, target: Path) -> None:
    from ..metrics.delegation import delegators

    found = delegators(store.con)
    target.mkdir(parents=True)
    store.con.register("_lm_delegations", found.astype("string"))
    try:
        store.con.execute("copy (select item_id::varchar as item_id, agent_id::varchar as agent_id, "
                          "delegator_id::varchar as delegator_id, evidence::varchar as evidence "
                          f"from _lm_delegations) to {_quote(target / 'data_0.parquet')} (format parquet)")
    finally:
        store.con.unregister("_lm_delegations")


def write_parquet(store: Store, out: Path, *, show_names: bool = False) -> ExportSummary:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; Parquet export writes a directory of files")
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for name, table in TABLES.items():
            query = _NAMED.get(name, table.query) if show_names else table.query
            _write_table(store, name, table, query, tmp / name)
        _write_delegations(store, tmp / DELEGATIONS)
        # Only now, with every table written, is the old export replaced (table by table; an
        # export of an older version, one file per table, is replaced too).
        out.mkdir(parents=True, exist_ok=True)
        for name in (*TABLES, DELEGATIONS):
            (out / f"{name}.parquet").unlink(missing_ok=True)
            if (out / name).exists():
                shutil.rmtree(out / name)
            (tmp / name).replace(out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = {t: store.con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("items", "events", "links")}
    return ExportSummary("parquet", str(out), n["items"], n["events"], n["links"], 0)
