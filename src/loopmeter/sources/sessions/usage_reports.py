"""Daily usage reports: GitHub Copilot usage metrics (NDJSON) and Claude Code's admin usage report.

Neither shows sessions, only what one person (or the whole organisation) did with the agent on
one day, so they become `UsageDay` rows, not session items.
"""

from __future__ import annotations

from .. import safe
from pathlib import Path

from ...errors import UnreadablePath
from .jsonl import read_objects
from .model import ParseReport, UsageDay, parse_time


def _int(value: object) -> int | None:
    # Counts: whole, non-negative, fitting a BIGINT (NaN, 1e300 and 2**70 are not counts).
    return safe.to_int(value, minimum=0)


def read_copilot_metrics(path: str | Path) -> tuple[list[UsageDay], ParseReport]:
    """Copilot usage-metrics NDJSON: one object per user (or enterprise) and day.

    Fields used: `day`, `user_login`, `user_initiated_interaction_count` (prompts),
    `loc_added_sum` / `loc_deleted_sum`, and `totals_by_cli` (sessions, tokens) where present.
    """
    path = Path(path)
    report = ParseReport(str(path))
    days: list[UsageDay] = []
    for number, row in read_objects(path, report):
        t = parse_time(row.get("day"))
        if t is None:
            report.skip(number, "no readable `day`")
            continue
        cli = row.get("totals_by_cli") if isinstance(row.get("totals_by_cli"), dict) else {}
        tokens = cli.get("token_usage") if isinstance(cli.get("token_usage"), dict) else {}
        login = row.get("user_login")
        days.append(
            UsageDay(
                source="copilot-metrics", day=t.date(), actor=login if isinstance(login, str) and login else None,
                agent="copilot", sessions=_int(cli.get("session_count")),
                prompts=_int(row.get("user_initiated_interaction_count")),
                lines_added=_int(row.get("loc_added_sum")), lines_deleted=_int(row.get("loc_deleted_sum")),
                tokens_in=_int(tokens.get("prompt_tokens_sum")), tokens_out=_int(tokens.get("output_tokens_sum")),
            )
        )
    return days, report


def read_claude_code_usage(path: str | Path) -> tuple[list[UsageDay], ParseReport]:
    """The admin API's Claude Code usage report, as saved JSON pages (`{"data": [...]}`) or JSONL.

    Each record: `date`, `actor` (`email_address` or `api_key_name`), `core_metrics`
    (`num_sessions`, `lines_of_code.added/removed`, `commits_by_claude_code`,
    `pull_requests_by_claude_code`) and `model_breakdown` (tokens and `estimated_cost`). Costs are
    in the lowest currency unit (cents), as everywhere in Anthropic's admin API.
    """
    path = Path(path)
    report = ParseReport(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UnreadablePath(f"{path}: cannot read ({e})") from None
    records: list[tuple[int, dict]] = []
    try:
        doc = safe.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        report.lines = text.count("\n") + 1
        del text  # a 100k-record report: the text and its parsed form would otherwise both be held
        records = [(0, r) for r in doc.pop("data") if isinstance(r, dict)]
        doc = None
    else:  # JSON Lines, one page or one record per line
        for number, obj in read_objects(path, report):
            if isinstance(obj.get("data"), list):
                records.extend((number, r) for r in obj["data"] if isinstance(r, dict))
            else:
                records.append((number, obj))
    days: list[UsageDay] = []
    for i, (number, r) in enumerate(records):
        records[i] = (number, None)  # each record is freed once it is a UsageDay: the peak stays one copy
        t = parse_time(r.get("date"))
        if t is None:
            report.skip(number, "record without a readable `date`")
            continue
        actor = r.get("actor") if isinstance(r.get("actor"), dict) else {}
        who = actor.get("email_address") or actor.get("api_key_name")
        core = r.get("core_metrics") if isinstance(r.get("core_metrics"), dict) else {}
        loc = core.get("lines_of_code") if isinstance(core.get("lines_of_code"), dict) else {}
        tin = tout = 0
        cents = 0.0
        seen_cost = False
        breakdown = r.get("model_breakdown")
        for m in breakdown if isinstance(breakdown, list) else []:
            if not isinstance(m, dict):
                continue
            tok = m.get("tokens") if isinstance(m.get("tokens"), dict) else {}
            tin += sum(_int(tok.get(k)) or 0 for k in ("input", "cache_read", "cache_creation"))
            tout += _int(tok.get("output")) or 0
            cost = m.get("estimated_cost") if isinstance(m.get("estimated_cost"), dict) else {}
            if isinstance(cost.get("amount"), (int, float, str)) and str(cost.get("currency", "USD")).upper() == "USD":
                amount = safe.to_float(cost["amount"], minimum=0)
                if amount is None:
                    report.skip(number, "unreadable estimated_cost.amount")
                else:
                    cents += amount
                    seen_cost = True
        days.append(
            UsageDay(
                source="claude-code-admin", day=t.date(), actor=who if isinstance(who, str) else None,
                agent="claude-code", sessions=_int(core.get("num_sessions")),
                lines_added=_int(loc.get("added")), lines_deleted=_int(loc.get("removed")),
                commits=_int(core.get("commits_by_claude_code")),
                pull_requests=_int(core.get("pull_requests_by_claude_code")),
                tokens_in=tin, tokens_out=tout, cost_usd=round(cents / 100.0, 6) if seen_cost else None,
            )
        )
    return days, report
