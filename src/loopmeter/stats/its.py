"""Interrupted time series on a weekly series: segmented regression and placebo break dates.

Design (one row per week, weeks consecutive, a week with nothing in it is a 0, not missing):

    y_t ~ 1 + t + post_t + t_since_break_t

with ``t = 0..n-1`` the week number, ``post_t = 1`` from the break week on, and
``t_since_break_t = max(0, t - break_index)``. So ``post`` is the jump at the break relative to the
pre-break trend extrapolated to the break week, and ``t_since_break`` is the change of slope.

Models:

- ``"ols"``: least squares; the level change is in y's units (say, hours of median cycle time).
- ``"poisson"``: Poisson GLM with log link, for weekly counts; the level change is the rate ratio
  ``exp(beta_post)`` (1.5 = 50% more per week than the pre-trend predicts), the slope change the
  per-week rate ratio ``exp(beta_t_since_break)``.
- ``"negbin"``: negative binomial (NB2, dispersion estimated by maximum likelihood), same design
  and reporting as Poisson; use it when weekly counts vary more than a Poisson would.

Standard errors are Newey-West (HAC, Bartlett kernel) for every model, because weekly work
counts are autocorrelated (a busy week is followed by a busy week) and ordinary errors would be too
small. The lag truncation, unless given, is Newey and West's rule of thumb
``floor(4 (n / 100) ** (2 / 9))`` (3 lags for a year of weeks, 4 for two years), with the
small-sample factor n / (n - k). The Newey-West Wald interval (Student's t, n - k degrees of
freedom) is always reported in the ``*_hac`` fields, but it runs narrow in series as short as a
team's history: with week-to-week correlation 0.4 a nominal 95% covered 79-84% at 26 weeks,
82-88% at 52, 87-89% at 104 and 86-91% at 156 (bench/its_coverage.py). The sandwich
underestimates the spread of the level change because that coefficient leans on the few weeks
next to the break and the ends of each segment, and residuals are less correlated than the
errors they estimate.

The default interval is therefore a **residual AR(1) sieve bootstrap-t**, chosen by measuring it
against a moving-block and a dependent wild bootstrap of the residuals and against critical values
simulated for this design under independent weeks (fixed-b style), by bench/its_interval_choice.py
(400 series per cell, correlation 0.4). For OLS at 26 / 52 / 104 weeks: Newey-West 0.81 / 0.83 /
0.85, moving blocks 0.91 / 0.92 / 0.93, dependent wild 0.85 / 0.87 / 0.89, design critical values
at the rule-of-thumb bandwidth 0.92 / 0.91 / 0.91 and at bandwidth n/2 0.93 / 0.93 / 0.93, the
AR(1) sieve 0.94 / 0.94 / 0.95; for Poisson the sieve and the n/2 critical values were both at
0.92-0.96, the others lower. An AR(p) sieve with the order by
AIC did no better. Steps:

1. Standardised residuals ``r = e / sqrt(w)`` (OLS: the residuals; Poisson: Pearson residuals;
   NB2: ``(y - mu) / sqrt(mu (1 + alpha mu))``) and their lag-1 autocorrelation, corrected for the
   regression's own pull towards zero (about -k/n, computed from the design) and Kendall's -3 rho/n,
   kept in [0, 0.95].
2. ``n_boot`` (999) series of AR(1) noise with that coefficient, driven by the centred
   innovations ``r_t - rho r_{t-1}`` resampled with replacement, rescaled by ``sqrt(w)``.
3. Each replicate refitted in one matrix product (exact for OLS; one Fisher-scoring step from the
   fitted rates for the count models, see ``_score_linearisation``), and its Newey-West t-ratio
   computed with the same lags.
4. Interval ``beta +- q se`` with ``q`` the ``conf`` quantile of the replicates' ``|t|`` (the
   ``ceil(conf (n_boot + 1))``-th smallest, so the interval excludes 0 exactly when p <= 1 - conf) and ``se``
   the Newey-West one, exponentiated for the count models (so it is symmetric on the log
   rate-ratio scale); p-value ``(1 + #{|t*| >= |t|}) / (1 + n_boot)``.

Bootstrapping the t-ratio, not the coefficient, is what lets the bootstrap learn how far the
sandwich understates the spread in a series this short. Seeded (``seed``), so a result is
reproducible; 5-40 ms a call at 104 weeks (bench/its_coverage.py prints it). Measured coverage
(MEASURED_COVERAGE, quoted in caveats) is
93-96% from 16 to 156 weeks for OLS, Poisson and NB2 with week-to-week correlation 0.4 (against
74-91% for Newey-West), 93-96% with independent weeks (pooled over effects); with correlation
0.7 it falls to 88-94% (90-94% pooled),
which a caveat says when the residual correlation is 0.5 or more (OLS; count residuals hide most of
the rate's correlation, so there it seldom fires).

Placebo breaks: the same model is refitted with the break moved to every week that has at least
``min_side`` weeks on both sides *within the same side of the real break* (placebos before the
break use only pre-break weeks, placebos after it only post-break weeks), so no placebo straddles
the real change. The permutation-style p-value is the share of all fits, the real one included,
whose level effect (beta_post, i.e. the log rate ratio for counts) is at least as large in absolute
value as the real one: ``(1 + #{|placebo| >= |real|}) / (1 + n_placebos)``. Placebo segments are
shorter than the full series, so their effects are noisier and the p-value is conservative.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .bootstrap import check_conf
from .hac import newey_west_variance
from .its_models import fit_model
from .json_values import json_ready

__all__ = [
    "MEASURED_COVERAGE",
    "ITSResult",
    "PlaceboResult",
    "ar1_sieve_draws",
    "break_index_for",
    "interrupted_time_series",
    "its_design",
    "newey_west_maxlags",
    "placebo_breaks",
]

MODELS = ("ols", "poisson", "negbin")
# Fewer weeks than this on a side and the trend on that side is a guess; a convention.
MIN_WEEKS_PER_SIDE = 8
# Fewer than this and the model cannot be fitted at all (3 points for a line plus a jump).
_HARD_MIN_PER_SIDE = 3
_OVERDISPERSED = 1.5
INTERVALS = ("bootstrap", "hac")
# Coverage of a nominal 95% level-change interval measured by bench/its_coverage.py (planted AR(1)
# week-to-week correlation 0.4, overdispersed counts, break mid-series; no effect and a planted
# one pooled), by series length in weeks. The caveats quote these; tests/test_stats_its.py's slow
# coverage test re-measures them. Below COVERAGE_FLOOR an interval is caveated as narrow.
MEASURED_COVERAGE: dict[str, dict[str, dict[int, float]]] = {
    "bootstrap": {
        "ols": {16: 0.93, 26: 0.93, 52: 0.94, 104: 0.95, 156: 0.94},
        "counts": {16: 0.96, 26: 0.95, 52: 0.95, 104: 0.95, 156: 0.95},
    },
    "hac": {
        "ols": {16: 0.74, 26: 0.79, 52: 0.82, 104: 0.87, 156: 0.86},
        "counts": {16: 0.80, 26: 0.84, 52: 0.88, 104: 0.89, 156: 0.91},
    },
}
COVERAGE_FLOOR = 0.92
# With week-to-week correlation 0.7 (bench/its_coverage.py --rho 0.7) the bootstrap itself covered
# 90-94% (pooled per model and length, 16-156 weeks); a residual lag-1 autocorrelation from 0.5 on
# is that regime for OLS. (For counts the Pearson residuals show much less of the correlation of
# the underlying rate, 0.1-0.2 for 0.7, so the caveat rarely fires there; docs/metrics.md says so.)
_STRONG_AR1 = 0.5
STRONG_CORRELATION_COVERAGE = (0.90, 0.94)


def newey_west_maxlags(n: int) -> int:
    """Newey-West (1994) rule of thumb for the HAC lag truncation: floor(4 (n/100)^(2/9))."""
    return math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0))


def its_design(n_weeks: int, break_index: int) -> np.ndarray:
    """The (n_weeks x 4) design matrix: const, t, post, t_since_break."""
    t = np.arange(n_weeks, dtype=float)
    post = (t >= break_index).astype(float)
    return np.column_stack([np.ones(n_weeks), t, post, np.maximum(0.0, t - break_index)])


_NAMES = ("const", "t", "post", "t_since_break")


@dataclass(frozen=True)
class ITSResult:
    model: str
    scale: str  # "difference" (ols, y units) or "rate_ratio" (counts)
    n_weeks: int
    n_pre: int
    n_post: int
    break_index: int
    maxlags: int
    level_change: float  # ols: beta_post; counts: exp(beta_post)
    level_ci_low: float
    level_ci_high: float
    level_p_value: float
    slope_change: float  # ols: beta_t_since_break per week; counts: exp(...) per week
    slope_ci_low: float
    slope_ci_high: float
    pre_slope: float  # ols: beta_t per week; counts: exp(beta_t) per week
    params: dict[str, float]  # raw coefficients on the model's own scale (log for counts)
    std_errors: dict[str, float]  # HAC standard errors of ``params``
    conf: float
    caveats: tuple[str, ...] = field(default=())
    # Which interval the level_/slope_ fields hold: "bootstrap" (residual AR(1) sieve bootstrap-t,
    # the default) or "hac" (Newey-West Wald). The Newey-West numbers are always kept below.
    interval: str = "hac"
    n_boot: int = 0
    residual_ar1: float = float("nan")  # bias-corrected lag-1 autocorrelation the bootstrap used
    level_ci_low_hac: float = float("nan")
    level_ci_high_hac: float = float("nan")
    level_p_value_hac: float = float("nan")
    slope_ci_low_hac: float = float("nan")
    slope_ci_high_hac: float = float("nan")

    @property
    def level_effect(self) -> float:
        """beta_post on the model's linear scale (log rate ratio for counts); what placebos compare."""
        return self.params["post"]

    def to_dict(self) -> dict:
        d = json_ready(asdict(self))
        d["caveats"] = list(self.caveats)
        return d


