"""Agent loops: what agent sessions did, and what a validated change cost in agent time and money.

Reads the canonical tables only: `items` of kind `agent_session` (their summaries in `attrs`), the
`session_of` links to changes, and the daily `agent_usage` reports. Definitions are in
docs/metrics.md ("Agent loops"); tests pin each one on hand-worked sessions.
"""

from __future__ import annotations

import ibis

from . import portable
from .changes import Window, changes
from .quantiles import quantile

_NUMERIC = ("user_turns", "interventions", "tool_calls", "failed_tool_calls", "test_runs", "passed_test_runs",
            "time_to_green_seconds", "tokens_in", "tokens_out", "cost_usd", "active_seconds")


def sessions(con, window: Window):
    """One row per agent session started up to `as_of`, its summary fields as columns."""
    items = con.table("items")
    s = items.filter((items.kind == "agent_session") & (items.started_at <= ibis.timestamp(window.as_of)))
    attrs = portable.json_column(s.attrs)
    cols = {k: attrs[k].float for k in _NUMERIC}
    return s.select(
        item_id=s.item_id, source=s.source, repo=s.repo, started_at=s.started_at, done_at=s.done_at,
        agent=attrs["agent"].str, week=s.started_at.truncate("W").cast("date"), **cols,
    )


def _dist(t, column: str) -> dict:
    col = t[column]
    return {"n": col.count(), "p50": quantile(col, 0.5), "p85": quantile(col, 0.85), "mean": col.mean()}


def _plain(value):
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return None if f != f else f


def _count(value):
    """A sum or count of whole things as an int (SQL sums of JSON numbers come back as floats)."""
    f = _plain(value)
    return None if f is None else int(round(f))


def _per(total, n: int) -> float | None:
    """A total shared over n validated changes; None when either is unknown or n is 0."""
    total = _plain(total)
    return total / n if n and total is not None else None


def _week(value) -> str:
    """A week as its Monday's ISO date, as docs/json-report.md shows it."""
    return value.date().isoformat() if hasattr(value, "date") else str(value)[:10]


def agent_loops(con, window: Window, repos: list[str] | None = None) -> dict | None:
    """The `agent_loops` part of the report, or None when the store holds no agent data."""
    s = sessions(con, window)
    usage = con.table("agent_usage")
    n_sessions = con.execute(s.count())
    n_usage = con.execute(usage.count())
    if not n_sessions and not n_usage:
        return None
    out: dict = {"sessions": int(n_sessions)}
    if n_sessions:
        by_agent = con.execute(s.group_by("agent").agg(n=s.count()).order_by("agent"))
        out["by_agent"] = {r.agent or "unknown": int(r.n) for r in by_agent.itertuples()}
        s2 = s.mutate(active_minutes=s.active_seconds / 60.0, time_to_green_minutes=s.time_to_green_seconds / 60.0)
        keys = ("tool_calls", "failed_tool_calls", "interventions", "test_runs", "active_minutes",
                "time_to_green_minutes", "cost_usd")
        stats = {k: _dist(s2, k) for k in keys}
        row = con.execute(
            s2.aggregate(**{f"{k}_{m}": v for k, d in stats.items() for m, v in d.items()},
                         with_tests=(s2.test_runs > 0).sum(), green=s2.time_to_green_seconds.notnull().sum(),
                         with_interventions=(s2.interventions > 0).sum(),
                         failed_share=s2.failed_tool_calls.sum() / s2.tool_calls.sum().nullif(0),
                         tokens_in=s2.tokens_in.sum(), tokens_out=s2.tokens_out.sum(), cost=s2.cost_usd.sum())
        ).iloc[0]
        out["per_session"] = {
            k: {m: (_count if m == "n" else _plain)(row[f"{k}_{m}"]) for m in ("n", "p50", "p85", "mean")} for k in stats
        }
        out["sessions_with_test_runs"] = int(row["with_tests"] or 0)
        out["sessions_reaching_green"] = int(row["green"] or 0)
        out["sessions_with_interventions"] = int(row["with_interventions"] or 0)
        out["failed_tool_call_share"] = _plain(row["failed_share"])
        out["tokens_in"] = _count(row["tokens_in"])
        out["tokens_out"] = _count(row["tokens_out"])
        out["cost_usd"] = _plain(row["cost"])
        weekly = con.execute(
            s.group_by("week").agg(
                sessions=s.count(), active_hours=(s.active_seconds.sum() / 3600.0),
                tool_calls=s.tool_calls.sum(), failed_tool_calls=s.failed_tool_calls.sum(),
                interventions=s.interventions.sum(), cost_usd=s.cost_usd.sum(),
            ).order_by("week")
        )
        out["weekly"] = [
            {"week": _week(r.week),
             **{k: _count(getattr(r, k)) for k in ("sessions", "tool_calls", "failed_tool_calls", "interventions")},
             **{k: _plain(getattr(r, k)) for k in ("active_hours", "cost_usd")}}
            for r in weekly.itertuples()
        ]
        ttg = con.execute(s.filter(s.time_to_green_seconds.notnull()).select(m=s.time_to_green_seconds / 60.0).order_by("m"))
        out["time_to_green_minutes"] = [float(x) for x in ttg["m"]]
        out["per_validated_change"] = _per_validated_change(con, window, s, repos)
    if n_usage:
        u = usage
        agg = con.execute(u.group_by(["source", "agent"]).agg(
            days=u.day.nunique(), actors=u.actor_id.nunique(where=u.actor_id != ""),
            sessions=u.sessions.sum(), lines_added=u.lines_added.sum(), commits=u.commits.sum(),
            pull_requests=u.pull_requests.sum(), cost_usd=u.cost_usd.sum(),
            tokens_in=u.tokens_in.sum(), tokens_out=u.tokens_out.sum(),
        ).order_by(["source", "agent"]))
        out["usage_reports"] = [
            {k: (getattr(r, k) if k in ("source", "agent") else _plain(getattr(r, k)) if k == "cost_usd"
                 else _count(getattr(r, k))) for k in agg.columns}
            for r in agg.itertuples()
        ]
    return out


