"""An ingested event log as a work loop: per case cycle time, validated throughput, waiting, and
who did the work (docs/metrics.md "Event logs as work loops").

For each case of log L (settings from loopmeter.toml `[[log]]`, log_settings.py):

- **start** is the first event of a `start` activity (default: the case's first event); **done**
  the first event of an `end` activity at or after the start (default: the case's last event). A
  case with no done event is open; one with no start event has an unknown cycle time.
- **cycle time** = done - start, in hours; a case whose start and done coincide (a single event)
  lasts 0 hours and is counted in the percentiles but left out of the lift (durations there must
  be positive: unknown is never zero, and a zero is not a duration a ratio can use).
- **validated**: done, and no `rework` activity in (done, done + window]; with no `end` activities
  configured done is the last event, so any rework event in the case counts against it. A case
  done less than a window before the log's as-of is **pending**, neither validated nor not.
- **waiting**: with `waiting` activities, the time from each such event to the case's next event;
  otherwise the *handoff* gaps: from an event to the next one when a different (known) resource
  performs it. Only gaps that end by the case's done time count.
- **AI-handled**: a case in which a resource of kind `agent` performed an event up to done (bots
  are counted apart, as `bot_handled`: automation is not AI).

Weeks are ISO weeks (Monday start, UTC) of the done time. Percentiles are linear (as everywhere).
A case's events are ordered by time, activity, resource id: ties in time resolve the same way on
every run (an event's successor; the resource that closed a case is the one of its done event, the
first `end` event at the done time, or of its first event at that time when no `end` is set; an
open case's is its last event's).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import ConfigError
from ..log_settings import LogSettings
from ..store.db import Store
from . import portable
from .event_logs import stored_order


@dataclass(frozen=True)
class LogWindow:
    """The validation window in days, the moment the log is judged from (None: its last event),
    and the report's date filter (`--from/--to`, inclusive UTC days; None: no cut)."""

    days: int = 14
    as_of: datetime | None = None
    since: date | None = None
    until: date | None = None


def in_dates(df: pd.DataFrame, since: date | None, until: date | None) -> pd.DataFrame:
    """The cases of a date slice: done in [since, until], or still open and started by `until`.
    Cut after every case was judged, so a case in the slice reworked after `until` is still
    reworked (as a change in a slice reverted outside it is still reverted, metrics/scope.py)."""
    if since is None and until is None:
        return df
    done = df["done_ts"]
    keep = df["done"].copy()
    if since is not None:
        keep &= done >= pd.Timestamp(since)
    if until is not None:
        end = pd.Timestamp(until) + pd.Timedelta(days=1)
        keep &= done < end
        started = ~df["done"] & (df["start_ts"].isna() | (df["start_ts"] < end))
    else:
        started = ~df["done"]
    out = df[keep | started].copy()
    out.attrs.update(df.attrs)
    return out


def _json_path(key: str) -> str:
    return '$."' + re.sub(r'(["\\])', r"\\\1", key) + '"'


def _log_rows(store: Store, log: str, engine=None) -> str:
    """FROM ... WHERE of the events (`e`) of `log`. In a store a log's cases are numbered in one
    run per ingest (store/event_logs.py `_replace`), so its events are those numbered between its
    least and greatest case number (zone maps skip the rest of the table); only when another log's
    cases fall in that range (an incremental log read again after others) is each number checked.
    An export (on any engine) joins the log's items instead."""
    if stored_order(store) and not portable.on_engine(engine):
        lo, hi, others = store.con.execute(
            """select min(case_no), max(case_no),
                      (select count(*) from event_log_items o where o.case_no between min(li.case_no)
                       and max(li.case_no) and o.log <> $log)
               from event_log_items li where li.log = $log""", {"log": log}).fetchone()
        rows = f"events e where e.case_no between {int(lo or 0)} and {int(hi if hi is not None else -1)}"
        return rows + (f" and e.case_no in (select case_no from event_log_items where log = {portable.literal(log)})"
                       if others else "")
    return f"events e join event_log_items li on li.item_id = e.item_id where li.log = {portable.literal(log)}"


