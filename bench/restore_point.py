"""What a restore point costs (issue 13): an ingest into an existing store, with and without the
checkpointed copy loopmeter makes first (LOOPMETER_RESTORE_POINT=0 turns it off), same run.

Two cases on a real repository: a daily no-op ingest (nothing new: the copy is most of the work) and
an incremental ingest of the last N commits. Medians of --repeat runs, each in a fresh copy of the
base store. Usage: python bench/restore_point.py /path/to/mirror [--new 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOPMETER = Path(sys.executable).with_name("loopmeter")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True, text=True).stdout.strip()


def ingest(repo: Path, store: Path, restore: bool) -> float:
    env = dict(os.environ, LOOPMETER_RESTORE_POINT="1" if restore else "0")
    t = time.perf_counter()
    subprocess.run([str(LOOPMETER), "ingest", str(repo), "--store", str(store), "--no-pull-refs"], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mirror")
    ap.add_argument("--new", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        repo = Path(d) / "repo.git"
        subprocess.run(["git", "clone", "-q", "--bare", "--no-local", args.mirror, str(repo)], check=True)
        head = git(repo, "symbolic-ref", "HEAD")
        tip = git(repo, "rev-parse", "HEAD")
        git(repo, "update-ref", head, f"HEAD~{args.new}")
        base = Path(d) / "base.duckdb"
        ingest(repo, base, False)
        git(repo, "update-ref", head, tip)
        full = Path(d) / "full.duckdb"
        shutil.copyfile(base, full)
        ingest(repo, full, False)
        print(f"store: {full.stat().st_size / 1e6:.1f} MB after the incremental ingest; "
              f"{int(git(repo, 'rev-list', '--count', 'HEAD')):,} commits")
        for label, start in (("incremental (+%d commits)" % args.new, base), ("no-op (nothing new)", full)):
            times = {True: [], False: []}
            for _ in range(args.repeat):
                for restore in (False, True):
                    s = Path(d) / "run.duckdb"
                    shutil.copyfile(start, s)
                    Path(str(s) + ".restore").unlink(missing_ok=True)
                    times[restore].append(ingest(repo, s, restore))
            off, on = statistics.median(times[False]), statistics.median(times[True])
            print(f"{label:28} without {off:6.2f} s   with restore point {on:6.2f} s   ratio {on / off:.2f}x")


if __name__ == "__main__":
    main()
