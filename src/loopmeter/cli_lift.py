"""`loopmeter lift`: one lift design, every estimator, the caveats that apply and the specification table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import api
from .cli import (
    AsOfOpt,
    DebugOpt,
    EngineOpt,
    JsonOpt,
    ParquetOpt,
    SeedOpt,
    StoreOpt,
    WindowOpt,
    _as_of,
    _date,
    _run,
    app,
)
from .errors import ConfigError
from .lift import names
from .report.lift_text import ci_text, estimator_name, not_a_verdict, sentence
from .report.terminal import escape, render_verdict, withheld
from .store.db import DEFAULT_STORE


@app.command()
def lift(
    design: Annotated[str, typer.Option("--design", help="before-after or ai-vs-human (ignored with --csv).")] = "before-after",
    adoption_date: Annotated[Optional[list[str]], typer.Option(
        "--adoption-date", help="YYYY-MM-DD for every repository, or REPO=YYYY-MM-DD (TEAM=YYYY-MM-DD with --by team; "
                                "repeatable); detected when omitted.")] = None,
    by: Annotated[str, typer.Option(
        "--by", help="repo, team or codeowners: the unit of adoption dates, fixed effects, the Simpson's check and "
                     "the staggered DiD (team: \\[\\[team]] in loopmeter.toml; codeowners: the CODEOWNERS team owning "
                     "most of a change's lines).")] = "repo",
    csv: Annotated[Optional[Path], typer.Option("--csv", help="A pilot's task table (CSV), one row per task.")] = None,
    duration: Annotated[Optional[str], typer.Option("--duration", help="CSV column with each task's duration.")] = None,
    start: Annotated[Optional[str], typer.Option("--start", help="CSV column with each task's start time.")] = None,
    end: Annotated[Optional[str], typer.Option("--end", help="CSV column with each task's end time.")] = None,
    treatment: Annotated[Optional[str], typer.Option("--treatment", help="CSV column saying which tasks were treated (two values).")] = None,
    treated: Annotated[Optional[str], typer.Option("--treated", help="The --treatment value of treated tasks, when it is not 0/1, yes/no, ...")] = None,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help="CSV column of clusters (person, team) for robust errors.")] = None,
    covariate: Annotated[Optional[list[str]], typer.Option(
        "--covariate", help="CSV column to adjust for; log:COL for its logarithm (repeatable).")] = None,
    log: Annotated[Optional[str], typer.Option(
        "--log", help="An ingested event log (--log-name): its cases before/after adoption (--adoption-date "
                      "LOG=YYYY-MM-DD, else \\[\\[log]] adoption_date, else detected) and AI-handled vs human.")] = None,
    experiment: Annotated[Optional[str], typer.Option(
        "--experiment", help="An ingested MLflow experiment (ingest --mlflow): run duration and turnaround "
                             "before/after adoption (--adoption-date NAME=YYYY-MM-DD, else detected) and "
                             "agent-launched vs human runs.")] = None,
    since: Annotated[Optional[str], typer.Option(
        "--from", metavar="YYYY-MM-DD", help="--log: only cases done on or after this day (UTC); --experiment: "
                                             "only runs started on or after it.")] = None,
    until: Annotated[Optional[str], typer.Option(
        "--to", metavar="YYYY-MM-DD", help="--log: only cases done on or before this day (UTC); --experiment: "
                                           "only runs started on or before it.")] = None,
    fixed_effect: Annotated[Optional[list[str]], typer.Option(
        "--fixed-effect", help="CSV column of a categorical fixed effect (repo, team, task type; repeatable).")] = None,
    randomization: Annotated[Optional[str], typer.Option(
        "--randomization", help="How the --csv arms were assigned: unit (each task at random), cluster (whole "
                                "--cluster values at random), none (not randomized). Unsaid: a caveat says it "
                                "is assumed.")] = None,
    duration_unit: Annotated[Optional[str], typer.Option(
        "--duration-unit", help="The unit of the --duration column (minutes, hours, days), said back in the "
                                "estimator labels.")] = None,
    panel: Annotated[Optional[Path], typer.Option(
        "--panel", help="A published panel (CSV, one row per unit and period) for staggered-adoption estimates.")] = None,
    unit: Annotated[Optional[str], typer.Option("--unit", help="--panel column of the unit (repository, team).")] = None,
    period: Annotated[Optional[str], typer.Option("--period", help="--panel column of the period.")] = None,
    outcome: Annotated[Optional[str], typer.Option("--outcome", help="--panel column of the outcome.")] = None,
    first_treated: Annotated[Optional[str], typer.Option(
        "--first-treated", help="--panel column of the period each unit adopted (empty or 'never': never).")] = None,
    estimator: Annotated[str, typer.Option(
        "--estimator", help="--panel: cs (Callaway-Sant'Anna), imputation (Borusyak-Jaravel-Spiess) or both.")] = "both",
    period_unit: Annotated[Optional[str], typer.Option(
        "--period-unit", help="--panel periods are dates of this unit: week, month or quarter (else integers).")] = None,
    anticipation: Annotated[int, typer.Option(
        "--anticipation", help="--panel: periods before adoption in which units may already react.")] = 0,
    log_outcome: Annotated[bool, typer.Option(
        "--log-outcome", help="--panel: estimate on log(outcome); effects reported as exp(beta) - 1.")] = False,
    control_group: Annotated[str, typer.Option(
        "--control-group", help="--panel, Callaway-Sant'Anna: not-yet-treated or never-treated.")] = "not-yet-treated",
    base_period: Annotated[str, typer.Option(
        "--base-period", help="--panel, Callaway-Sant'Anna: universal or varying.")] = "universal",
    better: Annotated[Optional[str], typer.Option(
        "--better", help="--panel: higher or lower, which way the outcome improves (for the verdict; "
                         "default higher).")] = None,
    failure_window: Annotated[Optional[float], typer.Option(
        "--failure-window", help="Hours after a production deployment in which a revert, hotfix or incident makes "
                                 "it a failed change (default 24, as in report).")] = None,
    incident_rule: Annotated[Optional[str], typer.Option(
        "--incident-rule", help="Which incidents fail a deployment: 'linked' (default) or 'repo', as in report.")] = None,
    store: StoreOpt = DEFAULT_STORE,
    repo: Annotated[Optional[list[str]], typer.Option("--repo", help="Only these repositories (repeatable).")] = None,
    window_days: WindowOpt = None,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
    engine: EngineOpt = "duckdb",
    from_parquet: ParquetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Estimate the lift of one design with several estimators, and say what could fool each number.

    Example: loopmeter lift --design before-after --adoption-date api=2025-03-01 --adoption-date web=2025-05-01

    Per team (loopmeter.toml \\[\\[team]]): loopmeter lift --by team --adoption-date payments=2025-03-01

    A published panel: loopmeter lift --panel panel.csv --unit repo --period month --outcome commits
    --first-treated adopted --period-unit month --log-outcome

    An event log: loopmeter lift --log servicedesk --adoption-date servicedesk=2025-03-01 --from 2025-01-01
    An MLflow experiment: loopmeter lift --experiment churn --adoption-date churn=2025-03-01
    A pilot: loopmeter lift --csv tasks.csv --duration minutes --duration-unit minutes --treatment arm --cluster dev
    --randomization cluster
    """

    def go():
        if log is not None and experiment is not None:
            raise ConfigError("--log and --experiment: give one loop at a time")
        if (since or until) and log is None and experiment is None:
            raise ConfigError(f"{'--from' if since else '--to'} cuts the cases of a --log or the runs of an "
                              "--experiment; for changes use loopmeter report --from/--to")
        if from_parquet is not None or engine != "duckdb":
            for name, value in (("--panel", panel), ("--csv", csv)):
                if value is not None:
                    raise ConfigError(f"--engine/--from-parquet run the designs over changes, a --log's cases or an "
                                      f"--experiment's runs; {name} does not read them")
        # The failure rule judges the store's deployments; a table or a log has none to judge.
        for name, value in (("--failure-window", failure_window), ("--incident-rule", incident_rule)):
            if value is not None and (panel is not None or csv is not None or log is not None or experiment is not None):
                raise ConfigError(f"{name} judges the store's deployments; it does not apply to --csv, --log, "
                                  "--experiment or --panel")
        if panel is not None:
            _panel(go_args=dict(path=panel, unit=unit, period=period, outcome=outcome, first_treated=first_treated,
                                covariates=covariate or (), estimator=estimator, period_unit=period_unit,
                                anticipation=anticipation, log_outcome=log_outcome,
                                control_group=control_group.replace("-", "_"), base_period=base_period, seed=seed,
                                better=better or "higher"),
                   as_json=as_json, stray=(("--csv", csv), ("--adoption-date", adoption_date), ("--repo", repo),
                                           ("--duration", duration), ("--treatment", treatment),
                                           ("--cluster", cluster), ("--fixed-effect", fixed_effect), ("--log", log),
                                           ("--experiment", experiment)))
            return
        for name, value in (("--unit", unit), ("--period", period), ("--outcome", outcome),
                            ("--first-treated", first_treated), ("--period-unit", period_unit),
                            ("--log-outcome", log_outcome), ("--anticipation", anticipation), ("--better", better)):
            if value:
                raise ConfigError(f"{name} describes a --panel file; give --panel FILE or leave it out")
        if log is not None or experiment is not None:
            _loop(log=log, experiment=experiment, adoption_date=adoption_date, since=_date(since, "--from"),
                  until=_date(until, "--to"), as_of=_as_of(as_of), window_days=window_days, seed=seed,
                  as_json=as_json, store=store, engine=engine, from_parquet=from_parquet,
                  stray=(("--csv", csv), ("--repo", repo), ("--by", by != "repo"), ("--design", design != "before-after"),
                         ("--duration", duration), ("--start", start), ("--end", end), ("--treatment", treatment),
                         ("--treated", treated), ("--cluster", cluster), ("--covariate", covariate),
                         ("--fixed-effect", fixed_effect), ("--randomization", randomization),
                         ("--duration-unit", duration_unit)))
            return
        if csv is None:
            for name, value in (("--duration", duration), ("--start", start), ("--end", end), ("--treatment", treatment),
                                ("--treated", treated), ("--cluster", cluster), ("--covariate", covariate),
                                ("--fixed-effect", fixed_effect), ("--randomization", randomization),
                                ("--duration-unit", duration_unit)):
                if value:
                    raise ConfigError(f"{name} describes a --csv table; give --csv FILE or leave it out")
        else:
            for name, value in (("--adoption-date", adoption_date), ("--repo", repo), ("--as-of", as_of),
                                ("--window-days", window_days), ("--by", by != "repo")):
                if value:
                    raise ConfigError(f"{name} applies to the designs over the store, not to a --csv table")
        if randomization is not None and randomization not in ("unit", "cluster", "none"):
            raise ConfigError(f"--randomization: {randomization!r} is not one of unit, cluster, none")
        doc = api.lift(
            store_path=store, design=design, adoption_dates=adoption_date, repos=repo or None, as_of=_as_of(as_of),
            window_days=window_days, seed=seed, csv_path=csv, duration=duration, start=start, end=end,
            treatment=treatment, treated=treated, cluster=cluster, covariates=covariate or (), by=by,
            **({} if csv is not None else {"failure_window_hours": 24.0 if failure_window is None else failure_window,
                                           "incident_rule": incident_rule or "linked"}),
            **({"randomization": randomization or "assumed", "fixed_effects": fixed_effect or (),
                "duration_unit": duration_unit} if csv is not None else {}),
            engine=engine, parquet=from_parquet,
        )
        if as_json:
            sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        else:
            render_lift(doc, Console())

    _run(debug, go)


