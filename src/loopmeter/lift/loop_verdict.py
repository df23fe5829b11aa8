"""The verdict of loops that are not git: event logs, MLflow experiments and published panels.

Event logs and experiments have lift designs shaped like the git ones (metrics/log_lift.py,
metrics/experiments.py), so their questions are judged by `verdict.judge` itself, with the same
rules (docs/metrics.md "Verdict"); only the question table differs: its headline is the log
designs' clustered estimator (the log-duration regression with errors clustered by resource,
team or user; the ratio of weekly rates resampling weeks), and its sentences speak of cases and
runs, not changes.

A published panel has no ratio: its effects are differences (or log points) from the staggered
estimators of designs/panel.py, both clustered by unit. `panel_verdict` applies the same rules
with 0 in place of 1: the headline is Callaway-Sant'Anna (else the imputation estimator);
`not_enough_data` with fewer than MIN_CLUSTERS treated units or no interval of positive width;
`inconsistent` when both estimators are credible and their intervals exclude 0 on opposite
sides; else `improved` / `worsened` by the headline interval in the direction the user calls
better (`--better`, higher by default, said in the entry), or `no_detectable_change`.

Pure: it reads only design documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..stats.json_values import finite
from ..stats.lift import MIN_CLUSTERS
from .names import CYCLE as LOG_CYCLE, LOG_THROUGHPUT, RUN, TURNAROUND
from .verdict import judge

HEADLINE = "log_duration_ols"  # stats/regression.py: log-duration regression, cluster-robust errors

_AFTER = ("after adoption", "before adoption")

#: An event log's questions, in the shape of verdict.QUESTIONS plus the words of its sentences.
LOG_QUESTIONS: dict[str, dict] = {
    "cycle_time_after_vs_before": {
        "design": "before-after", "metric": LOG_CYCLE, "headline": HEADLINE,
        "lower_is_better": True, "after_before": True, "groups": _AFTER,
        "items": "done cases with a known cycle time", "exposed": "cases done after adoption were AI-handled",
        "title": "case cycle time, after vs before AI adoption",
        "says": "cases took {r} as long after adoption as before",
    },
    "cycle_time_ai_vs_human": {
        "design": "ai-vs-human", "metric": LOG_CYCLE, "headline": HEADLINE,
        "lower_is_better": True, "after_before": False, "groups": ("AI-handled", "human"),
        "items": "done cases with a known cycle time",
        "title": "case cycle time, AI-handled vs human",
        "says": "AI-handled cases took {r} as long as cases no agent handled",
    },
    "validated_cases_after_vs_before": {
        "design": "before-after", "metric": LOG_THROUGHPUT, "headline": "ratio_of_rates",
        "lower_is_better": False, "after_before": True, "groups": _AFTER, "clusters": "weeks",
        "items": "validated cases", "exposed": "cases done after adoption were AI-handled",
        "title": "validated cases per week, after vs before",
        "says": "the loop validated {r} as many cases a week after adoption as before",
    },
}

#: An MLflow experiment's questions (clusters: the user who launched the run).
EXPERIMENT_QUESTIONS: dict[str, dict] = {
    "run_duration_after_vs_before": {
        "design": "before-after", "metric": RUN, "headline": HEADLINE, "lower_is_better": True,
        "after_before": True, "groups": _AFTER, "items": "ended runs", "clusters": "users",
        "exposed": "runs after adoption were agent-launched",
        "title": "run duration, after vs before AI adoption",
        "says": "runs took {r} as long after adoption as before",
    },
    "turnaround_after_vs_before": {
        "design": "before-after", "metric": TURNAROUND, "headline": HEADLINE, "lower_is_better": True,
        "after_before": True, "groups": _AFTER, "items": "turnarounds (a run's end to the next run's start)",
        "clusters": "users", "exposed": "runs after adoption were agent-launched",
        "title": "turnaround between runs, after vs before AI adoption",
        "says": "the loop waited {r} as long between runs after adoption as before",
    },
    "run_duration_agent_vs_human": {
        "design": "ai-vs-human", "metric": RUN, "headline": HEADLINE, "lower_is_better": True,
        "after_before": False, "groups": ("agent-launched", "human-launched"), "items": "ended runs",
        "clusters": "users",
        "title": "run duration, agent-launched vs human",
        "says": "agent-launched runs took {r} as long as runs people launched",
    },
    "turnaround_agent_vs_human": {
        "design": "ai-vs-human", "metric": TURNAROUND, "headline": HEADLINE, "lower_is_better": True,
        "after_before": False, "groups": ("agent-launched", "human-launched"),
        "items": "turnarounds (a run's end to the next run's start)", "clusters": "users",
        "title": "turnaround between runs, agent vs human next step",
        "says": "an agent's next run started after {r} as long a wait as a person's",
    },
}

_CLUSTER_WORDS = {"resource": "resources", "team": "teams", "user": "users", "week": "weeks"}


def _unavailable(question: str, q: Mapping, why: str) -> dict:
    return {"question": question, "title": q["title"], "status": "not_enough_data",
            "sentence": f"Not enough data to say: {why[0].upper() + why[1:]}.", "headline": None,
            "agreement": {"specifications": 0, "low": None, "high": None, "intervals_disagree": False},
            "exposure": None, "caveats": []}


def loop_verdict(designs: Iterable[Mapping], questions: Mapping[str, Mapping]) -> list[dict]:
    """One entry per question of `questions` whose design is present, in the table's order; a
    design that could not run (no adoption date) gives `not_enough_data` with its reason."""
    by_design = {d.get("design"): d for d in designs if isinstance(d, Mapping)}
    out = []
    for question, q in questions.items():
        d = by_design.get(q["design"])
        if d is None:
            continue
        if d.get("unavailable"):
            out.append(_unavailable(question, q, str(d["unavailable"])))
            continue
        rows = [r for r in d.get("results") or [] if r.get("metric") == q["metric"]]
        if not rows:
            continue
        if not any(r.get("estimator") == q["headline"] for r in rows):
            # The regression is left out when a group is empty; the first row's caveat says which.
            why = next((c for r in rows for c in r.get("caveats") or []), "there is no cluster-aware estimate")
            out.append(_unavailable(question, q, str(why).rstrip(".")))
            continue
        if "clusters" not in q or d.get("cluster") == "week":
            q = {**q, "clusters": _CLUSTER_WORDS.get(str(d.get("cluster")), "clusters")}
        entry = judge(question, d, {question: q})
        if isinstance(entry.get("headline"), dict):  # what n_clusters counts, for the readers' "n" column
            entry["headline"]["cluster_unit"] = q["clusters"]
        fallback = d.get("cluster_fallback")
        if fallback and entry["status"] != "not_enough_data":
            # The reader must know the interval's independent units were weeks, not people.
            entry["sentence"] += f" Clustered by week: only {fallback['users']} user" + (
                "" if fallback["users"] == 1 else "s") + " launched the runs."
            entry["caveats"] = [*entry["caveats"], fallback["text"]]
        out.append(entry)
    return out


def log_verdict(lift: Mapping | None) -> list[dict]:
    """`event_logs[].verdict` from the entry's `lift` (metrics/log_lift.py)."""
    return loop_verdict((lift or {}).get("designs") or [], LOG_QUESTIONS)


