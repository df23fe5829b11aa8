"""Writing what API sources (GitHub, GitLab, Jira) read into the canonical tables, page by page.

Each page of a listing becomes one transaction holding its items (replaced by id: delete then
insert, so a re-run never duplicates), their events, links and attributions, the actors seen, the
items' provider versions, the HTTP cache entries of every URL whose body made those rows, and the
walk's progress (the next page to read). A killed ingest therefore loses at most the page in
flight, and the next run resumes from the recorded next page.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from ..attribution import Evidence, Matcher
from .db import Store, transaction, utcnow

if TYPE_CHECKING:  # the git ingest imports this module for relink_api_sources; it needs no httpx
    import pyarrow as pa

    from ..sources.http import CacheEntry


@cache
def _schemas() -> dict[str, pa.Schema]:
    """The Arrow schemas of a page's tables, built on first use: the git ingest imports this module
    (for relink_api_sources), and an idle re-run should not pay for loading pyarrow."""
    import pyarrow as pa

    text, ts = pa.string(), pa.timestamp("us")
    return {
        "items": pa.schema([
            ("item_id", text), ("source", text), ("kind", text), ("repo", text), ("team", text), ("title", text),
            ("created_at", ts), ("started_at", ts), ("done_at", ts), ("state", text),
            ("size_lines", pa.int64()), ("author_id", text), ("attrs", text)]),
        "events": pa.schema([("item_id", text), ("ts", ts), ("activity", text), ("actor_id", text), ("attrs", text)]),
        "links": pa.schema([("src", text), ("dst", text), ("kind", text)]),
        "attrs": pa.schema([("item_id", text), ("agent", text), ("evidence", text), ("signal", text),
                            ("confidence", pa.float64()), ("evidence_class", text)]),
        "actors": pa.schema([("actor_id", text), ("kind", text), ("name", text), ("email", text), ("team", text),
                             ("agent", text)]),
        "versions": pa.schema([("item_id", text), ("source", text), ("updated_at", ts)]),
        "cache": pa.schema([("url", text), ("source", text), ("etag", text), ("body_hash", text),
                            ("next_url", text), ("oldest", ts), ("fetched_at", ts)]),
        "ids": pa.schema([("item_id", text)]),
    }


def parse_time(value: Any) -> datetime | None:
    """An API timestamp ("2024-01-02T10:00:00Z", "...+01:00", "....123Z") as naive UTC; None stays None."""
    if not value or not isinstance(value, str):
        return None
    v = value.strip().replace("Z", "+00:00")
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def login_actor_id(salt: str | bytes, login: str, where: str) -> str:
    """The pseudonymous actor id of an account `login` on `where` (github, gitlab, a host, jira)."""
    s = salt.encode() if isinstance(salt, str) else salt
    return "a" + hashlib.sha256(s + f"login:{login}@{where}".encode("utf-8", "replace")).hexdigest()[:15]


class ApiActors:
    """Stable pseudonymous actor ids for API accounts, keyed on `login:NAME@SOURCE` (docs/design.md),
    classified by the attribution signatures; an account of type Bot or a `[bot]` login is a bot."""

    def __init__(self, salt: str, matcher: Matcher, where: str):
        self.salt = salt.encode()
        self.matcher = matcher
        self.where = where  # "github", "gitlab", or the host of a self-hosted server
        self.rows: dict[str, tuple] = {}

    def actor(self, login: str | None, *, account_id: Any = None, account_type: str | None = None,
              bot: bool = False, shown: str | None = None) -> str | None:
        """The id of account `login` on this host. `shown` is the name kept for --show-names (and
        judged by the signatures) when the login is an opaque id, like a Jira accountId."""
        if not login:
            return None
        aid = login_actor_id(self.salt, login, self.where)
        if aid not in self.rows:
            name = shown or login
            kind, agent = self.matcher.classify_actor(name, noreply_email(login, account_id))
            if kind == "human" and (bot or account_type == "Bot" or name.lower().endswith("[bot]")):
                kind = "bot"
            self.rows[aid] = (aid, kind, name, None, None, agent)
        return aid

    def kind(self, actor_id: str | None) -> str | None:
        row = self.rows.get(actor_id or "")
        return None if row is None else row[1]


def noreply_email(login: str, account_id: Any) -> str:
    """GitHub's noreply address of an account: how the attribution signatures name GitHub accounts."""
    if account_id is None:
        return ""
    return f"{account_id}+{login}@users.noreply.github.com"


