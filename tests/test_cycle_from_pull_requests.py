"""A change git cannot date (a squash merge without its PR's commits) takes its start from the
tracker's pull request that landed it, as docs/metrics.md "Time" says."""

from __future__ import annotations

from datetime import datetime

import loopmeter
from conftest import ALICE, BOB
from gitrepo import GitRepo
from loopmeter.store.db import Store


def test_a_squash_merge_without_its_commits_starts_when_its_pull_requests_first_commit_was_written(tmp_path):
    r = GitRepo(tmp_path / "repo")
    r.commit("init", author=ALICE, date="2024-01-01T09:00:00+00:00")
    squash = r.commit("Add thing (#2)", author=BOB, date="2024-01-05T12:00:00+00:00")  # authored as it landed
    merge = r.land_branch("topic", "work", "Merge pull request #3 from bob/topic", author=BOB,
                          work_date="2024-01-06T08:00:00+00:00", merge_date="2024-01-06T10:00:00+00:00")
    late = r.commit("Fix typo (#4)", author=BOB, date="2024-01-07T12:00:00+00:00")
    store = tmp_path / "s.duckdb"
    loopmeter.ingest([r.path], store_path=store)
    with Store.open(store) as st:
        def change(sha: str) -> str:
            return st.con.execute("select item_id from items where kind = 'change' and json_extract_string(attrs, '$.sha') = ?",
                                  [sha]).fetchone()[0]

        # What the GitHub source writes: each PR's first authored commit as started_at, and a
        # same_as link to the change its merge sha landed.
        for number, started, sha in ((2, datetime(2024, 1, 3, 12), squash),     # 48 h before landing
                                     (3, datetime(2024, 1, 1, 8), merge),        # git knows better
                                     (4, datetime(2024, 1, 8, 12), late)):       # after landing: skew
            pr = f"github:acme/repo:pr:{number}"
            st.con.execute("insert into items (item_id, source, kind, started_at) values (?, 'github', 'pull_request', ?)",
                           [pr, started])
            st.con.execute("insert into links values (?, ?, 'same_as')", [pr, change(sha)])
    df = loopmeter.changes_frame(store_path=store, as_of=datetime(2024, 3, 1)).set_index("title")
    assert df.loc["Add thing (#2)", "cycle_hours"] == 48.0
    assert bool(df.loc["Add thing (#2)", "start_from_pull_request"]) is True
    # A change git can date keeps git's start (2 h), not the tracker's.
    assert df.loc["Merge pull request #3 from bob/topic", "cycle_hours"] == 2.0
    assert bool(df.loc["Merge pull request #3 from bob/topic", "start_from_pull_request"]) is False
    # A pull request that claims to start after its change landed is ignored: still unknown.
    assert df.loc["Fix typo (#4)", "cycle_hours"] != df.loc["Fix typo (#4)", "cycle_hours"]  # NaN
