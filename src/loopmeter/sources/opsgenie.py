"""Opsgenie alerts through the REST API, as canonical `incident` items: a `Source` (sources/base.py).

`GET /v2/alerts` (Opsgenie's Alert API), authenticated with `Authorization: GenieKey KEY` through
the shared HTTP layer (sources/http.py: retries, rate limits, the key sent only to the --url origin
and never shown or stored). Alerts rather than the Incident API because an alert carries the times
a recovery metric needs: `report.ackTime` and `report.closeTime`, milliseconds from `createdAt` to
the first acknowledgement and to the close; the Incident API lists no acknowledgement or
resolution time (only its per-incident timeline does, one request each).

The walk is incremental and resumable, like the GitHub walks (sources/api_walk.py). Alerts are
listed most recently updated first (`sort=updatedAt`, `order=desc`, 100 a page, `offset` paging;
the next page is the body's `paging.next`), and the walk stops at the first alert last updated
before its floor: `--since` when given, else the mark of the last complete walk for the same
`query`. A daily run reads one page when little changed. Each page's alerts are merged into the
log (`opsgenie:api`, items `opsgenie:ALERT_ID`) in one transaction with where the walk goes next
(the runner's `write_log(merge=True, state=...)`); the last page records the new mark (the newest
`updatedAt` read) instead. A killed walk keeps its stored pages, and the next run with the same
floor goes on from the page after them. An alert updated during a walk moves to the top of the
listing: the next walk reads it. An alert deleted in Opsgenie stays in the store.

An alert has no service of its own: `[[incidents.service]]` patterns are matched against its tags
first, then its `source` field (the tool that raised it), and the first match links it to that
repository and team. `query` is Opsgenie's alert search syntax (`priority: (P1 OR P2)`), to keep
routine alerts out of the incident metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .http import ApiClient, Provider, client_from_env
from .incident_api import IncidentApi, walk_record
from .incidents import Incident, ServiceLink, link_for
from .safe import parse_time

if TYPE_CHECKING:
    from ..runner import Run
    from ..store.event_logs import LogSummary

#: Opsgenie's API; accounts in the EU region use https://api.eu.opsgenie.com.
OPSGENIE_API = "https://api.opsgenie.com"
PAGE = 100  # the most Opsgenie lists in one page
LOG = "opsgenie:api"
_LONGEST_MS = 10 * 366 * 86_400_000  # ten years: a longer acknowledgement or close time is not a time
PROVIDER = Provider("Opsgenie", "opsgenie", "OPSGENIE_TOKEN", lambda key: ("Authorization", f"GenieKey {key}"))


def open_client(url: str | None, token_env: str | None, **kw: Any) -> ApiClient:
    """A client for Opsgenie at `url` with the key from `token_env` (default OPSGENIE_TOKEN);
    one line naming the variable when it is unset. Checked before the store is opened."""
    return client_from_env(PROVIDER, url, token_env, default_url=OPSGENIE_API, option="--opsgenie", what="an API key", **kw)


def _after(created: datetime, millis: Any) -> datetime | None:
    """`created` plus a duration Opsgenie reports in milliseconds; None when absent or not a number."""
    if isinstance(millis, bool) or not isinstance(millis, (int, float)) or not 0 <= millis <= _LONGEST_MS:
        return None  # also NaN (Python's json reads it) and absurd spans, which timedelta cannot hold
    return created + timedelta(milliseconds=millis)


def alert_incident(alert: dict, links: tuple[ServiceLink, ...]) -> Incident | None:
    """One listed alert as an Incident (None without an id or a creation time)."""
    created = parse_time(alert.get("createdAt"))
    if not alert.get("id") or created is None:
        return None
    report = alert.get("report") if isinstance(alert.get("report"), dict) else {}
    status = alert.get("status") if isinstance(alert.get("status"), str) else None
    tags = [t for t in alert.get("tags") or [] if isinstance(t, str)]
    source = alert.get("source") if isinstance(alert.get("source"), str) else None
    service = next((c for c in (*tags, source) if c and link_for(links, c) is not None), source)
    return Incident(
        id=str(alert["id"]), title=alert.get("message") if isinstance(alert.get("message"), str) else None,
        service=service, status=status,
        urgency=alert.get("priority") if isinstance(alert.get("priority"), str) else None,
        triggered=created, acknowledged=_after(created, report.get("ackTime")),
        # closeTime is set once the alert is closed; a reopened alert is open again.
        resolved=_after(created, report.get("closeTime")) if status == "closed" else None,
    )


def _next(_resp: Any, data: Any) -> str | None:
    paging = data.get("paging") if isinstance(data, dict) else None
    nxt = paging.get("next") if isinstance(paging, dict) else None
    return nxt if isinstance(nxt, str) and nxt else None


class OpsgenieAlerts(IncidentApi):
    """The alerts of an Opsgenie account (those matching `query`), merged into log `opsgenie:api`;
    its marks are kept per account and query."""

    provider, fmt = "opsgenie", "opsgenie-api"

    def __init__(self, open_client: Callable[[], ApiClient], *, base: str, query: str = "",
                 links: tuple[ServiceLink, ...] = (), since: datetime | None = None):
        super().__init__(open_client, base=base, name=LOG, links=links, since=since)
        self.query = query

    def load(self, run: Run) -> LogSummary:
        mark_key, walk_key = f"updated_through:{self.query}", f"walk:{self.query}"
        mark = parse_time(run.state(mark_key))
        floor = self.since if self.since is not None else mark
        url: str | None = "/v2/alerts"
        params: dict[str, Any] | None = {"query": self.query, "limit": PAGE, "offset": 0, "sort": "updatedAt",
                                         "order": "desc"}
        newest: datetime | None = None
        walk = walk_record(run.state(walk_key))
        if walk is not None and walk.get("floor") == _iso(floor) and walk.get("next"):
            # A walk with the same floor was cut short: go on from the page after its last stored one.
            url, params, newest = walk["next"], None, parse_time(walk.get("newest"))
        run.progress.start("opsgenie alerts", None, unit="alerts")
        summary = None
        with self.open_client() as client:
            while url:
                page = client.get(url, params, conditional=False, next_url=_next)
                params = None
                data = page.data.get("data") if isinstance(page.data, dict) else None
                alerts = [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []
                read: dict[str, Incident] = {}
                stop = False
                for a in alerts:
                    updated = parse_time(a.get("updatedAt")) or parse_time(a.get("createdAt"))
                    if floor is not None and updated is not None and updated < floor:
                        stop = True  # older than the floor: stored by an earlier walk (or not asked for)
                        break
                    if updated is not None and (newest is None or updated > newest):
                        newest = updated
                    x = alert_incident(a, self.links)
                    if x is not None:
                        read.setdefault(x.id, x)  # the first listing of an alert is its latest
                run.progress.advance(len(alerts))
                url = None if stop or not alerts else page.next_url
                if url:
                    client.url(url)  # another origin is refused now, before it could be stored as the way on
                # Each page commits with where the walk goes next; the last one moves the mark.
                if url:
                    state = {walk_key: json.dumps({"floor": _iso(floor), "next": url, "newest": _iso(newest)})}
                else:
                    high = max((t for t in (newest, mark) if t is not None), default=None)
                    state = {walk_key: "", **({mark_key: _iso(high)} if high is not None else {})}
                summary = self.store_page(run, list(read.values()), state)
            self.requests = client.stats.requests
        return summary


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()
