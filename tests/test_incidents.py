"""Incidents from PagerDuty and Opsgenie CSV exports (sources/incidents.py, metrics/incidents.py):
files written here, read into a real store; expected numbers worked by hand."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from canon import Canon
from stores import rows, snapshot

from loopmeter import api
from loopmeter.config import load_config
from loopmeter.metrics.changes import backend
from loopmeter.metrics.flow import flow
from loopmeter.errors import ConfigError
from loopmeter.sources.incidents import IncidentError

# P1: acknowledged after 600 s, resolved after 2 h; P2: resolved after 30 min, never acknowledged;
# P3: still open; line 5 has no id.
PAGERDUTY = """id,incident_number,description,service_name,urgency,status,created_on,seconds_to_first_ack,resolved_on
P1,1,DB down,checkout-api,high,resolved,2024-01-01T10:00:00Z,600,2024-01-01T12:00:00Z
P2,2,Slow,checkout-api,low,resolved,2024-01-02T10:00:00Z,,2024-01-02T10:30:00Z
P3,3,Disk,search,high,triggered,2024-01-03T00:00:00Z,,
,4,no id,search,low,triggered,2024-01-03T00:00:00Z,,
"""
OPSGENIE = """TinyId,Message,Status,Priority,ImpactedServices,CreatedAt,AcknowledgedAt,ClosedAt
17,Queue stuck,closed,P1,search,2024-01-08T00:00:00+01:00,2024-01-08T00:30:00+01:00,2024-01-08T03:00:00+01:00
"""
TOML = '[[incidents.service]]\nservice = "checkout-*"\nrepo = "acme/checkout"\nteam = "payments"\n'


@pytest.fixture
def store(tmp_path: Path) -> Path:
    (tmp_path / "pd.csv").write_text(PAGERDUTY)
    (tmp_path / "og.csv").write_text(OPSGENIE)
    (tmp_path / "loopmeter.toml").write_text(TOML)
    config = load_config(tmp_path / "loopmeter.toml")
    s = tmp_path / "s.duckdb"
    summary = api.ingest_incidents(tmp_path / "pd.csv", provider="pagerduty", store_path=s, config=config)
    assert (summary.cases, summary.events, [k.where for k in summary.skipped]) == (3, 6, ["line 5"])  # 3 + 2 + 1 events
    api.ingest_incidents(tmp_path / "og.csv", provider="opsgenie", store_path=s, config=config)
    return s


def test_incidents_become_items_linked_to_their_repository(store: Path):
    got = rows(store, "select item_id, kind, repo, team, created_at, done_at, state from items order by item_id")
    assert got == [
        ("opsgenie:17", "incident", None, None, datetime(2024, 1, 7, 23), datetime(2024, 1, 8, 2), "resolved"),
        ("pagerduty:P1", "incident", "acme/checkout", "payments", datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 12), "resolved"),
        ("pagerduty:P2", "incident", "acme/checkout", "payments", datetime(2024, 1, 2, 10), datetime(2024, 1, 2, 10, 30), "resolved"),
        ("pagerduty:P3", "incident", None, None, datetime(2024, 1, 3), None, "triggered"),
    ]


def test_time_to_acknowledge_and_restore(store: Path):
    doc = api.report_from_store(store_path=store)
    total = doc["incidents"]["total"]
    # Restore: 2 h, 0.5 h, 3 h (Opsgenie): p50 2, p85 at rank 1.7 = 2 + 0.7 * 1. Acknowledge: 1/6 h, 1/2 h.
    assert total["incidents"] == 4 and total["open"] == 1
    assert total["time_to_restore_hours"] == {"p50": 2.0, "p85": 2.7, "n": 3}
    assert total["time_to_acknowledge_hours"] == {"p50": round((1 / 6 + 0.5) / 2, 4), "p85": round(1 / 6 + 0.85 / 3, 4), "n": 2}
    checkout = next(s for s in doc["incidents"]["services"] if s["service"] == "checkout-api")
    assert (checkout["repo"], checkout["incidents"], checkout["time_to_restore_hours"]["p50"]) == ("acme/checkout", 2, 1.25)


def test_a_config_linked_incident_fails_the_deployment_before_it(tmp_path: Path):
    c = Canon(tmp_path / "lm.duckdb")
    try:
        c.actor("alice")
        c.pr(1, author="alice", opened="2024-03-04 07:00", merged="2024-03-04 08:00", merge_sha="m1")
        c.deployment(1, sha="m1", at="2024-03-04 09:00")
        c.deployment(2, sha="m1", at="2024-03-06 09:00")
        # +3 h after deployment 1, linked to the repository by loopmeter.toml: a failure.
        c.item("pagerduty:P1", "incident", created="2024-03-04 12:00", state="resolved", source="pagerduty",
               linked_by="config")
        # +3 h after deployment 2, but with no link (a service loopmeter.toml does not name): not counted.
        c.item("pagerduty:P2", "incident", created="2024-03-06 12:00", state="resolved", source="pagerduty")
        d = flow(c.store, backend(c.store), datetime(2024, 3, 20), None)["dora"]
        assert d["change_failure_rate"] == {"rate": 0.5, "failed": 1, "judged": 2, "pending": 0}
    finally:
        c.close()


def test_an_export_without_the_needed_columns_is_refused_in_one_line(tmp_path: Path):
    p = tmp_path / "x.csv"
    p.write_text("name,when\na,b\n")
    with pytest.raises(IncidentError, match=r"x.csv: no id column \(looked for: id, incidentid, tinyid\); the header has: name, when"):
        api.ingest_incidents(p, provider="pagerduty", store_path=tmp_path / "s.duckdb")
    assert not (tmp_path / "s.duckdb").exists()


# Two pages of GET /incidents as PagerDuty's REST API v2 answers them (offset paging with `more`),
# trimmed to the fields the source reads.
PD_PAGE_1 = {"incidents": [
    {"id": "Q1", "title": "DB down", "status": "resolved", "urgency": "high", "created_at": "2024-01-01T10:00:00Z",
     "resolved_at": "2024-01-01T11:00:00Z", "service": {"id": "S1", "summary": "checkout-api"},
     "acknowledgements": [{"at": "2024-01-01T10:06:00Z"}]},
    {"id": "Q2", "title": "Slow", "status": "acknowledged", "urgency": "low", "created_at": "2024-01-02T10:00:00Z",
     "service": {"id": "S2", "summary": "search"}, "acknowledgements": [{"at": "2024-01-02T10:30:00Z"}]},
], "limit": 100, "offset": 0, "more": True}
PD_PAGE_2 = {"incidents": [
    {"id": "Q3", "title": "Disk", "status": "resolved", "urgency": "high", "created_at": "2024-01-03T00:00:00Z",
     "last_status_change_at": "2024-01-03T04:00:00Z", "service": {"id": "S1", "summary": "checkout-api"},
     "acknowledgements": []},
], "limit": 100, "offset": 2, "more": False}


def test_pagerduty_rest_api_through_the_http_layer(tmp_path: Path, monkeypatch):
    from apiserver import FixtureServer

    (tmp_path / "loopmeter.toml").write_text(TOML)
    monkeypatch.setenv("PD_KEY", "s3cret-token")
    with FixtureServer("pagerduty", authorization="Token token=s3cret-token", page_size=100) as server:
        server.answer("/incidents", PD_PAGE_1, offset="^0$")
        server.answer("/incidents", PD_PAGE_2, offset="^2$")
        s = tmp_path / "s.duckdb"
        summary = api.ingest_pagerduty(url=server.url, token_env="PD_KEY", store_path=s,
                                       config=load_config(tmp_path / "loopmeter.toml"))
        assert [r.query["offset"] for r in server.requests()] == ["0", "2"]
    assert (summary.cases, summary.events) == (3, 3 + 2 + 2)  # Q1 t/a/r, Q2 t/a, Q3 t/r
    got = rows(s, "select item_id, repo, done_at, state from items order by item_id")
    assert got == [("pagerduty:Q1", "acme/checkout", datetime(2024, 1, 1, 11), "resolved"),
                   ("pagerduty:Q2", None, None, "acknowledged"),
                   ("pagerduty:Q3", "acme/checkout", datetime(2024, 1, 3, 4), "resolved")]
    assert "s3cret" not in repr(snapshot(s))  # the token is never stored
    doc = api.report_from_store(store_path=s)
    # Restore: 1 h, 4 h; acknowledge: 0.1 h, 0.5 h.
    assert doc["incidents"]["total"]["time_to_restore_hours"] == {"p50": 2.5, "p85": 1 + 0.85 * 3, "n": 2}
    assert doc["incidents"]["total"]["time_to_acknowledge_hours"]["p50"] == 0.3
    monkeypatch.delenv("PD_KEY")
    with pytest.raises(ConfigError, match="PagerDuty's API needs a token: set PD_KEY"):
        api.ingest_pagerduty(url="http://127.0.0.1:9", token_env="PD_KEY", store_path=s)
