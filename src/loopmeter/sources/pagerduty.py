"""PagerDuty incidents through the REST API, as canonical `incident` items: a `Source` (sources/base.py).

`GET /incidents` (PagerDuty's REST API v2, `Authorization: Token token=KEY`, versioned by the
Accept header) through the shared HTTP layer (sources/http.py: retries, rate limits, the token sent
only to the --pagerduty origin and never shown or stored). Offset paging (`limit`, `offset`,
`more`), sorted by creation (`sort_by=created_at:asc`), so an incident created during a walk never
shifts the pages still to come.

Incremental and resumable, like the Opsgenie walk (sources/opsgenie.py). PagerDuty filters the
list by *creation* time (`since` / `until`, at most six months apart), not by last change, so:

- the first walk reads every incident (`date_range=all`);
- a later walk reads the incidents created from its floor to now, where the floor is the earlier
  of the last complete walk's end (less an hour, for incidents PagerDuty indexes late) and the
  creation of the oldest incident that walk left unresolved: an incident acknowledged or resolved
  since is read again, and nothing older is; a `--since` date replaces the floor;
- a floor more than six months back is walked in windows of at most 180 days.

Each page is merged into the log (items `pagerduty:ID`) in one transaction with where the walk
goes next (`Run.write_log(merge=True, state=...)`); the walk's last page records the new floor. A
killed walk keeps its stored pages and the next run goes on from the page after them, in the
same window. An incident deleted in PagerDuty stays in the store.

Acknowledged: the earliest acknowledgement still listed; resolved: `resolved_at`, else the last
status change of a resolved incident.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .http import ApiClient, Provider, client_from_env
from .incident_api import IncidentApi, walk_record
from .incidents import Incident
from .safe import parse_time

if TYPE_CHECKING:
    from ..runner import Run
    from ..store.event_logs import LogSummary

PAGERDUTY_API = "https://api.pagerduty.com"
PAGE = 100
#: PagerDuty refuses a since/until range longer than six months.
WINDOW = timedelta(days=180)
#: How far before the last walk's end the next one starts: an incident can appear in the listing a
#: little after its creation time; reading it twice costs nothing (items merge by id).
OVERLAP = timedelta(hours=1)
PROVIDER = Provider("PagerDuty", "pagerduty", "PAGERDUTY_TOKEN", lambda t: ("Authorization", f"Token token={t}"),
                    accept="application/vnd.pagerduty+json;version=2")


def _now() -> datetime:
    """The walk's end (naive UTC, as the store keeps times); tests replace it."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def open_client(url: str | None, token_env: str | None, **kw: Any) -> ApiClient:
    """A client for PagerDuty at `url` with the token from `token_env` (default PAGERDUTY_TOKEN);
    one line naming the variable when it is unset. Checked before the store is opened."""
    return client_from_env(PROVIDER, url, token_env, default_url=PAGERDUTY_API, option="--pagerduty", what="a token", **kw)


def incident(x: dict) -> Incident | None:
    """One listed incident (None without an id or a creation time)."""
    created = parse_time(x.get("created_at"))
    if not x.get("id") or created is None:
        return None
    acks = [parse_time(a.get("at")) for a in x.get("acknowledgements") or [] if isinstance(a, dict)]
    acks = [a for a in acks if a is not None]
    status = x.get("status") if isinstance(x.get("status"), str) else None
    resolved = parse_time(x.get("resolved_at")) or (
        parse_time(x.get("last_status_change_at")) if status == "resolved" else None)
    service = x.get("service") if isinstance(x.get("service"), dict) else {}
    return Incident(id=str(x["id"]), title=x.get("title") or x.get("summary"), service=service.get("summary"),
                    status=status, urgency=x.get("urgency"), triggered=created,
                    acknowledged=min(acks) if acks else None, resolved=resolved)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(raw: str | None) -> datetime | None:
    return parse_time(raw) if raw else None  # naive UTC


def windows(floor: datetime | None, end: datetime) -> list[tuple[datetime | None, datetime | None]]:
    """The (since, until) windows of one walk: everything when there is no floor, else [floor,
    end) cut into spans PagerDuty accepts."""
    if floor is None:
        return [(None, None)]
    out, t = [], min(floor, end)
    while True:
        out.append((t, min(t + WINDOW, end)))
        t += WINDOW
        if t >= end:
            return out


class PagerDutyIncidents(IncidentApi):
    """The incidents of a PagerDuty account, merged into log `name` (`pagerduty:api` by default);
    its floors are kept per account and log."""

    provider, fmt = "pagerduty", "pagerduty-api"

    def load(self, run: Run) -> LogSummary:
        floor_key, open_key, walk_key = f"walked_to:{self.name}", f"oldest_open:{self.name}", f"walk:{self.name}"
        walk = walk_record(run.state(walk_key))
        if walk is not None and walk.get("windows"):
            # A walk cut short: go on from the page after its last stored one, in the same windows.
            end, todo = _time(walk["end"]), [(_time(a), _time(b)) for a, b in walk["windows"]]
            offset, oldest_open = int(walk.get("offset") or 0), _time(walk.get("oldest_open"))
        else:
            end = _now()
            floor = self.since
            if floor is None:
                walked, still_open = _time(run.state(floor_key)), _time(run.state(open_key))
                marks = [t for t in (walked - OVERLAP if walked else None, still_open) if t is not None]
                floor = min(marks) if marks else None
            todo, offset, oldest_open = windows(floor, end), 0, None
        run.progress.start("pagerduty incidents", None, unit="incidents")
        summary = None
        with self.open_client() as client:
            while todo:
                since, until = todo[0]
                params: dict[str, Any] = {"limit": PAGE, "offset": offset, "total": "false",
                                          "sort_by": "created_at:asc"}
                if since is None:
                    params["date_range"] = "all"
                else:
                    params.update(since=_iso(since), until=_iso(until))
                page = client.get("/incidents", params, conditional=False, next_url=lambda _r, _d: None)
                data = page.data if isinstance(page.data, dict) else {}
                batch = [x for x in data.get("incidents") or [] if isinstance(x, dict)]
                read = [i for i in map(incident, batch) if i is not None]
                for i in read:
                    if i.resolved is None and (oldest_open is None or i.triggered < oldest_open):
                        oldest_open = i.triggered
                run.progress.advance(len(batch))
                if data.get("more") and batch:
                    offset += len(batch)
                else:
                    todo, offset = todo[1:], 0
                if todo:
                    state = {walk_key: json.dumps({"end": _iso(end), "offset": offset, "oldest_open": _iso(oldest_open),
                                                   "windows": [[_iso(a), _iso(b)] for a, b in todo]})}
                else:  # the walk is whole: the next one starts from its end, or its oldest open incident
                    state = {walk_key: "", floor_key: _iso(end), open_key: _iso(oldest_open) or ""}
                summary = self.store_page(run, read, state)
            self.requests = client.stats.requests
        return summary
