"""Monte Carlo throughput forecasts, checked against cases whose exact answer is known.

A history of constant weeks makes every simulation identical, so the answer is exact. A history
of two values (2 in three weeks of four, 5 in the fourth) makes an N-week total 2N + 3B with
B ~ Binomial(N, 1/4), so the exact percentiles come from scipy's binomial distribution; the
cases are chosen (and the test checks) so that no exact tail probability lies within 0.02 of a
percentile's threshold, which keeps the Monte Carlo answer (20 000 simulations, standard error
about 0.003) on the exact one.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binom

from loopmeter.stats.forecast import forecast_how_many, forecast_when

TWO_VALUES = [2, 2, 2, 5]
P5 = 0.25  # share of weeks with 5


def test_constant_weeks_give_an_exact_degenerate_answer():
    f = forecast_how_many([3, 3, 3, 3, 3, 3, 3, 3], 6, n_simulations=500, seed=1)
    assert f.percentiles == {50: 18, 85: 18, 95: 18}
    assert f.fan.quantiles[5] == f.fan.quantiles[95] == (3, 6, 9, 12, 15, 18)
    w = forecast_when([3] * 8, 20, n_simulations=500, seed=1)
    assert w.percentiles == {50: 7, 85: 7, 95: 7}  # ceil(20 / 3)
    assert w.share_not_done == 0.0


def _exact_how_many(n_weeks, p):
    """Largest k with P(total >= k) >= p, from the binomial distribution of 5-weeks."""
    best, margin = None, None
    for b in range(n_weeks + 1):
        tail = binom.sf(b - 1, n_weeks, P5)  # P(B >= b)
        if tail >= p:
            best = b
    above = binom.sf(best, n_weeks, P5)  # P(B >= best + 1)
    margin = min(binom.sf(best - 1, n_weeks, P5) - p, p - above)
    return 2 * n_weeks + 3 * best, margin


def _exact_when(items, p):
    """Smallest w with P(done within w weeks) = P(2w + 3B_w >= items) >= p."""

    def cdf(w):
        need = max(0, math.ceil((items - 2 * w) / 3))
        return 1.0 if need == 0 else float(binom.sf(need - 1, w, P5))

    w = 1
    while cdf(w) < p:
        w += 1
    return w, min(cdf(w) - p, p - cdf(w - 1))


def test_how_many_matches_the_binomial_distribution_of_sums():
    n_weeks = 8
    f = forecast_how_many(TWO_VALUES, n_weeks, n_simulations=20_000, seed=3)
    for p in (50, 85, 95):
        exact, margin = _exact_how_many(n_weeks, p / 100)
        assert margin >= 0.02  # the case is far enough from a threshold for 20 000 simulations
        assert f.percentiles[p] == exact, p
    # P85 is a promise: a smaller number than the median, reached in at least 85% of futures.
    assert f.percentiles[95] < f.percentiles[85] < f.percentiles[50]
    assert f.mean == pytest.approx(n_weeks * np.mean(TWO_VALUES), rel=0.01)
    # The fan's 15 band at the horizon is the "how many" P85, its 5 band the P95.
    assert f.fan.quantiles[15][-1] == f.percentiles[85]
    assert f.fan.quantiles[5][-1] == f.percentiles[95]


def test_fan_chart_follows_the_binomial_week_by_week():
    f = forecast_how_many(TWO_VALUES, 6, n_simulations=20_000, seed=4)
    checked = 0
    for w in f.fan.weeks:
        for q in (5, 50, 95):
            # The value at least (100 - q)% of simulations reach: largest 2w + 3b with P(B >= b) >= 1 - q/100.
            tails = [binom.sf(b - 1, w, P5) for b in range(w + 1)]
            b = max(i for i, t in enumerate(tails) if t >= 1 - q / 100)
            if abs(tails[b] - (1 - q / 100)) < 0.02 or (b + 1 <= w and abs(tails[b + 1] - (1 - q / 100)) < 0.02):
                continue  # too close to call with Monte Carlo
            assert f.fan.quantiles[q][w - 1] == 2 * w + 3 * b, (w, q)
            checked += 1
    assert checked >= 12
    for q_lo, q_hi in zip((5, 15, 50, 85), (15, 50, 85, 95)):
        assert all(a <= b for a, b in zip(f.fan.quantiles[q_lo], f.fan.quantiles[q_hi]))


def test_when_matches_the_binomial_distribution_of_sums():
    items = 33
    f = forecast_when(TWO_VALUES, items, n_simulations=20_000, seed=5)
    for p in (50, 85, 95):
        exact, margin = _exact_when(items, p / 100)
        assert margin >= 0.02
        assert f.percentiles[p] == exact, p
    assert f.percentiles[50] <= f.percentiles[85] <= f.percentiles[95]


def test_same_seed_same_forecast_and_a_different_seed_differs():
    history = [0, 4, 7, 1, 3, 9, 2, 5, 5, 0, 6]
    a = forecast_how_many(history, 12, seed=42).to_dict()
    b = forecast_how_many(history, 12, seed=42).to_dict()
    c = forecast_how_many(history, 12, seed=43).to_dict()
    assert a == b
    assert a["mean"] != c["mean"]
    assert forecast_when(history, 50, seed=7).to_dict() == forecast_when(history, 50, seed=7).to_dict()
    json.dumps(a)
    json.dumps(forecast_when(history, 50, seed=7).to_dict())


def test_a_goal_beyond_the_horizon_is_null_not_a_number():
    f = forecast_when([0, 0, 0, 1], 100, max_weeks=52, n_simulations=1000)
    assert f.percentiles == {50: None, 85: None, 95: None}
    assert f.share_not_done == 1.0
    assert "beyond the horizon" in f.caveats[0]
    none = forecast_when([0, 0, 0], 5, n_simulations=1000)
    assert none.percentiles[50] is None and "No item was done" in none.caveats[0]


def test_short_history_is_caveated_and_bad_input_rejected():
    f = forecast_how_many([1, 2, 3], 4, n_simulations=200)
    assert any("only 3 past weeks" in c for c in f.caveats)
    with pytest.raises(ValueError, match="whole non-negative"):
        forecast_how_many([1, -1], 4)
    with pytest.raises(ValueError, match="NaN"):
        forecast_how_many([1, float("nan")], 4)
    with pytest.raises(ValueError, match="percentiles"):
        forecast_how_many([1, 2], 4, percentiles=(50, 100))
