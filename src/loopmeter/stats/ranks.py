"""Rank-based lift: the Hodges-Lehmann ratio of durations with its distribution-free interval.

The Hodges-Lehmann (HL) shift between two samples is the median of all pairwise differences.
On log durations it is the median of ``log a_i - log b_j``, so ``exp(shift)`` is the typical
ratio of a duration in group a to one in group b: a ratio a / b like every other lift here. It
uses every pair rather than two medians, so it is steadier than the ratio of medians, and it
needs no bootstrap: its interval comes from order statistics of the same pairwise differences
(Lehmann 1963; Moses' construction, Hollander & Wolfe ch. 4.3).

The order-statistic interval and the Mann-Whitney p-value assume rows are independent. Rows of one
author are not: with clustered data they are too narrow and too small (in a simulation of pilot
tables, 85% coverage with tasks randomized and 59% with whole developers randomized, issue 10).
So when cluster ids group several rows, the interval and p-value come from a clustered rank test
instead, and the row-independent ones are kept beside them as ``ci_plain_*`` / ``p_value_plain``:

- the test regresses the pooled mid-ranks on the group indicator and divides the difference of
  mean ranks by its cluster-robust (CR1) standard error, on G - 1 degrees of freedom. It is the
  Wilcoxon rank-sum test with a sandwich variance over clusters (the rank-transform idea of
  Conover & Iman 1981, with the robust variance of Liang & Zeger 1986), the same CR1 that
  ``regression.py`` uses, so the pair of estimators agree on what a cluster is;
- the interval inverts that test over shifts: the log-scale shifts d for which the test of
  ``log a - d`` against ``log b`` does not reject, as the Moses interval inverts Mann-Whitney.
  The HL shift is where the two mean ranks are equal, so the point sits inside its interval.

Its coverage is measured in bench/pilot_coverage.py.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .bootstrap import factorize_clusters
from .dist import mann_whitney_p, norm_ppf, rankdata, t_ppf, t_sf

from .bootstrap import check_conf
from .lift import (
    GROUP_LABELS,
    MIN_CLUSTERS,
    MIN_VALUES,
    Estimate,
    _cap,
    _durations,
    all_equal_caveat,
)

__all__ = ["clustered_rank_test", "hodges_lehmann", "kth_pairwise_difference", "mann_whitney_null_cdf", "moses_rank"]

# Below this many pairs the differences are formed explicitly (32 MB of float64); above it they
# are selected by counting, which needs memory linear in the sample sizes.
_BRUTE_FORCE_PAIRS = 4_000_000

# Exact null distribution of U when there are no ties and this few pairs; the normal
# approximation is accurate to well under one order statistic beyond it.
_EXACT_MAX_PAIRS = 2_500


def hodges_lehmann(
    values_a,
    values_b,
    *,
    conf: float = 0.95,
    clusters_a=None,
    clusters_b=None,
    labels: tuple[str, str] = GROUP_LABELS,
) -> Estimate:
    """HL ratio ``exp(median_ij(log a_i - log b_j))`` of positive durations, a / b.

    Interval: with ``N = n_a n_b`` sorted differences ``D_(1) <= ... <= D_(N)``, the interval is
    ``[exp D_(C), exp D_(N + 1 - C)]`` where ``C`` is ``moses_rank(n_a, n_b, conf)``: the largest
    ``C`` with ``P(U <= C - 1) <= (1 - conf) / 2`` under the null distribution of the Mann-Whitney
    U, exact when there are no ties and ``N <= 2500``, else from the normal approximation with the
    tie-corrected variance. Its coverage is at least ``conf`` in the exact case.
    ``p_value``: two-sided Mann-Whitney test of no shift (scipy.stats.mannwhitneyu, its default
    method: exact for small samples without ties, else normal with continuity correction).
    ``clusters_a`` / ``clusters_b`` (optional): who did each row. When some cluster holds several
    rows, ``ci_low``/``ci_high``/``p_value`` are the clustered rank test's (module docstring) and
    ``clustered`` is True; the row-independent ones above move to ``ci_plain_low``/``ci_plain_high``/
    ``p_value_plain``. Without cluster ids every row is its own cluster (``clustered`` False).
    ``extra``: ``log_shift`` (the HL shift on the log scale), ``rank_c`` (C), ``ci_method``
    ("exact"/"normal" for the order-statistic interval, "clustered_rank_test" otherwise).
    """
    check_conf(conf)
    a = _durations(values_a, "group a")
    b = _durations(values_b, "group b")
    n_a, n_b = len(a), len(b)
    n_clusters = _count_clusters(clusters_a, clusters_b, n_a, n_b)
    clustered = n_clusters < n_a + n_b
    caveats: list[str] = []
    if n_a == 0 or n_b == 0:
        for label, n in zip(labels, (n_a, n_b)):
            if n == 0:
                caveats.append(f"{_cap(label)} has no values, so there is nothing to compare.")
        return Estimate("hodges_lehmann", None, None, None, n_a, n_b, n_clusters, tuple(caveats))
    same = all_equal_caveat(a, b)
    if same:
        return Estimate("hodges_lehmann", None, None, None, n_a, n_b, n_clusters, (same,))
    for label, n in zip(labels, (n_a, n_b)):
        if n < MIN_VALUES:
            caveats.append(
                f"{_cap(label)} has only {n} values (fewer than {MIN_VALUES}); "
                "the estimate can move a lot with a few more."
            )

    la, lb = np.sort(np.log(a)), np.sort(np.log(b))
    n_pairs = n_a * n_b
    mid = (n_pairs + 1) // 2
    ranks = [mid] if n_pairs % 2 else [mid, mid + 1]
    c, method = moses_rank(n_a, n_b, conf, ties=_tie_counts(np.concatenate([la, lb])))
    if c >= 1:
        ranks += [c, n_pairs + 1 - c]
    elif not clustered:
        caveats.append(
            f"Too few values for a {100 * conf:g}% distribution-free interval "
            f"({n_a} and {n_b}); there is no interval."
        )
    found = dict(zip(ranks, kth_pairwise_difference(la, lb, ranks)))
    shift = float(np.mean([found[r] for r in ranks[: 1 if n_pairs % 2 else 2]]))
    lo = hi = None
    if c >= 1:
        lo, hi = math.exp(found[c]), math.exp(found[n_pairs + 1 - c])
        if not clustered and math.isclose(found[c], found[n_pairs + 1 - c], rel_tol=0.0, abs_tol=1e-12):
            caveats.append(ZERO_WIDTH_PAIRS)
    p_value = mann_whitney_p(a, b)
    extra = {"log_shift": shift, "rank_c": c if c >= 1 else None, "ci_method": method}
    if not clustered:
        return Estimate("hodges_lehmann", math.exp(shift), lo, hi, n_a, n_b, n_clusters, tuple(caveats),
                        p_value=p_value, clustered=False, extra=extra)

    extra.update(ci_method="clustered_rank_test", ci_plain_low=lo, ci_plain_high=hi, p_value_plain=p_value,
                 plain_clustered=False)
    (codes_a, codes_b), _ = factorize_clusters(list(clusters_a), list(clusters_b))
    x_a, x_b = np.log(a), np.log(b)
    test = clustered_rank_test(x_a, codes_a, x_b, codes_b)
    if n_clusters < MIN_CLUSTERS:
        caveats.append(
            f"Only {n_clusters} clusters (authors); with fewer than {MIN_CLUSTERS} the clustered rank "
            "test's interval and p-value are unreliable, usually too narrow and too small."
        )
    if test is None:
        caveats.append(
            "Every cluster's rows sit at the same mean rank in both groups, so the clustered rank test has "
            "no variance: there is no interval and no p-value."
        )
        return Estimate("hodges_lehmann", math.exp(shift), None, None, n_a, n_b, n_clusters, tuple(caveats),
                        clustered=True, extra=extra)
    extra.update(rank_t=test[0], df=test[1])
    crit = float(t_ppf(0.5 + conf / 2.0, test[1]))
    span = float(max(la[-1] - lb[0], lb[-1] - la[0])) + 1.0
    d_lo = _invert(x_a, codes_a, x_b, codes_b, shift, shift - span, crit)
    d_hi = _invert(x_a, codes_a, x_b, codes_b, shift, shift + span, crit)
    lo_c = math.exp(d_lo) if d_lo is not None else None
    hi_c = math.exp(d_hi) if d_hi is not None else None
    if d_lo is None or d_hi is None:
        caveats.append(
            "With so few clusters the clustered rank test does not reject even the most extreme shift on "
            f"{'either side' if d_lo is None and d_hi is None else 'one side'}, so the interval is unbounded there."
        )
    extra["ci_high_unbounded"] = d_hi is None
    return Estimate("hodges_lehmann", math.exp(shift), lo_c, hi_c, n_a, n_b, n_clusters, tuple(caveats),
                    p_value=test[2], clustered=True, extra=extra)


ZERO_WIDTH_PAIRS = (
    "The interval has zero width: the pairwise ratios around the middle are all equal. "
    "That reflects data without variation, not a ratio known exactly."
)


def clustered_rank_test(x_a, clusters_a, x_b, clusters_b, *, shift: float = 0.0) -> tuple[float, float, float] | None:
    """Wilcoxon rank-sum test with cluster-robust variance: ``(t, df, p)`` for ``x_a - shift`` vs ``x_b``.

    The pooled mid-ranks R are regressed on the indicator of group a; the slope is the difference
    of the mean ranks, ``t`` divides it by its CR1 standard error, ``sqrt(G/(G-1) (N-1)/(N-2)
    sum_g (sum_{i in g} e_i c_i)^2)`` with ``e_i`` the rank's deviation from its group's mean and
    ``c_i = 1/n_a`` in group a, ``-1/n_b`` in group b (the slope's row of ``(X'X)^-1 X'``), exactly
    statsmodels' ``OLS(...).fit(cov_type="cluster")``; ``p`` is two-sided on ``df = G - 1``.
    Cluster ids are integer codes shared between the groups (an author in both is one cluster).
    None when the standard error is zero or there is a single cluster.
    """
    xa, xb = np.asarray(x_a, dtype=float) - shift, np.asarray(x_b, dtype=float)
    inverse, g = _cluster_index(clusters_a, clusters_b)
    t = _rank_t(xa, xb, inverse, g)
    if t is None:
        return None
    df = float(g - 1)
    return t, df, float(2.0 * t_sf(abs(t), df))


def _cluster_index(clusters_a, clusters_b) -> tuple[np.ndarray, int]:
    """Each row's cluster as 0..G-1 (group a's rows first), and G."""
    uniq, inverse = np.unique(np.concatenate([np.asarray(clusters_a), np.asarray(clusters_b)]), return_inverse=True)
    return inverse, int(uniq.size)


def _rank_t(xa: np.ndarray, xb: np.ndarray, inverse: np.ndarray, g: int) -> float | None:
    """`clustered_rank_test`'s t for shifted values ``xa`` vs ``xb`` (None: no test), apart so the
    interval's bisection, which asks only whether t passes a critical value, computes the clusters
    once and no p-value (each of its ~40 steps per bound paid both before)."""
    n_a, n_b = xa.size, xb.size
    n = n_a + n_b
    if g < 2 or n < 3:
        return None
    ranks = rankdata(np.concatenate([xa, xb]))
    ra, rb = ranks[:n_a], ranks[n_a:]
    diff = float(ra.mean() - rb.mean())
    score = np.concatenate([(ra - ra.mean()) / n_a, -(rb - rb.mean()) / n_b])
    per_cluster = np.bincount(inverse, weights=score)
    var = g / (g - 1) * (n - 1) / (n - 2) * float(per_cluster @ per_cluster)
    # A variance at rounding level of the ranks is zero: no test.
    if var <= (1e-12 * n) ** 2:
        return None
    return diff / math.sqrt(var)


def _invert(x_a, codes_a, x_b, codes_b, inside: float, outside: float, crit: float) -> float | None:
    """The shift between ``inside`` (not rejected) and ``outside`` where the clustered rank test
    starts to reject at ``crit``, by bisection; None when even ``outside`` is not rejected.

    The mean-rank difference moves in steps at the pairwise differences, so the boundary found is
    one of them, to rounding."""
    xa, xb = np.asarray(x_a, dtype=float), np.asarray(x_b, dtype=float)
    inverse, g = _cluster_index(codes_a, codes_b)

    def rejects(d: float) -> bool:
        t = _rank_t(xa - d, xb, inverse, g)
        return t is not None and abs(t) > crit

    if not rejects(outside):
        return None
    for _ in range(200):
        mid = inside + (outside - inside) / 2.0
        if mid in (inside, outside) or abs(outside - inside) <= 1e-12 * max(1.0, abs(mid)):
            break
        if rejects(mid):
            outside = mid
        else:
            inside = mid
    return inside + (outside - inside) / 2.0


def _count_clusters(clusters_a, clusters_b, n_a: int, n_b: int) -> int:
    if clusters_a is None and clusters_b is None:
        return n_a + n_b
    if clusters_a is None or clusters_b is None:
        raise ValueError("give cluster ids for both groups or for neither")
    ca, cb = list(clusters_a), list(clusters_b)
    if len(ca) != n_a or len(cb) != n_b:
        raise ValueError(f"cluster ids: got {len(ca)} and {len(cb)} for {n_a} and {n_b} values")
    return len(set(ca) | set(cb))


def _tie_counts(values: np.ndarray) -> np.ndarray:
    _, counts = np.unique(values, return_counts=True)
    return counts[counts > 1]


@lru_cache(maxsize=64)  # the same group sizes recur (one per estimate, many per simulation)
def mann_whitney_null_cdf(n_a: int, n_b: int) -> np.ndarray:
    """``P(U <= u)`` for ``u = 0..n_a n_b`` under no shift and no ties.

    The counts satisfy ``f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u)`` (is the largest value
    from a or from b?). Hand-written because scipy keeps its exact distribution private. Counts
    are carried as floats: they reach C(n_a + n_b, n_a), far inside float64's range here.
    """
    if n_a < 0 or n_b < 0:
        raise ValueError("sample sizes must be non-negative")
    # row[n] holds the distribution f(m, n, .) for the current m, padded to length n_a n_b + 1.
    size = n_a * n_b + 1
    row = [np.zeros(size) for _ in range(n_b + 1)]
    for n in range(n_b + 1):
        row[n][0] = 1.0  # m = 0: U = 0 in exactly one way
    for _m in range(1, n_a + 1):
        new = [np.zeros(size) for _ in range(n_b + 1)]
        new[0][0] = 1.0  # n = 0: U = 0 in exactly one way
        for n in range(1, n_b + 1):
            shifted = np.zeros(size)
            shifted[n:] = row[n][: size - n]
            new[n] = shifted + new[n - 1]
        row = new
    freq = row[n_b]
    cdf = np.cumsum(freq) / freq.sum()
    cdf.flags.writeable = False  # shared through the cache
    return cdf


def moses_rank(n_a: int, n_b: int, conf: float, *, ties: np.ndarray | None = None) -> tuple[int, str]:
    """The order-statistic rank ``C`` of the distribution-free interval, and how it was found.

    ``C`` is the largest integer with ``P(U <= C - 1) <= (1 - conf) / 2``; 0 when even the most
    extreme pair has more probability than that (no interval exists). Exact without ties and for
    ``n_a n_b <= 2500`` (``"exact"``); otherwise ``C = floor(n_a n_b / 2 - z sqrt(var U))``
    (``"normal"``), with ``var U = n_a n_b / 12 (N + 1 - sum(t^3 - t) / (N (N - 1)))`` for tie
    groups of sizes t among the ``N = n_a + n_b`` pooled values.
    """
    check_conf(conf)
    tail = (1.0 - conf) / 2.0
    pairs = n_a * n_b
    ties = np.asarray([] if ties is None else ties, dtype=float)
    if ties.size == 0 and pairs <= _EXACT_MAX_PAIRS:
        cdf = mann_whitney_null_cdf(n_a, n_b)
        # Small tolerance: P(U <= k) computed in floats may land a hair above an exact alpha/2.
        ok = np.nonzero(cdf <= tail * (1 + 1e-12))[0]
        return (int(ok[-1]) + 1 if ok.size else 0), "exact"
    n = n_a + n_b
    tie_term = float(np.sum(ties**3 - ties)) / (n * (n - 1)) if n > 1 else 0.0
    var = pairs / 12.0 * (n + 1 - tie_term)
    z = float(norm_ppf(1.0 - tail))
    c = math.floor(pairs / 2.0 - z * math.sqrt(var))
    return max(c, 0), "normal"


def kth_pairwise_difference(x_sorted: np.ndarray, y_sorted: np.ndarray, ranks) -> list[float]:
    """The ``k``-th smallest (1-based) of all ``x_i - y_j``, for each ``k`` in ``ranks``.

    Both inputs must be sorted ascending. Small inputs form the differences and partition them;
    large ones bisect on the value, counting pairs at or below it with one searchsorted, until
    few pairs remain between the bounds, then sort just those. Memory stays linear in the sample
    sizes, so 10^5 x 10^5 pairs work.
    """
    x = np.asarray(x_sorted, dtype=float)
    y = np.asarray(y_sorted, dtype=float)
    total = x.size * y.size
    ranks = [int(k) for k in ranks]
    for k in ranks:
        if not 1 <= k <= total:
            raise ValueError(f"rank {k} outside 1..{total}")
    if total <= _BRUTE_FORCE_PAIRS:
        diffs = np.subtract.outer(x, y).ravel()
        idx = np.asarray(ranks) - 1
        part = np.partition(diffs, idx)
        return [float(part[i]) for i in idx]
    return [_select_by_counting(x, y, k) for k in ranks]


def _select_by_counting(x: np.ndarray, y: np.ndarray, k: int) -> float:
    def below(t: float) -> np.ndarray:
        # For each x_i, the first j with y_j >= x_i - t: pairs j' >= j have x_i - y_j' <= t.
        return np.searchsorted(y, x - t, side="left")

    def count(t: float) -> int:
        return int(y.size * x.size - below(t).sum())

    # Padded by one so rounding in x_i - t cannot leave a pair outside: count(lo) = 0 < k <= count(hi).
    lo, hi = float(x[0] - y[-1]) - 1.0, float(x[-1] - y[0]) + 1.0
    budget = max(x.size + y.size, 10_000)
    c_lo, c_hi = 0, count(hi)
    while c_hi - c_lo > budget:
        mid = lo + (hi - lo) / 2.0
        if mid <= lo or mid >= hi:
            return hi  # the bounds are adjacent floats: every pair between them has this value
        c_mid = count(mid)
        if c_mid >= k:
            hi, c_hi = mid, c_mid
        else:
            lo, c_lo = mid, c_mid
    # The pairs counted at hi but not at lo, by the same searchsorted, so ranks line up exactly.
    start, stop = below(hi), below(lo)
    lengths = stop - start
    rows = np.repeat(np.arange(x.size), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cand = np.sort(x[rows] - y[np.repeat(start, lengths) + offsets])
    return float(cand[k - c_lo - 1])
