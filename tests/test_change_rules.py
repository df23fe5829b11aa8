"""The change and attribution rules of docs/metrics.md that the demo history does not exercise."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

import loopmeter
from conftest import ALICE, BOB
from gitrepo import GitRepo

AS_OF = datetime(2024, 6, 1)
COPILOT_AGENT = ("Copilot", "198982749+Copilot@users.noreply.github.com")


def _changes(store_path) -> list[dict]:
    con = duckdb.connect(str(store_path), read_only=True)
    rows = con.execute(
        "select i.title, i.attrs, list(a.agent order by a.agent) filter (where a.agent is not null) "
        "from items i left join attributions a on a.item_id = i.item_id where i.kind = 'change' "
        "group by i.title, i.attrs, i.done_at order by i.done_at"
    ).fetchall()
    con.close()
    return [{"title": t, "attrs": json.loads(a), "agents": ag or []} for t, a, ag in rows]


def test_gitlab_merge_request_is_a_pr_merge_with_its_number(tmp_path, store_path):
    r = GitRepo(tmp_path / "gl")
    r.commit("Base", date="2024-01-01T09:00:00+00:00")
    r.land_branch("feat", "Work", "Merge branch 'feat' into 'main'\n\nAdd feat\n\nSee merge request team/app!42",
                  author=BOB, work_date="2024-01-02T09:00:00+00:00", merge_date="2024-01-03T09:00:00+00:00")
    loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    merged = _changes(store_path)[-1]["attrs"]
    assert merged["merge_kind"] == "pr_merge" and merged["pr_number"] == 42 and merged["branch"] == "feat"


def test_plain_branch_merge_is_a_merge_change(tmp_path, store_path):
    r = GitRepo(tmp_path / "plain")
    r.commit("Base", date="2024-01-01T09:00:00+00:00")
    r.land_branch("topic", "Work", "Merge branch 'topic'", author=BOB, work_date="2024-01-02T09:00:00+00:00",
                  merge_date="2024-01-02T15:00:00+00:00", committer=ALICE)
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    last = _changes(store_path)[-1]["attrs"]
    assert last["merge_kind"] == "merge" and last["branch"] == "topic" and "pr_number" not in last
    assert doc["cycle_time_hours"]["p50"] == 6.0  # Bob's commit 09:00 -> merge 15:00


def test_agent_branch_in_a_merge_message_attributes_the_change(tmp_path, store_path):
    r = GitRepo(tmp_path / "branch")
    r.commit("Base", date="2024-01-01T09:00:00+00:00")
    r.land_branch("claude/fix-login-a1b2", "Fix login",
                  "Merge pull request #7 from acme/claude/fix-login-a1b2\n\nFix login",
                  author=BOB, work_date="2024-01-02T09:00:00+00:00", merge_date="2024-01-03T09:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert _changes(store_path)[-1]["agents"] == ["claude-code"]
    assert doc["totals"]["ai_assisted_changes"] == 1 and doc["totals"]["ai_assisted_commits"] == 0


def test_an_agent_account_authoring_a_change_makes_it_ai_assisted(tmp_path, store_path):
    r = GitRepo(tmp_path / "agent")
    r.commit("Base", author=ALICE, date="2024-01-01T09:00:00+00:00")
    r.commit("Implement the thing", author=COPILOT_AGENT, date="2024-01-02T09:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["ai_assisted_changes"] == 1
    assert doc["attribution"]["changes_by_agent"] == {"copilot": 1}
    # The agent is not a human contributor.
    assert doc["totals"]["contributors"] == 1


def test_bare_agent_names_in_messages_are_not_evidence(tmp_path, store_path):
    r = GitRepo(tmp_path / "words")
    r.commit("Ask claude about the cursor position; codex says continue", date="2024-01-01T09:00:00+00:00")
    r.commit("Co-authored-by: Claude Shannon <claude@example.org>\n\nInformation theory",
             date="2024-01-02T09:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["ai_assisted_changes"] == 0


def test_bot_changes_stay_out_of_the_ai_share_denominator(tmp_path, store_path):
    r = GitRepo(tmp_path / "bots")
    r.commit("Human work", author=ALICE, date="2024-01-01T09:00:00+00:00")
    r.commit("AI work\n\nCo-Authored-By: Claude <noreply@anthropic.com>", author=ALICE, date="2024-01-02T09:00:00+00:00")
    for i in range(3):
        r.commit(f"Bump dep {i}", author=("renovate[bot]", "29139614+renovate[bot]@users.noreply.github.com"),
                 date=f"2024-01-0{3 + i}T09:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["bot_changes"] == 3
    assert doc["attribution"]["ai_share_lower_bound"] == 0.5  # 1 of 2 non-bot changes


def test_user_signatures_from_loopmeter_toml_are_used(tmp_path, store_path, monkeypatch):
    r = GitRepo(tmp_path / "custom")
    r.commit("Work\n\nCo-authored-by: Helper <helper-agent@acme.example>", date="2024-01-01T09:00:00+00:00")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "loopmeter.toml").write_text(
        '[[attribution.signature]]\nagent = "acme-helper"\nevidence = "trailer"\n'
        'email = "helper-agent@acme.example"\nconfidence = 0.9\ndescription = "our agent"\n'
    )
    monkeypatch.chdir(cfg)
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["attribution"]["changes_by_agent"] == {"acme-helper": 1}


def test_an_aider_name_suffix_marks_that_commit_not_the_person(tmp_path, store_path):
    r = GitRepo(tmp_path / "aider")
    for d in range(1, 10):
        r.commit(f"Work {d}", author=("Paul Dev", "paul@example.com"), date=f"2024-01-0{d}T09:00:00+00:00")
    r.commit("Refactor parser", author=("Paul Dev (aider)", "paul@example.com"), date="2024-01-10T09:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["ai_assisted_changes"] == 1
    assert doc["attribution"]["changes_by_agent"] == {"aider": 1}
    assert doc["totals"]["contributors"] == 1  # Paul is still a person


def test_a_bot_change_with_an_ai_trailer_is_not_counted_as_ai_work(tmp_path, store_path):
    r = GitRepo(tmp_path / "botai")
    r.commit("Human work", author=ALICE, date="2024-01-01T09:00:00+00:00")
    for i in range(3):
        r.commit(f"Autofix {i}\n\nCo-Authored-By: Claude <noreply@anthropic.com>",
                 author=("acme-ci[bot]", "123+acme-ci[bot]@users.noreply.github.com"),
                 date=f"2024-01-0{2 + i}T09:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["bot_changes"] == 3
    assert doc["totals"]["ai_assisted_changes"] == 0
    assert doc["attribution"]["ai_share_lower_bound"] == 0.0
    assert doc["attribution"]["changes_by_agent"] == {}


def test_as_of_in_the_past_ignores_later_landings_and_reverts(demo_repo, store_path):
    path, _ = demo_repo
    # As of 2024-01-06 only D1, M1, S2 had landed, and S2's revert (01-11) had not happened yet.
    doc = loopmeter.analyze([path], store_path=store_path, html_path=None, as_of=datetime(2024, 1, 6))
    t = doc["totals"]
    assert t["changes"] == 3 and t["reverted_changes"] == 0 and t["pending_changes"] == 3


def test_the_same_repository_named_two_ways_is_one_repository(tmp_path, store_path, monkeypatch):
    r = GitRepo(tmp_path / "src")
    r.commit("One", date="2024-01-01T09:00:00+00:00")
    import subprocess

    subprocess.run(["git", "clone", "-q", "--bare", str(r.path), str(tmp_path / "api.git")], check=True)
    monkeypatch.chdir(tmp_path)
    loopmeter.ingest(["api.git"], store_path=store_path)
    loopmeter.ingest([tmp_path / "api.git"], store_path=store_path)
    doc = loopmeter.report_from_store(store_path=store_path, as_of=AS_OF)
    assert [x["repo"] for x in doc["repos"]] == ["api"]
    assert doc["totals"]["commits"] == 1
    assert doc["weekly"][0]["week_start"] == "2024-01-01"


def test_changed_signatures_apply_to_history_already_stored(tmp_path, store_path, monkeypatch):
    r = GitRepo(tmp_path / "later")
    for d in range(1, 4):
        r.commit(f"Work {d}\n\nCo-authored-by: Helper <helper-agent@acme.example>", date=f"2024-01-0{d}T09:00:00+00:00")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    monkeypatch.chdir(cfg)
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["ai_assisted_changes"] == 0
    (cfg / "loopmeter.toml").write_text(
        '[[attribution.signature]]\nagent = "acme-helper"\nevidence = "trailer"\n'
        'email = "helper-agent@acme.example"\nconfidence = 0.9\ndescription = "our agent"\n'
    )
    r.commit("Work 4", date="2024-01-04T09:00:00+00:00")
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    # The three earlier commits are judged by the new rules too, exactly as a fresh store would.
    assert doc["totals"]["ai_assisted_changes"] == 3
    fresh = loopmeter.analyze([r.path], store_path=tmp_path / "fresh.duckdb", html_path=None, as_of=AS_OF)
    assert fresh["totals"] == doc["totals"]


def test_without_as_of_each_repository_is_judged_from_its_own_newest_landing(tmp_path, store_path):
    stale = GitRepo(tmp_path / "stale")
    stale.commit("Old one", date="2024-01-01T09:00:00+00:00")
    stale.commit("Old two", date="2024-01-10T09:00:00+00:00")  # 9 days before its newest landing
    stale.commit("Old three", date="2024-01-19T09:00:00+00:00")
    fresh = GitRepo(tmp_path / "fresh")
    fresh.commit("New", date="2024-06-01T09:00:00+00:00")
    doc = loopmeter.analyze([stale.path, fresh.path], store_path=store_path, html_path=None)
    assert doc["as_of_rule"] == "newest landing in the data" and doc["as_of"].startswith("2024-06-01")
    per = {r["repo"]: r["totals"] for r in doc["repos"]}
    # stale: judged as of 2024-01-19, so "Old two" and "Old three" are still inside the window.
    assert (per["stale"]["validated_changes"], per["stale"]["pending_changes"]) == (1, 2)
    assert doc["totals"]["pending_changes"] == 3  # plus the fresh repository's only change


def test_a_merge_that_brings_in_nothing_new_is_not_a_change(tmp_path, store_path):
    r = GitRepo(tmp_path / "empty")
    r.commit("Base", date="2024-01-01T09:00:00+00:00")
    r.land_branch("topic", "Work", "Merge branch 'topic'", author=BOB, work_date="2024-01-02T09:00:00+00:00",
                  merge_date="2024-01-03T09:00:00+00:00", committer=ALICE)
    # A merge whose other parent has already landed (git itself refuses to make one, other tools do).
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_AUTHOR_DATE": "2024-01-04T09:00:00+00:00",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.com",
           "GIT_COMMITTER_DATE": "2024-01-04T09:00:00+00:00"}
    sha = r.git("commit-tree", r.git("write-tree"), "-p", "HEAD", "-p", "HEAD~1", env=env, input=b"Merge again")
    r.git("update-ref", "HEAD", sha)
    doc = loopmeter.analyze([r.path], store_path=store_path, html_path=None, as_of=AS_OF)
    assert doc["totals"]["commits"] == 4
    assert doc["totals"]["changes"] == 2  # Base, and the merge of topic
