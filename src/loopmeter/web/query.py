"""The dashboard's query string -> the keyword filters of `api.report_from_store`.

The same names as the URL a person shares (`?repo=a&repo=b&team=...&agent=...&from=...&to=...`);
anything else, or a value that is not what it says, is a `BadQuery` (a 400 with one line).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs

_SINGLE = ("team", "agent", "from", "to", "week")
_LONGEST = 200  # a name longer than this is no repository, team or agent name


class BadQuery(ValueError):
    """A query parameter the dashboard cannot use; its message is the one line the client sees."""


@dataclass(frozen=True)
class Filters:
    repos: tuple[str, ...] = ()
    team: str | None = None
    agent: str | None = None
    since: date | None = None
    until: date | None = None

    def report_options(self) -> dict:
        """Keywords for `api.report_from_store`."""
        return {"repos": list(self.repos) or None, "team": self.team, "agent": self.agent,
                "since": self.since, "until": self.until}


def _date(name: str, value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadQuery(f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD)") from None


def parse(query: str, *, allow: tuple[str, ...] = ("repo", "team", "agent", "from", "to")) -> tuple[Filters, dict]:
    """(the filters, the other allowed single values such as `week` as dates) of a query string."""
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=50,
                          errors="strict")
    except (ValueError, UnicodeDecodeError) as e:
        raise BadQuery(f"the query string cannot be read ({str(e)[:80]})") from None
    for name, values in params.items():
        if name not in allow:
            raise BadQuery(f"{name[:40]!r} is not a filter here (filters: {', '.join(allow)})")
        if name in _SINGLE and len(values) > 1:
            raise BadQuery(f"{name}: give it once")
        for v in values:
            if len(v) > _LONGEST or any(ord(c) < 32 for c in v):
                raise BadQuery(f"{name}: not a usable value")
    one = {k: v[0] for k, v in params.items() if k in _SINGLE and v[0] != ""}
    repos = tuple(sorted({r for r in params.get("repo", []) if r}))
    since = _date("from", one["from"]) if "from" in one else None
    until = _date("to", one["to"]) if "to" in one else None
    if since and until and since > until:
        raise BadQuery(f"from {since.isoformat()} is after to {until.isoformat()}")
    extra = {}
    if "week" in allow:
        if "week" not in one:
            raise BadQuery("week: give the Monday of the week (YYYY-MM-DD)")
        w = _date("week", one["week"])
        if w.weekday() != 0:
            raise BadQuery(f"week: {w.isoformat()} is not a Monday")
        extra["week"] = w
    return Filters(repos=repos, team=one.get("team"), agent=one.get("agent"), since=since, until=until), extra
