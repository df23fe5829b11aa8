"""`loopmeter serve --otlp`: an OTLP/HTTP receiver that stores agent telemetry as it arrives.

Standard library HTTP server on purpose: two POST routes and a health check do not need a web
framework, and the receiver must run wherever loopmeter is installed. Requests are handled on
threads; store writes are serialised by one lock because a DuckDB file has one writer. The store
is opened for each request and closed after it: a DuckDB file open in one process cannot be opened
by another, and a receiver that runs for days must not keep `loopmeter report` or `ingest` out.

Fit for a network (issue 13): each connection has a socket timeout (a client that declares a body
and never sends it loses its thread after `timeout` seconds, not forever); the listen backlog is
128; at most `max_connections` requests are handled at once, and the next ones are answered
503 with Retry-After at once rather than queued without bound; with `token`, every request must
carry `Authorization: Bearer <token>` (compared in constant time) or gets 401; any unexpected
failure answers 500 in one logged line, never a traceback on the console.
"""

from __future__ import annotations

import gzip
import hmac
import json
import socket
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .sources.sessions.otlp import JSON, PROTOBUF, OtlpError, decode, log_rows, point_rows
from .errors import StoreError
from .store.db import Store
from .attribution import Matcher
from .store.session_load import link_sessions, write_otel

DEFAULT_MAX_BODY = 8 * 1024 * 1024
#: Seconds a connection may sit idle mid-request (or between keep-alive requests).
DEFAULT_TIMEOUT = 15.0
#: Requests handled at once; more are answered 503 + Retry-After (each holds a thread and a body).
DEFAULT_MAX_CONNECTIONS = 64
#: Seconds a client is asked to wait when the receiver is at capacity.
FULL_RETRY_SECONDS = 1
#: Seconds an exporter is asked to wait when another process holds the store (a report running).
BUSY_RETRY_SECONDS = 5
_ROUTES = {"/v1/logs": "logs", "/v1/metrics": "metrics"}


class OtlpReceiver(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: the stdlib's 5 reset most of a burst of exporters

    def __init__(self, address: tuple[str, int], store_path: str | Path, *, max_body: int = DEFAULT_MAX_BODY,
                 keep_text: bool = False, log=None, matcher: Matcher | None = None, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_connections: int = DEFAULT_MAX_CONNECTIONS):
        self.token = token or None  # the bearer token of `serve --token-env` (None: loopback, no token asked)
        self.timeout_seconds = timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _Handler)
        self.matcher = matcher  # loopmeter.toml's signatures, for the kind of each new actor
        self.store_path = Path(store_path)
        self.max_body = max_body
        self.keep_text = keep_text
        self.lock = threading.Lock()
        self.log = log or (lambda message: None)
        self.counts = {"requests": 0, "rejected": 0, "log_records": 0, "points": 0, "points_rejected": 0,
                       "busy": 0}

    # -- capacity ------------------------------------------------------------------------------

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.counts["busy"] += 1
            threading.Thread(target=_refuse_busy, args=(request,), daemon=True).start()
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        # A client that vanished or timed out is not the operator's problem: one line, no traceback.
        import sys

        e = sys.exc_info()[1]
        self.log(f"connection from {client_address[0]} ended: {type(e).__name__}: {str(e)[:120]}")

    def open_store(self) -> Store:
        """The store for one request; 503 (retry later) while another process holds it."""
        try:
            return Store.open(self.store_path)
        except StoreError as e:
            if "lock" in str(e).lower():
                raise OtlpError(503, f"the store is in use by another process (a report or an ingest); "
                                     f"retry in {BUSY_RETRY_SECONDS} s") from None
            raise


def _refuse_busy(request: socket.socket) -> None:
    """Answer 503 + Retry-After on a connection the receiver has no slot for, then close it
    (after reading what the client sent, so the close is not a reset that loses the answer)."""
    body = json.dumps({"code": 14, "message": "the receiver is at capacity; retry"}).encode()
    try:
        request.settimeout(2.0)
        request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (FULL_RETRY_SECONDS, len(body), body))
        request.shutdown(socket.SHUT_WR)
        for _ in range(256):  # at most 16 MB, then give up
            if not request.recv(65536):
                break
    except OSError:
        pass
    finally:
        request.close()


