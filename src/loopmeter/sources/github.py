"""GitHub REST: pull requests, issues, Actions runs, releases and deployments as canonical rows.

Every row follows "the shared vocabulary" of docs/design.md. What is read, per repository:

- pull requests (`/pulls`, newest update first) and each changed one's timeline
  (`/issues/N/timeline`): the timeline carries the reviews (`reviewed`, with their state), the
  commits (`committed`, with author, committer and message, used for attribution and the first
  commit time), review requests, draft changes, labels, comments, merge, close and reopen, so one
  paginated request per changed pull request replaces `/reviews` + `/commits` + `/events`;
- issues (`/issues`, which also lists pull requests: those are skipped) and each changed one's
  timeline, for labels, assignments and reopen events; an issue labelled like "incident" is an
  `incident`;
- Actions workflow runs (`/actions/runs`), one item per attempt; earlier attempts of a rerun come
  from `/actions/runs/ID/attempts/N`; jobs are not read (one request per run, and no metric needs
  them yet);
- releases (`/releases`, drafts skipped) and deployments (`/deployments`) with their statuses.

A pull request's body is read for AI attribution (agent footers, trailers) and for `fixes #N` /
`closes #N` links, and is not stored. Branch prefixes (`claude/`, `codex/`, `copilot/`), agent
accounts and commit trailers are judged by `attribution.Matcher` like git's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .api_walk import ApiSource, Stream, listed
from ..attribution import Matcher
from ..errors import ConfigError
from ..store import api_load
from ..store.api_load import PageRows, parse_time
from ..store.db import Store
from .http import ApiClient

DEFAULT_URL = "https://api.github.com"
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
# GitHub's closing keywords (docs: "Linking a pull request to an issue using a keyword").
_CLOSING = re.compile(
    r"\b(close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+(?:([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+))?#(\d+)\b", re.IGNORECASE)
_SHA = re.compile(r"^[0-9a-f]{40}$")
_INCIDENT = re.compile(r"\b(incident|outage|sev[ -]?[0-4]|postmortem)\b", re.IGNORECASE)
_BUG = re.compile(r"\bbug\b", re.IGNORECASE)

# A rerun keeps its run's creation time, so the runs listing is read this far past the last mark
# (mostly 304s); a rerun started later than this after its run is missed unless --since reaches it.
RERUN_LOOKBACK = timedelta(days=7)


def check_repo_name(repo: str) -> str:
    repo = repo.strip().removesuffix(".git")
    if not _REPO.match(repo):
        raise ConfigError(f"--github: {repo!r} is not OWNER/REPO")
    return repo


def api_base(url: str) -> str:
    """The REST root: api.github.com, or https://HOST/api/v3 of GitHub Enterprise Server, as given."""
    return url.rstrip("/")


def closing_links(body: str, repo: str) -> list[tuple[str, str]]:
    """(kind, issue item id) for each `fixes #N` / `closes owner/repo#N` in a pull request body."""
    out: list[tuple[str, str]] = []
    for m in _CLOSING.finditer(body or ""):
        kind = "closes" if m.group(1).lower().startswith("close") else "fixes"
        target = m.group(2) or repo
        link = (kind, f"github:{target}:issue:{int(m.group(3))}")
        if link not in out:
            out.append(link)
    return out


def _labels(entry: dict) -> list[str]:
    return sorted({str(lb.get("name")) for lb in entry.get("labels") or [] if isinstance(lb, dict) and lb.get("name")})


