"""The lift v1 document names its estimators as docs/json-report.md does, with data or without."""

from __future__ import annotations

from datetime import datetime

from gitrepo import GitRepo

import loopmeter


def test_p85_cycle_time_without_ai_changes_is_named_ratio_of_p85(tmp_path):
    # Human changes only: the cycle-time lifts cannot be estimated, and their estimator names
    # must still be the documented ones (ratio_of_medians, ratio_of_p85), not a generic name.
    repo = GitRepo(tmp_path / "repo")
    for day in range(1, 6):
        repo.commit(f"change {day}", date=f"2024-01-0{day}T10:00:00+00:00",
                    commit_date=f"2024-01-0{day}T12:00:00+00:00", files={f"f{day}.txt": str(day)})
    doc = loopmeter.analyze([repo.path], store_path=tmp_path / "lm.duckdb", html_path=None,
                            as_of=datetime(2024, 3, 1), seed=1)
    by_metric = {e["metric"]: e for e in doc["lift"]}
    assert by_metric["cycle_time_hours_p50"]["estimator"] == "ratio_of_medians"
    assert by_metric["cycle_time_hours_p85"]["estimator"] == "ratio_of_p85"
    assert by_metric["cycle_time_hours_p85"]["ratio"] is None


def test_changes_without_a_known_cycle_time_are_counted_in_a_caveat(tmp_path):
    # Two kinds of change: three with an earlier author date (cycle time known) and two that
    # landed the moment they were authored (unknown). The unknown ones are left out of the
    # percentiles, which must be said with their number, not done silently.
    repo = GitRepo(tmp_path / "repo")
    for day in range(1, 6):
        start = f"2024-01-0{day}T{'08' if day <= 3 else '12'}:00:00+00:00"
        repo.commit(f"change {day}", date=start, commit_date=f"2024-01-0{day}T12:00:00+00:00",
                    files={f"f{day}.txt": str(day)})
    doc = loopmeter.analyze([repo.path], store_path=tmp_path / "lm.duckdb", html_path=None,
                            as_of=datetime(2024, 3, 1), seed=1)
    entry = next(e for e in doc["lift"] if e["metric"] == "cycle_time_hours_p50")
    assert entry["n_b"] == 3
    assert any("2 of 5 human changes have no known cycle time" in c for c in entry["caveats"]), entry["caveats"]
