"""The `flow` part of the report: PR cycle phases, waiting on humans, DORA keys, issues and CI.

Each part is computed only when the store holds the kinds of items it needs (pull requests,
deployments, issues, CI runs), and is null otherwise; `flow` itself is null when every part is.
Everything reads the canonical tables only (docs/design.md "the shared vocabulary"), never knowing
which source wrote a row.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import ibis
import ibis.expr.types as ir

from . import portable
from . import ci as ci_m
from . import deploys, dora, issues, pr_cycle, waiting
from .dora import FailureRule
from .quantiles import quantile
from .summary import _num

GROUPS = ("human", "ai")
_STRETCHES = "_lm_flow_stretches"  # the waiting stretches, kept once per report (waiting_parts)


def _f(v) -> float | None:
    v = _num(v)
    return None if v is None else float(v)


def dists(con, t: ir.Table, cols: tuple[str, ...] | list[str]) -> dict[str, dict]:
    """p50 / p85 / n / total of each column's known (non-null) values, in one query."""
    aggs = {}
    for i, col in enumerate(cols):
        aggs[f"p50_{i}"] = quantile(t[col], 0.5)
        aggs[f"p85_{i}"] = quantile(t[col], 0.85)
        aggs[f"n_{i}"] = t[col].count()
        aggs[f"sum_{i}"] = t[col].sum()
    r = con.execute(t.aggregate(**aggs)).iloc[0]
    return {col: {"p50": _f(r[f"p50_{i}"]), "p85": _f(r[f"p85_{i}"]), "n": int(_num(r[f"n_{i}"]) or 0),
                  "total": _f(r[f"sum_{i}"]) or 0.0} for i, col in enumerate(cols)}


def _dist_aggs(t: ir.Table, cols, key: str, where: ir.BooleanValue | None = None) -> dict[str, ir.Value]:
    """The aggregates of `dists` for `cols` over the rows `where` holds (all when None), named under
    `key`, to be folded into one query with other figures of the same table: on Spark each query
    is a job of its own (seconds each on a loaded machine), so a part asks for all its figures of
    one table at once. A quantile over the values `where` keeps is the quantile of that subset
    (every engine's exact percentile skips nulls)."""
    aggs = {}
    for i, col in enumerate(cols):
        v = t[col] if where is None else ibis.ifelse(where, t[col], ibis.null()).cast(t[col].type())
        aggs |= {f"{key}_p50_{i}": quantile(v, 0.5), f"{key}_p85_{i}": quantile(v, 0.85),
                 f"{key}_n_{i}": v.count(), f"{key}_sum_{i}": v.sum()}
    return aggs


def _read_dists(r, cols, key: str) -> dict[str, dict]:
    """`dists`' result from a row holding `_dist_aggs(t, cols, key)`."""
    return {col: {"p50": _f(r[f"{key}_p50_{i}"]), "p85": _f(r[f"{key}_p85_{i}"]),
                  "n": int(_num(r[f"{key}_n_{i}"]) or 0), "total": _f(r[f"{key}_sum_{i}"]) or 0.0}
            for i, col in enumerate(cols)}


def _pq(d: dict) -> dict:
    return {"p50": d["p50"], "p85": d["p85"], "n": d["n"]}


def dist(con, t: ir.Table, col: str) -> dict:
    """p50 / p85 / n of a column's known (non-null) values."""
    d = dists(con, t, [col])[col]
    return {"p50": d["p50"], "p85": d["p85"], "n": d["n"]}


def materialize(scratch: portable.Scratch, t: ir.Table, name: str) -> ir.Table:
    """Compute an intermediate table once and keep it on the engine: each later aggregate then
    compiles a small query instead of the whole derivation again (Ibis compile time dominated)."""
    return scratch.keep(name, t)


def _week(v) -> tuple[str, str]:
    d = v.date() if hasattr(v, "date") else v
    iso = d.isocalendar()
    return f"{iso[0]}-W{iso[1]:02d}", d.isoformat()


# -- parts ------------------------------------------------------------------------------------


