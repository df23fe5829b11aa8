"""Line-level provenance: Git AI authorship logs in refs/notes/ai (added with the real `git notes`)
and Agent Trace records (`ingest --traces`), stored per commit and file, reported exactly."""

from __future__ import annotations

import json

import pytest

from browser import CHROMIUM, load_page
from gitrepo import GitRepo
from loopmeter import api
from loopmeter.metrics.changes import Window, backend
from loopmeter.metrics.provenance import lines
from loopmeter.report.document import default_as_of
from loopmeter.sources.provenance import ProvenanceError, parse_git_ai_note, parse_trace_record
from loopmeter.store.db import Store

ALICE = ("Alice Example", "alice@example.com")


def note(files: dict[str, list[tuple[str, str]]], prompts: dict[str, tuple[str, str]]) -> str:
    head = "".join(f"{p}\n" + "".join(f"  {h} {r}\n" for h, r in rows) for p, rows in files.items())
    meta = {"schema_version": "authorship/3.0.0", "git_ai_version": "1.0.0", "base_commit_sha": "0" * 40,
            "prompts": {h: {"agent_id": {"tool": t, "id": "x", "model": m}, "human_author": "Alice",
                            "messages": [], "total_additions": 1, "total_deletions": 0,
                            "accepted_lines": 1, "overriden_lines": 0} for h, (t, m) in prompts.items()}}
    return head + "---\n" + json.dumps(meta, indent=2)


def numbered(prefix: str, n: int) -> str:
    return "".join(f"{prefix} {i}\n" for i in range(1, n + 1))


def test_parse_git_ai_note_format():
    text = note({"src/a b.py": [("a1b2c3d4e5f6a7b8", "1-3,7"), ("0123456", "5")], "lib.py": [("a1b2c3d4e5f6a7b8", "2-3")]},
                {"a1b2c3d4e5f6a7b8": ("cursor", "claude-4-sonnet"), "0123456789abcdef": ("claude", "opus")})
    # Unindented paths (a quoted one would be unquoted), a 7-character hash abbreviating a prompt key.
    got = {(f.path, f.agent, f.model): (f.lines, f.ai_lines) for f in parse_git_ai_note("c" * 40, text)}
    assert got == {("src/a b.py", "cursor", "claude-4-sonnet"): (((1, 3), (7, 7)), 4),
                   ("src/a b.py", "claude-code", "opus"): (((5, 5),), 1),
                   ("lib.py", "cursor", "claude-4-sonnet"): (((2, 3),), 2),
                   ("", "", None): ((), 0)}
    for bad, why in [
        ("x.py\n  a1b2c3d 1-2\n", "no '---'"),
        ("x.py\n  a1b2c3d 1-2\n---\n{\"schema_version\": \"authorship/2.0.0\", \"prompts\": {}}", "schema_version"),
        ("x.py\n  a1b2c3d 3-1\n---\n" + json.dumps({"schema_version": "authorship/3.0.0",
                                                    "prompts": {"a1b2c3d": {"agent_id": {}}}}), "empty"),
        ("x.py\n  ffffffff 1\n---\n" + json.dumps({"schema_version": "authorship/3.0.0", "prompts": {}}), "not among"),
    ]:
        with pytest.raises(ProvenanceError, match=why):
            parse_git_ai_note("c" * 40, bad)


