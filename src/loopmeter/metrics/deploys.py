"""Which production deployment first shipped a commit.

A successful production deployment ships its own sha and, when the repository's git history is in
the store (`commits`), every ancestor of it. Deployments are taken in time order and each commit is
assigned to the first one that contains it; a commit no earlier deployment reached is walked once,
so the whole assignment costs one pass over the history (not one walk per deployment). Without the
git history a deployment ships exactly its own sha.

The graph walk is written here rather than delegated to git (pygit2) because the store, not a
working copy, is the source of truth for metrics: the repository may no longer be on this machine.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

import pyarrow as pa

from . import portable

SCHEMA = pa.schema([
    ("sha", pa.string()), ("deployment_id", pa.string()), ("deployed_at", pa.timestamp("us")),
    ("deploy_repo", pa.string()), ("repo_first_deploy_at", pa.timestamp("us")),
])


def production_attempts_sql(items: str = "items") -> str:
    """The one rule for when a production deployment shipped or failed (docs/metrics.md "Which
    deployment shipped a commit"), used by the first-deployment walk here and by dora.py.

    One row per production deployment that concluded: `shipped_at` is its first success status
    (`deployed`), even when an earlier status of the same deployment failed; without any status
    event, a `success` state at done_at (a state with no time ships nothing). A deployment that
    never succeeded has `failed_at`: its first `deploy_failed`, or, without status events, a
    `failure` state at done_at (else created_at). Pending deployments are left out."""
    return f"""
        select item_id, repo, sha, shipped_at,
               case when shipped_at is null and (has_failure or (not has_status and state = 'failure'))
                    then coalesce(first_failure, done_at, created_at) end as failed_at
        from (
            select i.item_id, i.repo, json_extract_string(i.attrs, '$.sha') as sha, i.state, i.done_at, i.created_at,
                   coalesce(min(e.ts) filter (where e.activity = 'deployed'),
                            case when count(e.activity) = 0 and i.state = 'success' then i.done_at end) as shipped_at,
                   min(e.ts) filter (where e.activity = 'deploy_failed') as first_failure,
                   coalesce(bool_or(e.activity = 'deploy_failed'), false) as has_failure,
                   count(e.activity) > 0 as has_status
            from {items} i left join events e on e.item_id = i.item_id and e.activity in ('deployed', 'deploy_failed')
            where i.kind = 'deployment'
              and coalesce(try_cast(json_extract_string(i.attrs, '$.production') as boolean), false)
            group by i.item_id, i.repo, i.attrs, i.state, i.done_at, i.created_at
        )
        where shipped_at is not null or (has_failure or (not has_status and state = 'failure'))
    """


def _rows(con, query: str) -> list[tuple]:
    """The rows of `query` (DuckDB SQL) on `con`: an Ibis backend of any engine (transpiled there,
    metrics/portable.py) or the store's raw DuckDB connection."""
    if hasattr(con, "fetchall"):  # the store's DuckDB connection
        return con.execute(query).fetchall()
    t = con.to_pyarrow(portable.sql(con, query))
    return list(zip(*(col.to_pylist() for col in t.columns))) if t.num_rows else []


def production_deployments(con, as_of: datetime, items: str = "items") -> list[tuple[str, str, str, datetime]]:
    """(item_id, repo, sha, deployed_at) of successful production deployments with a sha up to as_of,
    oldest first (production_attempts_sql says when a deployment shipped)."""
    return _rows(con, f"""
        select item_id, repo, sha, shipped_at as deployed_at from ({production_attempts_sql(items)})
        where shipped_at is not null and sha is not null and shipped_at <= {portable.timestamp(as_of)}
        order by deployed_at, item_id
        """)


def releases(con, as_of: datetime, items: str = "items") -> list[tuple[str, str, str, datetime]]:
    """(item_id, repo, sha, published_at) of releases with a sha, oldest first. A release that names
    a branch rather than a commit gets the sha of the git tag of the same name, when exactly one
    commit carries a tag of that name in the store."""
    return _rows(con, f"""
        with r as (
            select item_id, repo, created_at, json_extract_string(attrs, '$.tag') as tag,
                   json_extract_string(attrs, '$.sha') as sha
            from {items} where kind = 'release' and created_at is not null and created_at <= {portable.timestamp(as_of)}
        ),
        tags as (select name, any_value(sha) as sha from git_tags group by name having count(distinct sha) = 1)
        select r.item_id, r.repo, coalesce(r.sha, tags.sha) as sha, r.created_at
        from r left join tags on tags.name = r.tag
        where coalesce(r.sha, tags.sha) is not null
        order by r.created_at, r.item_id
        """)


def _parents(con, shas: list[str]) -> dict[str, list[str]]:
    """sha -> parent shas of every commit of the repositories that hold one of `shas`."""
    if hasattr(con, "fetchall"):
        rows = con.execute(
            """
            select sha, parents from commits
            where repo in (select distinct repo from commits where sha in (select unnest(?::varchar[])))
            """,
            [shas],
        ).fetchall()
    else:
        c = con.table("commits")
        held = c.filter(c.sha.isin(shas)).select("repo").distinct()
        t = con.to_pyarrow(c.filter(c.repo.isin(held.repo)).select("sha", "parents"))
        rows = zip(t["sha"].to_pylist(), t["parents"].to_pylist())
    return {s: p or [] for s, p in rows}


def first_deployments(con, as_of: datetime, kind: str = "deployment", items: str = "items") -> pa.Table:
    """One row per commit sha shipped by a production deployment (or, with kind="release", by a
    release): the first one that contains it, when, and when its repository was first shipped at all.
    `con` is an Ibis backend of any engine, or the store's raw DuckDB connection."""
    deps = production_deployments(con, as_of, items) if kind == "deployment" else releases(con, as_of, items)
    shas = sorted({d[2] for d in deps})
    parents: dict[str, list[str]] = {}
    if shas:
        # Only the repositories that hold a deployed sha: their whole graph, once.
        parents = _parents(con, shas)
    first_of_repo: dict[str, datetime] = {}
    for _, repo, _, at in deps:
        first_of_repo.setdefault(repo, at)
    out: dict[str, tuple[str, datetime, str]] = {}
    for dep_id, repo, sha, at in deps:
        if sha in out:
            continue
        # Without history (a sha not in `parents`) the walk ships exactly this sha.
        out[sha] = (dep_id, at, repo)
        queue = deque([sha])
        while queue:
            for p in parents.get(queue.popleft(), ()):
                # A commit an earlier deployment shipped had all its ancestors shipped with it.
                if p not in out:
                    out[p] = (dep_id, at, repo)
                    queue.append(p)
    cols = list(zip(*[(s, d, a, r, first_of_repo[r]) for s, (d, a, r) in out.items()])) or [[], [], [], [], []]
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, SCHEMA)], schema=SCHEMA)


def register(raw, as_of: datetime, items: str = "items") -> tuple[str, str]:
    """Make the first-deployment and first-release tables visible to SQL on this (raw DuckDB)
    connection, as `_lm_first_deploy` and `_lm_first_release`; `register_on` does it on any engine."""
    raw.register("_lm_first_deploy", first_deployments(raw, as_of, items=items))
    raw.register("_lm_first_release", first_deployments(raw, as_of, "release", items))
    return "_lm_first_deploy", "_lm_first_release"


def register_on(scratch: portable.Scratch, as_of: datetime, items: str = "items") -> tuple[str, str]:
    """`register` on the engine of `scratch` (metrics/portable.py): the walk runs on the driver over
    the deployments and commit graph the engine returns, and its result is read there by name."""
    scratch.arrow("_lm_first_deploy", first_deployments(scratch.con, as_of, items=items))
    scratch.arrow("_lm_first_release", first_deployments(scratch.con, as_of, "release", items))
    return "_lm_first_deploy", "_lm_first_release"
