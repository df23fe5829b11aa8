"""Changes with their validation state, AI attribution and cycle time, as Ibis expressions.

Everything here reads only the canonical tables (items, links, attributions, actors), so the same
expressions run on DuckDB locally or on another Ibis backend.

Definitions (docs/metrics.md is the prose version; tests pin both):
- reverted: a change that another change reverted within `window_days` of landing;
- pending: not reverted and landed less than `window_days` before `as_of` (too young to judge);
- ci_failed: CI ran on the change's merge (or its pull request's head) and some workflow never
  passed there (metrics/ci.py `merge_ci`; only where CI data exists, otherwise never);
- validated: landed, not reverted within the window, CI not failed, and not pending;
- ai_assisted: at least one attribution of a counted class (authored/assisted unless loopmeter.toml
  opts suggestion/message in: `Window.ai_classes`), or authored by an AI agent account;
- bot: authored by a dependency/automation bot (left out of human-vs-AI comparisons);
- cycle_hours: done_at - started_at in hours; null when unknown, never zero.
"""

from __future__ import annotations

import dataclasses
import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from ..attribution import AI_CLASSES, FIXED_CLASS, MIN_ADOPTION_SHARE
from ..store.db import Store
from . import ibis_compilers
from . import scope as scope_m
from .ci import merge_ci
from .people import merge_keys

ibis_compilers.install()  # before any backend is opened: only the compilers a report uses load


@dataclass(frozen=True)
class Window:
    """The validation window and the moment the analysis looks from."""

    as_of: datetime  # naive UTC
    days: int = 14
    rule: str = "given"  # how as_of was chosen: "given", "newest landing in the data" or "now"
    # Evidence classes that make a change AI-assisted (loopmeter.toml [attribution] ai_classes).
    ai_classes: tuple[str, ...] = AI_CLASSES
    # Adoption detection's least weekly AI share (loopmeter.toml [attribution] min_adoption_share).
    min_adoption_share: float = MIN_ADOPTION_SHARE
    #: The slice the report is about (team, agent, landing dates); `changes` applies it last.
    scope: scope_m.Scope | None = None

    @property
    def per_repo(self) -> bool:
        """When as_of was not given, each repository is judged as of its own newest landing (capped
        at as_of), so a stale mirror analyzed beside a fresh repository keeps its last weeks pending."""
        return self.rule != "given"


def classified_attributions(con) -> ir.Table:
    """The attributions table with `evidence_class` filled in: a row stored without one (before
    classes existed, or by a writer that sets none) takes its kind's fixed class (sessions and
    line-level provenance are "authored") or else "assisted", as every row counted before classes."""
    a = con.table("attributions")
    fixed = ibis.cases(
        *[(a.evidence == kind, cls) for kind, cls in FIXED_CLASS.items()], else_="assisted"
    )
    return a.mutate(evidence_class=ibis.coalesce(a.evidence_class, fixed))


def ai_attributions(con, window: Window) -> ir.Table:
    """The attributions that make a change AI-assisted under `window.ai_classes`."""
    a = classified_attributions(con)
    return a.filter(a.evidence_class.isin(list(window.ai_classes)))


def backend(store):
    """An Ibis backend for the metrics: over the store's DuckDB connection for a `Store`, or the
    Ibis backend itself when given one (any engine holding the canonical tables, e.g. PySpark over
    the Parquet export); nothing below this function assumes DuckDB."""
    if isinstance(store, Store):
        return ibis.duckdb.from_connection(store.con)
    if isinstance(store, ibis.BaseBackend):
        return store
    raise TypeError(f"not a store or an Ibis backend: {type(store).__name__}")


# Per-report fact tables (`facts`): id(con) -> [(what, key, repos, table)]. A report asks for the
# same changes 16 times (totals, per repository, weekly, lift, durability, ...); rebuilding and
# compiling that derivation each time cost more CPU than running every query.
_FACTS: dict[int, list[tuple[str, object, tuple[str, ...] | None, ir.Table]]] = {}
_FACT_SEQ = itertools.count()
# Other per-report results that depend on the store only (id(con) -> name -> value), while `facts` runs.
_MEMO: dict[int, dict] = {}


def report_memo(con) -> dict | None:
    """What the `facts` block running on `con` keeps (name -> value), or None outside one."""
    return _MEMO.get(id(con))


def remembered(con, key, compute):
    """`compute()` once while a `facts` block runs on `con` (kept under `key`), each caller getting
    a copy of it (a pandas frame); computed every time outside one."""
    memo = _MEMO.get(id(con))
    if memo is not None and key in memo:
        return memo[key].copy()
    value = compute()
    if memo is not None:
        memo[key] = value.copy()
    return value


