"""A Jira CSV export as a `Source` (sources/base.py); the reader is `sources/jira.py` `read_jira_csv`.

The file is read whole in `prepare` (a bad file creates nothing) and stored as log `name`,
replacing its last ingest. A reporter with an account id (`Reporter Id`) gets the actor id the REST
API gives the same account on site `where` (the host of --url; else `jira`), so both ways in name
one person alike; a reporter known only by name is pseudonymised by that name (`csv_actor`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .base import LogSource
from .jira import csv_actor, issue_rows, read_jira_csv
from .safe import reading

if TYPE_CHECKING:
    from ..runner import Run
    from ..store.event_logs import LogSummary


class JiraCsv(LogSource):
    label = "jira-csv"

    def __init__(self, path: str | Path, *, name: str, where: str):
        self.path, self.name, self.where = path, name, where

    def prepare(self) -> bool:
        with reading(self.path):
            self.issues, self.skipped = read_jira_csv(self.path)
        return True

    def load(self, run: Run) -> LogSummary:
        from ..store.api_load import ApiActors

        with reading(self.path):
            ids = run.identities()
            accounts = ApiActors(run.store.meta("salt") or "", run.matcher, self.where)
            rows = issue_rows(self.issues, csv_actor(ids, accounts), None)
            for aid, kind, shown, _email, _team, agent in accounts.rows.values():
                ids.new_rows.append((aid, kind, shown, "", agent))  # written with the log's other actors
            return run.write_log(name=self.name, path=str(self.path), fmt="jira-csv", rows=rows,
                                 skipped=self.skipped, ids=ids)
