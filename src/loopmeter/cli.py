"""The `loopmeter` command: thin commands that parse options, call one API function and render."""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from . import api
from .errors import ConfigError, LoopmeterError, redact_userinfo
from .ingestion import Progress as IngestProgress
from .report.terminal import escape
from .sources.git_set import discover_repositories, read_repo_list
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
EngineOpt = Annotated[str, typer.Option(
    "--engine", metavar="duckdb|spark",
    help="Where the metrics run: duckdb (here) or spark (PySpark through Ibis, `pip install 'loopmeter[spark]'` "
         "and Java 17; needs --from-parquet). Statistics always run here.")]
ParquetOpt = Annotated[Optional[str], typer.Option(  # text: Path() would fold a URL's //
    "--from-parquet", metavar="DIR",
    help="Read a `loopmeter export --format parquet` directory instead of the store; with --engine spark also "
         "a URL Spark reads (s3a://, gs://, abfss://, file://) (docs/scale.md).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON report (docs/json-report.md) instead of tables.")]
AdoptOpt = Annotated[Optional[list[str]], typer.Option(
    "--adoption-date", help="AI adoption date: YYYY-MM-DD for every repository and loop, or REPO=YYYY-MM-DD "
                            "(TEAM=YYYY-MM-DD with --by team), LOG=YYYY-MM-DD for an event log or MLflow experiment "
                            "(repeatable), as `loopmeter lift` takes it; detected when omitted.")]
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


class _Busy(SpinnerColumn):
    """Spins while the bar fills and while a step after it runs (Rich's stops at 100%)."""

    def render(self, task):
        return self.spinner.render(task.get_time()) if task.fields.get("busy") or not task.finished else self.finished_text


class _Elapsed(TimeElapsedColumn):
    """Keeps counting through the steps after the bar is full (Rich's stops at 100%)."""

    def render(self, task):
        from datetime import timedelta

        from rich.text import Text

        return Text(str(timedelta(seconds=int(task.elapsed or 0))), style="progress.elapsed")


class _RichProgress(IngestProgress):
    def __init__(self, console: Console):
        self.console = console
        self.bar = Progress(
            _Busy(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"), _Elapsed(), TimeRemainingColumn(), console=console,
            transient=False,
        )
        self.task = None
        self.repo = ""
        self.set_task = None
        self.set_commits = 0
        self.unit = "commits"

    def start_set(self, total: int, done: int = 0) -> None:
        # Many repositories share one display: a bar for the set and one reused for the current
        # repository (a bar per repository would scroll a thousand lines past).
        if total > 1:
            if not self.bar.live.is_started:
                self.bar.start()
            self.set_commits = 0
            self.set_task = self.bar.add_task("repositories", total=total, completed=done, unit="repositories")

    def _set_line(self) -> None:
        """The set's bar counts repositories, which differ wildly in size (numpy's 72k commits beside
        a 1k one): the commits read so far and their rate say how the whole set is going."""
        task = next(t for t in self.bar.tasks if t.id == self.set_task)
        rate = self.set_commits / task.elapsed if task.elapsed else 0.0
        # In the description, not the unit: the columns are shared with the repository's bar below,
        # whose description (name and step) is the longer one anyway.
        self.bar.update(self.set_task, description=f"repositories: {self.set_commits:,} commits read ({rate:,.0f}/s)")

    def repo_done(self) -> None:
        if self.set_task is not None:
            self.bar.advance(self.set_task, 1)

    def start(self, repo: str, total: int | None, unit: str = "commits") -> None:
        if not self.bar.live.is_started:
            self.bar.start()
        self.repo = escape(repo)
        self.unit = unit
        if self.task is not None and self.set_task is not None:
            # A new task rather than Rich's reset(): reset keeps the stop time that "done" set, so
            # every repository after the first showed 0:00:00 elapsed for as long as it ran.
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(self.repo, total=total, unit=unit)

    def step(self, name: str) -> None:
        """After the bar is full: the step now running, beside the elapsed time that keeps counting."""
        if self.task is not None:
            self.bar.update(self.task, description=f"{self.repo}: {escape(name)}", busy=name != "done")
            if name == "done":
                self.bar.stop_task(self.task)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)
        if self.set_task is not None and self.unit == "commits":
            self.set_commits += n
            self._set_line()

    def note(self, message: str) -> None:
        self.bar.console.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def stop(self) -> None:
        if self.bar.live.is_started:
            if self.task is not None and self.bar.tasks[-1].fields.get("busy"):
                self.step("done")  # a report step was the last thing shown; it has finished
            self.bar.stop()


