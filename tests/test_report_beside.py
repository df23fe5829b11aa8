"""The first lift design computed by a worker on the second core (report/beside.py) gives the
document computed in one process, byte for byte; a worker that fails, dies or hangs only costs the
time it took: the report computes the design itself and never waits longer than the timeout.

The reports with a worker run in a Python of their own: the worker is forked before the store
opens, which a test process that has opened DuckDB stores already cannot promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import loopmeter
from lift_sim import Team, as_of, write_repo
from loopmeter.report import beside
from loopmeter.report.document import _from_worker, to_json

TEAM = Team(authors=5, weeks=16, adoption_week=8)

# A report with the worker, in a fresh process. argv: store, as_of, what the worker does ("run",
# "die": it kills itself, "hang": it sleeps past the timeout). Prints the worker's failure (or
# "answered") on the first line, the document on the rest.
SCRIPT = r"""
import os, signal, sys, time
from datetime import datetime
from loopmeter import api
from loopmeter.report import beside, document

store, when, mode = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3]
if mode == "die":
    def first_design_alone(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    document.first_design_alone = first_design_alone
elif mode == "hang":
    def first_design_alone(*a, **k):
        time.sleep(120)
    document.first_design_alone = first_design_alone
seen = []
result = beside.Worker.result
def spy(self, timeout=None):
    value = result(self, timeout)
    seen.append(("answered" if value is not None else f"failed: {self.failure}", self.pid))
    return value
beside.Worker.result = spy
from loopmeter.lift import designs
computed = []
before_after = designs.before_after
def counted(*a, **k):
    computed.append(os.getpid())
    return before_after(*a, **k)
designs.before_after = counted
doc = api.report_from_store(store_path=store, as_of=when, beside=True)
doc.pop("generated_at")
status, pid = seen[0] if seen else ("no worker", 0)
status += f" (before-after computed here {computed.count(os.getpid())} time(s))"
try:
    os.kill(pid, 0)
    status += " (worker still running)"
except (ProcessLookupError, PermissionError):
    pass
print(status)
print(document.to_json(doc), end="")
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("beside")
    write_repo(root / "r", TEAM, seed=7)
    path = root / "lm.duckdb"
    loopmeter.ingest([root / "r"], store_path=path)
    return path


def _with_worker(store, mode: str, **env) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(store), as_of(TEAM).isoformat(), mode],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "LOOPMETER_REPORT_BESIDE": "1",
                              **env}).stdout
    status, doc = out.split("\n", 1)
    return status, doc


@pytest.fixture(scope="module")
def alone(store) -> str:
    """The document computed in this process, without a worker."""
    doc = loopmeter.report_from_store(store_path=store, as_of=as_of(TEAM))
    doc.pop("generated_at")
    return to_json(doc)


@pytest.mark.skipif(beside.cpus() < 2 or not hasattr(os, "fork"), reason="the worker needs fork and a second CPU")
def test_the_workers_design_gives_the_document_of_one_process(store, alone):
    status, doc = _with_worker(store, "run")
    assert status == "answered (before-after computed here 0 time(s))"  # the worker's design was used
    assert doc == alone
    designs = [d["design"] for d in json.loads(doc)["lift_designs"]["designs"]]
    assert designs == ["before-after", "ai-vs-human"]  # the order of one process, though computed apart


@pytest.mark.skipif(beside.cpus() < 2 or not hasattr(os, "fork"), reason="the worker needs fork and a second CPU")
def test_a_worker_that_dies_or_hangs_costs_nothing_but_its_time(store, alone):
    status, doc = _with_worker(store, "die")
    assert status == "failed: the worker ended without an answer (before-after computed here 1 time(s))", status
    assert doc == alone
    status, doc = _with_worker(store, "hang", LOOPMETER_BESIDE_TIMEOUT="0.5")
    # ... and it was ended (no "still running").
    assert status == "failed: no answer within 0.5 s (before-after computed here 1 time(s))", status
    assert doc == alone


def _square(x: int) -> int:
    return x * x


def _raise() -> None:
    raise ValueError("no such thing")


def _exit_now() -> None:
    os._exit(3)


