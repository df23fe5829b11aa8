"""Parquet: one file per canonical table in a directory, written by DuckDB's COPY."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ConfigError
from ..store.db import Store
from .canonical import ExportSummary

#: The canonical tables of DESIGN.md, with what each exports. Names and emails are personal data:
#: they leave the store only when asked for.
TABLES = {
    "items": "select * from items order by item_id",
    "events": "select * exclude (seq) from events order by item_id, ts, activity",  # seq: the store's own index
    "links": "select * from links order by src, dst, kind",
    "attributions": "select * from attributions order by item_id, agent, evidence",
}
# The metrics' totals and headcounts read the repositories and their commits too (an engine
# reading this export, e.g. Spark, needs every table `metrics.changes` reads).
REPOS = "select * from repos order by repo"
_COMMIT_PEOPLE = ("author_name", "author_email", "committer_name", "committer_email")
COMMITS_NAMED = "select * from commits order by repo, sha"
COMMITS_PSEUDONYMOUS = ("select * replace (" + ", ".join(f"null::varchar as {c}" for c in _COMMIT_PEOPLE)
                        + ") from commits order by repo, sha")
ACTORS_PSEUDONYMOUS = "select actor_id, kind, null::varchar as name, null::varchar as email, team, agent from actors order by actor_id"
ACTORS_NAMED = "select * from actors order by actor_id"


def write_parquet(store: Store, out: Path, *, show_names: bool = False) -> ExportSummary:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; Parquet export writes a directory of files")
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        queries = dict(TABLES, actors=ACTORS_NAMED if show_names else ACTORS_PSEUDONYMOUS, repos=REPOS,
                       commits=COMMITS_NAMED if show_names else COMMITS_PSEUDONYMOUS)
        for table, query in queries.items():
            target = str(tmp / f"{table}.parquet").replace("'", "''")
            store.con.execute(f"copy ({query}) to '{target}' (format parquet)")
        out.mkdir(parents=True, exist_ok=True)
        for f in tmp.iterdir():
            f.replace(out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = {t: store.con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("items", "events", "links")}
    return ExportSummary("parquet", str(out), n["items"], n["events"], n["links"], 0)
