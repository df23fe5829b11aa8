"""One verdict per question: what the lift designs, taken together, let a reader conclude.

Each question (cycle time after vs before adoption, AI-assisted vs human, throughput, revert rate,
a pilot's treated vs control) gets one entry with a status, a plain sentence, the headline
estimate and how far the other reasonable specifications agree. The rules (docs/metrics.md
"Verdict"), in order:

1. The headline is a cluster-aware estimator named per question (`QUESTIONS`): authors are the
   clusters, so many changes by a few people are not taken as many independent facts.
2. `not_enough_data` when the headline has fewer than MIN_VALUES items in a group, fewer than
   MIN_CLUSTERS authors, fewer than MIN_WEEKS weeks on a side (after/before questions), AI
   exposure after adoption below MIN_EXPOSURE (after/before questions), or no interval of
   positive width. Its sentence gives no ratio.
3. `inconsistent` when credible specifications (cluster-aware rows of the specification table
   and of the results, each with enough data and an interval of positive width) have intervals
   wholly below 1 and wholly above 1; or when the headline's interval excludes 1 and a credible
   specification contradicts it: its ratio on the other side of 1 and its interval excluding the
   headline's ratio (`agreement.contradicting`).
4. `improved` / `worsened` when the headline interval excludes 1, in the direction that is better
   / worse for the team (shorter cycle, more throughput, fewer reverts). When credible ratios
   still straddle 1 (`agreement.straddles`), the sentence says that those on the other side are
   compatible with the headline, so the status and the range beside it do not read as a
   contradiction; nor is the specification caveat ("the direction depends on the choice") its
   main caveat (it stays among the caveats).
5. `no_detectable_change` otherwise.

Pure: it reads only the design documents (designs.py), never the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from ..stats.json_values import finite
from ..stats.lift import MIN_CLUSTERS, MIN_VALUES
from .results import CHANGE_FAILURE_RATE, CYCLE, REVERT_RATE, THROUGHPUT
from .waiting import WAITING

STATUSES = ("improved", "worsened", "no_detectable_change", "not_enough_data", "inconsistent")
#: Weeks on each side of adoption below which an after/before verdict is not given.
MIN_WEEKS = 8
#: Authors on each side below which a clustered interval is not trusted: with a handful of
#: clusters on one side, cluster-robust errors and the cluster bootstrap both understate the spread
#: (MacKinnon and Webb 2017 on few treated clusters), however many changes those people made.
MIN_GROUP_CLUSTERS = 5
#: AI-assisted share of the changes landed after adoption below which a before/after difference
#: is not credited to AI (a convention: at 10% AI use, 90% of the "after" work is the same as before).
MIN_EXPOSURE = 0.10

#: Estimators whose interval treats authors as clusters (author bootstrap, CR1 errors clustered by
#: author, or author fixed effects with clustered errors). Hodges-Lehmann, the log-rank test, the
#: weekly ITS and the DiD are not in it; a row flagged `clustered: false` never counts either.
CLUSTER_AWARE = frozenset({
    "ratio_of_medians", "ratio_of_p85", "km_median_ratio", "ratio_of_rates", "poisson_author_fe",
    "log_duration_regression", "log_duration_regression_size", "log_duration_regression_author_fe",
    "log_duration_regression_author_fe_size", "log_duration_ols", "survival_ratio",
    "rate_ratio_cr1",  # clusters are weeks (the change failure rate), or the wider of authors and weeks (reverts)
})


#: question -> (design, metric, headline estimator, lower is better, after/before, plain subject)
QUESTIONS: dict[str, dict] = {
    "cycle_time_after_vs_before": {
        "design": "before-after", "metric": CYCLE, "headline": "log_duration_regression",
        "lower_is_better": True, "after_before": True,
        "title": "cycle time, after vs before AI adoption",
        "says": "changes took {r} as long after adoption as before",
    },
    "cycle_time_ai_vs_human": {
        "design": "ai-vs-human", "metric": CYCLE, "headline": "log_duration_regression_size",
        "lower_is_better": True, "after_before": False,
        "title": "cycle time, AI-assisted vs human (size-adjusted)",
        "says": "AI-assisted changes took {r} as long as human ones of the same size",
    },
    "throughput_after_vs_before": {
        # The same people's rate (Poisson author fixed effects, CR1, t on G - 1): in the null
        # simulation of bench/verdict_sim.py the pooled ratio's author-bootstrap percentile
        # interval ran narrow with 12 authors; the Poisson one is the calibrated interval.
        "design": "before-after", "metric": THROUGHPUT, "headline": "poisson_author_fe",
        "lower_is_better": False, "after_before": True,
        "title": "validated throughput per contributor-week, after vs before",
        "says": "the same people validated {r} as many changes per active week after adoption as before",
    },
    "revert_rate_after_vs_before": {
        "design": "before-after", "metric": REVERT_RATE, "headline": "rate_ratio_cr1",
        "lower_is_better": True, "after_before": True,
        "title": "quality: revert rate, after vs before",
        "says": "changes were reverted {r} as often after adoption as before",
    },
    "waiting_after_vs_before": {
        # The cycle-time headline's regression on the hours merged pull requests waited on a
        # person (lift/waiting.py); present only where the store has pull requests.
        "design": "before-after", "metric": WAITING, "headline": "log_duration_regression",
        "lower_is_better": True, "after_before": True,
        "title": "waiting on humans, after vs before",
        "says": "pull requests waited on a person {r} as long after adoption as before",
        "items": "merged pull requests that waited on a person",
    },
    "change_failure_rate_after_vs_before": {
        # Failed per judged production deployment, weeks as the clusters (lift/quality.py; the
        # week bootstrap's ratio_of_rates ran narrow in bench/verdict_waiting_failures.py);
        # present only where the store has production deployments.
        "design": "before-after", "metric": CHANGE_FAILURE_RATE, "headline": "rate_ratio_cr1",
        "lower_is_better": True, "after_before": True,
        "title": "quality: change failure rate, after vs before",
        "says": "production deployments failed {r} as often after adoption as before",
        "items": "production deployments judged", "clusters": "weeks",
        "counts": ("n_deployments_a", "n_deployments_b"),
    },
    "durability_ai_vs_human": {
        "design": "durability", "metric": "line_survival", "headline": "survival_ratio",
        "lower_is_better": False, "after_before": False,
        "title": "quality: line durability, AI-assisted vs human",
        "says": "lines added by AI-assisted changes survived {horizon_days} days {r} as often as lines of human changes",
    },
    "duration_treated_vs_control": {
        "design": "experiment", "metric": "duration", "headline": None,  # the pilot's own main row
        "lower_is_better": True, "after_before": False,
        "title": "task duration, treated vs control (pilot)",
        "says": "treated tasks took {r} as long as control tasks",
    },
}

# The caveat the sentence names when several apply: the one most likely to change the conclusion.
_CAVEAT_ORDER = ("low_exposure", "specification", "simpsons_paradox", "pre_trends", "selection", "size_mismatch",
                 "novelty", "few_identifying_authors", "too_few", "unknown_durations", "not_steady", "whole_history")


def _rows(design: Mapping, metric: str) -> list[dict]:
    rows = [r for r in design.get("results") or [] if r.get("metric") == metric]
    rows += [r for r in design.get("quality") or [] if r.get("metric") == metric]
    rows += [r for r in design.get("waiting") or [] if r.get("metric") == metric]
    return rows


def cluster_aware(row: Mapping, design: Mapping | None = None) -> bool:
    """A row that may speak: a cluster-aware estimator not flagged `clustered: false`. A pilot's
    table without a cluster column has no clusters to be aware of, so only a row that says
    `clustered: true` counts there."""
    if design is not None and design.get("design") == "experiment" and not design.get("cluster"):
        return row.get("clustered") is True
    return row.get("estimator") in CLUSTER_AWARE and row.get("clustered") is not False


def zero_width(lo: float, hi: float) -> bool:
    """An interval whose width is floating-point noise: a degenerate sandwich or bootstrap gives
    bounds that differ only in the last digits (8.94007619344363 / 8.940076193443655 on
    simonw/datasette), which is no more uncertainty than bounds that are equal."""
    return hi - lo <= 1e-9 * max(abs(lo), abs(hi), 1.0)


def usable_interval(row: Mapping) -> bool:
    """A finite interval of positive width around a finite ratio."""
    lo, hi, r = row.get("ci_low"), row.get("ci_high"), row.get("ratio")
    return finite(r) and finite(lo) and finite(hi) and not zero_width(lo, hi)


def _counts(row: Mapping, q: Mapping) -> tuple[int, int]:
    if q.get("counts"):  # a question whose minimum is on other items than the estimator's n_a / n_b
        a, b = q["counts"]
        return int(row.get(a) or 0), int(row.get(b) or 0)
    if q["metric"] == REVERT_RATE:  # events are rare by design; the minimum is on changes judged
        return int(row.get("n_changes_a") or 0), int(row.get("n_changes_b") or 0)
    return int(row.get("n_a") or 0), int(row.get("n_b") or 0)


def credible(rows: Iterable[Mapping], q: Mapping, design: Mapping | None = None) -> list[Mapping]:
    """Rows that may speak: cluster-aware, enough items per group, an interval of positive width."""
    out = []
    for r in rows:
        n_a, n_b = _counts(r, q)
        few = min(r.get(k, MIN_GROUP_CLUSTERS) for k in ("n_clusters_a", "n_clusters_b", "effective_clusters_a",
                                                          "effective_clusters_b"))
        if cluster_aware(r, design) and usable_interval(r) and min(n_a, n_b) >= MIN_VALUES and few >= MIN_GROUP_CLUSTERS:
            out.append(r)
    return out


def _weeks(row: Mapping, design: Mapping) -> tuple[int | None, int | None]:
    if row.get("weeks_before") is not None:
        return row.get("weeks_before"), row.get("weeks_after")
    # Rows that carry no periods of their own (the quality rows) share the design's adoption periods,
    # which its results rows carry.
    per = row.get("periods") or next((r["periods"] for r in design.get("results") or [] if r.get("periods")), {})
    if not per:
        return None, None
    def span(a, b):
        return (date.fromisoformat(b) - date.fromisoformat(a)).days // 7

    before = max(span(p["before_from"], p["adoption"]) for p in per.values())
    after = max(span(p["adoption"], p["after_until"]) for p in per.values())
    return before, after


def _x(v: float) -> str:
    return f"{v:.2f}x"


def _interval(lo: float, hi: float) -> str:
    return f"95% interval {lo:.2f} to {hi:.2f}"


def _top_caveat(codes: list[str], texts: list[str]) -> str | None:
    for code in _CAVEAT_ORDER:
        if code in codes:
            return texts[codes.index(code)]
    return texts[0] if texts else None


def _exposure(design: Mapping) -> float | None:
    adoption = design.get("adoption") or {}
    if finite(adoption.get("exposure_after")):
        return float(adoption["exposure_after"])
    share = (design.get("exposure") or {}).get("ai_share_after")
    return float(share) if finite(share) else None


def _few(who: str) -> tuple[str, str]:
    """(why the effective count is small, what the comparison would be about) in the clusters' words."""
    if who == "authors":
        return "a few people made most of them", "those people, not the team"
    if who == "weeks":  # the change failure rate: a few busy weeks, not the whole period
        return "a few weeks held most of them", "those weeks, not the whole period"
    return f"a few {who} account for most of them", f"those {who}, not all of them"


