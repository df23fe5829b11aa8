"""Planted-null experiment loops for the week-cluster fallback (metrics/experiments.py
`cluster_unit`): a small ML team whose runs have no AI effect at all, so every improved / worsened
verdict is a false positive. Shared by tests/test_experiment_lift.py (a bounded run) and
bench/experiment_week_clusters.py (a long one)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from loopmeter.lift.loop_verdict import experiment_verdict
from loopmeter.metrics.experiments import _lift, with_turnarounds

T0 = datetime(2024, 1, 1)  # a Monday
WEEKS, ADOPT_WEEK = 20, 10


def null_runs(seed: int, *, users: int = 3, weeks: int = WEEKS, effect: float = 1.0) -> pd.DataFrame:
    """`users` people launch Poisson(12) runs a week; each person has a lasting speed of their own
    (log-scale sd 0.5) and every week a shared shock (sd 0.2: a busy cluster, a slow dataset), so
    runs of one week are correlated. From ADOPT_WEEK on, half the runs carry the agent tag, drawn
    at random: neither the tag nor the date changes a run's duration or the wait after it (with
    `effect` != 1, an agent-tagged run takes `effect` times as long: a planted effect)."""
    rng = np.random.default_rng(seed)
    person = rng.normal(0, 0.5, users)
    rows, t = [], T0
    for wk in range(weeks):
        shock = rng.normal(0, 0.2)
        for _ in range(max(1, rng.poisson(12))):
            u = int(rng.integers(users))
            start = T0 + timedelta(weeks=wk, hours=float(rng.uniform(0, 160)))
            minutes = float(np.exp(np.log(40) + person[u] + shock + rng.normal(0, 0.4)))
            agent = wk >= ADOPT_WEEK and rng.random() < 0.5
            minutes *= effect if agent else 1.0
            rows.append((f"r{seed}-{len(rows)}", f"user{u}", start, start + timedelta(minutes=minutes), "finished",
                         agent))
    df = pd.DataFrame(rows, columns=["item_id", "author_id", "start", "end", "state", "agent"])
    df = df.sort_values(["start", "item_id"]).reset_index(drop=True)
    df["start"] = df["start"].astype("datetime64[us]")
    df["end"] = df["end"].astype("datetime64[us]")
    return with_turnarounds(df)


def verdicts(seed: int, *, users: int = 3, n_boot: int = 50, effect: float = 1.0) -> tuple[dict[str, dict], dict]:
    """(the experiment's verdict entries by question, its lift), split at the planted adoption date."""
    df = null_runs(seed, users=users, effect=effect)
    lift = _lift(df, (T0 + timedelta(weeks=ADOPT_WEEK)).date(), seed=seed, n_boot=n_boot)
    return {v["question"]: v for v in experiment_verdict(lift)}, lift
