"""Who delegated a change an AI agent account authored: the person it counts as work of.

A coding agent that opens pull requests under its own account (copilot-swe-agent, Devin, ...)
authors hundreds of changes as one identity: on dotnet/aspire 635 of 838 AI-assisted changes.
Taken as an author, that account is one cluster holding most of the AI group, and the interval
of an AI-vs-human comparison is about that one "person". Each of those changes was asked for and
looked after by a human; that human is the cluster it belongs to.

The evidence, strongest first (the first one a change has wins):

1. `co_author`: a human `Co-authored-by` trailer of the change's landing commit (or, without one,
   of its other commits). GitHub's coding agent adds the person who assigned the task as a
   co-author of its commits, and a squash merge carries those trailers. Agents' and bots' own
   trailers (copilot-swe-agent[bot], Copilot), and any identity a signature names (the Copilot
   review account `175728472+Copilot`), are not people; the first human one is taken. The
   value is read as attribution.py reads every trailer (`trailer_address`): "Name <address>",
   or "Name address" without the brackets, as some tools write it.
2. `merger`: the human who merged its pull request (a tracker's `merged` event on the pull request
   linked to the change by `same_as`).
3. `committer`: the human who committed the landing commit, when that is not the agent itself
   (a person who rebased or merged the agent's work locally; GitHub's web merges commit as
   "GitHub", a bot, which says nothing).

A change with none of these keeps the agent account. The person is the same pseudonymous actor id
a commit of theirs would have (salted hash of the email), so their own human changes and the
ones they delegated fall in one cluster when they used one address, or addresses the store links
as one person (store/identity_links.py: a GitHub noreply address of the same login, the
repository's .mailmap); a co-author address nothing links to theirs is a separate cluster.
"""

from __future__ import annotations

import ibis
import pandas as pd

from ..attribution import Matcher, trailer_address
from ..store.git_load import classify_identity, git_actor_id
from ..store.identity_links import is_person
from .changes import _MEMO, changes, contributing_commits, salt_free_author_keys
from .people import person_of
from .portable import store_connection

__all__ = ["EVIDENCE", "activity_by_delegator", "agent_keys", "by_delegator", "cluster_by_delegator", "delegators"]

EVIDENCE = ("co_author", "merger", "committer")


def delegators(con, item_ids: list[str] | None = None) -> pd.DataFrame:
    """(item_id, agent_id, delegator_id, evidence) for every change authored by an agent account
    (among `item_ids` when given) that has a human delegator; `evidence` is one of EVIDENCE."""
    raw = store_connection(con)
    salt_row = raw.execute("select value from meta where key = 'salt'").fetchone()
    if salt_row is None:  # no salt: a Parquet export, which carries the store's own rows
        found = _exported(raw)
        return found if item_ids is None else found[found["item_id"].isin(set(item_ids))].reset_index(drop=True)
    salt = salt_row[0] or ""
    agent_changes = raw.execute(
        """
        select i.item_id, i.repo, i.author_id, json_extract_string(i.attrs, '$.sha') as sha
        from items i join actors a on a.actor_id = i.author_id
        where i.kind = 'change' and a.kind = 'agent'
        """
    ).df()
    if item_ids is not None:
        agent_changes = agent_changes[agent_changes["item_id"].isin(set(item_ids))]
    cols = ["item_id", "agent_id", "delegator_id", "evidence"]
    if agent_changes.empty:
        return pd.DataFrame(columns=cols)
    raw.register("_agent_changes", agent_changes)
    try:
        commits = raw.execute(
            """
            select ac.item_id, c.sha = ac.sha as landing, c.committer_time, c.trailers,
                   c.committer_id, c.committer_name, c.committer_email
            from _agent_changes ac
            join links l on l.dst = ac.item_id and l.kind = 'part_of'
            join commits c on 'git:' || c.repo || ':commit:' || c.sha = l.src
            """
        ).df()
        mergers = raw.execute(
            """
            select ac.item_id, e.actor_id
            from _agent_changes ac
            join links l on l.dst = ac.item_id and l.kind = 'same_as'
            join events e on e.item_id = l.src and e.activity = 'merged'
            join actors a on a.actor_id = e.actor_id and coalesce(a.kind, 'human') = 'human'
            where e.actor_id <> ac.author_id
            order by ac.item_id, e.ts
            """
        ).df()
    finally:
        raw.unregister("_agent_changes")
    matcher = Matcher.load()
    found: dict[str, tuple[str, str]] = {}
    # 1. co-authors: the landing commit first, then the others in the order they were committed.
    commits = commits.sort_values(["item_id", "landing", "committer_time"], ascending=[True, False, True],
                                  kind="stable")
    for item, trailers in zip(commits["item_id"], commits["trailers"]):
        if item in found:
            continue
        for t in _as_list(trailers):
            key, value = (t.get("key"), t.get("value")) if isinstance(t, dict) else t
            if str(key).lower() != "co-authored-by":
                continue
            who = trailer_address(str(value))  # "Name <address>", or without the brackets
            if who is None:
                continue
            name, email = who
            if is_person(matcher, name, email):  # not an AI tool's own identity (Copilot's review account)
                found[item] = (git_actor_id(salt, name, email), "co_author")
                break
    # 2. the pull request's merger.
    for item, actor in zip(mergers["item_id"], mergers["actor_id"]):
        found.setdefault(item, (actor, "merger"))
    # 3. a human committer of the landing commit other than the agent.
    agent_of = dict(zip(agent_changes["item_id"], agent_changes["author_id"]))
    landing = commits[commits["landing"].astype(bool)]
    for item, cid, cname, cmail in zip(landing["item_id"], landing["committer_id"], landing["committer_name"],
                                       landing["committer_email"]):
        if item not in found and cid != agent_of[item] and classify_identity(matcher, cname or "", cmail or "")[0] == "human":
            found[item] = (cid, "committer")
    rows = [(item, agent_of[item], who, how) for item, (who, how) in found.items()]
    return pd.DataFrame(rows, columns=cols).sort_values("item_id", kind="stable").reset_index(drop=True)