class _Handler(BaseHTTPRequestHandler):
    server: OtlpReceiver
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.timeout_seconds  # StreamRequestHandler applies it to the socket
        super().setup()

    def _authorized(self, reply_type: str) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return True
        self.server.counts["rejected"] += 1
        self.server.log("401: a request without the right bearer token")
        body = json.dumps({"code": 16, "message": "a bearer token is required (Authorization: Bearer ...)"}).encode()
        self.close_connection = True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="loopmeter"')
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return False

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass  # the receiver reports through its own log callback, never request lines with headers

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, content_type: str) -> None:
        self.server.counts["rejected"] += 1
        self.server.log(f"{status}: {message}")
        # OTLP answers errors with a google.rpc.Status; its JSON form is enough for both encodings'
        # clients to log, and carries the message a person needs.
        body = json.dumps({"code": 3 if status == 400 else 14 if status == 503 else 0, "message": message}).encode()
        self.send_response(status)
        if status == 503:  # OTLP/HTTP: retryable, after the server's Retry-After
            self.send_header("Retry-After", str(BUSY_RETRY_SECONDS))
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if not self._authorized(JSON):
            return
        if self.path == "/healthz":
            self._answer(200, json.dumps(self.server.counts).encode(), JSON)
        else:
            self._error(404, f"no such path {self.path!r}; OTLP/HTTP posts go to /v1/logs and /v1/metrics", JSON)

    def do_POST(self) -> None:  # noqa: N802
        kind = _ROUTES.get(self.path.split("?")[0])
        ctype = self.headers.get("Content-Type", "")
        reply_type = PROTOBUF if ctype.split(";")[0].strip().lower() == PROTOBUF else JSON
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not self._authorized(reply_type):
            return
        if kind is None:
            self._drain(length)
            return self._error(404, f"no such path {self.path!r}; OTLP/HTTP posts go to /v1/logs and /v1/metrics", reply_type)
        if length < 0:
            self.close_connection = True
            return self._error(411, "a Content-Length header is required", reply_type)
        if length > self.server.max_body:
            # Refuse before reading: an oversized body is never buffered.
            self.close_connection = True
            return self._error(413, f"body of {length} bytes exceeds the limit of {self.server.max_body}", reply_type)
        try:
            body = self.rfile.read(length)
        except (TimeoutError, OSError) as e:
            # A declared body that never arrives: the socket timeout frees the thread.
            self.close_connection = True
            self.server.counts["rejected"] += 1
            self.server.log(f"408: the body did not arrive within {self.server.timeout_seconds:.0f} s ({type(e).__name__})")
            return
        if len(body) < length:
            self.close_connection = True
            return self._error(400, f"the body ended after {len(body)} of {length} bytes", reply_type)
        try:
            body = self._decompress(body)
            request = decode(kind, body, ctype)
            with self.server.lock, self.server.open_store() as store:
                if kind == "logs":
                    rows, skipped = log_rows(request, keep_text=self.server.keep_text)
                    write_otel(store, rows, [], matcher=self.server.matcher)
                    self.server.counts["log_records"] += len(rows)
                    if skipped:
                        self.server.log(f"{skipped} log records without a session id or time were skipped")
                else:
                    points = point_rows(request)
                    write_otel(store, [], points, matcher=self.server.matcher)
                    self.server.counts["points"] += len(points)
                    total = _count_points(request)
                    if total > len(points):
                        self.server.counts["points_rejected"] += total - len(points)
                        self.server.log(f"{total - len(points)} metric points without a usable time or value were dropped")
                self.server.counts["requests"] += 1
        except OtlpError as e:
            return self._error(e.status, str(e), reply_type)
        except Exception as e:  # noqa: BLE001 - a receiver that runs for days answers, logs one line, goes on
            self.close_connection = True
            first = (str(e).strip().splitlines() or [""])[0][:160]
            return self._error(500, f"the request could not be stored ({type(e).__name__}: {first})", reply_type)
        # An empty Export*ServiceResponse: `{}` in JSON, zero bytes in protobuf.
        self._answer(200, b"{}" if reply_type == JSON else b"", reply_type)

    def _decompress(self, body: bytes) -> bytes:
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "identity":
            return body
        if encoding != "gzip":
            raise OtlpError(415, f"unsupported content encoding {encoding!r}: send gzip or none")
        try:
            # Bounded: a small gzip body must not inflate past the limit (a decompression bomb).
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = d.decompress(body, self.server.max_body + 1)
        except (zlib.error, gzip.BadGzipFile) as e:
            raise OtlpError(400, f"the gzip body cannot be decompressed ({e})") from None
        if len(out) > self.server.max_body or d.unconsumed_tail:
            raise OtlpError(413, f"the decompressed body exceeds the limit of {self.server.max_body} bytes")
        return out

    def _drain(self, length: int) -> None:
        if 0 < length <= self.server.max_body:
            self.rfile.read(length)
        else:
            self.close_connection = True


def _count_points(request) -> int:
    n = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind in ("sum", "gauge"):
                    n += len(getattr(metric, kind).data_points)
    return n


def relink(receiver: OtlpReceiver) -> int:
    with receiver.lock, receiver.open_store() as store:
        return link_sessions(store)
