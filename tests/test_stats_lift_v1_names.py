"""The lift v1 document names its estimators as docs/json-report.md does, with data or without."""

from __future__ import annotations

from datetime import datetime

import loopmeter
from gitrepo import GitRepo


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