def _exported(raw) -> pd.DataFrame:
    """The rows a Parquet export carries (export/parquet.py DELEGATIONS), `raw` being the driver's
    DuckDB over one. An export holds neither the pseudonym salt nor, by default, people's addresses,
    so working the delegators out there would key co-authors by an unsalted hash and take every
    unnamed committer for a person. An export of a loopmeter before this table reads as no
    delegation (export the store again)."""
    cols = ["item_id", "agent_id", "delegator_id", "evidence"]
    present = raw.execute("select count(*) from duckdb_views() where view_name = 'delegations'").fetchone()[0]
    if not present:
        return pd.DataFrame(columns=cols)
    return raw.execute(f"select {', '.join(cols)} from delegations order by item_id").df()


def _as_list(v) -> list:
    if v is None:
        return []
    try:
        return list(v)
    except TypeError:
        return []


def _delegated(con) -> tuple[pd.DataFrame, dict[str, str]]:
    """`delegators(con)` over the whole store, and item id -> its delegator's salt-free key, keyed as
    every author is (metrics/changes.py `salt_free_author_keys`; a delegator with no item or commit of
    their own is keyed by the first change delegated to them, marked `delegated:`). The per-change
    frame and the weekly panel both use these keys, so a delegator is one author in both. Computed
    once while a report's `facts` block runs (both designs and every specification window ask)."""
    memo = _MEMO.get(id(con))
    if memo is not None and "delegated" in memo:
        return memo["delegated"]
    found = delegators(con)
    key: dict[str, str] = {}
    if not found.empty:
        keys = salt_free_author_keys(con)  # one key for all of a person's ids (metrics/people.py)
        rep = person_of(con)
        person = found["delegator_id"].map(lambda d: rep.get(d, d))
        first = found.groupby(person)["item_id"].min()
        # Not the first delegated item alone: that item is also the agent account's own key when it is the
        # account's first change, and pandas hashes these keys only up to the NUL (two authors in one).
        by = {d: keys.get(d, f"delegated:{first[d]}\x00{d}") for d in first.index}
        key = dict(zip(found["item_id"], person.map(by)))
    if memo is not None:
        memo["delegated"] = (found, key)
    return found, key


def _agent_ids(raw) -> set[str]:
    return set(raw.execute("select actor_id from actors where kind = 'agent'").df()["actor_id"])


def agent_keys(con) -> set[str]:
    """The salt-free keys of the store's agent accounts (what `author_id` holds for one)."""
    raw = store_connection(con)
    if raw is None:
        return set()
    keys = salt_free_author_keys(con)
    return {keys.get(a, a) for a in _agent_ids(raw)}


