"""Usage reports are written in batches (issue 13): a 1,500-row Copilot or Claude Code usage file ran
DuckDB out of memory when each row was its own `insert or replace`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from loopmeter import api
from stores import rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from usage_reports import write_claude, write_copilot  # noqa: E402


@pytest.mark.parametrize("fmt,writer,name", [("copilot-metrics", write_copilot, "m.ndjson"),
                                             ("claude-code-admin", write_claude, "u.json")])
def test_a_few_thousand_usage_rows_fit_and_the_last_row_of_a_key_wins(tmp_path, fmt, writer, name, monkeypatch):
    monkeypatch.setenv("LOOPMETER_MEMORY_LIMIT", "128MB")  # tighter than the default: the batches must fit
    f = tmp_path / name
    writer(f, 3000)
    r = api.ingest_sessions([f], store_path=tmp_path / "s.duckdb", fmt=fmt)
    assert r.usage_days == 3000
    # 3,000 rows over 365 days and dev0..dev8: every (day, person) key is distinct, all stored.
    assert rows(tmp_path / "s.duckdb", "select count(*), count(distinct (day, actor_id)) from agent_usage") == [(3000, 3000)]
    # Sum of lines_added as written (i % 300 for claude, i % 301 for copilot): computed independently.
    mod = 301 if fmt == "copilot-metrics" else 300
    assert rows(tmp_path / "s.duckdb", "select sum(lines_added) from agent_usage") == [(sum(i % mod for i in range(3000)),)]
