"""Which pull requests are "open" at `as_of`: two populations, each named for what it is for
(docs/metrics.md "Flow metrics", "Open pull requests").

- **Opened by `as_of`** (`opened_by_sql`): the pull request existed then (`created_at` at or before
  `as_of`). The pull-request cycle (metrics/pr_cycle.py) and waiting on humans (metrics/waiting.py)
  look at these only.
- **Open for review at `as_of`** (`open_for_review_at_sql`): opened by then and not ended by then.
  A pull request not yet opened cannot be waiting on a reviewer: the waiting states and
  `waiting_now` use this rule.
- **Work in progress at `as_of`** (`in_progress_at_sql`): first committed (`started_at`) or opened
  by then, and not ended by then. The lift designs' right-censored items (lift/inputs.py)
  use this rule: their cycle time runs from the first commit, so work whose first commit is before
  `as_of` had started and its duration is only known to exceed `as_of - started_at`, whether or
  not its pull request had been opened yet; leaving it out would drop exactly the items with a
  long stretch before opening from the at-risk set.

Not ended by `as_of` means not merged by then, and not closed without merging by then. A pull
request closed without merging is abandoned work, neither done nor open; sources record its close
time in `attrs.closed_at` (docs/design.md), and one closed without a known close time is taken as
closed. The stored state is the state when the source was read, so a pull request's own `closed` /
`reopened` events decide first: the last of them by `as_of` being `closed` means it was closed then
(a pull request reopened after `as_of`, or closed and reopened before it, is judged as it was at
`as_of`).
"""

from __future__ import annotations


def opened_by_sql(alias: str, as_of: str) -> str:
    """SQL condition on the `items` row `alias`: a pull request opened at or before `as_of` (an SQL
    timestamp expression: a literal or a bound parameter such as `$as_of`)."""
    return f"({alias}.kind = 'pull_request' and {alias}.created_at <= {as_of})"


def _not_ended_sql(i: str, as_of: str) -> str:
    """Neither merged nor closed without merging by `as_of`."""
    return (
        f"({i}.done_at is null or {i}.done_at > {as_of})"
        f" and coalesce((select arg_max(oe.activity, oe.ts) from events oe where oe.item_id = {i}.item_id"
        f" and oe.activity in ('closed', 'reopened') and oe.ts <= {as_of}) = 'reopened',"
        f" {i}.state <> 'closed'"
        f" or try_cast(json_extract_string({i}.attrs, '$.closed_at') as timestamp) > {as_of})"
    )


def open_for_review_at_sql(alias: str, as_of: str) -> str:
    """A pull request opened by `as_of` and neither merged nor closed by then: one that can be
    waiting on a person at `as_of` (metrics/waiting.py)."""
    return f"({opened_by_sql(alias, as_of)} and {_not_ended_sql(alias, as_of)})"


def in_progress_at_sql(alias: str, as_of: str) -> str:
    """A pull request whose work had started by `as_of` (first commit, else opening) and that was
    neither merged nor closed by then: a right-censored item of the lift designs."""
    i = alias
    return (f"({i}.kind = 'pull_request' and coalesce({i}.started_at, {i}.created_at) <= {as_of}"
            f" and {_not_ended_sql(i, as_of)})")
