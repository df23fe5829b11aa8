"""`experiments` in the report: each ingested MLflow experiment as a loop (docs/metrics.md
"Experiment loops").

Per experiment, over its runs (items of kind `experiment`, log `mlflow:NAME`):

- **run minutes**: end - start of each ended run (finished, failed or killed).
- **turnaround minutes**: from a run's end to the start of the next run that starts at or after
  that end: how long the loop waited for the next try (a person reading results, or an agent's
  next step). Runs that overlap are parallel, not turnaround. A turnaround belongs to the week of
  the run that ended, and to the launcher (agent or human) of the run that followed.
- **failed share**: failed runs / ended runs.
- **objective** (`--objective metric:max|min` at ingest): in order of end time, a run *improves*
  when its value beats every earlier ended run's; hours to improvement = from the end of the run
  that set the previous best to the end of the run that beat it.
- **agent runs**: launched by an agent (a tag, a user pattern: sources/mlflow_runs.py, or a user
  the signature list calls an agent).

Weeks are ISO weeks (Monday, UTC) of the run's start. Percentiles are linear.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..lift.loop_verdict import experiment_verdict
from ..stats.json_values import json_ready
from ..stats.lift import MIN_CLUSTERS, detect_adoption
from ..store.db import Store
from . import portable
from .log_lift import durations, weeks_each_side
from .quantiles import quantile_of

RUN = "run_minutes"
TURNAROUND = "turnaround_minutes"


def parse_objective(text: str) -> tuple[str, str]:
    metric, sep, direction = text.rpartition(":")
    if not sep or not metric or direction not in ("max", "min"):
        raise ConfigError(f"--objective: {text!r} is not METRIC:max or METRIC:min (e.g. val_accuracy:max)")
    return metric, direction


def runs_sql(logs: list[str]) -> str:
    """The runs of the experiments `logs`, one row each with its `log` (DuckDB SQL, transpiled for
    another engine)."""
    return f"""
        select li.log, i.item_id, i.author_id, i.started_at as start_ts, i.done_at as end_ts, i.state,
               cast(i.attrs as varchar) as attrs, coalesce(a.kind, 'human') as actor_kind
        from event_log_items li join items i on i.item_id = li.item_id
        left join actors a on a.actor_id = i.author_id
        where {portable.in_list("li.log", logs)}"""


def run_frames(store: Store, logs: list[str], engine=None) -> dict[str, pd.DataFrame]:
    """The runs of each experiment of `logs`, one row each, with their turnarounds
    (`with_turnarounds`): one query for them all (on Spark one job, not one per experiment), on
    `engine` when given (Spark over the Parquet export; DuckDB's SQL transpiled there,
    metrics/portable.py), else on the store."""
    df = portable.frame(store.con, engine, runs_sql(logs))
    parts = {log: g for log, g in df.groupby("log", sort=False)}
    none = df.iloc[0:0]  # an experiment without runs: the columns, no rows
    return {log: _runs(parts.get(log, none).drop(columns="log")) for log in logs}


def run_frame(store: Store, log: str, engine=None) -> pd.DataFrame:
    """The runs of experiment `log` (`run_frames` of that one)."""
    return run_frames(store, [log], engine)[log]


def _runs(df: pd.DataFrame) -> pd.DataFrame:
    # An engine's rows come in no order: by start, then run (as the store's query sorted them;
    # a run with no start last, as DuckDB sorts nulls).
    df = df.sort_values(["start_ts", "item_id"], kind="stable", na_position="last", ignore_index=True)
    df = df.rename(columns={"start_ts": "start", "end_ts": "end"})
    for col in ("start", "end"):
        df[col] = portable.naive_utc(df[col])
    df["author_id"] = df["author_id"].astype(object).where(df["author_id"].notna(), None)
    attrs = [json.loads(a) if isinstance(a, str) and a else {} for a in df["attrs"]]
    df["agent"] = np.array([bool(a.get("agent")) for a in attrs], dtype=bool) | (df["actor_kind"] == "agent").to_numpy()
    df["metrics"] = [a.get("metrics") or {} for a in attrs]
    return with_turnarounds(df)


def with_turnarounds(df: pd.DataFrame) -> pd.DataFrame:
    """Runs (item_id, author_id, start, end, state, agent) with their minutes, week, cluster and
    the turnaround to the next run; pure, so a simulation can build the frame without a store."""
    df["cluster"] = df["author_id"].fillna("(unknown user)")
    df[RUN] = (df["end"] - df["start"]).dt.total_seconds() / 60.0
    df["week"] = df["start"].dt.to_period("W-SUN").dt.start_time
    # The next run to start at or after each run's end: searchsorted over the sorted starts.
    starts = df["start"].to_numpy("datetime64[us]")
    ends = df["end"].to_numpy("datetime64[us]")
    order = np.argsort(starts, kind="stable")
    s_sorted = starts[order]
    nxt = np.full(len(df), -1)
    has_end = ~pd.isna(df["end"]).to_numpy()
    pos = np.searchsorted(s_sorted, ends[has_end], side="left")
    ok = pos < len(s_sorted)
    idx = np.flatnonzero(has_end)
    nxt[idx[ok]] = order[pos[ok]]
    turn = np.full(len(df), np.nan)
    follow_agent = np.zeros(len(df), bool)
    follow_cluster = np.array(["(none)"] * len(df), dtype=object)
    for i in np.flatnonzero(nxt >= 0):
        j = nxt[i]
        turn[i] = (starts[j] - ends[i]) / np.timedelta64(1, "s") / 60.0
        follow_agent[i] = df["agent"].iat[j]
        follow_cluster[i] = df["cluster"].iat[j]
    df[TURNAROUND] = turn
    df["next_agent"] = follow_agent
    df["next_cluster"] = follow_cluster
    return df


def _q(v: pd.Series, q: float) -> float | None:
    x = quantile_of(v.dropna().to_numpy(float), q)
    return None if x is None else round(x, 4)


def _dist(v: pd.Series) -> dict:
    return {"p50": _q(v, 0.5), "p85": _q(v, 0.85), "n": int(v.notna().sum())}


def objective(df: pd.DataFrame, metric: str, direction: str) -> dict:
    ended = df[df["end"].notna()].sort_values(["end", "item_id"])
    best, best_end, waits = None, None, []
    for end, m in zip(ended["end"], ended["metrics"]):
        v = m.get(metric)
        if v is None or not np.isfinite(v):
            continue
        if best is None:
            best, best_end = v, end
        elif (v > best) if direction == "max" else (v < best):
            waits.append((end - best_end).total_seconds() / 3600.0)
            best, best_end = v, end
    return {"metric": metric, "direction": direction, "best": best, "improvements": len(waits),
            "hours_to_improvement": _dist(pd.Series(waits, dtype=float))}


def weekly(df: pd.DataFrame) -> list[dict]:
    rows = []
    for wk, g in df.groupby("week", sort=True):
        iso = wk.isocalendar()
        med_run, med_turn = g[RUN].median(), g[TURNAROUND].median()
        rows.append({
            "week": f"{iso[0]}-W{iso[1]:02d}", "week_start": wk.date().isoformat(), "runs": len(g),
            "finished": int((g["state"] == "finished").sum()), "failed": int((g["state"] == "failed").sum()),
            "agent_runs": int(g["agent"].sum()),
            "median_run_minutes": None if pd.isna(med_run) else round(float(med_run), 4),
            "median_turnaround_minutes": None if pd.isna(med_turn) else round(float(med_turn), 4),
        })
    return rows


def cluster_unit(df: pd.DataFrame) -> tuple[str, dict | None]:
    """("user", None) when enough people launched the runs for intervals clustered by user; else
    ("week", why) when the runs span enough weeks (the calendar week of each run's start, as the
    git before/after design's weekly series does); else ("user", None), and the verdict says there
    are too few users. A small ML team (3 people, 200 runs) would otherwise never get an answer."""
    users = int(df["cluster"].nunique())
    weeks = int(df["week"].nunique())
    if users >= MIN_CLUSTERS or weeks < MIN_CLUSTERS:
        return "user", None
    text = (f"Intervals are clustered by week, not by user: only {users} user{'' if users == 1 else 's'} launched "
            f"these runs (at least {MIN_CLUSTERS} are needed), so the {weeks} weeks with runs are taken as the "
            "independent units; a person's habits that last for months are not in the interval.")
    return "week", {"from": "user", "users": users, "weeks": weeks, "text": text}


def _lift(df: pd.DataFrame, adoption_date: date | None, *, seed: int, n_boot: int) -> dict:
    unit, fallback = cluster_unit(df)
    if unit == "week":
        # A turnaround belongs to the week of the run that ended (as in `weekly`).
        df = df.assign(cluster=df["week"].dt.strftime("%G-W%V"))
        df["next_cluster"] = df["cluster"]
    # About 20 week clusters: the CR2 sandwich with Bell-McCaffrey degrees of freedom, as CR1 runs
    # narrow with few clusters (stats/cr2.py; bench/experiment_week_clusters.py measured both).
    cov = "CR2" if unit == "week" else "CR1"
    runs = df[df[RUN] > 0]
    turns = df[df[TURNAROUND] > 0].assign(cluster=lambda d: d["next_cluster"])
    source = "given" if adoption_date else None
    if adoption_date is None:
        w = df.groupby("week").agg(ai=("agent", "sum"), total=("agent", "size"))
        if len(w):
            adoption_date = detect_adoption([x.date() for x in w.index], w["ai"].to_numpy(), w["total"].to_numpy())
            source = "detected" if adoption_date else None
    ba = {"design": "before-after", "adoption": {"date": adoption_date.isoformat() if adoption_date else None,
                                                 "source": source}, "cluster": unit, "results": [], "checks": []}
    labels = ("the period after adoption", "the period before adoption")
    if adoption_date is None:
        ba["unavailable"] = "no adoption date: none given and no sustained agent-launched runs found"
    else:
        when = pd.Timestamp(adoption_date)
        after = df[df["start"] >= when]
        # Read by the verdict (lift/loop_verdict.py): the agent-launched share of the runs after adoption.
        ba["adoption"]["exposure_after"] = round(float(after["agent"].mean()), 4) if len(after) else None
        span = weeks_each_side(df["start"], when)
        for metric, d, col in ((RUN, runs, "start"), (TURNAROUND, turns, "end")):
            ba["results"] += [{**r, **span} for r in durations(
                "before-after", "after/before", d[d[col] >= when], d[d[col] < when], labels,
                seed=seed, n_boot=n_boot, metric=metric, column=metric, covariance=cov)]
    avh = {"design": "ai-vs-human", "cluster": unit, "results": [], "checks": []}
    labels = ("the agent group", "the human group")
    avh["results"] += durations("ai-vs-human", "agent/human", runs[runs["agent"]], runs[~runs["agent"]], labels,
                                seed=seed, n_boot=n_boot, metric=RUN, column=RUN, covariance=cov)
    avh["results"] += durations("ai-vs-human", "agent/human", turns[turns["next_agent"]], turns[~turns["next_agent"]],
                                labels, seed=seed, n_boot=n_boot, metric=TURNAROUND, column=TURNAROUND, covariance=cov)
    if fallback is not None:
        ba["cluster_fallback"] = avh["cluster_fallback"] = fallback
    return {"designs": [ba, avh]}


def in_dates(df: pd.DataFrame, since: date | None, until: date | None) -> pd.DataFrame:
    """The runs of a date slice: started in [since, until] (inclusive UTC days). Cut after each
    run's turnaround was found, so the last run of the slice keeps the wait for the next one."""
    keep = pd.Series(True, index=df.index)
    if since is not None:
        keep &= df["start"] >= pd.Timestamp(since)
    if until is not None:
        keep &= df["start"] < pd.Timestamp(until) + pd.Timedelta(days=1)
    return df[keep]


def experiment_entry(store: Store, log: str, source: str | None, *, seed: int = 0, n_boot: int = 2000,
                     adoption_date: date | None = None, since: date | None = None,
                     until: date | None = None, engine=None, runs: pd.DataFrame | None = None) -> dict:
    """The `experiments[]` entry of the experiment stored as log `log` (`mlflow:NAME`), cut to the
    runs started in [since, until] (`--from/--to`); `lift --experiment` shows the same entry. The
    runs are `runs` when the caller read them already (`run_frames`), else read on `engine` when
    given (`run_frame`); the statistics run here."""
    df = in_dates(run_frame(store, log, engine) if runs is None else runs, since, until)
    ended = df["state"].isin(["finished", "failed", "killed"])
    entry = {
        "name": log.removeprefix("mlflow:"), "source": source, "runs": len(df),
        "weekly": weekly(df),
        "run_minutes": _dist(df[RUN]), "turnaround_minutes": _dist(df[TURNAROUND]),
        "failed_share": round(float((df["state"] == "failed").sum() / ended.sum()), 4) if ended.any() else None,
        "agent_share": round(float(df["agent"].mean()), 4) if len(df) else None,
    }
    if since is not None or until is not None:
        entry["dates"] = {"from": since.isoformat() if since else None, "to": until.isoformat() if until else None}
    obj = store.meta(f"objective:{log}")
    if obj:
        entry["objective"] = objective(df, *parse_objective(obj))
    entry["lift"] = json_ready(_lift(df, adoption_date, seed=seed, n_boot=n_boot))
    entry["verdict"] = experiment_verdict(entry["lift"])
    return json_ready(entry)


def experiments(store: Store, *, seed: int = 0, n_boot: int = 2000, adoption: dict[str, date] | None = None,
                since: date | None = None, until: date | None = None, engine=None) -> list[dict]:
    """One entry per ingested MLflow experiment (docs/json-report.md, `experiments`); `since` and
    `until` cut it to the runs started in those days (`--from/--to`); runs read on `engine` when
    given (Spark over the Parquet export), all in one query."""
    logs = store.con.execute("select name, path from event_logs where format = 'mlflow' order by name").fetchall()
    if not logs:
        return []
    runs = run_frames(store, [name for name, _ in logs], engine)
    return [experiment_entry(store, name, path, seed=seed, n_boot=n_boot, engine=engine, runs=runs[name],
                             adoption_date=(adoption or {}).get(name.removeprefix("mlflow:")), since=since, until=until)
            for name, path in logs]
