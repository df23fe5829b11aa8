"""`loopmeter ingest --events FILE ...` / `--jira-csv FILE`: the part of `ingest` that reads event logs and Jira exports."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from . import api
from .errors import ConfigError
from .report.terminal import escape
from .sources.eventlog import Mapping
from .store.event_logs import LogSummary

#: How many unusable rows are listed on the terminal (all are counted; the store keeps more).
SHOW_SKIPPED = 10


def print_summary(summary: LogSummary, console: Console | None = None) -> None:
    console = console or Console()
    console.print(
        f"{escape(summary.name)} ({escape(summary.format)}): {summary.cases:,} {'issues' if summary.format.startswith('jira') else 'runs' if summary.format == 'mlflow' else 'incidents' if summary.format in ('pagerduty-csv', 'opsgenie-csv', 'pagerduty-api', 'opsgenie-api') else 'cases'}, {summary.events:,} events, "
        f"{len(summary.skipped):,} rows skipped", highlight=False,
    )
    for reason, n in sorted(summary.skipped_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        console.print(f"  skipped {n:,}: {escape(reason)}", highlight=False)
    for s in summary.skipped[:SHOW_SKIPPED]:
        console.print(f"  {escape(summary.path)}: {escape(s.where)}: {escape(s.reason)}", highlight=False)
    if len(summary.skipped) > SHOW_SKIPPED:
        console.print(f"  ... and {len(summary.skipped) - SHOW_SKIPPED:,} more", highlight=False)


def ingest_logs_command(events: Path | None, *, store: Path, fmt: str | None, case: str, activity: str,
                        timestamp: str, actor: str | None, log_name: str | None, jira: str | None,
                        jira_csv: Path | None, url: str | None, token_env: str, show: bool = True) -> list[LogSummary]:
    """Each given log in turn; each one is read whole before the store is touched. Prints each
    summary unless `show` is false (`ingest --json`); returns them."""
    if jira is not None and url is None:
        raise ConfigError("--jira needs --url, the base URL of the Jira server (https://acme.atlassian.net)")
    if log_name is not None and events is not None and jira_csv is not None:
        raise ConfigError("--log-name names one log; give --events and --jira-csv in separate runs")
    done = []
    if events is not None:
        done.append(api.ingest_events(
            events, store_path=store, fmt=fmt, log_name=log_name,
            mapping=Mapping(case=case, activity=activity, timestamp=timestamp, actor=actor),
        ))
        if show:
            print_summary(done[-1])
    if jira_csv is not None:
        done.append(api.ingest_jira_csv(jira_csv, store_path=store, log_name=log_name, url=url))
        if show:
            print_summary(done[-1])
    return done
    # `--jira` (the REST API) is an API source: cli.ingest walks it with GitHub and GitLab.
