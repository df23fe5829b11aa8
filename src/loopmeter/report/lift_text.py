"""Plain-language sentences for lift results, shared by the terminal, the HTML report and `lift`.

"median cycle time after adoption is 0.72x before [0.55, 0.93]" — the estimator decides what is
compared (a median, a regression's geometric mean, a Kaplan-Meier median), the comparison decides
between what.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..lift import names
from ..stats.json_values import finite

# What each estimator's ratio is a ratio of, said plainly.
_WHAT = {
    "ratio_of_medians": "median {m}",
    "ratio_of_p85": "85th-percentile {m}",
    "ratio_of_rates": "{m}",
    "hodges_lehmann": "typical {m} (Hodges-Lehmann)",
    "km_median_ratio": "median {m} counting open items (Kaplan-Meier)",
    "log_duration_regression": "{m} by regression with repository fixed effects",
    "log_duration_regression_size": "{m} by regression, adjusted for change size",
    "its_level_change": "{m}, level change at adoption (interrupted time series)",
    "did_att": "{m} (staggered difference-in-differences)",
    "log_duration_ols": "{m} by regression (log duration, adjusted for the covariates)",
    "log_duration_regression_author_fe": "{m} of the same people (regression with author fixed effects)",
    "log_duration_regression_author_fe_size": "{m} of the same people, adjusted for change size (regression with "
                                              "author fixed effects)",
    "poisson_author_fe": "{m} of the same people (Poisson with author fixed effects)",
}
_METRICS = {
    names.CYCLE: "cycle time",
    names.THROUGHPUT: "validated throughput per contributor-week",
    names.DURATION: "task duration",
    names.LOG_THROUGHPUT: "validated cases per week",
    names.RUN: "run duration",
    names.TURNAROUND: "turnaround between runs",
    names.WAITING: "time pull requests waited on a person",
}
# The metric's name where space is short (a chart row, a terminal line); `_METRICS` is the sentence's.
SHORT_METRIC = {names.CYCLE: "cycle time", names.THROUGHPUT: "throughput / contributor-week",
                names.DURATION: "task duration", names.WAITING: "waiting on humans"}


def short_metric(metric: Any) -> str:
    """`SHORT_METRIC`'s name of `metric`, or the key itself with spaces for one it does not know."""
    return SHORT_METRIC.get(str(metric), str(metric or "").replace("_", " "))


_COMPARE = {
    "after/before": "{what} after adoption is {r} before",
    "ai/human": "{what} of AI-handled cases is {r} that of cases no agent handled",
    "agent/human": "{what} of agent-launched runs is {r} that of runs people launched",
    "ai_assisted/human": "{what} of AI-assisted changes is {r} that of human changes",
    "treated/control": "{what} of the treated group is {r} that of the control group",
}
ESTIMATOR_NAMES = {
    "ratio_of_medians": "ratio of medians",
    "ratio_of_p85": "ratio of 85th percentiles",
    "ratio_of_rates": "ratio of rates",
    "hodges_lehmann": "Hodges-Lehmann (log hours)",
    "km_median_ratio": "Kaplan-Meier medians",
    "log_duration_regression": "log-duration regression (CR2 errors by author)",
    "log_duration_regression_size": "log-duration regression + size (CR2 errors by author)",
    "its_level_change": "interrupted time series",
    "did_att": "staggered DiD (Callaway-Sant'Anna)",
    "log_duration_ols": "log-duration regression",
    "log_duration_regression_author_fe": "log-duration regression, same authors",
    "log_duration_regression_author_fe_size": "log-duration regression, same authors + size",
    "poisson_author_fe": "Poisson rate ratio, same authors",
    "rate_ratio_cr1": "Poisson rate ratio, clustered by week",
}
# Author fixed effects compare each person with themselves: said so, with how many people that is.
_SAME_PEOPLE = {
    "after/before": "Comparing the same people before and after adoption ({who}), their {what} after adoption "
                    "is {r} before",
    "ai_assisted/human": "Comparing the same people's AI-assisted and human changes ({who}), the {what} of their "
                         "AI-assisted changes is {r} that of their human changes",
}


