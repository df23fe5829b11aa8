"""The Python side of the ingest's two git readers, on git's output recorded once and replayed.

    python bench/pass_replay.py REPO --record DIR        # run git once, keep its output in DIR
    python bench/pass_replay.py --replay DIR [--repeat N] [--profile]

What is replayed:
- the durability pass (`sources.line_fates.track` on the head's first-parent line): every git
  process it starts (`git log -p -U0`, and where blobs are missing the per-commit `diff`,
  `diff-tree`, `cat-file` and `rev-list` it falls back to) is answered from the recording, in the
  order it was started, so `track()` runs its real code with no git under it;
- the numstat read (`sources.git.iter_commits`, the in-process read of a first ingest): the
  output of its `git log --numstat -z` (up to where git died on a missing blob) is parsed by the
  same parser (`_RecordStream.__iter__` and `_parse_record`), without the pygit2 fallback.

Each side prints its CPU seconds (process time: nothing else runs in this process) and a digest of
what it produced (the pass: origins, deaths and the final tree; the read: every field of every
Commit), so two versions of the code are compared on identical input and must give the same digest.
Run old and new alternately in one session (PYTHONPATH selects the source) and compare CPU; wall
time on a loaded machine says little.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path


class _Recorder:
    """Stands in for the `subprocess` module inside line_fates: runs git and keeps what it said."""

    def __init__(self, out: Path):
        self.out, self.calls = out, []
        self.PIPE = subprocess.PIPE

    def Popen(self, cmd, **kw):
        proc = subprocess.Popen(cmd, **kw)
        name = self.out / f"popen{len(self.calls)}.out"
        with open(name, "wb") as f:
            shutil.copyfileobj(proc.stdout, f, 1 << 20)
        err = proc.stderr.read()
        rc = proc.wait()
        self.calls.append({"kind": "popen", "cmd": cmd, "file": name.name, "err": err.hex(), "rc": rc})
        return _Replayed(name, err, rc)

    def run(self, cmd, **kw):
        done = subprocess.run(cmd, **kw)
        self.calls.append({"kind": "run", "cmd": cmd, "out": done.stdout.hex(), "err": (done.stderr or b"").hex(),
                           "rc": done.returncode})
        return done


class _Replayed:
    def __init__(self, path: Path, err: bytes, rc: int):
        self.stdout = open(path, "rb", buffering=1 << 20)
        self.stderr = io.BytesIO(err)
        self.returncode = rc

    def wait(self):
        self.stdout.close()
        return self.returncode


class _Player:
    """Answers line_fates' git calls from a recording, in order."""

    def __init__(self, where: Path, calls: list[dict]):
        self.where, self.calls, self.i = where, calls, 0
        self.PIPE = subprocess.PIPE

    def _next(self, kind):
        call = self.calls[self.i]
        self.i += 1
        assert call["kind"] == kind, (call["kind"], kind)
        return call

    def Popen(self, cmd, **kw):
        c = self._next("popen")
        return _Replayed(self.where / c["file"], bytes.fromhex(c["err"]), c["rc"])

    def run(self, cmd, **kw):
        c = self._next("run")
        return subprocess.CompletedProcess(cmd, c["rc"], bytes.fromhex(c["out"]), bytes.fromhex(c["err"]))


def _fates_digest(fates) -> str:
    h = hashlib.sha256()
    for o in fates.origins:
        h.update(repr((o.pos, o.sha, o.landed_at, o.lines_added, o.ai_lines_added, o.with_provenance)).encode())
    for k in sorted(fates.deaths):
        h.update(repr((k, fates.deaths[k])).encode())
    for p in sorted(fates.state.files):
        h.update(p.encode("utf-8", "surrogateescape") + b"\0" + fates.state.files[p].tobytes())
    h.update(repr((fates.state.head, fates.state.next_pos, sorted(fates.state.unknown))).encode())
    return h.hexdigest()[:16]


