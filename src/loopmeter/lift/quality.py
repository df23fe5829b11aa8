"""Quality after vs before adoption, and how much AI the "after" period actually had.

- Revert rate: changes reverted within the validation window per change old enough to be judged
  (pending changes, younger than the window, are left out: they may still be reverted). Authors
  are the clusters, as for throughput (`stats.lift.ratio_of_rates`, author bootstrap).
- Exposure: the share of the non-bot changes landed in each period that are AI-assisted. A
  before/after difference at 4% AI exposure is not evidence about AI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats.lift import ratio_of_rates
from .inputs import Periods, no_estimate
from .results import LABELS, REVERT_RATE, author_period_tables, effective_clusters, result_row


def _landed_in_periods(df: pd.DataFrame, p: Periods) -> pd.DataFrame:
    done = df[df["observed"]]
    period = p.label(done["repo"], pd.to_datetime(done["done_at"]).dt.date)
    return done[period.notna()].assign(period=period[period.notna()])


def exposure(df: pd.DataFrame, p: Periods) -> dict:
    """The AI-assisted share of the non-bot changes landed in each period (lower bounds, as every
    AI share: an unsigned AI change counts as human)."""
    d = _landed_in_periods(df, p)
    out: dict = {}
    for period in ("after", "before"):
        x = d[d["period"] == period]
        out[f"ai_share_{period}"] = float(x["ai_assisted"].astype(bool).mean()) if len(x) else None
        out[f"changes_{period}"] = int(len(x))
    return out


def revert_rate_before_after(df: pd.DataFrame, p: Periods, *, seed: int, n_boot: int) -> dict:
    """Reverted / judged changes per period, after / before (lower is better)."""
    d = _landed_in_periods(df, p)
    judged = d[d["state"] != "pending"]
    n_after, n_before = int((judged["period"] == "after").sum()), int((judged["period"] == "before").sum())
    if judged.empty or not n_after or not n_before:
        est = no_estimate("ratio_of_rates", 0, 0, int(judged["author_id"].nunique()),
                          "A period has no change old enough to know whether it was reverted.")
        return result_row("before-after", REVERT_RATE, "after/before", est, n_changes_a=n_after,
                          n_changes_b=n_before)
    g = judged.assign(reverted=(judged["state"] == "reverted").astype(int))
    ev, ex = author_period_tables(g, "reverted", g)
    est = ratio_of_rates(ev["after"].to_numpy(float), ex["after"].to_numpy(float), ev["before"].to_numpy(float),
                         ex["before"].to_numpy(float), n_boot=n_boot, seed=seed, labels=LABELS["after/before"])
    return result_row("before-after", REVERT_RATE, "after/before", est, n_changes_a=n_after, n_changes_b=n_before,
                      n_clusters_a=int((ex["after"] > 0).sum()), n_clusters_b=int((ex["before"] > 0).sum()),
                      effective_clusters_a=effective_clusters(ex["after"]),
                      effective_clusters_b=effective_clusters(ex["before"]),
                      revert_rate_a=float(np.sum(ev["after"]) / n_after), revert_rate_b=float(np.sum(ev["before"]) / n_before))
