"""The unit a lift design is run per: the repository (the default) or the team.

Adoption dates, the Simpson's-paradox check, the regression's fixed effects and the staggered
difference-in-differences all work per unit. The design code keys every frame on a column named
`repo`; with `--by team` that column holds the author's team (loopmeter.toml `[[team]]`, see
teams.py), with `--by codeowners` the team owning most of the change's lines
(codeowners_teams.py), and the repository moves to `source_repo`. One code path serves every
unit, and the per-repository output stays exactly what it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from ..attribution import MIN_ADOPTION_SHARE
from ..stats.lift import detect_adoption
from ..teams import UNASSIGNED, Team, resolve
from ..metrics import adoption_evidence, portable
from ..metrics.changes import Window, salt_free_author_keys
from .inputs import Adoption, weekly_activity


@dataclass(frozen=True)
class Unit:
    key: str = "repo"  # "repo" or "team": the name of the unit in the JSON
    noun: str = "repository"
    plural: str = "repositories"
    names: tuple[str, ...] = ()  # the teams found in the data (team unit only)
    team_of: Mapping[str, str] = field(default_factory=dict)  # salt-free author key -> team
    #: With teams from CODEOWNERS: change item id -> the team owning most of its changed lines.
    team_of_item: Mapping[str, str] | None = None
    #: Members of loopmeter.toml who are nobody in this store, by position (teams.resolve).
    unmatched: tuple[str, ...] = ()

    @property
    def by_team(self) -> bool:
        return self.key == "team"

    def labels(self, repos: list[str]) -> list[str]:
        """The units adoption dates are given and reported for."""
        return list(self.names) if self.by_team else list(repos)

    def changes(self, df: pd.DataFrame) -> pd.DataFrame:
        """A change frame (inputs.change_frame) keyed on this unit."""
        if not self.by_team:
            return df
        if self.team_of_item is not None:
            teams = df["item_id"].map(lambda i: self.team_of_item.get(i, UNASSIGNED)).astype(object)
            return df.assign(source_repo=df["repo"], repo=teams)
        return df.assign(source_repo=df["repo"], repo=self.team_column(df["author_id"]))

    def weekly(self, con, window: Window, repos: list[str], *, active: pd.DataFrame | None = None) -> pd.DataFrame:
        """inputs.weekly_activity keyed on this unit (`active`: its by-repository active weeks)."""
        if self.team_of_item is not None:
            from ..metrics.codeowners_teams import weekly_by_change_team

            return weekly_by_change_team(con, window, repos, self.team_of_item)
        return self.activity(weekly_activity(con, window, repos, active=active))

    def activity(self, act: pd.DataFrame) -> pd.DataFrame:
        """Weekly activity (inputs.weekly_activity) keyed on this unit: an author active in
        two repositories in one week is one contributor-week of their team."""
        if not self.by_team:
            return act
        t = act.assign(repo=self.team_column(act["author_id"]))
        return t.groupby(["repo", "author_id", "week"], as_index=False, sort=True)["validated"].sum()

    def team_column(self, authors: pd.Series) -> pd.Series:
        return authors.map(lambda a: self.team_of.get(a, UNASSIGNED)).astype(object)


REPO = Unit()


def team_unit(con, teams: list[Team], config_path, frame: pd.DataFrame) -> Unit:
    """The team unit over `frame` (a change frame with salt-free authors): members resolved to
    stored actors (ConfigError for a member who is nobody in the store), teams listed in the
    order of loopmeter.toml that have changes here, then `unassigned` when anyone is in no team."""
    raw = portable.store_connection(con)
    by_actor, unmatched = resolve(raw, teams, config_path)
    keys = salt_free_author_keys(con)
    team_of = {keys.get(a, a): t for a, t in by_actor.items()}
    unit = Unit("team", "team", "teams", (), team_of)
    present = set(unit.team_column(frame["author_id"])) if len(frame) else set()
    names = [t.name for t in teams if t.name in present] + ([UNASSIGNED] if UNASSIGNED in present else [])
    return Unit("team", "team", "teams", tuple(names), team_of, unmatched=tuple(unmatched))


def team_summary(frame: pd.DataFrame, names: tuple[str, ...]) -> list[dict]:
    """Per team (frame keyed by unit, teams in `names` order): how many landed changes and authors
    it holds, so that the `unassigned` share is reported rather than silently analysed."""
    done = frame[frame["observed"]]
    out = []
    for team in names:
        t = done[done["repo"] == team]
        out.append({"team": team, "changes": int(len(t)), "authors": int(t["author_id"].nunique())})
    return out


def unassigned_warning(summary: list[dict]) -> str | None:
    """A sentence when most landed changes belong to no team: per-team results then describe a
    minority of the work (e.g. CODEOWNERS that existed for a short while, or a partial mapping)."""
    total = sum(t["changes"] for t in summary)
    left = sum(t["changes"] for t in summary if t["team"] == UNASSIGNED)
    if total and left / total >= 0.5:
        return (f"{left:,} of {total:,} changes ({left / total:.0%}) belong to no team ('{UNASSIGNED}'): "
                "per-team results describe the rest of the work only")
    return None


def team_warnings(unit: Unit, summary: list[dict]) -> list[str]:
    """The sentences `lift --by team` and the report both show: members who are nobody in this
    store (by position), and most changes in no team."""
    out = [w for w in [unassigned_warning(summary)] if w]
    if unit.unmatched:
        out.append(f"{len(unit.unmatched)} team member(s) in loopmeter.toml match no person in this store and "
                   f"were not used: {'; '.join(unit.unmatched)}")
    return out


def detect_by_unit(frame: pd.DataFrame, names: list[str], unit: Unit,
                   min_share: float = MIN_ADOPTION_SHARE) -> Adoption:
    """Each unit's own adoption date (the same rule as lift.adoption, on the same changes: every
    non-bot change landed by as_of), else the pooled date for all, as inputs.detect_adoption
    does per repository."""
    done = frame[frame["observed"]]
    rule = adoption_evidence.rule(min_share)
    pooled = _detect(done, min_share)
    if len(names) > 1:
        per = {}
        for n in names:
            d = _detect(done[done["repo"] == n], min_share)
            if d is not None:
                per[n] = d
        if per:
            return Adoption(default=None, per_repo=per, source=f"detected per {unit.noun}",
                            rule=f"{rule}; applied to each {unit.noun} on its own", unit=unit.key)
    return Adoption(default=pooled, source="detected" if pooled else None, rule=rule, unit=unit.key)


def _detect(done: pd.DataFrame, min_share: float) -> date | None:
    if done.empty:
        return None
    day = pd.to_datetime(done["done_at"]).dt.date
    week = day.map(lambda d: d - timedelta(days=d.weekday()))
    g = done.assign(week=week).groupby("week")["ai_assisted"].agg(["sum", "count"]).sort_index()
    return detect_adoption(list(g.index), g["sum"].astype(int).to_numpy(), g["count"].astype(int).to_numpy(),
                           min_share=min_share)