def _check_series(y, break_index: int, model: str) -> np.ndarray:
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    arr = np.asarray(y, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"the weekly series must be one-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("the weekly series contains NaN or infinite values; a week with nothing is 0")
    if model != "ols" and ((arr < 0).any() or (arr != np.floor(arr)).any()):
        raise ValueError(f"model {model!r} needs whole non-negative weekly counts")
    n = arr.size
    if not (_HARD_MIN_PER_SIDE <= break_index <= n - _HARD_MIN_PER_SIDE):
        raise ValueError(
            f"break_index {break_index} leaves fewer than {_HARD_MIN_PER_SIDE} weeks on a side "
            f"of a {n}-week series"
        )
    return arr


def _fit(y: np.ndarray, X: np.ndarray, model: str, maxlags: int, alpha: float):
    """Fit one model with HAC errors (stats/its_models.py: numpy, not statsmodels, whose import
    was a fifth of every report's start-up; it says how the numbers compare).

    Returns (params, std errors, ci lows, ci highs, p-values) of the four design coefficients on
    the model's linear scale, and caveats.
    """
    # The HAC covariance carries the small-sample factor n / (n - k) and the critical values are
    # Student's t with n - k degrees of freedom (as Stata's newey does): Newey-West intervals are
    # too narrow in series as short as a team's weekly history, and these two help a little.
    caveats: list[str] = []
    with np.errstate(all="ignore"):  # convergence is checked and reported below
        res = fit_model(y, X, model, maxlags, alpha)
    if model == "poisson":
        if not res.converged:
            caveats.append("The Poisson fit did not converge; the estimate is unreliable.")
        if res.pearson_dispersion > _OVERDISPERSED:
            caveats.append(
                f"Weekly counts vary {res.pearson_dispersion:.1f}x more than a Poisson model expects; the "
                "HAC errors allow for it, but the negative binomial model fits such data better."
            )
    elif model == "negbin" and not res.converged:
        caveats.append("The negative binomial fit did not converge; the estimate is unreliable.")
    ci = np.column_stack([res.ci_low, res.ci_high])
    se, pvalues = res.bse, res.pvalues
    fitted = res.fitted
    if np.allclose(fitted, y, rtol=0.0, atol=1e-9 * max(1.0, float(np.abs(y).max()))):
        # No residual at all: the sandwich is zero, so the interval would have zero width and the
        # p-value would be rounding noise. The coefficients themselves are exact.
        nan4 = np.full(4, np.nan)
        ci, se, pvalues = np.column_stack([nan4, nan4]), nan4, nan4
        caveats.append(
            "The model fits every week exactly (no residual variation), so there is no interval "
            "and no p-value."
        )
    # What the bootstrap needs: per-week weights w and score residuals e such that the fit solves
    # X' e = 0 and its Fisher information is X' diag(w) X (see _score_linearisation).
    y_hat = fitted
    if model == "ols":
        w, e = np.ones_like(y), y - y_hat
    elif model == "poisson":
        w, e = y_hat, y - y_hat
    else:
        nb_alpha = res.alpha
        w, e = y_hat / (1.0 + nb_alpha * y_hat), (y - y_hat) / (1.0 + nb_alpha * y_hat)
    return (
        res.params,
        se,
        ci[:, 0],
        ci[:, 1],
        pvalues,
        caveats,
        (w, e),
    )


# ------------------------------------------------------------------- sieve bootstrap-t interval

N_BOOT = 999
# Simulated weeks discarded before each bootstrap series so it starts in the AR(1)'s steady state
# (0.95**60 < 0.05 of the start value survives, and the start is itself a resampled innovation).
_BURN_IN = 60
_MAX_AR1 = 0.95  # keeps the bootstrap process stationary whatever a short series suggests


def _score_linearisation(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The map from perturbed score residuals e* to (coefficient change, refitted residuals).

    For OLS (w = 1) ``A = (X'X)^-1 X'`` and ``M = I - X A`` are exact: the refit on y* = X b + e*
    moves the coefficients by ``A e*`` and leaves residuals ``M e*``. For the count models they are
    one Fisher-scoring step from the fitted rates (``A = (X'WX)^-1 X'``, ``M = I - W X A``): the
    bootstrap perturbation is of the order of the sampling error, so the step's own error is a
    smaller order still (the one-step estimator has the same first-order distribution as the full
    refit), and it keeps every refit one matrix product instead of ~1,000 IRLS loops. A bootstrap
    count series would not be whole numbers anyway, so perturbing the score is the natural form.
    """
    bread = np.linalg.inv((X.T * w) @ X)
    A = bread @ X.T
    M = np.eye(X.shape[0]) - (w[:, None] * X) @ A
    return A, M


def _residual_ar1(r: np.ndarray, X: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Lag-1 autocorrelation of the standardised residuals, raw and bias-corrected.

    Residuals of a fitted trend-and-break are less autocorrelated than the errors: under white
    noise their lag-1 autocorrelation averages about trace(M S)/(n - k) (S the symmetric lag-one
    matrix, M the residual projection; about -k/n for this design), and the estimate is pulled
    down by a further ~3 rho / n (Kendall's bias of the AR(1) estimate). Both are added back.
    The corrected value is kept in [0, 0.95]: a short series cannot tell weak negative dependence
    from noise, and letting it shrink the interval below the independent-weeks one is not honest.
    """
    n, k = X.shape
    rc = r - r.mean()
    denom = float(rc @ rc)
    raw = float(rc[1:] @ rc[:-1]) / denom if denom > 0 else 0.0
    sw = np.sqrt(w)
    hat = (sw[:, None] * X) @ np.linalg.inv((X.T * w) @ X) @ (X.T * sw)  # symmetric projection
    # trace((I - H) S) with S = (shift + shift')/2 is minus the sum of H's first off-diagonal.
    white_noise_bias = -float(np.trace(hat, offset=1)) / (n - k)
    corrected = raw - white_noise_bias + 3.0 * raw / n
    return raw, float(min(max(corrected, 0.0), _MAX_AR1))


def ar1_sieve_draws(r: np.ndarray, rho: float, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` series like ``r``: AR(1) with coefficient ``rho`` driven by resampled innovations.

    The innovations are ``r_t - rho r_{t-1}`` (centred), drawn with replacement, so the bootstrap
    keeps the residuals' own distribution (skew of small counts included) and their serial
    dependence. Row ``i`` is ``s_t = rho s_{t-1} + u_{i,t}`` over ``_BURN_IN`` + n steps, burn-in
    dropped, one step for all rows at once.
    """
    rc = r - r.mean()
    innov = rc[1:] - rho * rc[:-1]
    innov = innov - innov.mean()
    n = r.size
    u = innov[rng.integers(0, innov.size, size=(n_boot, n + _BURN_IN))]
    # A loop over the weeks rather than scipy.signal.lfilter: importing scipy.signal costs more CPU
    # than the ~100-200 vector steps. It is lfilter's own arithmetic for this filter (y_t = u_t +
    # rho y_{t-1}, from y_0 = u_0), so the draws are the same to the bit (tests/test_stats_its.py).
    s = np.empty_like(u)
    s[:, 0] = u[:, 0]
    for t in range(1, u.shape[1]):
        np.multiply(s[:, t - 1], rho, out=s[:, t])
        s[:, t] += u[:, t]
    return s[:, _BURN_IN:]


def _sieve_bootstrap_t(
    X: np.ndarray, w: np.ndarray, e: np.ndarray, params: np.ndarray, maxlags: int,
    conf: float, n_boot: int, seed: int, coefs: tuple[int, ...] = (2, 3),
) -> dict:
    """Symmetric bootstrap-t intervals and p-values for ``params[coefs]``.

    The statistic is the Newey-West t-ratio itself, so the bootstrap learns how far that ratio
    strays from Student's t in a series this short (the sandwich's downward bias included) rather
    than trusting the asymptotics. Returns, per coefficient, (low, high, p) on the linear scale.
    """
    n, k = X.shape
    A, M = _score_linearisation(X, w)
    sw = np.sqrt(w)
    r = e / sw
    raw, rho = _residual_ar1(r, X, w)
    rng = np.random.default_rng(seed)
    E = ar1_sieve_draws(r, rho, n_boot, rng) * sw
    resid = E @ M.T
    small = n / (n - k)
    out: dict = {"rho_raw": raw, "rho": rho}
    for j in coefs:
        se = math.sqrt(float(newey_west_variance(A[j] * (M @ e), maxlags)) * small)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_star = (E @ A[j]) / np.sqrt(newey_west_variance(A[j] * resid, maxlags) * small)
        t_abs = np.abs(t_star[np.isfinite(t_star)])
        if se <= 0 or t_abs.size < n_boot // 2:
            out[j] = (float("nan"), float("nan"), float("nan"))
            continue
        # The order statistic the p-value below counts against (the ceil(conf (B + 1))-th smallest),
        # not an interpolation between two: then the interval excludes 0 exactly when p <= 1 - conf.
        q = float(np.sort(t_abs)[min(math.ceil(conf * (t_abs.size + 1) - 1e-9), t_abs.size) - 1])
        t_obs = abs(params[j]) / se
        p = float((1 + np.sum(t_abs >= t_obs)) / (1 + t_abs.size))
        out[j] = (params[j] - q * se, params[j] + q * se, p)
    return out


def interrupted_time_series(
    y,
    break_index: int,
    *,
    model: str = "ols",
    maxlags: int | None = None,
    conf: float = 0.95,
    interval: str = "bootstrap",
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> ITSResult:
    """Segmented regression of a consecutive weekly series with a break at ``break_index``.
    (The fit itself is ``_interrupted_time_series``; this returns a copy of an earlier fit of the
    same input, which is the same result.)
    """
    try:
        arr = np.asarray(y, dtype=float)
    except (TypeError, ValueError):  # not a series: the fit says why
        return _interrupted_time_series(y, break_index, model=model, maxlags=maxlags, conf=conf,
                                        interval=interval, n_boot=n_boot, seed=seed)
    hit = _remembered_fit(arr.shape, arr.tobytes(), break_index, model, maxlags, conf, interval, n_boot, seed)
    return copy.deepcopy(hit)  # its params dicts are the caller's to keep


# A report fits the same series more than once: the specification table's chosen row is the
# headline's own series, and the placebo breaks of one series are fitted again for each model and
# window that reaches them (23 fits, 7 repeats, ~40% of the ITS time on the 1k-commit store). A fit
# is a pure function of its input, so the fits are remembered by their whole input; the series
# travels as its shape and bytes, which (unlike an array) can be a cache key.
@functools.lru_cache(maxsize=256)
def _remembered_fit(shape, data: bytes, break_index, model, maxlags, conf, interval, n_boot, seed) -> ITSResult:
    arr = np.frombuffer(data, dtype=float).reshape(shape)
    return _interrupted_time_series(arr, break_index, model=model, maxlags=maxlags, conf=conf,
                                    interval=interval, n_boot=n_boot, seed=seed)


def _interrupted_time_series(
    y,
    break_index: int,
    *,
    model: str = "ols",
    maxlags: int | None = None,
    conf: float = 0.95,
    interval: str = "bootstrap",
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> ITSResult:
    """Segmented regression of a consecutive weekly series with a break at ``break_index``.

    ``y[i]`` is week ``i``'s value; ``break_index`` is the first week counted as after the change
    (see :func:`break_index_for`). Returns the level change at the break, the slope change, their
    intervals and p-values (``interval="bootstrap"``: residual AR(1) sieve bootstrap-t, seeded by
    ``seed``; ``"hac"``: Newey-West Wald; the Newey-West numbers are in the ``*_hac`` fields
    either way), and caveats (short sides, overdispersion, non-convergence, expected coverage).
    """
    check_conf(conf)
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    if interval == "bootstrap" and n_boot < 99:
        raise ValueError(f"n_boot must be at least 99 for a bootstrap interval, got {n_boot}")
    arr = _check_series(y, break_index, model)
    n = arr.size
    lags = newey_west_maxlags(n) if maxlags is None else int(maxlags)
    if lags < 0:
        raise ValueError(f"maxlags must be non-negative, got {maxlags}")
    X = its_design(n, break_index)
    if model != "ols" and (arr[:break_index].sum() == 0 or arr[break_index:].sum() == 0):
        # A log-linear model of an all-zero side diverges to minus infinity; there is no rate to
        # compare, so say so instead of reporting the optimiser's last step.
        side = "before" if arr[:break_index].sum() == 0 else "after"
        nan = float("nan")
        return ITSResult(
            model, "rate_ratio", n, break_index, n - break_index, int(break_index), lags,
            nan, nan, nan, nan, nan, nan, nan, nan,
            {k: nan for k in _NAMES}, {k: nan for k in _NAMES}, conf,
            (f"No counts at all {side} the break, so there is no rate to compare.",),
            interval=interval,
        )
    params, se, lo, hi, pvalues, caveats, (w, e) = _fit(arr, X, model, lags, 1.0 - conf)
    n_pre, n_post = break_index, n - break_index
    for side, k in (("before", n_pre), ("after", n_post)):
        if k < MIN_WEEKS_PER_SIDE:
            caveats.insert(
                0,
                f"Only {k} weeks {side} the break (fewer than {MIN_WEEKS_PER_SIDE}); the trend "
                f"{side} it is poorly determined.",
            )
    counts = model != "ols"
    tr = np.exp if counts else (lambda v: v)
    hac_level = (float(tr(lo[2])), float(tr(hi[2])), float(pvalues[2]))
    hac_slope = (float(tr(lo[3])), float(tr(hi[3])))
    rho = float("nan")
    if interval == "bootstrap" and np.isfinite(se[2]):
        boot = _sieve_bootstrap_t(X, w, e, params, lags, conf, n_boot, seed)
        rho = boot["rho"]
        level = (float(tr(boot[2][0])), float(tr(boot[2][1])), boot[2][2])
        slope = (float(tr(boot[3][0])), float(tr(boot[3][1])))
    else:
        level, slope = hac_level, hac_slope
    caveats.extend(_coverage_caveats(n, model, interval, rho, conf))
    return ITSResult(
        model=model,
        scale="rate_ratio" if counts else "difference",
        n_weeks=n,
        n_pre=n_pre,
        n_post=n_post,
        break_index=int(break_index),
        maxlags=lags,
        level_change=float(tr(params[2])),
        level_ci_low=level[0],
        level_ci_high=level[1],
        level_p_value=level[2],
        slope_change=float(tr(params[3])),
        slope_ci_low=slope[0],
        slope_ci_high=slope[1],
        pre_slope=float(tr(params[1])),
        params={k: float(v) for k, v in zip(_NAMES, params)},
        std_errors={k: float(v) for k, v in zip(_NAMES, se)},
        conf=conf,
        caveats=tuple(caveats),
        interval=interval,
        n_boot=n_boot if interval == "bootstrap" else 0,
        residual_ar1=rho,
        level_ci_low_hac=hac_level[0],
        level_ci_high_hac=hac_level[1],
        level_p_value_hac=hac_level[2],
        slope_ci_low_hac=hac_slope[0],
        slope_ci_high_hac=hac_slope[1],
    )


def _coverage_caveats(n: int, model: str, interval: str, rho: float, conf: float) -> list[str]:
    """What the simulations in bench/its_coverage.py measured for a series of this length."""
    family = "ols" if model == "ols" else "counts"
    table = MEASURED_COVERAGE[interval][family]
    what = "bootstrap" if interval == "bootstrap" else "Newey-West"
    out: list[str] = []
    if n < min(table):
        out.append(
            f"With {n} weeks the series is shorter than any measured ({min(table)} weeks and up), so "
            f"how often the {what} interval holds the true change is unknown; read the placebo "
            "p-value alongside."
        )
    else:
        # The measured length at or below n: coverage improves with length, so this errs on the
        # side of the worse figure.
        at = max(m for m in table if m <= n)
        cover = table[at]
        if cover < COVERAGE_FLOOR:
            level = "" if conf == 0.95 else " (measured at 95%; other levels were not)"
            out.append(
                f"With {n} weeks, {what} intervals run narrow: in simulations of {at}-week series "
                f"with correlated weeks a nominal 95% interval covered the true change about "
                f"{cover:.0%} of the time{level}; read the placebo p-value alongside."
            )
    if interval == "bootstrap" and math.isfinite(rho) and rho >= _STRONG_AR1:
        out.append(
            f"Weeks are strongly correlated (residual lag-1 autocorrelation about {rho:.2f}); in "
            f"simulations with week-to-week correlation 0.7, 95% intervals covered "
            f"{STRONG_CORRELATION_COVERAGE[0]:.0%}-{STRONG_CORRELATION_COVERAGE[1]:.0%} of the time."
        )
    return out


# --------------------------------------------------------------------------------- placebos


@dataclass(frozen=True)
class PlaceboResult:
    real_effect: float  # beta_post of the real break (log rate ratio for counts)
    placebo_indices: tuple[int, ...]  # week index of each placebo break in the full series
    placebo_effects: tuple[float, ...]  # beta_post of each placebo fit, same scale
    p_value: float | None  # (1 + #{|placebo| >= |real|}) / (1 + n); None without placebos
    min_side: int
    caveats: tuple[str, ...]

    @property
    def n_placebos(self) -> int:
        return len(self.placebo_effects)

    def to_dict(self) -> dict:
        d = json_ready(asdict(self))
        for k in ("placebo_indices", "placebo_effects", "caveats"):
            d[k] = list(d[k])
        d["n_placebos"] = self.n_placebos
        return d


def placebo_breaks(
    y,
    break_index: int,
    *,
    model: str = "ols",
    min_side: int = MIN_WEEKS_PER_SIDE,
    maxlags: int | None = None,
) -> PlaceboResult:
    """Refit the model at every eligible fake break date and compare with the real one.

    ``maxlags`` None uses the rule of thumb for each fit's own length. See the module docstring
    for which weeks are eligible and how the p-value is defined.
    """
    if min_side < _HARD_MIN_PER_SIDE:
        raise ValueError(f"min_side must be at least {_HARD_MIN_PER_SIDE}, got {min_side}")
    arr = _check_series(y, break_index, model)
    # Placebos compare point estimates only, so no fit here needs the bootstrap's interval.
    real_fit = interrupted_time_series(arr, break_index, model=model, maxlags=maxlags, interval="hac")
    real = real_fit.level_effect
    if not math.isfinite(real):
        return PlaceboResult(real, (), (), None, min_side, real_fit.caveats)
    indices: list[int] = []
    effects: list[float] = []
    caveats: list[str] = []
    failed = 0
    for lo, hi in ((0, break_index), (break_index, arr.size)):
        segment = arr[lo:hi]
        if model != "ols" and segment.sum() == 0:
            continue  # no counts: a rate ratio is undefined, not zero
        for b in range(min_side, segment.size - min_side + 1):
            try:
                fit = interrupted_time_series(segment, b, model=model, maxlags=maxlags, interval="hac")
            except (ValueError, np.linalg.LinAlgError):
                failed += 1
                continue
            if not math.isfinite(fit.level_effect):
                failed += 1
                continue
            indices.append(lo + b)
            effects.append(fit.level_effect)
    if failed:
        caveats.append(f"{failed} placebo fits failed and were left out.")
    if not effects:
        caveats.append(
            f"No week has {min_side} weeks on both sides without crossing the real break, so there "
            "are no placebo dates to compare with."
        )
        return PlaceboResult(real, (), (), None, min_side, tuple(caveats))
    eff = np.asarray(effects)
    p = float((1 + np.sum(np.abs(eff) >= abs(real) - 1e-12)) / (1 + eff.size))
    if eff.size < 19:
        caveats.append(
            f"Only {eff.size} placebo dates; the smallest possible p-value is "
            f"1/{eff.size + 1} = {1 / (eff.size + 1):.2f}."
        )
    return PlaceboResult(real, tuple(indices), tuple(float(e) for e in eff), p, min_side, tuple(caveats))


def break_index_for(week_starts, break_date) -> int:
    """Index of the first week whose start is on or after ``break_date``.

    ``week_starts`` must be consecutive weeks (ascending, exactly 7 days apart), because the
    design's ``t`` counts weeks; ISO strings, dates or numpy datetime64 are accepted.
    """
    weeks = np.asarray(week_starts, dtype="datetime64[D]")
    if weeks.ndim != 1 or weeks.size == 0:
        raise ValueError("week_starts must be a non-empty one-dimensional sequence of dates")
    if np.isnat(weeks).any():
        raise ValueError("week_starts contains a missing date")
    steps = np.diff(weeks).astype(int)
    if (steps != 7).any():
        raise ValueError(
            "week_starts must be consecutive weeks 7 days apart (fill weeks with nothing with 0)"
        )
    day = np.datetime64(break_date, "D")
    return int(np.searchsorted(weeks, day, side="left"))
