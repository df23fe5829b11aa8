"""Reading JSON Lines defensively: a bad line is reported with its number, never fatal."""

from __future__ import annotations

from .. import safe
from collections.abc import Iterator
from pathlib import Path

from ...errors import UnreadablePath
from .model import ParseReport


def read_objects(path: Path, report: ParseReport) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each line holding a JSON object; other lines go to the report."""
    try:
        fh = path.open("rb")
    except OSError as e:
        raise UnreadablePath(f"{path}: cannot read ({e.strerror or e})") from None
    with fh:
        for number, raw in enumerate(fh, start=1):
            report.lines = number
            line = raw.strip()
            if not line:
                continue
            try:
                obj = safe.loads(line)
            except ValueError:
                # The last line of a live session is often half-written; any other bad line is damage.
                report.skip(number, "not valid JSON (truncated or damaged line)")
                continue
            if not isinstance(obj, dict):
                report.skip(number, "not a JSON object")
                continue
            yield number, obj
