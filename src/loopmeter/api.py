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
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from typing import TYPE_CHECKING, TypedDict, Unpack

import duckdb

from .attribution import Matcher
from .config import Config, load_config
from .errors import BadInput, ConfigError, StoreError
from .ingestion import IngestResult, Progress, ingest_git
from .sources.git import open_repository
from .store.db import DEFAULT_STORE, Store, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from .sources.eventlog import Mapping as EventMapping
    from .export import ExportSummary
    from .store.event_logs import LogSummary

# Ibis and pandas are imported where reports are computed, not here: an ingest does not need them,
# and they add ~65 MB to its peak memory.

# What DuckDB raises when a store's blocks are unreadable: a damaged file, not a bug in a query.
_DAMAGE = (duckdb.IOException, duckdb.InternalException, duckdb.SerializationException, duckdb.FatalException)


@contextmanager
def _damaged_store(store_path: str | Path | None) -> Iterator[None]:
    """Report damage DuckDB finds only when it reads a block (not when it opens the file) as a StoreError."""
    try:
        yield
    except _DAMAGE as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreError(f"{store_path}: the store is damaged or cannot be written ({first})") from e


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
) -> list[IngestResult]:
    """Read each repository's new history into the store. Returns what each ingest did."""
    config = config or load_config()
    matcher = Matcher.load(config.signatures)
    # Every path is checked before the store is opened: a bad path neither creates a store nor
    # leaves one updated with only the repositories listed before it.
    repos = [open_repository(p, branch) for p in paths]
    with _damaged_store(store_path), Store.open(store_path) as store:
        results = [ingest_git(store, info, matcher=matcher, progress=progress, pull_refs=pull_refs) for info in repos]
        _relink_sessions(store)
        return results


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
    from .session_ingest import ingest_sessions as run

    matcher = Matcher.load((config or load_config()).signatures)
    with _damaged_store(store_path), Store.open(store_path) as store:
        return run(store, list(paths), fmt=fmt, keep_text=keep_text, progress=progress, matcher=matcher)


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

    from .sources.http import GITHUB, GITLAB, ApiClient
    from .store.api_load import cache_lookup

    mod = importlib.import_module(f".sources.{kind}", __package__)
    provider = GITHUB if kind == "github" else GITLAB
    config = config or load_config()
    matcher = Matcher.load(config.signatures)
    # Names and token are checked before the store is opened, so a typo creates nothing.
    names = [mod.check_repo_name(n) for n in names]
    token = _api_token(token_env, provider.token_env)
    progress = progress or Progress()
    if token is None:
        progress.note(f"no token in {provider.token_env}: only public data can be read, and {provider.name} "
                      "allows few requests an hour without one")
    on_wait = getattr(progress, "wait", None)
    results = []
    with _damaged_store(store_path), Store.open(store_path) as store:
        for name in names:
            with ApiClient(mod.api_base(url or mod.DEFAULT_URL), provider=provider, token=token, cached=cache_lookup(store),
                           on_wait=on_wait, sleep=sleep or time.sleep, clock=clock or time.time) as client:
                source = mod.Source(store, client, name, matcher)
                result = source.ingest(since=since, progress=progress)
                result.requests = client.stats.requests
                result.not_modified = client.stats.not_modified
                result.waited_seconds = client.stats.waited_seconds
                results.append(result)
        _relink_sessions(store)
    return results


def _relink_sessions(store: Store) -> None:
    """Agent sessions link to changes through commits, pull requests and branches; when any of
    those were rebuilt, the links are rebuilt too."""
    if store.con.execute("select count(*) from items where kind = 'agent_session'").fetchone()[0]:
        from .store.session_load import link_sessions

        link_sessions(store)


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
    from .sources.eventlog import check_readable, read_event_log
    from .store.event_logs import ingest_log
    from .store.git_load import Identities

    name = _log_name(log_name, path)
    fmt = check_readable(path, fmt)  # before the store is opened: a wrong path creates nothing
    config = config or load_config()
    with _damaged_store(store_path), Store.open(store_path) as store:
        ids = Identities(store.meta("salt") or "", Matcher.load(config.signatures))
        return ingest_log(store, name=name, path=str(path), ids=ids,
                          read=lambda sink: read_event_log(path, fmt, mapping, sink=sink))


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
    from .sources.jira import csv_actor, issue_rows, read_jira_csv
    from .store.api_load import ApiActors
    from .store.event_logs import write_log
    from .store.git_load import Identities

    name = _log_name(log_name, path)
    where = _jira_host(url) if url else "jira"
    issues, skipped = read_jira_csv(path)
    config = config or load_config()
    with _damaged_store(store_path), Store.open(store_path) as store:
        matcher = Matcher.load(config.signatures)
        ids = Identities(store.meta("salt") or "", matcher)
        accounts = ApiActors(store.meta("salt") or "", matcher, where)
        rows = issue_rows(issues, csv_actor(ids, accounts), None)
        for aid, kind, shown, _email, _team, agent in accounts.rows.values():
            ids.new_rows.append((aid, kind, shown, "", agent))  # written with the log's other actors
        return write_log(store, name=name, path=str(path), fmt="jira-csv", rows=rows, skipped=skipped, ids=ids)


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
    matcher = Matcher.load(config.signatures)
    progress = progress or Progress()
    if token is None:
        progress.note(f"no token in {token_env or JIRA.token_env}: only issues visible to anonymous users can be read")
    with _damaged_store(store_path), Store.open(store_path) as store:
        with ApiClient(url, provider=provider, token=token, cached=cache_lookup(store),
                       on_wait=getattr(progress, "wait", None), sleep=sleep or time.sleep,
                       clock=clock or time.time) as client:
            result = JiraSource(store, client, project, matcher).ingest(since=since, progress=progress)
            result.requests = client.stats.requests
            result.not_modified = client.stats.not_modified
            result.waited_seconds = client.stats.waited_seconds
        _relink_sessions(store)
    return result


