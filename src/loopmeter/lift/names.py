"""The metric keys of the lift's result rows and verdict questions, spelled once.

Kept free of every import (like lift/options.py) so that the CLI can name the metrics of the rows
it prints without loading lift/results.py, whose estimators pull in numpy and scipy at start-up
(tests/test_report_cost.py checks what the CLI loads).
"""

from __future__ import annotations

#: Cycle time of a change, first authored commit to landing (also an event log's case cycle time).
CYCLE = "cycle_time_hours"
#: Validated changes per contributor-week (lift/throughput.py).
THROUGHPUT = "validated_throughput_per_contributor_week"
#: Reverted changes per change judged (lift/quality.py); lower is better.
REVERT_RATE = "revert_rate"
#: Failed per judged production deployment (lift/quality.py); lower is better.
CHANGE_FAILURE_RATE = "change_failure_rate"
#: Hours a pull request waited on a person (lift/waiting.py).
WAITING = "waiting_on_humans_hours"
#: A pilot's task duration (`lift --csv`, designs/pilot.py).
DURATION = "duration"
#: An event log's validated cases per week, and an experiment's run and turnaround times
#: (lift/loop_verdict.py).
LOG_THROUGHPUT = "validated_cases_per_week"
RUN = "run_minutes"
TURNAROUND = "turnaround_minutes"
