"""The terminal summary: Rich tables over the report document."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.table import Table

from .control_chars import replace_control


def withheld(entry: dict) -> str | None:
    """`lift.verdict.withheld`, imported on first use: every command imports `escape` from here,
    and the lift's modules would load the statistics libraries (scipy) for `ingest` too."""
    from ..lift.verdict import withheld as _withheld

    return _withheld(entry)


def escape(text: str) -> str:
    """Rich markup escaped and terminal control characters (ESC above all, report/control_chars.py)
    shown as U+FFFD: repository text is data."""
    return _markup_escape(replace_control(str(text)))


# An organisation's report names hundreds of repositories: past these counts the per-repository
# table, the legibility lines and the warnings are summed up, so the answer is not scrolled away.
REPO_ROWS = 20
LEGIBILITY_LINES = 5
WARNING_LINES = 10


def _f(v, digits: int = 1, suffix: str = "") -> str:
    if v is None:
        return "unknown"
    if isinstance(v, float):
        return f"{v:,.{digits}f}{suffix}"
    return f"{v:,}{suffix}"


def _hours(h) -> str:
    if h is None:
        return "unknown"
    if h < 48:
        return f"{h:,.1f} h"
    return f"{h / 24:,.1f} d"


_METRIC_LABELS = {
    "cycle_time_hours_p50": "cycle time, median",
    "cycle_time_hours_p85": "cycle time, p85",
    "validated_throughput_per_contributor_week": "validated changes per contributor-week",
}


def with_empty_weeks(weekly: list[dict]) -> list[dict]:
    """The weekly rows with a zero row for each week between them that had no change (the document
    lists only weeks with activity; a table that skips weeks reads as if nothing was missing)."""
    from datetime import date, timedelta

    out: list[dict] = []
    for r in weekly:
        if out:
            d = date.fromisoformat(out[-1]["week_start"]) + timedelta(days=7)
            end = date.fromisoformat(r["week_start"])
            while d < end:
                iso = d.isocalendar()
                out.append({"week": f"{iso[0]}-W{iso[1]:02d}", "week_start": d.isoformat(), "changes": 0,
                            "validated": 0, "pending": 0, "ai_assisted": 0, "contributors": 0,
                            "validated_per_contributor": None, "complete": True, "cycle_p50_hours": None})
                d += timedelta(days=7)
        out.append(r)
    return out


def render_event_logs(report: dict, console: Console) -> None:
    logs = report.get("event_logs") or []
    if not logs:
        return
    et = Table(title="event logs (case duration: first to last event)", title_justify="left")
    for col in ("log", "format", "cases", "events", "p50", "p85", "skipped rows"):
        et.add_column(col, justify="left" if col in ("log", "format", "skipped rows") else "right")
    for g in logs:
        d, sk = g["case_duration_hours"], g["skipped_rows"]
        why = ", ".join(f"{n:,} {escape(r)}" for r, n in sk["reasons"].items())
        et.add_row(escape(g["name"]), escape(g["format"]), _f(g["cases"]), _f(g["events"]), _hours(d["p50"]),
                   _hours(d["p85"]), f"{sk['count']:,}" + (f" ({why})" if why else ""))
    console.print(et)
    from .loop_view import log_rows

    loops = log_rows(report)
    if not loops:
        return
    lt = Table(title="work loops (cycle time from the start to the end activity)", title_justify="left")
    for col in ("log", "done", "open", "cycle p50", "p85", "weeks", "validated / week", "waiting share",
                "AI-handled", "adoption"):
        lt.add_column(col, justify="left" if col in ("log", "adoption") else "right")
    for r in loops:
        n = r.numbers
        lt.add_row(escape(r.name), _f(n["done"]), _f(n["open"]), _hours(n["cycle_p50_hours"]),
                   _hours(n["cycle_p85_hours"]), _f(n["weeks"]), _f(n["validated_per_week"], 2), _pct(n["waiting_share"]),
                   _pct(n["ai_share"]), escape(r.adoption or "none found"))
    console.print(lt)
    _loop_verdicts(loops, logs, console, "lift --log {name} for the detail")


