"""The `loopmeter` command: thin commands that parse options, call one API function and render."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import api
from .errors import ConfigError, LoopmeterError
from .ingestion import Progress as IngestProgress
from .report.terminal import escape
from .store.db import DEFAULT_STORE

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Measure from telemetry whether AI makes your work faster.\n\nExample: loopmeter analyze ~/src/api --json > report.json",
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

StoreOpt = Annotated[Path, typer.Option("--store", help="The DuckDB store file.", show_default=True)]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON report (docs/json-report.md) instead of tables.")]
AdoptOpt = Annotated[Optional[str], typer.Option("--adoption-date", help="AI adoption date (YYYY-MM-DD); detected when omitted.")]
WindowOpt = Annotated[Optional[int], typer.Option("--window-days", help="Validation window in days \\[default: 14, or loopmeter.toml].")]
AsOfOpt = Annotated[Optional[str], typer.Option("--as-of", help="Judge validation as of this UTC time (YYYY-MM-DD[THH:MM]); default: the newest landing in the data.")]
NamesOpt = Annotated[bool, typer.Option("--show-names", help="Show people's names instead of pseudonyms.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap, for reproducible intervals.")]
HtmlOpt = Annotated[Path, typer.Option("--html", help="Where to write the self-contained HTML report.")]
BranchOpt = Annotated[Optional[str], typer.Option("--branch", help="Analyze this branch instead of HEAD.")]
FailWinOpt = Annotated[float, typer.Option("--failure-window", help="Hours after a production deployment in which a revert, hotfix or incident makes it a failed change.")]
IncidentOpt = Annotated[str, typer.Option("--incident-rule", help="Which incidents fail a deployment: 'linked' (linked to it or a change it shipped) or 'repo' (any in its repository).")]
ByOpt = Annotated[Optional[str], typer.Option(
    "--by", help="repo, team or codeowners: the unit the lift designs are run per (adoption dates, fixed effects, "
                 "the Simpson's check); team: \\[\\[team]] in loopmeter.toml, codeowners: the CODEOWNERS team owning most "
                 "of a change's lines \\[default: team when loopmeter.toml defines \\[\\[team]], else repo].",
    show_default=False)]
RepoUrlOpt = Annotated[Optional[list[str]], typer.Option(
    "--repo-url", metavar="REPO=URL",
    help="Web address of a repository, so change titles in the HTML report link to their PR or commit "
         "(repeatable; default: read from the repository's git remote).")]
PullOpt = Annotated[bool, typer.Option("--pull-refs/--no-pull-refs", help="Read squash merges' own commits from refs/pull/N/head.")]


class _RichProgress(IngestProgress):
    def __init__(self, console: Console):
        self.console = console
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        )
        self.task = None

    def start(self, repo: str, total: int | None, unit: str = "commits") -> None:
        if not self.bar.live.is_started:
            self.bar.start()
        self.task = self.bar.add_task(escape(repo), total=total, unit=unit)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)

    def note(self, message: str) -> None:
        self.bar.console.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def stop(self) -> None:
        if self.bar.live.is_started:
            self.bar.stop()


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


def _as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--as-of: {value!r} is not a date or time (YYYY-MM-DD[THH:MM])") from None
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t


def _run(debug: bool, fn):
    try:
        return fn()
    except LoopmeterError as e:
        if debug:
            raise
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]: everything committed so far is kept; run the same command to resume")
        raise typer.Exit(130) from None


def _repo_urls(values: list[str] | None) -> dict[str, str] | None:
    from .report.links import parse_repo_urls

    return parse_repo_urls(values) or None


def _emit(doc: dict, as_json: bool, html: Path | None, fmt: str = "terminal") -> None:
    if fmt == "markdown":
        from .report.markdown import render_markdown

        sys.stdout.write(render_markdown(doc))
        return
    if as_json or fmt == "json":
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return
    from .report.terminal import render_terminal

    render_terminal(doc, Console())
    if html is not None:
        Console().print(f"HTML report: [bold]{escape(str(html))}[/bold]")


@app.command()
def analyze(
    paths: Annotated[list[Path], typer.Argument(help="Git repositories to analyze (working trees or bare mirrors).")],
    store: StoreOpt = DEFAULT_STORE,
    html: HtmlOpt = Path("loopmeter-report.html"),
    as_json: JsonOpt = False,
    adoption_date: AdoptOpt = None,
    window_days: WindowOpt = None,
    as_of: AsOfOpt = None,
    show_names: NamesOpt = False,
    branch: BranchOpt = None,
    pull_refs: PullOpt = True,
    seed: SeedOpt = 0,
    failure_window: FailWinOpt = 24.0,
    incident_rule: IncidentOpt = "linked",
    by: ByOpt = None,
    repo_url: RepoUrlOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Ingest repositories and report throughput, cycle time, AI share and lift.

    Example: loopmeter analyze ~/src/api ~/src/web --adoption-date 2025-03-01
    """

    def go():
        bar = _RichProgress(err)
        try:
            doc = api.analyze(
                [str(p) for p in paths], store_path=store, html_path=html, branch=branch, progress=bar, pull_refs=pull_refs,
                as_of=_as_of(as_of), window_days=window_days, adoption_date=_date(adoption_date, "--adoption-date"),
                show_names=show_names, seed=seed, failure_window_hours=failure_window, incident_rule=incident_rule,
                by=by, repo_urls=_repo_urls(repo_url),
            )
        finally:
            bar.stop()
        _emit(doc, as_json, html)

    _run(debug, go)


