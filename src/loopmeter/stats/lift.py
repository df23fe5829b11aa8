"""Lift: the ratio of a metric between two groups, with a cluster-bootstrap interval and caveats.

"Group a" and "group b" are whatever the caller compares (after / before adoption, AI-assisted /
human); every ratio here is a / b. Estimators never return a number they cannot support: when the
data cannot carry an estimate the ratio is None and a caveat says why. The always-true caveat that
adoption was not randomised belongs to the caller, which knows how the groups were formed.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .bootstrap import (
    bca_interval,
    check_conf,
    cluster_bootstrap,
    cluster_jackknife,
    cluster_weighted_quantile,
    factorize_clusters,
)

__all__ = ["CORE_KEYS", "Estimate", "detect_adoption", "ratio_of_quantiles", "ratio_of_rates", "size_mismatch_medians"]

# Thresholds below which the report warns. They are conventions, not theorems: under ~20 values a
# median moves a lot with one value, and with under ~10 clusters the percentile bootstrap is known
# to undercover.
MIN_VALUES = 20
MIN_CLUSTERS = 10
MAX_DROPPED_SHARE = 0.05
SIZE_MISMATCH = 1.5


# Estimators whose ratio compares rates (more is faster); every other ratio compares durations.
RATE_ESTIMATORS = frozenset({"ratio_of_rates", "poisson_author_fe"})

# The keys every estimate's JSON carries, in this order; estimator-specific keys follow.
CORE_KEYS = (
    "estimator", "ratio", "ci_low", "ci_high", "p_value", "speedup",
    "n_a", "n_b", "n_clusters", "caveats", "clustered",
)

# Estimators built outside stats/ whose inference allows for the dependence of their own rows by
# construction: the time series' intervals allow for week-to-week correlation (its rows are weeks),
# the staggered DiD's multiplier bootstrap draws whole units. Every other estimator says itself.
CLUSTERED_BY_DESIGN = {"its_level_change": True, "did_att": True}


@dataclass(frozen=True)
class Estimate:
    estimator: str  # "ratio_of_medians" | "ratio_of_p90" | "ratio_of_rates" | ...
    ratio: float | None  # None when the data cannot support an estimate
    ci_low: float | None
    ci_high: float | None
    n_a: int
    n_b: int
    n_clusters: int
    caveats: tuple[str, ...]  # plain-language warnings computed from the data
    p_value: float | None = None  # two-sided, against ratio = 1; None when the estimator has none
    # True when ci_low/ci_high and p_value allow for rows of one cluster (author, team) being
    # dependent; False when they take rows as independent (cluster-blind: too narrow, too small
    # when one person contributes many rows). None: CLUSTERED_BY_DESIGN, else False.
    clustered: bool | None = None
    # Estimator-specific values (per-group medians, standard errors, other intervals), written
    # flat into to_dict() after the core keys. JSON-ready scalars, lists or dicts only.
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = set(self.extra) & set(CORE_KEYS)
        if clash:
            raise ValueError(f"extra keys {sorted(clash)} would overwrite the estimate's own keys")
        if self.clustered is None:
            object.__setattr__(self, "clustered", CLUSTERED_BY_DESIGN.get(self.estimator, False))

    @property
    def speedup(self) -> float | None:
        """Share of time saved in group a relative to group b: ``1 - ratio`` for durations,
        ``1 - 1 / ratio`` for rates (the time per unit of work is the inverse of the rate).
        Positive means a is faster; None when the ratio is None (or a rate ratio is 0)."""
        if self.ratio is None:
            return None
        if self.estimator in RATE_ESTIMATORS:
            return 1.0 - 1.0 / self.ratio if self.ratio > 0 else None
        return 1.0 - self.ratio

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in CORE_KEYS}
        d["caveats"] = list(self.caveats)
        d.update(self.extra)
        return d


# Caveats name the groups with these (singular nouns: "... has ...") unless the caller says what they are.
GROUP_LABELS = ("group a", "group b")


def _cap(label: str) -> str:
    return label[:1].upper() + label[1:]


# --------------------------------------------------------------------------- ratio of quantiles


def ratio_of_quantiles(
    values_a,
    clusters_a,
    values_b,
    clusters_b,
    *,
    q: float = 0.5,
    n_boot: int = 2000,
    conf: float = 0.95,
    seed: int | np.random.Generator = 0,
    sizes_a=None,
    sizes_b=None,
    labels: tuple[str, str] = GROUP_LABELS,
    interval: str = "percentile",
) -> Estimate:
    """Ratio of the q-quantiles of positive durations, ``quantile_q(a) / quantile_q(b)``.

    Quantiles are numpy's default (linear). Values must be completed durations in one unit; the
    caller filters unknown durations first. Open items are not handled here (a survival estimator
    does that), so the caller must not feed a group whose open items were dropped.

    The interval is a cluster bootstrap over the union of cluster ids: an author who has rows in
    both groups is drawn as one unit, taking all their rows in both groups, because their speed
    affects both. Replicates in which a group drew no rows are dropped and counted.
    ``interval`` picks the reported interval: ``"percentile"`` (default) or ``"bca"`` (bias-
    corrected and accelerated, jackknife over clusters); both are in ``extra`` when the BCa is
    cheap (see ``_bootstrap_ci``). ``extra`` also holds ``value_a`` / ``value_b``, the two
    groups' quantiles.

    ``sizes_a`` / ``sizes_b`` (lines changed per row, NaN where unknown) only feed a caveat:
    AI tends to change the size of changes, and size moves cycle time by itself.
    ``labels`` name the two groups in the caveats ("the AI-assisted group", "the human group").
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be strictly between 0 and 1, got {q}")
    check_conf(conf)
    a = _durations(values_a, "group a")
    b = _durations(values_b, "group b")
    (codes_a, codes_b), n_clusters = factorize_clusters(clusters_a, clusters_b)
    for name, vals, codes in (("a", a, codes_a), ("b", b, codes_b)):
        if len(codes) != len(vals):
            raise ValueError(
                f"group {name}: {len(vals)} values but {len(codes)} cluster ids; one id per value"
            )
    _check_interval(interval)
    estimator = "ratio_of_medians" if q == 0.5 else f"ratio_of_p{q * 100:g}"
    caveats: list[str] = []

    if len(a) == 0 or len(b) == 0:
        for label, vals in zip(labels, (a, b)):
            if len(vals) == 0:
                caveats.append(f"{_cap(label)} has no values, so there is nothing to compare.")
        return Estimate(estimator, None, None, None, len(a), len(b), n_clusters, tuple(caveats))

    same = all_equal_caveat(a, b)
    if same:
        return Estimate(estimator, None, None, None, len(a), len(b), n_clusters, (same,))
    for label, vals in zip(labels, (a, b)):
        if len(vals) < MIN_VALUES:
            caveats.append(
                f"{_cap(label)} has only {len(vals)} values (fewer than {MIN_VALUES}); "
                "the estimate can move a lot with a few more."
            )
    caveats += _size_caveats(sizes_a, sizes_b, len(a), len(b), labels)
    value_a, value_b = float(np.quantile(a, q)), float(np.quantile(b, q))
    ratio = value_a / value_b

    ci, more, extra = _bootstrap_ci(
        _quantile_ratio_statistic(a, codes_a, b, codes_b, q),
        n_clusters,
        ratio,
        interval=interval,
        n_boot=n_boot,
        conf=conf,
        seed=seed,
        rows_per_replicate=len(a) + len(b),
        dropped_reason="left a group with no values",
        jackknife=lambda: _quantile_ratio_jackknife(a, codes_a, b, codes_b, q, n_clusters),
    )
    caveats += more
    lo, hi = ci if ci is not None else (None, None)
    # Clusters of one row are no clustering: the resampling is then the ordinary row bootstrap.
    return Estimate(
        estimator, ratio, lo, hi, len(a), len(b), n_clusters, tuple(caveats),
        clustered=n_clusters < len(a) + len(b),
        extra={"q": q, "value_a": value_a, "value_b": value_b, **extra},
    )


