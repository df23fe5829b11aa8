"""The Python API: what the CLI commands call, usable from a notebook too.

Example:
    >>> from loopmeter import analyze
    >>> doc = analyze(["~/src/api"], store_path="/tmp/lm.duckdb", html_path="report.html")
    >>> doc["totals"]["validated_changes"]
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import date, datetime
from pathlib import Path

from typing import TYPE_CHECKING, TypedDict, Unpack

from .attribution import Matcher
from .config import Config, load_config
from .errors import BadInput, ConfigError, NoData
from .ingestion import IngestResult, Progress
from .runner import damaged_store, relink_sessions
from .runner import run as run_source
from .store.db import DEFAULT_STORE, Store, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from .sources.eventlog import Mapping as EventMapping
    from .export import ExportSummary
    from .store.event_logs import LogSummary

# Ibis and pandas are imported where reports are computed, not here: an ingest does not need them,
# and they add ~65 MB to its peak memory.

# Kept under their old names: the report and lift paths below use them too.
_damaged_store = damaged_store
_relink_sessions = relink_sessions


def _matcher(config: Config) -> Matcher:
    return Matcher.load(config.signatures, config.bots)


def _check_window(window_days: int | None) -> None:
    # 0 would silently mean "the default" and a negative window would validate reverted changes.
    if window_days is not None and (isinstance(window_days, bool) or window_days < 1):
        raise ConfigError(f"--window-days: must be a positive whole number of days, not {window_days!r}")


def ingest(
    paths: Sequence[str | Path],
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    branch: str | None = None,
    progress: Progress | None = None,
    config: Config | None = None,
    pull_refs: bool = True,
    traces: str | Path | None = None,
    durability: bool = True,
) -> list[IngestResult]:
    """Read each repository's new history into the store. Returns what each ingest did.

    `traces`: a folder (or file) of Agent Trace records for the repositories (one repository when
    given). `durability=False` skips the line-tracking pass (the durability figures then stay as the
    last pass left them)."""
    from .sources.git_repos import GitRepos

    config = config or load_config()
    matcher = Matcher.load(config.signatures, config.bots)
    progress = progress or Progress()
    source = GitRepos(paths, store_path=store_path, matcher=matcher, progress=progress, branch=branch,
                      pull_refs=pull_refs, traces=traces, durability=durability)
    return run_source(source, store_path=store_path, config=config, progress=progress, matcher=matcher)


def ingest_sessions(
    paths: Sequence[str | Path],
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    fmt: str | None = None,
    keep_text: bool = False,
    progress: Progress | None = None,
    config: Config | None = None,
):
    """Read agent session logs and usage reports (files or folders) into the store.

    People are classified with the signatures of `config` (default: loopmeter.toml of the current
    directory), as the git source does. Returns a `SessionIngestResult` (files read, sessions,
    usage days, skipped lines, links)."""
    from .sources.agent_logs import SessionFiles

    source = SessionFiles(list(paths), fmt=fmt, keep_text=keep_text, progress=progress)
    return run_source(source, store_path=store_path, config=config or load_config(), progress=progress)


def _api_token(token_env: str | None, default_env: str) -> str | None:
    from .sources.http import token_from_env

    if token_env is not None:
        if not token_env.strip():
            raise ConfigError("--token-env: give the name of an environment variable")
        token = token_from_env(token_env)
        if token is None:
            raise ConfigError(f"--token-env: the environment variable {token_env} is not set or empty")
        return token
    return token_from_env(default_env)


class ApiIngestOptions(TypedDict, total=False):
    """The keyword options `ingest_github` and `ingest_gitlab` share; `_ingest_api` gives the defaults."""

    store_path: str | Path | None
    url: str | None
    token_env: str | None
    since: datetime | None
    progress: Progress | None
    config: Config | None
    sleep: Callable[[float], object] | None
    clock: Callable[[], float] | None


def _ingest_api(kind: str, names: Sequence[str], *, store_path=DEFAULT_STORE, url=None, token_env=None, since=None,
                progress=None, config=None, sleep=None, clock=None) -> list:
    import time

    import importlib

    from .sources.api_walk import ApiWalks
    from .sources.http import GITHUB, GITLAB, ApiClient
    from .store.api_load import cache_lookup

    mod = importlib.import_module(f".sources.{kind}", __package__)
    provider = GITHUB if kind == "github" else GITLAB
    config = config or load_config()
    matcher = Matcher.load(config.signatures, config.bots)
    # Names and token are checked before the store is opened, so a typo creates nothing.
    names = [mod.check_repo_name(n) for n in names]
    token = _api_token(token_env, provider.token_env)
    progress = progress or Progress()
    if token is None:
        progress.note(f"no token in {provider.token_env}: only public data can be read, and {provider.name} "
                      "allows few requests an hour without one")
    on_wait = getattr(progress, "wait", None)

    def open_client(store: Store) -> ApiClient:
        return ApiClient(mod.api_base(url or mod.DEFAULT_URL), provider=provider, token=token, cached=cache_lookup(store),
                         on_wait=on_wait, sleep=sleep or time.sleep, clock=clock or time.time)

    source = ApiWalks(kind, names, open_client=open_client,
                      make=lambda store, client, name: mod.Source(store, client, name, matcher),
                      since=since, progress=progress)
    return run_source(source, store_path=store_path, config=config, progress=progress, matcher=matcher)


def ingest_github(repos: Sequence[str], **options: Unpack[ApiIngestOptions]) -> list:
    """Read pull requests, issues, Actions runs, releases and deployments of GitHub repositories
    ("OWNER/REPO") into the store: incremental, resumable, one transaction per page.

    The token comes from `token_env` (default GITHUB_TOKEN); it is sent only in the Authorization
    header and never stored. `url` is the API base of GitHub Enterprise Server (or a test server).
    """
    return _ingest_api("github", repos, **options)


def ingest_gitlab(projects: Sequence[str], **options: Unpack[ApiIngestOptions]) -> list:
    """Read merge requests, issues, pipelines and deployments of GitLab projects ("GROUP/PROJECT")
    into the store, like `ingest_github`. The token comes from `token_env` (default GITLAB_TOKEN)."""
    return _ingest_api("gitlab", projects, **options)


def ingest_events(
    path: str | Path,
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    fmt: str | None = None,
    mapping: "EventMapping | None" = None,
    log_name: str | None = None,
    config: Config | None = None,
) -> "LogSummary":
    """Read a generic event log (CSV, JSONL, XES, OCEL 2.0) into the store as `case` items.

    The file is read into one transaction, in batches: one that turns out unreadable leaves the
    store as it was; ingesting a log of the same name again replaces it.
    """
    from .sources.event_files import EventLogFile

    source = EventLogFile(path, name=_log_name(log_name, path), fmt=fmt, mapping=mapping)
    return run_source(source, store_path=store_path, config=config)


def ingest_mlflow(
    tracking_uri: str,
    *,
    experiments: Sequence[str] = (),
    objective: str | None = None,
    store_path: str | Path | None = DEFAULT_STORE,
    agent_tags: Sequence[str] | None = None,
    agent_users: Sequence[str] = (),
    config: Config | None = None,
) -> list["LogSummary"]:
    """Read MLflow experiments' runs through MLflow's client (any tracking URI it accepts) as
    `experiment` items, one log `mlflow:NAME` per experiment, replacing that experiment's last
    ingest. `objective` ("metric:max" or "metric:min") is remembered for the experiments' report."""
    from .sources.mlflow_runs import MlflowRuns

    source = MlflowRuns(tracking_uri, experiments=experiments, objective=objective, agent_tags=agent_tags,
                        agent_users=agent_users)
    return run_source(source, store_path=store_path, config=config)