def cluster_by_delegator(con, df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """`df` (changes with `item_id` and salt-free `author_id`, lift/inputs.py `change_frame`) with
    each agent-authored change's `author_id` replaced by its delegator's key (`_delegated`). Returns
    the frame and the counts: `agent_changes`, how many of them each kind of evidence moved, and
    `kept_agent` (no evidence)."""
    raw = store_connection(con)  # the store's DuckDB, or on Spark the driver's over the same export
    counts = {"agent_changes": 0, **{e: 0 for e in EVIDENCE}, "kept_agent": 0}
    if raw is None:
        return df, counts
    agent_ids = set(raw.execute(
        "select i.item_id from items i join actors a on a.actor_id = i.author_id "
        "where i.kind = 'change' and a.kind = 'agent'").df()["item_id"])
    if not agent_ids or df.empty:
        return df, counts
    found, new = _delegated(con)
    in_df = df["item_id"].isin(agent_ids)
    counts["agent_changes"] = int(in_df.sum())
    if found.empty:
        counts["kept_agent"] = counts["agent_changes"]
        return df, counts
    out = df.copy()
    moved = out["item_id"].map(new)
    out["author_id"] = moved.where(moved.notna(), out["author_id"])
    for e in EVIDENCE:
        counts[e] = int(found.loc[found["item_id"].isin(set(df["item_id"])), "evidence"].eq(e).sum())
    counts["kept_agent"] = counts["agent_changes"] - sum(counts[e] for e in EVIDENCE)
    return out, counts


def activity_by_delegator(con, window, repos: list[str] | None, act: pd.DataFrame) -> pd.DataFrame:
    """The weekly panel `act` (lift/inputs.py `weekly_activity`: repo, salt-free author_id, week,
    validated) with an agent account's work moved to the people who delegated it: a delegated
    change's validated landing, and the weeks the agent committed to it, are its delegator's in
    that repository and week; the agent's commits on a person's own change are that person's; the
    agent keeps only the weeks of changes no human was found for.

    Without this an agent account is one contributor active nearly every week after adoption:
    its hundreds of changes inflate the after period's rate per contributor-week, while the
    humans who asked for them look idle in the weeks they only reviewed the agent's work."""
    raw = store_connection(con)
    if raw is None or act.empty:
        return act
    found, new = _delegated(con)
    agents = sorted(_agent_ids(raw))
    # Without any delegated change the agent's commits on a person's own change are still that
    # person's (below): only a store without agent accounts has nothing to move.
    if not agents:
        return act
    keys = salt_free_author_keys(con)
    ch = changes(con, window, repos)
    # Every non-bot change in one query (a few thousand rows); an `isin` over thousands of item ids
    # would cost Ibis more to compile than this costs to run.
    people = con.execute(ch.filter(~ch.bot).select("repo", "item_id", "author_id", "week", "validated"))
    by_agent = people["author_id"].isin(agents)
    mine = people[by_agent]
    cc = contributing_commits(con, repos, window.scope)
    links = con.table("links")
    part = links.filter((links.kind == "part_of") & links.dst.startswith("git:"))
    cc = cc.filter(cc.author_id.isin(agents) & (cc.author_time <= ibis.timestamp(window.as_of)))
    j = cc.join(part, cc.cid == part.src)
    commits = con.execute(j.select(repo=j.repo, item_id=j.dst, author_id=j.author_id, week=j.week))
    # An agent's commit on a person's own change (a fix pushed to their pull request) is that
    # person's work, as a change delegated to the agent is its delegator's.
    owner = {i: keys.get(a, a) for i, a in zip(people.loc[~by_agent, "item_id"], people.loc[~by_agent, "author_id"])}
    new = {**owner, **new}

    def rekey(d: pd.DataFrame) -> pd.DataFrame:
        own = d["author_id"].map(lambda a: keys.get(a, a))
        moved = d["item_id"].map(new)
        return d.assign(author_id=moved.where(moved.notna(), own), week=pd.to_datetime(d["week"]).dt.date)

    mine, commits = rekey(mine), rekey(commits)
    cols = ["repo", "author_id", "week"]
    weeks = pd.concat([mine[cols], commits[cols]], ignore_index=True).drop_duplicates()
    done = mine[mine["validated"].astype(bool)].groupby(cols).size().rename("validated").reset_index()
    rebuilt = weeks.merge(done, on=cols, how="left")
    rebuilt["validated"] = rebuilt["validated"].fillna(0).astype(int)
    rest = act[~act["author_id"].isin({keys.get(a, a) for a in agents})]
    # A delegator's own week and the agent's work of that week are one contributor-week.
    out = pd.concat([rest, rebuilt], ignore_index=True).groupby(cols, as_index=False, sort=False)["validated"].sum()
    return out.sort_values(cols, kind="stable").reset_index(drop=True)


def by_delegator(con, rows: pd.DataFrame, owner: dict[str, str] | None = None) -> pd.DataFrame:
    """`rows` (`item_id` and a salt-free `author_id`: changes landed, or commits of them) with an
    agent account's rows given to the person the work counts as, as `activity_by_delegator` does for
    the weekly panel: a delegated change's to its delegator, the agent's commits on a person's own
    change to that person (`owner`: item id -> the salt-free author of a change that is not an
    agent's; by default the other rows' authors); the agent keeps the rest."""
    if rows.empty:
        return rows
    agents = agent_keys(con)
    mine = rows["author_id"].isin(agents)
    if not mine.any():
        return rows
    _, new = _delegated(con)
    if owner is None:
        owner = dict(zip(rows.loc[~mine, "item_id"], rows.loc[~mine, "author_id"]))
    to = {**owner, **new}
    moved = rows.loc[mine, "item_id"].map(to)
    out = rows.copy()
    out.loc[mine, "author_id"] = moved.where(moved.notna(), rows.loc[mine, "author_id"])
    return out
