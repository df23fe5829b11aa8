"""Codex CLI session rollouts (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`).

Each line is `{timestamp, type, payload}` with `type` "session_meta" (id, cwd, git branch),
"turn_context" (model), "response_item" (messages, `function_call` / `local_shell_call` and their
`function_call_output`), and "event_msg" (`user_message` for what the person typed,
`exec_command_end` with the exit code, `token_count` with running totals). Older rollouts start
with a bare meta object and hold bare response items; both shapes are read.
"""

from __future__ import annotations

from .. import safe
import re
from pathlib import Path

from .jsonl import read_objects
from .model import ParseReport, Session, SessionEvent, active_seconds, parse_time

_EXIT = re.compile(r"(?:Exit code|exited with code)[:\s]+(-?\d+)", re.I)
_RESPONSE_TYPES = {"message", "function_call", "function_call_output", "local_shell_call", "reasoning", "custom_tool_call", "custom_tool_call_output"}


def _command(value: object) -> str | None:
    if isinstance(value, list):
        parts = [str(p) for p in value]
        # ["bash", "-lc", "pytest -q"] runs the last element as a script.
        if len(parts) >= 3 and parts[-2] in ("-c", "-lc"):
            return parts[-1]
        return " ".join(parts)
    return value if isinstance(value, str) else None


def _exit_code(output: object) -> int | None:
    if isinstance(output, str):
        try:
            output = safe.loads(output)
        except ValueError:
            m = _EXIT.search(output)
            return int(m.group(1)) if m else None
    if isinstance(output, dict):
        meta = output.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("exit_code"), int):
            return meta["exit_code"]
        if isinstance(output.get("exit_code"), int):
            return output["exit_code"]
    return None


def _output_text(output: object) -> str:
    if isinstance(output, str):
        try:
            parsed = safe.loads(output)
        except ValueError:
            return output
        return _output_text(parsed)
    if isinstance(output, dict) and isinstance(output.get("output"), str):
        return output["output"]
    return ""


def read_codex(path: str | Path, *, keep_text: bool = False) -> tuple[list[Session], ParseReport]:
    path = Path(path)
    report = ParseReport(str(path))
    s = Session("codex", path.stem, "codex")
    times = []
    calls: dict[str, tuple[str, str | None]] = {}
    results: dict[str, tuple[object, object]] = {}  # call id -> (ts, output)
    exits: dict[str, int] = {}
    typed_turns: list = []
    injected_turns: list = []
    totals = None
    for number, line in read_objects(path, report):
        kind, payload = line.get("type"), line.get("payload")
        if not isinstance(kind, str):
            kind = None
        if not isinstance(payload, dict):
            if kind in _RESPONSE_TYPES:  # the older, unwrapped shape
                kind, payload = "response_item", line
            elif "id" in line and "timestamp" in line and kind is None:
                kind, payload = "session_meta", line
            else:
                continue
        ts = parse_time(line.get("timestamp")) or parse_time(payload.get("timestamp"))
        if ts is not None:
            s.see(ts)
            times.append(ts)
        if kind == "session_meta":
            if isinstance(payload.get("id"), str) and payload["id"]:
                s.session_id = payload["id"]
            if isinstance(payload.get("cwd"), str):
                s.cwd = payload["cwd"]
            git = payload.get("git") if isinstance(payload.get("git"), dict) else {}
            if isinstance(git.get("branch"), str) and git["branch"] and git["branch"] != "HEAD":
                s.branches.add(git["branch"])
        elif kind == "turn_context":
            if isinstance(payload.get("model"), str):
                s.model = payload["model"]
            if isinstance(payload.get("cwd"), str) and not s.cwd:
                s.cwd = payload["cwd"]
        elif kind == "event_msg":
            t = payload.get("type")
            if t == "user_message":
                typed_turns.append(ts)
                if keep_text and isinstance(payload.get("message"), str):
                    s.kept_text.append(payload["message"])
            elif t == "exec_command_end" and isinstance(payload.get("call_id"), str) and isinstance(payload.get("exit_code"), int):
                exits[payload["call_id"]] = payload["exit_code"]
            elif t == "token_count" and isinstance(payload.get("info"), dict):
                usage = payload["info"].get("total_token_usage")
                if isinstance(usage, dict):
                    totals = usage  # running totals: the last one is the session's
        elif kind == "response_item":
            t = payload.get("type")
            if t == "message" and payload.get("role") == "user":
                text = "".join(c.get("text", "") for c in payload.get("content") or [] if isinstance(c, dict))
                # The client injects its own context as user messages wrapped in tags.
                if text.strip() and not text.lstrip().startswith("<"):
                    injected_turns.append(ts)
            elif t in ("function_call", "custom_tool_call") and isinstance(payload.get("call_id"), str):
                args = payload.get("arguments") if t == "function_call" else payload.get("input")
                if isinstance(args, str):
                    try:
                        args = safe.loads(args)
                    except ValueError:
                        args = {"command": args}
                cmd = _command(args.get("command") or args.get("cmd")) if isinstance(args, dict) else None
                calls[payload["call_id"]] = (str(payload.get("name") or "unknown"), cmd)
            elif t == "local_shell_call" and isinstance(payload.get("call_id"), str):
                action = payload.get("action") if isinstance(payload.get("action"), dict) else {}
                calls[payload["call_id"]] = ("local_shell", _command(action.get("command")))
            elif t in ("function_call_output", "custom_tool_call_output") and isinstance(payload.get("call_id"), str):
                results[payload["call_id"]] = (ts, payload.get("output"))
    # What the person typed: `user_message` events where the rollout has them, else the user
    # messages that are not client-injected context.
    turns = typed_turns if typed_turns else injected_turns
    for ts in turns:
        s.user_turns += 1
        if ts is not None:
            s.events.append(SessionEvent(ts, "user_turn"))
    for call_id, (tool, cmd) in calls.items():
        ts, output = results.get(call_id, (None, None))
        code = exits.get(call_id, _exit_code(output))
        ok = (code == 0) if code is not None else None  # no exit code seen: unknown, not success
        s.record_tool(ts, tool, ok, cmd, _output_text(output), keep_text)
    if totals:
        s.add_tokens(safe.to_int(totals.get("input_tokens"), minimum=0, maximum=2**40) or 0,
                     safe.to_int(totals.get("output_tokens"), minimum=0, maximum=2**40) or 0)
    s.active_seconds = active_seconds(times)
    if s.started_at is None:
        return [], report
    return [s], report
