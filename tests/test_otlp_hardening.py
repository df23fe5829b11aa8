"""The OTLP receiver on a network (issue 13): socket timeouts, a real listen backlog, bounded
concurrency answered 503 + Retry-After, bearer tokens, and points with absurd times dropped alone.
A real receiver on 127.0.0.1 in a thread, real sockets, a real DuckDB store."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from loopmeter.otlp_server import OtlpReceiver
from stores import rows

NS = 10**9
T0 = 1772445600  # 2026-03-02T10:00:00Z


def _metrics(*points: tuple[int, float], session: str = "s-1") -> dict:
    return {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]}, "scopeMetrics": [{"metrics": [{
            "name": "claude_code.cost.usage", "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
                {"startTimeUnixNano": str(T0 * NS) if t else "0", "timeUnixNano": str(t), "asDouble": v,
                 "attributes": [{"key": "session.id", "value": {"stringValue": session}}]} for t, v in points]}}]}]}]}


@pytest.fixture
def receiver(tmp_path, request):
    opts = getattr(request, "param", {})
    srv = OtlpReceiver(("127.0.0.1", 0), tmp_path / "lm.duckdb", **opts)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _post(url: str, doc: dict, **headers) -> httpx.Response:
    return httpx.post(f"{url}/v1/metrics", content=json.dumps(doc), headers={"Content-Type": "application/json", **headers},
                      timeout=30)


def test_a_point_at_time_zero_or_absurd_is_dropped_alone_and_never_poisons_its_session(receiver, tmp_path):
    # The audit: one point with time 0 made every later post for its session be dropped.
    r = _post(receiver.url, _metrics((0, 9.0), ((T0 + 60) * NS, 0.5), (2**63 - 1, 7.0)))
    assert r.status_code == 200
    assert _post(receiver.url, _metrics(((T0 + 120) * NS, 0.75))).status_code == 200
    got = rows(tmp_path / "lm.duckdb", "select value from otel_points where session_id = 's-1' order by value")
    assert got == [(0.5,), (0.75,)]
    assert receiver.counts["points_rejected"] == 2


@pytest.mark.parametrize("receiver", [{"token": "s3cret-token"}], indirect=True)
def test_with_a_token_every_request_needs_the_bearer(receiver):
    doc = _metrics(((T0 + 60) * NS, 0.5))
    assert _post(receiver.url, doc).status_code == 401
    r = _post(receiver.url, doc, Authorization="Bearer wrong")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert httpx.get(f"{receiver.url}/healthz").status_code == 401
    assert _post(receiver.url, doc, Authorization="Bearer s3cret-token").status_code == 200


@pytest.mark.parametrize("receiver", [{"timeout": 1.0}], indirect=True)
def test_a_declared_body_that_never_comes_frees_its_connection(receiver):
    port = receiver.server_address[1]
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    s.settimeout(10)
    t = time.monotonic()
    assert s.recv(100) == b""  # the receiver closed it
    assert time.monotonic() - t < 5
    s.close()
    assert httpx.get(f"{receiver.url}/healthz").status_code == 200


@pytest.mark.parametrize("receiver", [{"max_connections": 2, "timeout": 5.0}], indirect=True)
def test_past_its_capacity_the_receiver_answers_503_with_retry_after(receiver):
    port = receiver.server_address[1]
    held = []
    for _ in range(2):  # two requests that hold their slots, waiting for their bodies
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n")
        held.append(s)
    time.sleep(0.3)
    r = _post(receiver.url, _metrics(((T0 + 60) * NS, 0.5)))
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    for s in held:
        s.close()
    time.sleep(0.3)
    assert _post(receiver.url, _metrics(((T0 + 60) * NS, 0.5))).status_code == 200


def test_the_listen_backlog_takes_a_burst(receiver):
    assert receiver.request_queue_size >= 128
    # 150 connections opened at once, before the receiver accepts any: none is refused.
    socks = [socket.create_connection(("127.0.0.1", receiver.server_address[1]), timeout=5) for _ in range(150)]
    for s in socks:
        s.close()
    assert httpx.get(f"{receiver.url}/healthz").status_code == 200
