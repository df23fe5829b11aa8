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
``floor(4 (n / 100) ** (2 / 9))`` (3 lags for a year of weeks, 4 for two years). The covariance
gets the small-sample factor n / (n - k) and intervals use Student's t with the residual degrees
of freedom; they are Wald intervals on the coefficient scale, exponentiated for the count models.
Even so they run narrow in short series (measured on planted Poisson-gamma counts: a nominal 95%
covers about 88% of the time with 52 weeks, 90% with 104, 92% with 156, 93% with 260), which a
caveat says below 260 weeks. The sandwich underestimates the spread of the level change because
that coefficient leans on the few weeks next to the break and at the ends of each segment.

Placebo breaks: the same model is refitted with the break moved to every week that has at least
``min_side`` weeks on both sides *within the same side of the real break* (placebos before the
break use only pre-break weeks, placebos after it only post-break weeks), so no placebo straddles
the real change. The permutation-style p-value is the share of all fits, the real one included,
whose level effect (beta_post, i.e. the log rate ratio for counts) is at least as large in absolute
value as the real one: ``(1 + #{|placebo| >= |real|}) / (1 + n_placebos)``. Placebo segments are
shorter than the full series, so their effects are noisier and the p-value is conservative.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from .bootstrap import check_conf
from .json_values import json_ready

__all__ = [
    "ITSResult",
    "PlaceboResult",
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
# Below five years of weeks the HAC intervals measurably undercover (see docs/metrics.md).
SHORT_SERIES_WEEKS = 260


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
    """Fit one model with HAC errors.

    Returns (params, std errors, ci lows, ci highs, p-values) of the four design coefficients on
    the model's linear scale, and caveats.
    """
    import statsmodels.api as sm  # imported here: statsmodels takes a second to import

    # use_correction scales the HAC covariance by n / (n - k) and use_t takes critical values from
    # Student's t with n - k degrees of freedom (as Stata's newey does): Newey-West intervals are
    # too narrow in series as short as a team's weekly history, and these two help a little.
    fit_kw = {"cov_type": "HAC", "cov_kwds": {"maxlags": maxlags, "use_correction": True}, "use_t": True}
    caveats: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is checked and reported below
        if model == "ols":
            res = sm.OLS(y, X).fit(**fit_kw)
        elif model == "poisson":
            res = sm.GLM(y, X, family=sm.families.Poisson()).fit(**fit_kw)
            if not res.converged:
                caveats.append("The Poisson fit did not converge; the estimate is unreliable.")
            dispersion = float(res.pearson_chi2 / max(res.df_resid, 1.0))
            if dispersion > _OVERDISPERSED:
                caveats.append(
                    f"Weekly counts vary {dispersion:.1f}x more than a Poisson model expects; the "
                    "HAC errors allow for it, but the negative binomial model fits such data better."
                )
        else:
            res = sm.NegativeBinomial(y, X, loglike_method="nb2").fit(disp=0, maxiter=200, **fit_kw)
            if not res.mle_retvals.get("converged", False):
                caveats.append("The negative binomial fit did not converge; the estimate is unreliable.")
    # For the negative binomial the last parameter is the dispersion alpha; the design comes first.
    ci = np.asarray(res.conf_int(alpha=alpha))[:4]
    se, pvalues = np.asarray(res.bse)[:4], np.asarray(res.pvalues)[:4]
    fitted = np.asarray(res.predict(), dtype=float)
    if np.allclose(fitted, y, rtol=0.0, atol=1e-9 * max(1.0, float(np.abs(y).max()))):
        # No residual at all: the sandwich is zero, so the interval would have zero width and the
        # p-value would be rounding noise. The coefficients themselves are exact.
        nan4 = np.full(4, np.nan)
        ci, se, pvalues = np.column_stack([nan4, nan4]), nan4, nan4
        caveats.append(
            "The model fits every week exactly (no residual variation), so there is no interval "
            "and no p-value."
        )
    return (
        np.asarray(res.params)[:4],
        se,
        ci[:, 0],
        ci[:, 1],
        pvalues,
        caveats,
    )


def interrupted_time_series(
    y,
    break_index: int,
    *,
    model: str = "ols",
    maxlags: int | None = None,
    conf: float = 0.95,
) -> ITSResult:
    """Segmented regression of a consecutive weekly series with a break at ``break_index``.

    ``y[i]`` is week ``i``'s value; ``break_index`` is the first week counted as after the change
    (see :func:`break_index_for`). Returns the level change at the break, the slope change, their
    HAC intervals and p-values, and caveats (short sides, overdispersion, non-convergence).
    """
    check_conf(conf)
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
        )
    params, se, lo, hi, pvalues, caveats = _fit(arr, X, model, lags, 1.0 - conf)
    n_pre, n_post = break_index, n - break_index
    for side, k in (("before", n_pre), ("after", n_post)):
        if k < MIN_WEEKS_PER_SIDE:
            caveats.insert(
                0,
                f"Only {k} weeks {side} the break (fewer than {MIN_WEEKS_PER_SIDE}); the trend "
                f"{side} it is poorly determined.",
            )
    if n < SHORT_SERIES_WEEKS:
        caveats.append(
            f"With {n} weeks (under {SHORT_SERIES_WEEKS}), Newey-West intervals run narrow: in "
            "simulations a nominal 95% interval covered the true change about 88% of the time "
            "with one year of weeks, 90% with two and 92% with three; read the placebo p-value "
            "alongside."
        )
    counts = model != "ols"
    tr = np.exp if counts else (lambda v: v)

    def interval(j: int) -> tuple[float, float]:
        return float(tr(lo[j])), float(tr(hi[j]))

    lvl, slp = interval(2), interval(3)
    p_post = float(pvalues[2])
    return ITSResult(
        model=model,
        scale="rate_ratio" if counts else "difference",
        n_weeks=n,
        n_pre=n_pre,
        n_post=n_post,
        break_index=int(break_index),
        maxlags=lags,
        level_change=float(tr(params[2])),
        level_ci_low=lvl[0],
        level_ci_high=lvl[1],
        level_p_value=p_post,
        slope_change=float(tr(params[3])),
        slope_ci_low=slp[0],
        slope_ci_high=slp[1],
        pre_slope=float(tr(params[1])),
        params={k: float(v) for k, v in zip(_NAMES, params)},
        std_errors={k: float(v) for k, v in zip(_NAMES, se)},
        conf=conf,
        caveats=tuple(caveats),
    )


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
    real_fit = interrupted_time_series(arr, break_index, model=model, maxlags=maxlags)
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
                fit = interrupted_time_series(segment, b, model=model, maxlags=maxlags)
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
