"""The digest: the verdict and the headline numbers as Markdown, for a PR comment or a chat post.

`loopmeter report --format markdown`. Every string that can come from a repository (repository,
team and agent names, caveats that quote them) is escaped: Markdown punctuation gets a backslash,
``<``, ``>`` and ``&`` become entities (GitHub renders inline HTML), and ``@`` cannot mention
anyone. The digest names no person: the document it reads is pseudonymous unless built with
`--show-names`, and it shows no per-person row either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..stats.json_values import finite
from .control_chars import replace_control
from .verdict_view import verdict_rows

__all__ = ["render_markdown", "md_escape"]

_ICON = {"good": "🟢", "bad": "🔴", "warn": "🟠", "neutral": "⚪", "muted": "⚪"}
# Characters that make markup anywhere in a line. Those that only do at the start of a line (#, -,
# +, "1.") are safe here: every escaped value follows text of ours. Escaping more would litter
# chat tools that show Markdown as plain text with backslashes.
_PUNCT = re.compile(r"([\\`*_\[\]|~])")


def md_escape(value: Any) -> str:
    """Text that renders as itself in GitHub-flavoured Markdown, on one line."""
    # Control characters (ANSI escapes, BEL) would drive the terminal the Markdown is printed to.
    text = replace_control(" ".join(str("" if value is None else value).split()))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _PUNCT.sub(r"\\\1", text)
    text = text.replace("://", "\\://").replace("www.", "www\\.")  # no autolink either
    return text.replace("@", "&#64;")  # no @-mention, no e-mail autolink


def _pct(v: Any) -> str:
    return f"{v * 100:.0f}%" if finite(v) else "unknown"


def _int(v: Any) -> str:
    return f"{int(v):,}" if finite(v) else "unknown"


def render_markdown(doc: Mapping[str, Any], *, title: str | None = None) -> str:
    """The Markdown digest of a report document (docs/json-report.md)."""
    repos = [str(r.get("repo") or r.get("path") or "") for r in doc.get("repos") or [] if isinstance(r, Mapping)]
    heading = title or ("loopmeter: " + ", ".join(repos) if repos else "loopmeter report")
    out = [f"### {md_escape(heading)}", ""]
    as_of = str(doc.get("as_of") or "")[:10]
    if as_of and "totals" in doc:  # without git history, each loop is judged as of its own newest event
        out += [f"Data as of {md_escape(as_of)}.", ""]
    rows, from_verdict = verdict_rows(doc)
    from .loop_view import experiment_rows, log_rows

    loops = [r for r in log_rows(doc) + experiment_rows(doc) if r.verdict]
    if rows:
        out += _verdict_table(rows)
        if not from_verdict:
            out += ["", "*No verdict in this report: these are raw estimates, not a judgement of whether they hold up.*"]
        out.append("")
    elif not loops:
        out += ["No question could be answered from this data.", ""]
    # Every other loop with its own verdicts, as the page and the terminal show them.
    for loop in loops:
        out += [f"#### {md_escape(loop.name)} ({md_escape(loop.kind)})", ""]
        if loop.adoption or loop.dates:
            said = [f"adoption {loop.adoption}"] if loop.adoption else []
            said += [f"cut to {loop.dates}"] if loop.dates else []
            out += [md_escape("; ".join(said).capitalize() + "."), ""]
        out += _verdict_table(loop.verdict) + [""]
    if "totals" not in doc:  # no git history: no change numbers to headline
        return "\n".join(out)
    totals = doc.get("totals") or {}
    cycle = doc.get("cycle_time_hours") or {}
    share = (doc.get("attribution") or {}).get("ai_share_lower_bound")
    adoption = (doc.get("adoption") or {}).get("date")
    facts = [
        f"{_int(totals.get('changes'))} changes",
        f"{_int(totals.get('validated_changes'))} validated",
        f"AI-assisted: at least {_pct(share)}",
        f"median cycle time {_hours(cycle.get('p50'))}",
        f"{_int(totals.get('contributors'))} contributors",
        f"adoption {adoption or 'not found'}",
    ]
    out.append("**Headline numbers:** " + " · ".join(md_escape(f) for f in facts))
    warnings = doc.get("warnings") or []
    if warnings:
        out.append(f"\n{len(warnings)} data-quality warning{'s' if len(warnings) != 1 else ''}: see the full report.")
    out.append("")
    return "\n".join(out)


def _verdict_table(rows) -> list[str]:
    out = ["| Question | Verdict | Ratio | 95% interval | n |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {md_escape(r.label)} | {_ICON.get(r.tone, '')} {md_escape(r.badge)} | "
                   f"{md_escape(r.ratio or '—')} {md_escape(r.compares) if r.ratio else ''} | "
                   f"{md_escape(r.interval or '—')} | {md_escape(r.sizes or '—')} |")
    out.append("")
    for r in rows:
        line = f"- **{md_escape(r.label)}**: {md_escape(r.sentence)}"
        if r.exposure:
            line += f" *{md_escape(r.exposure)}.*"
        out.append(line)
    return out


def _hours(v: Any) -> str:
    from .html import fmt_hours

    return fmt_hours(v)
