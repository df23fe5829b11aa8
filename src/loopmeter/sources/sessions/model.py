"""What the session readers yield, and the rules every reader shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

# A gap longer than this between two entries of a session is idle time, not work. Five minutes is
# a convention (the same order as the idle cut-offs of editor time trackers), not a measurement.
IDLE_GAP_SECONDS = 300.0

# Commands that run a test suite. A run counts as passing when the tool reports success (exit 0).
_TEST_COMMAND = re.compile(
    r"(?:^|[\s;&|(/])(?:"
    r"pytest|py\.test|python3? -m (?:pytest|unittest)|tox|nox|"
    r"go test|cargo (?:test|nextest)|(?:npm|pnpm|yarn|bun)(?: run)? test|npx (?:jest|vitest|mocha)|jest|vitest|mocha|"
    r"rspec|rake test|bundle exec (?:rspec|rake test)|phpunit|mvn(?: \S+)* (?:test|verify)|gradlew?(?: \S+)* test|"
    r"ctest|make (?:test|check)|dotnet test|mix test|swift test|deno test|bazel test|\S*/test\.sh"
    r")(?=$|[\s;&|)])"
)
# `git commit` prints "[branch abc1234] subject" (or "[branch (root-commit) abc1234]").
_COMMIT_LINE = re.compile(r"^\[([^\]\s]+)(?: \(root-commit\))? ([0-9a-f]{7,40})\]", re.M)


# A pull or merge request URL a tool printed (`gh pr create`, `glab mr create`, a push hint).
_PR_URL = re.compile(r"https?://[^/\s]+/((?:[\w.-]+/)+[\w.-]+?)(?:/-)?/(pull|merge_requests)/(\d+)\b")


def pull_requests_in_output(text: str) -> list[tuple[str, str, int]]:
    """(provider, owner/repo or group/project, number) of each pull/merge request URL in a tool's output."""
    # GitLab puts "/-/" between the project path and the merge request.
    return [("github" if m.group(2) == "pull" else "gitlab", m.group(1).removesuffix("/-"), int(m.group(3)))
            for m in _PR_URL.finditer(text or "")]


def is_test_command(command: str) -> bool:
    return bool(_TEST_COMMAND.search(command or ""))


def commits_in_output(text: str) -> list[tuple[str, str]]:
    """(branch, abbreviated sha) of each commit `git commit` reported in a tool's output."""
    return [(m.group(1), m.group(2)) for m in _COMMIT_LINE.finditer(text or "")]


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 string or epoch seconds/milliseconds as naive UTC; None when unreadable."""
    from ..safe import parse_time as safe_time  # range-checked (1900..2200), never raises

    return safe_time(value)


@dataclass
class SessionEvent:
    ts: datetime
    activity: str  # session_started | user_turn | tool_call | test_run | commit_seen | session_ended | api_request
    attrs: dict = field(default_factory=dict)


@dataclass
class Session:
    """One agent session, summarised for the metrics (docs/metrics.md, "Agent loops")."""

    source: str  # claude-code | codex | otel
    session_id: str
    agent: str  # the attribution slug: claude-code, codex, ...
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cwd: str | None = None
    branches: set[str] = field(default_factory=set)
    commits: set[str] = field(default_factory=set)
    pull_requests: set[tuple[str, str, int]] = field(default_factory=set)
    model: str | None = None
    user_turns: int = 0
    tool_calls: int = 0
    failed_tool_calls: int = 0
    test_runs: int = 0
    passed_test_runs: int = 0
    first_green_at: datetime | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    active_seconds: float | None = None
    actor: str | None = None  # an email or account id, pseudonymised by the store
    events: list[SessionEvent] = field(default_factory=list)
    kept_text: list[str] = field(default_factory=list)  # prompts and commands, only with keep_text

    @property
    def item_id(self) -> str:
        return f"{self.source}:{self.session_id}"

    @property
    def interventions(self) -> int:
        """Human turns after the first: each is a person stepping into the loop."""
        return max(self.user_turns - 1, 0)

    @property
    def time_to_green_seconds(self) -> float | None:
        if self.first_green_at is None or self.started_at is None:
            return None
        return max((self.first_green_at - self.started_at).total_seconds(), 0.0)

    def see(self, ts: datetime | None) -> None:
        if ts is None:
            return
        if self.started_at is None or ts < self.started_at:
            self.started_at = ts
        if self.ended_at is None or ts > self.ended_at:
            self.ended_at = ts

    def add_tokens(self, tokens_in: int | None, tokens_out: int | None) -> None:
        if tokens_in is not None:
            self.tokens_in = (self.tokens_in or 0) + int(tokens_in)
        if tokens_out is not None:
            self.tokens_out = (self.tokens_out or 0) + int(tokens_out)

    def record_tool(self, ts: datetime | None, tool: str, ok: bool | None, command: str | None,
                    output: str | None, keep_text: bool) -> None:
        self.tool_calls += 1
        if ok is False:
            self.failed_tool_calls += 1
        when = ts or self.ended_at
        if when is not None:
            self.events.append(SessionEvent(when, "tool_call", {"tool": tool, "ok": ok}))
        if command and is_test_command(command):
            self.test_runs += 1
            if ok:
                self.passed_test_runs += 1
                if when is not None and (self.first_green_at is None or when < self.first_green_at):
                    self.first_green_at = when
            if when is not None:
                self.events.append(SessionEvent(when, "test_run", {"passed": bool(ok)}))
        if keep_text and command:
            self.kept_text.append(command)
        for branch, sha in commits_in_output(output or ""):
            if sha not in self.commits:
                self.commits.add(sha)
                if when is not None:
                    self.events.append(SessionEvent(when, "commit_seen", {"sha": sha, "branch": branch}))
            if branch and branch != "HEAD" and not branch.startswith("detached"):
                self.branches.add(branch)
        for pr in pull_requests_in_output(output or ""):
            if pr not in self.pull_requests:
                self.pull_requests.add(pr)
                if when is not None:
                    self.events.append(SessionEvent(when, "pr_seen", {"provider": pr[0], "repo": pr[1], "number": pr[2]}))


def active_seconds(times: list[datetime], idle_gap: float = IDLE_GAP_SECONDS) -> float:
    """Sum of the gaps between consecutive entries, each capped at the idle gap."""
    ts = sorted(times)
    return float(sum(min((b - a).total_seconds(), idle_gap) for a, b in zip(ts, ts[1:])))


@dataclass
class UsageDay:
    """One day of one actor's use of one agent, as usage reports give it (no sessions to see)."""

    source: str  # copilot-metrics | claude-code-admin | otel
    day: date
    actor: str | None  # login, email or account id; pseudonymised by the store
    agent: str
    sessions: int | None = None
    prompts: int | None = None
    lines_added: int | None = None
    lines_deleted: int | None = None
    commits: int | None = None
    pull_requests: int | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    active_seconds: float | None = None


@dataclass
class ParseReport:
    """What a reader could not use, so nothing is dropped silently."""

    path: str
    lines: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def skip(self, line: int, reason: str) -> None:
        self.skipped.append((line, reason))
