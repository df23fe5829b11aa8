"""A store with no git history pays for no git sections (report/document.py): its report is built
without an Ibis backend when it holds no flow or agent items, and the document is the one the
sections would have given (each computed here through the backend, independently)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopmeter import api
from loopmeter.metrics import flow as flow_m
from loopmeter.metrics.agent_loops import agent_loops
from loopmeter.metrics.changes import backend as real_backend
from loopmeter.report import document
from loopmeter.store.db import Store
from test_log_loops import desk_store


@pytest.fixture
def events_store(tmp_path: Path) -> Path:
    return desk_store(tmp_path)


def test_an_event_log_alone_builds_no_ibis_backend(events_store: Path, monkeypatch):
    calls = []
    monkeypatch.setattr(document, "backend", lambda store: calls.append(store) or real_backend(store))
    doc = api.report_from_store(store_path=events_store, seed=1)
    assert calls == []
    assert [g["name"] for g in doc["event_logs"]] == ["desk"] and "lift" in doc["event_logs"][0]
    # What the sections give through the backend, asked directly: the same keys.
    with Store.open_read(events_store) as store:
        con = real_backend(store)
        window = api._report_window(store, None, 90, None, api.load_config(), None)
        assert doc["flow"] == flow_m.flow(store, con, window.as_of, None, None) is None
        assert doc["agent_loops"] == agent_loops(con, window, None) is None


def test_agent_sessions_beside_a_log_still_get_their_section(events_store: Path, monkeypatch):
    fix = Path(__file__).parent / "fixtures" / "sessions" / "claude_session.jsonl"
    api.ingest_sessions([fix], store_path=events_store)
    calls = []
    monkeypatch.setattr(document, "backend", lambda store: calls.append(store) or real_backend(store))
    doc = api.report_from_store(store_path=events_store, seed=1)
    assert len(calls) == 1
    assert doc["agent_loops"]["sessions"] == 1
    assert [g["name"] for g in doc["event_logs"]] == ["desk"]
