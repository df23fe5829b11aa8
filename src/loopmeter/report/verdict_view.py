"""The verdict block as a reader sees it, for the HTML page and the Markdown digest alike.

Reads the document's `verdict` key (docs/json-report.md): one entry per question with a status, a
sentence, a cluster-aware headline, the agreement of the specifications, the AI exposure and the
caveats. A document without it (written before verdicts existed) falls back to its v1 `lift`
estimates, shown as estimates with no status, so an old report still opens on its numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..lift.verdict import QUESTIONS as TITLES
from ..stats.json_values import finite
from .lift_text import estimator_name

__all__ = ["VerdictRow", "verdict_rows", "loop_verdict_rows", "STATUS"]

#: status -> (badge text, tone). The tone is what the status means for the team, whichever way
#: the ratio runs: shorter cycles, more throughput and fewer reverts are all "good".
STATUS: dict[str, tuple[str, str]] = {
    "improved": ("Better", "good"),
    "worsened": ("Worse", "bad"),
    "no_detectable_change": ("No detectable change", "neutral"),
    "not_enough_data": ("Not enough data", "muted"),
    "inconsistent": ("Estimates disagree", "warn"),
}
NO_STATUS = ("Estimate only", "muted")

#: question -> (glossary entry, what the ratio divides). The question's title is not here: the
#: one definition is lift/verdict.py QUESTIONS, which the JSON, the terminal and this view all use.
QUESTIONS: dict[str, tuple[str, str]] = {
    "cycle_time_after_vs_before": ("cycle-time", "after ÷ before"),
    "cycle_time_ai_vs_human": ("cycle-time", "AI-assisted ÷ human, same size"),
    "throughput_after_vs_before": ("throughput", "after ÷ before"),
    "revert_rate_after_vs_before": ("revert-rate", "after ÷ before"),
    "waiting_after_vs_before": ("waiting", "after ÷ before"),
    "change_failure_rate_after_vs_before": ("change-failure-rate", "after ÷ before"),
    "durability_ai_vs_human": ("durability", "AI-assisted ÷ human, lines kept"),
    "duration_treated_vs_control": ("ratio", "treated ÷ control"),
}


def title(question: str) -> str:
    """The plain title of one of the report's questions (lift/verdict.py QUESTIONS), capitalised."""
    t = TITLES[question]["title"]
    return t[:1].upper() + t[1:]


_V1_METRICS = {
    "cycle_time_hours": ("Median cycle time", "cycle-time"),
    "cycle_time_hours_p50": ("Median cycle time", "cycle-time"),
    "cycle_time_hours_p85": ("85th-percentile cycle time", "cycle-time"),
    "validated_throughput_per_contributor_week": ("Validated throughput per contributor-week", "throughput"),
}
_V1_COMPARE = {"after/before": "after ÷ before", "ai_assisted/human": "AI-assisted ÷ human"}


@dataclass(frozen=True)
class VerdictRow:
    question: str  # the document's key
    label: str  # plain label
    term: str  # glossary entry the label links to
    status: str | None
    badge: str
    tone: str  # good / bad / neutral / warn / muted
    sentence: str
    ratio: str | None  # "0.74×", None when there is no number to show
    compares: str  # "after ÷ before"
    interval: str | None  # "0.53–1.00"
    sizes: str | None  # "412 vs 388 changes, 37 people"
    estimator: str | None
    exposure: str | None  # "AI in 34% of changes after adoption (at least 10% needed)"
    exposure_low: bool = False
    caveats: list[str] = field(default_factory=list)
    disagreement: str | None = None  # "credible specifications range 0.70×–1.12×"


def _x(v: Any) -> str | None:
    return f"{v:.2f}×" if finite(v) else None


def _interval(lo: Any, hi: Any) -> str | None:
    return f"{lo:.2f}–{hi:.2f}" if finite(lo) and finite(hi) else None


def _sizes(h: Mapping[str, Any]) -> str | None:
    # The people behind the numbers, also where the interval is clustered by week (`n_authors`).
    a, b, c = h.get("n_a"), h.get("n_b"), h.get("n_authors", h.get("n_clusters"))
    if not finite(a) or not finite(b):
        return None
    text = f"{int(a):,} vs {int(b):,}"
    if finite(c) and c:
        # A loop's clusters are resources, teams, users or weeks (lift/loop_verdict.py says which).
        text += f", {int(c):,} {h.get('cluster_unit') or 'people'}"
    return text


