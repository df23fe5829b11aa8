"""The Python API: what the CLI commands call, usable from a notebook too.

Example:
    >>> from loopmeter import analyze
    >>> doc = analyze(["~/src/api"], store_path="/tmp/lm.duckdb", html_path="report.html")
    >>> doc["totals"]["validated_changes"]
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from typing import TYPE_CHECKING, TypedDict, Unpack

import duckdb

from .attribution import Matcher
from .config import Config, load_config
from .errors import BadInput, ConfigError, NoData, StoreError, UnreadablePath
from .ingestion import (IngestResult, Progress, batch_size, ingest_git, read_ahead, repo_keys, stored_tips,
                        unchanged_salt, write_ahead)
from .sources.git import open_repository
from .sources.git_set import refs_state
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
        from .store.db import restore_path

        hint = ""
        if store_path is not None and restore_path(store_path).exists():
            hint = "; `loopmeter store restore` brings back the copy taken before the last ingest"
        raise StoreError(f"{store_path}: the store is damaged or cannot be written ({first}){hint}") from e


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
    config = config or load_config()
    matcher = Matcher.load(config.signatures, config.bots)
    progress = progress or Progress()
    salt = unchanged_salt(matcher, branch=branch, pull_refs=pull_refs) + f"\0durability={int(durability)}"
    # A repository whose refs did not move since the store last read it costs one git call: the
    # stored commits, changes and attributions are already what a full run would write.
    known = _stored_refs(store_path)
    todo: list[str | Path] = []
    skipped: list[IngestResult] = []
    states: dict[str, str | None] = {}
    for p in paths:
        key = str(Path(p).expanduser().resolve())
        state = refs_state(key, salt=salt) if key in known else None
        # Agent Trace records live outside git: a run given them always reads the repository.
        if traces is None and state is not None and known[key][1] == state:
            skipped.append(known[key][2])
        else:
            todo.append(p)
    # Every other path is checked before the store is opened: a bad path neither creates a store
    # nor leaves one updated with only the repositories listed before it.
    repos = [open_repository(p, branch) for p in todo]
    for info in repos:
        states[str(info.path)] = refs_state(info.path, salt=salt)
    if traces is not None:
        if len(repos) != 1:
            raise ConfigError("--traces: give exactly one repository with it (its records name that repository's commits)")
        if not Path(traces).exists():
            raise UnreadablePath(f"{traces}: no such file or directory")
    progress.start_set(len(paths), done=len(skipped))
    if not repos:
        return _in_order(paths, skipped, [])
    with _damaged_store(store_path), Store.open(store_path, restore_point=True) as store:
        results = []
        # Small repositories are stored in groups, one commit each (Store.hold): a commit costs more
        # than a small repository's rows. A group ends after GROUP_COMMITS new commits or
        # GROUP_SECONDS, so a killed run loses little; ingest_git ends it before a long history.
        pending, since = 0, time.monotonic()
        from concurrent.futures import ThreadPoolExecutor  # here: an idle run does not import it

        keys = repo_keys(store, repos)
        previous = stored_tips(store)
        limit = batch_size()
        # Reader threads run git and parse its output for the repositories ahead while this thread
        # (DuckDB's one writer) stores the current one; a few repositories ahead at most, so memory
        # stays bounded (a prefetched history is at most one batch).
        workers = max(1, min(os.cpu_count() or 1, len(repos)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loopmeter-git")
        window = 2 * workers
        futures = {}

        def submit(i: int) -> None:
            if i < len(repos) and i not in futures:
                futures[i] = pool.submit(read_ahead, repos[i], keys[i], previous.get(keys[i], []),
                                         pull_refs=pull_refs, limit=limit)

        try:
            for i, info in enumerate(repos):
                for j in range(i, i + window):
                    submit(j)
                ahead = futures.pop(i).result()
                store.hold()
                if ahead.written is None and ahead.commits is not None:
                    # This and the next small repositories already read: their commits in one go.
                    small = [ahead]
                    for j in range(i + 1, min(i + window, len(repos))):
                        nxt = futures[j].result()
                        if nxt.commits is None:
                            break
                        small.append(nxt)
                    write_ahead(store, small, matcher)
                r = ingest_git(store, info, matcher=matcher, progress=progress, pull_refs=pull_refs, traces=traces,
                               durability=durability, relink=False, ahead=ahead)
                long = not store.held  # a long history committed batch by batch: end the group with it
                store.hold()  # the relink and the refs digest commit together, after the rows
                if states.get(str(info.path)):
                    store.set_meta(f"refs:{r.repo}", json.dumps(
                        {"digest": states[str(info.path)], "head_commits": r.head_commits, "changes": r.changes}))
                results.append(r)
                pending += r.new_commits
                if long or pending >= GROUP_COMMITS or time.monotonic() - since > GROUP_SECONDS:
                    _finish_group(store, progress)
                    pending, since = 0, time.monotonic()
                progress.repo_done()
            _finish_group(store, progress)
        except BaseException:
            for f in futures.values():
                f.cancel()
            store.release(commit=False)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if results:
            _relink_sessions(store)
        return _in_order(paths, skipped, results)


GROUP_COMMITS = 5000
GROUP_SECONDS = 10.0


def _finish_group(store: Store, progress: Progress) -> None:
    """Re-join API items to the changes rebuilt since the last group, and commit the group."""
    from .store.api_load import relink_api_sources

    progress.step("linking pull requests and issues")
    store.flush()  # the changes deferred by the group are written before API items join them
    relink_api_sources(store)
    store.release()


def _stored_refs(store_path: str | Path | None) -> dict[str, tuple[str, str, IngestResult]]:
    """path -> (repo, refs digest, what an idle run reports) for each repository the store holds.

    Read without opening the store for writing when it exists; an absent store knows nothing."""
    if store_path is None or not Path(store_path).is_file():
        return {}
    try:
        with Store.open_read(store_path) as store:
            rows = store.con.execute(
                "select r.repo, r.path, m.value from repos r join meta m on m.key = 'refs:' || r.repo"
            ).fetchall()
    except (StoreError, duckdb.Error):
        return {}  # the full path opens it again and reports what is wrong
    out = {}
    for repo, path, value in rows:
        try:
            v = json.loads(value)
            out[path] = (repo, v["digest"], IngestResult(
                repo=repo, path=path, new_commits=0, head_commits=int(v["head_commits"]), changes=int(v["changes"]),
                incremental=True, unchanged=True))
        except (ValueError, KeyError, TypeError):
            continue  # an unreadable record only costs a full read
    return out


def _in_order(paths, skipped: list[IngestResult], done: list[IngestResult]) -> list[IngestResult]:
    """Results in the order the paths were given (skipped and read ones interleave)."""
    by_path = {r.path: r for r in (*skipped, *done)}
    out = []
    for p in paths:
        r = by_path.pop(str(Path(p).expanduser().resolve()), None)
        if r is not None:
            out.append(r)
    return out + list(by_path.values())


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

    matcher = _matcher(config or load_config())
    with _damaged_store(store_path), Store.open(store_path, restore_point=True) as store:
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
    matcher = Matcher.load(config.signatures, config.bots)
    # Names and token are checked before the store is opened, so a typo creates nothing.
    names = [mod.check_repo_name(n) for n in names]
    token = _api_token(token_env, provider.token_env)
    progress = progress or Progress()
    if token is None:
        progress.note(f"no token in {provider.token_env}: only public data can be read, and {provider.name} "
                      "allows few requests an hour without one")
    on_wait = getattr(progress, "wait", None)
    results = []
    with _damaged_store(store_path), Store.open(store_path, restore_point=True) as store:
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
    from .sources.eventlog import Mapping as EventMapping
    from .sources.eventlog import check_readable, read_event_log
    from .store.csv_events import ingest_csv
    from .store.event_logs import ingest_log
    from .store.git_load import Identities

    name = _log_name(log_name, path)
    fmt = check_readable(path, fmt)  # before the store is opened: a wrong path creates nothing
    config = config or load_config()
    from .sources.safe import reading

    with _damaged_store(store_path), Store.open(store_path, restore_point=True) as store, reading(path):
        matcher = Matcher.load(config.signatures, config.bots)
        if fmt == "csv":  # DuckDB's reader when the file is clean; the Python one otherwise
            done = ingest_csv(store, name=name, path=path, mapping=mapping or EventMapping(),
                              ids=Identities(store.meta("salt") or "", matcher))
            if done is not None:
                return done
        ids = Identities(store.meta("salt") or "", matcher)
        return ingest_log(store, name=name, path=str(path), ids=ids,
                          read=lambda sink: read_event_log(path, fmt, mapping, sink=sink))


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
    from .metrics.experiments import parse_objective
    from .sources.mlflow_runs import AGENT_TAGS, log_name, read_runs, run_rows, safe_uri
    from .store.event_logs import write_log
    from .store.git_load import Identities

    if objective is not None:
        parse_objective(objective)  # a bad value is one line before the store is opened
    exps = read_runs(tracking_uri, list(experiments))
    config = config or load_config()
    out = []
    with _damaged_store(store_path), Store.open(store_path, restore_point=True) as store:
        ids = Identities(store.meta("salt") or "", Matcher.load(config.signatures, config.bots))
        for e in exps:
            rows = run_rows(e, lambda u: ids.actor_id(u, ""), agent_tags=tuple(agent_tags or AGENT_TAGS),
                            agent_users=tuple(agent_users))
            out.append(write_log(store, name=log_name(e.name), path=safe_uri(tracking_uri), fmt="mlflow", rows=rows,
                                 skipped=[], ids=ids))
            if objective is not None:
                store.set_meta(f"objective:{log_name(e.name)}", objective)
    return out


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
    from .sources.incidents import PROVIDERS, incident_rows, read_incidents
    from .store.event_logs import write_log
    from .store.git_load import Identities

    if provider not in PROVIDERS:
        raise ConfigError(f"incident provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    name = log_name or f"{provider}:{_log_name(None, path)}"
    incidents, skipped = read_incidents(path)
    config = config or load_config()
    with _damaged_store(store_path), Store.open(store_path, restore_point=True) as store:
        ids = Identities(store.meta("salt") or "", Matcher.load(config.signatures, config.bots))
        return write_log(store, name=name, path=str(path), fmt=f"{provider}-csv",
                         rows=incident_rows(provider, incidents, config.incident_services), skipped=skipped, ids=ids)


def ingest_pagerduty(
    *,
    url: str | None = None,
    token_env: str | None = None,
    store_path: str | Path | None = DEFAULT_STORE,
    log_name: str = "pagerduty:api",
    config: Config | None = None,
    transport=None,
) -> "LogSummary":
    """Read every PagerDuty incident through its REST API (`url`, default api.pagerduty.com; the
    token from `token_env`, default PAGERDUTY_TOKEN, never stored or shown) as `incident` items,
    replacing the last API ingest."""
    from .sources.http import ApiClient, token_from_env
    from .sources.incidents import PAGERDUTY_API, _pagerduty_provider, incident_rows, read_pagerduty
    from .store.event_logs import write_log
    from .store.git_load import Identities

    provider = _pagerduty_provider()
    env = token_env or provider.token_env
    token = token_from_env(env)
    if not token:
        raise ConfigError(f"PagerDuty's API needs a token: set {env} (or name another variable with --token-env)")
    base = url or PAGERDUTY_API
    with ApiClient(base, provider=provider, token=token, transport=transport) as client:
        incidents = read_pagerduty(client)
    config = config or load_config()
    with _damaged_store(store_path), Store.open(store_path) as store:
        ids = Identities(store.meta("salt") or "", Matcher.load(config.signatures))
        return write_log(store, name=log_name, path=base, fmt="pagerduty-api",
                         rows=incident_rows("pagerduty", incidents, config.incident_services), skipped=[], ids=ids)


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
    from .sources.safe import reading

    with reading(path):
        issues, skipped = read_jira_csv(path)
    config = config or load_config()
    with _damaged_store(store_path), Store.open(store_path, restore_point=True) as store, reading(path):
        matcher = Matcher.load(config.signatures, config.bots)
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
    matcher = Matcher.load(config.signatures, config.bots)
    progress = progress or Progress()
    if token is None:
        progress.note(f"no token in {token_env or JIRA.token_env}: only issues visible to anonymous users can be read")
    with _damaged_store(store_path), Store.open(store_path, restore_point=True) as store:
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
    from .metrics.scope import Scope, check_dates, team_scope

    check_dates(since, until)
    actors: frozenset[str] = frozenset()
    if team is not None:
        from .teams import resolve

        by_actor, _unmatched = resolve(store.con, config.teams, config.path) if config.teams else ({}, [])
        actors = team_scope(team, by_actor, [t.name for t in config.teams])
    if agent is not None:
        known = _agents(store)
        if agent not in known:
            raise ConfigError(f"--agent: no change in the store is attributed to {agent!r} "
                              f"(agents: {', '.join(known) if known else 'none'})")
    return Scope(team=team, team_actors=actors, agent=agent, since=since, until=until)


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
        agents = _agents(store)
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
    "spark"; engine.py)."""
    from .metrics.dora import FailureRule
    from .lift.by_unit import choose_unit
    from .report.document import build_report, change_rows

    _check_window(window_days)
    failure_rule = FailureRule(window_hours=failure_window_hours, incident_rule=incident_rule)
    config = config or load_config()
    by_given = by is not None
    by = choose_unit(by, config.teams)
    adoption_date = _adoption(adoption_date, by)
    window_days = window_days or config.window_days
    with _opened(store_path, engine, parquet) as (store, con):
        scope = _scope(store, config, team=team, agent=agent, since=since, until=until)
        window = _report_window(store, as_of, window_days, repos, config, scope)
        if week is not None:
            rows = change_rows(store, window=window, repos=repos, show_names=show_names, week=week)
            return {"week": week.isoformat(), "filters": scope.as_dict(repos), "changes": rows}
        doc = build_report(store, window=window, adoption_date=adoption_date,
                           repos=repos, seed=seed, failure_rule=failure_rule,
                           matcher=Matcher.load(config.signatures, config.bots), by=by, teams=config.teams,
                           config_path=config.path, show_names=show_names, by_given=by_given,
                           durability_horizons=config.durability_days, step=progress, engine=con)
        _log_loops(store, doc, config, window, seed)
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
        with _damaged_store(store_path), Store.open_read(store_path) as store:
            yield store, None
        return
    with open_export(parquet, engine) as (store, con):
        yield store, con


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
def _adoption(value, by: str):
    """`--adoption-date` as the lift command parses it: None, one date (a `date` or its text), or
    the per-repository / per-team `NAME=DATE` values. A bad value is one line (ConfigError)."""
    from .lift.inputs import parse_adoption

    if value is None or isinstance(value, date):
        return value
    values = [value] if isinstance(value, str) else list(value)
    return parse_adoption(values, unit="repo" if by == "repo" else "team")