def resource_kinds(store: Store, log: str, settings: LogSettings, engine=None) -> pd.DataFrame:
    """actor_id, name, kind, agent of every resource that performed an event of `log`, ordered by
    actor_id (read on `engine` when given: the events are there)."""
    sql = f"""select d.actor_id, a.name, a.kind, a.agent
           from (select distinct e.actor_id from {_log_rows(store, log, engine)} and e.actor_id is not null) d
           left join actors a on a.actor_id = d.actor_id order by d.actor_id"""
    # An engine's result keeps no order: sorted here, as DuckDB sorts (binary, by code point).
    df = portable.frame(store.con, engine, sql).sort_values("actor_id", kind="stable", ignore_index=True)
    df = df.astype({"actor_id": object, "name": object, "kind": object, "agent": object})
    if settings.resources and store.export and df["name"].isna().any():
        # The rules match names; without them every resource would keep its stored kind, and the
        # loop's AI share and lift would differ from the store's without a word.
        raise ConfigError(f"event log {log!r}: loopmeter.toml's [[log.resource]] rules match resource names, which "
                          "this Parquet export leaves out (people are pseudonymous); export it with "
                          "`loopmeter export --format parquet --show-names DIR`, or report from the store")
    kinds = [settings.kind_of(n, k) for n, k in zip(df["name"], df["kind"])]
    df["kind"] = [k for k, _ in kinds]
    df["agent"] = [g if g is not None else old for (_, g), old in zip(kinds, df["agent"])]
    return df


def _ordered_events(store: Store, log: str, by_team: bool, team_key: str, engine=None) -> tuple[str, str]:
    """(SQL of the log's events with what the per-case query needs, the `event_log_items` column
    its `case_no` is): case_no, ts, act (lower-cased activity), actor_id, seq (place in the case),
    next_ts (the successor's time), handoff (the successor is a different known resource)[, event_team].

    In a store these were stored at ingest (store/event_logs.py EVENT_ORDER); a Parquet export
    opened as views (engine.py) may predate them and has them computed by one sort per case."""
    team = f", json_extract_string(e.attrs, {portable.literal(team_key)}) as event_team" if by_team else ""
    if stored_order(store) and not portable.on_engine(engine):
        return f"""
            select e.case_no, e.ts, lower(e.activity) as act, e.actor_id, e.seq, e.next_ts, e.handoff{team}
            from {_log_rows(store, log)}""", "case_no"
    return f"""
        select e.item_id as case_no, e.ts, lower(e.activity) as act, e.actor_id,
               row_number() over w as seq, lead(e.ts) over w as next_ts,
               coalesce(e.actor_id <> lead(e.actor_id) over w, false) as handoff{team}
        from {_log_rows(store, log, engine)}
        window w as (partition by e.item_id order by e.ts, e.activity, e.actor_id)""", "item_id"


