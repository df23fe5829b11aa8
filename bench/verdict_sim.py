"""How often the verdict says the right thing about simulated teams with planted truths.

Each run writes the scenario's repositories with `git fast-import` (tests/lift_sim.py), ingests
them into a fresh store and runs the before-after (and AI-vs-human) designs with the planted
adoption date, then the verdict (lift/verdict.py). Scenarios (tests/lift_sim.py SCENARIOS):

- effect: 12 authors, 24 weeks, adoption at week 12, cycle time 0.7x and throughput 1.5x after;
- null: the same team, AI used on half the changes after adoption, nothing planted;
- simpson: two repositories, each 0.8x faster after adoption, whose mix makes the pooled ratio > 1;
- ai_effect: the null team whose AI-assisted changes take 0.85x as long (the AI-vs-human power);
- null_people: the null team whose people differ (own pace, own AI effect around none, AI use
  from 10% to 90%), where clustering by person matters most.
- null_weeks: the null team whose weeks differ (a log-normal multiplier per week on every cycle
  time, log sd 0.3, and on the week's Poisson rate of extra changes, log sd 0.5);
- effect_weeks / effect_small: 0.85x cycle time and 1.15x throughput, with / without week shocks.

--direct-before-after RUNS tests the before/after headlines' ratio = 1 at 5% with each way of
clustering (author, week, both, the wider of two) on rows drawn straight from the generator
(bench/README.md has the tables).

--direct-reverts RUNS tests the revert-rate question's ratio = 1 at 5% (the author bootstrap and
the Poisson rate ratio's CR1 by author, by week, two ways, and the wider) on rows drawn straight
from the generator with reverts planted (tests/lift_sim.py REVERT_SCENARIOS; bench/README.md).

--candidates also tests ratio = 1 at 5% on every cycle-time regression the designs fit with each
candidate interval (CR1 on G - 1, CR2 with Bell-McCaffrey df, the wild cluster bootstrap-t);
--direct RUNS does only that, on the AI-vs-human rows drawn straight from the generator (no git,
no ingest: thousands of runs in minutes), which is how the headline's interval was picked.

Prints, per scenario and question, the share of runs with each status and (effect) how often the
planted truth is inside the headline interval, with 95% Wilson bands. Targets (issue 10): null ->
`no_detectable_change` in at least 93% of runs; effect -> `improved` with the truth inside the
interval; simpson -> `inconsistent` or the within-repository answer (`improved`), never `worsened`.

    /work/main/.venv/bin/python bench/verdict_sim.py --runs 100 [--scenario null] [--n-boot 200]

Last measured: docs/metrics.md "Verdict" has the tables (both the pipeline's statuses and the
candidates' rejection rates). About 6-30 s a run on a shared 2-core machine; --direct 2000 about
2-5 minutes a scenario.

The bootstrap replicates of the headline rows are --n-boot (the cycle-time headlines are
regressions and have none); the specification table's alternatives use SPEC_BOOT as in a report
unless --spec-boot says otherwise.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import timedelta
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from lift_sim import SCENARIOS, START, run_scenario  # noqa: E402

TRUTH = {("ai_effect", "cycle_time_ai_vs_human"): 0.85, ("effect", "cycle_time_after_vs_before"): 0.7, ("effect", "throughput_after_vs_before"): 1.5,
         ("null", "cycle_time_after_vs_before"): 1.0, ("null", "throughput_after_vs_before"): 1.0,
         ("null", "cycle_time_ai_vs_human"): 1.0,
         ("null_people", "cycle_time_ai_vs_human"): 1.0, ("null_people", "cycle_time_after_vs_before"): 1.0, ("effect", "cycle_time_ai_vs_human"): 1.0,
         ("null_weeks", "cycle_time_after_vs_before"): 1.0, ("null_weeks", "throughput_after_vs_before"): 1.0,
         ("effect_weeks", "cycle_time_after_vs_before"): 0.85, ("effect_weeks", "throughput_after_vs_before"): 1.15,
         ("effect_small", "cycle_time_after_vs_before"): 0.85, ("effect_small", "throughput_after_vs_before"): 1.15}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


# --------------------------------------------------------------------------- interval candidates
# With --candidates, every cycle-time regression the designs fit (the AI-vs-human headline
# `log_duration_regression_size`, the after/before one `log_duration_regression`) is refitted here
# on the same rows and tested for ratio = 1 at 5% by each candidate: CR1 with t on G - 1 (what
# statsmodels' cluster covariance gives), CR2 with Bell-McCaffrey df (stats/cr2.py), and the wild
# cluster bootstrap-t (null imposed, Webb's six-point weights, WILD_REPS replicates; MacKinnon and
# Webb 2017). The share of runs each rejects is its false-positive rate (null) or power.

WILD_REPS = 999
WEBB = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
CANDIDATES = ("CR1 t(G-1)", "CR2 Bell-McCaffrey", "wild bootstrap-t (Webb)")


def _cr1_se(X, e, codes, j, B):
    G, (n, k) = codes.max() + 1, X.shape
    s = np.zeros((G, k))
    np.add.at(s, codes, X * e[:, None])
    meat = s.T @ s
    scale = G / (G - 1) * (n - 1) / (n - k)
    return math.sqrt(scale * (B @ meat @ B)[j, j])


def _wild_p(X, y, codes, j, rng):
    """Two-sided p of beta_j = 0: restricted residuals times one Webb weight per cluster, the CR1 t
    of each replicate against the observed one (vectorised over replicates)."""
    G, (n, k) = codes.max() + 1, X.shape
    B = np.linalg.pinv(X.T @ X)
    beta = B @ X.T @ y
    t_obs = beta[j] / _cr1_se(X, y - X @ beta, codes, j, B)
    Xr = np.delete(X, j, axis=1)
    fitted_r = Xr @ np.linalg.lstsq(Xr, y, rcond=None)[0]
    u = y - fitted_r
    w = rng.choice(WEBB, size=(G, WILD_REPS))[codes]  # n x R
    Y = fitted_r[:, None] + u[:, None] * w
    betas = B @ X.T @ Y  # k x R
    E = Y - X @ betas
    c = B[:, j]
    xc = X @ c  # each row's weight in beta_j
    s = np.zeros((G, WILD_REPS))
    np.add.at(s, codes, xc[:, None] * E)
    scale = G / (G - 1) * (n - 1) / (n - k)
    t = betas[j] / np.sqrt(scale * (s * s).sum(axis=0))
    return float(np.mean(np.abs(t) >= abs(t_obs)))


def candidate_rejections(g, rng) -> dict[str, bool]:
    """Whether each candidate rejects ratio = 1 at 5% on the size-adjusted regression's rows."""
    import pandas as pd
    import scipy.stats
    from loopmeter.stats.cr2 import cr2
    from loopmeter.stats.regression import design_matrix

    rows = pd.concat([g.a.assign(treated=True), g.b.assign(treated=False)], ignore_index=True)
    rows = rows[rows["observed"] & rows["size_lines"].notna()]
    fe = {"repo": rows["repo"].to_numpy(object)} if rows["repo"].nunique() > 1 else None
    size = {"log1p_lines": np.log1p(rows["size_lines"].to_numpy(float))}
    X = design_matrix(rows["treated"].to_numpy(bool), size, fe).to_numpy(float)
    y = np.log(rows["cycle_hours"].to_numpy(float))
    codes = pd.factorize(rows["author_id"].astype(str))[0]
    G, j = codes.max() + 1, 1
    B = np.linalg.pinv(X.T @ X)
    beta = B @ X.T @ y
    e = y - X @ beta
    p1 = 2 * scipy.stats.t.sf(abs(beta[j] / _cr1_se(X, e, codes, j, B)), G - 1)
    se2, df2 = cr2(X, e, codes, j)
    p2 = 2 * scipy.stats.t.sf(abs(beta[j] / se2), df2)
    return dict(zip(CANDIDATES, (p1 < 0.05, p2 < 0.05, _wild_p(X, y, codes, j, rng) < 0.05)))


