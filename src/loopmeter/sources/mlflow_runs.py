"""MLflow experiments: runs read through MLflow's own client, as canonical `experiment` items.

`read_runs(tracking_uri, names)` returns each experiment's runs (start, end, status, user, tags,
latest metric values). The client is MLflow's (`mlflow.tracking.MlflowClient`), so any tracking
store MLflow can open works: a `sqlite:///` or file store, or a tracking server URL (its token,
if any, comes from MLflow's own environment variables and is never read here). MLflow is an
optional extra: `pip install 'loopmeter[mlflow]'`.

A run was launched by an agent when a tag named in `agent_tags` (default `loopmeter.agent`,
`agent`) holds a true value (anything but empty, 0, false, no), or when its user matches one of
`agent_users` (shell-style, case-insensitive), or when the signature list says the user is an
agent (store side).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from ..errors import ConfigError, LoopmeterError

#: Run statuses MLflow reports; a run in one of DONE has ended.
DONE = ("FINISHED", "FAILED", "KILLED")
AGENT_TAGS = ("loopmeter.agent", "agent")
_FALSE = {"", "0", "false", "no", "off", "none"}
PAGE = 1000


class MlflowError(LoopmeterError):
    """The tracking store cannot be read, or an experiment named does not exist."""


@dataclass(frozen=True)
class Run:
    run_id: str
    name: str | None
    status: str
    start: datetime | None  # naive UTC
    end: datetime | None
    user: str | None
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def launched_by_agent(self, agent_tags: Sequence[str], agent_users: Sequence[str]) -> bool:
        for t in agent_tags:
            v = self.tags.get(t)
            if v is not None and v.strip().lower() not in _FALSE:
                return True
        u = (self.user or "").lower()
        return bool(u) and any(fnmatchcase(u, p.lower()) for p in agent_users)


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    runs: list[Run]


def _ms(v) -> datetime | None:
    if v is None:
        return None
    return datetime.fromtimestamp(int(v) / 1000.0, UTC).replace(tzinfo=None)


def client(tracking_uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("--mlflow needs MLflow: pip install 'loopmeter[mlflow]'") from None
    return MlflowClient(tracking_uri=tracking_uri)


def read_runs(tracking_uri: str, names: Sequence[str] | None = None) -> list[Experiment]:
    """Every run of the named experiments (all active experiments with a run when `names` is empty)."""
    c = client(tracking_uri)
    try:
        exps = c.search_experiments()
    except Exception as e:  # noqa: BLE001 - MLflow raises many types for an unreachable store
        raise MlflowError(f"--mlflow {tracking_uri}: cannot read the tracking store ({type(e).__name__}: {e})") from None
    by_name = {e.name: e for e in exps}
    if names:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise MlflowError(f"--experiment {missing[0]!r}: no such experiment at {tracking_uri} "
                              f"(it has: {', '.join(sorted(by_name)) or 'none'})")
        exps = [by_name[n] for n in names]
    out = []
    for e in sorted(exps, key=lambda e: e.name):
        runs, token = [], None
        while True:
            page = c.search_runs([e.experiment_id], max_results=PAGE, page_token=token, order_by=["attributes.start_time ASC"])
            for r in page:
                runs.append(Run(
                    run_id=r.info.run_id, name=r.info.run_name, status=r.info.status,
                    start=_ms(r.info.start_time), end=_ms(r.info.end_time) if r.info.status in DONE else None,
                    user=r.info.user_id or r.data.tags.get("mlflow.user") or None,
                    tags=dict(r.data.tags), metrics={k: float(v) for k, v in r.data.metrics.items()},
                ))
            token = page.token
            if not token:
                break
        if runs or names:  # MLflow's empty "Default" experiment is not a loop unless asked for
            out.append(Experiment(e.experiment_id, e.name, runs))
    return out


def log_name(experiment: str) -> str:
    """The store's name for an experiment's runs (an event log of format `mlflow`)."""
    return f"mlflow:{experiment}"


def safe_uri(uri: str) -> str:
    """The tracking URI as stored and shown: without any user:password part."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))
    return uri


def run_rows(exp: Experiment, actor_id, *, agent_tags: Sequence[str], agent_users: Sequence[str]):
    """The canonical rows (store.event_logs.Rows) of one experiment's runs: one `experiment`
    item per run, a `run_started` event and a `run_finished` / `run_failed` / `run_killed` one."""
    from ..store.event_logs import Rows, dumps

    rows = Rows()
    for r in exp.runs:
        iid = f"mlflow:{r.run_id}"
        who = actor_id(r.user) if r.user else None
        agent = r.launched_by_agent(agent_tags, agent_users)
        rows.items.append({
            "item_id": iid, "source": log_name(exp.name), "kind": "experiment", "repo": None, "team": None,
            "title": r.name, "created_at": r.start, "started_at": r.start, "done_at": r.end,
            "state": r.status.lower(), "size_lines": None, "author_id": who,
            "attrs": dumps({"experiment": exp.name, "experiment_id": exp.experiment_id, "status": r.status,
                            "agent": agent, "metrics": r.metrics}),
        })
        if r.start is not None:
            rows.events.append((iid, r.start, "run_started", who, None))
        if r.end is not None:
            rows.events.append((iid, r.end, f"run_{r.status.lower()}", who, None))
    return rows


class MlflowRuns:
    """A `Source` (sources/base.py): the runs of the named experiments (all with a run when none
    are named) at `tracking_uri`, one log `mlflow:NAME` per experiment, each replacing that
    experiment's last ingest in its own transaction. The tracking store is read whole in `prepare`:
    an unreachable store or an unknown experiment creates nothing."""

    label = "mlflow"
    restore_point = True
    relinks_sessions = False

    def __init__(self, tracking_uri: str, *, experiments: Sequence[str] = (), objective: str | None = None,
                 agent_tags: Sequence[str] | None = None, agent_users: Sequence[str] = ()):
        self.tracking_uri = tracking_uri
        self.experiments = list(experiments)
        self.objective = objective
        self.agent_tags = tuple(agent_tags or AGENT_TAGS)
        self.agent_users = tuple(agent_users)
        self.read: list[Experiment] = []

    def prepare(self) -> bool:
        if self.objective is not None:
            from ..metrics.experiments import parse_objective

            parse_objective(self.objective)  # a bad value is one line before the store is opened
        self.read = read_runs(self.tracking_uri, self.experiments)
        return True

    def idle(self) -> list:
        return []

    def load(self, run) -> list:
        ids = run.identities()
        out = []
        for e in self.read:
            rows = run_rows(e, lambda u: ids.actor_id(u, ""), agent_tags=self.agent_tags, agent_users=self.agent_users)
            with run.group() as store:
                out.append(run.write_log(name=log_name(e.name), path=safe_uri(self.tracking_uri), fmt="mlflow",
                                         rows=rows, skipped=[], ids=ids))
                if self.objective is not None:
                    store.set_meta(f"objective:{log_name(e.name)}", self.objective)
        return out
