"""Little's law as a consistency check on flow metrics, per time window.

Little's law says that in a stable system the average number of items in progress equals the
completion rate times the average time an item spends in progress: ``WIP = throughput x cycle
time``. It needs no assumption about distributions, only that the window is representative (the
system is about as full at its end as at its start, and what goes in comes out). So where the
measured average WIP and ``throughput x mean cycle time`` disagree, either the team's flow was not
steady in that window (ramping up, draining a backlog) or the data is inconsistent (items never
closed, cycle times measured from a different start than WIP). Either way, a cycle-time or
throughput comparison across such a window deserves a caveat; this module flags them.

Units: times in hours (or numpy datetime64, converted to hours), throughput in items per hour,
WIP a count. Within a finite window the law is approximate: items completed in the window may
have started before it, and items open at its end have not yet contributed a cycle time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .json_values import finite_or_none

__all__ = ["FlowWindow", "flow_windows", "littles_law", "time_averaged_wip"]

DEFAULT_TOLERANCE = 0.25


def _hours(values) -> np.ndarray:
    """Times as float hours; datetime64 is measured from the epoch, NaT becomes NaN."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        nat = np.isnat(arr)
        out = (arr.astype("datetime64[us]") - np.datetime64(0, "us")) / np.timedelta64(1, "h")
        out = out.astype(float)
        out[nat] = np.nan
        return out
    if arr.dtype.kind == "O":  # Python None for open items
        return np.array([np.nan if v is None else float(v) for v in arr.ravel()]).reshape(arr.shape)
    return arr.astype(float)


def _intervals(starts, ends) -> tuple[np.ndarray, np.ndarray]:
    s, e = _hours(starts), _hours(ends)
    if s.ndim != 1 or e.shape != s.shape:
        raise ValueError(f"starts and ends must be one-dimensional and of equal length, got {s.shape} and {e.shape}")
    if np.isnan(s).any():
        raise ValueError(f"{int(np.isnan(s).sum())} items have no start time")
    bad = ~np.isnan(e) & (e < s)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} items end before they start (first at position {int(np.argmax(bad))})")
    return s, e


def _window(window_start, window_end) -> tuple[float, float]:
    ws, we = (float(_hours(np.asarray([w]))[0]) for w in (window_start, window_end))
    if not (math.isfinite(ws) and math.isfinite(we)) or we <= ws:
        raise ValueError("a window must have a finite start before its end")
    return ws, we


def time_averaged_wip(starts, ends, window_start, window_end) -> float:
    """Exact time-averaged number of items open during [window_start, window_end).

    The integral over the window of the number of open items, divided by the window's length:
    each item contributes the length of its interval clipped to the window. An item with no end
    (NaN, NaT or None) is still open and counts until the window ends.
    """
    s, e = _intervals(starts, ends)
    ws, we = _window(window_start, window_end)
    return _wip(s, e, ws, we)


def _wip(s: np.ndarray, e: np.ndarray, ws: float, we: float) -> float:
    end = np.where(np.isnan(e), we, np.minimum(e, we))
    overlap = np.clip(end - np.maximum(s, ws), 0.0, None)
    return float(overlap.sum() / (we - ws))


