"""Coverage of the before/after design's intervals through the whole pipeline (git -> store ->
design), over many simulated teams: with no effect the intervals contain 1, with a planted effect
they contain it, about 95% of the time each. Slow: every dataset is a real repository and store."""

from __future__ import annotations

from datetime import timedelta

import pytest

import loopmeter
from loopmeter.api import lift

from lift_sim import START, Team, as_of, write_repo

DATASETS = 40
ESTIMATORS = ("ratio_of_medians", "hodges_lehmann", "log_duration_regression", "km_median_ratio", "ratio_of_rates")


@pytest.mark.slow
@pytest.mark.parametrize("cycle_ratio, rate_after, truth_cycle, truth_rate", [(1.0, 1.0, 1.0, 1.0), (0.7, 2.0, 0.7, 1.5)])
def test_intervals_cover_the_truth_about_95_percent_of_the_time(tmp_path, cycle_ratio, rate_after, truth_cycle,
                                                                  truth_rate):
    team = Team(authors=12, weeks=20, adoption_week=10, cycle_ratio=cycle_ratio, rate_before=1.0, rate_after=rate_after)
    hits = {e: 0 for e in ESTIMATORS}
    for seed in range(DATASETS):
        root = tmp_path / str(seed)
        write_repo(root / "team", team, seed=1000 + seed)
        loopmeter.ingest([root / "team"], store_path=root / "s.duckdb")
        doc = lift(store_path=root / "s.duckdb", adoption_dates=[(START + timedelta(weeks=10)).date().isoformat()],
                   as_of=as_of(team), n_boot=400, seed=seed)
        for r in doc["results"]:
            if r["estimator"] in hits:
                truth = truth_rate if r["metric"].startswith("validated") else truth_cycle
                hits[r["estimator"]] += r["ci_low"] <= truth <= r["ci_high"]
    # 40 datasets: a true 95% interval covers 34 or more with probability ~0.95 (binomial).
    for estimator, n in hits.items():
        assert 33 <= n <= DATASETS, (estimator, n)