def _loop_verdicts(rows, entries: list[dict], console: Console, detail: str | None) -> None:
    """Each loop's verdict block (lift/loop_verdict.py), under its name and the slice it is about:
    the document's entries as they are, so `lift --log` prints the same lines."""
    verdicts = {str(e.get("name")): e.get("verdict") for e in entries}
    for r in rows:
        if not verdicts.get(r.name):
            continue
        said = f"loopmeter {detail.format(name=r.name)}" + (" over the whole log" if r.dates else "") if detail else ""
        cut = f"{r.dates}" if r.dates else ""
        note = "; ".join(x for x in (cut, said) if x)
        console.print(f"[bold]{escape(r.name)}[/bold]" + (f" [dim]({escape(note)})[/dim]" if note else ""))
        render_verdict(verdicts[r.name], console)


def _minutes(m) -> str:
    if m is None:
        return "unknown"
    return _hours(m / 60) if m >= 120 else f"{m:,.1f} min"


def render_experiments(report: dict, console: Console) -> None:
    """The MLflow experiment loops: runs a week, run length, the wait for the next run, failures,
    agent-launched runs, then each experiment's verdict (the same rows as the HTML page's)."""
    from .loop_view import experiment_rows

    rows = experiment_rows(report)
    if not rows:
        return
    t = Table(title="experiment loops (MLflow runs; turnaround: a run's end to the next run's start)",
              title_justify="left")
    for col in ("experiment", "runs", "weeks", "runs / week", "run p50", "p85", "turnaround p50", "p85", "failed",
                "agent-launched", "improvements", "adoption"):
        t.add_column(col, justify="left" if col in ("experiment", "adoption") else "right")
    for r in rows:
        n = r.numbers
        t.add_row(escape(r.name), _f(n["runs"]), _f(n["weeks"]), _f(n["runs_per_week"], 2), _minutes(n["run_p50_minutes"]),
                  _minutes(n["run_p85_minutes"]), _minutes(n["turnaround_p50_minutes"]),
                  _minutes(n["turnaround_p85_minutes"]), _pct(n["failed_share"]), _pct(n["agent_share"]),
                  "—" if n["improvements"] is None else _f(n["improvements"]), escape(r.adoption or "none found"))
    console.print(t)
    _loop_verdicts(rows, report.get("experiments") or [], console, None)


_SECTIONS = {"event_logs": "event log", "experiments": "experiment", "incidents": "incidents"}


def render_left_out(report: dict, console: Console) -> None:
    """The loops a --repo/--team/--agent slice could not cut, each with why (metrics/loop_slice.py):
    left out of the slice, and said so, rather than shown whole under a filter they ignore."""
    for x in report.get("left_out") or []:
        what = _SECTIONS.get(str(x.get("section")), str(x.get("section")))
        name = "" if x.get("section") == "incidents" else f" {escape(str(x.get('name')))}"
        console.print(f"[yellow]left out of this slice:[/yellow] {escape(what)}{name}: {escape(str(x.get('why')))}",
                      highlight=False)


_STATUS_STYLE = {"improved": "green", "worsened": "red", "no_detectable_change": "yellow",
                 "not_enough_data": "dim", "inconsistent": "magenta"}


def render_verdict(entries: list[dict] | None, console: Console) -> None:
    """The verdict block (lift/verdict.py): one line per question, coloured by status, before any
    detail, so the first thing a reader sees is what the data lets them conclude."""
    if not entries:
        return
    console.print("[bold]verdict[/bold] [dim](one line per question; the detail follows)[/dim]")
    for e in entries:
        status = str(e.get("status"))
        style = _STATUS_STYLE.get(status, "white")
        console.print(f"  [{style}]{escape(status.replace('_', ' ')):<21}[/{style}] "
                      f"[bold]{escape(str(e.get('title') or e.get('question')))}[/bold]: {escape(str(e.get('sentence')))}")
    console.print()