class _ApiProgress(_RichProgress):
    """Progress of API listings: items per stream, and the rate-limit wait when there is one.

    Transient: the summary line printed after the ingest says what was read, and an error stays
    the one line on stderr."""

    def __init__(self, console: Console):
        super().__init__(console)
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed} items"),
            TimeElapsedColumn(), console=console, transient=True,
        )
        self.label = ""

    def start(self, repo: str, total: int | None) -> None:
        self.label = escape(repo)
        super().start(repo, total)

    def wait(self, seconds: float, reason: str) -> None:
        text = f"{reason}, waiting {seconds:.0f} s"
        if self.task is not None:
            self.bar.update(self.task, description=f"{self.label} [yellow]({escape(text)})[/yellow]")
        self.bar.console.print(f"[yellow]{self.label}: {escape(text)}[/yellow]", highlight=False, soft_wrap=True)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, advance=n, description=self.label)


def _since(value: str | None) -> datetime | None:
    d = _date(value, "--since")
    return None if d is None else datetime(d.year, d.month, d.day)


@app.command()
def ingest(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Git repositories to read into the store.")] = None,
    github: Annotated[Optional[list[str]], typer.Option("--github", help="A GitHub repository OWNER/REPO (repeatable).")] = None,
    gitlab: Annotated[Optional[list[str]], typer.Option("--gitlab", help="A GitLab project GROUP/PROJECT (repeatable).")] = None,
    url: Annotated[Optional[str], typer.Option("--url", help="API base URL of a self-hosted GitHub Enterprise or GitLab, or of the Jira server (--jira).")] = None,
    token_env: Annotated[Optional[str], typer.Option("--token-env", help="Environment variable holding the API token \\[default: GITHUB_TOKEN / GITLAB_TOKEN / JIRA_TOKEN].")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Read API items updated (or created) on or after this date (YYYY-MM-DD).")] = None,
    store: StoreOpt = DEFAULT_STORE,
    branch: BranchOpt = None,
    pull_refs: PullOpt = True,
    sessions: Annotated[Optional[list[Path]], typer.Option("--sessions", help="Agent session logs or usage reports (files or folders; repeatable): Claude Code transcripts, Codex rollouts, Copilot usage metrics NDJSON, Claude Code usage report JSON.")] = None,
    sessions_format: Annotated[Optional[str], typer.Option("--sessions-format", help="Read --sessions as this format instead of detecting it: claude-code, codex, copilot-metrics, claude-code-admin.")] = None,
    keep_text: Annotated[bool, typer.Option("--keep-text", help="Also store prompts and commands from transcripts (off: only what the metrics need).")] = False,
    events: Annotated[Optional[Path], typer.Option("--events", help="A generic event log file (CSV, JSONL, XES, OCEL 2.0 JSON or SQLite).", rich_help_panel="Event logs")] = None,
    events_format: Annotated[Optional[str], typer.Option("--format", help="csv, jsonl, xes or ocel (or ocel-json, ocel-sqlite, as export names them); from the file name when omitted.", rich_help_panel="Event logs")] = None,
    case_col: Annotated[str, typer.Option("--case", help="CSV column / JSONL key of the case id.", rich_help_panel="Event logs")] = "case",
    activity_col: Annotated[str, typer.Option("--activity", help="Column / key of the activity name.", rich_help_panel="Event logs")] = "activity",
    timestamp_col: Annotated[str, typer.Option("--timestamp", help="Column / key of the ISO 8601 time (no offset = UTC).", rich_help_panel="Event logs")] = "timestamp",
    actor_col: Annotated[Optional[str], typer.Option("--actor", help="Column / key of who did it (pseudonymised).", rich_help_panel="Event logs")] = None,
    log_name: Annotated[Optional[str], typer.Option("--log-name", help="Name of the log (default: the file name without extensions).", rich_help_panel="Event logs")] = None,
    jira: Annotated[Optional[str], typer.Option("--jira", help="A Jira project key, read through the REST API at --url.", rich_help_panel="Jira")] = None,
    jira_csv: Annotated[Optional[Path], typer.Option("--jira-csv", help="A Jira CSV export (Issue key, Summary, Issue Type, Status, Created, Resolved, Updated, ...).", rich_help_panel="Jira")] = None,
    debug: DebugOpt = False,
) -> None:
    """Read new history into the store (idempotent and incremental): git repositories, GitHub, GitLab, event logs, Jira.

    Example: loopmeter ingest ~/src/api --github acme/api --store team.duckdb
    Example: loopmeter ingest --events tickets.csv --case ticket --activity status --timestamp at
    Example: loopmeter ingest --jira OPS --url https://acme.atlassian.net
    """

    def go():
        logs = events is not None or jira_csv is not None
        if not paths and not github and not gitlab and not sessions and not logs and jira is None:
            raise ConfigError(
                "nothing to ingest: give git repository paths, --github OWNER/REPO, --gitlab GROUP/PROJECT, --sessions PATH, "
                "--events FILE, --jira PROJECT or --jira-csv FILE"
            )
        if url and github and gitlab:
            raise ConfigError("--url: give --github or --gitlab with it, not both (they are different servers)")
        if url and jira and (github or gitlab):
            raise ConfigError("--url: give --jira or --github/--gitlab with it, not both (they are different servers)")
        if jira is not None and url is None:
            raise ConfigError("--jira needs --url, the base URL of the Jira server (https://acme.atlassian.net)")
        if logs:
            from .cli_events import ingest_logs_command

            ingest_logs_command(events, store=store, fmt=events_format, case=case_col, activity=activity_col,
                                timestamp=timestamp_col, actor=actor_col, log_name=log_name, jira=None,
                                jira_csv=jira_csv, url=url, token_env=token_env or "JIRA_TOKEN")
        since_at = _since(since)
        if paths:
            bar = _RichProgress(err)
            try:
                results = api.ingest([str(p) for p in paths], store_path=store, branch=branch, progress=bar, pull_refs=pull_refs)
            finally:
                bar.stop()
            for r in results:
                how = "incremental" if r.incremental else "full"
                Console().print(
                    f"{escape(r.repo)}: {r.new_commits:,} new commits ({how}); {r.head_commits:,} on HEAD, {r.changes:,} changes"
                )
        def jira_api(names, **kw):
            return [api.ingest_jira(n, **kw) for n in names]

        for names, fn in ((github, api.ingest_github), (gitlab, api.ingest_gitlab), ([jira] if jira else None, jira_api)):
            if not names:
                continue
            bar = _ApiProgress(err)
            try:
                done = fn(names, store_path=store, url=url, token_env=token_env, since=since_at, progress=bar)
            finally:
                bar.stop()
            for r in done:
                for w in r.warnings:
                    err.print(f"[yellow]warning:[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
                counts = ", ".join(f"{n:,} {k}" for k, n in (*r.items.items(), *r.removed.items()))
                Console().print(
                    f"{escape(r.source)}: {counts}; {r.requests:,} requests ({r.not_modified:,} not modified)",
                    highlight=False, soft_wrap=True,
                )
        if sessions:
            bar = _RichProgress(err)
            try:
                sr = api.ingest_sessions([str(p) for p in sessions], store_path=store, fmt=sessions_format,
                                         keep_text=keep_text, progress=bar)
            finally:
                bar.stop()
            Console().print(
                f"agent logs: {sr.files} files read ({sr.unchanged} unchanged), {sr.sessions} sessions, "
                f"{sr.usage_days} usage days, {len(sr.skipped_lines)} lines skipped, {sr.links} session-change links",
                highlight=False, soft_wrap=True,
            )

    _run(debug, go)


@app.command()
def report(
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write the HTML report here.")] = None,
    repo: Annotated[Optional[list[str]], typer.Option("--repo", help="Only these repositories (repeatable).")] = None,
    adoption_date: AdoptOpt = None,
    window_days: WindowOpt = None,
    as_of: AsOfOpt = None,
    show_names: NamesOpt = False,
    seed: SeedOpt = 0,
    failure_window: FailWinOpt = 24.0,
    incident_rule: IncidentOpt = "linked",
    by: ByOpt = None,
    fmt: Annotated[str, typer.Option(
        "--format", metavar="terminal|json|markdown",
        help="What to print: tables, the JSON document, or a Markdown digest of the verdict and headline numbers "
             "(for a PR comment or a chat post).")] = "terminal",
    repo_url: RepoUrlOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Report from the store without reading any repository.

    Example: loopmeter report --json > report.json
    Example: loopmeter report --format markdown > digest.md
    """

    def go():
        if fmt not in ("terminal", "json", "markdown"):
            raise typer.BadParameter(f"--format {fmt!r}: expected terminal, json or markdown")
        doc = api.report_from_store(
            store_path=store, html_path=html, repos=repo or None, as_of=_as_of(as_of), window_days=window_days,
            adoption_date=_date(adoption_date, "--adoption-date"), show_names=show_names, seed=seed,
            failure_window_hours=failure_window, incident_rule=incident_rule, by=by, repo_urls=_repo_urls(repo_url),
        )
        _emit(doc, as_json, html, fmt)

    _run(debug, go)


# Commands kept in modules of their own register on `app` when imported; one import line each.
# (command modules: add `from . import cli_NAME  # noqa: E402,F401` below this line)
from . import cli_lift  # noqa: E402,F401
from . import cli_legibility  # noqa: E402,F401
from . import cli_agents  # noqa: E402,F401
from . import cli_export  # noqa: E402,F401


def main() -> None:
    # Arrow's default allocator keeps freed batches for reuse, which shows up as hundreds of MB of
    # peak memory on a long ingest; the system allocator returns them.
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    app()


if __name__ == "__main__":
    main()
