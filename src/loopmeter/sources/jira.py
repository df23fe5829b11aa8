"""Jira issues as `issue` / `incident` items with `transitioned` events (docs/design.md vocabulary).

Two ways in:
- the REST API (`JiraSource`, an `ApiSource` walked by sources/api_walk.walk like GitHub and GitLab):
  one listing, the project's issues by JQL `project = "KEY" [AND updated >= "T"] ORDER BY updated
  DESC, key DESC` with `expand=changelog`; each status change in the changelog is a transition. A
  changelog longer than the search embeds (Jira Cloud embeds at most 20 histories) is completed
  from `/rest/api/2/issue/KEY/changelog`. Status categories come from `/rest/api/2/status`.
- a Jira CSV export (`read_jira_csv`) for teams that cannot grant API access. A CSV export has no
  changelog, so it gives opened / resolved times and the current status only (see JIRA_CSV_COLUMNS).

Which search endpoint: `/rest/api/2/serverInfo` says `deploymentType`. Jira Cloud ("Cloud") is read
through `/rest/api/3/search/jql`, paged by `nextPageToken` until `isLast`: Atlassian deprecated the
offset search `/rest/api/2|3/search` on Cloud in October 2024 and has since removed it (it answers
410 Gone). Jira Server and Data Center (any other answer) have only the offset search
`/rest/api/2/search`, paged by `startAt` until `total`. A Cloud page token expires after 7 days, so
an interrupted Cloud walk older than 6 days starts again from its first page (same floor; the
issues already stored cost only their share of a page).

Incremental: the walk stores, with each page's rows, the newest `updated` it saw; the next run asks
only for `updated >= "cursor - MARGIN"`. JQL reads a date in the time zone of the token's user,
so the cursor is written in the zone `/rest/api/2/myself` names (when that is unknown, UTC with a
margin widened by the largest UTC offset). The margin covers clocks and the search index lagging
behind updates (Atlassian calls the new search eventually consistent). Newest first, because
offset paging over a listing that changes while it is read can then only repeat an issue (one
updated meanwhile moves to the front, already read, and is read by the next run), never skip one.
An issue whose `updated` equals the stored version is not converted again.

Moves and deletions: an issue moved to another project gets a new key (OPS-2 becomes DEV-7) and
never matches `project = "OPS"` again; a deleted one is in no listing. So, (1) an issue read with a
`Key` change in its changelog removes the items of its old keys (same transaction as its rows), and
(2) after each walk, the stored open issues of the project the walk did not read are looked up by
key, `key in ("OPS-2", ...)`, 100 to a request (LOOKUP_BATCH). Jira finds a moved issue by its old
key and answers it under its new one; a deleted issue (or one the token may no longer see) is
absent. Which is which is told by Jira's numeric issue id (`id`, stored as `attrs.jira_id`), which a
move keeps: see `JiraSource._gone`. An issue read with the stored id of another key of a project of
the same site replaces that item too (a move its changelog does not show). Either way its item is removed, with its events and links: it no longer belongs to the
project, and left open it would count as work in progress forever (and twice when its new project
is ingested too). Jira rejects a `key in` list naming an issue that does not exist ("An issue with
key 'OPS-4' does not exist for field 'key'.", 400) unless the query is not validated: Server and
Data Center document `validateQuery=false` on `/rest/api/2/search`; Cloud's enhanced search
documents no such parameter, so a 400 naming keys of the list is read as those keys being gone and
the rest of the batch is asked again. Closed issues are not looked up (their numbers no longer
change; a moved closed issue is removed when its new project is ingested, by rule 1).

Sites: item ids are `jira:KEY-N` (no site in them; stores hold them), so the store records which
site (`site()`: host, port, context path) each project key was read from, in meta `jira_site:KEY`,
and refuses a project key already stored from another site before asking it anything.

People: accounts are pseudonymised by `store.api_load.ApiActors`, keyed on the stable accountId
(Cloud) or the user key / name (Server, Data Center) scoped to the host, never the display name,
which is kept only to be shown with --show-names. Apps (accountType "app") are bots.

Times: work started = the first transition into the "In Progress" (`indeterminate`) category; done =
the last transition into the `done` category if the issue is in it now (else not done); a reopen is
a transition out of the `done` category into another one. `hours_by_category` adds up the time spent
in each category from creation to done (or to the last transition while open): time in `new`
after work started is waiting.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .api_walk import ApiIngestResult, ApiSource, Stream
from ..attribution import Matcher
from ..errors import ConfigError
from ..ingestion import Progress
from ..store import api_load
from ..store.api_load import PageRows
from ..store.db import Store, transaction, utcnow
from ..store.event_logs import Rows, dumps
from . import safe
from .eventlog import EventLogError, Skipped, parse_time
from .http import ApiClient, ApiError, AuthError, NotFound, strip_query

#: Keys per look-up of the stored open issues (one request each): Jira Cloud's enhanced search
#: returns up to 100 issues a page when fields are asked for; Server's default cap is higher.
LOOKUP_BATCH = 100
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*-[0-9]+")

CATEGORIES = ("new", "indeterminate", "done")
# Jira shows category names in CSV exports and some responses; the API keys are what we store.
_CATEGORY_NAMES = {"to do": "new", "new": "new", "in progress": "indeterminate", "indeterminate": "indeterminate",
                   "done": "done", "complete": "done"}

#: Columns of a Jira CSV export that are read. Required: Issue key, Status, Created. The rest are
#: used when present: Summary (title), Issue Type (`incident` items for type Incident), Resolved
#: (done time, `closed` event), Updated (kept in attrs), Status Category (new / indeterminate / done;
#: without it an issue with a Resolved time counts as done and any other as of unknown category),
#: Status Category Changed (when the current category was entered: the start time of an issue now in
#: progress, the done time of a done issue without Resolved), Labels (repeatable), Reporter, and
#: Reporter Id (the reporter's accountId, in Jira Cloud exports: when present the reporter is
#: pseudonymised like the API does, by account; without it by the name shown, see `csv_actor`).
JIRA_CSV_COLUMNS = ("Issue key", "Summary", "Issue Type", "Status", "Created", "Resolved", "Updated",
                    "Status Category", "Status Category Changed", "Labels", "Reporter", "Reporter Id")
_REQUIRED = ("Issue key", "Status", "Created")


@dataclass(frozen=True)
class Person:
    """Someone Jira names: `name` as shown (for --show-names only), `account` the stable id
    (accountId, or a Server user key/name) or None when only a name is known (a CSV export)."""

    name: str
    account: str | None = None
    bot: bool = False


#: Turns a person into an actor id (ApiActors for accounts, Identities for bare names).
Who = Callable[[Person], "str | None"]


@dataclass
class Transition:
    ts: datetime
    from_status: str | None
    to_status: str | None
    from_category: str | None
    to_category: str | None
    actor: Person | None = None


@dataclass
class JiraIssue:
    key: str
    summary: str | None
    issue_type: str | None
    status: str | None
    status_category: str | None
    created: datetime
    resolved: datetime | None = None
    updated: datetime | None = None
    labels: list[str] = field(default_factory=list)
    reporter: Person | None = None
    category_changed: datetime | None = None
    transitions: list[Transition] = field(default_factory=list)
    jira_id: str | None = None  # Jira's numeric issue id: stable across moves (the key is not); API only


def category_key(value: Any) -> str | None:
    if value is None:
        return None
    return _CATEGORY_NAMES.get(str(value).strip().lower())


def _item_kind(issue_type: str | None) -> str:
    return "incident" if (issue_type or "").strip().lower() == "incident" else "issue"


def issue_record(it: JiraIssue, who: Who, project: str | None
                 ) -> tuple[dict[str, Any], list[tuple[datetime, str, str | None, dict | None]]]:
    """One issue's item (attrs as a dict) and its `opened`/`transitioned`/`closed`/`reopened` events
    as (time, activity, actor, attrs): the rule both the API and the CSV export go through."""
    iid = f"jira:{it.key}"
    actor = who(it.reporter) if it.reporter else None
    events: list[tuple[datetime, str, str | None, dict | None]] = [(it.created, "opened", actor, None)]
    ts_sorted = sorted(it.transitions, key=lambda t: t.ts)
    started = None
    last_done = None
    reopens = 0
    for t in ts_sorted:
        by = who(t.actor) if t.actor else None
        events.append((t.ts, "transitioned", by, {
            "from": t.from_status, "to": t.to_status, "from_category": t.from_category,
            "to_category": t.to_category}))
        if t.to_category == "indeterminate" and started is None:
            started = t.ts
        if t.to_category == "done" and t.from_category != "done":
            events.append((t.ts, "closed", by, None))
            last_done = t.ts
        if t.from_category == "done" and t.to_category not in (None, "done"):
            events.append((t.ts, "reopened", by, None))
            reopens += 1
    category = it.status_category
    if category is None and not ts_sorted and it.resolved is not None:
        category = "done"
    done = None
    if category == "done":
        done = last_done or it.resolved or it.category_changed
        if not ts_sorted and done is not None:  # a CSV export: no changelog, the resolution closes it
            events.append((done, "closed", None, None))
    if started is None and not ts_sorted and category == "indeterminate":
        started = it.category_changed
    attrs: dict[str, Any] = {
        "labels": it.labels, "type": (it.issue_type or "").strip().lower() or None, "status": it.status,
        "status_category": category, "reopens": reopens,
    }
    if ts_sorted:
        attrs["hours_by_category"] = _hours_by_category(it, ts_sorted, done)
    if it.updated is not None:
        attrs["updated"] = it.updated.isoformat()
    if it.jira_id is not None:
        attrs["jira_id"] = it.jira_id
    item = {
        "item_id": iid, "source": "jira", "kind": _item_kind(it.issue_type), "repo": project, "team": None,
        "title": it.summary, "created_at": it.created, "started_at": started, "done_at": done,
        "state": "closed" if category == "done" else "open", "size_lines": None, "author_id": actor,
        "attrs": attrs,
    }
    return item, events


def issue_rows(issues: list[JiraIssue], who: Who, project: str | None = None) -> Rows:
    """The canonical rows of Jira issues read from a CSV export, for store.event_logs.write_log."""
    rows = Rows()
    for it in issues:
        item, events = issue_record(it, who, project)
        rows.items.append({**item, "attrs": dumps(item["attrs"])})
        rows.events += [(item["item_id"], ts, act, by, dumps(a or {})) for ts, act, by, a in events]
    rows.items.sort(key=lambda r: r["item_id"])
    return rows


def _hours_by_category(it: JiraIssue, ts: list[Transition], done: datetime | None) -> dict[str, float]:
    """Hours in each status category from creation to done (or to the last transition)."""
    out = {c: 0.0 for c in CATEGORIES}
    current, since = ts[0].from_category, it.created
    end = done or ts[-1].ts
    for t in ts:
        if t.ts > end:
            break
        if current in out:
            out[current] += (t.ts - since).total_seconds() / 3600.0
        current, since = t.to_category, t.ts
    if current in out and end > since:
        out[current] += (end - since).total_seconds() / 3600.0
    return {k: round(v, 4) for k, v in out.items()}


# --------------------------------------------------------------------------- CSV export


def parse_jira_time(value: str | None) -> datetime | None:
    """ISO 8601 or Jira's default export format ("26/Nov/24 8:14 AM"); no offset means UTC."""
    if value is None or not value.strip():
        return None
    t = parse_time(value)
    if t is not None:
        return t
    for fmt in ("%d/%b/%y %I:%M %p", "%d/%b/%Y %I:%M %p", "%d/%b/%y %H:%M", "%Y-%m-%d %H:%M"):
        try:
            return safe.in_range(datetime.strptime(value.strip(), fmt))
        except ValueError:
            continue
    return None


