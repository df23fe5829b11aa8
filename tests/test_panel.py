"""Published panels: Callaway-Sant'Anna with covariates (doubly robust), the Borusyak-Jaravel-Spiess
imputation estimator, and `loopmeter lift --panel`. Checked against reference computations with
statsmodels on the same small balanced panels, and on a generated panel with the structure of a
published staggered-adoption study."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from loopmeter.designs.panel import panel_lift
from loopmeter.errors import BadInput
from loopmeter.stats.did import callaway_santanna
from loopmeter.stats.imputation import NEVER, imputation_did

def small_panel(seed=1, n=60, periods=6, cohorts=(3, 5), covariate_trend=0.4):
    """Balanced panel; adoption more likely for units with a high x, whose trend is steeper:
    parallel trends hold only given x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    p_adopt = 1 / (1 + np.exp(-x))
    g = np.where(rng.random(n) < p_adopt, rng.choice(cohorts, n), 0)
    rows = []
    for i in range(n):
        a = rng.normal()
        for t in range(1, periods + 1):
            treated = g[i] and t >= g[i]
            y = a + 0.2 * t + covariate_trend * x[i] * t + (0.5 if treated else 0.0) + rng.normal(0, 0.3)
            rows.append((f"u{i:02d}", t, y, g[i], x[i], rng.normal()))
    return pd.DataFrame(rows, columns=["unit", "period", "y", "first", "x", "z"])


def reference_dr_cell(df, g, t, base, controls):
    """DR ATT(g,t) written from Sant'Anna & Zhao's formula with statsmodels' Logit and OLS."""
    wide = df.pivot(index="unit", columns="period", values="y")
    x = df.groupby("unit")["x"].first()
    first = df.groupby("unit")["first"].first()
    dy = wide[t] - wide[base]
    d = (first == g).astype(float)
    keep = (first == g) | controls(first)
    dy, d, xx = dy[keep].to_numpy(), d[keep].to_numpy(), sm.add_constant(x[keep].to_numpy())
    ps = sm.Logit(d, xx).fit(disp=0, tol=1e-12, maxiter=200).predict(xx)
    beta = sm.OLS(dy[d == 0], xx[d == 0]).fit().params
    out = xx @ beta
    w_c = ps * (1 - d) / (1 - ps)
    return float(np.mean(d * (dy - out)) / d.mean() - np.mean(w_c * (dy - out)) / w_c.mean())


def test_doubly_robust_cells_match_a_statsmodels_reference_and_remove_the_covariate_bias():
    df = small_panel()
    panel = df.rename(columns={"first": "first_treated"}).assign(
        first_treated=lambda d: d["first_treated"].replace(0, np.nan))
    r = callaway_santanna(panel, covariates=("x",), n_boot=200, seed=3)
    assert r.covariates == ("x",) and r.to_dict()["doubly_robust"] is True
    checked = 0
    for cell in r.group_time:
        ref = reference_dr_cell(df, cell.g, cell.t, cell.g - 1,
                                lambda f, t=cell.t, g=cell.g: (f == 0) | ((f > max(t, g - 1)) & (f != g)))
        assert cell.effect.att == pytest.approx(ref, abs=1e-6), (cell.g, cell.t)
        checked += 1
    assert checked >= 8
    # The overall effect: cohort-size weights over the post cells, as without covariates.
    sizes = df.groupby("unit")["first"].first().value_counts()
    post = [c for c in r.group_time if c.t >= c.g]
    w = np.array([sizes[c.g] for c in post], dtype=float)
    assert r.att == pytest.approx(float(w @ [c.effect.att for c in post] / w.sum()), abs=1e-9)
    # Adopters have steeper trends (through x): unconditional DiD is biased up, the DR one is not.
    plain = callaway_santanna(panel, n_boot=200, seed=3)
    assert abs(r.att - 0.5) < 0.15 < abs(plain.att - 0.5)
    assert r.overall.ci_low < 0.5 < r.overall.ci_high


