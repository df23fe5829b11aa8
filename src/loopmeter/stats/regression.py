"""Log-duration regression: the treatment's ratio of durations, adjusted for covariates.

Model: ``log(duration) = b0 + beta * treated + covariates + fixed effects + error``, fitted by
ordinary least squares. ``exp(beta)`` is the ratio of (geometric-mean) durations of treated to
untreated rows holding the covariates and fixed effects fixed: a ratio a / b with group a the
treated rows, like every lift here.

Two standard errors are reported. The headline is cluster-robust (CR1: statsmodels'
``cov_type="cluster"``, which scales by ``G / (G - 1) * (N - 1) / (N - K)``, with t intervals on
``G - 1`` degrees of freedom), because rows of one author or team are not independent; without
cluster ids it is heteroskedasticity-robust (HC1, t on ``N - K``). The plain OLS standard error
(independent, equal-variance errors) is kept beside it so a reader can see how much the
dependence matters.

The design matrix is built here (fixed effects as dummies, dropping each factor's first level)
so that the caller's arrays, not a formula string, define the model; stats/ols.py does the fit
(statsmodels' numbers, without its import).

A fixed effect with many levels (one per author) can instead be *absorbed*: y and every column
are demeaned within its levels and the demeaned data are fitted. By Frisch-Waugh-Lovell
this gives the dummy fit's coefficients and residuals, and the treatment's row of
``(X'X)^-1 X'`` is the same vector in both fits, so every sandwich (CR1, HC1) is the dummy fit's
too; only the small-sample factors differ, because the absorbed levels are columns the demeaned
fit does not see. The plain and HC1 errors (and CR1 with levels that are not nested in the
clusters) are corrected here so that the numbers are exactly those of the dummy fit
(statsmodels counts columns, not rank, in ``(N - 1) / (N - K)``), without building an
N x (levels) matrix: thousands of authors cost a group mean, not an SVD of a wide matrix. When
every absorbed level lies within one cluster (authors absorbed and clustered by author), CR1
does not count the levels in K, as Stata's xtreg, fe, reghdfe and fixest do.

``covariance="CR2"`` (with cluster ids and nothing absorbed) replaces CR1 by the CR2 sandwich with
Bell-McCaffrey degrees of freedom (stats/cr2.py): with a dozen authors CR1 on G - 1 runs a little
narrow, most when people differ in pace, in how much they use AI and in what it does for them
(bench/verdict_sim.py). The CR1 standard error stays in ``extra`` as ``se_cr1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .bootstrap import check_conf
from .cr2 import cr2
from .dist import t_interval
from .ols import ols
from .lift import GROUP_LABELS, MIN_CLUSTERS, MIN_VALUES, Estimate, _cap, _durations

__all__ = ["design_matrix", "identifying_groups", "log_duration_ols", "with_and_without_size"]


def design_matrix(
    treatment,
    covariates: Mapping[str, np.ndarray] | None = None,
    fixed_effects: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Columns ``const``, ``treated``, each covariate, then one dummy per non-first level of each
    fixed effect (``<name>[<level>]``; levels sorted as strings, so the dropped level is stable)."""
    treated = _treatment(treatment)
    n = len(treated)
    cols: dict[str, np.ndarray] = {"const": np.ones(n), "treated": treated.astype(float)}
    for name, values in (covariates or {}).items():
        v = np.asarray(values, dtype=float)
        if v.shape != (n,):
            raise ValueError(f"covariate {name!r} has shape {v.shape}, expected ({n},)")
        if not np.isfinite(v).all():
            raise ValueError(f"covariate {name!r} contains NaN or infinite values")
        if name in cols:
            raise ValueError(f"covariate name {name!r} is reserved")
        cols[name] = v
    for name, values in (fixed_effects or {}).items():
        labels = pd.Series(np.asarray(values, dtype=object)).astype(str)
        if len(labels) != n:
            raise ValueError(f"fixed effect {name!r} has {len(labels)} values, expected {n}")
        if pd.Series(np.asarray(values, dtype=object)).isna().any():
            raise ValueError(f"fixed effect {name!r} contains missing values")
        for level in sorted(labels.unique())[1:]:
            cols[f"{name}[{level}]"] = (labels == level).to_numpy(float)
    return pd.DataFrame(cols)


