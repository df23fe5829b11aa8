"""What the store knows about a repository that its files cannot say: its change items, and the
tracker and CI items of the same project (vocabulary: docs/design.md, "the shared vocabulary").

Items of other sources are tied to the repository by commit sha, never by name: every repository
name (`items.repo`) under which a pull request, CI run or deployment names a commit of this
repository belongs to it, and so do that name's issues and runs.

Three queries for all the repositories of a report (`facts_of`), written once in DuckDB's SQL with
every value a literal, run where the report's metrics run: the store's DuckDB, or the engine over
the Parquet export (Spark; transpiled there, metrics/portable.py), so a report of many
repositories costs three queries, not three a repository. The facts are counts and one median
per repository, so they come back as a few rows; only the changes' messages come back one per
change, because whether a message names a ticket is decided here (`references_ticket`, the same
rule the files' history uses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..metrics import portable
from ..metrics.quantiles import quantile_sql
from ..store.db import Store
from .history import references_ticket

#: The fields of a pull request, CI run or deployment that name a commit.
_SHA_FIELDS = ("sha", "head_sha", "merge_sha")


@dataclass
class StoreFacts:
    repo: str
    names: list[str]
    changes: int = 0
    linked_changes: int = 0
    issues: int = 0
    statuses: list[str] = field(default_factory=list)
    in_progress_issues: int = 0
    ci_runs: int = 0
    pr_ci_runs: int = 0
    #: finished CI runs (success or failure) with a duration, and their median minutes
    ci_finished: int = 0
    ci_median_minutes: float | None = None
    ci_pairs: int = 0
    flaky_pairs: int = 0
    reverted: int = 0
    reopened: int = 0


def names_sql(repos: list[str]) -> str:
    """(of_repo, name): the repository names under which a pull request, CI run or deployment names
    a commit of each of `repos` (an equi-join on each commit field, not an `in` over a subquery)."""
    refs = " union all ".join(
        f"select repo, json_extract_string(attrs, '$.{k}') as sha from items "
        "where kind in ('pull_request', 'ci_run', 'deployment') and repo is not null" for k in _SHA_FIELDS)
    return f"""
        select distinct c.repo as of_repo, r.repo as name from ({refs}) r join commits c on c.sha = r.sha
        where {portable.in_list("c.repo", repos)}"""


@dataclass(frozen=True)
class Scope:
    """A repository, the names its tracker and CI items are under, and its window (since, as_of]."""

    repo: str
    names: tuple[str, ...]
    since: datetime
    as_of: datetime


def _values(rows: list[tuple], columns: str) -> str:
    """An inline table of literal rows, `(values (...), ...) as t(columns)`."""
    def lit(v):
        return portable.timestamp(v) if isinstance(v, datetime) else portable.literal(v)

    return "(values " + ", ".join("(" + ", ".join(lit(v) for v in r) + ")" for r in rows) + f") as {columns}"


def counts_sql(scopes: list[Scope]) -> str:
    """Every count of the facts and the CI median per repository, as (of_repo, fact, text, value)
    rows of one query; `status` rows name each distinct issue status. A count of nothing is no row."""
    named = _values([(s.repo, n, s.since, s.as_of) for s in scopes for n in s.names], "w(of_repo, name, lo, hi)")
    own = _values([(s.repo, s.since, s.as_of) for s in scopes], "o(of_repo, lo, hi)")
    return f"""
        with issues as (
            select w.of_repo, json_extract_string(i.attrs, '$.status') as status,
                   json_extract_string(i.attrs, '$.status_category') as category, i.started_at
            from items i join {named} on i.repo = w.name
            where i.kind = 'issue' and i.created_at <= w.hi
        ),
        runs as (
            select w.of_repo, json_extract_string(i.attrs, '$.sha') as sha,
                   coalesce(json_extract_string(i.attrs, '$.workflow'), '') as workflow,
                   json_extract_string(i.attrs, '$.event') as event, i.state,
                   (epoch(i.done_at) - epoch(i.created_at)) / 60.0 as minutes
            from items i join {named} on i.repo = w.name
            where i.kind = 'ci_run' and i.created_at > w.lo and i.created_at <= w.hi
        ),
        verdicts as (
            select of_repo, count(distinct state) as states from runs
            where sha is not null and sha <> '' and state in ('success', 'failure') group by of_repo, sha, workflow
        ),
        finished as (select of_repo, minutes from runs where state in ('success', 'failure') and minutes >= 0)
        select of_repo, 'status' as fact, status as text, cast(null as double) as value
        from (select distinct of_repo, status from issues where status is not null and status <> '') s
        union all
        select of_repo, 'issues', null, cast(count(*) as double) from issues group by of_repo
        union all
        select of_repo, 'in_progress', null, cast(count(*) as double) from issues
        where category = 'indeterminate' or started_at is not null group by of_repo
        union all
        select w.of_repo, 'moved', null, cast(count(distinct e.item_id) as double)
        from events e join items i on i.item_id = e.item_id join {named} on i.repo = w.name
        where i.kind = 'issue' and e.activity = 'transitioned'
          and json_extract_string(e.attrs, '$.to_category') = 'indeterminate'
        group by w.of_repo
        union all
        select of_repo, 'ci_runs', null, cast(count(*) as double) from runs group by of_repo
        union all
        select of_repo, 'pr_ci_runs', null, cast(count(*) as double) from runs where event = 'pull_request'
        group by of_repo
        union all
        select of_repo, 'ci_finished', null, cast(count(*) as double) from finished group by of_repo
        union all
        select of_repo, 'ci_median', null, {quantile_sql('minutes', 0.5)} from finished group by of_repo
        union all
        select of_repo, 'ci_pairs', null, cast(count(*) as double) from verdicts group by of_repo
        union all
        select of_repo, 'flaky_pairs', null, cast(count(*) as double) from verdicts where states = 2
        group by of_repo
        union all
        select o.of_repo, 'reverted', null, cast(count(*) as double)
        from events e join items i on i.item_id = e.item_id join {own} on i.repo = o.of_repo
        where i.kind = 'change' and e.activity = 'reverted' and e.ts > o.lo and e.ts <= o.hi
        group by o.of_repo
        union all
        select w.of_repo, 'reopened', null, cast(count(*) as double)
        from events e join items i on i.item_id = e.item_id join {named} on i.repo = w.name
        where i.kind in ('issue', 'pull_request') and e.activity = 'reopened' and e.ts > w.lo and e.ts <= w.hi
        group by w.of_repo"""


def changes_sql(scopes: list[Scope]) -> str:
    """The changes of each repository landed in its (since, as_of]: whether each is linked to a
    pull request (a number, or `same_as` one) and its message."""
    own = _values([(s.repo, s.since, s.as_of) for s in scopes], "o(of_repo, lo, hi)")
    return f"""
        select i.repo as of_repo,
               json_extract_string(i.attrs, '$.pr_number') is not null or s.dst is not null as linked,
               coalesce(c.message, i.title, '') as message
        from items i join {own} on i.repo = o.of_repo
        left join commits c on c.repo = i.repo and c.sha = json_extract_string(i.attrs, '$.sha')
        left join (select distinct dst from links where kind = 'same_as') s on s.dst = i.item_id
        where i.kind = 'change' and i.done_at > o.lo and i.done_at <= o.hi"""


def facts_of(store: Store, wanted: list[tuple[str, datetime | None, datetime | None]],
             engine=None) -> dict[str, StoreFacts]:
    """The facts of each ingested repository at a path of `wanted` ((path, since, as_of) each),
    keyed by path; a path no repository of the store is at, or with no window, has none. The
    repositories are found by their paths in the driver's store; the facts are read on `engine`
    when given (Spark over the Parquet export), else on the store."""
    windows = {p: (lo, hi) for p, lo, hi in wanted if lo is not None and hi is not None}
    if not windows:
        return {}
    at = dict(store.con.execute("select path, min(repo) from repos where list_contains(?, path) group by path",
                                [list(windows)]).fetchall())
    if not at:
        return {}
    repos = sorted(set(at.values()))
    names: dict[str, set[str]] = {r: {r} for r in repos}
    df = portable.frame(store.con, engine, names_sql(repos))
    for of_repo, name in zip(df["of_repo"], df["name"]):
        names[str(of_repo)].add(str(name))
    # One window per repository (two paths of one repository, never a report's case: the first's).
    scopes = list({repo: Scope(repo, tuple(sorted(names[repo])), *windows[p])
                   for p, repo in sorted(at.items(), reverse=True)}.values())
    counts: dict[str, dict] = {s.repo: {"status": []} for s in scopes}
    df = portable.frame(store.con, engine, counts_sql(scopes))
    for of_repo, fact, text, value in zip(df["of_repo"], df["fact"], df["text"], df["value"]):
        c = counts[str(of_repo)]
        if fact == "status":
            c["status"].append(str(text))
        else:
            c[fact] = None if value is None or value != value else float(value)
    landed = {s.repo: [0, 0] for s in scopes}
    df = portable.frame(store.con, engine, changes_sql(scopes))
    for of_repo, flag, msg in zip(df["of_repo"], df["linked"], df["message"]):
        n = landed[str(of_repo)]
        n[0] += 1
        n[1] += bool(flag) or references_ticket(msg)
    by_repo = {s.repo: _facts(s, counts[s.repo], *landed[s.repo]) for s in scopes}
    return {p: by_repo[repo] for p, repo in at.items() if repo in by_repo}


def _facts(scope: Scope, counts: dict, changes: int, linked: int) -> StoreFacts:
    n = {k: int(counts.get(k) or 0) for k in ("issues", "in_progress", "moved", "ci_runs", "pr_ci_runs",
                                                 "ci_finished", "ci_pairs", "flaky_pairs", "reverted", "reopened")}
    return StoreFacts(
        repo=scope.repo, names=list(scope.names), changes=changes, linked_changes=linked, issues=n["issues"],
        statuses=sorted(set(counts["status"])),
        # An issue counts as in progress when it is in such a state now or was ever moved into one.
        in_progress_issues=max(n["in_progress"], n["moved"]), ci_runs=n["ci_runs"], pr_ci_runs=n["pr_ci_runs"],
        ci_finished=n["ci_finished"], ci_median_minutes=counts.get("ci_median"), ci_pairs=n["ci_pairs"],
        flaky_pairs=n["flaky_pairs"], reverted=n["reverted"], reopened=n["reopened"])


def store_facts(store: Store, root: str, since: datetime | None, as_of: datetime | None,
                engine=None) -> StoreFacts | None:
    """Facts about the ingested repository at `root` in (since, as_of], or None if it was not
    ingested (`facts_of` for one path)."""
    return facts_of(store, [(root, since, as_of)], engine).get(root)
