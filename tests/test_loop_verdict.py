"""The verdict of loops that are not git (lift/loop_verdict.py): event logs, MLflow experiments and
published panels, each built here with a planted effect, a planted null and too little data.

The headline of a log or experiment question is the log-duration regression; with one binary
regressor its ratio is exp(mean log a - mean log b), recomputed here with numpy. A panel's
statuses are checked against the sign of its intervals, and one entry of each kind is pinned."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from rich.console import Console
from typer.testing import CliRunner

from loopmeter import api
from loopmeter.cli import app
from loopmeter.designs.panel import panel_lift
from loopmeter.errors import ConfigError
from loopmeter.lift.loop_verdict import LOG_QUESTIONS, panel_verdict
from loopmeter.lift.verdict import STATUSES
from loopmeter.log_settings import LogSettings, ResourceRule
from loopmeter.metrics.experiments import experiments
from loopmeter.metrics.log_loops import LogWindow, log_loop
from loopmeter.report.terminal import render_terminal
from loopmeter.sources import mlflow_runs
from loopmeter.sources.eventlog import Mapping
from loopmeter.sources.mlflow_runs import Experiment, Run
from loopmeter.store.db import Store

T0 = datetime(2024, 1, 1)  # a Monday
ADOPTION = T0 + timedelta(weeks=8)
SETTINGS = LogSettings(end=("close",), rework=("reopened",), resources=(ResourceRule("agent-*", "agent"),))
N_BOOT = 200


# ------------------------------------------------------------------------------ event logs


def write_log(path: Path, *, speedup: float, resources: int, seed: int, weeks: int = 18) -> dict[str, list]:
    """Poisson(10) cases a week by `resources` people; after adoption an agent works on every other
    case, which then takes `speedup` times as long. Returns the cycle hours by group."""
    rng = np.random.default_rng(seed)
    lines, hours = ["case,activity,timestamp,resource"], {"after": [], "before": [], "ai": [], "human": []}
    n = 0
    for wk in range(weeks):
        for _ in range(rng.poisson(10)):
            start = T0 + timedelta(weeks=wk, hours=float(rng.uniform(0, 120)))
            ai = start >= ADOPTION and n % 2 == 1
            h = round(float(np.exp(rng.normal(np.log(24), 0.3))) * (speedup if ai else 1.0), 3)
            who = f"person{n % resources}"
            case = f"c{n}"
            lines.append(f"{case},Open,{start.isoformat()}Z,{who}")
            if ai:
                lines.append(f"{case},Work,{(start + timedelta(hours=h / 2)).isoformat()}Z,agent-1")
            lines.append(f"{case},Close,{(start + timedelta(hours=h)).isoformat()}Z,{who}")
            done = start + timedelta(hours=h)
            hours["after" if done >= ADOPTION else "before"].append(h)
            hours["ai" if ai else "human"].append(h)
            n += 1
    path.write_text("\n".join(lines) + "\n")
    return hours


def log_entry(tmp_path: Path, name: str, **kw) -> tuple[dict, dict, Path]:
    hours = write_log(tmp_path / f"{name}.csv", **kw)
    s = tmp_path / f"{name}.duckdb"
    api.ingest_events(tmp_path / f"{name}.csv", store_path=s, log_name=name, mapping=Mapping(actor="resource"))
    with Store.open(s, create=False, read_only=True) as store:
        out = log_loop(store, name, SETTINGS, LogWindow(7), adoption_date=ADOPTION.date(), n_boot=N_BOOT)
    return out, hours, s


def by_question(entries: list[dict]) -> dict[str, dict]:
    return {e["question"]: e for e in entries}


def gm_ratio(a: list[float], b: list[float]) -> float:
    return float(np.exp(np.mean(np.log(a)) - np.mean(np.log(b))))


def test_event_log_planted_effect_is_improved_and_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out, hours, store = log_entry(tmp_path, "desk", speedup=0.5, resources=12, seed=1)
    v = by_question(out["verdict"])
    assert list(v) == list(LOG_QUESTIONS)
    ab, ah = v["cycle_time_after_vs_before"], v["cycle_time_ai_vs_human"]
    assert (ab["status"], ah["status"]) == ("improved", "improved")
    # The headline is the regression: exp of the difference of mean log hours, computed here.
    assert ab["headline"]["ratio"] == pytest.approx(gm_ratio(hours["after"], hours["before"]), rel=1e-6)
    assert ah["headline"]["ratio"] == pytest.approx(gm_ratio(hours["ai"], hours["human"]), rel=1e-6)
    assert ah["headline"]["ratio"] == pytest.approx(0.5, abs=0.08)
    assert ab["headline"]["ci_high"] < 1 and ah["headline"]["ci_high"] < 1
    # The weekly count did not change (Poisson(10) throughout): no detectable change.
    assert v["validated_cases_after_vs_before"]["status"] == "no_detectable_change"
    after = len(hours["after"])
    ai_after = len(hours["ai"])  # every AI-handled case is after adoption
    exposure = round(ai_after / after, 4)
    head = ab["headline"]
    assert ab == {
        "question": "cycle_time_after_vs_before", "title": "case cycle time, after vs before AI adoption",
        "status": "improved",
        "sentence": (f"Improved: Cases took {head['ratio']:.2f}x as long after adoption as before (95% interval "
                     f"{head['ci_low']:.2f} to {head['ci_high']:.2f})."),
        "headline": {"estimator": "log_duration_ols", "ratio": head["ratio"], "ci_low": head["ci_low"],
                     "ci_high": head["ci_high"], "n_a": after, "n_b": len(hours["before"]), "n_clusters": 12,
                     "cluster_unit": "resources", "clustered": True},
        "agreement": {"specifications": 2, "low": ab["agreement"]["low"], "high": ab["agreement"]["high"],
                      "intervals_disagree": False, "straddles": False, "contradicting": 0},
        "exposure": {"ai_share_after": exposure, "minimum": 0.1}, "caveats": [],
    }
    # `lift --log` prints the verdict block before anything else (the agent named in loopmeter.toml).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loopmeter.toml").write_text('[[log]]\nname = "desk"\nend = ["Close"]\nrework = ["Reopened"]\n'
                                             '[[log.resource]]\npattern = "agent-*"\nkind = "agent"\n')
    res = CliRunner().invoke(app, ["lift", "--log", "desk", "--store", str(store), "--adoption-date",
                                   f"desk={ADOPTION.date()}", "--window-days", "7"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()
    assert first[0].startswith("verdict") and first[1].split()[0] == "improved"
    assert "case cycle time, after vs before AI adoption" in first[1]
    # The report carries each log's verdict and its terminal view shows it under the log table.
    doc = api.report_from_store(store_path=store, window_days=7)
    (g,) = doc["event_logs"]
    assert [e["question"] for e in g["verdict"]] == list(LOG_QUESTIONS)
    console = Console(record=True, width=200)
    render_terminal(doc, console)
    text = console.export_text()
    assert text.index("desk (loopmeter lift --log desk") < text.index("case cycle time, AI-handled vs human")


def test_event_log_planted_null_and_too_few_resources(tmp_path: Path):
    out, _, _ = log_entry(tmp_path, "null", speedup=1.0, resources=12, seed=2)
    v = by_question(out["verdict"])
    assert v["cycle_time_after_vs_before"]["status"] == "no_detectable_change"
    assert v["cycle_time_ai_vs_human"]["status"] == "no_detectable_change"
    lo, hi = v["cycle_time_ai_vs_human"]["headline"]["ci_low"], v["cycle_time_ai_vs_human"]["headline"]["ci_high"]
    assert lo < 1 < hi

    few, _, _ = log_entry(tmp_path, "few", speedup=0.5, resources=3, seed=3)
    v = by_question(few["verdict"])
    for q in ("cycle_time_after_vs_before", "cycle_time_ai_vs_human"):
        assert v[q]["status"] == "not_enough_data"
        assert v[q]["headline"]["ratio"] is None  # never a number from too little data
        assert "Only 3 resources in the comparison" in v[q]["sentence"]


def test_event_log_without_adoption_says_why(tmp_path: Path):
    write_log(tmp_path / "h.csv", speedup=1.0, resources=12, seed=4, weeks=4)
    s = tmp_path / "h.duckdb"
    api.ingest_events(tmp_path / "h.csv", store_path=s, log_name="h", mapping=Mapping(actor="resource"))
    with Store.open(s, create=False, read_only=True) as store:
        out = log_loop(store, "h", SETTINGS, LogWindow(7), n_boot=N_BOOT)  # no agent, no date
    v = by_question(out["verdict"])
    assert v["cycle_time_after_vs_before"]["status"] == "not_enough_data"
    assert v["cycle_time_after_vs_before"]["sentence"].startswith("Not enough data to say: No adoption date: none given")
    ai = v["cycle_time_ai_vs_human"]  # no AI-handled case at all
    assert ai["status"] == "not_enough_data" and ai["headline"] is None
    assert "AI-handled group" in ai["sentence"], ai["sentence"]


# ------------------------------------------------------------------------------ experiments


# The waits cycle through eleven normal quantiles, so each side of adoption, and the waits before odd
# (agent) and even runs alike (the cycle is odd), get the same mix: a null by construction (random
# waits would make "no detectable change" only a 95% event).
WAITS = norm.ppf((np.arange(11) + 0.5) / 11)[[3, 8, 0, 6, 1, 10, 9, 4, 7, 2, 5]]


def runs(*, users: int, seed: int, weeks: int = 18) -> tuple[list[Run], dict[str, list]]:
    """One run at a time: a 60-minute run (half as long when an agent launched it, every other run
    after adoption), then a wait of about 20 hours (the same throughout: a planted null)."""
    rng = np.random.default_rng(seed)
    out, minutes, t, i = [], {"agent": [], "human": []}, T0, 0
    while t < T0 + timedelta(weeks=weeks):
        agent = t >= ADOPTION and i % 2 == 1
        m = float(np.exp(rng.normal(np.log(60), 0.3))) * (0.5 if agent else 1.0)
        end = t + timedelta(minutes=m)
        out.append(Run(run_id=f"s{seed}r{i}", name=None, status="FINISHED", start=t, end=end, user=f"user{i % users}",
                       tags={"agent": "true"} if agent else {}))
        minutes["agent" if agent else "human"].append((end - t).total_seconds() / 60)
        t = end + timedelta(hours=20 * float(np.exp(0.3 * WAITS[i % len(WAITS)])))
        i += 1
    return out, minutes


def test_experiment_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # MLflow's own client is exercised in test_mlflow_experiments.py; here the runs it would return are
    # handed to the same ingest (200 runs through a sqlite tracking store would take most of a minute).
    planted, minutes = runs(users=12, seed=5)
    few, _ = runs(users=3, seed=6, weeks=9)  # too few users, and too few weeks to cluster by instead
    exps = [Experiment("1", "tuning", planted), Experiment("2", "tiny", few)]
    monkeypatch.setattr(mlflow_runs, "read_runs", lambda uri, names=None: exps)
    s = tmp_path / "e.duckdb"
    api.ingest_mlflow("sqlite:///nowhere.db", store_path=s)
    with Store.open(s, create=False, read_only=True) as store:
        got = {e["name"]: by_question(e["verdict"]) for e in experiments(
            store, n_boot=N_BOOT, adoption={"tuning": ADOPTION.date(), "tiny": date(2024, 1, 29)})}
    v = got["tuning"]
    assert v["run_duration_after_vs_before"]["status"] == "improved"
    assert v["run_duration_agent_vs_human"]["status"] == "improved"
    assert v["run_duration_agent_vs_human"]["headline"]["ratio"] == pytest.approx(
        gm_ratio(minutes["agent"], minutes["human"]), rel=1e-3)  # minutes as stored (microseconds)
    assert v["turnaround_after_vs_before"]["status"] == "no_detectable_change"
    assert v["turnaround_agent_vs_human"]["status"] == "no_detectable_change"
    assert v["run_duration_after_vs_before"]["exposure"]["ai_share_after"] == pytest.approx(0.5, abs=0.02)
    # (Its few agent runs, all in week 8, are too few for the agent-vs-human questions first.)
    for q in ("run_duration_after_vs_before", "turnaround_after_vs_before"):
        e = got["tiny"][q]
        assert e["status"] == "not_enough_data" and "Only 3 users in the comparison" in e["sentence"]
    assert all(e["status"] == "not_enough_data" for e in got["tiny"].values())


# ------------------------------------------------------------------------------ published panels


def write_panel(path: Path, *, effect: float, treated: int, seed: int, units: int = 40, periods: int = 12) -> None:
    """Unit and period effects plus noise; `treated` units adopt at period 5, 7 or 9 and gain `effect`."""
    rng = np.random.default_rng(seed)
    lines = ["repo,period,commits,adopted"]
    a = rng.normal(10, 2, units)
    b = rng.normal(0, 1, periods)
    for u in range(units):
        g = (5, 7, 9)[u % 3] if u < treated else None
        for t in range(1, periods + 1):
            y = a[u] + b[t - 1] + rng.normal(0, 0.5) + (effect if g is not None and t >= g else 0.0)
            lines.append(f"r{u},{t},{y:.6f},{'' if g is None else g}")
    path.write_text("\n".join(lines) + "\n")


def panel(tmp_path: Path, name: str, *, better: str = "higher", **kw) -> dict:
    write_panel(tmp_path / f"{name}.csv", **kw)
    return panel_lift(tmp_path / f"{name}.csv", unit="repo", period="period", outcome="commits",
                      first_treated="adopted", n_boot=199, better=better)


def test_panel_verdicts(tmp_path: Path):
    doc = panel(tmp_path, "up", effect=2.0, treated=24, seed=7)
    (e,) = doc["verdict"]
    cs = doc["results"][0]
    assert e["status"] == "improved" and cs["ci_low"] > 0
    assert e == {
        "question": "outcome_after_vs_before", "outcome": "commits",
        "title": "commits, after vs before adoption (staggered)", "status": "improved",
        "sentence": (f"Improved: Commits changed by {cs['estimate']:+.3g} per unit and period after adoption "
                     f"(95% interval {cs['ci_low']:+.3g} to {cs['ci_high']:+.3g}), by Callaway-Sant'Anna. "
                     f"Main caveat: {cs['caveats'][0]}"),
        "headline": {"estimator": "callaway_santanna", "estimate": cs["estimate"], "ci_low": cs["ci_low"],
                     "ci_high": cs["ci_high"], "percent_change": None, "n_units": 40, "n_treated_units": 24,
                     "clustered": True},
        "higher_is_better": True,
        "agreement": {"specifications": 2, "low": min(r["estimate"] for r in doc["results"]),
                      "high": max(r["estimate"] for r in doc["results"]), "intervals_disagree": False},
        "caveats": cs["caveats"],
    }
    assert "parallel trends" in cs["caveats"][0]
    assert panel(tmp_path, "down", effect=2.0, treated=24, seed=7, better="lower")["verdict"][0]["status"] == "worsened"
    null = panel(tmp_path, "null", effect=0.0, treated=24, seed=8)
    assert null["verdict"][0]["status"] == "no_detectable_change"
    assert null["results"][0]["ci_low"] < 0 < null["results"][0]["ci_high"]
    few = panel(tmp_path, "few", effect=2.0, treated=4, seed=9)
    (f,) = few["verdict"]
    assert f["status"] == "not_enough_data" and f["headline"]["estimate"] is None
    assert "only 4 treated units" in f["sentence"].lower()
    # The terminal shows the verdict first.
    res = CliRunner().invoke(app, ["lift", "--panel", str(tmp_path / "up.csv"), "--unit", "repo", "--period",
                                   "period", "--outcome", "commits", "--first-treated", "adopted"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("verdict") and "improved" in res.output.splitlines()[1]


def test_panel_inconsistent_when_estimators_exclude_zero_on_opposite_sides():
    def row(est, lo, hi, name):
        return {"estimator": name, "estimate": est, "ci_low": lo, "ci_high": hi, "n_units": 40,
                "n_treated_units": 20, "checks": [], "caveats": []}

    doc = {"outcome": "y", "results": [row(0.8, 0.5, 1.1, "callaway_santanna"), row(-0.6, -1.0, -0.2, "imputation")]}
    (e,) = panel_verdict(doc)
    assert e["status"] == "inconsistent" and e["agreement"]["intervals_disagree"]
    doc["results"][1] = row(0.1, -0.3, 0.5, "imputation")  # overlapping zero: the headline decides
    assert panel_verdict(doc)[0]["status"] == "improved"
    assert panel_verdict(doc, higher_is_better=False)[0]["status"] == "worsened"
    assert {e["status"] for e in panel_verdict(doc)} <= set(STATUSES)


def test_panel_better_is_checked():
    with pytest.raises(ConfigError, match="--better"):
        panel_lift("x.csv", unit="u", period="p", outcome="y", first_treated="g", better="up")