def _weekly_by_group(con, t: ir.Table, count: str, values: dict[str, ir.Value],
                     missing: float | None = None) -> list[dict]:
    """One entry a (week, author group), oldest first: the week, how many rows (under `count`) and each
    of `values` (a value that is unknown, as in a week without any, becomes `missing`)."""
    wk = t.group_by(["week", "author_group"]).agg(**{count: t.count()}, **values).order_by(["week", "author_group"])
    weekly = []
    for row in con.execute(wk).itertuples(index=False):
        label, start = _week(row.week)
        e = {"week": label, "week_start": start, "group": row.author_group, count: int(getattr(row, count))}
        for name in values:
            v = _f(getattr(row, name))
            e[name] = missing if v is None else v
        weekly.append(e)
    return weekly


def pr_cycle_part(con, prs: ir.Table) -> dict | None:
    phases_ = pr_cycle.PHASES
    nb = prs.author_group != "bot"
    merged = nb & prs.merged
    # Every figure over the pull requests in one query (counts, and the phases of all merged
    # non-bot PRs and of each author group's), then the weekly series.
    aggs = {"pull_requests": nb.sum(), "bot": (~nb).sum(), "merged": merged.sum(),
            "without_review": (merged & ~prs.reviewed).sum(), "deployed": (merged & prs.deployed_at.notnull()).sum(),
            **_dist_aggs(prs, phases_, "all", merged)}
    for g in GROUPS:
        in_g = merged & (prs.author_group == g)
        aggs |= {f"merged_{g}": in_g.sum(), **_dist_aggs(prs, phases_, g, in_g)}
    r = con.execute(prs.aggregate(**aggs)).iloc[0]
    if int(_num(r["pull_requests"]) or 0) + int(_num(r["bot"]) or 0) == 0:
        return None
    n_merged = int(_num(r["merged"]) or 0)
    phases = {p: {**_pq(d), "unknown": n_merged - d["n"]} for p, d in _read_dists(r, phases_, "all").items()}
    by_group = {g: {"merged": int(_num(r[f"merged_{g}"]) or 0),
                    **{p: _pq(d) for p, d in _read_dists(r, phases_, g).items()}} for g in GROUPS}
    m = prs.filter(merged)
    weekly = _weekly_by_group(con, m, "merged", {f"{p}_p50": quantile(m[p], 0.5) for p in phases_})
    return {
        "pull_requests": int(_num(r["pull_requests"]) or 0),
        "bot_pull_requests": int(_num(r["bot"]) or 0),
        "merged": n_merged,
        "merged_without_review": int(_num(r["without_review"]) or 0),
        "deployed": int(_num(r["deployed"]) or 0),
        "phases_hours": phases,
        "by_group": by_group,
        "weekly": weekly,
    }


def waiting_parts(con, scratch: portable.Scratch, prs: ir.Table, as_of: datetime, items: str = "items",
                  show_names: bool = False) -> tuple[dict | None, dict | None]:
    """`waiting_on_humans` and `waiting_now`, over non-bot pull requests merged by as_of or still
    open then (their stretches censored at as_of)."""
    # The stretches once (the costliest derivation on Spark), read by the per-PR and weekly hours.
    scratch.keep(_STRETCHES, portable.sql(con, waiting.stretches_sql(as_of, items)))
    w = waiting.waiting(con, as_of, items, _STRETCHES)
    nb = prs.filter(prs.author_group != "bot")
    t = materialize(scratch, nb.join(w, nb.item_id == w.item_id).filter(nb.merged | w.open_now).select(
        nb.item_id, "repo", "title", "author_id", w.number, "week", "author_group", "merged", "open_now", "draft_now",
        *waiting.STATES, *(f"{s}_now" for s in waiting.STATES),
    ), "_lm_flow_waiting")
    stats = _waiting_stats(con, t)
    if stats["all"]["rows"] == 0:
        return None, None
    return waiting_part(con, t, stats, as_of, items), waiting_now_part(con, t, stats, show_names)


