"""Caveats computed from the data a lift was estimated on, each one a plain sentence.

Every check is a pure function of numbers the design already has (group sizes, per-repository
ratios, event-time effects, pre-trend tests, the specification table). A check returns a
`Caveat` when it fired, None when it ran and did not, and `NotRun` (with the reason) when the data
could not answer it, so the report can say "this warning applies", "we looked and it did not" and
"we could not look", and never the second for the third. Thresholds are conventions (stated beside each), not
theorems; they are the same for every design so that nobody can tune them per report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..stats.json_values import finite
from ..stats.lift import MIN_CLUSTERS, MIN_VALUES, SIZE_MISMATCH, size_mismatch_medians

__all__ = [
    "Caveat",
    "NotRun",
    "Outcome",
    "few_identifying_authors",
    "finite",
    "not_steady",
    "novelty",
    "pre_trends",
    "selection",
    "simpsons_paradox",
    "size_mismatch",
    "specification_spread",
    "too_few",
    "unknown_durations",
]

#: An effect is "fading" when the later post-adoption effect keeps less than this share of the
#: early effect on the log scale (and the early effect is at least NOVELTY_MIN away from 1).
NOVELTY_KEEP = 0.5
NOVELTY_MIN = math.log(1.1)
#: Fewer items than this in the early or late window and the novelty check does not judge.
NOVELTY_MIN_ITEMS = 10
#: A pre-trend test below this p-value flags the design.
PRE_TREND_ALPHA = 0.05
#: The specification table is "sensitive" when its largest estimate is this many times its smallest.
SPEC_SPREAD = 1.5


@dataclass(frozen=True)
class Caveat:
    code: str  # stable machine name: too_few, size_mismatch, selection, novelty, simpsons_paradox, ...
    text: str  # one or two plain sentences

    def to_dict(self) -> dict:
        return {"code": self.code, "text": self.text}


@dataclass(frozen=True)
class NotRun:
    """A check the data could not answer (one repository for a within-repository check, no weeks
    before adoption for a pre-trend test): never reported as "checked and not found"."""

    code: str
    reason: str


#: What a check can return: fired, ran and did not fire (None), or could not run.
Outcome = Caveat | NotRun | None


def _x(r: float) -> str:
    return f"{r:.2f}x"


def too_few(n_a: int, n_b: int, n_clusters: int, labels: tuple[str, str] = ("the first group", "the second group"),
            *, min_values: int = MIN_VALUES, min_clusters: int = MIN_CLUSTERS) -> Caveat | None:
    """Fewer than `min_values` items in a group, or fewer than `min_clusters` authors (the only
    caller passes authors, also where the interval shown is clustered by week)."""
    parts = []
    for label, n in zip(labels, (n_a, n_b)):
        if n < min_values:
            parts.append(f"{label} has only {n} items (fewer than {min_values})")
    if n_clusters < min_clusters:
        parts.append(f"only {n_clusters} authors (fewer than {min_clusters}), so the interval is likely too narrow")
    if not parts:
        return None
    return Caveat("too_few", "Small sample: " + "; ".join(parts) + ".")


def few_identifying_authors(n_identifying: int, n_changes: int, n_authors: int,
                            labels: tuple[str, str] = ("the first group", "the second group"), *,
                            min_clusters: int = MIN_CLUSTERS, changes: str = "changes",
                            side: str = "have changes") -> Caveat | None:
    """The within-author estimate (author fixed effects) rests on the authors with changes in both
    groups; fewer than `min_clusters` of them (the few-clusters threshold) is a handful of people,
    and none leaves nothing to estimate (the estimate's row then gives this as its reason).
    `changes` names what is counted and `side` what puts an author on a side (throughput:
    "validated changes", "are active with validated changes")."""
    if n_identifying >= min_clusters:
        return None
    if n_identifying <= 0:
        return Caveat(
            "few_identifying_authors",
            f"No author {side.replace('have ', 'has ', 1).replace('are ', 'is ', 1)} in both {labels[0]} and "
            f"{labels[1]}, so the same people cannot be compared with themselves: each author's {changes} are all "
            "on one side.",
        )
    return Caveat(
        "few_identifying_authors",
        f"Only {n_identifying} of {n_authors} authors {side} in both {labels[0]} and {labels[1]} "
        f"({n_changes:,} {changes}); only they carry the same-people comparison, and with fewer than {min_clusters} "
        "its interval is unreliable, usually too narrow.",
    )


def unknown_durations(n_unknown: int, n_total: int) -> Caveat | None:
    """Items whose duration git cannot know were left out, counted rather than treated as zero."""
    if n_unknown <= 0:
        return None
    share = n_unknown / n_total if n_total else 1.0
    return Caveat(
        "unknown_durations",
        f"{n_unknown:,} of {n_total:,} changes ({share:.0%}) have an unknown cycle time (a single commit that "
        "landed when it was written, or a squash merge without its pull-request commits) and are left out, "
        "never counted as zero; if they differ from the rest, so would the estimate.",
    )


def size_mismatch(sizes_a: Sequence[float], sizes_b: Sequence[float], labels: tuple[str, str],
                  adjusted: dict | None = None, *, threshold: float = SIZE_MISMATCH) -> Caveat | None:
    """Median change sizes differ by more than `threshold` between the groups (the rule is
    stats.lift.size_mismatch_medians, shared with the v1 lift and the pilot).

    Size moves cycle time by itself and AI changes it, so the caveat names the size-adjusted
    estimate (`adjusted`: a result with ratio/ci_low/ci_high) when there is one.
    """
    known_a = [x for x in sizes_a if finite(x)]
    known_b = [x for x in sizes_b if finite(x)]
    if not known_a or not known_b:
        return NotRun("size_mismatch", "A group has no change with a known size.")
    medians = size_mismatch_medians(sizes_a, sizes_b, threshold)
    if medians is None:
        return None
    ma, mb = medians
    r = f"{_x(ma / mb)}" if ma > 0 and mb > 0 else "one median is zero"
    text = (f"Changes differ in size: the median change of {labels[0]} is {ma:,.0f} lines, of {labels[1]} "
            f"{mb:,.0f} lines ({r}); size alone moves cycle time.")
    if adjusted and finite(adjusted.get("ratio")):
        ci = _ci_text(adjusted)
        text += f" Adjusted for size (log lines) the ratio is {_x(adjusted['ratio'])}{ci}."
    else:
        text += " No size-adjusted estimate is available."
    return Caveat("size_mismatch", text)


def selection(design: str, *, randomized: bool = False, prior_ratio: float | None = None,
              prior_labels: tuple[str, str] | None = None) -> Caveat | None:
    """Observational designs: who used AI, or when, was chosen, not assigned at random.

    `prior_ratio` is the same metric compared between the same people before anyone used AI
    (e.g. later AI users vs the rest, before adoption): a ratio far from 1 shows the groups
    differed before AI could have caused anything.
    """
    if randomized:
        return None
    if design == "experiment":
        text = ("The table does not say the treatment was assigned at random; if people chose it, those who did "
                "may differ from the rest.")
    elif design == "ai-vs-human":
        text = ("AI use was not randomized: the people and tasks that used AI may differ from the rest "
                "(easier tasks, faster people).")
    else:
        text = ("Adoption was not randomized: anything else that changed around the adoption date "
                "(team, project phase, release cycle) is mixed into this ratio.")
    if prior_ratio is not None and finite(prior_ratio) and prior_labels:
        text += (f" Before adoption, {prior_labels[0]} already had {_x(prior_ratio)} the value of "
                 f"{prior_labels[1]}.")
    return Caveat("selection", text)


def novelty(early: float | None, late: float | None, n_early: int, n_late: int, *,
            early_label: str = "the first 4 weeks after adoption", late_label: str = "the weeks after that",
            keep: float = NOVELTY_KEEP, min_effect: float = NOVELTY_MIN,
            min_items: int = NOVELTY_MIN_ITEMS) -> Caveat | None:
    """The effect fades: the early post-adoption ratio is clearly away from 1 and the later one
    keeps less than `keep` of it on the log scale (or points the other way)."""
    if not (finite(early) and finite(late)) or early <= 0 or late <= 0:
        return NotRun("novelty", "There is no ratio for the first weeks after adoption or for the weeks after them.")
    if n_early < min_items or n_late < min_items:
        return NotRun("novelty", f"Fewer than {min_items} items in the first weeks after adoption or in the weeks "
                                 "after them.")
    le, ll = math.log(early), math.log(late)
    if abs(le) < min_effect:
        return None
    faded = (le * ll <= 0) or abs(ll) < keep * abs(le)
    if not faded:
        return None
    return Caveat(
        "novelty",
        f"The effect fades: {_x(early)} in {early_label} but {_x(late)} in {late_label}. "
        "An early burst (novelty, a hand-picked first project) would make the whole-period ratio overstate "
        "the lasting effect.",
    )


def simpsons_paradox(pooled: float | None, within: Iterable[tuple[str, float | None, int]], *,
                     unit: str = "repositories", min_items: int = 5) -> Caveat | None:
    """The pooled ratio points the other way from most within-group ratios.

    `within` holds (group, ratio, items). Groups with fewer than `min_items` items, no ratio, or a
    ratio of exactly 1 do not vote. Needs at least two voting groups and a strict majority.
    """
    if not finite(pooled) or pooled <= 0:
        return NotRun("simpsons_paradox", "There is no pooled ratio to compare.")
    votes = [(g, r) for g, r, n in within if finite(r) and r > 0 and r != 1 and n >= min_items]
    if len(votes) < 2:
        return NotRun("simpsons_paradox", f"Fewer than two {unit} have {min_items} or more items on both sides, "
                                          "so there is nothing to compare within.")
    if pooled == 1:
        return None
    pooled_up = pooled > 1
    against = [(g, r) for g, r in votes if (r > 1) != pooled_up]
    if len(against) * 2 <= len(votes):
        return None
    shown = ", ".join(f"{g} {_x(r)}" for g, r in against[:4]) + (" ..." if len(against) > 4 else "")
    return Caveat(
        "simpsons_paradox",
        f"Simpson's paradox: pooled over {unit} the ratio is {_x(pooled)}, but in {len(against)} of {len(votes)} "
        f"{unit} it points the other way ({shown}). The mix of {unit} differs between the groups; trust the "
        f"estimate with {unit} as fixed effects, not the pooled one.",
    )


def pre_trends(p_value: float | None, *, source: str = "the event study", alpha: float = PRE_TREND_ALPHA,
               slope: float | None = None, why_not: str | None = None) -> Outcome:
    """A pre-trend test (event-study pre-periods jointly zero, or an ITS pre-period slope) rejects.
    No p-value is a test that did not run (`why_not` says why)."""
    if not finite(p_value):
        return NotRun("pre_trends", why_not or f"{source[0].upper()}{source[1:]} gave no pre-trend test.")
    if p_value >= alpha:
        return None
    trend = ""
    if finite(slope):
        trend = f" (the outcome was already {'rising' if slope > 0 else 'falling'} by {abs(slope):.3g} a week)"
    return Caveat(
        "pre_trends",
        f"Trends before adoption{trend}: {source} rejects flat pre-adoption periods (p = {p_value:.3f}). "
        "Part of the after/before difference may be a trend that was already under way.",
    )


def not_steady(windows: Sequence[tuple[str, Mapping]]) -> Caveat | None:
    """Little's law does not hold in a compared period (WIP != throughput x cycle time, or work piling
    up or draining): the flow was changing, and that change is mixed into the comparison.

    `windows` holds (label, flow window) pairs, the window a `stats.flow.FlowWindow.to_dict()`."""
    if not windows:
        return NotRun("not_steady", "No period has a flow window (too few items with a known start).")
    bad = [(label, w) for label, w in windows if not w.get("steady", True)]
    if not bad:
        return None
    label, w = bad[0]
    reason = " ".join(w.get("reasons") or ["The flow was not steady."])
    more = f" (and {len(bad) - 1} more period{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
    return Caveat(
        "not_steady",
        f"Flow was not steady in {label}{more}: {reason} A comparison across a ramp-up or a backlog being "
        "drained mixes that change into the ratio.",
    )


def specification_spread(rows: Sequence[dict], *, spread: float = SPEC_SPREAD) -> tuple[dict | None, Outcome]:
    """The range of one metric's estimates across the specification table, and a caveat when
    intervals exclude 1 on both sides, when the estimates disagree about direction (some below 1,
    some above) or span more than `spread`x."""
    ratios = [float(r["ratio"]) for r in rows if finite(r.get("ratio")) and r["ratio"] > 0]
    if not ratios:
        return None, NotRun("specification", "No alternative specification gave an estimate.")
    lo, hi = min(ratios), max(ratios)
    rng = {"min": lo, "max": hi, "n": len(ratios)}
    # Intervals that exclude 1 on both sides: two credible choices give opposite answers.
    below = [r for r in rows if finite(r.get("ci_high")) and r["ci_high"] < 1]
    above = [r for r in rows if finite(r.get("ci_low")) and r["ci_low"] > 1]
    rng["intervals_disagree"] = bool(below and above)
    if below and above:
        return rng, Caveat(
            "specification",
            f"Across {len(ratios)} reasonable choices of estimator, window and period, {len(below)} give an interval "
            f"wholly below 1 and {len(above)} one wholly above 1 (estimates {_x(lo)} to {_x(hi)}): the answer "
            "depends on the choice.",
        )
    if lo < 1 < hi:
        return rng, Caveat(
            "specification",
            f"Across {len(ratios)} reasonable choices of estimator, window and period the estimate ranges from "
            f"{_x(lo)} to {_x(hi)}, on both sides of 1: the direction depends on the choice.",
        )
    if hi / lo > spread:
        return rng, Caveat(
            "specification",
            f"Across {len(ratios)} reasonable choices of estimator, window and period the estimate ranges from "
            f"{_x(lo)} to {_x(hi)}: its size depends on the choice.",
        )
    return rng, None


def _ci_text(r: dict) -> str:
    lo, hi = r.get("ci_low"), r.get("ci_high")
    return f" [{lo:.2f}, {hi:.2f}]" if finite(lo) and finite(hi) else ""
