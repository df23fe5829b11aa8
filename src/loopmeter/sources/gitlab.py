"""GitLab REST v4: merge requests, issues, pipelines and deployments as canonical rows.

Same vocabulary (docs/design.md) and the same runner as the GitHub source. Per project:

- merge requests (`/merge_requests`, newest update first) and, for each changed one, its notes
  (comments; system notes carry approvals, review requests and draft/ready changes with their
  time, which `/approvals` does not), its commits (`/commits`: first commit time, attribution),
  and its state and label events (`/resource_state_events`, `/resource_label_events`: close,
  reopen, merge, labels, which newer GitLab versions no longer write as notes);
- issues (`/issues`, `issue_type` "incident" becomes an `incident`) with their state and label
  events;
- pipelines (`/pipelines`, newest update first) and, for each changed one, the pipeline itself
  (start and finish times are only on the single-pipeline answer);
- deployments (`/deployments`, newest update first); an environment of tier `production` (or
  named production/prod) is production.

Pagination follows `Link` or `X-Next-Page`; rate limits honour `RateLimit-*` and `Retry-After`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from .api_walk import ApiSource, Stream, listed
from ..attribution import Matcher
from ..errors import ConfigError
from ..store.api_load import PageRows, parse_time
from ..store.db import Store
from .http import ApiClient

DEFAULT_URL = "https://gitlab.com"
_PROJECT = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$")
_CLOSING = re.compile(
    r"\b(close[sd]?|closing|fix(?:e[sd]|ing)?|resolve[sd]?|resolving|implement(?:s|ed|ing)?)\s*:?\s+"
    r"(?:([A-Za-z0-9_.][A-Za-z0-9_./-]*))?#(\d+)\b", re.IGNORECASE)
_MR_REF = re.compile(r"^refs/merge-requests/(\d+)/")
_BOT_USER = re.compile(r"^(?:project|group)_\d+_bot(?:_[0-9a-f]+)?$|\[bot\]$|^ghost$", re.IGNORECASE)
_BUG = re.compile(r"\bbug\b", re.IGNORECASE)
_INCIDENT = re.compile(r"\b(incident|outage|sev[ -]?[0-4])\b", re.IGNORECASE)


def check_repo_name(project: str) -> str:
    project = project.strip().strip("/").removesuffix(".git")
    if not _PROJECT.match(project):
        raise ConfigError(f"--gitlab: {project!r} is not GROUP/PROJECT")
    return project


def api_base(url: str) -> str:
    """The REST v4 root of a GitLab server given as https://host[/prefix] or .../api/v4."""
    url = url.rstrip("/")
    return url if url.endswith("/api/v4") else url + "/api/v4"


def closing_links(body: str, project: str) -> list[tuple[str, str]]:
    """(kind, issue item id) for GitLab's closing patterns (`Closes #N`, `Fixes group/project#N`)."""
    out: list[tuple[str, str]] = []
    for m in _CLOSING.finditer(body or ""):
        kind = "closes" if m.group(1).lower().startswith("clos") else "fixes"
        link = (kind, f"gitlab:{m.group(2) or project}:issue:{int(m.group(3))}")
        if link not in out:
            out.append(link)
    return out


_PIPELINE_STATE = {"success": "success", "failed": "failure", "canceled": "cancelled", "cancelled": "cancelled",
                   "skipped": "skipped"}