# The metric column's names (lift/names.py spells the keys without loading the estimators).
_SHORT = {names.RUN: "run duration", names.TURNAROUND: "turnaround", names.CYCLE: "cycle time",
          names.LOG_THROUGHPUT: "validated cases/week", names.THROUGHPUT: "throughput/contrib-wk",
          names.DURATION: "task duration", names.WAITING: "waiting on humans"}


def estimator_label(r: dict) -> str:
    """The estimator's name; rank estimators on log durations say the duration's unit as the
    table gave it (a pilot's --duration-unit), never hours they were not."""
    name = estimator_name(r.get("estimator"), r)
    if "duration_unit" in r and "(log hours)" in name:
        unit = r.get("duration_unit")
        name = name.replace("(log hours)", f"(log {unit})" if unit else "(log durations)")
    return name


def _is_blind(r: dict) -> bool:
    # Only rows with an interval or p-value can overstate anything.
    has_inference = r.get("ci_low") is not None or r.get("ci_high") is not None or r.get("p_value") is not None
    return has_inference and r.get("clustered") is False


def _clustered_cell(r: dict) -> str:
    if r.get("clustered") is None:
        return "—"
    return "yes" if r["clustered"] else ("[yellow]no[/yellow]" if _is_blind(r) else "no")


def render_lift(doc: dict, console: Console, *, verdict: list | None = None, questions: dict | None = None) -> None:
    """The terminal view: one table of estimates, a sentence and the caveats for each, the checks
    that were run, and how far the estimate moves across the specification table. A row whose
    question the verdict (the document's, or a loop's `verdict` judged by `questions`) found too
    little data for keeps its number, greyed and labelled "Not a verdict"."""
    render_verdict(doc.get("verdict"), console)
    verdict = doc.get("verdict") if verdict is None else verdict

    def label(metric) -> str | None:
        return not_a_verdict(verdict, doc.get("design"), metric, questions=questions)

    console.print(f"[bold]lift: {escape(doc.get('design', ''))}[/bold]")
    adoption = doc.get("adoption") or {}
    per = adoption.get("per_repo") or adoption.get("per_team")
    if per:
        dates = ", ".join(f"{escape(r)} {escape(d or 'none')}" for r, d in per.items())
        console.print(f"adoption ({escape(adoption.get('source') or 'unknown')}): {dates}")
    for w in doc.get("team_warnings") or []:
        console.print(f"[yellow]{escape(w)}[/yellow]")
    if doc.get("teams"):
        shares = ", ".join(f"{escape(t['team'])} {t['changes']:,} changes by {t['authors']:,} "
                           f"author{'' if t['authors'] == 1 else 's'}" for t in doc["teams"])
        console.print(f"teams: {shares}")
    if doc.get("design") == "experiment":
        missing = (doc.get("missing_duration_rows") or {}).get("count") or 0
        console.print(f"{escape(str(doc.get('source')))}: {doc.get('rows', 0):,} rows, {missing:,} without a duration "
                      "(left out and counted)")
    t = Table(title="estimates (95% CI)", title_justify="left")
    for col in ("#", "metric", "estimator", "ratio", "95% CI", "p", "n (a / b)", "clusters", "clustered"):
        t.add_column(col, justify="right" if col in ("#", "ratio", "p", "n (a / b)", "clusters") else "left")
    # The waiting rows (where the store has pull requests) follow the cycle-time ones, numbered on.
    results = [*(doc.get("results") or []), *(doc.get("waiting") or [])]
    for i, r in enumerate(results, 1):
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "no estimate"
        p = r.get("p_value")
        ci = ci_text(r) if r.get("ratio") is not None else "—"
        why = withheld(r)
        if why:  # never a result from fewer values than the minimum, or from a zero-width interval
            ratio, ci, p = "not shown", why, None
        greyed = not why and r.get("ratio") is not None and label(r.get("metric")) is not None
        if greyed:
            ratio = f"{ratio} (not a verdict)"
        t.add_row(str(i), escape(_SHORT.get(r.get("metric", ""), r.get("metric", ""))),
                  escape(estimator_label(r)), ratio, ci, f"{p:.3g}" if p is not None else "—",
                  f"{r.get('n_a') or 0:,} / {r.get('n_b') or 0:,}", f"{r.get('n_clusters') or 0:,}",
                  _clustered_cell(r), style="dim" if greyed else None)
    console.print(t)
    for i, r in enumerate(results, 1):
        why = withheld(r)
        blind = (" (cluster-blind: the interval and p-value take rows as independent, so they overstate the "
                 "evidence when one person contributes many rows)") if _is_blind(r) and not why else ""
        marked = label(r.get("metric")) if not why and r.get("ratio") is not None else None
        console.print(f"[bold]({i})[/bold] " + (f"[bold]{escape(marked)}:[/bold] [dim]" if marked else "")
                      + escape(f"{estimator_label(r)}: not shown, {why}" if why else sentence(r)) + escape(blind)
                      + ("[/dim]" if marked else ""))
        for c in r.get("caveats") or []:
            console.print(f"    [yellow]caveat:[/yellow] {escape(c)}")
    checks = doc.get("checks") or []
    if checks:
        # A check counts as "checked and not found" only where it ran and never fired; one that
        # could not run is listed with the reason (never as a pass).
        def names(status):
            return {c["check"].replace("_", " ") for c in checks if c.get("status", "fired" if c.get("applies")
                                                                          else "not_fired") == status}
        fired, not_run = names("fired"), names("not_run")
        clear = sorted(names("not_fired") - fired - not_run)
        if clear:
            console.print(f"[dim]checked and not found: {escape(', '.join(clear))}[/dim]")
        reasons = {}
        for c in checks:
            name = c["check"].replace("_", " ")
            if c.get("status") == "not_run" and name not in fired:
                reasons.setdefault(name, c.get("reason") or "")
        for name, why in sorted(reasons.items()):
            console.print(f"[dim]not run: {escape(name)} ({escape(why)})[/dim]")
    for metric, x in (doc.get("specification_range") or {}).items():
        if x:
            marked = label(metric)
            console.print(f"[bold]specification table[/bold] {escape(_SHORT.get(metric, metric))}: "
                          + (f"[bold]{escape(marked)}:[/bold] [dim]" if marked else "")
                          + f"{x['min']:.2f}x to {x['max']:.2f}x over {x['n']} choices of estimator, validation "
                          "window and period" + ("[/dim]" if marked else ""))


