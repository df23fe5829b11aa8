"""`loopmeter serve`: the dashboard over HTTP, on the standard library's threading server.

The standard library on purpose, as for the OTLP receiver: a handful of GET routes over documents
that `api.report_from_store` computes need no framework, and every answer after the first is a
cached byte string, so the server's own cost is small beside the report's (bench/dashboard_load.py
measures it). Routes:

- `/`: the dashboard page; `/static/NAME`: its script and style;
- `/report?FILTERS`: the HTML report of the slice;
- `/api/report?FILTERS`: exactly what `loopmeter report --json FILTERS` prints;
- `/api/changes?week=YYYY-MM-DD&FILTERS`: that week's changes (drill-down);
- `/api/loops?FILTERS`: each event log's and MLflow experiment's row and verdict rows, as the HTML
  report shows them (report/loop_view.py), from the same cached document as `/api/report`;
- `/api/filters`: the repositories, teams and agents to choose from;
- `/api/fingerprint`: changes when the store does (the page polls it to refresh itself).

Never a traceback to the client: a bad query is a 400, a store in use a 503 with Retry-After,
anything unexpected a 500 with one line (the traceback goes to the server's log with --debug).
The store is opened read-only for each computation and closed after it, so an ingest can run
between two.
"""

from __future__ import annotations

import gzip
import hmac
import json
import re
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .. import api
from ..config import Config
from ..errors import ConfigError, LoopmeterError, NoData, StoreError
from ..report.document import to_json
from ..report.loop_view import loops_document
from . import page, query
from .cache import DocumentCache, fingerprint

JSON = "application/json"
RETRY_SECONDS = 5
COOKIE = "loopmeter_token"
# The dashboard's own pages run only their own script; the report page carries its charts inline.
_CSP_DASHBOARD = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_CSP_REPORT = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
               "img-src data:; font-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Body:
    """An answer's bytes, and their gzip form made once when cached (not once per request: a large
    store's document is megabytes, and compressing it for each of fifty clients is the cost)."""

    __slots__ = ("raw", "gz")

    def __init__(self, raw: bytes):
        self.raw = raw
        self.gz = gzip.compress(raw, 6) if len(raw) > 1024 else None


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Dashboard(ThreadingHTTPServer):
    """The dashboard server. `token`: the bearer token every request must carry (None on loopback
    without --token-env). `lock`: held while a report reads the store (shared with an OTLP receiver
    in the same process, whose writes need the file to themselves)."""

    daemon_threads = True
    request_queue_size = 128  # fifty clients connecting at once must not be refused

    def __init__(self, address: tuple[str, int], store_path: str | Path, *, config: Config,
                 token: str | None = None, lock: threading.Lock | None = None, debug: bool = False,
                 log: Callable[[str], None] | None = None, report_options: dict | None = None):
        super().__init__(address, _Handler)
        self.store_path = Path(store_path)
        self.config = config
        self.token = token
        self.lock = lock or threading.Lock()
        self.debug = debug
        self.log = log or (lambda message: None)
        self.report_options = report_options or {}
        self.cache = DocumentCache()

    # --- what the routes answer (bytes, cached per query and store fingerprint)

    def fingerprint(self) -> str:
        return fingerprint(self.store_path)

    def _compute(self, fn: Callable[[], object]):
        with self.lock:
            try:
                return fn()
            except StoreError as e:
                if "in use" in str(e) or "lock" in str(e).lower():
                    raise HttpError(503, f"the store is in use by another process (an ingest?); retry in {RETRY_SECONDS} s") from None
                raise

    def report(self, filters: query.Filters) -> tuple[Body, dict, str]:
        """(the JSON `loopmeter report --json` prints, the document, the store fingerprint)."""
        fp = self.fingerprint()
        body, doc, _ = self._view(filters, fp)
        return body, doc, fp

    def _view(self, filters: query.Filters, fp: str) -> tuple[Body, dict, list[dict]]:
        """One computation per view: the JSON, the document and the slice's change rows (read in
        the same opening of the store, for the report page's charts and week lists)."""
        def build():
            rows: list[dict] = []
            doc = self._compute(lambda: api.report_from_store(
                store_path=self.store_path, config=self.config, read_only=True, changes=rows,
                **filters.report_options(), **self.report_options))
            return Body(to_json(doc).encode()), doc, rows

        return self.cache.get(("report", filters), fp, build)

    def report_html(self, filters: query.Filters) -> Body:
        fp = self.fingerprint()

        def build():
            _, doc, rows = self._view(filters, fp)
            return Body(page.report_page(doc, rows))

        return self.cache.get(("page", filters), fp, build)

    def loops_json(self, filters: query.Filters) -> Body:
        fp = self.fingerprint()

        def build():
            _, doc, _ = self._view(filters, fp)
            return Body(to_json(loops_document(doc)).encode())

        return self.cache.get(("loops", filters), fp, build)

    def week_json(self, filters: query.Filters, week) -> Body:
        def build():
            out = self._compute(lambda: api.report_from_store(
                store_path=self.store_path, config=self.config, read_only=True, week=week,
                **filters.report_options(), **self.report_options))
            return Body(to_json(out).encode())

        return self.cache.get(("week", filters, week), self.fingerprint(), build)

    def filters_json(self) -> Body:
        return self.cache.get(("filters",), self.fingerprint(), lambda: Body(to_json(
            self._compute(lambda: api.report_filters(store_path=self.store_path, config=self.config))).encode()))


