"""`--by codeowners` over a long CODEOWNERS history: how long `change_teams` takes, how many git
processes it starts, and whether each change got the team of the CODEOWNERS in its landing tree.

    PYTHONPATH=src /work/venv/bin/python bench/codeowners_history.py [--changes 5000] [--versions 200]

Builds a repository with `git fast-import` (one direct commit per change on main, each touching a
file in one of 10 folders; every changes/versions-th commit rewrites CODEOWNERS, handing the
folders round-robin to other teams and moving the file between the root and .github/ every
tenth version), ingests it into a fresh store and times `change_teams`. The check is independent
of the code under test: for a sample of changes it asks `git show <landing>:<location>` and
matches by hand-rolled prefix rules (every rule is `/fN/ @org/tK`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loopmeter
from loopmeter.metrics import codeowners_history as ch
from loopmeter.metrics.codeowners_teams import change_teams
from loopmeter.store.db import Store

FOLDERS = 10


def owners_text(version: int) -> str:
    return "".join(f"/f{f}/ @org/t{(f + version) % 7}\n" for f in range(FOLDERS))


def build(path: Path, n_changes: int, n_versions: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    every = max(1, n_changes // n_versions)
    out, t0, loc, version = [], 1_600_000_000, "CODEOWNERS", 0
    for i in range(n_changes):
        ops = []
        if i % every == 0 and version < n_versions:
            new_loc = loc
            if version and version % 10 == 0:
                new_loc = ".github/CODEOWNERS" if loc == "CODEOWNERS" else "CODEOWNERS"
                ops.append(f"D {loc}\n")
            data = owners_text(version).encode()
            ops.append(f"M 100644 inline {new_loc}\ndata {len(data)}\n{data.decode()}\n")
            loc, version = new_loc, version + 1
        body = "".join(f"line {j} of {i}\n" for j in range(1 + i % 5)).encode()
        ops.append(f"M 100644 inline f{i % FOLDERS}/file{i}.txt\ndata {len(body)}\n{body.decode()}\n")
        msg = f"change {i}".encode()
        who = f"Dev{i % 30} <dev{i % 30}@example.com> {t0 + i * 3600} +0000"
        head = f"commit refs/heads/main\nmark :{i + 1}\nauthor {who}\ncommitter {who}\ndata {len(msg)}\n"
        out.append(head.encode() + msg + b"\n" + (f"from :{i}\n".encode() if i else b"") + "".join(ops).encode())
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(out), check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=5000)
    ap.add_argument("--versions", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "big"
        build(repo, a.changes, a.versions)
        store = Path(tmp) / "lm.duckdb"
        loopmeter.ingest([repo], store_path=store)
        calls: list[str] = []
        real = ch.subprocess.run

        def counting(args, *rest, **kw):  # counts the git processes; the real git runs
            calls.append(args[3])
            return real(args, *rest, **kw)

        ch.subprocess.run = counting
        with Store.open(store, create=False, read_only=True) as s:
            start = time.perf_counter()
            teams, named = change_teams(s.con, ["big"])
            took = time.perf_counter() - start
        ch.subprocess.run = real
        h = ch.codeowners_history("big", str(repo), None)
        print(f"changes {len(teams)}  versions {len(h.versions)}  teams {len(named)}  "
              f"git processes {len(calls)} ({', '.join(calls)})  change_teams {took:.2f}s")
        # Independent check on a sample: the file in the landing tree, matched by its prefixes.
        bad = 0
        for item in sorted(teams)[:: max(1, len(teams) // 100)]:
            sha = item.rsplit(":", 1)[1]
            files = subprocess.run(["git", "-C", str(repo), "diff-tree", "--no-commit-id", "--name-only", "-r", "--root",
                                    sha], capture_output=True, text=True, check=True).stdout.split()
            text = None
            for loc in (".github/CODEOWNERS", "CODEOWNERS"):
                p = subprocess.run(["git", "-C", str(repo), "show", f"{sha}:{loc}"], capture_output=True, text=True,
                                   check=False)
                if p.returncode == 0:
                    text = p.stdout
                    break
            owners = dict(line.split() for line in (text or "").splitlines())
            want = {owners[f"/{f.split('/')[0]}/"][1:] for f in files if f"/{f.split('/')[0]}/" in owners}
            expected = want.pop() if len(want) == 1 else "unassigned"
            bad += teams[item] != expected
        print("sample check:", "PASS" if not bad else f"FAIL ({bad} wrong)")
        return 1 if bad or len(calls) > 3 else 0


if __name__ == "__main__":
    sys.exit(main())
