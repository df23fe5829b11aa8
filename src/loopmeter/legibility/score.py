"""The scorecard: run every check, turn what it found into points by the rules (rules.py), and
say which question limits the loop."""

from __future__ import annotations

import os
from datetime import timezone
from typing import Any

from ..attribution import Matcher
from ..sources.git import in_threads
from ..store.db import Store
from . import cache
from .context import Evidence
from .history import read_history
from .reading import FINDERS, Reading, judged, read, scorer
from .rules import CHECKS, QUESTIONS, TITLES, Check, checks_of
from .scan import scan
from .store_facts import facts_of, store_facts

SCHEMA = "loopmeter.legibility/1"
assert set(FINDERS) == {c.id for c in CHECKS}, "every rule has exactly one finder"

#: Why each question matters to an agent, for the "effective system agency" explanation.
WHY = {
    "observable": "an agent cannot see why past work was done or what is in flight",
    "callable": "an agent cannot reliably build, test or operate the system on its own",
    "measurable": "an agent cannot tell whether its change is correct",
    "feedback": "failures do not come back to the agent quickly and reliably",
    "owned": "nobody is there to review, accept or redirect the agent's work",
}


def _earned(check: Check, ev: Evidence) -> float | None:
    if ev.unknown is not None:
        return None
    if check.ramp is not None and ev.value is not None:
        return check.points * check.fraction(ev.value)
    return check.points * min(1.0, max(0.0, ev.fraction or 0.0))


def _status(earned: float | None, points: float) -> str:
    if earned is None:
        return "unknown"
    if earned >= points - 1e-9:
        return "met"
    return "partial" if earned > 1e-9 else "missing"


def _question(question: str, found: dict[str, Evidence]) -> dict[str, Any]:
    details, earned_total, known_points = [], 0.0, 0.0
    evidence, missing, remediation, unknown = [], [], [], []
    for check in checks_of(question):
        ev = found[check.id]
        earned = _earned(check, ev)
        status = _status(earned, check.points)
        details.append({
            "id": check.id, "title": check.title, "points": check.points,
            "earned": None if earned is None else round(earned, 2), "status": status,
            "value": None if ev.value is None else round(ev.value, 4),
            "evidence": ev.evidence, "missing": ev.missing if earned is not None else [ev.unknown],
        })
        evidence += ev.evidence
        if earned is None:
            unknown.append(f"{check.title}: {ev.unknown}")
            continue
        earned_total += earned
        known_points += check.points
        if status != "met":
            missing += ev.missing or [check.title]
            remediation.append((check.points - earned, check.remediation))
    score = round(10 * earned_total / known_points, 1) if known_points else None
    if score is None:
        reason = "nothing could be measured"
    else:
        reason = f"earned {earned_total:.1f} of {known_points:g} measurable points"
        gaps = [d["title"] for d in details if d["status"] in ("missing", "partial")]
        if gaps:
            reason += "; short on: " + "; ".join(gaps)
    if unknown:
        reason += f"; not measured: {len(unknown)} check{'s' if len(unknown) > 1 else ''}"
    return {
        "question": question, "title": TITLES[question], "score": score, "reason": reason,
        "evidence": evidence, "missing": missing + [f"not measured — {u}" for u in unknown],
        # The fix worth the most points first (ties in the order of the checks).
        "remediation": [text for _, text in sorted(remediation, key=lambda lr: -lr[0])], "details": details,
    }


def scorecard(path: str | os.PathLike[str], store: Store | None = None, matcher: Matcher | None = None,
              engine=None) -> dict[str, Any]:
    """The legibility scorecard of the repository or directory at `path` (docs/legibility.md).
    `matcher` says who is an agent or a bot (default: the built-in signatures only; callers pass
    the one with loopmeter.toml's `[[attribution.signature]]` entries). The store's facts are read
    on `engine` when given (Spark over the Parquet export; store_facts.py)."""
    inv = scan(path)
    history = read_history(inv)
    facts = (store_facts(store, str(inv.root), history.since, history.as_of, engine)
             if store is not None and inv.is_git else None)
    return _card(read(inv, history, matcher), facts)


