"""`loopmeter store ...`: looking after the store file itself (restore, forget a person)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from . import api
from .cli import DebugOpt, StoreOpt, _run, app
from .report.terminal import escape
from .store.db import DEFAULT_STORE

store_app = typer.Typer(help="Look after the store: restore it, forget a person.\n\nExample: loopmeter store restore --store team.duckdb", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("restore")
def restore(store: StoreOpt = DEFAULT_STORE, debug: DebugOpt = False) -> None:
    """Put back the copy of the store taken before the last ingest that changed it (after a crash
    left it unreadable). The replaced file is kept beside it, never deleted.

    Example: loopmeter store restore --store team.duckdb
    """

    def go():
        restored, aside = api.restore_store(store_path=store)
        kept = f"; the replaced file is kept as {escape(str(aside))}" if aside else ""
        Console().print(f"{escape(str(restored))}: restored from the restore point{kept}; run the last ingest "
                        "again to read what it had added", highlight=False, soft_wrap=True)

    _run(debug, go)


@store_app.command("forget")
def forget(
    person: Annotated[str, typer.Option("--person", help="The person's email or login.")],
    store: StoreOpt = DEFAULT_STORE,
    debug: DebugOpt = False,
) -> None:
    """Remove a person's names, emails and the titles of their items from the store (right to
    erasure). Every metric stays as it was: they are computed from pseudonymous ids.

    Example: loopmeter store forget --person bob@example.com
    """

    def go():
        f = api.forget_person(person, store_path=store)
        Console().print(f"forgotten: {f.actors:,} identities, {f.commits:,} commits, {f.items:,} item titles",
                        highlight=False)

    _run(debug, go)