def test_varying_base_and_anticipation_pick_the_documented_comparisons():
    df = small_panel(seed=2, covariate_trend=0.0)
    panel = df.rename(columns={"first": "first_treated"}).assign(
        first_treated=lambda d: d["first_treated"].replace(0, np.nan))
    wide = df.pivot(index="unit", columns="period", values="y")
    first = df.groupby("unit")["first"].first()

    def did(g, t, base, ctrl):
        dy = wide[t] - wide[base]
        return float(dy[first == g].mean() - dy[ctrl].mean())

    varying = callaway_santanna(panel, base_period="varying", n_boot=100)
    cell = next(c for c in varying.group_time if (c.g, c.t) == (5, 3))  # pre: period 2 -> 3
    assert cell.effect.att == pytest.approx(did(5, 3, 2, (first == 0) | (first > 3) & (first != 5)), abs=1e-12)
    assert all(not e["reference"] for e in varying.to_dict()["event_study"])
    ant = callaway_santanna(panel, anticipation=1, n_boot=100)
    cell = next(c for c in ant.group_time if (c.g, c.t) == (3, 4))  # base 3-1-1 = 1; controls adopt after 4+1
    assert cell.effect.att == pytest.approx(did(3, 4, 1, (first == 0) | (first > 5)), abs=1e-12)
    refs = [e["e"] for e in ant.to_dict()["event_study"] if e["reference"]]
    assert refs == [-2]


def long_panel_with_covariate(seed=4, n=40, periods=7):
    rng = np.random.default_rng(seed)
    g = rng.choice([3, 4, 6, NEVER], n)
    rows = []
    for i in range(n):
        a = rng.normal()
        for t in range(1, periods + 1):
            w = rng.normal()
            eff = 0.3 + 0.1 * (t - g[i]) if g[i] != NEVER and t >= g[i] else 0.0
            rows.append((i, t, a + 0.3 * t + 0.5 * w + eff + rng.normal(0, 0.4), g[i], w))
    return pd.DataFrame(rows, columns=["u", "p", "y", "g", "w"])


def test_imputation_matches_statsmodels_dummy_regression_and_the_bjs_variance():
    df = long_panel_with_covariate()
    r = imputation_did(df.u.to_numpy(), df.p.to_numpy(), df.y.to_numpy(), df.g.to_numpy(), covariates={"w": df.w.to_numpy()})
    untreated = (df.g == NEVER) | (df.p < df.g)
    fit = smf.ols("y ~ C(u) + C(p) + w", data=df[untreated]).fit()
    treated = df[~untreated].copy()
    treated["tau"] = treated.y - fit.predict(treated)
    assert r.att == pytest.approx(treated.tau.mean(), abs=1e-6)
    by_e = treated.groupby(treated.p - treated.g)["tau"].mean()
    effects = {ev["e"]: ev for ev in r.event_study if ev["kind"] == "effect"}
    for e, value in by_e.items():
        assert effects[e]["att"] == pytest.approx(value, abs=1e-6)
    # BJS's variance, from a dense design: v_0 = -Z_0 (Z_0'Z_0)^+ Z_1' w, residuals on untreated
    # rows, tau minus its cohort-period mean on treated rows; summed per unit, squared.
    z = pd.get_dummies(df[["u", "p"]].astype(str), drop_first=False).to_numpy(float)
    z = np.column_stack([z, df.w.to_numpy()])
    z0, z1 = z[untreated.to_numpy()], z[~untreated.to_numpy()]
    w1 = np.full(len(treated), 1 / len(treated))
    v0 = -z0 @ np.linalg.pinv(z0.T @ z0) @ z1.T @ w1
    e0 = fit.resid.to_numpy()
    e1 = (treated.tau - treated.groupby(["g", "p"])["tau"].transform("mean")).to_numpy()
    score = pd.Series(np.concatenate([v0 * e0, w1 * e1])).groupby(
        np.concatenate([df.u[untreated].to_numpy(), treated.u.to_numpy()])).sum()
    assert r.se == pytest.approx(math.sqrt(float(score @ score)), rel=1e-6)
    # The estimate is linear in y with those weights.
    assert r.att == pytest.approx(float(v0 @ df.y[untreated] + w1 @ treated.y), abs=1e-9)