def _sleep() -> None:
    time.sleep(60)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_worker_answers_fails_and_is_always_reaped(monkeypatch):
    from loopmeter.store import db

    monkeypatch.setattr(beside, "cpus", lambda: 2)
    monkeypatch.setenv("LOOPMETER_REPORT_BESIDE", "1")
    monkeypatch.setattr(db, "OPENED", False)  # these workers never touch a store
    with beside.fork_worker() as w:
        assert w.submit(_square, 12)
        assert w.result() == 144 and w.failure is None
        assert w.result() is None  # one answer per worker
    for fn, why in ((_raise, "ValueError: no such thing"), (_exit_now, "the worker ended without an answer")):
        with beside.fork_worker() as w:
            assert w.submit(fn)
            assert w.result() is None and w.failure == why
    w = beside.fork_worker()
    assert w.submit(_sleep)
    assert w.result(timeout=0.2) is None and w.failure == "no answer within 0.2 s"
    with pytest.raises(ChildProcessError):
        os.waitpid(w.pid, os.WNOHANG)  # ended and reaped
    w = beside.fork_worker()
    w.close()  # never given a call: it ends, and is reaped
    with pytest.raises(ChildProcessError):
        os.waitpid(w.pid, os.WNOHANG)
    assert not w.submit(_square, 2)
    # Unpicklable call: refused before sending, the worker ended.
    w = beside.fork_worker()
    assert not w.submit(lambda: 1) and "could not send" in w.failure
    with pytest.raises(ChildProcessError):
        os.waitpid(w.pid, os.WNOHANG)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_no_worker_when_turned_off_on_one_cpu_with_every_core_busy_or_a_store_opened(monkeypatch, store):
    from loopmeter.store import db

    assert db.OPENED  # the fixture ingested: this process has had DuckDB open
    monkeypatch.setattr(beside, "cpus", lambda: 2)
    monkeypatch.setenv("LOOPMETER_REPORT_BESIDE", "1")
    assert beside.fork_worker() is None  # a fork would copy an open database half-way
    monkeypatch.setattr(db, "OPENED", False)
    monkeypatch.setattr(beside, "load", lambda: 0.5)
    monkeypatch.setenv("LOOPMETER_REPORT_BESIDE", "0")
    assert beside.fork_worker() is None
    monkeypatch.delenv("LOOPMETER_REPORT_BESIDE")
    monkeypatch.setattr(beside, "load", lambda: 2.0)
    assert beside.fork_worker() is None  # both cores busy: a worker would only add its CPU
    monkeypatch.setenv("LOOPMETER_REPORT_BESIDE", "1")
    with beside.fork_worker() as w:  # forced
        assert w is not None and w.submit(_square, 3) and w.result() == 9
    monkeypatch.setattr(beside, "cpus", lambda: 1)
    assert beside.fork_worker() is None


class _Answered:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def test_the_workers_design_is_used_only_for_the_same_design_and_adoption_dates():
    design = {"design": "before-after"}
    take = _from_worker(_Answered(({"date": "2024-03-04", "source": "detected"}, design)))
    assert take("before-after", {"date": "2024-03-04", "source": "detected"}) is design
    assert take("before-after", {"date": "2024-03-11", "source": "detected"}) is None
    assert take("ai-vs-human", {"date": "2024-03-04", "source": "detected"}) is None
    assert _from_worker(_Answered((None, {"design": "ai-vs-human"})))("ai-vs-human", None) == {"design": "ai-vs-human"}
    assert _from_worker(_Answered(None))("before-after", {"date": "2024-03-04"}) is None
    assert _from_worker(None) is None


def test_the_first_design_is_computed_once_and_kept_in_its_place():
    from loopmeter.lift.designs import computed_designs

    ran = []

    def design(name):
        def run():
            ran.append(name)
            return {"design": name}
        return name, run

    todo = [design("before-after"), design("ai-vs-human")]
    assert computed_designs(todo, None, only_first=True) == [{"design": "before-after"}] and ran == ["before-after"]
    ran.clear()
    asked = []
    got = computed_designs(todo, {"date": "x"}, lambda name, adoption: asked.append((name, ran[:])) or {"design": name, "w": 1})
    # The others first, then the worker's first design, in the document's order; none computed twice.
    assert got == [{"design": "before-after", "w": 1}, {"design": "ai-vs-human"}]
    assert asked == [("before-after", ["ai-vs-human"])] and ran == ["ai-vs-human"]
    ran.clear()
    assert computed_designs(todo, None, lambda name, adoption: None) == [{"design": "before-after"}, {"design": "ai-vs-human"}]
    assert sorted(ran) == ["ai-vs-human", "before-after"]
    assert computed_designs([], None, only_first=True) == []
