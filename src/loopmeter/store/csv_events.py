"""A clean CSV event log read by DuckDB's own `read_csv` straight into the store.

Parsing ten million rows in Python (sources/eventlog.py) costs about ten times the CPU of DuckDB's
parallel reader, so a CSV log is first tried here. This path is an optimisation only, never a
second definition: it stores exactly what the Python reader would (same item ids, times, actors,
attributes), and the moment anything in the file needs the reader's judgment (a row without a
case, activity or usable time, a row of the wrong width, a time in a form other than the strict
ISO 8601 / whole epoch forms below, a value with surrounding whitespace other than spaces, a
duplicated or empty header name, a header spanning lines) it gives up, the transaction rolls back
and the caller runs the Python reader, which records every unusable row with its line number.

Times accepted here: `YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]]` with an optional `Z` or `+HH[:]MM`
offset (converted to UTC; none means UTC), and 9-13 digit epoch seconds (milliseconds above 1e11),
which are the forms the Python reader turns into the same instant.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import duckdb
import pyarrow as pa

from ..sources.eventlog import Mapping
from .db import Store, transaction
from .event_logs import LogSummary, _actor_table, _links_table, _replace, case_id
from .git_load import Identities

_ISO = (r"^(\d{4}-\d{2}-\d{2})[T ]((?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)"
        r"(Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?$")
_EPOCH = r"^\d{9,13}$"
#: The commonest form, a strict subset of _ISO read without its captures (see `_time`).
_COMMON = r"^\d{4}-\d{2}-\d{2}[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\dZ?$"
#: The code points of regular expressions' \s ([\t\n\f\r ]), as an SQL list.
_SPACES = "(9, 10, 12, 13, 32)"
#: DuckDB's null string: a control character no real log writes, so an empty field stays ''.
_NULL = "\x01"


class _Fallback(Exception):
    """The file needs the Python reader; nothing was written."""


def _header(p: Path) -> tuple[list[str], str] | None:
    """The header and delimiter as the Python reader sees them, or None when this path should not try."""
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            sample = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return None
    first = sample.split("\n", 1)[0]
    delim = "\t" if p.suffix.lower() == ".tsv" or first.count("\t") > first.count(",") else ","
    if '"' in first or "\n" not in sample:
        return None  # a quoted header may span lines; a one-line file is too small to matter
    header = next(csv.reader(io.StringIO(first.rstrip("\r")), delimiter=delim), [])
    if not header or len(set(header)) != len(header) or any(not h for h in header):
        return None
    return header, delim


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def ingest_csv(store: Store, *, name: str, path: str | Path, mapping: Mapping, ids: Identities) -> LogSummary | None:
    """Replace log `name` with the CSV at `path`, read by DuckDB; None (store untouched) when the
    file needs the Python reader, which must then be given fresh `Identities` (these may have
    cached actors whose rows were rolled back)."""
    p = Path(path)
    got = _header(p)
    if got is None:
        return None
    header, delim = got
    if any(c not in header for c in (mapping.case, mapping.activity, mapping.timestamp)) or (
            mapping.actor and mapping.actor not in header):
        return None  # the Python reader names the missing column
    used = {mapping.case, mapping.activity, mapping.timestamp, mapping.actor}
    others = sorted(c for c in header if c not in used)
    # One column more than the header, padded with NULL: a row with a field too many fills it
    # (DuckDB would otherwise forgive a trailing empty field the Python reader refuses), and a
    # row with one too few leaves a header column NULL. Empty fields stay '' (the null string is
    # _NULL, which no real log writes), so NULL only ever means padding.
    extra, common = "__loopmeter_extra__", "__loopmeter_common_time__"
    while extra in header:
        extra += "_"
    while common in header:  # the first read's column: is the row's time in the common form
        common += "_"
    columns = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in [*header, extra]) + "}"
    source = (f"read_csv({_lit(str(p))}, delim={_lit(delim)}, quote='\"', escape='\"', header=true, "
              f"auto_detect=false, columns={columns}, strict_mode=true, null_padding=true, nullstr={_lit(_NULL)}, "
              "parallel=PARALLEL)")
    ragged = " or ".join([f"{_ident(extra)} is not null"] + [f"{_ident(c)} is null" for c in header])

    def trimmed(c: str) -> str:
        # trim() copies every value; testing the ends first costs a third as much on a clean file.
        return f"case when starts_with({_ident(c)}, ' ') or ends_with({_ident(c)}, ' ') then trim({_ident(c)}, ' ') " \
               f"else {_ident(c)} end"

    def cell(c: str) -> str:
        return f"nullif({trimmed(c)}, '')"

    # json.dumps(attrs, sort_keys=True, ensure_ascii=False) of the non-empty other columns, built
    # as the same text so a log reads back alike whichever path stored it.
    # concat_ws skips the NULL of an empty cell; a list of pairs filtered by a lambda cost 5x more.
    pairs = ", ".join(f"case when {_ident(c)} <> '' then to_json({_lit(c)}) || ': ' || to_json({_ident(c)}) end"
                      for c in others)
    attrs = f"'{{' || concat_ws(', ', {pairs}) || '}}'" if others else "'{}'"
    actor = cell(mapping.actor) if mapping.actor else "null::varchar"
    ts = trimmed(mapping.timestamp)
    prefix = case_id(name, "")
    con = store.con
    con.execute("set enable_progress_bar = false")  # the CLI prints its own summary
    (limit,) = con.execute("select current_setting('memory_limit')").fetchone()
    # A large log's case grouping (a million cases for ten million events) and the insert's row
    # groups outgrow the store's small default cap; this load's own cap keeps the whole ingest
    # under 1 GB (~830 MB peak at 10M events, bench/event_log_report.py).
    con.execute(f"set memory_limit = '{os.environ.get('LOOPMETER_INGEST_MEMORY', '600MB')}'")
    try:
        return _attempts(con, source, name=name, path=path, prefix=prefix, mapping=mapping, ids=ids, cell=cell,
                         ts=ts, actor=actor, attrs=attrs, ragged=ragged, common=common)
    finally:
        con.execute(f"set memory_limit = '{limit}'")


def _attempts(con, source: str, **kw) -> LogSummary | None:
    ids = kw["ids"]
    # DuckDB's parallel scanner cannot pad rows when a quoted value spans lines; the serial one can.
    for parallel in ("true", "false"):
        try:
            return _load(con, source.replace('parallel=PARALLEL)', f'parallel={parallel})'), **kw)
        except _Fallback:
            _drop_temps(con)
            return None
        except duckdb.Error:
            _drop_temps(con)
            ids._cache.clear()  # actors met in the rolled-back attempt must be written by the next one
            ids.new_rows.clear()
    return None


def _time(t: str, common: str | None = None) -> str:
    """SQL for the UTC timestamp of time text `t` (NULL when it is in none of the accepted forms).

    The form nearly every log writes (`YYYY-MM-DD[T ]HH:MM:SS` and an optional `Z`) is checked by
    one anchored pattern and cast directly; CASE evaluates the full pattern's three captures only
    for the other rows, which costs about three times the whole cast. `common`: a column already
    holding whether `t` is in the common form (the first read's, which counts the rows that are not)."""
    return rf"""case
        when {common or f"regexp_matches({t}, {_lit(_COMMON)})"} then try_cast({t}[1:19] as timestamp)
        when regexp_matches({t}, {_lit(_EPOCH)}) then make_timestamp(cast(
            case when cast({t} as bigint) > 100000000000 then cast({t} as bigint) * 1000
                 else cast({t} as bigint) * 1000000 end as bigint))
        else list_transform([regexp_extract({t}, {_lit(_ISO)}, ['d', 't', 'z'])], iso ->
            try_cast(iso.d || ' ' || iso.t as timestamp)
            - case when iso.z in ('', 'Z') then interval 0 minute
                   else (case when iso.z[1] = '-' then -1 else 1 end)
                        * (cast(iso.z[2:3] as integer) * 60 + cast(iso.z[-2:] as integer))
                        * interval 1 minute end)[1]
    end"""


def _load(con, source: str, *, name, path, prefix, mapping, ids, cell, ts, actor, attrs, ragged,
          common) -> LogSummary:
    """Check, then store, the file in one transaction (see the module docstring).

    Two reads of the file, neither materialising it: the first checks every row and groups the
    rows into cases (first and last time, event count) and into actors at once; only when no row
    needs the Python reader does the second stream the rows into `events`. Parsing the file twice
    costs less than staging it in a temporary table and copying that (a 10M-event log's staged
    rows spill to disk under the ingest's memory cap)."""
    def edge_space(c: str) -> str:
        # Whitespace (regular expressions' \s) left at either end once spaces are trimmed: the
        # Python reader strips it, so such a row is its to judge. ord() of the two ends costs a
        # third of the anchored pattern, which scans the whole value for its `\s$`.
        return f"(ord({c}) in {_SPACES} or ord({c}[-1]) in {_SPACES})"

    bad = (f"ragged or case_value is null or activity is null or ts is null or {edge_space('case_value')} "
           f"or {edge_space('activity')} or (actor is not null and {edge_space('actor')})")
    with transaction(con):
        con.execute(rf"""
            create temp table csv_groups as
            select case_value, actor, min(ts) as first_ts, max(ts) as last_ts,
                   count(*) as n, count_if(bad) as n_bad, count_if(not common_ts) as n_uncommon,
                   grouping(case_value) as by_actor
            from (
                select case_value, actor, ts, {bad} as bad, {_ident(common)} as common_ts
                from (
                    select {cell(mapping.case)} as case_value, {cell(mapping.activity)} as activity,
                           {actor} as actor, {_ident(common)}, {_time(ts, _ident(common))} as ts, ({ragged}) as ragged
                    from (select *, regexp_matches({ts}, {_lit(_COMMON)}) as {_ident(common)} from {source})
                )
            )
            group by grouping sets ((case_value), (actor))""")
        (n_bad, n_events, n_uncommon) = con.execute(
            "select sum(n_bad), sum(n), sum(n_uncommon) from csv_groups where by_actor = 0").fetchone()
        if n_bad:
            raise _Fallback  # a row the Python reader must judge (and number)
        # Every time in the common form (as nearly every log writes them): the second read casts
        # them without testing each one against the pattern again (~1 s CPU at 10M events).
        stored_ts = f"try_cast({ts}[1:19] as timestamp)" if not n_uncommon else _time(ts)
        actors = [r[0] for r in con.execute(
            "select actor from csv_groups where by_actor = 1 and actor is not null order by actor").fetchall()]
        amap = pa.table({"actor": actors, "actor_id": [ids.actor_id(a, "") for a in actors]},
                        schema=pa.schema([("actor", pa.string()), ("actor_id", pa.string())]))
        con.register("csv_actor_ids", amap)
        con.register("new_links", _links_table([]))
        con.register("new_actors", _actor_table(ids))
        try:
            # A view: `_replace` streams the file's rows through it into `events` (the second read).
            con.execute(f"""
                create temp view new_events as
                select r.item_id, r.ts, r.activity, m.actor_id, r.attrs
                from (select {_lit(prefix)} || {cell(mapping.case)} as item_id, {stored_ts} as ts,
                             {cell(mapping.activity)} as activity, {actor} as actor, {attrs} as attrs
                      from {source}) r
                left join csv_actor_ids m on m.actor = r.actor""")
            con.execute(f"""
                create temp table new_items as
                select {_lit(prefix)} || case_value as item_id, {_lit('events:' + name)} as source, 'case' as kind,
                       null::varchar as repo,
                       null::varchar as team, case_value as title, first_ts as created_at,
                       first_ts as started_at, last_ts as done_at, 'closed' as state, null::bigint as size_lines,
                       null::varchar as author_id, {_lit('{"log": ')} || to_json({_lit(name)}) || '}}' as attrs
                from csv_groups where by_actor = 0""")
            summary = _replace(con, name=name, path=str(path), fmt="csv", skipped=[], n_events=int(n_events or 0))
            con.execute("drop view new_events")
            con.execute("drop table new_items")
            con.execute("drop table csv_groups")
        finally:
            for t in ("csv_actor_ids", "new_links", "new_actors"):
                con.unregister(t)
    return summary


def _drop_temps(con) -> None:
    con.execute("drop view if exists new_events")
    for t in ("csv_groups", "new_items"):
        con.execute(f"drop table if exists {t}")
