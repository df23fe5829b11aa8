"""`loopmeter lift --log NAME --from/--to` and `lift --experiment NAME` (issue 12), and the week
clusters a small ML team's experiment falls back to.

The log and the runs are the planted ones of test_loop_verdict.py, ingested into a real store;
every expected count and ratio is recomputed here from what the test wrote (the headline of a loop
question is the log-duration regression: with one binary regressor its ratio is exp(mean log a -
mean log b)). The false-positive rate of the week clusters is checked on planted nulls
(tests/experiment_sim.py; the long run is bench/experiment_week_clusters.py)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from experiment_sim import verdicts
from loopmeter import api
from loopmeter.cli import app
from loopmeter.sources import mlflow_runs
from loopmeter.sources.eventlog import Mapping
from loopmeter.sources.mlflow_runs import Experiment
from test_loop_verdict import ADOPTION, gm_ratio, runs, write_log

TOML = ('[[log]]\nname = "desk"\nend = ["Close"]\nrework = ["Reopened"]\n'
        '[[log.resource]]\npattern = "agent-*"\nkind = "agent"\n')
SINCE, UNTIL = date(2024, 2, 1), date(2024, 4, 10)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("looplift")
    store = root / "s.duckdb"
    write_log(root / "desk.csv", speedup=0.5, resources=12, seed=1)
    api.ingest_events(root / "desk.csv", store_path=store, log_name="desk", mapping=Mapping(actor="resource"))
    many, _ = runs(users=12, seed=5)
    few, _ = runs(users=3, seed=6)
    short, _ = runs(users=3, seed=7, weeks=9)
    exps = [Experiment("1", "tuning", many), Experiment("2", "small", few), Experiment("3", "short", short)]
    with pytest.MonkeyPatch.context() as mp:
        # MLflow's own client is exercised in test_mlflow_experiments.py; these are the runs it hands over.
        mp.setattr(mlflow_runs, "read_runs", lambda uri, names=None: exps)
        api.ingest_mlflow("sqlite:///nowhere.db", store_path=store)
    (root / "loopmeter.toml").write_text(TOML)
    return {"root": root, "store": store, "runs": {"tuning": many, "small": few, "short": short}}


def cli(world, *args: str):
    return CliRunner().invoke(app, ["lift", *args, "--store", str(world["store"])], env={"COLUMNS": "200"})


def cases(csv: Path) -> list[tuple[datetime, float, bool]]:
    """(done, cycle hours, AI-handled) of every case of the CSV, read back from the file."""
    by: dict[str, dict] = {}
    for line in csv.read_text().splitlines()[1:]:
        case, activity, ts, who = line.split(",")
        c = by.setdefault(case, {"ai": False})
        c[activity] = datetime.fromisoformat(ts.rstrip("Z"))
        c["ai"] |= who.startswith("agent-")
    return [(c["Close"], (c["Close"] - c["Open"]).total_seconds() / 3600, c["ai"]) for c in by.values()]


def head(doc: dict, question: str) -> dict:
    return next(v for v in doc["verdict"] if v["question"] == question)


def test_lift_log_from_to_cuts_cases_done_in_range(world, monkeypatch):
    monkeypatch.chdir(world["root"])
    res = cli(world, "--log", "desk", "--from", SINCE.isoformat(), "--to", UNTIL.isoformat(), "--adoption-date",
              f"desk={ADOPTION.date()}", "--window-days", "7", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    lo, hi = datetime(2024, 2, 1), datetime(2024, 4, 11)
    kept = [c for c in cases(world["root"] / "desk.csv") if lo <= c[0] < hi]
    assert doc["cycle_time_hours"]["n"] == len(kept) < len(cases(world["root"] / "desk.csv"))
    assert doc["dates"] == {"from": SINCE.isoformat(), "to": UNTIL.isoformat()}
    ai = [h for _, h, a in kept if a]
    human = [h for _, h, a in kept if not a]
    assert head(doc, "cycle_time_ai_vs_human")["headline"]["ratio"] == pytest.approx(gm_ratio(ai, human), rel=1e-6)
    after = [h for d, h, _ in kept if d >= ADOPTION]
    before = [h for d, h, _ in kept if d < ADOPTION]
    ba = next(d for d in doc["designs"] if d["design"] == "before-after")
    ols = next(r for r in ba["results"] if r["estimator"] == "log_duration_ols")
    assert ols["ratio"] == pytest.approx(gm_ratio(after, before), rel=1e-6)
    # The same slice of `report` gives the log the same verdict.
    from loopmeter.config import load_config

    rep = api.report_from_store(store_path=world["store"], config=load_config(world["root"] / "loopmeter.toml"),
                                window_days=7, since=SINCE, until=UNTIL, adoption_date=[f"desk={ADOPTION.date()}"])
    assert rep["event_logs"][0]["verdict"] == doc["verdict"]
    text = cli(world, "--log", "desk", "--from", SINCE.isoformat(), "--to", UNTIL.isoformat(), "--window-days", "7",
               "--adoption-date", f"desk={ADOPTION.date()}").output
    assert f"desk ({SINCE} to {UNTIL}): {len(kept):,} done cases" in text


def test_lift_experiment_has_the_reports_designs_and_verdict(world):
    res = cli(world, "--experiment", "tuning", "--adoption-date", f"tuning={ADOPTION.date()}", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert (doc["design"], doc["experiment"]) == ("experiment-loop", "tuning")
    assert [d["design"] for d in doc["designs"]] == ["before-after", "ai-vs-human"]
    assert all(d["cluster"] == "user" and "cluster_fallback" not in d for d in doc["designs"])
    rep = api.report_from_store(store_path=world["store"], adoption_date=[f"tuning={ADOPTION.date()}"])
    entry = next(e for e in rep["experiments"] if e["name"] == "tuning")
    assert doc["verdict"] == entry["verdict"]
    # Cut to the runs started in [--from, --to]; the agent-vs-human headline recomputed over them.
    res = cli(world, "--experiment", "tuning", "--from", SINCE.isoformat(), "--to", UNTIL.isoformat(),
              "--adoption-date", f"tuning={ADOPTION.date()}", "--json")
    doc = json.loads(res.output)
    kept = [r for r in world["runs"]["tuning"] if datetime(2024, 2, 1) <= r.start < datetime(2024, 4, 11)]
    assert doc["runs"] == len(kept) < len(world["runs"]["tuning"])
    minutes = {a: [(r.end - r.start).total_seconds() / 60 for r in kept if bool(r.tags) == a] for a in (True, False)}
    got = head(doc, "run_duration_agent_vs_human")["headline"]["ratio"]
    assert got == pytest.approx(gm_ratio(minutes[True], minutes[False]), rel=1e-3)  # stored to the microsecond
    text = cli(world, "--experiment", "tuning", "--adoption-date", f"tuning={ADOPTION.date()}").output
    assert text.splitlines()[0].startswith("verdict")
    for v in entry["verdict"]:
        assert v["sentence"][:60] in text.replace("\n", " ")
    assert f"tuning: {len(world['runs']['tuning']):,} runs" in text


def test_lift_experiment_from_the_parquet_export_equals_the_stores(world, tmp_path):
    """`lift --experiment --from-parquet DIR` reads the runs from the export (the query that runs
    on Spark, tests/test_spark_parity.py, here on the driver's DuckDB) and prints the same lift."""
    api.export("parquet", tmp_path / "pq", store_path=world["store"])
    args = ("--experiment", "tuning", "--from", SINCE.isoformat(), "--adoption-date", f"tuning={ADOPTION.date()}",
            "--json")
    here = cli(world, *args)
    there = CliRunner().invoke(app, ["lift", *args, "--from-parquet", str(tmp_path / "pq")])
    assert here.exit_code == there.exit_code == 0, there.output
    a, b = json.loads(here.output), json.loads(there.output)
    assert a == b and a["runs"] > 20


@pytest.mark.parametrize("args, message", [
    (("--experiment", "desk"), "--experiment: 'desk' is an event log, not an MLflow experiment; loopmeter lift --log desk"),
    (("--log", "tuning"), "--log: 'tuning' is an MLflow experiment, not an event log; loopmeter lift --experiment tuning"),
    (("--experiment", "nope"), "--experiment: no MLflow experiment named 'nope' in the store (it has: short, small, tuning)"),
    (("--experiment", "tuning", "--repo", "api"), "--repo does not apply to --experiment"),
    (("--experiment", "tuning", "--window-days", "7"), "--window-days does not apply to --experiment"),
    (("--log", "desk", "--experiment", "tuning"), "give one loop at a time"),
    (("--from", "2024-01-01"), "--from cuts the cases of a --log or the runs of an --experiment"),
    (("--log", "desk", "--from", "2024-03-01", "--to", "2024-02-01"), "--from 2024-03-01 is after --to 2024-02-01"),
])
def test_refusals_are_one_line_and_exit_2(world, args, message):
    res = cli(world, *args)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], res.output


