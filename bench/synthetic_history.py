#!/usr/bin/env python
"""A long synthetic git history, built with `git fast-import`, for ingest benchmarks at sizes no
public mirror on this machine has (200k commits: the memory target of issue 14).

Usage:
    python bench/synthetic_history.py PATH --commits 200000 [--seed 1]

The repository is bare. Its shape follows a pull-request workflow: of every four commits, one is
a side-branch commit, one a direct commit on main, one the merge of the side branch (GitHub's
"Merge pull request #N" message) and one more direct commit; 300 authors (a few with
`Co-authored-by: Claude` trailers), 3,000 files of 20-40 lines in 60 directories, each commit
changing two files by a line or two, a rename every 500 commits and a binary file every 1,000.
Contents are kept in memory as line lists (~3,000 files x 40 lines), not the history: the
generator streams into fast-import, so building 200k commits takes about a minute and little
memory. The same (commits, seed) always gives the same repository, byte for byte.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

START = 1_500_000_000  # 2017-07-14: a history reaching into the present
STEP = 900  # seconds between commits: 200k commits span ~5.7 years


def build(path: str | Path, commits: int, seed: int = 1) -> Path:
    """Build the repository at `path` (a new directory) unless it is there already; returns it."""
    path = Path(path)
    if (path / "HEAD").exists() and (path / ".synthetic-done").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    proc = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        _stream(proc.stdin, commits, random.Random(seed))
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"git fast-import failed with exit {proc.returncode}")
    (path / ".synthetic-done").write_text(f"{commits} {seed}\n")
    return path


def _stream(out, commits: int, rng: random.Random) -> None:
    authors = [(f"Dev {i:03d}", f"dev{i:03d}@example.com") for i in range(300)]
    files = {f"pkg{d:02d}/mod{f:02d}.py": [f"# pkg{d} mod{f} line {k}\n" for k in range(20)]
             for d in range(60) for f in range(50)}
    paths = list(files)
    mark = 0
    main = None  # mark of main's tip
    n = 0
    pr = 0

    def blob(text: bytes) -> bytes:
        return b"data %d\n%s\n" % (len(text), text)

    def edit(path: str, k: int) -> None:
        lines = files[path]
        i = rng.randrange(len(lines))
        lines[i] = f"# {path} edited by commit {k}\n"
        if rng.random() < 0.5:
            lines.insert(rng.randrange(len(lines) + 1), f"value_{k} = {rng.randrange(10**6)}\n")
        if len(lines) > 40:
            del lines[: len(lines) - 40]

    def commit(branch: str, parent, merge, who, message: str, changes: list[tuple[str, str | None]]) -> int:
        nonlocal mark, n
        mark += 1
        n += 1
        when = START + n * STEP
        body = message.encode()
        head = [b"commit refs/heads/%s\n" % branch.encode(), b"mark :%d\n" % mark,
                b"author %s <%s> %d +0000\n" % (who[0].encode(), who[1].encode(), when),
                b"committer %s <%s> %d +0000\n" % (who[0].encode(), who[1].encode(), when),
                b"data %d\n%s\n" % (len(body), body)]
        if parent is not None:
            head.append(b"from :%d\n" % parent)
        if merge is not None:
            head.append(b"merge :%d\n" % merge)
        for path, old in changes:
            if old is not None:
                head.append(b"R %s %s\n" % (old.encode(), path.encode()))
            elif path.endswith(".bin"):
                data = bytes(rng.randrange(256) for _ in range(64)) + b"\0"
                head.append(b"M 100644 inline %s\n" % path.encode() + blob(data))
            else:
                head.append(b"M 100644 inline %s\n" % path.encode() + blob("".join(files[path]).encode()))
        out.write(b"".join(head) + b"\n")
        return mark

    while n < commits:
        k = n + 1
        kind = k % 4
        who = authors[rng.randrange(len(authors))]
        trailer = "\n\nCo-authored-by: Claude <noreply@anthropic.com>" if rng.random() < 0.05 else ""
        if main is None:
            main = commit("main", None, None, who, "Initial commit",
                          [(p, None) for p in paths])
            continue
        if kind == 1 and n + 3 <= commits:  # a pull request: side commit, main commit, merge
            pr += 1
            side_paths = rng.sample(paths, 2)
            for p in side_paths:
                edit(p, k)
            side = commit(f"pr{pr % 50}", main, None, who, f"Fix {side_paths[0]} for #{pr}{trailer}",
                          [(p, None) for p in side_paths])
            other = [p for p in rng.sample(paths, 3) if p not in side_paths][:2]
            for p in other:
                edit(p, k + 1)
            main = commit("main", main, None, authors[rng.randrange(len(authors))], f"Tidy {other[0]}",
                          [(p, None) for p in other])
            main = commit("main", main, side, ("GitHub", "noreply@github.com"),
                          f"Merge pull request #{pr} from dev/pr{pr}\n\nFix {side_paths[0]}",
                          [(p, None) for p in side_paths])
            continue
        changes: list[tuple[str, str | None]] = []
        if k % 500 == 0:  # a rename, contents kept
            old = rng.choice(paths)
            new = old.replace(".py", f"_r{k}.py")
            files[new] = files.pop(old)
            paths[paths.index(old)] = new
            changes.append((new, old))
        elif k % 1000 == 3:
            changes.append((f"assets/blob{k}.bin", None))
        else:
            for p in rng.sample(paths, 2):
                edit(p, k)
                changes.append((p, None))
        main = commit("main", main, None, who, f"Change {changes[0][0]}{trailer}", changes)
    out.write(b"reset refs/heads/main\nfrom :%d\n\ndone\n" % main)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="where to create the bare repository (kept when it is complete)")
    ap.add_argument("--commits", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    p = build(a.path, a.commits, a.seed)
    count = subprocess.run(["git", "-C", str(p), "rev-list", "--count", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
    print(f"{p}: {count} commits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
