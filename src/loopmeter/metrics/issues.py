"""Issues: the bug-fix cycle, the ticket cycle and the reopen rate (docs/metrics.md "Flow metrics").

- a bug is an `issue` with a label `bug` (or `type: bug`, `kind/bug`, ...: a label whose last word
  is "bug"), or `type` = bug, or the target of a `fixes` link;
- its fix is the earliest merged pull request (or change) that links to it with `fixes` or
  `closes`; fix hours = fix merged - reported; shipped hours = the first production deployment
  containing the fix merge (else the first release containing it) - reported;
- ticket cycle: from the first transition into the "in progress" category (`to_category` =
  indeterminate) to the last transition into done, for tickets whose latest transition is into done;
- reopen rate: issues ever closed (a `closed` event or a transition into done) that were then
  reopened (a `reopened` event or a transition out of done after it).
"""

from __future__ import annotations

from datetime import datetime

from . import portable

BUG_LABEL = r"(^|[\s:/_-])bug$"


def bugs_sql(as_of: datetime, items: str = "items") -> str:
    a = portable.timestamp(as_of)
    return f"""
    with iss as (
        select item_id, repo, created_at, attrs from {items}
        where kind = 'issue' and created_at is not null and created_at <= {a}
    ),
    fixers as (
        select l.dst as issue_id, l.kind, f.item_id as fix_id, f.done_at as merged_at,
               coalesce(json_extract_string(f.attrs, '$.merge_sha'), json_extract_string(f.attrs, '$.sha')) as sha
        from links l join {items} f on f.item_id = l.src
        where l.kind in ('fixes', 'closes') and f.kind in ('pull_request', 'change')
          and f.done_at is not null and f.done_at <= {a}
          and (f.kind = 'change' or f.state = 'merged')
    ),
    -- Issues with a bug label: a lateral unnest, not an `exists` over an unnest of the outer row's
    -- labels, which Spark does not accept as a correlated subquery.
    labelled as (
        select distinct i.item_id
        from iss i, unnest(coalesce(json_extract_string(i.attrs, '$.labels[*]'), []::varchar[])) as t(l)
        where regexp_matches(lower(trim(t.l)), '{BUG_LABEL}')
    ),
    bug as (
        select i.* from iss i
        where lower(coalesce(json_extract_string(i.attrs, '$.type'), '')) = 'bug'
           or i.item_id in (select item_id from labelled)
           or exists (select 1 from links l where l.kind = 'fixes' and l.dst = i.item_id)
    ),
    fix as (
        select b.item_id, b.repo, b.created_at as reported_at,
               min(f.merged_at) as fixed_at, arg_min(f.sha, f.merged_at) as fix_sha
        from bug b left join fixers f on f.issue_id = b.item_id
        group by b.item_id, b.repo, b.created_at
    )
    select f.item_id, f.repo, f.reported_at, f.fixed_at,
        (epoch(f.fixed_at) - epoch(f.reported_at)) / 3600.0 as fix_hours,
        least(d.deployed_at, r.deployed_at) as shipped_at,
        (epoch(least(d.deployed_at, r.deployed_at)) - epoch(f.reported_at)) / 3600.0 as shipped_hours
    from fix f
    left join _lm_first_deploy d on d.sha = f.fix_sha and f.fixed_at >= d.repo_first_deploy_at
    left join _lm_first_release r on r.sha = f.fix_sha and f.fixed_at >= r.repo_first_deploy_at
    """


def tickets_sql(as_of: datetime, items: str = "items") -> str:
    a = portable.timestamp(as_of)
    return f"""
    with tr as (
        select e.item_id, e.ts, json_extract_string(e.attrs, '$.to_category') as to_cat,
               json_extract_string(e.attrs, '$.from_category') as from_cat
        from events e join {items} i on i.item_id = e.item_id
        where i.kind in ('issue', 'incident') and e.activity = 'transitioned' and e.ts <= {a}
    )
    select item_id,
        min(ts) filter (where to_cat = 'indeterminate') as started_at,
        max(ts) filter (where to_cat = 'done') as done_at,
        arg_max(to_cat, ts) as last_cat
    from tr group by item_id
    """


def reopen_sql(as_of: datetime, items: str = "items") -> str:
    a = portable.timestamp(as_of)
    return f"""
    with ev as (
        select e.item_id, e.ts, e.activity,
               json_extract_string(e.attrs, '$.to_category') as to_cat,
               json_extract_string(e.attrs, '$.from_category') as from_cat
        from events e join {items} i on i.item_id = e.item_id
        where i.kind in ('issue', 'incident') and e.ts <= {a}
    ),
    closes as (
        select item_id, ts from ev
        where activity = 'closed' or (activity = 'transitioned' and to_cat = 'done' and from_cat is distinct from 'done')
    ),
    reopens as (
        select item_id, ts from ev
        where activity = 'reopened' or (activity = 'transitioned' and from_cat = 'done' and to_cat is distinct from 'done')
    )
    select c.item_id, c.first_closed_at,
        exists (select 1 from reopens r where r.item_id = c.item_id and r.ts >= c.first_closed_at) as reopened
    from (select item_id, min(ts) as first_closed_at from closes group by item_id) c
    """
