"""What the store knows about a repository that its files cannot say: its change items, and the
tracker and CI items of the same project (vocabulary: docs/design.md, "the shared vocabulary").

Items of other sources are tied to the repository by commit sha, never by name: every repository
name (`items.repo`) under which a pull request, CI run or deployment names a commit of this
repository belongs to it, and so do that name's issues and runs.

Three queries a repository, written once in DuckDB's SQL with every value a literal, run where the
report's metrics run: the store's DuckDB, or the engine over the Parquet export (Spark;
transpiled there, metrics/portable.py). The facts are counts and one median, so they come back
as a few rows; only the changes' messages come back one per change, because whether a message
names a ticket is decided here (`references_ticket`, the same rule the files' history uses).
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


def names_sql(repo: str) -> str:
    """The repository names under which a pull request, CI run or deployment names a commit of
    `repo` (an equi-join on each commit field, not an `in` over a subquery per field)."""
    refs = " union all ".join(
        f"select repo, json_extract_string(attrs, '$.{k}') as sha from items "
        "where kind in ('pull_request', 'ci_run', 'deployment') and repo is not null" for k in _SHA_FIELDS)
    return f"""
        select distinct r.repo from ({refs}) r join commits c on c.sha = r.sha
        where c.repo = {portable.literal(repo)}"""


def _names(store: Store, engine, repo: str) -> list[str]:
    """`repo` and the names `names_sql` finds."""
    df = portable.frame(store.con, engine, names_sql(repo))
    return sorted({repo} | {str(r) for r in df["repo"]})


def counts_sql(repo: str, names: list[str], since: datetime, as_of: datetime) -> str:
    """Every count of the facts, and the CI median, as (fact, text, value) rows of one query;
    `status` rows name each distinct issue status."""
    of_names, lo, hi = portable.in_list("i.repo", names), portable.timestamp(since), portable.timestamp(as_of)
    return f"""
        with issues as (
            select json_extract_string(i.attrs, '$.status') as status,
                   json_extract_string(i.attrs, '$.status_category') as category, i.started_at
            from items i where i.kind = 'issue' and {of_names} and i.created_at <= {hi}
        ),
        runs as (
            select json_extract_string(i.attrs, '$.sha') as sha, coalesce(json_extract_string(i.attrs, '$.workflow'), '') as workflow,
                   json_extract_string(i.attrs, '$.event') as event, i.state,
                   (epoch(i.done_at) - epoch(i.created_at)) / 60.0 as minutes
            from items i where i.kind = 'ci_run' and {of_names} and i.created_at > {lo} and i.created_at <= {hi}
        ),
        verdicts as (
            select count(distinct state) as states from runs
            where sha is not null and sha <> '' and state in ('success', 'failure') group by sha, workflow
        )
        select 'status' as fact, status as text, cast(null as double) as value
        from (select distinct status from issues where status is not null and status <> '') s
        union all
        select 'issues', null, cast(count(*) as double) from issues
        union all
        select 'in_progress', null, cast(count(*) as double) from issues
        where category = 'indeterminate' or started_at is not null
        union all
        select 'moved', null, cast(count(distinct e.item_id) as double)
        from events e join items i on i.item_id = e.item_id
        where i.kind = 'issue' and {of_names} and e.activity = 'transitioned'
          and json_extract_string(e.attrs, '$.to_category') = 'indeterminate'
        union all
        select 'ci_runs', null, cast(count(*) as double) from runs
        union all
        select 'pr_ci_runs', null, cast(count(*) as double) from runs where event = 'pull_request'
        union all
        select 'ci_finished', null, cast(count(*) as double) from runs
        where state in ('success', 'failure') and minutes >= 0
        union all
        select 'ci_median', null, {quantile_sql('minutes', 0.5)} from runs
        where state in ('success', 'failure') and minutes >= 0
        union all
        select 'ci_pairs', null, cast(count(*) as double) from verdicts
        union all
        select 'flaky_pairs', null, cast(count(*) as double) from verdicts where states = 2
        union all
        select 'reverted', null, cast(count(*) as double) from events e join items i on i.item_id = e.item_id
        where i.kind = 'change' and i.repo = {portable.literal(repo)} and e.activity = 'reverted'
          and e.ts > {lo} and e.ts <= {hi}
        union all
        select 'reopened', null, cast(count(*) as double) from events e join items i on i.item_id = e.item_id
        where i.kind in ('issue', 'pull_request') and {of_names} and e.activity = 'reopened'
          and e.ts > {lo} and e.ts <= {hi}"""


def _counts(store: Store, engine, repo: str, names: list[str], since: datetime, as_of: datetime) -> dict:
    df = portable.frame(store.con, engine, counts_sql(repo, names, since, as_of))
    out: dict = {"status": []}
    for fact, text, value in zip(df["fact"], df["text"], df["value"]):
        if fact == "status":
            out["status"].append(str(text))
        else:
            out[fact] = None if value is None or value != value else float(value)
    return out


def changes_sql(repo: str, since: datetime, as_of: datetime) -> str:
    """The changes of `repo` landed in (since, as_of]: whether each is linked to a pull request
    (a number, or `same_as` one) and its message."""
    return f"""
        select json_extract_string(i.attrs, '$.pr_number') is not null or s.dst is not null as linked,
               coalesce(c.message, i.title, '') as message
        from items i
        left join commits c on c.repo = i.repo and c.sha = json_extract_string(i.attrs, '$.sha')
        left join (select distinct dst from links where kind = 'same_as') s on s.dst = i.item_id
        where i.kind = 'change' and i.repo = {portable.literal(repo)}
          and i.done_at > {portable.timestamp(since)} and i.done_at <= {portable.timestamp(as_of)}"""


def _changes(store: Store, engine, repo: str, since: datetime, as_of: datetime) -> tuple[int, int]:
    """(changes landed in (since, as_of], those that name a pull request or ticket, or are the
    same as a pull request)."""
    df = portable.frame(store.con, engine, changes_sql(repo, since, as_of))
    linked = sum(1 for flag, msg in zip(df["linked"], df["message"]) if bool(flag) or references_ticket(msg))
    return len(df), linked


def store_facts(store: Store, root: str, since: datetime | None, as_of: datetime | None,
                engine=None) -> StoreFacts | None:
    """Facts about the ingested repository at `root` in (since, as_of], or None if it was not
    ingested. The repository is found by its path in the driver's store; the facts are read on
    `engine` when given (Spark over the Parquet export), else on the store."""
    row = store.con.execute("select repo from repos where path = ? order by repo limit 1", [root]).fetchone()
    if row is None or since is None or as_of is None:
        return None
    repo = row[0]
    names = _names(store, engine, repo)
    counts = _counts(store, engine, repo, names, since, as_of)
    changes, linked = _changes(store, engine, repo, since, as_of)
    n = {k: int(v or 0) for k, v in counts.items() if k not in ("status", "ci_median")}
    return StoreFacts(
        repo=repo, names=names, changes=changes, linked_changes=linked, issues=n["issues"],
        statuses=sorted(set(counts["status"])),
        # An issue counts as in progress when it is in such a state now or was ever moved into one.
        in_progress_issues=max(n["in_progress"], n["moved"]), ci_runs=n["ci_runs"], pr_ci_runs=n["pr_ci_runs"],
        ci_finished=n["ci_finished"], ci_median_minutes=counts.get("ci_median"), ci_pairs=n["ci_pairs"],
        flaky_pairs=n["flaky_pairs"], reverted=n["reverted"], reopened=n["reopened"])