class GitlabSource(ApiSource):
    KIND = "gitlab"
    GONE = "notes, commits or event lists answered 404/410"

    def __init__(self, store: Store, client: ApiClient, project: str, matcher: Matcher):
        host = urlsplit(client.base_url).hostname or "gitlab"
        super().__init__(store, client, project, matcher, "gitlab" if host == "gitlab.com" else host)
        self.project = project
        self.api = f"/projects/{quote(project, safe='')}"

    def who(self, user: Any) -> str | None:
        if not isinstance(user, dict):
            return None
        name = user.get("username")
        return self.actors.actor(name, bot=bool(user.get("bot")) or bool(name and _BOT_USER.search(name)))

    def _state_and_labels(self, kind: str, iid: Any, item_id: str, rows: PageRows) -> list[str]:
        """State and label events of an issue or merge request; returns the states seen, in order."""
        states = []
        for e in self._all(f"{self.api}/{kind}/{iid}/resource_state_events"):
            st = e.get("state")
            if st in ("closed", "reopened", "merged"):
                states.append(st)
                if st != "merged":  # the merge itself comes from the merge request's merged_at
                    rows.event(item_id, parse_time(e.get("created_at")), st, self.who(e.get("user")))
        for e in self._all(f"{self.api}/{kind}/{iid}/resource_label_events"):
            if e.get("action") == "add" and isinstance(e.get("label"), dict):
                rows.event(item_id, parse_time(e.get("created_at")), "labeled", self.who(e.get("user")),
                           label=e["label"].get("name"))
        return states

    # -- merge requests ----------------------------------------------------------------------

    def convert_mrs(self, entries: list[dict], rows: PageRows) -> None:
        self.convert_changed(entries, rows, lambda e: f"{self.prefix}mr:{e.get('iid')}", self.merge_request)

    def merge_request(self, mr: dict, item_id: str, rows: PageRows) -> None:
        iid = mr.get("iid")
        author = self.who(mr.get("author"))
        opened = parse_time(mr.get("created_at"))
        merged = parse_time(mr.get("merged_at"))
        draft_now = bool(mr.get("draft", mr.get("work_in_progress")))
        notes = sorted(self._all(f"{self.api}/merge_requests/{iid}/notes", sort="asc", order_by="created_at"),
                       key=lambda n: (parse_time(n.get("created_at")) or datetime.min, n.get("id") or 0))
        draft_at_open = draft_now
        for n in notes:
            body = (n.get("body") or "").lower()
            if n.get("system") and "marked this merge request as" in body:
                draft_at_open = "ready" in body
                break
        rows.event(item_id, opened, "opened", author, draft=draft_at_open)
        for n in notes:
            at, actor = parse_time(n.get("created_at")), self.who(n.get("author"))
            body = n.get("body") or ""
            low = body.lower()
            if not n.get("system"):
                rows.event(item_id, at, "commented", actor)
            elif low.startswith("approved this merge request"):
                rows.event(item_id, at, "reviewed", actor, state="approved")
            elif low.startswith("unapproved this merge request"):
                rows.event(item_id, at, "reviewed", actor, state="dismissed")
            elif low.startswith("requested changes"):
                rows.event(item_id, at, "reviewed", actor, state="changes_requested")
            elif low.startswith("requested review from"):
                for name in re.findall(r"@([A-Za-z0-9_.-]+)", body):
                    rows.event(item_id, at, "review_requested", actor, reviewer=self.actors.actor(name.rstrip(".")))
            elif "marked this merge request as" in low:
                rows.event(item_id, at, "ready_for_review" if "ready" in low else "converted_to_draft", actor)
        first_commit: datetime | None = None
        for c in self._all(f"{self.api}/merge_requests/{iid}/commits"):
            at = parse_time(c.get("authored_date")) or parse_time(c.get("created_at"))
            if at is not None and (first_commit is None or at < first_commit):
                first_commit = at
            rows.event(item_id, at, "committed", None, sha=c.get("id"))
            rows.evidence(item_id, self.matcher.match_commit(
                author_name=c.get("author_name") or "", author_email=c.get("author_email") or "",
                committer_name=c.get("committer_name") or "", committer_email=c.get("committer_email") or "",
                message=c.get("message") or ""))
        self._state_and_labels("merge_requests", iid, item_id, rows)
        merge_sha = (mr.get("squash_commit_sha") or mr.get("merge_commit_sha") or mr.get("sha")) if merged else None
        if merged is not None:
            rows.event(item_id, merged, "merged", self.who(mr.get("merge_user") or mr.get("merged_by")), sha=merge_sha)
        state = {"merged": "merged", "closed": "closed", "locked": "closed"}.get(mr.get("state"), "open")
        branch = mr.get("source_branch")
        rows.item(item_id=item_id, source="gitlab", kind="pull_request", repo=self.project, title=mr.get("title"),
                  created_at=opened, started_at=first_commit, done_at=merged, state=state, author_id=author,
                  attrs={"number": iid, "draft": draft_at_open, "branch": branch, "base": mr.get("target_branch"),
                         "head_sha": mr.get("sha"), "merge_sha": merge_sha, "labels": sorted(mr.get("labels") or []),
                         "url": mr.get("web_url"), "closed_at": parse_time(mr.get("closed_at"))})
        description = mr.get("description") or ""
        for kind, target in closing_links(description, self.project):
            rows.link(item_id, target, kind)
        if branch:
            rows.evidence(item_id, self.matcher.match_branch(branch))
        user = mr.get("author") or {}
        rows.evidence(item_id, self.matcher.match_commit(author_name=user.get("username") or "", author_email="",
                                                         committer_name="", committer_email="", message=description))

    # -- issues ------------------------------------------------------------------------------

    def convert_issues(self, entries: list[dict], rows: PageRows) -> None:
        self.convert_changed(entries, rows, lambda e: f"{self.prefix}issue:{e.get('iid')}", self.issue)

    def issue(self, issue: dict, item_id: str, rows: PageRows) -> None:
        labels = sorted(issue.get("labels") or [])
        typ = str(issue.get("issue_type") or issue.get("type") or "issue").lower()
        kind = "incident" if typ == "incident" or any(_INCIDENT.search(lb) for lb in labels) else "issue"
        author = self.who(issue.get("author"))
        opened = parse_time(issue.get("created_at"))
        rows.event(item_id, opened, "opened", author)
        self._state_and_labels("issues", issue.get("iid"), item_id, rows)
        state = "closed" if issue.get("state") == "closed" else "open"
        rows.item(item_id=item_id, source="gitlab", kind=kind, repo=self.project, title=issue.get("title"),
                  created_at=opened, started_at=None, done_at=parse_time(issue.get("closed_at")) if state == "closed" else None,
                  state=state, author_id=author,
                  attrs={"number": issue.get("iid"), "labels": labels,
                         "type": "bug" if any(_BUG.search(lb) for lb in labels) else typ,
                         "status": state, "status_category": "done" if state == "closed" else "new",
                         "url": issue.get("web_url")})

    # -- pipelines and deployments ----------------------------------------------------------

    def convert_pipelines(self, entries: list[dict], rows: PageRows) -> None:
        def with_details(p: dict, item_id: str, rows: PageRows) -> None:
            full = self.client.get(f"{self.api}/pipelines/{p.get('id')}", conditional=False).data
            self.pipeline({**p, **(full if isinstance(full, dict) else {})}, item_id, rows)

        self.convert_changed(entries, rows, lambda e: f"{self.prefix}pipeline:{e.get('id')}", with_details)

    def pipeline(self, p: dict, item_id: str, rows: PageRows) -> None:
        sha, status = p.get("sha"), p.get("status")
        state = _PIPELINE_STATE.get(status, "running")
        started = parse_time(p.get("started_at"))
        done = parse_time(p.get("finished_at")) if state != "running" else None
        actor = self.who(p.get("user"))
        rows.event(item_id, started, "ci_started", actor, sha=sha, attempt=1)
        if state == "success":
            rows.event(item_id, done, "ci_passed", None, sha=sha, attempt=1)
        elif state == "failure":
            rows.event(item_id, done, "ci_failed", None, sha=sha, attempt=1, conclusion=status)
        m = _MR_REF.match(p.get("ref") or "")
        prs = [int(m.group(1))] if m else []
        for n in prs:
            rows.link(item_id, f"{self.prefix}mr:{n}", "part_of")
        rows.item(item_id=item_id, source="gitlab", kind="ci_run", repo=self.project, title=p.get("name") or p.get("ref"),
                  created_at=parse_time(p.get("created_at")), started_at=started, done_at=done, state=state,
                  author_id=actor, attrs={"sha": sha, "workflow": p.get("name"), "event": p.get("source"), "attempt": 1,
                                          "branch": None if m else p.get("ref"), "pr_numbers": prs, "conclusion": status})

    def convert_deployments(self, entries: list[dict], rows: PageRows) -> None:
        self.convert_changed(entries, rows, lambda e: f"{self.prefix}deployment:{e.get('id')}", self.deployment)

    def deployment(self, d: dict, item_id: str, rows: PageRows) -> None:
        env = d.get("environment") or {}
        name = env.get("name") if isinstance(env, dict) else str(env)
        tier = env.get("tier") if isinstance(env, dict) else None
        production = tier == "production" or str(name or "").lower() in ("production", "prod")
        sha, status = d.get("sha"), d.get("status")
        created = parse_time(d.get("created_at"))
        finished = parse_time(d.get("finished_at")) or parse_time(d.get("updated_at"))
        actor = self.who(d.get("user"))
        state, done = "pending", None
        if status == "success":
            state, done = "success", finished
            rows.event(item_id, finished, "deployed", actor, environment=name, sha=sha)
        elif status in ("failed", "canceled"):
            state, done = "failure", finished
            rows.event(item_id, finished, "deploy_failed", actor, environment=name, sha=sha)
        rows.item(item_id=item_id, source="gitlab", kind="deployment", repo=self.project,
                  title=f"{name} {str(sha or '')[:12]}", created_at=created, started_at=created, done_at=done,
                  state=state, author_id=actor,
                  attrs={"sha": sha, "environment": name, "production": production, "ref": d.get("ref"),
                         "status": status})

    # -- the walk ----------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        def updated(e: dict) -> datetime | None:
            return parse_time(e.get("updated_at"))

        by_update = {"order_by": "updated_at", "sort": "desc", "per_page": 100}
        return [
            Stream("merge_requests", f"{self.api}/merge_requests", {**by_update, "state": "all"}, listed, updated,
                   self.convert_mrs),
            Stream("issues", f"{self.api}/issues", {**by_update, "scope": "all"}, listed, updated, self.convert_issues),
            Stream("pipelines", f"{self.api}/pipelines", by_update, listed, updated, self.convert_pipelines),
            Stream("deployments", f"{self.api}/deployments", by_update, listed, updated, self.convert_deployments),
        ]


Source = GitlabSource
