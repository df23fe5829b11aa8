"""CI feedback: latency, duration, flakiness, and the merge-commit verdict that validation uses.

- feedback latency of a pushed sha: from the earliest queued run for that sha (`created_at` of a
  `ci_run`, the push) to the first verdict (`ci_passed` / `ci_failed`) among the runs for that sha;
- duration of a run attempt: its verdict minus its start (`started_at`);
- flaky: a (sha, workflow) with a failed attempt followed by a passing attempt (a rerun of the same
  commit that changed its mind); the share is over (sha, workflow) pairs with a verdict;
- a change's merge CI: `passed` when every workflow that ran on its landing sha has a passing
  attempt, `failed` when some workflow ran there to a verdict and never passed. With no run on the
  landing sha, the head sha of the pull request that is `same_as` the change is used (repositories
  that run CI on pull requests only). No run at all: unknown, which does not refute a change.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from . import portable


def runs_sql(as_of: datetime, items: str = "items") -> str:
    """One row per CI run attempt queued by as_of, with its verdict (if any by as_of)."""
    a = portable.timestamp(as_of)
    return f"""
    select i.item_id, i.repo, json_extract_string(i.attrs, '$.sha') as sha,
           coalesce(json_extract_string(i.attrs, '$.workflow'), '') as workflow,
           coalesce(try_cast(json_extract_string(i.attrs, '$.attempt') as integer), 1) as attempt,
           i.created_at as queued_at, coalesce(i.started_at, min(e.ts) filter (where e.activity = 'ci_started')) as started_at,
           min(e.ts) filter (where e.activity in ('ci_passed', 'ci_failed')) as verdict_at,
           arg_min(e.activity, e.ts) filter (where e.activity in ('ci_passed', 'ci_failed')) as verdict
    from {items} i left join events e on e.item_id = i.item_id and e.ts <= {a}
    where i.kind = 'ci_run' and i.created_at <= {a} and json_extract_string(i.attrs, '$.sha') is not null
    group by i.item_id, i.repo, i.attrs, i.created_at, i.started_at
    """


def runs(con, as_of: datetime, items: str = "items") -> ir.Table:
    t = portable.sql(con, runs_sql(as_of, items))
    dur = (t.verdict_at.epoch_seconds() - t.started_at.epoch_seconds()).cast("float64") / 3600.0
    return t.mutate(duration=ibis.ifelse(dur >= 0, dur, ibis.null()).cast("float64"))


def feedback(r: ir.Table) -> ir.Table:
    """One row per sha of the run attempts `r` (`runs`): pushed (first queued run), first verdict,
    latency in hours."""
    t = r.group_by(["repo", "sha"]).agg(pushed_at=r.queued_at.min(), first_verdict_at=r.verdict_at.min())
    lat = (t.first_verdict_at.epoch_seconds() - t.pushed_at.epoch_seconds()).cast("float64") / 3600.0
    return t.mutate(latency=ibis.ifelse(lat >= 0, lat, ibis.null()).cast("float64"),
                    week=t.pushed_at.truncate("W").cast("date"))


def flaky(con, runs: str) -> ir.Table:
    """One row per (sha, workflow) with a verdict in `runs` (the name of a table of `runs` rows on
    the connection): `flaky` when a failed attempt was followed (later attempt, or same attempt
    number but a later verdict) by a passing one."""
    return portable.sql(con, f"""
    with r as (select * from {runs})
    select repo, sha, workflow, min(queued_at) as pushed_at,
        exists (select 1 from r f, r p where f.sha = g.sha and p.sha = g.sha and f.workflow = g.workflow
                and p.workflow = g.workflow and f.verdict = 'ci_failed' and p.verdict = 'ci_passed'
                and (p.attempt > f.attempt or (p.attempt = f.attempt and p.verdict_at > f.verdict_at)
                     or (p.item_id <> f.item_id and p.verdict_at > f.verdict_at))) as flaky
    from r g where verdict is not null
    group by repo, sha, workflow
    """)


def merge_ci_sql(as_of: datetime, items: str = "items") -> str:
    """One row per landed change with a CI verdict on its merge: item_id, ci ('passed' / 'failed')."""
    return f"""
    with r as ({runs_sql(as_of, items)}),
    per_sha as (
        select sha, bool_and(passed) as all_passed, count(*) as workflows
        from (select sha, workflow, bool_or(verdict = 'ci_passed') as passed from r
              where verdict is not null group by sha, workflow)
        group by sha
    ),
    ch as (
        select c.item_id, json_extract_string(c.attrs, '$.sha') as sha,
            (select json_extract_string(p.attrs, '$.head_sha') from links l join {items} p on p.item_id = l.src
             where l.kind = 'same_as' and l.dst = c.item_id and p.kind = 'pull_request' limit 1) as head_sha
        from {items} c where c.kind = 'change' and exists (select 1 from {items} r where r.kind = 'ci_run')
    )
    select ch.item_id, case when coalesce(m.all_passed, h.all_passed) then 'passed' else 'failed' end as ci
    from ch left join per_sha m on m.sha = ch.sha left join per_sha h on h.sha = ch.head_sha
    where m.sha is not null or h.sha is not null
    """


def merge_ci(con, as_of: datetime, items: str = "items") -> ir.Table:
    """The merge CI verdict of each change that has one (see the module docstring); changes without
    any CI run on their merge (or their pull request's head) are absent: unknown."""
    return portable.sql(con, merge_ci_sql(as_of, items))