class _Steps:
    """A spinner on stderr naming the step of a long computation (transient: gone when it ends)."""

    def __init__(self, console: Console, what: str):
        self.status = console.status(f"{what}…", spinner="dots")
        self.what = what

    def __call__(self, name: str) -> None:
        self.status.update(f"{self.what}: {escape(name)}…")

    def __enter__(self) -> "_Steps":
        self.status.start()
        return self

    def __exit__(self, *exc) -> None:
        self.status.stop()


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


def _fail(message: str, code: int = 2):
    err.print(f"[red]error:[/red] {escape(redact_userinfo(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


def _run(debug: bool, fn):
    """Run a command: every failure is one line on stderr and a non-zero exit (a traceback only with --debug)."""
    try:
        return fn()
    except LoopmeterError as e:
        if debug:
            raise
        _fail(str(e))
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]: everything committed so far is kept; run the same command to resume")
        raise typer.Exit(130) from None
    except OSError as e:
        # Permissions, a read-only file system, a directory where a file belongs, a full disk.
        if debug:
            raise
        where = e.filename if e.filename is not None else "a file"
        _fail(f"{where}: {e.strerror or type(e).__name__}" + (f" ({e.filename2})" if e.filename2 else ""))
    except Exception as e:  # noqa: BLE001 - the promise: no traceback without --debug
        if debug:
            raise
        first = (str(e).strip().splitlines() or [""])[0][:200]
        if type(e).__name__ == "OutOfMemoryException":  # by name: the CLI does not import duckdb to start
            from .store.db import memory_limit  # the store's own default, said once

            limit = memory_limit()
            _fail(f"DuckDB ran out of the memory loopmeter gives it ({first}); nothing half-written was kept. "
                  f"Run again with a larger limit, e.g. LOOPMETER_MEMORY_LIMIT=1GB (now {limit}), and please "
                  "report it if the input was small (SECURITY.md)", 3)
        _fail(f"unexpected {type(e).__name__}: {first}; nothing half-written was kept (each step commits whole). "
              "Run again with --debug for the traceback and please report it (SECURITY.md)", 3)


def check_output(path: Path | None, option: str) -> None:
    """Refuse, before any long work, an output path that cannot be written: a directory, a missing or
    read-only parent directory."""
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name (e.g. {path / 'report.html'})")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{option} {path}: cannot write there (permission denied or a read-only file system)")


def check_store_writable(store: Path) -> None:
    """An ingest's store must be creatable or writable; said in one line before any repository is read."""
    if store.is_dir():
        raise ConfigError(f"--store {store}: is a directory, not a store file")
    if store.exists():
        if not os.access(store, os.W_OK):
            raise ConfigError(f"--store {store}: cannot write the store (read-only); `report`, `lift` and `export` "
                              "can still read it")
        return
    ancestor = store.parent if str(store.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"--store {store}: cannot create the store: {ancestor} is not writable (a read-only "
                          "directory?); give --store a writable place")


def _repo_urls(values: list[str] | None) -> dict[str, str] | None:
    from .report.links import parse_repo_urls

    return parse_repo_urls(values) or None


