"""Waiting on humans after vs before adoption: did the hours a change spent waiting for a person shrink?

Per merged non-bot pull request, its **waiting hours** are the hours in which it was in at least
one of the waiting states of metrics/waiting.py (review requested and not given, approved and not
merged, CI green and not merged), each hour counted once however many states overlap in it (an
approved pull request with green CI waits on one person's merge, not twice). It belongs to the git
change it landed as (`same_as`), so it takes that change's repository (or team), author, size and
landing day, and the period of the cycle-time comparison it falls in.

Who is compared: pull requests that waited at all (at least one waiting stretch). One that never
entered a waiting state (merged without a review request, an approval or CI) tells nothing about
waiting and is counted apart (`n_never_waited_a/b`), never as a wait of zero; a wait of exactly 0 h
(approved and merged in the same second) cannot enter a log scale and is counted too
(`n_zero_a/b`). Open pull requests are left out: their waits are not over.

The estimators are the cycle-time ones (durations.py) on these hours: the headline is the same
log-duration regression (repository fixed effects, CR1 errors by author, t on G - 1), so a few
people's many pull requests are not taken as many independent facts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics.changes import Window
from ..metrics import portable
from ..metrics.waiting import stretches_sql
from .durations import AUTHOR_FE, AUTHOR_FE_SIZE, DURATION_ESTIMATORS, Groups, duration_caveats, duration_results
from .inputs import Periods
from .names import WAITING  # the metric name of the result rows (docs/metrics.md "Verdict")
from .results import LABELS

#: The duration estimators run on waiting hours. Hodges-Lehmann and the Kaplan-Meier ratio are
#: left out: the first is cluster-blind, the second adds nothing without censoring (open pull
#: requests are not in the comparison).
ESTIMATORS = ("log_duration_regression", "log_duration_regression_size", AUTHOR_FE, AUTHOR_FE_SIZE,
              "ratio_of_medians", "ratio_of_p85")


def union_hours(stretches: pd.DataFrame) -> pd.Series:
    """Per item_id, the hours covered by the union of its stretches (columns item_id, s, e): an
    hour in two overlapping states counts once. A stretch of 0 h still makes its item appear (0.0)."""
    if stretches.empty:
        return pd.Series(dtype=float)
    st = stretches.sort_values(["item_id", "s", "e"], kind="stable").reset_index(drop=True)
    # A stretch starts a new block when it begins after every earlier stretch of its item ended.
    reach = st.groupby("item_id")["e"].cummax()
    prev = reach.groupby(st["item_id"]).shift()
    block = (prev.isna() | (st["s"] > prev)).cumsum()
    blocks = st.groupby(block).agg(item_id=("item_id", "first"), s=("s", "min"), e=("e", "max"))
    hours = (pd.to_datetime(blocks["e"]) - pd.to_datetime(blocks["s"])).dt.total_seconds() / 3600.0
    return hours.groupby(blocks["item_id"]).sum()


def waiting_hours(con, window: Window) -> pd.DataFrame:
    """(change_id, waiting_hours): per git change that a merged pull request stands for, the hours
    that pull request waited on a person (NaN when it never entered a waiting state). Empty when
    the store has no merged pull request linked to a git change."""
    # SQL on the report's engine (Spark too; metrics/portable.py), the union of stretches here.
    st = con.execute(portable.sql(con, f"select item_id, s, e from ({stretches_sql(window.as_of)}) where not censored"))
    hours = union_hours(st)
    merged = con.execute(portable.sql(con, f"""
        select l.src as pr_id, l.dst as change_id
        from links l join items p on p.item_id = l.src and p.kind = 'pull_request'
        join items c on c.item_id = l.dst and c.kind = 'change'
        where l.kind = 'same_as' and p.state = 'merged' and p.done_at <= {portable.timestamp(window.as_of)}
        """))
    # NaN: the pull request never entered a waiting state (not a wait of zero).
    merged["waiting_hours"] = merged["pr_id"].map(hours).astype(float)
    # A change two merged pull requests stand for (rare) waited in both.
    return merged.groupby("change_id", as_index=False)["waiting_hours"].sum(min_count=1)


def _periods_fields(p: Periods) -> dict:
    return {"periods": {r: {"before_from": p.before_from[r].isoformat(), "adoption": p.adoption[r].isoformat(),
                            "after_until": p.after_until[r].isoformat()} for r in p.adoption}}


def waiting_before_after(df: pd.DataFrame, waits: pd.DataFrame, p: Periods, *, seed: int, n_boot: int,
                         unit=None) -> list[dict]:
    """The result rows of waiting hours after / before adoption (headline first: the log-duration
    regression). `df`: the design's change frame (inputs.change_frame, keyed on its unit); `waits`:
    waiting_hours(); `p`: the cycle-time comparison's periods. No rows when no landed change of the
    compared periods has a merged pull request that waited (no PR data: the question is absent)."""
    done = df[df["observed"]]
    period = p.label(done["repo"], pd.to_datetime(done["done_at"]).dt.date)
    inside = done[period.notna()].assign(period=period[period.notna()])
    if waits.empty or inside.empty:
        return []
    with_pr = inside.merge(waits, left_on="item_id", right_on="change_id", how="inner")
    if with_pr.empty:
        return []
    never = with_pr[with_pr["waiting_hours"].isna()]
    w = with_pr[with_pr["waiting_hours"].notna()]
    w = w.assign(cycle_hours=w["waiting_hours"])  # the duration estimators read `cycle_hours`
    pos = w[w["waiting_hours"] > 0]
    g = Groups(a=pos[pos["period"] == "after"], b=pos[pos["period"] == "before"], labels=LABELS["after/before"],
               **({"unit": unit} if unit is not None else {}))
    chosen = {k: DURATION_ESTIMATORS[k] for k in ESTIMATORS}
    rows = duration_results("before-after", "after/before", g, seed=seed, n_boot=n_boot, estimators=chosen)
    duration_caveats("before-after", rows, g)  # adds the design's caveats to each row
    fields = {
        **_periods_fields(p),
        "n_prs_a": int((w["period"] == "after").sum()), "n_prs_b": int((w["period"] == "before").sum()),
        "n_zero_a": int(((w["period"] == "after") & (w["waiting_hours"] <= 0)).sum()),
        "n_zero_b": int(((w["period"] == "before") & (w["waiting_hours"] <= 0)).sum()),
        "n_never_waited_a": int((never["period"] == "after").sum()),
        "n_never_waited_b": int((never["period"] == "before").sum()),
        "mean_hours_a": _mean(g.a), "mean_hours_b": _mean(g.b),
        "median_hours_a": _median(g.a), "median_hours_b": _median(g.b),
    }
    for r in rows:
        r["metric"] = WAITING
        r.update(fields)
        if r.get("ratio") is None:
            # No interval, so neither clustered nor blind: the verdict then names the minimum that
            # is not met ("only 3 merged pull requests ...") rather than a missing estimator.
            r["clustered"] = None
    return rows


def _mean(d: pd.DataFrame) -> float | None:
    return float(np.mean(d["cycle_hours"])) if len(d) else None


def _median(d: pd.DataFrame) -> float | None:
    return float(np.median(d["cycle_hours"])) if len(d) else None