def build(tmp_path):
    r = GitRepo(tmp_path / "r")
    s = {}
    s["human"] = r.commit("human work", author=ALICE, date="2024-01-01T10:00:00+00:00", files={"h.py": numbered("h", 10)})
    s["ai1"] = r.commit("feature", author=ALICE, date="2024-01-02T10:00:00+00:00",
                        files={"a.py": numbered("a", 6), "b.py": numbered("b", 4)})
    s["bad"] = r.commit("bad note", author=ALICE, date="2024-01-03T10:00:00+00:00", files={"c.py": numbered("c", 3)})
    s["ai2"] = r.commit("more", author=ALICE, date="2024-01-04T10:00:00+00:00", files={"d.py": numbered("d", 5)})
    s["none"] = r.commit("note, no AI lines", author=ALICE, date="2024-01-05T10:00:00+00:00", files={"e.py": numbered("e", 2)})
    # a.py lines 1-4 by cursor; b.py: 1-2 by cursor, and a claimed line 9 the commit never had (capped).
    r.git("notes", "--ref=ai", "add", "-m", note({"a.py": [("a1b2c3d4e5f6a7b8", "1-4")],
                                                  "b.py": [("a1b2c3d4e5f6a7b8", "1-2"), ("1234567", "3-9")]},
                                                 {"a1b2c3d4e5f6a7b8": ("cursor", "gpt-5"),
                                                  "1234567": ("claude", "claude-opus-4")}), s["ai1"])
    r.git("notes", "--ref=ai", "add", "-m", "c.py\n  a1b2c3d 1-2\nno metadata here\n", s["bad"])
    r.git("notes", "--ref=ai", "add", "-m", note({"d.py": [("abcdef0", "2-4")]}, {"abcdef0": ("claude", "claude-opus-4")}),
          s["ai2"])
    r.git("notes", "--ref=ai", "add", "-m", note({}, {}), s["none"])
    return r, s


def _lines(store):
    with Store.open(store) as st:
        as_of, rule = default_as_of(st)
        return lines(backend(st), Window(as_of=as_of, rule=rule))


def test_git_ai_notes_ingested_and_reported_exactly(tmp_path):
    r, s = build(tmp_path)
    store = tmp_path / "s.duckdb"
    [res] = api.ingest([r.path], store_path=store)
    # One warning for the malformed note, naming its commit; the ingest went on.
    bad = [w for w in res.warnings if "Git AI notes" in w]
    assert len(bad) == 1 and "1 Git AI notes" in bad[0] and s["bad"][:12] in bad[0] and "---" in bad[0]
    with Store.open(store) as st:
        ev = st.con.execute("select item_id, agent, evidence from attributions where evidence = 'git_ai_note' and item_id like '%:commit:%' "
                            "order by 1, 2").fetchall()
        assert ev == sorted([(f"git:r:commit:{s['ai1']}", "claude-code", "git_ai_note"),
                             (f"git:r:commit:{s['ai1']}", "cursor", "git_ai_note"),
                             (f"git:r:commit:{s['ai2']}", "claude-code", "git_ai_note")])
        # The change of an annotated commit inherits the evidence, as for any commit evidence.
        assert st.con.execute("select count(*) from attributions where item_id = ? and evidence = 'git_ai_note'",
                              [f"git:r:change:{s['ai1']}"]).fetchone()[0] == 2
        rows = st.con.execute("select path, agent, model, ai_lines, ranges from line_provenance "
                              "where sha = ? order by 1, 2", [s["ai1"]]).fetchall()
        assert rows == [("", "", None, 0, ""), ("a.py", "cursor", "gpt-5", 4, "1-4"),
                        ("b.py", "claude-code", "claude-opus-4", 7, "3-9"), ("b.py", "cursor", "gpt-5", 2, "1-2")]
    got = _lines(store)
    # Commits with provenance: ai1 (10 lines), ai2 (5), none (2). AI lines: a.py 4; b.py 2 + 7 claimed
    # but the commit added 4 lines there, so 4; d.py 3. by_agent caps each agent's claim the same way.
    assert got == {"commits_with_provenance": 3, "lines_added": 10 + 10 + 3 + 5 + 2,
                   "lines_added_with_provenance": 17, "ai_lines_added": 4 + 4 + 3, "ai_share": 11 / 17,
                   "by_agent": {"cursor": 6, "claude-code": 7}, "by_model": {"claude-opus-4": 7, "gpt-5": 6}}
    # Re-ingesting changes nothing (notes are re-read and replaced, not added twice).
    api.ingest([r.path], store_path=store)
    doc = api.report_from_store(store_path=store, html_path=tmp_path / "r.html")
    assert doc["attribution"]["lines"] == got
    assert [(w["lines_added_with_provenance"], w["ai_lines_added"]) for w in doc["lines_weekly"]] == [(17, 11)]
    page = (tmp_path / "r.html").read_text()
    assert 'id="chart-ai-lines"' in page and "<strong>64.7%</strong> of their added lines" in page
    if CHROMIUM.exists():  # what a person sees: the chart draws its one bar, offline, without errors
        seen = load_page(tmp_path / "r.html", wait_for="#chart-ai-lines", open_details=True,
                         evaluate={"bars": "document.querySelectorAll('#chart-ai-lines .bars path').length"})
        assert not seen.errors and not seen.requests and seen.values["bars"] == 1
        assert "64.7% of their added lines were AI-written (11 of 17)" in seen.text


