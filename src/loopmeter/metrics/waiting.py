"""Waiting on humans: the hours a pull request spends where the next move belongs to a person.

States (docs/metrics.md "Flow metrics"):
- review_requested: from a `review_requested` of a person (not of a bot or AI reviewer) until the
  next review by a person other than the author (bots and agents do not count), or the merge /
  close; overlapping requests count once;
- approved_not_merged: from an approval by a person other than the author until the merge / close,
  or until a later `changes_requested` / `dismissed` review (a new approval starts a new stretch);
- ci_green_not_merged: from the moment CI was green on the pull request's head sha (every workflow
  that ran on that sha has passed; the time is the last of their first passes) until the merge.

Closed and reopened: a `closed` pauses every state and a `reopened` resumes the ones still pending
(a review request no person has answered since, an approval not since changes-requested or
dismissed, CI green on the head); a state resolved while the pull request was closed does not
resume. So the hours of a state are those of its pending time that fell in the open periods.

Only pull requests opened by as_of count (a PR not yet opened waits on no one). One still open
for review at as_of (metrics/open_prs.py) whose stretch has not ended yet waits on until as_of: the
stretch is right-censored there (it has lasted *at least* that long). A stretch of a pull request
merged or closed by as_of that never ended (a request after the merge) is no wait.
"""

from __future__ import annotations

from datetime import datetime

from . import portable
from .open_prs import open_for_review_at_sql, opened_by_sql
from .pr_cycle import opened_as_draft_sql

STATES = ("review_requested", "approved_not_merged", "ci_green_not_merged")


def _stretches_ctes(as_of: datetime, items: str, stretches: str | None = None) -> str:
    """The CTEs up to `stretches` (state, item_id, s, e, censored) and `pr` (with `open_now`). With
    `stretches`, the name of a table of `stretches_sql` rows already computed (the flow section
    keeps one), `stretches` reads it instead of deriving it again (the costliest part on Spark)."""
    base, rest = _ctes(as_of, items)
    return base + (f""",
    stretches as (select state, item_id, s, e, censored from {stretches})""" if stretches else rest)


def _ctes(as_of: datetime, items: str) -> tuple[str, str]:
    """(`pr` and `ev`, the CTEs after them up to `stretches`) of `_stretches_ctes`."""
    a = portable.timestamp(as_of)
    base = f"""
    with pr as (
        select i.item_id, i.author_id, json_extract_string(i.attrs, '$.head_sha') as head_sha,
               try_cast(json_extract_string(i.attrs, '$.number') as bigint) as number,
               {opened_as_draft_sql('i')} as opened_as_draft,
               {open_for_review_at_sql('i', a)} as open_now
        from {items} i where {opened_by_sql('i', a)}
    ),
    ev as (
        select e.item_id, e.ts, e.activity, e.actor_id, json_extract_string(e.attrs, '$.state') as st,
               json_extract_string(e.attrs, '$.sha') as sha, json_extract_string(e.attrs, '$.reviewer') as reviewer,
               e.actor_id is not null and e.actor_id is distinct from pr.author_id
                 and coalesce(ak.kind, 'human') = 'human' as by_other_person
        from events e join pr using (item_id) left join actors ak on ak.actor_id = e.actor_id
        where e.ts <= {a}
    )"""
    return base, f""",
    -- The pull request's open periods up to as_of: from its start (or a `reopened`) to the next
    -- `closed` or `merged`, else as_of. A close pauses every wait; a reopen resumes those whose
    -- start came before it and that nothing resolved since (a merge is never followed by a reopen).
    period_start as (
        -- the first period starts before any event (not '-infinity': Spark's timestamps have none)
        select item_id, timestamp '0001-01-01 00:00:00' as ps from pr
        union all select item_id, ts from ev where activity = 'reopened'
    ),
    period_end as (
        select p.item_id, p.ps,
               (select min(x.ts) from ev x where x.item_id = p.item_id
                and x.activity in ('closed', 'merged') and x.ts > p.ps) as closed_at
        from period_start p
    ),
    -- `open_end`: the period runs on past as_of (no close or merge by then, even one at as_of).
    periods as (select item_id, ps, coalesce(closed_at, {a}) as pe, closed_at is null as open_end from period_end),
    rr_end as (select item_id, ts from ev where activity = 'reviewed' and by_other_person),
    rr as (
        select r.item_id, r.ts as s,
               (select min(x.ts) from rr_end x where x.item_id = r.item_id and x.ts >= r.ts) as e
        from ev r left join actors rk on rk.actor_id = r.reviewer
        -- a review asked of a bot or an AI reviewer does not wait on a person
        where r.activity = 'review_requested' and coalesce(rk.kind, 'human') = 'human'
    ),
    ap_end as (select item_id, ts from ev where activity = 'reviewed' and st in ('changes_requested', 'dismissed')),
    ap as (
        select r.item_id, r.ts as s,
               (select min(x.ts) from ap_end x where x.item_id = r.item_id and x.ts > r.ts) as e
        from ev r where r.activity = 'reviewed' and r.st = 'approved' and r.by_other_person
    ),
    -- Each pending state runs from its start to what resolved it (e: null while unresolved),
    -- counted only inside the open periods.
    pending as (
        select 'review_requested' as state, item_id, s, e from rr
        union all
        select 'approved_not_merged', item_id, s, e from ap
    ),
    -- Starts that share the same end are one stretch (from the earliest of them); stretches with
    -- different ends cannot overlap, because every start after an end has a later end. A piece
    -- that reaches as_of unresolved and in an open period is censored there, when the pull request
    -- is still open then; one that reaches as_of otherwise (a request after the merge) is no wait.
    pieces as (
        select x.state, x.item_id, greatest(x.s, p.ps) as s, least(coalesce(x.e, {a}), p.pe) as e,
               x.e is null and p.open_end as censored
        from pending x join periods p using (item_id)
        where greatest(x.s, p.ps) < least(coalesce(x.e, {a}), p.pe)
           -- a wait resolved the moment it began is a wait of 0 h (in the period it falls in)
           or (x.s = x.e and x.s between p.ps and p.pe)
    ),
    cut as (
        select x.state, x.item_id, x.s, x.e, x.censored
        from pieces x join pr using (item_id) where not x.censored or pr.open_now
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
    stretches as (
        select state, item_id, min(s) as s, e, bool_and(censored) as censored from cut group by state, item_id, e
        union all
        -- CI green from the moment the head went green, inside the open periods: a reopen resumes
        -- it while the head's CI is still green (the head is the stored one: see the docs).
        select 'ci_green_not_merged', g.item_id, greatest(g.green_at, p.ps), p.pe, p.open_end
        from green g join pr using (item_id) join periods p using (item_id)
        where g.all_pass and (greatest(g.green_at, p.ps) < p.pe or g.green_at = p.pe)
          and (not p.open_end or pr.open_now)
    )"""


