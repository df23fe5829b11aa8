"""The report document (docs/json-report.md): every renderer (terminal, HTML, JSON) starts here."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from ..attribution import Matcher
from ..errors import ConfigError, NoData
from ..metrics import flow as flow_m
from ..legibility import summary as legibility_summary
from ..legibility.score import for_report as legibility_for_report
from ..lift import summary as lift_m
from ..lift.by_unit import lift_designs_by_unit
from ..lift.inputs import Adoption
from ..lift.verdict import durability_design, verdict
from ..metrics.partial_weeks import mark_partial_weeks
from ..metrics.agent_loops import agent_loops
from ..metrics.event_logs import event_logs as event_logs_m
from ..metrics import portable, summary
from ..metrics import durability as durability_m
from ..metrics import provenance as provenance_m
from ..metrics.changes import Window, backend, changes, facts
from ..metrics.dora import FailureRule
from ..store.db import Store, utcnow
from .lift_text import add_labels

SCHEMA = "loopmeter.report/1"
#: A repository of a set whose newest change landed this many days before the report's as-of is
#: named in a warning: a stale clone makes its last months look idle in every pooled series.
STALE_DAYS = 90


def _iso(t: datetime) -> str:
    return t.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")


def to_json(doc: dict) -> str:
    """The document as `loopmeter report --json` prints it (and the dashboard's /api/report answers)."""
    return json.dumps(doc, indent=2, default=str) + "\n"


def display_name(actor_id: str | None, name: str | None, kind: str | None, show_names: bool) -> str:
    """People are pseudonymous unless names are asked for; bots and agents are not people."""
    if actor_id is None:
        return "unknown"
    if show_names or kind in ("bot", "agent"):
        return name or actor_id
    return "dev-" + actor_id[1:9]


def default_as_of(store: Store, repos: list[str] | None = None) -> tuple[datetime, str]:
    """Judge validation as of the newest landing in the data, never later than now.

    A mirror fetched months ago cannot show reverts that happened after it was fetched, so its
    last weeks must count as pending, not validated; the newest landing is the freshest moment the
    data is known to cover.
    """
    q = "select max(done_at) from items where kind = 'change'" + (" and list_contains(?, repo)" if repos else "")
    newest = store.con.execute(q, [repos] if repos else []).fetchone()[0]
    now = utcnow()
    if newest is None or newest >= now:
        return now, "now"
    return newest, "newest landing in the data"


def build_report(
    store: Store,
    *,
    window: Window,
    adoption_date: date | Adoption | None = None,
    repos: list[str] | None = None,
    seed: int = 0,
    n_boot: int = 2000,
    failure_rule: FailureRule | None = None,
    matcher: Matcher | None = None,
    by: str = "repo",
    teams: list | None = None,
    config_path=None,
    show_names: bool = False,
    by_given: bool = True,
    durability_horizons: tuple[int, ...] = durability_m.HORIZONS,
    step=None,
    engine=None,
    lift_worker=None,
) -> dict:
    """Compute the whole report document from the store. `matcher` (with loopmeter.toml's
    signatures) tells agents and bots from people where the store has no actor rows to ask. `by`
    is the unit of the lift designs ("repo", "team" with loopmeter.toml's `teams` read from
    `config_path`, or "codeowners"; lift/by_unit.py). People are pseudonymous unless
    `show_names` (`--show-names`). `step(name)` is told each part as it starts (the CLI's spinner).
    `engine` (an Ibis backend holding the same tables, e.g. Spark over the Parquet export;
    engine.open_export) runs the metrics over changes; the store's own sections stay on `store`.
    `lift_worker` (report/beside.py) is given `first_design_alone` with the same inputs: the first lift
    design is computed there beside the other sections (when it fails, here)."""
    step = step or (lambda name: None)
    if lift_worker is not None and (engine is not None or store.path is None or not lift_worker.submit(
            first_design_alone, store.path, window=window, adoption_date=adoption_date, repos=repos, seed=seed,
            n_boot=n_boot, failure_rule=failure_rule, by=by, teams=teams, config_path=config_path, by_given=by_given)):
        lift_worker = None
    repo_rows = store.con.execute(
        "select repo, path, head_sha, head_ref, is_shallow, missing_blob_files, pull_heads from repos "
        + ("where list_contains(?, repo) " if repos else "")
        + "order by repo",
        [repos] if repos else [],
    ).fetchall()
    logs = event_logs_m(store, engine)
    if not repo_rows:
        if repos:
            raise NoData(f"the store holds none of the repositories {', '.join(repos)}")
        # No git history: no changes to measure, but trackers, CI, agent sessions and event logs
        # still have their numbers. Such a document has only these keys.
        # An event log alone pays for no Ibis backend (about a second of setup on every report):
        # the flow and agent sections are built only when the store holds their items.
        has_flow, has_agents = store.con.execute(
            f"select exists (select 1 from items where kind in {flow_m.FLOW_KINDS}), "
            "exists (select 1 from items where kind = 'agent_session') "
            "or exists (select 1 from agent_usage)").fetchone()
        flow = (flow_m.flow(store, engine if engine is not None else backend(store), window.as_of, failure_rule,
                            None, show_names=show_names) if has_flow else None)
        loops = agent_loops(engine if engine is not None else backend(store), window, None) if has_agents else None
        if not (logs or flow or loops):
            raise NoData("the store holds nothing to report on; run `loopmeter ingest PATH` first")
        doc = {"schema": SCHEMA, "generated_at": _iso(datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)),
               "as_of": _iso(window.as_of.replace(microsecond=0)), "as_of_rule": window.rule,
               "window_days": window.days, "filters": _filters(window, repos), "repos": [], "flow": flow, "agent_loops": loops,
               "event_logs": logs, "warnings": []}
        mark_partial_weeks(doc, window.as_of)
        return doc
    step("counting changes")
    con = engine if engine is not None else backend(store)
    with facts(con, window, repos):
        return _build(store, con, repo_rows, logs, window=window, adoption_date=adoption_date, repos=repos, seed=seed,
                      n_boot=n_boot, failure_rule=failure_rule, matcher=matcher, by=by, teams=teams,
                      config_path=config_path, show_names=show_names, by_given=by_given,
                      durability_horizons=durability_horizons, step=step, lift_worker=lift_worker)


