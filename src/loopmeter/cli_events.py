"""`loopmeter ingest --events FILE ...` / `--jira ...`: the part of `ingest` that reads event logs and Jira."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from . import api
from .report.terminal import escape
from .sources.eventlog import Mapping
from .store.event_logs import LogSummary

#: How many unusable rows are listed on the terminal (all are counted; the store keeps more).
SHOW_SKIPPED = 10


def print_summary(summary: LogSummary, console: Console | None = None) -> None:
    console = console or Console()
    console.print(
        f"{escape(summary.name)} ({escape(summary.format)}): {summary.cases:,} cases, {summary.events:,} events, "
        f"{len(summary.skipped):,} rows skipped", highlight=False,
    )
    for reason, n in sorted(summary.skipped_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        console.print(f"  skipped {n:,}: {escape(reason)}", highlight=False)
    for s in summary.skipped[:SHOW_SKIPPED]:
        console.print(f"  {escape(summary.path)}: {escape(s.where)}: {escape(s.reason)}", highlight=False)
    if len(summary.skipped) > SHOW_SKIPPED:
        console.print(f"  ... and {len(summary.skipped) - SHOW_SKIPPED:,} more", highlight=False)


def ingest_events_command(path: Path, *, store: Path, fmt: str | None, case: str, activity: str, timestamp: str,
                          actor: str | None, log_name: str | None) -> None:
    summary = api.ingest_events(
        path, store_path=store, fmt=fmt, log_name=log_name,
        mapping=Mapping(case=case, activity=activity, timestamp=timestamp, actor=actor),
    )
    print_summary(summary)
