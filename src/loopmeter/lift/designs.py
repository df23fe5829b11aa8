"""Lift designs over the store: each design's groups, every estimator run on them (durations.py,
throughput.py), the caveats that apply (checks.py) and the specification table (specification.py).

Designs
- ``before-after``: changes landed after the adoption date vs before it. One date for every
  repository, or one per repository (staggered adoption). Cycle time and validated throughput per
  contributor-week.
- ``ai-vs-human``: AI-assisted vs human changes landed in the same period (since adoption when a
  date is known). Cycle time.
- ``experiment`` (a task table from a pilot) lives in `designs/pilot.py`; `experiment_design`
  only reshapes its answer into the same result rows.

Every estimator is a function in `stats/`; this module only builds their inputs from the
canonical tables and labels their answers. Unknown cycle times are left out and counted, never
zero; bots are left out of every comparison; open items (pull requests still open at the as-of
time, when a tracker source has them) are right-censored in the survival estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from ..errors import ConfigError, DesignError, NoData
from ..metrics.changes import Window
from ..metrics.delegation import agent_keys, cluster_by_delegator
from ..stats.flow import flow_windows
from ..stats.json_values import json_ready
from . import checks as cv
from .durations import (
    HEADLINE,
    Groups,
    cycle_before_after,
    cycle_novelty,
    duration_caveats,
    duration_results,
    km_figure,
)
from .inputs import Adoption, Periods, change_frame, detect_adoption, resolve_adoption
from .quality import change_failure_before_after, exposure, judged_deployments, revert_rate_before_after
from .results import CYCLE, LABELS, THROUGHPUT, add_caveats, check_rows, result_row
from .specification import SPEC_BOOT, apply_spec, spec_before_after, spec_row
from .throughput import throughput_before_after
from .per_unit import per_unit_rows
from .units import REPO, Unit, detect_by_unit, team_summary, team_unit, team_warnings
from .verdict import verdict
from .waiting import waiting_before_after, waiting_hours
from .weekly import forecast_fans, forecasts

DESIGNS = ("before-after", "ai-vs-human", "experiment")


# --------------------------------------------------------------------------- before / after


def before_after(con, window: Window, repos: list[str], adoption: Adoption, *, seed: int = 0,
                 n_boot: int = 2000, spec: bool = True, unit: Unit = REPO, failure_rule=None) -> dict:
    units = unit.labels(repos)
    dates = adoption.dates(units)
    if not any(dates.values()):
        raise NoData("no adoption date: none given (--adoption-date) and no sustained AI signatures found")
    # An agent account's changes are work of the people who delegated them (metrics/delegation.py), in
    # the cycle-time clusters and in the contributor-weeks: as its own author the account would be one
    # contributor active every week after adoption, inflating the after period's rate per contributor.
    df, delegated = cluster_by_delegator(con, change_frame(con, window, repos))
    df = unit.changes(df)
    act = unit.weekly(con, window, repos)
    agents = agent_keys(con)
    out: dict = {"design": "before-after", "adoption": adoption.to_dict(units), "results": [], "specification": [],
                 "checks": [], "figures": {},
                 "clusters": {"by": "author, an agent's change by its delegator", **delegated,
                              "agent_contributor_weeks": 0}}
    staggered = out["adoption"]["staggered"]

    # Cycle time: changes landed before vs after their unit's adoption date.
    cyc = cycle_before_after(df, dates, window, all_history=False, unit=unit)
    rs = duration_results("before-after", "after/before", cyc["groups"], seed=seed, n_boot=n_boot)
    for r in rs:
        r.update(cyc["fields"])
    caveats = duration_caveats("before-after", rs, cyc["groups"], n_unknown=cyc["n_unknown"], n_total=cyc["n_total"])
    nov = cycle_novelty(cyc["groups"], cyc["adoption"])
    out["flow"] = _flow(df, cyc["periods"], unit)
    steady = cv.not_steady([(f"the period {w['period']} adoption ({w[unit.key]})", w) for w in out["flow"]])
    for r in rs:
        add_caveats(r, nov, steady)
    out["results"] += rs
    out["checks"] += check_rows(caveats + [nov, steady], ("unknown_durations", "size_mismatch", "selection",
                                                      "simpsons_paradox", "few_identifying_authors", "novelty",
                                                      "not_steady"), CYCLE)

    # Throughput per contributor-week.
    tp = throughput_before_after(act, window, dates, seed=seed, n_boot=n_boot, unit=unit, agents=agents)
    # Those of the throughput's periods only: the weekly table's people over the same weeks are
    # the contributor-weeks less these (docs/metrics.md).
    out["clusters"]["agent_contributor_weeks"] = tp.get("agent_weeks", 0)
    out["results"].append(tp["result"])
    out["results"] += tp["more"]
    out["checks"] += check_rows(tp["caveats"], ("selection", "novelty", "simpsons_paradox", "pre_trends",
                                             "few_identifying_authors"), THROUGHPUT)
    out["weekly"] = tp["series"]
    out["per_unit"] = per_unit_rows(cyc["groups"].a, cyc["groups"].b, tp.get("activity"), cyc["adoption"], key=unit.key)
    out["figures"]["event_study"] = tp["event_study"]
    out["figures"]["km"] = km_figure(cyc["groups"])
    out["forecast"] = forecasts(tp["series"], seed=seed)
    out["figures"]["forecast"] = forecast_fans(out["forecast"])

    if spec:
        out["specification"] = spec_before_after(con, window, repos, dates, df, act, rs, seed=seed, unit=unit)
        apply_spec(out)
    out["staggered"] = staggered
    # How much AI the "after" period had, and whether work got worse: the verdict's other inputs.
    out["exposure"] = exposure(df, cyc["periods"])
    out["quality"] = revert_rate_before_after(df, cyc["periods"], seed=seed, n_boot=n_boot)
    # Where the store has deployments (per repository only: a deployment belongs to no team).
    if not unit.by_team:
        out["quality"] += change_failure_before_after(judged_deployments(con, window, failure_rule), cyc["periods"],
                                                      seed=seed, n_boot=n_boot)
    # Where the store has pull requests: the hours they waited on a person (lift/waiting.py).
    out["waiting"] = waiting_before_after(df, waiting_hours(con, window), cyc["periods"], seed=seed, n_boot=n_boot,
                                          unit=unit)
    return out




def _flow(df: pd.DataFrame, p: Periods, unit: Unit = REPO) -> list[dict]:
    """Little's law per repository (or team) and period (stats/flow.py), over items with a known start:
    landed changes with a known cycle time and items still open at as_of."""
    out = []
    known = df[df["cycle_hours"].notna() & (df["cycle_hours"] > 0)]
    for repo, a in p.adoption.items():
        d = known[known["repo"] == repo]
        if d.empty:
            continue
        starts = pd.to_datetime(d["started_at"]).to_numpy("datetime64[us]")
        ends = pd.to_datetime(d["done_at"]).to_numpy("datetime64[us]")
        edges = np.array([p.before_from[repo], a, p.after_until[repo]], dtype="datetime64[us]")
        if not (np.diff(edges) > np.timedelta64(0, "us")).all():
            continue
        for period, w in zip(("before", "after"), flow_windows(starts, ends, edges)):
            out.append({unit.key: repo, "period": period, **w.to_dict()})
    return out



# --------------------------------------------------------------------------- AI vs human


def ai_vs_human(con, window: Window, repos: list[str], adoption: Adoption | None, *, seed: int = 0,
                n_boot: int = 2000, spec: bool = True, unit: Unit = REPO) -> dict:
    # An agent account's changes count as work of the person who delegated them (metrics/delegation.py):
    # as one author, the account would be one cluster holding most of the AI group.
    df, delegated = cluster_by_delegator(con, change_frame(con, window, repos))
    df = unit.changes(df)
    units = unit.labels(repos)
    since = adoption.default if adoption is not None else None
    # Dates given (or detected) per repository restrict the groups as much as one date does.
    restricted = adoption is not None and any(adoption.dates(units).values())
    out: dict = {"design": "ai-vs-human", "since": since.isoformat() if since else None,
                 "adoption": adoption.to_dict(units) if adoption else None, "results": [], "specification": [],
                 "checks": [], "figures": {}, "clusters": {"by": "author, an agent's change by its delegator",
                                                           **delegated}}
    g, n_unknown, n_total = _ai_groups(df, adoption, units, unit)
    rs = duration_results("ai-vs-human", "ai_assisted/human", g, seed=seed, n_boot=n_boot)
    prior = _prior_selection(df, adoption, units)
    caveats = duration_caveats("ai-vs-human", rs, g, prior=prior, n_unknown=n_unknown, n_total=n_total)
    if not restricted:
        extra = cv.Caveat("whole_history", "No adoption date, so the whole history is compared: older human work "
                                            "may differ for reasons other than AI.")
        for r in rs:
            add_caveats(r, extra)
    out["results"] = rs
    out["checks"] = check_rows(caveats, ("unknown_durations", "size_mismatch", "selection", "simpsons_paradox",
                                      "few_identifying_authors"), CYCLE)
    out["figures"]["km"] = km_figure(g)
    if spec:
        rows = []
        for label, adp in (("since adoption", adoption), ("whole history", None)):
            if label == "since adoption" and not restricted:
                continue
            if adp is adoption:
                found = rs  # the headline's own groups and estimates: no second bootstrap of them
            else:
                gg, _, _ = _ai_groups(df, adp, units, unit)
                found = duration_results("ai-vs-human", "ai_assisted/human", gg, seed=seed, n_boot=SPEC_BOOT)
            for res in found:
                rows.append(spec_row(CYCLE, res, window_days=None, period=label,
                                      chosen=(label == "since adoption" or not restricted)))
        out["specification"] = rows
        apply_spec(out)
    return json_ready(out)


def _ai_groups(df: pd.DataFrame, adoption: Adoption | None, repos: list[str],
               unit: Unit = REPO) -> tuple[Groups, int, int]:
    d = df
    if adoption is not None:
        dates = adoption.dates(repos)
        day = pd.to_datetime(d["done_at"]).dt.date.where(d["observed"], pd.to_datetime(d["started_at"]).dt.date)
        keep = pd.Series([dates.get(r) is not None and x >= dates[r] for r, x in zip(d["repo"], day)], index=d.index,
                         dtype=bool)
        if any(dates.values()):
            d = d[keep]
    known = d["cycle_hours"].notna() & (d["cycle_hours"] > 0)
    n_unknown, n_total = int((~known & d["observed"]).sum()), int(d["observed"].sum())
    k = d[known]
    g = Groups(a=k[k["ai_assisted"].astype(bool)], b=k[~k["ai_assisted"].astype(bool)], labels=LABELS["ai_assisted/human"],
               unit=unit)
    return g, n_unknown, n_total


def _prior_selection(df: pd.DataFrame, adoption: Adoption | None, repos: list[str]):
    """Before adoption, the cycle time of authors who later used AI vs of those who did not."""
    if adoption is None:
        return None
    dates = adoption.dates(repos)
    if not any(dates.values()):
        return None
    fin = df[df["observed"] & df["cycle_hours"].notna() & (df["cycle_hours"] > 0)]
    day = pd.to_datetime(fin["done_at"]).dt.date
    before = pd.Series([dates.get(r) is not None and x < dates[r] for r, x in zip(fin["repo"], day)], index=fin.index,
                       dtype=bool)
    users = set(fin.loc[~before & fin["ai_assisted"].astype(bool), "author_id"])
    pre = fin[before]
    x = pre[pre["author_id"].isin(users)]["cycle_hours"]
    y = pre[~pre["author_id"].isin(users)]["cycle_hours"]
    if len(x) < cv.NOVELTY_MIN_ITEMS or len(y) < cv.NOVELTY_MIN_ITEMS:
        return None
    return float(np.median(x) / np.median(y)), ("the authors who later used AI", "the others")



# --------------------------------------------------------------------------- experiment (a pilot's CSV)

# Keys of pilot_lift's document that describe the whole table rather than its main estimate.
_PILOT_TABLE_KEYS = ("source", "duration_source", "rows", "treatment_levels", "cluster", "missing_duration_rows",
                     "conf", "size_sensitivity", "alternatives", "randomization")


def experiment_design(csv_path, *, duration: str | None, start: str | None, end: str | None, treatment: str | None,
                      treated: str | None = None, cluster: str | None, covariates: tuple[str, ...] = (), seed: int = 0,
                      n_boot: int = 2000, **pilot_options) -> dict:
    """The pilot's log-duration regression (designs/pilot.py) and its alternative estimators as
    result rows of the same shape as the store designs, with the specification range over them."""
    from ..designs.pilot import pilot_lift

    if not treatment:
        raise ConfigError("--treatment: the --csv design needs the column that says which tasks were treated")
    raw = pilot_lift(csv_path, duration=duration, start=start, end=end, treatment=treatment, treated=treated, cluster=cluster,
                     covariates=covariates, n_boot=n_boot, seed=seed, **pilot_options)
    main = {k: v for k, v in raw.items() if k not in _PILOT_TABLE_KEYS and k not in ("design", "metric", "comparison")}
    results = [result_row("experiment", "duration", "treated/control", main)]
    for alt in raw.get("alternatives") or []:
        results.append(result_row("experiment", "duration", "treated/control", alt))
    spec = [spec_row("duration", r, window_days=None, period="whole table", chosen=(i == 0))
            for i, r in enumerate(results)]
    if cv.finite(raw.get("ci_plain_low")) and cv.finite(raw.get("ci_plain_high")) and cv.finite(raw.get("ratio")):
        spec.append({"metric": "duration", "estimator": "log_duration_ols_plain_se", "window_days": None,
                     "period": "whole table", "ratio": raw["ratio"], "ci_low": raw["ci_plain_low"],
                     "ci_high": raw["ci_plain_high"], "n_a": raw.get("n_a"), "n_b": raw.get("n_b"), "chosen": False})
    out = {"design": "experiment", **{k: raw.get(k) for k in _PILOT_TABLE_KEYS if k != "alternatives"},
           "results": results, "specification": spec, "checks": [], "figures": {}}
    apply_spec(out)
    out["verdict"] = verdict([out])
    return json_ready(out)


# --------------------------------------------------------------------------- entry points


def store_repos(con, repos: list[str] | None) -> list[str]:
    t = con.table("repos")
    names = sorted(con.execute(t.select("repo"))["repo"])
    if repos:
        missing = sorted(set(repos) - set(names))
        if missing:
            raise ConfigError(f"--repo: no repository {missing[0]!r} in the store")
        names = [r for r in names if r in repos]
    if not names:
        raise NoData("the store holds no repositories; run `loopmeter ingest PATH` first")
    return names


def run_design(con, window: Window, repos: list[str] | None, design: str, adoption: Adoption | None, *,
               seed: int = 0, n_boot: int = 2000, spec: bool = True, by: str = "repo", teams=None,
               config_path=None, failure_rule=None) -> dict:
    """One design over the store, per repository (`by` "repo") or per team (`by` "team", with
    `teams` from loopmeter.toml at `config_path`; see units.py). `failure_rule` (metrics/dora.py)
    judges the deployments of the change failure rate question, as the report's does."""
    if design not in ("before-after", "ai-vs-human"):
        raise ConfigError(f"--design: {design!r} is not one of before-after, ai-vs-human (or give --csv)")
    names = store_repos(con, repos)
    unit, summary = REPO, None
    if by in ("team", "codeowners"):
        unit, summary, adp = _team_adoption(con, window, names, adoption, teams if by == "team" else None,
                                            config_path)
    else:
        adp = resolve_adoption(con, window, names, adoption)
    if design == "before-after":
        out = before_after(con, window, names, adp, seed=seed, n_boot=n_boot, spec=spec, unit=unit,
                           failure_rule=failure_rule)
    else:
        out = ai_vs_human(con, window, names, adp if (adp.default or adp.per_repo) else None, seed=seed,
                          n_boot=n_boot, spec=spec, unit=unit)
    check_supported(out)
    out["verdict"] = verdict([out])
    if summary is not None:
        out["teams"] = summary
        out["team_members_unmatched"] = list(unit.unmatched)
        out["team_warnings"] = team_warnings(unit, summary)
    return json_ready(out)