def experiment_verdict(lift: Mapping | None) -> list[dict]:
    """`experiments[].verdict` from the entry's `lift` (metrics/experiments.py)."""
    return loop_verdict((lift or {}).get("designs") or [], EXPERIMENT_QUESTIONS)


# ------------------------------------------------------------------------------ published panels

_PANEL_ORDER = ("callaway_santanna", "imputation")
_PANEL_NAMES = {"callaway_santanna": "Callaway-Sant'Anna", "imputation": "the imputation estimator"}


def _panel_lacking(r: Mapping | None) -> str | None:
    if r is None:
        return "the panel has no estimate."
    if not finite(r.get("estimate")):
        return (r.get("caveats") or ["the estimator gave no estimate."])[0]
    n = int(r.get("n_treated_units") or 0)
    if n < MIN_CLUSTERS:
        return (f"only {n} treated units (at least {MIN_CLUSTERS} are needed for an interval clustered by unit "
                "to be honest).")
    lo, hi = r.get("ci_low"), r.get("ci_high")
    if not (finite(lo) and finite(hi) and lo < hi):
        return "the interval has no positive width, which no finite sample supports."
    return None


def _effect(r: Mapping, log: bool, outcome: str, digits: str = ".3g") -> str:
    pc = r.get("percent_change")
    if log and pc:
        return (f"{outcome} changed by {pc['estimate']:+.1f}% after adoption (exp(beta) - 1; 95% interval "
                f"{pc['ci_low']:+.1f}% to {pc['ci_high']:+.1f}%)")
    return (f"{outcome} changed by {r['estimate']:+{digits}} per unit and period after adoption (95% interval "
            f"{r['ci_low']:+{digits}} to {r['ci_high']:+{digits}})")