def case_frame(store: Store, log: str, settings: LogSettings, window: LogWindow,
               kinds: pd.DataFrame | None = None, engine=None) -> tuple[pd.DataFrame, datetime | None]:
    """One row per case: item_id, start, done, cycle_hours, waiting_hours, reworked, ai, bot,
    cluster, resource; and the as-of the log is judged from. `kinds`: `resource_kinds` of the log,
    when the caller has them already. `engine`: an Ibis backend other than DuckDB holding the same
    tables (Spark over the Parquet export, engine.py), where the per-case query then runs
    (transpiled, metrics/portable.py); everything after it runs here over one row per case.

    No sort in a store: each event's place in its case, its successor's time and whether it hands
    off were stored at ingest (`_ordered_events`), so the cases are two GROUP BYs over the case
    number: the first finds each case's start, done, last time and last resource, the second
    everything measured against the done time, over only the events that can count there (joined
    to the first). At 10M events this costs about half the per-case window sort it replaced
    (bench/event_log_report.py). The SQL is written once, in DuckDB's dialect, with only what
    transpiles to the same meaning elsewhere: every value a literal, `epoch(a) - epoch(b)` rather
    than the epoch of an interval, `arg_max ... filter (where x is not null)` (DuckDB's `arg_max`
    skips a null value, Spark's `max_by` returns it)."""
    kinds = resource_kinds(store, log, settings, engine) if kinds is None else kinds
    by_team = settings.cluster == "team"
    team_key = _json_path(settings.team_attribute)
    events, case_col = _ordered_events(store, log, by_team, team_key, engine)
    kinds_table = pa.table(
        {"actor_id": [str(a) for a in kinds["actor_id"]], "kind": [str(k) for k in kinds["kind"]]},
        schema=pa.schema([("actor_id", pa.string()), ("kind", pa.string())]))
    start = f"min(ts) filter (where {portable.in_list('act', settings.start)})" if settings.start else "min(ts)"
    ends = settings.end
    if not ends:
        done, done_at = "max(ts)", "done_raw"
    elif not settings.start:  # the start is the first event: every end event is at or after it
        done, done_at = f"min(ts) filter (where {portable.in_list('act', ends)})", "done_raw"
    else:  # the first end event at or after the start (any end event when the case has no start)
        done = f"list(ts) filter (where {portable.in_list('act', ends)})"
        done_at = "list_min(list_filter(done_raw, x -> x >= coalesce(start_ts, x)))"
    rework_after = f"ts > done_ts and ts <= done_ts + interval {int(window.days)} day" if ends else "true"
    closing = portable.in_list("act", ends) if ends else "true"  # the done event is an end event when there are any
    if settings.waiting:
        wait_gap, rule = portable.in_list("act", settings.waiting), "activities"
    else:
        wait_gap, rule = "handoff", "handoff"
    rework = portable.in_list("act", settings.rework)
    # The events that can count once a case's done time is known: waiting gaps, rework, agents'
    # and bots' events, and the candidates for the done event (an end event; with none, one at the
    # case's last time: its successor is at the same time or there is none). Every other event
    # only counts towards the first GROUP BY, which the second's join then skips.
    marked = kinds.loc[kinds["kind"].isin(["agent", "bot"]), "actor_id"].astype(str).tolist()
    machine = ("ev.actor_id in (" + ", ".join(portable.literal(a) for a in marked) + ")"
               if len(marked) <= 256 else
               "ev.actor_id in (select actor_id from log_resource_kinds where kind in ('agent', 'bot'))")
    candidate = closing if ends else "(next_ts is null or next_ts = ts)"
    sql = f"""
    with ev as not materialized ({events}),
    spans as (
        select *, {done_at} as done_ts
        from (select case_no, {start} as start_ts, {done} as done_raw, max(ts) as last_ts,
                     arg_max(actor_id, seq) filter (where actor_id is not null) as last_actor{
                         ", min(event_team) as event_team" if by_team else ""}
              from ev group by case_no)
    ),
    after as (
        select ev.case_no,
               sum(epoch(next_ts) - epoch(ts)) filter (
                   where ({wait_gap}) and next_ts is not null and next_ts <= done_ts) / 3600.0 as waiting_hours,
               bool_or({rework} and {rework_after}) as reworked,
               bool_or(k.kind = 'agent' and ts <= done_ts) as ai,
               bool_or(k.kind = 'bot' and ts <= done_ts) as bot,
               arg_min(ev.actor_id, seq) filter (
                   where ts = done_ts and {closing} and ev.actor_id is not null) as closer
        from ev join spans s on s.case_no = ev.case_no
        left join log_resource_kinds k on k.actor_id = ev.actor_id
        where ({wait_gap}) or {rework} or {machine if marked else "false"} or {candidate}
        group by ev.case_no
    )
    select li.item_id, s.start_ts, s.done_ts, (epoch(s.done_ts) - epoch(s.start_ts)) / 3600.0 as cycle_hours,
           coalesce(a.waiting_hours, 0) as waiting_hours, coalesce(a.reworked, false) as reworked,
           coalesce(a.ai, false) as ai, coalesce(a.bot, false) as bot, s.last_ts,
           coalesce(a.closer, s.last_actor) as resource,
           {f"coalesce(json_extract_string(i.attrs, {portable.literal(team_key)}), s.event_team)" if by_team
            else "null::varchar"} as team,
           date_trunc('week', s.done_ts) as week
    from spans s left join after a on a.case_no = s.case_no
    join event_log_items li on li.{case_col} = s.case_no and li.log = {portable.literal(log)}
    {"left join items i on i.item_id = li.item_id" if by_team else ""}
    order by li.item_id
    """
    if portable.on_engine(engine):
        scratch = portable.Scratch(engine)
        try:
            scratch.arrow("log_resource_kinds", kinds_table)
            df = portable.frame(store.con, engine, sql)
        finally:
            scratch.close()
        # The engine's rows come back in no order; the lift's resampling reads them in this one.
        df = df.sort_values("item_id", kind="stable", ignore_index=True)
        for col in ("start_ts", "done_ts", "last_ts", "week"):
            df[col] = portable.naive_utc(df[col])
        df = df.astype({"reworked": bool, "ai": bool, "bot": bool, "cycle_hours": float, "waiting_hours": float})
        df["resource"] = df["resource"].astype(object).where(df["resource"].notna(), None)
        df["team"] = df["team"].astype(object).where(df["team"].notna(), None)
    else:
        con = store.con
        con.register("log_resource_kinds", kinds_table)
        (limit,) = con.execute("select current_setting('memory_limit')").fetchone()
        # The per-case GROUP BYs over a large log (a million cases of ten million events) outgrow the
        # store's small default cap, which is raised for this one query (LOOPMETER_REPORT_MEMORY,
        # default 1.5 GB; ~1.1 GB peak for the whole report at 10M events).
        con.execute(f"set memory_limit = '{os.environ.get('LOOPMETER_REPORT_MEMORY', '1500MB')}'")
        try:
            df = con.execute(sql).df()
        finally:
            con.execute(f"set memory_limit = '{limit}'")
            con.unregister("log_resource_kinds")
    df.attrs["waiting_rule"] = rule
    last = df["last_ts"].max() if len(df) else None  # the log's newest event
    as_of = window.as_of or (None if last is None or pd.isna(last) else last.to_pydatetime())
    df["resource"] = df["resource"].fillna("(unknown resource)")
    df["team"] = df["team"].fillna("(no team)")
    df["cluster"] = df["team"] if settings.cluster == "team" else df["resource"]
    if as_of is not None:
        df = df[df["done_ts"].isna() | (df["done_ts"] <= pd.Timestamp(as_of))].copy()
    df["done"] = df["done_ts"].notna()
    horizon = pd.Timestamp(as_of) - pd.Timedelta(days=window.days) if as_of is not None else None
    settled = df["done_ts"] <= horizon if horizon is not None else df["done"]
    df["pending"] = df["done"] & ~df["reworked"] & ~settled
    df["validated"] = df["done"] & ~df["reworked"] & settled
    df["week"] = pd.to_datetime(df["week"]).astype("datetime64[ns]")  # the ISO (Monday) week of done; NaT when open
    return df, as_of