def render_log_lift(doc: dict, console: Console) -> None:
    """`lift --log`: the verdict block, the log's loop in one line, then each design as `render_lift`
    shows a git one."""
    render_verdict(doc.get("verdict"), console)
    c, share = doc.get("cycle_time_hours") or {}, doc.get("ai_share") or {}
    p50 = f"{c['p50']:.1f} h" if c.get("p50") is not None else "—"
    pct = f"{100 * share['share']:.0f}%" if share.get("share") is not None else "—"
    console.print(f"[bold]{escape(doc['log'])}[/bold]{_dates_line(doc)}: {c.get('n', 0):,} done cases (median "
                  f"cycle {p50}), {c.get('open', 0):,} open; AI-handled {pct}", highlight=False)
    from .lift.loop_verdict import LOG_QUESTIONS

    _designs(doc, console, LOG_QUESTIONS)


def _loop(*, log, experiment, adoption_date, since, until, as_of, window_days, seed, as_json, store, stray,
          engine="duckdb", from_parquet=None) -> None:
    """`lift --log` / `lift --experiment`: both designs over the loop's cases or runs. Options of
    the git designs or a pilot's table are refused, never silently ignored."""
    flag = "--log" if log is not None else "--experiment"
    for name, value in stray:
        if value:
            what = "cases" if log is not None else "runs"
            raise ConfigError(f"{name} does not apply to {flag} (it runs both designs over the loop's {what})")
    if log is not None:
        doc = api.log_lift(log, store_path=store, adoption_dates=adoption_date, as_of=as_of, window_days=window_days,
                           since=since, until=until, seed=seed, engine=engine, parquet=from_parquet)
    else:
        # Runs have no validation window: a run is judged by its own start and end.
        for name, value in (("--as-of", as_of), ("--window-days", window_days)):
            if value:
                raise ConfigError(f"{name} does not apply to --experiment (runs have no validation window)")
        doc = api.experiment_lift(experiment, store_path=store, adoption_dates=adoption_date, since=since,
                                  until=until, seed=seed, engine=engine, parquet=from_parquet)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    elif log is not None:
        render_log_lift(doc, Console())
    else:
        render_experiment_lift(doc, Console())


