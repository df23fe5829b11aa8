"""Quality after vs before adoption, and how much AI the "after" period actually had.

- Revert rate: changes reverted within the validation window per change old enough to be judged
  (pending changes, younger than the window, are left out: they may still be reverted). Authors
  and landing weeks are the clusters, as for throughput: the headline `stats.rates.rate_ratio_cr1`
  with the wider of its CR1 intervals by author and by week, the author bootstrap
  (`stats.lift.ratio_of_rates`) as a specification.
- Change failure rate: production deployments judged failed (metrics/dora.py: a revert of what
  they shipped, a hotfix or a linked incident within the failure window) per deployment judged
  (pending deployments, younger than the window, and failed attempts are left out), in the period
  of their repository's adoption they were deployed in. Weeks are the clusters (the headline
  `stats.rates.rate_ratio_cr1`, a CR1 interval with t on G - 1; the bootstrap of whole weeks,
  `stats.lift.ratio_of_rates`, as a specification): a deployment has
  no author, the deployments of one week share the code in flight, the people on call and even
  their failure signals (one hotfix fails every deployment of the window before it), and a
  failure rarely reaches into the next week; repositories would be clusters too, but a report
  rarely has the ten they would need.
- Exposure: the share of the non-bot changes landed in each period that are AI-assisted. A
  before/after difference at 4% AI exposure is not evidence about AI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import deploys, dora, portable
from ..metrics.changes import Window
from ..stats.lift import Estimate, ratio_of_rates
from ..stats.rates import ESTIMATOR as RATE_CR1, rate_ratio_cr1
from ..stats.wider_interval import wider_of_author_and_week
from .inputs import Periods, monday, no_estimate, tracker_repos
from .results import CHANGE_FAILURE_RATE, LABELS, REVERT_RATE, author_period_tables, effective_clusters, result_row


def _landed_in_periods(df: pd.DataFrame, p: Periods) -> pd.DataFrame:
    done = df[df["observed"]]
    period = p.label(done["repo"], pd.to_datetime(done["done_at"]).dt.date)
    return done[period.notna()].assign(period=period[period.notna()])


def exposure(df: pd.DataFrame, p: Periods) -> dict:
    """The AI-assisted share of the non-bot changes landed in each period (lower bounds, as every
    AI share: an unsigned AI change counts as human)."""
    d = _landed_in_periods(df, p)
    out: dict = {}
    for period in ("after", "before"):
        x = d[d["period"] == period]
        out[f"ai_share_{period}"] = float(x["ai_assisted"].astype(bool).mean()) if len(x) else None
        out[f"changes_{period}"] = int(len(x))
    return out


def revert_rate_before_after(df: pd.DataFrame, p: Periods, *, seed: int, n_boot: int) -> list[dict]:
    """Reverted / judged changes per period, after / before (lower is better): the headline
    `rate_ratio_cr1` whose interval is the wider of CR1 by author and CR1 by landing week
    (`_wider_of_authors_and_weeks`), then the author bootstrap's `ratio_of_rates` as a specification."""
    d = _landed_in_periods(df, p)
    judged = d[d["state"] != "pending"]
    n_after, n_before = int((judged["period"] == "after").sum()), int((judged["period"] == "before").sum())
    if judged.empty or not n_after or not n_before:
        why = "A period has no change old enough to know whether it was reverted."
        return [result_row("before-after", REVERT_RATE, "after/before",
                           no_estimate(name, 0, 0, int(judged["author_id"].nunique()), why),
                           n_changes_a=n_after, n_changes_b=n_before) for name in (RATE_CR1, "ratio_of_rates")]
    g = judged.assign(reverted=(judged["state"] == "reverted").astype(int))
    ev, ex = author_period_tables(g, "reverted", g)
    arrays = (ev["after"].to_numpy(float), ex["after"].to_numpy(float), ev["before"].to_numpy(float),
              ex["before"].to_numpy(float))
    fields = dict(n_changes_a=n_after, n_changes_b=n_before,
                  n_clusters_a=int((ex["after"] > 0).sum()), n_clusters_b=int((ex["before"] > 0).sum()),
                  effective_clusters_a=effective_clusters(ex["after"]),
                  effective_clusters_b=effective_clusters(ex["before"]),
                  revert_rate_a=float(np.sum(ev["after"]) / n_after),
                  revert_rate_b=float(np.sum(ev["before"]) / n_before))
    week = g.assign(author_id=pd.to_datetime(g["done_at"]).dt.date.map(monday).astype(str))
    wev, wex = author_period_tables(week, "reverted", week)
    by_week = (wev["after"].to_numpy(float), wex["after"].to_numpy(float), wev["before"].to_numpy(float),
               wex["before"].to_numpy(float))
    head = _wider_of_authors_and_weeks(rate_ratio_cr1(*arrays, labels=LABELS["after/before"]),
                                       rate_ratio_cr1(*by_week, labels=LABELS["after/before"]))
    boot = ratio_of_rates(*arrays, n_boot=n_boot, seed=seed, labels=LABELS["after/before"])
    return [result_row("before-after", REVERT_RATE, "after/before", est, **fields) for est in (head, boot)]