def _exposure(value: Any, items: str | None = None) -> tuple[str | None, bool]:
    """`items` names a loop's cases or runs, whose AI share is counted, not a lower bound."""
    share, minimum = value, None
    if isinstance(value, Mapping):
        share = value.get("ai_share_after", value.get("share"))
        minimum = value.get("minimum")
    if not finite(share):
        return None, False
    text = (f"AI in {share * 100:.0f}% of {items} after adoption" if items
            else f"AI in at least {share * 100:.0f}% of changes after adoption")
    low = finite(minimum) and share < minimum
    if finite(minimum):
        text += f" ({minimum * 100:.0f}% needed to credit AI)"
    return text, bool(low)


#: A loop question's key ends in what its ratio divides (lift/loop_verdict.py).
_LOOP_COMPARES = (("_after_vs_before", "after ÷ before"), ("_ai_vs_human", "AI-handled ÷ human"),
                  ("_agent_vs_human", "agent ÷ human"))


def _own_title(e: Mapping[str, Any], key: str) -> tuple[str, str, str]:
    title = str(e.get("title") or key.replace("_", " ")) or "Question"
    compares = next((c for end, c in _LOOP_COMPARES if key.endswith(end)), "first ÷ second")
    return title[:1].upper() + title[1:], "ratio", compares


def _from_verdict(e: Mapping[str, Any], own_titles: bool = False) -> VerdictRow:
    key = str(e.get("question") or "")
    # An event log's or experiment's questions share keys with the repository's ("cycle time")
    # but are about its cases or runs: their own titles say so.
    label, term, compares = _own_title(e, key) if own_titles or key not in QUESTIONS else (title(key), *QUESTIONS[key])
    status = str(e.get("status") or "")
    badge, tone = STATUS.get(status, NO_STATUS)
    h = e.get("headline") if isinstance(e.get("headline"), Mapping) else {}
    loop_items = ("runs" if key.startswith(("run_", "turnaround_")) else "cases") if own_titles else None
    exposure, low = _exposure(e.get("exposure"), loop_items)
    agreement = e.get("agreement") if isinstance(e.get("agreement"), Mapping) else {}
    spread = None
    if finite(agreement.get("low")) and finite(agreement.get("high")) and agreement.get("specifications"):
        spread = (f"{int(agreement['specifications'])} credible estimates range "
                  f"{agreement['low']:.2f}×–{agreement['high']:.2f}×")
    if finite(h.get("horizon_days")):  # durability: the share still there after this many days
        compares += f", {int(h['horizon_days'])} days"
    return VerdictRow(
        question=key, label=label, term=term, status=status or None, badge=badge, tone=tone,
        sentence=str(e.get("sentence") or ""), ratio=_x(h.get("ratio")), compares=compares,
        interval=_interval(h.get("ci_low"), h.get("ci_high")), sizes=_sizes(h),
        estimator=estimator_name(h.get("estimator"), h) if h.get("estimator") else None,
        exposure=exposure, exposure_low=low, caveats=[str(c) for c in e.get("caveats") or []],
        disagreement=spread,
    )


def _from_lift(e: Mapping[str, Any]) -> VerdictRow:
    from .html import lift_sentence  # the v1 sentence lives with the v1 table

    metric = str(e.get("metric") or "")
    label, term = _V1_METRICS.get(metric, (metric.replace("_", " ").capitalize(), "ratio"))
    comparison = str(e.get("comparison") or "")
    return VerdictRow(
        question=f"{metric}:{comparison}", label=label, term=term, status=None, badge=NO_STATUS[0], tone=NO_STATUS[1],
        sentence=lift_sentence(e), ratio=_x(e.get("ratio")), compares=_V1_COMPARE.get(comparison, comparison),
        interval=_interval(e.get("ci_low"), e.get("ci_high")), sizes=_sizes(e),
        estimator=estimator_name(e.get("estimator"), e) if e.get("estimator") else None, exposure=None,
        caveats=[str(c) for c in e.get("caveats") or []],
    )


def loop_verdict_rows(entries: Any) -> list[VerdictRow]:
    """The rows of an event log's or an MLflow experiment's `verdict` (lift/loop_verdict.py)."""
    return [_from_verdict(e, own_titles=True) for e in entries or [] if isinstance(e, Mapping)]


def verdict_rows(doc: Mapping[str, Any]) -> tuple[list[VerdictRow], bool]:
    """(rows, from_verdict): the verdict entries, or the v1 lift estimates when the document has no
    `verdict` key (from_verdict is then False)."""
    entries = doc.get("verdict")
    if isinstance(entries, list):
        return [_from_verdict(e) for e in entries if isinstance(e, Mapping)], True
    return [_from_lift(e) for e in doc.get("lift") or [] if isinstance(e, Mapping)], False
