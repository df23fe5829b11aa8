"""What the store knows about a repository that its files cannot say: its change items, and the
tracker and CI items of the same project (vocabulary: docs/design.md, "the shared vocabulary").

Items of other sources are tied to the repository by commit sha, never by name: every repository
name (`items.repo`) under which a pull request, CI run or deployment names a commit of this
repository belongs to it, and so do that name's issues and runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..metrics.quantiles import quantile_of
from ..store.db import Store
from .history import references_ticket


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
    ci_minutes: list[float] = field(default_factory=list)
    ci_pairs: int = 0
    flaky_pairs: int = 0
    reverted: int = 0
    reopened: int = 0

    @property
    def ci_median_minutes(self) -> float | None:
        return quantile_of(self.ci_minutes, 0.5)


def _sha_fields(alias: str) -> str:
    return " or ".join(f"json_extract_string({alias}.attrs, '$.{k}') in (select sha from _shas)"
                       for k in ("sha", "head_sha", "merge_sha"))


def store_facts(store: Store, root: str, since: datetime | None, as_of: datetime | None) -> StoreFacts | None:
    """Facts about the ingested repository at `root` in (since, as_of], or None if it was not ingested."""
    con = store.con
    row = con.execute("select repo from repos where path = ? order by repo limit 1", [root]).fetchone()
    if row is None or since is None or as_of is None:
        return None
    repo = row[0]
    names = sorted({repo} | {r[0] for r in con.execute(
        f"with _shas as (select sha from commits where repo = ?) "
        f"select distinct i.repo from items i where i.kind in ('pull_request', 'ci_run', 'deployment') "
        f"and i.repo is not null and ({_sha_fields('i')})", [repo]).fetchall()})
    facts = StoreFacts(repo=repo, names=names)
    window = [since, as_of]

    rows = con.execute(
        """
        select json_extract(i.attrs, '$.pr_number') is not null, coalesce(c.message, i.title, ''),
               exists (select 1 from links l where l.dst = i.item_id and l.kind = 'same_as')
        from items i left join commits c on c.repo = i.repo and c.sha = json_extract_string(i.attrs, '$.sha')
        where i.kind = 'change' and i.repo = ? and i.done_at > ? and i.done_at <= ?
        """, [repo, *window]).fetchall()
    facts.changes = len(rows)
    facts.linked_changes = sum(1 for has_pr, msg, same in rows if has_pr or same or references_ticket(msg))

    issue_rows = con.execute(
        """
        select json_extract_string(attrs, '$.status'), json_extract_string(attrs, '$.status_category'), started_at
        from items where kind = 'issue' and list_contains(?, repo) and created_at <= ?
        """, [names, as_of]).fetchall()
    facts.issues = len(issue_rows)
    facts.statuses = sorted({s for s, _, _ in issue_rows if s})
    facts.in_progress_issues = sum(1 for _, cat, started in issue_rows if cat == "indeterminate" or started is not None)
    moved = con.execute(
        """
        select count(distinct e.item_id) from events e join items i on i.item_id = e.item_id
        where i.kind = 'issue' and list_contains(?, i.repo) and e.activity = 'transitioned'
          and json_extract_string(e.attrs, '$.to_category') = 'indeterminate'
        """, [names]).fetchone()[0]
    facts.in_progress_issues = max(facts.in_progress_issues, int(moved or 0))

    runs = con.execute(
        """
        select json_extract_string(attrs, '$.sha'), json_extract_string(attrs, '$.workflow'),
               json_extract_string(attrs, '$.event'), state,
               epoch(done_at) - epoch(created_at)
        from items where kind = 'ci_run' and list_contains(?, repo) and created_at > ? and created_at <= ?
        """, [names, *window]).fetchall()
    facts.ci_runs = len(runs)
    facts.pr_ci_runs = sum(1 for _, _, event, _, _ in runs if event == "pull_request")
    facts.ci_minutes = sorted(secs / 60 for _, _, _, state, secs in runs
                              if state in ("success", "failure") and secs is not None and secs >= 0)
    verdicts: dict[tuple[str, str], set[str]] = {}
    for sha, wf, _, state, _ in runs:
        if sha and state in ("success", "failure"):
            verdicts.setdefault((sha, wf or ""), set()).add(state)
    facts.ci_pairs = len(verdicts)
    facts.flaky_pairs = sum(1 for v in verdicts.values() if len(v) == 2)

    facts.reverted = int(con.execute(
        "select count(*) from events e join items i on i.item_id = e.item_id "
        "where i.kind = 'change' and i.repo = ? and e.activity = 'reverted' and e.ts > ? and e.ts <= ?",
        [repo, *window]).fetchone()[0])
    facts.reopened = int(con.execute(
        "select count(*) from events e join items i on i.item_id = e.item_id "
        "where i.kind in ('issue', 'pull_request') and list_contains(?, i.repo) and e.activity = 'reopened' "
        "and e.ts > ? and e.ts <= ?", [names, *window]).fetchone()[0])
    return facts
