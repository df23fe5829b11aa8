"""What a report's slice (`--repo`, `--team`, `--agent`; metrics/scope.py) does to the loops that
are not git: event logs, MLflow experiments and incidents. Each is cut where its data can say who
or where, and otherwise left out of the slice with one line saying why: never shown whole under a
filter it ignored (docs/metrics.md "Slices of the loops").

- **event logs**: `--team T` keeps the cases whose team (the `[[log]] team_attribute` of the case,
  else of its events; the attribute `cluster = "team"` reads) is T (`unassigned`: cases with none);
  a log that records no team at all is left out. `--agent A` keeps the cases A took part in up to
  done, and the cases no agent handled; cases only other agents handled are left out (as changes
  are: a per-agent lift). `--repo` leaves logs out: a case has no repository.
- **experiments**: left out under any of the three: a run has no repository or team, and an
  agent-launched run is recognised by a tag, not by which agent.
- **incidents**: `--repo` and `--team` keep the incidents `[[incidents.service]]` links to them;
  `--agent` leaves them out (an incident is nobody's AI use).

`--from/--to` cut every loop (metrics/log_loops.py `in_dates`, metrics/experiments.py `in_dates`,
incidents by their trigger day). Pure but for the one query of `agent_cases`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..store.db import Store
from ..teams import UNASSIGNED

INCIDENT_FORMATS = ("pagerduty-csv", "opsgenie-csv", "pagerduty-api", "opsgenie-api")
NO_TEAM = "(no team)"  # metrics/log_loops.py case_frame's team of a case that records none


@dataclass(frozen=True)
class LoopSlice:
    """The report's slice as the loops see it (None: not sliced by that)."""

    repos: tuple[str, ...] = ()
    team: str | None = None
    agent: str | None = None

    def log_left_out(self, fmt: str = "") -> str | None:
        """Why an event log of format `fmt` is left out of this slice (None: it can be cut)."""
        if self.repos and fmt in INCIDENT_FORMATS:
            return "the loop view of an incident log is not cut by --repo; its incidents are, under incidents"
        if self.repos:
            return "an event log's cases have no repository, so --repo cannot cut them"
        return None

    def experiment_left_out(self) -> str | None:
        if self.repos:
            return "an MLflow run has no repository, so --repo cannot cut the runs"
        if self.team is not None:
            return "an MLflow run has no team, so --team cannot cut the runs"
        if self.agent is not None:
            return "an agent-launched run is recognised by a tag or user pattern, not by which agent, so --agent cannot cut the runs"
        return None

    def incidents_left_out(self) -> str | None:
        if self.agent is not None:
            return "an incident is not attributed to any agent, so --agent cannot cut them"
        return None


def cut_team(df: pd.DataFrame, team: str, team_attribute: str) -> tuple[pd.DataFrame, str | None]:
    """(the cases of `team`, None), or (df, why) when the log records no team to cut by."""
    if (df["team"] == NO_TEAM).all():
        return df, (f"the log records no team (no case or event attribute {team_attribute!r}, the [[log]] "
                    "team_attribute), so --team cannot cut its cases")
    keep = df["team"] == NO_TEAM if team == UNASSIGNED else df["team"] == team
    out = df[keep].copy()
    out.attrs.update(df.attrs)
    return out, None


def agent_names(kinds: pd.DataFrame) -> dict[str, str]:
    """actor_id -> agent name of a log's agent resources (kinds: metrics/log_loops.py
    `resource_kinds`): the `[[log.resource]]` rule's or the signature list's `agent`, else the
    resource's own name (a rule that says `kind = "agent"` and names no agent)."""
    out = {}
    for a, n, k, g in zip(kinds["actor_id"], kinds["name"], kinds["kind"], kinds["agent"]):
        if k == "agent":
            name = g if isinstance(g, str) and g else n
            if isinstance(name, str) and name:
                out[str(a)] = name
    return out


def agent_cases(store: Store, log: str, kinds: pd.DataFrame, agent: str, engine=None) -> pd.DataFrame:
    """item_id, first_ts: the first event of each case of `log` performed by a resource of `agent`
    (`agent_names`); read on `engine` when given (Spark over the Parquet export)."""
    from . import portable

    ids = [a for a, name in agent_names(kinds).items() if name == agent]
    if not ids:
        return pd.DataFrame({"item_id": pd.Series(dtype=object), "first_ts": pd.Series(dtype="datetime64[us]")})
    df = portable.frame(store.con, engine, f"""select e.item_id, min(e.ts) as first_ts from events e
        join event_log_items li on li.item_id = e.item_id
        where li.log = {portable.literal(log)} and e.actor_id in ({", ".join(portable.literal(a) for a in ids)})
        group by e.item_id""")
    df["first_ts"] = portable.naive_utc(df["first_ts"])
    return df


def cut_agent(df: pd.DataFrame, took_part: pd.DataFrame) -> pd.DataFrame:
    """The cases `took_part` (agent_cases) says the agent acted in by done, and every case no agent
    handled; an AI-handled case only other agents worked on is left out."""
    first = df["item_id"].map(dict(zip(took_part["item_id"], took_part["first_ts"])))
    by_it = first.notna() & df["done_ts"].notna() & (pd.to_datetime(first) <= df["done_ts"])
    out = df[~df["ai"] | by_it].copy()
    out.attrs.update(df.attrs)
    return out
