"""`loopmeter serve --otlp` as a real process on 127.0.0.1, fed hand-written OTLP payloads."""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import sys

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum

from loopmeter.store.db import Store

NS = 1_000_000_000
T0 = 1772445600  # 2026-03-02T10:00:00Z


def _kv(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def _event(name: str, minute: int, **attrs) -> dict:
    base = {"event.name": name, "session.id": "s-1", "user.email": "dev@example.com",
            "event.timestamp": f"2026-03-02T10:{minute:02d}:00.000Z"}
    return {
        "timeUnixNano": str((T0 + minute * 60) * NS), "body": {"stringValue": f"claude_code.{name}"},
        "attributes": [_kv(k, v) for k, v in {**base, **attrs}.items()],
        "traceId": "5b8efff798038103d269b633813fc60c", "someFutureField": {"x": 1},
    }


LOGS = {
    "resourceLogs": [{
        "resource": {"attributes": [_kv("service.name", "claude-code")]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": [
            _event("user_prompt", 0, prompt_length=42, prompt="SECRET PROMPT TEXT"),
            _event("tool_result", 1, tool_name="Bash", success="false", duration_ms=900,
                   tool_parameters=json.dumps({"bash_command": "pytest", "full_command": "pytest -q"})),
            _event("api_request", 2, model="claude-sonnet-4-5", cost_usd=0.5, input_tokens=100, output_tokens=20),
            _event("tool_result", 5, tool_name="Bash", success="true", duration_ms=700,
                   tool_parameters=json.dumps({"bash_command": "pytest", "full_command": "pytest -q"})),
            _event("api_request", 6, model="claude-sonnet-4-5", cost_usd=0.25, input_tokens=50, output_tokens=10),
            _event("user_prompt", 10, prompt_length=7),
            {"timeUnixNano": str(T0 * NS), "attributes": [_kv("event.name", "user_prompt")]},  # no session: skipped
        ]}],
    }]
}


def _metrics() -> bytes:
    def point(value: float, minute: int, start_minute: int = 0, **attrs) -> NumberDataPoint:
        p = NumberDataPoint(start_time_unix_nano=(T0 + start_minute * 60) * NS, time_unix_nano=(T0 + minute * 60) * NS,
                            as_double=value)
        for k, v in {"session.id": "s-1", **attrs}.items():
            p.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
        return p

    delta, cumulative = 1, 2
    metrics = [
        Metric(name="claude_code.cost.usage", unit="USD",
               sum=Sum(aggregation_temporality=delta, is_monotonic=True,
                       data_points=[point(0.3, 3, 2, model="m"), point(0.2, 7, 6, model="m")])),
        Metric(name="claude_code.active_time.total", unit="s",
               sum=Sum(aggregation_temporality=cumulative, is_monotonic=True,
                       data_points=[point(60.0, 3), point(120.0, 7)])),
        Metric(name="claude_code.token.usage", unit="tokens",
               sum=Sum(aggregation_temporality=delta, is_monotonic=True,
                       data_points=[point(150.0, 7, 6, type="input"), point(30.0, 7, 6, type="output"),
                                    point(1000.0, 7, 6, type="cacheRead")])),
    ]
    req = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=metrics)])])
    return req.SerializeToString()


@pytest.fixture
def server(tmp_path):
    store = tmp_path / "otel.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopmeter", "serve", "--otlp", "--port", "0", "--max-body", "20000", "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
    url = f"http://127.0.0.1:{m.group(1)}"
    yield url, store, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def _stop(proc) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def test_claude_code_telemetry_becomes_a_session(server):
    url, store, proc = server
    with httpx.Client(base_url=url, timeout=10) as c:
        r = c.post("/v1/logs", json=LOGS)
        assert r.status_code == 200 and r.json() == {}
        r = c.post("/v1/metrics", content=_metrics(), headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200 and r.content == b""
        # An exporter retry re-sends the same batch: nothing is counted twice.
        assert c.post("/v1/logs", json=LOGS).status_code == 200
        assert c.post("/v1/metrics", content=gzip.compress(_metrics()),
                      headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}).status_code == 200
    _stop(proc)
    with Store.open(store) as st:
        row = st.con.execute("select started_at, done_at, author_id, attrs from items where item_id = 'otel:s-1'").fetchone()
        n_events = st.con.execute("select count(*) from events where item_id = 'otel:s-1'").fetchone()[0]
    a = json.loads(row[3])
    assert (a["user_turns"], a["interventions"]) == (2, 1)
    assert (a["tool_calls"], a["failed_tool_calls"], a["test_runs"], a["passed_test_runs"]) == (2, 1, 2, 1)
    assert a["time_to_green_seconds"] == 300  # 10:00 prompt -> 10:05 passing pytest
    assert a["cost_usd"] == pytest.approx(0.5)  # the cost metric (0.3 + 0.2), not the events' 0.75
    assert a["active_seconds"] == pytest.approx(120.0)  # last value of the cumulative series
    assert (a["tokens_in"], a["tokens_out"]) == (1150, 30)  # input + cacheRead; output
    assert a["model"] == "claude-sonnet-4-5"
    assert row[2] and row[2].startswith("a")  # pseudonymous
    assert n_events == 2 + 2 + 2 + 2  # user turns, tool calls, test runs, api requests; once each
    raw = store.read_bytes()
    assert b"SECRET PROMPT TEXT" not in raw