def _cached(con, what: str, key, repos: list[str] | None) -> ir.Table | None:
    for w, k, held, t in _FACTS.get(id(con), ()):
        if w != what or k != key:
            continue
        if not repos:
            if held is None:
                return t
            continue
        if held is None or set(repos) <= set(held):
            # The derivation is per repository (its horizon is a window over the repository), so
            # the rows of some repositories cut from all of them are those computed for them alone.
            return t if held is not None and set(repos) == set(held) else t.filter(t.repo.isin(list(repos)))
    return None


@contextmanager
def facts(con, window: Window, repos: list[str] | None = None):
    """Compute `changes(con, window, repos)` and `contributing_commits(con, repos, window.scope)`
    once, as temporary tables on the engine, for as long as the block runs: every metric that asks
    for them (or for some of the repositories) inside it reads the table instead of rebuilding and
    recompiling the derivation. Another window asked for inside the block (the lift designs try
    7- and 28-day windows) is kept the same way on first use. Results are identical; only the work
    is shared."""
    outermost = id(con) not in _MEMO
    if outermost:
        _MEMO[id(con)] = {"_tables": []}
    try:
        changes(con, window, repos)
        contributing_commits(con, repos, window.scope)
        yield
    finally:
        if outermost:
            memo = _MEMO.pop(id(con))
            _FACTS.pop(id(con), None)
            for name in memo["_tables"]:
                # Ibis's drop_table names the table with its catalog, which a temporary one lacks on DuckDB.
                con.raw_sql(f"DROP TABLE IF EXISTS {name}")
            for kept in memo.get("_cached", ()):
                kept.release()


def _keep(con, what: str, key, repos: list[str] | None, t: ir.Table) -> ir.Table:
    """`t` as a temporary table while a `facts` block runs on `con` (else `t` itself)."""
    memo = _MEMO.get(id(con))
    if memo is None:
        return t
    if con.name != "duckdb":
        # Other engines (Spark) have no temporary tables in Ibis; a cached table is their equivalent.
        kept = t.cache()
        memo.setdefault("_cached", []).append(kept)
    else:
        name = f"_lm_{what}_{next(_FACT_SEQ)}"
        kept = con.create_table(name, t, temp=True)
        memo["_tables"].append(name)
    _FACTS.setdefault(id(con), []).append((what, key, tuple(repos) if repos else None, kept))
    return kept


def changes(con, window: Window, repos: list[str] | None = None) -> ir.Table:
    """One row per change: repo, item_id, title, author_id, author_kind, started_at,
    start_from_pull_request, done_at, size_lines, cycle_hours, reverted, pending, validated, state, ai_assisted, bot, agents."""
    hit = _cached(con, "changes", window, repos)
    if hit is not None:
        return hit
    return _keep(con, "changes", window, repos, _judge(_facts_of(con, window, repos), window))


def _facts_of(con, window: Window, repos: list[str] | None) -> ir.Table:
    """The joined change facts of `window` whatever its length, kept while a `facts` block runs.
    Only the judgement (reverted, pending, validated) depends on the validation window's length:
    the other windows a report asks for (the specification table's 7 and 28 days) judge the same
    joined facts again instead of rebuilding and recompiling the joins."""
    key = dataclasses.replace(window, days=0)
    facts_t = _cached(con, "change_facts", key, repos)
    if facts_t is None:
        facts_t = _keep(con, "change_facts", key, repos, _change_facts(con, window, repos))
    return facts_t