def read_jira_csv(path: str | Path) -> tuple[list[JiraIssue], list[Skipped]]:
    p = Path(path)
    if not p.is_file():
        raise EventLogError(f"{p}: no such file")
    issues: list[JiraIssue] = []
    skipped: list[Skipped] = []
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None) or []
            for col in _REQUIRED:
                if col not in header:
                    raise EventLogError(f"{p}: no column {col!r}; a Jira CSV export has {', '.join(_REQUIRED)}")
            # Jira repeats a column once per value (Labels, Labels, ...)
            index: dict[str, list[int]] = {}
            for i, name in enumerate(header):
                index.setdefault(name.strip(), []).append(i)
            start = 2
            seen_keys: dict[str, str] = {}
            for rec in reader:
                where = f"line {start}"
                start = reader.line_num + 1
                if not any(v.strip() for v in rec):
                    continue  # a blank line is not a row

                def one(name: str, rec: list[str] = rec) -> str | None:
                    for i in index.get(name, []):
                        if i < len(rec) and rec[i].strip():
                            return rec[i].strip()
                    return None

                reporter = one("Reporter")
                reporter_id = one("Reporter Id")
                key = one("Issue key")
                if not key:
                    skipped.append(Skipped(where, "missing issue key"))
                    continue
                if key in seen_keys:
                    # One issue, one item: a second row for the key (a hand-edited or concatenated
                    # export) would break the items' primary key; the first row wins.
                    skipped.append(Skipped(where, f"duplicate issue key (first at {seen_keys[key]})"))
                    continue
                raw_created = one("Created")
                created = parse_jira_time(raw_created)
                if created is None:
                    skipped.append(Skipped(where, "missing timestamp" if raw_created is None else "unparseable timestamp"))
                    continue
                seen_keys[key] = where
                issues.append(JiraIssue(
                    key=key, summary=one("Summary"), issue_type=one("Issue Type"), status=one("Status"),
                    status_category=category_key(one("Status Category")), created=created,
                    resolved=parse_jira_time(one("Resolved")), updated=parse_jira_time(one("Updated")),
                    labels=[rec[i].strip() for i in index.get("Labels", []) if i < len(rec) and rec[i].strip()],
                    reporter=Person(reporter or reporter_id or "", reporter_id) if (reporter or reporter_id) else None, category_changed=parse_jira_time(one("Status Category Changed")),
                ))
    except UnicodeDecodeError as e:
        raise EventLogError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise EventLogError(f"{p}: not valid CSV ({e})") from None
    return issues, skipped


