"""A simulated team history with planted effects, pushed through the whole pipeline (git -> store ->
metrics -> stats): the report must find the adoption week and recover the effects inside its CIs."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta

import numpy as np
import pytest

import loopmeter

START = datetime(2024, 1, 1)  # a Monday
WEEKS = 24
ADOPTION_WEEK = 12  # 2024-03-25
AUTHORS = 12
BASE_CYCLE_H = 40.0
AI_CYCLE_RATIO = 0.6  # planted: AI-assisted changes take 0.6x as long
THROUGHPUT_LIFT = 1.5  # planted: 2 -> 3 changes per author-week
CLAUDE = "Co-Authored-By: Claude <noreply@anthropic.com>"


def _fast_import_stream(seed: int) -> tuple[bytes, int]:
    rng = np.random.default_rng(seed)
    events = []
    for week in range(WEEKS):
        after = week >= ADOPTION_WEEK
        for a in range(AUTHORS):
            # Every author lands at least one change a week, so "active weeks" are all weeks and the
            # planted per-contributor-week rate is exactly 2 before and 3 after.
            n = 1 + rng.poisson(2.0 if after else 1.0)
            for _ in range(n):
                done = START + timedelta(weeks=week, seconds=float(rng.uniform(0, 5 * 86400)))
                ai = after and rng.random() < 0.5
                median = BASE_CYCLE_H * (AI_CYCLE_RATIO if ai else 1.0)
                cycle = float(np.exp(np.log(median) + rng.normal(0, 0.5)))
                events.append((done, cycle, a, ai))
    events.sort()
    out = []
    for i, (done, cycle, a, ai) in enumerate(events, 1):
        started = done - timedelta(hours=cycle)
        msg = f"Change {i}\n" + (f"\n{CLAUDE}\n" if ai else "")
        body = f"{i}\n".encode()
        name, email = f"Dev {a}", f"dev{a}@example.com"
        out.append(
            f"commit refs/heads/main\nmark :{i}\n"
            f"author {name} <{email}> {int((started - datetime(1970, 1, 1)).total_seconds())} +0000\n"
            f"committer {name} <{email}> {int((done - datetime(1970, 1, 1)).total_seconds())} +0000\n"
            f"data {len(msg.encode())}\n{msg}\n"
            f"M 644 inline f{i % 50}.txt\ndata {len(body)}\n".encode() + body + b"\n"
        )
    return b"".join(out), len(events)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path = tmp_path_factory.mktemp("planted") / "team"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    stream, n = _fast_import_stream(seed=7)
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=stream, check=True)
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)
    store = tmp_path_factory.mktemp("store") / "lm.duckdb"
    doc = loopmeter.analyze([path], store_path=store, html_path=None,
                            as_of=START + timedelta(weeks=WEEKS + 4), seed=1)
    return doc, n


def test_every_planted_commit_is_a_change(planted):
    doc, n = planted
    assert doc["totals"]["commits"] == n and doc["totals"]["changes"] == n
    assert doc["totals"]["validated_changes"] == n


def test_adoption_is_detected_at_the_planted_week(planted):
    doc, _ = planted
    assert doc["adoption"]["date"] == (START + timedelta(weeks=ADOPTION_WEEK)).date().isoformat()
    assert doc["adoption"]["source"] == "detected"


def _lift(doc, metric):
    return next(e for e in doc["lift"] if e["metric"] == metric)


def test_planted_cycle_time_ratio_is_inside_the_interval(planted):
    doc, _ = planted
    e = _lift(doc, "cycle_time_hours_p50")
    assert e["ci_low"] < AI_CYCLE_RATIO < e["ci_high"]
    assert e["ci_high"] < 1.0  # and the data rule out "no difference"
    assert e["n_clusters"] == AUTHORS


def test_planted_throughput_lift_is_inside_the_interval(planted):
    doc, _ = planted
    e = _lift(doc, "validated_throughput_per_contributor_week")
    assert e["ci_low"] < THROUGHPUT_LIFT < e["ci_high"]
    assert e["ci_low"] > 1.0
    assert e["weeks_before"] == e["weeks_after"] == WEEKS - ADOPTION_WEEK