def _card(reading: Reading, facts) -> dict[str, Any]:
    """The scorecard of a repository's reading (reading.py) judged with the store's facts."""
    found = judged(reading, facts)
    checks = [_question(q, found) for q in QUESTIONS]
    scored = [c for c in checks if c["score"] is not None]
    overall = round(sum(c["score"] for c in scored) / len(scored), 1) if scored else None
    limiting = min(scored, key=lambda c: c["score"]) if scored else None
    agency = None
    if limiting is not None:
        ties = [c["question"] for c in scored if c["score"] == limiting["score"] and c is not limiting]
        fix = limiting["remediation"][0] if limiting["remediation"] else None
        agency = {
            "score": limiting["score"],
            "limiting_question": limiting["question"],
            "tied_with": ties,
            "explanation": (
                f"The loop is only as runnable by an agent as its weakest step. {limiting['title'].split(':')[0]} "
                f"scores lowest ({limiting['score']:g}/10): {WHY[limiting['question']]}."
                + (f" First fix: {fix}" if fix else "")),
        }
    return {
        "schema": SCHEMA,
        "path": reading.path,
        "repo": reading.repo,
        "kind": reading.kind,
        "head": reading.head,
        "as_of": None if reading.as_of is None else reading.as_of.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z"),
        "files": reading.files,
        "store": {"repo": facts.repo, "names": facts.names} if facts is not None else None,
        "score": overall,
        "limiting_question": limiting["question"] if limiting else None,
        "effective_agency": agency,
        "checks": checks,
        "unread_config_files": list(reading.unread),
        "history_truncated": reading.truncated,
    }


def for_report(store: Store, repos: list[tuple[str, str | None]], matcher: Matcher | None = None,
               engine=None) -> dict[str, dict[str, Any] | None]:
    """The report's `legibility` key: each repository's scorecard, or None where its path is gone
    (the files are read where loopmeter runs; the store's facts on `engine` when given).

    A repository whose tip did not move since a report read it is not read again: its reading is
    kept in the store (cache.py) and judged with today's facts."""
    from ..errors import LoopmeterError

    matcher = matcher if matcher is not None else Matcher.load()
    version = scorer(matcher)
    here = [(repo, path) for repo, path in repos if path and os.path.isdir(path)]
    at = cache.tips(list(dict.fromkeys(path for _, path in here)))
    before = cache.kept(store, [repo for repo, _ in here])
    readings: dict[str, Reading] = {}
    todo = []
    for repo, path in here:
        r = cache.valid(repo, before.get(repo), path, at.get(path), version)
        if r is not None:
            readings[repo] = r
        else:
            todo.append((repo, path))

    def fresh_reading(repo_path):
        repo, path = repo_path
        t = at.get(path)
        try:
            inv = scan(path)
            return read(inv, read_history(inv), matcher, git_dir=t.git_dir if t is not None else None)
        except LoopmeterError:
            return None

    fresh: dict[str, tuple[str, Reading]] = {}
    for (repo, path), r in zip(todo, _each(fresh_reading, todo)):
        if r is None:
            continue
        readings[repo] = r
        t = at.get(path)
        if t is not None and r.head == t.head:  # not moved while it was read
            fresh[repo] = (path, r)
            cache.remember(repo, path, version, r)
    cache.keep(store, version, fresh)
    # The store's facts of every repository at once: three queries, not three a repository.
    facts = facts_of(store, [(r.path, r.since, r.as_of) for r in readings.values() if r.is_git], engine)
    out: dict[str, dict[str, Any] | None] = {}
    for repo, _ in repos:
        card = None
        if repo in readings:
            r = readings[repo]
            try:
                card = _card(r, facts.get(r.path) if r.is_git else None)
            except LoopmeterError:
                card = None
        out[repo] = card
    return out


def _each(fn, items: list) -> list:
    """`fn` of each item: a few threads for many (each item waits mostly on its git processes)."""
    return in_threads(fn, items, workers=min(4, 2 * (os.cpu_count() or 1))) if len(items) >= 4 else [fn(x) for x in items]