def panel_verdict(doc: Mapping, *, higher_is_better: bool = True) -> list[dict]:
    """`lift --panel`'s `verdict`: one entry for the panel's outcome (see the module docstring)."""
    rows = {r.get("estimator"): r for r in doc.get("results") or []}
    ordered = [rows[e] for e in _PANEL_ORDER if e in rows]
    if not ordered:
        return []
    head = next((r for r in ordered if finite(r.get("estimate"))), ordered[0])
    outcome = str(doc.get("outcome") or "the outcome")
    log = bool(doc.get("log_outcome"))
    credible = [r for r in ordered if _panel_lacking(r) is None]
    below = [r for r in credible if r["ci_high"] < 0]
    above = [r for r in credible if r["ci_low"] > 0]
    lacking = _panel_lacking(head)
    caveats = list(head.get("caveats") or [])
    pre = next((c for c in head.get("checks") or [] if c.get("check") == "pre_trends"), None)
    if pre and pre.get("status") == "fired":
        caveats.insert(0, f"The pre-trend test fired (p = {pre['p_value']:.3g}): treated units were already "
                          "moving apart before adoption, so the effect may be theirs, not adoption's.")
    name = _PANEL_NAMES.get(head.get("estimator"), str(head.get("estimator")))
    if lacking is not None:
        status, sentence = "not_enough_data", f"Not enough data to say: {lacking[0].upper() + lacking[1:]}"
    elif below and above:
        status = "inconsistent"
        sentence = (f"Inconsistent: Callaway-Sant'Anna and the imputation estimator both exclude no effect, but on "
                    f"opposite sides ({_effect(below[0], log, outcome)} by {_PANEL_NAMES[below[0]['estimator']]}; "
                    f"{_effect(above[0], log, outcome)} by {_PANEL_NAMES[above[0]['estimator']]}); the answer "
                    "depends on choices the data cannot settle.")
    else:
        lo, hi = head["ci_low"], head["ci_high"]
        says = _effect(head, log, outcome)
        says = says[0].upper() + says[1:]
        if lo > 0 or hi < 0:
            status = "improved" if (lo > 0) == higher_is_better else "worsened"
            sentence = f"{'Improved' if status == 'improved' else 'Worsened'}: {says}, by {name}."
        else:
            status = "no_detectable_change"
            sentence = f"No detectable change: {says}, by {name}; the interval includes no change."
        if caveats:
            sentence += f" Main caveat: {caveats[0]}"
    headline = {"estimator": head.get("estimator"), "estimate": head.get("estimate"), "ci_low": head.get("ci_low"),
                "ci_high": head.get("ci_high"), "percent_change": head.get("percent_change"),
                "n_units": head.get("n_units"), "n_treated_units": head.get("n_treated_units"), "clustered": True}
    if lacking is not None:  # a number from too little data is never printed as a result
        headline.update(estimate=None, ci_low=None, ci_high=None, percent_change=None)
    return [{
        "question": "outcome_after_vs_before", "outcome": outcome,
        "title": f"{outcome}, after vs before adoption (staggered)", "status": status, "sentence": sentence,
        "headline": headline, "higher_is_better": higher_is_better,
        "agreement": {"specifications": len(credible),
                      "low": min((r["estimate"] for r in credible), default=None),
                      "high": max((r["estimate"] for r in credible), default=None),
                      "intervals_disagree": bool(below and above)},
        "caveats": caveats,
    }]