class _Handler(BaseHTTPRequestHandler):
    server: Dashboard
    protocol_version = "HTTP/1.1"
    server_version = "loopmeter"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass  # request lines may carry a token in the query string; nothing is logged per request

    # --- answers

    def _send(self, status: int, body: bytes | Body, content_type: str, *, csp: str = _CSP_DASHBOARD,
              headers: dict | None = None) -> None:
        cached = body if isinstance(body, Body) else Body(body)
        gz = cached.gz is not None and "gzip" in (self.headers.get("Accept-Encoding") or "")
        body = cached.gz if gz else cached.raw
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", csp)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        headers = {"Retry-After": str(RETRY_SECONDS)} if status == 503 else {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="loopmeter"'
        self._send(status, (json.dumps({"error": message}) + "\n").encode(), JSON, headers=headers)

    # --- checks before any route

    def _host_ok(self) -> bool:
        """On a loopback address, only loopback Host names: a web page elsewhere cannot reach the
        dashboard by pointing its own domain at 127.0.0.1 (DNS rebinding)."""
        host = self.server.server_address[0]
        if host not in ("127.0.0.1", "::1"):
            return True
        name = (self.headers.get("Host") or "").strip()
        name = name[1:].split("]")[0] if name.startswith("[") else name.rsplit(":", 1)[0]
        return name in _LOOPBACK

    def _authorised(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = None
        auth = self.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        else:
            for part in (self.headers.get("Cookie") or "").split(";"):
                k, _, v = part.strip().partition("=")
                if k == COOKIE:
                    given = v
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    def _token_in_query(self, url) -> bool:
        """`/?token=T` (a link someone was given) sets the cookie and reloads without the token."""
        if self.server.token is None or not url.query.startswith("token="):
            return False
        given = url.query[len("token="):].split("&", 1)[0]
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            return False
        rest = url.query.split("&", 1)[1] if "&" in url.query else ""
        self.send_response(303)
        self.send_header("Location", url.path + ("?" + rest if rest else ""))
        self.send_header("Set-Cookie", f"{COOKIE}={given}; HttpOnly; SameSite=Strict; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    # --- routes

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        self._error(405, "the dashboard only answers GET")

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        try:
            url = urlsplit(self.path)
            if not self._host_ok():
                return self._error(403, "this dashboard answers only to a loopback host name")
            if self._token_in_query(url):
                return
            if not self._authorised():
                return self._error(401, "a bearer token is required (Authorization: Bearer TOKEN, or open /?token=TOKEN once)")
            self._route(url)
        except HttpError as e:
            self._error(e.status, str(e))
        except query.BadQuery as e:
            self._error(400, str(e))
        except NoData as e:  # a filter naming what the store does not hold is a bad query
            self._error(400 if urlsplit(self.path).query else 404, str(e))
        except ConfigError as e:
            # The report's checks name the command-line option; here it is the query parameter.
            self._error(400, re.sub(r"^--(team|agent|from|to)\b", r"\1", str(e)))
        except LoopmeterError as e:
            self._error(500, str(e))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # noqa: BLE001 - the client gets one line, never a traceback
            self.server.log(f"{type(e).__name__} on {urlsplit(self.path).path}"
                            + ("\n" + traceback.format_exc() if self.server.debug else "; --debug shows the traceback"))
            self._error(500, "internal error while computing the report (the server's log says more)")

    def _route(self, url) -> None:
        path = url.path
        if path in ("/", "/index.html"):
            body, ctype = page.static("dashboard.html")
            return self._send(200, body, ctype)
        if path.startswith("/static/"):
            found = page.static(path[len("/static/"):])
            if found is None:
                raise HttpError(404, "no such file")
            return self._send(200, *found)
        if path == "/api/fingerprint":
            return self._send(200, json.dumps({"fingerprint": self.server.fingerprint()}).encode(), JSON)
        if path == "/api/filters":
            query.parse(url.query, allow=())
            return self._send(200, self.server.filters_json(), JSON)
        if path == "/api/report":
            filters, _ = query.parse(url.query)
            body, _, fp = self.server.report(filters)
            return self._send(200, body, JSON, headers={"X-Loopmeter-Fingerprint": fp})
        if path == "/api/loops":
            filters, _ = query.parse(url.query)
            return self._send(200, self.server.loops_json(filters), JSON)
        if path == "/api/changes":
            filters, extra = query.parse(url.query, allow=("repo", "team", "agent", "from", "to", "week"))
            return self._send(200, self.server.week_json(filters, extra["week"]), JSON)
        if path == "/report":
            filters, _ = query.parse(url.query)
            return self._send(200, self.server.report_html(filters), "text/html; charset=utf-8", csp=_CSP_REPORT)
        if path == "/healthz":
            return self._send(200, b'{"ok": true}\n', JSON)
        raise HttpError(404, f"no such page {path[:80]!r}")
