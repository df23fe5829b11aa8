"""Kaplan-Meier survival curves, the log-rank test, and a ratio of KM medians with a cluster bootstrap.

Why survival at all: an item still open at the as-of time has a duration we only know a lower
bound of. Dropping it biases every duration statistic towards fast items (the slow ones are the
ones still open); counting it as done at the as-of time biases it the same way. Kaplan-Meier uses
exactly what is known: the item was still open after ``as_of - started`` hours (right-censored).

The estimator is hand-written with numpy rather than taken from lifelines because it is a few
lines, keeps lifelines (and its plotting stack) out of the runtime, and lets the bootstrap compute
thousands of weighted curves at once. The tests check it against lifelines to 1e-6.

Conventions (all match lifelines' defaults):

- ``times`` are the distinct durations (events and censorings), ascending; ``survival[i]`` is
  S(t) just after ``times[i]``, the product over event times s <= t of (1 - d_s / n_s).
- ``at_risk[i]`` counts items with duration >= ``times[i]``; an item censored at t is at risk at t
  (censoring is taken to happen just after the events at the same time).
- Pointwise intervals are the "exponential Greenwood" (log(-log S)) ones:
  ``exp(-exp(log(-log S) -/+ z sqrt(V) / log S))`` with Greenwood's ``V = sum d / (n (n - d))``.
  Where S = 1 both bounds are 1; where S = 0 the interval is undefined (NaN, None in JSON).
- The median is the first time with S(t) <= 0.5, and None when the curve never gets there ("not
  reached": fewer than half of the items are known to have finished). Its interval is the first
  time each pointwise bound gets to 0.5, None where a bound never does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .bootstrap import check_conf, cluster_bootstrap, factorize_clusters
from .dist import chi2_sf, norm_ppf
from .lift import ZERO_WIDTH, _cap, all_equal_caveat

__all__ = ["KMRatioEstimate", "KMResult", "kaplan_meier", "km_ratio_of_medians", "log_rank", "log_rank_clustered"]

# Above this share of censored items a median leans on a handful of late completions, and the
# KM assumption that censoring is unrelated to speed (items still open are like items that would
# have closed) carries more of the answer. A convention, not a theorem.
HIGH_CENSORED_SHARE = 0.3
MIN_EVENTS = 20
MIN_CLUSTERS = 10
MAX_DROPPED_SHARE = 0.05
# S(t) is a product of floats; a curve that is exactly 0.5 on paper can land a hair above it.
_HALF = 0.5 + 1e-12


def _none_if_nan(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class KMResult:
    times: np.ndarray  # distinct durations (hours), ascending
    survival: np.ndarray  # S(t) just after each time
    at_risk: np.ndarray  # items with duration >= t
    events: np.ndarray  # items finishing exactly at t
    censored: np.ndarray  # items censored exactly at t
    ci_low: np.ndarray  # pointwise exponential-Greenwood bounds, NaN where undefined
    ci_high: np.ndarray
    median: float | None  # first t with S(t) <= 0.5; None when not reached
    median_ci: tuple[float | None, float | None]
    conf: float

    @property
    def n(self) -> int:
        return int(self.events.sum() + self.censored.sum())

    @property
    def n_censored(self) -> int:
        return int(self.censored.sum())

    def to_dict(self) -> dict:
        return {
            "times": [float(t) for t in self.times],
            "survival": [float(s) for s in self.survival],
            "at_risk": [int(n) for n in self.at_risk],
            "events": [int(d) for d in self.events],
            "censored": [int(c) for c in self.censored],
            "ci_low": [_none_if_nan(x) for x in self.ci_low],
            "ci_high": [_none_if_nan(x) for x in self.ci_high],
            "median": self.median,
            "median_reached": self.median is not None,
            "median_ci": list(self.median_ci),
            "conf": self.conf,
            "n": self.n,
            "n_censored": self.n_censored,
        }


def _check_input(durations, observed, label: str) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(durations, dtype=float)
    e = np.asarray(observed)
    if d.ndim != 1 or e.ndim != 1:
        raise ValueError(f"{label}: durations and observed must be one-dimensional")
    if len(d) != len(e):
        raise ValueError(f"{label}: {len(d)} durations but {len(e)} observed flags")
    if not np.isfinite(d).all():
        raise ValueError(f"{label}: durations contain NaN or infinite values; an open item is "
                         "censored at the as-of time, not missing")
    if (d < 0).any():
        raise ValueError(f"{label}: {int((d < 0).sum())} durations are negative")
    if e.dtype != bool:
        ef = e.astype(float)
        if not np.isin(ef, (0.0, 1.0)).all():
            raise ValueError(f"{label}: observed flags must be 0/1 or booleans")
        e = ef.astype(bool)
    return d, e


def _first_at_or_below(times: np.ndarray, curve: np.ndarray, level: float) -> float | None:
    hit = np.flatnonzero(curve <= level)
    return float(times[hit[0]]) if hit.size else None


def kaplan_meier(durations, observed, *, conf: float = 0.95) -> KMResult:
    """Kaplan-Meier estimate of S(t) = P(duration > t) under right-censoring.

    ``durations`` (hours, >= 0): for finished items the duration, for open items the time from
    their start to the as-of time. ``observed``: True for finished, False for censored (open).
    """
    check_conf(conf)
    d, e = _check_input(durations, observed, "kaplan_meier")
    times, inverse = np.unique(d, return_inverse=True)
    events = np.bincount(inverse, weights=e.astype(float), minlength=times.size)
    total = np.bincount(inverse, minlength=times.size).astype(float)
    censored = total - events
    # Items with duration >= t: all minus those that left strictly before t.
    at_risk = d.size - (np.cumsum(total) - total)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - events / at_risk)
        # Greenwood's sum; a time where everyone at risk finishes adds an infinite term, which
        # only affects S = 0, where the interval is undefined anyway.
        greenwood = np.cumsum(np.where(at_risk > events, events / (at_risk * (at_risk - events)), 0.0))
        z = norm_ppf(1.0 - (1.0 - conf) / 2.0)
        log_s = np.log(survival)
        spread = z * np.sqrt(greenwood) / log_s
        lo = np.exp(-np.exp(np.log(-log_s) - spread))
        hi = np.exp(-np.exp(np.log(-log_s) + spread))
    lo = np.where(survival >= 1.0, 1.0, np.where(survival <= 0.0, np.nan, lo))
    hi = np.where(survival >= 1.0, 1.0, np.where(survival <= 0.0, np.nan, hi))
    median = _first_at_or_below(times, survival, _HALF)
    # Where S = 0 the bounds are undefined but the curve has certainly crossed 0.5 there.
    lo_c = np.where(np.isnan(lo), 0.0, lo)
    hi_c = np.where(np.isnan(hi), 0.0, hi)
    median_ci = (_first_at_or_below(times, lo_c, _HALF), _first_at_or_below(times, hi_c, _HALF))
    return KMResult(
        times=times,
        survival=survival,
        at_risk=at_risk.astype(np.int64),
        events=events.astype(np.int64),
        censored=censored.astype(np.int64),
        ci_low=lo,
        ci_high=hi,
        median=median,
        median_ci=median_ci,
        conf=conf,
    )


def log_rank(durations_a, observed_a, durations_b, observed_b) -> tuple[float, float]:
    """Two-sample log-rank test of equal survival curves: (chi-square statistic, p-value), 1 df.

    At each distinct event time, group a's expected events are ``d n_a / n`` and the variance is
    the hypergeometric ``d (n_a / n) (n_b / n) (n - d) / (n - 1)``. Returns (nan, nan) when there
    is no event at all, or only one group is ever at risk at the event times (no comparison).
    """
    da, ea = _check_input(durations_a, observed_a, "group a")
    db, eb = _check_input(durations_b, observed_b, "group b")
    ev_times = np.unique(np.concatenate([da[ea], db[eb]]))
    if ev_times.size == 0 or da.size == 0 or db.size == 0:
        return float("nan"), float("nan")
    sa, sb = np.sort(da), np.sort(db)
    # At risk at t: durations >= t.
    n_a = sa.size - np.searchsorted(sa, ev_times, side="left")
    n_b = sb.size - np.searchsorted(sb, ev_times, side="left")
    ta, tb = np.sort(da[ea]), np.sort(db[eb])
    d_a = np.searchsorted(ta, ev_times, side="right") - np.searchsorted(ta, ev_times, side="left")
    d_b = np.searchsorted(tb, ev_times, side="right") - np.searchsorted(tb, ev_times, side="left")
    n = (n_a + n_b).astype(float)
    dd = (d_a + d_b).astype(float)
    expected_a = dd * n_a / n
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(n > 1, dd * (n_a / n) * (n_b / n) * (n - dd) / (n - 1), 0.0)
    v = float(var.sum())
    if v <= 0:
        return float("nan"), float("nan")
    stat = float((d_a.sum() - expected_a.sum()) ** 2 / v)
    return stat, float(chi2_sf(stat, 1))


def log_rank_clustered(durations_a, observed_a, clusters_a, durations_b, observed_b, clusters_b) -> tuple[float, float]:
    """Log-rank test with a cluster-robust variance: (chi-square statistic, p-value), 1 df.

    The numerator is the log-rank one, ``U = O_a - E_a``, which is the score of the Cox model
    ``h(t) = h0(t) exp(beta [row in a])`` at beta = 0 (Breslow ties). Each row's share of it is
    its score residual ``r_i = d_i (z_i - zbar(t_i)) - sum_{event times t_k <= t_i}
    (z_i - zbar(t_k)) D_k / Y_k`` (z = 1 in a, zbar the share of a among those at risk, D events
    and Y at risk at t_k); ``sum r_i = U``. Rows of one cluster are dependent, so the variance is
    the sum over clusters of their summed residuals squared (the robust score test of Lin & Wei
    1989, as Lee, Wei & Amato 1992 use it for clustered failure times), not the hypergeometric
    one. Cluster ids are shared between the groups (an author in both is one cluster). Returns
    (nan, nan) where ``log_rank`` does, or when the robust variance is zero.
    """
    da, ea = _check_input(durations_a, observed_a, "group a")
    db, eb = _check_input(durations_b, observed_b, "group b")
    (ca, cb), n_clusters = factorize_clusters(clusters_a, clusters_b)
    if len(ca) != da.size or len(cb) != db.size:
        raise ValueError("one cluster id per duration in each group")
    d = np.concatenate([da, db])
    e = np.concatenate([ea, eb])
    z = np.concatenate([np.ones(da.size), np.zeros(db.size)])
    codes = np.concatenate([ca, cb])
    ev_times = np.unique(d[e])
    if ev_times.size == 0 or da.size == 0 or db.size == 0:
        return float("nan"), float("nan")
    s_all, s_a = np.sort(d), np.sort(da)
    at_risk = (d.size - np.searchsorted(s_all, ev_times, side="left")).astype(float)
    at_risk_a = (da.size - np.searchsorted(s_a, ev_times, side="left")).astype(float)
    t_ev = np.sort(d[e])
    events = (np.searchsorted(t_ev, ev_times, side="right") - np.searchsorted(t_ev, ev_times, side="left")).astype(float)
    zbar = at_risk_a / at_risk
    hazard = events / at_risk  # Breslow increments
    cum_h = np.concatenate([[0.0], np.cumsum(hazard)])
    cum_zh = np.concatenate([[0.0], np.cumsum(zbar * hazard)])
    upto = np.searchsorted(ev_times, d, side="right")  # event times <= each row's time
    own = np.searchsorted(ev_times, d, side="left")
    zbar_own = np.where(e, zbar[np.minimum(own, ev_times.size - 1)], 0.0)
    resid = e * (z - zbar_own) - (z * cum_h[upto] - cum_zh[upto])
    u = float(resid.sum())
    per_cluster = np.bincount(codes, weights=resid, minlength=n_clusters)
    v = float(per_cluster @ per_cluster)
    if v <= (1e-12 * max(1.0, abs(u))) ** 2:
        return float("nan"), float("nan")
    stat = u * u / v
    return stat, float(chi2_sf(stat, 1))


# ------------------------------------------------------------------------ ratio of KM medians


@dataclass(frozen=True)
class KMRatioEstimate:
    estimator: str
    ratio: float | None  # median_a / median_b; None when either median is not reached
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # log-rank, equality of the whole curves
    n_a: int
    n_b: int
    n_clusters: int
    caveats: tuple[str, ...]
    censored_a: int
    censored_b: int
    median_a: float | None
    median_b: float | None
    # Interval and p-value allow for rows of one cluster being dependent (some cluster holds
    # several rows): the bootstrap draws whole clusters and the log-rank variance is the robust one.
    clustered: bool = False
    p_value_plain: float | None = None  # the ordinary log-rank p-value, taking rows as independent
    plain_clustered: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["caveats"] = list(self.caveats)
        return d


def km_ratio_of_medians(
    durations_a,
    observed_a,
    clusters_a,
    durations_b,
    observed_b,
    clusters_b,
    *,
    n_boot: int = 2000,
    conf: float = 0.95,
    seed: int | np.random.Generator = 0,
    labels: tuple[str, str] = ("group a", "group b"),
) -> KMRatioEstimate:
    """Ratio of Kaplan-Meier medians a / b, with a percentile cluster-bootstrap interval.

    Open items enter as censored at the as-of time (``observed`` False), never dropped. The
    interval resamples clusters (authors) over the union of both groups, as the lift estimators
    do; a replicate where a group's median is not reached (or a group drew nothing) is dropped
    and counted, and a caveat says so when that is more than 5% of them: those replicates are the
    slow ones, so dropping many makes the interval too optimistic. ``p_value`` tests equal curves:
    the cluster-robust log-rank (``log_rank_clustered``) when some cluster holds several rows, the
    ordinary one otherwise; ``p_value_plain`` is always the ordinary one, which takes rows as
    independent and is too small when authors differ a lot. ``clustered`` says which.
    """
    check_conf(conf)
    da, ea = _check_input(durations_a, observed_a, "group a")
    db, eb = _check_input(durations_b, observed_b, "group b")
    (ca, cb), n_clusters = factorize_clusters(clusters_a, clusters_b)
    for name, vals, codes in (("a", da, ca), ("b", db, cb)):
        if len(codes) != len(vals):
            raise ValueError(f"group {name}: {len(vals)} durations but {len(codes)} cluster ids")
    estimator = "km_median_ratio"
    cens = (int((~ea).sum()), int((~eb).sum()))
    caveats: list[str] = []
    same = all_equal_caveat(da, db) if da.size and db.size else None
    if same:
        return KMRatioEstimate(estimator, None, None, None, None, int(da.size), int(db.size), n_clusters,
                               (same,), cens[0], cens[1], None, None)
    medians: list[float | None] = []
    for label, d, e in zip(labels, (da, db), (ea, eb)):
        if d.size == 0:
            caveats.append(f"{_cap(label)} has no items, so there is nothing to compare.")
            medians.append(None)
            continue
        km = kaplan_meier(d, e, conf=conf)
        medians.append(km.median)
        n_ev = int(e.sum())
        share = 1.0 - n_ev / d.size
        if km.median is None:
            caveats.append(
                f"The median of {label} is not reached: only {n_ev} of {d.size} items are done "
                f"and the curve stays above one half (lowest S = {float(km.survival[-1]):.2f}), "
                "so the typical duration is longer than the data can show yet."
            )
        if share > HIGH_CENSORED_SHARE:
            caveats.append(
                f"{100 * share:.0f}% of {label} is still open (censored at the as-of time); the "
                "curve assumes open items are like finished ones of the same age."
            )
        if n_ev < MIN_EVENTS:
            caveats.append(
                f"{_cap(label)} has only {n_ev} finished items (fewer than {MIN_EVENTS}); "
                "the median can move a lot with a few more."
            )
    med_a, med_b = medians
    clustered = n_clusters < da.size + db.size
    p_plain = p_value = None
    if da.size and db.size:
        p_plain = _none_if_nan(log_rank(da, ea, db, eb)[1])
        p_value = _none_if_nan(log_rank_clustered(da, ea, ca, db, eb, cb)[1]) if clustered else p_plain

    def build(ratio, lo, hi) -> KMRatioEstimate:
        return KMRatioEstimate(
            estimator, ratio, lo, hi, p_value, int(da.size), int(db.size), n_clusters,
            tuple(caveats), cens[0], cens[1], med_a, med_b, clustered, p_plain,
        )

    if med_a is None or med_b is None:
        return build(None, None, None)
    if med_b == 0:
        caveats.append(f"The median of {labels[1]} is zero, so the ratio is undefined.")
        return build(None, None, None)
    ratio = med_a / med_b
    if n_clusters < 2:
        caveats.append(
            f"Only {n_clusters} cluster (author): no confidence interval is possible, because "
            "the interval comes from resampling clusters."
        )
        return build(ratio, None, None)
    if n_clusters < MIN_CLUSTERS:
        caveats.append(
            f"Only {n_clusters} clusters (authors); with fewer than {MIN_CLUSTERS} the confidence "
            "interval is unreliable, usually too narrow."
        )
    stat_a, stat_b = _weighted_km_median(da, ea, ca), _weighted_km_median(db, eb, cb)

    def statistic(counts: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return stat_a(counts) / stat_b(counts)

    res = cluster_bootstrap(
        statistic, n_clusters, n_boot=n_boot, seed=seed, rows_per_replicate=3 * (da.size + db.size)
    )
    if res.dropped_share > MAX_DROPPED_SHARE:
        caveats.append(
            f"{res.n_dropped} of {res.n_requested} bootstrap resamples "
            f"({100 * res.dropped_share:.0f}%) did not reach a median in a group (or drew no items) "
            "and were dropped; those are the slow resamples, so the interval is too optimistic."
        )
    ci = res.interval(conf)
    if ci is None:
        caveats.append("No bootstrap resample gave a usable estimate, so there is no interval.")
        return build(ratio, None, None)
    if math.isclose(ci[0], ci[1], rel_tol=1e-12):
        caveats.append(ZERO_WIDTH)
    return build(ratio, ci[0], ci[1])


def _weighted_km_median(d: np.ndarray, e: np.ndarray, codes: np.ndarray):
    """A statistic of cluster multiplicities: the KM median of each replicate, NaN if not reached.

    With integer row weights w (the multiplicity of the row's cluster), the resampled data is each
    row repeated w times, and its KM curve uses weighted event and at-risk counts at the distinct
    durations; so one (replicates x distinct times) matrix holds every replicate's curve.
    """
    order = np.argsort(d, kind="stable")
    sd, se, sc = d[order], e[order].astype(float), codes[order]
    times, starts = np.unique(sd, return_index=True)
    m = times.size
    ties = m < sd.size

    def statistic(counts: np.ndarray) -> np.ndarray:
        w = counts[:, sc].astype(float)  # (b, rows), rows sorted by duration
        b = w.shape[0]
        if m == 0:
            return np.full(b, np.nan)
        if ties:
            # Sum row weights over each run of equal durations, for every replicate at once.
            total = np.add.reduceat(w, starts, axis=1)
            events = np.add.reduceat(w * se, starts, axis=1)
        else:  # every duration distinct (the usual case for durations in seconds): no sums
            total, events = w, w * se
        left_before = np.cumsum(total, axis=1) - total
        at_risk = total.sum(axis=1, keepdims=True) - left_before
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(at_risk > 0, 1.0 - events / at_risk, 1.0)
        surv = np.cumprod(factor, axis=1)
        below = surv <= _HALF
        reached = below.any(axis=1)
        first = np.argmax(below, axis=1)
        return np.where(reached, times[first], np.nan)

    return statistic