def test_imputation_pre_trend_test_matches_statsmodels_clustered_wald():
    df = long_panel_with_covariate(seed=5)
    r = imputation_did(df.u.to_numpy(), df.p.to_numpy(), df.y.to_numpy(), df.g.to_numpy(),
                       covariates={"w": df.w.to_numpy()}, pre_periods=2)
    untreated = df[(df.g == NEVER) | (df.p < df.g)].copy()
    rel = np.where(untreated.g == NEVER, 0, untreated.p - untreated.g)
    for h in (-2, -1):
        untreated[f"pre{-h}"] = (rel == h).astype(float)
    fit = smf.ols("y ~ C(u) + C(p) + w + pre2 + pre1", data=untreated).fit(
        cov_type="cluster", cov_kwds={"groups": untreated.u.to_numpy(), "use_correction": False})
    pre = {ev["e"]: ev for ev in r.event_study if ev["kind"] == "pre_trend_coefficient"}
    g = untreated.u.nunique()
    for h in (-2, -1):
        assert pre[h]["att"] == pytest.approx(fit.params[f"pre{-h}"], abs=1e-6)
        assert pre[h]["se"] == pytest.approx(fit.bse[f"pre{-h}"] * math.sqrt(g / (g - 1)), rel=1e-6)
    b = fit.params[["pre2", "pre1"]].to_numpy()
    cov = fit.cov_params().loc[["pre2", "pre1"], ["pre2", "pre1"]].to_numpy() * g / (g - 1)
    assert r.pre_trend["statistic"] == pytest.approx(float(b @ np.linalg.solve(cov, b)) / 2, rel=1e-6)
    assert r.pre_trend["df_num"] == 2 and r.pre_trend["df_den"] == g - 1


# ------------------------------------------------------------------------------- the design + CLI