def _lacking(q: Mapping, head: Mapping | None, design: Mapping, exposure: float | None) -> str | None:
    """Why the data cannot carry a verdict, in one sentence; None when it can."""
    if head is None:
        return _missing(q, design)
    # A question of another loop (lift/loop_verdict.py) names its own groups, items and clusters.
    names = q.get("groups") or {"before-after": ("after adoption", "before adoption"), "ai-vs-human": ("AI-assisted", "human"),
             "experiment": ("treated", "control"), "durability": ("AI-assisted", "human")}[q["design"]]
    n_a, n_b = _counts(head, q)
    what = "changes judged for reverts" if q["metric"] == REVERT_RATE else (
        "validated changes" if q["metric"] == THROUGHPUT else "changes with a known duration")
    if q["metric"] == "duration":
        what = "tasks"
    if q["metric"] == "line_survival":
        what = "changes with lines old enough to judge"
    what = q.get("items") or what
    for n, name in ((n_a, names[0]), (n_b, names[1])):
        if n < MIN_VALUES:
            return f"Only {n} {what} {name} (at least {MIN_VALUES} are needed)."
    # A before/after headline whose interval is clustered by week (stats/wider_interval.py)
    # still needs its minimum of authors: `n_clusters` then counts weeks, `n_authors` people.
    n_cl = int(head.get("n_authors", head.get("n_clusters")) or 0)
    who = q.get("clusters", "authors")  # another loop's clusters: resources, teams, users, weeks
    if n_cl < MIN_CLUSTERS:
        return f"Only {n_cl} {who} in the comparison (at least {MIN_CLUSTERS} are needed for an honest interval)."
    for side, name in (("a", names[0]), ("b", names[1])):
        k, eff = head.get(f"n_clusters_{side}"), head.get(f"effective_clusters_{side}")
        few, those = _few(who)
        if k is not None and k < MIN_GROUP_CLUSTERS:
            return (f"Only {k} {who[:-1] if k == 1 else who} {'has' if k == 1 else 'have'} {what} {name} (at least "
                    f"{MIN_GROUP_CLUSTERS} are needed): the comparison would be about {those}.")
        if eff is not None and eff < MIN_GROUP_CLUSTERS:
            return (f"The {what} {name} come from {k} {who} but amount to only {eff:.1f} equal ones ({few}; at "
                    f"least {MIN_GROUP_CLUSTERS} are needed): the comparison would be about {those}.")
    if q["after_before"]:
        if (short := _short_side(*_weeks(head, design))) is not None:
            return short
        if exposure is not None and exposure < MIN_EXPOSURE:
            return (f"Only {exposure:.0%} of the {q.get('exposed', 'changes after adoption were AI-assisted')} (at least "
                    f"{MIN_EXPOSURE:.0%} are needed to credit AI); a difference after that date is not evidence "
                    "about AI.")
    if not usable_interval(head):
        if q["metric"] in _RATE_EVENTS and (few := _few_events(q, head)) is not None:
            return few  # a side without events: its counts say more than the estimator's caveat
        why = (head.get("caveats") or ["The estimate has no interval."])[0]
        if finite(head.get("ci_low")) and finite(head.get("ci_high")) and zero_width(head["ci_low"], head["ci_high"]):
            why = "The interval has zero width, which no finite sample supports."
        return why
    return None


