"""Teams from CODEOWNERS (`loopmeter lift --by codeowners`): a change belongs to the team that owns
most of the lines it changed.

Each change is judged by the CODEOWNERS in force at its landing commit: every version along the
ingested commit's first-parent line (`repos.head_sha`, in the clone at `repos.path`) is read by
codeowners_history.py, the first found of GitHub's and GitLab's locations at each point, and parsed by
legibility/codeowners.py as the forge reading it there does (GitHub: the last matching rule wins;
GitLab: every section's last matching entry applies, section default owners included). Only team
owners count (`@org/team`, `@group/subgroup`: an owner with a `/`); a path owned by several teams
(on one line, or in several GitLab sections) has its lines split equally between them. A changed line is an added or deleted line of the change's commits (a
binary file counts as one). The change goes to the team with most lines (a tie to the first name
in sorted order); a change with no team-owned line, or that landed while there was no CODEOWNERS
(before the first, after a deletion), to `unassigned` (docs/metrics.md).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

import pandas as pd

from ..errors import ConfigError
from ..legibility.codeowners import LOCATIONS, Codeowners, Rule, owners_of, parse
from ..teams import UNASSIGNED
from .changes import Window, changes, salt_free_author_keys, with_salt_free_authors
from .delegation import agent_keys, by_delegator
from .codeowners_history import codeowners_history


def teams_among(owners: tuple[str, ...]) -> list[str]:
    """The team owners among `owners`, without the leading @ ("acme/payments"); `@@role` owners
    (GitLab roles) and people are not teams."""
    return sorted({o[1:] for o in owners if o.startswith("@") and not o.startswith("@@") and "/" in o})


def owner_teams(rule: Rule | None) -> list[str]:
    """The team owners of a rule, without the leading @ ("acme/payments")."""
    return [] if rule is None else teams_among(rule.owners)


def owning_team(lines_by_path: dict[str, float], rules: list[Rule]) -> str:
    """The team owning most of the changed lines (ties: the first name in sorted order). A path's
    teams are those of every owner that applies to it (codeowners.owners_of: under GitLab sections,
    the union over sections); its lines are split equally between them."""
    per: dict[str, float] = defaultdict(float)
    for path, n in lines_by_path.items():
        teams = teams_among(owners_of(rules, path))
        for t in teams:
            per[t] += n / len(teams)
    if not per:
        return UNASSIGNED
    return min(per, key=lambda t: (-per[t], t))


def change_teams(con, repos: list[str]) -> tuple[dict[str, str], list[str]]:
    """change item id -> owning team, and every team any CODEOWNERS version names in these
    repositories. Each change is judged by the CODEOWNERS in force at its landing commit
    (codeowners_history.py); a change that landed while there was none is `unassigned`."""
    raw = getattr(con, "con", con)
    histories: dict[str, tuple[list[int], list[Codeowners | None]]] = {}
    positions: dict[str, dict[str, int]] = {}
    for repo, path, sha in raw.execute("select repo, path, head_sha from repos where repo in (select unnest(?))",
                                       [repos]).fetchall():
        h = codeowners_history(repo, path, sha)
        if any(v.text is not None for v in h.versions):
            parsed: dict[tuple[str | None, str | None], Codeowners | None] = {}
            for v in h.versions:  # a file moved back and forth, or reverted, is parsed once
                if (v.location, v.text) not in parsed:
                    parsed[(v.location, v.text)] = None if v.text is None else parse(v.text, v.location)
            histories[repo] = ([v.index for v in h.versions], [parsed[(v.location, v.text)] for v in h.versions])
            positions[repo] = h.position
    if not histories:
        raise ConfigError(f"--by codeowners: no CODEOWNERS in {', '.join(repos)} (looked in {', '.join(LOCATIONS)})")
    named = sorted({t for _, vs in histories.values() for rs in vs if rs is not None for r in rs
                    for t in owner_teams(r)})
    rows = raw.execute(
        """
        select l.dst as item_id, c.repo, f.path,
               sum(case when f.added is null then 1 else f.added + coalesce(f.deleted, 0) end) as lines
        from links l
        join commits c on l.src = 'git:' || c.repo || ':commit:' || c.sha
        join commit_files f on f.repo = c.repo and f.sha = c.sha
        where l.kind = 'part_of' and c.repo in (select unnest(?))
        group by all
        """,
        [sorted(histories)],
    ).fetchall()
    by_item: dict[str, tuple[str, dict[str, float]]] = {}
    for item, repo, path, lines in rows:
        by_item.setdefault(item, (repo, {}))[1][path] = float(lines)
    out: dict[str, str] = {}
    for item, (repo, paths) in by_item.items():
        rules = _in_force(histories[repo], positions[repo], item.rsplit(":", 1)[-1])
        out[item] = UNASSIGNED if rules is None else owning_team(paths, rules)
    return out, named


def _in_force(history: tuple[list[int], list[Codeowners | None]], position: dict[str, int],
              landing: str) -> Codeowners | None:
    """The CODEOWNERS in the tree of the landing commit: the last version at or before it on the
    first-parent line (None before the first version, or after a deletion)."""
    at = position.get(landing)
    if at is None:  # a change id is a commit of this line (store/changes.py); stay honest if not
        return None
    i = bisect_right(history[0], at) - 1
    return None if i < 0 else history[1][i]


def weekly_by_change_team(con, window: Window, repos: list[str], team_of_item: dict[str, str]) -> pd.DataFrame:
    """(repo = team, author_id, week, validated) as inputs.weekly_activity, with each
    contributor-week counted for the team of the change it went into: an author was active for a
    team in a week when they authored a commit of, or landed, a change (landed by as_of) owned by
    that team; validated counts that team's validated changes the author landed that week.

    An agent account's work is its delegator's (metrics/delegation.py `by_delegator`), as in the
    per-repository panel: the change stays with the team owning its lines (that is what this unit
    measures), and the contributor active for that team that week is the person who delegated it,
    not the account, which would otherwise be one contributor active in every team nearly every
    week after adoption."""
    ch = changes(con, window, repos)
    landed = con.execute(ch.filter(~ch.bot & ch.author_id.notnull()).select("item_id", "author_id", "week", "validated"))
    landed["week"] = pd.to_datetime(landed["week"]).dt.date
    raw = getattr(con, "con", con)
    commits = raw.execute(
        """
        select l.dst as item_id, c.author_id, cast(date_trunc('week', c.author_time) as date) as week
        from links l join commits c on l.src = 'git:' || c.repo || ':commit:' || c.sha
        left join actors a on a.actor_id = c.author_id
        where l.kind = 'part_of' and c.repo in (select unnest(?)) and coalesce(a.kind, 'human') <> 'bot'
          and c.author_id is not null
        """,
        [repos],
    ).df()
    commits = commits[commits["item_id"].isin(set(landed["item_id"]))]
    commits["week"] = pd.to_datetime(commits["week"]).dt.date

    def team(items: pd.Series) -> pd.Series:
        return items.map(lambda i: team_of_item.get(i, UNASSIGNED)).astype(object)

    keys = ["repo", "author_id", "week"]
    salt_free = salt_free_author_keys(con)
    agents = agent_keys(con)
    landed = with_salt_free_authors(landed, salt_free)
    people = landed[~landed["author_id"].isin(agents)]
    owner = dict(zip(people["item_id"], people["author_id"]))  # a person's own changes
    landed = by_delegator(con, landed, owner)
    commits = by_delegator(con, with_salt_free_authors(commits, salt_free), owner)
    active = pd.concat([landed.assign(repo=team(landed["item_id"]))[keys],
                        commits.assign(repo=team(commits["item_id"]))[keys]]).drop_duplicates()
    ok = landed[landed["validated"].astype(bool)]
    done = ok.assign(repo=team(ok["item_id"])).groupby(keys).size().rename("validated").reset_index()
    out = active.merge(done, on=keys, how="outer")
    out["validated"] = out["validated"].fillna(0).astype(int)
    # The row order the other units have (a seeded bootstrap draws units in order of appearance).
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def codeowners_unit(con, repos: list[str], frame: pd.DataFrame):
    """The team unit with teams from CODEOWNERS over `frame` (a change frame), and every team the
    files name (for checking `--adoption-date TEAM=DATE`)."""
    from ..lift.units import Unit

    item_team, named = change_teams(con, repos)
    unit = Unit("team", "team", "teams", (), {}, item_team)
    present = set(unit.changes(frame)["repo"]) if len(frame) else set()
    names = [t for t in named if t in present] + ([UNASSIGNED] if UNASSIGNED in present else [])
    return Unit("team", "team", "teams", tuple(names), {}, item_team), named
