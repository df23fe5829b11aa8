"""Jira issues as `issue` / `incident` items with `transitioned` events (docs/design.md vocabulary).

Two ways in:
- the REST API (`read_jira_api`): `/rest/api/2/search` with `expand=changelog`, paged with
  `startAt`/`maxResults`; each status change in the changelog is a transition. A changelog longer
  than the search embeds is completed from `/rest/api/2/issue/KEY/changelog`. Status categories
  come from `/rest/api/2/status`.
- a Jira CSV export (`read_jira_csv`) for teams that cannot grant API access. A CSV export has no
  changelog, so it gives opened / resolved times and the current status only (see JIRA_CSV_COLUMNS).

Times: work started = the first transition into the "In Progress" (`indeterminate`) category; done =
the last transition into the `done` category if the issue is in it now (else not done); a reopen is
a transition out of the `done` category into another one. `hours_by_category` adds up the time spent
in each category from creation to done (or to the last transition while open): time in `new`
after work started is waiting.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..store.event_logs import Rows, dumps
from ..store.git_load import Identities
from .eventlog import EventLogError, Skipped, parse_time

CATEGORIES = ("new", "indeterminate", "done")
# Jira shows category names in CSV exports and some responses; the API keys are what we store.
_CATEGORY_NAMES = {"to do": "new", "new": "new", "in progress": "indeterminate", "indeterminate": "indeterminate",
                   "done": "done", "complete": "done"}

#: Columns of a Jira CSV export that are read. Required: Issue key, Status, Created. The rest are
#: used when present: Summary (title), Issue Type (`incident` items for type Incident), Resolved
#: (done time, `closed` event), Updated (kept in attrs), Status Category (new / indeterminate / done;
#: without it an issue with a Resolved time counts as done and any other as of unknown category),
#: Status Category Changed (when the current category was entered: the start time of an issue now in
#: progress, the done time of a done issue without Resolved), Labels (repeatable), Reporter, Assignee.
JIRA_CSV_COLUMNS = ("Issue key", "Summary", "Issue Type", "Status", "Created", "Resolved", "Updated",
                    "Status Category", "Status Category Changed", "Labels", "Reporter", "Assignee")
_REQUIRED = ("Issue key", "Status", "Created")


@dataclass
class Transition:
    ts: datetime
    from_status: str | None
    to_status: str | None
    from_category: str | None
    to_category: str | None
    actor: tuple[str, str] | None = None  # (name, key) for Identities.actor_id


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
    reporter: tuple[str, str] | None = None  # (name, key) for Identities.actor_id
    category_changed: datetime | None = None
    transitions: list[Transition] = field(default_factory=list)


def category_key(value: Any) -> str | None:
    if value is None:
        return None
    return _CATEGORY_NAMES.get(str(value).strip().lower())


def _item_kind(issue_type: str | None) -> str:
    return "incident" if (issue_type or "").strip().lower() == "incident" else "issue"


def issue_rows(issues: list[JiraIssue], ids: Identities, project: str | None = None) -> Rows:
    """The canonical rows of Jira issues: items, `opened`/`transitioned`/`closed`/`reopened` events."""
    rows = Rows()
    for it in issues:
        iid = f"jira:{it.key}"
        actor = ids.actor_id(*it.reporter) if it.reporter else None
        rows.events.append((iid, it.created, "opened", actor, dumps({})))
        ts_sorted = sorted(it.transitions, key=lambda t: t.ts)
        started = None
        last_done = None
        reopens = 0
        for t in ts_sorted:
            who = ids.actor_id(*t.actor) if t.actor else None
            rows.events.append((iid, t.ts, "transitioned", who, dumps({
                "from": t.from_status, "to": t.to_status, "from_category": t.from_category,
                "to_category": t.to_category})))
            if t.to_category == "indeterminate" and started is None:
                started = t.ts
            if t.to_category == "done" and t.from_category != "done":
                rows.events.append((iid, t.ts, "closed", who, dumps({})))
                last_done = t.ts
            if t.from_category == "done" and t.to_category not in (None, "done"):
                rows.events.append((iid, t.ts, "reopened", who, dumps({})))
                reopens += 1
        category = it.status_category
        if category is None and not ts_sorted and it.resolved is not None:
            category = "done"
        done = None
        if category == "done":
            done = last_done or it.resolved or it.category_changed
            if not ts_sorted and done is not None:  # a CSV export: no changelog, the resolution closes it
                rows.events.append((iid, done, "closed", None, dumps({})))
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
        rows.items.append({
            "item_id": iid, "source": "jira", "kind": _item_kind(it.issue_type), "repo": project, "team": None,
            "title": it.summary, "created_at": it.created, "started_at": started, "done_at": done,
            "state": "closed" if category == "done" else "open", "size_lines": None, "author_id": actor,
            "attrs": dumps(attrs),
        })
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
            return datetime.strptime(value.strip(), fmt)
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
                key = one("Issue key")
                if not key:
                    skipped.append(Skipped(where, "missing issue key"))
                    continue
                raw_created = one("Created")
                created = parse_jira_time(raw_created)
                if created is None:
                    skipped.append(Skipped(where, "missing timestamp" if raw_created is None else "unparseable timestamp"))
                    continue
                issues.append(JiraIssue(
                    key=key, summary=one("Summary"), issue_type=one("Issue Type"), status=one("Status"),
                    status_category=category_key(one("Status Category")), created=created,
                    resolved=parse_jira_time(one("Resolved")), updated=parse_jira_time(one("Updated")),
                    labels=[rec[i].strip() for i in index.get("Labels", []) if i < len(rec) and rec[i].strip()],
                    reporter=(reporter, "") if reporter else None, category_changed=parse_jira_time(one("Status Category Changed")),
                ))
    except UnicodeDecodeError as e:
        raise EventLogError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise EventLogError(f"{p}: not valid CSV ({e})") from None
    return issues, skipped


# --------------------------------------------------------------------------- REST API

#: Issues per search page (Jira caps this, often at 50 or 100; we follow what it answers).
PAGE_SIZE = 50


def _with_start(url: str, start: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "startAt"]
    query.append(("startAt", str(start)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _next_by_offset(items_key: str) -> Callable[[Any, Any], str | None]:
    """Jira pages by offset: the next page starts after the rows this one returned, until `total`
    (or `isLast`) says there are no more."""
    def next_url(resp: Any, data: Any) -> str | None:
        if not isinstance(data, dict):
            return None
        rows = data.get(items_key) or []
        start = int(data.get("startAt") or 0)
        total = data.get("total")
        if data.get("isLast") is True or not rows:
            return None
        if total is not None and start + len(rows) >= int(total):
            return None
        return _with_start(str(resp.url), start + len(rows))
    return next_url


def _status_categories(client: Any) -> dict[str, str]:
    """Status id and lower-cased name -> category key, from /rest/api/2/status."""
    page = client.get("/rest/api/2/status", conditional=False)
    out: dict[str, str] = {}
    for s in page.data or []:
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


def _account(user: Any) -> tuple[str, str] | None:
    """(display name, `login:ACCOUNT@jira`): keyed on the account like other API sources; the name
    is shown only with --show-names."""
    if not isinstance(user, dict):
        return None
    account = user.get("accountId") or user.get("name") or user.get("key")
    if not account:
        return None
    return str(user.get("displayName") or account), f"login:{account}@jira"


def _transitions(histories: list[dict], cats: dict[str, str]) -> list[Transition]:
    out = []
    for h in histories:
        ts = parse_time(h.get("created"))
        if ts is None:
            continue
        actor = _account(h.get("author"))
        for change in h.get("items") or []:
            if change.get("field") != "status":
                continue
            out.append(Transition(
                ts, change.get("fromString"), change.get("toString"),
                _category(cats, change.get("from"), change.get("fromString")),
                _category(cats, change.get("to"), change.get("toString")), actor,
            ))
    return out


def _issue_from_api(raw: dict, histories: list[dict], cats: dict[str, str], where: str,
                    skipped: list[Skipped]) -> JiraIssue | None:
    f = raw.get("fields") or {}
    key = raw.get("key")
    if not key:
        skipped.append(Skipped(where, "missing issue key"))
        return None
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
        labels=list(f.get("labels") or []), reporter=_account(f.get("reporter")),
        transitions=_transitions(histories, cats),
    )


def read_jira_api(client: Any, project: str, *, on_page: Callable[[int], None] | None = None
                  ) -> tuple[list[JiraIssue], list[Skipped]]:
    """Every issue of `project` with its status transitions, through `client` (sources/http.ApiClient)."""
    cats = _status_categories(client)
    issues: list[JiraIssue] = []
    skipped: list[Skipped] = []
    params = {"jql": f'project = "{project}" ORDER BY key ASC', "expand": "changelog", "startAt": 0,
              "maxResults": PAGE_SIZE, "fields": "summary,issuetype,status,created,resolutiondate,updated,labels,reporter"}
    n = 0
    for page in client.pages("/rest/api/2/search", params, conditional=False, next_url=_next_by_offset("issues")):
        data = page.data if isinstance(page.data, dict) else {}
        batch = data.get("issues")
        if not isinstance(batch, list):
            raise EventLogError(f"Jira: {page.url.split('?')[0]}: the answer has no 'issues' list")
        for raw in batch:
            n += 1
            log = (raw.get("changelog") or {}) if isinstance(raw, dict) else {}
            histories = list(log.get("histories") or [])
            total = log.get("total")
            if isinstance(raw, dict) and raw.get("key") and total is not None and int(total) > len(histories):
                histories = list(_all_changelog(client, str(raw["key"])))
            issue = _issue_from_api(raw if isinstance(raw, dict) else {}, histories, cats, f"search result {n}", skipped)
            if issue is not None:
                issues.append(issue)
        if on_page:
            on_page(len(batch))
    return issues, skipped


def _all_changelog(client: Any, key: str) -> Iterator[dict]:
    for page in client.pages(f"/rest/api/2/issue/{key}/changelog", {"startAt": 0, "maxResults": 100},
                             conditional=False, next_url=_next_by_offset("values")):
        yield from (page.data or {}).get("values") or []