def _short_side(before: int | None, after: int | None) -> str | None:
    """The sentence for a side of adoption with fewer than MIN_WEEKS weeks; None when both have enough."""
    for n, side in ((before, "before"), (after, "after")):
        if n is not None and n < MIN_WEEKS:
            return f"Only {n} weeks {side} adoption (at least {MIN_WEEKS} are needed)."
    return None


def _missing(q: Mapping, design: Mapping) -> str:
    """Why the headline gave no cluster-aware estimate, in the data's terms: too few weeks on a side
    (read from any row of the metric), else the headline row's own reason, else the bare fact."""
    rows = _rows(design, q["metric"])
    if q["after_before"]:
        for r in rows:
            if (short := _short_side(*_weeks(r, design))) is not None:
                return short
    named = [r for r in rows if r.get("estimator") == q["headline"]] if q["headline"] else rows[:1]
    if named and q["metric"] in _RATE_EVENTS and (few := _few_events(q, named[0])) is not None:
        return few
    if named and not finite(named[0].get("ratio")) and named[0].get("caveats"):
        return str(named[0]["caveats"][0])
    if named and finite(named[0].get("ratio")):
        why = next((str(c) for c in named[0].get("caveats") or [] if "interval" in str(c)), None)
        if why is not None:  # an estimate without an honest interval, e.g. one author in both periods
            return why
    return "There is no cluster-aware estimate for this comparison."