def direct_candidates(name: str, runs: int, first_seed: int) -> None:
    """The candidates on the scenario's AI-vs-human rows drawn straight from its generator
    (tests/lift_sim.py `events`: the changes after adoption, no git, no ingest), so thousands of
    seeded runs take seconds: the same data the full pipeline sees, minus what ingest could change."""
    import pandas as pd
    from lift_sim import events, scenario_teams

    from loopmeter.lift.durations import Groups

    teams = scenario_teams(name)
    hits = {c: 0 for c in CANDIDATES}
    rng = np.random.default_rng(first_seed)
    t0 = time.perf_counter()
    for seed in range(first_seed, first_seed + runs):
        frames = []
        for i, t in enumerate(teams):
            ev = events(t, np.random.default_rng(seed * 10 + i))
            week0 = START + timedelta(weeks=t.adoption_week)
            frames.append(pd.DataFrame([{"cycle_hours": c, "author_id": str(a), "ai": ai, "size_lines": n,
                                         "repo": t.name, "observed": True} for d, c, a, ai, n in ev if d >= week0]))
        df = pd.concat(frames, ignore_index=True)
        g = Groups(a=df[df["ai"]], b=df[~df["ai"]], labels=("a", "b"))
        for c, hit in candidate_rejections(g, rng).items():
            hits[c] += hit
    secs = time.perf_counter() - t0
    print(f"{name}, AI vs human regression + size straight from the generator: {runs} runs, {secs:.0f} s; "
          "ratio = 1 rejected at 5%:")
    for c in CANDIDATES:
        lo, hi = wilson(hits[c], runs)
        print(f"    {c}: {hits[c]}/{runs} = {hits[c] / runs:.1%} [{lo:.1%}, {hi:.1%}]")