def _per_validated_change(con, window: Window, s, repos: list[str] | None) -> dict:
    """Cost and active time of the sessions linked to changes, per validated change.

    A session linked to several changes is shared between them equally, so a session's cost is
    counted once in total. Split by how the session ran: `autonomous` (no human turn after the
    first) or `interactive`."""
    links = con.table("session_links")
    ch = changes(con, window, repos).select("item_id", "validated", "reverted", "week")
    per_session = links.group_by(ls="session_item").agg(n_changes=links.count())
    joined = (
        links.join(per_session, links.session_item == per_session.ls)
        .join(s, links.session_item == s.item_id)
        .join(ch, links.change_item == ch.item_id)
    )
    share = 1.0 / joined.n_changes.cast("float64")
    j = joined.mutate(
        mode=ibis.ifelse(joined.interventions > 0, "interactive", "autonomous"),
        cost_share=joined.cost_usd * share, active_share=joined.active_seconds * share,
    )
    rows = con.execute(j.group_by("mode").agg(
        sessions=j.item_id.nunique(), changes=j.change_item.nunique(),
        validated=j.change_item.nunique(where=j.validated),
        reverted=j.change_item.nunique(where=j.reverted),
        cost_usd=j.cost_share.sum(), active_hours=j.active_share.sum() / 3600.0,
    ).order_by("mode"))
    groups = []
    for r in rows.itertuples():
        v = int(r.validated)
        groups.append({
            "mode": r.mode, "sessions": int(r.sessions), "changes": int(r.changes), "validated_changes": v,
            "reverted_changes": int(r.reverted), "cost_usd": _plain(r.cost_usd), "active_hours": _plain(r.active_hours),
            "cost_per_validated_change": _per(r.cost_usd, v),
            "active_hours_per_validated_change": _per(r.active_hours, v),
        })
    weekly = con.execute(j.group_by("week").agg(
        validated=j.change_item.nunique(where=j.validated), cost_usd=j.cost_share.sum(),
        active_hours=j.active_share.sum() / 3600.0,
    ).order_by("week"))
    return {
        "linked_sessions": int(con.execute(links.session_item.nunique())),
        "linked_changes": int(con.execute(links.change_item.nunique())),
        "by_mode": groups,
        "weekly": [
            {"week": _week(r.week), "validated_changes": int(r.validated),
             "cost_per_validated_change": _per(r.cost_usd, int(r.validated)),
             "active_hours_per_validated_change": _per(r.active_hours, int(r.validated))}
            for r in weekly.itertuples()
        ],
    }
