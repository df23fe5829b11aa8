"""Monte Carlo throughput forecasts by resampling past weekly counts.

Each simulated future week draws one past week's validated-throughput count, uniformly with
replacement, from the chosen history (say the weeks since adoption). That assumes future weeks
look like past ones and are independent of each other; it does not extrapolate trends. The
history should include weeks in which nothing was done (as 0): leaving them out would overstate
throughput.

Two questions, and what their percentiles mean (read carefully: they run in opposite directions):

- "How many items in the next N weeks?" ``P85`` is the total reached *with 85% probability*: the
  largest k such that at least 85% of simulations finish k or more. That is a low quantile of the
  simulated totals (about the 15th percentile), because a safe promise is a small number. Exactly:
  with the n simulated totals sorted ascending, ``P(p) = sorted[floor(n (100 - p) / 100)]``.
- "When will K items be done?" ``P85`` is the number of weeks within which the K items are done
  with 85% probability: the smallest w such that at least 85% of simulations finish within w
  weeks, a high quantile: ``P(p) = sorted[ceil(n p / 100) - 1]``.

The fan chart gives, per future week, the cumulative totals at 5/15/50/85/95: the value that at
least (100 - q)% of simulations reach, ``sorted[floor(n q / 100)]``; so its 15 band is the
"how many" P85 and its 5 band the P95 for that week.

Percentiles are order statistics of the simulations, not interpolations, so every reported value is
a count or a number of weeks that some simulation produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FanChart", "HowManyForecast", "WhenForecast", "forecast_how_many", "forecast_when"]

DEFAULT_PERCENTILES = (50, 85, 95)
FAN_QUANTILES = (5, 15, 50, 85, 95)
DEFAULT_SIMULATIONS = 10_000
# Beyond this many weeks a "when" forecast says "not within the horizon" rather than simulating on.
DEFAULT_MAX_WEEKS = 520
# A history this short describes a few weeks, not a team's rhythm; a convention.
MIN_HISTORY_WEEKS = 8


def _history(weekly_counts) -> np.ndarray:
    h = np.asarray(weekly_counts, dtype=float)
    if h.ndim != 1 or h.size == 0:
        raise ValueError("the weekly history must be a non-empty one-dimensional sequence of counts")
    if not np.isfinite(h).all():
        raise ValueError("the weekly history contains NaN or infinite values; a week with nothing is 0")
    if (h < 0).any() or (h != np.floor(h)).any():
        raise ValueError("the weekly history must hold whole non-negative counts")
    return h.astype(np.int64)


def _check_percentiles(percentiles) -> tuple[int, ...]:
    out = tuple(int(p) for p in percentiles)
    if any(not 0 < p < 100 for p in out) or any(p != q for p, q in zip(out, percentiles)):
        raise ValueError(f"percentiles must be whole numbers strictly between 0 and 100, got {percentiles}")
    return out


def _reached_with(sorted_values: np.ndarray, p: int) -> int:
    """Largest value that at least p% of simulations reach (integer arithmetic, no rounding error)."""
    n = sorted_values.size
    return int(sorted_values[(n * (100 - p)) // 100])


def _history_caveats(h: np.ndarray) -> list[str]:
    caveats = []
    if h.size < MIN_HISTORY_WEEKS:
        caveats.append(
            f"The forecast resamples only {h.size} past weeks (fewer than {MIN_HISTORY_WEEKS}); "
            "it cannot know how uneven weeks really are."
        )
    caveats.append(
        "Future weeks are assumed to look like the resampled past weeks, independently of each "
        "other; holidays, team changes and trends are not in it."
    )
    return caveats


@dataclass(frozen=True)
class FanChart:
    weeks: tuple[int, ...]  # 1..N, weeks from now
    quantiles: dict[int, tuple[int, ...]]  # q -> cumulative total per week (see module docstring)

    def to_dict(self) -> dict:
        return {"weeks": list(self.weeks), "quantiles": {str(q): list(v) for q, v in self.quantiles.items()}}


@dataclass(frozen=True)
class HowManyForecast:
    weeks_ahead: int
    n_simulations: int
    history_weeks: int
    percentiles: dict[int, int]  # p -> total reached with p% probability
    mean: float
    fan: FanChart
    caveats: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "question": "how_many",
            "weeks_ahead": self.weeks_ahead,
            "n_simulations": self.n_simulations,
            "history_weeks": self.history_weeks,
            "percentiles": {f"p{p}": v for p, v in self.percentiles.items()},
            "mean": self.mean,
            "fan": self.fan.to_dict(),
            "caveats": list(self.caveats),
        }


def forecast_how_many(
    weekly_counts,
    weeks_ahead: int,
    *,
    n_simulations: int = DEFAULT_SIMULATIONS,
    percentiles=DEFAULT_PERCENTILES,
    seed: int | np.random.Generator = 0,
) -> HowManyForecast:
    """How many items will be done in the next ``weeks_ahead`` weeks (P50/P85/P95 and a fan chart)."""
    h = _history(weekly_counts)
    if weeks_ahead < 1:
        raise ValueError(f"weeks_ahead must be at least 1, got {weeks_ahead}")
    if n_simulations < 100:
        raise ValueError(f"n_simulations must be at least 100, got {n_simulations}")
    ps = _check_percentiles(percentiles)
    rng = np.random.default_rng(seed)  # returns a Generator passed in unaltered
    draws = h[rng.integers(0, h.size, size=(n_simulations, weeks_ahead))]
    cumulative = np.cumsum(draws, axis=1)
    cumulative.sort(axis=0)  # each week's column sorted across simulations
    totals = cumulative[:, -1]
    n = n_simulations
    fan = FanChart(
        weeks=tuple(range(1, weeks_ahead + 1)),
        quantiles={q: tuple(int(v) for v in cumulative[(n * q) // 100, :]) for q in FAN_QUANTILES},
    )
    return HowManyForecast(
        weeks_ahead=weeks_ahead,
        n_simulations=n,
        history_weeks=int(h.size),
        percentiles={p: _reached_with(totals, p) for p in ps},
        mean=float(totals.mean()),
        fan=fan,
        caveats=tuple(_history_caveats(h)),
    )


@dataclass(frozen=True)
class WhenForecast:
    items: int
    n_simulations: int
    history_weeks: int
    percentiles: dict[int, int | None]  # p -> weeks; None when beyond max_weeks
    max_weeks: int
    share_not_done: float  # simulations that had not finished within max_weeks
    caveats: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "question": "when",
            "items": self.items,
            "n_simulations": self.n_simulations,
            "history_weeks": self.history_weeks,
            "percentiles": {f"p{p}": v for p, v in self.percentiles.items()},
            "max_weeks": self.max_weeks,
            "share_not_done": self.share_not_done,
            "caveats": list(self.caveats),
        }


def forecast_when(
    weekly_counts,
    items: int,
    *,
    n_simulations: int = DEFAULT_SIMULATIONS,
    percentiles=DEFAULT_PERCENTILES,
    max_weeks: int = DEFAULT_MAX_WEEKS,
    seed: int | np.random.Generator = 0,
) -> WhenForecast:
    """In how many weeks will ``items`` more items be done (P50/P85/P95 weeks)."""
    h = _history(weekly_counts)
    if items < 1:
        raise ValueError(f"items must be at least 1, got {items}")
    if n_simulations < 100:
        raise ValueError(f"n_simulations must be at least 100, got {n_simulations}")
    if max_weeks < 1:
        raise ValueError(f"max_weeks must be at least 1, got {max_weeks}")
    ps = _check_percentiles(percentiles)
    caveats = _history_caveats(h)
    n = n_simulations
    if h.max() == 0:
        caveats.insert(0, "No item was done in any week of the history, so no finish date can be forecast.")
        return WhenForecast(items, n, int(h.size), {p: None for p in ps}, max_weeks, 1.0, tuple(caveats))
    rng = np.random.default_rng(seed)  # returns a Generator passed in unaltered
    weeks_needed = np.full(n, max_weeks + 1, dtype=np.int64)  # max_weeks + 1 = not done in time
    done_so_far = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    elapsed = 0
    # Simulate in blocks of weeks, only for simulations still short of the goal; the block size
    # guesses the weeks needed from the mean so most simulations finish in the first block.
    block = int(min(max_weeks, max(4, np.ceil(1.5 * items / max(h.mean(), 1e-9)))))
    while pending.size and elapsed < max_weeks:
        width = min(block, max_weeks - elapsed)
        draws = h[rng.integers(0, h.size, size=(pending.size, width))]
        cum = done_so_far[pending, None] + np.cumsum(draws, axis=1)
        reached = cum >= items
        finished = reached.any(axis=1)
        weeks_needed[pending[finished]] = elapsed + 1 + np.argmax(reached[finished], axis=1)
        done_so_far[pending] = cum[:, -1]
        pending = pending[~finished]
        elapsed += width
    weeks_needed.sort()
    share_not_done = float(pending.size / n)
    out: dict[int, int | None] = {}
    for p in ps:
        v = int(weeks_needed[-(-n * p // 100) - 1])  # ceil(n p / 100) - 1, in integers
        out[p] = v if v <= max_weeks else None
    if any(v is None for v in out.values()):
        caveats.insert(
            0,
            f"{100 * share_not_done:.0f}% of simulations had not finished {items} items within "
            f"{max_weeks} weeks; those percentiles are beyond the horizon (null).",
        )
    return WhenForecast(items, n, int(h.size), out, max_weeks, share_not_done, tuple(caveats))