def _stale(store: Store, repos: list[str], as_of: datetime) -> list[str]:
    """A warning for each repository of a set whose history ends long before the as-of time (the
    newest landing of any of them): eight real mirrors ended between 2024-03 and 2026-08, and the
    pooled weekly series read their missing months as no work."""
    rows = store.con.execute(
        "select repo, max(done_at) from items where kind = 'change' and done_at <= ? group by repo order by repo",
        [as_of]).fetchall()
    wanted = set(repos)  # a list would make this quadratic in an organisation's 1,000 repositories
    out = []
    for repo, last in rows:
        if repo in wanted and last is not None and (as_of - last).days > STALE_DAYS:
            out.append(f"{repo}: its newest change landed on {last:%Y-%m-%d}, {(as_of - last).days:,} days before the "
                       f"report's as-of ({as_of:%Y-%m-%d}); if its clone is stale, fetch it and ingest again (its weeks "
                       "since then count none of its work), if the project went quiet this is expected")
    return out


def _build(store: Store, con, repo_rows, logs, *, window: Window, adoption_date, repos, seed: int, n_boot: int,
           failure_rule, matcher, by: str, teams, config_path, show_names: bool, by_given: bool,
           durability_horizons, step, lift_worker=None) -> dict:
    """build_report's document for a store with history, inside the per-report fact tables."""
    totals = summary.totals(con, window, repos)
    if totals["changes"] == 0:
        # A history dated wholly in the future (a clock set wrong) lands nothing by the as-of date.
        raise NoData(f"the store holds no changes landed by {window.as_of:%Y-%m-%d %H:%M} UTC to report on; "
                     "changes dated later are left out (see --as-of)")
    cycle, size = summary.distribution(con, window, repos)
    adoption, given = _adoption(con, window, repos, adoption_date)
    warnings: list[str] = []
    per_repo = []
    each = summary.totals_by_repo(con, window, [r[0] for r in repo_rows]) if len(repo_rows) > 1 else {}
    for repo, path, head, head_ref, shallow, missing, pulls in repo_rows:
        w = store.meta(f"warnings:{repo}")
        if w:
            warnings.extend(json.loads(w))
        per_repo.append(
            {
                "repo": repo, "path": path, "head": head, "head_ref": head_ref, "shallow": bool(shallow),
                "missing_blob_files": int(missing or 0), "pull_heads": int(pulls or 0),
                "totals": each[repo] if len(repo_rows) > 1 else totals,
            }
        )
    if len(repo_rows) > 1:
        warnings.extend(_stale(store, [r[0] for r in repo_rows], window.as_of))
    attribution = summary.attribution(con, window, repos, totals)
    step("weekly series")
    weekly = summary.weekly(con, window, repos)
    step("flow metrics")
    flow = flow_m.flow(store, con, window.as_of, failure_rule, repos, show_names=show_names)
    # The sections that do not depend on the lift designs come first, so that they are computed
    # while a worker (report/beside.py) computes the designs on the other core.
    step("agent legibility")
    legibility = legibility_for_report(store, [(r["repo"], r["path"]) for r in per_repo], matcher,
                                       con if portable.on_engine(con) else None)
    step("agent loops")
    loops = agent_loops(con, window, repos)
    step("line provenance and durability")
    lines = _provenance_and_durability(con, window, repos, horizons=durability_horizons)
    step("lift designs")
    early: dict = {}

    def meanwhile(split: dict | None) -> None:
        # While the worker computes its design: the summary lift, when the designs' dates (`split`)
        # leave it to be computed on its own (`_per_unit` below).
        if not _per_unit(split or {}):
            early["lift"] = lift_m.lift(con, window, repos, adoption, seed=seed, n_boot=n_boot)

    designs = _lift_designs(con, window, repos, adoption, by=by, by_given=by_given, teams=teams,
                            config_path=config_path, seed=seed, n_boot=n_boot, warnings=warnings,
                            failure_rule=failure_rule, given=given if given is not None and given.per_repo else None,
                            first_from=_from_worker(lift_worker, meanwhile))
    doc = {
        "schema": SCHEMA,
        "generated_at": _iso(datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)),
        "as_of": _iso(window.as_of.replace(microsecond=0)),
        "as_of_rule": window.rule,
        "window_days": window.days,
        "filters": _filters(window, repos),
        "repos": per_repo,
        "totals": totals,
        "attribution": attribution,
        "cycle_time_hours": cycle,
        "size_lines": size,
        "weekly": weekly,
        "adoption": adoption,
        "lift": [],
        "flow": flow,
        "lift_designs": designs,
        # Every scorecard up to legibility/summary.CARDS repositories; past that only the summary.
        "legibility": legibility if len(legibility) <= legibility_summary.CARDS else None,
        "legibility_summary": legibility_summary.summary(legibility),
        "agent_loops": loops,
        "event_logs": logs,
        "warnings": warnings,
    }
    warnings.extend((doc["lift_designs"] or {}).get("team_warnings") or [])
    step("lift")  # the summary lift's bootstrap is work of its own, not "agent loops"
    split = (doc["lift_designs"] or {}).get("adoption") or {}
    if _per_unit(split):
        # Dates per unit: the summary lift is the designs' own rows, never a second split at a
        # pooled date (which once printed 2.53x above a section that said 3.08x).
        # The pooled detection's date and exposure go too: no section uses them (a two-repository
        # analyze printed "AI adoption: <pooled date> (detected per repository)"); "date" is then
        # null as docs/json-report.md says, and the exposure is the designs' own, below.
        adoption.pop("exposure_after", None)
        adoption.update(split)
        doc["lift"] = lift_m.lift_from_designs((doc["lift_designs"] or {}).get("designs") or [])
    else:
        doc["lift"] = early["lift"] if "lift" in early else lift_m.lift(con, window, repos, adoption, seed=seed,
                                                                         n_boot=n_boot)
    # Every reader (terminal, page, dashboard, digest) is told which summary ratios must not be
    # shown as results (fewer values than the minimum, or a zero-width interval), in one place.
    from ..lift.verdict import withheld as _withheld

    for e in doc["lift"]:
        e["withheld"] = _withheld(e)
    # The verdict first (docs/json-report.md): one entry per question, from the designs above.
    doc["verdict"] = (doc["lift_designs"] or {}).get("verdict") or []
    before_after = next((d for d in (doc["lift_designs"] or {}).get("designs") or []
                         if d.get("design") == "before-after"), None)
    if "exposure_after" not in adoption:
        adoption["exposure_after"] = ((before_after or {}).get("exposure") or {}).get("ai_share_after")
    _add_provenance_and_durability(doc, con, window, repos, lines, horizons=durability_horizons, seed=seed,
                                   n_boot=n_boot)
    doc["verdict"] = doc["verdict"] + verdict(
        [durability_design(doc.get("durability_lift") or [])] if doc.get("durability_lift") else [])
    add_labels(doc)  # what the dashboard shows beside each number, made here once
    mark_partial_weeks(doc, window.as_of)
    return doc


