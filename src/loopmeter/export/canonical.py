"""Read the canonical log out of the store and hand it to one writer.

Every format carries the same content: items are OCEL objects / XES traces (type = kind), each
`events` row is one event related to its item, and links between two items are object-to-object
relations. Item fields travel as `lm:`-prefixed attributes so that `loopmeter ingest --events` of
an OCEL export restores the items exactly (sources/eventlog.py, RESTORE_MARK). Links whose far
end is not an item (a commit id, say) have no object to point at, and events without a time or an
item have no place in either format: both are counted in the summary, not written.

People stay pseudonymous: events carry actor ids, and the Parquet `actors` table leaves names
and emails out unless `show_names` is set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..sources.eventlog import ITEM_FIELDS
from ..store.db import Store

EXPORT_FORMATS = ("ocel-json", "ocel-sqlite", "xes", "parquet")


@dataclass
class ExportSummary:
    format: str
    path: str
    items: int
    events: int
    links: int
    links_left_out: int
    events_left_out: int = 0


@dataclass
class CanonicalLog:
    #: item_id -> {kind, source, ..., attrs} (ITEM_FIELDS plus kind)
    items: dict[str, dict[str, Any]]
    #: (item_id, ts, activity, actor_id, attrs JSON) ordered by item and time
    events: list[tuple[str, datetime, str, str | None, str | None]]
    links: list[tuple[str, str, str]]
    links_left_out: int
    events_left_out: int = 0
    #: actor_id -> (kind, agent) of every actor an item or event names: who is a bot or an agent
    actors: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    #: item_id -> its AI attributions as JSON ([{agent, evidence, signal, confidence, class}, ...])
    attributions: dict[str, str] = field(default_factory=dict)


def load(store: Store) -> CanonicalLog:
    cols = ", ".join(ITEM_FIELDS)
    items = {}
    for row in store.con.execute(f"select item_id, kind, {cols} from items order by item_id").fetchall():
        items[row[0]] = {"kind": row[1], **dict(zip(ITEM_FIELDS, row[2:]))}
    events = store.con.execute(
        "select e.item_id, e.ts, e.activity, e.actor_id, e.attrs from events e "
        "where e.item_id in (select item_id from items) and e.ts is not null "
        "order by e.item_id, e.ts, e.activity").fetchall()
    links = store.con.execute("select src, dst, kind from links order by src, dst, kind").fetchall()
    kept = [lk for lk in links if lk[0] in items and lk[1] in items]
    # an event without a time or without its item cannot be placed in OCEL or XES: counted, not written
    (total,) = store.con.execute("select count(*) from events").fetchone()
    # Actor kinds and attributions travel with the log: without them a restored store would count a
    # bot's or an agent's work as a person's, and every AI-assisted change as human.
    actors = {a: (k, g) for a, k, g in store.con.execute(
        "select actor_id, kind, agent from actors where actor_id in "
        "(select author_id from items union select actor_id from events)").fetchall()}
    attributions = {i: json.dumps(rows) for i, rows in store.con.execute(
        "select item_id, list({'agent': agent, 'evidence': evidence, 'signal': signal, 'confidence': confidence, "
        "'class': evidence_class} "
        "order by agent, evidence, signal) "
        "from attributions where item_id in (select item_id from items) group by item_id").fetchall()}
    return CanonicalLog(items, events, kept, len(links) - len(kept), total - len(events), actors, attributions)


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat() + "Z"


def field_text(name: str, value: Any) -> str | None:
    """An item field as the text an `lm:` attribute carries."""
    if value is None:
        return "" if name == "source" else None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@contextmanager
def replacing(out: Path) -> Iterator[Path]:
    """Write to a temporary name beside `out`, then move it into place, so a failed export never
    leaves half a file where a good one was."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def export_store(store: Store, fmt: str, out: str | Path, *, show_names: bool = False) -> ExportSummary:
    """Write the store's canonical log to `out` in format `fmt` (one of EXPORT_FORMATS)."""
    out = Path(out)
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet":
        from .parquet import write_parquet

        return write_parquet(store, out, show_names=show_names)
    if out.is_dir():
        raise ConfigError(f"{out}: is a directory; give a file name for {fmt}")
    out.parent.mkdir(parents=True, exist_ok=True)
    log = load(store)
    with replacing(out) as tmp:
        if fmt == "ocel-json":
            from .ocel import write_ocel_json

            write_ocel_json(log, tmp)
        elif fmt == "ocel-sqlite":
            from .ocel import write_ocel_sqlite

            write_ocel_sqlite(log, tmp)
        else:
            from .xes import write_xes

            write_xes(log, tmp)
    return ExportSummary(fmt, str(out), len(log.items), len(log.events), len(log.links), log.links_left_out,
                         log.events_left_out)