def export(
    fmt: str,
    out: str | Path,
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    show_names: bool = False,
) -> "ExportSummary":
    """Write the store's canonical log as OCEL 2.0 (JSON or SQLite), XES or Parquet."""
    from .export import export_store

    with _damaged_store(store_path), Store.open(store_path, create=False, read_only=True) as store:
        return export_store(store, fmt, out, show_names=show_names)


def _log_name(log_name: str | None, path: str | Path) -> str:
    name = log_name if log_name is not None else Path(path).name.split(".")[0]
    # The name is part of every case's id (events:LOG:CASE), so it cannot hold the separator.
    if not name or ":" in name or name != name.strip():
        raise ConfigError(f"--log-name: {name!r} is not a usable log name (non-empty, no ':' or outer spaces)")
    return name


def _report_window(store: Store, as_of: datetime | None, days: int, repos: Sequence[str] | None):
    """The window a report looks from: `as_of` when given, else the one the store's data suggests."""
    from .metrics.changes import Window
    from .report.document import default_as_of

    rule = "given"
    if as_of is None:
        as_of, rule = default_as_of(store, repos)
    return Window(as_of=as_of, days=days, rule=rule)


def report_from_store(
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    as_of: datetime | None = None,
    window_days: int | None = None,
    adoption_date: date | None = None,
    repos: list[str] | None = None,
    html_path: str | Path | None = None,
    show_names: bool = False,
    seed: int = 0,
    config: Config | None = None,
    failure_window_hours: float = 24.0,
    incident_rule: str = "linked",
    by: str | None = None,
    repo_urls: Mapping[str, str] | None = None,
) -> dict:
    """Compute the report document from the store; also write the HTML report if `html_path` is given.

    Each repository's `web_url` is its git remote's web address when its path is still on this
    machine (or the `repo_urls` entry for it, which wins); the HTML report links changes under it.

    `failure_window_hours` and `incident_rule` decide which deployments count as failed changes
    (docs/metrics.md "Flow metrics"). `by` is the unit of the lift designs: "repo", "team"
    (loopmeter.toml `[[team]]`) or "codeowners"; None means "team" when loopmeter.toml defines a
    team, else "repo"."""
    from .metrics.dora import FailureRule
    from .metrics.lift_report_units import choose_unit
    from .report.document import build_report, change_rows

    _check_window(window_days)
    failure_rule = FailureRule(window_hours=failure_window_hours, incident_rule=incident_rule)
    config = config or load_config()
    by_given = by is not None
    by = choose_unit(by, config.teams)
    window_days = window_days or config.window_days
    with _damaged_store(store_path), Store.open(store_path, create=False) as store:
        window = _report_window(store, as_of, window_days, repos)
        doc = build_report(store, window=window, adoption_date=adoption_date,
                           repos=repos, seed=seed, failure_rule=failure_rule,
                           matcher=Matcher.load(config.signatures), by=by, teams=config.teams,
                           config_path=config.path, show_names=show_names, by_given=by_given)
        _add_web_urls(doc, repo_urls or {})
        if html_path is not None:
            from .report.html import render_html

            rows = change_rows(store, window=window, repos=repos, show_names=show_names)
            render_html(doc, rows, Path(html_path))
    return doc


