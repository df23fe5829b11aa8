"""End to end on the hand-worked demo history of conftest.build_demo: every number worked out by hand."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest

import loopmeter
from loopmeter.store.db import Store

AS_OF = datetime(2024, 3, 1)


@pytest.fixture
def demo_doc(demo_repo, store_path):
    path, shas = demo_repo
    doc = loopmeter.analyze([path], store_path=store_path, html_path=None, as_of=AS_OF)
    return doc, shas


def _changes(store_path):
    con = duckdb.connect(str(store_path), read_only=True)
    rows = con.execute(
        "select json_extract_string(attrs, '$.sha') as sha, title, started_at, done_at, size_lines, attrs "
        "from items where kind = 'change'"
    ).fetchall()
    con.close()
    return {r[0]: r for r in rows}


def test_totals_match_the_hand_count(demo_doc, demo_repo):
    doc, _ = demo_doc
    t = doc["totals"]
    # D1 c2 c3 M1 S2 S3 R1 D2 B1 L1 are on HEAD; the squashed PR's p1 and p2 are not.
    assert t["commits"] == 10
    # D1 M1 S2 S3 R1 D2 B1 L1
    assert t["changes"] == 8
    assert t["reverted_changes"] == 1  # S2, reverted by R1 six days after landing
    assert t["validated_changes"] == 7
    assert t["pending_changes"] == 0
    assert t["ai_assisted_changes"] == 2  # M1 (Claude trailer on c3), S3 (Cursor trailer on p2)
    assert t["ai_assisted_commits"] == 2  # c3, p2
    assert t["bot_changes"] == 1  # B1
    assert t["contributors"] == 5  # Alice, Bob, Carol (merged M1), Dave, Eve
    assert t["changes_with_pr_commits"] == 1  # S3
    assert t["squash_changes_without_pr_commits"] == 1  # S2


def test_commit_total_agrees_with_git_rev_list(demo_doc, demo_repo):
    doc, _ = demo_doc
    from gitrepo import GitRepo  # noqa: F401  (the repo exists; ask git itself)
    import subprocess

    n = int(subprocess.run(["git", "-C", str(demo_repo[0]), "rev-list", "--count", "HEAD"], capture_output=True,
                           check=True).stdout)
    assert doc["totals"]["commits"] == n


def test_cycle_time_is_first_authored_commit_to_landing(demo_doc, store_path):
    doc, s = demo_doc
    ch = _changes(store_path)
    hours = {k: None if r[2] is None else (r[3] - r[2]).total_seconds() / 3600 for k, r in ch.items()}
    assert hours[s["M1"]] == 48.0  # c2 01-02 10:00 -> merge 01-04 10:00
    assert hours[s["S3"]] == 53.5  # p1 01-08 09:00+05:30 (03:30 UTC) -> squash 01-10 09:00
    assert hours[s["D2"]] == 4.0  # authored 08:00-08:00 (16:00 UTC), committed 20:00 UTC
    # Unknown, never zero: a commit that landed the moment it was authored says nothing of the work.
    for name in ("D1", "S2", "R1", "B1", "L1"):
        assert hours[s[name]] is None, name
    assert json.loads(ch[s["S2"]][5])["cycle_time_unknown"].startswith("squash commit without")
    c = doc["cycle_time_hours"]
    assert c["n"] == 3 and c["unknown"] == 5
    assert c["p50"] == pytest.approx(48.0)
    assert c["p85"] == pytest.approx(48.0 + 0.7 * 5.5)  # linear interpolation over [4, 48, 53.5]


def test_pr_merge_title_and_branch_come_from_the_merge_message(demo_doc, store_path):
    _, s = demo_doc
    ch = _changes(store_path)
    attrs = json.loads(ch[s["M1"]][5])
    assert ch[s["M1"]][1] == "Add the feature"
    assert attrs["merge_kind"] == "pr_merge" and attrs["pr_number"] == 1 and attrs["branch"] == "feature"
    assert attrs["commits"] == 2


def test_squash_merge_reads_its_pull_request_commits(demo_doc, store_path):
    _, s = demo_doc
    attrs = json.loads(_changes(store_path)[s["S3"]][5])
    assert attrs["merge_kind"] == "squash" and attrs["pr_number"] == 3
    assert attrs["pr_commits_found"] is True and attrs["commits"] == 2


def test_attribution_counts_each_agent(demo_doc):
    doc, _ = demo_doc
    a = doc["attribution"]
    assert a["changes_by_agent"] == {"claude-code": 1, "cursor": 1}
    assert a["ai_share_lower_bound"] == pytest.approx(2 / 7)  # 2 AI changes of 7 non-bot changes


def test_non_utf8_message_is_read_not_dropped(demo_doc, store_path):
    _, s = demo_doc
    # The message bytes are Latin-1 with no encoding header: git's log output converts them, and
    # whatever is still not UTF-8 would become U+FFFD rather than stop the ingest.
    assert _changes(store_path)[s["L1"]][1] == "Caf\u00e9 cr\u00e8me fix"


def test_time_zones_are_stored_as_utc_with_the_original_offset(demo_doc, store_path):
    _, s = demo_doc
    con = duckdb.connect(str(store_path), read_only=True)
    at, tz = con.execute("select author_time, author_tz from commits where sha = ?", [s["p1"]]).fetchone()
    con.close()
    assert at == datetime(2024, 1, 8, 3, 30) and tz == 330


def test_weekly_rows_count_changes_by_iso_week(demo_doc):
    doc, _ = demo_doc
    weeks = {w["week"]: w for w in doc["weekly"]}
    # 2024-W01 (Jan 1-7): D1, M1, S2 land; contributors with commits that week: Alice, Bob, Carol, Dave.
    w1 = weeks["2024-W01"]
    assert (w1["changes"], w1["validated"], w1["reverted"], w1["ai_assisted"]) == (3, 2, 1, 1)
    assert w1["contributors"] == 4
    assert w1["human_validated"] == 1 and w1["ai_validated"] == 1
    assert w1["validated_per_contributor"] == pytest.approx(2 / 4)
    # 2024-W02 (Jan 8-14): S3, R1 land; Eve's p1/p2 and Alice's revert were authored then.
    w2 = weeks["2024-W02"]
    assert (w2["changes"], w2["validated"], w2["ai_assisted"], w2["contributors"]) == (2, 2, 1, 2)
    # 2024-W03 (Jan 15-21): D2, B1, L1; the bot is not a contributor and not in human/AI validated.
    w3 = weeks["2024-W03"]
    assert (w3["changes"], w3["bot"], w3["human_validated"], w3["contributors"]) == (3, 1, 2, 2)


def test_young_changes_are_pending_not_validated(demo_repo, store_path):
    path, _ = demo_repo
    doc = loopmeter.analyze([path], store_path=store_path, html_path=None, as_of=datetime(2024, 1, 20))
    t = doc["totals"]
    # Window 14 days before 2024-01-20 = 2024-01-06: S3, R1, D2, B1, L1 landed after it.
    assert t["pending_changes"] == 5
    assert t["reverted_changes"] == 1
    assert t["validated_changes"] == 2  # D1, M1
    weeks = {w["week"]: w for w in doc["weekly"]}
    # W01 still has S2 (reverted, judged) and nothing pending; W02 and W03 wait on the window.
    assert weeks["2024-W01"]["complete"] and weeks["2024-W01"]["validated_per_contributor"] == 0.5
    assert not weeks["2024-W02"]["complete"] and weeks["2024-W02"]["validated_per_contributor"] is None


def test_a_revert_after_the_window_does_not_count(tmp_path, store_path):
    from gitrepo import GitRepo

    r = GitRepo(tmp_path / "late")
    a = r.commit("Add feature", date="2024-01-01T10:00:00+00:00")
    r.commit(f'Revert "Add feature"\n\nThis reverts commit {a[:10]}.', date="2024-01-20T10:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["reverted_changes"] == 0
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF, window_days=30)
    assert doc["totals"]["reverted_changes"] == 1


def test_json_report_has_the_documented_keys(demo_doc):
    doc, _ = demo_doc
    assert doc["schema"] == "loopmeter.report/1"
    for key in ("totals", "attribution", "cycle_time_hours", "weekly", "lift", "repos", "adoption", "warnings"):
        assert key in doc
    for e in doc["lift"]:
        assert {"metric", "comparison", "ratio", "ci_low", "ci_high", "n_a", "n_b", "caveats", "withheld"} <= set(e)
        # The demo's groups are tiny: no summary ratio is fit to be shown as a result.
        assert e["ratio"] is None or e["withheld"] is not None
    json.dumps(doc)  # serialisable as is


def test_store_is_not_written_into_the_repository(demo_repo, store_path):
    path, _ = demo_repo
    before = sorted(p.relative_to(path) for p in path.rglob("*"))
    loopmeter.analyze([path], store_path=store_path, html_path=None, as_of=AS_OF)
    after = sorted(p.relative_to(path) for p in path.rglob("*"))
    assert before == after
    with Store.open(store_path) as st:
        assert st.con.execute("select count(*) from repos").fetchone()[0] == 1


def test_tags_become_releases_linked_to_their_change(demo_doc, store_path):
    _, s = demo_doc
    con = duckdb.connect(str(store_path), read_only=True)
    rel = con.execute("select item_id, title, done_at from items where kind = 'release'").fetchall()
    linked = con.execute(
        "select json_extract_string(i.attrs, '$.sha') from links l join items i on i.item_id = l.dst "
        "where l.kind = 'releases'"
    ).fetchall()
    con.close()
    assert [(r[1], r[2]) for r in rel] == [("v1.0", datetime(2024, 1, 10, 9, 0))]  # lightweight tag: commit time
    assert linked == [(s["S3"],)]


def test_revert_links_point_from_the_revert_to_the_reverted_change(demo_doc, store_path):
    _, s = demo_doc
    con = duckdb.connect(str(store_path), read_only=True)
    rows = con.execute(
        "select json_extract_string(a.attrs, '$.sha'), json_extract_string(b.attrs, '$.sha') from links l "
        "join items a on a.item_id = l.src join items b on b.item_id = l.dst where l.kind = 'reverts'"
    ).fetchall()
    con.close()
    assert rows == [(s["R1"], s["S2"])]


def test_revert_by_subject_alone_links_the_latest_change_with_that_title(tmp_path, store_path):
    from gitrepo import GitRepo

    r = GitRepo(tmp_path / "subj")
    r.commit("Tune cache", date="2024-01-01T10:00:00+00:00")
    second = r.commit("Tune cache", date="2024-01-03T10:00:00+00:00")
    r.commit('Revert "Tune cache"', date="2024-01-04T10:00:00+00:00")
    loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    con = duckdb.connect(str(store_path), read_only=True)
    dst = con.execute(
        "select json_extract_string(b.attrs, '$.sha') from links l join items b on b.item_id = l.dst "
        "where l.kind = 'reverts'"
    ).fetchall()
    con.close()
    assert dst == [(second,)]


def test_a_revert_inside_the_same_pull_request_is_not_a_revert_of_landed_work(tmp_path, store_path):
    from gitrepo import GitRepo

    r = GitRepo(tmp_path / "wip")
    r.commit("Base", date="2024-01-01T10:00:00+00:00")
    r.checkout("topic", new=True)
    wip = r.commit("Try an idea", date="2024-01-02T10:00:00+00:00")
    r.commit(f'Revert "Try an idea"\n\nThis reverts commit {wip}.', date="2024-01-02T12:00:00+00:00")
    r.checkout("main")
    r.merge("topic", "Merge pull request #5 from me/topic\n\nAttempt", date="2024-01-03T10:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["changes"] == 2
    assert doc["totals"]["reverted_changes"] == 0


def test_a_squashed_github_revert_links_by_pull_request_number(tmp_path, store_path):
    from gitrepo import GitRepo

    r = GitRepo(tmp_path / "ghrevert")
    r.commit("Base", date="2024-01-01T10:00:00+00:00")
    r.commit("Add foo (#11)", date="2024-01-02T10:00:00+00:00")
    r.commit('Revert "Add foo (#11)" (#12)\n\nReverts acme/api#11', date="2024-01-03T10:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["reverted_changes"] == 1


def test_a_revert_naming_a_foreign_commit_does_not_fall_back_to_the_title(tmp_path, store_path):
    from gitrepo import GitRepo

    r = GitRepo(tmp_path / "foreign")
    r.commit("Bump version", date="2024-01-01T10:00:00+00:00")
    r.commit('Revert "Bump version"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.',
             date="2024-01-02T10:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["reverted_changes"] == 0


def test_weekly_rows_stop_at_as_of_when_the_history_goes_on(tmp_path):
    # Seen from as_of, later commits have not happened: no empty weeks with contributors after it.
    from gitrepo import GitRepo

    repo = GitRepo(tmp_path / "r")
    for day in ("2024-01-02", "2024-01-09", "2024-01-30", "2024-02-06"):
        repo.commit(f"work {day}", author=("Alice", "alice@example.com"), date=f"{day}T10:00:00+00:00")
    doc = loopmeter.analyze([repo.path], store_path=tmp_path / "s.duckdb", html_path=None,
                            as_of=datetime(2024, 1, 10))
    assert [w["week_start"] for w in doc["weekly"]] == ["2024-01-01", "2024-01-08"]
    assert [w["contributors"] for w in doc["weekly"]] == [1, 1]