def csv_actor(ids: Any, actors: api_load.ApiActors) -> Who:
    """How a CSV export's people become actors: by accountId (`Reporter Id`) through `actors`, the
    same id the API gives when `actors` is scoped to the same host; a bare name (older or Server
    exports) through git's `Identities` by the name as written, as the event logs do. A name is a
    weak key: a renamed person gets a second pseudonym and two people of the same name share one."""
    def who(p: Person) -> str | None:
        if p.account:
            return actors.actor(p.account, shown=p.name)
        return ids.actor_id(p.name, "") if p.name else None
    return who


# --------------------------------------------------------------------------- REST API

#: Issues per search page (Jira caps this, often at 50 or 100; we follow what it answers).
PAGE_SIZE = 50
CLOUD_SEARCH = "/rest/api/3/search/jql"
SERVER_SEARCH = "/rest/api/2/search"
SEARCH_FIELDS = "summary,issuetype,status,created,resolutiondate,updated,labels,reporter"
#: How far before the cursor an incremental run asks from: clock differences and the search index
#: catching up with updates. Issues in the margin that did not change cost only their share of a page.
MARGIN = timedelta(hours=1)
#: Added to the margin when the token's user's time zone is unknown (no /myself: anonymous access):
#: JQL then reads the date in a zone we cannot know, at most 14 hours from UTC.
UNKNOWN_ZONE = timedelta(hours=14)
#: Atlassian: a `nextPageToken` expires after 7 days; a Cloud walk interrupted longer ago restarts.
TOKEN_LIFETIME = timedelta(days=6)
#: meta key prefix recording which site (`site()`) each project's issues were read from.
SITE_META = "jira_site:"


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _next_by_offset(items_key: str) -> Callable[[Any, Any], str | None]:
    """Jira Server pages by offset: the next page starts after the rows this one returned, until
    `total` (or `isLast`) says there are no more."""
    def next_url(resp: Any, data: Any) -> str | None:
        if not isinstance(data, dict):
            return None
        rows = data.get(items_key) or []
        start, total = data.get("startAt") or 0, data.get("total")
        if data.get("isLast") is True or not rows:
            return None
        for name, value in (("startAt", start), ("total", total)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ApiError(f"Jira: {strip_query(str(resp.url))}: '{name}' is not a whole number")
        if total is not None and start + len(rows) >= total:
            return None
        return _with_param(str(resp.url), "startAt", str(start + len(rows)))
    return next_url


def _next_by_token(resp: Any, data: Any) -> str | None:
    """Jira Cloud's enhanced search: the next page is the same query with the answer's
    `nextPageToken`, until `isLast` (or no token)."""
    if not isinstance(data, dict) or data.get("isLast") is True or not data.get("nextPageToken"):
        return None
    return _with_param(str(resp.url), "nextPageToken", str(data["nextPageToken"]))


def _status_categories(client: Any) -> dict[str, str]:
    """Status id and lower-cased name -> category key, from /rest/api/2/status."""
    page = client.get("/rest/api/2/status", conditional=False)
    out: dict[str, str] = {}
    for s in page.data if isinstance(page.data, list) else []:
        if not isinstance(s, dict):
            continue
        cat = category_key((s.get("statusCategory") or {}).get("key"))
        if cat is None:
            continue
        if s.get("id") is not None:
            out[f"id:{s['id']}"] = cat
        if s.get("name"):
            out[f"name:{str(s['name']).lower()}"] = cat
    return out


def _category(cats: dict[str, str], status_id: Any, name: Any) -> str | None:
    return cats.get(f"id:{status_id}") or cats.get(f"name:{str(name).lower()}" if name else "")


def account(user: Any) -> Person | None:
    """A Jira user object as a Person keyed on its stable account: `accountId` (Cloud), else the
    user `key` (Server and Data Center: it survives a rename; `name` does not), else `name`."""
    if not isinstance(user, dict):
        return None
    acc = user.get("accountId") or user.get("key") or user.get("name")
    if not acc:
        return None
    return Person(str(user.get("displayName") or acc), str(acc), bot=user.get("accountType") == "app")


def _transitions(histories: list[dict], cats: dict[str, str]) -> list[Transition]:
    out = []
    for h in histories:
        if not isinstance(h, dict):
            continue
        ts = parse_time(h.get("created"))
        if ts is None:
            continue
        actor = account(h.get("author"))
        for change in h.get("items") or []:
            if not isinstance(change, dict) or change.get("field") != "status":
                continue
            out.append(Transition(
                ts, change.get("fromString"), change.get("toString"),
                _category(cats, change.get("from"), change.get("fromString")),
                _category(cats, change.get("to"), change.get("toString")), actor,
            ))
    return out


def moved_from(histories: list[dict], key: str) -> list[str]:
    """The keys an issue had before its current `key`: Jira records a move to another project as a
    changelog item of field "Key" (fieldId "issuekey") from the old key to the new one, next to one
    of field "project". A chain OPS-2 -> DEV-7 -> QA-3 gives both earlier keys."""
    out: list[str] = []
    for h in histories:
        for change in (h.get("items") if isinstance(h, dict) else None) or []:
            if not isinstance(change, dict):
                continue
            if str(change.get("field") or "").lower() != "key" and change.get("fieldId") != "issuekey":
                continue
            for k in (change.get("fromString"), change.get("toString")):
                if isinstance(k, str) and _KEY.fullmatch(k.strip()) and k.strip() != key and k.strip() not in out:
                    out.append(k.strip())
    return out


def _unknown_keys(error: ApiError, asked: list[str]) -> set[str]:
    """The keys of `asked` a 400 answer to a `key in` query says do not exist (Jira names each one
    in `errorMessages`, as "An issue with key 'OPS-4' does not exist for field 'key'.")."""
    body = error.body if isinstance(error.body, dict) else {}
    text = " ".join(str(m) for m in body.get("errorMessages") or [] if isinstance(m, str))
    quoted = set(re.findall(r"'([^']+)'", text))
    return {k for k in asked if k in quoted}


def _issue_from_api(raw: dict, histories: list[dict], cats: dict[str, str], skipped: list[Skipped]) -> JiraIssue | None:
    f = raw.get("fields") or {}
    key = raw.get("key")
    created = parse_time(f.get("created"))
    if created is None:
        skipped.append(Skipped(f"issue {key}", "missing timestamp" if not f.get("created") else "unparseable timestamp"))
        return None
    status = f.get("status") or {}
    return JiraIssue(
        key=str(key), summary=f.get("summary"), issue_type=(f.get("issuetype") or {}).get("name"),
        status=status.get("name"), status_category=category_key((status.get("statusCategory") or {}).get("key"))
        or _category(cats, status.get("id"), status.get("name")),
        created=created, resolved=parse_time(f.get("resolutiondate")), updated=parse_time(f.get("updated")),
        labels=[str(x) for x in f.get("labels") or []], reporter=account(f.get("reporter")),
        transitions=_transitions(histories, cats), jira_id=_jira_id(raw),
    )


def _jira_id(raw: dict) -> str | None:
    """The issue's numeric id as text (Jira sends it as a string; digits only, else unknown)."""
    value = raw.get("id")
    return str(value) if value is not None and str(value).isdigit() else None


def site(base_url: str) -> str:
    """Which Jira a base URL is: host (and port), and the context path of a Server install
    (https://corp.example/jira). Two sites may share project keys and numeric issue ids."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    # A scheme's own port names the same site as no port (https://h:443 is https://h).
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port is not None and parts.port != default else ""
    return (host + port + parts.path.rstrip("/")) if host else "jira"


def _updated(entry: dict) -> datetime | None:
    return parse_time((entry.get("fields") or {}).get("updated"))


class JiraSource(ApiSource):
    """One Jira project's issues, walked incrementally and resumably (module docstring)."""

    KIND = "jira"
    GONE = "changelogs answered 404/410 when read; those issues keep the transitions their search result embeds"

    def __init__(self, store: Store, client: ApiClient, project: str, matcher: Matcher):
        host = urlsplit(client.base_url).hostname or "jira"
        super().__init__(store, client, project, matcher, host)
        self.project = project
        self.api = f"/rest/api/2/project/{project}"
        self.prefix = f"jira:{project}-"  # item ids are jira:KEY-N
        self.site = site(client.base_url)
        self.same_site: list[str] = [project]  # the stored projects read from this site (check())
        self.other_site: list[str] = []  # and those read from another one
        self.source = f"{self.KIND}:{project}"
        self.cloud = False
        self.zone: ZoneInfo | None = None
        self.cats: dict[str, str] = {}
        self.since: datetime | None = None
        self.skipped: list[Skipped] = []
        self.listed: set[str] = set()  # keys the walk saw in the project's listing
        self.moved = 0  # stored issues removed because they now live under another key
        self.deleted = 0  # stored issues removed because Jira no longer answers them

    # -- what the server is ------------------------------------------------------------------

    def _optional(self, path: str) -> Any:
        """A JSON answer that helps but is not required (anonymous access has no /myself)."""
        try:
            return self.client.get(path, conditional=False).data
        except (NotFound, AuthError):
            return None

    def check(self) -> None:
        """The project is there (and not stored from another site); which search API the server has;
        the user's time zone; statuses."""
        key = f"{SITE_META}{self.project}"
        stored = self.store.meta(key)
        if stored is not None and stored != self.site:
            # Item ids are jira:KEY-N (kept: stores hold them), so a second site's OPS-1 would
            # overwrite the first one's. Refused before any request or row.
            raise ConfigError(
                f"jira: project {self.project} is already stored from {stored}; --url {self.site} is another "
                f"Jira site whose {self.project}-N issues would take the same ids: use another --store")
        try:
            self.client.get(self.api, conditional=False)
        except NotFound:
            raise NotFound(f"jira: project {self.project} not found or not visible to this token") from None
        if stored is None:
            # A store written before sites were recorded holds the project from the site it was
            # first read from, which it did not note: the first site asked since claims it.
            self.store.set_meta(key, self.site)
        sites = self.store.con.execute("select substr(key, ?), value from meta where starts_with(key, ?)",
                                       [len(SITE_META) + 1, SITE_META]).fetchall()
        self.same_site = [p for p, v in sites if v == self.site]
        self.other_site = [p for p, v in sites if v != self.site]
        info = self._optional("/rest/api/2/serverInfo")
        self.cloud = isinstance(info, dict) and str(info.get("deploymentType") or "").lower() == "cloud"
        me = self._optional("/rest/api/2/myself")
        zone = me.get("timeZone") if isinstance(me, dict) else None
        try:
            self.zone = ZoneInfo(str(zone)) if zone else None
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = None
        self.cats = _status_categories(self.client)
        if self.cloud:  # a page token older than Atlassian keeps it would answer 400: start that walk again
            self.store.con.execute(
                "delete from api_progress where source = ? and stream = 'issues' and started_at < ?",
                [self.source, utcnow() - TOKEN_LIFETIME])

    # -- the walk ----------------------------------------------------------------------------

    def _jql_time(self, t: datetime) -> str:
        """A naive-UTC time as JQL reads it: minutes, in the token's user's zone (rounded down)."""
        if self.zone is not None:
            t = t.replace(tzinfo=ZoneInfo("UTC")).astimezone(self.zone)
        return t.strftime("%Y/%m/%d %H:%M")

    def streams(self) -> list[Stream]:
        floor = self.since if self.since is not None else api_load.cursor(self.store, self.source, "issues")
        margin = MARGIN if self.zone is not None else MARGIN + UNKNOWN_ZONE
        jql = f'project = "{self.project}"'
        if floor is not None:
            jql += f' AND updated >= "{self._jql_time(floor - margin)}"'
        jql += " ORDER BY updated DESC, key DESC"
        params: dict[str, Any] = {"jql": jql, "fields": SEARCH_FIELDS, "expand": "changelog", "maxResults": PAGE_SIZE}
        if self.cloud:
            path, nxt = CLOUD_SEARCH, _next_by_token
        else:
            path, nxt = SERVER_SEARCH, _next_by_offset("issues")
            params["startAt"] = 0
        return [Stream("issues", path, params, self.entries, _updated, self.convert, id_prefix=self.prefix,
                       lookback=margin, next_url=nxt)]

    def entries(self, data: Any) -> list[dict]:
        if not isinstance(data, dict) or not isinstance(data.get("issues"), list):
            path = CLOUD_SEARCH if self.cloud else SERVER_SEARCH
            raise ApiError(f"Jira: {strip_query(self.client.url(path))}: the answer has no 'issues' list")
        return [e for e in data["issues"] if isinstance(e, dict)]

    def who(self, p: Person) -> str | None:
        return self.actors.actor(p.account, shown=p.name, bot=p.bot)

    def convert(self, entries: list[dict], rows: PageRows) -> None:
        """Each issue whose `updated` is not the stored one: its item and events, and its version."""
        keyed = []
        for e in entries:
            if e.get("key"):
                keyed.append(e)
                self.listed.add(str(e["key"]))
            else:
                self.skipped.append(Skipped(f"search result {e.get('id')}", "missing issue key"))
        stored = api_load.versions(self.store, [f"jira:{e['key']}" for e in keyed])
        known = dict(self.store.con.execute(
            "select item_id, json_extract_string(attrs, '$.jira_id') from items where list_contains(?, item_id)",
            [[f"jira:{e['key']}" for e in keyed]]).fetchall())
        read: list[tuple[JiraIssue, list[str]]] = []
        for e in keyed:
            iid = f"jira:{e['key']}"
            u = _updated(e)
            old = stored.get(iid)
            # Unchanged, unless stored before ids were (no jira_id yet): read once more to fill it.
            if old is not None and u is not None and old[0] == u and (known.get(iid) or _jira_id(e) is None):
                continue
            log = e.get("changelog") if isinstance(e.get("changelog"), dict) else {}
            histories = [h for h in log.get("histories") or [] if isinstance(h, dict)]
            total = log.get("total")
            if isinstance(total, int) and total > len(histories):
                histories = self._changelog(str(e["key"]), histories)
            issue = _issue_from_api(e, histories, self.cats, self.skipped)
            if issue is None:
                continue
            read.append((issue, [f"jira:{k}" for k in moved_from(histories, issue.key)]))
            item, events = issue_record(issue, self.who, self.project)
            rows.item(**item)
            for ts, activity, by, attrs in events:
                rows.event(iid, ts, activity, by, **(attrs or {}))
            rows.versions.append((iid, u))
        gone = self._replaced(read)
        self.moved += len([i for i in gone if i not in rows.removed])
        rows.removed += [i for i in gone if i not in rows.removed]

    def _replaced(self, read: list[tuple[JiraIssue, list[str]]]) -> list[str]:
        """The stored items that are issues of `read` under an earlier key, removed in the page's
        transaction: (1) a key the issue's changelog says it had, unless the store knows that key as
        another issue (another jira_id) or from another site; (2) any item of a project read from this site with the issue's
        jira_id (a move the changelog does not show: it survives a move, the key does not)."""
        before = sorted({k for _, keys in read for k in keys})
        ids = sorted({it.jira_id for it, _ in read if it.jira_id})
        if not before and not ids:
            return []
        stored = self.store.con.execute(
            "select item_id, repo, json_extract_string(attrs, '$.jira_id') as j from items "
            "where source = 'jira' and (list_contains(?, item_id) or list_contains(?, j))",
            [before, ids]).fetchall()
        out: list[str] = []
        for it, keys in read:
            iid = f"jira:{it.key}"
            for item_id, repo, j in stored:
                if item_id == iid or item_id in out:
                    continue
                by_key = (item_id in keys and repo not in self.other_site
                          and (j is None or it.jira_id is None or j == it.jira_id))
                by_id = it.jira_id is not None and j == it.jira_id and repo in self.same_site
                if by_key or by_id:
                    out.append(item_id)
        return out

    def _changelog(self, key: str, embedded: list[dict]) -> list[dict]:
        out: list[dict] = []
        try:
            for page in self.client.pages(f"/rest/api/2/issue/{key}/changelog", {"startAt": 0, "maxResults": 100},
                                          conditional=False, next_url=_next_by_offset("values")):
                values = page.data.get("values") if isinstance(page.data, dict) else None
                out += [h for h in values or [] if isinstance(h, dict)]
        except NotFound:
            self.missing += 1
            return embedded
        return out

    # -- moved and deleted issues ------------------------------------------------------------

    def check_open(self) -> None:
        """Look up the stored open issues of the project the walk did not read, LOOKUP_BATCH keys to
        a request, and remove those Jira answers under another key (moved) or not at all (deleted)."""
        stored = self.store.con.execute(
            "select i.item_id, json_extract_string(i.attrs, '$.jira_id') from items i join api_item_versions v "
            "using (item_id) where v.source = ? and i.state = 'open' and starts_with(i.item_id, ?) order by i.item_id",
            [self.source, self.prefix]).fetchall()
        stale = [(k, j) for iid, j in stored if (k := iid[len("jira:"):]) not in self.listed and _KEY.fullmatch(k)]
        for i in range(0, len(stale), LOOKUP_BATCH):
            batch = dict(stale[i:i + LOOKUP_BATCH])
            moved, deleted = self._gone(batch, self._lookup(list(batch)))
            self.moved += len(moved)
            self.deleted += len(deleted)
            api_load.remove_items(self.store, [f"jira:{k}" for k in moved + deleted])

    def _gone(self, asked: dict[str, str | None], answered: dict[str, str | None]) -> tuple[list[str], list[str]]:
        """Which asked keys (key -> stored jira_id) are moved and which deleted, given the answer (current
        key -> id). By id: an issue answered under another key with the stored id moved, one answered by
        neither key nor id is gone. A key stored before ids were (no jira_id) is matched by the answers no
        stored id claims: none left means deleted, one key for them means moved, several keys are asked
        one at a time (only old stores; two stale keys can name one issue, which a count cannot tell)."""
        moved: list[str] = []
        deleted: list[str] = []
        unsure: list[str] = []
        ids = {j for j in answered.values() if j}
        for k, j in asked.items():
            if k in answered:
                continue  # open under its key, just not updated since the cursor
            if j is not None:
                (moved if j in ids else deleted).append(k)
            else:
                unsure.append(k)
        claimed = {j for j in asked.values() if j}
        strangers = [k for k, j in answered.items() if k not in asked and (j is None or j not in claimed)]
        if not strangers:
            deleted += unsure
        elif len(unsure) == 1:
            moved += unsure
        else:
            for k in unsure:
                (moved if self._lookup([k]) else deleted).append(k)
        return moved, deleted

    def _lookup(self, keys: list[str]) -> dict[str, str | None]:
        """The current keys of the issues `keys` name, with their ids (module docstring: moves and deletions)."""
        if self.cloud:
            path, nxt, extra = CLOUD_SEARCH, _next_by_token, {}
        else:
            path, nxt, extra = SERVER_SEARCH, _next_by_offset("issues"), {"startAt": 0, "validateQuery": "false"}
        gone: set[str] = set()
        while True:
            ask = [k for k in keys if k not in gone]
            if not ask:
                return {}
            # `fields=key`: only the key is needed, the smallest answer (and Cloud's largest page).
            params = {"jql": "key in (" + ", ".join(f'"{k}"' for k in ask) + ")", "fields": "key",
                      "maxResults": LOOKUP_BATCH, **extra}
            found: dict[str, str | None] = {}
            try:
                for page in self.client.pages(path, params, conditional=False, next_url=nxt):
                    # `id` comes with every issue whatever `fields` asks for
                    found.update((str(e["key"]), _jira_id(e)) for e in self.entries(page.data) if e.get("key"))
            except ApiError as e:
                named = _unknown_keys(e, ask) if e.status == 400 else set()
                if not named:
                    raise
                gone |= named  # those do not exist any more: ask for the others again
                continue
            return found

    def ingest(self, *, since: datetime | None, progress: Progress,
               only: tuple[str, ...] | None = None) -> ApiIngestResult:
        self.since = since
        full = since is None and api_load.cursor(self.store, self.source, "issues") is None
        result = super().ingest(since=since, progress=progress, only=only)
        self.check_open()
        result.removed = {k: n for k, n in (("moved", self.moved), ("deleted", self.deleted)) if n}
        if full:
            retire_legacy_log(self.store, f"jira-{self.project}", self.source)
        if self.skipped:
            result.warnings.append(f"{self.source}: {len(self.skipped)} issues skipped ("
                                   f"{'; '.join(sorted({s.reason for s in self.skipped}))})")
        return result


def retire_legacy_log(store: Store, log: str, source: str) -> None:
    """Once a full walk has stored the project as an API source, drop what earlier loopmeter versions wrote
    for it as event log `jira-KEY`: the log's record, the issues the walk no longer found (deleted or
    moved in Jira), and the actors of its old keying (`login:ACCOUNT@jira`) nothing refers to any
    more. The issues the walk read replaced the log's ones by id already (no duplicates)."""
    with transaction(store.con) as con:
        if not con.execute("select count(*) from event_logs where name = ? and format = 'jira'", [log]).fetchone()[0]:
            return
        con.execute(
            "create or replace temp table _jira_gone as select item_id from event_log_items where log = ? "
            "and item_id not in (select item_id from api_item_versions where source = ?)", [log, source])
        for table, col in (("items", "item_id"), ("events", "item_id"), ("links", "src"), ("attributions", "item_id")):
            con.execute(f"delete from {table} where {col} in (select item_id from _jira_gone)")
        con.execute("drop table _jira_gone")
        con.execute("delete from event_log_items where log = ?", [log])
        con.execute("delete from event_logs where name = ?", [log])
        con.execute(
            "delete from actors where email like 'login:%@jira' "
            "and actor_id not in (select author_id from items where author_id is not null) "
            "and actor_id not in (select actor_id from events where actor_id is not null)")


Source = JiraSource