def render_repos(repos: list[dict], console: Console) -> None:
    """The per-repository table: every repository's full name (folded, never cut: "which repository"
    is what the table answers), and past REPO_ROWS the ones with most changes and one row for the rest."""
    shown, rest = repos, []
    title = "per repository"
    if len(repos) > REPO_ROWS:
        ranked = sorted(repos, key=lambda r: (-r["totals"]["changes"], r["repo"]))
        shown, rest = ranked[:REPO_ROWS], ranked[REPO_ROWS:]
        title = f"per repository (the {REPO_ROWS} with most changes of {len(repos):,})"
    rt = Table(title=title, title_justify="left")
    for col in ("repo", "commits", "changes", "validated", "AI-assisted", "contributors"):
        rt.add_column(col, justify="left" if col == "repo" else "right", overflow="fold" if col == "repo" else "ellipsis")
    keys = ("commits", "changes", "validated_changes", "ai_assisted_changes")
    for r in shown:
        x = r["totals"]
        rt.add_row(escape(r["repo"]), *(_f(x[k]) for k in keys), _f(x["contributors"]))
    if rest:
        # People work in several repositories: their count does not add up, so it is left out.
        rt.add_row(f"{len(rest):,} more", *(_f(sum(r["totals"][k] for r in rest)) for k in keys), "—", style="dim")
    console.print(rt)


def render_legibility(cards: dict | None, console: Console, summary: dict | None = None) -> None:
    """One line per repository's scorecard; past LEGIBILITY_LINES (or when the report carries only
    the summary, past legibility/summary.CARDS repositories) one line for the set: the median and
    the three least legible repositories, then the checks that fail most often."""
    scored = [(repo, card) for repo, card in (cards or {}).items() if card is not None and card.get("effective_agency")]
    if cards is not None and len(scored) <= LEGIBILITY_LINES:
        for repo, card in scored:
            console.print(f"[bold]agent legibility of {escape(repo)}:[/bold] {card['score']:g}/10, limited by "
                          f"{escape(card['limiting_question'])} ({card['effective_agency']['score']:g}/10); "
                          f"`loopmeter legibility {escape(card['path'])}` for details")
        return
    if not summary or not summary.get("scored"):
        return
    console.print(f"[bold]agent legibility of {summary['scored']:,} repositories:[/bold] median "
                  f"{summary['score']['median']:g}/10; least legible "
                  + ", ".join(f"{escape(w['repo'])} {w['score']:g}/10 (limited by {escape(w['limiting_question'])})"
                              for w in summary["worst"][:3])
                  + "; `loopmeter legibility PATH` for one repository's details")
    failing = [c for c in summary["checks"] if c["missing"]][:3]
    if failing:
        from ..legibility.summary import FULL_LIST  # here: the package would load the store's stack at start-up

        console.print("  most often missing: " + "; ".join(
            f"{escape(c['title'])} ({c['missing']:,} of {summary['scored']:,})" for c in failing)
            + f"; every scorecard: `{escape(FULL_LIST)}`")


