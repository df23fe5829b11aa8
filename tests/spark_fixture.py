"""The store behind the Spark parity test (tests/test_spark_parity.py) and bench/spark_report.py
`--flow`: beside a git history, every kind of row the report's `flow` reads, two event logs
measured as work loops, an MLflow experiment, PagerDuty incidents, and the tracker and CI rows of
a repository's legibility facts, so that every section of the report has rows to compute on each
engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from canon import Canon
from loopmeter import api
from test_flow_metrics import _busy_pr, _ci_history, _dora_history  # hand-worked histories

#: loopmeter.toml for the logs of `add_event_logs`: "desk" with every setting (start and end
#: activities, rework, waiting activities, agent and bot resources by pattern); "orders" with none
#: (start and done are the first and last events, waiting is at handoffs).
LOG_CONFIG = """
[[log]]
name = "desk"
start = ["Open"]
end = ["Close"]
rework = ["Reopened"]
waiting = ["Pending"]
adoption_date = 2024-02-05
[[log.resource]]
pattern = "agent-*"
kind = "agent"
[[log.resource]]
pattern = "svc-*"
kind = "bot"

[[incidents.service]]
service = "checkout*"
repo = "r0"
team = "payments"
"""


def add_flow_rows(store_path) -> None:
    """Pull requests, reviews, CI runs, deployments, incidents, releases, bugs and tracker tickets
    beside the git history, so that every part of `flow` has rows (tests/test_flow_metrics.py works
    the same histories by hand): the flow metrics then run on the engine too."""
    c = Canon(store_path)
    try:
        for who in ("alice", "bob", "carol"):
            c.actor(who)
        c.actor("dependabot[bot]", "bot")
        _busy_pr(c)
        _dora_history(c)
        # An AI-attributed PR, a draft still open and waiting for review at as_of, one open and approved.
        p = c.pr(21, author="bob", opened="2024-03-06 09:00", merged="2024-03-06 14:00", merge_sha="m21",
                 head_sha="h21", first_commit="2024-03-05 16:00")
        c.attribution(p, "codex")
        c.event(p, "2024-03-06 10:00", "review_requested", "bob")
        c.event(p, "2024-03-06 11:00", "reviewed", "carol", state="approved")
        d = c.pr(30, author="carol", opened="2024-03-15 09:00", draft=True, head_sha="h30")
        c.event(d, "2024-03-16 09:00", "ready_for_review", "carol")
        c.event(d, "2024-03-16 10:00", "review_requested", "carol", reviewer="alice")
        o = c.pr(31, author="alice", opened="2024-03-18 09:00", head_sha="h31", title="<b>open</b>")
        c.event(o, "2024-03-18 12:00", "reviewed", "bob", state="approved")
        # A deployment of a real commit of r0 ships its ancestors too (the walk over `commits`).
        # A later one ships the commits landed since: their lead times (git changes, no PR) are known.
        shipped = c.store.con.execute("select sha, committer_time from commits where repo = 'r0' "
                                      "order by committer_time, sha").fetchall()
        for n, (sha, at) in ((1, shipped[40]), (2, shipped[70])):
            c.deployment(n, sha=sha, at=str(at + timedelta(hours=5))[:16], repo="acme/r0")
        c.item("github:acme/r0:release:1", "release", created="2024-03-10 00:00", state="published", tag="v1",
               sha=shipped[40][0], repo="acme/r0")
        # PRs that are `same_as` r0 changes: acme/api is then r0's tracker (its deployments judge
        # r0's change failures in the lift designs, its waits are r0's changes' waits).
        for n, (change,) in zip((20, 21), c.store.con.execute(
                "select item_id from items where kind = 'change' and repo = 'r0' "
                "and done_at >= '2024-03-04' order by done_at, item_id limit 2").fetchall()):
            c.link(f"github:acme/api:pr:{n}", change, "same_as")
        c.repo = "acme/ci"  # the CI history's run numbers are the busy PR's own
        _ci_history(c)
        c.repo = "acme/api"
        bugs = [c.item(f"github:acme/api:issue:{n}", "issue", created=f"2024-03-0{n} 10:00", state="open", labels=lab)
                for n, lab in ((1, ["bug"]), (2, ["type: bug", "ui"]), (3, ["enhancement"]), (4, []))]
        c.link("github:acme/api:pr:20", bugs[0], "fixes")
        c.link("github:acme/api:pr:21", bugs[1], "closes")
        c.link("github:acme/api:pr:3", bugs[3], "fixes")
        c.event(bugs[2], "2024-03-07 00:00", "closed", "bob")
        c.event(bugs[2], "2024-03-08 00:00", "reopened", "carol")
        _legibility_rows(c, shipped)
        for key, moves in (("J-1", [("2024-03-01 09:00", "new", "indeterminate"), ("2024-03-03 09:00", "indeterminate", "done")]),
                           ("J-2", [("2024-03-02 00:00", "new", "indeterminate"), ("2024-03-02 12:00", "indeterminate", "done"),
                                    ("2024-03-03 00:00", "done", "indeterminate"), ("2024-03-05 00:00", "indeterminate", "done")])):
            iid = c.item(f"jira:{key}", "issue", created="2024-03-01 00:00", state="open", source="jira")
            for at_, frm, to in moves:
                c.event(iid, at_, "transitioned", "alice", from_category=frm, to_category=to)
    finally:
        c.close()


def _legibility_rows(c: Canon, shipped: list) -> None:
    """What r0's legibility facts read beside its files (legibility/store_facts.py): CI runs of
    r0's commits under acme/r0 (on pull requests and pushes, one commit both failed and passed,
    one run never finished), issues with states, one moved to in progress and one reopened, and a
    reverted change."""
    repo = c.repo
    c.repo = "acme/r0"
    try:
        for n, (k, event, ok, minutes) in enumerate(((30, "push", True, 12.5), (31, "pull_request", False, 20),
                                                     (31, "pull_request", True, 7.25), (45, "push", True, 31),
                                                     (50, "pull_request", True, None))):
            sha, at = shipped[k]
            queued = at + timedelta(minutes=3)
            done = None if minutes is None else str(queued + timedelta(minutes=minutes))[:19]
            c.item(f"github:acme/r0:run:{100 + n}:1", "ci_run", created=str(queued)[:19], started=str(queued)[:19],
                   done=done, state="running" if done is None else ("success" if ok else "failure"),
                   sha=sha, workflow="ci", event=event, attempt=1)
        c.item("github:acme/r0:issue:7", "issue", created="2024-02-01 10:00", state="open", status="Doing",
               status_category="indeterminate")
        i8 = c.item("github:acme/r0:issue:8", "issue", created="2024-02-02 10:00", state="open", status="To do",
                    status_category="new")
        c.event(i8, "2024-02-20 10:00", "reopened", "carol")
        i9 = c.item("github:acme/r0:issue:9", "issue", created="2024-02-03 10:00", state="closed", status="Done",
                    status_category="done")
        c.event(i9, "2024-02-04 10:00", "transitioned", "alice", from_category="new", to_category="indeterminate")
        (change,) = c.store.con.execute("select item_id from items where kind = 'change' and repo = 'r0' "
                                        "order by done_at, item_id limit 1 offset 30").fetchone()
        c.event(change, "2024-02-15 12:00", "reverted", "bob")
    finally:
        c.repo = repo


#: PagerDuty incidents (a CSV export): `checkout*` services are linked to r0 in LOG_CONFIG; one
#: acknowledged with seconds to spare, one never acknowledged, one still open, one of another service.
PAGERDUTY = """id,incident_number,description,service_name,urgency,status,created_on,seconds_to_first_ack,resolved_on
P1,1,DB down,checkout-api,high,resolved,2024-02-05T10:00:00Z,601,2024-02-05T12:10:00Z
P2,2,Slow,checkout-api,low,resolved,2024-02-06T10:00:00Z,,2024-02-06T10:31:00Z
P3,3,Disk,search,high,triggered,2024-02-14T00:00:00Z,,
P4,4,Queue,checkout-web,high,resolved,2024-03-04T09:00:00Z,95,2024-03-04T09:47:30Z
P5,5,Index,search,low,resolved,2024-03-05T09:00:00Z,1800,2024-03-05T15:00:00Z
"""


def add_loops(store_path, root: Path) -> Path:
    """The event logs (`add_event_logs`), an MLflow experiment and PagerDuty incidents; returns the
    loopmeter.toml to report with."""
    from loopmeter.config import load_config

    config = add_event_logs(store_path, root)
    add_experiment(store_path)
    (root / "pd.csv").write_text(PAGERDUTY)
    api.ingest_incidents(root / "pd.csv", provider="pagerduty", store_path=store_path, config=load_config(config))
    return config


def add_experiment(store_path) -> None:
    """An MLflow experiment "churn" of 36 runs by 4 users over 12 weeks, read through loopmeter's
    own MLflow source (sources/mlflow_runs.py) from runs made here rather than from a tracking
    store (MLflow's import alone costs seconds): agent-tagged runs from week 6, failed, killed and
    running ones, times in milliseconds, and an objective (`acc:max`)."""
    from loopmeter.sources.mlflow_runs import Experiment, MlflowRuns, Run

    t0 = datetime(2024, 1, 1)
    runs = []
    for k in range(36):
        start = t0 + timedelta(days=2.3 * k, milliseconds=137 * k)
        status = "RUNNING" if k == 35 else ("FAILED" if k % 7 == 3 else "KILLED" if k == 20 else "FINISHED")
        agent = k >= 15 and k % 3 != 0
        runs.append(Run(run_id=f"run{k:02d}", name=f"r{k}", status=status, start=start,
                        end=None if status == "RUNNING" else start + timedelta(minutes=20 + (k * 17) % 45, milliseconds=250 * k),
                        user=("ann", "bob", "cat", "dan")[k % 4], tags={"agent": "true"} if agent else {},
                        metrics={"acc": round(0.5 + 0.01 * ((k * 7) % 30), 3)} if status == "FINISHED" else {}))

    class Given(MlflowRuns):
        def prepare(self) -> bool:
            self.read = [Experiment("1", "churn", runs)]
            return True

    from loopmeter.runner import run

    run(Given("sqlite:///fixture/mlflow.db", objective="acc:max"), store_path=store_path)


def add_event_logs(store_path, root: Path) -> Path:
    """Two event logs in the store ("orders" and "desk", settings in LOG_CONFIG); returns the
    loopmeter.toml to report with. The desk's times have fractions of a second (engines must keep
    them), a case reopened after its close (rework), a case with no start event (unknown cycle
    time), open cases, an event by nobody, and resources that are agents and bots."""
    orders = root / "orders.csv"
    orders.write_text("case,activity,timestamp,resource\n" + "".join(
        f"o{k},{act},2024-03-{1 + k % 9:02d}T{h:02d}:{k:02d}:00Z,{who}\n"
        for k in range(12) for act, h, who in (("received", 8, "ann"), ("packed", 9 + k % 5, ("bob", "ann")[k % 2]),
                                               ("shipped", 15 + k % 3, "cat"))))
    api.ingest_events(orders, store_path=store_path, log_name="orders", mapping=_mapping())
    rows = []
    for k in range(40):
        day = 1 + k  # 2024-01-02 .. 2024-02-10: both sides of the adoption date
        base = f"2024-{1 + (day > 30):02d}-{(day - 1) % 30 + 1:02d}"
        closer = ("agent-7", "agent-9", "ann", "bob", "svc-bot")[k % 5] if day > 20 else ("ann", "bob", "cat")[k % 3]
        if k % 11 != 3:  # a case without its Open event: its cycle time is unknown
            rows.append((f"d{k}", "Open", f"{base}T0{k % 7}:00:00.{k * 37 % 1000:03d}Z", ("ann", "bob")[k % 2]))
        if k % 4 == 1:
            rows.append((f"d{k}", "Pending", f"{base}T09:{k % 60:02d}:{k % 13:02d}.250Z", "svc-queue"))
            rows.append((f"d{k}", "Work", f"{base}T11:30:00.5Z", ""))  # nobody recorded
        if k % 9 != 5:  # an open case otherwise
            rows.append((f"d{k}", "Close", f"{base}T{12 + k % 9}:{k % 60:02d}:00.125Z", closer))
        if k % 7 == 2:  # reopened within the window, closed again
            rows.append((f"d{k}", "Reopened", f"{base}T23:00:00Z", "cat"))
            rows.append((f"d{k}", "Close", f"{base}T23:30:00.999Z", "cat"))
    desk = root / "desk.csv"
    desk.write_text("case,activity,timestamp,resource\n" + "".join(",".join(r) + "\n" for r in rows))
    api.ingest_events(desk, store_path=store_path, log_name="desk", mapping=_mapping())
    config = root / "loopmeter.toml"
    config.write_text(LOG_CONFIG)
    return config


def _mapping():
    from loopmeter.sources.eventlog import Mapping

    return Mapping(actor="resource")
