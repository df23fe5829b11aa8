"""`loopmeter export`: the canonical log for process-mining tools and data frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import api
from .cli import DebugOpt, NamesOpt, StoreOpt, _run, app
from .export import EXPORT_FORMATS
from .report.terminal import escape
from .store.db import DEFAULT_STORE

_FORMATS_HELP = f"{', '.join(EXPORT_FORMATS[:-1])} or {EXPORT_FORMATS[-1]}."


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="The file to write (a directory for parquet).")],
    fmt: Annotated[str, typer.Option("--format", help=_FORMATS_HELP)] = "ocel-json",
    store: StoreOpt = DEFAULT_STORE,
    show_names: NamesOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON instead of a line.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Export the canonical log: items as OCEL 2.0 objects / XES traces, their events, links.

    Example: loopmeter export --format ocel-json log.jsonocel
    """

    def go():
        s = api.export(fmt, out, store_path=store, show_names=show_names)
        if as_json:
            import dataclasses
            import json

            print(json.dumps(dataclasses.asdict(s), indent=2, default=str))
            return
        note = f"; {s.links_left_out:,} links to non-items left out" if s.links_left_out else ""
        if s.events_left_out:
            note += f"; {s.events_left_out:,} events without a time or an item left out"
        Console().print(f"{escape(s.path)} ({escape(s.format)}): {s.items:,} items, {s.events:,} events, "
                        f"{s.links:,} links{note}", highlight=False)

    _run(debug, go)

