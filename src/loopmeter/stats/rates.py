"""A ratio of two pooled event rates with a cluster-robust (CR1) interval, no resampling.

The estimate is what a Poisson regression of the events on a group dummy with log exposure as
offset gives, exp(beta) = (sum events_a / sum exposure_a) / (sum events_b / sum exposure_b); its
standard error is that regression's cluster-robust sandwich with statsmodels' CR1 factor
G/(G-1) * (N-1)/(N-K) (tests/test_verdict_waiting_failures.py checks both against statsmodels'
GLM), and the interval uses t on G - 1 degrees of freedom, as the other clustered headlines do.

Written here rather than fitted with statsmodels because the two-group model has a closed form:
the score of log(ratio) per cluster is (events_a - rate_a * exposure_a) / sum events_a minus the
same for b, so the sandwich is a sum of squares (and a report fits it once per question, with no
iteration to fail). Why not the cluster bootstrap of `lift.ratio_of_rates`: with a dozen weeks a
side and failures clustered in weeks, its percentile interval held the planted ratio in 93.2% (null)
and 92.8% (0.5x) of 500 runs each, this one in 95.2% and 95.6% (bench/verdict_waiting_failures.py,
docs/metrics.md "Verdict").
"""

from __future__ import annotations

import numpy as np

from .bootstrap import check_conf
from .dist import t_interval
from .lift import GROUP_LABELS, Estimate, _cap

ESTIMATOR = "rate_ratio_cr1"


def rate_ratio_cr1(events_a, exposure_a, events_b, exposure_b, *, conf: float = 0.95,
                   labels: tuple[str, str] = GROUP_LABELS) -> Estimate:
    """Ratio of pooled rates a / b with a CR1 interval, t on G - 1. Position ``i`` of the four
    arrays is one cluster (a week, an author); a cluster absent from a group has exposure 0 there.
    ``n_a`` / ``n_b`` are the events; ``extra`` holds ``rate_a``, ``rate_b``, ``se_log`` and ``df``."""
    check_conf(conf)
    ea, xa, eb, xb = (np.asarray(v, dtype=float) for v in (events_a, exposure_a, events_b, exposure_b))
    if not len(ea) == len(xa) == len(eb) == len(xb):
        raise ValueError("events and exposure arrays must have one entry per cluster in the same order")
    for v in (ea, xa, eb, xb):
        if v.ndim != 1 or not np.isfinite(v).all() or (v < 0).any():
            raise ValueError("events and exposures must be one-dimensional, finite and non-negative")
    if ((ea > 0) & (xa == 0)).any() or ((eb > 0) & (xb == 0)).any():
        raise ValueError("a cluster has events but zero exposure")
    active = (xa > 0) | (xb > 0)
    ea, xa, eb, xb = ea[active], xa[active], eb[active], xb[active]
    g = int(active.sum())
    fa, fb, na, nb = float(ea.sum()), float(eb.sum()), float(xa.sum()), float(xb.sum())
    why = []
    if na == 0 or nb == 0:
        why.append(f"{_cap(labels[0] if na == 0 else labels[1])} has no exposure, so it has no rate.")
    elif fb == 0:
        why.append(f"{_cap(labels[1])} has no events, so its rate is zero and the ratio is undefined.")
    elif fa == 0:
        why.append(f"{_cap(labels[0])} has no events: the ratio is 0 and its logarithm, on which the interval "
                   "is built, is not finite.")
    elif g < 3:
        why.append(f"Only {g} clusters: a cluster-robust interval needs at least 3.")
    ratio = (fa / na) / (fb / nb) if na and nb and fb else None
    if why:
        return Estimate(ESTIMATOR, ratio, None, None, int(fa), int(fb), g, tuple(why), clustered=True)
    ra, rb = fa / na, fb / nb
    # Score of log(ratio) per cluster (a cluster in both groups adds both parts).
    u = (ea - ra * xa) / fa - (eb - rb * xb) / fb
    n_cells = int((xa > 0).sum() + (xb > 0).sum())  # the regression's rows: cluster x group cells
    factor = g / (g - 1) * (n_cells - 1) / max(n_cells - 2, 1)
    se = float(np.sqrt(factor * np.sum(u * u)))
    df = g - 1
    beta = float(np.log(ratio))
    lo, hi, p = t_interval(beta, se, df, conf)
    lo, hi, p = (float(np.exp(lo)), float(np.exp(hi)), p) if se > 0 else (None, None, None)
    caveats = () if se > 0 else ("Every cluster has the same rate in its group: the interval has no width.",)
    return Estimate(ESTIMATOR, ratio, lo, hi, int(fa), int(fb), g, caveats, p_value=p, clustered=True,
                    extra={"rate_a": ra, "rate_b": rb, "se_log": se, "df": df})
