"""The terminal as a person meets it: version, one-line usage errors, value names in help, progress
steps, --json for ingest and export, weekly tables without gaps, 100 columns, no library warnings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from rich.console import Console

from conftest import ALICE, BOB
from gitrepo import GitRepo
from loopmeter import __version__, api
from loopmeter.cli import command
from loopmeter.ingestion import Progress
from loopmeter.report.terminal import render_terminal, with_empty_weeks

PY = [sys.executable, "-m", "loopmeter"]


def lm(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def gappy(tmp_path_factory):
    """Changes in the weeks of 2024-01-01, 01-08 and 01-29: two weeks without any between."""
    root = tmp_path_factory.mktemp("gappy")
    r = GitRepo(root / "gappy")
    r.commit("one", author=ALICE, date="2024-01-02T09:00:00+00:00")
    r.commit("two", author=BOB, date="2024-01-09T09:00:00+00:00")
    r.commit("three", author=BOB, date="2024-01-30T09:00:00+00:00")
    store = root / "lm.duckdb"
    api.ingest([root / "gappy"], store_path=store)
    return root / "gappy", store


def run_main(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    """`loopmeter ARGS` through `cli.main`, as the console script runs it (in-process: no start-up cost)."""
    from loopmeter.cli import main

    monkeypatch.setattr(sys, "argv", ["loopmeter", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def test_version_and_one_line_usage_errors(capsys, monkeypatch):
    assert run_main(capsys, monkeypatch, "--version") == (0, f"loopmeter {__version__}\n", "")
    for args, message in ((["report", "--bogus"], "error: No such option: --bogus; see `loopmeter report --help`"),
                          (["report", "--window-days", "x"], "error: Invalid value for '--window-days'"),
                          (["nope"], "error: No such command 'nope'; see `loopmeter --help`")):
        code, out, err = run_main(capsys, monkeypatch, *args)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and err.startswith(message), err
        assert not set("╭╰│─") & set(err)


def _help(capsys, *args) -> str:
    command().main(args=[*args, "--help"], prog_name="loopmeter", standalone_mode=False)
    return capsys.readouterr().out


def test_help_shows_value_names_not_python_types(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    for name in [None, *command().commands]:
        text = _help(capsys, *([name] if name else []))
        assert "Usage: loopmeter" in text
        assert not re.search(r"<(bool|str|int|float|path|list\[[A-Za-z]+\])>", text), (name, text)
    text = _help(capsys, "report")
    assert re.search(r"--from\s+YYYY-MM-DD", text) and re.search(r"--store\s+PATH", text)
    assert re.search(r"--json\s+Print", text)  # a flag takes no value
    assert "PATH..." in _help(capsys, "analyze")


def test_ingest_and_report_name_their_steps(gappy, tmp_path):
    repo, _ = gappy
    store = tmp_path / "fresh.duckdb"

    class Steps(Progress):
        def __init__(self):
            self.steps = []

        def step(self, name):
            self.steps.append(name)

    p = Steps()
    api.ingest([repo], store_path=store, progress=p)
    # The repository's steps end in "done"; linking pull requests runs once for the group after it.
    assert p.steps[0] == "finishing the ingest" and p.steps[-1] == "linking pull requests and issues"
    assert {"deriving changes", "done"} <= set(p.steps) and p.steps.index("done") < len(p.steps) - 1
    steps: list[str] = []
    api.report_from_store(store_path=store, progress=steps.append)
    # Each part of the report is named once as it starts (other parts may be added over time).
    assert steps[0] == "counting changes" and len(set(steps)) == len(steps)
    assert {"weekly series", "lift designs", "flow metrics"} <= set(steps)


def test_ingest_and_export_json(gappy, tmp_path):
    repo, store = gappy
    r = lm("ingest", str(repo), "--store", str(store), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    want = {"repo": "gappy", "path": str(repo), "new_commits": 0, "head_commits": 3, "changes": 3,
            "incremental": True, "warnings": []}
    assert len(out["git"]) == 1 and {k: out["git"][0][k] for k in want} == want
    assert (out["api"], out["sessions"], out["event_logs"]) == ([], [], [])
    r = lm("export", str(tmp_path / "log.xes"), "--format", "xes", "--store", str(store), "--json")
    assert r.returncode == 0, r.stderr
    x = json.loads(r.stdout)
    assert (x["format"], x["path"], x["items"]) == ("xes", str(tmp_path / "log.xes"), 3)


def test_weekly_table_has_empty_weeks_and_fits_100_columns_with_whole_numbers(gappy, capsys, monkeypatch):
    repo, store = gappy
    doc = api.report_from_store(store_path=store)
    assert [w["week_start"] for w in doc["weekly"]] == ["2024-01-01", "2024-01-08", "2024-01-29"]
    filled = with_empty_weeks(doc["weekly"])
    assert [(w["week"], w["changes"]) for w in filled] == [
        ("2024-W01", 1), ("2024-W02", 1), ("2024-W03", 0), ("2024-W04", 0), ("2024-W05", 1)]
    console = Console(width=100, record=True, force_terminal=True, color_system="truecolor", highlight=False)
    render_terminal(doc, console)
    text = console.export_text(styles=False)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "…" not in text  # no cut header or cell
    # A week with nobody has no rate per person: a dash like its cycle time, never "unknown" (which reads
    # as missing data; GlareDB/glaredb showed three such weeks in a row).
    assert re.search(r"│ 2024-W03\s+│\s+0 │\s+0 │\s+0 │\s+0 │\s+0 │\s+— │\s+— │", text)
    # The CLI renders the same with colour forced: every ratio is one run of text, not split by a highlighter.
    r = lm("report", "--store", str(store), env={"FORCE_COLOR": "1", "COLUMNS": "100", "TTY_COMPATIBLE": "1"})
    assert r.returncode == 0, r.stderr
    assert "\x1b[" in r.stdout and not re.search(r"\d\x1b\[[0-9;]*m[\d.x]", r.stdout)


def test_library_warnings_stay_off_the_terminal_unless_debug(gappy):
    repo, store = gappy
    # A library warning raised while a report is computed (as statsmodels' RuntimeWarning was); the
    # report itself is stood in for, so that only the command's handling of the warning is timed.
    code = ("import sys, warnings; from loopmeter import api, cli\n"
            "def warned(**kw):\n"
            "    warnings.warn('invalid value encountered in sqrt', RuntimeWarning)\n"
            "    return {'schema': 'stand-in'}\n"
            "api.report_from_store = warned\n"
            "sys.argv = ['loopmeter', *sys.argv[1:]]\n"
            "cli.main()\n")
    args = ["report", "--json", "--store", str(store)]
    quiet = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and json.loads(quiet.stdout) == {"schema": "stand-in"}
    assert "Warning" not in quiet.stderr
    loud = subprocess.run([sys.executable, "-c", code, *args, "--debug"], capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0 and "RuntimeWarning: invalid value encountered in sqrt" in loud.stderr


def test_a_sets_progress_shows_each_repositorys_own_time_and_the_sets_commits_and_rate():
    # On eight real repositories every bar after the first read 0:00:00 while it ran (Rich's reset
    # kept the stop time of the repository before), and the set's bar said only "3/8 repositories"
    # while numpy's 72k commits took two minutes of the seven.
    from loopmeter.cli import _RichProgress

    now = [100.0]
    p = _RichProgress(Console(file=open(os.devnull, "w"), width=160, force_terminal=True))
    p.bar.get_time = lambda: now[0]
    p.start_set(2)
    p.start("small", 1000)
    now[0] += 5
    p.advance(1000)
    p.step("deriving changes")
    p.step("done")
    p.repo_done()
    p.start("big", 4000)
    now[0] += 10
    p.advance(2000)
    out = Console(record=True, width=200, file=open(os.devnull, "w"))
    out.print(p.bar.make_tasks_table(p.bar.tasks))
    p.bar.stop()
    lines = out.export_text().splitlines()
    assert len(lines) == 2
    assert "1/2" in lines[0] and "3,000 commits read (200/s)" in lines[0] and "0:00:15" in lines[0]
    assert "big" in lines[1] and "2000/4000" in lines[1] and "0:00:10" in lines[1]
