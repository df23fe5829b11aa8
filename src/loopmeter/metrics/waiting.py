"""Waiting on humans: the hours a pull request spends where the next move belongs to a person.

States (docs/metrics.md "Flow metrics"):
- review_requested: from a `review_requested` of a person (not of a bot or AI reviewer) until the
  next review by a person other than the author (bots and agents do not count), or the merge /
  close; overlapping requests count once;
- approved_not_merged: from an approval by a person other than the author until the merge / close,
  or until a later `changes_requested` / `dismissed` review (a new approval starts a new stretch);
- ci_green_not_merged: from the moment CI was green on the pull request's head sha (every workflow
  that ran on that sha has passed; the time is the last of their first passes) until the merge.
"""

from __future__ import annotations

from datetime import datetime

from .pr_cycle import _lit

STATES = ("review_requested", "approved_not_merged", "ci_green_not_merged")


def waiting_sql(as_of: datetime, items: str = "items") -> str:
    """One row per pull request with hours in each waiting state (null when it never was in it)."""
    a = _lit(as_of)
    return f"""
    with pr as (
        select item_id, author_id, json_extract_string(attrs, '$.head_sha') as head_sha
        from {items} where kind = 'pull_request'
    ),
    ev as (
        select e.item_id, e.ts, e.activity, e.actor_id, json_extract_string(e.attrs, '$.state') as st,
               json_extract_string(e.attrs, '$.sha') as sha, json_extract_string(e.attrs, '$.reviewer') as reviewer,
               e.actor_id is not null and e.actor_id is distinct from pr.author_id
                 and coalesce(ak.kind, 'human') = 'human' as by_other_person
        from events e join pr using (item_id) left join actors ak on ak.actor_id = e.actor_id
        where e.ts <= {a}
    ),
    stop as (select item_id, ts from ev where activity in ('merged', 'closed')),
    rr_end as (
        select item_id, ts from ev where activity = 'reviewed' and by_other_person
        union all select item_id, ts from stop
    ),
    rr as (
        select r.item_id, r.ts as s,
               (select min(x.ts) from rr_end x where x.item_id = r.item_id and x.ts >= r.ts) as e
        from ev r left join actors rk on rk.actor_id = r.reviewer
        -- a review asked of a bot or an AI reviewer does not wait on a person
        where r.activity = 'review_requested' and coalesce(rk.kind, 'human') = 'human'
    ),
    ap_end as (
        select item_id, ts from ev where activity = 'reviewed' and st in ('changes_requested', 'dismissed')
        union all select item_id, ts from stop
    ),
    ap as (
        select r.item_id, r.ts as s,
               (select min(x.ts) from ap_end x where x.item_id = r.item_id and x.ts > r.ts) as e
        from ev r where r.activity = 'reviewed' and r.st = 'approved' and r.by_other_person
    ),
    -- Starts that share the same end are one stretch (from the earliest of them); stretches with
    -- different ends cannot overlap, because every start after an end has a later end.
    stretches as (
        select 'review_requested' as state, item_id, min(s) as s, e from rr where e is not null group by item_id, e
        union all
        select 'approved_not_merged', item_id, min(s), e from ap where e is not null group by item_id, e
    ),
    head as (
        select pr.item_id,
               coalesce(pr.head_sha, (select arg_max(sha, ts) from ev c where c.item_id = pr.item_id
                                      and c.activity = 'committed')) as sha,
               (select min(ts) from ev m where m.item_id = pr.item_id and m.activity = 'merged') as merged_at
        from pr
    ),
    verdicts as (
        select json_extract_string(i.attrs, '$.sha') as sha, json_extract_string(i.attrs, '$.workflow') as workflow,
               min(e.ts) filter (where e.activity = 'ci_passed') as first_pass
        from {items} i left join events e on e.item_id = i.item_id and e.ts <= {a}
        where i.kind = 'ci_run' and i.created_at <= {a}
        group by 1, 2
    ),
    green as (
        select h.item_id, h.merged_at, max(v.first_pass) as green_at, bool_and(v.first_pass is not null) as all_pass
        from head h join verdicts v on v.sha = h.sha
        group by h.item_id, h.merged_at
    ),
    sums as (
        select item_id,
            sum(epoch(e) - epoch(s)) filter (where state = 'review_requested') / 3600.0 as review_requested,
            sum(epoch(e) - epoch(s)) filter (where state = 'approved_not_merged') / 3600.0 as approved_not_merged
        from stretches group by item_id
    )
    select pr.item_id, sums.review_requested, sums.approved_not_merged,
        case when g.all_pass and g.green_at <= g.merged_at
             then (epoch(g.merged_at) - epoch(g.green_at)) / 3600.0 end as ci_green_not_merged
    from pr left join sums using (item_id) left join green g using (item_id)
    """


def waiting(con, as_of: datetime, items: str = "items"):
    """The waiting hours per pull request as an Ibis table (item_id + one column per state)."""
    return con.sql(waiting_sql(as_of, items))