def _dates_line(doc: dict) -> str:
    d = doc.get("dates")
    if not d:
        return ""
    return f" ({escape(d.get('from') or 'start')} to {escape(d.get('to') or 'end')})"


def _designs(doc: dict, console: Console, questions: dict) -> None:
    """Each design of a loop, its rows marked by the loop's verdict (judged by `questions`)."""
    for d in doc.get("designs") or []:
        adoption = d.get("adoption") or {}
        if d.get("unavailable"):
            console.print(f"[bold]lift: {escape(d['design'])}[/bold]: {escape(d['unavailable'])}")
            continue
        if adoption.get("date"):
            console.print(f"adoption ({escape(adoption.get('source') or 'unknown')}): {escape(adoption['date'])}")
        if d.get("cluster_fallback"):
            console.print(f"[yellow]{escape(d['cluster_fallback']['text'])}[/yellow]")
        render_lift({k: v for k, v in d.items() if k != "adoption"}, console, verdict=doc.get("verdict") or [],
                    questions=questions)


def render_experiment_lift(doc: dict, console: Console) -> None:
    """`lift --experiment`: the verdict block, the experiment's loop in one line, then each design."""
    render_verdict(doc.get("verdict"), console)
    run, turn = doc.get("run_minutes") or {}, doc.get("turnaround_minutes") or {}
    share = doc.get("agent_share")

    def minutes(x):
        return f"{x['p50']:.1f} min" if x.get("p50") is not None else "—"

    console.print(f"[bold]{escape(doc['experiment'])}[/bold]{_dates_line(doc)}: {doc.get('runs', 0):,} runs (median "
                  f"run {minutes(run)}, median turnaround {minutes(turn)}); agent-launched "
                  f"{'—' if share is None else f'{100 * share:.0f}%'}", highlight=False)
    from .lift.loop_verdict import EXPERIMENT_QUESTIONS

    _designs(doc, console, EXPERIMENT_QUESTIONS)