# Which interval a row's ci_low/ci_high are, said plainly for the time-series rows (`interval` of
# its_level_change): weekly series are autocorrelated, and a reader comparing rows should know
# that this interval allows for it.
INTERVAL_WORDS = {
    "sieve_bootstrap_t": "bootstrap interval that allows for week-to-week correlation",
    "newey_west": "Newey-West interval that allows for week-to-week correlation",
}


def interval_text(r: Mapping[str, Any]) -> str | None:
    """The kind of interval `r` shows, in plain words, for the time-series rows; None otherwise."""
    return INTERVAL_WORDS.get(str(r.get("interval")))


def estimator_name(estimator: Any, row: Mapping[str, Any] | None = None) -> str:
    """The estimator's name; with its result `row`, a before/after regression whose interval is the
    week-clustered one (lift/durations.py: the wider of by author and by week) says so, and a rate
    ratio without an interval names no clusters."""
    name = ESTIMATOR_NAMES.get(str(estimator), str(estimator or "—").replace("_", " "))
    if row is not None and row.get("interval_clusters") == "week":
        name = name.replace("CR2 errors by author", "CR2 errors by week, wider than by author")
    if str(estimator) == "rate_ratio_cr1" and row is not None and row.get("interval_clusters") in ("author", "week"):
        # The revert rate's headline (lift/quality.py): the wider of clustered by author and by week.
        other = "week" if row["interval_clusters"] == "author" else "author"
        name = f"Poisson rate ratio, clustered by {row['interval_clusters']} (wider than by {other})"
    elif str(estimator) == "rate_ratio_cr1" and row is not None and not (finite(row.get("ci_low"))
                                                                           or finite(row.get("ci_high"))):
        # No interval, so no clusters to name: a revert rate's estimate without one is clustered
        # by nothing, and "clustered by week" would describe an interval that is not there.
        name = "Poisson rate ratio (no interval)"
    return name


def ci_text(r: Mapping[str, Any]) -> str:
    lo, hi = r.get("ci_low"), r.get("ci_high")
    if finite(lo) and not finite(hi) and r.get("ci_high_unbounded"):
        return f"[{lo:.2f}, no upper bound]"
    return f"[{lo:.2f}, {hi:.2f}]" if finite(lo) and finite(hi) else "[no interval]"


def sentence(r: Mapping[str, Any]) -> str:
    """One sentence: what is compared, the ratio, its 95% interval, and whether it rules out 1."""
    metric = _METRICS.get(str(r.get("metric")), str(r.get("metric") or "the metric").replace("_", " "))
    what = _WHAT.get(str(r.get("estimator")), "{m} (" + estimator_name(r.get("estimator"), r) + ")").format(m=metric)
    if r.get("estimator") == "log_duration_ols" and not r.get("adjusted_for"):  # the loops' regression
        what = f"{metric} by regression (log duration: a ratio of geometric means)"
    fixed = r.get("fixed_effects") or []
    if r.get("estimator") == "log_duration_regression" and "team" in fixed:  # `lift --by team`
        what = f"{metric} by regression with team{' and repository' if 'repo' in fixed else ''} fixed effects"
    elif r.get("estimator") == "log_duration_regression" and "fixed_effects" in r and "repo" not in fixed:
        what = f"{metric} by regression (one repository, so no repository fixed effects)"
    ratio = r.get("ratio")
    if not finite(ratio):
        return f"{what[:1].upper()}{what[1:]}: no estimate (see the caveats)."
    pattern = _COMPARE.get(str(r.get("comparison")), "{what} is {r} in the first group vs the second")
    if str(r.get("estimator")).startswith("log_duration_regression_author_fe") and r.get("comparison") in _SAME_PEOPLE:
        n = r.get("n_identifying_authors")
        who = (f"{n} author{'s' if n != 1 else ''} with changes on both sides" if isinstance(n, int)
               else "author fixed effects")
        size = ", adjusted for change size" if str(r.get("estimator")).endswith("_size") else ""
        pattern = _SAME_PEOPLE[str(r["comparison"])].replace("{what}", metric).replace("{who}", who) + size
    if r.get("estimator") == "poisson_author_fe" and r.get("comparison") == "after/before":
        n = r.get("n_identifying_authors")
        who = (f"{n} author{'s' if n != 1 else ''} active on both sides" if isinstance(n, int)
               else "author fixed effects")
        pattern = f"The same people ({who}) validated {{r}} as many changes per active week after adoption as before"
    text = pattern.format(what=what, r=f"{ratio:.2f}x") + " " + ci_text(r)
    kind = interval_text(r)
    if kind and (finite(r.get("ci_low")) or finite(r.get("ci_high"))):
        text += f" ({kind})"
    lo, hi = r.get("ci_low"), r.get("ci_high")
    if finite(lo) and (finite(hi) or r.get("ci_high_unbounded")):
        text += "; the interval includes 1, so no difference is also consistent with the data" if lo <= 1 <= (hi if finite(hi) else float("inf")) else ""
    return text[:1].upper() + text[1:]


