"""API sources (GitHub, GitLab, Jira): the walk of a listing, newest first, one transaction per page, resumable.

`ApiWalks` puts a set of them behind the `Source` protocol (sources/base.py) for the ingest
runner. A source (sources/github.py, sources/gitlab.py, sources/jira.py) describes its listings as `Stream`s: where the
listing is, how to get its entries from a page, the time the listing is sorted by (newest first),
and how to turn a page of entries into rows (making whatever per-item requests it needs). `walk`
owns the walk:

- It starts at the first page, or, when an earlier walk was killed, at the page that walk recorded
  as next (the same `--since`), with the high-water mark that walk was going to record.
- It stops at the first entry older than the floor: `--since` when given, else the high-water mark of
  the last complete walk. A daily run thus reads the first page of each listing, which is a 304
  (free against GitHub's rate limit) when nothing changed.
- A 304 page has no body; its rows are stored (its cache entry was written with them), and the
  remembered oldest time and next link say whether to go on.
- For listings sorted by creation whose entries change later (CI runs, deployments), the mark never
  passes the oldest entry still open in the store, so the next walk reads it again; a stream may
  also look back a fixed time past the mark (GitHub reruns keep their run's creation time). Entries
  whose version is already stored cost nothing but their share of a page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runner import Run

from ..attribution import Matcher
from ..ingestion import Progress
from ..store import api_load
from ..store.api_load import ApiActors, PageRows, parse_time
from ..store.db import Store
from .http import ApiClient, NotFound


@dataclass
class Stream:
    name: str  # "pulls": with the source, the key of its cursor and progress
    path: str
    params: dict[str, Any]
    entries: Callable[[Any], list[dict]]
    time_of: Callable[[dict], datetime | None]
    convert: Callable[[list[dict], PageRows], None]
    id_prefix: str = ""  # items of this stream start with it ("github:o/r:run:")
    open_states: tuple[str, ...] = ()  # states of stored items that must be read again
    # Re-reads stored open items whose listing entry may not change when they do (GitHub adds a
    # deployment status without touching the deployment); gets the ids, adds rows to the page.
    refresh: Callable[[list[str], PageRows], None] | None = None
    lookback: timedelta = timedelta(0)
    # How the next page is found when the API does not send a `Link` header (Jira's offsets and
    # page tokens live in the body); None follows `Link` / `X-Next-Page`.
    next_url: Callable[[Any, Any], str | None] | None = None


# An item still open this long after the newest one is taken as abandoned (a deployment nobody
# finished, a runner that vanished): it no longer holds the high-water mark back, or every daily
# run would page back to it. GitHub cancels any workflow run after 35 days; most finish in hours.
OPEN_HORIZON = timedelta(days=7)


@dataclass
class ApiIngestResult:
    source: str
    items: dict[str, int] = field(default_factory=dict)  # per stream: entries converted
    pages: int = 0
    requests: int = 0
    not_modified: int = 0
    waited_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # Stored items removed because the provider no longer has them there: {"moved": 2, "deleted": 1}
    removed: dict[str, int] = field(default_factory=dict)


def walk(store: Store, client: ApiClient, source: str, stream: Stream, actors: ApiActors, *,
         since: datetime | None, progress: Progress) -> tuple[int, int]:
    """Read one listing into the store. Returns (entries converted, pages read)."""
    old = api_load.cursor(store, source, stream.name)
    floor = since if since is not None else old
    # Where the walk stops: the floor, less the stream's look-back for entries that change without
    # moving up their listing (a rerun keeps its run's creation time).
    reach = None if floor is None else floor - stream.lookback
    url: str | None = stream.path
    params: dict[str, Any] | None = stream.params
    pending: datetime | None = None
    resumed = api_load.progress(store, source, stream.name)
    if resumed is not None and resumed[0] == floor and resumed[1]:
        url, params, pending = resumed[1], None, resumed[2]
    progress.start(f"{source} {stream.name}", None)
    converted = pages = 0
    seen: set[str] = set()
    while url:
        page = client.get(url, params, next_url=stream.next_url)
        params = None
        pages += 1
        rows = PageRows()
        if page.data is None and page.unchanged:
            # 304: this page's rows are already stored; go on only if it reached past the floor.
            entry = page.cache_entry
            pending = pending if pending is not None else old
            stop = reach is not None and entry is not None and entry.oldest is not None and entry.oldest < reach
            nxt = None if stop else page.next_url
        else:
            entries = stream.entries(page.data)
            times = [stream.time_of(e) for e in entries]
            known = [t for t in times if t is not None]
            if pending is None and known:
                pending = max(known)
            keep = [e for e, t in zip(entries, times) if reach is None or t is None or t >= reach]
            stop = reach is not None and any(t < reach for t in known)
            stream.convert(keep, rows)
            converted += len(keep)
            progress.advance(len(keep))
            if page.cache_entry is not None:
                rows.cache.append(replace(page.cache_entry, oldest=min(known) if known else None))
            nxt = None if stop else page.next_url
        seen.update(r["item_id"] for r in rows.items)
        # The last page of a stream without open items to look at again moves the cursor in the
        # same transaction as its rows: a kill can never leave rows stored and the mark behind.
        last = nxt is None and not stream.open_states
        api_load.write_page(store, source, stream.name, rows, actors, next_url=nxt, floor=floor,
                            pending_high_water=pending if pending is not None or not last else old,
                            finished=last)
        url = nxt
    if not stream.open_states:
        return converted, pages
    high = pending if pending is not None else old
    if high is not None:
        still_open = store.con.execute(
            "select item_id, created_at from items where starts_with(item_id, ?) and list_contains(?, state) "
            "and created_at >= ? order by created_at, item_id",
            [stream.id_prefix, list(stream.open_states), high - OPEN_HORIZON]).fetchall()
        stale = [r[0] for r in still_open if r[0] not in seen]  # not just read by this walk
        if stale and stream.refresh is not None:
            rows = PageRows()
            stream.refresh(stale, rows)
            if rows.items or rows.cache:
                api_load.write_page(store, source, stream.name, rows, actors, next_url=None, floor=floor,
                                    pending_high_water=pending)
            still_open = store.con.execute(
                "select item_id, created_at from items where list_contains(?, item_id) and list_contains(?, state) "
                "order by created_at", [[r[0] for r in still_open], list(stream.open_states)]).fetchall()
        if still_open and still_open[0][1] < high:
            high = still_open[0][1]
    api_load.finish_walk(store, source, stream.name, high)
    return converted, pages


def listed(data: Any) -> list[dict]:
    """The entries of a page whose body is a JSON list (anything else in it, or another body, is none)."""
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


class ApiSource:
    """What the GitHub and GitLab sources share: a check that the repository is there, then a walk of
    every stream. A subclass sets KIND ("github") and GONE (what its per-item listings are, for the
    warning when some answered 404/410), sets `api` (the repository's path) and lists its `streams()`."""

    KIND: str
    GONE: str
    api: str

    def __init__(self, store: Store, client: ApiClient, name: str, matcher: Matcher, where: str):
        self.store = store
        self.client = client
        self.name = name  # the repository, "OWNER/REPO"
        self.matcher = matcher
        self.actors = ApiActors(store.meta("salt") or "", matcher, where)  # `where`: the host accounts live on
        self.prefix = f"{self.KIND}:{name}:"
        self.missing = 0  # per-item listings that answered 404/410

    def streams(self) -> list[Stream]:
        raise NotImplementedError

    def _all(self, path: str, remember: PageRows | None = None, **params: Any) -> list[dict]:
        """Every entry of a small per-item listing (read unconditionally: it is read because it changed).
        With `remember`, its ETags are stored with the rows, for a later conditional look."""
        out: list[dict] = []
        try:
            for page in self.client.pages(path, {"per_page": 100, **params}, conditional=False):
                if remember is not None and page.cache_entry is not None:
                    remember.cache.append(page.cache_entry)
                out += listed(page.data)
        except NotFound:
            # Listed a moment ago, gone now (deleted, transferred, hidden as spam; or a feature the
            # server lacks): the listing's own fields are still stored, and its next change is read again.
            self.missing += 1
        return out

    def convert_changed(self, entries: list[dict], rows: PageRows, item_id: Callable[[dict], str],
                        convert: Callable[[dict, str, PageRows], None],
                        terminal: Callable[[str | None], bool] = lambda state: True) -> None:
        """Convert the entries whose item changed, recording each one's version: not stored, another
        `updated_at`, or stored in a state that is not `terminal` (a running CI run changes without
        its listing saying so)."""
        ids = [item_id(e) for e in entries]
        stored = api_load.versions(self.store, ids)
        for entry, i in zip(entries, ids):
            u = parse_time(entry.get("updated_at"))
            old = stored.get(i)
            if old is None or u is None or old[0] != u or not terminal(old[1]):
                convert(entry, i, rows)
                rows.versions.append((i, u))

    def check(self) -> None:
        """Fail early with one line when the repository is not there (before anything is written)."""
        try:
            page = self.client.get(self.api)
        except NotFound:
            raise NotFound(f"{self.KIND}: {self.name} not found or not visible to this token") from None
        # No rows hang on this answer, so its ETag may be remembered at once: tomorrow's check is a 304.
        if page.cache_entry is not None and not page.unchanged:
            api_load.remember(self.store, f"{self.KIND}:{self.name}", page.cache_entry)

    def ingest(self, *, since: datetime | None, progress: Progress,
               only: tuple[str, ...] | None = None) -> ApiIngestResult:
        """Walk every stream (or those named in `only`), then link items to commits by SHA."""
        self.check()
        result = ApiIngestResult(source=f"{self.KIND}:{self.name}")
        for stream in self.streams():
            if only is not None and stream.name not in only:
                continue
            n, pages = walk(self.store, self.client, result.source, stream, self.actors, since=since, progress=progress)
            result.items[stream.name] = n
            result.pages += pages
        api_load.relink_by_sha(self.store, self.prefix)
        if self.missing:
            result.warnings.append(f"{result.source}: {self.missing} {self.GONE}; those items keep only their "
                                   "listing's fields")
        return result


class ApiWalks:
    """A `Source` (sources/base.py): the named repositories or projects of one API, each walked by
    its `ApiSource` through its own client. `load` returns one `ApiIngestResult` per name, with the
    client's request counts. The token lives only in the clients (`open_client`)."""

    restore_point = True
    relinks_sessions = True  # pull requests and issues were rewritten: sessions join them again

    def __init__(self, label: str, names: list[str], *, open_client: Callable[[Store], ApiClient],
                 make: Callable[[Store, ApiClient, str], ApiSource], since: datetime | None, progress: Progress):
        self.label = label
        self.names = names
        self.open_client = open_client
        self.make = make
        self.since = since
        self.progress = progress

    def prepare(self) -> bool:
        return True  # names and token are checked by the caller, before it builds the clients

    def idle(self) -> list[ApiIngestResult]:
        return []

    def load(self, run: Run) -> list[ApiIngestResult]:
        results = []
        for name in self.names:
            with self.open_client(run.store) as client:
                result = self.make(run.store, client, name).ingest(since=self.since, progress=self.progress)
                result.requests = client.stats.requests
                result.not_modified = client.stats.not_modified
                result.waited_seconds = client.stats.waited_seconds
                results.append(result)
        return results