# A rate's events and what they are events of, for the not-enough-data sentence.
_RATE_EVENTS = {REVERT_RATE: ("reverted changes", "changes judged"),
                CHANGE_FAILURE_RATE: ("failed deployments", "deployments judged")}


def _few_events(q: Mapping, row: Mapping) -> str | None:
    """A rate ratio whose sides hold too few events for an interval that respects clustering (a side
    with none leaves only the exact Poisson bound, which ignores it): the counts, in one sentence."""
    n_a, n_b = row.get("n_a"), row.get("n_b")
    if n_a is None or n_b is None or min(n_a, n_b) > 0 and finite(row.get("ci_low")):
        return None
    events, judged = _RATE_EVENTS[q["metric"]]
    items_a = row.get("n_changes_a", row.get("n_deployments_a"))
    items_b = row.get("n_changes_b", row.get("n_deployments_b"))
    if items_a == 0 or items_b == 0:  # nothing judged on a side: its event count is not "0", it is unknown
        return None
    of = f" ({judged}: {items_a:,} after, {items_b:,} before)" if items_a is not None and items_b is not None else ""
    return (f"Only {int(n_a)} {events} after adoption and {int(n_b)} before{of}: too few to compare the rates "
            "with an interval that accounts for who made them.")


def _headline_row(q: Mapping, design: Mapping) -> Mapping | None:
    rows = _rows(design, q["metric"])
    if q["headline"] is None:
        rows = rows[:1]
    else:
        rows = [r for r in rows if r.get("estimator") == q["headline"]]
    head = rows[0] if rows else None
    return head if head is not None and cluster_aware(head, design) else None


