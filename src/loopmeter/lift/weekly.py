"""The weekly side of the before/after design: the series by weeks since adoption, the
interrupted time series on it, the staggered difference-in-differences, and the forecasts."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from ..stats.did import PanelError, callaway_santanna
from ..stats.forecast import forecast_how_many, forecast_when
from ..stats.its import interrupted_time_series, placebo_breaks
from ..stats.lift import Estimate
from ..stats.special import special as _special
from . import checks as cv
from .inputs import Periods, monday, no_estimate

ndtr = _special.ndtr

#: Forecast horizon (weeks) and the backlog size of "when will K items be done".
FORECAST_WEEKS = 12
FORECAST_ITEMS = 100


def event_time_series(a: pd.DataFrame, p: Periods, single: bool) -> list[dict]:
    """Pooled over repositories by weeks since each one's adoption: validated changes, contributor-weeks
    and their ratio. With one adoption date this is the calendar series."""
    k = [(w - p.adoption[r]).days // 7 for r, w in zip(a["repo"], a["week"])]
    t = a.assign(k=k)
    ev = t.groupby("k")["validated"].sum()
    ex = t.drop_duplicates(["author_id", "week"] if single else ["repo", "author_id", "week"]).groupby("k").size()
    weeks = t.groupby("k")["week"].min()
    out = []
    for kk in sorted(ex.index):
        out.append({"event_week": int(kk), "week_start": weeks[kk].isoformat(), "validated": int(ev.get(kk, 0)),
                    "contributor_weeks": int(ex[kk]), "rate": float(ev.get(kk, 0) / ex[kk])})
    return out


def series_event_study(series: list[dict]) -> dict | None:
    """The weekly rate by event time relative to the mean rate before adoption (1 = no change)."""
    pre = [s for s in series if s["event_week"] < 0]
    x = sum(s["contributor_weeks"] for s in pre)
    if not x or not series:
        return None
    base = sum(s["validated"] for s in pre) / x
    if base <= 0:
        return None
    return {
        "title": "Validated throughput per contributor-week, by weeks since adoption (relative to before)",
        "y_label": "rate / mean rate before adoption", "reference": 1.0, "base": base,
        "points": [{"e": s["event_week"], "estimate": s["rate"] / base, "ci_low": None, "ci_high": None} for s in series],
    }


# --------------------------------------------------------------------------- time-based estimators

def its_level_change(series: list[dict]) -> tuple[Estimate, dict | None, cv.Outcome]:
    """Segmented regression of the weekly log rate (validated changes per contributor-week) at the
    adoption week, interval and p-value from stats.its' sieve bootstrap-t (Newey-West errors run
    narrow in series this short); the level change exp(beta_post) is a ratio of rates against
    the pre-adoption trend extrapolated to the break. Placebo breaks give a second p-value.

    A week with no validated change (or no activity at all) has no log rate; the series is then
    fitted as weekly counts of validated changes with the count model (Poisson; negative binomial
    when stats.its finds the counts overdispersed around the Poisson fit), whose level change is a
    rate ratio of changes per week: a zero is data, not a reason to give no estimate."""
    name = "its_level_change"
    ks = [s["event_week"] for s in series]
    n_a = sum(s["validated"] for s in series if s["event_week"] >= 0)
    n_b = sum(s["validated"] for s in series if s["event_week"] < 0)
    if not series or 0 not in ks or min(ks) >= 0:
        why = "No weeks on one side of adoption."
        return no_estimate(name, n_a, n_b, len(ks), why), None, cv.NotRun("pre_trends", why)
    by_k = {s["event_week"]: s for s in series}
    weeks = list(range(min(ks), max(ks) + 1))
    bi = -min(ks)
    if bi < 3 or len(weeks) - bi < 3:
        why = "Fewer than 3 weeks on one side of adoption."
        return no_estimate(name, n_a, n_b, len(ks), why), None, cv.NotRun("pre_trends", why)
    rates = [by_k[k]["rate"] if k in by_k else 0.0 for k in weeks]
    counts = np.array([by_k[k]["validated"] if k in by_k else 0 for k in weeks], dtype=float)
    if min(rates) > 0:
        model, y = "ols", np.log(np.array(rates, dtype=float))
    else:
        model, y = "poisson", counts
    res = interrupted_time_series(y, bi, model=model)
    if model == "poisson" and any("negative binomial model fits such data better" in c for c in res.caveats):
        # Overdispersed around the fitted trend (stats.its' Pearson check): the model it names,
        # unless that fit fails (sparse series), when the Poisson one stands with its caveat.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = interrupted_time_series(y, bi, model="negbin")
        fine = [nb.level_change, nb.level_ci_low, nb.level_ci_high]
        if all(math.isfinite(v) for v in fine) and not any("did not converge" in c for c in nb.caveats):
            model, res = "negbin", nb
    if not math.isfinite(res.level_change):
        why = res.caveats[0] if res.caveats else "The weekly series could not be fitted."
        return no_estimate(name, n_a, n_b, len(weeks), why), None, cv.NotRun("pre_trends", why)
    plc = placebo_breaks(y, bi, model=model)
    p = res.params
    # OLS fits the log rate (its coefficients are differences of logs); the count models report
    # their level change already as a rate ratio.
    log_scale = model == "ols"
    to_ratio = math.exp if log_scale else (lambda v: v)
    fitted_pre = [math.exp(p["const"] + p["t"] * t) for t in range(bi + 1)]
    fitted_post = [math.exp(p["const"] + p["t"] * t + p["post"] + p["t_since_break"] * (t - bi)) for t in range(bi, len(y))]
    if not log_scale:  # fitted weekly counts, shown as rates against the mean contributor-weeks
        per = float(np.mean([by_k[k]["contributor_weeks"] for k in by_k])) or 1.0
        fitted_pre, fitted_post = [v / per for v in fitted_pre], [v / per for v in fitted_post]
    note = () if log_scale else (
        "A week had no validated change, so the series was fitted as weekly counts of validated changes "
        f"({'negative binomial' if model == 'negbin' else 'Poisson'} model): the level change is in changes per "
        "week, not per contributor-week.",)
    est = Estimate(
        name, to_ratio(res.level_change), to_ratio(res.level_ci_low), to_ratio(res.level_ci_high), n_a, n_b, len(y),
        note + tuple(res.caveats) + tuple(plc.caveats), p_value=res.level_p_value,
        extra={"slope_change_per_week": to_ratio(res.slope_change), "pre_slope_per_week": to_ratio(res.pre_slope),
               "placebo_p_value": plc.p_value, "n_placebos": plc.n_placebos, "maxlags": res.maxlags,
               "weeks_before": res.n_pre, "weeks_after": res.n_post, "cluster_unit": "week",
               "model": {"ols": "log_rate_ols", "poisson": "count_poisson", "negbin": "count_negbin"}[model],
               "interval": {"bootstrap": "sieve_bootstrap_t", "hac": "newey_west"}[res.interval],
               "ci_low_hac": to_ratio(res.level_ci_low_hac), "ci_high_hac": to_ratio(res.level_ci_high_hac),
               "p_value_hac": res.level_p_value_hac},
    )
    se_t = res.std_errors.get("t")
    pre_p = float(2 * (1 - ndtr(abs(p["t"] / se_t)))) if se_t and se_t > 0 else None
    caveat = cv.pre_trends(pre_p, source="the weekly series before adoption (ITS pre-period slope)",
                           slope=math.exp(p["t"]) - 1,
                           why_not="The ITS pre-period slope has no standard error.")
    fits = {"pre": (list(range(-bi, 1)), fitted_pre), "post": (list(range(len(y) - bi)), fitted_post)}
    return est, fits, caveat


def staggered_did(act: pd.DataFrame, dates: Mapping[str, date | None], last_full: date, *, seed: int,
                  unit_noun: str = "repository") -> tuple[Estimate, dict | None, cv.Outcome]:
    """Callaway-Sant'Anna over (repository, author) units: validated changes per active week, each
    unit first treated in its repository's adoption week, not-yet-treated units as controls. With
    `--by team` the `repo` column holds the team (units.py) and the units are (team, author).

    The ATT is a difference in changes per contributor-week; its ratio is against the treated
    units' counterfactual (their mean after adoption minus the ATT), with the interval's ends
    mapped the same way (the counterfactual mean's own noise is not in it)."""
    name = "did_att"
    a = act[act["week"] < last_full]
    if a.empty:
        return no_estimate(name, 0, 0, 0, "No complete weeks."), None, cv.NotRun("pre_trends", "No complete weeks.")
    w0 = min(a["week"])
    unit = a["repo"].astype(str) + "\x00" + a["author_id"].astype(str)
    period = [1 + (w - w0).days // 7 for w in a["week"]]
    first = {r: (1 + (monday(d) - w0).days // 7 if d else None) for r, d in dates.items()}
    panel = pd.DataFrame({"unit": unit.to_numpy(), "period": period, "y": a["validated"].to_numpy(float),
                          "first_treated": [first.get(r) for r in a["repo"]]})
    treated_rows = [f is not None and not pd.isna(f) and t >= f for f, t in zip(panel["first_treated"], panel["period"])]
    n_treated_rows = int(sum(treated_rows))
    try:
        res = callaway_santanna(panel, seed=seed)
    except PanelError as e:
        why = str(e)
        return (no_estimate(name, n_treated_rows, len(panel) - n_treated_rows, int(unit.nunique()), why), None,
                cv.NotRun("pre_trends", why))
    d = res.to_dict()
    post = panel[treated_rows]
    m = float(post["y"].mean()) if len(post) else float("nan")

    def as_ratio(att: float) -> float | None:
        base = m - att
        return m / base if base > 0 and m > 0 else None

    se = d["se"]
    p_value = float(2 * (1 - ndtr(abs(d["att"] / se)))) if se and se > 0 else None
    ratio = as_ratio(d["att"])
    # An upper ATT limit at or above the adopters' mean leaves a counterfactual of zero or less:
    # the ratio's interval is open above, which is a finding, not a missing interval.
    unbounded = bool(ratio) and d["ci_high"] is not None and m > 0 and m - d["ci_high"] <= 0
    est = Estimate(
        name, ratio, as_ratio(d["ci_low"]) if ratio else None, as_ratio(d["ci_high"]) if ratio else None,
        len(post), len(panel) - len(post), d["n_units"], tuple(d["caveats"]), p_value=p_value,
        extra={"att": d["att"], "att_se": se, "att_ci_low": d["ci_low"], "att_ci_high": d["ci_high"],
               "n_cohorts": d["n_cohorts"], "control_group": d["control_group"],
               "pre_trend_p_value": d["pre_trend"]["p_value"], "cluster_unit": f"{unit_noun}-author",
               "ci_high_unbounded": unbounded},
    )
    es = {
        "title": "Event study (staggered DiD): effect on validated changes per contributor-week, by weeks since adoption",
        "y_label": "difference vs not-yet-adopted units", "reference": 0.0,
        "points": [{"e": x["e"], "estimate": x["att"], "ci_low": x["ci_low"], "ci_high": x["ci_high"]}
                   for x in d["event_study"]],
        "pre_trend_p_value": d["pre_trend"]["p_value"],
    }
    caveat = cv.pre_trends(d["pre_trend"]["p_value"], source="the event study's pre-adoption weeks (sup-t test)",
                           why_not="The event study has no pre-adoption weeks to test.")
    return est, es, caveat


def forecasts(series: list[dict], *, seed: int) -> dict | None:
    """How many validated items in the next FORECAST_WEEKS weeks, and in how many weeks
    FORECAST_ITEMS more are done, resampling the weeks before adoption and, separately, after it."""
    if not series:
        return None
    ks = [s["event_week"] for s in series]
    by_k = {s["event_week"]: s["validated"] for s in series}
    # A week inside the span with no row had no validated change: a 0, not a missing week.
    full = {k: by_k.get(k, 0) for k in range(min(ks), max(ks) + 1)}
    out = {"weeks_ahead": FORECAST_WEEKS, "items": FORECAST_ITEMS, "periods": []}
    for label, keep in (("before adoption", lambda k: k < 0), ("after adoption", lambda k: k >= 0)):
        counts = [v for k, v in full.items() if keep(k)]
        if not counts:
            continue
        hm = forecast_how_many(counts, FORECAST_WEEKS, seed=seed).to_dict()
        wh = forecast_when(counts, FORECAST_ITEMS, seed=seed).to_dict()
        out["periods"].append({"label": f"from the weeks {label}", "history_weeks": len(counts),
                               "how_many": hm, "when": wh})
    return out if out["periods"] else None


def forecast_fans(fc: dict | None) -> dict | None:
    if not fc:
        return None
    fans = []
    for p in fc["periods"]:
        fan = p["how_many"]["fan"]
        q = fan["quantiles"]
        fans.append({"label": p["label"], "weeks": fan["weeks"], **{f"p{k}": v for k, v in q.items()}})
    return {"fans": fans}
