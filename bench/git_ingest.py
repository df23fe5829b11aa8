#!/usr/bin/env python
"""Benchmark: `loopmeter ingest` against plain `git log --numstat` over the same revisions.

Usage:
    python bench/git_ingest.py REPO [--pull-refs] [--repeat N] [--check] [--serial-durability] [--no-pass-alone]

Both sides read exactly the revisions loopmeter reads: HEAD, plus (with --pull-refs) the head
commit of every refs/pull/N/head, passed on stdin. The baseline is

    git -C REPO log --numstat --stdin  > /dev/null

timed by wall clock, its peak RSS taken from os.wait4's rusage. The loopmeter side is the
installed CLI, `loopmeter ingest REPO --store <fresh temp file> [--no-pull-refs]`, run in a child
Python through a tiny wrapper that calls loopmeter.cli.main() in-process and, in an atexit hook,
prints its own peak RSS (RUSAGE_SELF: the Python process, DuckDB included) and that of the git
processes it spawned (RUSAGE_CHILDREN) to stderr.

Where the object store lacks blobs, `git log --numstat` dies part-way. The script then says how
far it got and adds a complete git-only "resumed" baseline (rev-list, then diff-tree --stdin -M
restarted after each commit git cannot diff); the ratio target is judged against that one, and
the ratio against the incomplete git log is shown marked with '*'.

See bench/README.md. The script always exits 0 (it is a measurement); with --check it exits 1
when a target is missed (ingest ratio <= 1.0x, with --analyze analyze ratio <= 2.0x, loopmeter peak < 500 MB)
or loopmeter fails.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RATIO_TARGET = 1.0  # issue 14: ingest <= 1.0x one git log --numstat (both cores)
ANALYZE_TARGET = 2.0  # issue 14: analyze end to end <= 2.0x the same baseline
PEAK_MB_TARGET = 500.0
LOOPMETER = Path(sys.executable).with_name("loopmeter")

# Runs in the child: the user's command, plus peak RSS of itself and of its (reaped) git children.
# Each phase the ingest announces (reading the history, then every step after it) is timed by wall
# clock and by CPU (this process and its reaped children: git, the reader process).
_WRAPPER = r"""
import atexit, resource, sys, time
_marks = []
def _cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
def _mark(name):
    _marks.append((name, time.perf_counter(), _cpu(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
def _report():
    _mark("end")
    for (name, t, c, _), (_, t2, c2, m2) in zip(_marks, _marks[1:]):
        sys.stderr.write("\n@@phase %.3f %.3f %d %s" % (t2 - t, c2 - c, m2, name))
    s = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write("\n@@bench self_maxrss_kb=%d children_maxrss_kb=%d\n" % (s, c))
    sys.stderr.flush()
atexit.register(_report)
_mark("start-up, opening the store, read-ahead")
sys.argv = ["loopmeter", *sys.argv[1:]]
import loopmeter.cli as _cli
_P = _cli._RichProgress
_start, _step = _P.start, _P.step
def start(self, repo, total, unit="commits"):
    _mark("reading the history")
    return _start(self, repo, total, unit)
def step(self, name):
    _mark(name)
    return _step(self, name)
_P.start, _P.step = start, step
_cli.main()
"""


def _git_env() -> dict[str, str]:
    # As loopmeter runs git: no prompts, no lock files, never fetch a missing blob over the network.
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_NO_LAZY_FETCH="1")
    return env


def revisions(repo: str, pull_refs: bool) -> list[str]:
    """The tips loopmeter reads, computed by loopmeter's own code so both sides read the same commits."""
    from loopmeter.sources import git as gitsrc

    info = gitsrc.open_repository(repo)
    pulls = gitsrc.pull_heads(info) if pull_refs else {}
    return [info.head_sha, *sorted(set(pulls.values()))]


def count_commits(repo: str, revs: list[str]) -> int:
    out = subprocess.run(
        ["git", "-C", repo, "rev-list", "--count", "--stdin"], input=("\n".join(revs) + "\n").encode(),
        capture_output=True, env=_git_env(), check=True,
    )
    return int(out.stdout)


def warm_cache(repo: str) -> None:
    """Read the object store and load loopmeter's libraries once, so neither side pays for a cold page cache."""
    subprocess.run([sys.executable, "-c", "import loopmeter.cli"], check=True)
    git_dir = subprocess.run(["git", "-C", repo, "rev-parse", "--absolute-git-dir"], capture_output=True,
                             text=True, check=True).stdout.strip()
    for root, _, files in os.walk(os.path.join(git_dir, "objects")):
        for f in files:
            try:
                with open(os.path.join(root, f), "rb") as fh:
                    while fh.read(1 << 24):
                        pass
            except OSError:
                pass


@dataclass
class Baseline:
    seconds: float
    peak_mb: float
    ok: bool
    error: str = ""
    printed: int | None = None  # commits git printed before it died (counted only when it dies)


def _wait(proc: subprocess.Popen) -> tuple[int, float]:
    """Reap `proc` with wait4; returns (exit status, peak RSS in MB of that process and its reaped children)."""
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, ru.ru_maxrss / 1024


def _baseline_cmd(repo: str) -> list[str]:
    return ["git", "-C", repo, "log", "--numstat", "--stdin"]


def run_baseline(repo: str, revs: list[str]) -> Baseline:
    stdin = ("\n".join(revs) + "\n").encode()
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as err, open(os.devnull, "wb") as null:
        inp.write(stdin)
        inp.seek(0)
        t0 = time.perf_counter()
        proc = subprocess.Popen(_baseline_cmd(repo), stdin=inp, stdout=null, stderr=err, env=_git_env())
        rc, peak = _wait(proc)
        seconds = time.perf_counter() - t0
        err.seek(0)
        msg = err.read().decode("utf-8", "replace").strip()
    if rc == 0:
        return Baseline(seconds, peak, True)
    last = msg.splitlines()[-1] if msg else f"exit {rc}"
    return Baseline(seconds, peak, False, error=last, printed=_count_printed(repo, stdin))


_PRINTED: dict[tuple[str, bytes], int] = {}


def _count_printed(repo: str, stdin: bytes) -> int:
    """Re-run the dying baseline into a pipe (untimed) and count the commits it printed before dying.

    git's output order is deterministic, so it dies at the same commit (counted once per run of
    this script: the re-run costs as much as the baseline). A commit header is the only line that
    starts with "commit " (message lines are indented, numstat lines start with a digit or -).
    """
    if (repo, stdin) not in _PRINTED:
        _PRINTED[(repo, stdin)] = _count_printed_once(repo, stdin)
    return _PRINTED[(repo, stdin)]


def _count_printed_once(repo: str, stdin: bytes) -> int:
    with tempfile.TemporaryFile() as inp:
        inp.write(stdin)
        inp.seek(0)
        proc = subprocess.Popen(_baseline_cmd(repo), stdin=inp, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=_git_env())
        n, tail = 0, b"\n"
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            data = tail + chunk
            n += data.count(b"\ncommit ")
            tail = data[-7:]
        proc.wait()
    return n


@dataclass
class Resumed:
    seconds: float
    peak_mb: float
    skipped: list[str]  # commits git cannot diff (a blob is missing); loopmeter reads these with pygit2
    printed: int


def run_resumed_baseline(repo: str, revs: list[str]) -> Resumed:
    """A complete git-only baseline for object stores that lack blobs, where `git log` dies.

    `git rev-list --stdin` lists the commits, `git diff-tree --stdin -M --numstat` (git log's
    records: rename detection on, merges without a diff) diffs them, and when it dies the commit
    it died on is skipped and diff-tree restarts after it: the same work loopmeter's fallback asks of
    git, minus any Python. Output goes through a pipe (to find where git died), counted in C.
    """
    t0 = time.perf_counter()
    peak = 0.0
    out = subprocess.run(["git", "-C", repo, "rev-list", "--stdin"], input=("\n".join(revs) + "\n").encode(),
                         capture_output=True, env=_git_env(), check=True).stdout
    todo = out.decode().split()
    del out
    cmd = ["git", "-C", repo, "diff-tree", "--stdin", "--always", "--root", "-r", "-M", "--numstat",
           "--no-color", "--no-ext-diff", "--no-textconv", "--format=%x01%H"]
    skipped: list[str] = []
    printed = 0
    i = 0
    while i < len(todo):
        with tempfile.TemporaryFile() as inp:
            inp.write(("\n".join(todo[i:]) + "\n").encode())
            inp.seek(0)
            proc = subprocess.Popen(cmd, stdin=inp, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_git_env())
            assert proc.stdout is not None
            n = 0
            while chunk := proc.stdout.read(1 << 20):
                n += chunk.count(b"\x01")
            rc, mb = _wait(proc)
        peak = max(peak, mb)
        if rc == 0:
            printed += n
            break
        # The commit git died on may have printed its header before its diff failed.
        dead = i + n
        if n and _undiffable(repo, todo[i + n - 1]):
            dead = i + n - 1
        printed += dead - i
        if dead < len(todo):
            skipped.append(todo[dead])
        i = dead + 1
    return Resumed(time.perf_counter() - t0, peak, skipped, printed)


def _undiffable(repo: str, sha: str) -> bool:
    return subprocess.run(["git", "-C", repo, "diff-tree", "--root", "-r", "-M", "--numstat", sha],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_git_env()).returncode != 0


@dataclass
class Ingest:
    seconds: float
    peak_mb: float | None  # the loopmeter Python process
    git_peak_mb: float | None  # its git children (largest one)
    ok: bool
    commits: int | None = None
    error: str = ""
    phases: dict[str, tuple[float, float, float]] | None = None  # name -> (wall s, CPU s, peak MB by its end)


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_loopmeter(repo: str, pull_refs: bool, env: dict[str, str] | None = None, command: str = "ingest") -> Ingest:
    tmp = tempfile.mkdtemp(prefix="lm-bench-")
    try:
        store = os.path.join(tmp, "lm.duckdb")
        args = [command, os.path.abspath(repo), "--store", store]
        if command == "analyze":  # the report too: the HTML page written into the temp dir
            args += ["--html", os.path.join(tmp, "report.html")]
        if not pull_refs:
            args.append("--no-pull-refs")
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            # cwd=tmp: no stray loopmeter.toml from the caller's directory changes what is measured.
            proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, *args], cwd=tmp, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
            rc, _ = _wait(proc)
            seconds = time.perf_counter() - t0
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode("utf-8", "replace")
            stderr = err.read().decode("utf-8", "replace")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    phases: dict[str, tuple[float, float, float]] = {}  # name -> (wall s, CPU s, peak MB by its end)
    for wall, cpu, kb, name in re.findall(r"@@phase ([\d.]+) ([\d.]+) (\d+) ([^\n]+)", stderr):
        w0, c0, _ = phases.get(name, (0.0, 0.0, 0.0))
        phases[name] = (w0 + float(wall), c0 + float(cpu), int(kb) / 1024)
    m = re.search(r"@@bench self_maxrss_kb=(\d+) children_maxrss_kb=(\d+)", stderr)
    peak, git_peak = (int(m[1]) / 1024, int(m[2]) / 1024) if m else (None, None)
    c = re.search(r"([\d,]+) new commits", stdout)
    commits = int(c[1].replace(",", "")) if c else None
    error = ""
    if rc != 0:
        lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("@@")]
        error = lines[-1] if lines else f"exit {rc}"
    return Ingest(seconds, peak, git_peak, rc == 0, commits, error, phases)


# The durability pass alone, as the ingest's second process runs it (ingest_durability._child):
# the first-parent walk with `git log -p`, the line tracking and the rows it hands back. It prints
# its own CPU (Python) and its git children's.
_PASS = r"""
import resource, sys, time
from loopmeter.sources import git as gitsrc, line_fates
from loopmeter.store.provenance_load import line_fates_rows
info = gitsrc.open_repository(sys.argv[1])
rows = line_fates_rows(info.name, line_fates.track(info, info.head_sha, {}, provenance_shas=set()), incremental=False)
a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write("@@pass python=%.3f git=%.3f lines=%d" % (a.ru_utime + a.ru_stime, b.ru_utime + b.ru_stime,
                                                              rows[1].num_rows))
"""


@dataclass
class PassAlone:
    seconds: float
    cpu: float  # the process and its git children
    python: float  # of which Python (start-up and imports included)
    git: float
    ok: bool
    error: str = ""


def run_pass_alone(repo: str) -> PassAlone:
    """Time the durability pass by itself (wall from spawn to reap, CPU from the rusage)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        c0 = _children_cpu()
        proc = subprocess.Popen([sys.executable, "-c", _PASS, os.path.abspath(repo)], stdout=subprocess.DEVNULL,
                                stderr=err, stdin=subprocess.DEVNULL)
        rc, _ = _wait(proc)
        seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    m = re.search(r"@@pass python=([\d.]+) git=([\d.]+)", text)
    if rc != 0 or not m:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return PassAlone(seconds, cpu, 0.0, 0.0, False, lines[-1] if lines else f"exit {rc}")
    return PassAlone(seconds, cpu, float(m[1]), float(m[2]), True)


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _fmt(x, spec=".1f", unit=""):
    return "n/a" if x is None else f"{x:{spec}}{unit}"


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(x.replace("_", "")) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: commit counts, comma-separated (e.g. 50000,200000)") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: commit counts of at least 1")
    return sizes


def growth(sizes: list[int], repeat: int, pull_refs: bool, check: bool) -> int:
    """Peak RSS of `loopmeter ingest` (the Python process) on synthetic histories of each size,
    by phase, and how much it grows a commit from the smallest size: whether memory is flat in
    the history's length. The sizes are interleaved, so load drift hits each alike."""
    from synthetic_history import build  # bench/ is on the path: this script's directory

    repos = {n: str(build(Path(tempfile.gettempdir()) / f"loopmeter-synthetic-{n}", n)) for n in sizes}
    print(f"loopmeter {LOOPMETER} ingest REPO --store <fresh tmp>{'' if pull_refs else ' --no-pull-refs'}; "
          f"sizes {', '.join(f'{n:,}' for n in sizes)}; repeat {repeat}; cpus {os.cpu_count()}", flush=True)
    peaks: dict[int, list[float]] = {n: [] for n in sizes}
    ok = True
    for i in range(repeat):
        for n in sizes:
            load = os.getloadavg()[0]
            g = run_loopmeter(repos[n], pull_refs)
            ok = ok and g.ok and g.peak_mb is not None
            if g.peak_mb is not None:
                peaks[n].append(g.peak_mb)
            print(f"  run {i + 1}: {n:>9,} commits {g.seconds:7.2f} s  peak {_fmt(g.peak_mb, '6.0f')} MB  "
                  f"load {load:.1f}{'' if g.ok else '  FAILED: ' + g.error}", flush=True)
            for name, (w, c, mb) in (g.phases or {}).items():
                print(f"      phase {name[:40]:40} {w:7.2f} s wall {c:7.2f} s CPU  peak {mb:5.0f} MB", flush=True)
    first = sizes[0]
    print(f"{'commits':>9}  {'peak (median)':>13}  growth a commit from {first:,}")
    for n in sizes:
        mb = _median(peaks[n])
        grow = "" if n == first or mb is None or _median(peaks[first]) is None else \
            f"{(mb - _median(peaks[first])) * 1024 / (n - first):.2f} KB"
        print(f"{n:>9,}  {_fmt(mb, '10.0f')} MB  {grow}")
    return 1 if check and (not ok or (_median(peaks[sizes[-1]]) or 0) >= PEAK_MB_TARGET) else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo", nargs="?", help="git repository (working tree or bare mirror); only read, never written")
    ap.add_argument("--synthetic", type=_sizes, metavar="N[,N...]",
                    help="instead of REPO, a synthetic history of N commits (bench/synthetic_history.py), built "
                         "once into $TMPDIR/loopmeter-synthetic-N and kept; several sizes (50000,100000,200000): "
                         "loopmeter's peak memory alone at each (no baseline: memory does not depend on the "
                         "load), sizes interleaved --repeat times, and the growth a commit between them")
    ap.add_argument("--pull-refs", action="store_true", help="also read every refs/pull/N/head (loopmeter's default)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N", help="run each side N times and report medians")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--no-pass-alone", action="store_true",
                    help="skip the run of the durability pass by itself (the floor lines need it)")
    ap.add_argument("--no-warm", action="store_true", help="skip reading the object store into the page cache first")
    ap.add_argument("--serial-read", action="store_true",
                    help="also run loopmeter with the history read in-process (LOOPMETER_READER_PROCESS=0), "
                         "as before reader processes read chunks of it")
    ap.add_argument("--analyze", action="store_true",
                    help="also time `loopmeter analyze` (ingest, derivation and the HTML report) end to end")
    ap.add_argument("--serial-durability", action="store_true",
                    help="also run loopmeter with the durability pass after the ingest in its own process "
                         "(LOOPMETER_DURABILITY_BESIDE=0), as before it ran beside the ingest")
    a = ap.parse_args(argv)
    if a.synthetic and len(a.synthetic) > 1:
        return growth(a.synthetic, a.repeat, a.pull_refs, a.check)
    if a.synthetic:
        from synthetic_history import build  # bench/ is on the path: this script's directory

        repo = str(build(Path(tempfile.gettempdir()) / f"loopmeter-synthetic-{a.synthetic[0]}", a.synthetic[0]))
    elif a.repo:
        repo = a.repo
    else:
        ap.error("give REPO or --synthetic N")

    revs = revisions(repo, a.pull_refs)
    total = count_commits(repo, revs)
    scope = f"HEAD + {len(revs) - 1:,} refs/pull/*/head" if a.pull_refs else "HEAD only"
    print(f"repo      {repo}\nscope     {scope}: {total:,} commits\nbaseline  git log --numstat --stdin > /dev/null")
    print(f"loopmeter {LOOPMETER} ingest {repo} --store <fresh tmp>{'' if a.pull_refs else ' --no-pull-refs'}")
    print(f"git       {subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}; "
          f"cpus {os.cpu_count()}; repeat {a.repeat}", flush=True)
    if not a.no_warm:
        warm_cache(repo)

    bases: list[Baseline] = []
    resumed: list[Resumed] = []
    ings: list[Ingest] = []
    cpu: dict[str, list[float]] = {"baseline": [], "resumed": [], "loopmeter": [], "serial": [], "inproc": [],
                                   "analyze": []}  # user + sys, children included
    serial: list[Ingest] = []
    inproc: list[Ingest] = []
    analyzed: list[Ingest] = []
    alone: list[PassAlone] = []
    for i in range(a.repeat):  # interleaved, so drift in machine load hits both sides alike
        c0 = _children_cpu()
        b = run_baseline(repo, revs)
        cpu["baseline"].append(_children_cpu() - c0)
        bases.append(b)
        state = "ok" if b.ok else f"DIED after {b.printed:,} commits: {b.error}"
        print(f"  run {i + 1}: baseline  {b.seconds:7.2f} s  git peak {b.peak_mb:6.0f} MB  {state}", flush=True)
        if not b.ok:
            c0 = _children_cpu()
            r = run_resumed_baseline(repo, revs)
            cpu["resumed"].append(_children_cpu() - c0)
            resumed.append(r)
            print(f"  run {i + 1}: resumed   {r.seconds:7.2f} s  git peak {r.peak_mb:6.0f} MB  "
                  f"{r.printed:,} commits diffed, {len(r.skipped)} skipped (missing blobs)", flush=True)
        c0 = _children_cpu()
        g = run_loopmeter(repo, a.pull_refs)
        cpu["loopmeter"].append(_children_cpu() - c0)
        ings.append(g)
        state = f"{g.commits:,} commits stored" if g.ok and g.commits is not None else ("ok" if g.ok else f"FAILED: {g.error}")
        print(f"  run {i + 1}: loopmeter {g.seconds:7.2f} s  self peak {_fmt(g.peak_mb, '6.0f')} MB  "
              f"git peak {_fmt(g.git_peak_mb, '6.0f')} MB  {state}", flush=True)
        for name, (w, c, mb) in (g.phases or {}).items():
            print(f"      phase {name[:40]:40} {w:7.2f} s wall {c:7.2f} s CPU  peak {mb:5.0f} MB", flush=True)
        for wanted, label, env, command, into, key in (
                (a.serial_read, "in-process", {"LOOPMETER_READER_PROCESS": "0"}, "ingest", inproc, "inproc"),
                (a.analyze, "analyze", None, "analyze", analyzed, "analyze")):
            if not wanted:
                continue
            c0 = _children_cpu()
            x = run_loopmeter(repo, a.pull_refs, env, command)
            cpu[key].append(_children_cpu() - c0)
            into.append(x)
            print(f"  run {i + 1}: {label:10}{x.seconds:7.2f} s  self peak {_fmt(x.peak_mb, '6.0f')} MB  "
                  f"{'' if x.ok else 'FAILED: ' + x.error}", flush=True)
            for name, (w, c, mb) in (x.phases or {}).items():
                print(f"      phase {name[:40]:40} {w:7.2f} s wall {c:7.2f} s CPU  peak {mb:5.0f} MB", flush=True)
        if not a.no_pass_alone:
            pa = run_pass_alone(repo)
            alone.append(pa)
            print(f"  run {i + 1}: pass alone{pa.seconds:7.2f} s  CPU {pa.cpu:6.2f} s (git {pa.git:.2f} s, Python "
                  f"{pa.python:.2f} s)" + ("" if pa.ok else f"  FAILED: {pa.error}"), flush=True)
        if a.serial_durability:
            c0 = _children_cpu()
            s = run_loopmeter(repo, a.pull_refs, {"LOOPMETER_DURABILITY_BESIDE": "0"})
            cpu["serial"].append(_children_cpu() - c0)
            serial.append(s)
            print(f"  run {i + 1}: serial    {s.seconds:7.2f} s  self peak {_fmt(s.peak_mb, '6.0f')} MB  "
                  f"(durability pass after the ingest, in-process){'' if s.ok else ' FAILED: ' + s.error}", flush=True)
            for name, (w, c, mb) in (s.phases or {}).items():
                print(f"      phase {name[:40]:40} {w:7.2f} s wall {c:7.2f} s CPU  peak {mb:5.0f} MB", flush=True)

    ref = "resumed" if cpu["resumed"] else "baseline"
    if cpu["loopmeter"] and cpu[ref]:
        print(f"  CPU (user + sys, children included), medians: loopmeter {_median(cpu['loopmeter']):.1f} s, "
              f"{'resumed' if ref == 'resumed' else 'git log'} baseline {_median(cpu[ref]):.1f} s: "
              f"{_median(cpu['loopmeter']) / max(_median(cpu[ref]), 1e-9):.2f}x"
              + (f"; serial durability {_median(cpu['serial']):.1f} s" if cpu["serial"] else "")
              + (f"; read in-process {_median(cpu['inproc']):.1f} s" if cpu["inproc"] else "")
              + (f"; analyze {_median(cpu['analyze']):.1f} s" if cpu["analyze"] else ""), flush=True)

    complete = all(b.ok for b in bases)
    base_s = _median([b.seconds for b in bases])
    base_mb = _median([b.peak_mb for b in bases])
    res_s = _median([r.seconds for r in resumed])
    res_mb = _median([r.peak_mb for r in resumed])
    lm_ok = all(g.ok for g in ings)
    lm_s = _median([g.seconds for g in ings])
    lm_mb = _median([g.peak_mb for g in ings])
    lm_git_mb = _median([g.git_peak_mb for g in ings])
    ratio = lm_s / base_s if base_s else None
    res_ratio = lm_s / res_s if res_s else None
    # Against an incomplete baseline a ratio means little: the target is then judged against the
    # resumed (complete, git-only) baseline, and the plain ratio is shown marked with '*'.
    judged = ratio if complete else res_ratio
    ratio_pass = lm_ok and judged is not None and judged <= RATIO_TARGET
    mem_pass = lm_ok and lm_mb is not None and lm_mb < PEAK_MB_TARGET
    verdict = "PASS" if ratio_pass else "FAIL"

    med = " (median of %d)" % a.repeat if a.repeat > 1 else ""
    rows = [("commits", f"{total:,}", "")]
    if complete:
        rows += [
            (f"baseline git log --numstat{med}", f"{base_s:.2f} s", ""),
            (f"loopmeter ingest{med}", f"{lm_s:.2f} s", "" if lm_ok else "FAILED"),
            ("ratio loopmeter / baseline (target <= 1.0x)", f"{_fmt(ratio, '.2f')}x", verdict),
        ]
    else:
        rows += [
            (f"baseline git log --numstat, DIED{med}", f"{base_s:.2f} s *", ""),
            (f"resumed baseline rev-list + diff-tree{med}", f"{_fmt(res_s, '.2f')} s", ""),
            (f"loopmeter ingest{med}", f"{lm_s:.2f} s", "" if lm_ok else "FAILED"),
            ("ratio vs incomplete git log", f"{_fmt(ratio, '.2f')}x *", "(not judged)"),
            ("ratio vs resumed baseline (target <= 1.0x)", f"{_fmt(res_ratio, '.2f')}x", verdict),
        ]
    if serial:
        ser_s = _median([x.seconds for x in serial])
        ref_s = base_s if complete else res_s
        rows += [(f"loopmeter ingest, durability pass serial{med}", f"{ser_s:.2f} s", ""),
                 ("ratio serial / baseline" + ("" if complete else " (resumed)"), f"{_fmt(ser_s / ref_s if ref_s else None, '.2f')}x",
                  ""),
                 ("beside / serial (wall)", f"{_fmt(lm_s / ser_s if ser_s else None, '.2f')}x", "")]
    ref_s = base_s if complete else res_s
    if inproc:
        in_s = _median([x.seconds for x in inproc])
        rows += [(f"loopmeter ingest, history read in-process{med}", f"{in_s:.2f} s", ""),
                 ("ratio in-process / baseline", f"{_fmt(in_s / ref_s if ref_s else None, '.2f')}x", ""),
                 ("readers / in-process (wall)", f"{_fmt(lm_s / in_s if in_s else None, '.2f')}x", "")]
    if analyzed:
        an_s = _median([x.seconds for x in analyzed])
        an_ratio = an_s / ref_s if ref_s else None
        rows += [(f"loopmeter analyze (ingest + derivation + HTML report){med}", f"{an_s:.2f} s",
                  "" if all(x.ok for x in analyzed) else "FAILED"),
                 ("ratio analyze / baseline (target <= 2.0x)", f"{_fmt(an_ratio, '.2f')}x",
                  "PASS" if an_ratio is not None and an_ratio <= ANALYZE_TARGET else "FAIL"),
                 ("analyze peak RSS, Python process", f"{_fmt(_median([x.peak_mb for x in analyzed]), '.0f')} MB", "")]
    rows += [
        ("loopmeter peak RSS, Python process (target < 500 MB)", f"{_fmt(lm_mb, '.0f')} MB", "PASS" if mem_pass else "FAIL"),
        ("loopmeter's largest child peak RSS (git, the durability process)", f"{_fmt(lm_git_mb, '.0f')} MB", ""),
        ("baseline git peak RSS", f"{base_mb:.0f} MB" + ("" if complete else f" * (resumed: {_fmt(res_mb, '.0f')} MB)"), ""),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print()
    print(f"{'measure':<{w0}}  {'value':>{w1}}  result")
    print(f"{'-' * w0}  {'-' * w1}  ------")
    for name, value, res in rows:
        print(f"{name:<{w0}}  {value:>{w1}}  {res}".rstrip())
    _print_floor(ings, alone, ref_s, _median(cpu[ref]), "resumed" if not complete else "git log")
    if not complete:
        b = bases[0]
        frac = b.printed / total if total else 0
        print(f"\n* incomplete baseline: git log died after printing {b.printed:,} of {total:,} commits "
              f"({frac:.1%}) in {base_s:.2f} s: {b.error}")
        print("  A ratio against it overstates loopmeter's relative cost. The resumed baseline is complete: it\n"
              "  skips each commit git cannot diff and restarts after it, as loopmeter's fallback does.")
        if resumed:
            print(f"  Commits git cannot diff: {len(resumed[0].skipped)}" +
                  (f" (first: {resumed[0].skipped[0]})" if resumed[0].skipped else ""))
    if not lm_ok:
        print(f"\nloopmeter failed: {next(g.error for g in ings if not g.ok)}")
    if lm_ok and any(g.commits is not None and g.commits != total for g in ings):
        print(f"\nnote: loopmeter stored {ings[0].commits:,} commits, git rev-list counts {total:,}")
    failed = not (ratio_pass and mem_pass)
    if analyzed and ref_s:
        failed = failed or not all(x.ok for x in analyzed) or _median([x.seconds for x in analyzed]) / ref_s > ANALYZE_TARGET
    return 1 if (a.check and failed) else 0


def _print_floor(ings: list[Ingest], alone: list[PassAlone], ref_s: float | None, ref_cpu: float | None,
                 ref_name: str) -> None:
    """Which part misses 1.0x: the read alone (the ingest's "reading the history" phase: git's
    numstat and the Python that parses and stores it) and the durability pass alone, each against
    the baseline, and the wall time two cores cannot beat (the ingest's whole CPU over the cores)."""
    if not ref_s or not ref_cpu or not ings or not all(g.ok for g in ings):
        return
    cores = os.cpu_count() or 1
    read = [g.phases.get("reading the history") for g in ings if g.phases]
    read = [r for r in read if r]
    print(f"\nfloor (medians; ratios against the {ref_name} baseline: {ref_s:.2f} s wall, {ref_cpu:.2f} s CPU)")
    if read:
        rw, rc = _median([r[0] for r in read]), _median([r[1] for r in read])
        print(f"  reading the history (numstat read, parse, store) {rw:7.2f} s wall {rc:7.2f} s CPU: "
              f"{rw / ref_s:.2f}x wall, {rc / ref_cpu:.2f}x CPU")
    ok = [x for x in alone if x.ok]
    if ok:
        pw, pc = _median([x.seconds for x in ok]), _median([x.cpu for x in ok])
        print(f"  the durability pass alone (its own process)     {pw:7.2f} s wall {pc:7.2f} s CPU: "
              f"{pw / ref_s:.2f}x wall, {pc / ref_cpu:.2f}x CPU (git {_median([x.git for x in ok]):.2f} s, "
              f"Python {_median([x.python for x in ok]):.2f} s)")
    lm_cpu = _median([g.phases and sum(c for _, c, _ in g.phases.values()) for g in ings])
    if lm_cpu:
        # The baseline is one git process: on an idle machine its wall time is its CPU time.
        print(f"  the whole ingest's CPU over {cores} cores              {lm_cpu / cores:7.2f} s:      "
              f"{lm_cpu / cores / ref_cpu:.2f}x the baseline's CPU (its idle wall time): the best wall ratio "
              f"{cores} idle cores allow, however the work is split")


if __name__ == "__main__":
    sys.exit(main())