def test_a_small_team_falls_back_to_week_clusters_and_says_so(world):
    doc = api.experiment_lift("small", store_path=world["store"], adoption_dates=[f"small={ADOPTION.date()}"],
                              n_boot=200)
    weeks = len({(r.start - timedelta(days=r.start.weekday())).date() for r in world["runs"]["small"]})
    for d in doc["designs"]:
        assert d["cluster"] == "week"
        assert {k: d["cluster_fallback"][k] for k in ("from", "users", "weeks")} == {"from": "user", "users": 3,
                                                                                     "weeks": weeks}
    v = head(doc, "run_duration_agent_vs_human")
    assert v["status"] == "improved"  # agent runs were planted at half the time
    assert v["headline"]["cluster_unit"] == "weeks" and v["headline"]["n_clusters"] >= 10
    assert v["sentence"].endswith("Clustered by week: only 3 users launched the runs.")
    # The same regression clustered by week, recomputed: statsmodels' CR1 (kept as se_cr1), and the
    # CR2 sandwich with Bell-McCaffrey degrees of freedom written out here with dense matrices.
    import statsmodels.api as sm
    from scipy.stats import t as student

    rows = [((r.end - r.start).total_seconds() / 60, bool(r.tags), (r.start - timedelta(days=r.start.weekday())).date())
            for r in world["runs"]["small"]]
    y = np.log([m for m, _, _ in rows])
    X = sm.add_constant(np.array([float(a) for _, a, _ in rows]))
    groups = np.unique([str(w) for _, _, w in rows], return_inverse=True)[1]
    fit = sm.OLS(y, X).fit(cov_type="cluster", use_t=True,
                          cov_kwds={"groups": groups, "use_correction": True, "df_correction": True})
    avh = next(d for d in doc["designs"] if d["design"] == "ai-vs-human")
    row = next(r for r in avh["results"] if r["metric"] == "run_minutes" and r["estimator"] == "log_duration_ols")
    assert row["covariance"] == "CR2" and row["se_cr1"] == pytest.approx(fit.bse[1], rel=1e-6)
    bread = np.linalg.inv(X.T @ X)
    e = y - X @ bread @ X.T @ y
    c = np.array([0.0, 1.0])
    n = len(y)
    meat, cols = np.zeros((2, 2)), []
    for g in np.unique(groups):
        i = groups == g
        w, vec = np.linalg.eigh(np.eye(i.sum()) - X[i] @ bread @ X[i].T)
        A = vec @ np.diag(1 / np.sqrt(w)) @ vec.T
        u = X[i].T @ A @ e[i]
        meat += np.outer(u, u)
        # Bell-McCaffrey: column g of G is (I - H)[:, g]' A_g X_g (X'X)^-1 c.
        cols.append((np.eye(n) - X @ bread @ X.T)[:, i] @ A @ X[i] @ bread @ c)
    se = float(np.sqrt(c @ bread @ meat @ bread @ c))
    lam = np.linalg.eigvalsh(np.array(cols) @ np.array(cols).T)
    df = lam.sum() ** 2 / (lam ** 2).sum()
    assert (row["se"], row["df"]) == (pytest.approx(se, rel=1e-6), pytest.approx(df, rel=1e-6))
    beta = float(np.log(row["ratio"]))
    q = student.ppf(0.975, df)
    assert (v["headline"]["ci_low"], v["headline"]["ci_high"]) == (pytest.approx(np.exp(beta - q * se), rel=1e-6),
                                                                   pytest.approx(np.exp(beta + q * se), rel=1e-6))
    # Nine weeks of runs are too few weeks too: the users stay the clusters, and the verdict says so.
    short = api.experiment_lift("short", store_path=world["store"], adoption_dates=["short=2024-01-29"], n_boot=50)
    assert all(d["cluster"] == "user" and "cluster_fallback" not in d for d in short["designs"])
    assert all(v["status"] == "not_enough_data" for v in short["verdict"])
    assert "Only 3 users in the comparison" in head(short, "run_duration_after_vs_before")["sentence"]


def test_week_clusters_keep_false_positives_near_five_percent():
    """40 planted nulls (3 users with lasting speeds of their own, weekly shocks): every improved or
    worsened verdict is false. At a true 5% the 160 verdicts give about 8; more than 20 happens at
    5% with P < 0.0001 (binomial), so it would mean the week clusters understate the spread."""
    statuses = []
    for seed in range(40):
        v, lift = verdicts(seed)
        assert lift["designs"][0]["cluster"] == "week"
        statuses += [e["status"] for e in v.values()]
    assert len(statuses) == 160
    false = sum(s in ("improved", "worsened") for s in statuses)
    assert false <= 20, false
    assert sum(s == "not_enough_data" for s in statuses) == 0  # the fallback gives small teams an answer
    # And a planted effect (agent runs 0.6x as long) is found.
    found = [verdicts(seed, effect=0.6)[0]["run_duration_agent_vs_human"]["status"] for seed in range(100, 105)]
    assert found.count("improved") >= 4, found
