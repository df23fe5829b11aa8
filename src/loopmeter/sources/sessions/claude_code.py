"""Claude Code session transcripts (`~/.claude/projects/<project>/<session>.jsonl`).

Each line is one entry: `type` "user" / "assistant" / "summary" / "system", with `sessionId`,
`timestamp`, `cwd`, `gitBranch`, `isSidechain`, and a `message` in the Messages API shape. Tool
calls are `tool_use` blocks in assistant messages; their results come back as `tool_result` blocks
(`is_error` marks a failure) in the next user entry. One API response may be written as several
entries sharing `message.id` and repeating its `usage`, so usage is counted once per message id.
"""

from __future__ import annotations

from pathlib import Path

from .jsonl import read_objects
from .. import safe
from .model import ParseReport, Session, SessionEvent, active_seconds, parse_time


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def read_claude_code(path: str | Path, *, keep_text: bool = False) -> tuple[list[Session], ParseReport]:
    path = Path(path)
    report = ParseReport(str(path))
    sessions: dict[str, Session] = {}
    times: dict[str, list] = {}
    pending: dict[str, tuple[str, str | None, str]] = {}  # tool_use id -> (tool, command, session)
    usage: dict[tuple[str, str], tuple[int, int]] = {}  # (session, message id) -> tokens
    for number, entry in read_objects(path, report):
        kind = entry.get("type")
        sid = entry.get("sessionId")
        if kind not in ("user", "assistant") or not isinstance(sid, str) or not sid:
            continue  # summaries, system notes, file snapshots: nothing the metrics use
        ts = parse_time(entry.get("timestamp"))
        if ts is None:
            report.skip(number, "entry without a readable timestamp")
            continue
        s = sessions.get(sid)
        if s is None:
            s = sessions[sid] = Session("claude-code", sid, "claude-code")
            times[sid] = []
        s.see(ts)
        times[sid].append(ts)
        if isinstance(entry.get("cwd"), str) and not s.cwd:
            s.cwd = entry["cwd"]
        branch = entry.get("gitBranch")
        if isinstance(branch, str) and branch and branch != "HEAD":
            s.branches.add(branch)
        message = entry.get("message") if isinstance(entry.get("message"), dict) else {}
        content = message.get("content")
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        if kind == "assistant":
            if isinstance(message.get("model"), str) and not message["model"].startswith("<"):
                s.model = message["model"]
            u = message.get("usage")
            if isinstance(u, dict):
                mid = message.get("id") if isinstance(message.get("id"), str) else f"line{number}"
                tin = sum(safe.to_int(u.get(k), minimum=0, maximum=2**40) or 0
                          for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
                usage[(sid, mid)] = (tin, safe.to_int(u.get("output_tokens"), minimum=0, maximum=2**40) or 0)
            for b in blocks:
                if b.get("type") == "tool_use" and isinstance(b.get("id"), str):
                    inp = b.get("input") if isinstance(b.get("input"), dict) else {}
                    cmd = inp.get("command") if isinstance(inp.get("command"), str) else None
                    pending[b["id"]] = (str(b.get("name") or "unknown"), cmd, sid)
            continue
        results = [b for b in blocks if b.get("type") == "tool_result"]
        for b in results:
            tool, cmd, owner = pending.pop(str(b.get("tool_use_id")), ("unknown", None, sid))
            target = sessions.get(owner, s)
            target.record_tool(ts, tool, not bool(b.get("is_error")), cmd, _text(b.get("content")), keep_text)
        # A person's turn: a user entry in the main thread that is not only tool results and not
        # injected by the client itself (isMeta: slash-command scaffolding, reminders).
        if not results and not entry.get("isSidechain") and not entry.get("isMeta"):
            text = _text(content)
            if text.strip():
                s.user_turns += 1
                s.events.append(SessionEvent(ts, "user_turn"))
                if keep_text:
                    s.kept_text.append(text)
    for tool, cmd, owner in pending.values():  # calls still waiting for a result when the file ended
        sessions[owner].record_tool(None, tool, None, cmd, None, keep_text)
    for (sid, _), (tin, tout) in usage.items():
        sessions[sid].add_tokens(tin, tout)
    for sid, s in sessions.items():
        s.active_seconds = active_seconds(times[sid])
    return list(sessions.values()), report
