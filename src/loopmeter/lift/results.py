"""Result rows of the lift designs: one dict per estimate, with its caveats and the checks run.

Every design (before/after, AI vs human, a pilot's table) labels its estimates through these
helpers, so a row has the same keys whichever design or estimator produced it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..stats.lift import Estimate
from . import checks as cv
from .names import CHANGE_FAILURE_RATE, CYCLE, REVERT_RATE, THROUGHPUT  # noqa: F401 - the rows' metric keys

LABELS = {
    "after/before": ("the period after adoption", "the period before adoption"),
    "ai_assisted/human": ("the AI-assisted group", "the human group"),
    "treated/control": ("the treated group", "the control group"),
}


# --------------------------------------------------------------------------- results


def result_row(design: str, metric: str, comparison: str, est: Estimate | Mapping, **fields) -> dict:
    d = est.to_dict() if hasattr(est, "to_dict") else dict(est)
    d.setdefault("p_value", None)
    ratio = d.get("ratio")
    # A shorter duration is a speed-up; for rates (more is better) the speed-up is ratio - 1.
    if "speedup" not in d and cv.finite(ratio):
        d["speedup"] = (ratio - 1.0) if metric == THROUGHPUT else (1.0 - ratio)
    d.setdefault("speedup", None)
    out = {"design": design, "metric": metric, "comparison": comparison, **d, **fields}
    out["caveats"] = list(d.get("caveats", []))
    out["caveat_codes"] = []
    return out


def effective_clusters(counts) -> float:
    """Kish's effective number of clusters, (sum n)^2 / sum n^2 over the clusters' item counts:
    the number of equal-sized authors that would carry as much information. Ten authors of whom
    one made 90% of the changes are about 1.2 effective authors, not ten."""
    c = [float(x) for x in counts if x > 0]
    sq = sum(x * x for x in c)
    return round(sum(c) ** 2 / sq, 2) if sq else 0.0


def add_caveats(result: dict, *caveats: cv.Outcome) -> None:
    """Add the checks that fired (a check that could not run is no caveat on the number)."""
    for c in caveats:
        if isinstance(c, cv.Caveat) and c.code not in result["caveat_codes"]:
            result["caveats"].append(c.text)
            result["caveat_codes"].append(c.code)


def check_rows(found: list[cv.Outcome], codes: tuple[str, ...], metric: str) -> list[dict]:
    """Each check on a metric with its `status`: `fired` (its text says what), `not_fired` (it ran
    and found nothing) or `not_run` (`reason` says why the data could not answer it), so the report
    never says "checked and not found" of a check that did not run. When one check ran twice (the
    pre-trend test of the ITS and of the DiD), a firing wins over a not-run."""
    hit: dict[str, cv.Caveat | cv.NotRun] = {}
    for c in found:
        if isinstance(c, cv.Caveat) or (isinstance(c, cv.NotRun) and c.code not in hit):
            hit[c.code] = c
    rows = []
    for code in codes:
        c = hit.get(code)
        status = "fired" if isinstance(c, cv.Caveat) else "not_run" if isinstance(c, cv.NotRun) else "not_fired"
        rows.append({"metric": metric, "check": code, "status": status, "applies": status == "fired",
                     "text": c.text if status == "fired" else None,
                     "reason": c.reason if status == "not_run" else None})
    return rows



def author_period_tables(events, event_col: str, exposure) -> tuple:
    """Per author, the `event_col` sum of `events` and the row count of `exposure` in each period
    ("after", "before"; a period an author is absent from is 0), the exposure aligned to the
    events' authors: the inputs of `stats.lift.ratio_of_rates` for a before/after rate."""
    ev = events.groupby(["author_id", "period"])[event_col].sum().unstack(fill_value=0)
    ex = exposure.groupby(["author_id", "period"]).size().unstack(fill_value=0)
    for t in (ev, ex):
        for col in ("after", "before"):
            if col not in t:
                t[col] = 0
    return ev, ex.reindex(ev.index, fill_value=0)