def _commits_digest(commits) -> str:
    h = hashlib.sha256()
    for c in commits:
        h.update(repr(c).encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def record(repo: str, where: Path) -> None:
    from loopmeter.sources import git as gitsrc
    from loopmeter.sources import line_fates

    where.mkdir(parents=True, exist_ok=True)
    info = gitsrc.open_repository(repo)
    rec = _Recorder(where)
    line_fates.subprocess = rec
    try:
        fates = line_fates.track(info, info.head_sha, {}, provenance_shas=set())
    finally:
        line_fates.subprocess = subprocess
    # The numstat read: git's records of every commit of the head, as the resumed read gets them
    # (`git diff-tree --stdin` over `git rev-list`; where it dies on a missing blob, the record cut
    # short is dropped, that commit skipped and diff-tree started again after it).
    todo = gitsrc.git(info.path, "rev-list", info.head_sha).stdout.split()
    i = skipped = 0
    with open(where / "numstat.out", "wb") as out:
        while i < len(todo):
            proc = subprocess.run(gitsrc._diff_tree_cmd(info), input=b"\n".join(todo[i:]) + b"\n",
                                  capture_output=True, env=gitsrc._git_env())
            data = proc.stdout
            if proc.returncode == 0:
                out.write(data)
                break
            cut = data.rfind(b"\x00\x1eC")
            whole = data[:cut + 1] if cut >= 0 else b""
            out.write(whole)
            i += whole.count(b"\x1eC") + 1
            skipped += 1
    meta = {"repo": str(info.path), "head": info.head_sha, "calls": rec.calls, "numstat_skipped": skipped,
            "info": pickle.dumps(info).hex(), "fates_digest": _fates_digest(fates)}
    (where / "calls.json").write_text(json.dumps(meta))
    print(f"recorded {len(rec.calls)} git calls of the pass (digest {meta['fates_digest']}), "
          f"numstat {os.path.getsize(where / 'numstat.out') / 1e6:.0f} MB ({skipped} commits skipped on missing blobs)")


class _FakeProc:
    def __init__(self, path: Path):
        self.stdout = open(path, "rb", buffering=1 << 20)
        self.stderr = io.BytesIO(b"")

    def wait(self):
        self.stdout.close()
        return 0

    def kill(self):
        pass


def _replay_pass(where: Path, meta: dict):
    from loopmeter.sources import line_fates

    info = pickle.loads(bytes.fromhex(meta["info"]))
    line_fates.subprocess = _Player(where, meta["calls"])
    try:
        t0 = time.process_time()
        fates = line_fates.track(info, meta["head"], {}, provenance_shas=set())
        return time.process_time() - t0, _fates_digest(fates)
    finally:
        line_fates.subprocess = subprocess


def _replay_numstat(where: Path, rows: bool = True):
    from loopmeter.sources import git as gitsrc

    stream = gitsrc._RecordStream.__new__(gitsrc._RecordStream)
    stream.proc = _FakeProc(where / "numstat.out")
    stream._writer = type("W", (), {"join": lambda self, timeout=None: None})()
    stream.stderr, stream.returncode, stream.cut = b"", None, None
    t0 = time.process_time()
    commits = list(stream)
    parse = time.process_time() - t0
    if not rows:
        return parse, None, _commits_digest(commits), len(commits)
    # The Arrow rows the ingest stores, built as the in-process read builds them (a batch at a time).
    from loopmeter.attribution import Matcher
    from loopmeter.store.git_load import Identities, commit_tables

    matcher = Matcher.load()
    ids = Identities("salt", matcher)
    t0 = time.process_time()
    for i in range(0, len(commits), 2000):
        commit_tables("r", commits[i:i + 2000], ids, matcher)
    return parse, time.process_time() - t0, _commits_digest(commits), len(commits)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo", nargs="?")
    ap.add_argument("--record", type=Path)
    ap.add_argument("--replay", type=Path)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", choices=["pass", "numstat"])
    ap.add_argument("--profile", action="store_true", help="cProfile one replay of each side, top 25 by tottime")
    a = ap.parse_args()
    if a.record:
        record(a.repo, a.record)
        return 0
    meta = json.loads((a.replay / "calls.json").read_text())
    import loopmeter

    print(f"source: {Path(loopmeter.__file__).parent}  load {os.getloadavg()[0]:.1f}")
    if a.profile:
        import cProfile
        import pstats

        sides = (("pass", lambda: _replay_pass(a.replay, meta)), ("numstat", lambda: _replay_numstat(a.replay)))
        for name, fn in sides:
            if a.only and a.only != name:
                continue
            pr = cProfile.Profile()
            pr.enable()
            fn()
            pr.disable()
            print(f"--- {name}")
            pstats.Stats(pr).sort_stats("tottime").print_stats(25)
        return 0
    for _ in range(a.repeat):
        if a.only != "numstat":
            cpu, dig = _replay_pass(a.replay, meta)
            ok = "same as recorded" if dig == meta["fates_digest"] else f"DIFFERS from recorded {meta['fates_digest']}"
            print(f"pass     {cpu:6.2f} s CPU  digest {dig} ({ok})")
        if a.only != "pass":
            cpu, rows, dig, n = _replay_numstat(a.replay)
            print(f"numstat  {cpu:6.2f} s CPU parsing, {rows:6.2f} s building rows  digest {dig} ({n} commits)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
