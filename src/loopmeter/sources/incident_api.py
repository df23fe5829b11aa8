"""What the REST incident sources share (sources/pagerduty.py, sources/opsgenie.py): how one is
built, the record of a walk cut short, and how each page is stored with where the walk goes next.

Each keeps its own walk, because the two APIs list differently: PagerDuty by creation time in
windows of at most six months, Opsgenie by last update, newest first. What they share is the
incremental shape of dlt's sources (STYLE.md): the source yields a page of incidents and the state
that resumes after it, and the runner stores both in one transaction (`Run.write_log(merge=True,
state=...)`), so a killed walk keeps its pages and the next run goes on after them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import redact_userinfo
from .base import LogSource
from .http import ApiClient
from .incidents import Incident, ServiceLink, incident_rows

if TYPE_CHECKING:
    from ..runner import Run
    from ..store.event_logs import LogSummary


class IncidentApi(LogSource):
    """An incident API's source, merged into log `name`: the subclass names its `provider` (the
    prefix of its item ids and of its resume label) and `fmt`, and walks in `load`."""

    provider = "incidents"
    fmt = "incidents-api"

    def __init__(self, open_client: Callable[[], ApiClient], *, base: str, name: str,
                 links: tuple[ServiceLink, ...] = (), since: datetime | None = None):
        self.open_client, self.base, self.name, self.links, self.since = open_client, base, name, links, since
        # Resume state is per account: two URLs (an EU and a US region, two accounts) keep their own.
        self.label = f"{self.provider}:{urlsplit(base).hostname or base}"
        self.requests = 0

    def store_page(self, run: Run, incidents: list[Incident], state: dict[str, str]) -> LogSummary:
        """Merge one page's incidents into the log in one transaction with `state`, where the walk
        goes next (or, on its last page, where the next walk starts)."""
        return run.write_log(name=self.name, path=redact_userinfo(self.base), fmt=self.fmt, merge=True, state=state,
                             rows=incident_rows(self.provider, incidents, self.links), skipped=[])


def walk_record(raw: str | None) -> dict | None:
    """The stored record of a walk cut short (a JSON object), or None: never stored, finished
    (stored empty), or unreadable, which only costs a walk from the last complete one's mark."""
    try:
        v = json.loads(raw) if raw else None
    except ValueError:
        return None
    return v if isinstance(v, dict) else None