def _spec_rows(design: Mapping, metric: str) -> list[Mapping]:
    return [r for r in design.get("specification") or [] if r.get("metric") == metric]


def judge(question: str, design: Mapping, questions: Mapping[str, Mapping] | None = None) -> dict:
    """The verdict entry of one question from its design document (`questions`: another loop's
    table shaped like QUESTIONS, lift/loop_verdict.py)."""
    q = (questions or QUESTIONS)[question]
    head = _headline_row(q, design)
    exposure = _exposure(design) if q["after_before"] else None
    rows = credible([*_rows(design, q["metric"]), *_spec_rows(design, q["metric"])], q, design)
    below = [r for r in rows if r["ci_high"] < 1]
    above = [r for r in rows if r["ci_low"] > 1]
    contra = _contradicting(rows, head)
    agreement = {
        "specifications": len(rows),
        "low": min((r["ratio"] for r in rows), default=None),
        "high": max((r["ratio"] for r in rows), default=None),
        "intervals_disagree": bool(below and above),
        "straddles": bool(rows) and min(r["ratio"] for r in rows) < 1 < max(r["ratio"] for r in rows),
        "contradicting": len(contra),
    }
    codes = list((head or {}).get("caveat_codes") or [])
    texts = list((head or {}).get("caveats") or [])
    lacking = _lacking(q, head, design, exposure)
    headline = None
    if head is not None:
        n_a, n_b = _counts(head, q)
        headline = {"estimator": head.get("estimator"), "ratio": head.get("ratio"), "ci_low": head.get("ci_low"),
                    "ci_high": head.get("ci_high"), "n_a": n_a, "n_b": n_b,
                    "n_clusters": int(head.get("n_clusters") or 0), "clustered": True,
                    **({"horizon_days": head["horizon_days"]} if "horizon_days" in head else {}),
                    **{k: head[k] for k in ("interval_clusters", "n_authors", "n_weeks") if k in head}}
    if lacking is not None:
        status = "not_enough_data"
        if headline is not None:  # a number from too little data is never printed as a result
            headline.update(ratio=None, ci_low=None, ci_high=None)
        if exposure is not None and exposure < MIN_EXPOSURE:
            codes, texts = ["low_exposure", *codes], [lacking, *texts]
    elif (below and above) or contra:
        status = "inconsistent"
    else:
        lo, hi = head["ci_low"], head["ci_high"]
        if hi < 1 or lo > 1:
            better = (hi < 1) == q["lower_is_better"]
            status = "improved" if better else "worsened"
        else:
            status = "no_detectable_change"
    entry = {"question": question, "title": q["title"], "status": status,
             "sentence": _sentence(status, q, headline, agreement, lacking, _top_caveat(*_main_caveats(status, codes, texts))),
             "headline": headline, "agreement": agreement,
             "exposure": {"ai_share_after": exposure, "minimum": MIN_EXPOSURE} if q["after_before"] else None,
             "caveats": texts}
    return entry