def _q(values: pd.Series, q: float) -> float | None:
    v = values.dropna()
    return None if v.empty else round(float(np.quantile(v.to_numpy(float), q)), 4)


def _week_label(ts: pd.Timestamp) -> tuple[str, str]:
    iso = ts.isocalendar()
    return f"{iso[0]}-W{iso[1]:02d}", ts.date().isoformat()


def weekly(df: pd.DataFrame) -> list[dict]:
    """One row per ISO week with a done case, oldest first."""
    done = df[df["done"]]
    rows = []
    for wk, g in done.groupby("week", sort=True):
        label, start = _week_label(wk)
        n = len(g)
        rows.append({
            "week": label, "week_start": start, "done": n, "validated": int(g["validated"].sum()),
            "pending": int(g["pending"].sum()), "reworked": int(g["reworked"].sum()),
            "ai_handled": int(g["ai"].sum()), "bot_handled": int(g["bot"].sum()),
            "ai_share": round(float(g["ai"].mean()), 4),
            "resources": int(g["resource"].nunique()),
            "cycle_p50_hours": _q(g["cycle_hours"], 0.5), "cycle_p85_hours": _q(g["cycle_hours"], 0.85),
            "waiting_p50_hours": _q(g["waiting_hours"], 0.5),
        })
    return rows


def cycle_time(df: pd.DataFrame) -> dict:
    c = df.loc[df["done"], "cycle_hours"]
    return {"p50": _q(c, 0.5), "p85": _q(c, 0.85), "n": int(c.notna().sum()),
            "open": int((~df["done"]).sum()), "unknown_start": int((df["done"] & df["cycle_hours"].isna()).sum())}


def waiting(df: pd.DataFrame, settings: LogSettings) -> dict:
    d = df[df["done"] & df["cycle_hours"].notna()]
    total = float(d["cycle_hours"].sum())
    return {
        "rule": df.attrs.get("waiting_rule", "handoff"), "activities": list(settings.waiting),
        "p50_hours": _q(d["waiting_hours"], 0.5), "p85_hours": _q(d["waiting_hours"], 0.85), "n": len(d),
        "share_of_cycle": round(float(d["waiting_hours"].sum()) / total, 4) if total > 0 else None,
    }


def ai_share(df: pd.DataFrame, kinds: pd.DataFrame) -> dict:
    done = df[df["done"]]
    counts = kinds["kind"].value_counts()
    return {
        "ai_handled": int(done["ai"].sum()), "bot_handled": int(done["bot"].sum()), "done": len(done),
        "share": round(float(done["ai"].mean()), 4) if len(done) else None,
        "resources": {k: int(counts.get(k, 0)) for k in ("human", "agent", "bot")},
    }


