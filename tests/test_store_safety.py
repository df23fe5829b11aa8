"""A store that cannot be lost (issue 13): read-only opens, no network, a restore point before each
ingest, `store restore`, `store forget`, a reader during an ingest, and kill -9 at several points of
an incremental ingest. Real git repositories and real DuckDB files throughout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import loopmeter
from loopmeter import api
from loopmeter.cli import app
from loopmeter.errors import StoreError
from loopmeter.store.db import Store, restore_path

from conftest import build_demo
from stores import rows, snapshot
from test_ingest_robustness import build_linear, counts

LOOPMETER = Path(sys.executable).with_name("loopmeter")
AS_OF = "2024-02-01"


def _git(path, *args) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_a_new_store_is_private_to_its_owner(tmp_path):
    p = tmp_path / "fresh" / "lm.duckdb"
    Store.open(p).close()
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700


def test_a_sqlite_file_as_store_is_one_line_and_never_reaches_for_an_extension(tmp_path, monkeypatch):
    f = tmp_path / "other.db"
    sqlite3.connect(f).execute("create table t(x)").connection.commit()
    # Were DuckDB to try installing its sqlite extension it would go to the network: no proxy answers.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    r = CliRunner().invoke(app, ["report", "--store", str(f)])
    assert r.exit_code == 2 and "SQLite" in r.output and "Traceback" not in r.output
    con = duckdb.connect()  # and a store connection has autoload off (a query needing one fails, offline)
    s = Store.open(tmp_path / "s.duckdb")
    assert s.con.execute("select current_setting('autoinstall_known_extensions'), "
                         "current_setting('autoload_known_extensions')").fetchone() == (False, False)
    s.close()
    con.close()


@pytest.fixture
def demo_store(tmp_path):
    repo = tmp_path / "demo"
    build_demo(repo)
    store = tmp_path / "st" / "lm.duckdb"
    loopmeter.ingest([repo], store_path=store)
    return repo, store


def test_report_lift_and_export_read_a_read_only_store(demo_store, tmp_path):
    repo, store = demo_store
    before = snapshot(store)
    os.chmod(store, 0o400)
    os.chmod(store.parent, 0o500)
    try:
        if os.access(store, os.W_OK):
            pytest.skip("running as root: a read-only file is still writable")
        doc = loopmeter.report_from_store(store_path=store)
        assert doc["totals"]
        api.lift(store_path=store, adoption_dates=["2024-01-06"], n_boot=50)
        api.export("ocel-json", tmp_path / "out.jsonocel", store_path=store)
    finally:
        os.chmod(store.parent, 0o700)
        os.chmod(store, 0o600)
    assert snapshot(store) == before


def test_report_lift_and_export_run_while_another_process_reads_the_store(demo_store, tmp_path):
    # DuckDB lets several processes read a file only if none writes: a read-write open would fail here.
    _, store = demo_store
    other = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(store)!r}, "
                              "read_only=True); print('held', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        assert loopmeter.report_from_store(store_path=store)["totals"]
        api.lift(store_path=store, adoption_dates=["2024-01-06"], n_boot=50)
        api.export("ocel-json", tmp_path / "out.jsonocel", store_path=store)
    finally:
        other.kill()
        other.wait()


def test_readers_open_the_store_read_only_together(demo_store):
    _, store = demo_store
    a = Store.open_read(store)
    b = Store.open_read(store)  # two readers at once: only possible read-only
    try:
        with pytest.raises(duckdb.Error):
            a.con.execute("create table x(y int)")
        assert a.con.execute("select count(*) from commits").fetchone() == b.con.execute(
            "select count(*) from commits").fetchone()
    finally:
        a.close()
        b.close()


def test_an_ingest_into_an_existing_store_leaves_a_restore_point_that_store_restore_puts_back(demo_store, tmp_path):
    repo, store = demo_store
    rp = restore_path(store)
    assert not rp.exists()  # the ingest that created the store had nothing to keep
    good = snapshot(store)
    loopmeter.ingest([repo], store_path=store)  # unchanged refs: the store is not even opened
    assert not rp.exists()
    _git(repo, "update-ref", "refs/heads/side", "HEAD")  # new refs, no new commit: the store is rewritten
    loopmeter.ingest([repo], store_path=store)  # its restore point is this store
    assert rp.exists() and stat.S_IMODE(rp.stat().st_mode) == 0o600
    # Now the crash the audit saw: the file is unreadable.
    with store.open("r+b") as f:
        f.seek(4096)
        f.write(b"\xde\xad" * 8192)
    r = CliRunner().invoke(app, ["report", "--store", str(store)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["store", "restore", "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert snapshot(store) == good
    kept = list(store.parent.glob("lm.duckdb.damaged-*"))
    assert kept and kept[0].stat().st_size > 0  # the damaged file is kept, not deleted
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_one_ingest_command_of_several_sources_takes_one_restore_point_from_before_all_of_them(demo_store, tmp_path):
    # Each source used to open the store with its own restore point, so `store restore` after a
    # command that read a repository and an event log went back only to before the last of them.
    repo, store = demo_store
    good = snapshot(store)
    _git(repo, "update-ref", "refs/heads/side", "HEAD")  # the repository is read again
    log = tmp_path / "desk.csv"
    log.write_text("case,activity,timestamp\nT1,open,2024-01-02T09:00:00Z\nT1,close,2024-01-03T09:00:00Z\n")
    r = CliRunner().invoke(app, ["ingest", str(repo), "--events", str(log), "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert rows(store, "select count(*) from event_logs") == [(1,)]
    assert snapshot(store) != good
    r = CliRunner().invoke(app, ["store", "restore", "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert snapshot(store) == good  # neither the log nor the re-read repository is left
    assert rows(store, "select count(*) from event_logs") == [(0,)]


def test_store_restore_without_a_restore_point_is_one_line(tmp_path):
    r = CliRunner().invoke(app, ["store", "restore", "--store", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 2 and "no restore point" in r.output and len(r.output.strip().splitlines()) == 1


def _dump(store) -> str:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return json.dumps([con.execute(f"select * from {t}").fetchall() for t in
                           ("actors", "commits", "items", "events")], default=str).lower()
    finally:
        con.close()


def test_forget_removes_a_persons_identity_and_text_and_no_metric_changes(demo_store):
    repo, store = demo_store
    doc = loopmeter.report_from_store(store_path=store, as_of=None)
    assert "bob builder" in _dump(store) and "bob@example.com" in _dump(store)
    r = CliRunner().invoke(app, ["store", "forget", "--person", "BOB@example.com", "--store", str(store)])
    assert r.exit_code == 0, r.output
    after = loopmeter.report_from_store(store_path=store)
    for d in (doc, after):
        d.pop("generated_at")
    assert json.dumps(after, sort_keys=True, default=str) == json.dumps(doc, sort_keys=True, default=str)
    dump = _dump(store)
    assert "bob@example.com" not in dump and "bob builder" not in dump
    assert "alice@example.com" in dump  # only Bob is forgotten
    assert "noreply@anthropic.com" in dump  # his commit's agent trailer stays: it is not him
    r = CliRunner().invoke(app, ["store", "forget", "--person", "nobody@example.com", "--store", str(store)])
    assert r.exit_code == 2 and "nobody" in r.output


def test_a_reader_during_an_ingest_neither_aborts_it_nor_is_told_the_store_is_damaged(tmp_path, monkeypatch):
    # The audit: a reader opened the store between the ingest's close and reopen; the ingest then
    # stopped with "the store is damaged", leaving commits without changes.
    repo = tmp_path / "r"
    build_linear(repo, 200)
    store = tmp_path / "lm.duckdb"
    held = threading.Event()
    real = Store.reopen

    def reopen_while_read(self):
        self.release()  # as the real reopen does first: a held group commits before the close
        self.con.close()
        reader = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(store)!r}, "
                                   "read_only=True); print('held', flush=True); time.sleep(1.5)"],
                                  stdout=subprocess.PIPE, text=True)
        assert reader.stdout.readline().strip() == "held"
        held.set()
        self.con = duckdb.connect(":memory:")  # replaced at once by the real reopen below
        real(self)
        reader.wait(timeout=30)

    monkeypatch.setattr(Store, "reopen", reopen_while_read)
    # The reopen happens only after a long ingest (ingestion.REOPEN_AFTER commits); make this one long.
    monkeypatch.setattr("loopmeter.ingestion.REOPEN_AFTER", 1)
    res = loopmeter.ingest([repo], store_path=store)[0]
    assert held.is_set() and res.new_commits == 200
    assert rows(store, "select count(*) from items where kind = 'change'") == [(200,)]


def test_a_reader_holding_the_store_longer_than_the_wait_is_named_by_pid(tmp_path, monkeypatch):
    store = tmp_path / "lm.duckdb"
    Store.open(store).close()
    reader = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(store)!r}); "
                               "print('held', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=rf"in use by another process \(PID {reader.pid}.*retry"):
            Store.open(store)
    finally:
        reader.kill()
        reader.wait()


def test_kill_9_at_several_points_of_an_incremental_ingest_resumes_to_the_exact_rows(tmp_path):
    repo = tmp_path / "big"
    build_linear(repo, 2400)
    tip = _git(repo, "rev-parse", "HEAD")
    _git(repo, "update-ref", "refs/heads/main", "HEAD~1200")
    base = tmp_path / "base.duckdb"
    loopmeter.ingest([repo], store_path=base)
    _git(repo, "update-ref", "refs/heads/main", tip)
    whole = tmp_path / "whole.duckdb"
    shutil.copyfile(base, whole)
    env = dict(os.environ, LOOPMETER_BATCH="20")
    t0 = time.monotonic()
    subprocess.run([str(LOOPMETER), "ingest", str(repo), "--store", str(whole)], env=env, check=True,
                   capture_output=True)
    took = time.monotonic() - t0
    killed_runs = 0
    for i, fraction in enumerate((0.15, 0.45, 0.75, 0.92)):
        store = tmp_path / f"k{i}.duckdb"
        delay = took * fraction
        for _ in range(4):  # a run quicker than the timed one ends before the kill: try sooner
            shutil.copyfile(base, store)
            proc = subprocess.Popen([str(LOOPMETER), "ingest", str(repo), "--store", str(store)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            if proc.wait(timeout=30) == -signal.SIGKILL:
                killed_runs += 1
                break
            delay *= 0.6
        # Whatever the point, the store opens and the same command resumes to the exact rows.
        Store.open(store).close()
        loopmeter.ingest([repo], store_path=store)
        assert counts(store) == counts(whole), fraction
        for q in ("select sha, parents, author_time, files, added from commits order by sha",
                  "select item_id, started_at, done_at, size_lines from items order by item_id"):
            assert rows(store, q) == rows(whole, q), fraction
    assert killed_runs >= 3  # the points fell inside the ingest, not after it


@pytest.mark.parametrize("fmt", ["ocel-json", "ocel-sqlite", "xes", "parquet"])
def test_exports_carry_no_clear_identity_unless_show_names(demo_store, tmp_path, fmt):
    _, store = demo_store
    out = tmp_path / f"out-{fmt}"
    api.export(fmt, out, store_path=store)
    blob = _exported_text(out)
    for clear in ("alice@example.com", "alice example", "bob@example.com", "bob builder"):
        assert clear not in blob, (fmt, clear)
    if fmt == "parquet":
        named = tmp_path / "named"
        api.export(fmt, named, store_path=store, show_names=True)
        assert "alice@example.com" in _exported_text(named)


def _exported_text(out: Path) -> str:
    """Every value of an export as lower-case text (Parquet read back, since its pages are compressed)."""
    files = [out] if out.is_file() else sorted(p for p in out.rglob("*") if p.is_file())
    parts = []
    for f in files:
        if f.suffix == ".parquet":
            con = duckdb.connect()
            parts.append(repr(con.execute("select * from read_parquet(?)", [str(f)]).fetchall()))
            con.close()
        else:
            parts.append(f.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts).lower()
def test_forget_leaves_no_copy_of_the_identity_in_the_file_or_its_restore_point(demo_store):
    # A forgotten email stayed readable in the store file's freed blocks and in the restore point
    # (a full copy taken before the last ingest), which `strings` showed on a real history.
    repo, store = demo_store
    (repo / "more.txt").write_text("more\n")
    _git(repo, "add", "more.txt")
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "More"], check=True, env=dict(
        os.environ, GIT_AUTHOR_NAME="Alice Example", GIT_AUTHOR_EMAIL="alice@example.com",
        GIT_COMMITTER_NAME="Alice Example", GIT_COMMITTER_EMAIL="alice@example.com",
        GIT_AUTHOR_DATE="2024-01-20T10:00:00Z", GIT_COMMITTER_DATE="2024-01-20T10:00:00Z"))
    loopmeter.ingest([repo], store_path=store)
    rp = restore_path(store)
    assert b"bob@example.com" in rp.read_bytes().lower()
    doc = loopmeter.report_from_store(store_path=store, as_of=None)
    r = CliRunner().invoke(app, ["store", "forget", "--person", "bob@example.com", "--store", str(store)])
    assert r.exit_code == 0, r.output
    for f in (store, rp):
        raw = f.read_bytes().lower()
        assert b"bob@example.com" not in raw and b"bob builder" not in raw, f
        assert b"alice@example.com" in raw
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    after = loopmeter.report_from_store(store_path=store)
    for d in (doc, after):
        d.pop("generated_at")
    assert json.dumps(after, sort_keys=True, default=str) == json.dumps(doc, sort_keys=True, default=str)
    with Store.open(rp, create=False, read_only=True) as s:  # the restore point is still a whole store
        assert s.con.execute("select count(*) from commits").fetchone()[0] > 0
