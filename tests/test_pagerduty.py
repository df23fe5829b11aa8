"""PagerDuty's REST API read incrementally and resumably (sources/pagerduty.py), against a real
HTTP server on 127.0.0.1 replaying responses shaped as PagerDuty's `GET /incidents` documents them
(trimmed to the fields the source reads), into a real store. The assertions are on the requests
the server received: a later run asks only for the window it needs."""

from __future__ import annotations

from datetime import datetime

import pytest
from apiserver import FixtureServer, Reply
from stores import rows

from loopmeter import api
from loopmeter.sources import pagerduty
from loopmeter.sources.http import NotFound

TOKEN = "pd-s3cret"
Q1 = {"id": "Q1", "title": "DB down", "status": "resolved", "urgency": "high", "created_at": "2024-01-01T10:00:00Z",
      "resolved_at": "2024-01-01T11:00:00Z", "service": {"summary": "checkout-api"},
      "acknowledgements": [{"at": "2024-01-01T10:06:00Z"}]}
Q2 = {"id": "Q2", "title": "Slow", "status": "acknowledged", "urgency": "low", "created_at": "2024-01-02T10:00:00Z",
      "service": {"summary": "search"}, "acknowledgements": [{"at": "2024-01-02T10:30:00Z"}]}
Q3 = {"id": "Q3", "title": "Disk", "status": "resolved", "urgency": "high", "created_at": "2024-01-03T00:00:00Z",
      "last_status_change_at": "2024-01-03T04:00:00Z", "service": {"summary": "checkout-api"}, "acknowledgements": []}
Q2_RESOLVED = {**Q2, "status": "resolved", "resolved_at": "2024-01-06T09:00:00Z"}
Q4 = {"id": "Q4", "title": "Cert", "status": "resolved", "urgency": "high", "created_at": "2024-01-07T08:00:00Z",
      "resolved_at": "2024-01-07T08:20:00Z", "service": {"summary": "search"}, "acknowledgements": []}


def page(incidents: list[dict], more: bool) -> dict:
    return {"incidents": incidents, "limit": 100, "more": more}


def ingest(server: FixtureServer, s, monkeypatch, now: datetime, **kw):
    monkeypatch.setattr(pagerduty, "_now", lambda: now)
    n = len(server.requests())
    summary = api.ingest_pagerduty(url=server.url, token_env="PD_KEY", store_path=s, **kw)
    return summary, [r.query for r in server.requests()[n:]]


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("PD_KEY", TOKEN)
    with FixtureServer("pagerduty", authorization=f"Token token={TOKEN}", page_size=100) as s:
        yield s


def test_a_second_run_asks_only_for_the_new_window(server, tmp_path, monkeypatch):
    s = tmp_path / "s.duckdb"
    server.answer("/incidents", Reply(200, {"Content-Type": "application/json"}, page([Q1, Q2], True)), offset="^0$")
    server.answer("/incidents", Reply(200, {"Content-Type": "application/json"}, page([Q3], False)), offset="^2$")
    _, first = ingest(server, s, monkeypatch, datetime(2024, 1, 5))
    # The first run reads everything, oldest first, in offset pages.
    assert [(q.get("date_range"), q.get("sort_by"), q["offset"], q.get("since")) for q in first] == [
        ("all", "created_at:asc", "0", None), ("all", "created_at:asc", "2", None)]
    # Q2 was left acknowledged, not resolved: the next window starts at its creation, not at the
    # first walk's end; Q2 is now resolved and Q4 is new.
    server.answer("/incidents", page([Q2_RESOLVED, Q3, Q4], False), since="^2024-01-02T10:00:00Z$")
    summary, second = ingest(server, s, monkeypatch, datetime(2024, 1, 8))
    assert [(q.get("date_range"), q["since"], q["until"], q["offset"]) for q in second] == [
        (None, "2024-01-02T10:00:00Z", "2024-01-08T00:00:00Z", "0")]
    assert (summary.cases, summary.events) == (4, 3 + 3 + 2 + 2)  # merged: Q1 is kept
    assert rows(s, "select item_id, done_at, state from items order by item_id") == [
        ("pagerduty:Q1", datetime(2024, 1, 1, 11), "resolved"), ("pagerduty:Q2", datetime(2024, 1, 6, 9), "resolved"),
        ("pagerduty:Q3", datetime(2024, 1, 3, 4), "resolved"), ("pagerduty:Q4", datetime(2024, 1, 7, 8, 20), "resolved")]
    # Nothing is open any more: the third window starts an hour before the second run's end.
    server.answer("/incidents", page([], False), since="^2024-01-07T23:00:00Z$")
    _, third = ingest(server, s, monkeypatch, datetime(2024, 1, 9))
    assert [(q["since"], q["until"]) for q in third] == [("2024-01-07T23:00:00Z", "2024-01-09T00:00:00Z")]
    assert rows(s, "select count(*) from items") == [(4,)]


def test_a_long_gap_is_walked_in_windows_pagerduty_accepts(server, tmp_path, monkeypatch):
    s = tmp_path / "s.duckdb"
    server.answer("/incidents", page([], False))
    _, asked = ingest(server, s, monkeypatch, datetime(2024, 12, 31), since=datetime(2024, 1, 1))
    # 365 days from --since: windows of 180, 180 and 5 days, none longer than PagerDuty's six months.
    assert [(q["since"], q["until"]) for q in asked] == [
        ("2024-01-01T00:00:00Z", "2024-06-29T00:00:00Z"), ("2024-06-29T00:00:00Z", "2024-12-26T00:00:00Z"),
        ("2024-12-26T00:00:00Z", "2024-12-31T00:00:00Z")]


def test_a_walk_cut_short_goes_on_from_the_page_after_its_last_stored_one(server, tmp_path, monkeypatch):
    s = tmp_path / "s.duckdb"
    server.answer("/incidents", Reply(404, {"Content-Type": "application/json"}, {"error": "gone"}), offset="^2$")
    server.answer("/incidents", page([Q1, Q2], True), offset="^0$")
    server.answer("/incidents", page([Q3], False), offset="^2$")
    with pytest.raises(NotFound, match="PagerDuty"):
        ingest(server, s, monkeypatch, datetime(2024, 1, 5))
    assert rows(s, "select item_id from items order by 1") == [("pagerduty:Q1",), ("pagerduty:Q2",)]
    # The next run, a day later, finishes the same walk (its end stays the first run's).
    summary, asked = ingest(server, s, monkeypatch, datetime(2024, 1, 6))
    assert [(q.get("date_range"), q["offset"]) for q in asked] == [("all", "2")]
    assert summary.cases == 3
    assert dict(rows(s, "select key, value from source_state where source like 'pagerduty:%' order by key")) == {
        "oldest_open:pagerduty:api": "2024-01-02T10:00:00Z", "walk:pagerduty:api": "",
        "walked_to:pagerduty:api": "2024-01-05T00:00:00Z"}
    assert TOKEN not in repr(rows(s, "select * from source_state"))
