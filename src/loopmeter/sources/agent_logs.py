"""Agent logs as a `Source` (sources/base.py): finds session files, tells their format, and stores what they hold."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from ..attribution import Matcher
from ..errors import ConfigError, UnreadablePath
from ..ingestion import Progress
from ..store.db import Store
from ..store.session_load import file_unchanged, link_sessions, write_session_file
from . import safe
from .sessions.claude_code import read_claude_code
from .sessions.codex import read_codex
from .sessions.usage_reports import read_claude_code_usage, read_copilot_metrics

if TYPE_CHECKING:
    from ..runner import Run

FORMATS = ("claude-code", "codex", "copilot-metrics", "claude-code-admin")
_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass
class SessionIngestResult:
    files: int = 0
    unchanged: int = 0
    sessions: int = 0
    usage_days: int = 0
    links: int = 0
    skipped_lines: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, reason)


def _files(paths: list[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        p = p.expanduser()
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in _SUFFIXES))
        elif p.is_file():
            out.append(p)
        else:
            raise UnreadablePath(f"{p}: no such file or directory")
    return out


def sniff(path: Path) -> str | None:
    """Which agent wrote this file, from its first readable records; None when it cannot tell."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as e:
        raise UnreadablePath(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        whole = json.loads(head)
    except (json.JSONDecodeError, UnicodeDecodeError):
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("data"), list):
        first = next((r for r in whole["data"] if isinstance(r, dict)), {})
        if "core_metrics" in first or "model_breakdown" in first:
            return "claude-code-admin"
    for raw in head.splitlines()[:50]:
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(obj, dict):
            continue
        if obj.get("type") in ("session_meta", "response_item", "event_msg", "turn_context"):
            return "codex"
        if "sessionId" in obj and obj.get("type") in ("user", "assistant", "system", "summary"):
            return "claude-code"
        if "day" in obj and ("user_login" in obj or "loc_added_sum" in obj or "enterprise_id" in obj):
            return "copilot-metrics"
        if "core_metrics" in obj or (isinstance(obj.get("data"), list) and obj["data"] and "core_metrics" in obj["data"][0]):
            return "claude-code-admin"
    return None


def ingest_sessions(store: Store, paths: list[str | Path], *, fmt: str | None = None, keep_text: bool = False,
                    progress: Progress | None = None, matcher: Matcher | None = None) -> SessionIngestResult:
    """Read agent session logs and usage reports into the store, then relink sessions to changes.

    Files unchanged since they were last read (same size and modification time) are skipped, so a
    daily run over the same folders reads only what is new."""
    _check_format(fmt)
    progress = progress or Progress()
    files = _files(paths)
    return _store_files(store, files, fmt=fmt, keep_text=keep_text, progress=progress, matcher=matcher)


def _check_format(fmt: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"--sessions-format: {fmt!r} is not one of {', '.join(FORMATS)}")


def _store_files(store: Store, files: list[Path], *, fmt: str | None, keep_text: bool, progress: Progress,
                 matcher: Matcher | None) -> SessionIngestResult:
    result = SessionIngestResult()
    progress.start("agent sessions", len(files), unit="files")
    for f in files:
        st = f.stat()
        key = str(f.resolve())
        if file_unchanged(store, key, st.st_size, st.st_mtime_ns):
            result.unchanged += 1
            progress.advance(1)
            continue
        kind = fmt or sniff(f)
        if kind is None:
            raise ConfigError(
                f"{f}: cannot tell which agent wrote this file (not a Claude Code transcript, Codex rollout, "
                "Copilot usage metrics or Claude Code usage report); name it with --sessions-format"
            )
        sessions, usage = [], []
        with safe.reading(f):
            if kind == "claude-code":
                sessions, report = read_claude_code(f, keep_text=keep_text)
            elif kind == "codex":
                sessions, report = read_codex(f, keep_text=keep_text)
            elif kind == "copilot-metrics":
                usage, report = read_copilot_metrics(f)
            else:
                usage, report = read_claude_code_usage(f)
            write_session_file(store, key, kind, st.st_size, st.st_mtime_ns, sessions, report, usage, matcher=matcher)
        result.files += 1
        result.sessions += len(sessions)
        result.usage_days += len(usage)
        for line, reason in report.skipped:
            result.skipped_lines.append((str(f), line, reason))
            progress.note(f"{f}:{line}: skipped: {reason}")
        progress.advance(1)
    result.links = link_sessions(store)
    return result


class SessionFiles:
    """A `Source`: the agent logs and usage reports in `paths` (files or folders). The files are
    listed, and the format checked, before the store is opened; each file is stored in its own
    transaction with its size and modification time (its resume state: an unchanged file is not
    read again); then sessions are linked to changes."""

    label = "agent logs"
    restore_point = True
    relinks_sessions = False  # `load` links every session itself

    def __init__(self, paths: list[str | Path], *, fmt: str | None = None, keep_text: bool = False,
                 progress: Progress | None = None):
        self.paths, self.fmt, self.keep_text = paths, fmt, keep_text
        self.progress = progress or Progress()
        self.files: list[Path] = []

    def prepare(self) -> bool:
        _check_format(self.fmt)
        self.files = _files(self.paths)
        return True

    def idle(self) -> SessionIngestResult:
        return SessionIngestResult()

    def load(self, run: Run) -> SessionIngestResult:
        return _store_files(run.store, self.files, fmt=self.fmt, keep_text=self.keep_text, progress=self.progress,
                            matcher=run.matcher)
