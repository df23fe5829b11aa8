"""DORA keys over production deployments (docs/metrics.md "Flow metrics").

- deployment frequency: distinct days with a successful production deployment, per ISO week;
- lead time for changes: first commit -> first production deployment containing the merge
  (pull requests: pr_cycle.pull_requests `lead`);
- change failure rate: successful production deployments followed within `failure_window_hours` by
  a revert of a change that deployment shipped, a hotfix merged into the same repository, or an
  incident (linked to the deployment or to a change it shipped; or, with incident_rule="repo", any
  incident opened in the same repository). Deployments younger than the window are pending;
- failed-deployment recovery time: from a failed deployment (a production `deploy_failed`, or a
  deployment judged failed above) to the next successful production deployment of the repository
  after the failure was known (the failed attempt itself, or the first failure signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import portable
from ..errors import ConfigError
from .deploys import production_attempts_sql

INCIDENT_RULES = ("linked", "repo")


@dataclass(frozen=True)
class FailureRule:
    """What makes a production deployment a failed change (`--failure-window`, `--incident-rule`).

    24 hours by default: most reverts and hotfixes of a bad deployment land within a working day,
    and a longer window starts to blame a deployment for the next one's problems."""

    window_hours: float = 24.0
    incident_rule: str = "linked"  # "linked" or "repo"
    hotfix_word: str = "hotfix"

    def __post_init__(self) -> None:
        if isinstance(self.window_hours, bool) or not self.window_hours > 0 or self.window_hours > 24 * 365:
            raise ConfigError(f"--failure-window: must be a positive number of hours (at most a year), not {self.window_hours!r}")
        if self.incident_rule not in INCIDENT_RULES:
            raise ConfigError(f"--incident-rule: must be one of {', '.join(INCIDENT_RULES)}, not {self.incident_rule!r}")


#: Every verdict `deployments_sql` gives a deployment attempt.
VERDICTS = ("ok", "failed", "failed_attempt", "pending")