def _team_adoption(con, window: Window, names: list[str], given: Adoption | None, teams, config_path):
    """The team unit, how many changes each team holds, and the adoption dates per team: given
    (every named team must be a team of loopmeter.toml, or of CODEOWNERS when `teams` is None, or
    `unassigned`) or detected per team."""
    from ..teams import UNASSIGNED
    from ..metrics.codeowners_teams import codeowners_unit

    frame = change_frame(con, window, names)
    if teams is None:
        unit, named = codeowners_unit(con, names, frame)
        where = "CODEOWNERS"
    elif not teams:
        raise ConfigError("--by team: loopmeter.toml defines no team ([[team]] with name and members)")
    else:
        unit, named, where = team_unit(con, teams, config_path, frame), [t.name for t in teams], "loopmeter.toml"
    frame = unit.changes(frame)
    if not unit.names:  # else "no adoption date ... none given" would blame a date that was given
        raise NoData(f"no non-bot change landed by {window.as_of:%Y-%m-%d %H:%M} in {', '.join(names)}: "
                     "no team has work to compare")
    if given is not None:
        known = [*named, UNASSIGNED]
        unknown = sorted(set(given.per_repo) - set(known))
        if unknown:
            raise ConfigError(f"--adoption-date: no team {unknown[0]!r} in {where} (have: {', '.join(known)})")
        adp = replace(given, unit="team")
    else:
        adp = detect_by_unit(frame, list(unit.names), unit, window.min_adoption_share)
    return unit, team_summary(frame, unit.names), adp