def _change_facts(con, window: Window, repos: list[str] | None) -> ir.Table:
    """The changes in `window.scope` as of `window.as_of` with everything `_judge` needs to judge
    them for any window length: the first revert's time and the horizon each is judged from."""
    items = con.table("items")
    as_of = ibis.timestamp(window.as_of)
    # Nothing after the moment we judge from exists yet: not the change, not its revert.
    ch = items.filter((items.kind == "change") & (items.done_at <= as_of))
    if repos:
        ch = ch.filter(ch.repo.isin(repos))
    if window.per_repo:
        newest = ch.done_at.max().over(ibis.window(group_by=ch.repo))
        ch = ch.mutate(horizon=ibis.least(as_of, newest))
    links = con.table("links")
    reverts = links.filter(links.kind == "reverts")
    reverter = items.filter(items.done_at <= as_of).select(rsrc=items.item_id, revert_at=items.done_at)
    first_revert = (
        reverts.join(reverter, reverts.src == reverter.rsrc)
        .group_by(rdst=reverts.dst)
        .agg(first_revert_at=ibis._.revert_at.min())
    )
    attrs = ai_attributions(con, window)
    per_item = attrs.group_by(aid=attrs.item_id).agg(
        n_attr=attrs.count(), agents=attrs.agent.collect(distinct=True)
    )
    actors = con.table("actors").select(actor=ibis._.actor_id, author_kind=ibis._.kind, author_agent=ibis._.agent)
    # With no CI runs in the store this table is empty and the rule changes nothing.
    mci = merge_ci(con, window.as_of).select(ci_item=ibis._.item_id, merge_ci=ibis._.ci)
    # A squash merge without its PR's commits, or a single commit, has no start in git; the
    # tracker's pull request that landed it (`same_as`) knows when its first commit was authored.
    same = links.filter(links.kind == "same_as")
    prs = items.filter(items.kind == "pull_request").select(pr_id=items.item_id, pr_started=items.started_at)
    pr_start = same.join(prs, same.src == prs.pr_id).group_by(sdst=same.dst).agg(pr_started=ibis._.pr_started.min())
    t = (
        ch.left_join(first_revert, ch.item_id == first_revert.rdst)
        .left_join(per_item, ch.item_id == per_item.aid)
        .left_join(actors, ch.author_id == actors.actor)
        .left_join(mci, ch.item_id == mci.ci_item)
        .left_join(pr_start, ch.item_id == pr_start.sdst)
    )
    from_pr = t.started_at.isnull() & t.pr_started.notnull() & (t.pr_started < t.done_at)
    started = ibis.ifelse(from_pr, t.pr_started, t.started_at)
    kind = t.author_kind.fill_null("human")
    out = t.select(
        repo=t.repo,
        item_id=t.item_id,
        title=t.title,
        author_id=t.author_id,
        author_kind=kind,
        started_at=started,
        start_from_pull_request=from_pr,
        done_at=t.done_at,
        size_lines=t.size_lines,
        attrs=t.attrs,
        cycle_hours=ibis.ifelse(
            # A double before dividing: Spark reads 3600.0 as a decimal and would round to 6 places.
            started.notnull(), (t.done_at.epoch_seconds() - started.epoch_seconds()).cast("float64") / 3600.0,
            ibis.null(),
        ).cast("float64"),
        merge_ci=t.merge_ci,
        # A bot's change is never counted as AI-assisted: bots are left out of every comparison,
        # and counting them on one side of the AI share only would push it past 100%.
        ai_assisted=((t.n_attr.fill_null(0) > 0) | (kind == "agent")) & (kind != "bot"),
        bot=kind == "bot",
        agents=t.agents,
        author_agent=t.author_agent,
        week=t.done_at.truncate("W").cast("date"),
        first_revert_at=t.first_revert_at,
        horizon=t.horizon if window.per_repo else as_of,
    )
    # The scope cuts rows by landing date, author and agent, none of which the judgement changes.
    return scope_m.apply(out, window.scope)


def _judge(t: ir.Table, window: Window) -> ir.Table:
    """`_change_facts` judged for `window.days`: reverted, CI failed, pending, validated, state."""
    window_s = window.days * 86400
    since_revert = t.first_revert_at.epoch_seconds() - t.done_at.epoch_seconds()
    reverted = t.first_revert_at.notnull() & (since_revert <= window_s)
    ci_failed = ~reverted & (t.merge_ci == "failed").fill_null(False)
    pending = ~reverted & ~ci_failed & ((t.horizon.epoch_seconds() - t.done_at.epoch_seconds()) < window_s)
    return t.select(
        "repo", "item_id", "title", "author_id", "author_kind", "started_at", "start_from_pull_request", "done_at",
        "size_lines", "attrs", "cycle_hours",
        reverted=reverted,
        pending=pending,
        ci_failed=ci_failed,
        merge_ci=t.merge_ci,
        validated=~reverted & ~ci_failed & ~pending,
        state=ibis.cases((reverted, "reverted"), (ci_failed, "ci_failed"), (pending, "pending"), else_="validated"),
        ai_assisted=t.ai_assisted,
        bot=t.bot,
        agents=t.agents,
        author_agent=t.author_agent,
        week=t.week,
    )


def validated_weeks(con, window: Window, repos: list[str] | None, days: tuple[int, ...]) -> ir.Table:
    """(days, repo, author_id, week, validated): the validated non-bot changes each author landed in a
    repository that week, judged with each validation window length in `days`, in one query over the
    joined change facts (`changes(...).filter(~bot & validated)` grouped, once per length, without a
    judged table per length: the specification table asks for three)."""
    facts_t = _facts_of(con, window, repos)
    parts = []
    for d in days:
        j = _judge(facts_t, dataclasses.replace(window, days=d))
        j = j.filter(~j.bot & j.validated)
        parts.append(j.group_by(["repo", "author_id", "week"]).agg(validated=j.count()).mutate(days=ibis.literal(d)))
    return ibis.union(*parts) if len(parts) > 1 else parts[0]