def ingest_incidents(
    path: str | Path,
    *,
    provider: str,
    store_path: str | Path | None = DEFAULT_STORE,
    log_name: str | None = None,
    config: Config | None = None,
) -> "LogSummary":
    """Read a PagerDuty or Opsgenie incident CSV export (sources/incidents.py) as `incident`
    items linked to repositories by loopmeter.toml `[[incidents.service]]`; ingesting the same
    log name again replaces it."""
    from .sources.incidents import PROVIDERS, IncidentCsv

    if provider not in PROVIDERS:
        raise ConfigError(f"incident provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    name = log_name or f"{provider}:{_log_name(None, path)}"
    config = config or load_config()
    source = IncidentCsv(path, provider=provider, name=name, links=config.incident_services)
    return run_source(source, store_path=store_path, config=config)


def ingest_pagerduty(
    *,
    url: str | None = None,
    token_env: str | None = None,
    since: datetime | None = None,
    store_path: str | Path | None = DEFAULT_STORE,
    log_name: str = "pagerduty:api",
    config: Config | None = None,
    transport=None,
) -> "LogSummary":
    """Read PagerDuty incidents through its REST API (`url`, default api.pagerduty.com; the token
    from `token_env`, default PAGERDUTY_TOKEN, never stored or shown) as `incident` items of
    `log_name`: every incident the first time, then only those created since the last complete
    walk or still unresolved then (or created since `since`), one transaction per page,
    resumable (sources/pagerduty.py)."""
    from .sources.pagerduty import PAGERDUTY_API, PagerDutyIncidents, open_client

    return _ingest_incident_api(
        open_client, lambda client, links: PagerDutyIncidents(client, base=url or PAGERDUTY_API, name=log_name,
                                                              links=links, since=since),
        url=url, token_env=token_env, transport=transport, store_path=store_path, config=config)


def ingest_opsgenie(
    *,
    url: str | None = None,
    token_env: str | None = None,
    query: str = "",
    since: datetime | None = None,
    store_path: str | Path | None = DEFAULT_STORE,
    config: Config | None = None,
    transport=None,
) -> "LogSummary":
    """Read Opsgenie alerts (those matching `query`, Opsgenie's search syntax) through the REST API
    (`url`, default api.opsgenie.com; the API key from `token_env`, default OPSGENIE_TOKEN, never
    stored or shown) as `incident` items of log `opsgenie:api`: incrementally, only alerts updated
    since the last complete walk (or `since`), one transaction per page, resumable
    (sources/opsgenie.py)."""
    from .sources.opsgenie import OPSGENIE_API, OpsgenieAlerts, open_client

    return _ingest_incident_api(
        open_client, lambda client, links: OpsgenieAlerts(client, base=url or OPSGENIE_API, query=query, links=links,
                                                          since=since),
        url=url, token_env=token_env, transport=transport, store_path=store_path, config=config)


def _ingest_incident_api(open_client, build, *, url, token_env, transport, store_path, config) -> "LogSummary":
    """The REST incident sources' one way in (sources/incident_api.py): the token is checked
    before the store is opened (one line naming its variable when unset), then the source
    `build(client_factory, links)` makes walks incrementally through the runner."""
    open_client(url, token_env, transport=transport).close()
    config = config or load_config()
    source = build(lambda: open_client(url, token_env, transport=transport), config.incident_services)
    return run_source(source, store_path=store_path, config=config)


def ingest_jira_csv(
    path: str | Path,
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    log_name: str | None = None,
    config: Config | None = None,
    url: str | None = None,
) -> "LogSummary":
    """Read a Jira CSV export (sources/jira.py JIRA_CSV_COLUMNS) as `issue`/`incident` items.

    A reporter with an account id (`Reporter Id`) gets the actor id the REST API gives the same
    account on the site `url` (https://acme.atlassian.net), so both ways in name one person alike;
    a reporter known only by name is pseudonymised by that name (`sources.jira.csv_actor`)."""
    from .sources.jira_export import JiraCsv

    source = JiraCsv(path, name=_log_name(log_name, path), where=_jira_host(url) if url else "jira")
    return run_source(source, store_path=store_path, config=config)


def _jira_host(url: str) -> str:
    from urllib.parse import urlsplit

    if not url.startswith(("http://", "https://")) or not urlsplit(url).hostname:
        raise ConfigError(f"--url: {url!r} is not an http(s) base URL")
    return urlsplit(url).hostname or ""


def ingest_jira(
    project: str,
    *,
    url: str,
    store_path: str | Path | None = DEFAULT_STORE,
    token_env: str | None = None,
    since: datetime | None = None,
    progress: Progress | None = None,
    config: Config | None = None,
    sleep: Callable[[float], object] | None = None,
    clock: Callable[[], float] | None = None,
):
    """Read a Jira project's issues and their status transitions through the REST API into the
    store: incremental (only issues updated since the last run), resumable, one transaction per
    page, like `ingest_github` (sources/jira.py says which search API and why).

    The token comes from environment variable `token_env` (default JIRA_TOKEN: a Data Center
    personal access token, sent as Bearer; with JIRA_EMAIL set, a Jira Cloud API token sent as Basic
    email:token). It is never stored, logged or shown. Returns an `ApiIngestResult`.
    """
    import time

    from .sources.api_walk import ApiWalks
    from .sources.http import JIRA, ApiClient, Provider
    from .sources.jira import JiraSource
    from .store.api_load import cache_lookup

    # The key goes into a JQL query: only what Jira allows in a project key.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", project or ""):
        raise ConfigError(f"--jira: {project!r} is not a Jira project key (letters, digits, _)")
    _jira_host(url)
    token = _api_token(token_env, JIRA.token_env)
    provider = JIRA
    email = os.environ.get("JIRA_EMAIL", "").strip()
    if email and token:
        basic = base64.b64encode(f"{email}:{token}".encode()).decode()
        provider = Provider("Jira", "jira", token_env or JIRA.token_env, lambda _t: ("Authorization", f"Basic {basic}"))
    config = config or load_config()
    matcher = Matcher.load(config.signatures, config.bots)
    progress = progress or Progress()
    if token is None:
        progress.note(f"no token in {token_env or JIRA.token_env}: only issues visible to anonymous users can be read")

    def open_client(store: Store) -> ApiClient:
        return ApiClient(url, provider=provider, token=token, cached=cache_lookup(store),
                         on_wait=getattr(progress, "wait", None), sleep=sleep or time.sleep, clock=clock or time.time)

    source = ApiWalks(f"jira:{project}", [project], open_client=open_client,
                      make=lambda store, client, name: JiraSource(store, client, name, matcher),
                      since=since, progress=progress)
    return run_source(source, store_path=store_path, config=config, progress=progress, matcher=matcher)[0]


def export(
    fmt: str,
    out: str | Path,
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    show_names: bool = False,
) -> "ExportSummary":
    """Write the store's canonical log as OCEL 2.0 (JSON or SQLite), XES or Parquet."""
    from .export import export_store

    with _damaged_store(store_path), Store.open_read(store_path) as store:
        return export_store(store, fmt, out, show_names=show_names)


def restore_store(*, store_path: str | Path = DEFAULT_STORE) -> tuple[Path, Path | None]:
    """Replace the store by the restore point taken before the last ingest that changed it.
    Returns (the restored store, where the replaced file was kept)."""
    from .store.db import restore

    return restore(store_path)


def forget_person(person: str, *, store_path: str | Path = DEFAULT_STORE):
    """Remove one person's clear identity (names, emails) and text fields from the store; metrics
    are unchanged (store/forget.py). Returns a `Forgotten` with the rows changed."""
    from .store.forget import forget_person as run
    from .store.forget import rewrite_without_old_blocks

    with _damaged_store(store_path), Store.open(store_path, create=False) as store:
        forgotten = run(store, person)
        rewrite_without_old_blocks(store)
        return forgotten


def _log_name(log_name: str | None, path: str | Path) -> str:
    name = log_name if log_name is not None else Path(path).name.split(".")[0]
    # The name is part of every case's id (events:LOG:CASE), so it cannot hold the separator.
    if not name or ":" in name or name != name.strip():
        raise ConfigError(f"--log-name: {name!r} is not a usable log name (non-empty, no ':' or outer spaces)")
    return name


def _report_window(store: Store, as_of: datetime | None, days: int, repos: Sequence[str] | None,
                   config: Config | None = None, scope=None):
    """The window a report looks from: `as_of` when given, else the one the store's data suggests."""
    from .metrics.changes import Window
    from .report.document import default_as_of

    rule = "given"
    if as_of is None:
        as_of, rule = default_as_of(store, repos)
    return Window(as_of=as_of, days=days, rule=rule, scope=scope,
                  **({"ai_classes": config.ai_classes, "min_adoption_share": config.min_adoption_share}
                     if config is not None else {}))


def _scope(store: Store, config: Config, *, team: str | None, agent: str | None, since: date | None,
           until: date | None):
    """The slice of `--team/--agent/--from/--to` (metrics/scope.py), checked against the store."""
    from .metrics.scope import Scope, check_dates, delegated_changes, team_scope

    check_dates(since, until)
    actors: frozenset[str] = frozenset()
    items: frozenset[str] = frozenset()
    if team is not None:
        from .teams import resolve

        by_actor, _unmatched = resolve(store.con, config.teams, config.path) if config.teams else ({}, [])
        actors = team_scope(team, by_actor, [t.name for t in config.teams])
        items = delegated_changes(store.con, actors)
    if agent is not None:
        known = sorted({*_agents(store), *config.logs.agents()})  # an event log's agents are named in loopmeter.toml
        if agent not in known:
            known = sorted({*known, *_log_agents(store, config)})
        if agent not in known:
            raise ConfigError(f"--agent: no change or event-log case in the store is attributed to {agent!r} "
                              f"(agents: {', '.join(known) if known else 'none'})")
    return Scope(team=team, team_actors=actors, team_items=items, agent=agent, since=since, until=until)


def _log_agents(store: Store, config: Config) -> set[str]:
    """The agents that performed events of the store's event logs, by the names `--agent` cuts a
    log by (metrics/loop_slice.py `agent_names`); read only when a name is not found otherwise."""
    from .metrics.log_loops import resource_kinds
    from .metrics.loop_slice import agent_names

    logs = [n for (n,) in store.con.execute("select name from event_logs where format <> 'mlflow'").fetchall()]
    return {a for log in logs for a in agent_names(resource_kinds(store, log, config.logs.for_log(log))).values()}


def _agents(store: Store) -> list[str]:
    """Every agent named by an attribution or an agent account in the store."""
    rows = store.con.execute("select distinct agent from attributions union select distinct agent from actors "
                             "where agent is not null order by 1").fetchall()
    return [a for (a,) in rows if a]


def report_filters(*, store_path: str | Path | None = DEFAULT_STORE, config: Config | None = None) -> dict:
    """What a report can be cut to: `{"repos", "teams", "agents"}` of this store and loopmeter.toml
    (the dashboard's filter choices). The store is only read."""
    from .teams import UNASSIGNED

    config = config or load_config()
    with _damaged_store(store_path), Store.open_read(store_path) as store:
        repos = [r for (r,) in store.con.execute("select repo from repos order by repo").fetchall()]
        agents = sorted({*_agents(store), *config.logs.agents()})
    teams = [t.name for t in config.teams] + ([UNASSIGNED] if config.teams else [])
    return {"repos": repos, "teams": teams, "agents": agents}


def report_from_store(
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    as_of: datetime | None = None,
    window_days: int | None = None,
    adoption_date: date | str | Sequence[str] | None = None,
    repos: list[str] | None = None,
    team: str | None = None,
    agent: str | None = None,
    since: date | None = None,
    until: date | None = None,
    html_path: str | Path | None = None,
    show_names: bool = False,
    seed: int = 0,
    config: Config | None = None,
    failure_window_hours: float = 24.0,
    incident_rule: str = "linked",
    by: str | None = None,
    read_only: bool = False,
    week: date | None = None,
    progress: Callable[[str], object] | None = None,
    repo_urls: Mapping[str, str] | None = None,
    changes: list | None = None,
    engine: str = "duckdb",
    parquet: str | Path | None = None,
    beside: bool = False,
) -> dict:
    """Compute the report document from the store; also write the HTML report if `html_path` is given.

    `repos`, `team`, `agent`, `since` and `until` cut the report to a slice (metrics/scope.py; the
    document's `filters` key says which). `failure_window_hours` and `incident_rule` decide which
    deployments count as failed changes (docs/metrics.md "Flow metrics"). `by` is the unit of the
    lift designs: "repo", "team" (loopmeter.toml `[[team]]`) or "codeowners"; None means "team"
    when loopmeter.toml defines a team, else "repo". `adoption_date`: one date for every repository,
    or the `--adoption-date` values as `lift` takes them (`YYYY-MM-DD`, `REPO=YYYY-MM-DD`,
    `TEAM=YYYY-MM-DD` per team). `read_only` opens the store read-only (the
    dashboard). With `week` (its Monday), the result is instead `{"week", "filters", "changes"}`:
    that week's changes of the slice, newest first (the dashboard's drill-down). `progress(step)` is
    told each part of the report as it starts. Each repository's `web_url` is its git remote's web
    address when its path is still on this machine (or the `repo_urls` entry for it, which wins);
    the HTML report links changes under it. A `changes` list is filled with the slice's change rows
    (report.document.change_rows), read in the same opening of the store, for a caller that renders
    the page itself (the dashboard's /report). With `parquet` (a `loopmeter export --format parquet`
    directory) the report reads that instead of the store, its metrics on `engine` ("duckdb" or
    "spark"; engine.py). `beside`: compute the lift designs in a worker forked from this process
    (report/beside.py), for a caller that owns its process (the CLI, whose only other thread is its progress display,
    which the worker never writes to: beside._silence)."""
    from .metrics.dora import FailureRule
    from .lift.options import choose_unit
    from .report.document import build_report, change_rows  # before a worker is forked, so the worker has it

    _check_window(window_days)
    failure_rule = FailureRule(window_hours=failure_window_hours, incident_rule=incident_rule)
    config = config or load_config()
    by_given = by is not None
    by = choose_unit(by, config.teams)
    adoption_date = _adoption(adoption_date, by)
    window_days = window_days or config.window_days
    # Forked before the store opens (report/beside.py says why); given its inputs once they are known.
    worker = None
    if beside and week is None and parquet is None and engine == "duckdb":
        from .report.beside import fork_worker

        worker = fork_worker()
    with worker if worker is not None else nullcontext(), _opened(store_path, engine, parquet) as (store, con):
        scope = _scope(store, config, team=team, agent=agent, since=since, until=until)
        window = _report_window(store, as_of, window_days, repos, config, scope)
        if week is not None:
            rows = change_rows(store, window=window, repos=repos, show_names=show_names, week=week)
            return {"week": week.isoformat(), "filters": scope.as_dict(repos), "changes": rows}
        adoption_date, loop_dates = _split_adoption(store, adoption_date, repos, by)
        doc = build_report(store, window=window, adoption_date=adoption_date,
                           repos=repos, seed=seed, failure_rule=failure_rule,
                           matcher=Matcher.load(config.signatures, config.bots), by=by, teams=config.teams,
                           config_path=config.path, show_names=show_names, by_given=by_given,
                           durability_horizons=config.durability_days, step=progress, engine=con,
                           lift_worker=worker)
        if progress is not None and doc.get("event_logs"):
            progress("event logs as loops")
        _log_loops(store, doc, config, window, seed, loop_dates, repos, engine=con, progress=progress)
        _add_web_urls(doc, repo_urls or {})
        if html_path is not None or changes is not None:
            rows = change_rows(store, window=window, repos=repos, show_names=show_names)
            if changes is not None:
                changes.extend(rows)
        if html_path is not None:
            from .report.html import render_html

            if progress is not None:
                progress("writing the HTML report")
            render_html(doc, rows, Path(html_path))
    return doc


@contextmanager
def _opened(store_path, engine: str, parquet) -> Iterator[tuple[Store, object]]:
    """(store, Ibis backend or None): the store read-only, or a Parquet export on `engine` (engine.py)."""
    from .engine import check_engine, open_export

    check_engine(engine, parquet)
    if parquet is None:
        with damaged_store(store_path), Store.open_read(store_path) as store:
            yield store, None
        return
    with open_export(parquet, engine) as (store, con):
        yield store, con


def _add_web_urls(doc: dict, given: Mapping[str, str]) -> None:
    """`repos[].web_url`: the given address, else the one of the repository's `origin` remote.

    One `git config` a repository, in threads: an organisation's report asked 1,000 of them one
    after another (6.7 s of a 33 s profiled report, docs/scale.md). git, not a reader of the config
    file, because of its include and includeIf sections."""
    import subprocess

    from .report.links import web_url
    from .sources.git import in_threads

    known = {str(r.get("repo")) for r in doc.get("repos") or []}
    for name in given:
        if name not in known:
            raise BadInput(f"--repo-url {name}=...: no repository {name!r} in this report "
                           f"(repositories: {', '.join(sorted(known)) or 'none'})")

    def origin(r: dict) -> str | None:
        url = given.get(str(r.get("repo")))
        path = r.get("path")
        if url is None and path and Path(str(path)).exists():
            try:
                out = subprocess.run(["git", "-C", str(path), "config", "--get", "remote.origin.url"],
                                     capture_output=True, text=True, timeout=10)
                url = web_url(out.stdout.strip()) if out.returncode == 0 else None
            except (OSError, subprocess.SubprocessError):
                url = None
        return url

    repos = doc.get("repos") or []
    for r, url in zip(repos, in_threads(origin, repos, workers=8)):
        r["web_url"] = url


def _adoption(value, by: str):
    """`--adoption-date` as the lift command parses it: None, one date (a `date` or its text), or
    the per-repository / per-team `NAME=DATE` values. A bad value is one line (ConfigError)."""
    from .lift.options import parse_adoption

    if value is None or isinstance(value, date):
        return value
    values = [value] if isinstance(value, str) else list(value)
    return parse_adoption(values, unit="repo" if by == "repo" else "team")


def _loop_names(store: Store) -> tuple[list[str], list[str]]:
    """(event logs measured as loops, MLflow experiments) by the names `--adoption-date` uses."""
    rows = store.con.execute("select name, format from event_logs order by name").fetchall()
    return ([n for n, f in rows if f != "mlflow" and not str(f).startswith("jira")],
            [n.removeprefix("mlflow:") for n, f in rows if f == "mlflow"])


def _split_adoption(store: Store, adoption, repos: Sequence[str] | None, by: str):
    """The report's `--adoption-date` for the repository designs, and the loops' dates
    (lift/loop_adoption.py: the one rule `lift --log` follows too)."""
    from .lift.loop_adoption import split_adoption

    logs, exps = _loop_names(store)
    units = None
    if by == "repo":
        units = [r for (r,) in store.con.execute("select repo from repos").fetchall()]
    return split_adoption(adoption, loops=logs + exps, units=units, unit="repo" if by == "repo" else "team",
                          sliced=repos if by == "repo" else None)


def _log_loops(store: Store, doc: dict, config: Config, window, seed: int, loop_dates=None,
               repos: Sequence[str] | None = None, engine=None, progress=None) -> None:
    """Each event log's work-loop keys (metrics/log_loops.py) and each experiment's entry, split at
    `loop_dates` (lift/loop_adoption.py) and cut to the report's `--from/--to`; judged as of the
    report's as-of only when it was given: a log's own weeks otherwise end at its newest event.
    A `--repo/--team/--agent` slice cuts each loop where its data can say (metrics/loop_slice.py);
    a loop it cannot cut is taken out of its list and named in `left_out` with the reason.
    `engine` (Spark over a Parquet export): where the logs' per-case queries, the experiments' runs
    and the incidents are read. `progress(step)` is told when the experiments and the incidents start."""
    from .lift.loop_adoption import LoopAdoption
    from .metrics.experiments import experiments
    from .metrics.log_loops import is_loop, with_loops
    from .metrics.loop_slice import INCIDENT_FORMATS, LoopSlice

    loop_dates = loop_dates or LoopAdoption()
    scope = window.scope
    since, until = (scope.since, scope.until) if scope is not None else (None, None)
    cut = LoopSlice(repos=tuple(repos or ()), team=scope.team if scope is not None else None,
                    agent=scope.agent if scope is not None else None)
    left_out: list[dict] = []
    logs = doc.get("event_logs") or []
    # MLflow experiments are logs in the store but loops of their own kind in the report.
    doc["event_logs"] = [g for g in logs if g.get("format") != "mlflow"]
    if cut.repos:
        left_out += [{"section": "event_logs", "name": g["name"], "why": cut.log_left_out(str(g.get("format")))}
                     for g in doc["event_logs"] if is_loop(g)]
        doc["event_logs"] = [g for g in doc["event_logs"] if not is_loop(g)]
    with_loops(store, doc["event_logs"], config.logs.for_log, days=window.days,
               as_of=window.as_of if window.rule == "given" else None, adoption=loop_dates.date_for,
               since=since, until=until, seed=seed, team=cut.team, agent=cut.agent, engine=engine)
    left_out += [{"section": "event_logs", "name": g["name"], "why": g["left_out"]} for g in doc["event_logs"]
                 if "left_out" in g]
    doc["event_logs"] = [g for g in doc["event_logs"] if "left_out" not in g]
    names = [g["name"].removeprefix("mlflow:") for g in logs if g.get("format") == "mlflow"]
    if names:
        if (why := cut.experiment_left_out()) is not None:
            left_out += [{"section": "experiments", "name": n, "why": why} for n in names]
        else:
            given = {n: d for n in names if (d := loop_dates.date_for(n)[0]) is not None}
            if progress is not None:
                progress("experiments")
            doc["experiments"] = experiments(store, seed=seed, adoption=given, since=since, until=until,
                                              engine=engine)
    if any(g.get("format") in INCIDENT_FORMATS for g in logs):
        from .metrics.incidents import incidents

        if (why := cut.incidents_left_out()) is not None:
            left_out.append({"section": "incidents", "name": "incidents", "why": why})
        else:
            if progress is not None:
                progress("incidents")
            doc["incidents"] = incidents(store, repos=cut.repos, team=cut.team, since=since, until=until,
                                          engine=engine)
    if left_out:
        doc["left_out"] = left_out


def _one_loop(store: Store, name: str, kind: str) -> None:
    """Refuse, in one line, a `--log` that is an experiment, an `--experiment` that is a log, and a
    name that is neither (naming what there is)."""
    rows = store.con.execute("select name, format from event_logs order by name").fetchall()
    names = {"log": [n for n, f in rows if f != "mlflow"],
             "experiment": [n.removeprefix("mlflow:") for n, f in rows if f == "mlflow"]}
    if name in names[kind]:
        return
    other = "experiment" if kind == "log" else "log"
    noun = {"log": "an event log", "experiment": "an MLflow experiment"}
    if name in names[other]:
        raise ConfigError(f"--{kind}: {name!r} is {noun[other]}, not {noun[kind]}; loopmeter lift --{other} {name}")
    how = "loopmeter ingest --events FILE" if kind == "log" else "loopmeter ingest --mlflow TRACKING_URI"
    raise NoData(f"--{kind}: no {noun[kind].split(' ', 1)[1]} named {name!r} in the store"
                 + (f" (it has: {', '.join(names[kind])})" if names[kind] else f" (it has none; {how})"))


def log_lift(
    name: str,
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    adoption_dates: Sequence[str] | None = None,
    as_of: datetime | None = None,
    window_days: int | None = None,
    since: date | None = None,
    until: date | None = None,
    seed: int = 0,
    n_boot: int = 2000,
    config: Config | None = None,
    engine: str = "duckdb",
    parquet: str | Path | None = None,
) -> dict:
    """The lift of event log `name`'s loop: before/after adoption (`adoption_dates`: "YYYY-MM-DD"
    or "NAME=YYYY-MM-DD"; else loopmeter.toml `[[log]] adoption_date`; else detected from agent
    resources) and AI-handled vs human cases, over the cases done in [since, until] (open ones
    started by `until`), as `report --from/--to` cuts them. Returns `{design: "log", log, designs:
    [...]}` plus the loop's weekly series, cycle time, waiting and AI share. With `parquet` (a
    `loopmeter export --format parquet` directory) the cases are read from it on `engine`
    ("duckdb" or "spark"; engine.py), the statistics computed here."""
    from .lift.loop_adoption import parse_loop_dates
    from .metrics.log_loops import LogWindow, log_loop
    from .metrics.scope import check_dates

    _check_window(window_days)
    check_dates(since, until)
    config = config or load_config()
    loop_dates = parse_loop_dates(adoption_dates, meta="LOG")
    with _opened(store_path, engine, parquet) as (store, con):
        _one_loop(store, name, "log")
        settings = config.logs.for_log(name)
        day, source = loop_dates.date_for(name, settings.adoption_date)
        loop = log_loop(store, name, settings, LogWindow(window_days or config.window_days, as_of, since, until),
                        adoption_date=day, adoption_source=source, seed=seed, n_boot=n_boot, engine=con)
    lift = loop.pop("lift")
    return {"design": "log", "log": name, **lift, **loop}


def experiment_lift(
    name: str,
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    adoption_dates: Sequence[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    seed: int = 0,
    n_boot: int = 2000,
    engine: str = "duckdb",
    parquet: str | Path | None = None,
) -> dict:
    """The lift of MLflow experiment `name`'s loop (ingested with `ingest --mlflow`): run duration
    and turnaround before/after adoption (`adoption_dates` as for `log_lift`, else detected from
    agent-launched runs) and agent-launched vs human runs, over the runs started in [since,
    until]. Returns `{design: "experiment-loop", experiment, designs: [...], verdict}` plus the
    report's `experiments[]` keys for it (the same entry, so the same verdict). With `parquet` (a
    `loopmeter export --format parquet` directory) the runs are read from it on `engine` ("duckdb"
    or "spark"; engine.py), the statistics computed here."""
    from .lift.loop_adoption import parse_loop_dates
    from .metrics.experiments import experiment_entry
    from .metrics.scope import check_dates

    check_dates(since, until)
    loop_dates = parse_loop_dates(adoption_dates, meta="EXPERIMENT")
    with _opened(store_path, engine, parquet) as (store, con):
        _one_loop(store, name, "experiment")
        log = f"mlflow:{name}"
        (source,) = store.con.execute("select path from event_logs where name = ?", [log]).fetchone()
        entry = experiment_entry(store, log, source, seed=seed, n_boot=n_boot,
                                 adoption_date=loop_dates.date_for(name)[0], since=since, until=until,
                                 engine=con)
    lift = entry.pop("lift")
    return {"design": "experiment-loop", "experiment": name, **lift, **entry}


def analyze(
    paths: Sequence[str | Path],
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    html_path: str | Path | None = "loopmeter-report.html",
    branch: str | None = None,
    progress: Progress | None = None,
    pull_refs: bool = True,
    **report_options,
) -> dict:
    """Ingest the repositories, then report on exactly those repositories."""
    from .lift.options import choose_unit

    _check_window(report_options.get("window_days"))
    config = report_options.pop("config", None) or load_config()
    # A bad --by is one line before anything is read, not after a long ingest.
    # (Checked only: report_from_store chooses again, knowing whether --by was given.)
    by = choose_unit(report_options.get("by"), config.teams)
    _adoption(report_options.get("adoption_date"), by)  # a bad date too
    results = ingest(paths, store_path=store_path, branch=branch, progress=progress, config=config, pull_refs=pull_refs)
    step = getattr(progress, "step", None)
    return report_from_store(store_path=store_path, repos=[r.repo for r in results], html_path=html_path, config=config,
                             progress=(lambda name: step("report: " + name)) if step else None, **report_options)


def legibility(path: str | Path | None, *, store_path: str | Path | None = None, config: Config | None = None) -> dict:
    """The agent-legibility scorecard of the repository or directory at `path` (docs/legibility.md).

    With `store_path`, tracker and CI items ingested for the repository add the checks that need
    them (ticket states, CI latency and flakiness); the store is only read.

    Without `path`: every repository of the store at `store_path`, `{repo: scorecard}` (None where
    its path is not on this machine), as a report computes them (each reading kept per tip).
    """
    from .legibility import scorecard
    from .legibility.scan import check_path

    # Agents configured in loopmeter.toml are not people, here as in every other metric.
    if path is None:
        if store_path is None:
            raise ConfigError("give a PATH to score, or --store STORE to score every repository it holds")
        from .legibility.score import for_report

        matcher = _matcher(config or load_config())
        with _damaged_store(store_path), Store.open_read(store_path) as store:
            repos = store.con.execute("select repo, path from repos order by repo").fetchall()
            return for_report(store, repos, matcher)
    check_path(path)  # a bad path is reported as such, before any store is opened
    matcher = _matcher(config or load_config())
    if store_path is None:
        return scorecard(path, matcher=matcher)
    with _damaged_store(store_path), Store.open_read(store_path) as store:
        return scorecard(path, store, matcher)


def changes_frame(*, store_path: str | Path | None = DEFAULT_STORE, as_of: datetime | None = None,
                  window_days: int = 14) -> "pd.DataFrame":
    """Every change with its state, attribution and cycle time, as a pandas DataFrame."""
    from .metrics.changes import Window, backend, changes

    with Store.open_read(store_path) as store:
        con = backend(store)
        return con.execute(changes(con, Window(as_of=as_of or utcnow(), days=window_days)))


def lift(
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    design: str = "before-after",
    adoption_dates: Sequence[str] | None = None,
    repos: list[str] | None = None,
    as_of: datetime | None = None,
    window_days: int | None = None,
    seed: int = 0,
    n_boot: int = 2000,
    csv_path: str | Path | None = None,
    duration: str | None = None,
    start: str | None = None,
    end: str | None = None,
    treatment: str | None = None,
    treated: str | None = None,
    cluster: str | None = None,
    covariates: Sequence[str] = (),
    config: Config | None = None,
    by: str = "repo",
    randomization: str = "assumed",
    fixed_effects: Sequence[str] = (),
    duration_unit: str | None = None,
    engine: str = "duckdb",
    parquet: str | Path | None = None,
    failure_window_hours: float = 24.0,
    incident_rule: str = "linked",
) -> dict:
    """One lift design with every estimator, its caveats and the specification table.

    `design` is "before-after" (adoption dates: one "YYYY-MM-DD" or "repo=YYYY-MM-DD" per
    repository in `adoption_dates`, detected when omitted) or "ai-vs-human" over the store; or give
    `csv_path` (with `duration` or `start`/`end`, `treatment`, optional `treated`, `cluster`, `covariates`,
    `fixed_effects`, `randomization` "unit"/"cluster"/"none"/"assumed" and `duration_unit`; see
    designs/pilot.py) for a pilot experiment's task table, which needs no store. `by` "team" runs the design per team
        of loopmeter.toml (`[[team]]`; adoption dates then "team=YYYY-MM-DD"), "codeowners" per team
    owning most of each change's lines in CODEOWNERS. `parquet` and `engine`: read a Parquet export on
    that engine instead of the store, as `report_from_store` does. `failure_window_hours` and
    `incident_rule` judge the deployments of the before-after change failure rate, as in `report`. Returns
    `{design, unit, results: [{metric, estimator, ratio, ci_low, ci_high, p_value, ...}], specification, ...}`.
    """
    from .lift import designs as ld

    if csv_path is not None:
        return ld.experiment_design(csv_path, duration=duration, start=start, end=end, treatment=treatment,
                                    treated=treated, cluster=cluster, covariates=tuple(covariates), seed=seed, n_boot=n_boot,
                                    randomization=randomization, fixed_effects=tuple(fixed_effects),
                                    duration_unit=duration_unit)
    if design not in ("before-after", "ai-vs-human"):
        raise ConfigError(f"--design: {design!r} is not one of before-after, ai-vs-human (or give --csv)")
    _check_window(window_days)
    from .metrics.changes import backend
    from .lift.options import parse_adoption
    from .lift.options import choose_unit
    from .metrics.dora import FailureRule

    failure_rule = FailureRule(window_hours=failure_window_hours, incident_rule=incident_rule)  # checked before any work
    config = config or load_config()
    by = choose_unit(by, config.teams)  # the one check of --by, as for the report
    adoption = parse_adoption(list(adoption_dates) if adoption_dates else None, unit="repo" if by == "repo" else "team")
    window_days = window_days or config.window_days
    with _opened(store_path, engine, parquet) as (store, con):
        window = _report_window(store, as_of, window_days, repos, config)
        engine_con = con if con is not None else backend(store)
        doc = ld.run_design(engine_con, window, repos, design, adoption, seed=seed, n_boot=n_boot, by=by,
                            teams=config.teams, config_path=config.path, failure_rule=failure_rule)
    doc["unit"] = by
    doc["as_of"] = window.as_of.replace(microsecond=0).isoformat() + "Z"
    doc["as_of_rule"] = window.rule
    doc["window_days"] = window.days
    return doc
