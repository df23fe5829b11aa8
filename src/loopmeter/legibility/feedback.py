"""Feedback: does failure come back into the loop? CI on pull requests, how fast and how
trustworthy CI is (from ingested runs), hooks before a push, reverts, and error tracking."""

from __future__ import annotations

import re

from ..store.message_patterns import is_revert
from . import configs, deps
from .context import Context, Evidence, Split, show
from .store_facts import StoreFacts

PR_EVENTS = frozenset({"pull_request", "pull_request_target", "merge_group"})
#: CI services that build every branch or pull request of a repository unless told otherwise.
_PR_BY_DEFAULT = re.compile(r"^(?:\.gitlab-ci\.ya?ml|\.travis\.ya?ml|azure-pipelines\.ya?ml|\.circleci/config\.ya?ml"
                            r"|bitbucket-pipelines\.ya?ml|\.cirrus\.ya?ml|\.buildkite/[^/]+|appveyor\.ya?ml|\.appveyor\.ya?ml)$", re.I)
_HOOKS = re.compile(r"^(?:\.pre-commit-config\.ya?ml|\.husky/[^/]+|\.?lefthook\.ya?ml|\.lintstagedrc[\w.]*"
                    r"|lint-staged\.config\.[cm]?js|\.githooks/[^/]+|\.overcommit\.ya?ml|\.pre-commit-hooks\.ya?ml)$", re.I)
_NO_RUNS = "no CI runs ingested for this repository"


def _ci_files(ctx: Context) -> dict:
    """What the files say about CI on pull requests (shown lists, as the evidence names them)."""
    on_pr = [p for p in ctx.workflows if p in ctx.texts and configs.workflow_triggers(ctx.texts[p]) & PR_EVENTS]
    default = sorted(f for f in ctx.files if _PR_BY_DEFAULT.match(f))
    return {"on_pr": show(on_pr) if on_pr else None, "workflows": len(ctx.workflows),
            "default": show(default) if default else None,
            "jenkins": any(f.lower() == "jenkinsfile" for f in ctx.files)}


def _ci_on_pr(part: dict, f: StoreFacts | None) -> Evidence:
    ev = Evidence(fraction=0.0)
    if part["on_pr"]:
        ev.fraction = 1.0
        ev.evidence.append(f"workflows triggered by pull requests: {part['on_pr']}")
    elif part["workflows"]:
        ev.missing.append(f"none of {part['workflows']} GitHub workflows is triggered by pull_request")
    if part["default"] and ev.fraction < 1:
        ev.fraction = 1.0
        ev.evidence.append(f"CI that builds every branch or merge request by default: {part['default']}")
    if f is not None and f.pr_ci_runs:
        ev.fraction = 1.0
        ev.evidence.append(f"store: {f.pr_ci_runs} CI runs on pull requests in the last 12 months")
    if ev.fraction < 1 and part["jenkins"]:
        ev.fraction = 0.5
        ev.evidence.append("Jenkinsfile: whether it builds pull requests is set in Jenkins, not in the repository")
    if ev.fraction == 1:
        ev.missing = []
    elif ev.fraction == 0 and not ev.missing:
        ev.missing.append("no CI runs on pull requests")
    return ev


def _ci_latency(_: None, f: StoreFacts | None) -> Evidence:
    if f is None or f.ci_median_minutes is None:
        return Evidence(unknown=_NO_RUNS)
    m = f.ci_median_minutes
    ev = Evidence(value=m, evidence=[f"store: median {m:.1f} minutes from queued to done over {f.ci_finished} finished runs"])
    if m > 10:
        ev.missing.append(f"CI takes {m:.0f} minutes (median); an agent waits that long for each verdict")
    return ev


def _ci_flakiness(_: None, f: StoreFacts | None) -> Evidence:
    if f is None or f.ci_pairs == 0:
        return Evidence(unknown=_NO_RUNS)
    share = f.flaky_pairs / f.ci_pairs
    ev = Evidence(value=share, evidence=[
        f"store: {f.flaky_pairs} of {f.ci_pairs} commit-workflow pairs both failed and passed ({share:.1%})"])
    if f.flaky_pairs:
        ev.missing.append(f"{f.flaky_pairs} verdicts changed without a code change: a red build may not mean a bug")
    return ev


ci_on_pr = Split(_ci_files, _ci_on_pr)
ci_latency = Split(None, _ci_latency)
ci_flakiness = Split(None, _ci_flakiness)


def pre_commit(ctx: Context) -> Evidence:
    hits = sorted(f for f in ctx.files if _HOOKS.match(f))
    for path, _ in ctx.texts_of([p for p in ctx.manifests if p.endswith("package.json")]):
        data = ctx.config(path)
        keys = [k for k in ("husky", "lint-staged", "simple-git-hooks") if k in data
                or k in (data.get("devDependencies") or {} if isinstance(data.get("devDependencies"), dict) else {})]
        if keys:
            hits.append(f"{path} ({', '.join(keys)})")
    if hits:
        return Evidence(fraction=1.0, evidence=[f"hooks: {show(hits)}"])
    return Evidence(fraction=0.0, missing=["no pre-commit hooks"])


def _revert_commits(ctx: Context) -> int | None:
    if ctx.history.as_of is None:
        return None
    return sum(1 for c in ctx.history.commits if c.time > ctx.history.since and is_revert(c.message))


def _reverts(n: int | None, f: StoreFacts | None) -> Evidence:
    if n is None:
        return Evidence(unknown="no git history to read")
    ev = Evidence(evidence=[f"{n} revert commits in the last 12 months"])
    if f is not None:
        ev.evidence.append(f"store: {f.reverted} changes reverted, {f.reopened} issues or pull requests reopened")
    total = n + (f.reopened if f is not None else 0)
    ev.fraction = 1.0 if total else 0.0
    if not total:
        ev.missing.append("no revert or reopen in 12 months: failures are either absent or fixed forward out of sight")
    return ev


reverts = Split(_revert_commits, _reverts)


def error_tracking(ctx: Context) -> Evidence:
    found = deps.find(deps.ERROR_TRACKING, ctx.manifest_text())
    files = ctx.named(*deps.ERROR_TRACKING_FILES)
    if files:
        found.append(f"error-tracker config: {show(files)}")
    if found:
        return Evidence(fraction=1.0, evidence=found)
    return Evidence(fraction=0.0, missing=["no error tracker (Sentry, Bugsnag, Rollbar, ...) configured"])


FINDERS = {"ci_on_pr": ci_on_pr, "ci_latency": ci_latency, "ci_flakiness": ci_flakiness, "pre_commit": pre_commit,
           "reverts": reverts, "error_tracking": error_tracking}
