"""The pull-request cycle in phases: coding, draft, pickup, review, deploy (docs/metrics.md "Flow metrics").

    first commit --coding--> opened --draft--> ready for review --pickup--> first human response
                 --review--> merged --deploy--> first production deployment that contains the merge

The phases are contiguous, so where all are known they add up to the lead time for changes
(first commit -> production). A phase whose ends are not both known is unknown (null), never zero.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from . import portable
from ..attribution import AI_CLASSES, ai_class_sql
from .open_prs import opened_by_sql

PHASES = ("coding", "draft", "pickup", "review", "deploy")


def opened_as_draft_sql(alias: str) -> str:
    """SQL: whether the pull request `alias` (an `items` row) was a draft when it was opened. The
    one definition, for the draft phase here and `draft_now` in metrics/waiting.py: sources store
    the flag at opening in `attrs.draft` (docs/design.md); a missing or unreadable flag is no draft."""
    return f"coalesce(try_cast(json_extract_string({alias}.attrs, '$.draft') as boolean), false)"


def pr_rows_sql(as_of: datetime, items: str = "items", classes: tuple[str, ...] = AI_CLASSES) -> str:
    """One row per pull request opened by as_of, with the moments the phases run between. A report
    on some repositories passes `items`, the view flow._scope made of their items; `classes` are the
    evidence classes that make a pull request AI-authored."""
    a = portable.timestamp(as_of)
    return f"""
    with pr as (
        select item_id, repo, author_id, created_at as opened_at, started_at, title,
               {opened_as_draft_sql('i')} as opened_as_draft,
               json_extract_string(attrs, '$.merge_sha') as merge_sha_attr, json_extract_string(attrs, '$.head_sha') as head_sha,
               json_extract_string(attrs, '$.branch') as branch, cast(json_extract(attrs, '$.labels') as varchar) as labels
        from {items} i where {opened_by_sql('i', a)}
    ),
    ev as (
        select e.item_id, e.ts, e.activity, e.actor_id, e.attrs, pr.author_id as pr_author
        from events e join pr using (item_id) where e.ts <= {a}
    ),
    per as (
        select item_id,
            min(ts) filter (where activity = 'committed') as first_commit_event,
            min(ts) filter (where activity = 'ready_for_review') as first_ready,
            min(ts) filter (where activity = 'merged') as merged_at,
            arg_min(json_extract_string(attrs, '$.sha'), ts) filter (where activity = 'merged') as merged_sha_event,
            min(ts) filter (where activity = 'closed') as closed_at
        from ev group by item_id
    ),
    ai as (
        -- AI-authored: an attribution on the pull request or on the git change it is the same as.
        select distinct pr.item_id from pr join attributions a on a.item_id = pr.item_id
        where {ai_class_sql('a', classes)}
        union
        select distinct l.src from links l join attributions a on a.item_id = l.dst
        where l.kind = 'same_as' and {ai_class_sql('a', classes)}
    ),
    base as (
        select pr.*, per.*  exclude (item_id),
            least(pr.started_at, per.first_commit_event) as first_commit_at,
            case when pr.opened_as_draft then per.first_ready else pr.opened_at end as ready_at,
            coalesce(per.merged_sha_event, pr.merge_sha_attr) as merge_sha,
            coalesce(ak.kind, 'human') as author_kind,
            pr.item_id in (select item_id from ai) as has_attribution
        from pr left join per using (item_id)
        left join actors ak on ak.actor_id = pr.author_id
    ),
    response as (
        -- Pickup ends at the first review or comment, at or after ready for review and no later
        -- than the merge, by a person other than the author: bots and AI agents do not pick up.
        select b.item_id, min(e.ts) as first_response_at
        from base b join ev e on e.item_id = b.item_id
        left join actors ra on ra.actor_id = e.actor_id
        where e.activity in ('reviewed', 'commented')
          and e.actor_id is not null and e.actor_id is distinct from b.author_id
          and coalesce(ra.kind, 'human') = 'human'
          and b.ready_at is not null and e.ts >= b.ready_at
          and (b.merged_at is null or e.ts <= b.merged_at)
        group by b.item_id
    )
    select b.item_id, b.repo, b.author_id, b.title, b.branch, b.labels, b.head_sha, b.merge_sha,
        b.opened_at, b.opened_as_draft, b.first_commit_at, b.ready_at, r.first_response_at, b.merged_at,
        b.closed_at,
        case when b.author_kind = 'bot' then 'bot'
             when b.author_kind = 'agent' or b.has_attribution then 'ai' else 'human' end as author_group
    from base b left join response r using (item_id)
    """


def _hours(later: ir.Value, earlier: ir.Value) -> ir.Value:
    # Seconds as float64 before dividing: Ibis writes 3600.0 as a decimal on Spark, where a bigint
    # over it is a decimal rounded to 6 places (portable._double_literals does the same for SQL).
    h = (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / 3600.0
    # A phase whose end comes before its start (clock skew, a commit amended after opening) is
    # unknown rather than negative.
    return ibis.ifelse(later.notnull() & earlier.notnull() & (h >= 0), h, ibis.null()).cast("float64")


def pull_requests(con, as_of: datetime, items: str = "items", classes: tuple[str, ...] = AI_CLASSES) -> ir.Table:
    """One row per pull request with its phases in hours (null when unknown) and the deployment
    that first shipped its merge. Needs `deploys.register` to have run on the connection."""
    t = portable.sql(con, pr_rows_sql(as_of, items, classes))
    dep = con.table("_lm_first_deploy")
    j = t.left_join(dep, t.merge_sha == dep.sha)
    merged = j.merged_at.notnull()
    # A change merged before the first production deployment we can see of that repository was
    # shipped by some deployment we cannot see: its deploy phase is unknown, not "shipped by the first".
    visible = j.deployed_at.notnull() & (j.merged_at >= j.repo_first_deploy_at)
    deployed_at = ibis.ifelse(merged & visible, j.deployed_at, ibis.null().cast("timestamp"))
    return j.select(
        "item_id", "repo", "author_id", "title", "branch", "labels", "head_sha", "merge_sha", "opened_at",
        "opened_as_draft", "first_commit_at", "ready_at", "first_response_at", "merged_at", "closed_at",
        "author_group",
        deployment_id=ibis.ifelse(merged & visible, j.deployment_id, ibis.null().cast("string")),
        deployed_at=deployed_at,
        merged=merged,
        reviewed=merged & j.first_response_at.notnull(),
        week=j.merged_at.truncate("W").cast("date"),
        coding=_hours(j.opened_at, j.first_commit_at),
        draft=ibis.ifelse(j.opened_as_draft, _hours(j.ready_at, j.opened_at), 0.0).cast("float64"),
        pickup=_hours(j.first_response_at, j.ready_at),
        review=ibis.ifelse(merged, _hours(j.merged_at, j.first_response_at), ibis.null()).cast("float64"),
        deploy=_hours(deployed_at, j.merged_at),
        lead=_hours(deployed_at, j.first_commit_at),
    )