def deployments_sql(as_of: datetime, rule: FailureRule, items: str = "items") -> str:
    """One row per production deployment attempt (success or failure) up to as_of, with its
    failure verdict and recovery time. Needs deploys.register on the connection."""
    a = portable.timestamp(as_of)
    w = f"interval {float(rule.window_hours) * 3600:.0f} second"
    word = rule.hotfix_word.lower().replace("'", "''")
    incident_repo = "true" if rule.incident_rule == "repo" else "false"
    return f"""
    with dep as (
        -- Shipped at its first success status; a deployment that only failed, at its first failure
        -- (deploys.production_attempts_sql, the rule the deploy phase uses too).
        select item_id, repo, sha, coalesce(shipped_at, failed_at) as ts, shipped_at is not null as ok
        from ({production_attempts_sql(items)})
        where coalesce(shipped_at, failed_at) <= {a}
    ),
    units as (
        -- Everything with a landing sha: pull requests (merge sha) and git changes.
        select item_id, repo, coalesce(json_extract_string(attrs, '$.merge_sha'), json_extract_string(attrs, '$.sha')) as sha
        from {items} where kind in ('pull_request', 'change')
    ),
    shipped as (
        select u.item_id, f.deployment_id from units u join _lm_first_deploy f on f.sha = u.sha
    ),
    reverts as (
        select s.deployment_id, r.done_at as sig_at
        from links l join shipped s on s.item_id = l.dst join {items} r on r.item_id = l.src
        where l.kind = 'reverts' and r.done_at is not null
    ),
    hotfixes as (
        -- The repository of a hotfix is that of the deployment that later shipped it when there is
        -- one (a git change names its repository differently from a tracker), else its own.
        select i.item_id, coalesce(f.deploy_repo, i.repo) as repo, i.done_at as sig_at from {items} i
        left join _lm_first_deploy f
          on f.sha = coalesce(json_extract_string(i.attrs, '$.merge_sha'), json_extract_string(i.attrs, '$.sha'))
        where ((i.kind = 'pull_request' and i.state = 'merged') or i.kind = 'change') and i.done_at is not null
          and (lower(coalesce(i.title, '')) like '%{word}%'
               or lower(coalesce(json_extract_string(i.attrs, '$.branch'), '')) like '%{word}%'
               or lower(coalesce(cast(json_extract(i.attrs, '$.labels') as varchar), '')) like '%{word}%')
    ),
    incidents as (
        -- An incident that loopmeter.toml links to a repository ([[incidents.service]]) is linked to
        -- that repository's deployments, whatever the incident rule.
        select item_id, repo, created_at as sig_at,
               coalesce(json_extract_string(attrs, '$.linked_by') = 'config', false) as by_config
        from {items} where kind = 'incident' and created_at is not null),
    related as (
        -- items an incident can be linked to for a deployment: the deployment and what it shipped
        select item_id as deployment_id, item_id as rel from dep
        union all select deployment_id, item_id from shipped
    ),
    linked as (
        -- (deployment, item at the other end of a link from something related to it); a change
        -- that fixes or closes the incident is its cure, not its cause. A join, not an `exists` in
        -- the join below: Spark rejects a correlated subquery that reads both sides of a join.
        select rl.deployment_id, l.dst as incident_id from links l join related rl on l.src = rl.rel
        where l.kind not in ('fixes', 'closes')
        union
        select rl.deployment_id, l.src from links l join related rl on l.dst = rl.rel
        where l.kind not in ('fixes', 'closes')
    ),
    signals as (
        select d.item_id, min(r.sig_at) as sig_at from dep d join reverts r on r.deployment_id = d.item_id
        where d.ok and r.sig_at > d.ts and r.sig_at <= d.ts + {w} group by d.item_id
        union all
        select d.item_id, min(h.sig_at) from dep d join hotfixes h on h.repo = d.repo
        where d.ok and h.sig_at > d.ts and h.sig_at <= d.ts + {w} group by d.item_id
        union all
        select d.item_id, min(x.sig_at) from dep d join incidents x
          on ({incident_repo} or x.by_config) and x.repo = d.repo
        where d.ok and x.sig_at > d.ts and x.sig_at <= d.ts + {w} group by d.item_id
        union all
        select d.item_id, min(x.sig_at) from dep d join linked k on k.deployment_id = d.item_id
        join incidents x on x.item_id = k.incident_id
        where d.ok and x.sig_at > d.ts and x.sig_at <= d.ts + {w} group by d.item_id
    ),
    judged as (
        select d.*, s.first_signal,
            case when not d.ok then 'failed_attempt'
                 when s.first_signal is not null then 'failed'
                 when d.ts + {w} > {a} then 'pending'
                 else 'ok' end as verdict
        from dep d left join (select item_id, min(sig_at) as first_signal from signals group by item_id) s using (item_id)
    )
    select j.item_id, j.repo, j.sha, j.ts, j.ok, j.verdict, j.first_signal,
        (select min(n.ts) from dep n where n.ok and n.repo = j.repo
            and n.ts > coalesce(j.first_signal, j.ts)) as recovered_at
    from judged j
    """


def deployments(con, as_of: datetime, rule: FailureRule, items: str = "items"):
    t = portable.sql(con, deployments_sql(as_of, rule, items))
    return t.mutate(
        recovery=(t.recovered_at.epoch_seconds() - t.ts.epoch_seconds()).cast("float64") / 3600.0,
        week=t.ts.truncate("W").cast("date"),
        day=t.ts.cast("date"),
    )


def change_leads_sql(as_of: datetime, items: str = "items") -> str:
    """Lead time (hours) of git changes that no pull request is `same_as` (direct pushes, or
    repositories whose tracker is not ingested): started_at -> first production deployment of
    their landing sha, with the same first-visible-deployment rule as pull requests."""
    a = portable.timestamp(as_of)
    return f"""
    select c.item_id, (epoch(f.deployed_at) - epoch(c.started_at)) / 3600.0 as lead
    from {items} c join _lm_first_deploy f on f.sha = json_extract_string(c.attrs, '$.sha')
    left join actors ak on ak.actor_id = c.author_id
    where c.kind = 'change' and c.done_at <= {a} and c.started_at is not null
      and coalesce(ak.kind, 'human') <> 'bot'
      and c.done_at >= f.repo_first_deploy_at and f.deployed_at >= c.started_at
      and not exists (select 1 from links l where l.kind = 'same_as' and l.dst = c.item_id)
    """
