"""Little's law checks: exact WIP by hand, a seeded M/M/1 queue in steady state, and a ramp-up."""

from __future__ import annotations

import json

import numpy as np
import pytest

from loopmeter.stats.flow import flow_windows, littles_law, time_averaged_wip


def test_time_averaged_wip_of_hand_worked_intervals():
    # Window [0, 10): overlaps 2 (started before), 4, 2 (still open), 0 (after), 9 (ends after).
    starts = [-5, 3, 8, 12, 1]
    ends = [2, 7, np.nan, 15, 20]
    assert time_averaged_wip(starts, ends, 0, 10) == pytest.approx(17 / 10)
    assert time_averaged_wip(starts, [2, 7, None, 15, 20], 0, 10) == pytest.approx(1.7)


def test_time_averaged_wip_accepts_datetimes_in_hours():
    starts = np.array(["2026-01-01T00", "2026-01-01T06"], dtype="datetime64[h]")
    ends = np.array(["2026-01-01T12", "NaT"], dtype="datetime64[h]")
    # Window 00:00-24:00: 12 h + 18 h open = 30 item-hours over 24 h.
    w = time_averaged_wip(starts, ends, np.datetime64("2026-01-01T00"), np.datetime64("2026-01-02T00"))
    assert w == pytest.approx(30 / 24)


def test_littles_law_arithmetic_and_flags():
    res = littles_law([4.0, 10.0, 3.0], [0.5, 0.5, 0.0], [8.0, 8.0, np.nan], arrivals=[10, 10, 5], departures=[11, 10, 0])
    assert res[0].predicted_wip == pytest.approx(4.0) and res[0].relative_gap == pytest.approx(0.0)
    assert res[0].steady
    assert res[1].relative_gap == pytest.approx(-0.6) and not res[1].steady
    assert not res[2].steady and res[2].mean_cycle_time is None
    assert any("none finished" in r for r in res[2].reasons)
    assert any("piling up" in r for r in res[2].reasons)
    json.dumps([w.to_dict() for w in res])
    # The tolerance is an option: a 60% gap passes at 0.7.
    assert littles_law([10.0], [0.5], [8.0], tolerance=0.7)[0].steady


def _mm1(rng, n, arrival_rate, service_rate, start=0.0):
    """FIFO single-server queue: departure_i = max(arrival_i, departure_{i-1}) + service_i."""
    arrivals = start + np.cumsum(rng.exponential(1 / arrival_rate, n))
    service = rng.exponential(1 / service_rate, n)
    departures = np.empty(n)
    free_at = -np.inf
    for i in range(n):
        free_at = max(arrivals[i], free_at) + service[i]
        departures[i] = free_at
    return arrivals, departures


def test_littles_law_holds_for_a_steady_queue_over_a_long_window():
    rng = np.random.default_rng(12)
    arr, dep = _mm1(rng, 40_000, arrival_rate=1.0, service_rate=1.25)  # utilisation 0.8
    (w,) = flow_windows(arr, dep, [2_000.0, 38_000.0])
    assert w.steady, w.reasons
    assert abs(w.relative_gap) < 0.03
    # And the measured WIP is the M/M/1 value rho / (1 - rho) = 4, within sampling noise.
    assert w.avg_wip == pytest.approx(4.0, rel=0.15)


def test_a_ramp_up_is_flagged():
    rng = np.random.default_rng(13)
    # Work arrives twice as fast as it can be done, from an empty start: the queue grows.
    arr, dep = _mm1(rng, 400, arrival_rate=2.0, service_rate=1.25)
    still_open = dep > 150.0
    ends = np.where(still_open, np.nan, dep)  # as of hour 150, late items are open
    windows = flow_windows(arr, ends, [0.0, 50.0, 100.0, 150.0])
    assert all(not w.steady for w in windows[1:])
    assert any("piling up" in r for w in windows for r in w.reasons)
    assert windows[-1].relative_gap < -0.25  # completed items understate the growing queue


def test_bad_intervals_are_rejected():
    with pytest.raises(ValueError, match="end before they start"):
        time_averaged_wip([5.0], [3.0], 0, 10)
    with pytest.raises(ValueError, match="no start time"):
        time_averaged_wip([np.nan], [3.0], 0, 10)
    with pytest.raises(ValueError, match="window"):
        time_averaged_wip([1.0], [3.0], 10, 10)
    with pytest.raises(ValueError, match="ascending"):
        flow_windows([1.0], [3.0], [0.0, 5.0, 5.0])
