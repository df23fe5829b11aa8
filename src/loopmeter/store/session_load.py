"""Writing agent sessions, usage reports and OpenTelemetry data into the store.

Sessions are items of kind `agent_session` with their events (docs/design.md, the shared
vocabulary). Each file is written in one transaction with its record in `agent_files`, so a killed
ingest leaves every file either wholly in or wholly out, and a re-run replaces rather than adds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import duckdb

from ..attribution import Matcher
from ..sources.sessions.model import ParseReport, Session, UsageDay
from ..sources.sessions.otlp import LogRow, PointRow, ns_time
from .db import Store, transaction, utcnow
from .git_load import Identities

# Branch names that say nothing about which change a session worked on.
_SHARED_BRANCHES = ("main", "master", "trunk", "develop", "development", "HEAD")


def _identities(store: Store, matcher: Matcher | None) -> Identities:
    # The caller's matcher carries loopmeter.toml's signatures; the built-in ones are the fallback.
    return Identities(store.meta("salt") or "", matcher or Matcher.load())


def actor_id(ids: Identities, who: str | None, source: str) -> str | None:
    """Pseudonymous id for an email, or for a login / account id of `source`."""
    if not who:
        return None
    return ids.actor_id("", who if "@" in who else f"login:{who}@{source}")


def _save_actors(con: duckdb.DuckDBPyConnection, ids: Identities) -> None:
    for aid, kind, name, email, agent in ids.take_new():
        con.execute(
            "insert into actors (actor_id, kind, name, email, agent) select ?, ?, ?, ?, ? "
            "where not exists (select 1 from actors where actor_id = ?)",
            [aid, kind, name or None, email, agent, aid],
        )


def _session_attrs(s: Session, path: str | None) -> dict:
    return {
        "agent": s.agent, "cwd": s.cwd, "branches": sorted(s.branches), "commits": sorted(s.commits),
        "model": s.model, "user_turns": s.user_turns, "interventions": s.interventions,
        "tool_calls": s.tool_calls, "failed_tool_calls": s.failed_tool_calls, "test_runs": s.test_runs,
        "passed_test_runs": s.passed_test_runs, "time_to_green_seconds": s.time_to_green_seconds,
        "tokens_in": s.tokens_in, "tokens_out": s.tokens_out, "cost_usd": s.cost_usd,
        "active_seconds": s.active_seconds, "file": path,
        **({"text": s.kept_text} if s.kept_text else {}),
    }


def file_unchanged(store: Store, path: str, size: int, mtime_ns: int) -> bool:
    row = store.con.execute("select size, mtime_ns from agent_files where path = ?", [path]).fetchone()
    return row is not None and row[0] == size and row[1] == mtime_ns


def write_session_file(store: Store, path: str, fmt: str, size: int, mtime_ns: int,
                       sessions: list[Session], report: ParseReport, usage: list[UsageDay] = (),
                       matcher: Matcher | None = None) -> None:
    """Replace everything read earlier from `path` with what was read now, in one transaction."""
    ids = _identities(store, matcher)
    with transaction(store.con) as con:
        old = con.execute(
            "select item_id from items where kind = 'agent_session' and json_extract_string(attrs, '$.file') = ?", [path]
        ).fetchall()
        drop = sorted({r[0] for r in old} | {s.item_id for s in sessions})
        if drop:
            con.execute("delete from events where list_contains(?, item_id)", [drop])
            con.execute("delete from items where list_contains(?, item_id)", [drop])
        for s in sessions:
            aid = actor_id(ids, s.actor, s.source)
            con.execute(
                "insert into items (item_id, source, kind, created_at, started_at, done_at, state, author_id, attrs) "
                "values (?, ?, 'agent_session', ?, ?, ?, 'ended', ?, ?)",
                [s.item_id, s.source, s.started_at, s.started_at, s.ended_at, aid, json.dumps(_session_attrs(s, path))],
            )
            rows = [(s.item_id, s.started_at, "session_started", aid, None)]
            rows += [(s.item_id, e.ts, e.activity, aid, json.dumps(e.attrs) if e.attrs else None) for e in s.events]
            rows.append((s.item_id, s.ended_at, "session_ended", aid, None))
            con.executemany("insert into events (item_id, ts, activity, actor_id, attrs) values (?, ?, ?, ?, ?)", rows)
        _write_usage(con, ids, usage)
        _save_actors(con, ids)
        con.execute(
            "insert or replace into agent_files values (?, ?, ?, ?, ?, ?, ?, ?)",
            [path, fmt, size, mtime_ns, len(sessions), report.lines,
             json.dumps([{"line": n, "reason": r} for n, r in report.skipped]), utcnow()],
        )


_USAGE_COLUMNS = ("source", "day", "actor_id", "agent", "sessions", "prompts", "lines_added", "lines_deleted",
                  "commits", "pull_requests", "tokens_in", "tokens_out", "cost_usd", "active_seconds")
#: Rows per Arrow batch. One `insert or replace` per row kept a version of the table per row in
#: the transaction: ~1,500 rows ran DuckDB out of memory (issue 13). Batches keep it flat.
USAGE_BATCH = 10_000


def _write_usage(con: duckdb.DuckDBPyConnection, ids: Identities, usage: Iterable[UsageDay]) -> None:
    import pyarrow as pa

    # Last row wins per key, as `insert or replace` row by row did (a report may repeat a day).
    rows: dict[tuple, tuple] = {}
    for u in usage:
        aid = actor_id(ids, u.actor, "github" if u.source == "copilot-metrics" else u.source) or ""
        rows[(u.source, u.day, aid, u.agent)] = (
            u.source, u.day, aid, u.agent, u.sessions, u.prompts, u.lines_added, u.lines_deleted, u.commits,
            u.pull_requests, u.tokens_in, u.tokens_out, u.cost_usd, u.active_seconds)
    values = list(rows.values())
    rows.clear()
    schema = pa.schema([("source", pa.string()), ("day", pa.date32()), ("actor_id", pa.string()), ("agent", pa.string()),
                        *((c, pa.int64()) for c in _USAGE_COLUMNS[4:12]), ("cost_usd", pa.float64()),
                        ("active_seconds", pa.float64())])
    for start in range(0, len(values), USAGE_BATCH):
        chunk = values[start:start + USAGE_BATCH]
        batch = pa.table({c: [r[i] for r in chunk] for i, c in enumerate(_USAGE_COLUMNS)}, schema=schema)
        con.register("usage_batch", batch)
        try:
            con.execute(f"insert or replace into agent_usage select {', '.join(_USAGE_COLUMNS)} from usage_batch")
        finally:
            con.unregister("usage_batch")


# ------------------------------------------------------------------------------------ OpenTelemetry


def write_otel(store: Store, logs: list[LogRow], points: list[PointRow], *, source: str = "otel",
               matcher: Matcher | None = None) -> set[str]:
    """Store one OTLP request's rows; re-sent rows (exporter retries) are not counted twice.

    Returns the session item ids whose summaries were refreshed."""
    ids = _identities(store, matcher)
    touched: set[str] = set()
    with transaction(store.con) as con:
        for r in logs:
            item = f"{source}:{r.session_id}"
            touched.add(item)
            attrs = json.dumps(r.attrs, sort_keys=True) if r.attrs else None
            con.execute(
                "insert into events (item_id, ts, activity, actor_id, attrs) select ?, ?, ?, ?, ? where not exists (select 1 from events where item_id = ? "
                "and ts = ? and activity = ? and attrs is not distinct from ?::json)",
                [item, r.ts, r.activity, actor_id(ids, r.actor, source), attrs, item, r.ts, r.activity, attrs],
            )
        for p in points:
            if p.session_id:
                touched.add(f"{source}:{p.session_id}")
            con.execute(
                "insert or replace into otel_points values (?, ?, ?, ?, ?, ?, ?, ?)",
                [p.metric, p.session_id or "", p.series, p.start_ns, p.time_ns, p.value, p.cumulative,
                 actor_id(ids, p.actor, source)],
            )
        _save_actors(con, ids)
        for item in sorted(touched):
            _refresh_otel_session(con, item, source)
    return touched


# Per-session totals of a metric, per value of one point attribute: delta points add up; a
# cumulative series counts its last value (per start time, since a restarted exporter starts a new
# series), and the series' last values add up.
_METRIC_TOTALS = """
    with pts as (select *, json_extract_string(series, ?) k from otel_points where session_id = ? and metric = ?),
    last_cum as (select k, arg_max(value, time_ns) v from pts where cumulative group by k, series, start_ns)
    select k, sum(v) from (select k, value v from pts where not cumulative union all select k, v from last_cum)
    group by k
