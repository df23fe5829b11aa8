"""Property-based fuzzing of every parser and the OTLP handler (issue 13): no input, however
hostile, gives a traceback: it is read, read in part (bad records skipped and counted), or refused
with one LoopmeterError line. Bounded for the suite (LOOPMETER_FUZZ_EXAMPLES, default 25 per
parser); bench/fuzz.py runs long campaigns."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from fuzzing import is_crash, otlp_request, otlp_runner, targets

EXAMPLES = int(os.environ.get("LOOPMETER_FUZZ_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _run_safely(run, data, tmp: Path) -> None:
    try:
        run(data, tmp)
    except Exception as e:  # noqa: BLE001 - the property: only LoopmeterError may leave a reader
        if is_crash(e):
            raise


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_no_input_makes_a_reader_crash(target, tmp_path):
    store_dir = tmp_path  # one store per parser: examples that succeed accumulate, as runs would

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


def test_no_request_makes_the_otlp_receiver_crash_or_stop(tmp_path):
    run = otlp_runner()

    @SETTINGS
    @given(otlp_request())
    def check(req):
        run(req, tmp_path)

    try:
        check()
    finally:
        run.close()