def _main_caveats(status: str, codes: list[str], texts: list[str]) -> tuple[list[str], list[str]]:
    """The caveats the sentence may name. Beside `improved` / `worsened` the specification caveat
    ("the direction depends on the choice") would deny the status: the rules already found no
    credible specification against it, and the sentence says how the credible ones range instead.
    The caveat stays in `caveats`."""
    if status not in ("improved", "worsened") or "specification" not in codes:
        return codes, texts
    keep = [i for i, c in enumerate(codes) if c != "specification"]
    return [codes[i] for i in keep], [texts[i] for i in keep]


def _contradicting(rows: list[Mapping], head: Mapping | None) -> list[Mapping]:
    """Credible rows that contradict a headline whose interval excludes 1: their ratio lies on the
    other side of 1 and their own interval excludes the headline's ratio. A row on the other side
    whose interval still holds the headline's ratio is noise around the same answer."""
    if head is None or not usable_interval(head) or head["ci_low"] <= 1 <= head["ci_high"]:
        return []
    side = head["ratio"] > 1
    return [r for r in rows if r is not head and (r["ratio"] > 1) != side and r["ratio"] != 1
            and not r["ci_low"] <= head["ratio"] <= r["ci_high"]]


def _sentence(status: str, q: Mapping, head: Mapping | None, agreement: Mapping, lacking: str | None,
              caveat: str | None) -> str:
    if status == "not_enough_data":
        return f"Not enough data to say: {lacking}"
    r, lo, hi = head["ratio"], head["ci_low"], head["ci_high"]
    says = q["says"].format(r=_x(r), horizon_days=head.get("horizon_days"))
    says = says[0].upper() + says[1:]
    if status == "inconsistent" and not agreement.get("intervals_disagree"):
        n = agreement.get("contradicting") or 0
        text = (f"Inconsistent: {says} ({_interval(lo, hi)}), but {n} credible specification{'s' if n != 1 else ''} "
                f"point{'' if n != 1 else 's'} the other way with {'intervals' if n != 1 else 'an interval'} that "
                f"exclude{'' if n != 1 else 's'} this estimate (credible ratios from {_x(agreement['low'])} to "
                f"{_x(agreement['high'])}); the answer depends on choices the data cannot settle.")
    elif status == "inconsistent":
        text = (f"Inconsistent: {says} ({_interval(lo, hi)}), but credible specifications point both ways "
                f"(from {_x(agreement['low'])} to {_x(agreement['high'])}, with intervals wholly below and wholly "
                "above 1); the answer depends on choices the data cannot settle.")
    elif status == "no_detectable_change":
        text = f"No detectable change: {says}, but the {_interval(lo, hi)} includes no change."
    else:
        text = f"{'Improved' if status == 'improved' else 'Worsened'}: {says} ({_interval(lo, hi)})."
        if agreement.get("straddles"):
            text += (f" Credible specifications range from {_x(agreement['low'])} to {_x(agreement['high'])}; "
                     "those on the other side of 1 have intervals that include this estimate.")
    if caveat and status != "inconsistent":
        text += f" Main caveat: {caveat}"
    return text


