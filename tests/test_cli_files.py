"""File-system mistakes a new user makes are one line naming the path, before any long work
(issue 13): a read-only current directory, --html pointing at a directory, a missing directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopmeter.cli import app

from conftest import build_demo

LOOPMETER = Path(sys.executable).with_name("loopmeter")


def _one_line(r) -> str:
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2, r.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output, r.output
    return lines[0]


@pytest.fixture
def demo(tmp_path):
    repo = tmp_path / "demo"
    build_demo(repo)
    return repo


@pytest.mark.parametrize("command", ["report", "legibility"])
def test_html_pointing_at_a_directory_is_one_line(tmp_path, demo, command):
    store = tmp_path / "s.duckdb"
    CliRunner().invoke(app, ["ingest", str(demo), "--store", str(store)])
    args = ["report", "--store", str(store)] if command == "report" else ["legibility", str(demo)]
    line = _one_line(CliRunner().invoke(app, [*args, "--html", str(tmp_path)]))
    assert "is a directory" in line and str(tmp_path) in line


def test_analyze_checks_its_html_path_before_reading_anything(tmp_path, demo):
    store = tmp_path / "s.duckdb"
    line = _one_line(CliRunner().invoke(app, ["analyze", str(demo), "--store", str(store),
                                              "--html", str(tmp_path / "missing" / "r.html")]))
    assert "does not exist" in line
    assert not store.exists()  # refused before the long work


def test_a_read_only_current_directory_is_one_line_not_a_traceback(tmp_path, demo):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: a read-only directory is still writable")
        p = subprocess.run([str(LOOPMETER), "analyze", str(demo)], cwd=ro, capture_output=True, text=True)
        assert p.returncode == 2 and "Traceback" not in p.stderr
        assert "not writable" in p.stderr or "cannot write" in p.stderr
    finally:
        os.chmod(ro, 0o755)


def test_any_os_error_is_one_line_naming_the_path(tmp_path, monkeypatch):
    from loopmeter import api

    def boom(**kw):
        raise OSError(28, "No space left on device", str(tmp_path / "s.duckdb.wal"))

    monkeypatch.setattr(api, "report_from_store", boom)
    line = _one_line(CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.duckdb")]))
    assert "s.duckdb.wal: No space left on device" in line


def test_an_unexpected_error_is_one_line_with_a_pointer_to_debug(tmp_path, monkeypatch):
    from loopmeter import api

    monkeypatch.setattr(api, "report_from_store", lambda **kw: {}["missing"])
    r = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.duckdb")])
    assert r.exit_code == 3 and "Traceback" not in r.output and "--debug" in r.output
    r = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.duckdb"), "--debug"])
    assert isinstance(r.exception, KeyError)  # --debug lets it through


def test_an_unwritable_store_place_is_refused_before_reading(tmp_path, demo, monkeypatch):
    # The same check as a read-only current directory, which root (this CI) cannot make: access() says no.
    import loopmeter.cli as cli

    real = os.access
    monkeypatch.setattr(cli.os, "access", lambda p, mode: False if Path(p) == tmp_path else real(p, mode))
    line = _one_line(CliRunner().invoke(app, ["analyze", str(demo), "--store", str(tmp_path / ".loopmeter" / "s.duckdb"),
                                              "--html", str(tmp_path / "other" / "r.html")]))
    assert "does not exist" in line  # the html path is checked first
    (tmp_path / "other").mkdir()
    monkeypatch.setattr(cli.os, "access", lambda p, mode: False if Path(p) in (tmp_path,) else real(p, mode))
    line = _one_line(CliRunner().invoke(app, ["ingest", str(demo), "--store", str(tmp_path / ".loopmeter" / "s.duckdb")]))
    assert "cannot create the store" in line and not (tmp_path / ".loopmeter").exists()


def test_a_read_only_cwd_with_the_store_elsewhere_fails_before_the_analysis_not_after(tmp_path, demo, monkeypatch):
    # The audit: the whole analysis ran, then writing loopmeter-report.html crashed and printed nothing.
    import loopmeter.cli as cli

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    real = os.access
    monkeypatch.setattr(cli.os, "access", lambda p, mode: False if Path(p).resolve() == cwd else real(p, mode))
    store = tmp_path / "elsewhere" / "s.duckdb"
    line = _one_line(CliRunner().invoke(app, ["analyze", str(demo), "--store", str(store)]))
    assert "loopmeter-report.html" in line and "cannot write there" in line
    assert not store.exists()