def contributing_commits(con, repos: list[str] | None = None, scope: scope_m.Scope | None = None) -> ir.Table:
    """Commits that are part of a landed change, with their author's kind and week (for headcounts)."""
    hit = _cached(con, "contributing_commits", scope, repos)
    if hit is not None:
        return hit
    commits = con.table("commits")
    if repos:
        commits = commits.filter(commits.repo.isin(repos))
    links = con.table("links")
    part = links.filter((links.kind == "part_of") & links.dst.startswith("git:"))
    actors = con.table("actors").select(actor=ibis._.actor_id, kind=ibis._.kind)
    c = commits.mutate(cid=ibis.literal("git:") + commits.repo + ":commit:" + commits.sha)
    c = c.semi_join(part, c.cid == part.src)
    c = c.left_join(actors, c.author_id == actors.actor)
    c = c.select(
        repo=c.repo, sha=c.sha, cid=c.cid, author_id=c.author_id, kind=c.kind.fill_null("human"),
        author_time=c.author_time, week=c.author_time.truncate("W").cast("date"),
    )
    delegated = None
    if scope is not None and scope.team is not None and (scope.team_actors or scope.team_items):
        # An agent account's commits on a change of the team (one a member authored, or delegated
        # to the agent) are the team's, as the change is: the account is in no team, and left in
        # `unassigned` the delegation (which credits them to the person) made the member one of
        # that slice's people, while the team's own slice lost the week.
        items = con.table("items")
        theirs = items.filter((items.kind == "change") & items.author_id.isin(sorted(scope.team_actors))).item_id
        mine = part.dst.isin(theirs)
        if scope.team_items:
            mine = mine | part.dst.isin(sorted(scope.team_items))
        delegated = (c.kind == "agent") & c.cid.isin(part.filter(mine).src)
    # The slice's team and dates count its contributors; the agent rule is about changes only.
    return _keep(con, "contributing_commits", scope, repos,
                 scope_m.apply(c, scope, time="author_time", agent=False, delegated=delegated))


def active_weeks(con, window: Window, repos: list[str] | None = None, *, by_repo: bool = False) -> ir.Table:
    """Distinct (author_id, week) where a non-bot actor was active: authored a commit of a landed
    change that week, or authored a change that landed that week. This is the headcount that
    throughput per contributor-week divides by. ``by_repo`` keeps the repository as well, for
    comparisons whose periods differ by repository. It does not depend on ``window.days``."""
    keys = ("repo", "author_id", "week") if by_repo else ("author_id", "week")
    cc = contributing_commits(con, repos, window.scope)
    ch = changes(con, window, repos)
    # Commits authored after as_of are not yet seen from as_of (they made empty weeks after it).
    a = cc.filter((cc.kind != "bot") & (cc.author_time <= ibis.timestamp(window.as_of))).select(*keys)
    b = ch.filter(~ch.bot & ch.author_id.notnull()).select(*keys)
    return a.union(b, distinct=True)


def salt_free_author_keys(con) -> dict[str, str]:
    """actor_id -> a key that orders authors the same way in every store holding the same data.

    Pseudonyms are salted per store, so sorting clusters by actor id would make a seeded bootstrap
    draw different authors (and print a different interval) after a re-ingest into a fresh store.
    An author's smallest item or commit id (repository and sha, no salt) orders them by data; the
    actor id is appended only to keep two authors apart should they ever share that id.
    """
    memo = _MEMO.get(id(con))
    if memo is not None and "salt_free_author_keys" in memo:
        return memo["salt_free_author_keys"]
    items = con.table("items")
    items = items.filter(items.author_id.notnull()).select(author_id=items.author_id, key=items.item_id)
    commits = con.table("commits")
    commits = commits.filter(commits.author_id.notnull()).select(
        author_id=commits.author_id, key=(ibis.literal("git:") + commits.repo + ":commit:" + commits.sha).cast("string")
    )
    items = items.mutate(key=items.key.cast("string"))
    both = items.union(commits)
    keys = con.execute(both.group_by("author_id").agg(key=both.key.min()))
    out = {a: f"{k}\x00{a}" for a, k in zip(keys["author_id"], keys["key"])}
    out = merge_keys(con, out)  # one person under several addresses is one author (metrics/people.py)
    if memo is not None:
        # The store does not change during a report: one query, not one per design (8 before).
        memo["salt_free_author_keys"] = out
    return out


def with_salt_free_authors(df, keys: dict[str, str], column: str = "author_id"):
    """``df`` with ``column`` replaced by its salt-free key (ids without one, e.g. "unknown", kept)."""
    out = df.copy()
    out[column] = out[column].map(lambda a: keys.get(a, a))
    return out
