"""The legibility of many repositories at a glance: how the scores are spread, the least legible
repositories, and which checks fail most often (docs/json-report.md `legibility_summary`).

An organisation's report carries this instead of a scorecard per repository past `CARDS`
repositories: a thousand scorecards are ~10 MB of JSON and a thousand tables that nobody reads.
Every repository's scorecard stays one command away (`loopmeter legibility --json`, FULL_LIST).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from .rules import CHECKS, QUESTIONS

#: Up to this many repositories, a report carries every scorecard (`legibility`); past it, only
#: the summary. Twenty scorecards still read as twenty tables in the HTML.
CARDS = 20
#: The least legible repositories the summary names.
WORST = 10
FULL_LIST = "loopmeter legibility --json --store STORE"


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def least_legible_first(cards: Mapping[str, Mapping[str, Any] | None]) -> list[tuple[str, Mapping[str, Any]]]:
    """(repo, scorecard) of the scored cards, the lowest score first (ties by name)."""
    return sorted(((repo, c) for repo, c in cards.items() if c is not None and c.get("score") is not None),
                  key=lambda rc: (rc[1]["score"], rc[0]))


def summary(cards: Mapping[str, Mapping[str, Any] | None], worst: int = WORST) -> dict[str, Any]:
    """The summary of `cards` ({repo: scorecard, or None where it could not be scored})."""
    scored = least_legible_first(cards)
    scores = [c["score"] for _, c in scored]
    # Bins of one point: [0, 1), [1, 2), ..., [9, 10]; a ten is in the last.
    histogram = [0] * 10
    for s in scores:
        histogram[min(9, int(s))] += 1
    questions = {}
    for q in QUESTIONS:
        qs = [x["score"] for _, c in scored for x in c["checks"] if x["question"] == q and x["score"] is not None]
        questions[q] = {"median": _median(qs), "scored": len(qs),
                        "limiting": sum(1 for _, c in scored if c.get("limiting_question") == q)}
    statuses = {c.id: {"met": 0, "partial": 0, "missing": 0, "unknown": 0} for c in CHECKS}
    for _, card in scored:
        for q in card["checks"]:
            for d in q["details"]:
                statuses[d["id"]][d["status"]] += 1
    checks = [{"id": c.id, "title": c.title, "question": c.question, "points": c.points, **statuses[c.id]}
              for c in CHECKS]
    # The checks that fail in the most repositories first (missing, then partial; ties in rule order).
    order = {c.id: i for i, c in enumerate(CHECKS)}
    checks.sort(key=lambda c: (-c["missing"], -c["partial"], order[c["id"]]))
    unscored = sorted(repo for repo, c in cards.items() if c is None or c.get("score") is None)
    return {
        "repositories": len(cards),
        "scored": len(scored),
        "not_scored": len(unscored),
        "not_scored_repos": unscored[:worst],
        "score": {"min": scores[0] if scores else None, "median": _median(scores),
                  "max": scores[-1] if scores else None, "histogram": histogram},
        "questions": questions,
        "worst": [_worst(repo, c) for repo, c in scored[:worst]],
        "checks": checks,
        "full_list": FULL_LIST,
    }


def _worst(repo: str, card: Mapping[str, Any]) -> dict[str, Any]:
    agency = card.get("effective_agency") or {}
    limiting = next((q for q in card["checks"] if q["question"] == card.get("limiting_question")), {})
    fixes = limiting.get("remediation") or [None]
    return {"repo": repo, "path": card.get("path"), "score": card["score"],
            "limiting_question": card.get("limiting_question"), "limiting_score": agency.get("score"),
            "first_fix": fixes[0]}


__all__ = ["CARDS", "FULL_LIST", "WORST", "summary"]
