"""The lift of an event log's loop: before/after adoption and AI-handled vs human cases.

Shaped like the git designs (metrics/lift_designs.py): `{designs: [{design, adoption, results:
[{design, metric, comparison, estimator, ratio, ci_low, ci_high, p_value, speedup, n_a, n_b,
n_clusters, caveats, caveat_codes, ...}], checks}]}`, so the verdict layer reads it the same way.
The estimators are the store-free ones in stats/: the cluster-bootstrapped ratio of medians and the
log-duration regression with cluster-robust errors (cluster = the resource that closed the case,
or its team), and the ratio of weekly rates resampling weeks.

A log can hold a million cases; the bootstrap costs replicates x rows, so past `MAX_BOOT_ROWS`
done cases a design's ratio of medians is estimated on a seeded uniform sample of that many and
says so in a caveat (the regression always uses every case).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ..stats.json_values import json_ready
from ..stats.lift import detect_adoption, ratio_of_quantiles, ratio_of_rates
from ..stats.regression import log_duration_ols

CYCLE = "cycle_time_hours"
THROUGHPUT = "validated_cases_per_week"
MAX_BOOT_ROWS = 10_000
ADOPTION_RULE = ("first week of the first run of at least 3 of 4 weeks in which an agent resource "
                 "handled a done case")


def _result(design: str, metric: str, comparison: str, est, **fields) -> dict:
    d = est.to_dict()
    out = {"design": design, "metric": metric, "comparison": comparison, **d, **fields}
    out["caveats"] = list(d.get("caveats", []))
    out["caveat_codes"] = []
    return out


def _sample(a: pd.DataFrame, b: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    n = len(a) + len(b)
    if n <= MAX_BOOT_ROWS:
        return a, b, None
    frac = MAX_BOOT_ROWS / n
    rng = np.random.default_rng(seed)
    a = a[rng.random(len(a)) < frac]
    b = b[rng.random(len(b)) < frac]
    return a, b, (f"Estimated on a uniform random sample of {len(a) + len(b):,} of the {n:,} cases "
                  "(the bootstrap over every case would take too long); the regression uses them all.")


def durations(design: str, comparison: str, a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str], *,
              seed: int, n_boot: int, metric: str = CYCLE, column: str = "cycle_hours",
              covariance: str = "CR1") -> list[dict]:
    """Ratio of medians (sampled past MAX_BOOT_ROWS) and the log-duration regression of the
    positive `column` of a over b, clustered by their `cluster` column (`covariance`: CR1, or CR2
    with Bell-McCaffrey degrees of freedom, stats/cr2.py)."""
    sa, sb, note = _sample(a, b, seed)
    med = ratio_of_quantiles(sa[column].to_numpy(float), sa["cluster"].to_numpy(object),
                             sb[column].to_numpy(float), sb["cluster"].to_numpy(object),
                             q=0.5, n_boot=n_boot, seed=seed, labels=labels)
    out = [_result(design, metric, comparison, med, sampled=note is not None)]
    if note:
        out[0]["caveats"].append(note)
    if len(a) and len(b):
        both = pd.concat([a, b])
        ols = log_duration_ols(both[column].to_numpy(float), np.r_[np.ones(len(a)), np.zeros(len(b))],
                               clusters=both["cluster"].to_numpy(object), labels=labels, covariance=covariance)
        out.append(_result(design, metric, comparison, ols))
    return out


def _known(df: pd.DataFrame) -> pd.DataFrame:
    """Done cases with a positive cycle time: the ones a duration ratio can use."""
    return df[df["done"] & (df["cycle_hours"] > 0)]


def _adoption(df: pd.DataFrame, given: date | None, source: str = "given") -> dict:
    if given is not None:
        return {"date": given.isoformat(), "source": source, "rule": None}
    done = df[df["done"]]
    weeks = done.groupby("week").agg(ai=("ai", "sum"), total=("ai", "size"))
    found = None
    if len(weeks):
        found = detect_adoption([w.date() for w in weeks.index], weeks["ai"].to_numpy(), weeks["total"].to_numpy())
    return {"date": found.isoformat() if found else None, "source": "detected" if found else None,
            "rule": ADOPTION_RULE}


def _weekly_rate(df: pd.DataFrame, adoption: pd.Timestamp, *, seed: int, n_boot: int) -> dict:
    """Validated cases per week, after / before, resampling weeks. Weeks whose cases are still
    pending (done less than a window before the as-of) are left out, as their count is not final."""
    done = df[df["done"]]
    settled = done.groupby("week").agg(validated=("validated", "sum"), pending=("pending", "sum"))
    settled = settled[settled["pending"] == 0]
    if len(settled):
        grid = pd.date_range(settled.index.min(), settled.index.max(), freq="7D")
        settled = settled.reindex(grid, fill_value=0)  # a week with no done case is a zero, not a gap
    after = settled.index >= adoption
    v = settled["validated"].to_numpy(float)
    est = ratio_of_rates(np.where(after, v, 0), after.astype(float), np.where(after, 0, v), (~after).astype(float),
                         n_boot=n_boot, seed=seed, labels=("the period after adoption", "the period before adoption"))
    return _result("before-after", THROUGHPUT, "after/before", est, n_weeks_a=int(after.sum()),
                   n_weeks_b=int((~after).sum()))


def before_after(df: pd.DataFrame, adoption_date: date | None, *, cluster: str, seed: int, n_boot: int,
                 source: str = "given") -> dict:
    adoption = _adoption(df, adoption_date, source)
    out = {"design": "before-after", "adoption": adoption, "cluster": cluster, "results": [], "checks": []}
    if adoption["date"] is None:
        out["unavailable"] = ("no adoption date: none given (--adoption-date LOG=DATE or [[log]] adoption_date) "
                              "and no sustained agent-handled cases found")
        return out
    when = pd.Timestamp(adoption["date"])
    k = _known(df)
    done = df[df["done"]]
    after = done[done["done_ts"] >= when]
    # The verdict (lift/loop_verdict.py) credits a change to AI only when AI handled enough of the
    # cases after adoption, and wants enough weeks on each side: both are said here.
    adoption["exposure_after"] = round(float(after["ai"].mean()), 4) if len(after) else None
    span = weeks_each_side(done["done_ts"], when)
    out["results"] += [{**r, **span} for r in durations(
        "before-after", "after/before", k[k["done_ts"] >= when], k[k["done_ts"] < when],
        ("the period after adoption", "the period before adoption"), seed=seed, n_boot=n_boot)]
    rate = _weekly_rate(df, when, seed=seed, n_boot=n_boot)
    out["results"].append({**rate, "weeks_before": rate["n_weeks_b"], "weeks_after": rate["n_weeks_a"]})
    return out


def weeks_each_side(ts: pd.Series, when: pd.Timestamp) -> dict:
    """Calendar weeks (Monday starts) from the first timestamp's week to the last one's, split at
    adoption as the weekly rate splits them: a week starting before adoption is a week before."""
    ts = ts.dropna()
    if ts.empty:
        return {"weeks_before": 0, "weeks_after": 0}
    grid = pd.date_range(ts.min().to_period("W-SUN").start_time, ts.max().to_period("W-SUN").start_time, freq="7D")
    after = int((grid >= when).sum())
    return {"weeks_before": len(grid) - after, "weeks_after": after}


def ai_vs_human(df: pd.DataFrame, *, cluster: str, seed: int, n_boot: int) -> dict:
    """AI-handled cases against cases no agent handled and a person closed (a case a bot closed is
    in neither; one a bot only touched stays: metrics/log_loops.py `bot_closed`)."""
    k = _known(df)
    by_bot = k["bot_closed"] if "bot_closed" in k else k["bot"]
    out = {"design": "ai-vs-human", "cluster": cluster, "results": [], "checks": []}
    out["results"] += durations("ai-vs-human", "ai/human", k[k["ai"]], k[~k["ai"] & ~by_bot],
                                 ("the AI-handled group", "the human group"), seed=seed, n_boot=n_boot)
    text = ("Cases an agent handled were not chosen at random: agents may be given the routine cases, which "
            "are quicker anyway. Compare with the before/after design.")
    out["checks"].append({"metric": CYCLE, "check": "selection", "applies": True, "text": text})
    for r in out["results"]:
        r["caveats"].append(text)
        r["caveat_codes"].append("selection")
    return out


#: The case frame's columns the designs read: each design filters the frame several times, and
#: leaving out the text columns (item id, resource, team) makes every filter's copy cheap.
COLUMNS = ("done", "done_ts", "week", "cycle_hours", "cluster", "ai", "bot", "bot_closed", "validated", "pending")


def log_lift(df: pd.DataFrame, adoption_date: date | None, *, cluster: str = "resource", seed: int = 0,
             n_boot: int = 2000, source: str = "given") -> dict:
    """Both designs for one log's case frame (metrics/log_loops.py `case_frame`); `source` says
    where a given adoption date came from ("given", "loopmeter.toml")."""
    df = df[[c for c in COLUMNS if c in df.columns]]
    return json_ready({"designs": [before_after(df, adoption_date, cluster=cluster, seed=seed, n_boot=n_boot,
                                                source=source),
                                   ai_vs_human(df, cluster=cluster, seed=seed, n_boot=n_boot)]})