def test_bad_requests_get_their_status_and_the_server_keeps_serving(server):
    url, store, proc = server
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.post("/v1/logs", json=LOGS).status_code == 200
        r = c.post("/v1/logs", content=b"hello", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and "content type" in r.json()["message"]
        r = c.post("/v1/logs", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
        r = c.post("/v1/metrics", content=b"\x0a\xff\xff\xff\x0f", headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 400
        r = c.post("/v1/logs", json={"resourceLogs": "not a list"})
        assert r.status_code == 400
        r = c.post("/v1/logs", content=b"x" * 30000, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
    # The connection was closed after the oversized body; a new one is served as before.
    with httpx.Client(base_url=url, timeout=10) as c:
        bomb = gzip.compress(b"{" + b" " * 100000 + b"}")
        r = c.post("/v1/logs", content=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert r.status_code == 413
        r = c.post("/v1/logs", content=b"{}", headers={"Content-Type": "application/json", "Content-Encoding": "br"})
        assert r.status_code == 415
        assert c.get("/healthz").status_code == 200
        assert c.post("/v1/traces", json={}).status_code == 404
        assert c.post("/v1/metrics", content=_metrics(), headers={"Content-Type": "application/x-protobuf"}).status_code == 200
    err = _stop(proc)
    assert "415" in err and "413" in err
    with Store.open(store) as st:
        # Everything accepted before and after the bad requests is stored.
        assert st.con.execute("select count(*) from events where item_id = 'otel:s-1'").fetchone()[0] == 8
        assert st.con.execute("select count(*) from otel_points").fetchone()[0] == 7


def test_reports_run_while_the_receiver_serves_and_a_busy_store_gets_a_retryable_503(server):
    # The receiver runs for days; a person must be able to report (or ingest) meanwhile. While
    # another process holds the store, a post is answered 503 with Retry-After (OTLP exporters retry
    # it), and the receiver keeps serving.
    url, store, proc = server
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.post("/v1/logs", json=LOGS).status_code == 200
        r = subprocess.run([sys.executable, "-m", "loopmeter", "report", "--store", str(store), "--json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["agent_loops"]["sessions"] == 1
        with Store.open(store):
            busy = c.post("/v1/metrics", content=_metrics(), headers={"Content-Type": "application/x-protobuf"})
        assert busy.status_code == 503 and int(busy.headers["Retry-After"]) > 0
        assert c.post("/v1/metrics", content=_metrics(), headers={"Content-Type": "application/x-protobuf"}).status_code == 200
    _stop(proc)
    with Store.open(store) as st:
        assert json.loads(st.con.execute("select attrs from items where item_id = 'otel:s-1'").fetchone()[0])["cost_usd"] == pytest.approx(0.5)


def test_serve_refuses_a_busy_port(tmp_path, server):
    url, _, _ = server
    port = url.rsplit(":", 1)[1]
    r = subprocess.run([sys.executable, "-m", "loopmeter", "serve", "--otlp", "--port", port, "--store", str(tmp_path / "b.duckdb")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot listen" in r.stderr


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_refuses_a_port_out_of_range_in_one_line(tmp_path, port):
    r = subprocess.run([sys.executable, "-m", "loopmeter", "serve", "--otlp", "--port", port, "--store", str(tmp_path / "b.duckdb")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: --port: must be 0-65535, not {port}"
    assert not (tmp_path / "b.duckdb").exists()


def test_serve_without_otlp_is_the_dashboard_which_needs_a_store(tmp_path):
    r = subprocess.run([sys.executable, "-m", "loopmeter", "serve", "--store", str(tmp_path / "b.duckdb")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == f"error: {tmp_path / 'b.duckdb'}: no store here; run `loopmeter ingest` or `loopmeter analyze` first"
    assert not (tmp_path / "b.duckdb").exists()


def test_cumulative_token_series_of_two_models_add_their_last_values(tmp_path):
    from loopmeter.sources.sessions.otlp import PointRow
    from loopmeter.store.session_load import write_otel

    def pt(model: str, minute: int, value: float) -> PointRow:
        return PointRow("claude_code.token.usage", "s-2", json.dumps({"model": model, "type": "input"}, sort_keys=True),
                        T0 * NS, (T0 + minute * 60) * NS, value, True, None)

    with Store.open(tmp_path / "s.duckdb") as st:
        # Model a reaches 100 then 250 input tokens; model b reaches 40. A re-sent point counts once.
        write_otel(st, [], [pt("a", 1, 100.0), pt("a", 2, 250.0), pt("b", 2, 40.0)])
        write_otel(st, [], [pt("a", 2, 250.0)])
        attrs = json.loads(st.con.execute("select attrs from items where item_id = 'otel:s-2'").fetchone()[0])
    assert attrs["tokens_in"] == 290