def _waiting_stats(con, t: ir.Table) -> dict[str, dict]:
    """Every figure both waiting parts need, for all PRs and per author group, in one query (one
    aggregate per group, state and figure; each separate query would cost an Ibis compile, and on
    Spark a job)."""
    def only(cond: ir.BooleanValue | None, col: ir.Value) -> ir.Value:
        return col if cond is None else ibis.ifelse(cond, col, ibis.null()).cast("float64")

    def aggs_of(key: str, where: ir.BooleanValue | None) -> dict[str, ir.Value]:
        rows = t.count() if where is None else where.sum()
        out: dict[str, ir.Value] = {f"{key}rows": rows, f"{key}open": only(where, t.open_now.cast("float64")).sum()}
        for i, s in enumerate(waiting.STATES):
            col = only(where, t[s].cast("float64"))
            done, cen, now = only(t.merged, col), only(t.open_now, col), only(where, t[f"{s}_now"].cast("float64"))
            out |= {f"{key}total_{i}": col.sum(), f"{key}n_{i}": col.count(),
                    # Percentiles over merged PRs only: an open PR's hours are a lower bound (censored),
                    # and mixing lower bounds in would move them with how many PRs happen to be open.
                    f"{key}p50_{i}": quantile(done, 0.5), f"{key}p85_{i}": quantile(done, 0.85),
                    f"{key}ctotal_{i}": cen.sum(), f"{key}cn_{i}": cen.count(),
                    f"{key}now_n_{i}": now.count(), f"{key}now_p50_{i}": quantile(now, 0.5),
                    f"{key}now_max_{i}": now.max()}
        return out

    def read(r, key: str) -> dict:
        out: dict = {"rows": int(_num(r[f"{key}rows"]) or 0), "open": int(_num(r[f"{key}open"]) or 0)}
        for i, s in enumerate(waiting.STATES):
            out[s] = {k: (int(_num(r[f"{key}{k}_{i}"]) or 0) if k.endswith("n") else _f(r[f"{key}{k}_{i}"]))
                      for k in ("total", "n", "p50", "p85", "ctotal", "cn", "now_n", "now_p50", "now_max")}
        return out

    aggs = aggs_of("all_", None)
    for g in GROUPS:
        aggs |= aggs_of(f"{g}_", t.author_group == g)
    r = con.execute(t.aggregate(**aggs)).iloc[0]
    # A group without PRs reads as zeros and unknowns.
    return {"all": read(r, "all_"), **{g: read(r, f"{g}_") for g in GROUPS}}


def waiting_part(con, t: ir.Table, stats: dict[str, dict], as_of: datetime, items: str) -> dict:
    """Hours per state up to as_of (open PRs' censored there), percentiles over merged PRs, and
    weekly hours in the weeks they passed (waiting.weekly_sql splits stretches at Mondays)."""
    def states(st: dict) -> dict:
        return {s: {"total_hours": st[s]["total"] or 0.0, "prs": st[s]["n"], "p50": st[s]["p50"], "p85": st[s]["p85"]}
                for s in waiting.STATES}

    wk = portable.sql(con, waiting.weekly_sql(as_of, items, _STRETCHES))
    wt = wk.join(t.select("item_id", "author_group"), "item_id")
    weekly = _weekly_by_group(con, wt, "prs", {f"{s}_hours": wt[s].sum() for s in waiting.STATES}, missing=0.0)
    a = stats["all"]
    return {
        "prs": a["rows"],
        "states": states(a),
        "by_group": {g: states(stats[g]) for g in GROUPS},
        "censored": {"prs": a["open"],
                     "states": {s: {"total_hours": a[s]["ctotal"] or 0.0, "prs": a[s]["cn"]} for s in waiting.STATES}},
        "weekly": weekly,
    }


LONGEST = 10  # how many of the longest-waiting open pull requests `waiting_now` lists