def computed_designs(todo: list[tuple[str, Callable[[], dict]]], adoption: dict | None, first_from=None,
                     only_first: bool = False) -> list[dict]:
    """The designs of `todo` ((name, function computing it), in the order of the document).

    A report may have its first design computed by a worker on the other core (report/beside.py):
    the worker runs with `only_first` (the first design alone), the report with `first_from`, which
    gives the worker's design for (name, `adoption` key) or None (then it is computed here). The
    others are computed before the worker's answer is asked for, so that it is waited for least;
    each design is computed on its own, so the order they are computed in changes no number."""
    if not todo:
        return []
    if only_first:
        return [todo[0][1]()]
    rest = [fn() for _, fn in todo[1:]]
    first = first_from(todo[0][0], adoption) if first_from is not None else None
    return [first if first is not None else todo[0][1](), *rest]


def check_supported(out: dict) -> None:
    """Refuse, in one line, a design none of whose headline comparisons has two non-empty groups
    and two clusters: any number printed then would pretend to be an estimate. (The report shows
    such designs as "no estimate" instead, since it has other sections to show.)"""
    problems = []
    for metric, estimator in ((CYCLE, HEADLINE), (THROUGHPUT, "ratio_of_rates")):
        head = next((r for r in out["results"] if r["metric"] == metric and r["estimator"] == estimator), None)
        if head is None:
            continue
        what = "change with a known cycle time" if metric == CYCLE else "validated change in a complete week"
        a, b = LABELS.get(head["comparison"], ("the first group", "the second group"))
        if out["design"] == "before-after":
            per = out["adoption"].get("per_repo", out["adoption"].get("per_team"))
            dates = ", ".join(f"{r} {d}" for r, d in (per or {}).items() if d)
            where = f" (adoption: {dates})" if dates else ""
        else:
            where = f" (since {out['since']})" if out.get("since") else ""
        empty = [label for label, n in ((a, head["n_a"]), (b, head["n_b"])) if not n]
        if empty:
            problems.append(f"{out['design']}: {empty[0]} has no {what}{where}; nothing to compare")
        elif head["n_clusters"] < 2:
            problems.append(f"{out['design']}: every compared change has the same author (1 cluster); "
                            "no interval is possible, so no estimate is given")
        else:
            return
    if problems:
        raise DesignError(problems[0])


