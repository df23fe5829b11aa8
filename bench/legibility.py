"""Time `loopmeter legibility` on a 10,000-file repository against `git ls-files` on the same repository.

    /work/venv/bin/python bench/legibility.py [REPO ...] [--files N] [--commits N] [--repeat N] [--keep DIR]

With no REPO it builds one (N files in nested folders, a CODEOWNERS of 60 rules, workflows,
tests, a Makefile, and a year of history by several authors written with `git fast-import`) and
scores it; every REPO given (a work tree or a bare mirror) is scored too. For each repository it
prints the median wall time of (a) `git ls-files` / `git ls-tree -r HEAD` as a child process,
(b) the scorecard computed in-process (`loopmeter.legibility.scorecard`), and (c) the whole
command `python -m loopmeter legibility REPO --json` as a child process (interpreter start-up and
imports included), and the ratios to (a). The target is (c) under 5 s for 10,000 files.
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

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

from loopmeter.legibility import scorecard  # noqa: E402

AUTHORS = [(f"Dev {i}", f"dev{i}@example.com") for i in range(12)]
DAY = 86400


def build(path: Path, n_files: int, n_commits: int) -> Path:
    """A repository of `n_files` files and `n_commits` commits over the last year, via one fast-import stream."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    start = 1_700_000_000

    def data(text: str) -> bytes:
        b = text.encode()
        return b"data %d\n" % len(b) + b + b"\n"

    files: dict[str, str] = {
        "Makefile": ".PHONY: test lint build\ntest:\n\tpytest\nlint:\n\truff check\nbuild:\n\tpython -m build\n",
        "pyproject.toml": '[project]\nname = "big"\ndependencies = ["structlog"]\n[tool.pytest.ini_options]\n[tool.mypy]\n',
        ".github/workflows/ci.yml": "on:\n  push:\n  pull_request:\njobs: {}\n",
        "AGENTS.md": "make test\n", "uv.lock": "version = 1\n",
        ".github/CODEOWNERS": "".join(f"/pkg{i:02d}/ @team{i % 7}\n" for i in range(50))
        + "".join(f"**/mod{i}/*.py @mods\n" for i in range(10)),
    }
    i = 0
    while len(files) < n_files:
        pkg, mod = i % 60, (i // 60) % 40
        name = f"pkg{pkg:02d}/mod{mod}/" + (f"tests/test_f{i}.py" if i % 5 == 0 else f"f{i}.py")
        files[name] = f"x = {i}\n"
        i += 1
    out = bytearray()
    out += b"commit refs/heads/main\n"
    out += b"author Dev 0 <dev0@example.com> %d +0000\ncommitter Dev 0 <dev0@example.com> %d +0000\n" % (start, start)
    out += data("Initial import")
    for name, text in files.items():
        out += b"M 100644 inline " + name.encode() + b"\n" + data(text)
    names = list(files)
    for c in range(1, n_commits + 1):
        t = start + 400 * DAY + c * (365 * DAY // n_commits)
        who = AUTHORS[(c * 7) % len(AUTHORS) if c % 3 else 0]
        msg = f"Change {c}" + (f" (#{c})" if c % 2 else "") + (f"\n\nFixes #{c + 1000}" if c % 5 == 0 else "")
        out += b"commit refs/heads/main\n"
        out += b"author %s <%s> %d +0000\ncommitter %s <%s> %d +0000\n" % (
            who[0].encode(), who[1].encode(), t, who[0].encode(), who[1].encode(), t)
        out += data(msg)
        target = names[(c * 7919) % len(names)]
        out += b"M 100644 inline " + target.encode() + b"\n" + data(f"x = {c}\n")
    out += b"done\n"
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet", "--done"], input=bytes(out), check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "-f", "main"], check=True)
    return path


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench(repo: Path, repeat: int) -> None:
    bare = subprocess.run(["git", "-C", str(repo), "rev-parse", "--is-bare-repository"], capture_output=True, text=True).stdout.strip() == "true"
    listing = ["git", "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", "HEAD"] if bare else ["git", "-C", str(repo), "ls-files", "-z"]
    n_files = subprocess.run(listing, capture_output=True, check=True).stdout.count(b"\0")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    # No store (none exists in the working directory): the file list, config files and history only.
    cli = [sys.executable, "-m", "loopmeter", "legibility", str(repo), "--json"]
    card = scorecard(repo)  # warms the page cache and the imports; its result is the one printed
    a, b, c = [], [], []
    for _ in range(repeat):
        a.append(timed(lambda: subprocess.run(listing, capture_output=True, check=True)))
        b.append(timed(lambda: scorecard(repo)))
        c.append(timed(lambda: subprocess.run(cli, capture_output=True, check=True, env=env)))
    ga, gb, gc = statistics.median(a), statistics.median(b), statistics.median(c)
    print(f"{repo}  ({n_files:,} files{', bare' if bare else ''}; score {card['score']}, limited by {card['limiting_question']})")
    print(f"  git listing            {ga * 1000:8.1f} ms")
    print(f"  scorecard (in-process) {gb * 1000:8.1f} ms   {gb / ga:6.1f}x the listing")
    print(f"  loopmeter legibility   {gc * 1000:8.1f} ms   {gc / ga:6.1f}x the listing   "
          f"{'PASS' if gc < 5 * max(1, n_files / 10_000) else 'FAIL'} (target < 5 s per 10,000 files)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="*", type=Path)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--commits", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="build the synthetic repository here and keep it")
    args = ap.parse_args()
    tmp = None
    if args.keep is None:
        tmp = Path(tempfile.mkdtemp(prefix="lm-legibility-"))
        target = tmp / "big"
    else:
        target = args.keep
    try:
        if not (target / ".git").exists():
            t = timed(lambda: build(target, args.files, args.commits))
            print(f"built {target} ({args.files:,} files, {args.commits:,} commits) in {t:.1f} s")
        bench(target, args.repeat)
        for repo in args.repos:
            bench(repo, args.repeat)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