def _wider_of_authors_and_weeks(by_author: Estimate, by_week: Estimate) -> Estimate:
    """The revert-rate headline: the pooled Poisson rate ratio (the same number either way) with
    the wider of its CR1 intervals by author and by landing week (stats/wider_interval.py).

    Why not the author bootstrap: a revert is rare (3% of changes), and with a dozen authors and
    about 17 reverts its percentile interval excluded 1 in 9.7% of null runs, 8.3% when people's
    revert rates differ and 12.2% when weeks' do (2,000 runs each); CR1 by author held 3.5-5.3%
    and by week 3.3-4.7%, the wider of the two 1.5-2.6%. Why both: a bad week (a flaky release)
    breaks changes of several people together, which clustering by author does not allow for
    (bench/verdict_sim.py --direct-reverts, bench/README.md)."""
    return wider_of_author_and_week(by_author, by_week, se_key="se_log").estimate


def judged_deployments(con, window: Window, rule: dora.FailureRule | None = None) -> pd.DataFrame:
    """(item_id, repo, ts, failed): the production deployments judged by as_of under `rule`
    (verdict `ok` or `failed`; metrics/dora.py), each under the git repository it deploys
    (inputs.tracker_repos; a deployment of an unmatched repository is left out)."""
    empty = pd.DataFrame(columns=["item_id", "repo", "ts", "failed"])
    items = con.table("items")
    if int(con.execute(items.filter(items.kind == "deployment").count())) == 0:
        return empty
    rule = rule or dora.FailureRule()
    # On the report's engine (Spark too), its intermediates named there while the design reads them.
    scratch = portable.Scratch(con)
    try:
        deploys.register_on(scratch, window.as_of)
        d = con.execute(portable.sql(con, f"select item_id, repo, ts, verdict from "
                                          f"({dora.deployments_sql(window.as_of, rule)}) "
                                          "where verdict in ('ok', 'failed') order by ts, item_id"))
    finally:
        scratch.close()  # the intermediates do not outlive the design
    if d.empty:
        return empty
    d["repo"] = d["repo"].map(tracker_repos(portable.store_connection(con)))
    d = d[d["repo"].notna()]
    return d.assign(failed=d["verdict"] == "failed")[["item_id", "repo", "ts", "failed"]].reset_index(drop=True)


def change_failure_before_after(deps: pd.DataFrame, p: Periods, *, seed: int, n_boot: int) -> list[dict]:
    """Failed / judged production deployments per period, after / before (lower is better), weeks
    as the clusters: the headline `rate_ratio_cr1` (stats/rates.py: the Poisson rate ratio's CR1
    interval, t on G - 1), then the week bootstrap's `ratio_of_rates` as a specification. [] when
    no judged deployment falls in either period (no deployment data: the question is absent)."""
    if deps.empty:
        return []
    day = pd.to_datetime(deps["ts"]).dt.date
    period = p.label(deps["repo"], day)
    d = deps[period.notna()].assign(period=period[period.notna()], week=day[period.notna()].map(monday))
    if d.empty:
        return []
    n_after, n_before = int((d["period"] == "after").sum()), int((d["period"] == "before").sum())
    fields = {"n_deployments_a": n_after, "n_deployments_b": n_before, "cluster": "week",
              "periods": {r: {"before_from": p.before_from[r].isoformat(), "adoption": p.adoption[r].isoformat(),
                              "after_until": p.after_until[r].isoformat()} for r in p.adoption}}
    if not n_after or not n_before:
        why = "A period has no production deployment old enough to know whether it failed."
        # No interval, so neither clustered nor blind: the verdict names the minimum not met.
        return [result_row("before-after", CHANGE_FAILURE_RATE, "after/before",
                           no_estimate(name, 0, 0, int(d["week"].nunique()), why), **fields, clustered=None)
                for name in (RATE_CR1, "ratio_of_rates")]
    # One cluster per week (with per-repository dates one week can hold both periods).
    g = d.assign(author_id=d["week"].astype(str), failed=d["failed"].astype(int))
    ev, ex = author_period_tables(g, "failed", g)
    arrays = (ev["after"].to_numpy(float), ex["after"].to_numpy(float), ev["before"].to_numpy(float),
              ex["before"].to_numpy(float))
    fa, fb = int(d.loc[d["period"] == "after", "failed"].sum()), int(d.loc[d["period"] == "before", "failed"].sum())
    fields.update(n_clusters_a=int((ex["after"] > 0).sum()), n_clusters_b=int((ex["before"] > 0).sum()),
                  effective_clusters_a=effective_clusters(ex["after"]),
                  effective_clusters_b=effective_clusters(ex["before"]),
                  failed_a=fa, failed_b=fb, change_failure_rate_a=fa / n_after, change_failure_rate_b=fb / n_before)
    head = rate_ratio_cr1(*arrays, labels=LABELS["after/before"])
    boot = ratio_of_rates(*arrays, n_boot=n_boot, seed=seed, labels=LABELS["after/before"])
    return [result_row("before-after", CHANGE_FAILURE_RATE, "after/before", est, **fields) for est in (head, boot)]