def _quantile_ratio_statistic(a, codes_a, b, codes_b, q):
    # Sorting once up front lets each replicate's quantile be read from cumulative weights.
    order_a, order_b = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    sa, ca = a[order_a], codes_a[order_a]
    sb, cb = b[order_b], codes_b[order_b]

    def statistic(counts: np.ndarray) -> np.ndarray:
        qa = cluster_weighted_quantile(sa, ca, counts, q)
        qb = cluster_weighted_quantile(sb, cb, counts, q)
        return qa / qb  # NaN where either group drew nothing

    return statistic


def all_equal_caveat(a: np.ndarray, b: np.ndarray) -> str | None:
    """The caveat for two non-empty groups whose durations are all one value, else None.

    Identical durations carry no information about a ratio: reporting 1 with the interval [1, 1]
    would claim certainty that nothing differs, when the data more likely lost its resolution
    (durations rounded to a day, a default filled in)."""
    v = a[0]
    if (a == v).all() and (b == v).all():
        return (
            f"Every duration in both groups is {v:g}; with no variation at all there is nothing to "
            "estimate (check how the durations were measured or rounded)."
        )
    return None


ZERO_WIDTH = (
    "The interval has zero width: every resample gave the same ratio. That reflects data without "
    "variation the interval can see, not a ratio known exactly."
)


