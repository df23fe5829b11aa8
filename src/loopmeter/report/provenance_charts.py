"""Line-level provenance and durability in the HTML report (template `_provenance.html.j2`): the
AI-written share of lines per week where provenance exists, and whether lines survived."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from ..stats.json_values import finite
from .html import AI_COLOUR, _base_layout, _figure_payload, _plot_text, fmt_int, fmt_pct, fmt_ratio

ORIGIN_LABELS = {"ai": "AI-assisted changes", "human": "Human changes", "ai_lines": "AI-written lines",
                 "human_lines": "Other lines of the same commits"}


def ai_lines_figure(weeks: list[Mapping[str, Any]]) -> go.Figure | None:
    """AI-written share of the lines added per week, over the commits that have provenance."""
    rows = [w for w in weeks if w.get("week") and finite(w.get("ai_share"))]
    if not rows:
        return None
    custom = [[fmt_int(w.get("ai_lines_added"), "?"), fmt_int(w.get("lines_added_with_provenance"), "?")] for w in rows]
    trace = go.Bar(name="AI-written share of lines", x=[_plot_text(w["week"]) for w in rows],
                   y=[w["ai_share"] for w in rows], customdata=custom, marker=dict(color=AI_COLOUR),
                   hovertemplate="week of %{x}: %{y:.0%}<br>%{customdata[0]} of %{customdata[1]} lines<extra></extra>")
    layout = _base_layout("AI-written share of lines, where provenance exists", height=320,
                          yaxis=dict(tickformat=".0%", range=[0, 1], title=dict(text="share of lines")),
                          xaxis=dict(type="date"))
    return go.Figure(data=[trace], layout=layout)


def provenance_context(report: Mapping[str, Any]) -> dict[str, Any]:
    """What `_provenance.html.j2` needs (formatted strings; the template escapes them)."""
    lines = (report.get("attribution") or {}).get("lines") or {}
    fig = ai_lines_figure(list(report.get("lines_weekly") or []))
    chart = {"id": "chart-ai-lines", "payload": _figure_payload(fig) if fig is not None else None,
             "note": "AI-written lines (Git AI notes in refs/notes/ai, Agent Trace records) divided by the lines added "
                     "by the commits that have such provenance, per week of landing. Commits without provenance are "
                     "not in it, so this is not the share of all code.",
             "empty": "No commit in scope has line-level provenance."}
    durability = [{"origin": ORIGIN_LABELS.get(r.get("origin"), _plot_text(r.get("origin"))),
                   "horizon": fmt_int(r.get("horizon_days")), "changes": fmt_int(r.get("changes")),
                   "added": fmt_int(r.get("lines_added")), "surviving": fmt_int(r.get("lines_surviving")),
                   "share": fmt_pct(r.get("share"))} for r in (report.get("durability") or [])]
    comparison = [{"horizon": fmt_int(r.get("horizon_days")), "ratio": fmt_ratio(r.get("ratio")),
                   "interval": (f"{fmt_ratio(r.get('ci_low'))} – {fmt_ratio(r.get('ci_high'))}"
                                if finite(r.get("ci_low")) and finite(r.get("ci_high")) else "—"),
                   "ai": fmt_pct(r.get("ai_share")), "human": fmt_pct(r.get("human_share")),
                   "authors": fmt_int(r.get("authors"))} for r in (report.get("durability_lift") or [])]
    return {"provenance": {
        "has_lines": bool(lines.get("commits_with_provenance")),
        "commits": fmt_int(lines.get("commits_with_provenance")),
        "share": fmt_pct(lines.get("ai_share")),
        "ai_lines": fmt_int(lines.get("ai_lines_added")),
        "lines_with": fmt_int(lines.get("lines_added_with_provenance")),
        "chart": chart, "durability": durability, "comparison": comparison,
    }}