def _emit(doc: dict, as_json: bool, html: Path | None, fmt: str = "terminal") -> None:
    if fmt == "markdown":
        from .report.markdown import render_markdown

        sys.stdout.write(render_markdown(doc))
        return
    if as_json or fmt == "json":
        from .report.document import to_json

        sys.stdout.write(to_json(doc))
        return
    from .report.terminal import render_terminal

    # No highlighter: Rich would colour "0.74" and "x" of "0.74x" differently.
    out = Console(highlight=False)
    render_terminal(doc, out)
    if html is not None:
        out.print(f"HTML report: [bold]{escape(str(html))}[/bold]")


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

    Example: loopmeter analyze ~/src/api ~/src/web --adoption-date api=2025-03-01 --adoption-date web=2025-05-01
    """

    def go():
        check_output(html, "--html")
        check_store_writable(store)
        bar = _RichProgress(err)
        try:
            doc = api.analyze(
                [str(p) for p in paths], store_path=store, html_path=html, branch=branch, progress=bar, pull_refs=pull_refs,
                as_of=_as_of(as_of), window_days=window_days, adoption_date=adoption_date or None,
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
    from_file: Annotated[Optional[Path], typer.Option("--from-file", help="A file listing repository paths, one a line (# comments; relative to the file).")] = None,
    discover: Annotated[Optional[Path], typer.Option("--discover", help="Read every git repository (work tree or bare mirror) at or under this folder.")] = None,
    github: Annotated[Optional[list[str]], typer.Option("--github", help="A GitHub repository OWNER/REPO (repeatable).")] = None,
    gitlab: Annotated[Optional[list[str]], typer.Option("--gitlab", help="A GitLab project GROUP/PROJECT (repeatable).")] = None,
    url: Annotated[Optional[str], typer.Option("--url", help="API base URL of a self-hosted GitHub Enterprise or GitLab, or of the Jira server (--jira).")] = None,
    token_env: Annotated[Optional[str], typer.Option("--token-env", help="Environment variable holding the API token \\[default: GITHUB_TOKEN / GITLAB_TOKEN / JIRA_TOKEN / PAGERDUTY_TOKEN / OPSGENIE_TOKEN].")] = None,
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
    traces: Annotated[Optional[Path], typer.Option("--traces", help="A folder (or file) of Agent Trace records (JSON or JSON Lines) for the one repository given: which lines an agent wrote.")] = None,
    jira_csv: Annotated[Optional[Path], typer.Option("--jira-csv", help="A Jira CSV export (Issue key, Summary, Issue Type, Status, Created, Resolved, Updated, ...).", rich_help_panel="Jira")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was read as JSON ({git, api, sessions, event_logs}) instead of lines.")] = False,
    mlflow: Annotated[Optional[str], typer.Option("--mlflow", help="An MLflow tracking URI (sqlite:///mlflow.db, a folder, http://host:5000); needs loopmeter[mlflow].", rich_help_panel="MLflow")] = None,
    experiment: Annotated[Optional[list[str]], typer.Option("--experiment", help="An MLflow experiment name (repeatable; default: all).", rich_help_panel="MLflow")] = None,
    objective: Annotated[Optional[str], typer.Option("--objective", help="METRIC:max or METRIC:min: the metric whose improvements the report times.", rich_help_panel="MLflow")] = None,
    pagerduty_csv: Annotated[Optional[Path], typer.Option("--pagerduty-csv", help="A PagerDuty incidents CSV export (linked to repositories by \\[\\[incidents.service]] in loopmeter.toml).", rich_help_panel="Incidents")] = None,
    pagerduty: Annotated[Optional[str], typer.Option("--pagerduty", help="PagerDuty's REST API base URL (https://api.pagerduty.com): its incidents, incrementally; token from PAGERDUTY_TOKEN or --token-env.", rich_help_panel="Incidents")] = None,
    opsgenie_csv: Annotated[Optional[Path], typer.Option("--opsgenie-csv", help="An Opsgenie incidents CSV export.", rich_help_panel="Incidents")] = None,
    opsgenie: Annotated[Optional[str], typer.Option("--opsgenie", help="Opsgenie's REST API base URL (https://api.opsgenie.com, or api.eu.opsgenie.com): its alerts, incrementally; API key from OPSGENIE_TOKEN or --token-env.", rich_help_panel="Incidents")] = None,
    opsgenie_query: Annotated[str, typer.Option("--opsgenie-query", help="Only alerts matching this Opsgenie search query (e.g. 'priority: (P1 OR P2)').", rich_help_panel="Incidents")] = "",
    debug: DebugOpt = False,
) -> None:
    """Read new history into the store (idempotent and incremental): git repositories, GitHub, GitLab, event logs, Jira, MLflow, incidents.

    Example: loopmeter ingest ~/src/api --github acme/api --store team.duckdb
    Example: loopmeter ingest ~/src/api --traces ~/src/api/.agent-trace
    Example: loopmeter ingest --discover ~/src --store org.duckdb
    Example: loopmeter ingest --events tickets.csv --case ticket --activity status --timestamp at
    Example: loopmeter ingest --jira OPS --url https://acme.atlassian.net
    Example: loopmeter ingest --mlflow sqlite:///mlflow.db --experiment churn --objective val_auc:max
    Example: loopmeter ingest --opsgenie https://api.opsgenie.com --opsgenie-query 'priority: (P1 OR P2)'
    """

    def go():
        check_store_writable(store)
        logs = events is not None or jira_csv is not None
        repo_paths = [str(p) for p in paths or []]
        if from_file is not None:
            repo_paths += read_repo_list(from_file)
        if discover is not None:
            repo_paths += discover_repositories(discover)
        if traces is not None and not repo_paths:
            raise ConfigError("--traces needs the git repository PATH whose commits its records name")
        incident_files = [(p, f) for p, f in (("pagerduty", pagerduty_csv), ("opsgenie", opsgenie_csv)) if f is not None]
        if opsgenie_query and opsgenie is None:
            raise ConfigError("--opsgenie-query narrows --opsgenie; give --opsgenie URL")
        if (not repo_paths and not github and not gitlab and not sessions and not logs and jira is None and mlflow is None
                and not incident_files and pagerduty is None and opsgenie is None):
            raise ConfigError(
                "nothing to ingest: give git repository paths, --github OWNER/REPO, --gitlab GROUP/PROJECT, --sessions PATH, "
                "--events FILE, --jira PROJECT, --jira-csv FILE, --mlflow URI, --pagerduty[-csv] or --opsgenie[-csv]"
            )
        if (experiment or objective) and mlflow is None:
            raise ConfigError("--experiment and --objective describe --mlflow runs; give --mlflow URI")
        for provider, f in incident_files:
            from .cli_events import print_summary

            print_summary(api.ingest_incidents(f, provider=provider, store_path=store))
        if pagerduty is not None:
            from .cli_events import print_summary

            print_summary(api.ingest_pagerduty(url=pagerduty, token_env=token_env, since=_since(since),
                                                store_path=store))
        if opsgenie is not None:
            from .cli_events import print_summary

            print_summary(api.ingest_opsgenie(url=opsgenie, token_env=token_env, query=opsgenie_query,
                                              since=_since(since), store_path=store))
        if mlflow is not None:
            from .cli_events import print_summary

            for summary in api.ingest_mlflow(mlflow, experiments=experiment or (), objective=objective, store_path=store):
                print_summary(summary)
        if url and github and gitlab:
            raise ConfigError("--url: give --github or --gitlab with it, not both (they are different servers)")
        if url and jira and (github or gitlab):
            raise ConfigError("--url: give --jira or --github/--gitlab with it, not both (they are different servers)")
        if jira is not None and url is None:
            raise ConfigError("--jira needs --url, the base URL of the Jira server (https://acme.atlassian.net)")
        read: dict[str, list] = {"git": [], "api": [], "sessions": [], "event_logs": []}
        if logs:
            from .cli_events import ingest_logs_command

            read["event_logs"] = ingest_logs_command(
                events, store=store, fmt=events_format, case=case_col, activity=activity_col, timestamp=timestamp_col,
                actor=actor_col, log_name=log_name, jira=None, jira_csv=jira_csv, url=url,
                token_env=token_env or "JIRA_TOKEN", show=not as_json)
        since_at = _since(since)
        if repo_paths:
            if _OWN_PROCESS:
                # The process ends with this command, and nothing an ingest does needs pandas:
                # pyarrow is told so rather than loading it (sources/git_repos.py, `_warm_imports`).
                from .sources import git_repos

                git_repos.arrow_without_pandas()
            bar = _RichProgress(err)
            try:
                results = api.ingest(repo_paths, store_path=store, branch=branch, progress=bar, pull_refs=pull_refs,
                                     traces=traces)
            finally:
                bar.stop()
            read["git"] = results
            quiet = [r for r in results if r.unchanged]
            for r in ([] if as_json else results):
                if r.unchanged and len(results) > 1:
                    continue
                how = "unchanged" if r.unchanged else "incremental" if r.incremental else "full"
                Console().print(
                    f"{escape(r.repo)}: {r.new_commits:,} new commits ({how}); {r.head_commits:,} on HEAD, {r.changes:,} changes",
                    highlight=False,
                )
            if quiet and len(results) > 1:
                Console().print(f"{len(quiet):,} of {len(results):,} repositories unchanged since the last ingest", highlight=False)
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
            read["api"].extend(done)
            for r in ([] if as_json else done):
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
            read["sessions"].append(sr)
            if not as_json:
                Console().print(
                    f"agent logs: {sr.files} files read ({sr.unchanged} unchanged), {sr.sessions} sessions, "
                    f"{sr.usage_days} usage days, {len(sr.skipped_lines)} lines skipped, {sr.links} session-change links",
                    highlight=False, soft_wrap=True,
                )
        if as_json:
            sys.stdout.write(json.dumps({k: [_plain(x) for x in v] for k, v in read.items()}, indent=2, default=str) + "\n")

    from .runner import one_command  # one restore point for every source this command reads

    with one_command():
        _run(debug, go)


def _plain(result) -> dict:
    """A result dataclass as JSON-ready data."""
    import dataclasses

    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(vars(result))


@app.command()
def report(
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write the HTML report here.")] = None,
    repo: Annotated[Optional[list[str]], typer.Option("--repo", metavar="NAME", help="Only these repositories (repeatable).")] = None,
    team: Annotated[Optional[str], typer.Option("--team", metavar="NAME", help="Only changes authored by members of this \\[\\[team]] of loopmeter.toml ('unassigned': of none).")] = None,
    agent: Annotated[Optional[str], typer.Option("--agent", metavar="NAME", help="Count as AI-assisted only the changes this agent took part in; other agents' changes are left out (a per-agent lift).")] = None,
    since: Annotated[Optional[str], typer.Option("--from", metavar="YYYY-MM-DD", help="Only changes landed on or after this day (UTC).")] = None,
    until: Annotated[Optional[str], typer.Option("--to", metavar="YYYY-MM-DD", help="Only changes landed on or before this day (UTC); reverts after it still count.")] = None,
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
    engine: EngineOpt = "duckdb",
    from_parquet: ParquetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Report from the store without reading any repository.

    Example: loopmeter report --json > report.json
    Example: loopmeter report --format markdown > digest.md
    Example: loopmeter report --engine spark --from-parquet export/ --json > report.json
    """

    def go():
        if fmt not in ("terminal", "json", "markdown"):
            raise typer.BadParameter(f"--format {fmt!r}: expected terminal, json or markdown")
        check_output(html, "--html")
        with _Steps(err, "building the report") as steps:
            doc = api.report_from_store(
                progress=steps,
                store_path=store, html_path=html, repos=repo or None, team=team, agent=agent,
                since=_date(since, "--from"), until=_date(until, "--to"), as_of=_as_of(as_of), window_days=window_days,
                adoption_date=adoption_date or None, show_names=show_names, seed=seed,
                failure_window_hours=failure_window, incident_rule=incident_rule, by=by, repo_urls=_repo_urls(repo_url),
                engine=engine, parquet=from_parquet, beside=True,
            )
        _emit(doc, as_json, html, fmt)

    _run(debug, go)


