"""Generic event logs (CSV, JSONL, XES, OCEL 2.0 JSON or SQLite) as a `Source` (sources/base.py).

The format is told, and the file checked, before the store is opened. The log is read into ONE
transaction, in batches (store/event_logs.py `ingest_log`), so memory stays flat and a file that
turns out unreadable half-way leaves the store as it was; a clean CSV goes through DuckDB's own
reader instead (store/csv_events.py). Ingesting a log of the same name again replaces it: the
log's name is its resume state.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .base import LogSource
from .eventlog import Mapping, check_readable, read_event_log
from .safe import reading

if TYPE_CHECKING:
    from ..runner import Run
    from ..store.event_logs import LogSummary


class EventLogFile(LogSource):
    """The event log at `path`, stored as log `name` (`case` items: events:NAME:CASE)."""

    label = "events"

    def __init__(self, path: str | Path, *, name: str, fmt: str | None = None, mapping: Mapping | None = None):
        self.path, self.name, self.fmt, self.mapping = path, name, fmt, mapping
        self.label = f"events:{name}"

    def prepare(self) -> bool:
        self.fmt = check_readable(self.path, self.fmt)  # a wrong path or format creates nothing
        return True

    def load(self, run: Run) -> LogSummary:
        from ..store.csv_events import ingest_csv
        from ..store.event_logs import ingest_log

        path, fmt, mapping = self.path, self.fmt, self.mapping
        with reading(path):
            if fmt == "csv":  # DuckDB's reader when the file is clean; the Python one otherwise
                done = ingest_csv(run.store, name=self.name, path=path, mapping=mapping or Mapping(),
                                  ids=run.identities())
                if done is not None:
                    return done
            return ingest_log(run.store, name=self.name, path=str(path), ids=run.identities(),
                              read=lambda sink: read_event_log(path, fmt, mapping, sink=sink))
