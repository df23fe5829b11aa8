"""The glossary a report page carries: every plain label it uses, defined in a sentence or two.

The same entries are the "Glossary" section of docs/metrics.md; `tests/test_report_page.py` keeps the
two equal, so the page never defines a term differently from the documentation.
"""

from __future__ import annotations

__all__ = ["GLOSSARY", "anchor"]

#: (anchor, term, definition) in the order the page lists them.
GLOSSARY: list[tuple[str, str, str]] = [
    ("change", "Change",
     "What landed on the analysed branch in one step: a merged pull request, a squash merge or a direct commit."),
    ("cycle-time", "Cycle time",
     "Time from a change's first commit to its landing on the branch. Unknown when git cannot tell (a commit that "
     "landed the moment it was written); unknown is left out, never counted as zero."),
    ("validated", "Validated change",
     "A landed change that was not reverted within the validation window (14 days by default) and, where CI data "
     "exists, whose merge CI passed. Younger changes are pending: not judged yet."),
    ("throughput", "Validated throughput per contributor-week",
     "Validated changes landed per week, divided by the number of people who landed work that week."),
    ("ai-assisted", "AI-assisted",
     "A change with at least one sign that an AI agent or tool wrote or helped write its code (a trailer, an "
     "account, a branch name, a label). Signs can be removed, so every AI share is a lower bound."),
    ("adoption", "Adoption date",
     "The date AI use is taken to start: given with --adoption-date, or the first week from which AI-assisted "
     "changes keep appearing. Before and after comparisons split at it."),
    ("exposure", "Exposure",
     "The share of changes after the adoption date that are AI-assisted. When it is low, a before/after "
     "difference cannot be credited to AI."),
    ("ratio", "Ratio",
     "How two groups compare: the first group's value divided by the second's (after / before, AI-assisted / "
     "human). 1 means no difference; 0.80 means 20% lower."),
    ("interval", "95% interval",
     "The range of ratios consistent with the data at 95% confidence. When it includes 1, no difference is also "
     "consistent with the data."),
    ("cluster-aware", "Cluster-aware",
     "An interval that treats each person's changes as one group (a cluster) instead of as independent "
     "observations. Only such intervals can make a verdict; ignoring clusters makes intervals too narrow."),
    ("verdict", "Verdict",
     "One answer per question: better, worse, no detectable change, not enough data, or estimates disagree. Better "
     "or worse only when the headline interval excludes 1 and no credible alternative estimate points the other "
     "way."),
    ("specification", "Specification table",
     "The same ratio computed under other reasonable choices (estimator, validation window, period), so that no "
     "single number can be cherry-picked."),
    ("revert-rate", "Revert rate",
     "The share of landed changes that another change reverted within the validation window."),
    ("waiting", "Waiting on humans",
     "Hours a pull request spent waiting for a person: review requested but not given, approved but not merged, "
     "CI green but not merged."),
    ("change-failure-rate", "Change failure rate",
     "The share of production deployments followed within the failure window by a revert, a hotfix or a linked "
     "incident."),
    ("caveat", "Caveat",
     "A reason the data could mislead: too few changes, groups of different sizes, adoption not random, a trend "
     "already under way. Each design lists its caveats once."),
    ("evidence-class", "Evidence class",
     "What a sign of AI shows: authored (an agent wrote the change), assisted (a person worked with an AI tool), "
     "suggestion (an accepted AI review suggestion) or message (an AI-written commit message). Only authored and "
     "assisted make a change AI-assisted unless loopmeter.toml opts the others in."),
    ("automation-account", "Automation account",
     "A bot account (dependency updaters, release tools, CI bots). Its changes are counted in totals but left out "
     "of every human-vs-AI comparison."),
    ("provenance", "Line provenance",
     "A record of which added lines an agent wrote (Git AI notes, Agent Trace records). Only commits that carry "
     "one count, so the AI-written share of lines is not the share of all code."),
    ("durability", "Durability",
     "The share of a change's added lines still present, unchanged, on the default branch N days after it landed; "
     "only changes at least N days old count."),
]

_ANCHORS = {key for key, _, _ in GLOSSARY}


def anchor(key: str) -> str:
    """The page anchor of a glossary entry (`#g-cycle-time`); an unknown key is a bug, not a dead link."""
    if key not in _ANCHORS:
        raise KeyError(f"no glossary entry {key!r}")
    return f"#g-{key}"
