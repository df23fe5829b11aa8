"""Writing line-level provenance (sources/provenance.py) and the commit evidence it makes.

A commit with AI-written lines in a Git AI note or an Agent Trace record gets one commit-level
`attributions` row per agent, with evidence `git_ai_note` or `agent_trace` (class `authored`).
Those rows are rebuilt from `line_provenance` after every ingest, because `reattribute` replaces a
repository's commit evidence wholesale when the signatures change.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ..sources.provenance import FileProvenance, Malformed
from .db import Store, transaction, utcnow

_SCHEMA = pa.schema([("repo", pa.string()), ("sha", pa.string()), ("path", pa.string()), ("source", pa.string()),
                     ("agent", pa.string()), ("model", pa.string()), ("ai_lines", pa.int64()),
                     ("ranges", pa.string()), ("origin", pa.string()), ("where_", pa.string())])

EVIDENCE = {"git_ai_note": "refs/notes/ai authorship log", "agent_trace": "Agent Trace record"}


def _table(repo: str, rows: Sequence[tuple[FileProvenance, str]]) -> pa.Table:
    cols: dict[str, list] = {f.name: [] for f in _SCHEMA}
    for fp, origin in rows:
        for k, v in (("repo", repo), ("sha", fp.sha), ("path", fp.path), ("source", fp.source), ("agent", fp.agent),
                     ("model", fp.model), ("ai_lines", fp.ai_lines), ("ranges", fp.ranges), ("origin", origin),
                     ("where_", fp.origin)):
            cols[k].append(v)
    return pa.table(cols, schema=_SCHEMA)


def _resolved(con, repo: str) -> str:
    """SQL over `_prov` resolving each (possibly abbreviated) sha to the one stored commit it names."""
    return f"""
        with m as (
            select p.*, c.sha as full_sha, count(*) over (partition by p.where_, p.path, p.agent, p.model) as n
            from _prov p left join (select sha from commits where repo = '{repo.replace("'", "''")}') c
              on starts_with(c.sha, p.sha)
        )
        select * from m
    """


def store_provenance(store: Store, repo: str, source: str, rows: Sequence[tuple[FileProvenance, str]],
                     malformed: Malformed, *, replace_origins: Sequence[str] | None = None) -> int:
    """Replace `repo`'s provenance from `source` (all of it, or only `replace_origins`: the trace files
    read again) with `rows` ((record, origin) pairs). A record naming no commit of the repository, or an
    abbreviation naming several, is counted in `malformed`. Returns the rows stored."""
    t = _table(repo, rows)
    with transaction(store.con, _prov=t) as con:
        con.execute(f"create or replace temp table _res as {_resolved(con, repo)}")
        for where, sha, n in con.execute(
            "select any_value(where_), any_value(sha), max(n) from _res where full_sha is null or n > 1 "
            "group by where_, sha order by 1"
        ).fetchall():
            why = "names no commit of the repository" if n == 1 else "abbreviated sha names several commits"
            malformed.add(where, f"revision {sha[:12]} {why}")
        if replace_origins is None:
            con.execute("delete from line_provenance where repo = ? and source = ?", [repo, source])
        else:
            con.execute("delete from line_provenance where repo = ? and source = ? and list_contains(?, origin)",
                        [repo, source, list(replace_origins)])
        # Several records may speak of the same file and agent in one commit: their lines are unioned
        # later (ranges), counted here as the records say.
        n = con.execute(
            "insert into line_provenance select repo, full_sha, path, source, agent, model, ai_lines, ranges, origin "
            "from _res where full_sha is not null and n = 1"
        ).fetchone()[0]
        con.execute("drop table _res")
    return int(n or 0)


def record_trace_files(store: Store, repo: str, files: Sequence[tuple[str, int, int]]) -> None:
    """Remember which trace files were read ((path, records, skipped))."""
    with transaction(store.con) as con:
        for path, records, skipped in files:
            con.execute("insert or replace into trace_files values (?, ?, ?, ?, ?)",
                        [repo, path, records, skipped, utcnow()])


def sync_provenance_evidence(store: Store, repo: str) -> int:
    """Rebuild the commit-level evidence that provenance gives; returns how many commits have it."""
    prefix = f"git:{repo}:commit:"
    with transaction(store.con) as con:
        con.execute("delete from attributions where starts_with(item_id, ?) and evidence in ('git_ai_note', 'agent_trace')",
                    [prefix])
        con.execute(
            """
            insert into attributions (item_id, agent, evidence, signal, confidence, evidence_class)
            select ? || sha, agent, source,
                   case source when 'git_ai_note' then 'refs/notes/ai: ' else 'agent trace: ' end
                     || sum(ai_lines) || ' AI-written lines', 1.0, 'authored'
            from line_provenance where repo = ? and ai_lines > 0
            group by sha, agent, source
            """,
            [prefix, repo],
        )
        return con.execute("select count(distinct sha) from line_provenance where repo = ? and ai_lines > 0",
                           [repo]).fetchone()[0]


def provenance_for_tracking(store: Store, repo: str) -> tuple[dict[str, dict[str, list[tuple[int, int]]]], set[str]]:
    """sha -> path -> AI-written ranges, and every commit with provenance, for sources/line_fates.py."""
    from ..sources.provenance import merge_ranges, parse_ranges

    ai: dict[str, dict[str, list[tuple[int, int]]]] = {}
    shas: set[str] = set()
    for sha, path, ranges in store.con.execute(
        "select sha, path, ranges from line_provenance where repo = ?", [repo]
    ).fetchall():
        shas.add(sha)
        if ranges:
            per = ai.setdefault(sha, {})
            per[path] = list(merge_ranges([*per.get(path, []), *parse_ranges(ranges)]))
    return ai, shas


def write_line_fates(store: Store, repo: str, fates) -> None:
    """Replace `repo`'s line origins and deaths with those of a complete tracking pass."""
    o = fates.origins
    origins = pa.table({
        "repo": [repo] * len(o), "sha": [x.sha for x in o], "pos": [x.pos for x in o],
        "landed_at": [x.landed_at for x in o], "lines_added": [x.lines_added for x in o],
        "ai_lines_added": [x.ai_lines_added for x in o], "with_provenance": [x.with_provenance for x in o],
    }, schema=pa.schema([("repo", pa.string()), ("sha", pa.string()), ("pos", pa.int32()),
                         ("landed_at", pa.timestamp("us")), ("lines_added", pa.int64()),
                         ("ai_lines_added", pa.int64()), ("with_provenance", pa.bool_())]))
    keys = list(fates.deaths.keys())
    deaths = pa.table({
        "repo": [repo] * len(keys), "sha": [o[b].sha for b, _ in keys], "died_pos": [d for _, d in keys],
        "lines": [fates.deaths[k][0] for k in keys], "ai_lines": [fates.deaths[k][1] for k in keys],
    }, schema=pa.schema([("repo", pa.string()), ("sha", pa.string()), ("died_pos", pa.int32()),
                         ("lines", pa.int64()), ("ai_lines", pa.int64())]))
    with transaction(store.con, _o=origins, _d=deaths) as con:
        con.execute("delete from line_origins where repo = ?", [repo])
        con.execute("delete from line_deaths where repo = ?", [repo])
        con.execute("insert into line_origins select * from _o")
        con.execute("insert into line_deaths select * from _d")
