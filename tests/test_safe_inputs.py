"""The audit's reproducers (issue 13), one by one: each hostile value is skipped and counted with
its file and line, or refuses the file in one line; none is a traceback, none reaches the store
in a form DuckDB or pyarrow cannot take."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from loopmeter import api
from loopmeter.config import load_config
from loopmeter.errors import ConfigError, LoopmeterError
from loopmeter.sources import safe
from loopmeter.sources.eventlog import Mapping
from stores import rows


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59-05:00",
                                   "9999-12-31T23:59:59+00:00", 1e30, -1e30, 253402300800000, float("nan"),
                                   float("inf"), "99999999999999999999", True, [2024], {"t": 1}, "1899-12-31T23:59:59Z"])
def test_times_out_of_range_or_of_the_wrong_type_are_none(value):
    assert safe.parse_time(value) is None


def test_times_in_range_are_naive_utc():
    assert safe.parse_time("2024-01-01T10:00:00+02:00") == datetime(2024, 1, 1, 8)
    assert safe.parse_time(1704103200) == safe.parse_time(1704103200000) == datetime(2024, 1, 1, 10)
    assert safe.parse_time("1704103200") == datetime(2024, 1, 1, 10)
    assert safe.from_epoch_ns(0) is None and safe.from_epoch_ns(2**63 - 1) is None
    assert safe.from_epoch_ns(1704103200 * 10**9) == datetime(2024, 1, 1, 10)


@pytest.mark.parametrize("value,expected", [(2**70, None), (-(2**70), None), ("12", 12), (3.0, 3), (3.5, None),
                                            (float("nan"), None), (float("inf"), None), ("NaN", None), ([1], None),
                                            (True, None), (2**63 - 1, 2**63 - 1)])
def test_integers_must_fit_a_bigint(value, expected):
    assert safe.to_int(value) == expected


def test_json_without_nan_inf_deep_nesting_or_lone_surrogates():
    doc = safe.loads('{"a": NaN, "b": Infinity, "c": 1e400, "d": "x\\ud800y", "\\udc00": [1]}')
    assert doc == {"a": None, "b": None, "c": None, "d": "x\ufffdy", "\ufffd": [1]}
    json.dumps(doc).encode("utf-8")  # encodable now
    with pytest.raises(ValueError):
        safe.loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError):
        safe.loads("[" * 300 + "]" * 300)  # deeper than MAX_DEPTH, though Python could parse it
    with pytest.raises(ValueError):
        safe.loads("1" * 5000)  # past Python's int-digits limit
    assert safe.loads('"\\ud83d\\ude00"') == "\U0001F600"  # a valid pair stays one character


def test_an_event_log_with_hostile_times_and_nesting_skips_those_rows_naming_their_lines(tmp_path):
    lines = [{"case": "c1", "activity": "open", "timestamp": "2024-01-01T10:00:00Z"},
             {"case": "c1", "activity": "edge", "timestamp": "0001-01-01T00:00:00+01:00"},
             {"case": "c1", "activity": "far", "timestamp": 1e30},
             {"case": ["a", "list"], "activity": "x\ud800", "timestamp": "2024-01-02T10:00:00Z"},
             {"case": "c1", "activity": "close", "timestamp": "2024-01-03T10:00:00Z", "big": 2**70}]
    p = tmp_path / "log.jsonl"
    p.write_text("\n".join(json.dumps(d) for d in lines) + "\n" + "[" * 5000 + "\n")
    s = api.ingest_events(p, store_path=tmp_path / "s.duckdb", fmt="jsonl", mapping=Mapping())
    assert [(k.where, k.reason) for k in s.skipped] == [
        ("line 2", "unparseable timestamp"), ("line 3", "unparseable timestamp"), ("line 6", "not valid JSON")]
    assert s.events == 3
    acts = rows(tmp_path / "s.duckdb", "select activity from events order by ts")
    assert acts == [("open",), ("x\ufffd",), ("close",)]


def test_usage_reports_with_wrong_types_keep_the_row_without_the_bad_numbers(tmp_path):
    p = tmp_path / "m.ndjson"
    p.write_text("\n".join(json.dumps(d) for d in [
        {"day": "2026-03-02", "user_login": ["not", "a", "name"], "loc_added_sum": "NaN", "loc_deleted_sum": 2**70,
         "user_initiated_interaction_count": 1e300, "totals_by_cli": [1]},
        {"day": "9999-12-31T23:59:59-05:00", "user_login": "x"},
        {"day": "2026-03-03", "user_login": "dev\ud800", "loc_added_sum": 5}]) + "\n")
    r = api.ingest_sessions([p], store_path=tmp_path / "s.duckdb", fmt="copilot-metrics")
    assert r.usage_days == 2 and [(line, why) for _, line, why in r.skipped_lines] == [(2, "no readable `day`")]
    got = rows(tmp_path / "s.duckdb", "select day::varchar, lines_added, lines_deleted, prompts from agent_usage order by day")
    assert got == [("2026-03-02", None, None, None), ("2026-03-03", 5, None, None)]


def test_a_session_log_of_an_unforeseen_shape_is_refused_in_one_line_and_nothing_is_stored(tmp_path):
    p = tmp_path / "rollout.jsonl"
    p.write_text(json.dumps({"timestamp": "2026-03-03T09:00:00Z", "type": "response_item",
                             "payload": {"type": "function_call", "name": {"n": 1}, "arguments": [1], "call_id": [2]}})
                 + "\n")
    try:
        api.ingest_sessions([p], store_path=tmp_path / "s.duckdb", fmt="codex")
    except LoopmeterError as e:
        assert str(p) in str(e) and "\n" not in str(e)
        assert rows(tmp_path / "s.duckdb", "select count(*) from agent_files") == [(0,)]


def test_a_duplicate_jira_key_is_skipped_naming_both_lines(tmp_path):
    p = tmp_path / "jira.csv"
    p.write_text("Issue key,Summary,Issue Type,Status,Created,Resolved,Updated\n"
                 "OPS-1,A,Bug,Done,2024-01-01 10:00,2024-01-02 10:00,2024-01-02 10:00\n"
                 "OPS-1,A again,Bug,Done,2024-01-01 10:00,2024-01-02 10:00,2024-01-02 10:00\n")
    s = api.ingest_jira_csv(p, store_path=tmp_path / "s.duckdb")
    assert [(k.where, k.reason) for k in s.skipped] == [("line 3", "duplicate issue key (first at line 2)")]
    assert rows(tmp_path / "s.duckdb", "select item_id, title from items") == [("jira:OPS-1", "A")]


@pytest.mark.parametrize("text", ["attribution = 1", "attribution = [1]", "[[team]]\nname = 1\nmembers = 1"])
def test_a_loopmeter_toml_of_the_wrong_shape_is_one_config_error(tmp_path, text):
    p = tmp_path / "loopmeter.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in str(e.value) or "team" in str(e.value)
