"""Result rows of the lift designs: one dict per estimate, with its caveats and the checks run.

Every design (before/after, AI vs human, a pilot's table) labels its estimates through these
helpers, so a row has the same keys whichever design or estimator produced it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..stats.lift import Estimate
from . import checks as cv

CYCLE = "cycle_time_hours"
THROUGHPUT = "validated_throughput_per_contributor_week"
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


def add_caveats(result: dict, *caveats: cv.Caveat | None) -> None:
    for c in caveats:
        if c is not None and c.code not in result["caveat_codes"]:
            result["caveats"].append(c.text)
            result["caveat_codes"].append(c.code)



def check_rows(found: list[cv.Caveat | None], codes: tuple[str, ...], metric: str) -> list[dict]:
    """Which checks ran on a metric and whether each applied, so the report can say 'looked, fine'."""
    hit = {c.code: c.text for c in found if c is not None}
    return [{"metric": metric, "check": code, "applies": code in hit, "text": hit.get(code)} for code in codes]