def _quantile_ratio_jackknife(a, codes_a, b, codes_b, q, n_clusters) -> np.ndarray:
    """Leave-one-cluster-out values of ``quantile_q(a) / quantile_q(b)``, NaN where a group empties.

    Equal to ``cluster_jackknife`` of the bootstrap statistic, but without recomputing each
    group's quantile from all its rows once per cluster: that is quadratic in the rows when every
    row is its own cluster (a pilot CSV without a cluster column), 10 s at 20,000 rows.
    """
    return _loo_quantiles(a, codes_a, q, n_clusters) / _loo_quantiles(b, codes_b, q, n_clusters)


def _loo_quantiles(values: np.ndarray, codes: np.ndarray, q: float, n_clusters: int) -> np.ndarray:
    """Per cluster k, numpy's linear q-quantile of ``values`` without the rows of cluster k.

    With the values sorted and cluster k's rows at sorted positions P (ascending), the j-th
    smallest remaining value sits at position ``j + #{r : P_r - r <= j}``: each removed position
    at or before it pushes it one further, and ``P_r - r`` is non-decreasing.
    """
    order = np.argsort(values, kind="stable")
    v, c = values[order], codes[order]
    n = v.size
    out = np.full(n_clusters, np.nan)
    sizes = np.bincount(c, minlength=n_clusters)
    if n == 0:
        return out
    # Clusters without rows here leave the group whole.
    out[sizes == 0] = np.quantile(v, q)

    def at(j, removed_before):  # value at remaining rank j, given the count pushed past
        return v[j + removed_before]

    m = n - 1
    single = np.flatnonzero(sizes == 1)
    if single.size and m > 0:
        pos = np.empty(n_clusters, dtype=np.int64)
        pos[c] = np.arange(n)  # the position of each single-row cluster's row
        p = pos[single]
        h = (m - 1) * q
        j_lo = int(np.floor(h))
        j_hi = min(j_lo + 1, m - 1)
        lo, hi = at(j_lo, (p <= j_lo).astype(np.int64)), at(j_hi, (p <= j_hi).astype(np.int64))
        out[single] = lo + (h - j_lo) * (hi - lo)
    multi = np.flatnonzero(sizes > 1)
    if multi.size:
        by_cluster = np.argsort(c, kind="stable")  # positions grouped by cluster, ascending within
        starts = np.concatenate([[0], np.cumsum(sizes)])
        for k in multi:
            removed = by_cluster[starts[k] : starts[k + 1]]
            m_k = n - removed.size
            if m_k == 0:
                continue
            shifted = removed - np.arange(removed.size)
            h = (m_k - 1) * q
            j_lo = int(np.floor(h))
            j_hi = min(j_lo + 1, m_k - 1)
            lo = at(j_lo, int(np.searchsorted(shifted, j_lo, side="right")))
            hi = at(j_hi, int(np.searchsorted(shifted, j_hi, side="right")))
            out[k] = lo + (h - j_lo) * (hi - lo)
    return out