def stretches_sql(as_of: datetime, items: str = "items") -> str:
    """One row per waiting stretch: state, item_id, s, e (as_of when censored), censored."""
    return _stretches_ctes(as_of, items) + "\n    select state, item_id, s, e, censored from stretches"


def waiting_sql(as_of: datetime, items: str = "items", stretches: str | None = None) -> str:
    """One row per pull request: hours in each waiting state up to as_of (null when it never was in
    it), whether it is open at as_of (and a draft then), and `<state>_now`: the hours of the stretch it is still in at
    as_of (null when it is not in that state then)."""
    def total(st: str) -> str:
        return f"sum(epoch(e) - epoch(s)) filter (where state = '{st}') / 3600.0 as {st}"

    def now(st: str) -> str:
        return f"max(epoch(e) - epoch(s)) filter (where state = '{st}' and censored) / 3600.0 as {st}_now"

    cols = ",\n            ".join([total(st) for st in STATES] + [now(st) for st in STATES])
    return _stretches_ctes(as_of, items, stretches) + f""",
    sums as (
        select item_id,
            {cols}
        from stretches group by item_id
    ),
    -- A draft at as_of: opened as one and not marked ready since, or converted back to draft last.
    draft as (
        select item_id, arg_max(activity = 'converted_to_draft', ts) as draft
        from ev where activity in ('ready_for_review', 'converted_to_draft') group by item_id
    )
    select pr.item_id, pr.number, pr.open_now, pr.open_now and coalesce(d.draft, pr.opened_as_draft) as draft_now,
        {", ".join(f"sums.{st}" for st in STATES)}, {", ".join(f"sums.{st}_now" for st in STATES)}
    from pr left join sums using (item_id) left join draft d using (item_id)
    """


def weekly_sql(as_of: datetime, items: str = "items", stretches: str | None = None) -> str:
    """Waiting hours per pull request and ISO week (Monday 00:00 UTC), one column per state: each
    stretch is split at the week boundaries it crosses, so hours count in the week they passed in."""
    split = ",\n            ".join(
        f"coalesce(sum(hours) filter (where state = '{st}'), 0.0) as {st}" for st in STATES)
    return _stretches_ctes(as_of, items, stretches) + f""",
    weeks as (
        select state, item_id, s, e, unnest(generate_series(date_trunc('week', s), e, interval 7 day)) as wk
        from stretches
    ),
    parts as (
        select state, item_id, cast(wk as date) as week,
               (epoch(least(e, wk + interval 7 day)) - epoch(greatest(s, wk))) / 3600.0 as hours
        from weeks
    )
    select item_id, week,
            {split}
    from parts where hours > 0 group by item_id, week
    """


def waiting(con, as_of: datetime, items: str = "items", stretches: str | None = None):
    """The waiting hours per pull request as an Ibis table (item_id + one column per state)."""
    return portable.sql(con, waiting_sql(as_of, items, stretches))
