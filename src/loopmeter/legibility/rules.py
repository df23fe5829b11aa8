"""The scoring rules, as data: every check, its points, and how a measured value becomes points.

docs/legibility.md is the prose twin of this table; a test checks the two agree.

Each question has checks whose points add up to 10. A check earns `points * fraction`, where the
fraction is 0..1: given directly by the check (all-or-nothing, or stated steps), or, for a check
with a `ramp = (zero_at, full_at)`, read off a straight line between two values of what it
measured (below `zero_at` nothing, beyond `full_at` everything; `zero_at > full_at` when less is
better). A check that could not be measured (no history, nothing ingested) is *unknown*: it earns
nothing and is left out of the denominator, so the question's score is
`10 * earned / points of the measured checks`, rounded to one decimal.
"""

from __future__ import annotations

from dataclasses import dataclass

QUESTIONS = ("observable", "callable", "measurable", "feedback", "owned")

TITLES = {
    "observable": "Observable: can the work be seen?",
    "callable": "Callable: can an agent run the tools?",
    "measurable": "Measurable: is success defined?",
    "feedback": "Feedback: does failure come back into the loop?",
    "owned": "Owned: does someone own the loop?",
}


@dataclass(frozen=True)
class Check:
    id: str
    question: str
    points: float
    title: str
    remediation: str
    ramp: tuple[float, float] | None = None

    def fraction(self, value: float) -> float:
        zero, full = self.ramp  # type: ignore[misc]
        f = (value - zero) / (full - zero)
        return min(1.0, max(0.0, f))


CHECKS: tuple[Check, ...] = (
    # Observable
    Check("linked_changes", "observable", 4, "Changes linked to a pull request or ticket (last 12 months)",
          "Land every change through a pull request or merge request, or name its ticket in the message "
          "(`Fixes #123`, `ABC-123`), so an agent can find why a change was made.", ramp=(0.0, 0.8)),
    Check("issue_references", "observable", 2, "Commits that reference an issue (last 12 months)",
          "Reference the issue a commit works on (`#123`, `ABC-123` or the issue URL) in its message.",
          ramp=(0.0, 0.5)),
    Check("ticket_states", "observable", 2, "Ticket states show work in progress",
          "Move tickets through an in-progress state (a board column or status), not only open and closed, "
          "and ingest the tracker so the states can be seen."),
    Check("telemetry", "observable", 2, "Telemetry or structured logging configured",
          "Add OpenTelemetry (or Prometheus / Sentry) instrumentation or a structured logger (structlog, "
          "pino, zap, ...) so that what the code does at run time can be read by a tool."),
    # Callable
    Check("task_commands", "callable", 3, "Build, test and lint commands discoverable",
          "Declare `build`, `test` and `lint` as Makefile/justfile targets, package.json or pyproject "
          "scripts, or tox/nox sessions, so an agent need not guess how to run them."),
    Check("lock_file", "callable", 2, "Dependencies locked",
          "Commit a lock file (uv.lock, poetry.lock, package-lock.json, Cargo.lock, go.sum, ...) or pin "
          "every requirement with `==`."),
    Check("container_env", "callable", 1, "Reproducible environment (devcontainer, container file, Nix)",
          "Add a .devcontainer/devcontainer.json or a Dockerfile that builds the development environment."),
    Check("agent_instructions", "callable", 2, "Instructions for agents",
          "Add an AGENTS.md (or CLAUDE.md, .cursor/rules, .github/copilot-instructions.md) that says how to "
          "build, test and lint, and what not to touch."),
    Check("tool_interfaces", "callable", 2, "CLIs or APIs for the team's systems",
          "Keep the team's operations as scripts (scripts/, bin/, tools/), a command-line entry point, an "
          "API description (OpenAPI, protobuf, GraphQL) or an MCP server config, so an agent can call them."),
    # Measurable
    Check("tests", "measurable", 4, "Tests present (test files per source file)",
          "Add tests beside the code; one test file for every four source files earns full credit.",
          ramp=(0.0, 0.25)),
    Check("ci_config", "measurable", 3, "CI configuration",
          "Run the tests in CI (.github/workflows, .gitlab-ci.yml, Jenkinsfile, ...)."),
    Check("coverage_typecheck", "measurable", 2, "Coverage and type-check configuration",
          "Configure coverage (coverage.py, codecov, jest) and a type checker (mypy, pyright, tsconfig "
          "`strict`) so that 'done' has a number an agent can check."),
    Check("issue_templates", "measurable", 1, "Issue templates that ask for acceptance criteria",
          "Add issue templates (.github/ISSUE_TEMPLATE/) with an 'Acceptance criteria' or 'Expected "
          "behaviour' section."),
    # Feedback
    Check("ci_on_pr", "feedback", 3, "CI runs on every pull request",
          "Trigger CI on `pull_request` (GitHub Actions) or merge-request pipelines, so every proposed change "
          "gets a verdict before it lands."),
    Check("ci_latency", "feedback", 1.5, "CI latency (median queued-to-done, ingested runs), minutes",
          "Make the pull-request CI finish within 10 minutes (split slow suites, cache dependencies).",
          ramp=(60.0, 10.0)),
    Check("ci_flakiness", "feedback", 1.5, "CI flakiness (share of commit-workflow pairs that both failed and passed)",
          "Find and fix or quarantine tests whose verdict changes without a code change.", ramp=(0.2, 0.0)),
    Check("pre_commit", "feedback", 2, "Pre-commit hooks",
          "Add pre-commit hooks (.pre-commit-config.yaml, husky, lefthook) so mistakes come back before a push."),
    Check("reverts", "feedback", 1, "Reverts or reopened tickets in the last 12 months",
          "Revert a change that broke something with `git revert` (its message names the reverted commit) "
          "and reopen tickets that were not fixed, so failure is recorded where tools can see it."),
    Check("error_tracking", "feedback", 1, "Error tracking configured",
          "Report production errors to an error tracker (Sentry, Bugsnag, Rollbar, ...)."),
    # Owned
    Check("codeowners", "owned", 4, "CODEOWNERS coverage of the tracked files",
          "Add a CODEOWNERS file, or extend the one there, until its rules give every path an owner; 90% of "
          "files owned earns full credit.",
          ramp=(0.0, 0.9)),
    Check("maintainers", "owned", 2, "Maintainers listed",
          "List the maintainers (a MAINTAINERS file, CODEOWNERS, or `maintainers` in pyproject.toml / package.json)."),
    Check("bus_factor", "owned", 2, "Bus factor of the last 12 months' commits",
          "Spread the work: when one or two people make half the commits, the loop stops when they do.",
          ramp=(1.0, 3.0)),
    Check("fresh_areas", "owned", 2, "Share of top-level folders touched in the last 12 months",
          "Assign an owner to each folder nobody touched in a year, or archive it.", ramp=(0.0, 1.0)),
)

BY_ID = {c.id: c for c in CHECKS}


def checks_of(question: str) -> list[Check]:
    return [c for c in CHECKS if c.question == question]


def _check_totals() -> None:
    for q in QUESTIONS:
        total = sum(c.points for c in checks_of(q))
        assert abs(total - 10) < 1e-9, (q, total)


_check_totals()