@dataclass
class PageRows:
    """Everything one page of one stream produces, written together by `write_page`."""

    items: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    attributions: list[dict] = field(default_factory=list)
    versions: list[tuple[str, datetime | None]] = field(default_factory=list)
    cache: list[CacheEntry] = field(default_factory=list)
    # Items the provider no longer has under these ids (a Jira issue moved to another key): removed
    # with their events, links, attributions and versions in the same transaction as the page.
    removed: list[str] = field(default_factory=list)

    def item(self, **row: Any) -> None:
        row.setdefault("team", None)
        row.setdefault("size_lines", None)
        row["attrs"] = json.dumps(row.get("attrs") or {}, default=str, sort_keys=True)
        self.items.append(row)

    def event(self, item_id: str, ts: datetime | None, activity: str, actor_id: str | None = None,
              **attrs: Any) -> None:
        if ts is None:
            return  # an event without a time cannot be placed on any timeline
        self.events.append({"item_id": item_id, "ts": ts, "activity": activity, "actor_id": actor_id,
                            "attrs": json.dumps(attrs, default=str, sort_keys=True) if attrs else None})

    def link(self, src: str, dst: str, kind: str) -> None:
        self.links.append({"src": src, "dst": dst, "kind": kind})

    def evidence(self, item_id: str, found: list[Evidence]) -> None:
        """Add evidence, keeping the strongest signal per (item, agent, kind of evidence, class)."""
        for ev in found:
            for row in self.attributions:
                if ((row["item_id"], row["agent"], row["evidence"], row["evidence_class"])
                        == (item_id, ev.agent, ev.evidence, ev.evidence_class)):
                    if ev.confidence > row["confidence"]:
                        row.update(signal=ev.signal, confidence=ev.confidence)
                    break
            else:
                self.attributions.append({"item_id": item_id, "agent": ev.agent, "evidence": ev.evidence,
                                          "signal": ev.signal, "confidence": ev.confidence,
                                          "evidence_class": ev.evidence_class})


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    return pa.table({f.name: [r.get(f.name) for r in rows] for f in schema}, schema=schema)


def _ids(ids: list[str]) -> pa.Table:
    return _table([{"item_id": i} for i in ids], _schemas()["ids"])


def write_page(store: Store, source: str, stream: str, rows: PageRows, actors: ApiActors, *,
               next_url: str | None, floor: datetime | None, pending_high_water: datetime | None,
               finished: bool = False) -> None:
    """Store one page's rows, cache entries and the walk's progress in one transaction. `finished`:
    this was the walk's last page; its high-water mark becomes the cursor in the same transaction."""
    sch = _schemas()
    ids = [r["item_id"] for r in rows.items]
    gone = [i for i in dict.fromkeys(rows.removed) if i not in set(ids)]
    t_actors = _table([dict(zip(sch["actors"].names, r)) for r in actors.rows.values()], sch["actors"])
    t_versions = _table([{"item_id": i, "source": source, "updated_at": u} for i, u in rows.versions], sch["versions"])
    now = utcnow()
    t_cache = _table([{"url": c.key, "source": source, "etag": c.etag, "body_hash": c.body_hash,
                       "next_url": c.next_url, "oldest": c.oldest, "fetched_at": now} for c in rows.cache], sch["cache"])
    with transaction(store.con, _ids=_ids(ids), _items=_table(rows.items, sch["items"]),
                     _events=_table(rows.events, sch["events"]), _links=_table(rows.links, sch["links"]),
                     _attrs=_table(rows.attributions, sch["attrs"]), _actors=t_actors, _versions=t_versions,
                     _cache=t_cache, _gone=_ids(gone)) as con:
        if gone:
            _remove(con, "_gone")
        # Replace by id: whatever these items had before goes, so a re-read never duplicates.
        con.execute("delete from items where item_id in (select item_id from _ids)")
        con.execute("delete from events where item_id in (select item_id from _ids)")
        con.execute("delete from links where src in (select item_id from _ids)")
        con.execute("delete from attributions where item_id in (select item_id from _ids)")
        con.execute("insert into items select * replace (attrs::json as attrs) from _items")
        con.execute("insert into events by name select * replace (attrs::json as attrs) from _events")
        con.execute("insert into links select distinct * from _links")
        con.execute("insert into attributions by name select * from _attrs")
        con.execute("insert or replace into actors select * from _actors")
        con.execute("insert or replace into api_item_versions select * from _versions")
        con.execute("insert or replace into http_cache select * from _cache")
        if finished:
            _finish(con, source, stream, pending_high_water)
        else:
            con.execute(
                "insert or replace into api_progress values (?, ?, ?, ?, ?, "
                "coalesce((select pages from api_progress where source = ? and stream = ?), 0) + 1, "
                "coalesce((select started_at from api_progress where source = ? and stream = ?), ?))",
                [source, stream, floor, next_url, pending_high_water, source, stream, source, stream, now],
            )
    actors.rows.clear()