def number_caveats(rows: list[dict]) -> list[str]:
    """Give each distinct caveat of `rows` (dicts with a "caveats" list) one number, listed once:
    every row gets "notes", the numbers of its caveats, and the list of caveat texts is returned.
    Five caveats repeated under each of eight estimators read as forty; numbered, they read as five."""
    texts: list[str] = []
    for row in rows:
        notes = []
        for c in row.get("caveats") or []:
            if c not in texts:
                texts.append(c)
            notes.append(texts.index(c) + 1)
        row["notes"] = notes
    return texts


# The v1 `lift` rows (lift/summary.py) name no design: their comparison says which it is.
_COMPARISON_DESIGN = {"after/before": "before-after", "ai_assisted/human": "ai-vs-human",
                      "treated/control": "experiment"}


def short_reason(sentence: Any) -> str:
    """The verdict's not-enough-data sentence (lift/verdict.py `_lacking`) cut to the fact that
    decided it, for a label beside a number: "2.7 effective authors (of 50), at least 5 needed"."""
    s = str(sentence or "").removeprefix("Not enough data to say:").strip()
    m = re.search(r"come from ([\d,]+) (\w+) but amount to only ([\d.]+) equal ones.*?at least (\d+)", s)
    if m:
        return f"{m[3]} effective {m[2]} (of {m[1]}), at least {m[4]} needed"
    m = re.match(r"Only (.+?) \(at least (\S+) (?:are|is) needed", s)
    if m:
        return f"only {m[1]}, at least {m[2]} needed"
    first = re.split(r"[:;(]", s, maxsplit=1)[0].strip().rstrip(".")
    word = first.split(" ", 1)[0]
    # Lower-case the first letter unless the first word is an acronym ("CI runs"); "A group" is not.
    first = first if len(word) > 1 and word.isupper() else first[:1].lower() + first[1:]
    return (first[:87] + "…") if len(first) > 90 else (first or "see the verdict")


def verdict_label(entry: Any) -> str | None:
    """The label every number of a verdict entry's question carries when the entry is
    `not_enough_data` ("Not a verdict (too little data: only 3 authors, at least 10 needed)"),
    else None."""
    if not isinstance(entry, Mapping) or entry.get("status") != "not_enough_data":
        return None
    return f"Not a verdict (too little data: {short_reason(entry.get('sentence'))})"


