"""Property-based fuzzing of every parser and the OTLP handler (issue 13): no input, however
hostile, gives a traceback: it is read, read in part (bad records skipped and counted), or refused
with one LoopmeterError line. Bounded for the suite (LOOPMETER_FUZZ_EXAMPLES, default 10 per
parser); bench/fuzz.py runs long campaigns."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from fuzzing import is_crash, otlp_request, otlp_runner, targets

EXAMPLES = int(os.environ.get("LOOPMETER_FUZZ_EXAMPLES", "10"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _run_safely(run, data, tmp: Path) -> None:
    try:
        run(data, tmp)
    except Exception as e:  # noqa: BLE001 - the property: only LoopmeterError may leave a reader
        if is_crash(e):
            raise


@pytest.fixture(autouse=True)
def _no_restore_points(monkeypatch):
    # Each example is an ingest; a checkpointed, fsynced copy per example would be most of the time.
    monkeypatch.setenv("LOOPMETER_RESTORE_POINT", "0")


@pytest.fixture
def fast_dir(tmp_path):
    """A directory in memory when the machine has one: every example commits to DuckDB, and on a busy
    disk the fsyncs, not the parsing, would take the time."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="loopmeter-fuzz-") as d:
            yield Path(d)
    else:
        yield tmp_path


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_no_input_makes_a_reader_crash(target, fast_dir):
    tmp_path = store_dir = fast_dir  # one store per parser: examples that succeed accumulate, as runs would

    @SETTINGS
    @given(target.inputs)
    def check(data):
        with tempfile.TemporaryDirectory(dir=tmp_path) as d:
            work = Path(d)
            (work / "lm.duckdb").symlink_to(store_dir / "lm.duckdb") if (store_dir / "lm.duckdb").exists() else None
            _run_safely(target.run, data, work)
            if not (store_dir / "lm.duckdb").exists() and (work / "lm.duckdb").exists():
                (work / "lm.duckdb").rename(store_dir / "lm.duckdb")

    check()


def test_no_request_makes_the_otlp_receiver_crash_or_stop(fast_dir):
    tmp_path = fast_dir
    run = otlp_runner()

    @SETTINGS
    @given(otlp_request())
    def check(req):
        run(req, tmp_path)

    try:
        check()
    finally:
        run.close()