def _remove(con: Any, table: str) -> None:
    """Delete the items whose ids are in `table` and everything hanging on them (either end of a link)."""
    for target, col in (("items", "item_id"), ("events", "item_id"), ("links", "src"), ("links", "dst"),
                        ("attributions", "item_id"), ("api_item_versions", "item_id")):
        con.execute(f"delete from {target} where {col} in (select item_id from {table})")


def remove_items(store: Store, ids: list[str]) -> None:
    """Remove items the provider no longer has (moved away, deleted), in one transaction."""
    if not ids:
        return
    with transaction(store.con, _gone=_ids(list(dict.fromkeys(ids)))) as con:
        _remove(con, "_gone")


def finish_walk(store: Store, source: str, stream: str, high_water: datetime | None) -> None:
    """A walk reached its end: record its high-water mark and forget its progress, together."""
    with transaction(store.con) as con:
        _finish(con, source, stream, high_water)


def _finish(con: Any, source: str, stream: str, high_water: datetime | None) -> None:
    if high_water is not None:
        con.execute("insert or replace into api_cursors values (?, ?, ?, ?)", [source, stream, high_water, utcnow()])
    con.execute("delete from api_progress where source = ? and stream = ?", [source, stream])


def cursor(store: Store, source: str, stream: str) -> datetime | None:
    row = store.con.execute("select high_water from api_cursors where source = ? and stream = ?",
                            [source, stream]).fetchone()
    return None if row is None else row[0]


def progress(store: Store, source: str, stream: str) -> tuple[datetime | None, str | None, datetime | None] | None:
    """(floor, next_url, pending_high_water) of an unfinished walk, or None."""
    row = store.con.execute("select floor, next_url, pending_high_water from api_progress where source = ? and stream = ?",
                            [source, stream]).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def cache_lookup(store: Store):
    """The HTTP cache as the `cached` callable of `ApiClient`."""

    from ..sources.http import CacheEntry

    def lookup(key: str) -> CacheEntry | None:
        row = store.con.execute("select etag, body_hash, next_url, oldest from http_cache where url = ?", [key]).fetchone()
        return None if row is None else CacheEntry(key, row[0], row[1], row[2], row[3])

    return lookup


def remember(store: Store, source: str, entry: CacheEntry) -> None:
    """Remember a URL's ETag that no stored rows depend on (a repository's own metadata)."""
    store.con.execute("insert or replace into http_cache values (?, ?, ?, ?, ?, ?, ?)",
                      [entry.key, source, entry.etag, entry.body_hash, entry.next_url, entry.oldest, utcnow()])


def versions(store: Store, ids: list[str]) -> dict[str, tuple[datetime | None, str | None]]:
    """Stored provider version and state of each of `ids` that is stored."""
    if not ids:
        return {}
    rows = store.con.execute(
        "select v.item_id, v.updated_at, i.state from api_item_versions v join items i using (item_id) "
        "where list_contains(?, v.item_id)", [ids]).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def relink_by_sha(store: Store, prefix: str) -> None:
    """Rebuild the sha joins of one API source's items (`prefix`, e.g. 'github:o/r:'):

    - `same_as`: pull request -> the git change item landed by its merge sha;
    - `deploys`: deployment -> the pull request merged as, or the git change landed by, its sha.

    Derived after every ingest (and safe to run again), because either side may arrive first and
    the git change derivation rebuilds its own items.
    """
    with transaction(store.con) as con:
        con.execute("delete from links where kind in ('same_as', 'deploys') and starts_with(src, ?)", [prefix])
        con.execute(
            """
            insert into links
            select distinct p.item_id, c.item_id, 'same_as' from items p join items c
              on c.source = 'git' and c.kind = 'change' and c.item_id = 'git:' || c.repo || ':change:' || json_extract_string(p.attrs, '$.merge_sha')
            where starts_with(p.item_id, ?) and p.kind = 'pull_request' and json_extract_string(p.attrs, '$.merge_sha') is not null
            """,
            [prefix],
        )
        con.execute(
            """
            insert into links
            select distinct d.item_id, t.item_id, 'deploys' from items d join items t
              on (t.kind = 'pull_request' and json_extract_string(t.attrs, '$.merge_sha') = json_extract_string(d.attrs, '$.sha'))
              or (t.source = 'git' and t.kind = 'change' and t.item_id = 'git:' || t.repo || ':change:' || json_extract_string(d.attrs, '$.sha'))
            where starts_with(d.item_id, ?) and d.kind = 'deployment' and json_extract_string(d.attrs, '$.sha') is not null
            """,
            [prefix],
        )


def relink_api_sources(store: Store) -> None:
    """`relink_by_sha` for every API source in the store (after git changes were rebuilt)."""
    for source in ("github:", "gitlab:"):
        if store.con.execute("select exists (select 1 from items where starts_with(item_id, ?))", [source]).fetchone()[0]:
            relink_by_sha(store, source)
