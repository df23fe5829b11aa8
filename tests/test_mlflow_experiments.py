"""MLflow experiment loops: a real MLflow tracking store (sqlite) built here through MLflow's own
client, ingested into a real store; every expected number worked by hand from the runs below."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from loopmeter import api  # noqa: E402
from loopmeter.errors import ConfigError  # noqa: E402
from loopmeter.metrics.experiments import experiments  # noqa: E402
from loopmeter.sources.mlflow_runs import MlflowError  # noqa: E402
from loopmeter.store.db import Store  # noqa: E402

T0 = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)  # a Monday


def at(minutes: float) -> int:
    return T0 + int(minutes * 60_000)


# (user, tags, start min, end min or None, status, acc)
RUNS = [
    ("ann", {}, 0, 30, "FINISHED", 0.5),
    ("ann", {}, 40, 100, "FAILED", None),
    ("ci-runner", {"agent": "true"}, 110, 130, "FINISHED", 0.7),
    ("ann", {"agent": "no"}, 120, 150, "FINISHED", 0.6),  # overlaps the agent's run
    ("ann", {}, 200, None, "RUNNING", None),
]


@pytest.fixture(scope="module")
def tracking(tmp_path_factory) -> str:
    from mlflow.tracking import MlflowClient

    d = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{d / 'mlflow.db'}"
    c = MlflowClient(tracking_uri=uri)
    eid = c.create_experiment("churn", artifact_location=str(d / "artifacts"))
    for user, tags, start, end, status, acc in RUNS:
        r = c.create_run(eid, start_time=at(start), tags={"mlflow.user": user, **tags})
        if acc is not None:
            c.log_metric(r.info.run_id, "acc", acc, timestamp=at(start))
        if end is not None:
            c.set_terminated(r.info.run_id, status, end_time=at(end))
    other = c.create_experiment("other", artifact_location=str(d / "artifacts2"))
    r = c.create_run(other, start_time=at(0), tags={"mlflow.user": "bob"})
    c.set_terminated(r.info.run_id, "FINISHED", end_time=at(5))
    return uri


def test_runs_become_an_experiment_loop(tracking: str, tmp_path: Path):
    s = tmp_path / "s.duckdb"
    for _ in range(2):  # a second ingest replaces the first
        done = api.ingest_mlflow(tracking, experiments=["churn"], objective="acc:max", store_path=s)
    assert [(d.name, d.cases, d.events) for d in done] == [("mlflow:churn", 5, 9)]
    with Store.open(s, create=False, read_only=True) as store:
        (e,) = experiments(store, n_boot=100)
    assert (e["name"], e["source"], e["runs"]) == ("churn", tracking, 5)
    # Run minutes 30, 60, 20, 30: p50 30, p85 at rank 2.55 = 30 + 0.55 * 30.
    assert e["run_minutes"] == {"p50": 30.0, "p85": 46.5, "n": 4}
    # Turnarounds: 30->40, 100->110, 130->200, 150->200 = 10, 10, 70, 50.
    assert e["turnaround_minutes"] == {"p50": 30.0, "p85": 61.0, "n": 4}
    assert (e["failed_share"], e["agent_share"]) == (0.25, 0.2)
    assert e["weekly"] == [{"week": "2024-W01", "week_start": "2024-01-01", "runs": 5, "finished": 3, "failed": 1,
                            "agent_runs": 1, "median_run_minutes": 30.0, "median_turnaround_minutes": 30.0}]
    # acc by end time: 0.5 (min 30), 0.7 (min 130) improves after 100 minutes, 0.6 does not.
    assert e["objective"]["best"] == 0.7 and e["objective"]["improvements"] == 1
    assert e["objective"]["hours_to_improvement"]["p50"] == pytest.approx(100 / 60, abs=1e-4)
    avh = e["lift"]["designs"][1]
    run = next(r for r in avh["results"] if r["metric"] == "run_minutes" and r["estimator"] == "ratio_of_medians")
    turn = next(r for r in avh["results"] if r["metric"] == "turnaround_minutes" and r["estimator"] == "ratio_of_medians")
    assert run["ratio"] == pytest.approx(20 / 30)  # the agent's run against the people's median
    assert turn["ratio"] == pytest.approx(10 / 50)  # turnaround before the agent's run against the others


def test_every_experiment_by_default_and_clear_errors(tracking: str, tmp_path: Path):
    s = tmp_path / "s.duckdb"
    assert [d.name for d in api.ingest_mlflow(tracking, store_path=s)] == ["mlflow:churn", "mlflow:other"]
    doc = api.report_from_store(store_path=s)
    assert [e["name"] for e in doc["experiments"]] == ["churn", "other"]
    assert all(g["format"] != "mlflow" for g in doc["event_logs"])
    with pytest.raises(MlflowError, match=r"--experiment 'nope': no such experiment .* \(it has: Default, churn, other\)"):
        api.ingest_mlflow(tracking, experiments=["nope"], store_path=s)
    with pytest.raises(ConfigError, match="METRIC:max or METRIC:min"):
        api.ingest_mlflow(tracking, objective="acc:up", store_path=s)


def test_lift_experiment_on_a_real_tracking_store(tracking: str, tmp_path: Path):
    """`lift --experiment` over runs read through MLflow's client: the report's entry, the same verdict."""
    import json

    from typer.testing import CliRunner

    from loopmeter.cli import app

    s = tmp_path / "s.duckdb"
    api.ingest_mlflow(tracking, experiments=["churn"], store_path=s)
    res = CliRunner().invoke(app, ["lift", "--experiment", "churn", "--store", str(s), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    (entry,) = api.report_from_store(store_path=s)["experiments"]
    assert (doc["experiment"], doc["runs"], doc["run_minutes"]) == ("churn", 5, {"p50": 30.0, "p85": 46.5, "n": 4})
    assert doc["verdict"] == entry["verdict"]
    # Every run started on 2024-01-01 (the last at minute 200): none from the 2nd on.
    res = CliRunner().invoke(app, ["lift", "--experiment", "churn", "--store", str(s), "--from", "2024-01-02", "--json"])
    assert json.loads(res.output)["runs"] == 0


def test_every_experiment_is_read_in_one_query(tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from loopmeter.metrics import experiments as module

    s = tmp_path / "s.duckdb"
    api.ingest_mlflow(tracking, store_path=s)  # both experiments
    queries = []
    real = module.portable.frame
    monkeypatch.setattr(module.portable, "frame", lambda *a: queries.append(a[-1]) or real(*a))
    with Store.open(s, create=False, read_only=True) as store:
        got = experiments(store, n_boot=100)
    assert len(queries) == 1  # one query (one Spark job) for all, not one per experiment
    # churn's five runs and their minutes (as worked above), other's one run of 5 minutes.
    assert [(e["name"], e["runs"], e["run_minutes"]) for e in got] == [
        ("churn", 5, {"p50": 30.0, "p85": 46.5, "n": 4}), ("other", 1, {"p50": 5.0, "p85": 5.0, "n": 1})]
