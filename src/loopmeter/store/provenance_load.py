"""Writing line-level provenance (sources/provenance.py) and the commit evidence it makes.

A commit with AI-written lines in a Git AI note or an Agent Trace record gets one commit-level
`attributions` row per agent, with evidence `git_ai_note` or `agent_trace` (class `authored`).
Those rows are rebuilt from `line_provenance` after every ingest, because `reattribute` replaces a
repository's commit evidence wholesale when the signatures change.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from ..sources.provenance import FileProvenance, Malformed
from .db import Store, transaction, utcnow

if TYPE_CHECKING:
    import pyarrow as pa


@cache
def _schema() -> pa.Schema:
    """Built on first use: an idle `ingest` re-run stores no provenance and should not load pyarrow."""
    import pyarrow as pa

    return pa.schema([("repo", pa.string()), ("sha", pa.string()), ("path", pa.string()), ("source", pa.string()),
                      ("agent", pa.string()), ("model", pa.string()), ("ai_lines", pa.int64()),
                      ("ranges", pa.string()), ("origin", pa.string()), ("where_", pa.string())])


EVIDENCE = {"git_ai_note": "refs/notes/ai authorship log", "agent_trace": "Agent Trace record"}


def _table(repo: str, rows: Sequence[tuple[FileProvenance, str]]) -> pa.Table:
    import pyarrow as pa

    cols: dict[str, list] = {f.name: [] for f in _schema()}
    for fp, origin in rows:
        for k, v in (("repo", repo), ("sha", fp.sha), ("path", fp.path), ("source", fp.source), ("agent", fp.agent),
                     ("model", fp.model), ("ai_lines", fp.ai_lines), ("ranges", fp.ranges), ("origin", origin),
                     ("where_", fp.origin)):
            cols[k].append(v)
    return pa.table(cols, schema=_schema())


def _resolved(con, repo: str) -> str:
    """SQL over `_prov` resolving each (possibly abbreviated) sha to the stored commit(s) it names:
    full shas by an equality join (thousands of notes against 100,000 commits stay a hash join),
    abbreviations by prefix. `n` > 1 marks an abbreviation naming several commits."""
    r = repo.replace("'", "''")
    return f"""
        with m as (
            select p.*, c.sha as full_sha from _prov p
            join (select sha from commits where repo = '{r}') c on c.sha = p.sha
            where length(p.sha) = 40
            union all
            select p.*, c.sha as full_sha from _prov p
            join (select sha from commits where repo = '{r}') c on starts_with(c.sha, p.sha)
            where length(p.sha) < 40
        )
        select *, count(*) over (partition by where_, sha, path, agent, model) as n from m
    """


def store_provenance(store: Store, repo: str, source: str, rows: Sequence[tuple[FileProvenance, str]],
                     malformed: Malformed, *, replace_origins: Sequence[str] | None = None) -> int:
    """Replace `repo`'s provenance from `source` (all of it, or only `replace_origins`: the trace files
    read again) with `rows` ((record, origin) pairs). A record naming no commit of the repository, or an
    abbreviation naming several, is counted in `malformed`. Returns the rows stored."""
    t = _table(repo, rows)
    with transaction(store.con, _prov=t) as con:
        con.execute(f"create or replace temp table _res as {_resolved(con, repo)}")
        # A record of a commit outside the ingested history (a branch never merged, a commit squashed
        # away: Git AI annotates every commit it sees) is not malformed; it is simply not ours.
        for where, sha in con.execute(
            "select any_value(where_), any_value(sha) from _res where n > 1 group by where_, sha order by 1"
        ).fetchall():
            malformed.add(where, f"abbreviated revision {sha} names several commits")
        if replace_origins is None:
            con.execute("delete from line_provenance where repo = ? and source = ?", [repo, source])
        else:
            con.execute("delete from line_provenance where repo = ? and source = ? and list_contains(?, origin)",
                        [repo, source, list(replace_origins)])
        # Several records may speak of the same file and agent in one commit: their lines are unioned
        # later (ranges), counted here as the records say.
        n = con.execute(
            "insert into line_provenance select repo, full_sha, path, source, agent, model, ai_lines, ranges, origin "
            "from _res where n = 1"
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


def write_line_fates(store: Store, repo: str, fates, *, incremental: bool) -> None:
    """Store a tracking pass: replace `repo`'s line origins and deaths (a full pass), or append those
    of the new commits (`incremental`, a pass resumed from `line_state`), and the state it ended in."""
    write_line_fates_rows(store, line_fates_rows(repo, fates, incremental=incremental))


def write_line_fates_rows(store: Store, rows: tuple) -> None:
    """`write_line_fates` of rows `line_fates_rows` made (e.g. in a reader process): in a held group
    with the other repositories' passes when the group ends, otherwise now."""
    if not store.defer("line_fates", rows, store_line_fates):
        store_line_fates(store, [rows])


