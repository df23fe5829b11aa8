"""Poisson rate ratio with author fixed effects: the same people's event rate after / before.

Model: an author's events in a period are Poisson with mean ``exposure * exp(alpha_author +
beta * after)``. ``exp(beta)`` is the rate ratio of every author with themselves, so a change in
who is active (new hires, leavers) does not move it, unlike the pooled ratio of rates.

Why hand-written rather than statsmodels' GLM with one dummy per author: the dummy design is
N x (authors) and thousands of authors make it gigabytes. With one binary regressor the author
effects are concentrated out exactly (the conditional / within Poisson estimator): given an
author's total ``n_i``, their events after adoption are Binomial(n_i, p_i) with
``p_i = R x_ia / (R x_ia + x_ib)``, so beta solves a one-dimensional concave problem. The GLM
with dummies has the same MLE of beta (a known property of the Poisson model), and its
cluster-robust (by author) sandwich for beta reduces to ``sum_i (y_ia - n_i p_i)^2 / I^2`` with
``I = sum_i n_i p_i (1 - p_i)``: each author's dummy score is zero at the MLE, so only beta's
component of an author's score is left. tests/test_stats_poisson_fe.py checks both against
statsmodels' GLM to 1e-6. statsmodels' ConditionalPoisson is not used: its fit has no
cluster-robust covariance, and it drops every author whose counts are equal before and after,
which with unequal exposures still carry information (its estimate then differs).

Small-sample factor: ``G / (G - 1)`` (G authors in the fit), as Stata's fixed-effects Poisson
with robust errors; statsmodels' extra ``(N - 1) / (N - K)`` counts each author's dummy as a
parameter and would inflate the variance about two-fold with two rows per author. The interval
is a t interval on ``G - 1`` degrees of freedom on the log scale, as the cluster-robust
regressions here (stats/regression.py).

Only authors with exposure on both sides and at least one event carry beta; the others drop out
of the conditional likelihood (their dummy absorbs them) and are counted, not used.
"""

from __future__ import annotations

import math

import numpy as np

from .bootstrap import check_conf
from .dist import t_interval
from .lift import GROUP_LABELS, MIN_VALUES, Estimate, _nonneg

__all__ = ["poisson_rate_ratio_author_fe"]

NAME = "poisson_author_fe"
_MAX_ITER = 100


def poisson_rate_ratio_author_fe(
    events_a,
    exposure_a,
    events_b,
    exposure_b,
    *,
    conf: float = 0.95,
    labels: tuple[str, str] = GROUP_LABELS,
) -> Estimate:
    """Rate ratio a / b with author fixed effects; position ``i`` of the four arrays is author ``i``
    (the arrays `ratio_of_rates` takes). ``n_a`` / ``n_b`` are all authors' events, as in
    `ratio_of_rates`; ``extra`` holds ``beta``, ``se``, ``df``, ``covariance`` ("CR1"),
    ``n_identifying_authors`` and ``n_identifying_changes`` (the fit's authors and their events).
    The ratio is None when no author is on both sides with an event, or a side of the fit has no
    event (the estimate would be 0 or infinite)."""
    check_conf(conf)
    ea, xa = _nonneg(events_a, "events_a"), _nonneg(exposure_a, "exposure_a")
    eb, xb = _nonneg(events_b, "events_b"), _nonneg(exposure_b, "exposure_b")
    if not len(ea) == len(xa) == len(eb) == len(xb):
        raise ValueError("events and exposure arrays must have one entry per author in the same order; "
                         f"got lengths {len(ea)}, {len(xa)}, {len(eb)}, {len(xb)}")
    for name, e, x in (("a", ea, xa), ("b", eb, xb)):
        if ((e > 0) & (x == 0)).any():
            raise ValueError(f"group {name}: {int(((e > 0) & (x == 0)).sum())} authors have events but zero exposure")
    active = (xa > 0) | (xb > 0)
    n_a, n_b, n_clusters = round(float(ea[active].sum())), round(float(eb[active].sum())), int(active.sum())
    fit = (xa > 0) & (xb > 0) & (ea + eb > 0)
    ya, yb, wa, wb = ea[fit], eb[fit], xa[fit], xb[fit]
    g = int(fit.sum())
    extra: dict = {"covariance": "CR1", "fixed_effects": ["author"], "n_identifying_authors": g,
                   "n_identifying_changes": round(float(ya.sum() + yb.sum()))}

    def none(reason: str) -> Estimate:
        return Estimate(NAME, None, None, None, n_a, n_b, n_clusters, (reason,), extra=extra)

    if g == 0:
        return none(f"No author is active with validated changes in both {labels[0]} and {labels[1]}, so the same "
                    "people cannot be compared with themselves.")
    if ya.sum() == 0 or yb.sum() == 0:
        side = labels[0] if ya.sum() == 0 else labels[1]
        return none(f"The authors active in both periods have no events in {side}, so their rate ratio is "
                    f"{'0' if ya.sum() == 0 else 'infinite'} with no interval.")
    n = ya + yb
    beta = math.log((ya.sum() / wa.sum()) / (yb.sum() / wb.sum()))  # the pooled ratio: a good start
    for _ in range(_MAX_ITER):
        p = _share(beta, wa, wb)
        score, info = float((ya - n * p).sum()), float((n * p * (1 - p)).sum())
        # Newton on a concave likelihood; the cap keeps a far start from overshooting.
        step = max(-2.0, min(2.0, score / info))
        beta += step
        if abs(step) < 1e-12 * max(1.0, abs(beta)):
            break
    p = _share(beta, wa, wb)
    info = float((n * p * (1 - p)).sum())
    caveats: list[str] = []
    for label, k in zip(labels, (int(ya.sum()), int(yb.sum()))):
        if k < MIN_VALUES:
            caveats.append(f"The authors active in both periods have only {k} events in {label} (fewer than "
                           f"{MIN_VALUES}); the rate ratio is imprecise.")
    if g < 2:
        caveats.append("Only 1 author is in both periods: no cluster-robust interval is possible.")
        extra.update(beta=beta, se=None, df=None)
        return Estimate(NAME, math.exp(beta), None, None, n_a, n_b, n_clusters, tuple(caveats), extra=extra)
    meat = float(((ya - n * p) ** 2).sum())
    if meat <= (1e-9 * float(n.sum())) ** 2:
        # Every author's counts sit exactly on the common ratio (all scores zero, up to rounding):
        # the sandwich is zero and an interval of zero width would claim a certainty no data gives.
        caveats.append("Every author's counts fit the common rate ratio exactly (no variation between "
                       "authors), so there is no interval and no p-value.")
        extra.update(beta=beta, se=None, df=None)
        return Estimate(NAME, math.exp(beta), None, None, n_a, n_b, n_clusters, tuple(caveats), extra=extra)
    se = math.sqrt(g / (g - 1) * meat) / info
    df = float(g - 1)
    lo, hi, pval = t_interval(beta, se, df, conf)
    extra.update(beta=beta, se=se, df=df)
    return Estimate(NAME, math.exp(beta), math.exp(lo), math.exp(hi), n_a, n_b, n_clusters,
                    tuple(caveats), p_value=pval, clustered=True, extra=extra)  # CR1 over authors


def _share(beta: float, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """p_i = R x_a / (R x_a + x_b), written with the logistic so a large |beta| cannot overflow."""
    return 1.0 / (1.0 + np.exp(-(beta + np.log(wa) - np.log(wb))))
