"""Audit AI attribution on a real history: counts per evidence class and agent, and seeded samples
of changes with their evidence, for a person to judge (docs/attribution.md "Measured precision").

    /work/venv/bin/python bench/attribution_audit.py REPO [--sample N] [--seed S] [--store FILE]
                                                     [--show-names] [--json]

REPO is a work tree or a bare mirror. It is ingested into --store (default: a temporary file; an
existing store is brought up to date, which also re-judges it with the current signatures), then:

1. non-bot changes, bot changes, AI-assisted changes (authored/assisted evidence) and the changes
   whose only evidence is of a class that does not count (suggestion, message);
2. non-bot changes per (class, agent): a change with several counts in each;
3. for each class, N changes drawn at random (seed S) from those with evidence of that class, and N
   from the changes counted as human (no authored/assisted evidence), each with its merge sha,
   date, title and every piece of evidence (class, agent, kind, the matched text).

Judging: open each sampled change (`git -C REPO show SHA`, its pull request) and decide whether the
class's claim holds: "authored", an agent wrote code in it; "assisted", an AI tool helped write
its code; "suggestion", it contains an AI reviewer's suggestion a person accepted; "message", an
AI tool wrote its message. Precision of a class = changes where the claim holds / changes judged.
Author names are pseudonymous unless --show-names (the repositories audited in the docs are
public; bots are always named).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

from loopmeter import api  # noqa: E402
from loopmeter.attribution import AI_CLASSES, CLASSES, FIXED_CLASS  # noqa: E402
from loopmeter.config import Config  # noqa: E402
from loopmeter.store.db import Store  # noqa: E402


def _class_sql() -> str:
    fixed = " ".join(f"when '{k}' then '{c}'" for k, c in FIXED_CLASS.items())
    return f"coalesce(a.evidence_class, case a.evidence {fixed} else 'assisted' end)"


def audit(store_path: Path, repo: str | None, n: int, seed: int, show_names: bool) -> dict:
    with Store.open(store_path, create=False, read_only=True) as st:
        con = st.con
        where = "i.kind = 'change'" + (" and i.repo = $repo" if repo else "")
        params = {"repo": repo} if repo else {}
        changes = con.execute(
            f"""
            select i.item_id, i.repo, i.done_at, i.title, coalesce(x.kind, 'human') as kind,
                   x.name as author_name, x.email as author_email
            from items i left join actors x on x.actor_id = i.author_id
            where {where}
            """, params).fetchall()
        ev = con.execute(
            f"""
            select a.item_id, {_class_sql()} as cls, a.agent, a.evidence, a.signal, a.confidence
            from attributions a join items i on i.item_id = a.item_id
            where {where}
            order by a.item_id, cls, a.agent, a.evidence
            """, params).fetchall()
    by_item: dict[str, list[dict]] = defaultdict(list)
    for item_id, cls, agent, kind, signal, conf in ev:
        by_item[item_id].append({"class": cls, "agent": agent, "evidence": kind, "signal": signal,
                                 "confidence": conf})
    rows = {}
    for item_id, repo_name, done_at, title, kind, name, email in changes:
        rows[item_id] = {"item_id": item_id, "sha": item_id.rsplit(":", 1)[-1], "repo": repo_name,
                         "done_at": done_at.isoformat() if done_at else None, "title": title, "kind": kind,
                         "author": (f"{name} <{email}>" if (show_names or kind == "bot") else None),
                         "evidence": by_item.get(item_id, [])}
    people = [r for r in rows.values() if r["kind"] != "bot"]
    bots = [r for r in rows.values() if r["kind"] == "bot"]

    def classes(r):
        return {e["class"] for e in r["evidence"]}

    ai = [r for r in people if classes(r) & set(AI_CLASSES) or r["kind"] == "agent"]
    only_other = [r for r in people if classes(r) and not classes(r) & set(AI_CLASSES) and r["kind"] != "agent"]
    per_class_agent = Counter()
    for r in people:
        for cls, agent in {(e["class"], e["agent"]) for e in r["evidence"]}:
            per_class_agent[(cls, agent)] += 1
    rng = random.Random(seed)
    samples = {}
    for cls in CLASSES:
        pool = sorted((r for r in people if cls in classes(r)), key=lambda r: r["item_id"])
        samples[cls] = rng.sample(pool, min(n, len(pool)))
    human_pool = sorted((r for r in people if r not in ai), key=lambda r: r["item_id"])
    samples["human"] = rng.sample(human_pool, min(n, len(human_pool)))
    bot_names = Counter(r["author"] for r in bots)
    return {
        "changes": len(rows), "non_bot_changes": len(people), "bot_changes": len(bots),
        "ai_assisted_changes": len(ai), "changes_only_suggestion_or_message": len(only_other),
        "per_class_agent": [{"class": c, "agent": a, "changes": k}
                            for (c, a), k in sorted(per_class_agent.items(), key=lambda x: (CLASSES.index(x[0][0]), -x[1]))],
        "top_automation_accounts": bot_names.most_common(10),
        "samples": samples, "seed": seed, "sample": n,
    }


def _print(out: dict) -> None:
    print(f"changes {out['changes']:,}; bots {out['bot_changes']:,}; non-bot {out['non_bot_changes']:,}; "
          f"AI-assisted (authored/assisted) {out['ai_assisted_changes']:,}; resting only on suggestion/message "
          f"{out['changes_only_suggestion_or_message']:,}")
    print("\nnon-bot changes per class and agent")
    for r in out["per_class_agent"]:
        print(f"  {r['class']:<10} {r['agent']:<20} {r['changes']:>7,}")
    print("\ntop automation accounts")
    for name, k in out["top_automation_accounts"]:
        print(f"  {k:>6,}  {name}")
    for cls, rows in out["samples"].items():
        print(f"\n=== sample: {cls} ({len(rows)} changes, seed {out['seed']})")
        for r in rows:
            who = f"  {r['author']}" if r["author"] else ""
            print(f"- {r['sha'][:12]} {(r['done_at'] or '')[:10]} {r['title']!r}{who}")
            for e in r["evidence"]:
                print(f"    {e['class']:<10} {e['agent']:<18} {e['evidence']:<9} {e['signal']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("repo", type=Path)
    p.add_argument("--sample", type=int, default=20, help="changes per class and of human changes (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", type=Path, help="store to ingest into and read (default: a temporary file)")
    p.add_argument("--no-ingest", action="store_true", help="read --store as it is")
    p.add_argument("--show-names", action="store_true", help="print people's names (bots are always named)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = a.store or Path(tmp) / "audit.duckdb"
        if not a.no_ingest:
            api.ingest([a.repo], store_path=store, config=Config())
        with Store.open(store, create=False, read_only=True) as st:
            repos = [r for (r,) in st.con.execute("select repo from repos order by repo").fetchall()]
        repo = repos[0] if len(repos) == 1 else None
        out = audit(store, repo, a.sample, a.seed, a.show_names)
    if a.json:
        print(json.dumps(out, indent=1, default=str))
    else:
        _print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
