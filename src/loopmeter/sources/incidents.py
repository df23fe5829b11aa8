"""Incidents from PagerDuty and Opsgenie CSV exports, as canonical `incident` items.

Each row is an incident with its triggered (created), acknowledged and resolved times. Column
names vary between exports and versions, so each field is found under any of several names,
compared without case, spaces or punctuation (`Created On`, `created_on` and `createdOn` are one):

| field | names looked for |
|---|---|
| id (required) | id, incident id, tinyid |
| created (required) | created on, created at, triggered at, opened at |
| acknowledged | acknowledged on, acknowledged at, first ack at; else created + seconds to first ack |
| resolved | resolved on, resolved at, closed at; else created + seconds to resolve |
| title | title, description, summary, message |
| service | service name, service, impacted services, services |
| status, urgency | status; urgency, priority |

An incident is linked to a repository and team through loopmeter.toml (`[[incidents.service]]`,
see `ServiceLink`), so DORA's change-failure rate counts it against that repository's deployments.
A row without an id or a usable created time is skipped and counted with its line number.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path

from ..errors import ConfigError, LoopmeterError
from .eventlog import Skipped, parse_time

PROVIDERS = ("pagerduty", "opsgenie")
FIELDS = {
    "id": ("id", "incidentid", "tinyid"),
    "created": ("createdon", "createdat", "created", "triggeredat", "openedat"),
    "acknowledged": ("acknowledgedon", "acknowledgedat", "firstackat", "firstacknowledgedat"),
    "resolved": ("resolvedon", "resolvedat", "closedat", "resolved"),
    "ack_seconds": ("secondstofirstack",),
    "resolve_seconds": ("secondstoresolve",),
    "title": ("title", "description", "summary", "message"),
    "service": ("servicename", "service", "impactedservices", "services"),
    "status": ("status",),
    "urgency": ("urgency", "priority"),
}


class IncidentError(LoopmeterError):
    """An incident export cannot be read at all (not CSV, no id or created column)."""


@dataclass(frozen=True)
class ServiceLink:
    """`[[incidents.service]]`: incidents of services matching `service` (shell-style, case-insensitive)
    belong to `repo` (as the store names it) and `team`."""

    service: str
    repo: str | None = None
    team: str | None = None


def parse_service_links(raw: object, p: Path | None) -> tuple[ServiceLink, ...]:
    if raw is None:
        return ()
    links = raw.get("service", []) if isinstance(raw, dict) else None
    if not isinstance(links, list) or not all(isinstance(x, dict) for x in links):
        raise ConfigError(f"{p}: incidents.service must be a list of tables ([[incidents.service]])")
    out = []
    for i, x in enumerate(links):
        if not isinstance(x.get("service"), str) or not x["service"]:
            raise ConfigError(f"{p}: incidents.service[{i}].service must be a service name or pattern")
        if set(x) - {"service", "repo", "team"}:
            raise ConfigError(f"{p}: incidents.service[{i}]: unknown key {sorted(set(x) - {'service', 'repo', 'team'})[0]!r}")
        out.append(ServiceLink(x["service"], x.get("repo"), x.get("team")))
    return tuple(out)


def link_for(links: tuple[ServiceLink, ...], service: str | None) -> ServiceLink | None:
    if not service:
        return None
    return next((lk for lk in links if fnmatchcase(service.lower(), lk.service.lower())), None)


@dataclass(frozen=True)
class Incident:
    id: str
    title: str | None
    service: str | None
    status: str | None
    urgency: str | None
    triggered: datetime
    acknowledged: datetime | None
    resolved: datetime | None


def _norm(h: str) -> str:
    return re.sub(r"[^a-z0-9]", "", h.lower())


def read_incidents(path: str | Path) -> tuple[list[Incident], list[Skipped]]:
    p = Path(path)
    if not p.is_file():
        raise IncidentError(f"{p}: no such file")
    incidents, skipped = [], []
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None) or []
            where = {}
            for name, aliases in FIELDS.items():
                col = next((i for i, h in enumerate(header) if _norm(h) in aliases), None)
                if col is not None:
                    where[name] = col
            for need in ("id", "created"):
                if need not in where:
                    raise IncidentError(f"{p}: no {need} column (looked for: {', '.join(FIELDS[need])}); "
                                        f"the header has: {', '.join(header) or 'nothing'}")
            line = reader.line_num + 1
            for rec in reader:
                at, line = f"line {line}", reader.line_num + 1
                if not rec:
                    continue
                if len(rec) != len(header):
                    skipped.append(Skipped(at, "wrong number of fields"))
                    continue

                def get(name: str) -> str | None:
                    v = rec[where[name]].strip() if name in where else ""
                    return v or None

                iid = get("id")
                if iid is None:
                    skipped.append(Skipped(at, "missing id"))
                    continue
                created = parse_time(get("created")) if get("created") else None
                if created is None:
                    skipped.append(Skipped(at, "missing or unparseable created time"))
                    continue
                incidents.append(Incident(
                    id=iid, title=get("title"), service=get("service"), status=get("status"), urgency=get("urgency"),
                    triggered=created,
                    acknowledged=_when(get("acknowledged"), get("ack_seconds"), created),
                    resolved=_when(get("resolved"), get("resolve_seconds"), created),
                ))
    except UnicodeDecodeError as e:
        raise IncidentError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise IncidentError(f"{p}: not valid CSV ({e})") from None
    return incidents, skipped


def _when(at: str | None, seconds: str | None, created: datetime) -> datetime | None:
    if at:
        return parse_time(at)
    if seconds:
        try:
            return created + timedelta(seconds=float(seconds))
        except (ValueError, OverflowError):
            return None
    return None


def incident_rows(provider: str, incidents: list[Incident], links: tuple[ServiceLink, ...]):
    """Canonical rows (store.event_logs.Rows): an `incident` item per incident, with `triggered`,
    `acknowledged` and `resolved` events."""
    from ..store.event_logs import Rows, dumps

    rows = Rows()
    for x in incidents:
        iid = f"{provider}:{x.id}"
        link = link_for(links, x.service)
        rows.items.append({
            "item_id": iid, "source": provider, "kind": "incident", "repo": link.repo if link else None,
            "team": link.team if link else None, "title": x.title, "created_at": x.triggered,
            "started_at": x.triggered, "done_at": x.resolved,
            "state": "resolved" if x.resolved else (x.status or "open").lower(), "size_lines": None, "author_id": None,
            "attrs": dumps({"service": x.service, "urgency": x.urgency, "status": x.status,
                            "acknowledged_at": x.acknowledged, "linked_by": "config" if link and link.repo else None}),
        })
        for ts, what in ((x.triggered, "triggered"), (x.acknowledged, "acknowledged"), (x.resolved, "resolved")):
            if ts is not None:
                rows.events.append((iid, ts, what, None, None))
    return rows


# --------------------------------------------------------------------------- as sources

class IncidentCsv:
    """A `Source` (sources/base.py): a PagerDuty or Opsgenie CSV export, read whole in `prepare`
    (a bad file creates nothing), stored as log `name` replacing its last ingest."""

    restore_point = True
    relinks_sessions = False

    def __init__(self, path: str | Path, *, provider: str, name: str, links: tuple[ServiceLink, ...]):
        if provider not in PROVIDERS:
            raise ConfigError(f"incident provider {provider!r} is not one of {', '.join(PROVIDERS)}")
        self.path, self.provider, self.name, self.links = path, provider, name, links
        self.label = f"{provider}-csv"
        self.incidents: list[Incident] = []
        self.skipped: list[Skipped] = []

    def prepare(self) -> bool:
        self.incidents, self.skipped = read_incidents(self.path)
        return True

    def idle(self):
        return None

    def load(self, run):
        return run.write_log(name=self.name, path=str(self.path), fmt=f"{self.provider}-csv",
                             rows=incident_rows(self.provider, self.incidents, self.links), skipped=self.skipped)