def waiting_now_part(con, t: ir.Table, stats: dict[str, dict], show_names: bool = False) -> dict:
    """The open non-bot pull requests in each waiting state at as_of, with the age of the stretch
    they are in (p50, oldest), and the longest-waiting of them (authors pseudonymous unless
    `show_names`)."""
    from ..report.document import display_name  # the report's one pseudonymising rule

    def states(st: dict) -> dict:
        return {s: {"prs": st[s]["now_n"], "p50_hours": st[s]["now_p50"], "oldest_hours": st[s]["now_max"]}
                for s in waiting.STATES}

    now = [f"{s}_now" for s in waiting.STATES]
    op = t.filter(t.open_now & ibis.coalesce(*(t[c] for c in now)).notnull())
    rows = con.execute(op.select("repo", "number", "title", "author_id", "author_group", "draft_now", *now)
                       ).to_dict("records")
    ids = sorted({r["author_id"] for r in rows if isinstance(r["author_id"], str)})
    actors = con.table("actors")
    kinds = {r["actor_id"]: (r["name"], r["kind"]) for r in con.execute(
        actors.filter(actors.actor_id.isin(ids)).select("actor_id", "name", "kind")).to_dict("records")} if ids else {}
    waits = []
    for r in rows:
        hours = {s: h for s in waiting.STATES if (h := _f(r[f"{s}_now"])) is not None}
        state = max(hours, key=lambda s: (hours[s], -waiting.STATES.index(s)))
        name, kind = kinds.get(r["author_id"], (None, None))
        waits.append({"repo": r["repo"], "number": None if _num(r["number"]) is None else int(r["number"]),
                      "title": r["title"], "author": display_name(r["author_id"], name, kind, show_names),
                      "group": r["author_group"], "state": state, "hours": hours[state],
                      "states": list(hours), "draft": bool(r["draft_now"])})
    waits.sort(key=lambda x: (-x["hours"], x["repo"] or "", x["number"] or 0))
    return {
        "open_prs": stats["all"]["open"],
        "waiting_prs": len(waits),
        "states": states(stats["all"]),
        "by_group": {g: states(stats[g]) for g in GROUPS},
        "longest": waits[:LONGEST],
    }


def dora_part(con, scratch: portable.Scratch, prs: ir.Table | None, as_of: datetime, rule: FailureRule,
              items: str = "items") -> dict | None:
    d = materialize(scratch, dora.deployments(con, as_of, rule, items), "_lm_flow_deployments")
    # Every figure over the deployments in one query (see _dist_aggs), then the weekly series.
    failure = d.verdict.isin(["failed", "failed_attempt"])
    r = con.execute(d.aggregate(
        rows=d.count(), deployments=d.ok.sum(), days=d.day.nunique(where=d.ok),
        first=d.week.min(where=d.ok), last=d.week.max(where=d.ok),
        unrecovered=(failure & d.recovered_at.isnull()).sum(),
        **{f"verdict_{v}": (d.verdict == v).sum() for v in dora.VERDICTS},
        **_dist_aggs(d, ["recovery"], "rec", failure))).iloc[0]
    if int(_num(r["rows"]) or 0) == 0:
        return None
    n_ok = int(_num(r["deployments"]) or 0)
    weeks = None
    if n_ok:
        first, last = r["first"], r["last"]
        weeks = round((last - first).days / 7) + 1
    verdicts = {v: int(_num(r[f"verdict_{v}"]) or 0) for v in dora.VERDICTS}
    failed, judged = verdicts.get("failed", 0), verdicts.get("failed", 0) + verdicts.get("ok", 0)
    rec = _pq(_read_dists(r, ["recovery"], "rec")["recovery"])
    rec["unrecovered"] = int(_num(r["unrecovered"]) or 0)
    wk = d.group_by("week").agg(
        deployments=d.ok.sum(), deployment_days=d.day.nunique(where=d.ok),
        failed=(d.verdict == "failed").sum(), failed_attempts=(d.verdict == "failed_attempt").sum(),
    ).order_by("week")
    weekly = []
    for row in con.execute(wk).itertuples(index=False):
        label, start = _week(row.week)
        week = {"week": label, "week_start": start, "deployments": int(row.deployments),
                "deployment_days": int(_num(row.deployment_days) or 0), "failed": int(row.failed),
                "failed_attempts": int(row.failed_attempts)}
        # A week without deployments is a zero, not a gap: frequency is counted over every week.
        while weekly and date.fromisoformat(weekly[-1]["week_start"]) + timedelta(days=7) < date.fromisoformat(start):
            nxt = date.fromisoformat(weekly[-1]["week_start"]) + timedelta(days=7)
            wl, ws = _week(nxt)
            weekly.append({"week": wl, "week_start": ws, "deployments": 0, "deployment_days": 0, "failed": 0,
                           "failed_attempts": 0})
        weekly.append(week)
    # Lead time over pull requests and the git changes no pull request stands for.
    leads = portable.sql(con, dora.change_leads_sql(as_of, items)).select("lead")
    if prs is not None:
        leads = leads.union(prs.filter(prs.merged & (prs.author_group != "bot")).select("lead"), distinct=False)
    lead = dist(con, leads, "lead")
    days = int(_num(r["days"]) or 0)
    return {
        "failure_window_hours": float(rule.window_hours),
        "incident_rule": rule.incident_rule,
        "deployment_frequency": {
            "deployments": n_ok, "deployment_days": days, "weeks": weeks,
            "days_per_week": (days / weeks) if weeks else None,
        },
        "lead_time_hours": lead,
        "change_failure_rate": {
            "rate": (failed / judged) if judged else None, "failed": failed, "judged": judged,
            "pending": verdicts.get("pending", 0),
        },
        "failed_attempts": verdicts.get("failed_attempt", 0),
        "recovery_hours": rec,
        "weekly": weekly,
    }