def _per_unit(split: dict) -> bool:
    """Whether the lift designs' adoption (`split`) has dates per unit (staggered, per team, per
    repository with no one date): then the summary lift is the designs' own rows."""
    return bool(split.get("staggered") or split.get("per_team") or (split.get("date") is None and split.get("per_repo")))


def _filters(window: Window, repos: list[str] | None) -> dict:
    from ..metrics.scope import Scope

    return (window.scope or Scope()).as_dict(repos)


def _adoption_dates(doc: dict) -> dict[str, date | None]:
    """The adoption date per repository the lift designs used (or the report's one date for all)."""
    split = (doc.get("lift_designs") or {}).get("adoption") or {}
    per = split.get("per_repo") or {}
    one = (doc.get("adoption") or {}).get("date")
    names = [r["repo"] for r in doc.get("repos") or []]
    raw = {r: per.get(r) for r in names} if per else {r: one for r in names}
    return {r: date.fromisoformat(str(d)[:10]) if d else None for r, d in raw.items()}


def _provenance_and_durability(con, window: Window, repos, *, horizons) -> dict:
    """`attribution.lines`, `lines_weekly`, `durability` and `durability_weekly` (docs/json-report.md):
    line-level provenance and whether the lines survived; `survival` per change for the comparison."""
    out = {"lines": provenance_m.lines(con, window, repos), "lines_weekly": provenance_m.weekly(con, window, repos)}
    surv = durability_m.change_survival(con, window, repos, horizons)
    out["durability"] = durability_m.durability(con, window, repos, horizons, survival=surv) if len(surv) else []
    out["durability_weekly"] = durability_m.durability_weekly(con, window, repos, horizons, survival=surv)
    out["survival"] = surv
    return out