def _log_loops(store: Store, doc: dict, config: Config, window, seed: int) -> None:
    """Each event log's work-loop keys (metrics/log_loops.py), judged as of the report's as-of only
    when it was given: a log's own weeks otherwise end at its newest event."""
    from .metrics.experiments import experiments
    from .metrics.log_loops import with_loops

    logs = doc.get("event_logs") or []
    # MLflow experiments are logs in the store but loops of their own kind in the report.
    doc["event_logs"] = [g for g in logs if g.get("format") != "mlflow"]
    with_loops(store, doc["event_logs"], config.logs.for_log, days=window.days,
               as_of=window.as_of if window.rule == "given" else None, seed=seed)
    if len(doc["event_logs"]) < len(logs):
        doc["experiments"] = experiments(store, seed=seed)
    if any(g.get("format") in ("pagerduty-csv", "opsgenie-csv", "pagerduty-api") for g in logs):
        from .metrics.incidents import incidents

        doc["incidents"] = incidents(store)


def log_lift(
    name: str,
    *,
    store_path: str | Path | None = DEFAULT_STORE,
    adoption_dates: Sequence[str] | None = None,
    as_of: datetime | None = None,
    window_days: int | None = None,
    seed: int = 0,
    n_boot: int = 2000,
    config: Config | None = None,
) -> dict:
    """The lift of event log `name`'s loop: before/after adoption (`adoption_dates`: "YYYY-MM-DD"
    or "NAME=YYYY-MM-DD"; else loopmeter.toml `[[log]] adoption_date`; else detected from agent
    resources) and AI-handled vs human cases. Returns `{design: "log", log, designs: [...]}` plus
    the loop's weekly series, cycle time, waiting and AI share."""
    from .metrics.log_loops import LogWindow, log_loop

    _check_window(window_days)
    config = config or load_config()
    day = None
    for v in adoption_dates or ():
        who, sep, text = v.rpartition("=")
        if sep and who != name:
            continue
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise ConfigError(f"--adoption-date: {v!r} is not YYYY-MM-DD or LOG=YYYY-MM-DD") from None
    with _damaged_store(store_path), Store.open(store_path, create=False, read_only=True) as store:
        known = [r[0] for r in store.con.execute("select name from event_logs order by name").fetchall()]
        if name not in known:
            raise NoData(f"--log: no event log named {name!r} in the store"
                         + (f" (it has: {', '.join(known)})" if known else " (it has none; loopmeter ingest --events FILE)"))
        loop = log_loop(store, name, config.logs.for_log(name), LogWindow(window_days or config.window_days, as_of),
                        adoption_date=day, seed=seed, n_boot=n_boot)
    lift = loop.pop("lift")
    return {"design": "log", "log": name, **lift, **loop}


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
    from .lift.by_unit import choose_unit

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