def ci_part(con, scratch: portable.Scratch, as_of: datetime, items: str = "items") -> dict | None:
    r = materialize(scratch, ci_m.runs(con, as_of, items), "_lm_flow_runs")
    runs = con.execute(r.aggregate(n=r.count(), **_dist_aggs(r, ["duration"], "d"))).iloc[0]
    n_runs = int(_num(runs["n"]) or 0)
    if n_runs == 0:
        return None
    fb = materialize(scratch, ci_m.feedback(r), "_lm_flow_feedback")
    fl = materialize(scratch, ci_m.flaky(con, "_lm_flow_runs"), "_lm_flow_flaky")
    shas = con.execute(fb.aggregate(n=fb.count(), **_dist_aggs(fb, ["latency"], "l"))).iloc[0]
    pairs = con.execute(fl.aggregate(n=fl.count(), flaky=fl.flaky.sum())).iloc[0]
    n_pairs, n_flaky = int(_num(pairs["n"]) or 0), int(_num(pairs["flaky"]) or 0)
    mc = con.execute(ci_m.merge_ci(con, as_of, items).group_by("ci").agg(n=ibis._.count()))
    merge = {row.ci: int(row.n) for row in mc.itertuples(index=False)}
    flw = fl.mutate(week=fl.pushed_at.truncate("W").cast("date")).group_by("week").agg(
        pairs=ibis._.count(), flaky=ibis._.flaky.sum())
    fbw = fb.group_by("week").agg(shas=fb.count(), latency_p50=quantile(fb.latency, 0.5))
    j = fbw.left_join(flw, fbw.week == flw.week).select(
        fbw.week, fbw.shas, fbw.latency_p50, pairs=flw.pairs.fill_null(0), flaky=flw.flaky.fill_null(0)
    ).order_by("week")
    weekly = []
    for row in con.execute(j).itertuples(index=False):
        label, start = _week(row.week)
        weekly.append({"week": label, "week_start": start, "shas": int(row.shas),
                       "latency_p50_hours": _f(row.latency_p50), "flaky": int(_num(row.flaky) or 0),
                       "verdict_pairs": int(_num(row.pairs) or 0)})
    return {
        "runs": n_runs,
        "shas": int(_num(shas["n"]) or 0),
        "feedback_latency_hours": _pq(_read_dists(shas, ["latency"], "l")["latency"]),
        "duration_hours": _pq(_read_dists(runs, ["duration"], "d")["duration"]),
        "flaky": {"pairs": n_pairs, "flaky": n_flaky, "share": (n_flaky / n_pairs) if n_pairs else None},
        "merge_ci": {"passed": merge.get("passed", 0), "failed": merge.get("failed", 0)},
        "weekly": weekly,
    }