def _treatment(treatment) -> np.ndarray:
    t = np.asarray(treatment)
    if t.ndim != 1:
        raise ValueError(f"treatment must be one-dimensional, got shape {t.shape}")
    if t.dtype == bool:
        return t
    tf = t.astype(float)
    if not np.isin(tf, (0.0, 1.0)).all():
        raise ValueError("treatment must be 0/1 or boolean")
    return tf == 1.0


def log_duration_ols(
    durations,
    treatment,
    *,
    covariates: Mapping[str, np.ndarray] | None = None,
    fixed_effects: Mapping[str, np.ndarray] | None = None,
    clusters=None,
    absorb: tuple[str, np.ndarray] | None = None,
    conf: float = 0.95,
    labels: tuple[str, str] = GROUP_LABELS,
    covariance: str = "CR1",
) -> Estimate:
    """Fit ``log(duration) ~ treated + covariates + fixed effects``; ratio = ``exp(beta)``.

    ``absorb``: (name, labels) of one more fixed effect, fitted by demeaning within its levels
    (see the module docstring); the numbers equal those with it among ``fixed_effects``.

    ``durations``: positive, finite. ``treatment``: 0/1 or boolean, 1 = group a. ``covariates``:
    name -> numeric array (transform them first, e.g. log of size). ``fixed_effects``: name ->
    labels (repo, team, actor). ``clusters``: ids for the cluster-robust errors (None: HC1).

    ``ci_low`` / ``ci_high`` / ``p_value`` are the robust ones (t distribution). ``extra`` holds
    ``beta``, ``se``, ``se_plain``, ``ci_plain_low``, ``ci_plain_high``, ``p_value_plain``,
    ``df`` (the robust interval's degrees of freedom), ``covariance`` ("CR1" or "HC1"),
    ``adjusted_for`` (covariate names) and ``fixed_effects`` (names, the absorbed one last).
    ``covariance``: "CR1" or "CR2" (see the module docstring; CR2 applies with cluster ids and no
    absorbed fixed effect, else CR1 is used and ``extra["covariance"]`` says so). The
    ratio is None when the treatment is not identified (it is constant, or a combination of the
    fixed effects).
    """
    check_conf(conf)
    if covariance not in ("CR1", "CR2"):
        raise ValueError(f"covariance must be 'CR1' or 'CR2', got {covariance!r}")
    y = _durations(durations, "durations")
    X = design_matrix(treatment, covariates, fixed_effects)
    if len(X) != len(y):
        raise ValueError(f"{len(y)} durations but {len(X)} treatment values")
    treated = X["treated"].to_numpy() == 1.0
    n_a, n_b = int(treated.sum()), int((~treated).sum())
    log_y = np.log(y)
    within = None  # level of each row of the absorbed fixed effect
    if absorb is not None:
        within = _levels(absorb, len(y))
        X, log_y = _demean(X.drop(columns="const"), within), _demean_1d(log_y, within)
    if clusters is not None:
        groups = pd.Series(np.asarray(clusters, dtype=object))
        if len(groups) != len(y):
            raise ValueError(f"{len(y)} durations but {len(groups)} cluster ids")
        if groups.isna().any():
            raise ValueError("cluster ids contain missing values")
        codes = pd.factorize(groups.astype(str))[0]
        n_clusters = int(codes.max()) + 1 if len(codes) else 0
    else:
        codes, n_clusters = None, len(y)
    extra = {
        "adjusted_for": list((covariates or {}).keys()),
        "fixed_effects": list((fixed_effects or {}).keys()) + ([absorb[0]] if absorb is not None else []),
        "covariance": "CR1" if codes is not None else "HC1",
        "plain_clustered": False,  # ci_plain_* and p_value_plain take rows as independent
    }
    caveats: list[str] = []

    def none(reason: str) -> Estimate:
        return Estimate("log_duration_ols", None, None, None, n_a, n_b, n_clusters, (*caveats, reason),
                        extra=extra)

    if n_a == 0 or n_b == 0:
        return none(f"{_cap(labels[0] if n_a == 0 else labels[1])} has no rows, so there is nothing to compare.")
    # The absorbed levels are columns of the dummy fit: the intercept and one dummy per other level.
    n_absorbed = int(within.max()) + 1 if within is not None and len(within) else 0
    rank = _rank(X.to_numpy())
    if _rank(X.drop(columns="treated").to_numpy()) == rank:
        return none(
            "The treatment is fully explained by the fixed effects or covariates (for example, every "
            "actor is only ever in one group), so its effect cannot be separated from them."
        )
    if len(y) - rank - n_absorbed < 1 or (n_absorbed and len(y) - X.shape[1] - n_absorbed < 1):
        return none(f"{len(y)} rows cannot fit {rank + n_absorbed} parameters; there is nothing left to estimate "
                    "the error.")
    # Columns the demeaning zeroed are nested in the absorbed levels (a team per author): expected,
    # not a collinearity worth a caveat.
    if rank < int((np.abs(X.to_numpy()).sum(axis=0) > 0).sum()):
        caveats.append(
            "Some covariates or fixed effects are collinear; their own coefficients are not identified "
            "(the treatment's is)."
        )
    for label, n in zip(labels, (n_a, n_b)):
        if n < MIN_VALUES:
            caveats.append(
                f"{_cap(label)} has only {n} rows (fewer than {MIN_VALUES}); the estimate can move a lot with a few more."
            )
    # Fitted by stats/ols.py, the numbers of statsmodels' OLS and get_robustcov_results to rounding:
    # importing statsmodels (with the scipy.stats it loads) was ~0.6 s of every report's CPU.
    # A rank-deficient design (actors nested in teams, expected and caveated above) still fits by
    # the pseudo-inverse, which identifies the treatment, checked above.
    plain = ols(log_y, X.to_numpy(float))
    j = list(X.columns).index("treated")
    if np.allclose(plain.resid, 0.0, rtol=0.0, atol=1e-9 * max(1.0, float(np.abs(log_y).max()))):
        # A perfect fit: every interval would have zero width, which no data supports.
        return none("The model fits the durations exactly (no residual variation), so there is no interval.")
    robust_cov, robust_df = None, None
    if codes is not None:
        if n_clusters < 2:
            caveats.append(
                f"Only {n_clusters} cluster: no cluster-robust interval is possible; the plain one "
                "assumes independent rows."
            )
        else:
            # CR1, inferred on G - 1 degrees of freedom.
            robust_cov, robust_df = plain.cov_cluster(codes), float(n_clusters - 1)
            if n_clusters < MIN_CLUSTERS:
                caveats.append(
                    f"Only {n_clusters} clusters; with fewer than {MIN_CLUSTERS} the cluster-robust "
                    "interval is unreliable, usually too narrow."
                )
    else:
        robust_cov, robust_df = plain.cov_hc1(), plain.df_resid  # HC1 on N - K
        caveats.append("No cluster ids: rows are taken as independent, which understates the uncertainty "
                       "if one person or team contributes many rows.")

    beta = float(plain.params[j])
    n = len(y)
    se_plain0 = math.sqrt(float(plain.cov_plain()[j, j]))
    if within is None:
        se_plain, df_plain = se_plain0, plain.df_resid
    else:
        # The dummy fit's s^2 divides the same residual sum of squares by N - rank - levels.
        df_plain = float(n - rank - n_absorbed)
        se_plain = se_plain0 * math.sqrt(plain.df_resid / df_plain)
    lo_p, hi_p, p_plain = t_interval(beta, se_plain, df_plain, conf)
    extra.update(
        beta=beta,
        se_plain=se_plain,
        ci_plain_low=math.exp(lo_p),
        ci_plain_high=math.exp(hi_p),
        p_value_plain=p_plain,
        df_plain=df_plain,
    )
    if robust_cov is None:
        extra.update(se=None, df=None)
        return Estimate("log_duration_ols", math.exp(beta), None, None, n_a, n_b, n_clusters, tuple(caveats),
                        p_value=None, extra=extra)
    se = math.sqrt(float(robust_cov[j, j]))
    df = robust_df
    nested = codes is not None and within is not None and bool(
        (pd.Series(codes).groupby(within).nunique() == 1).all())
    if within is not None and not nested:
        # statsmodels scaled CR1 by (N - 1) / (N - K), K the demeaned fit's columns, and HC1 by
        # N / (N - rank); the dummy fit has n_absorbed more of both.
        k = X.shape[1] if codes is not None else rank
        se *= math.sqrt((n - k) / (n - k - n_absorbed))
        df = df if codes is not None else float(n - rank - n_absorbed)
    # Absorbed levels nested in the clusters (authors clustered by author) are not counted in K,
    # as Stata's xtreg, fe, reghdfe and fixest do: the cluster sandwich already allows for a level
    # per cluster, and counting them would inflate the variance about two-fold with two changes
    # per author (poisson_fe.py makes the same choice).
    if covariance == "CR2" and codes is not None and within is None:
        se_cr2, df_cr2 = cr2(X.to_numpy(float), plain.resid, codes, j)
        if math.isfinite(df_cr2) and df_cr2 > 0 and se_cr2 > 0:
            extra.update(covariance="CR2", se_cr1=se, df_cr1=df)
            se, df = se_cr2, df_cr2
    lo, hi, p = t_interval(beta, se, df, conf)
    extra.update(se=se, df=df)
    return Estimate(
        "log_duration_ols", math.exp(beta), math.exp(lo), math.exp(hi), n_a, n_b, n_clusters,
        tuple(caveats), p_value=p, clustered=codes is not None and n_clusters < n, extra=extra,
    )