def _add_web_urls(doc: dict, given: Mapping[str, str]) -> None:
    """`repos[].web_url`: the given address, else the one of the repository's `origin` remote."""
    import subprocess

    from .report.links import web_url

    known = {str(r.get("repo")) for r in doc.get("repos") or []}
    for name in given:
        if name not in known:
            raise BadInput(f"--repo-url {name}=...: no repository {name!r} in this report "
                           f"(repositories: {', '.join(sorted(known)) or 'none'})")
    for r in doc.get("repos") or []:
        url = given.get(str(r.get("repo")))
        path = r.get("path")
        if url is None and path and Path(str(path)).exists():
            try:
                out = subprocess.run(["git", "-C", str(path), "config", "--get", "remote.origin.url"],
                                     capture_output=True, text=True, timeout=10)
                url = web_url(out.stdout.strip()) if out.returncode == 0 else None
            except (OSError, subprocess.SubprocessError):
                url = None
        r["web_url"] = url


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
    from .metrics.lift_report_units import choose_unit

    _check_window(report_options.get("window_days"))
    config = report_options.pop("config", None) or load_config()
    # A bad --by is one line before anything is read, not after a long ingest.
    # (Checked only: report_from_store chooses again, knowing whether --by was given.)
    choose_unit(report_options.get("by"), config.teams)
    results = ingest(paths, store_path=store_path, branch=branch, progress=progress, config=config, pull_refs=pull_refs)
    return report_from_store(store_path=store_path, repos=[r.repo for r in results], html_path=html_path, config=config,
                  **report_options)


def legibility(path: str | Path, *, store_path: str | Path | None = None, config: Config | None = None) -> dict:
    """The agent-legibility scorecard of the repository or directory at `path` (docs/legibility.md).

    With `store_path`, tracker and CI items ingested for the repository add the checks that need
    them (ticket states, CI latency and flakiness); the store is only read.
    """
    from .legibility import scorecard
    from .legibility.scan import check_path

    check_path(path)  # a bad path is reported as such, before any store is opened
    # Agents configured in loopmeter.toml are not people, here as in every other metric.
    matcher = Matcher.load((config or load_config()).signatures)
    if store_path is None:
        return scorecard(path, matcher=matcher)
    with _damaged_store(store_path), Store.open(store_path, create=False, read_only=True) as store:
        return scorecard(path, store, matcher)


def changes_frame(*, store_path: str | Path | None = DEFAULT_STORE, as_of: datetime | None = None,
                  window_days: int = 14) -> "pd.DataFrame":
    """Every change with its state, attribution and cycle time, as a pandas DataFrame."""
    from .metrics.changes import Window, backend, changes

    with Store.open(store_path, create=False, read_only=True) as store:
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
) -> dict:
    """One lift design with every estimator, its caveats and the specification table.

    `design` is "before-after" (adoption dates: one "YYYY-MM-DD" or "repo=YYYY-MM-DD" per
    repository in `adoption_dates`, detected when omitted) or "ai-vs-human" over the store; or give
    `csv_path` (with `duration` or `start`/`end`, `treatment`, optional `treated`, `cluster` and `covariates`)
    for a pilot experiment's task table, which needs no store. `by` "team" runs the design per team
        of loopmeter.toml (`[[team]]`; adoption dates then "team=YYYY-MM-DD"), "codeowners" per team
    owning most of each change's lines in CODEOWNERS. Returns
    `{design, unit, results: [{metric, estimator, ratio, ci_low, ci_high, p_value, ...}], specification, ...}`.
    """
    from .metrics import lift_designs as ld

    if csv_path is not None:
        return ld.experiment_design(csv_path, duration=duration, start=start, end=end, treatment=treatment,
                                    treated=treated, cluster=cluster, covariates=tuple(covariates), seed=seed, n_boot=n_boot)
    if design not in ("before-after", "ai-vs-human"):
        raise ConfigError(f"--design: {design!r} is not one of before-after, ai-vs-human (or give --csv)")
    _check_window(window_days)
    from .metrics.changes import backend
    from .metrics.lift_inputs import parse_adoption
    from .metrics.lift_report_units import choose_unit

    config = config or load_config()
    by = choose_unit(by, config.teams)  # the one check of --by, as for the report
    adoption = parse_adoption(list(adoption_dates) if adoption_dates else None, unit="repo" if by == "repo" else "team")
    window_days = window_days or config.window_days
    with _damaged_store(store_path), Store.open(store_path, create=False) as store:
        window = _report_window(store, as_of, window_days, repos)
        doc = ld.run_design(backend(store), window, repos, design, adoption, seed=seed, n_boot=n_boot, by=by,
                            teams=config.teams, config_path=config.path)
    doc["unit"] = by
    doc["as_of"] = window.as_of.replace(microsecond=0).isoformat() + "Z"
    doc["as_of_rule"] = window.rule
    doc["window_days"] = window.days
    return doc