# ------------------------------------------------------------------------------ published panels


def _panel(*, go_args: dict, as_json: bool, stray) -> None:
    from .designs.panel import panel_lift

    for name, value in stray:
        if value:
            raise ConfigError(f"{name} does not apply to --panel")
    for name in ("unit", "period", "outcome", "first_treated"):
        if not go_args[name]:
            raise ConfigError(f"--{name.replace('_', '-')}: --panel needs the column that holds the {name.replace('_', ' ')}")
    if go_args["control_group"] not in ("not_yet_treated", "never_treated"):
        raise ConfigError(f"--control-group: {go_args['control_group']!r} is not one of not-yet-treated, never-treated")
    if go_args["base_period"] not in ("universal", "varying"):
        raise ConfigError(f"--base-period: {go_args['base_period']!r} is not one of universal, varying")
    doc = panel_lift(**go_args)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:
        render_panel(doc, Console())


_PANEL_NAMES = {"callaway_santanna": "Callaway-Sant'Anna", "imputation": "imputation (Borusyak-Jaravel-Spiess)"}


def render_panel(doc: dict, console: Console) -> None:
    """The terminal view of `lift --panel`: one row per estimator, the pre-trend check, the event study."""
    render_verdict(doc.get("verdict"), console)
    log = doc.get("log_outcome")
    console.print(f"[bold]lift: published panel[/bold] {escape(doc.get('source', ''))}: {doc.get('n_units', 0):,} units, "
                  f"{doc.get('n_rows_used', 0):,} rows used, outcome {escape(doc.get('outcome', ''))}"
                  + (" (log)" if log else ""))
    for w in doc.get("warnings") or []:
        console.print(f"[yellow]{escape(w)}[/yellow]")
    scale = "effect (log points)" if log else "effect"
    t = Table(title="staggered adoption (95% CI, clustered by unit)", title_justify="left")
    for col in ("estimator", scale, "95% CI", "exp(beta) - 1" if log else "", "units (treated)", "pre-trends"):
        if col:
            t.add_column(col, justify="left" if col == "estimator" else "right")
    for r in doc.get("results") or []:
        est = r.get("estimate")
        check = (r.get("checks") or [{}])[0]
        pre = {"fired": "[red]fired[/red]", "not_fired": "not fired", "not_run": "not run"}.get(check.get("status"), "—")
        if check.get("p_value") is not None:
            pre += f" (p = {check['p_value']:.3g})"
        row = [escape(_PANEL_NAMES.get(r["estimator"], r["estimator"])),
               f"{est:.4g}" if est is not None else "no estimate",
               f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]" if est is not None else "—"]
        if log:
            pc = r.get("percent_change")
            row.append(f"{pc['estimate']:+.1f}% [{pc['ci_low']:+.1f}%, {pc['ci_high']:+.1f}%]" if pc else "—")
        row += [f"{r.get('n_units') or 0:,} ({r.get('n_treated_units') or 0:,})", pre]
        t.add_row(*row)
    console.print(t)
    if log:
        console.print("[dim]exp(beta) - 1: the multiplicative change in the outcome after adoption, in percent.[/dim]")
    for r in doc.get("results") or []:
        points = [p for p in r.get("event_study") or [] if p.get("estimate") is not None]
        if points:
            shown = ", ".join(f"{p['e']:+d}: {p['estimate']:.3g}" + (" (ref)" if p.get("reference") else "")
                              for p in points)
            console.print(f"[bold]event study[/bold] {escape(_PANEL_NAMES.get(r['estimator'], r['estimator']))}: "
                          f"{escape(shown)}")
        check = (r.get("checks") or [{}])[0]
        if check.get("status") == "not_run":
            console.print(f"    pre-trend test not run: {escape(check.get('reason') or '')}")
        for c in r.get("caveats") or []:
            console.print(f"    [yellow]caveat:[/yellow] {escape(c)}")
