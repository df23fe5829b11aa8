"""The published-panel design: staggered adoption from a CSV panel (one row per unit and period).

A study of AI-tool adoption across repositories publishes a panel: each repository (unit), each
month (period), an outcome (commits, lines, issues), when the repository adopted the tool (first
treated period) and maybe covariates. ``loopmeter lift --panel FILE`` estimates the effect of
adoption on it with two estimators that avoid the bias of two-way fixed effects under staggered
adoption: Callaway & Sant'Anna (``stats/did.py``; doubly robust with covariates) and the
imputation estimator of Borusyak, Jaravel & Spiess (``stats/imputation.py``). Both intervals are
clustered by unit; both come with an event study and a pre-trend test.

What the file may hold, and what happens:
- a row repeated identically: dropped and counted in a warning; two rows for one unit and period
  that differ: refused, naming the first unit, period and both lines;
- a first-treated value that changes within a unit, or is empty on some of its rows only: refused
  (never silently recoded); units adopting after the last period (no treated period) or at or
  before the first (no untreated period) are reported by name;
- an empty outcome: the row is left out and counted; a non-number: refused, naming the line;
- ``log_outcome``: the outcome is logged (it must be > 0) and the effect is reported as the
  multiplicative change ``exp(beta) - 1`` (``percent_change``), never as a ratio of means.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput, ConfigError
from ..lift.loop_verdict import panel_verdict
from ..stats.did import NEVER, PanelError, callaway_santanna
from ..stats.imputation import imputation_did
from ..stats.json_values import json_ready
from .pilot import MISSING, _read_csv

__all__ = ["panel_lift"]

ESTIMATORS = ("cs", "imputation", "both")
PERIOD_UNITS = ("week", "month", "quarter")
BETTER = ("higher", "lower")
NEVER_WORDS = frozenset({"never", "inf", "none"})
_NAMED = 5


def panel_lift(
    path: str | Path,
    *,
    unit: str,
    period: str,
    outcome: str,
    first_treated: str,
    covariates: Sequence[str] = (),
    estimator: str = "both",
    period_unit: str | None = None,
    anticipation: int = 0,
    log_outcome: bool = False,
    control_group: str = "not_yet_treated",
    base_period: str = "universal",
    conf: float = 0.95,
    n_boot: int = 999,
    seed: int = 0,
    better: str = "higher",
) -> dict:
    """Staggered-adoption effects from a panel CSV; a JSON-ready document.

    ``period`` / ``first_treated``: integers (period indices), or with ``period_unit`` dates
    (ISO dates, ``YYYY-MM`` for months, ``YYYY-Qn`` for quarters) mapped to consecutive
    weeks (Monday-based), months or quarters. A first-treated cell that is empty, ``never``,
    ``inf`` or ``0`` (when 0 is not a period of the panel) marks a never-treated unit.

    Returns ``{design: "panel", source, outcome, period_unit, log_outcome, anticipation,
    n_rows, n_units, warnings, results: [{estimator, outcome, scale, estimate, se, ci_low,
    ci_high, clustered, percent_change, n_units, n_treated_units, event_study: [...],
    checks: [...], caveats, ...}], verdict: [...]}`` (lift/loop_verdict.py `panel_verdict`; ``better``:
    whether a higher or a lower outcome is the improvement).
    """
    if better not in BETTER:
        raise ConfigError(f"--better: {better!r} is not one of {', '.join(BETTER)}")
    if estimator not in ESTIMATORS:
        raise ConfigError(f"--estimator: {estimator!r} is not one of {', '.join(ESTIMATORS)}")
    if period_unit is not None and period_unit not in PERIOD_UNITS:
        raise ConfigError(f"--period-unit: {period_unit!r} is not one of {', '.join(PERIOD_UNITS)}")
    if anticipation < 0:
        raise ConfigError(f"--anticipation: {anticipation} periods; give 0 or more")
    table = _read_csv(Path(path))
    src = table.path
    for col in dict.fromkeys([unit, period, outcome, first_treated, *covariates]):
        if col not in table.columns:
            raise BadInput(f"{src}: no column {col!r} (columns: {', '.join(table.columns)})")
    f = table.frame
    lines = table.lines
    warnings: list[str] = []

    units = f[unit].to_numpy(dtype=object)
    blank_unit = f[unit].str.lower().isin(MISSING).to_numpy()
    if blank_unit.any():
        i = int(np.flatnonzero(blank_unit)[0])
        raise BadInput(f"{src}:{lines[i]}: column {unit!r} is empty; every row needs its unit")
    per = _periods(f[period], period_unit, src, lines, period, allow_never=False)[0]

    # Duplicates: identical rows dropped (counted), conflicting ones refused.
    used = list(dict.fromkeys([unit, period, outcome, first_treated, *covariates]))
    key = pd.DataFrame({"u": units, "p": per})
    dup = key.duplicated(keep=False).to_numpy()
    keep = np.ones(len(f), dtype=bool)
    if dup.any():
        sub = f.loc[dup, used].assign(_u=units[dup], _p=per[dup], _line=lines[dup])
        for (_, _), grp in sub.groupby(["_u", "_p"], sort=False):
            first = grp.iloc[0]
            differs = (grp[used] != first[used]).any(axis=1)
            if differs.any():
                other = grp[differs].iloc[0]
                raise BadInput(
                    f"{src}:{int(other['_line'])}: unit {first[unit]!r} period {first[period]!r} appears again with "
                    f"different values (first on line {int(first['_line'])}); one row per unit and period"
                )
        repeated = key.duplicated(keep="first").to_numpy()
        keep &= ~repeated
        warnings.append(f"{int(repeated.sum())} row(s) repeat an earlier row exactly and were dropped "
                        f"(first on line {int(lines[np.flatnonzero(repeated)[0]])}).")

    first_raw = f[first_treated]
    first, never = _periods(first_raw, period_unit, src, lines, first_treated, allow_never=True,
                            periods=per)
    # First-treated must be one value per unit (never silently recoded).
    frame = pd.DataFrame({"u": units, "f": np.where(never, NEVER, first), "line": lines})[keep]
    n_values = frame.groupby("u", sort=False)["f"].nunique()
    if (n_values > 1).any():
        bad = n_values[n_values > 1].index[0]
        rows = frame[frame["u"] == bad]
        vals = rows.drop_duplicates("f")
        a, b = vals.iloc[0], vals.iloc[1]
        what = [("no adoption (empty)" if v == NEVER else repr(first_raw.iloc[int(np.flatnonzero(lines == ln)[0])]))
                for v, ln in ((a["f"], a["line"]), (b["f"], b["line"]))]
        raise BadInput(
            f"{src}:{int(b['line'])}: unit {bad!r} has first-treated {what[1]} here but {what[0]} on line "
            f"{int(a['line'])}; a unit adopts once (fix the file rather than have it guessed)"
        )

    y_raw = f[outcome]
    y_missing = y_raw.str.lower().isin(MISSING).to_numpy()
    y = pd.to_numeric(y_raw.where(~y_missing), errors="coerce").to_numpy(float)
    bad = ~y_missing & ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BadInput(f"{src}:{lines[i]}: column {outcome!r}: {y_raw.iloc[i]!r} is not a number")
    if (y_missing & keep).any():
        idx = np.flatnonzero(y_missing & keep)
        warnings.append(f"{idx.size} row(s) have no {outcome!r} value and are left out (first on line {lines[idx[0]]}).")
        keep &= ~y_missing
    if log_outcome:
        nonpos = keep & (y <= 0)
        if nonpos.any():
            i = int(np.flatnonzero(nonpos)[0])
            raise BadInput(f"{src}:{lines[i]}: column {outcome!r}: {y_raw.iloc[i]!r} has no logarithm "
                           "(--log-outcome needs values > 0)")
        y = np.where(keep, np.log(np.where(y > 0, y, 1.0)), y)
    cov: dict[str, np.ndarray] = {}
    for c in covariates:
        raw = f[c]
        v = pd.to_numeric(raw, errors="coerce").to_numpy(float)
        badc = keep & ~np.isfinite(v)
        if badc.any():
            i = int(np.flatnonzero(badc)[0])
            raise BadInput(f"{src}:{lines[i]}: column {c!r}: {raw.iloc[i]!r} is not a number (covariates need a value "
                           "on every row)")
        cov[c] = v

    units, per, y, first, never = units[keep], per[keep], y[keep], first[keep], never[keep]
    cov = {c: v[keep] for c, v in cov.items()}
    cohort = np.where(never, NEVER, first).astype(np.int64)
    if 0 < int((cohort != NEVER).sum()) and int((cohort == NEVER).sum()) == 0 and control_group == "never_treated":
        raise BadInput(f"{src}: no unit is never treated, so never-treated controls do not exist; "
                       "use not-yet-treated controls")
    lo_p, hi_p = int(per.min()), int(per.max())
    by_unit = pd.DataFrame({"u": units, "c": cohort, "p": per}).groupby("u", sort=True)
    unit_cohort = by_unit["c"].first()
    unit_last = by_unit["p"].max()
    unit_first = by_unit["p"].min()
    adopters = unit_cohort[unit_cohort != NEVER]
    late = adopters[adopters.to_numpy() > unit_last[adopters.index].to_numpy()]
    if len(late):
        warnings.append(f"{len(late)} unit(s) have a first-treated period after their last row, so no treated "
                        f"period: they count as not yet treated throughout ({_names(late.index)}).")
    early = adopters[adopters.to_numpy() <= unit_first[adopters.index].to_numpy()]
    if len(early):
        warnings.append(f"{len(early)} unit(s) are treated from their first row on, with no untreated period to "
                        f"compare: {_names(early.index)}.")
    if not len(adopters):
        raise BadInput(f"{src}: column {first_treated!r} names no adoption; every unit is never treated")
    if lo_p == hi_p:
        raise BadInput(f"{src}: every row is in one period; a panel needs several")

    codes, labels = pd.factorize(units, sort=True)
    doc_common = {"outcome": outcome, "scale": "log" if log_outcome else "level"}
    results = []
    if estimator in ("cs", "both"):
        results.append(_cs(units, per, y, cohort, cov, control_group, base_period, anticipation, log_outcome,
                           conf, n_boot, seed, doc_common, src))
    if estimator in ("imputation", "both"):
        results.append(_imputation(codes, labels, per, y, cohort, cov, anticipation, log_outcome, conf,
                                   doc_common, src))
    doc = json_ready({
        "design": "panel",
        "source": str(src),
        "outcome": outcome,
        "log_outcome": log_outcome,
        "period_unit": period_unit,
        "anticipation": anticipation,
        "control_group": control_group,
        "base_period": base_period,
        "covariates": list(covariates),
        "n_rows": int(len(f)),
        "n_rows_used": int(keep.sum()),
        "n_units": int(len(labels)),
        "warnings": warnings,
        "results": results,
    })
    return {**doc, "verdict": panel_verdict(doc, higher_is_better=better == "higher")}


def _names(labels) -> str:
    shown = ", ".join(str(x) for x in list(labels)[:_NAMED])
    return shown + (f" and {len(labels) - _NAMED} more" if len(labels) > _NAMED else "")


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})[-\s]?Q([1-4])$", re.IGNORECASE)


def _periods(col: pd.Series, unit: str | None, src, lines, name: str, *, allow_never: bool, periods=None):
    """Integer period per row (and, with ``allow_never``, which rows mean "never")."""
    lowered = col.str.lower()
    empty = lowered.isin(MISSING).to_numpy()
    never = (empty | lowered.isin(NEVER_WORDS).to_numpy()) if allow_never else np.zeros(len(col), dtype=bool)
    if not allow_never and empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise BadInput(f"{src}:{lines[i]}: column {name!r} is empty; every row needs its period")
    out = np.zeros(len(col), dtype=np.int64)
    ints = pd.to_numeric(col.where(~never), errors="coerce").to_numpy(float)
    is_int = ~never & np.isfinite(ints) & (ints == np.round(ints))
    if unit is None:
        bad = ~never & ~is_int
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadInput(f"{src}:{lines[i]}: column {name!r}: {col.iloc[i]!r} is not an integer period "
                           "(give --period-unit week|month|quarter for dates)")
        out[is_int] = ints[is_int].astype(np.int64)
    else:
        for i in np.flatnonzero(~never):
            v = _date_index(col.iloc[i], unit)
            if v is None:
                raise BadInput(f"{src}:{lines[i]}: column {name!r}: {col.iloc[i]!r} is not a {unit} "
                               f"({_FORMS[unit]})")
            out[i] = v
    if allow_never and periods is not None and unit is None:
        zero = ~never & (out == 0)
        if zero.any():
            if periods.min() <= 0 <= periods.max():
                i = int(np.flatnonzero(zero)[0])
                raise BadInput(f"{src}:{lines[i]}: column {name!r}: 0 is ambiguous because period 0 is in the panel; "
                               "mark never-treated units with an empty cell or 'never'")
            never = never | zero
    return out, never


_FORMS = {"week": "an ISO date such as 2024-03-04", "month": "YYYY-MM or an ISO date",
          "quarter": "YYYY-Qn or an ISO date"}


def _date_index(text: str, unit: str) -> int | None:
    text = text.strip()
    if unit == "month" and (m := _MONTH.match(text)):
        y, mo = int(m.group(1)), int(m.group(2))
        return y * 12 + mo - 1 if 1 <= mo <= 12 else None
    if unit == "quarter" and (m := _QUARTER.match(text)):
        return int(m.group(1)) * 4 + int(m.group(2)) - 1
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if pd.isna(ts):
        return None
    if unit == "week":
        return int((ts.normalize() - pd.Timestamp("1970-01-05")).days // 7)  # Monday-based weeks
    if unit == "month":
        return ts.year * 12 + ts.month - 1
    return ts.year * 4 + (ts.month - 1) // 3


def _percent(log_outcome: bool, est: float, lo: float, hi: float) -> dict | None:
    if not log_outcome:
        return None
    return {"definition": "exp(beta) - 1: the multiplicative change in the outcome, in percent",
            "estimate": 100 * math.expm1(est), "ci_low": 100 * math.expm1(lo), "ci_high": 100 * math.expm1(hi)}


def _check(name: str, p_value, reason_not_run: str | None, **fields) -> dict:
    if p_value is None:
        return {"check": name, "status": "not_run", "reason": reason_not_run, **fields}
    return {"check": name, "status": "fired" if p_value < 0.05 else "not_fired", "p_value": p_value,
            "reason": None, **fields}


def _cs(units, per, y, cohort, cov, control_group, base_period, anticipation, log_outcome, conf, n_boot, seed,
        common, src) -> dict:
    panel = pd.DataFrame({"unit": units, "period": per, "y": y,
                          "first_treated": np.where(cohort == NEVER, np.nan, cohort.astype(float)), **cov})
    try:
        r = callaway_santanna(panel, control_group=control_group, log_outcome=False, n_boot=n_boot, conf=conf,
                              seed=seed, covariates=tuple(cov), base_period=base_period,
                              anticipation=anticipation)
    except PanelError as e:
        return {"estimator": "callaway_santanna", **common, "estimate": None, "ci_low": None, "ci_high": None,
                "clustered": True, "caveats": [str(e)], "event_study": [], "checks": []}
    o = r.overall
    pre = r.pre_trend
    return {
        "estimator": "callaway_santanna", **common,
        "estimate": o.att, "se": o.se, "ci_low": o.ci_low, "ci_high": o.ci_high, "clustered": True,
        "interval": "multiplier bootstrap over units (clustered by unit)",
        "percent_change": _percent(log_outcome, o.att, o.ci_low, o.ci_high),
        "n_units": r.n_units, "n_treated_units": r.n_treated_units, "n_cohorts": r.n_cohorts,
        "control_group": r.control_group, "base_period": r.base_period, "anticipation": r.anticipation,
        "doubly_robust": bool(r.covariates), "covariates": list(r.covariates),
        "event_study": [{"e": e, "estimate": eff.att, "se": eff.se, "ci_low": eff.ci_low, "ci_high": eff.ci_high,
                         "cband_low": eff.cband_low, "cband_high": eff.cband_high, "n": n,
                         "reference": r.base_period == "universal" and e == -1 - r.anticipation,
                         "percent_change": _percent(log_outcome, eff.att, eff.ci_low, eff.ci_high)}
                        for e, eff, n in r.event_study],
        "checks": [_check("pre_trends", pre.p_value,
                          "no pre-adoption period before the base period to test" if pre.n_points == 0 else
                          "the pre-adoption points do not vary between units",
                          method="sup_t_bootstrap", statistic=pre.statistic, n_points=pre.n_points)],
        "skipped_cells": [{"g": g, "t": t, "reason": why} for g, t, why in r.skipped_cells],
        "caveats": list(r.caveats),
    }


def _imputation(codes, labels, per, y, cohort, cov, anticipation, log_outcome, conf, common, src) -> dict:
    try:
        r = imputation_did(codes, per, y, cohort, covariates=cov, anticipation=anticipation, conf=conf,
                           unit_labels=labels)
    except ValueError as e:
        return {"estimator": "imputation", **common, "estimate": None, "ci_low": None, "ci_high": None,
                "clustered": True, "caveats": [str(e)], "event_study": [], "checks": []}
    caveats = []
    if r.covariates_dropped:
        caveats.append(f"Covariate(s) {', '.join(r.covariates_dropped)} do not change within any unit, so the unit "
                       "effects absorb them; the imputation fit leaves them out.")
    if r.dropped_obs:
        caveats.append(f"{r.dropped_obs} treated observation(s) have no untreated fit for their unit or period and are "
                       "left out" + (f" (units treated throughout: {_names(r.dropped_units)})" if r.dropped_units else "")
                       + ".")
    pre = r.pre_trend
    n_treated_units = int(np.unique(codes[(cohort != NEVER) & (per >= cohort)]).size)
    return {
        "estimator": "imputation", **common,
        "estimate": r.att, "se": r.se, "ci_low": r.ci_low, "ci_high": r.ci_high, "clustered": True,
        "interval": "normal, unit-clustered variance of Borusyak-Jaravel-Spiess (conservative)",
        "percent_change": _percent(log_outcome, r.att, r.ci_low, r.ci_high),
        "n_units": int(len(labels)), "n_treated_units": n_treated_units,
        "n_treated_obs": r.n_treated_obs, "n_untreated_obs": r.n_untreated_obs,
        "covariates": list(r.covariates_used),
        "event_study": [{"e": ev["e"], "estimate": ev["att"], "se": ev["se"], "ci_low": ev["ci_low"],
                         "ci_high": ev["ci_high"], "n": ev["n"], "kind": ev["kind"],
                         "percent_change": _percent(log_outcome, ev["att"], ev["ci_low"], ev["ci_high"])}
                        for ev in r.event_study],
        "checks": [_check("pre_trends", pre["p_value"], "no untreated period before adoption to test",
                          method=pre["method"], statistic=pre["statistic"], n_points=pre["n_points"],
                          df_num=pre["df_num"], df_den=pre["df_den"])],
        "caveats": caveats,
    }