"""


def _metric_totals(con: duckdb.DuckDBPyConnection, session_id: str, metric: str, by: str = "none") -> dict:
    """{attribute value: total} of `metric` for a session; {} when no point was received."""
    rows = con.execute(_METRIC_TOTALS, [f"$.{by}", session_id, metric]).fetchall()
    return {k: float(v) for k, v in rows if v is not None}


def _metric_total(con: duckdb.DuckDBPyConnection, session_id: str, metric: str) -> float | None:
    totals = _metric_totals(con, session_id, metric)
    return sum(totals.values()) if totals else None


def _refresh_otel_session(con: duckdb.DuckDBPyConnection, item: str, source: str) -> None:
    sid = item.split(":", 1)[1]
    row = con.execute(
        """
        select min(ts), max(ts), any_value(actor_id),
               count(*) filter (where activity = 'user_turn'),
               count(*) filter (where activity = 'tool_call'),
               count(*) filter (where activity = 'tool_call' and json_extract(attrs, '$.ok') = 'false'::json),
               count(*) filter (where activity = 'test_run'),
               count(*) filter (where activity = 'test_run' and json_extract(attrs, '$.passed') = 'true'::json),
               min(ts) filter (where activity = 'test_run' and json_extract(attrs, '$.passed') = 'true'::json),
               sum(try_cast(json_extract_string(attrs, '$.cost_usd') as double)) filter (where activity = 'api_request'),
               sum(try_cast(json_extract_string(attrs, '$.input_tokens') as double)
                   + coalesce(try_cast(json_extract_string(attrs, '$.cache_read_tokens') as double), 0)
                   + coalesce(try_cast(json_extract_string(attrs, '$.cache_creation_tokens') as double), 0))
                   filter (where activity = 'api_request'),
               sum(try_cast(json_extract_string(attrs, '$.output_tokens') as double)) filter (where activity = 'api_request'),
               arg_max(json_extract_string(attrs, '$.model'), ts) filter (where activity = 'api_request')
        from events where item_id = ? and activity not in ('session_started', 'session_ended')
        """,
        [item],
    ).fetchone()
    first, last, actor, turns, tools, failed, tests, passed, green, cost, tin, tout, model = row
    pts = con.execute("select min(time_ns), max(time_ns), any_value(actor_id) from otel_points where session_id = ?", [sid]).fetchone()
    if pts[0] is not None:
        p_first, p_last = ns_time(pts[0]), ns_time(pts[1])
        first = p_first if first is None else min(first, p_first)
        last = p_last if last is None else max(last, p_last)
        actor = actor or pts[2]
    if first is None:
        return
    # The metrics are Claude Code's own accounting; events fill in when metrics were not exported.
    m_cost = _metric_total(con, sid, "claude_code.cost.usage")
    active = _metric_total(con, sid, "claude_code.active_time.total")
    by_type = _metric_totals(con, sid, "claude_code.token.usage", by="type")
    if by_type:
        tin = sum(v for t, v in by_type.items() if t in ("input", "cacheRead", "cacheCreation"))
        tout = by_type.get("output", 0)
    commits = _metric_total(con, sid, "claude_code.commit.count")
    prs = _metric_total(con, sid, "claude_code.pull_request.count")
    interventions = max(int(turns) - 1, 0)
    attrs = {
        "agent": "claude-code", "cwd": None, "branches": [], "commits": [], "model": model,
        "user_turns": int(turns), "interventions": interventions, "tool_calls": int(tools),
        "failed_tool_calls": int(failed), "test_runs": int(tests), "passed_test_runs": int(passed),
        "time_to_green_seconds": (green - first).total_seconds() if green is not None else None,
        "tokens_in": int(tin) if tin is not None else None, "tokens_out": int(tout) if tout is not None else None,
        "cost_usd": m_cost if m_cost is not None else cost, "active_seconds": active,
        "commits_reported": commits, "pull_requests_reported": prs, "file": None,
    }
    con.execute("delete from items where item_id = ?", [item])
    con.execute(
        "insert into items (item_id, source, kind, created_at, started_at, done_at, state, author_id, attrs) "
        "values (?, ?, 'agent_session', ?, ?, ?, 'open', ?, ?)",
        [item, source, first, first, last, actor, json.dumps(attrs)],
    )


# ------------------------------------------------------------------------------------ linking


def link_sessions(store: Store, *, slack_minutes: int = 60) -> int:
    """Rebuild the session -> change links; returns how many there are.

    Evidence, strongest first: a commit the session reported (`git commit` output) that is part of
    a change; a pull/merge request whose URL the session printed (`gh pr create`), landed as that
    change (its `same_as` link, from the GitHub/GitLab source); a branch the session worked on that a change was merged from (not main/master/...);
    a commit authored in the session's working directory between its start and `slack_minutes`
    after its end. Every link keeps its evidence in `session_links`.
    """
    con = store.con
    with transaction(con):
        con.execute("delete from links where kind = 'session_of'")
        con.execute("delete from session_links")
        con.execute(
            """
            insert into session_links
            with seen as (
                select distinct e.item_id s, json_extract_string(e.attrs, '$.sha') sha
                from events e join items i on i.item_id = e.item_id and i.kind = 'agent_session'
                where e.activity = 'commit_seen'
            ),
            by_commit as (
                select distinct seen.s, l.dst c, 'commit' ev
                from seen join commits k on starts_with(k.sha, seen.sha) and length(seen.sha) >= 7
                join links l on l.kind = 'part_of' and l.src = 'git:' || k.repo || ':commit:' || k.sha
            ),
            branches as (
                select i.item_id s, unnest(json_extract_string(i.attrs, '$.branches[*]')) b
                from items i where i.kind = 'agent_session'
            ),
            prs as (
                select distinct e.item_id s,
                    json_extract_string(e.attrs, '$.provider') || ':' || json_extract_string(e.attrs, '$.repo')
                    || (case json_extract_string(e.attrs, '$.provider') when 'gitlab' then ':mr:' else ':pr:' end)
                    || json_extract_string(e.attrs, '$.number') pr
                from events e join items i on i.item_id = e.item_id and i.kind = 'agent_session'
                where e.activity = 'pr_seen'
            ),
            by_pr as (
                select distinct prs.s, l.dst c, 'pull_request' ev
                from prs join links l on l.kind = 'same_as' and l.src = prs.pr
            ),
            -- Branch names recur (numpy merged 244 changes from "patch-1"): a session's branch is
            -- the first change merged from it at or after the session started, not every one.
            by_branch as (
                select s, c, 'branch' ev from (
                    select branches.s, ch.item_id c, row_number() over (
                        partition by branches.s, branches.b order by ch.done_at, ch.item_id) k
                    from branches join items i on i.item_id = branches.s
                    join items ch on ch.kind = 'change' and json_extract_string(ch.attrs, '$.branch') = branches.b
                      and ch.done_at >= i.started_at
                    where not list_contains(?, branches.b)
                ) where k = 1
            ),
            by_cwd as (
                select distinct i.item_id s, l.dst c, 'cwd_time' ev
                from items i join repos r
                  on json_extract_string(i.attrs, '$.cwd') = r.path
                  or starts_with(json_extract_string(i.attrs, '$.cwd'), r.path || '/')
                join commits k on k.repo = r.repo
                  and k.author_time between i.started_at and i.done_at + to_minutes(?::bigint)
                join links l on l.kind = 'part_of' and l.src = 'git:' || k.repo || ':commit:' || k.sha
                where i.kind = 'agent_session'
            ),
            ranked as (
                select s, c, ev, row_number() over (partition by s, c order by
                    case ev when 'commit' then 0 when 'pull_request' then 1 when 'branch' then 2 else 3 end) rn
                from (select * from by_commit union all select * from by_pr union all select * from by_branch
                      union all select * from by_cwd)
            )
            select s, c, ev from ranked where rn = 1
            """,
            [list(_SHARED_BRANCHES), slack_minutes],
        )
        con.execute("insert into links select session_item, change_item, 'session_of' from session_links")
        # A session that printed the change's commit or opened its pull request is the agent's own
        # record of the work: the change is AI-assisted (docs/attribution.md). Branch and
        # directory-and-time links are not evidence of authorship. Change derivation drops a
        # repository's change attributions, and this runs after it, so they are rebuilt here.
        con.execute("delete from attributions where evidence = 'session'")
        con.execute(
            """
            insert into attributions (item_id, agent, evidence, signal, confidence, evidence_class)
            select sl.change_item, coalesce(json_extract_string(s.attrs, '$.agent'), 'unknown'), 'session',
                   min(sl.evidence || ' seen in ' || sl.session_item), 1.0, 'authored'
            from session_links sl join items s on s.item_id = sl.session_item
            where sl.evidence in ('commit', 'pull_request')
            group by all
            """
        )
        con.execute(
            """
            update items set repo = x.repo from (
                select sl.session_item, any_value(ch.repo) repo from session_links sl
                join items ch on ch.item_id = sl.change_item group by sl.session_item
            ) x where items.item_id = x.session_item
            """
        )
        return con.execute("select count(*) from session_links").fetchone()[0]
