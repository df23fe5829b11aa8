"""Observable: can the work be seen? Links from changes to pull requests and tickets, ticket states,
and run-time telemetry."""

from __future__ import annotations

from . import deps
from .context import Context, Evidence, Split, show
from .history import pr_number, references_ticket
from .store_facts import StoreFacts

_NO_HISTORY = "no git history to read"


def _landings(ctx: Context) -> dict | None:
    """The changes the files' history landed in the year, and how many name a PR or ticket."""
    if ctx.history.as_of is None:
        return None
    landings = ctx.history.first_parent
    linked = sum(1 for c in landings if pr_number(c.subject, c.message) is not None or references_ticket(c.message))
    return {"landings": len(landings), "linked": linked}


def _linked_changes(part: dict | None, f: StoreFacts | None) -> Evidence:
    if f is not None and f.changes:
        share = f.linked_changes / f.changes
        return Evidence(value=share, evidence=[
            f"store: {f.linked_changes} of {f.changes} changes landed in the last 12 months name a pull request "
            f"or ticket ({share:.0%})"])
    if part is None:
        return Evidence(unknown=_NO_HISTORY)
    n, linked = part["landings"], part["linked"]
    if not n:
        return Evidence(unknown="no change landed in the 12 months before HEAD")
    share = linked / n
    ev = Evidence(value=share, evidence=[
        f"git: {linked} of {n} first-parent commits of the last 12 months name a pull request or "
        f"ticket ({share:.0%})"])
    if linked < n:
        ev.missing.append(f"{n - linked} changes landed without a pull request or ticket reference")
    return ev


linked_changes = Split(_landings, _linked_changes)


def issue_references(ctx: Context) -> Evidence:
    if ctx.history.as_of is None:
        return Evidence(unknown=_NO_HISTORY)
    singles = [c for c in ctx.history.commits if len(c.parents) <= 1 and c.time > ctx.history.since]
    if not singles:
        return Evidence(unknown="no commit in the 12 months before HEAD")
    n = sum(1 for c in singles if references_ticket(c.message))
    share = n / len(singles)
    ev = Evidence(value=share, evidence=[f"{n} of {len(singles)} non-merge commits reference an issue or ticket ({share:.0%})"])
    if n < len(singles):
        ev.missing.append(f"{len(singles) - n} commits name no issue")
    return ev


def _ticket_states(_: None, f: StoreFacts | None) -> Evidence:
    if f is None or f.issues == 0:
        return Evidence(unknown="no tracker ingested for this repository")
    ev = Evidence(evidence=[f"store: {f.issues} issues" + (f" with states {', '.join(f.statuses[:6])}" if f.statuses else "")])
    if f.in_progress_issues:
        ev.fraction = 1.0
        ev.evidence.append(f"{f.in_progress_issues} issues were moved to an in-progress state")
    else:
        ev.fraction = 0.5
        ev.missing.append("no issue was ever in progress: only opened and closed, so work under way cannot be seen")
    return ev


def telemetry(ctx: Context) -> Evidence:
    found = deps.find(deps.TELEMETRY, ctx.manifest_text()) + deps.find(deps.STRUCTURED_LOGGING, ctx.manifest_text())
    found += deps.find(deps.ERROR_TRACKING, ctx.manifest_text())
    files = ctx.named(*deps.LOGGING_CONFIG_FILES)
    if files:
        found.append(f"logging or collector config: {show(files)}")
    if found:
        return Evidence(fraction=1.0, evidence=found)
    return Evidence(fraction=0.0, missing=[
        f"no telemetry library, structured logger or logging config in {len(ctx.manifests)} dependency manifests"])


ticket_states = Split(None, _ticket_states)

FINDERS = {"linked_changes": linked_changes, "issue_references": issue_references,
           "ticket_states": ticket_states, "telemetry": telemetry}
