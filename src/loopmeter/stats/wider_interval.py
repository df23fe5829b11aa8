"""The wider of two intervals around one estimate: clustered by author and clustered by landing week.

Why: a before/after comparison is a comparison of weeks. Clustering by person allows for a
person's changes being alike, but not for a week in which everyone is slower or lands less
together (an incident, a release crunch, holidays); clustering by week alone runs narrow where
people differ. On simulated teams the wider of the two held the nominal 5% where either alone
ran over it, for cycle time, throughput and the revert rate (bench/verdict_sim.py
`--direct-before-after` and `--direct-reverts`, bench/README.md). The two-way (CGM) variance of
stats/twoway.py was measured too and ran over 5% with a dozen authors.

Both fits estimate the same number (the point estimate does not depend on the clusters), so the
author estimate is kept and only its interval, p-value, standard error and degrees of freedom are
taken from the week one when that interval is the wider. Both standard errors stay in the
result (`se_by_author`, `se_by_week`, with their df), and `interval_clusters` says which interval
is shown. `n_clusters` counts the clusters of the interval shown (authors or weeks), and both
counts stay beside it (`n_authors`, `n_weeks`). "Wider" compares the intervals' widths on the
log scale (high / low), on which every ratio here is symmetric; a tie keeps the author interval.

Pure: no I/O, nothing of loopmeter's outside stats/.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from .lift import Estimate

__all__ = ["Chosen", "wider_of_author_and_week"]


class Chosen(NamedTuple):
    """The estimate with the wider interval's numbers, and which clusters that interval allows
    for: "author", "week", or None when the author estimate has no interval to widen."""

    estimate: Estimate
    clusters: str | None


def _has_interval(e: Estimate | None) -> bool:
    return e is not None and e.ci_low is not None and e.ci_high is not None and e.ci_low > 0


def wider_of_author_and_week(by_author: Estimate, by_week: Estimate | None, *, se_key: str = "se") -> Chosen:
    """`by_author` with the wider of its own interval and `by_week`'s.

    `by_week` is the same estimate clustered by landing week (its `n_clusters` the weeks), or
    None when it was not fitted; without an interval of its own it cannot be the wider one. Each
    estimate's standard error is `extra[se_key]` (a log-scale "se", or "se_log"), its degrees of
    freedom `extra["df"]`. When the week interval is the wider, its `se_key`, `df` and (when it
    has one) `covariance` replace the author ones along with the interval and the p-value.

    The result's `n_clusters` is the chosen interval's (by_week.n_clusters when the week one
    is the wider), and its `extra` gains `se_by_author`, `df_by_author`, `se_by_week` and
    `df_by_week` (the latter two only when the week estimate has an interval), `n_authors` (the
    author estimate's `n_clusters`), `n_weeks` (when `by_week` is given) and `interval_clusters`.
    An author estimate without an interval is returned unchanged, with clusters None."""
    if not _has_interval(by_author):
        return Chosen(by_author, None)
    extra = {**by_author.extra, "se_by_author": by_author.extra.get(se_key), "df_by_author": by_author.extra.get("df")}
    week_wider = False
    if _has_interval(by_week):
        extra.update(se_by_week=by_week.extra.get(se_key), df_by_week=by_week.extra.get("df"))
        week_wider = by_week.ci_high / by_week.ci_low > by_author.ci_high / by_author.ci_low
    extra["n_authors"] = by_author.n_clusters
    if by_week is not None:
        extra["n_weeks"] = by_week.n_clusters
    extra["interval_clusters"] = "week" if week_wider else "author"
    if not week_wider:
        return Chosen(replace(by_author, extra=extra), "author")
    extra.update({se_key: by_week.extra.get(se_key), "df": by_week.extra.get("df")})
    if "covariance" in by_week.extra:
        extra["covariance"] = by_week.extra["covariance"]
    return Chosen(replace(by_author, ci_low=by_week.ci_low, ci_high=by_week.ci_high, p_value=by_week.p_value,
                          n_clusters=by_week.n_clusters, extra=extra), "week")