def test_agent_trace_records(tmp_path):
    r = GitRepo(tmp_path / "r")
    c1 = r.commit("one", author=ALICE, date="2024-01-01T10:00:00+00:00", files={"x.ts": numbered("x", 8)})
    c2 = r.commit("two", author=ALICE, date="2024-01-02T10:00:00+00:00", files={"y.ts": numbered("y", 4)})
    traces = tmp_path / "traces"
    traces.mkdir()
    rec = {"version": "0.1.0", "id": "8c5e", "timestamp": "2024-01-01T10:00:00Z",
           "vcs": {"type": "git", "revision": c1[:10]}, "tool": {"name": "cursor", "version": "2.0"},
           "files": [{"path": "x.ts", "conversations": [
               {"url": "https://example.invalid/c/1", "contributor": {"type": "ai", "model_id": "anthropic/claude-sonnet-4"},
                "ranges": [{"start_line": 1, "end_line": 3}, {"start_line": 5, "end_line": 5,
                                                              "contributor": {"type": "human"}}]},
               {"contributor": {"type": "mixed"}, "ranges": [{"start_line": 6, "end_line": 8}]}]}]}
    (traces / "one.json").write_text(json.dumps(rec))
    rec2 = dict(rec, vcs={"type": "git", "revision": c2}, files=[{"path": "y.ts", "conversations": [
        {"contributor": {"type": "ai", "model_id": "openai/gpt-5"}, "ranges": [{"start_line": 2, "end_line": 3}]}]}],
        tool={"name": "codex"})
    (traces / "more.jsonl").write_text(json.dumps(rec2) + "\n{not json\n"
                                       + json.dumps(dict(rec, vcs={"revision": "f" * 40})) + "\n")
    store = tmp_path / "s.duckdb"
    [res] = api.ingest([r.path], store_path=store, traces=traces)
    bad = [w for w in res.warnings if "Agent Trace" in w]
    # The unreadable line is malformed; the record of a commit outside this history is only left out.
    assert len(bad) == 1 and "1 Agent Trace records" in bad[0] and "more.jsonl line 2" in bad[0]
    got = _lines(store)
    assert got == {"commits_with_provenance": 2, "lines_added": 12, "lines_added_with_provenance": 12,
                   "ai_lines_added": 3 + 2, "ai_share": 5 / 12, "by_agent": {"cursor": 3, "codex": 2},
                   "by_model": {"anthropic/claude-sonnet-4": 3, "openai/gpt-5": 2}}
    # Read again: the files' rows are replaced, not doubled.
    api.ingest([r.path], store_path=store, traces=traces)
    assert _lines(store) == got
    with pytest.raises(ProvenanceError, match="contributor.type"):
        parse_trace_record(dict(rec, files=[{"path": "x", "conversations": [{"contributor": {"type": "robot"},
                                                                               "ranges": []}]}]), "t")


def test_cli_traces_needs_a_repository(tmp_path):
    from typer.testing import CliRunner

    from loopmeter.cli import app

    out = CliRunner().invoke(app, ["ingest", "--traces", str(tmp_path), "--store", str(tmp_path / "s.duckdb")])
    assert out.exit_code != 0 and "--traces needs the git repository PATH" in out.output
