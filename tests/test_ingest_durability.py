"""The durability pass beside the ingest (ingest_durability.py): the rows it stores are exactly
those of the pass run after the ingest in the same process, on a full and on a resumed ingest;
provenance or a failed child send the ingest back to its own pass."""

from __future__ import annotations

import pytest

from gitrepo import GitRepo
from loopmeter import api, ingest_durability
from loopmeter.errors import GitFailed
from loopmeter.store import provenance_load
from loopmeter.store.db import Store
from test_durability import ALICE, BOB, build, day, numbered


def _tables(store) -> dict:
    with Store.open(store) as st:
        out = {t: st.con.execute(f"select * exclude (repo) from {t} order by all").fetchall()
               for t in ("line_origins", "line_deaths", "line_state")}
        out["meta"] = st.con.execute("select value from meta where key like 'line_fates:%'").fetchall()
        return out


@pytest.fixture
def started(monkeypatch):
    """Every ingest may use the second process (the tests' histories are short); records each start."""
    monkeypatch.setattr(ingest_durability, "MIN_COMMITS", 0)
    calls = []
    real = ingest_durability.start

    def spy(*a, **kw):
        b = real(*a, **kw)
        calls.append(b is not None)
        return b

    monkeypatch.setattr(ingest_durability, "start", spy)
    return calls


def _edits(r: GitRepo, n: int, start: int) -> None:
    for i in range(start, start + n):
        r.commit(f"edit {i}", author=ALICE if i % 2 else BOB, date=day(i),
                 files={"a.txt": numbered(f"v{i} line", 3 + i % 5), f"f{i % 3}.txt": numbered(f"f{i}", 4)})


def test_beside_stores_the_rows_of_the_serial_pass(tmp_path, monkeypatch, started):
    monkeypatch.delenv("LOOPMETER_MEMORY_LIMIT", raising=False)
    monkeypatch.setenv("LOOPMETER_BATCH", "5")  # a long history: stored batch by batch, not in a group
    limits, real = [], provenance_load.store_line_fates

    def store_line_fates(st, passes):
        limits.append(st.con.execute("select current_setting('memory_limit')").fetchone()[0])
        return real(st, passes)

    monkeypatch.setattr(provenance_load, "store_line_fates", store_line_fates)
    r = GitRepo(tmp_path / "r")
    _edits(r, 12, 0)
    beside, serial = tmp_path / "beside.duckdb", tmp_path / "serial.duckdb"
    api.ingest([r.path], store_path=beside)
    assert started == [True]
    monkeypatch.setenv("LOOPMETER_DURABILITY_BESIDE", "0")
    api.ingest([r.path], store_path=serial)
    assert started == [True, False]
    # The child's rows are stored under STORE_MEMORY, the serial pass's under the store's own limit.
    with Store.open(tmp_path / "limits.duckdb") as st:
        own = st.con.execute("select current_setting('memory_limit')").fetchone()[0]
        st.con.execute(f"set memory_limit = '{ingest_durability.STORE_MEMORY}'")
        low = st.con.execute("select current_setting('memory_limit')").fetchone()[0]
    assert limits == [low, own] and low != own
    got, want = _tables(beside), _tables(serial)
    assert got == want
    assert len(got["line_origins"]) == 12 and got["line_deaths"]

    # New commits: the child resumes from the stored tree, as the serial pass does.
    _edits(r, 5, 12)
    monkeypatch.delenv("LOOPMETER_DURABILITY_BESIDE")
    api.ingest([r.path], store_path=beside)
    monkeypatch.setenv("LOOPMETER_DURABILITY_BESIDE", "0")
    api.ingest([r.path], store_path=serial)
    assert started[2:] == [True, False]
    assert _tables(beside) == _tables(serial)
    assert len(_tables(beside)["line_origins"]) == 17


