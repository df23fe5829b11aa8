"""A real HTTP server on 127.0.0.1 that replays hand-written API responses (tests/fixtures/<api>/).

The fixture tree mirrors URL paths: `fixtures/github/repos/acme/widgets/pulls.json` answers
`GET /repos/acme/widgets/pulls`. A JSON list (or the one list inside a JSON object, like
`workflow_runs`) is served in pages of `page_size` with a `Link: <...>; rel="next"` header (and
GitLab's `X-Next-Page`), each page with an ETag; `If-None-Match` with the current ETag gets a 304,
as GitHub and GitLab do. Jira pages in the body instead: `paging="offset"` answers `startAt` /
`maxResults` with `startAt`, `maxResults`, `total` (and `isLast` for `values` listings), as Jira
Server and Data Center do; `paging="token"` answers with `nextPageToken` / `isLast`, as Jira Cloud's
enhanced search does (a plain JSON list is then served whole, like Jira's /status). Tests script faults per (path, page): rate limits, 5xx, bad bodies, and
stalls (a request that hangs until released, for kill-and-resume tests). `answer()` records the
response to one query of a path (Jira's search answers `key in (...)` differently from `project =
...`); it is served, paged the same way, instead of the path's fixture. Every request is logged
with its headers so tests can count requests and check where the token went.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | Any = b""

    def raw(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Logged:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


class FixtureServer:
    def __init__(self, api: str, *, token: str | None = None, page_size: int = 2, link: bool = True,
                 paging: str = "link", etags: bool = True, authorization: str | None = None):
        self.root = FIXTURES / api
        self.data: dict[str, Any] = {}
        for f in sorted(self.root.rglob("*.json")):
            self.data["/" + f.relative_to(self.root).with_suffix("").as_posix()] = json.loads(f.read_text())
        self.token = token
        self.page_size = page_size
        self.link = link  # False: only GitLab's X-Next-Page says where the next page is
        self.paging = paging  # "link" | "offset" | "token"
        self.etags = etags  # Jira sends none
        # The Authorization header expected instead of "Bearer TOKEN" (Jira Cloud's Basic email:token)
        self.authorization = authorization if authorization is not None else (f"Bearer {token}" if token else None)
        self._tokens: dict[str, int] = {}
        self.faults: dict[tuple[str, int], list[Reply]] = {}
        self.answers: list[tuple[str, dict[str, str], Any]] = []
        self.stalls: set[tuple[str, int]] = set()
        self.stalled = threading.Event()  # set when a request reached a stall
        self.release = threading.Event()
        self.log: list[Logged] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def fault(self, path: str, *replies: Reply, page: int = 1) -> None:
        self.faults.setdefault((path, page), []).extend(replies)

    def answer(self, path: str, body: Any, **match: str) -> None:
        """Answer `path` with `body` (a JSON value, or a Reply served once) when every query parameter
        named in `match` matches its regular expression; the first recorded answer that fits wins."""
        with self._lock:
            self.answers.append((path, match, body))

    def _recorded(self, path: str, query: dict[str, str]) -> Any:
        for i, (p, match, body) in enumerate(self.answers):
            if p == path and all(re.search(rx, query.get(k, "")) for k, rx in match.items()):
                if isinstance(body, Reply):
                    del self.answers[i]
                return body
        return None

    def requests(self, status: int | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if status is None or r.status == status]

    # -- serving -----------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query))
        # Jira Cloud pages its search by token but its other listings (a changelog) by offset.
        mode = "offset" if self.paging != "link" and "startAt" in query else self.paging
        if mode == "offset":
            page = int(query.get("startAt", "0") or 0) // self.page_size + 1
        elif mode == "token":
            page = self._tokens.get(query.get("nextPageToken", ""), 1)
        else:
            page = int(query.get("page", "1") or 1)
        reply = self._reply(h, path, query, page, mode)
        with self._lock:
            self.log.append(Logged(path, query, dict(h.headers.items()), reply.status))
        if reply.status == 0:  # a stall: hang until released, then drop the connection
            self.stalled.set()
            self.release.wait(60)
            return
        raw = reply.raw()
        h.send_response(reply.status)
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)

    def _reply(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, str], page: int, mode: str) -> Reply:
        if self.authorization is not None:
            got = h.headers.get("Authorization", "")
            if got != self.authorization:
                return Reply(401, {"Content-Type": "application/json"},
                             {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
        with self._lock:
            queue = self.faults.get((path, page))
            if queue:
                return queue.pop(0)
            if (path, page) in self.stalls and not self.release.is_set():
                return Reply(0)
            body = self._recorded(path, query)
        if isinstance(body, Reply):
            return body
        if body is None and path not in self.data:
            return Reply(404, {"Content-Type": "application/json"}, {"message": "Not Found"})
        if body is None:
            body = self.data[path]
        headers = {"Content-Type": "application/json; charset=utf-8"}
        listing, key = body, None
        if isinstance(body, dict):
            key = next((k for k, v in body.items() if isinstance(v, list)), None)
            listing = body[key] if key else None
        if isinstance(listing, list) and (mode == "link" or key is not None):
            n = self.page_size
            chunk = listing[(page - 1) * n: page * n]
            out = chunk if key is None else {**body, key: chunk}
            more = page * n < len(listing)
            if mode == "offset":
                out.update(startAt=(page - 1) * n, maxResults=n, total=len(listing))
                if key == "values":
                    out["isLast"] = not more
            elif mode == "token":
                out["isLast"] = not more
                if more:
                    token = hashlib.sha1(f"{path}:{page + 1}".encode()).hexdigest()[:20]
                    with self._lock:
                        self._tokens[token] = page + 1
                    out["nextPageToken"] = token
            elif more:
                q = dict(query, page=str(page + 1))
                if self.link:
                    headers["Link"] = f'<{self.url}{path}?{urlencode(q)}>; rel="next"'
                headers["X-Next-Page"] = str(page + 1)
            body = out
        raw = json.dumps(body).encode()
        if not self.etags:
            return Reply(200, headers, raw)
        etag = '"' + hashlib.sha1(raw).hexdigest() + '"'
        headers["ETag"] = etag
        if h.headers.get("If-None-Match") == etag:
            return Reply(304, {"ETag": etag})
        return Reply(200, headers, raw)