def lift_designs(con, window: Window, repos: list[str] | None, adoption_info: dict, *, seed: int = 0,
                 n_boot: int = 2000, given: Adoption | None = None, failure_rule=None,
                 first_from=None, only_first: bool = False) -> dict:
    """The report's `lift_designs` key: both observational designs on the report's adoption dates
    (`given` per repository, else the report's date, else each repository's detected date).
    `first_from` and `only_first`: the first design computed by a worker (`computed_designs`)."""
    d = date.fromisoformat(adoption_info["date"]) if adoption_info.get("date") else None
    names = store_repos(con, repos)
    if given is not None:
        adp = resolve_adoption(con, window, names, given)
    elif adoption_info.get("source") == "detected" and len(names) > 1:
        adp = detect_adoption(con, window, names)  # each repository at its own date
        adp = adp if adp.default or adp.per_repo else None
    else:
        adp = Adoption(default=d, source=adoption_info.get("source"), rule=adoption_info.get("rule")) if d else None
    out = {"adoption": adp.to_dict(names) if adp is not None else None, "designs": []}
    todo = [("before-after", lambda: before_after(con, window, names, adp, seed=seed, n_boot=n_boot,
                                                  failure_rule=failure_rule))] if adp is not None else []
    todo.append(("ai-vs-human", lambda: ai_vs_human(con, window, names, adp, seed=seed, n_boot=n_boot)))
    out["designs"] = computed_designs(todo, out["adoption"], first_from, only_first)
    out["verdict"] = verdict(out["designs"])
    return json_ready(out)