# Commands kept in modules of their own register on `app` when imported; one import line each.
# (command modules: add `from . import cli_NAME  # noqa: E402,F401` below this line)
from . import cli_lift  # noqa: E402,F401
from . import cli_legibility  # noqa: E402,F401
from . import cli_agents  # noqa: E402,F401
from . import cli_export  # noqa: E402,F401
from . import cli_store  # noqa: E402,F401


def _show_version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"loopmeter {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_show_version)] = False,
) -> None:
    """Measure from telemetry whether AI makes your work faster.

    Example: loopmeter analyze ~/src/api --json > report.json
    """


_VALUE_NAMES = {"Path": "PATH", "int": "N", "float": "NUMBER", "str": "TEXT"}


def _value_names(cmd) -> None:
    """Help shows each option's value as a name (PATH, N, YYYY-MM-DD), flags with none, instead of
    Typer's Python type names (<bool>, <list[Path]>)."""
    from typer.core import TyperArgument, TyperOption

    for sub in getattr(cmd, "commands", {}).values():
        _value_names(sub)

    def help_option(ctx, _made=cmd.get_help_option):  # --help is made per context, not a param
        opt = _made(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    cmd.get_help_option = help_option
    for p in cmd.params:
        if isinstance(p, TyperOption) and (p.is_flag or p.count):
            p.metavar = ""
        elif p.metavar is None:
            desc = getattr(p, "type_descriptor", None)
            annotation = getattr(desc, "annotation", None)
            inner = getattr(annotation, "__args__", None)
            base = (inner[0] if inner else annotation)
            name = _VALUE_NAMES.get(getattr(base, "__name__", ""), "VALUE")
            if isinstance(p, TyperOption) and "YYYY-MM-DD" in (p.help or ""):
                name = "YYYY-MM-DD[THH:MM]" if "THH" in (p.help or "") else "YYYY-MM-DD"
            if isinstance(p, TyperArgument):
                name = p.name.upper().rstrip("S") if p.nargs != 1 else p.name.upper()
                p.metavar = name + ("..." if p.nargs != 1 else "")
                # Typer shows an argument's Python type beside it whatever its metavar is.
                p.display_type_rich = lambda ctx: None
            else:
                p.metavar = name


def command():
    """The click command of `app` as `main` runs it (value names in help); tests invoke this."""
    cmd = typer.main.get_command(app)
    _value_names(cmd)
    return cmd


def main() -> None:
    # Arrow's default allocator keeps freed batches for reuse, which shows up as hundreds of MB of
    # peak memory on a long ingest; the system allocator returns them. Chosen by the environment
    # (Arrow reads it when its first pool is made), so a command that needs no Arrow (an idle
    # `ingest` re-run, `--help`) does not load pyarrow to set it.
    import warnings

    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    # Run from a git hook, the hook's repository would be read in place of every repository named
    # (sources/git.py strips these for its own calls; this covers every other git call).
    from .sources.git import REPOSITORY_ENV

    for name in REPOSITORY_ENV:
        os.environ.pop(name, None)
    try:  # Typer vendors click (0.2x); its exceptions are the ones raised
        from typer._click import exceptions as cx
        from typer.exceptions import Abort  # not in typer._click.exceptions: an AttributeError there
        # turned every SystemExit (a reader closing the pipe: `loopmeter report | head`) into a traceback
    except ImportError:  # pragma: no cover - an older Typer on the real click
        from click import exceptions as cx
        from click.exceptions import Abort

    if "--debug" not in sys.argv[1:]:
        # A library's warning (statsmodels' "invalid value encountered in sqrt") is not for the
        # user's terminal: what it means for a number is that number's caveat; --debug shows them.
        warnings.simplefilter("ignore")
    try:
        code = command().main(prog_name="loopmeter", standalone_mode=False)
    except cx.NoArgsIsHelpError as e:
        print(e.ctx.get_help())
        code = 0
    except cx.UsageError as e:
        # One line, no box: what was wrong, and where the help is.
        where = e.ctx.command_path if e.ctx is not None else "loopmeter"
        err.print(f"[red]error:[/red] {escape(e.format_message().rstrip('.'))}; see `{escape(where)} --help`",
                  highlight=False, soft_wrap=True)
        code = 2
    except Abort:
        err.print("[red]interrupted[/red]")
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


# `run` sets it: the command is the process's only one (tests call `main` in their own process).
_OWN_PROCESS = False


def run() -> None:
    """The `loopmeter` command as a process of its own (the console script, `python -m loopmeter`):
    `main` with the garbage collector set for a short-lived process. Tests call `main` instead.

    A report loads ~2,000 modules; with CPython's default thresholds the collector walks them
    hundreds of times (0.4 s CPU of a 1k-commit report, bench/report_cost.py) and again at exit,
    when tearing the modules down (another 0.3-0.4 s). A first-generation threshold of 10,000
    (700 by default) keeps the cycle collection that an ingest's memory needs; freezing what is
    alive when the command ends leaves it to the operating system. Nothing is lost by that: stores
    are closed and output flushed by then, and the exit handlers still run."""
    import gc

    global _OWN_PROCESS
    gc.set_threshold(10_000, 10, 10)
    _OWN_PROCESS = True
    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    run()