def write_panel(tmp_path, df, name="panel.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


class _Run:
    def __init__(self, result):
        self.returncode, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr


def run(*args):
    # In process (Typer's runner): a subprocess per call costs seconds of imports.
    from typer.testing import CliRunner

    from loopmeter.cli import app

    return _Run(CliRunner().invoke(app, ["lift", *map(str, args)], env={"COLUMNS": "200"}))


def monthly(df):
    out = df.copy()
    out["month"] = [f"{2024 + (p - 1) // 12}-{(p - 1) % 12 + 1:02d}" for p in out["period"]]
    out["adopted"] = [f"{2024 + (g - 1) // 12}-{(g - 1) % 12 + 1:02d}" if g else "" for g in out["first"]]
    out["commits"] = np.exp(out["y"] / 4 + 2).round(6)
    return out[["unit", "month", "commits", "adopted", "x"]]


def test_lift_panel_cli_json_shape_and_log_outcome_named(tmp_path):
    path = write_panel(tmp_path, monthly(small_panel(seed=6, covariate_trend=0.0)))
    p = run("--panel", path, "--unit", "unit", "--period", "month", "--outcome", "commits",
            "--first-treated", "adopted", "--period-unit", "month", "--log-outcome", "--covariate", "x", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["design"] == "panel" and doc["period_unit"] == "month" and doc["log_outcome"] is True
    assert [r["estimator"] for r in doc["results"]] == ["callaway_santanna", "imputation"]
    for r in doc["results"]:
        assert {"estimator", "outcome", "estimate", "ci_low", "ci_high", "percent_change", "n_units",
                "n_treated_units", "event_study", "checks", "clustered"} <= set(r)
        assert r["clustered"] is True and r["outcome"] == "commits" and "ratio" not in r
        pc = r["percent_change"]
        assert pc["definition"].startswith("exp(beta) - 1")
        assert pc["estimate"] == pytest.approx(100 * math.expm1(r["estimate"]))
        assert r["checks"][0]["check"] == "pre_trends" and r["checks"][0]["status"] in ("fired", "not_fired")
        # Planted: 0.5/4 on the log scale, i.e. +13.3%.
        assert r["ci_low"] < 0.125 < r["ci_high"]
    text = run("--panel", path, "--unit", "unit", "--period", "month", "--outcome", "commits",
               "--first-treated", "adopted", "--period-unit", "month", "--log-outcome").stdout
    assert "exp(beta) - 1" in text and "ratio of means" not in text


def test_duplicates_conflicts_and_adoption_problems_are_reported(tmp_path):
    df = small_panel(seed=7, n=30, covariate_trend=0.0)
    dup = pd.concat([df, df.iloc[[4, 9]]])
    doc = panel_lift(write_panel(tmp_path, dup, "dup.csv"), unit="unit", period="period", outcome="y",
                     first_treated="first", estimator="imputation")
    assert any("2 row(s) repeat an earlier row exactly and were dropped" in w for w in doc["warnings"])
    assert doc["n_rows_used"] == len(df)

    conflict = pd.concat([df, df.iloc[[4]].assign(y=99.0)])
    path = write_panel(tmp_path, conflict, "conflict.csv")
    unit, period = df.iloc[4]["unit"], df.iloc[4]["period"]
    with pytest.raises(BadInput, match=rf"conflict\.csv:{len(df) + 2}: unit '{unit}' period '{period}' appears again "
                                       r"with different values \(first on line 6\)"):
        panel_lift(path, unit="unit", period="period", outcome="y", first_treated="first")
    p = run("--panel", path, "--unit", "unit", "--period", "period", "--outcome", "y", "--first-treated", "first")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "appears again" in p.stderr

    adopter = df[df["first"] > 0]["unit"].iloc[0]
    moved = df.copy()
    moved.loc[(moved.unit == adopter) & (moved.period == 6), "first"] = 0
    with pytest.raises(BadInput, match=rf"unit '{adopter}' has first-treated no adoption \(empty\) here but .* on line"):
        panel_lift(write_panel(tmp_path, moved.replace({"first": {0: ""}}), "moved.csv"), unit="unit",
                   period="period", outcome="y", first_treated="first")

    late = df.copy()
    late.loc[late.unit == adopter, "first"] = 9  # after the panel's last period
    doc = panel_lift(write_panel(tmp_path, late, "late.csv"), unit="unit", period="period", outcome="y",
                     first_treated="first", estimator="imputation")
    assert any("first-treated period after their last row" in w and adopter in w for w in doc["warnings"])
    with pytest.raises(BadInput, match=r"column 'period': 'x1' is not an integer period"):
        panel_lift(write_panel(tmp_path, df.assign(period="x1"), "bad.csv"), unit="unit", period="period",
                   outcome="y", first_treated="first")


# ------------------------------------------------------------------ a published study's structure


@pytest.mark.slow
def test_a_cursor_adoption_shaped_panel_is_recovered_within_the_intervals(tmp_path):
    """The structure of He, Miller, Agarwal, Kästner & Vasilescu (MSR 2026, arXiv 2511.04427): 807
    repositories adopting Cursor between January 2024 and March 2025 and 1,380 matched repositories
    that never do, monthly. The effects planted are the sizes reported for that study: lines added
    +281% in the first month after adoption and +48% in the second, nothing after (transient), and
    code complexity +41% from adoption on (persistent). Generated here; no data of theirs is used."""
    rng = np.random.default_rng(2026)
    months = 20  # 2024-01 .. 2025-08
    n_adopt, n_ctrl = 807, 1380
    first = np.concatenate([rng.integers(2, 16, n_adopt), np.zeros(n_ctrl, dtype=int)])  # 2024-02 .. 2025-03
    n = first.size
    unit_level = rng.normal(6, 1.2, n)
    trend = rng.normal(0, 0.02, n)
    t = np.arange(1, months + 1)
    e = t[None, :] - first[:, None]
    adopted = (first > 0)[:, None]
    velocity = np.where(adopted & (e == 0), math.log(3.81), 0.0) + np.where(adopted & (e == 1), math.log(1.48), 0.0)
    lines = np.exp(unit_level[:, None] + trend[:, None] * t + 0.05 * np.sin(t / 3) + velocity
                   + rng.normal(0, 0.5, (n, months)))
    complexity = np.exp(unit_level[:, None] / 2 + 0.01 * t + np.where(adopted & (e >= 0), math.log(1.41), 0.0)
                        + rng.normal(0, 0.3, (n, months)))
    df = pd.DataFrame({
        "repo": np.repeat([f"r{i}" for i in range(n)], months),
        "month": np.tile([f"{2024 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}" for m in t], n),
        "lines_added": lines.ravel().round(3), "complexity": complexity.ravel().round(4),
        "cursor_month": np.repeat([f"{2024 + (g - 1) // 12}-{(g - 1) % 12 + 1:02d}" if g else "" for g in first],
                                  months),
    })
    path = write_panel(tmp_path, df, "cursor_like.csv")
    common = dict(unit="repo", period="month", first_treated="cursor_month", period_unit="month", log_outcome=True,
                  n_boot=199)
    cx = panel_lift(path, outcome="complexity", **common)
    for r in cx["results"]:
        assert r["n_units"] == n and r["n_treated_units"] == n_adopt
        assert r["percent_change"]["ci_low"] < 41.0 < r["percent_change"]["ci_high"], r["estimator"]
    velocity_doc = panel_lift(path, outcome="lines_added", **common)
    for r in velocity_doc["results"]:
        points = {p["e"]: p for p in r["event_study"] if p.get("kind", "effect") == "effect"}
        assert points[0]["percent_change"]["ci_low"] < 281.0 < points[0]["percent_change"]["ci_high"], r["estimator"]
        assert points[1]["percent_change"]["ci_low"] < 48.0 < points[1]["percent_change"]["ci_high"], r["estimator"]
        assert points[4]["ci_low"] < 0.0 < points[4]["ci_high"]
        assert r["checks"][0]["status"] in ("fired", "not_fired")


def test_doubly_robust_influence_function_matches_drdid_written_with_statsmodels():
    """The influence function of one cell, written as DRDID's drdid_panel does it, from statsmodels'
    Logit (its covariance is the inverse Hessian) and OLS: equal to ours row by row."""
    from loopmeter.stats.drdid import dr_att

    rng = np.random.default_rng(8)
    n = 300
    x = rng.normal(0, 1, (n, 2))
    d = rng.random(n) < 1 / (1 + np.exp(-(0.3 + x @ [0.8, -0.5])))
    dy = 0.5 * d + x @ [0.4, 0.2] + rng.normal(0, 1, n)
    att, inf = dr_att(dy, d, x)
    xi = sm.add_constant(x)
    dd = d.astype(float)
    logit = sm.Logit(dd, xi).fit(disp=0, tol=1e-12, maxiter=200)
    ps = logit.predict(xi)
    beta = sm.OLS(dy[~d], xi[~d]).fit().params
    out = xi @ beta
    w_t, w_c = dd, ps * (1 - dd) / (1 - ps)
    eta_t = np.mean(w_t * (dy - out)) / w_t.mean()
    eta_c = np.mean(w_c * (dy - out)) / w_c.mean()
    assert att == pytest.approx(eta_t - eta_c, abs=1e-9)
    lin_ols = ((1 - dd) * (dy - out))[:, None] * xi @ np.linalg.inv(((1 - dd)[:, None] * xi).T @ xi / n)
    lin_ps = ((dd - ps)[:, None] * xi) @ (logit.cov_params() * n)
    inf_t = (w_t * (dy - out) - w_t * eta_t - lin_ols @ np.mean(w_t[:, None] * xi, axis=0)) / w_t.mean()
    inf_c = (w_c * (dy - out) - w_c * eta_c + lin_ps @ np.mean((w_c * (dy - out - eta_c))[:, None] * xi, axis=0)
             - lin_ols @ np.mean(w_c[:, None] * xi, axis=0)) / w_c.mean()
    assert inf == pytest.approx(inf_t - inf_c, abs=1e-6)
    # And its variance is the one a unit bootstrap of the whole estimator sees (to simulation error).
    reps = []
    for _ in range(300):
        i = rng.integers(0, n, n)
        reps.append(dr_att(dy[i], d[i], x[i])[0])
    assert np.std(reps) == pytest.approx(np.sqrt(np.mean(inf**2) / n), rel=0.15)