def not_a_verdict(verdict: Any, design: Any, metric: Any, *, comparison: Any = None,
                  questions: Mapping[str, Mapping] | None = None) -> str | None:
    """The label a detail row must carry when the verdict on its question (`questions`: lift/verdict.py
    QUESTIONS, or a loop's table) is `not_enough_data`, else None. The row keeps its numbers for
    those who want them, but never as a bare headline: a ratio of 18.98x from 2.7 effective
    authors read as a finding is exactly what the verdict withheld. `design` may be None for a v1
    `lift` row, whose `comparison` names it."""
    if questions is None:
        from ..lift.verdict import QUESTIONS as questions  # imported on first use (scipy)
    design = design or _COMPARISON_DESIGN.get(str(comparison))
    metric = str(metric or "")
    # The v1 rows split cycle time by quantile (cycle_time_hours_p50 / _p85): one question.
    base = "cycle_time_hours" if metric.startswith("cycle_time_hours") else metric
    for e in verdict if isinstance(verdict, list) else []:
        label = verdict_label(e)
        if label is None:
            continue
        q = questions.get(str(e.get("question")))
        if q is not None and q.get("design") == design and q.get("metric") in (metric, base):
            return label
    return None


_GROUP_LABELS = {
    "ai_assisted": "AI-assisted changes",
    "human": "human changes",
    "after": "after adoption",
    "before": "before adoption",
}


def comparison_parts(comparison: Any) -> tuple[str, str]:
    """The two groups of a comparison ("ai_assisted/human") in words."""
    first, _, second = str(comparison or "").partition("/")
    return (
        _GROUP_LABELS.get(first, first.replace("_", " ") or "first group"),
        _GROUP_LABELS.get(second, second.replace("_", " ") or "second group"),
    )


def comparison_label(comparison: Any) -> str:
    a, b = comparison_parts(comparison)
    return f"{a} vs {b}"


def tone(row: Mapping[str, Any], questions: Mapping[str, Mapping] | None = None) -> str | None:
    """"better" or "worse" for the team when a summary `lift` row's interval excludes 1, by the
    direction its verdict question says is better (lift/verdict.py `lower_is_better`); None when
    the interval includes 1, is missing, or no question says which way is better."""
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if not (finite(lo) and finite(hi)) or lo <= 1 <= hi:
        return None
    if questions is None:
        from ..lift.verdict import QUESTIONS as questions  # imported on first use (scipy)
    metric = str(row.get("metric") or "")
    base = "cycle_time_hours" if metric.startswith("cycle_time_hours") else metric
    lower = {bool(q.get("lower_is_better")) for q in questions.values() if q.get("metric") in (metric, base)}
    if len(lower) != 1:
        return None
    return "better" if (lo > 1) != lower.pop() else "worse"


#: The summary `lift` rows' names as the dashboard shows them (a row of another metric: its key).
SUMMARY_LABELS = {
    "cycle_time_hours_p50": "Cycle time, median",
    "cycle_time_hours_p85": "Cycle time, 85th percentile",
    "validated_throughput_per_contributor_week": "Validated changes per contributor-week",
}


def add_labels(doc: dict) -> None:
    """Write the labels a reader shows into the report document (docs/json-report.md), so that a
    page renders them as text and keeps no copy of the rules that make them (the dashboard
    once kept copies of QUESTIONS and `short_reason` in JavaScript): each verdict entry's
    `not_a_verdict` (`verdict_label`), its headline's `estimator_label` (`estimator_name`), and
    each summary `lift` row's `label`, `comparison_label`, `tone` and `not_a_verdict`, the latter
    two only beside a number that is shown (not withheld, not missing; `tone` also only as a finding,
    not beside a `not_a_verdict` label). Run again after changing the verdict or the rows."""
    verdict = doc.get("verdict") or []
    for e in verdict:
        e["not_a_verdict"] = verdict_label(e)
        if isinstance(e.get("headline"), dict) and e["headline"].get("estimator"):
            e["headline"]["estimator_label"] = estimator_name(e["headline"]["estimator"], e["headline"])
    for r in doc.get("lift") or []:
        metric = str(r.get("metric") or "")
        r["label"] = SUMMARY_LABELS.get(metric, metric)
        shown = not r.get("withheld") and r.get("ratio") is not None
        r["comparison_label"] = comparison_label(r.get("comparison"))
        r["not_a_verdict"] = not_a_verdict(verdict, None, metric, comparison=r.get("comparison")) if shown else None
        r["tone"] = tone(r) if shown and not r["not_a_verdict"] else None