def _add_provenance_and_durability(doc: dict, con, window: Window, repos, lines: dict, *, horizons, seed: int,
                                   n_boot: int) -> None:
    """`lines` (`_provenance_and_durability`) into the document, and `durability_lift`: the survival
    of AI-assisted and human lines compared since the adoption dates the lift designs used."""
    doc["attribution"]["lines"] = lines["lines"]
    doc["lines_weekly"] = lines["lines_weekly"]
    doc["durability"] = lines["durability"]
    doc["durability_weekly"] = lines["durability_weekly"]
    doc["durability_lift"] = durability_m.durability_comparison(con, window, repos, horizons, n_boot=n_boot, seed=seed,
                                                                survival=lines["survival"], since=_adoption_dates(doc))


def _adoption(con, window: Window, repos, adoption_date, *, evidence: bool = True) -> tuple[dict, Adoption | None]:
    """The report's adoption (`adoption` key; without its evidence unless `evidence`) and the per-unit
    dates given, if any. One adoption rule everywhere: a date per repository (or team) given, or
    detected per unit by the designs, is the split of the summary, the sections and the JSON alike."""
    given = adoption_date if isinstance(adoption_date, Adoption) else None
    single = given.default if given is not None and not given.per_repo else (
        adoption_date if isinstance(adoption_date, date) else None)
    adoption = lift_m.adoption(con, window, repos, single, evidence=evidence)
    if given is not None and given.per_repo:
        adoption = {"date": None, "source": given.source, "rule": given.rule}
    return adoption, given


def first_design_alone(store_path, *, window: Window, adoption_date, repos, seed: int, n_boot: int, failure_rule,
                       by: str, teams, config_path, by_given: bool) -> tuple[dict | None, dict] | None:
    """The first design of `_build`'s lift designs (before-after when there is an adoption date,
    else AI vs human) with the `adoption` key it was computed for, from the store on its own: what a
    worker on the other core runs (report/beside.py) while the report computes everything else. The
    store is opened read-only and never upgraded (the caller has opened it, so it needs none; if it
    did, this fails and the caller computes the design itself)."""
    import shutil
    import tempfile

    # Its own directory for what DuckDB spills: by default both processes would use `<store>.tmp`,
    # with files named alike, and the first to close removes it.
    spill = tempfile.mkdtemp(prefix="loopmeter-worker-")
    try:
        with Store.open(store_path, create=False, read_only=True) as store:
            store.con.execute("SET temp_directory = '{}'".format(spill.replace("'", "''")))
            con = backend(store)
            with facts(con, window, repos):
                adoption, given = _adoption(con, window, repos, adoption_date, evidence=False)  # all the designs read
                designs = _lift_designs(con, window, repos, adoption, by=by, by_given=by_given, teams=teams,
                                        config_path=config_path, seed=seed, n_boot=n_boot, warnings=[],
                                        failure_rule=failure_rule,
                                        given=given if given is not None and given.per_repo else None,
                                        only_first=True)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    found = designs.get("designs") or []
    return (designs.get("adoption"), found[0]) if found else None


