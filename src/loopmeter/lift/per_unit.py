"""The before/after design per repository (or team): what each one contributes to the pooled
estimate and what it says on its own.

An organisation's pooled ratio weighs repositories by how much work they did in each period;
numpy's thousands of changes beside a 1k-commit repository's hundred can carry or hide the
answer. A leader asks "which repository?": this is the table that answers, with each unit's
weight (its share of the pooled changes and contributor-weeks) and its own point estimates.
They are points without intervals on purpose: a unit's sample is small, and the pooled design
(clustered by author, repositories as fixed effects) is where the inference lives.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd


def _median(x: pd.Series) -> float | None:
    return float(np.median(x.to_numpy(float))) if len(x) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def per_unit_rows(cycle_a: pd.DataFrame, cycle_b: pd.DataFrame, activity: pd.DataFrame | None,
                  adoption: Mapping[str, date], *, key: str = "repo") -> list[dict]:
    """One row per unit with an adoption date, largest weight first.

    `cycle_a` / `cycle_b`: the pooled cycle-time comparison's finished changes after / before
    (column `repo` holds the unit, `cycle_hours` the known cycle time). `activity`: the
    throughput frame, one row per contributor-week with its `period` and `validated` count
    (None when throughput had no complete week after adoption)."""
    fa, fb = cycle_a[cycle_a["observed"]], cycle_b[cycle_b["observed"]]
    n_a, n_b = len(fa), len(fb)
    if activity is not None and len(activity):
        tp = activity.groupby(["repo", "period"]).agg(validated=("validated", "sum"), weeks=("validated", "size"))
        total_weeks = int(tp["weeks"].sum())
    else:
        tp, total_weeks = None, 0
    rows = []
    for unit, day in adoption.items():
        xa, xb = fa.loc[fa["repo"] == unit, "cycle_hours"], fb.loc[fb["repo"] == unit, "cycle_hours"]
        ma, mb = _median(xa), _median(xb)

        def cell(period: str, col: str) -> int:
            return int(tp.loc[(unit, period), col]) if tp is not None and (unit, period) in tp.index else 0

        va, vb, wa, wb = cell("after", "validated"), cell("before", "validated"), cell("after", "weeks"), cell("before", "weeks")
        rows.append({
            key: unit, "adoption": day.isoformat(),
            "changes_before": len(xb), "changes_after": len(xa),
            # The unit's weight in the pooled cycle-time comparison: its share of the changes there.
            "cycle_weight": (len(xa) + len(xb)) / (n_a + n_b) if n_a + n_b else None,
            "cycle_p50_hours_before": mb, "cycle_p50_hours_after": ma, "cycle_ratio": _ratio(ma, mb),
            "validated_before": vb, "validated_after": va,
            "contributor_weeks_before": wb, "contributor_weeks_after": wa,
            # Its weight in the pooled throughput ratio: its share of the contributor-weeks.
            "throughput_weight": (wa + wb) / total_weeks if total_weeks else None,
            "throughput_ratio": _ratio(va / wa if wa else None, vb / wb if wb else None),
        })
    rows.sort(key=lambda r: (-(r["changes_before"] + r["changes_after"] + r["contributor_weeks_before"]
                               + r["contributor_weeks_after"]), str(r[key])))
    return rows
