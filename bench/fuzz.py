"""Long fuzzing campaigns over every parser and the OTLP receiver (issue 13); prints cases and crashes
per parser. The suite runs the same targets (tests/fuzzing.py) with 10 cases each; this runs many
more, generating only (no shrinking), and reports the first crash of each parser with its type.

Usage: python bench/fuzz.py [--cases 2000] [--only xes,codex] [--seed 0]
A crash is any exception other than a LoopmeterError (which the CLI prints as one line).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from fuzzing import is_crash, otlp_request, otlp_runner, targets  # noqa: E402


def campaign(name, strategy, run, cases: int, base: Path, rng_seed: int) -> tuple[int, int, str]:
    count = crashes = 0
    first = ""
    work = Path(tempfile.mkdtemp(dir=base, prefix=name + "-"))

    @seed(rng_seed)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def check(data):
        nonlocal count, crashes, first
        count += 1
        with tempfile.TemporaryDirectory(dir=work) as d:
            try:
                run(data, Path(d))
            except Exception as e:  # noqa: BLE001
                if is_crash(e):
                    crashes += 1
                    if not first:
                        first = "".join(traceback.format_exception_only(type(e), e)).strip()[:300]

    check()
    return count, crashes, first


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--only", default="")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ["LOOPMETER_RESTORE_POINT"] = "0"
    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path(tempfile.gettempdir())
    chosen = [t for t in targets() if not args.only or t.name in args.only.split(",")]
    total = total_crashes = 0
    print(f"{'parser':22} {'cases':>7} {'crashes':>8} {'seconds':>8}")
    for t in chosen:
        t0 = time.perf_counter()
        n, c, first = campaign(t.name, t.inputs, t.run, args.cases, base, args.seed)
        total, total_crashes = total + n, total_crashes + c
        print(f"{t.name:22} {n:>7,} {c:>8,} {time.perf_counter() - t0:>8.1f}" + (f"   first: {first}" if first else ""),
              flush=True)
    if not args.only or "otlp" in args.only:
        run = otlp_runner()
        t0 = time.perf_counter()
        try:
            n, c, first = campaign("otlp", otlp_request(), run, args.cases, base, args.seed)
        finally:
            run.close()
        total, total_crashes = total + n, total_crashes + c
        print(f"{'otlp-receiver':22} {n:>7,} {c:>8,} {time.perf_counter() - t0:>8.1f}" + (f"   first: {first}" if first else ""))
    print(f"{'total':22} {total:>7,} {total_crashes:>8,}")


if __name__ == "__main__":
    main()
