"""A small builder that writes canonical rows (items, events, links, actors, attributions) straight
into a real DuckDB store, for metrics tests that must not depend on which source filled the tables.

Rows follow docs/design.md "the shared vocabulary". Times are written as "YYYY-MM-DD HH:MM" (UTC).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from loopmeter.store.db import Store


def ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class Canon:
    def __init__(self, path: Path | None = None, repo: str = "acme/api", source: str = "github"):
        self.store = Store.open(path)
        self.repo = repo
        self.source = source

    def close(self) -> None:
        self.store.close()

    # -- rows ---------------------------------------------------------------------------------

    def actor(self, actor_id: str, kind: str = "human", name: str | None = None, agent: str | None = None) -> str:
        self.store.con.execute(
            "insert or replace into actors values (?, ?, ?, null, null, ?)", [actor_id, kind, name or actor_id, agent]
        )
        return actor_id

    def item(self, item_id: str, kind: str, *, created: str | None = None, started: str | None = None,
             done: str | None = None, state: str | None = None, author: str | None = None,
             title: str | None = None, repo: str | None = None, source: str | None = None, **attrs) -> str:
        self.store.con.execute(
            "insert into items values (?, ?, ?, ?, null, ?, ?, ?, ?, ?, null, ?, ?::json)",
            [item_id, source or self.source, kind, repo or self.repo, title, ts(created), ts(started), ts(done),
             state, author, json.dumps(attrs)],
        )
        return item_id

    def event(self, item_id: str, at: str, activity: str, actor: str | None = None, **attrs) -> None:
        self.store.con.execute(
            "insert into events (item_id, ts, activity, actor_id, attrs) values (?, ?, ?, ?, ?::json)",
            [item_id, ts(at), activity, actor, json.dumps(attrs) if attrs else None],
        )

    def link(self, src: str, dst: str, kind: str) -> None:
        self.store.con.execute("insert into links values (?, ?, ?)", [src, dst, kind])

    def attribution(self, item_id: str, agent: str = "claude-code") -> None:
        self.store.con.execute(
            "insert into attributions (item_id, agent, evidence, signal, confidence, evidence_class) "
            "values (?, ?, 'test', 'branch', 1.0, 'authored')", [item_id, agent]
        )

    def commit(self, sha: str, parents: list[str], at: str, repo: str = "api") -> None:
        """A row of the git layer (for the deployment ancestry walk)."""
        self.store.con.execute(
            "insert into commits (repo, sha, parents, author_time, committer_time) values (?, ?, ?, ?, ?)",
            [repo, sha, parents, ts(at), ts(at)],
        )

    # -- conveniences -------------------------------------------------------------------------

    def pr(self, n: int, *, author: str, opened: str, merged: str | None = None, first_commit: str | None = None,
           draft: bool = False, merge_sha: str | None = None, head_sha: str | None = None, title: str | None = None,
           branch: str = "feature", labels: list[str] | None = None, closed: str | None = None,
           repo: str | None = None) -> str:
        """A pull request with its `opened`, `committed` and `merged`/`closed` events."""
        r = repo or self.repo
        pid = f"github:{r}:pr:{n}"
        state = "merged" if merged else ("closed" if closed else "open")
        self.item(pid, "pull_request", created=opened, started=first_commit, done=merged or closed, state=state,
                  author=author, title=title or f"PR {n}", repo=r, number=n, draft=draft, branch=branch,
                  base="main", head_sha=head_sha, merge_sha=merge_sha, labels=labels or [],
                  closed_at=None if merged else closed)
        self.event(pid, opened, "opened", author, draft=draft)
        if first_commit:
            self.event(pid, first_commit, "committed", author, sha=head_sha or f"c{n}")
        if merged:
            self.event(pid, merged, "merged", "merger", sha=merge_sha)
        elif closed:
            self.event(pid, closed, "closed", author)
        return pid

    def deployment(self, did: int, *, sha: str, at: str, ok: bool = True, production: bool = True,
                   repo: str | None = None) -> str:
        r = repo or self.repo
        iid = f"github:{r}:deployment:{did}"
        env = "production" if production else "staging"
        self.item(iid, "deployment", created=at, started=at, done=at, state="success" if ok else "failure",
                  repo=r, sha=sha, environment=env, production=production)
        self.event(iid, at, "deployed" if ok else "deploy_failed", None, environment=env, sha=sha)
        return iid

    def ci_run(self, run: int, *, sha: str, queued: str, verdict_at: str | None, ok: bool | None,
               workflow: str = "ci", attempt: int = 1, started: str | None = None, pr: str | None = None,
               repo: str | None = None) -> str:
        r = repo or self.repo
        iid = f"github:{r}:run:{run}:{attempt}"
        state = "running" if ok is None else ("success" if ok else "failure")
        self.item(iid, "ci_run", created=queued, started=started or queued, done=verdict_at, state=state, repo=r,
                  sha=sha, workflow=workflow, event="push", attempt=attempt, branch="main", pr_numbers=[])
        self.event(iid, started or queued, "ci_started", None, sha=sha, attempt=attempt)
        if ok is not None:
            self.event(iid, verdict_at, "ci_passed" if ok else "ci_failed", None, sha=sha, attempt=attempt,
                       conclusion="success" if ok else "failure")
        if pr:
            self.link(iid, pr, "part_of")
        return iid