def _from_worker(worker, meanwhile=None):
    """`first_from` for the lift designs: the worker's design when it computed the same one for the
    same adoption dates (it ran the same code on the same inputs, so it is the same), else None.
    `meanwhile(adoption)` is run first: work of the report's own that needs the designs' dates only."""
    if worker is None:
        return None

    def take(name: str, adoption: dict | None) -> dict | None:
        if meanwhile is not None:
            meanwhile(adoption)
        got = worker.result()
        if got is None:
            return None
        theirs, design = got
        return design if theirs == adoption and design.get("design") == name else None

    return take


def _lift_designs(con, window, repos, adoption, *, by: str, by_given: bool, warnings: list[str], **kw) -> dict:
    """The lift designs per `by`. Teams the report chose by itself (loopmeter.toml defines some, no
    --by) that cannot be used with this store (no member is anyone here, or one person is in two
    teams) leave the designs per repository with a warning naming the line, never the member; asked
    for with --by team, that is the error it is."""
    try:
        return lift_designs_by_unit(con, window, repos, adoption, by=by, **kw)
    except ConfigError as e:
        if by_given or by != "team":
            raise
        where = str(e).split(": ", 1)[0]
        warnings.append(f"{where}: the teams of loopmeter.toml cannot be used with this store (no member is anyone "
                        f"in it, or one person is in two teams), so the lift designs are per repository; "
                        f"`loopmeter lift --by team` says why")
        return lift_designs_by_unit(con, window, repos, adoption, by="repo",
                                    **{k: v for k, v in kw.items() if k in ("seed", "n_boot", "failure_rule", "first_from",
                                                                              "only_first")})


def change_rows(store: Store, *, window: Window, repos: list[str] | None = None,
                show_names: bool = False, week: date | None = None) -> list[dict]:
    """One dict per change for charts and tables (see report.html.render_html); with `week` (its
    Monday), only the changes that landed that week, newest first, with their id (the dashboard's
    drill-down)."""
    import ibis

    con = backend(store)
    ch = changes(con, window, repos)
    if week is not None:
        ch = ch.filter(ch.week == ibis.date(week))
    actors = con.table("actors").select(aid="actor_id", aname="name")
    # The landing sha and pull-request number, for links to the change (report/links.py).
    items = con.table("items")
    refs = items.select(rid=items.item_id, sha=items.attrs["sha"].str, pr_number=items.attrs["pr_number"].str)
    ch = ch.left_join(refs, ch.item_id == refs.rid)
    df = con.execute(
        ch.left_join(actors, ch.author_id == actors.aid).select(
            "repo", "item_id", "done_at", "cycle_hours", "title", "author_id", "author_kind", "aname", "ai_assisted",
            "agents", "state", "size_lines", "sha", "pr_number",
        ).order_by(ibis.desc("done_at") if week is not None else "done_at")
    )
    rows = []
    for r in df.itertuples(index=False):
        ch_h = r.cycle_hours
        row = {
            "repo": r.repo,
            "done_at": r.done_at.to_pydatetime() if hasattr(r.done_at, "to_pydatetime") else r.done_at,
            "cycle_hours": None if ch_h is None or ch_h != ch_h else float(ch_h),
            "title": r.title or "",
            "author": display_name(r.author_id, r.aname, r.author_kind, show_names),
            "ai": bool(r.ai_assisted),
            "agents": sorted(r.agents) if r.agents is not None and len(r.agents) else [],
            "state": r.state,
            "size_lines": None if r.size_lines is None or r.size_lines != r.size_lines else int(r.size_lines),
            "sha": r.sha if isinstance(r.sha, str) else None,
            "pr_number": r.pr_number if isinstance(r.pr_number, str) else None,
        }
        if week is not None:
            row["id"] = r.item_id
            row["done_at"] = _iso(row["done_at"])
        rows.append(row)
    return rows