@dataclass(frozen=True)
class FlowWindow:
    window_start: float | None  # hours (None when the caller passed aggregates only)
    window_end: float | None
    avg_wip: float
    throughput: float  # items completed per hour
    mean_cycle_time: float | None  # hours, items completed in the window; None when none were
    predicted_wip: float | None  # throughput x mean cycle time
    relative_gap: float | None  # (predicted - measured) / measured; None when measured WIP is 0
    arrivals: int | None
    departures: int | None
    arrival_gap: float | None  # (arrivals - departures) / max(arrivals, departures)
    steady: bool
    reasons: tuple[str, ...]  # why the window is not steady

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def littles_law(
    avg_wip,
    throughput,
    mean_cycle_time,
    *,
    arrivals=None,
    departures=None,
    tolerance: float = DEFAULT_TOLERANCE,
    window_starts=None,
    window_ends=None,
) -> list[FlowWindow]:
    """Check WIP = throughput x mean cycle time per window; flag windows that are not steady.

    Inputs are per-window arrays: time-averaged WIP, throughput (items per hour) and the mean
    cycle time (hours) of items completed in the window (NaN when none were). A window is flagged
    when ``|predicted - measured| / measured > tolerance``, or when arrivals and departures (if
    given) differ by more than ``tolerance`` of the larger, or when WIP is positive but nothing
    finished (no cycle time to check against).
    """
    if not 0.0 < tolerance:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    wip = np.asarray(avg_wip, dtype=float)
    tp = np.asarray(throughput, dtype=float)
    ct = np.asarray(mean_cycle_time, dtype=float)
    k = wip.size
    if wip.ndim != 1 or tp.shape != wip.shape or ct.shape != wip.shape:
        raise ValueError("avg_wip, throughput and mean_cycle_time must be one-dimensional and of equal length")
    if (wip < 0).any() or (tp < 0).any() or (ct[~np.isnan(ct)] < 0).any():
        raise ValueError("WIP, throughput and cycle time must not be negative")
    arr = None if arrivals is None else np.asarray(arrivals, dtype=float)
    dep = None if departures is None else np.asarray(departures, dtype=float)
    for name, a in (("arrivals", arr), ("departures", dep)):
        if a is not None and a.shape != wip.shape:
            raise ValueError(f"{name} must have one entry per window ({k})")
    wss = [None] * k if window_starts is None else [float(x) for x in window_starts]
    wes = [None] * k if window_ends is None else [float(x) for x in window_ends]
    out = []
    for i in range(k):
        reasons: list[str] = []
        cycle = finite_or_none(ct[i])
        predicted = None if cycle is None else float(tp[i] * cycle)
        gap = None
        if predicted is not None and wip[i] > 0:
            gap = (predicted - wip[i]) / wip[i]
            if abs(gap) > tolerance:
                reasons.append(
                    f"Throughput x cycle time predicts {predicted:.2f} items in progress but "
                    f"{wip[i]:.2f} were ({100 * gap:+.0f}%); the flow was not steady."
                )
        elif predicted is None and wip[i] > 0:
            reasons.append("Items were in progress but none finished, so cycle time cannot be checked.")
        elif predicted is not None and predicted > 0 and wip[i] == 0:
            reasons.append("Items finished but none were in progress; the data is inconsistent.")
        a_i = None if arr is None else int(arr[i])
        d_i = None if dep is None else int(dep[i])
        arrival_gap = None
        if a_i is not None and d_i is not None and max(a_i, d_i) > 0:
            arrival_gap = (a_i - d_i) / max(a_i, d_i)
            if abs(arrival_gap) > tolerance:
                reasons.append(
                    f"{a_i} items arrived and {d_i} finished; work was "
                    f"{'piling up' if a_i > d_i else 'draining'}, not steady."
                )
        out.append(
            FlowWindow(wss[i], wes[i], float(wip[i]), float(tp[i]), cycle, predicted, gap,
                       a_i, d_i, arrival_gap, not reasons, tuple(reasons))
        )
    return out


def flow_windows(starts, ends, window_edges, *, tolerance: float = DEFAULT_TOLERANCE) -> list[FlowWindow]:
    """Little's-law check for consecutive windows computed from raw (start, end) intervals.

    ``window_edges`` are ascending times e0 < e1 < ... ; window i is [e_i, e_{i+1}). Per window:
    exact time-averaged WIP (open items count until the window ends), departures = items ending
    in it, throughput = departures / window length (per hour), mean cycle time = mean of
    (end - start) over those departures, arrivals = items starting in it.
    """
    s, e = _intervals(starts, ends)
    edges = _hours(window_edges)
    if edges.ndim != 1 or edges.size < 2 or not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
        raise ValueError("window_edges must be at least two finite, strictly ascending times")
    done = ~np.isnan(e)
    wip, tp, ct, arr, dep = [], [], [], [], []
    for ws, we in pairwise(edges):
        wip.append(_wip(s, e, ws, we))
        finished = done & (e >= ws) & (e < we)
        n_done = int(finished.sum())
        dep.append(n_done)
        arr.append(int(((s >= ws) & (s < we)).sum()))
        tp.append(n_done / (we - ws))
        ct.append(float((e[finished] - s[finished]).mean()) if n_done else np.nan)
    return littles_law(wip, tp, ct, arrivals=arr, departures=dep, tolerance=tolerance,
                       window_starts=edges[:-1], window_ends=edges[1:])