def line_fates_rows(repo: str, fates, *, incremental: bool) -> tuple:
    """A tracking pass as the rows it stores: (repo, origins, deaths, state, incremental), Arrow
    tables for `store_line_fates`. Pure (no store): a reader process makes them."""
    import pyarrow as pa

    from array import array

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
        "repo": [repo] * len(keys), "born_pos": [b for b, _ in keys], "died_pos": [d for _, d in keys],
        "lines": [fates.deaths[k][0] for k in keys], "ai_lines": [fates.deaths[k][1] for k in keys],
    }, schema=pa.schema([("repo", pa.string()), ("born_pos", pa.int32()), ("died_pos", pa.int32()),
                         ("lines", pa.int64()), ("ai_lines", pa.int64())]))
    st = fates.state
    paths = sorted(set(st.files) | st.unknown)
    state = pa.table({
        "repo": [repo] * len(paths), "head_sha": [st.head] * len(paths), "next_pos": [st.next_pos] * len(paths),
        "path": paths, "births": [st.files.get(p, array("q")).tobytes() for p in paths],
        "unknown": [p in st.unknown for p in paths],
    }, schema=pa.schema([("repo", pa.string()), ("head_sha", pa.string()), ("next_pos", pa.int32()),
                         ("path", pa.string()), ("births", pa.binary()), ("unknown", pa.bool_())]))
    return (repo, origins, deaths, state, incremental)


def store_line_fates(store: Store, passes: list[tuple]) -> None:
    """Write tracking passes ((repo, origins, deaths, state, incremental) each, as `write_line_fates`
    makes them): the full passes of several repositories with one statement per table."""
    import pyarrow as pa

    full = [p for p in passes if not p[4]]
    if full:
        rp = pa.table({"repo": [p[0] for p in full]}, schema=pa.schema([("repo", pa.string())]))
        cat = [pa.concat_tables([p[k] for p in full]) for k in (1, 2, 3)]
        with transaction(store.con, _rp=rp, _o=cat[0], _d=cat[1], _s=cat[2]) as con:
            for table in ("line_origins", "line_deaths", "line_state"):
                con.execute(f"delete from {table} where repo in (select repo from _rp)")
            con.execute("insert into line_origins select * from _o")
            con.execute("insert into line_deaths select * from _d")
            con.execute("insert into line_state select * from _s")
    resumed = [p for p in passes if p[4]]
    # The resumed passes of several repositories (a set's moved ones) with one statement per step;
    # a repository resumed twice in one group (never in a set) goes one pass at a time.
    batches = [resumed] if len({p[0] for p in resumed}) == len(resumed) else [[p] for p in resumed]
    for group in batches if resumed else []:
        rp = pa.table({"repo": [p[0] for p in group]}, schema=pa.schema([("repo", pa.string())]))
        cat = [pa.concat_tables([p[k] for p in group]) for k in (1, 2, 3)]
        with transaction(store.con, _ri=rp, _o=cat[0], _d=cat[1], _s=cat[2]) as con:
            # Unknown-fate lines of a resumed pass may add to a (birth, -1) pair stored before.
            con.execute("create or replace temp table _d2 as select repo, born_pos, died_pos, sum(lines) as lines, "
                        "sum(ai_lines) as ai_lines from (select * from line_deaths where repo in (select repo from _ri) "
                        "and died_pos < 0 union all select * from _d where died_pos < 0) group by all")
            con.execute("delete from line_deaths where repo in (select repo from _ri) and died_pos < 0")
            con.execute("insert into line_origins select * from _o")
            con.execute("insert into line_deaths select * from _d2 union all select * from _d where died_pos >= 0")
            con.execute("drop table _d2")
            con.execute("delete from line_state where repo in (select repo from _ri)")
            con.execute("insert into line_state select * from _s")


def load_line_state(store: Store, repo: str):
    """The state the last pass ended in (sources.line_fates.TreeState), or None."""
    from array import array

    from ..sources.line_fates import TreeState

    rows = store.con.execute("select head_sha, next_pos, path, births, unknown from line_state where repo = ?",
                             [repo]).fetchall()
    if not rows:
        return None
    files, unknown = {}, set()
    for _, _, path, births, unk in rows:
        if unk:
            unknown.add(path)
        else:
            a = array("q")
            a.frombytes(births)
            files[path] = a
    return TreeState(head=rows[0][0], next_pos=rows[0][1], files=files, unknown=unknown)