def _levels(absorb: tuple[str, np.ndarray], n: int) -> np.ndarray:
    name, values = absorb
    labels = pd.Series(np.asarray(values, dtype=object))
    if len(labels) != n:
        raise ValueError(f"fixed effect {name!r} has {len(labels)} values, expected {n}")
    if labels.isna().any():
        raise ValueError(f"fixed effect {name!r} contains missing values")
    return pd.factorize(labels.astype(str))[0]


def _demean_1d(v: np.ndarray, within: np.ndarray) -> np.ndarray:
    sums = np.bincount(within, weights=v)
    return v - (sums / np.bincount(within))[within]


def _demean(X: pd.DataFrame, within: np.ndarray) -> pd.DataFrame:
    """Each column minus its mean within the absorbed levels. A column constant within every level
    is nested in them (a team per author): it is set to exactly zero, because the rounding left
    by the subtraction would otherwise look like a column of its own to the rank check, which
    scales every column to unit length."""
    out = {}
    for c in X.columns:
        v = X[c].to_numpy(float)
        d = _demean_1d(v, within)
        out[c] = d if np.sqrt(d @ d) > 1e-9 * max(1.0, float(np.sqrt(v @ v))) else np.zeros_like(d)
    return pd.DataFrame(out)


def identifying_groups(treatment, groups) -> tuple[int, int]:
    """How many groups (authors) have rows in both treatment groups, and how many rows those
    groups hold: with the groups as fixed effects only they carry the treatment's effect (a group
    seen on one side only is absorbed by its own level)."""
    t = _treatment(treatment)
    g = pd.Series(np.asarray(groups, dtype=object)).astype(str)
    if len(g) != len(t):
        raise ValueError(f"{len(t)} treatment values but {len(g)} group ids")
    both = pd.DataFrame({"g": g, "t": t}).groupby("g")["t"].agg(["min", "max", "size"])
    both = both[both["min"] != both["max"]]
    return len(both), int(both["size"].sum())


