"""The pages: the dashboard shell (static files that render from /api/report) and the report page.

`report_page` is the one place the dashboard calls the HTML report renderer, so a renderer that
turns a document into a page (report/html.py) can change without touching the server.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def static(name: str) -> tuple[bytes, str] | None:
    """(body, content type) of a file under web/static, or None when there is no such file."""
    if "/" in name or name.startswith(".") or Path(name).suffix not in _TYPES:
        return None
    f = resources.files(__package__).joinpath("static", name)
    if not f.is_file():
        return None
    return f.read_bytes(), _TYPES[Path(name).suffix]


def report_page(doc: dict, changes: list[dict] | None = None) -> bytes:
    """The self-contained HTML report of `doc` and its change rows: the same page `loopmeter report
    --html` writes (report.html.render_page, a pure function: nothing is written to disk)."""
    from ..report.html import render_page

    return render_page(doc, changes or ()).encode("utf-8")