# --------------------------------------------------------------------------- before/after, weekly shocks
# --direct-before-after RUNS: the before/after headlines' tests of ratio = 1 on rows drawn straight
# from the generator (every change of the 24 weeks, after = landed in or after the adoption week;
# every author lands something every week, so each author-week has exposure 1), refitted with
# each way of clustering on the same draws. Cycle time: log(hours) ~ after (the headline
# `log_duration_regression`; one repository, so no fixed effect) with CR2 by author (the
# headline's interval), CR1 or CR2 by week, or two-way by author and week (stats/twoway.py).
# Throughput: the Poisson rate ratio with author fixed effects (the headline `poisson_author_fe`,
# CR1 by author) and its sandwich clustered by week or two ways on the author-week counts.

BA_CYCLE = ("CR2 author (old headline)", "CR1 week t(G-1)", "CR2 week Bell-McCaffrey", "two-way author+week t(minG-1)",
            "larger of CR2 author, CR2 week (headline)", "author FE, CR1 author t(G-1)", "author FE, CR1 week t(G-1)",
            "author FE, two-way t(minG-1)", "author FE, larger of CR1 author, CR1 week")
BA_RATE = ("CR1 author (old headline)", "CR1 week t(G-1)", "two-way author+week t(minG-1)",
           "larger of CR1 author, CR1 week (headline)")