def legibility(path: str | Path, *, store_path: str | Path | None = None, config: Config | None = None) -> dict:
    """The agent-legibility scorecard of the repository or directory at `path` (docs/legibility.md).

    With `store_path`, tracker and CI items ingested for the repository add the checks that need
    them (ticket states, CI latency and flakiness); the store is only read.
    """
    from .legibility import scorecard
    from .legibility.scan import check_path

    check_path(path)  # a bad path is reported as such, before any store is opened
    # Agents configured in loopmeter.toml are not people, here as in every other metric.
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
) -> dict:
    """One lift design with every estimator, its caveats and the specification table.

    `design` is "before-after" (adoption dates: one "YYYY-MM-DD" or "repo=YYYY-MM-DD" per
    repository in `adoption_dates`, detected when omitted) or "ai-vs-human" over the store; or give
    `csv_path` (with `duration` or `start`/`end`, `treatment`, optional `treated`, `cluster`, `covariates`,
    `fixed_effects`, `randomization` "unit"/"cluster"/"none"/"assumed" and `duration_unit`; see
    designs/pilot.py) for a pilot experiment's task table, which needs no store. `by` "team" runs the design per team
        of loopmeter.toml (`[[team]]`; adoption dates then "team=YYYY-MM-DD"), "codeowners" per team
    owning most of each change's lines in CODEOWNERS. `parquet` and `engine`: read a Parquet export on
    that engine instead of the store, as `report_from_store` does. Returns
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
    from .lift.inputs import parse_adoption
    from .lift.by_unit import choose_unit

    config = config or load_config()
    by = choose_unit(by, config.teams)  # the one check of --by, as for the report
    adoption = parse_adoption(list(adoption_dates) if adoption_dates else None, unit="repo" if by == "repo" else "team")
    window_days = window_days or config.window_days
    with _opened(store_path, engine, parquet) as (store, con):
        window = _report_window(store, as_of, window_days, repos, config)
        engine_con = con if con is not None else backend(store)
        doc = ld.run_design(engine_con, window, repos, design, adoption, seed=seed, n_boot=n_boot, by=by,
                            teams=config.teams, config_path=config.path)
    doc["unit"] = by
    doc["as_of"] = window.as_of.replace(microsecond=0).isoformat() + "Z"
    doc["as_of_rule"] = window.rule
    doc["window_days"] = window.days
    return doc