class GithubSource(ApiSource):
    """Maps one repository's GitHub data to rows; `ingest()` walks all its streams."""

    KIND = "github"
    GONE = "timelines or status lists were gone (404/410) when read"

    def __init__(self, store: Store, client: ApiClient, repo: str, matcher: Matcher):
        host = urlsplit(client.base_url).hostname or "github"
        super().__init__(store, client, repo, matcher, "github" if client.base_url.rstrip("/") == DEFAULT_URL else host)
        self.repo = repo
        self.api = f"/repos/{repo}"

    # -- actors ------------------------------------------------------------------------------

    def who(self, user: Any) -> str | None:
        if not isinstance(user, dict):
            return None
        return self.actors.actor(user.get("login"), account_id=user.get("id"), account_type=user.get("type"))

    # -- pull requests -----------------------------------------------------------------------

    def convert_pulls(self, entries: list[dict], rows: PageRows) -> None:
        self.convert_changed(entries, rows, lambda e: f"{self.prefix}pr:{e.get('number')}", self.pull_request)

    def pull_request(self, pr: dict, item_id: str, rows: PageRows) -> None:
        n = pr.get("number")
        author = self.who(pr.get("user"))
        opened = parse_time(pr.get("created_at"))
        merged = parse_time(pr.get("merged_at"))
        closed = parse_time(pr.get("closed_at"))
        timeline = self._all(f"{self.api}/issues/{n}/timeline")
        kinds = [t.get("event") for t in timeline]
        draft_changes = [k for k in kinds if k in ("ready_for_review", "convert_to_draft")]
        draft_at_open = (draft_changes[0] == "ready_for_review") if draft_changes else bool(pr.get("draft"))
        head, base = pr.get("head") or {}, pr.get("base") or {}
        branch = head.get("ref")
        rows.event(item_id, opened, "opened", author, draft=draft_at_open)
        first_commit: datetime | None = None
        for t in timeline:
            kind = t.get("event")
            actor = self.who(t.get("actor") or t.get("user"))
            at = parse_time(t.get("created_at"))
            if kind == "committed":
                a, c = t.get("author") or {}, t.get("committer") or {}
                at = parse_time(a.get("date")) or parse_time(c.get("date"))
                if at is not None and (first_commit is None or at < first_commit):
                    first_commit = at
                rows.event(item_id, at, "committed", None, sha=t.get("sha"))
                rows.evidence(item_id, self.matcher.match_commit(
                    author_name=a.get("name") or "", author_email=a.get("email") or "",
                    committer_name=c.get("name") or "", committer_email=c.get("email") or "",
                    message=t.get("message") or ""))
            elif kind == "reviewed":
                state = str(t.get("state") or "").lower()
                rows.event(item_id, parse_time(t.get("submitted_at")), "reviewed", self.who(t.get("user")), state=state)
            elif kind == "commented":
                rows.event(item_id, at, "commented", actor)
            elif kind == "review_requested":
                who = t.get("requested_reviewer") or {}
                team = t.get("requested_team") or {}
                reviewer = self.who(who) if who else (f"team:{team.get('slug')}" if team.get("slug") else None)
                rows.event(item_id, at, "review_requested", actor, reviewer=reviewer)
            elif kind == "ready_for_review":
                rows.event(item_id, at, "ready_for_review", actor)
            elif kind == "convert_to_draft":
                rows.event(item_id, at, "converted_to_draft", actor)
            elif kind == "labeled":
                rows.event(item_id, at, "labeled", actor, label=(t.get("label") or {}).get("name"))
            elif kind == "merged":
                rows.event(item_id, at, "merged", actor, sha=t.get("commit_id") or pr.get("merge_commit_sha"))
            elif kind == "closed":
                # GitHub records a merge as "merged" then "closed"; the close is the merge itself.
                if not (merged is not None and at is not None and abs((at - merged).total_seconds()) <= 60):
                    rows.event(item_id, at, "closed", actor)
            elif kind == "reopened":
                rows.event(item_id, at, "reopened", actor)
        if merged is not None and "merged" not in kinds:
            rows.event(item_id, merged, "merged", self.who(pr.get("merged_by")), sha=pr.get("merge_commit_sha"))
        state = "merged" if merged else ("closed" if pr.get("state") == "closed" else "open")
        merge_sha = pr.get("merge_commit_sha") if merged else None
        rows.item(item_id=item_id, source="github", kind="pull_request", repo=self.repo, title=pr.get("title"),
                  created_at=opened, started_at=first_commit, done_at=merged, state=state, author_id=author,
                  attrs={"number": n, "draft": draft_at_open, "branch": branch, "base": base.get("ref"),
                         "head_sha": head.get("sha"), "merge_sha": merge_sha, "labels": _labels(pr),
                         "url": pr.get("html_url"), "closed_at": closed})
        body = pr.get("body") or ""
        for kind, target in closing_links(body, self.repo):
            rows.link(item_id, target, kind)
        if branch:
            rows.evidence(item_id, self.matcher.match_branch(branch))
        user = pr.get("user") or {}
        rows.evidence(item_id, self.matcher.match_commit(
            author_name=user.get("login") or "", author_email=api_load.noreply_email(user.get("login") or "", user.get("id")),
            committer_name="", committer_email="", message=body))

    # -- issues ------------------------------------------------------------------------------

    def convert_issues(self, entries: list[dict], rows: PageRows) -> None:
        issues = [e for e in entries if "pull_request" not in e]  # pull requests come from /pulls
        self.convert_changed(issues, rows, lambda e: f"{self.prefix}issue:{e.get('number')}", self.issue)

    def issue(self, issue: dict, item_id: str, rows: PageRows) -> None:
        n = issue.get("number")
        labels = _labels(issue)
        typ = (issue.get("type") or {}).get("name") if isinstance(issue.get("type"), dict) else None
        is_bug = any(_BUG.search(lb) for lb in labels) or (typ or "").lower() == "bug"
        kind = "incident" if any(_INCIDENT.search(lb) for lb in labels) else "issue"
        author = self.who(issue.get("user"))
        opened = parse_time(issue.get("created_at"))
        closed = parse_time(issue.get("closed_at")) if issue.get("state") == "closed" else None
        rows.event(item_id, opened, "opened", author)
        for t in self._all(f"{self.api}/issues/{n}/timeline"):
            ev = t.get("event")
            at = parse_time(t.get("created_at"))
            actor = self.who(t.get("actor"))
            if ev == "labeled":
                rows.event(item_id, at, "labeled", actor, label=(t.get("label") or {}).get("name"))
            elif ev == "assigned":
                rows.event(item_id, at, "assigned", actor, assignee=self.who(t.get("assignee")))
            elif ev in ("closed", "reopened"):
                rows.event(item_id, at, ev, actor)
            elif ev == "commented":
                rows.event(item_id, at, "commented", self.who(t.get("user") or t.get("actor")))
        state = "closed" if issue.get("state") == "closed" else "open"
        rows.item(item_id=item_id, source="github", kind=kind, repo=self.repo, title=issue.get("title"),
                  created_at=opened, started_at=None, done_at=closed, state=state, author_id=author,
                  attrs={"number": n, "labels": labels, "type": "bug" if is_bug else (typ.lower() if typ else None),
                         "status": state, "status_category": "done" if state == "closed" else "new",
                         "url": issue.get("html_url")})

    # -- Actions runs ------------------------------------------------------------------------

    def convert_runs(self, entries: list[dict], rows: PageRows) -> None:
        self.convert_changed(entries, rows, lambda e: f"{self.prefix}run:{e.get('id')}:{e.get('run_attempt') or 1}",
                             self.run_and_earlier_attempts, terminal=lambda s: s != "running")

    def run_and_earlier_attempts(self, run: dict, item_id: str, rows: PageRows) -> None:
        """A run's latest attempt (the listing's entry), and each earlier attempt not yet stored finished."""
        self.run(run, item_id, rows)
        attempt = int(run.get("run_attempt") or 1)
        if attempt > 1:
            earlier = [f"{self.prefix}run:{run.get('id')}:{k}" for k in range(1, attempt)]
            have = api_load.versions(self.store, earlier)
            for k, eid in enumerate(earlier, 1):
                if eid in have and have[eid][1] != "running":
                    continue
                prev = self.client.get(f"{self.api}/actions/runs/{run.get('id')}/attempts/{k}", conditional=False).data
                if isinstance(prev, dict):
                    self.run(prev, eid, rows)
                    rows.versions.append((eid, parse_time(prev.get("updated_at"))))

    def run(self, run: dict, item_id: str, rows: PageRows) -> None:
        attempt = int(run.get("run_attempt") or 1)
        sha = run.get("head_sha")
        status, conclusion = run.get("status"), run.get("conclusion")
        started = parse_time(run.get("run_started_at")) or parse_time(run.get("created_at"))
        done = parse_time(run.get("updated_at")) if status == "completed" else None
        if status != "completed":
            state = "running"
        elif conclusion == "success":
            state = "success"
        elif conclusion in ("cancelled",):
            state = "cancelled"
        elif conclusion in ("skipped", "neutral", "stale"):
            state = "skipped"
        else:  # failure, timed_out, startup_failure, action_required
            state = "failure"
        actor = self.who(run.get("triggering_actor") or run.get("actor"))
        rows.event(item_id, started, "ci_started", actor, sha=sha, attempt=attempt)
        if state == "success":
            rows.event(item_id, done, "ci_passed", None, sha=sha, attempt=attempt)
        elif state == "failure":
            rows.event(item_id, done, "ci_failed", None, sha=sha, attempt=attempt, conclusion=conclusion)
        prs = sorted({p.get("number") for p in run.get("pull_requests") or [] if isinstance(p, dict) and p.get("number")})
        for n in prs:
            rows.link(item_id, f"{self.prefix}pr:{n}", "part_of")
        rows.item(item_id=item_id, source="github", kind="ci_run", repo=self.repo,
                  title=run.get("display_title") or run.get("name"), created_at=parse_time(run.get("created_at")),
                  started_at=started, done_at=done, state=state, author_id=actor,
                  attrs={"sha": sha, "workflow": run.get("name"), "event": run.get("event"), "attempt": attempt,
                         "branch": run.get("head_branch"), "pr_numbers": prs, "conclusion": conclusion,
                         "run_id": run.get("id")})

    # -- releases and deployments -----------------------------------------------------------

    def convert_releases(self, entries: list[dict], rows: PageRows) -> None:
        for rel in entries:
            published = parse_time(rel.get("published_at"))
            if rel.get("draft") or published is None:
                continue
            item_id = f"{self.prefix}release:{rel.get('id')}"
            target = rel.get("target_commitish")
            tag = rel.get("tag_name")
            author = self.who(rel.get("author"))
            rows.event(item_id, published, "released", author, tag=tag)
            rows.item(item_id=item_id, source="github", kind="release", repo=self.repo, title=rel.get("name") or tag,
                      created_at=published, started_at=published, done_at=published, state="published",
                      author_id=author, attrs={"tag": tag, "sha": target if _SHA.match(target or "") else None,
                                               "target": target, "prerelease": bool(rel.get("prerelease"))})
            rows.versions.append((item_id, parse_time(rel.get("updated_at")) or published))

    def convert_deployments(self, entries: list[dict], rows: PageRows) -> None:
        self.convert_changed(entries, rows, lambda e: f"{self.prefix}deployment:{e.get('id')}", self.deployment,
                             terminal=lambda s: s != "pending")

    def refresh_deployments(self, ids: list[str], rows: PageRows) -> None:
        """Pending deployments: a conditional look at their statuses (a 304 costs nothing), and the
        deployment again only when they changed."""
        for item_id in ids:
            dep_id = item_id.rsplit(":", 1)[1]
            page = self.client.get(f"{self.api}/deployments/{dep_id}/statuses", {"per_page": 100})
            if page.unchanged:
                continue
            dep = self.client.get(f"{self.api}/deployments/{dep_id}", conditional=False).data
            if isinstance(dep, dict):
                self.deployment(dep, item_id, rows, statuses=page.data if isinstance(page.data, list) else None)
                rows.versions.append((item_id, parse_time(dep.get("updated_at"))))
            if page.cache_entry is not None:
                rows.cache.append(page.cache_entry)

    def deployment(self, dep: dict, item_id: str, rows: PageRows, statuses: list[dict] | None = None) -> None:
        if statuses is None or len(statuses) >= 100:
            statuses = self._all(f"{self.api}/deployments/{dep.get('id')}/statuses", remember=rows)
        statuses = [s for s in statuses if isinstance(s, dict)]
        statuses.sort(key=lambda s: (parse_time(s.get("created_at")) or datetime.min, s.get("id") or 0))
        env = dep.get("environment")
        sha = dep.get("sha")
        production = bool(dep.get("production_environment")) or str(env or "").lower() in ("production", "prod")
        state, done = "pending", None
        for s in statuses:
            st = str(s.get("state") or "").lower()
            at = parse_time(s.get("created_at"))
            if st == "success":
                rows.event(item_id, at, "deployed", self.who(s.get("creator")), environment=env, sha=sha)
            elif st in ("failure", "error"):
                rows.event(item_id, at, "deploy_failed", self.who(s.get("creator")), environment=env, sha=sha)
            else:
                continue
            if done is None:
                state, done = ("success" if st == "success" else "failure"), at
        created = parse_time(dep.get("created_at"))
        rows.item(item_id=item_id, source="github", kind="deployment", repo=self.repo,
                  title=f"{env} {str(sha or '')[:12]}", created_at=created, started_at=created, done_at=done,
                  state=state, author_id=self.who(dep.get("creator")),
                  attrs={"sha": sha, "environment": env, "production": production, "ref": dep.get("ref"),
                         "task": dep.get("task")})

    # -- the walk ----------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        def created(e: dict) -> datetime | None:
            return parse_time(e.get("created_at"))

        def updated(e: dict) -> datetime | None:
            return parse_time(e.get("updated_at"))

        def key(name: str) -> Callable[[Any], list[dict]]:
            return lambda data: [e for e in (data.get(name) if isinstance(data, dict) else None) or [] if isinstance(e, dict)]

        desc_updated = {"state": "all", "sort": "updated", "direction": "desc", "per_page": 100}
        return [
            Stream("pulls", f"{self.api}/pulls", desc_updated, listed, updated, self.convert_pulls),
            Stream("issues", f"{self.api}/issues", desc_updated, listed, updated, self.convert_issues),
            Stream("runs", f"{self.api}/actions/runs", {"per_page": 100}, key("workflow_runs"), created,
                   self.convert_runs, id_prefix=f"{self.prefix}run:", open_states=("running",),
                   lookback=RERUN_LOOKBACK),
            Stream("releases", f"{self.api}/releases", {"per_page": 100}, listed, created, self.convert_releases),
            Stream("deployments", f"{self.api}/deployments", {"per_page": 100}, listed, created,
                   self.convert_deployments, id_prefix=f"{self.prefix}deployment:", open_states=("pending",),
                   refresh=self.refresh_deployments),
        ]


Source = GithubSource
