"""`loopmeter legibility PATH`: the agent-legibility scorecard of one repository."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import api
from .cli import DebugOpt, JsonOpt, _run, app, check_output
from .report.terminal import escape
from .store.db import DEFAULT_STORE


@app.command()
def legibility(
    path: Annotated[Path, typer.Argument(help="A git repository (work tree or bare mirror) or a plain directory.")],
    store: Annotated[Optional[Path], typer.Option(
        "--store", help="Store to read ingested tracker and CI data from [default: .loopmeter/loopmeter.duckdb if it exists].")] = None,
    as_json: JsonOpt = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write a standalone HTML page here.")] = None,
    brief: Annotated[bool, typer.Option("--brief", help="Only the table, without each check's evidence.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Score how legible a repository's work loop is to an AI agent: five questions, 0-10 each.

    Observable, Callable, Measurable, Feedback, Owned; each with the evidence found, what is
    missing and the fix; the lowest score is the one that limits the loop (docs/legibility.md).

    Example: loopmeter legibility ~/src/api --json > legibility.json
    """

    def go():
        check_output(html, "--html")
        store_path = store if store is not None else (DEFAULT_STORE if DEFAULT_STORE.is_file() else None)
        card = api.legibility(path, store_path=store_path)
        if html is not None:
            from .legibility.render import render_page

            render_page(card, html)
        if as_json:
            sys.stdout.write(json.dumps(card, indent=2) + "\n")
            return
        from .legibility.render import render_terminal

        console = Console()
        render_terminal(card, console, details=not brief)
        if html is not None:
            console.print(f"HTML page: [bold]{escape(str(html))}[/bold]")

    _run(debug, go)
