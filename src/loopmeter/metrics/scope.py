"""The slice of changes a report is about: team, agent and landing dates (repositories are `repos`).

One filter for every consumer: `loopmeter report --team/--agent/--from/--to` and the dashboard's
`/api/report?team=...` both build a `Scope` and hand it to the report in its `Window`, and
`metrics.changes.changes` applies it to its *result*. Applying it last matters: whether a change
was reverted is judged against every change in the store (a revert by another team, or after
`--to`, still reverts it), and each repository's horizon is its own newest landing, not the
newest one in the slice.

- team: the change's author is a member of that `[[team]]` of loopmeter.toml (`unassigned`: of
  none), resolved to actor ids by `teams.resolve` when the report starts, with every id the store
  links to a member's (one person, several addresses); a change an agent account authored belongs
  to the team of the person who delegated it (metrics/delegation.py), as the lift designs cluster
  it;
- agent: the AI-assisted changes are those the agent took part in; changes of other agents only are
  left out, human changes stay as the comparison's baseline (a per-agent lift);
- since / until: the change landed in [since, until).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import ibis
import ibis.expr.types as ir

from ..errors import ConfigError
from ..teams import UNASSIGNED


@dataclass(frozen=True)
class Scope:
    team: str | None = None
    #: actor ids of `team`'s members; for `unassigned`, the ids of every member of any team (left out).
    team_actors: frozenset[str] = frozenset()
    #: the agent-authored changes delegated by someone among `team_actors` (`delegated_changes`).
    team_items: frozenset[str] = frozenset()
    agent: str | None = None
    since: date | None = None  # first landing day, inclusive
    until: date | None = None  # last landing day, inclusive

    @property
    def empty(self) -> bool:
        return self.team is None and self.agent is None and self.since is None and self.until is None

    def as_dict(self, repos: list[str] | None) -> dict:
        """The `filters` key of the report document."""
        return {"repo": list(repos or []), "team": self.team, "agent": self.agent,
                "from": self.since.isoformat() if self.since else None,
                "to": self.until.isoformat() if self.until else None}


def check_dates(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and since > until:
        raise ConfigError(f"--from {since.isoformat()} is after --to {until.isoformat()}")


def team_scope(team: str, by_actor: dict[str, str], names: list[str]) -> frozenset[str]:
    """Actor ids for `Scope.team_actors`, from `teams.resolve`'s actor -> team mapping."""
    if team != UNASSIGNED and team not in names:
        known = ", ".join(names + [UNASSIGNED]) if names else "none: loopmeter.toml defines no [[team]]"
        raise ConfigError(f"--team: {team!r} is not a team of loopmeter.toml (teams: {known})")
    if team == UNASSIGNED:
        return frozenset(by_actor)
    return frozenset(a for a, t in by_actor.items() if t == team)


def delegated_changes(con, actors: frozenset[str]) -> frozenset[str]:
    """The item ids of the changes an agent account authored whose delegator (metrics/delegation.py
    `delegators`: a co-author, merger or committer) is one of `actors`. Worked out on the store's
    own connection, or read from an export's `delegations` on the driver's: the same rows on every
    engine."""
    from .delegation import delegators  # here: delegation.py imports changes.py, which imports this

    if not actors:
        return frozenset()
    found = delegators(con)
    return frozenset(found.loc[found["delegator_id"].isin(actors), "item_id"])


def _day(d: date) -> ir.Value:
    return ibis.timestamp(datetime(d.year, d.month, d.day))


def apply(t: ir.Table, scope: Scope | None, *, time: str = "done_at", author: str = "author_id",
          agent: bool = True, delegated: ir.BooleanValue | None = None) -> ir.Table:
    """`t` cut to `scope`: rows whose `time` is in the dates and whose `author` is in the team
    (or, with `delegated`, that are the team's by delegation); with `agent`, also the agent rule
    (needs `ai_assisted`, `agents`, `author_agent`)."""
    if scope is None or scope.empty:
        return t
    if scope.since is not None:
        t = t.filter(t[time] >= _day(scope.since))
    if scope.until is not None:
        t = t.filter(t[time] < _day(scope.until + timedelta(days=1)))
    if scope.team is not None:
        ids = sorted(scope.team_actors)
        # A delegated change is its delegator's, and so are the agent account's commits on it
        # (`delegated`, from contributing_commits): the account is in no team.
        items = sorted(scope.team_items) if "item_id" in t.columns else []
        mine = t[author].isin(ids).fill_null(False) if ids else ibis.literal(False)
        if items:
            mine = mine | t.item_id.isin(items)
        if delegated is not None:
            mine = mine | delegated.fill_null(False)
        if scope.team == UNASSIGNED:
            t = t.filter(~mine) if ids or items else t
        else:
            t = t.filter(mine)
    if agent and scope.agent is not None:
        t = t.filter(~t.ai_assisted | t.agents.contains(scope.agent).fill_null(False)
                     | (t.author_agent == scope.agent).fill_null(False))
    return t