def before_after_rejections(ev, adoption_week: int) -> dict[str, bool]:
    """Whether each way of clustering rejects ratio = 1 at 5%, for cycle time and throughput."""
    import scipy.stats
    from loopmeter.stats.cr2 import cr2
    from loopmeter.stats.poisson_fe import poisson_rate_ratio_author_fe
    from loopmeter.stats.twoway import ols_contributions, one_way_var, poisson_fe_contributions, two_way_var

    week = np.array([(d - START).days // 7 for d, *_ in ev])
    author = np.array([a for _, _, a, _, _ in ev])
    after = week >= adoption_week
    y = np.log([c for _, c, *_ in ev])
    X = np.column_stack([np.ones(len(y)), after.astype(float)])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    e = y - X @ beta
    contrib = ols_contributions(X, e, 1)

    def p(se, df):
        return 2 * scipy.stats.t.sf(abs(beta[1] / se), df)

    se_a, df_a = cr2(X, e, author, 1)
    v_w, g_w = one_way_var(contrib, week, n_k=X.shape)
    se_w2, df_w2 = cr2(X, e, week, 1)
    v_2, df_2, _ = two_way_var(contrib, author, week, n_k=X.shape)
    ps = [p(se, df) for se, df in ((se_a, df_a), (np.sqrt(v_w), g_w - 1), (se_w2, df_w2), (np.sqrt(v_2), df_2))]
    ps.append(max(ps[0], ps[2]))
    # Author fixed effects (the within transform): each author's changes against their own, so a
    # person's own pace leaves the residuals and the week sums no longer carry it.
    codes = np.unique(author, return_inverse=True)[1]
    cnt = np.bincount(codes)
    xd = after - (np.bincount(codes, after) / cnt)[codes]
    yd = y - (np.bincount(codes, y) / cnt)[codes]
    bf = float(xd @ yd / (xd @ xd))
    cf = xd * (yd - bf * xd) / (xd @ xd)
    nk = (len(y), 1 + len(cnt))
    fa, ga = one_way_var(cf, author, n_k=nk)
    fw, gw = one_way_var(cf, week, n_k=nk)
    f2, fdf, _ = two_way_var(cf, author, week, n_k=nk)
    pf = [2 * scipy.stats.t.sf(abs(bf) / np.sqrt(v), df) for v, df in ((fa, ga - 1), (fw, gw - 1), (f2, fdf))]
    pf.append(max(pf[0], pf[1]))
    out = {("cycle", c): pv < 0.05 for c, pv in zip(BA_CYCLE, ps + pf)}
    # Throughput on the author-week counts.
    na, nw = author.max() + 1, week.max() + 1
    counts = np.zeros((na, nw))
    np.add.at(counts, (author, week), 1)
    after_w = np.arange(nw) >= adoption_week
    ya, yb = counts[:, after_w].sum(1), counts[:, ~after_w].sum(1)
    xa, xb = np.full(na, float(after_w.sum())), np.full(na, float((~after_w).sum()))
    fe = poisson_rate_ratio_author_fe(ya, xa, yb, xb)
    # The same fit's contributions per author-week (summed by author: the headline's own sandwich).
    b = fe.extra["beta"]
    c = poisson_fe_contributions(counts, np.ones_like(counts), after_w, b)
    aa, ww = np.repeat(np.arange(na), nw), np.tile(np.arange(nw), na)
    v_w, g_w = one_way_var(c, ww)
    v_2, df_2, _ = two_way_var(c, aa, ww)
    pr = [fe.p_value] + [2 * scipy.stats.t.sf(abs(b / np.sqrt(v)), df) for v, df in ((v_w, g_w - 1), (v_2, df_2))]
    pr.append(max(pr[0], pr[1]))
    for name, pv in zip(BA_RATE, pr):
        out[("throughput", name)] = pv < 0.05
    return out


def direct_before_after(name: str, runs: int, first_seed: int) -> None:
    from lift_sim import events, scenario_teams

    (team,) = scenario_teams(name)
    hits: Counter = Counter()
    t0 = time.perf_counter()
    for seed in range(first_seed, first_seed + runs):
        for k, hit in before_after_rejections(events(team, np.random.default_rng(seed * 10)), team.adoption_week).items():
            hits[k] += hit
    secs = time.perf_counter() - t0
    print(f"{name}, before/after straight from the generator: {runs} runs, {secs:.0f} s; ratio = 1 rejected at 5%:")
    for metric, names in (("cycle", BA_CYCLE), ("throughput", BA_RATE)):
        for c in names:
            k = hits[(metric, c)]
            lo, hi = wilson(k, runs)
            print(f"    {metric:10s} {c}: {k}/{runs} = {k / runs:.1%} [{lo:.1%}, {hi:.1%}]", flush=True)


# --------------------------------------------------------------------------- revert rate
# --direct-reverts RUNS: the revert-rate question's test of ratio = 1 on rows drawn straight from
# the generator with reverts planted (tests/lift_sim.py `reverts`, REVERT_SCENARIOS: 3% of changes,
# people's and weeks' shocks on that probability, a 0.5x effect). Reverted over changes, after /
# before, every change judged: the author bootstrap of `ratio_of_rates` (the old headline, 2000
# replicates as in a report: rejects when its interval excludes 1), the Poisson rate ratio with
# CR1 (stats/rates.py) by author or by week, the wider of those two (as throughput), and the
# two-way (author and week) variance of the same score (stats/twoway.py, t on min(G) - 1).

REV = ("author bootstrap (old headline)", "CR1 author t(G-1)", "CR1 week t(G-1)", "two-way author+week t(minG-1)",
       "wider of CR1 author, CR1 week")
REV_BOOT = 2000


def revert_rejections(team, ev, reverted, seed: int) -> dict[str, bool | None]:
    """Whether each candidate rejects ratio = 1 at 5% (None: no estimate, e.g. a side without reverts)."""
    import scipy.stats
    from loopmeter.stats.lift import ratio_of_rates
    from loopmeter.stats.rates import rate_ratio_cr1
    from loopmeter.stats.twoway import two_way_var

    week = np.array([(d - START).days // 7 for d, *_ in ev])
    author = np.array([a for _, _, a, _, _ in ev])
    after = week >= team.adoption_week
    y = reverted.astype(float)

    def tables(codes, g):
        return (np.bincount(codes[after], y[after], g), np.bincount(codes[after], minlength=g).astype(float),
                np.bincount(codes[~after], y[~after], g), np.bincount(codes[~after], minlength=g).astype(float))

    by_author = tables(author, author.max() + 1)
    by_week = tables(week, week.max() + 1)
    boot = ratio_of_rates(*by_author, n_boot=REV_BOOT, seed=seed)
    ca, cw = rate_ratio_cr1(*by_author), rate_ratio_cr1(*by_week)
    out: dict[str, bool | None] = {REV[0]: None if boot.ci_low is None else not boot.ci_low <= 1 <= boot.ci_high}
    out[REV[1]] = None if ca.p_value is None else ca.p_value < 0.05
    out[REV[2]] = None if cw.p_value is None else cw.p_value < 0.05
    if ca.p_value is None or cw.p_value is None:
        out[REV[3]] = out[REV[4]] = None
        return out
    # Each change's share of the log-ratio score (summed by author it is rate_ratio_cr1's u).
    fa, fb = y[after].sum(), y[~after].sum()
    ra, rb = fa / after.sum(), fb / (~after).sum()
    c = np.where(after, (y - ra) / fa, -(y - rb) / fb)
    v2, df2, _ = two_way_var(c, author, week)
    out[REV[3]] = bool(2 * scipy.stats.t.sf(abs(np.log(ca.ratio)) / np.sqrt(v2), df2) < 0.05)
    out[REV[4]] = max(ca.p_value, cw.p_value) < 0.05
    return out


def direct_reverts(name: str, runs: int, first_seed: int, authors: int | None = None) -> None:
    from dataclasses import replace

    from lift_sim import events, revert_team, reverts

    team = revert_team(name)
    if authors:  # a larger team: more reverts a week, so week shocks weigh more
        team = replace(team, authors=authors)
    hits: Counter = Counter()
    none: Counter = Counter()
    n_rev = []
    t0 = time.perf_counter()
    for seed in range(first_seed, first_seed + runs):
        ev = events(team, np.random.default_rng(seed * 10))
        rv = reverts(team, ev, seed)
        n_rev.append(int(rv.sum()))
        for k, hit in revert_rejections(team, ev, rv, seed).items():
            hits[k] += bool(hit)
            none[k] += hit is None
    secs = time.perf_counter() - t0
    print(f"{name}, revert rate straight from the generator (p {team.revert_p}, ratio {team.revert_ratio}, "
          f"author sd {team.revert_author_sd}, week sd {team.revert_week_sd}, {team.authors} authors): {runs} runs, {secs:.0f} s, "
          f"median {int(np.median(n_rev))} reverts a run; ratio = 1 rejected at 5%:")
    for c in REV:
        k = hits[c]
        lo, hi = wilson(k, runs)
        print(f"    {c}: {k}/{runs} = {k / runs:.1%} [{lo:.1%}, {hi:.1%}]  (no estimate {none[c]})", flush=True)


def capture_candidates(seen: dict[str, list[dict]], seed: int) -> None:
    """Wrap the designs' regression step so each design's rows are tested by every candidate."""
    from loopmeter.lift import durations

    fit = durations._regressions
    rng = np.random.default_rng(seed)

    def wrapped(g):
        key = "cycle_time_ai_vs_human" if g.labels == durations.LABELS["ai_assisted/human"] else \
            "cycle_time_after_vs_before"
        if len(seen.setdefault(key, [])) < seen["_run"]:
            seen[key].append(candidate_rejections(g, rng))
        return fit(g)

    durations._regressions = wrapped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100, help="seeded runs per scenario")
    ap.add_argument("--scenario", choices=SCENARIOS, action="append", help="only these (repeatable)")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--spec-boot", type=int, default=None,
                    help="bootstrap replicates of the specification table's alternatives (default: SPEC_BOOT)")
    ap.add_argument("--candidates", action="store_true",
                    help="also test each cycle-time regression's ratio = 1 by CR1, CR2 and the wild cluster bootstrap")
    ap.add_argument("--direct", type=int, default=0, metavar="RUNS",
                    help="only the candidates, on RUNS draws of each scenario's AI-vs-human rows (no git, no ingest)")
    ap.add_argument("--direct-before-after", type=int, default=0, metavar="RUNS",
                    help="only the before/after headlines' tests by each way of clustering (author, week, both), "
                         "on RUNS draws of each one-team scenario (no git, no ingest)")
    ap.add_argument("--direct-reverts", type=int, default=0, metavar="RUNS",
                    help="only the revert-rate question's candidate tests, on RUNS draws of each revert scenario "
                         "(tests/lift_sim.py REVERT_SCENARIOS; no git, no ingest)")
    ap.add_argument("--revert-scenario", action="append", help="with --direct-reverts: only these (repeatable)")
    ap.add_argument("--revert-authors", type=int, default=None,
                    help="with --direct-reverts: this many authors instead of the scenario's 12")
    args = ap.parse_args()
    if args.direct_reverts:
        from lift_sim import REVERT_SCENARIOS

        for name in args.revert_scenario or REVERT_SCENARIOS:
            direct_reverts(name, args.direct_reverts, args.first_seed, args.revert_authors)
        return
    if args.direct_before_after:
        for name in args.scenario or ("null", "null_people", "null_weeks", "effect", "effect_weeks",
                                         "effect_small"):
            direct_before_after(name, args.direct_before_after, args.first_seed)
        return
    if args.direct:
        for name in args.scenario or ("null", "null_people", "ai_effect"):
            direct_candidates(name, args.direct, args.first_seed)
        return
    if args.spec_boot:
        from loopmeter.lift import designs, specification

        specification.SPEC_BOOT = designs.SPEC_BOOT = args.spec_boot
    for name in args.scenario or SCENARIOS:
        status: dict[str, Counter] = {}
        covered: dict[str, list[bool]] = {}
        cands: dict = {"_run": 0}
        if args.candidates:
            capture_candidates(cands, args.first_seed)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.first_seed, args.first_seed + args.runs):
                run_dir = Path(tmp) / str(seed)
                run_dir.mkdir()
                cands["_run"] += 1
                out = run_scenario(run_dir, name, seed, n_boot=args.n_boot)
                print(f"  {name} seed {seed}: " + ", ".join(f"{e['question']} {e['status']}" for e in out["verdict"]),
                      flush=True)
                for e in out["verdict"]:
                    status.setdefault(e["question"], Counter())[e["status"]] += 1
                    truth = TRUTH.get((name, e["question"]))
                    h = e["headline"] or {}
                    if truth is not None and h.get("ci_low") is not None:
                        covered.setdefault(e["question"], []).append(h["ci_low"] <= truth <= h["ci_high"])
        secs = time.perf_counter() - t0
        print(f"\n{name}: {args.runs} runs, {secs:.0f} s ({secs / args.runs:.1f} s a run)")
        for q, c in status.items():
            n = sum(c.values())
            parts = []
            for s, k in c.most_common():
                lo, hi = wilson(k, n)
                parts.append(f"{s} {k / n:.1%} [{lo:.1%}, {hi:.1%}]")
            print(f"  {q}: " + "; ".join(parts))
            if q in covered:
                k, m = sum(covered[q]), len(covered[q])
                lo, hi = wilson(k, m)
                print(f"    truth {TRUTH[(name, q)]} inside the headline interval: {k}/{m} = {k / m:.1%} [{lo:.1%}, {hi:.1%}]")
        for q, runs in cands.items():
            if q == "_run" or not runs:
                continue
            print(f"  {q} regression + size, ratio = 1 rejected at 5% over {len(runs)} runs:")
            for c in CANDIDATES:
                k = sum(r[c] for r in runs)
                lo, hi = wilson(k, len(runs))
                print(f"    {c}: {k}/{len(runs)} = {k / len(runs):.1%} [{lo:.1%}, {hi:.1%}]")


if __name__ == "__main__":
    main()
