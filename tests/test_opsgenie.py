"""Opsgenie alerts through the REST API (sources/opsgenie.py), against a real HTTP server on
127.0.0.1 replaying responses of the shape Opsgenie's `GET /v2/alerts` documents (trimmed to the
fields the source reads), into a real store. Expected numbers are worked by hand in the comments."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from apiserver import FixtureServer, Reply
from stores import rows, snapshot

from loopmeter import api
from loopmeter.config import load_config
from loopmeter.errors import ConfigError
from loopmeter.sources.incidents import ServiceLink
from loopmeter.sources.http import CrossOriginRefused, NotFound

KEY = "og-s3cret-key"
TOML = '[[incidents.service]]\nservice = "checkout-*"\nrepo = "acme/checkout"\nteam = "payments"\n'

# A1: created 10:00, acknowledged after 6 min (360,000 ms), closed after 1 h; linked by its tag.
# A2: created 2024-01-02 10:00, acknowledged after 30 min, still open (a closeTime without
#     status closed is not a close); its source "checkout-api" links it.
# A3: created 2024-01-03 00:00, closed after 4 h, never acknowledged; nothing links it.
A1 = {"id": "a1-uuid", "tinyId": "1", "message": "DB down", "status": "closed", "priority": "P1",
      "tags": ["env:prod", "checkout-db"], "source": "datadog", "createdAt": "2024-01-01T10:00:00.000Z",
      "updatedAt": "2024-01-01T11:00:00.000Z", "report": {"ackTime": 360_000, "closeTime": 3_600_000}}
A2 = {"id": "a2-uuid", "tinyId": "2", "message": "Slow", "status": "open", "priority": "P2", "tags": [],
      "source": "checkout-api", "createdAt": "2024-01-02T10:00:00.000Z", "updatedAt": "2024-01-02T10:30:00.000Z",
      "report": {"ackTime": 1_800_000, "closeTime": 999}}
A3 = {"id": "a3-uuid", "tinyId": "3", "message": "Disk", "status": "closed", "priority": "P3", "tags": ["search"],
      "source": "nagios", "createdAt": "2024-01-03T00:00:00.000Z", "updatedAt": "2024-01-03T04:00:00.000Z",
      "report": {"closeTime": 14_400_000}}


def _page(server: FixtureServer, alerts: list[dict], next_offset: int | None) -> dict:
    body = {"data": alerts, "took": 0.01, "requestId": "r"}
    if next_offset is not None:
        body["paging"] = {"next": f"{server.url}/v2/alerts?limit=2&offset={next_offset}&sort=updatedAt&order=desc"}
    return body


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    (tmp_path / "loopmeter.toml").write_text(TOML)
    monkeypatch.setenv("OG_KEY", KEY)
    return tmp_path, load_config(tmp_path / "loopmeter.toml")


def _ingest(server: FixtureServer, store: Path, config, **kw):
    return api.ingest_opsgenie(url=server.url, token_env="OG_KEY", store_path=store, config=config, **kw)


def test_alerts_are_read_page_by_page_and_become_incidents(env):
    tmp_path, config = env
    s = tmp_path / "s.duckdb"
    with FixtureServer("opsgenie", authorization=f"GenieKey {KEY}", page_size=100) as server:
        # Most recently updated first: A3, A2 on the first page, A1 on the second.
        server.answer("/v2/alerts", _page(server, [A3, A2], 2), offset="^0$")
        server.answer("/v2/alerts", _page(server, [A1], None), offset="^2$")
        summary = _ingest(server, s, config)
        asked = server.requests()
    assert [(r.query.get("offset"), r.query.get("sort"), r.query.get("order")) for r in asked] == [
        ("0", "updatedAt", "desc"), ("2", "updatedAt", "desc")]
    assert all(r.headers.get("Authorization") == f"GenieKey {KEY}" for r in asked)
    assert (summary.name, summary.format, summary.cases, summary.events) == ("opsgenie:api", "opsgenie-api", 3, 3 + 2 + 2)
    got = rows(s, "select item_id, repo, team, created_at, done_at, state, "
                  "json_extract_string(attrs, '$.acknowledged_at'), json_extract_string(attrs, '$.service') "
                  "from items order by item_id")
    assert got == [
        ("opsgenie:a1-uuid", "acme/checkout", "payments", datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 11),
         "resolved", "2024-01-01 10:06:00", "checkout-db"),
        ("opsgenie:a2-uuid", "acme/checkout", "payments", datetime(2024, 1, 2, 10), None, "open",
         "2024-01-02 10:30:00", "checkout-api"),
        ("opsgenie:a3-uuid", None, None, datetime(2024, 1, 3), datetime(2024, 1, 3, 4), "resolved", None, "nagios"),
    ]
    # The mark of this complete walk: the newest updatedAt read (A3's), stored with the rows.
    assert rows(s, "select source, key, value from source_state order by key") == [
        ("opsgenie:127.0.0.1", "updated_through:", "2024-01-03T04:00:00"), ("opsgenie:127.0.0.1", "walk:", "")]
    assert KEY not in repr(snapshot(s))  # the key is never stored
    doc = api.report_from_store(store_path=s)
    # Restore: A1 1 h, A3 4 h (A2 is open) -> p50 2.5 h, p85 1 + 0.85 * 3; acknowledge: 0.1 h and 0.5 h.
    assert doc["incidents"]["total"]["time_to_restore_hours"] == {"p50": 2.5, "p85": 1 + 0.85 * 3, "n": 2}
    assert doc["incidents"]["total"]["time_to_acknowledge_hours"]["p50"] == pytest.approx(0.3)


def test_a_second_walk_reads_only_what_changed_since_the_last_one(env):
    tmp_path, config = env
    s = tmp_path / "s.duckdb"
    with FixtureServer("opsgenie", authorization=f"GenieKey {KEY}", page_size=100) as server:
        server.answer("/v2/alerts", Reply(200, {"Content-Type": "application/json"}, _page(server, [A3, A2], 2)),
                      offset="^0$")
        server.answer("/v2/alerts", Reply(200, {"Content-Type": "application/json"}, _page(server, [A1], None)),
                      offset="^2$")
        _ingest(server, s, config)
        # A2 is closed the next day (updated after the mark); A3 and A1 did not change since.
        a2 = {**A2, "status": "closed", "updatedAt": "2024-01-04T09:00:00.000Z",
              "report": {"ackTime": 1_800_000, "closeTime": 7_200_000}}
        server.answer("/v2/alerts", _page(server, [a2, A3, A1], 3), offset="^0$")
        n = len(server.requests())
        summary = _ingest(server, s, config)
        second = server.requests()[n:]
    # One page: the walk stops at A3, updated before the mark; offset 3 is never asked for.
    assert [r.query.get("offset") for r in second] == ["0"]
    assert (summary.cases, summary.events) == (3, 3 + 3 + 2)  # the log keeps A1 and A3 (merged, not replaced)
    assert rows(s, "select item_id, done_at, state from items order by item_id") == [
        ("opsgenie:a1-uuid", datetime(2024, 1, 1, 11), "resolved"),
        ("opsgenie:a2-uuid", datetime(2024, 1, 2, 12), "resolved"),
        ("opsgenie:a3-uuid", datetime(2024, 1, 3, 4), "resolved")]
    assert rows(s, "select count(*) from events where item_id = 'opsgenie:a2-uuid'") == [(3,)]
    assert rows(s, "select value from source_state where key = 'updated_through:'") == [("2024-01-04T09:00:00",)]


def test_since_bounds_the_first_walk(env):
    tmp_path, config = env
    s = tmp_path / "s.duckdb"
    with FixtureServer("opsgenie", authorization=f"GenieKey {KEY}", page_size=100) as server:
        server.answer("/v2/alerts", _page(server, [A3, A2, A1], 3), offset="^0$")
        summary = _ingest(server, s, config, since=datetime(2024, 1, 2))
        assert len(server.requests()) == 1  # A1 (updated 2024-01-01) ends the walk on the first page
    assert summary.cases == 2
    assert rows(s, "select item_id from items order by 1") == [("opsgenie:a2-uuid",), ("opsgenie:a3-uuid",)]


def test_a_walk_cut_short_keeps_its_pages_and_the_next_run_goes_on_from_there(env):
    tmp_path, config = env
    s = tmp_path / "s.duckdb"
    # The store holds other data before the walk: an Opsgenie export's alert.
    (tmp_path / "og.csv").write_text("TinyId,Message,Status,CreatedAt,ClosedAt\n17,Queue,closed,"
                                     "2024-01-08T00:00:00Z,2024-01-08T03:00:00Z\n")
    api.ingest_incidents(tmp_path / "og.csv", provider="opsgenie", store_path=s, config=config)
    with FixtureServer("opsgenie", authorization=f"GenieKey {KEY}", page_size=100) as server:
        server.answer("/v2/alerts", Reply(404, {"Content-Type": "application/json"}, {"message": "gone"}), offset="^2$")
        server.answer("/v2/alerts", _page(server, [A3, A2], 2), offset="^0$")
        server.answer("/v2/alerts", _page(server, [A1], None), offset="^2$")
        with pytest.raises(NotFound, match="Opsgenie"):
            _ingest(server, s, config)
        # The first page is stored with where the walk goes next; no mark yet.
        assert rows(s, "select item_id from items order by 1") == [
            ("opsgenie:17",), ("opsgenie:a2-uuid",), ("opsgenie:a3-uuid",)]
        assert rows(s, "select key from source_state") == [("walk:",)]
        n = len(server.requests())
        summary = _ingest(server, s, config)
        assert [r.query.get("offset") for r in server.requests()[n:]] == ["2"]  # on from the cut
    assert summary.cases == 3
    assert rows(s, "select count(*) from items where source = 'opsgenie'") == [(4,)]  # the export's alert too
    # The mark covers the whole walk (A3's update, read before the cut), and no walk is in flight.
    assert rows(s, "select key, value from source_state order by key") == [
        ("updated_through:", "2024-01-03T04:00:00"), ("walk:", "")]


def test_a_next_link_to_another_host_is_refused_before_the_key_goes_there(env):
    tmp_path, config = env
    s = tmp_path / "s.duckdb"
    with FixtureServer("opsgenie", authorization=f"GenieKey {KEY}", page_size=100) as server:
        body = {"data": [A1], "paging": {"next": "https://evil.example/v2/alerts?offset=1"}}
        server.answer("/v2/alerts", body, offset="^0$")
        with pytest.raises(CrossOriginRefused, match="evil.example"):
            _ingest(server, s, config)
    assert rows(s, "select count(*) from items") == [(0,)]


def test_without_a_key_it_is_one_line_and_no_store(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OG_KEY", raising=False)
    s = tmp_path / "s.duckdb"
    with pytest.raises(ConfigError, match="Opsgenie's API needs an API key: set OG_KEY"):
        api.ingest_opsgenie(url="http://127.0.0.1:9", token_env="OG_KEY", store_path=s)
    assert not s.exists()


def test_the_cli_reads_opsgenie_and_never_shows_the_key(env):
    tmp_path, _ = env
    with FixtureServer("opsgenie", authorization=f"GenieKey {KEY}", page_size=100) as server:
        server.answer("/v2/alerts", _page(server, [A3, A2, A1], None), offset="^0$", query="^priority: P1$")
        proc = subprocess.run(
            [sys.executable, "-m", "loopmeter", "ingest", "--opsgenie", server.url, "--token-env", "OG_KEY",
             "--opsgenie-query", "priority: P1", "--store", str(tmp_path / "s.duckdb")],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=dict(os.environ, COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    assert "opsgenie:api (opsgenie-api): 3 incidents, 7 events, 0 rows skipped" in proc.stdout
    assert KEY not in proc.stdout + proc.stderr
    bad = subprocess.run([sys.executable, "-m", "loopmeter", "ingest", "--opsgenie-query", "x", "--store",
                          str(tmp_path / "s.duckdb")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--opsgenie-query narrows --opsgenie" in bad.stderr


def test_odd_alerts_give_unknown_times_never_wrong_ones():
    from loopmeter.sources.opsgenie import alert_incident

    base = {"id": "x", "createdAt": "2024-01-01T00:00:00Z", "status": "closed"}
    for report in ({"ackTime": float("nan"), "closeTime": -5}, {"ackTime": True, "closeTime": "60000"},
                   {"ackTime": 10**30, "closeTime": None}, "not a report"):
        x = alert_incident({**base, "report": report}, ())
        assert (x.acknowledged, x.resolved) == (None, None), report
    assert alert_incident({"createdAt": "2024-01-01T00:00:00Z"}, ()) is None  # no id
    assert alert_incident({"id": "x", "createdAt": "yesterday"}, ()) is None  # no usable creation time
    x = alert_incident({**base, "report": {"closeTime": 90_000}, "tags": [7, "checkout-web"], "source": None},
                       (ServiceLink("checkout-*", "acme/checkout"),))
    assert (x.resolved, x.service) == (datetime(2024, 1, 1, 0, 1, 30), "checkout-web")
