"""Agent session logs and usage reports: each number worked out by hand from the fixture files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from gitrepo import GitRepo
from loopmeter import api
from loopmeter.errors import ConfigError
from loopmeter.metrics.agent_loops import agent_loops
from loopmeter.metrics.changes import Window, backend
from loopmeter.sources.agent_logs import sniff
from loopmeter.sources.sessions.claude_code import read_claude_code
from loopmeter.sources.sessions.codex import read_codex
from loopmeter.sources.sessions.model import is_test_command
from loopmeter.sources.sessions.usage_reports import read_claude_code_usage, read_copilot_metrics
from loopmeter.store.db import Store

FIX = Path(__file__).parent / "fixtures" / "sessions"
ALICE = ("Alice Example", "alice@example.com")


def test_claude_code_transcript_is_summarised_as_worked_by_hand():
    sessions, report = read_claude_code(FIX / "claude_session.jsonl")
    assert [s.session_id for s in sessions] == ["cc-1"]
    s = sessions[0]
    assert s.started_at == datetime(2026, 3, 2, 10, 0, 0) and s.ended_at == datetime(2026, 3, 2, 10, 22, 0)
    # u1 and u7 are the person's turns; tool results, the sidechain prompt and the isMeta reminder are not.
    assert (s.user_turns, s.interventions) == (2, 1)
    # Bash pytest (failed), Edit, Bash pytest (passed), Bash git commit.
    assert (s.tool_calls, s.failed_tool_calls, s.test_runs, s.passed_test_runs) == (4, 1, 2, 1)
    assert s.time_to_green_seconds == 22 * 60
    # Usage once per message id: (100+1000+0) + (50+0+1000) + (10+0+2000) in, 20+30+40 out.
    assert (s.tokens_in, s.tokens_out) == (4160, 90)
    # Gaps 10+1+49+120+5+min(1020,300)+1+1+53+60 seconds.
    assert s.active_seconds == 600
    assert s.commits == {"1a2b3c4"} and "fix-parser" in s.branches
    assert s.model == "claude-sonnet-4-5" and s.cwd == "/work/proj"
    # The half-written last line is reported with its number; everything before it is kept.
    assert report.skipped == [(13, "not valid JSON (truncated or damaged line)")]
    assert s.kept_text == []


def test_codex_rollout_is_summarised_as_worked_by_hand():
    sessions, report = read_codex(FIX / "codex_rollout.jsonl")
    (s,) = sessions
    assert s.session_id == "cx-1" and s.cwd == "/work/proj" and s.model == "gpt-5-codex"
    assert s.branches == {"codex/retry-loop"}
    # One typed user message; the environment context the client injects is not a person's turn.
    assert (s.user_turns, s.interventions) == (1, 0)
    # cargo test exit 101, cargo test exit 0 (exec_command_end), git commit exit 0.
    assert (s.tool_calls, s.failed_tool_calls, s.test_runs, s.passed_test_runs) == (3, 1, 2, 1)
    assert s.time_to_green_seconds == 300
    assert (s.tokens_in, s.tokens_out) == (6000, 800)  # the last running total
    assert s.active_seconds == pytest.approx(365.0)
    assert s.commits == {"9f8e7d6"}
    assert report.skipped == []


def test_usage_reports_become_daily_rows():
    days, report = read_copilot_metrics(FIX / "copilot_metrics.ndjson")
    assert [(d.day.isoformat(), d.actor, d.prompts, d.lines_added, d.sessions, d.tokens_in) for d in days] == [
        ("2026-03-02", "octo-dev", 7, 80, 2, 900), ("2026-03-03", "octo-dev", 3, 20, None, None)]
    assert report.skipped == [(3, "no readable `day`")]
    days, report = read_claude_code_usage(FIX / "claude_code_usage.json")
    dev, key = days
    assert (dev.actor, dev.sessions, dev.lines_added, dev.commits, dev.pull_requests) == ("dev@example.com", 3, 150, 2, 1)
    assert (dev.tokens_in, dev.tokens_out) == (1000 + 2000 + 300 + 100, 550)
    assert dev.cost_usd == pytest.approx(2.00)  # (186 + 14) cents
    assert key.actor == "ci-bot-key" and key.cost_usd is None


@pytest.mark.parametrize("command, is_test", [
    ("pytest -q", True), ("python -m pytest tests/", True), ("cd app && npm test", True), ("go test ./...", True),
    ("cargo test --all", True), ("bash scripts/test.sh", True), ("make check", True),
    ("git commit -m 'add pytest'", False), ("cat pytest.ini", False), ("ls tests", False), ("npm install", False),
])
def test_test_commands_are_recognised(command, is_test):
    assert is_test_command(command) is is_test


def test_format_is_told_from_content(tmp_path):
    assert sniff(FIX / "claude_session.jsonl") == "claude-code"
    assert sniff(FIX / "codex_rollout.jsonl") == "codex"
    assert sniff(FIX / "copilot_metrics.ndjson") == "copilot-metrics"
    assert sniff(FIX / "claude_code_usage.json") == "claude-code-admin"
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    assert sniff(other) is None


def _project(tmp_path: Path) -> tuple[GitRepo, dict[str, str]]:
    """A repository the two fixture sessions worked in, with three changes:

    PR #5 from fix-parser (the Claude session's commit), PR #6 from codex/retry-loop (the Codex
    session's branch), and a direct commit made during a third session, found by directory and time.
    """
    r = GitRepo(tmp_path / "proj")
    r.commit("init", author=ALICE, date="2026-03-01T09:00:00+00:00")
    r.checkout("fix-parser", new=True)
    cc = r.commit("Fix parser", author=ALICE, date="2026-03-02T10:21:30+00:00")
    r.checkout("main")
    m5 = r.merge("fix-parser", "Merge pull request #5 from org/fix-parser", date="2026-03-02T12:00:00+00:00")
    r.checkout("codex/retry-loop", new=True)
    r.commit("Add retry loop", author=ALICE, date="2026-03-03T09:06:00+00:00")
    r.checkout("main")
    m6 = r.merge("codex/retry-loop", "Merge pull request #6 from org/codex/retry-loop", date="2026-03-03T11:00:00+00:00")
    d = r.commit("Tidy imports", author=ALICE, date="2026-03-04T15:10:00+00:00")
    r.commit("Later work", author=ALICE, date="2026-04-20T09:00:00+00:00")
    return r, {"cc": cc, "m5": m5, "m6": m6, "direct": d}


def _session_files(tmp_path: Path, repo: GitRepo, shas: dict[str, str]) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    text = (FIX / "claude_session.jsonl").read_text().replace("/work/proj", str(repo.path)).replace("1a2b3c4", shas["cc"][:7])
    (logs / "claude_session.jsonl").write_text(text)
    (logs / "codex.jsonl").write_text((FIX / "codex_rollout.jsonl").read_text().replace("/work/proj", "/elsewhere"))
    third = [
        {"type": "user", "sessionId": "cc-3", "cwd": str(repo.path), "timestamp": "2026-03-04T15:00:00Z",
         "message": {"role": "user", "content": "tidy the imports"}},
        {"type": "assistant", "sessionId": "cc-3", "cwd": str(repo.path), "timestamp": "2026-03-04T15:05:00Z",
         "message": {"id": "m", "role": "assistant", "content": [{"type": "text", "text": "done"}]}},
    ]
    (logs / "third.jsonl").write_text("\n".join(json.dumps(x) for x in third) + "\n")
    return logs


def _ingested(tmp_path: Path) -> tuple[GitRepo, dict[str, str], Path]:
    """The project repository and its three sessions, both ingested into one store."""
    repo, shas = _project(tmp_path)
    logs = _session_files(tmp_path, repo, shas)
    store = tmp_path / "s.duckdb"
    api.ingest([repo.path], store_path=store)
    api.ingest_sessions([logs], store_path=store)
    return repo, shas, store


def _links(store_path: Path) -> set[tuple[str, str, str]]:
    with Store.open(store_path) as st:
        rows = st.con.execute(
            "select sl.session_item, json_extract_string(c.attrs, '$.sha'), sl.evidence from session_links sl "
            "join items c on c.item_id = sl.change_item"
        ).fetchall()
    return set(rows)


def test_sessions_link_to_changes_by_commit_branch_and_directory(tmp_path):
    repo, shas = _project(tmp_path)
    logs = _session_files(tmp_path, repo, shas)
    store = tmp_path / "s.duckdb"
    api.ingest([repo.path], store_path=store)
    result = api.ingest_sessions([logs], store_path=store)
    assert (result.files, result.sessions, result.links) == (3, 3, 3)
    assert result.skipped_lines == [(str(logs / "claude_session.jsonl"), 13, "not valid JSON (truncated or damaged line)")]
    expected = {
        ("claude-code:cc-1", shas["m5"], "commit"),
        ("codex:cx-1", shas["m6"], "branch"),
        ("claude-code:cc-3", shas["direct"], "cwd_time"),
    }
    assert _links(store) == expected
    # Re-ingesting git rebuilds the changes; the links are rebuilt with them.
    repo.commit("More", author=ALICE, date="2026-04-21T09:00:00+00:00")
    api.ingest([repo.path], store_path=store)
    assert _links(store) == expected
    # An unchanged file is not read again, and nothing is duplicated.
    again = api.ingest_sessions([logs], store_path=store)
    assert (again.files, again.unchanged) == (0, 3)
    with Store.open(store) as st:
        assert st.con.execute("select count(*) from items where kind = 'agent_session'").fetchone()[0] == 3
        # started, 2 user turns, 4 tool calls, 2 test runs, 1 commit seen, ended.
        assert st.con.execute("select count(*) from events where item_id = 'claude-code:cc-1'").fetchone()[0] == 11


def test_a_reused_branch_name_links_only_the_change_that_landed_after_the_session(tmp_path):
    # Branch names recur: numpy has 244 changes merged from "patch-1" over fifteen years. A session
    # on such a branch made (at most) the next change merged from it, not every one before it.
    r = GitRepo(tmp_path / "proj")
    r.commit("init", author=ALICE, date="2025-01-01T09:00:00+00:00")
    shas = {}
    for n, (name, day) in enumerate((("old", "2025-02-01"), ("new", "2026-03-05"), ("later", "2026-06-01")), 1):
        r.checkout("patch-1", new=True)
        r.commit(f"{name} work", author=ALICE, date=f"{day}T09:00:00+00:00")
        r.checkout("main")
        shas[name] = r.merge("patch-1", f"Merge pull request #{n} from someone/patch-1", date=f"{day}T12:00:00+00:00")
        r.git("branch", "-D", "patch-1")
    logs = tmp_path / "logs"
    logs.mkdir()
    entries = [
        {"type": "user", "sessionId": "cc-p", "cwd": "/elsewhere", "gitBranch": "patch-1",
         "timestamp": "2026-03-04T10:00:00Z", "message": {"role": "user", "content": "fix the typo"}},
        {"type": "assistant", "sessionId": "cc-p", "cwd": "/elsewhere", "gitBranch": "patch-1",
         "timestamp": "2026-03-04T10:05:00Z", "message": {"id": "m", "role": "assistant", "content": [{"type": "text", "text": "done"}]}},
    ]
    (logs / "p.jsonl").write_text("\n".join(json.dumps(x) for x in entries) + "\n")
    store = tmp_path / "s.duckdb"
    api.ingest([r.path], store_path=store)
    api.ingest_sessions([logs], store_path=store)
    assert _links(store) == {("claude-code:cc-p", shas["new"], "branch")}


def _ai_changes(store_path: Path) -> dict[str, list[str]]:
    with Store.open(store_path) as st:
        rows = st.con.execute(
            "select json_extract_string(c.attrs, '$.sha'), list(distinct a.agent order by a.agent) from items c "
            "join attributions a on a.item_id = c.item_id where c.kind = 'change' group by 1").fetchall()
    return {sha: agents for sha, agents in rows}


def test_a_change_the_session_committed_counts_as_ai_assisted_in_the_report(tmp_path):
    # The transcript is the agent's own record of making the commit: the change it landed in is
    # AI-assisted in the totals and the AI-vs-human lift, whichever of git or the sessions came first.
    repo, shas = _project(tmp_path)
    logs = _session_files(tmp_path, repo, shas)
    for order in ("git first", "sessions first"):
        store = tmp_path / f"{order}.duckdb"
        steps = [lambda: api.ingest([repo.path], store_path=store), lambda: api.ingest_sessions([logs], store_path=store)]
        for step in (steps if order == "git first" else steps[::-1]):
            step()
        ai = _ai_changes(store)
        assert ai.get(shas["m5"]) == ["claude-code"], order  # linked by the commit the session printed
        assert shas["direct"] not in ai, order  # directory and time alone are not evidence of authorship
        doc = api.report_from_store(store_path=store, as_of=datetime(2026, 5, 1))
        assert doc["totals"]["ai_assisted_changes"] == len(ai)
        assert doc["attribution"]["changes_by_agent"].get("claude-code") == 1
    # A git re-ingest rebuilds the changes and their attributions; the session's is rebuilt with them.
    repo.commit("More", author=ALICE, date="2026-04-21T09:00:00+00:00")
    api.ingest([repo.path], store_path=store)
    assert _ai_changes(store).get(shas["m5"]) == ["claude-code"]


def test_agent_loop_metrics_match_a_hand_computation(tmp_path):
    repo, shas, store = _ingested(tmp_path)
    with Store.open(store) as st:
        con = backend(st)
        loops = agent_loops(con, Window(as_of=datetime(2026, 5, 1), days=14))
    assert loops["sessions"] == 3
    assert loops["by_agent"] == {"claude-code": 2, "codex": 1}
    ps = loops["per_session"]
    # tool calls per session: cc-1 4, cx-1 3, cc-3 0 -> median 3, mean 7/3.
    assert ps["tool_calls"]["p50"] == pytest.approx(3.0) and ps["tool_calls"]["mean"] == pytest.approx(7 / 3)
    # time to green: 22 min and 5 min; the third session never ran tests.
    assert sorted(loops["time_to_green_minutes"]) == pytest.approx([5.0, 22.0])
    assert (loops["sessions_with_test_runs"], loops["sessions_reaching_green"]) == (2, 2)
    assert loops["failed_tool_call_share"] == pytest.approx(2 / 7)
    assert loops["sessions_with_interventions"] == 1
    pv = loops["per_validated_change"]
    assert (pv["linked_sessions"], pv["linked_changes"]) == (3, 3)
    modes = {g["mode"]: g for g in pv["by_mode"]}
    # cc-1 had a human turn after the first (interactive); cx-1 and cc-3 did not.
    assert (modes["interactive"]["validated_changes"], modes["autonomous"]["validated_changes"]) == (1, 2)
    # Active time per validated change: cc-1 600 s for one change; (365 + 300) s over two changes.
    assert modes["interactive"]["active_hours_per_validated_change"] == pytest.approx(600 / 3600)
    assert modes["autonomous"]["active_hours_per_validated_change"] == pytest.approx(665 / 3600 / 2)
    assert modes["interactive"]["cost_per_validated_change"] is None  # transcripts carry no cost


def test_agent_loop_weeks_and_counts_are_written_as_docs_json_report_shows(tmp_path):
    # docs/json-report.md: weeks are Monday dates ("2026-03-02") in both weekly lists, counts are integers.
    repo, shas, store = _ingested(tmp_path)
    with Store.open(store) as st:
        loops = agent_loops(backend(st), Window(as_of=datetime(2026, 5, 1), days=14))
    assert [w["week"] for w in loops["weekly"]] == ["2026-03-02"]
    assert [w["week"] for w in loops["per_validated_change"]["weekly"]] == ["2026-03-02"]
    w = loops["weekly"][0]
    assert (w["sessions"], w["tool_calls"], w["failed_tool_calls"], w["interventions"]) == (3, 7, 2, 1)
    assert all(type(w[k]) is int for k in ("sessions", "tool_calls", "failed_tool_calls", "interventions"))
    assert all(type(d["n"]) is int for d in loops["per_session"].values())
    assert loops["per_session"]["tool_calls"]["n"] == 3


def test_prompts_are_not_stored_unless_asked(tmp_path):
    store = tmp_path / "s.duckdb"
    api.ingest_sessions([FIX / "claude_session.jsonl"], store_path=store)
    raw = store.read_bytes()
    assert b"The parser drops the last line" not in raw and b"python -m pytest -q" not in raw
    kept = tmp_path / "k.duckdb"
    api.ingest_sessions([FIX / "claude_session.jsonl"], store_path=kept, keep_text=True)
    with Store.open(kept) as st:
        attrs = json.loads(st.con.execute("select attrs from items where item_id = 'claude-code:cc-1'").fetchone()[0])
    assert "The parser drops the last line; fix it and run the tests." in attrs["text"]


def test_usage_reports_are_stored_pseudonymously(tmp_path):
    store = tmp_path / "s.duckdb"
    api.ingest_sessions([FIX / "copilot_metrics.ndjson", FIX / "claude_code_usage.json"], store_path=store)
    with Store.open(store) as st:
        rows = st.con.execute("select source, actor_id, sessions, cost_usd from agent_usage order by source, day, actor_id").fetchall()
        con = backend(st)
        loops = agent_loops(con, Window(as_of=datetime(2026, 5, 1), days=14))
    assert len(rows) == 4 and all(r[1] == "" or r[1].startswith("a") for r in rows)
    assert not any("octo-dev" in str(r) or "dev@example.com" in str(r) for r in rows)
    by = {u["source"]: u for u in loops["usage_reports"]}
    assert by["claude-code-admin"]["cost_usd"] == pytest.approx(2.0) and by["claude-code-admin"]["actors"] == 2
    assert by["copilot-metrics"]["lines_added"] == 100 and by["copilot-metrics"]["days"] == 2
    assert all(type(u[k]) is int for u in by.values() for k in ("days", "actors", "sessions", "lines_added"))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loopmeter", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_ingest_sessions_and_bad_files(tmp_path):
    store = tmp_path / "s.duckdb"
    ok = _cli("ingest", "--sessions", str(FIX / "codex_rollout.jsonl"), "--store", str(store), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "1 sessions" in ok.stdout
    strange = tmp_path / "strange.jsonl"
    strange.write_text('{"hello": "world"}\n')
    bad = _cli("ingest", "--sessions", str(strange), "--store", str(store), cwd=tmp_path)
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "strange.jsonl" in errors[0] and "--sessions-format" in errors[0]
    missing = _cli("ingest", "--sessions", str(tmp_path / "nope"), "--store", str(store), cwd=tmp_path)
    assert missing.returncode == 2 and "nope" in missing.stderr
    # What was stored before the bad files is still there.
    with Store.open(store) as st:
        assert st.con.execute("select count(*) from items where kind = 'agent_session'").fetchone()[0] == 1


def test_unknown_format_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--sessions-format"):
        api.ingest_sessions([FIX / "codex_rollout.jsonl"], store_path=tmp_path / "s.duckdb", fmt="cursor")


def test_report_shows_agent_loops_in_html_and_terminal(tmp_path):
    repo, shas = _project(tmp_path)
    logs = _session_files(tmp_path, repo, shas)
    evil = logs / "evil.jsonl"
    evil.write_text(json.dumps({"type": "user", "sessionId": "<script>alert(1)</script>", "cwd": "/x",
                                "timestamp": "2026-03-05T10:00:00Z", "message": {"role": "user", "content": "hi"}}) + "\n")
    store = tmp_path / "s.duckdb"
    api.ingest([repo.path], store_path=store)
    api.ingest_sessions([logs, FIX / "claude_code_usage.json"], store_path=store)
    html = tmp_path / "r.html"
    doc = api.report_from_store(store_path=store, html_path=html, as_of=datetime(2026, 5, 1))
    assert doc["agent_loops"]["sessions"] == 4
    page = html.read_text()
    assert 'id="agent-loops"' in page and "chart-agent-ttg" in page and "chart-agent-interventions" in page
    assert "<script>alert(1)" not in page
    assert "claude-code-admin" in page and "$2.00" in page
    out = subprocess.run([sys.executable, "-m", "loopmeter", "report", "--store", str(store), "--as-of", "2026-05-01"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "agent loops (4 sessions" in out.stdout and "autonomous" in out.stdout


def test_a_pull_request_the_session_opened_links_it_to_the_landed_change(tmp_path):
    repo, shas = _project(tmp_path)
    store = tmp_path / "s.duckdb"
    api.ingest([repo.path], store_path=store)
    with Store.open(store) as st:
        # What the GitHub source writes for PR #12 (docs/design.md): its item and its same_as link
        # to the change its merge sha landed.
        change = st.con.execute("select item_id from items where kind = 'change' and json_extract_string(attrs, '$.sha') = ?",
                                [shas["m6"]]).fetchone()[0]
        st.con.execute("insert into items (item_id, source, kind) values ('github:acme/widgets:pr:12', 'github', 'pull_request')")
        st.con.execute("insert into links values ('github:acme/widgets:pr:12', ?, 'same_as')", [change])
    session = [
        {"type": "user", "sessionId": "pr-1", "cwd": "/elsewhere", "timestamp": "2026-03-03T08:00:00Z",
         "message": {"role": "user", "content": "open a PR"}},
        {"type": "assistant", "sessionId": "pr-1", "cwd": "/elsewhere", "timestamp": "2026-03-03T08:01:00Z",
         "message": {"id": "m", "role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "gh pr create --fill"}}]}},
        {"type": "user", "sessionId": "pr-1", "cwd": "/elsewhere", "timestamp": "2026-03-03T08:02:00Z",
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                                  "content": "Creating pull request\nhttps://github.com/acme/widgets/pull/12\n"}]}},
    ]
    f = tmp_path / "pr.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in session) + "\n")
    api.ingest_sessions([f], store_path=store)
    assert ("claude-code:pr-1", shas["m6"], "pull_request") in _links(store)


def test_pull_request_urls_are_read_from_tool_output():
    from loopmeter.sources.sessions.model import pull_requests_in_output

    text = "https://github.com/acme/widgets/pull/12\nView: https://gitlab.example.com/group/sub/proj/-/merge_requests/7"
    assert pull_requests_in_output(text) == [("github", "acme/widgets", 12), ("gitlab", "group/sub/proj", 7)]


def test_a_store_of_agent_sessions_only_still_reports(tmp_path):
    store = tmp_path / "s.duckdb"
    api.ingest_sessions([FIX / "codex_rollout.jsonl"], store_path=store)
    html = tmp_path / "r.html"
    doc = api.report_from_store(store_path=store, html_path=html, as_of=datetime(2026, 5, 1))
    assert doc["repos"] == [] and doc["agent_loops"]["sessions"] == 1 and doc["flow"] is None
    assert 'id="agent-loops"' in html.read_text()
    out = subprocess.run([sys.executable, "-m", "loopmeter", "report", "--store", str(store), "--as-of", "2026-05-01"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "agent loops (1 sessions" in out.stdout
    empty = subprocess.run([sys.executable, "-m", "loopmeter", "report", "--store", str(tmp_path / "none.duckdb")],
                           capture_output=True, text=True, cwd=tmp_path)
    assert empty.returncode == 2


def test_session_people_are_classified_with_the_signatures_of_loopmeter_toml(tmp_path, monkeypatch):
    # An account configured as an agent in loopmeter.toml is an agent in usage reports too, as it
    # is in git history; without the file the same address is a person.
    (tmp_path / "loopmeter.toml").write_text(
        '[[attribution.signature]]\nagent = "corp-runner"\nevidence = ["author"]\n'
        'email = "dev@example.com"\nconfidence = 0.99\n'
    )
    kinds = {}
    for name, cwd in (("plain", tmp_path / "elsewhere"), ("configured", tmp_path)):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        store = tmp_path / f"{name}.duckdb"
        api.ingest_sessions([FIX / "claude_code_usage.json"], store_path=store)
        with Store.open(store) as s:
            kinds[name] = s.con.execute("select email, kind, agent from actors order by email").fetchall()
    assert ("dev@example.com", "human", None) in kinds["plain"]
    assert ("dev@example.com", "agent", "corp-runner") in kinds["configured"]
    others = [r for r in kinds["configured"] if r[0] != "dev@example.com"]
    assert others and others == [r for r in kinds["plain"] if r[0] != "dev@example.com"]