def test_provenance_keeps_the_pass_in_the_ingest(tmp_path, started):
    """Git AI notes name AI lines, which the pass needs before it starts: no second process."""
    r, _ = build(tmp_path / "r")
    store = tmp_path / "s.duckdb"
    api.ingest([r.path], store_path=store)
    assert started == [False]
    with Store.open(store) as st:
        assert st.con.execute("select sum(ai_lines_added) from line_origins").fetchone()[0] == 3


def test_a_dead_child_leaves_the_pass_to_the_ingest(tmp_path, monkeypatch, started):
    r = GitRepo(tmp_path / "r")
    _edits(r, 6, 0)
    real = ingest_durability.Beside.finish

    def killed(self, store):
        self.proc.kill()
        self.proc.wait()
        return real(self, store)

    monkeypatch.setattr(ingest_durability.Beside, "finish", killed)
    store, serial = tmp_path / "s.duckdb", tmp_path / "serial.duckdb"
    api.ingest([r.path], store_path=store)
    assert started == [True]
    monkeypatch.setenv("LOOPMETER_DURABILITY_BESIDE", "0")
    api.ingest([r.path], store_path=serial)
    assert _tables(store) == _tables(serial) and len(_tables(store)["line_origins"]) == 6


def test_a_git_failure_in_the_child_is_the_ingests(tmp_path):
    """A child that reports git's failure (not a crash) fails the ingest with git's message."""
    import subprocess
    import sys

    code = ("import pickle, sys; from loopmeter.errors import GitFailed; "
            "pickle.dump(('error', GitFailed('git log -p failed in /r: fatal: bad object')), sys.stdout.buffer)")
    err = open(tmp_path / "err", "w+b")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err)
    b = ingest_durability.Beside(proc, err, "r", "0" * 40)
    with Store.open(tmp_path / "s.duckdb") as st, pytest.raises(GitFailed, match="fatal: bad object"):
        b.finish(st)
    assert proc.returncode == 0


@pytest.fixture
def early(monkeypatch):
    """Records each pass started before the store is opened and what became of it."""
    made = []
    real = ingest_durability.early

    def spy(info):
        b = real(info)
        made.append(b)
        return b

    monkeypatch.setattr(ingest_durability, "early", spy)
    return made


def test_an_early_pass_is_adopted_for_a_new_repository_and_stores_the_serial_rows(tmp_path, monkeypatch, started,
                                                                                  early):
    r = GitRepo(tmp_path / "r")
    _edits(r, 12, 0)
    beside, serial = tmp_path / "beside.duckdb", tmp_path / "serial.duckdb"
    api.ingest([r.path], store_path=beside)
    assert len(early) == 1 and early[0].repo == "r" and started == [True]  # started before the store, then named
    monkeypatch.setenv("LOOPMETER_DURABILITY_BESIDE", "0")
    api.ingest([r.path], store_path=serial)
    assert early[1:] == [None]
    assert _tables(beside) == _tables(serial) and len(_tables(beside)["line_origins"]) == 12


def test_an_early_pass_is_stopped_where_the_store_already_holds_a_pass(tmp_path, monkeypatch, started, early):
    """A store that lost its refs digests (so the repository looks new before it is opened) but
    holds a pass: the early walk from scratch is stopped and the stored pass resumed, as always."""
    r = GitRepo(tmp_path / "r")
    _edits(r, 6, 0)
    store, serial = tmp_path / "s.duckdb", tmp_path / "serial.duckdb"
    api.ingest([r.path], store_path=store)
    with Store.open(store) as st:
        st.con.execute("delete from meta where key like 'refs:%'")
    _edits(r, 4, 6)
    stopped = []
    real_stop = ingest_durability.Beside.stop
    monkeypatch.setattr(ingest_durability.Beside, "stop", lambda self: (stopped.append(self), real_stop(self)))
    api.ingest([r.path], store_path=store)
    assert len(early) == 2 and stopped == [early[1]] and early[1].proc.poll() is not None
    monkeypatch.setenv("LOOPMETER_DURABILITY_BESIDE", "0")
    api.ingest([r.path], store_path=serial)
    assert _tables(store) == _tables(serial) and len(_tables(store)["line_origins"]) == 10
