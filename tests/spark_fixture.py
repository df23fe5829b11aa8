"""The store behind the Spark parity test (tests/test_spark_parity.py) and bench/spark_report.py
`--flow`: beside a git history, every kind of row the report's `flow` reads, and two event logs
measured as work loops, so that every section of the report has rows to compute on each engine."""

from __future__ import annotations

from datetime import timedelta
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
        for key, moves in (("J-1", [("2024-03-01 09:00", "new", "indeterminate"), ("2024-03-03 09:00", "indeterminate", "done")]),
                           ("J-2", [("2024-03-02 00:00", "new", "indeterminate"), ("2024-03-02 12:00", "indeterminate", "done"),
                                    ("2024-03-03 00:00", "done", "indeterminate"), ("2024-03-05 00:00", "indeterminate", "done")])):
            iid = c.item(f"jira:{key}", "issue", created="2024-03-01 00:00", state="open", source="jira")
            for at_, frm, to in moves:
                c.event(iid, at_, "transitioned", "alice", from_category=frm, to_category=to)
    finally:
        c.close()


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
