"""Agent sessions as work items: readers for the logs AI coding agents leave behind.

Each reader turns one file (or one OTLP request) into `Session` records and `UsageDay` rows;
none touches the store. Transcripts hold prompts and code, so by default a reader keeps only what
the metrics need: counts, times, tool names, test verdicts, commit hashes and branch names. With
`keep_text=True` it also keeps the prompt text and the commands run, for teams that opt in.

Parsing is defensive: unknown fields are ignored; a line that is not JSON is counted with its
line number and skipped (a truncated last line is the common case: the agent was still writing);
nothing else in the file is lost.
"""

from __future__ import annotations

from .model import ParseReport, Session, SessionEvent, UsageDay

__all__ = ["ParseReport", "Session", "SessionEvent", "UsageDay"]
