"""Play a user who measures loops that are not git: an ML team's MLflow experiment and a service
desk's XES log, each with AI adopted half-way, then read loopmeter's answer for both.

    python bench/loops_as_user.py [--out DIR] [--seed N]

It builds, in DIR (a temporary folder by default):

- `mlflow.db`: a real MLflow tracking store (sqlite), written through MLflow's own client. Ten
  weeks of three people launching runs by hand in working hours (20-90 minute runs, then hours of
  reading results), then eight weeks in which an agent (runs tagged `agent=true`, user
  `tuning-agent`) also runs short sweeps back to back, two minutes apart, while the people go on as
  before. About one run in ten fails. `val_auc` creeps up with a little noise.
- `servicedesk.xes`: a BPI-2013-style incident log (XES 2.0: `concept:name`, `org:resource`,
  `lifecycle:transition`, `time:timestamp`) of ~1,500 cases by 15 people over 20 weeks; from
  week 10 an agent (`triage-agent`) does the first diagnosis on four cases in ten, which cuts their
  time to resolution by a third; one case in twenty is reopened.

What was planted is printed beside what loopmeter reports, so a reader can judge the answer:
the agent-handled incidents should come out about 0.67x as long as the people's, the experiment's
turnaround after adoption much shorter (the agent's sweeps), and its run duration unchanged for
the people's runs. Needs `pip install 'loopmeter[mlflow]'`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday
ADOPT_WEEK = 10
PEOPLE = ("ann", "bo", "chen")


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def working_hour(rng: np.random.Generator, day: datetime) -> datetime:
    return day.replace(hour=int(rng.integers(9, 17)), minute=int(rng.integers(0, 60)))


def build_mlflow(uri: str, rng: np.random.Generator, weeks: int = 18) -> dict:
    """Returns what was planted: runs by people and by the agent, the turnarounds between them."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    eid = client.create_experiment("churn-model")
    planned: list[tuple[str, bool, datetime, float, str]] = []  # user, agent, start, minutes, status
    for day in range(weeks * 7):
        date = T0 + timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for person in PEOPLE:  # a person launches 0-2 runs a working day, hours apart
            t = working_hour(rng, date)
            for _ in range(int(rng.integers(0, 3))):
                minutes = float(rng.uniform(20, 90))
                planned.append((person, False, t, minutes, "FAILED" if rng.random() < 0.1 else "FINISHED"))
                t += timedelta(minutes=minutes) + timedelta(hours=float(rng.uniform(1, 3)))
        if day >= ADOPT_WEEK * 7 and rng.random() < 0.6:  # the agent's sweep: back to back, 2 minutes apart
            t = date.replace(hour=19)
            for _ in range(int(rng.integers(6, 14))):
                minutes = float(rng.uniform(5, 15))
                planned.append(("tuning-agent", True, t, minutes, "FAILED" if rng.random() < 0.1 else "FINISHED"))
                t += timedelta(minutes=minutes + 2)
    planned.sort(key=lambda r: r[2])
    best = 0.70
    for i, (user, agent, start, minutes, status) in enumerate(planned):
        tags = {"mlflow.user": user, **({"agent": "true"} if agent else {})}
        run = client.create_run(eid, start_time=ms(start), tags=tags)
        if status == "FINISHED":
            best = min(0.95, best + float(rng.normal(0.0008, 0.002)))
            client.log_metric(run.info.run_id, "val_auc", round(best + float(rng.normal(0, 0.004)), 4),
                              timestamp=ms(start))
        client.set_terminated(run.info.run_id, status, end_time=ms(start + timedelta(minutes=minutes)))
    def gm(xs):
        return float(np.exp(np.mean(np.log(xs))))

    minutes = {a: [m for _, agent, _, m, _ in planned if agent == a] for a in (True, False)}
    return {"runs": len(planned), "agent_runs": sum(a for _, a, *_ in planned),
            "people_runs_before": sum(not a and s < T0 + timedelta(weeks=ADOPT_WEEK) for _, a, s, *_ in planned),
            "planted_run_ratio_agent_vs_human": round(gm(minutes[True]) / gm(minutes[False]), 3)}


