"""Which reader is faster for history with per-file line counts: the git CLI or pygit2?

    python bench/pygit2_vs_cli.py REPO [--commits N]

Reads the newest N commits of HEAD (default 10,000) three ways in the same run and prints each
wall time and its ratio to plain `git log --numstat`:

1. plain `git log --numstat -n N HEAD > /dev/null` (the baseline);
2. loopmeter's reader (`loopmeter.sources.git.iter_commits`: the same git log, parsed in Python);
3. pygit2: walk HEAD and diff each commit against its first parent with per-file line stats and
   rename detection, as an in-process reader would.

The result decided loopmeter's design: it reads history through the git CLI (see
sources/git.py) and keeps pygit2 only for commits whose blobs are missing.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import time

import pygit2

from loopmeter.sources import git as gitsrc


def time_git_log(repo: str, n: int) -> float:
    t = time.perf_counter()
    subprocess.run(["git", "-C", repo, "log", "--numstat", f"-n{n}", "HEAD"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def time_loopmeter_reader(repo: str, n: int) -> tuple[float, int]:
    info = gitsrc.open_repository(repo)
    t = time.perf_counter()
    files = 0
    # The reader takes whole revision sets, so stop after n commits of its stream.
    for c in itertools.islice(gitsrc.iter_commits(info, [info.head_sha]), n):
        files += len(c.files)
    return time.perf_counter() - t, files


def time_pygit2(repo: str, n: int) -> tuple[float, int]:
    r = pygit2.Repository(repo)
    t = time.perf_counter()
    files = 0
    walker = r.walk(r.head.target, pygit2.enums.SortMode.TIME)
    for c in itertools.islice(walker, n):
        if len(c.parents) > 1:
            continue  # like git log: merges get no diff
        diff = r.diff(c.parents[0], c) if c.parents else c.tree.diff_to_tree(swap=True)
        diff.find_similar()
        for patch in diff:
            if patch is not None:
                patch.line_stats
                files += 1
    return time.perf_counter() - t, files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo")
    ap.add_argument("--commits", type=int, default=10_000)
    a = ap.parse_args()
    base = time_git_log(a.repo, a.commits)
    lm, lm_files = time_loopmeter_reader(a.repo, a.commits)
    pg, pg_files = time_pygit2(a.repo, a.commits)
    print(f"{a.commits:,} newest commits of {a.repo}")
    print(f"{'reader':<34}{'seconds':>9}{'x git log':>11}{'file rows':>11}")
    print(f"{'git log --numstat (baseline)':<34}{base:>9.2f}{1.0:>11.2f}{'':>11}")
    print(f"{'loopmeter reader (git CLI)':<34}{lm:>9.2f}{lm / base:>11.2f}{lm_files:>11,}")
    print(f"{'pygit2 diff + line stats':<34}{pg:>9.2f}{pg / base:>11.2f}{pg_files:>11,}")


if __name__ == "__main__":
    main()