def render_terminal(report: dict, console: Console, *, weeks: int = 8) -> None:
    if "totals" not in report:  # no git history: trackers, CI, agent sessions, event logs only
        render_flow(report.get("flow"), console)
        render_agent_loops(report.get("agent_loops"), console)
        render_event_logs(report, console)
        render_experiments(report, console)
        render_left_out(report, console)
        return
    render_verdict(report.get("verdict"), console)
    t = report["totals"]
    a = report["attribution"]
    share = a.get("ai_share_lower_bound")
    head = Table(title="loopmeter summary", show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column(justify="right")
    head.add_row("commits on HEAD", _f(t["commits"]))
    head.add_row("changes landed", _f(t["changes"]))
    head.add_row(f"validated (not reverted within {report['window_days']} d)", _f(t["validated_changes"]))
    head.add_row("pending (younger than the window)", _f(t["pending_changes"]))
    head.add_row("reverted", _f(t["reverted_changes"]))
    head.add_row("AI-assisted changes", f"{_f(t['ai_assisted_changes'])}  (at least {share:.1%})" if share is not None else _f(t["ai_assisted_changes"]))
    head.add_row("bot changes (left out of comparisons)", _f(t["bot_changes"]))
    head.add_row("contributors", _f(t["contributors"]))
    c = report["cycle_time_hours"]
    head.add_row("cycle time p50 / p85", f"{_hours(c['p50'])} / {_hours(c['p85'])}  (n={c['n']:,}, unknown {c['unknown']:,})")
    if t.get("changes_with_pr_commits") or t.get("squash_changes_without_pr_commits"):
        head.add_row(
            "squash merges with / without PR commits",
            f"{t['changes_with_pr_commits']:,} / {t['squash_changes_without_pr_commits']:,}",
        )
    console.print(head)

    if len(report["repos"]) > 1:
        render_repos(report["repos"], console)

    if a["changes_by_agent"]:
        at = Table(title="changes by agent", title_justify="left")
        at.add_column("agent")
        at.add_column("changes (at least)", justify="right")
        for agent, n in a["changes_by_agent"].items():
            at.add_row(escape(agent), _f(n))
        console.print(at)
    if a.get("changes_not_counted"):
        console.print(f"{_f(a['changes_not_counted'])} changes rest only on evidence that is not counted as AI "
                      f"(classes {', '.join(c for c in ('suggestion', 'message') if c not in a.get('ai_classes', ()))}: "
                      "an accepted AI review suggestion, an AI-written message)", style="dim")
    if a.get("automation_accounts"):
        top = ", ".join(f"{escape(b['name'] or b['email'])} ({_f(b['changes'])})" for b in a["automation_accounts"][:5])
        console.print(f"automation accounts (left out of comparisons): {top}", style="dim")

    rows = with_empty_weeks(report["weekly"])[-weeks:]
    partial = any(r.get("partial") for r in rows)
    wk = Table(title=f"last {weeks} weeks", title_justify="left",
               caption="* partial week (as_of falls inside it)" if partial else None, caption_justify="left")
    for col in ("week", "changes", "validated", "pending", "AI", "people", "per person", "cycle p50"):
        wk.add_column(col, justify="left" if col == "week" else "right", no_wrap=True)
    for r in rows:
        wk.add_row(r["week"] + ("*" if r.get("partial") else ""), _f(r["changes"]), _f(r["validated"]), _f(r["pending"]),
                   _f(r["ai_assisted"]), _f(r["contributors"]),
                   ("—" if not r.get("contributors") else _f(r["validated_per_contributor"], 2))
                   if r.get("complete", True) else "pending",
                   _hours(r["cycle_p50_hours"]) if r["changes"] else "—")
    console.print(wk)

    ad = report["adoption"]
    per = ad.get("per_repo") or ad.get("per_team")
    when = escape(ad["date"]) if ad.get("date") else (
        ", ".join(f"{escape(str(k))} {escape(str(v or 'none'))}" for k, v in per.items()) if per else "not found")
    console.print(
        f"[bold]AI adoption:[/bold] {when}"
        + (f" ({escape(ad['source'])})" if ad.get("source") else "")
        + (f"; {ad['exposure_after']:.0%} of non-bot changes since then AI-assisted"
           if ad.get("exposure_after") is not None else "")
        + ("; stands on " + ", ".join(f"{escape(e['agent'])} {escape(e['class'])} ({e['changes_in_first_4_weeks']} changes in "
                                      "its first 4 weeks)" for e in ad["evidence"][:2] if e["changes_in_first_4_weeks"])
           if any(e.get("changes_in_first_4_weeks") for e in ad.get("evidence") or []) else "")
        + f" [dim]rule: {escape(ad['rule'])}[/dim]"
    )
    # Ratios of medians and rates: not the verdict's estimators, and the title says so, since the
    # same questions' verdict numbers stand above (a reader saw 0.79x there and 0.91x here).
    lt = Table(title="lift by ratio of medians and of rates (95% CI, authors resampled; the verdict above uses "
               "its own estimator)", title_justify="left")
    for col in ("#", "metric", "comparison", "ratio", "95% CI", "n (a / b)"):
        lt.add_column(col, justify="right" if col in ("ratio", "n (a / b)", "#") else "left")
    from .lift_text import not_a_verdict

    notes = []
    for i, e in enumerate(report["lift"], 1):
        ci = f"[{e['ci_low']:.2f}, {e['ci_high']:.2f}]" if e.get("ci_low") is not None and e.get("ci_high") is not None else "—"
        ratio = f"{e['ratio']:.2f}x" if e.get("ratio") is not None else "no estimate"
        why = withheld(e)
        if why:  # never a result from fewer values than the minimum, or from a zero-width interval
            ratio, ci = "not shown", why
        label = None if why or e.get("ratio") is None else not_a_verdict(
            report.get("verdict"), None, e.get("metric"), comparison=e.get("comparison"))
        if label:  # the verdict found too little data: the number stays, greyed, never bare
            ratio = f"{ratio} (not a verdict)"
        lt.add_row(str(i), escape(_METRIC_LABELS.get(e["metric"], e["metric"])), escape(e["comparison"]), ratio, ci,
                   f"{e['n_a']:,} / {e['n_b']:,}", style="dim" if label else None)
        notes.append((i, ([label] if label else []) + list(e.get("caveats", []))))
    console.print(lt)
    # Each caveat once, with the rows it applies to: the same five caveats under every row buried
    # the table (issue 11). A not-a-verdict label comes first, not dimmed.
    rows_of: dict[str, list[int]] = {}
    for i, caveats in notes:
        for c in caveats:
            rows_of.setdefault(c, []).append(i)
    for c, rows in rows_of.items():
        console.print(f"  [dim]({', '.join(map(str, rows))})[/dim] " + (f"[bold]{escape(c)}[/bold]" if c.startswith(
            "Not a verdict") else escape(c)), highlight=False)
    render_flow(report.get("flow"), console)
    render_legibility(report.get("legibility"), console, report.get("legibility_summary"))
    render_event_logs(report, console)
    render_experiments(report, console)
    render_left_out(report, console)
    _lift_designs(report.get("lift_designs"), console, report.get("verdict"))
    warnings = report.get("warnings", [])
    for w in warnings[:WARNING_LINES]:
        console.print(f"[yellow]warning:[/yellow] {escape(w)}")
    if len(warnings) > WARNING_LINES:
        console.print(f"[yellow]warning:[/yellow] and {len(warnings) - WARNING_LINES:,} more (all of them under "
                      "\"warnings\" in `loopmeter report --json` and in the HTML report)")
    render_agent_loops(report.get("agent_loops"), console)


def _dur(h) -> str:
    """Hours as in the summary, but minutes below an hour (CI latencies are minutes)."""
    if h is not None and h < 1:
        return f"{h * 60:,.0f} min"
    return _hours(h)


def _pct(v) -> str:
    return "unknown" if v is None else f"{v:.1%}"


def render_flow(flow: dict | None, console: Console) -> None:
    """A few lines per part of the `flow` key (pull requests, waiting, DORA, issues, CI)."""
    if not flow:
        return
    t = Table(title="flow (pull requests, deployments, issues, CI)", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    pr = flow.get("pr_cycle")
    if pr:
        ph = pr["phases_hours"]
        t.add_row("PR cycle, median per phase",
                  " · ".join(f"{p} {_dur(ph[p]['p50'])}" for p in ("coding", "draft", "pickup", "review", "deploy")))
        t.add_row("pull requests merged", f"{pr['merged']:,} ({pr['merged_without_review']:,} without review, "
                  f"{pr['deployed']:,} deployed)")
    w = flow.get("waiting_on_humans")
    labels = (("review_requested", "review requested"), ("approved_not_merged", "approved, not merged"),
              ("ci_green_not_merged", "CI green, not merged"))
    if w:
        st = w["states"]
        t.add_row("waiting on humans, median (merged) / total",
                  " · ".join(f"{label} {_dur(st[k]['p50'])} / {_dur(st[k]['total_hours'])} ({st[k]['prs']:,} PRs)"
                             for k, label in labels))
        if w.get("censored", {}).get("prs"):
            t.add_row("", f"totals include {w['censored']['prs']:,} PRs still open, counted up to as_of")
    wn = flow.get("waiting_now")
    if wn:
        ns = wn["states"]
        t.add_row("waiting now (open PRs): count, median age / oldest",
                  " · ".join(f"{label} {ns[k]['prs']:,}" + (f": {_dur(ns[k]['p50_hours'])} / {_dur(ns[k]['oldest_hours'])}"
                                                            if ns[k]["prs"] else "") for k, label in labels))
        for r in wn["longest"][:3]:
            number = "" if r["number"] is None else f"#{r['number']}"
            who = r["author"] + (", AI-assisted" if r["group"] == "ai" else "") + (", draft" if r.get("draft") else "")
            t.add_row("  waiting longest", escape(f"{_dur(r['hours'])} {r['state'].replace('_', ' ')}: "
                                                  f"{r['repo']}{number} {r['title'] or ''} ({who})"))
    d = flow.get("dora")
    if d:
        f, cfr = d["deployment_frequency"], d["change_failure_rate"]
        t.add_row("deployment days per week",
                  f"{_f(f['days_per_week'], 2)} ({f['deployments']:,} production deployments over {_f(f['weeks'])} weeks)")
        t.add_row("lead time for changes p50 / p85",
                  f"{_dur(d['lead_time_hours']['p50'])} / {_dur(d['lead_time_hours']['p85'])} (n={d['lead_time_hours']['n']:,})")
        t.add_row("change failure rate",
                  f"{_pct(cfr['rate'])} ({cfr['failed']:,} of {cfr['judged']:,}; {cfr['pending']:,} pending; "
                  f"window {d['failure_window_hours']:g} h, incidents: {escape(d['incident_rule'])})")
        r = d["recovery_hours"]
        t.add_row("failed-deployment recovery p50", f"{_dur(r['p50'])} (n={r['n']:,}, {r['unrecovered']:,} not recovered)")
    i = flow.get("issues")
    if i:
        b = i["bug_fix"]
        t.add_row("bug fix: reported -> merged / shipped, median",
                  f"{_dur(b['fix_hours']['p50'])} / {_dur(b['shipped_hours']['p50'])} ({b['fixed']:,} of {b['bugs']:,} bugs fixed)")
        t.add_row("ticket cycle p50 / p85",
                  f"{_dur(i['ticket_cycle_hours']['p50'])} / {_dur(i['ticket_cycle_hours']['p85'])} (n={i['ticket_cycle_hours']['n']:,})")
        t.add_row("reopen rate", f"{_pct(i['reopen']['rate'])} ({i['reopen']['reopened']:,} of {i['reopen']['closed']:,} closed)")
    c = flow.get("ci")
    if c:
        lat, dur = c["feedback_latency_hours"], c["duration_hours"]
        t.add_row("CI feedback latency p50 / p85", f"{_dur(lat['p50'])} / {_dur(lat['p85'])} (n={lat['n']:,} pushes)")
        t.add_row("CI run duration p50 / p85", f"{_dur(dur['p50'])} / {_dur(dur['p85'])}")
        t.add_row("flaky (fail, then pass on the same commit)",
                  f"{_pct(c['flaky']['share'])} ({c['flaky']['flaky']:,} of {c['flaky']['pairs']:,} commit-workflows)")
    console.print(t)


def render_agent_loops(loops: dict | None, console: Console) -> None:
    """Agent sessions in a few lines: how the loops ran and what a validated change cost."""
    if not loops:
        return
    if loops.get("sessions"):
        ps = loops["per_session"]

        def p(key: str, digits: int = 0) -> str:
            d = ps.get(key) or {}
            if d.get("p50") is None:
                return "—"
            return f"{d['p50']:.{digits}f} / {d['p85']:.{digits}f}"

        t = Table(title=f"agent loops ({loops['sessions']:,} sessions; p50 / p85 per session)", title_justify="left",
                  show_header=False)
        t.add_column(style="bold")
        t.add_column(justify="right")
        t.add_row("by agent", escape(", ".join(f"{k} {v:,}" for k, v in loops.get("by_agent", {}).items())))
        t.add_row("active minutes", p("active_minutes", 1))
        t.add_row("tool calls", p("tool_calls"))
        t.add_row("failed tool calls", p("failed_tool_calls"))
        t.add_row("human interventions (turns after the first)", p("interventions"))
        t.add_row("time to first green test run, minutes", p("time_to_green_minutes", 1)
                  + f"  ({loops.get('sessions_reaching_green', 0):,} of {loops.get('sessions_with_test_runs', 0):,} sessions with test runs)")
        if loops.get("cost_usd") is not None:
            t.add_row("cost, USD (sessions that report it)", f"{loops['cost_usd']:,.2f}")
        pv = loops.get("per_validated_change") or {}
        for g in pv.get("by_mode", []):
            cost = g.get("cost_per_validated_change")
            hours = g.get("active_hours_per_validated_change")
            t.add_row(
                f"per validated change, {escape(g['mode'])} sessions",
                f"{'$' + format(cost, ',.2f') if cost is not None else 'cost unknown'}, "
                f"{format(hours, '.2f') + ' active h' if hours is not None else 'active time unknown'} "
                f"({g['validated_changes']:,} validated of {g['changes']:,} linked)",
            )
        console.print(t)
    for u in loops.get("usage_reports", []):
        console.print(
            f"[bold]usage report[/bold] {escape(str(u['source']))} ({escape(str(u['agent']))}): {u.get('days') or 0:.0f} days, "
            f"{u.get('actors') or 0:.0f} people, sessions {_f(u.get('sessions'))}, lines added {_f(u.get('lines_added'))}"
            + (f", cost ${u['cost_usd']:,.2f}" if u.get("cost_usd") is not None else "")
        )


def _verdict_estimators(verdict: list | None) -> dict[tuple[str, str], str]:
    """(design, metric) -> the estimator the verdict's headline on that question used."""
    out: dict[tuple[str, str], str] = {}
    entries = [e for e in verdict or [] if isinstance(e, dict) and (e.get("headline") or {}).get("estimator")]
    if entries:
        from ..lift.verdict import QUESTIONS  # only when there is a verdict to agree with (loads scipy)

        for e in entries:
            q = QUESTIONS.get(str(e.get("question")))
            if q is not None:
                out[(q["design"], q["metric"])] = e["headline"]["estimator"]
    return out


def _head_rows(design: dict, verdict_uses: dict[tuple[str, str], str]) -> list[dict]:
    """One row per metric of a design: the verdict's own estimator where the verdict answers that
    question (a different estimator here gave a second, unexplained number beside the verdict's:
    1.86x in the verdict, 2.24x by medians on OpenHands), else the ratio of medians or of rates."""
    rows = design.get("results", [])
    heads = []
    for metric in dict.fromkeys(r.get("metric") for r in rows):
        mine = [r for r in rows if r.get("metric") == metric]
        want = verdict_uses.get((design.get("design"), metric))
        pick = [r for r in mine if want and r.get("estimator") == want] or [
            r for r in mine if r.get("estimator") in ("ratio_of_medians", "ratio_of_rates")]
        heads.extend(pick[:1])
    return heads


def _lift_designs(ld: dict | None, console: Console, verdict: list | None = None) -> None:
    """One line per headline estimate of each design, with how far the alternatives range; a line
    whose question the verdict found too little data for says so first (`not_a_verdict`)."""
    from .lift_text import estimator_name, not_a_verdict, sentence, short_metric

    if (ld or {}).get("teams"):
        per = (ld.get("adoption") or {}).get("per_team") or {}
        console.print(f"[bold]lift per team[/bold] ({escape(str(ld.get('unit')))}; --by repo for per repository): "
                      + ", ".join(f"{escape(str(t['team']))} {t['changes']:,} changes by {t['authors']:,} authors, "
                                  f"adopted {escape(str(per.get(t['team']) or 'none found'))}" for t in ld["teams"]))
    verdict_uses = _verdict_estimators(verdict)
    for d in (ld or {}).get("designs", []):
        heads = _head_rows(d, verdict_uses)
        if not heads:
            continue
        console.print(f"[bold]lift, {escape(d.get('design', ''))}[/bold] (every estimator: loopmeter lift "
                      f"--design {escape(d.get('design', ''))})")
        for r in heads:
            n = len(r.get("caveats") or [])
            why = withheld(r)
            text = f"{estimator_name(r.get('estimator'), r)}: not shown, {why}" if why else sentence(r)
            label = None if why else not_a_verdict(verdict, d.get("design"), r.get("metric"))
            if label:
                text = f"[bold]{escape(label)}:[/bold] [dim]{escape(text)}[/dim]"
            else:
                text = escape(text)
            console.print(f"  {text}  [dim]{n} caveat{'' if n == 1 else 's'}[/dim]")
        for metric, x in (d.get("specification_range") or {}).items():
            if x:
                label = not_a_verdict(verdict, d.get("design"), metric)
                console.print(f"  [dim]{escape(label + ': ') if label else ''}{escape(short_metric(metric))}: {x['min']:.2f}x to "
                              f"{x['max']:.2f}x across {x['n']} estimators, windows and periods[/dim]")
        render_per_unit(d.get("per_unit"), console)


def render_per_unit(rows: list[dict] | None, console: Console) -> None:
    """The before/after design per repository (or team): each one's weight in the pooled estimate
    and its own ratios, so "which repository?" has an answer beside the pooled one."""
    if not rows or len(rows) < 2:
        return
    key = "team" if "team" in rows[0] else "repo"
    more = f"; the {REPO_ROWS} largest of {len(rows):,}" if len(rows) > REPO_ROWS else ""
    t = Table(title=f"  per {'team' if key == 'team' else 'repository'}: changes before / after with a known cycle "
                    "time, each one's share of the pooled comparison, and its own ratio after / before of median "
                    f"cycle time and of validated changes per contributor-week (points, no intervals{more})",
              title_justify="left")
    for col in (key, "changes", "share", "cycle", "share ", "per week"):
        t.add_column(col.strip(), justify="left" if col == key else "right",
                     overflow="fold" if col == key else "ellipsis", no_wrap=col != key)

    def share(x):
        return "—" if x is None else f"{x:.0%}"

    def ratio(x):
        return "—" if x is None else f"{x:.2f}x"

    for r in rows[:REPO_ROWS]:
        t.add_row(escape(str(r[key])), f"{r['changes_before']:,} / {r['changes_after']:,}",
                  share(r["cycle_weight"]), ratio(r["cycle_ratio"]), share(r["throughput_weight"]),
                  ratio(r["throughput_ratio"]))
    console.print(t)
