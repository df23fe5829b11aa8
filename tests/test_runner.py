"""The ingest runner (runner.py) and the Source protocol (sources/base.py): what the runner
promises every source, checked with small sources written here against real store files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from stores import rows, snapshot

from loopmeter.errors import ConfigError
from loopmeter.runner import Run, run
from loopmeter.sources.base import LogSource, Source
from loopmeter.store.event_logs import Rows


def _rows(*cases: tuple[str, str]) -> Rows:
    """One `incident` item per (id, day) with an `opened` event."""
    r = Rows()
    for iid, day in cases:
        t = datetime.fromisoformat(day)
        r.items.append({"item_id": iid, "source": "toy", "kind": "incident", "repo": None, "team": None, "title": iid,
                        "created_at": t, "started_at": t, "done_at": None, "state": "open", "size_lines": None,
                        "author_id": None, "attrs": None})
        r.events.append((iid, t, "opened", None, None))
    return r


class Toy(LogSource):
    """A source of the simplest shape: a list of batches, each stored as log `toy` with a mark."""

    label = "toy"

    def __init__(self, batches: list[Rows], *, merge: bool = False, fail_after: int | None = None,
                 nothing: bool = False, bad_option: bool = False):
        self.batches, self.merge, self.fail_after = batches, merge, fail_after
        self.nothing, self.bad_option = nothing, bad_option

    def prepare(self) -> bool:
        if self.bad_option:
            raise ConfigError("--toy: not a toy")
        return not self.nothing

    def load(self, run: Run):
        out = []
        for i, batch in enumerate(self.batches):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("the toy API went away")
            out.append(run.write_log(name="toy", path="toy://", fmt="toy", rows=batch, merge=self.merge,
                                     state={"mark": str(i)}))
        return out


def test_every_source_keeps_the_protocol():
    from loopmeter.sources.agent_logs import SessionFiles
    from loopmeter.sources.api_walk import ApiWalks
    from loopmeter.sources.event_files import EventLogFile
    from loopmeter.sources.git_repos import GitRepos
    from loopmeter.sources.incidents import IncidentCsv
    from loopmeter.sources.jira_export import JiraCsv
    from loopmeter.sources.mlflow_runs import MlflowRuns
    from loopmeter.sources.opsgenie import OpsgenieAlerts
    from loopmeter.sources.pagerduty import PagerDutyIncidents

    made = [GitRepos([], store_path=None, matcher=None, progress=None), ApiWalks("github", [], open_client=None,
            make=None, since=None, progress=None), SessionFiles([]), EventLogFile("x.csv", name="x"),
            IncidentCsv("x.csv", provider="opsgenie", name="x", links=()), PagerDutyIncidents(None, base="http://h", name="x"),
            JiraCsv("x.csv", name="x", where="jira"), MlflowRuns("sqlite:///x.db"), OpsgenieAlerts(None, base="http://h")]
    for source in made:
        assert isinstance(source, Source), type(source).__name__
        assert isinstance(source.label, str) and source.label
    assert not isinstance(object(), Source)


def test_nothing_to_read_and_a_bad_option_create_no_store(tmp_path: Path):
    s = tmp_path / "s.duckdb"
    assert run(Toy([_rows(("a", "2024-01-01"))], nothing=True), store_path=s) is None
    with pytest.raises(ConfigError, match="--toy: not a toy"):
        run(Toy([], bad_option=True), store_path=s)
    assert not s.exists()


def test_rows_and_their_mark_commit_together_and_a_failure_keeps_what_was_committed(tmp_path: Path):
    s = tmp_path / "s.duckdb"
    first, second = _rows(("a", "2024-01-01"), ("b", "2024-01-02")), _rows(("c", "2024-01-03"))
    with pytest.raises(RuntimeError, match="went away"):
        run(Toy([first, second], fail_after=1), store_path=s)
    # The first batch was whole and committed with its mark; nothing of the second exists.
    assert rows(s, "select item_id from items order by 1") == [("a",), ("b",)]
    assert rows(s, "select source, key, value from source_state") == [("toy", "mark", "0")]
    done = run(Toy([first, second]), store_path=s)
    # Without merge a log's write replaces everything it wrote before.
    assert [(d.cases, d.events) for d in done] == [(2, 2), (1, 1)]
    assert rows(s, "select item_id from items order by 1") == [("c",)]
    assert rows(s, "select value from source_state") == [("1",)]


def test_a_merged_write_replaces_only_the_items_it_writes_again(tmp_path: Path):
    s = tmp_path / "s.duckdb"
    run(Toy([_rows(("a", "2024-01-01"), ("b", "2024-01-02"))], merge=True), store_path=s)
    (summary,) = run(Toy([_rows(("b", "2024-02-02"), ("c", "2024-01-03"))], merge=True), store_path=s)
    assert (summary.cases, summary.events) == (3, 3)  # a kept, b replaced, c added
    assert rows(s, "select item_id, created_at from items order by 1") == [
        ("a", datetime(2024, 1, 1)), ("b", datetime(2024, 2, 2)), ("c", datetime(2024, 1, 3))]
    assert rows(s, "select item_id, ts from events order by 1") == [
        ("a", datetime(2024, 1, 1)), ("b", datetime(2024, 2, 2)), ("c", datetime(2024, 1, 3))]
    assert rows(s, "select log, count(*) from event_log_items group by 1") == [("toy", 3)]


def test_a_group_left_open_by_a_failing_source_is_rolled_back(tmp_path: Path):
    s = tmp_path / "s.duckdb"
    run(Toy([_rows(("a", "2024-01-01"))]), store_path=s)
    before = snapshot(s)

    class Holds(Toy):
        def load(self, run: Run):
            with run.group():
                run.write_log(name="toy", path="toy://", fmt="toy", rows=_rows(("z", "2024-03-01")),
                              state={"mark": "9"})
                raise RuntimeError("killed inside the group")

    with pytest.raises(RuntimeError, match="killed"):
        run(Holds([]), store_path=s)
    assert snapshot(s) == before