def _durations(values, label: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{label}: values must be one-dimensional, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(
            f"{label}: {int(np.isnan(arr).sum())} values are NaN; filter unknown durations first"
        )
    if np.isinf(arr).any():
        raise ValueError(f"{label}: {int(np.isinf(arr).sum())} values are infinite")
    if (arr <= 0).any():
        raise ValueError(
            f"{label}: {int((arr <= 0).sum())} values are zero or negative; "
            "durations must be positive (unknown is unknown, never zero)"
        )
    return arr


def size_mismatch_medians(sizes_a, sizes_b, threshold: float = SIZE_MISMATCH) -> tuple[float, float] | None:
    """The size-mismatch rule (docs/metrics.md), the one every caller uses: the two groups' median
    sizes (lines, over the finite ones) when they differ by more than `threshold` times, else None.

    A zero median beside a non-zero one is a mismatch (no finite ratio is within any threshold);
    a group without a known size gives None: nothing to compare, and no evidence of a mismatch."""
    med = []
    for name, sizes in (("a", sizes_a), ("b", sizes_b)):
        s = np.asarray(sizes, dtype=float)
        if (s[~np.isnan(s)] < 0).any():
            raise ValueError(f"sizes_{name} contains negative sizes")
        known = s[np.isfinite(s)]
        if not known.size:
            return None
        med.append(float(np.median(known)))
    ma, mb = med
    if ma == mb:
        return None
    if ma == 0 or mb == 0 or max(ma, mb) / min(ma, mb) > threshold:
        return ma, mb
    return None


def _size_caveats(sizes_a, sizes_b, n_a: int, n_b: int, labels: tuple[str, str]) -> list[str]:
    if sizes_a is None or sizes_b is None:
        return []
    for name, sizes, n in (("a", sizes_a, n_a), ("b", sizes_b, n_b)):
        s = np.asarray(sizes, dtype=float)
        if s.ndim != 1 or len(s) != n:
            raise ValueError(f"sizes_{name} must have one entry per value ({n}), got {s.shape}")
    medians = size_mismatch_medians(sizes_a, sizes_b)
    if medians is None:
        return []
    ma, mb = medians
    if ma > mb:
        factor = f"{ma / mb:.1f}x larger" if mb > 0 else "much larger"
    else:
        factor = f"{mb / ma:.1f}x smaller" if ma > 0 else "much smaller"
    return [
        f"Changes in {labels[0]} are {factor} than in {labels[1]} (median {ma:g} vs {mb:g} lines); "
        "size itself moves with AI and affects cycle time, so part of the difference may "
        "be size rather than speed."
    ]


# ------------------------------------------------------------------------------ ratio of rates


def ratio_of_rates(
    events_a,
    exposure_a,
    events_b,
    exposure_b,
    *,
    n_boot: int = 2000,
    conf: float = 0.95,
    seed: int | np.random.Generator = 0,
    labels: tuple[str, str] = GROUP_LABELS,
    interval: str = "percentile",
) -> Estimate:
    """Ratio of pooled event rates, ``(sum events_a / sum exposure_a) / (sum events_b / sum exposure_b)``.

    Typical use: validated changes per contributor-week, after / before. Position ``i`` of all four
    arrays is one cluster (author); an author absent in a period has exposure 0 there. Pooled
    rates weight authors by their exposure, so occasional contributors do not swing the answer.
    The interval resamples authors (those with any exposure) with replacement, carrying both
    periods together; replicates where a period has no exposure or no events are dropped.
    ``interval`` as in ``ratio_of_quantiles``; ``extra`` holds the pooled ``rate_a`` / ``rate_b``.
    """
    check_conf(conf)
    _check_interval(interval)
    ea = _nonneg(events_a, "events_a")
    xa = _nonneg(exposure_a, "exposure_a")
    eb = _nonneg(events_b, "events_b")
    xb = _nonneg(exposure_b, "exposure_b")
    if not len(ea) == len(xa) == len(eb) == len(xb):
        raise ValueError(
            "events and exposure arrays must have one entry per cluster in the same order; "
            f"got lengths {len(ea)}, {len(xa)}, {len(eb)}, {len(xb)}"
        )
    for name, e, x in (("a", ea, xa), ("b", eb, xb)):
        bad = (e > 0) & (x == 0)
        if bad.any():
            raise ValueError(
                f"group {name}: {int(bad.sum())} clusters have events but zero exposure"
            )

    active = (xa > 0) | (xb > 0)
    ea, xa, eb, xb = ea[active], xa[active], eb[active], xb[active]
    n_clusters = int(active.sum())
    n_a, n_b = _as_count(ea.sum()), _as_count(eb.sum())
    estimator = "ratio_of_rates"
    caveats: list[str] = []

    undefined = []
    if xa.sum() == 0:
        undefined.append(f"{_cap(labels[0])} has no exposure (no contributor-weeks), so it has no rate.")
    if xb.sum() == 0:
        undefined.append(f"{_cap(labels[1])} has no exposure (no contributor-weeks), so it has no rate.")
    elif eb.sum() == 0:
        undefined.append(f"{_cap(labels[1])} has no events, so its rate is zero and the ratio is undefined.")
    if undefined:
        return Estimate(estimator, None, None, None, n_a, n_b, n_clusters, tuple(undefined))

    for label, n in zip(labels, (n_a, n_b)):
        if n < MIN_VALUES:
            caveats.append(
                f"{_cap(label)} has only {n} events (fewer than {MIN_VALUES}); "
                "the rate is imprecise."
            )
    rate_a, rate_b = float(ea.sum() / xa.sum()), float(eb.sum() / xb.sum())
    ratio = rate_a / rate_b
    if n_a == 0:
        # Every resample of a group without events has none either, so the bootstrap interval
        # would be [0, 0]: certainty that the rate is zero, which no finite exposure supports.
        # The exact conditional bound (events in a, given all N events, are Binomial(N, p) with
        # p = R x_a / (R x_a + x_b); Clopper-Pearson with none seen) is used instead.
        tail = (1.0 - conf) / 2.0
        p_hi = 1.0 - tail ** (1.0 / n_b)
        hi = p_hi / (1.0 - p_hi) * float(xb.sum()) / float(xa.sum())
        caveats.append(
            f"{_cap(labels[0])} has no events, so every bootstrap resample has none either; the upper "
            "bound shown is the exact Poisson one, which ignores clustering (too narrow if "
            "contributors differ a lot)."
        )
        return Estimate(
            estimator, ratio, 0.0, hi, n_a, n_b, n_clusters, tuple(caveats), clustered=False,
            extra={"rate_a": rate_a, "rate_b": rate_b, "interval": "exact_poisson",
                   "ci_percentile_low": None, "ci_percentile_high": None,
                   "ci_bca_low": None, "ci_bca_high": None},
        )

    def statistic(counts: np.ndarray) -> np.ndarray:
        w = counts.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return ((w @ ea) / (w @ xa)) / ((w @ eb) / (w @ xb))

    ci, more, extra = _bootstrap_ci(
        statistic,
        n_clusters,
        ratio,
        interval=interval,
        n_boot=n_boot,
        conf=conf,
        seed=seed,
        rows_per_replicate=4 * n_clusters,
        dropped_reason="had no exposure or no events in a group",
    )
    caveats += more
    lo, hi = ci if ci is not None else (None, None)
    return Estimate(
        estimator, ratio, lo, hi, n_a, n_b, n_clusters, tuple(caveats), clustered=True,  # draws whole authors
        extra={"rate_a": rate_a, "rate_b": rate_b, **extra},
    )


def _nonneg(values, label: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{label} must be one-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{label} contains NaN or infinite values")
    if (arr < 0).any():
        raise ValueError(f"{label} contains negative values")
    return arr


def _as_count(x: float) -> int:
    # Events are counts; fractional events would be a caller bug worth surfacing, not rounding.
    if x != math.floor(x):
        raise ValueError(f"event counts must be whole numbers, got a total of {x}")
    return int(x)


# ------------------------------------------------------------------------------------- shared


INTERVALS = ("percentile", "bca")


def _check_interval(interval: str) -> None:
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")


def _bootstrap_ci(
    statistic, n_clusters, estimate, *, interval, n_boot, conf, seed, rows_per_replicate, dropped_reason,
    jackknife=None,
):
    """Interval, caveats and interval extras shared by every ratio estimator.

    The percentile interval always comes from the replicates. The BCa interval needs one more
    evaluation per cluster (the jackknife); it is computed when asked for, or alongside when that
    costs no more than the bootstrap itself (clusters <= replicates), so readers can compare the
    two. When the requested BCa is undefined (leaving out some cluster empties a group, or every
    replicate falls on one side of the estimate), the percentile interval is reported instead and
    a caveat says so.
    """
    caveats: list[str] = []
    # The interval keys are always present (null when not computed), as docs/json-report.md says.
    extra: dict = {"interval": interval, "ci_percentile_low": None, "ci_percentile_high": None,
                   "ci_bca_low": None, "ci_bca_high": None}
    if n_clusters < 2:
        caveats.append(
            f"Only {n_clusters} cluster (author or week): no confidence interval is possible, "
            "because the interval comes from resampling clusters."
        )
        return None, caveats, extra
    if n_clusters < MIN_CLUSTERS:
        caveats.append(
            f"Only {n_clusters} clusters (authors or weeks); with fewer than {MIN_CLUSTERS} the "
            "confidence interval is unreliable, usually too narrow."
        )
    res = cluster_bootstrap(
        statistic, n_clusters, n_boot=n_boot, seed=seed, rows_per_replicate=rows_per_replicate
    )
    if res.dropped_share > MAX_DROPPED_SHARE:
        caveats.append(
            f"{res.n_dropped} of {res.n_requested} bootstrap resamples "
            f"({100 * res.dropped_share:.0f}%) {dropped_reason} and were dropped; "
            "the interval is less trustworthy."
        )
    pct = res.interval(conf)
    extra["ci_percentile_low"], extra["ci_percentile_high"] = pct if pct else (None, None)
    bca = None
    if interval == "bca" or n_clusters <= n_boot:
        # ``jackknife``: a faster exact computation of the same values, when the estimator has one.
        jack = jackknife() if jackknife is not None else cluster_jackknife(
            statistic, n_clusters, rows_per_replicate=rows_per_replicate
        )
        bca = bca_interval(estimate, res.replicates, jack, conf)
        extra["ci_bca_low"], extra["ci_bca_high"] = bca if bca else (None, None)
    ci = pct
    if interval == "bca":
        if bca is None and pct is not None:
            extra["interval"] = "percentile"
            caveats.append(
                "The BCa interval is undefined here (leaving out one cluster empties a group, or "
                "every resample falls on one side of the estimate); the percentile interval is shown."
            )
        else:
            ci = bca
    if ci is None:
        caveats.append("No bootstrap resample gave a usable estimate, so there is no interval.")
    elif math.isclose(ci[0], ci[1], rel_tol=1e-12):
        caveats.append(ZERO_WIDTH)
    return ci, caveats, extra


# ----------------------------------------------------------------------------------- adoption


def detect_adoption(
    week_starts: Sequence,
    ai_counts: Sequence,
    total_counts: Sequence,
    *,
    span: int = 4,
    min_weeks: int = 3,
    min_share: float = 0.0,
) -> _dt.date | None:
    """Start of sustained AI signatures: the first week of the first run of regular AI use.

    Rule: a week is an *AI week* when its AI-signature count is above zero and, if ``min_share``
    is above zero, that count is at least ``min_share`` of the week's total count. Adoption is
    the earliest AI week W such that, among the ``span`` consecutive weeks W, W+7d, ...,
    W+(span-1)*7d, at least ``min_weeks`` are AI weeks. A week absent from the input counts as
    having no AI signatures, including weeks after the last one given, so use that begins in the
    final weeks of the data is only detected once enough of its weeks are present. Returns W's
    start date, or None when no week qualifies.

    ``week_starts`` are calendar dates (date, datetime, numpy datetime64 or ISO string; a time of
    day is ignored), distinct and on one weekly grid; order does not matter.
    """
    if span < 1:
        raise ValueError(f"span must be at least 1, got {span}")
    if not 1 <= min_weeks <= span:
        raise ValueError(f"min_weeks must be between 1 and span ({span}), got {min_weeks}")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be between 0 and 1, got {min_share}")
    days = [_as_date(w) for w in week_starts]
    ai = np.asarray(ai_counts, dtype=float)
    total = np.asarray(total_counts, dtype=float)
    if not len(days) == len(ai) == len(total):
        raise ValueError(
            f"week_starts, ai_counts and total_counts differ in length: "
            f"{len(days)}, {len(ai)}, {len(total)}"
        )
    if not days:
        return None
    if not (np.isfinite(ai).all() and np.isfinite(total).all()):
        raise ValueError("weekly counts contain NaN or infinite values")
    if (ai < 0).any() or (total < 0).any():
        raise ValueError("weekly counts must not be negative")
    if (ai > total).any():
        raise ValueError("a week has more AI-signed items than items in total")
    if len(set(days)) != len(days):
        raise ValueError("week_starts contains the same week twice")
    first = min(days)
    if any((d - first).days % 7 for d in days):
        raise ValueError("week_starts are not on one weekly grid (starts differ by non-multiples of 7 days)")

    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, ai / total, 0.0)
    is_ai = (ai > 0) & ((min_share == 0.0) | (share >= min_share))
    ai_weeks = {d for d, flag in zip(days, is_ai) if flag}
    week = _dt.timedelta(days=7)
    for start in sorted(ai_weeks):
        if sum((start + j * week) in ai_weeks for j in range(span)) >= min_weeks:
            return start
    return None


def _as_date(value) -> _dt.date:
    if value is None or value != value:  # None, NaN, NaT (NaT is unequal to itself)
        raise ValueError("week_starts contains a missing date")
    if isinstance(value, _dt.datetime):  # before date: datetime is a date subclass
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[D]").astype(_dt.date)
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError(f"week start {value!r} is not an ISO date") from None
    raise ValueError(f"week start {value!r} is not a date")
