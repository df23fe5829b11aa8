"""A huge single commit (vendoring, a generated tree): `loopmeter ingest` against `git log --numstat`.

Usage: python bench/huge_commit.py [--files 50000] [--small 1000]

Builds two repositories (a start commit, then one commit adding N files of two lines each): one
with `--small` files, one with `--files`. For each it runs `git log --numstat` (the baseline) and
`loopmeter ingest` (into a new store) and prints CPU seconds, wall seconds and peak RSS of each,
the ratio to the baseline, and what the extra files cost in memory per 1,000 files (the ingest
must stay bounded: a commit is held whole, so its memory grows with its files, not with history).
Each side's peak RSS is `ru_maxrss` of that child alone (`os.wait4`), so the two runs do not mix.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C", LOOPMETER_RESTORE_POINT="0",
           PYTHONPATH=str(HERE.parent / "src"), OPENBLAS_NUM_THREADS="1")


def build(path: Path, files: int) -> None:
    def git(*args: str, when: str = "2024-01-01T10:00:00+00:00") -> None:
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True,
                       env=dict(ENV, HOME=str(path), GIT_AUTHOR_NAME="A", GIT_AUTHOR_EMAIL="a@example.com",
                                GIT_COMMITTER_NAME="A", GIT_COMMITTER_EMAIL="a@example.com",
                                GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when))

    path.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    git("config", "gc.auto", "0")  # a background `gc --auto` would still be packing when the folder is removed
    (path / "start.txt").write_text("start\n")
    git("add", "-A")
    git("commit", "-q", "-m", "start")
    for i in range(files):
        d = path / "vendor" / f"d{i // 500}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text(f"{i}\n{i}\n")
    git("add", "-A")
    git("commit", "-q", "-m", f"vendor {files} files", when="2024-01-02T10:00:00+00:00")


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """(CPU seconds, wall seconds, peak RSS MB) of one child and its own children."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}: {proc.stderr.read().decode()[-500:]}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--small", type=int, default=1_000)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'files':>7} {'side':10} {'cpu s':>7} {'wall s':>7} {'peak MB':>8} {'cpu x':>6}")
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.small, args.files):
            repo = Path(tmp) / f"r{n}"
            build(repo, n)
            base = measure(["git", "-C", str(repo), "log", "--numstat", "--format=%H", "HEAD"])
            ours = measure([sys.executable, "-m", "loopmeter", "ingest", str(repo), "--store",
                            str(Path(tmp) / f"s{n}.duckdb")])
            peaks[n] = ours[2]
            for side, (cpu, wall, peak) in (("git log", base), ("loopmeter", ours)):
                print(f"{n:>7,} {side:10} {cpu:>7.2f} {wall:>7.2f} {peak:>8.0f} {cpu / base[0]:>6.1f}")
    extra = (peaks[args.files] - peaks[args.small]) / (args.files - args.small) * 1000
    print(f"peak RSS per 1,000 more files in the commit: {extra:.2f} MB")


if __name__ == "__main__":
    main()
