"""When a pull request counts as open at `as_of`: the one definition, shared by the lift designs'
right-censored items (metrics/lift_inputs.py) and the waiting-on-humans states (metrics/waiting.py).

Open at `as_of` means opened (or first committed) by then, not merged by then, and not closed
without merging by then. A pull request closed without merging is abandoned work, neither done nor
open; sources record its close time in `attrs.closed_at` (docs/design.md), and one closed
without a known close time is taken as closed. The stored state is the state when the source was
read, so a pull request's own `closed` / `reopened` events decide first: the last of them by
`as_of` being `closed` means it was closed then (a pull request reopened after `as_of`, or closed
and reopened before it, is judged as it was at `as_of`).
"""

from __future__ import annotations


def open_at_sql(alias: str, as_of: str) -> str:
    """SQL condition on the `items` row `alias`: a pull request open at `as_of` (an SQL
    timestamp expression: a literal or a bound parameter such as `$as_of`)."""
    i = alias
    return (
        f"({i}.kind = 'pull_request' and coalesce({i}.started_at, {i}.created_at) <= {as_of}"
        f" and ({i}.done_at is null or {i}.done_at > {as_of})"
        f" and coalesce((select arg_max(oe.activity, oe.ts) from events oe where oe.item_id = {i}.item_id"
        f" and oe.activity in ('closed', 'reopened') and oe.ts <= {as_of}) = 'reopened',"
        f" {i}.state <> 'closed'"
        f" or try_cast(json_extract_string({i}.attrs, '$.closed_at') as timestamp) > {as_of}))"
    )