def log_loop(store: Store, log: str, settings: LogSettings, window: LogWindow, *,
             adoption_date: date | None = None, adoption_source: str | None = None, seed: int = 0,
             n_boot: int = 2000, lift: bool = True, team: str | None = None, agent: str | None = None,
             engine=None) -> dict:
    """The work-loop keys of one `event_logs[]` entry (docs/json-report.md). `adoption_date`
    (said to come from `adoption_source`, "given" by default) else `[[log]] adoption_date`, else
    detected (lift/loop_adoption.py decides which for a report). `team` / `agent`: the report's
    slice (metrics/loop_slice.py); `{"left_out": why}` when the log cannot be cut by it. `engine`:
    where the log's events are read (`case_frame`); the statistics run here either way."""
    from ..lift.loop_verdict import log_verdict
    from .log_lift import log_lift  # the lift needs the frame; kept apart as its own concept
    from .loop_slice import agent_cases, cut_agent, cut_team

    kinds = resource_kinds(store, log, settings, engine)
    # A --team slice needs each case's team, which the frame reads only when it clusters by team.
    read_team = team is not None and settings.cluster != "team"
    df, as_of = case_frame(store, log, replace(settings, cluster="team") if read_team else settings, window, kinds,
                           engine)
    if read_team:
        df["cluster"] = df["resource"]  # read to cut by, not to cluster by
    df = in_dates(df, window.since, window.until)
    if team is not None:
        df, why = cut_team(df, team, settings.team_attribute)
        if why is not None:
            return {"left_out": why}
    if agent is not None:
        df = cut_agent(df, agent_cases(store, log, kinds, agent, engine))
    # A bot that closed the case did the work people would have; one that only touched it (a queue
    # or system account on every case) did not, and must not empty the human group of the lift.
    bots = set(kinds.loc[kinds["kind"] == "bot", "actor_id"].astype(str))
    df["bot_closed"] = df["bot"] & df["resource"].astype(str).isin(bots)
    out = {
        "as_of": as_of.replace(microsecond=0).isoformat() if as_of is not None else None,
        "window_days": window.days,
        "settings": {"start": list(settings.start), "end": list(settings.end), "rework": list(settings.rework),
                     "waiting": list(settings.waiting), "cluster": settings.cluster},
        "cycle_time_hours": cycle_time(df),
        "weekly": weekly(df),
        "waiting": waiting(df, settings),
        "ai_share": ai_share(df, kinds),
    }
    if window.since is not None or window.until is not None:
        out["dates"] = {"from": window.since.isoformat() if window.since else None,
                        "to": window.until.isoformat() if window.until else None}
    if team is not None or agent is not None:
        out["slice"] = {"team": team, "agent": agent}
    if lift:
        if adoption_date is None and settings.adoption_date is not None:
            adoption_date, adoption_source = settings.adoption_date, "loopmeter.toml"
        out["lift"] = log_lift(df, adoption_date, cluster=settings.cluster, seed=seed, n_boot=n_boot,
                               source=adoption_source or "given")
        out["verdict"] = log_verdict(out["lift"])
    return out


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def is_loop(entry: dict) -> bool:
    """Whether a report's `event_logs` entry is measured as a loop (Jira logs, whose items are
    issues with their own flow metrics, and empty logs are not)."""
    return not str(entry.get("format", "")).startswith("jira") and bool(entry.get("cases"))


def with_loops(store: Store, logs: list[dict], settings_for, *, days: int, as_of: datetime | None = None,
               adoption=None, since: date | None = None, until: date | None = None, seed: int = 0,
               n_boot: int = 2000, team: str | None = None, agent: str | None = None, engine=None) -> list[dict]:
    """The report's `event_logs` entries with each loop's keys added. `adoption(name, configured)`
    gives a log's (date, source) (lift/loop_adoption.py `LoopAdoption.date_for`). With a `team` or
    `agent` slice, a log that cannot be cut by it gets `left_out` (why) instead."""
    for entry in logs:
        if not is_loop(entry):
            continue
        settings = settings_for(entry["name"])
        day, source = adoption(entry["name"], settings.adoption_date) if adoption else (None, None)
        entry.update(log_loop(store, entry["name"], settings, LogWindow(days, as_of, since, until),
                              adoption_date=day, adoption_source=source, seed=seed, n_boot=n_boot,
                              team=team, agent=agent, engine=engine))
    return logs