def issues_part(con, scratch: portable.Scratch, as_of: datetime, items: str = "items") -> dict | None:
    b = portable.sql(con, issues.bugs_sql(as_of, items))
    spans = ["fix_hours", "shipped_hours"]
    r = con.execute(b.aggregate(bugs=b.count(), fixed=b.fixed_at.notnull().sum(), **_dist_aggs(b, spans, "b"))).iloc[0]
    t = portable.sql(con, issues.tickets_sql(as_of, items))
    t = t.filter((t.last_cat == "done") & t.started_at.notnull() & (t.done_at >= t.started_at))
    t = t.mutate(cycle=(t.done_at.epoch_seconds() - t.started_at.epoch_seconds()).cast("float64") / 3600.0)
    ro = portable.sql(con, issues.reopen_sql(as_of, items))
    o = con.execute(ro.aggregate(closed=ro.count(), reopened=ro.reopened.sum())).iloc[0]
    closed, reopened = int(_num(o["closed"]) or 0), int(_num(o["reopened"]) or 0)
    return {
        "bug_fix": {
            "bugs": int(_num(r["bugs"]) or 0), "fixed": int(_num(r["fixed"]) or 0),
            **{k: _pq(d) for k, d in _read_dists(r, spans, "b").items()},
        },
        "ticket_cycle_hours": dist(con, t, "cycle"),
        "reopen": {"closed": closed, "reopened": reopened, "rate": (reopened / closed) if closed else None},
    }


# -- the report key -----------------------------------------------------------------------------


def _scope(scratch: portable.Scratch, repos: list[str] | None) -> str:
    """The items a report on `repos` (git repository keys) may read, as a temporary view.

    A tracker or CI names its repository differently from git ("acme/api" vs "api"), so its items
    come in by sha: pull requests that are `same_as` a change of those repositories, and
    deployments, CI runs and releases of a commit of theirs; then every item of the tracker
    repositories found that way (issues included)."""
    if not repos:
        return "items"
    names = ", ".join("'" + r.replace("'", "''") + "'" for r in repos)
    return scratch.view("_lm_items", f"""
        with tracker as (
            select p.repo from items p join links l on l.src = p.item_id and l.kind = 'same_as'
            join items c on c.item_id = l.dst where c.repo in ({names})
            union
            select i.repo from items i join commits k on k.sha = json_extract_string(i.attrs, '$.sha')
            where i.kind in ('deployment', 'ci_run', 'release') and k.repo in ({names})
        )
        select * from items
        where repo in ({names}) or repo in (select repo from tracker)
    """)


# The item kinds the flow section reads; a store with none of them has no `flow` key.
_FLOW_KINDS = ("pull_request", "deployment", "issue", "incident", "ci_run")
FLOW_KINDS = "(" + ", ".join(f"'{k}'" for k in _FLOW_KINDS) + ")"  # as SQL


def flow(store, con, as_of: datetime, rule: FailureRule | None = None,
         repos: list[str] | None = None, show_names: bool = False) -> dict | None:
    """The `flow` key of the report document (docs/json-report.md), over the items of `repos`
    (git repository keys, and the tracker repositories linked to them) or the whole store. People
    it names are pseudonymous unless `show_names`.

    Everything runs on `con`, the engine of the report (DuckDB over the store, or Spark over the
    Parquet export), its intermediates named there (portable.Scratch); `store` is not read and is
    kept for the callers' sake."""
    rule = rule or FailureRule()
    scratch = portable.Scratch(con)
    try:
        items = _scope(scratch, repos)
        it = con.table(items)
        kinds = set(con.execute(it.filter(it.kind.isin(_FLOW_KINDS)).select("kind").distinct())["kind"])
        if not kinds:
            return None
        deploys.register_on(scratch, as_of, items)
        prs = (materialize(scratch, pr_cycle.pull_requests(con, as_of, items=items), "_lm_flow_prs")
               if "pull_request" in kinds else None)
        waits = waiting_parts(con, scratch, prs, as_of, items, show_names) if prs is not None else (None, None)
        parts = {
            "pr_cycle": pr_cycle_part(con, prs) if prs is not None else None,
            "waiting_on_humans": waits[0],
            "waiting_now": waits[1],
            "dora": dora_part(con, scratch, prs, as_of, rule, items) if "deployment" in kinds else None,
            "issues": issues_part(con, scratch, as_of, items) if kinds & {"issue", "incident"} else None,
            "ci": ci_part(con, scratch, as_of, items) if "ci_run" in kinds else None,
        }
    finally:
        # The intermediates live on the engine only while the report is computed.
        scratch.close()
    if all(v is None for v in parts.values()):
        return None
    return parts
