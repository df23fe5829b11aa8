"""stats/wider_interval.py: the wider of the interval clustered by author and the one clustered by
landing week, on hand-worked estimates (the before/after designs that use it are checked against
statsmodels in test_lift_week_shocks.py and test_lift_sim_reverts.py)."""

import math

import pytest

from loopmeter.stats.lift import Estimate
from loopmeter.stats.wider_interval import wider_of_author_and_week

# t quantiles (0.975) by hand from a table: t(9) = 2.262, t(19) = 2.093.
T9, T19 = 2.2622, 2.0930


def _est(se: float, df: int, n_clusters: int, p: float, se_key: str = "se", **extra) -> Estimate:
    """A ratio of 0.8 with the interval exp(log 0.8 +- t(df) se)."""
    t = {9: T9, 19: T19}[df]
    b = math.log(0.8)
    return Estimate("poisson_author_fe", 0.8, math.exp(b - t * se), math.exp(b + t * se), 120, 100, n_clusters,
                    ("a caveat",), p_value=p, clustered=True, extra={se_key: se, "df": df, **extra})


def test_the_week_interval_is_taken_when_it_is_wider():
    # By author: 10 authors, se 0.10, t(9) 2.262 -> half-width 0.226 on the log scale.
    # By week: 20 weeks, se 0.12, t(19) 2.093 -> 0.251: wider although its t is smaller.
    author = _est(0.10, 9, 10, 0.07, covariance="CR1", beta=math.log(0.8))
    week = _est(0.12, 19, 20, 0.09, covariance="CR2")
    est, clusters = wider_of_author_and_week(author, week)
    assert clusters == "week" and est.extra["interval_clusters"] == "week"
    assert est.ratio == 0.8 and est.caveats == ("a caveat",)  # the author estimate, its interval widened
    assert (est.ci_low, est.ci_high) == pytest.approx((0.8 * math.exp(-0.2512), 0.8 * math.exp(0.2512)), abs=1e-4)
    assert est.p_value == 0.09
    assert (est.extra["se"], est.extra["df"], est.extra["covariance"]) == (0.12, 19, "CR2")
    assert (est.extra["se_by_author"], est.extra["df_by_author"]) == (0.10, 9)
    assert (est.extra["se_by_week"], est.extra["df_by_week"], est.extra["n_weeks"]) == (0.12, 19, 20)
    # n_clusters counts the clusters of the interval shown; the authors stay beside it.
    assert (est.n_clusters, est.extra["n_authors"]) == (20, 10)
    assert est.extra["beta"] == math.log(0.8)  # the author fit's other fields stay


def test_a_larger_standard_error_on_more_weeks_can_still_be_the_narrower_interval():
    # se 0.105 on 20 weeks: 2.093 x 0.105 = 0.220 < 2.262 x 0.100 = 0.226, so the author interval stands.
    author, week = _est(0.10, 9, 10, 0.07), _est(0.105, 19, 20, 0.05)
    est, clusters = wider_of_author_and_week(author, week)
    assert clusters == "author" and est.extra["interval_clusters"] == "author"
    assert (est.ci_low, est.ci_high, est.p_value) == (author.ci_low, author.ci_high, 0.07)
    assert (est.extra["se"], est.extra["df"]) == (0.10, 9)
    assert (est.extra["se_by_week"], est.extra["df_by_week"]) == (0.105, 19)
    assert (est.n_clusters, est.extra["n_authors"], est.extra["n_weeks"]) == (10, 10, 20)


def test_a_tie_keeps_the_author_interval():
    author = _est(0.10, 9, 10, 0.07)
    week = Estimate("x", 0.8, author.ci_low, author.ci_high, 1, 1, 20, (), p_value=0.5, extra={"se": 0.2, "df": 19})
    assert wider_of_author_and_week(author, week).clusters == "author"


def test_the_standard_error_key_is_the_estimators_own():
    author, week = _est(0.10, 9, 10, 0.07, se_key="se_log"), _est(0.12, 19, 20, 0.09, se_key="se_log")
    est, clusters = wider_of_author_and_week(author, week, se_key="se_log")
    assert clusters == "week" and est.extra["se_log"] == 0.12 and "se" not in est.extra
    assert (est.extra["se_by_author"], est.extra["se_by_week"]) == (0.10, 0.12)
    assert "covariance" not in est.extra  # neither fit named one


def test_without_a_week_interval_the_author_one_stands_and_says_so():
    author = _est(0.10, 9, 10, 0.07)
    two_weeks = Estimate("x", 0.8, None, None, 1, 1, 2, ("Only 2 clusters.",))
    est, clusters = wider_of_author_and_week(author, two_weeks)
    assert clusters == "author" and (est.ci_low, est.ci_high) == (author.ci_low, author.ci_high)
    assert est.extra["n_weeks"] == 2 and "se_by_week" not in est.extra and est.extra["se_by_author"] == 0.10
    est, clusters = wider_of_author_and_week(author, None)
    assert clusters == "author" and "n_weeks" not in est.extra


def test_an_author_estimate_without_an_interval_is_returned_as_it_is():
    none = Estimate("x", 0.8, None, None, 3, 2, 4, ("Only 1 author.",), extra={"se": None, "df": None})
    est, clusters = wider_of_author_and_week(none, _est(0.12, 19, 20, 0.09))
    assert est is none and clusters is None
