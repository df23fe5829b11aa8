"""`loopmeter legibility PATH`: the agent-legibility scorecard of one repository; without PATH,
of every repository in the store."""

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
    path: Annotated[Optional[Path], typer.Argument(
        help="A git repository (work tree or bare mirror) or a plain directory; leave out for every repository in the store.")] = None,
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

    Without PATH, every repository of the store, least legible first (with --json, `{repo: scorecard}`,
    null where the repository's path is not on this machine).

    Example: loopmeter legibility ~/src/api --json > legibility.json
    """

    def go():
        check_output(html, "--html")
        store_path = store if store is not None else (DEFAULT_STORE if DEFAULT_STORE.is_file() else None)
        if path is None:
            if html is not None:
                from .errors import ConfigError

                raise ConfigError("--html: give a PATH (the report's HTML summarises every repository)")
            _every_repository(api.legibility(None, store_path=store_path), as_json)
            return
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


def _every_repository(cards: dict, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(cards, indent=2) + "\n")
        return
    from rich.table import Table

    from .legibility.summary import least_legible_first, summary
    from .report.terminal import render_legibility

    console = Console()
    table = Table(title=f"agent legibility of {len(cards):,} repositories, least legible first", title_justify="left")
    for col, justify in (("repository", "left"), ("score", "right"), ("limited by", "left"), ("path", "left")):
        table.add_column(col, justify=justify)
    for repo, card in least_legible_first(cards):
        agency = card.get("effective_agency") or {}
        table.add_row(escape(repo), f"{card['score']:g}/10",
                      f"{escape(card.get('limiting_question') or '')} ({agency.get('score', 0):g}/10)", escape(card["path"]))
    for repo in sorted(r for r, c in cards.items() if c is None or c.get("score") is None):
        table.add_row(escape(repo), "—", "not scored", "", style="dim")
    console.print(table)
    render_legibility(None, console, summary(cards))
