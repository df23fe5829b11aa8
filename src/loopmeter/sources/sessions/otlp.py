"""OTLP/HTTP payloads (JSON or protobuf) as Claude Code's telemetry sends them, made into rows.

Claude Code exports metrics (`claude_code.session.count`, `.lines_of_code.count`, `.commit.count`,
`.pull_request.count`, `.cost.usage`, `.token.usage`, `.active_time.total`,
`.code_edit_tool.decision`) and log events (`claude_code.user_prompt`, `.tool_result`,
`.api_request`, `.api_error`, `.tool_decision`), each carrying `session.id` and, when known,
`user.email` / `user.account_uuid`. Both encodings are decoded by the official protobuf classes
(opentelemetry-proto), JSON through protobuf's own JSON mapping, so the two agree by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from .. import safe
from .model import is_test_command, parse_time

JSON = "application/json"
PROTOBUF = "application/x-protobuf"


class OtlpError(Exception):
    """A request the receiver refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class LogRow:
    session_id: str
    ts: datetime
    activity: str
    actor: str | None
    attrs: dict = field(default_factory=dict)


@dataclass
class PointRow:
    metric: str
    session_id: str | None
    series: str  # the data point's attributes (session.id aside) as sorted JSON
    start_ns: int
    time_ns: int
    value: float
    cumulative: bool
    actor: str | None


def _value(v) -> object:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def _attrs(kvs) -> dict:
    return {kv.key: _value(kv.value) for kv in kvs}


def _strip_ids(obj: object) -> object:
    # OTLP/JSON writes trace and span ids as hex, protobuf's JSON mapping expects base64; loopmeter
    # uses neither, so they are dropped before decoding rather than mis-decoded.
    if isinstance(obj, dict):
        return {k: _strip_ids(v) for k, v in obj.items() if k not in ("traceId", "spanId", "trace_id", "span_id")}
    if isinstance(obj, list):
        return [_strip_ids(x) for x in obj]
    return obj


def decode(kind: str, body: bytes, content_type: str):
    """The export request of `kind` ("logs" or "metrics") in `body`, or OtlpError(400/415)."""
    message = ExportLogsServiceRequest() if kind == "logs" else ExportMetricsServiceRequest()
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as e:
            raise OtlpError(400, f"the protobuf body is not an OTLP {kind} export request ({e})") from None
        return message
    if ctype == JSON:
        try:
            doc = safe.loads(body)
        except ValueError as e:
            raise OtlpError(400, f"the JSON body is not valid JSON ({e})") from None
        if not isinstance(doc, dict):
            raise OtlpError(400, "the JSON body must be an object")
        try:
            json_format.ParseDict(_strip_ids(doc), message, ignore_unknown_fields=True)
        except json_format.ParseError as e:
            raise OtlpError(400, f"the JSON body is not an OTLP {kind} export request ({e})") from None
        return message
    raise OtlpError(415, f"unsupported content type {content_type!r}: send {JSON} or {PROTOBUF}")


def _who(attrs: dict) -> str | None:
    for key in ("user.email", "user.account_uuid", "user.id"):
        if isinstance(attrs.get(key), str) and attrs[key]:
            return attrs[key]
    return None


def ns_time(ns: int) -> datetime | None:
    """Unix nanoseconds as naive UTC; None for 0 (unset) and for absurd values (before 1900, after 2200)."""
    return safe.from_epoch_ns(ns)


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _num(value: object) -> float | None:
    return safe.to_float(value)


def log_rows(request: ExportLogsServiceRequest, *, keep_text: bool = False) -> tuple[list[LogRow], int]:
    """Session events from the log records; the count of records skipped (no session or time)."""
    rows: list[LogRow] = []
    skipped = 0
    for rl in request.resource_logs:
        resource = _attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                a = {**resource, **_attrs(rec.attributes)}
                name = a.get("event.name") or (_value(rec.body) if rec.HasField("body") else None)
                name = str(name or "").removeprefix("claude_code.")
                sid = a.get("session.id")
                ts = parse_time(a.get("event.timestamp")) or ns_time(rec.time_unix_nano) or ns_time(rec.observed_time_unix_nano)
                if not isinstance(sid, str) or not sid or ts is None or not name:
                    skipped += 1
                    continue
                actor = _who(a)
                if name == "user_prompt":
                    attrs = {"prompt_length": _num(a.get("prompt_length"))}
                    if keep_text and isinstance(a.get("prompt"), str):
                        attrs["prompt"] = a["prompt"]
                    rows.append(LogRow(sid, ts, "user_turn", actor, attrs))
                elif name == "tool_result":
                    ok = _bool(a.get("success"))
                    tool = str(a.get("tool_name") or "unknown")
                    rows.append(LogRow(sid, ts, "tool_call", actor, {"tool": tool, "ok": ok, "duration_ms": _num(a.get("duration_ms"))}))
                    command = None
                    params = a.get("tool_parameters")
                    if isinstance(params, str):
                        try:
                            params = safe.loads(params)
                        except ValueError:
                            params = None
                    if isinstance(params, dict):
                        command = params.get("full_command") or params.get("bash_command") or params.get("command")
                    if isinstance(command, str) and is_test_command(command):
                        rows.append(LogRow(sid, ts, "test_run", actor, {"passed": bool(ok)}))
                elif name == "api_request":
                    attrs = {k: _num(a.get(k)) for k in ("cost_usd", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "duration_ms")}
                    attrs["model"] = a.get("model") if isinstance(a.get("model"), str) else None
                    rows.append(LogRow(sid, ts, "api_request", actor, attrs))
                elif name in ("api_error", "tool_decision"):
                    keep = {"tool": a.get("tool_name"), "decision": a.get("decision"), "status_code": a.get("status_code")}
                    rows.append(LogRow(sid, ts, name, actor, {k: v for k, v in keep.items() if v is not None}))
                else:
                    rows.append(LogRow(sid, ts, name, actor, {}))
    return rows, skipped


def point_rows(request: ExportMetricsServiceRequest) -> list[PointRow]:
    """One row per number data point of a sum or gauge metric."""
    rows: list[PointRow] = []
    for rm in request.resource_metrics:
        resource = _attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind not in ("sum", "gauge"):
                    continue  # histograms and summaries: Claude Code sends none the metrics use
                data = getattr(metric, kind)
                # AGGREGATION_TEMPORALITY_CUMULATIVE = 2; a gauge is a reading, kept as the last value.
                cumulative = kind == "gauge" or data.aggregation_temporality == 2
                for p in data.data_points:
                    # A point without a usable time (0, before 1900, after 2200) or value (NaN, inf)
                    # is dropped alone: stored, it would poison its session's series.
                    value = p.as_double if p.WhichOneof("value") == "as_double" else float(p.as_int)
                    if (safe.from_epoch_ns(p.time_unix_nano) is None or safe.to_float(value) is None
                            or (p.start_time_unix_nano and safe.from_epoch_ns(p.start_time_unix_nano) is None)):
                        continue
                    a = {**resource, **_attrs(p.attributes)}
                    sid = a.pop("session.id", None)
                    series = {k: v for k, v in _attrs(p.attributes).items() if k != "session.id" and not k.startswith("user.")}
                    rows.append(
                        PointRow(
                            metric.name, sid if isinstance(sid, str) else None, json.dumps(series, sort_keys=True, default=str),
                            int(p.start_time_unix_nano), int(p.time_unix_nano), value, cumulative, _who(a),
                        )
                    )
    return rows
