"""The `loopmeter` command as a user runs it: real subprocesses, real repositories, real store files.

Bad input must end in a non-zero exit and one line on stderr that names the problem (and the
path), with a traceback only under --debug, and must leave a store that held data as it was.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import loopmeter
from loopmeter.errors import LoopmeterError, StoreError
from loopmeter.store.migrations import STORE_FORMAT

from conftest import build_demo
from gitrepo import GitRepo
from stores import snapshot

LOOPMETER = Path(sys.executable).with_name("loopmeter")
AS_OF = "2024-03-01"
DEMO_PEOPLE = [
    "Alice Example", "alice@example.com", "Bob Builder", "bob@example.com", "Carol Reviewer", "carol@example.com",
    "Dave Squasher", "dave@example.com", "Eve Agentic", "eve@example.com",
]
FRANK = ("Frank Other", "frank@elsewhere.org")
# Totals that add up over repositories whose people are disjoint.
ADDITIVE = [
    "commits", "changes", "validated_changes", "pending_changes", "reverted_changes", "ai_assisted_changes",
    "bot_changes", "ai_assisted_commits", "contributors", "changes_with_pr_commits",
    "squash_changes_without_pr_commits",
]


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    env.pop("LOOPMETER_BATCH", None)
    return subprocess.run([str(LOOPMETER), *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=120)


def small_repo(path: Path) -> GitRepo:
    """Three direct commits by Frank, who does not appear in the demo history."""
    r = GitRepo(path)
    r.commit("First", author=FRANK, date="2024-01-02T10:00:00+00:00")
    r.commit("Second", author=FRANK, date="2024-01-03T09:00:00+00:00", commit_date="2024-01-03T12:00:00+00:00")
    r.commit("Third", author=FRANK, date="2024-01-20T10:00:00+00:00")
    return r


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("repos")
    build_demo(base / "demo")
    small_repo(base / "small")
    (base / "notgit").mkdir()
    subprocess.run(["git", "init", "-q", str(base / "empty")], check=True)
    return {"demo": base / "demo", "small": base / "small", "notgit": base / "notgit", "empty": base / "empty"}


@pytest.fixture
def filled_store(tmp_path, repos) -> Path:
    """A store that already holds the demo repository."""
    path = tmp_path / "held" / "lm.duckdb"
    loopmeter.ingest([repos["demo"]], store_path=path)
    return path


# -- bad input ---------------------------------------------------------------------------------------


def corrupt(path: Path) -> Path:
    path.write_bytes(random.Random(7).randbytes(64 * 1024))
    return path


def other_duckdb(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create table sales (region varchar, amount integer); insert into sales values ('north', 3)")
    con.close()
    return path


def newer_store(path: Path, repo: Path) -> Path:
    loopmeter.ingest([repo], store_path=path)
    con = duckdb.connect(str(path))
    con.execute("update meta set value = ? where key = 'store_format'", [str(STORE_FORMAT + 1)])
    con.close()
    return path


# Each case: (command line, the store it touches, what the error line must say). {held} is a store
# holding data, {demo}/{small}/... the repositories; a case may build its own store first.
CASES = {
    "not-a-git-repository": (["ingest", "{notgit}", "--store", "{held}"], "{notgit}: not a git repository"),
    "empty-repository": (["ingest", "{empty}", "--store", "{held}"], "{empty}: the repository has no commits"),
    "nonexistent-path": (["analyze", "{tmp}/nope", "--store", "{held}"], "{tmp}/nope: no such file or directory"),
    "one-bad-path-of-two": (["analyze", "{small}", "{notgit}", "--store", "{held}"], "{notgit}: not a git repository"),
    "corrupt-store": (["ingest", "{small}", "--store", "{corrupt}"], "{corrupt}: not a readable loopmeter store"),
    "duckdb-file-not-a-store": (["report", "--store", "{other}"], "{other}: this DuckDB file is not a loopmeter store"),
    "store-from-newer-loopmeter": (["ingest", "{small}", "--store", "{newer}"],
                                   f"{{newer}}: the store was written by a newer loopmeter (format {STORE_FORMAT + 1}"),
    "bad-adoption-date": (["analyze", "{small}", "--store", "{held}", "--adoption-date", "notadate"],
                          "--adoption-date: 'notadate' is not YYYY-MM-DD or REPO=YYYY-MM-DD"),
    "bad-as-of": (["report", "--store", "{held}", "--as-of", "yesterday"], "--as-of: 'yesterday' is not a date"),
    "negative-window": (["report", "--store", "{held}", "--window-days", "-3"],
                        "--window-days: must be a positive whole number of days, not -3"),
    "report-without-store": (["report", "--store", "{tmp}/none/lm.duckdb"], "{tmp}/none/lm.duckdb: no store here"),
    "unknown-branch": (["ingest", "{small}", "--store", "{held}", "--branch", "nosuch"],
                       "branch 'nosuch' does not exist"),
}


def materialise(case: str, tmp_path: Path, repos: dict[str, Path], held: Path) -> tuple[list[str], str, Path | None]:
    args, expect = CASES[case]
    names = {k: str(v) for k, v in repos.items()}
    names.update(tmp=str(tmp_path), held=str(held))
    store = held
    if "{corrupt}" in " ".join(args):
        store = corrupt(tmp_path / "corrupt.duckdb")
        names["corrupt"] = str(store)
    if "{other}" in " ".join(args):
        store = other_duckdb(tmp_path / "other.duckdb")
        names["other"] = str(store)
    if "{newer}" in " ".join(args):
        store = newer_store(tmp_path / "newer.duckdb", repos["demo"])
        names["newer"] = str(store)
    if "{tmp}/n" in " ".join(args) and "report" in args:
        store = None
    return [a.format(**names) for a in args], expect.format(**names), store


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_on_stderr_and_leaves_the_store_as_it_was(case, tmp_path, repos, filled_store):
    args, expect, store = materialise(case, tmp_path, repos, filled_store)
    before_bytes = store.read_bytes() if store is not None and case == "corrupt-store" else None
    before = snapshot(store) if store is not None and case != "corrupt-store" else None
    p = run(*args, cwd=tmp_path)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("error: ") and expect in lines[0], lines[0]
    assert p.stdout == ""
    if before is not None:
        assert snapshot(store) == before
    if before_bytes is not None:
        assert store.read_bytes() == before_bytes
    assert not (tmp_path / "loopmeter-report.html").exists()
    if case == "report-without-store":
        assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("case", ["not-a-git-repository", "corrupt-store", "bad-adoption-date"])
def test_debug_shows_the_traceback(case, tmp_path, repos, filled_store):
    args, expect, _ = materialise(case, tmp_path, repos, filled_store)
    p = run(*args, "--debug", cwd=tmp_path)
    assert p.returncode != 0
    assert "Traceback (most recent call last)" in p.stderr
    assert expect in p.stderr
    assert "AttributeError" not in p.stderr  # the error itself, not a failure while printing it


def test_a_bad_path_does_not_create_a_store(tmp_path, repos):
    p = run("ingest", repos["notgit"], "--store", tmp_path / "new" / "lm.duckdb", cwd=tmp_path)
    assert p.returncode != 0
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading")
def test_an_unreadable_directory_is_one_clear_line(tmp_path, filled_store):
    locked = tmp_path / "locked"
    GitRepo(locked).commit("x")
    locked.chmod(0)
    try:
        before = snapshot(filled_store)
        p = run("ingest", locked, "--store", filled_store, cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode != 0 and len(lines) == 1 and str(locked) in lines[0] and "Traceback" not in p.stderr
    assert snapshot(filled_store) == before


def test_a_store_damaged_past_its_header_is_reported_not_crashed_on(tmp_path, repos, filled_store):
    # DuckDB checks a block's checksum only when it reads the block, so damage in the middle of the
    # file can surface in the middle of a report or an ingest rather than when the store is opened.
    data = filled_store.read_bytes()
    failures = 0
    # Several places: which blocks a report reads depends on the store's layout (every migration
    # that adds a table moves it), and damage in a free block is rightly never noticed.
    for i, frac in enumerate((0.1, 0.2, 0.3, 0.5, 0.6, 0.7)):
        lo = int(len(data) * frac) // 4096 * 4096
        damaged = bytearray(data)
        damaged[lo : lo + 65536] = random.Random(i).randbytes(65536)
        path = tmp_path / f"damaged{i}.duckdb"
        for attempt in ("report", "ingest"):
            path.write_bytes(bytes(damaged))
            try:
                if attempt == "report":
                    loopmeter.report_from_store(store_path=path, html_path=tmp_path / "r.html")
                else:
                    loopmeter.ingest([repos["demo"]], store_path=path)
            except LoopmeterError as e:
                assert isinstance(e, StoreError) and str(e).startswith(f"{path}: "), e
                failures += 1
    assert failures > 0
    path = tmp_path / "damaged.duckdb"
    lo = int(len(data) * 0.2) // 4096 * 4096
    path.write_bytes(data[:lo] + random.Random(0).randbytes(65536) + data[lo + 65536 :])
    p = run("report", "--store", path, "--as-of", AS_OF, cwd=tmp_path)
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert "Traceback" not in p.stderr and len(lines) == 1 and lines[0].startswith(f"error: {path}: ")


# -- what the commands print and write ---------------------------------------------------------------


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory, repos) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """`loopmeter analyze demo small --json` run once in a fresh working directory."""
    cwd = tmp_path_factory.mktemp("analyze")
    store = cwd / "s.duckdb"
    p = run("analyze", repos["demo"], repos["small"], "--json", "--store", store, "--as-of", AS_OF, cwd=cwd)
    assert p.returncode == 0, p.stderr
    return p, cwd, store


def test_analyze_json_prints_one_document_and_writes_the_html_in_the_cwd(analyzed):
    p, cwd, _ = analyzed
    doc = json.loads(p.stdout)  # the whole of stdout is the one document
    assert doc["schema"] == "loopmeter.report/1"
    html = cwd / "loopmeter-report.html"
    assert html.exists() and html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert "Traceback" not in p.stderr


def test_analyze_of_two_repositories_breaks_the_totals_down(analyzed):
    doc = json.loads(analyzed[0].stdout)
    per = {r["repo"]: r["totals"] for r in doc["repos"]}
    assert set(per) == {"demo", "small"}
    # demo: 10 commits, 8 changes, 5 contributors (test_analyze_demo); small: Frank's 3 direct commits.
    assert (per["demo"]["commits"], per["demo"]["changes"], per["demo"]["contributors"]) == (10, 8, 5)
    assert (per["small"]["commits"], per["small"]["changes"], per["small"]["contributors"]) == (3, 3, 1)
    for key in ADDITIVE:
        assert doc["totals"][key] == per["demo"][key] + per["small"][key], key
    assert doc["totals"]["commits"] == 13 and doc["totals"]["contributors"] == 6


def test_ingest_then_report_gives_the_totals_of_analyze(tmp_path, repos, analyzed):
    store = tmp_path / "s.duckdb"
    p = run("ingest", repos["demo"], repos["small"], "--store", store, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "demo: 12 new commits (full); 10 on HEAD, 8 changes" in p.stdout
    assert "small: 3 new commits (full); 3 on HEAD, 3 changes" in p.stdout
    again = run("ingest", repos["demo"], "--store", store, cwd=tmp_path)
    assert "demo: 0 new commits (unchanged)" in again.stdout  # nothing moved: not read again
    rep = run("report", "--json", "--store", store, "--as-of", AS_OF, cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    reported, analyzed_doc = json.loads(rep.stdout), json.loads(analyzed[0].stdout)
    assert reported["totals"] == analyzed_doc["totals"]
    assert {r["repo"]: r["totals"] for r in reported["repos"]} == {r["repo"]: r["totals"] for r in analyzed_doc["repos"]}
    assert list(tmp_path.glob("*.html")) == []  # report writes HTML only when asked to


def test_people_are_pseudonymous_unless_names_are_asked_for(analyzed, tmp_path):
    p, cwd, store = analyzed
    html = (cwd / "loopmeter-report.html").read_text(encoding="utf-8")
    for who in [*DEMO_PEOPLE, *FRANK]:
        assert who not in p.stdout, who
        assert who not in html, who
    assert re.search(r"dev-[0-9a-f]{8}", html)  # authors appear, as pseudonyms
    named = tmp_path / "named.html"
    p = run("report", "--store", store, "--as-of", AS_OF, "--show-names", "--html", named, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    text = named.read_text(encoding="utf-8")
    # The HTML names the authors of changes with a known cycle time: Bob (M1, D2), Eve (S3), Frank (Second).
    assert "Bob Builder" in text and "Eve Agentic" in text and "Frank Other" in text


@pytest.mark.parametrize("command", [[], ["analyze"], ["ingest"], ["report"]], ids=["loopmeter", "analyze", "ingest", "report"])
def test_help_shows_an_example(command, tmp_path):
    p = run(*command, "--help", cwd=tmp_path)
    assert p.returncode == 0
    assert re.search(r"Example: loopmeter \w+", p.stdout), p.stdout


def test_terminal_output_strips_control_characters_from_repository_text():
    from rich.console import Console

    from loopmeter.report.terminal import escape

    out = escape("evil\x1b[2J[bold]x[/bold]")
    assert "\x1b" not in out and "\ufffd" in out
    c = Console(record=True, width=80)
    c.print(out)
    assert "[bold]x[/bold]" in c.export_text()


def test_output_cut_short_by_the_reader_is_no_traceback(tmp_path):
    # `loopmeter export --help | head -3`: the reader closes the pipe before loopmeter writes.
    env = dict(os.environ, COLUMNS="200")
    p = subprocess.Popen([str(LOOPMETER), "export", "--help"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    p.stdout.close()  # closed long before the interpreter has started and printed the help
    stderr = p.stderr.read().decode()
    p.wait(timeout=120)
    assert "Traceback" not in stderr and "AttributeError" not in stderr, stderr
