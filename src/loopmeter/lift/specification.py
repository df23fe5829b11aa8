"""The specification table: the headline comparison re-estimated under the other reasonable
choices (validation window, how much history before adoption, without the first weeks after it),
and the range over them that says how much the answer depends on the choices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from ..metrics.changes import Window
from ..stats.lift import Estimate
from . import checks as cv
from .durations import NOVELTY_WEEKS, cycle_before_after, duration_results
from .inputs import active_frame
from .results import CYCLE, THROUGHPUT, add_caveats, check_rows
from .throughput import throughput_before_after
from .units import REPO, Unit

#: Validation windows of the specification table (days).
SPEC_WINDOWS = (7, 14, 28)
#: Bootstrap replicates for the specification table's alternative rows (the headline rows use
#: the caller's n_boot): the table is about how the point estimate moves, and 500 replicates give
#: intervals good to about a percent at a quarter of the cost.
SPEC_BOOT = 500

# --------------------------------------------------------------------------- specification table


def spec_row(metric: str, est: Estimate | Mapping, *, window_days: int | None, period: str, chosen: bool) -> dict:
    d = est.to_dict() if hasattr(est, "to_dict") else dict(est)
    return {"metric": metric, "estimator": d.get("estimator"), "window_days": window_days, "period": period,
            "ratio": d.get("ratio"), "ci_low": d.get("ci_low"), "ci_high": d.get("ci_high"),
            "n_a": d.get("n_a"), "n_b": d.get("n_b"), "n_clusters": d.get("n_clusters"), "chosen": chosen,
            **{k: d[k] for k in ("n_clusters_a", "n_clusters_b", "effective_clusters_a", "effective_clusters_b")
               if k in d},
            **({"clustered": d["clustered"]} if "clustered" in d else {})}


def spec_before_after(con, window: Window, repos: list[str], dates, df: pd.DataFrame, act: pd.DataFrame,
                       cycle: list[dict], *, seed: int, unit: Unit = REPO) -> list[dict]:
    """``act`` is the weekly activity of the chosen window and ``cycle`` the headline cycle-time
    results, both already computed by the caller; only the validated counts change with the
    window, so the other windows reuse one set of active weeks."""
    rows = []
    skip = f"equal windows, without the first {NOVELTY_WEEKS} weeks after adoption"
    variants = (("equal windows", False, 0), ("all history before", True, 0), (skip, False, NOVELTY_WEEKS))
    for label, all_history, skip_weeks in variants:
        if label == "equal windows":
            found = cycle  # the headline's own groups and estimates: no second bootstrap of them
        else:
            cyc = cycle_before_after(df, dates, window, all_history=all_history, skip_weeks=skip_weeks, unit=unit)
            found = duration_results("before-after", "after/before", cyc["groups"], seed=seed, n_boot=SPEC_BOOT)
        for res in found:
            rows.append(spec_row(CYCLE, res, window_days=None, period=label, chosen=label == "equal windows"))
    active = active_frame(con, window, repos)
    for days in sorted(set(SPEC_WINDOWS) | {window.days}):
        w = replace(window, days=days)
        act_w = act if days == window.days else unit.weekly(con, w, repos, active=active)
        for label, all_history, skip_weeks in variants:
            # The series without its first post-adoption weeks has a gap an ITS cannot fit.
            tp = throughput_before_after(act_w, w, dates, seed=seed, n_boot=SPEC_BOOT, all_history=all_history, did=False,
                                         its=not skip_weeks, skip_weeks=skip_weeks, unit=unit)
            for res in [tp["result"], *tp["more"]]:
                rows.append(spec_row(THROUGHPUT, res, window_days=days, period=label,
                                      chosen=(days == window.days and label == "equal windows")))
    return rows


def apply_spec(out: dict) -> None:
    """Range per metric over the specification table; a caveat on every result of that metric
    when the alternatives disagree."""
    # The headline rows were re-estimated with SPEC_BOOT replicates; show the headline's own
    # numbers there, so the two tables on one page never print two intervals for one choice.
    headline = {(r["metric"], r["estimator"]): r for r in out["results"]}
    for s in out["specification"]:
        r = headline.get((s["metric"], s["estimator"])) if s["chosen"] else None
        if r is not None:
            s.update({k: r.get(k) for k in ("ratio", "ci_low", "ci_high", "n_a", "n_b", "n_clusters")})
    out["specification_range"] = {}
    for metric in sorted({r["metric"] for r in out["specification"]}):
        rng, caveat = cv.specification_spread([r for r in out["specification"] if r["metric"] == metric])
        out["specification_range"][metric] = rng
        for r in out["results"]:
            if r["metric"] == metric:
                add_caveats(r, caveat)
        out["checks"] += check_rows([caveat], ("specification",), metric)


