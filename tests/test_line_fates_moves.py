"""The durability pass's line tracker against a plain reference on random histories.

The tracker (sources/line_fates.py) takes shortcuts for speed: it strips a commit's lines for move
matching only where a move is possible (the smaller side first, a substring search of the other
side when it has few texts, nothing when a commit only adds or only deletes). The reference below
reads the same `git log -p -U0` and applies docs/metrics.md's rules one line at a time, without any
shortcut: a deleted line dies unless an added line of the same commit has the same text (without
surrounding blanks, at least MOVE_MIN bytes), matched first-in first-out in diff order; a renamed
file keeps its lines. The histories are drawn at random from a small vocabulary so that texts repeat,
blocks move within and across files (re-indented or not), and commits only add or only delete."""

from __future__ import annotations

import random
import re
import subprocess
from collections import defaultdict

import pytest

from gitrepo import GitRepo
from loopmeter.sources import line_fates
from loopmeter.sources.git import open_repository

VOCAB = [f"value_{i} = compute(alpha, {i})" for i in range(30)] + ["}", "", "x = 1", "pass", "return None"]


def _reference(path, ai_ranges):
    """(origins as (sha, lines_added, ai_lines_added), deaths, final tree, lines moved) by the rules,
    line by line."""
    out = subprocess.run(["git", "-C", str(path), "-c", "diff.renames=true", "log", "--first-parent", "--reverse",
                          "-p", "-U0", "-M", "--format=%x00%H"], capture_output=True, check=True).stdout.decode()
    files: dict[str, list[int]] = {}
    deaths: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    origins = []
    moves = 0
    for pos, text in enumerate(out.split("\x00")[1:]):
        lines = text.split("\n")
        sha = lines[0].strip()
        diffs, cur, i = [], None, 1
        while i < len(lines):
            ln = lines[i]
            i += 1
            if ln.startswith("diff --git "):
                cur = {"old": None, "new": None, "rename": None, "hunks": []}
                diffs.append(cur)
            elif ln.startswith("rename from "):
                cur["rename"] = (ln[12:], None)
            elif ln.startswith("rename to "):
                cur["rename"] = (cur["rename"][0], ln[10:])
            elif ln.startswith("--- "):
                cur["old"] = None if ln[4:] == "/dev/null" else ln[6:]
            elif ln.startswith("+++ "):
                cur["new"] = None if ln[4:] == "/dev/null" else ln[6:]
            elif ln.startswith("@@ "):
                a, b, c, d = re.match(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", ln).groups()
                a, c, b, d = int(a), int(c), 1 if b is None else int(b), 1 if d is None else int(d)
                dels, adds = lines[i:i + b], lines[i + b:i + b + d]
                i += b + d
                cur["hunks"].append((a, b, c, d, dels, adds))
        for df in diffs:
            if df["rename"]:
                old, new = df["rename"]
                files[new] = files.pop(old)
                df["old"] = df["new"] = new
        # Every deleted line (in diff order) with its value; every added line in diff order.
        waiting: dict[str, list[int]] = defaultdict(list)
        deleted = []
        for df in diffs:
            arr = files.get(df["old"] or "", [])
            for a, b, c, d, dels, adds in df["hunks"]:
                for k, t in enumerate(dels):
                    v = arr[a - 1 + k]
                    deleted.append(v)
                    if len(t[1:].strip()) >= line_fates.MOVE_MIN:
                        waiting[t[1:].strip()].append(v)
        kept = []  # values that moved (left the deleted list once each)
        added = ai_added = 0
        new_vals = []
        for df in diffs:
            ranges = ai_ranges.get(sha, {}).get(df["new"], [])
            for a, b, c, d, dels, adds in df["hunks"]:
                vals = []
                for k, t in enumerate(adds):
                    q = waiting.get(t[1:].strip())
                    if q:
                        vals.append(q.pop(0))
                        kept.append(vals[-1])
                        continue
                    flag = int(any(lo <= c + k <= hi for lo, hi in ranges))
                    vals.append(pos * 2 + flag)
                    added += 1
                    ai_added += flag
                new_vals.append(vals)
        moves += len(kept)
        for v in kept:
            deleted.remove(v)
        for v in deleted:
            deaths[(v >> 1, pos)][0] += 1
            deaths[(v >> 1, pos)][1] += v & 1
        it = iter(new_vals)
        for df in diffs:
            arr = files.pop(df["old"], []) if df["old"] else []
            for (a, b, c, d, dels, adds), vals in reversed(list(zip(df["hunks"], [next(it) for _ in df["hunks"]]))):
                start = a - 1 if b else a
                arr[start:start + b] = vals
            if df["new"]:
                files[df["new"]] = arr
        origins.append((sha, added, ai_added))
    return origins, dict(deaths), files, moves


def _random_history(path, seed: int, n: int = 36):
    rnd = random.Random(seed)
    r = GitRepo(path)
    tree: dict[str, list[str]] = {"a.py": [rnd.choice(VOCAB) for _ in range(30)],
                                  "b.py": [rnd.choice(VOCAB) for _ in range(12)]}
    r.commit("start", files={p: "".join(x + "\n" for x in v) for p, v in tree.items()})
    shas = []
    for step in range(n):
        touched = set()
        for _ in range(rnd.randint(1, 3)):
            op = rnd.choice(["insert", "delete", "edit", "move", "move_across", "new_file", "drop_file", "rename",
                             "add_only", "delete_only"])
            names = sorted(tree)
            p = rnd.choice(names)
            body = tree[p]
            if op == "insert" or (op == "add_only" and not touched):
                k = rnd.randint(0, len(body))
                body[k:k] = [rnd.choice(VOCAB) for _ in range(rnd.randint(1, 15))]
            elif op == "delete" or (op == "delete_only" and not touched):
                if body:
                    k = rnd.randrange(len(body))
                    del body[k:k + rnd.randint(1, 6)]
            elif op == "edit" and body:
                k = rnd.randrange(len(body))
                body[k] = rnd.choice(VOCAB) + rnd.choice(["", "  # changed", ""])
            elif op in ("move", "move_across") and len(body) > 2:
                k = rnd.randrange(len(body) - 1)
                block = body[k:k + rnd.randint(1, 5)]
                del body[k:k + len(block)]
                indent = rnd.choice(["", "    ", "\t"])
                block = [indent + x.strip() if rnd.random() < 0.7 else x for x in block]
                dst = tree[rnd.choice(names)] if op == "move_across" else body
                k2 = rnd.randint(0, len(dst))
                dst[k2:k2] = block
            elif op == "new_file":
                tree[f"n{step}.py"] = [rnd.choice(VOCAB) for _ in range(rnd.randint(1, 20))]
            elif op == "drop_file" and len(tree) > 2:
                del tree[p]
                r.git("rm", "-q", p)
                touched.add(op)
                continue
            elif op == "rename" and p not in touched:
                new = f"r{step}_{p}"
                r.git("mv", p, new)
                tree[new] = tree.pop(p)
                touched.add(op)
                continue
            touched.add(op)
        shas.append(r.commit(f"step {step}", files={p: "".join(x + "\n" for x in v) for p, v in tree.items()}))
    return r, shas


class _EveryFile(dict):
    """AI ranges of one commit: the same lines of whichever file it touches."""

    def get(self, path, default=None):
        return [(1, 3), (9, 40)]

    def __bool__(self):
        return True


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_tracker_equals_the_line_by_line_rules(tmp_path, seed):
    r, shas = _random_history(tmp_path / "r", seed)
    # AI ranges on a few commits: an added line there is AI-written unless it moved.
    ai = {shas[k]: _EveryFile() for k in range(0, len(shas), 3)}
    info = open_repository(r.path)
    got = line_fates.track(info, info.head_sha, ai, provenance_shas=set(ai))
    origins, deaths, tree, moves = _reference(r.path, ai)
    assert [(o.sha, o.lines_added, o.ai_lines_added) for o in got.origins] == origins
    assert got.deaths == deaths
    assert {p: list(v) for p, v in got.state.files.items() if len(v) or p in tree} == tree
    # The history exercised what the shortcuts decide: lines moved, and some commits deleted nothing.
    died_at = {d for _, d in deaths}
    assert moves > 5 and any(k not in died_at for k in range(1, len(origins)))
    assert sum(o[2] for o in origins) > 0
