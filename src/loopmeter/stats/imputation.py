"""The imputation estimator of staggered adoption (Borusyak, Jaravel & Spiess 2024, "BJS").

Fit the untreated potential outcome ``y_it(0) = a_i + l_t + x_it b`` by least squares on the
observations that are not (yet) treated, impute it for every treated observation, and average the
differences ``tau_it = y_it - y_hat_it(0)``: over every treated observation for the overall effect,
over those ``h`` periods after adoption for the event study. It uses every untreated observation
as a comparison (not one base period), which makes it efficient under parallel trends with
homoskedastic errors, and it never compares late adopters with already-treated units.

Inference, as BJS Theorem 3: every estimate is linear in the outcomes, ``sum_it v_it y_it``, with
``v = w`` on the treated observations (the averaging weights) and ``v_0 = -Z_0 (Z_0'Z_0)^-1 Z_1'w``
on the untreated ones. The unit-clustered variance is ``sum_i (sum_t v_it e_it)^2`` with ``e`` the
fit's residuals on untreated observations and, on treated ones, ``tau_it`` minus its cohort-period
mean (the conservative choice BJS make: effects that differ between cells count as noise). The
interval is normal. The pre-trend test is theirs too: on the untreated observations alone, add
dummies for the last ``P`` periods before adoption to the same fit and test them jointly with a
unit-clustered Wald test (F on P and G - 1 degrees of freedom); the coefficients are the event
study's pre-period points.

Least squares here solves the sparse normal equations (unit and period dummies as sparse columns,
one LU factorisation reused for every estimate), because the dense design of a 2,000-unit panel
would take gigabytes; the tests check it against statsmodels' dummy regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .dist import f_sf, norm_ppf

__all__ = ["ImputationResult", "imputation_did"]

NEVER = np.iinfo(np.int64).max
# Pre-adoption periods tested by default: the far ones rest on few units.
DEFAULT_PRE_PERIODS = 6


@dataclass(frozen=True)
class ImputationResult:
    att: float
    se: float
    ci_low: float
    ci_high: float
    n_treated_obs: int
    n_untreated_obs: int
    event_study: tuple[dict, ...]  # {e, att, se, ci_low, ci_high, n, kind: "effect" | "pre_trend_coefficient"}
    pre_trend: dict  # {statistic, p_value, df_num, df_den, n_points, event_times, method}
    covariates_used: tuple[str, ...]
    covariates_dropped: tuple[str, ...]  # constant within every unit: absorbed by the unit effects
    dropped_units: tuple[str, ...]  # treated in every observed period: no untreated fit to impute from
    dropped_obs: int  # treated observations that could not be imputed (their unit or period has no fit)


def imputation_did(
    unit: np.ndarray,
    period: np.ndarray,
    y: np.ndarray,
    cohort: np.ndarray,
    *,
    covariates: dict[str, np.ndarray] | None = None,
    anticipation: int = 0,
    conf: float = 0.95,
    pre_periods: int = DEFAULT_PRE_PERIODS,
    unit_labels=None,
) -> ImputationResult:
    """BJS imputation estimate from one row per observation.

    ``unit``: integer codes 0..N-1; ``period``: integer period index; ``y``: outcome; ``cohort``:
    the period the row's unit is first treated (``NEVER`` for never). With ``anticipation`` K,
    rows from ``cohort - K`` on are left out of the untreated fit; the overall effect averages the
    rows with ``period >= cohort``, the event study reports ``e = period - cohort >= -K``.
    ``covariates``: name -> value per row (time-varying; those constant within every unit are
    absorbed by the unit effects and dropped, said in ``covariates_dropped``).
    Raises ValueError when nothing can be imputed.
    """
    unit = np.asarray(unit, dtype=np.int64)
    period = np.asarray(period, dtype=np.int64)
    y = np.asarray(y, dtype=float)
    cohort = np.asarray(cohort, dtype=np.int64)
    n_units = int(unit.max()) + 1
    labels = np.asarray(unit_labels if unit_labels is not None else np.arange(n_units), dtype=object)
    e = np.where(cohort == NEVER, np.iinfo(np.int64).min, period - np.where(cohort == NEVER, 0, cohort))
    untreated = (cohort == NEVER) | (period < cohort - anticipation)
    treated = ~untreated  # includes the anticipation window

    # Covariates constant within every unit are the unit effect's business.
    used, dropped_cov, cols = [], [], []
    for name, x in (covariates or {}).items():
        x = np.asarray(x, dtype=float)
        spread = np.zeros(n_units)
        np.maximum.at(spread, unit, np.abs(x - _unit_mean(x, unit, n_units)[unit]))
        if np.all(spread[np.unique(unit[untreated])] <= 1e-12 * max(1.0, float(np.abs(x).max()))):
            dropped_cov.append(name)
        else:
            used.append(name)
            cols.append(x)
    x_mat = np.column_stack(cols) if cols else np.zeros((len(y), 0))

    # Units or periods without untreated rows have no fitted effect to impute from.
    has_u = np.zeros(n_units, dtype=bool)
    has_u[unit[untreated]] = True
    periods = np.unique(period)
    has_p = np.isin(periods, np.unique(period[untreated]))
    ok_period = np.isin(period, periods[has_p])
    imputable = treated & has_u[unit] & ok_period
    dropped_units = tuple(str(x) for x in labels[np.unique(unit[treated & ~has_u[unit]])])
    dropped_obs = int((treated & ~imputable).sum())
    if not imputable[e >= 0].any() if imputable.any() else True:
        raise ValueError("no treated observation has an untreated fit to impute its counterfactual from")

    fit_rows = np.flatnonzero(untreated)
    fit_units = np.flatnonzero(has_u)
    u_index = -np.ones(n_units, dtype=np.int64)
    u_index[fit_units] = np.arange(fit_units.size)
    fit_periods = periods[has_p]
    # The first fitted period is the reference level (its dummy dropped): unit + period dummies
    # share one redundant direction.
    p_index = {int(p): j - 1 for j, p in enumerate(fit_periods)}
    n_u, n_p, k = fit_units.size, fit_periods.size - 1, x_mat.shape[1]

    def design(rows: np.ndarray, extra: np.ndarray | None = None) -> sp.csr_matrix:
        m = rows.size
        pj = np.array([p_index[int(p)] for p in period[rows]], dtype=np.int64)
        ucol = u_index[unit[rows]]
        r = [np.arange(m), np.flatnonzero(pj >= 0)]
        c = [ucol, n_u + pj[pj >= 0]]
        blocks = [sp.csr_matrix((np.ones(m + int((pj >= 0).sum())), (np.concatenate(r), np.concatenate(c))),
                                shape=(m, n_u + n_p))]
        if k:
            blocks.append(sp.csr_matrix(x_mat[rows]))
        if extra is not None:
            blocks.append(sp.csr_matrix(extra))
        return sp.hstack(blocks, format="csr")

    z0 = design(fit_rows)
    lu = _factorize(z0)
    theta = lu.solve(z0.T @ y[fit_rows])
    resid0 = y[fit_rows] - z0 @ theta
    imp_rows = np.flatnonzero(imputable)
    z1 = design(imp_rows)
    tau = y[imp_rows] - z1 @ theta
    e1 = e[imp_rows]
    # Treated "residuals": tau minus its cohort-period mean (BJS's conservative choice).
    key = cohort[imp_rows].astype(np.float64) * 1e6 + period[imp_rows]
    _, cell = np.unique(key, return_inverse=True)
    cell_mean = np.bincount(cell, weights=tau) / np.bincount(cell)
    resid1 = tau - cell_mean[cell]
    z = float(norm_ppf(0.5 + conf / 2.0))

    def estimate(mask: np.ndarray) -> dict:
        w = np.where(mask, 1.0 / mask.sum(), 0.0)
        att = float(w @ tau)
        v0 = -(z0 @ lu.solve(z1.T @ w))
        score = np.bincount(unit[imp_rows], weights=w * resid1, minlength=n_units)
        score += np.bincount(unit[fit_rows], weights=v0 * resid0, minlength=n_units)
        se = math.sqrt(float(score @ score))
        return {"att": att, "se": se, "ci_low": att - z * se, "ci_high": att + z * se, "n": int(mask.sum())}

    overall = estimate(e1 >= 0)
    events = [{"e": int(h), **estimate(e1 == h), "kind": "effect"} for h in np.unique(e1)]

    pre = _pre_trend(unit, period, e, cohort, fit_rows, design, y, pre_periods, anticipation, n_units, z)
    events = pre.pop("points") + events
    return ImputationResult(
        att=overall["att"], se=overall["se"], ci_low=overall["ci_low"], ci_high=overall["ci_high"],
        n_treated_obs=overall["n"], n_untreated_obs=int(fit_rows.size), event_study=tuple(events),
        pre_trend=pre, covariates_used=tuple(used), covariates_dropped=tuple(dropped_cov),
        dropped_units=dropped_units, dropped_obs=dropped_obs,
    )


def _unit_mean(x: np.ndarray, unit: np.ndarray, n_units: int) -> np.ndarray:
    counts = np.maximum(np.bincount(unit, minlength=n_units), 1)
    return np.bincount(unit, weights=x, minlength=n_units) / counts


def _factorize(z: sp.csr_matrix):
    a = (z.T @ z).tocsc()
    try:
        lu = spla.splu(a)
    except RuntimeError:
        raise ValueError("the untreated fit is singular: a covariate is collinear with the unit and period "
                         "effects, or the units fall into separate groups with no period in common") from None
    if not np.all(np.isfinite(lu.U.diagonal())) or np.min(np.abs(lu.U.diagonal())) < 1e-10 * np.max(np.abs(lu.U.diagonal())):
        raise ValueError("the untreated fit is singular: a covariate is collinear with the unit and period "
                         "effects, or the units fall into separate groups with no period in common")
    return lu


def _pre_trend(unit, period, e, cohort, fit_rows, design, y, pre_periods, anticipation, n_units, z) -> dict:
    """BJS's test: dummies for the last ``pre_periods`` untreated periods before adoption (``e`` from
    ``-anticipation - pre_periods`` to ``-anticipation - 1``) added to the untreated fit, tested
    jointly with a unit-clustered Wald test."""
    base = {"statistic": None, "p_value": None, "df_num": 0, "df_den": None, "n_points": 0, "event_times": [],
            "method": "bjs_wald_pre_coefficients", "points": []}
    ef = e[fit_rows]
    wanted = [h for h in range(-anticipation - pre_periods, -anticipation) if np.any(ef == h)]
    # When the dummies cover every untreated row of every adopter, relative time is a combination
    # of the unit and period effects (e = t - g): the farthest dummy is then dropped, and becomes
    # the reference, until the fit is identified.
    while wanted:
        dummies = np.column_stack([(ef == h).astype(float) for h in wanted])
        za = design(fit_rows, dummies)
        try:
            lu = _factorize(za)
            break
        except ValueError:
            wanted = wanted[1:]
    if not wanted:
        return base
    theta = lu.solve(za.T @ y[fit_rows])
    resid = y[fit_rows] - za @ theta
    m = za.shape[1]
    p = len(wanted)
    b = theta[m - p:]
    # Rows of (Z'Z)^-1 Z' for the dummies give each unit's share of each coefficient.
    basis = np.zeros((m, p))
    basis[m - p:, :] = np.eye(p)
    rows_inv = np.column_stack([lu.solve(basis[:, j]) for j in range(p)])  # (m, p)
    contrib = (za @ rows_inv) * resid[:, None]  # (rows, p)
    scores = np.zeros((n_units, p))
    np.add.at(scores, unit[fit_rows], contrib)
    g = int(np.count_nonzero(np.abs(scores).sum(axis=1) > 0))
    if g < 2:
        return base
    cov = g / (g - 1) * scores.T @ scores
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    points = [{"e": int(h), "att": float(bj), "se": float(s), "ci_low": float(bj - z * s), "ci_high": float(bj + z * s),
               "n": int((ef == h).sum()), "kind": "pre_trend_coefficient"} for h, bj, s in zip(wanted, b, se)]
    try:
        wald = float(b @ np.linalg.solve(cov, b))
    except np.linalg.LinAlgError:
        return {**base, "points": points}
    f = wald / p
    pv = float(f_sf(f, p, g - 1))
    return {"statistic": f, "p_value": pv, "df_num": p, "df_den": g - 1, "n_points": p, "event_times": wanted,
            "method": "bjs_wald_pre_coefficients", "points": points}