def build_xes(path: Path, rng: np.random.Generator, weeks: int = 20) -> dict:
    """Returns the planted cycle hours of agent-handled and people-only incidents."""
    people = [f"p{i:02d}" for i in range(15)]
    hours: dict[str, list[float]] = {"agent": [], "human": []}
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<log xes.version="2.0" xmlns="http://www.xes-standard.org/">',
           '<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>',
           '<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>',
           '<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>',
           '<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>',
           '<string key="concept:name" value="servicedesk"/>']

    def event(activity: str, transition: str, who: str, t: datetime) -> str:
        return (f'<event><string key="concept:name" value={quoteattr(activity)}/>'
                f'<string key="lifecycle:transition" value={quoteattr(transition)}/>'
                f'<string key="org:resource" value={quoteattr(who)}/>'
                f'<date key="time:timestamp" value="{t.isoformat()}"/></event>')

    n = 0
    for week in range(weeks):
        for _ in range(int(rng.poisson(75))):
            opened = T0 + timedelta(weeks=week, hours=float(rng.uniform(0, 7 * 24)))
            owner = people[int(rng.integers(len(people)))]
            agent = week >= ADOPT_WEEK and rng.random() < 0.4
            total = float(np.exp(rng.normal(np.log(30), 0.6))) * (2 / 3 if agent else 1.0)
            evs = [event("Queued", "Awaiting Assignment", "servicedesk-queue", opened)]
            t = opened + timedelta(hours=total * 0.3)
            evs.append(event("Accepted", "In Progress", "triage-agent" if agent else owner, t))
            t = opened + timedelta(hours=total * 0.6)
            evs.append(event("Accepted", "Wait - User", owner, t))
            t = opened + timedelta(hours=total)
            evs.append(event("Completed", "Resolved", owner, t))
            if rng.random() < 0.05:  # reopened within a few days: not validated
                t2 = t + timedelta(hours=float(rng.uniform(2, 72)))
                evs.append(event("Reopened", "In Progress", owner, t2))
                evs.append(event("Completed", "Resolved", owner, t2 + timedelta(hours=4)))
            out.append(f'<trace><string key="concept:name" value="INC{n:06d}"/>' + "".join(evs) + "</trace>")
            hours["agent" if agent else "human"].append(total)
            n += 1
    out.append("</log>")
    path.write_text("\n".join(out) + "\n")
    return {"cases": n, "agent_cases": len(hours["agent"]),
            "planted_ratio_agent_vs_human": round(float(np.exp(np.mean(np.log(hours["agent"]))
                                                                - np.mean(np.log(hours["human"])))), 3)}


TOML = """[[log]]
name = "servicedesk"
start = ["Queued"]
end = ["Completed"]
rework = ["Reopened"]
[[log.resource]]
pattern = "triage-agent"
kind = "agent"
[[log.resource]]
pattern = "servicedesk-queue"
kind = "bot"
"""


def cli(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="180", PYTHONPATH=str(Path(__file__).resolve().parent.parent / "src"))
    r = subprocess.run([sys.executable, "-m", "loopmeter", *args], cwd=out, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"loopmeter {' '.join(args)} failed:\n{r.stderr}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    out = a.out or Path(tempfile.mkdtemp(prefix="loops-as-user-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    t = time.perf_counter()
    planted = {"mlflow": build_mlflow(f"sqlite:///{out / 'mlflow.db'}", rng),
               "servicedesk": build_xes(out / "servicedesk.xes", rng)}
    built = time.perf_counter() - t
    (out / "loopmeter.toml").write_text(TOML)
    store = str(out / "s.duckdb")
    t = time.perf_counter()
    cli(out, "ingest", "--store", store, "--mlflow", f"sqlite:///{out / 'mlflow.db'}", "--objective", "val_auc:max")
    cli(out, "ingest", "--store", store, "--events", "servicedesk.xes", "--log-name", "servicedesk")
    ingested = time.perf_counter() - t
    adoption = (T0 + timedelta(weeks=ADOPT_WEEK)).date().isoformat()
    t = time.perf_counter()
    text = cli(out, "report", "--store", store, "--html", "report.html").stdout
    reported = time.perf_counter() - t
    doc = json.loads(cli(out, "report", "--store", store, "--format", "json",
                         "--adoption-date", f"servicedesk={adoption}", "--adoption-date",
                         f"churn-model={adoption}").stdout)
    print(text)
    print(f"planted: {json.dumps(planted)}; adoption planted at {adoption}")
    for e in doc["event_logs"] + doc.get("experiments", []):
        for v in e.get("verdict") or []:
            print(f"  given {adoption}: {e['name']}: {v['status']}: {v['sentence']}")
    # The same loops one at a time, as `lift` shows them: the experiment, and the log's middle weeks.
    lift = json.loads(cli(out, "lift", "--store", store, "--experiment", "churn-model", "--adoption-date",
                          f"churn-model={adoption}", "--json").stdout)
    for v in lift["verdict"]:
        print(f"  lift --experiment churn-model: {v['status']}: {v['sentence']}")
    since, until = (T0 + timedelta(weeks=5)).date().isoformat(), (T0 + timedelta(weeks=15)).date().isoformat()
    cut = json.loads(cli(out, "lift", "--store", store, "--log", "servicedesk", "--adoption-date",
                         f"servicedesk={adoption}", "--from", since, "--to", until, "--json").stdout)
    print(f"  lift --log servicedesk --from {since} --to {until}: {cut['cycle_time_hours']['n']} done cases")
    for v in cut["verdict"]:
        print(f"    {v['status']}: {v['sentence']}")
    print(f"built the MLflow store and the XES log in {built:.1f} s; ingest {ingested:.1f} s; "
          f"report (terminal + HTML) {reported:.1f} s; files in {out}")


if __name__ == "__main__":
    main()