def _durability_caveats(row: Mapping) -> dict:
    """What the durability comparison cannot rule out, as the cycle-time comparison words it: who
    used AI chose to, and a comparison over the whole history sets young AI lines beside old ones."""
    codes = ["selection"]
    texts = ["AI use was not randomized: the people, tasks and code that used AI may differ from the rest "
             "(code that is rewritten less, such as tests or new files, survives longer whoever writes it)."]
    if row.get("since"):
        codes.append("period")
        texts.append(f"Both groups are changes landed since each repository's adoption date (the earliest "
                     f"{row['since']})." if row.get("since_per_repo") else
                     f"Both groups are changes landed since the adoption date ({row['since']}).")
    else:
        codes.append("whole_history")
        texts.append("No adoption date, so the whole history is compared: lines of a project's early years "
                     "are rewritten more, whoever wrote them.")
    return {"caveats": texts, "caveat_codes": codes}


def durability_design(rows: Iterable[Mapping]) -> dict:
    """The report's `durability_lift` (metrics/durability.py: per horizon, the AI-vs-human ratio of
    surviving line shares with an author bootstrap interval) as a design document: the longest
    horizon with enough data is the headline row, the other horizons are its specifications."""
    results = [{"metric": "line_survival", "estimator": "survival_ratio", "ratio": r.get("ratio"),
                "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high"), "n_a": int(r.get("ai_changes") or 0),
                "n_b": int(r.get("human_changes") or 0), "n_clusters": int(r.get("authors") or 0),
                **{k: r[k] for k in ("n_clusters_a", "n_clusters_b", "effective_clusters_a", "effective_clusters_b")
                   if r.get(k) is not None},
                "horizon_days": r.get("horizon_days"), **_durability_caveats(r)}
               for r in rows if isinstance(r, Mapping)]
    q = QUESTIONS["durability_ai_vs_human"]
    ok = [r for r in results if credible([r], q) and r["n_clusters"] >= MIN_CLUSTERS]
    head = max(ok, key=lambda r: r["horizon_days"] or 0) if ok else (results[0] if results else None)
    ordered = ([head] if head else []) + [r for r in results if r is not head]
    return {"design": "durability", "results": ordered}


def verdict(designs: Iterable[Mapping]) -> list[dict]:
    """One entry per question the designs can answer, in the order of QUESTIONS."""
    by_design = {d.get("design"): d for d in designs if isinstance(d, Mapping)}
    out = []
    for question, q in QUESTIONS.items():
        d = by_design.get(q["design"])
        if d is None or not _rows(d, q["metric"]):
            continue
        out.append(judge(question, d))
    return out


def withheld(row: Mapping) -> str | None:
    """Why a result row's ratio must not be printed as a result, or None: fewer than MIN_VALUES
    values in a group, or an interval of zero width (docs/metrics.md "Verdict")."""
    if not finite(row.get("ratio")):
        return None  # no estimate: the row already says why
    n_a, n_b = int(row.get("n_a") or 0), int(row.get("n_b") or 0)
    if min(n_a, n_b) < MIN_VALUES:
        return f"too few values ({n_a:,} / {n_b:,}; at least {MIN_VALUES} a group)"
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if finite(lo) and finite(hi) and zero_width(lo, hi):
        return "zero-width interval"
    return None