def _rank(X: np.ndarray) -> int:
    """Numerical rank from the eigenvalues of X'X (k x k): far cheaper than an SVD of the n x k
    design. Relative tolerance. Each column is scaled to unit length first, because the rank must
    not depend on a covariate's unit: lines changed in the tens of thousands would otherwise make
    the treatment dummy's eigenvalue look negligible and the treatment "unidentified"."""
    norms = np.sqrt(np.sum(X * X, axis=0))
    X = X[:, norms > 0] / norms[norms > 0]
    eig = np.linalg.eigvalsh(X.T @ X)
    top = float(eig.max()) if eig.size else 0.0
    return int(np.sum(eig > top * 1e-10)) if top > 0 else 0


def with_and_without_size(
    durations,
    treatment,
    size,
    *,
    size_name: str = "log_size",
    covariates: Mapping[str, np.ndarray] | None = None,
    fixed_effects: Mapping[str, np.ndarray] | None = None,
    clusters=None,
    absorb: tuple[str, np.ndarray] | None = None,
    conf: float = 0.95,
    labels: tuple[str, str] = GROUP_LABELS,
    covariance: str = "CR1",
) -> dict[str, Estimate]:
    """The regression with the size covariate added (``"adjusted"``) and without it
    (``"unadjusted"``), other covariates alike. ``size`` is used as given (pass log size).

    Both are worth reading: AI changes the size of changes, so size may be part of how the
    treatment acts (adjusting removes that part) or a confounder (not adjusting keeps it).
    """
    base = dict(covariates or {})
    if size_name in base:
        raise ValueError(f"covariate {size_name!r} is already among the covariates")
    common = dict(fixed_effects=fixed_effects, clusters=clusters, absorb=absorb, conf=conf, labels=labels,
                  covariance=covariance)
    return {
        "adjusted": log_duration_ols(durations, treatment, covariates={**base, size_name: size}, **common),
        "unadjusted": log_duration_ols(durations, treatment, covariates=base, **common),
    }
