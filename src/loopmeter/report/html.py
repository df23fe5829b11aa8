"""Self-contained HTML report: one file, plotly.js inlined once, no network access needed.

Every string that comes from a repository (titles, names, repo and agent names, warnings,
caveats) is untrusted. Two rules keep it inert:

* HTML goes through Jinja2 with autoescape on.
* Strings handed to Plotly are HTML-escaped first (`_plot_text`), because Plotly renders a
  subset of tags (``<b>``, ``<a>``, ``<br>`` ...) in hover text and labels, and the figure JSON
  is embedded with ``<``, ``>`` and ``&`` written as ``\\u003c`` etc. (`_embed_json`), so no
  string can close the ``<script>`` block that carries it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup

from ..stats.json_values import finite
from .control_chars import HTML_CONTROL, replace_control
from .lift_text import _GROUP_LABELS, comparison_label, comparison_parts  # noqa: F401 (re-exported)
from .charts import (ADOPTION_COLOUR, AI_COLOUR, HUMAN_COLOUR, INK, MUTED, PENDING_COLOUR, base_layout, draw_script,
                     embed_json, figure_payload, figure_tag, library_script, plot_text,
                     template_script)

__all__ = ["render_html"]

#: Titles longer than this are cut in hover text to keep the file small.
HOVER_TITLE_CHARS = 90
#: At most this many changes are points in the cycle-time scatter (a seeded sample beyond it).
CYCLE_POINTS = 1500
#: Rows in the "slowest" and "most recent" change tables.
TABLE_ROWS = 10

_METRIC_LABELS = {
    "cycle_time_hours": "Median cycle time",
    "cycle_time_hours_p50": "Median cycle time",
    "cycle_time_hours_p85": "85th-percentile cycle time",
    "validated_throughput_per_contributor_week": "Validated throughput per contributor-week",
    "validated_throughput": "Validated throughput",
    "size_lines": "Change size (lines)",
    "revert_rate": "Revert rate",
}
_ESTIMATOR_LABELS = {
    "ratio_of_medians": "ratio of medians",
    "ratio_of_rates": "ratio of rates",
    "ratio_of_means": "ratio of means",
}


# --------------------------------------------------------------------------- formatting


def fmt_int(value: Any, missing: str = "unknown") -> str:
    if not finite(value):
        return missing
    return f"{round(value):,}"


def fmt_pct(value: Any, missing: str = "unknown", digits: int = 1) -> str:
    if not finite(value):
        return missing
    return f"{value * 100:.{digits}f}%"


def fmt_hours(value: Any, missing: str = "unknown") -> str:
    """Hours as a person would say them: minutes below an hour, days from two days on."""
    if not finite(value):
        return missing
    if value < 1:
        return f"{max(value * 60, 0):.0f} min"
    if value < 48:
        return f"{value:.1f} h"
    days = value / 24
    return f"{days:.1f} days" if days < 100 else f"{days:,.0f} days"


def fmt_ratio(value: Any, missing: str = "—") -> str:
    if not finite(value):
        return missing
    return f"{value:.2f}×"


def fmt_num(value: Any, missing: str = "—", digits: int = 1) -> str:
    if not finite(value):
        return missing
    return f"{value:,.{digits}f}"


def fmt_date(value: Any, missing: str = "unknown") -> str:
    if value is None or value == "":
        return missing
    if isinstance(value, datetime):
        return _naive_utc(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    # ISO 8601 with a trailing Z: show date and minutes, say it is UTC.
    if len(text) >= 16 and text[10:11] == "T":
        return text[:10] + " " + text[11:16] + " UTC"
    return text


def fmt_share_phrase(numerator: Any, denominator: Any) -> str:
    if not finite(numerator) or not finite(denominator) or denominator <= 0:
        return "unknown"
    return "at least " + fmt_pct(numerator / denominator)


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _humanize(key: str) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "—"


def metric_label(metric: Any) -> str:
    return _METRIC_LABELS.get(str(metric), _humanize(str(metric)))


def lift_sentence(entry: Mapping[str, Any]) -> str:
    """One or two plain sentences saying what a lift entry means."""
    ratio = entry.get("ratio")
    if not finite(ratio) or ratio <= 0:
        return "No estimate: the data cannot support one (see the caveats)."
    first, _, second = str(entry.get("comparison") or "").partition("/")
    label = metric_label(entry.get("metric"))
    change = (ratio - 1) * 100
    if abs(change) < 0.5:
        text = f"{label} is about the same {_group_phrase(first)} as {_group_phrase(second)}."
    else:
        direction = "higher" if change > 0 else "lower"
        text = f"{label} is {abs(change):.0f}% {direction} {_group_phrase(first)} than {_group_phrase(second)}."
    lo, hi = entry.get("ci_low"), entry.get("ci_high")
    if finite(lo) and finite(hi):
        span = f"{lo:.2f}–{hi:.2f}"
        if lo <= 1 <= hi:
            text += f" The 95% interval ({span}) includes 1, so no difference is also consistent with the data."
        else:
            text += f" The 95% interval ({span}) excludes 1."
    else:
        text += " No confidence interval could be computed."
    return text


def _group_phrase(group: str) -> str:
    if group in ("after", "before"):
        return f"{group} adoption"
    return "for " + _GROUP_LABELS.get(group, group.replace("_", " ") or "this group")


# Shared with the other pages' charts (report/charts.py); the old private names stay for the modules
# that build on this one.
_plot_text = plot_text
_embed_json = embed_json
_figure_payload = figure_payload


# --------------------------------------------------------------------------- figures


_base_layout = base_layout


def _adoption_marks(adoption_date: str | None) -> tuple[list[dict], list[dict]]:
    if not adoption_date:
        return [], []
    shape = dict(type="line", xref="x", yref="paper", x0=adoption_date, x1=adoption_date,
                 y0=0, y1=1, line=dict(color=ADOPTION_COLOUR, width=1.5, dash="dot"))
    note = dict(x=adoption_date, xref="x", y=1, yref="paper", yanchor="bottom", showarrow=False,
                text="AI adoption", font=dict(size=11, color=ADOPTION_COLOUR), xanchor="left")
    return [shape], [note]


def _throughput_figure(weekly: list[Mapping[str, Any]], adoption_date: str | None) -> go.Figure | None:
    rows = [w for w in weekly if w.get("week_start")]
    if not rows:
        return None
    x = [str(w["week_start"]) for w in rows]
    labels = [_plot_text(w.get("week") or w["week_start"]) for w in rows]

    def column(key: str) -> list[Any]:
        return [w.get(key) if finite(w.get(key)) else None for w in rows]

    common = dict(x=x, customdata=labels, xperiod=7 * 24 * 3600 * 1000, xperiodalignment="middle")
    traces = [
        go.Bar(name="Human", y=column("human_validated"), marker_color=HUMAN_COLOUR,
               hovertemplate="%{customdata}<br>Human, validated: %{y}<extra></extra>", **common),
        go.Bar(name="AI-assisted", y=column("ai_validated"), marker_color=AI_COLOUR,
               hovertemplate="%{customdata}<br>AI-assisted, validated: %{y}<extra></extra>", **common),
    ]
    if any(finite(w.get("pending")) and w.get("pending") for w in rows):
        traces.append(go.Bar(
            name="Pending (not yet validated)", y=column("pending"), marker_color=PENDING_COLOUR,
            hovertemplate="%{customdata}<br>Pending: %{y}<extra></extra>", **common))
    shapes, notes = _adoption_marks(adoption_date)
    layout = _base_layout(
        "Validated changes per week",
        barmode="stack", bargap=0.15, shapes=shapes, annotations=notes,
        yaxis=dict(title=dict(text="changes"), rangemode="tozero"),
        xaxis=dict(type="date"),
    )
    return go.Figure(data=traces, layout=layout)


_LOG_TICKS = [
    (1 / 60, "1 min"), (10 / 60, "10 min"), (1, "1 h"), (4, "4 h"), (24, "1 day"), (72, "3 days"),
    (168, "1 week"), (720, "30 days"), (2160, "90 days"), (8760, "1 year"), (43800, "5 years"),
]


def _cycle_figure(changes: list[Mapping[str, Any]], cycle: Mapping[str, Any],
                  adoption_date: str | None) -> tuple[go.Figure | None, dict[str, int]]:
    groups: dict[bool, dict[str, list[Any]]] = {
        flag: {"x": [], "y": [], "custom": [], "symbol": []} for flag in (False, True)
    }
    skipped = {"unknown": 0, "zero": 0, "drawn": 0, "plottable": 0}
    lo_hi: list[float] = []
    plottable = []
    for change in changes:
        hours = change.get("cycle_hours")
        done = change.get("done_at")
        if not finite(hours) or done is None:
            skipped["unknown"] += 1
        elif hours <= 0:
            skipped["zero"] += 1
        else:
            plottable.append(change)
    skipped["plottable"] = len(plottable)
    if len(plottable) > CYCLE_POINTS:
        # Thousands of SVG points take seconds to draw and hide each other anyway; a seeded sample
        # keeps the cloud's shape, and the median lines below come from every change.
        keep = sorted(random.Random(0).sample(range(len(plottable)), CYCLE_POINTS))
        plottable = [plottable[i] for i in keep]
    skipped["drawn"] = len(plottable)
    for change in plottable:
        hours = change["cycle_hours"]
        done = change["done_at"]
        ai = bool(change.get("ai"))
        g = groups[ai]
        g["x"].append(_naive_utc(done).strftime("%Y-%m-%d %H:%M") if isinstance(done, datetime) else str(done))
        g["y"].append(float(f"{hours:.4g}"))
        agents = ", ".join(str(a) for a in (change.get("agents") or []))
        details = " · ".join(
            part for part in (
                str(change.get("repo") or ""),
                str(change.get("author") or ""),
                str(change.get("state") or ""),
                agents,
            ) if part
        )
        g["custom"].append([
            _plot_text(change.get("title") or "(no title)", HOVER_TITLE_CHARS),
            _plot_text(details, 120),
            fmt_hours(hours),
        ])
        g["symbol"].append("x" if change.get("state") == "reverted" else "circle")
        lo_hi.append(hours)
    if not lo_hi:
        return None, skipped

    traces: list[Any] = []
    for ai, name, colour in ((False, "Human", HUMAN_COLOUR), (True, "AI-assisted", AI_COLOUR)):
        g = groups[ai]
        if not g["x"]:
            continue
        traces.append(go.Scatter(
            name=name, x=g["x"], y=g["y"], customdata=g["custom"], mode="markers",
            marker=dict(color=colour, size=6, opacity=0.55, symbol=g["symbol"]),
            hovertemplate=("<b>%{customdata[0]}</b><br>%{customdata[1]}<br>"
                           "cycle time %{customdata[2]} · done %{x|%Y-%m-%d}<extra></extra>"),
        ))
    all_x = groups[False]["x"] + groups[True]["x"]
    x_range = [min(all_x), max(all_x)]
    for key, label, dash in (("p50", "Median (p50)", "dash"), ("p85", "p85", "dot")):
        value = cycle.get(key)
        if finite(value) and value > 0:
            traces.append(go.Scatter(
                name=f"{label}: {fmt_hours(value)}", x=x_range, y=[value, value], mode="lines",
                line=dict(color=INK, width=1.5, dash=dash), hoverinfo="skip",
            ))
            lo_hi.append(value)
    low, high = min(lo_hi), max(lo_hi)
    ticks = [(v, t) for v, t in _LOG_TICKS if low / 3 <= v <= high * 3] or _LOG_TICKS
    shapes, notes = _adoption_marks(adoption_date)
    layout = _base_layout(
        "Cycle time per change (first commit to merge)",
        shapes=shapes, annotations=notes, hovermode="closest",
        yaxis=dict(type="log", title=dict(text="cycle time (log scale)"),
                   tickvals=[v for v, _ in ticks], ticktext=[t for _, t in ticks]),
        xaxis=dict(type="date"),
        height=420,
    )
    return go.Figure(data=traces, layout=layout), skipped


def _ai_share_figure(weekly: list[Mapping[str, Any]], overall: Any,
                     adoption_date: str | None) -> go.Figure | None:
    x, y, custom = [], [], []
    for w in weekly:
        if not w.get("week_start"):
            continue
        changes, ai, bots = w.get("changes"), w.get("ai_assisted"), w.get("bot") or 0
        denominator = changes - bots if finite(changes) and finite(bots) else None
        share = ai / denominator if finite(ai) and denominator and denominator > 0 else None
        x.append(str(w["week_start"]))
        y.append(share)
        custom.append([_plot_text(w.get("week") or w["week_start"]), fmt_int(ai, "?"), fmt_int(denominator, "?")])
    if not any(v is not None for v in y):
        return None
    traces: list[Any] = [go.Scatter(
        name="AI-assisted share (lower bound)", x=x, y=y, customdata=custom, mode="lines+markers",
        line=dict(color=AI_COLOUR, width=2), marker=dict(size=6), connectgaps=False,
        hovertemplate="%{customdata[0]}: at least %{y:.0%}<br>%{customdata[1]} of %{customdata[2]} non-bot changes<extra></extra>",
    )]
    if finite(overall):
        traces.append(go.Scatter(
            name=f"Whole period: at least {fmt_pct(overall)}", x=[x[0], x[-1]], y=[overall, overall],
            mode="lines", line=dict(color=MUTED, width=1.2, dash="dash"), hoverinfo="skip",
        ))
    top = max([v for v in y if v is not None] + ([overall] if finite(overall) else []))
    shapes, notes = _adoption_marks(adoption_date)
    layout = _base_layout(
        "Share of changes with an AI signal (a lower bound)",
        shapes=shapes, annotations=notes,
        yaxis=dict(tickformat=".0%", range=[0, min(1.0, max(0.05, top * 1.2))],
                   title=dict(text="at least this share")),
        xaxis=dict(type="date"), height=340,
    )
    return go.Figure(data=traces, layout=layout)


def _size_figure(changes: list[Mapping[str, Any]], size: Mapping[str, Any]) -> go.Figure | None:
    """Share of changes per size band (lines added + deleted, log-spaced bands), human vs AI."""
    edges = [0, 1, 10, 30, 100, 300, 1000, 3000, 10000]
    labels = ["0", "1-9", "10-29", "30-99", "100-299", "300-999", "1k-3k", "3k-10k", "10k+"]

    def band(n: int) -> int:
        return sum(1 for e in edges[1:] if n >= e)

    counts = {"Human": [0] * len(labels), "AI-assisted": [0] * len(labels)}
    for c in changes:
        n = c.get("size_lines")
        if finite(n) and c.get("state") is not None:
            counts["AI-assisted" if c.get("ai") else "Human"][band(int(n))] += 1
    if not any(sum(v) for v in counts.values()):
        return None
    traces = []
    for name, colour in (("Human", HUMAN_COLOUR), ("AI-assisted", AI_COLOUR)):
        total = sum(counts[name])
        if not total:
            continue
        traces.append(go.Bar(
            name=f"{name} (n={total:,})", x=labels, y=[v / total for v in counts[name]], marker_color=colour,
            customdata=counts[name], hovertemplate="%{x} lines: %{y:.0%} (%{customdata:,} changes)<extra></extra>",
        ))
    p50 = size.get("p50")
    title = "Change size (lines added + deleted)" + (f", median {p50:,.0f}" if finite(p50) else "")
    layout = _base_layout(title, barmode="group", height=320,
                          yaxis=dict(tickformat=".0%", title=dict(text="share of changes")),
                          xaxis=dict(title=dict(text="lines changed")))
    return go.Figure(data=traces, layout=layout)


def _default_lift_label(e: Mapping[str, Any]) -> str:
    first, second = comparison_parts(e.get("comparison"))
    short = {"AI-assisted changes": "AI-assisted", "human changes": "human"}
    compare = f"{short.get(first, first)} vs {short.get(second, second)}"
    return f"{_plot_text(metric_label(e.get('metric')), 50)}<br>{_plot_text(compare, 50)}"


def not_verdict_tag(verdict: Any, design: Any, metric: Any, comparison: Any = None) -> str:
    """A chart row label's last line when the verdict found too little data for its question
    (lift_text.not_a_verdict); "" otherwise. The bar stays, but no longer reads as a finding."""
    from .lift_text import not_a_verdict

    label = not_a_verdict(verdict, design, metric, comparison=comparison)
    return "<br><span style='font-size:10px'>not a verdict: too little data</span>" if label else ""


def _lift_figure(lift: list[Mapping[str, Any]], *, label_of=_default_lift_label,
                 title: str = "Lift: ratio with 95% confidence interval") -> go.Figure | None:
    """Forest plot: one row per estimate, the ratio and its 95% interval on a log axis.

    `label_of` writes a row's label; it must return text already made safe with `_plot_text`.
    """
    rows = [e for e in lift if finite(e.get("ratio")) and e["ratio"] > 0]
    if not rows:
        return None
    labels, ratios, plus, minus, custom = [], [], [], [], []
    extent = [1.0]
    for i, e in enumerate(rows):
        ratio = float(e["ratio"])
        lo, hi = e.get("ci_low"), e.get("ci_high")
        lo = float(lo) if finite(lo) and lo > 0 else None
        hi = float(hi) if finite(hi) and hi > 0 else None
        # Category labels must be unique; a zero-width suffix would be invisible, so number repeats.
        label = label_of(e)
        if label in labels:
            label += f" ({i + 1})"
        labels.append(label)
        ratios.append(ratio)
        plus.append(hi - ratio if hi is not None else 0)
        minus.append(ratio - lo if lo is not None else 0)
        extent += [v for v in (ratio, lo, hi) if v is not None]
        ci = f"{lo:.2f}–{hi:.2f}" if lo is not None and hi is not None else "not available"
        custom.append([f"{ratio:.2f}×", ci, fmt_int(e.get("n_a"), "?"), fmt_int(e.get("n_b"), "?")])
    row, pad = _row_room(labels)
    low, high = math.log10(min(extent)), math.log10(max(extent))
    xpad = max(0.05, (high - low) * 0.15)
    trace = go.Scatter(
        name="ratio", x=ratios, y=labels, customdata=custom, mode="markers",
        marker=dict(color=INK, size=11, symbol="square"),
        error_x=dict(type="data", symmetric=False, array=plus, arrayminus=minus,
                     color=INK, thickness=2, width=6),
        hovertemplate="ratio %{customdata[0]}<br>95% CI %{customdata[1]}<br>n = %{customdata[2]} vs %{customdata[3]}<extra></extra>",
        showlegend=False,
    )
    layout = _base_layout(
        title,
        xaxis=dict(type="log", range=[low - xpad, high + xpad], title=dict(text="ratio (log scale; 1 = no difference)"),
                   zeroline=False),
        # Reversed (first row on top) by hand, to leave `pad` rows of room under the last one.
        yaxis=dict(range=[len(rows) - 0.5 + pad, -0.5], automargin=True),
        # plotly.js >= 3 places shapes on a log axis in data coordinates.
        shapes=[dict(type="line", xref="x", yref="paper", x0=1, x1=1, y0=0, y1=1,
                     line=dict(color=ADOPTION_COLOUR, width=1.5, dash="dash"))],
        height=max(220, 110 + round(row * (len(rows) + pad))),
        margin=dict(l=20, r=20, t=50, b=50),
    )
    return go.Figure(data=[trace], layout=layout)


def _row_room(labels: list[str]) -> tuple[int, float]:
    """Pixels per forest row, and how many rows' room to leave under the last one.

    Plotly hangs a multi-line tick label from its tick (measured in Chromium: ~7 px above it,
    ~15 px a line below), not centred on it; the last row's lower lines (the "not a verdict" tag)
    then ran over the x-axis ticks and out of the plot. 44 px suits the usual two-line label,
    each further line gets 16 more; the room below is what the last label hangs past half a row."""
    lines = max((label.count("<br>") + 1 for label in labels), default=2)
    row = 44 + 16 * max(0, lines - 2)
    below = 15 * lines - 5 + 6  # the label's reach under its tick, and a gap above the x ticks
    return row, max(0.0, (below - row / 2) / row)


# --------------------------------------------------------------------------- tables


_DAY_MS = 86_400_000


def _weeks_axis(weeks: list[str]) -> dict[str, Any]:
    """A date axis for a few weekly points: Plotly zooms a lone date to milliseconds
    ("23:59:59.9996"), so a short series gets a range of whole weeks, one tick per week."""
    days = sorted({w[:10] for w in weeks})
    if not days or len(days) > 8:
        return dict(type="date")
    first, last = datetime.fromisoformat(days[0]), datetime.fromisoformat(days[-1])
    return dict(type="date", tickformat="%Y-%m-%d", tick0=days[0], dtick=7 * _DAY_MS,
                range=[(first - timedelta(days=4)).isoformat(), (last + timedelta(days=4)).isoformat()])


def _agent_loop_figures(loops: Mapping[str, Any]) -> dict[str, go.Figure | None]:
    """Time to green (distribution), human interventions per week, cost per validated change per week."""
    from .partial_charts import mark_partial_bars  # it imports this module

    figs: dict[str, go.Figure | None] = {"ttg": None, "interventions": None, "cost": None}
    ttg = [v for v in loops.get("time_to_green_minutes") or [] if finite(v)]
    if ttg:
        # Binned here: the partial plotly.js bundle (report/charts.py) has no histogram trace.
        counts, edges = np.histogram(ttg, bins=min(30, max(5, len(ttg) // 2)))
        mids = [(float(a) + float(b)) / 2 for a, b in zip(edges[:-1], edges[1:])]
        spans = [f"{float(a):.3g}–{float(b):.3g}" for a, b in zip(edges[:-1], edges[1:])]
        fig = go.Figure(go.Bar(x=mids, y=[int(c) for c in counts], width=float(edges[1] - edges[0]),
                               customdata=spans, marker_color=AI_COLOUR,
                               hovertemplate="%{customdata} min: %{y} sessions<extra></extra>"))
        fig.update_layout(**_base_layout("Time from session start to the first passing test run",
                                         xaxis_title="minutes", yaxis_title="sessions", bargap=0.05))
        fig.update_yaxes(rangemode="tozero", tickformat=",d", dtick=1 if len(ttg) <= 10 else None)  # whole sessions
        figs["ttg"] = fig
    weekly = [w for w in loops.get("weekly") or [] if w.get("week")]
    if weekly:
        x = [str(w["week"]) for w in weekly]
        fig = go.Figure()
        fig.add_bar(x=x, y=[w.get("sessions") or 0 for w in weekly], name="sessions", marker_color="#b9c7d8",
                    width=[5 * _DAY_MS] * len(x))
        fig.add_scatter(x=x, y=[w.get("interventions") or 0 for w in weekly], name="human interventions",
                        mode="lines+markers", line=dict(color=AI_COLOUR))
        fig.update_layout(**_base_layout("Agent sessions and human interventions per week", yaxis_title="count",
                                         xaxis=_weeks_axis(x)))
        # Bars sit on their Monday here (not across the week): the week is named in a label, not framed.
        figs["interventions"] = mark_partial_bars(fig, weekly, date_axis=False)
    pv = (loops.get("per_validated_change") or {}).get("weekly") or []
    pv = [w for w in pv if finite(w.get("cost_per_validated_change"))]
    if pv:
        fig = go.Figure(go.Scatter(
            x=[str(w["week"]) for w in pv], y=[w["cost_per_validated_change"] for w in pv], mode="lines+markers",
            line=dict(color=AI_COLOUR), customdata=[w.get("validated_changes") for w in pv],
            hovertemplate="%{x}: $%{y:.2f} per validated change (%{customdata} validated)<extra></extra>"))
        fig.update_layout(**_base_layout("Agent cost per validated change, by week the change landed",
                                         yaxis_title="USD", xaxis=_weeks_axis([str(w["week"]) for w in pv])))
        figs["cost"] = mark_partial_bars(fig, pv, date_axis=False)
    return figs


def _change_row(change: Mapping[str, Any]) -> dict[str, Any]:
    agents = [str(a) for a in (change.get("agents") or [])]
    done = change.get("done_at")
    return {
        "done": fmt_date(done, "—") if isinstance(done, (datetime, date)) else (str(done) if done else "—"),
        "repo": str(change.get("repo") or "—"),
        "title": str(change.get("title") or "(no title)"),
        "url": change.get("url") or None,
        "ai": ", ".join(agents) if agents else ("AI (agent unknown)" if change.get("ai") else "—"),
        "is_ai": bool(change.get("ai")),
        "state": str(change.get("state") or "—"),
        "cycle": fmt_hours(change.get("cycle_hours"), "—"),
        "size": fmt_int(change.get("size_lines"), "—"),
    }


def _sort_time(change: Mapping[str, Any]) -> datetime:
    done = change.get("done_at")
    return _naive_utc(done) if isinstance(done, datetime) else datetime.min


_TOTAL_ROWS = [
    ("commits", "Commits", "reachable from the analysed HEADs"),
    ("changes", "Changes", "units of work landed on the default branch (PR merges, squash merges, direct commits)"),
    ("validated_changes", "Validated changes", "done, older than the validation window and not reverted within it"),
    ("pending_changes", "Pending changes", "younger than the validation window: not yet validated or refuted"),
    ("reverted_changes", "Reverted changes", "reverted within the validation window"),
    ("ci_failed_changes", "Changes whose merge CI failed", "CI ran on the merge (or the PR's head) and a workflow never passed; not validated"),
    ("ai_assisted_changes", "AI-assisted changes (at least)", "changes with at least one AI signal; signals can be removed, so this is a lower bound"),
    ("ai_assisted_commits", "AI-assisted commits (at least)", "commits with at least one AI signal"),
    ("bot_changes", "Bot changes", "authored by dependency bots; left out of human-vs-AI comparisons"),
    ("contributors", "Contributors", "people active in any week: authors of landed changes and their commits, and the people an agent's changes were delegated by (agent accounts are not people)"),
    ("changes_with_pr_commits", "Squash merges with PR commits read", "their start time comes from the PR's own commits (refs/pull/N/head)"),
    ("squash_changes_without_pr_commits", "Squash merges without PR commits", "the PR's own commits were not available, so the start of work could not be read from them"),
]


def _repo_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for repo in report.get("repos") or []:
        totals = repo.get("totals") or {}
        changes, bots, ai = totals.get("changes"), totals.get("bot_changes") or 0, totals.get("ai_assisted_changes")
        denominator = changes - bots if finite(changes) and finite(bots) else None
        shallow = repo.get("shallow")
        rows.append({
            "repo": str(repo.get("repo") or repo.get("path") or "—"),
            "head_ref": str(repo.get("head_ref") or "—").removeprefix("refs/heads/"),
            "head": str(repo.get("head") or "")[:10] or "—",
            "shallow": bool(shallow),
            "missing_blob_files": repo.get("missing_blob_files") if finite(repo.get("missing_blob_files")) else None,
            "pull_heads": fmt_int(repo.get("pull_heads"), "unknown"),
            "commits": fmt_int(totals.get("commits"), "—"),
            "changes": fmt_int(changes, "—"),
            "validated": fmt_int(totals.get("validated_changes"), "—"),
            "reverted": fmt_int(totals.get("reverted_changes"), "—"),
            "ai": fmt_int(ai, "—"),
            "ai_share": fmt_share_phrase(ai, denominator) if denominator else "—",
            "contributors": fmt_int(totals.get("contributors"), "—"),
            "with_pr": fmt_int(totals.get("changes_with_pr_commits"), "—"),
            "without_pr": fmt_int(totals.get("squash_changes_without_pr_commits"), "—"),
        })
    return rows


def _agent_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    attribution = report.get("attribution") or {}
    by_change = attribution.get("changes_by_agent") or {}
    by_commit = attribution.get("commits_by_agent") or {}
    ai_total = (report.get("totals") or {}).get("ai_assisted_changes")
    names = sorted(set(by_change) | set(by_commit),
                   key=lambda n: (-(by_change.get(n) or 0), -(by_commit.get(n) or 0), str(n)))
    rows = []
    for name in names:
        n = by_change.get(name)
        rows.append({
            "agent": str(name),
            "changes": fmt_int(n, "—"),
            "commits": fmt_int(by_commit.get(name), "—"),
            "share": fmt_pct(n / ai_total, "—") if finite(n) and finite(ai_total) and ai_total > 0 else "—",
        })
    return rows


def _class_rows(report: Mapping[str, Any]) -> dict[str, Any] | None:
    attribution = report.get("attribution") or {}
    by_class = attribution.get("by_class")
    if not by_class:
        return None
    counted = [str(c) for c in attribution.get("ai_classes") or ("authored", "assisted")]
    return {
        "counted": counted,
        "not_counted": attribution.get("changes_not_counted") or 0,
        "rows": [{"name": str(k), "changes": fmt_int(v, "—"), "counted": k in counted} for k, v in by_class.items()],
    }


def _slice(filters: Any) -> list[str]:
    """The document's `filters` (report --repo/--team/--agent/--from/--to, the dashboard's filter
    bar) as plain phrases; empty for a report on everything."""
    if not isinstance(filters, Mapping):
        return []
    out = []
    repos = [str(r) for r in filters.get("repo") or []]
    if repos:
        out.append(("repository " if len(repos) == 1 else "repositories ") + ", ".join(repos))
    if filters.get("team"):
        out.append(f"team {filters['team']}")
    if filters.get("agent"):
        out.append(f"AI-assisted means with agent {filters['agent']}")
    since, until = filters.get("from"), filters.get("to")
    if since or until:
        out.append(("landed " + (f"from {since} " if since else "") + (f"to {until}" if until else "")).strip())
    return out


def _lift_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    from .lift_text import not_a_verdict

    rows = []
    for e in report.get("lift") or []:
        ratio, lo, hi = e.get("ratio"), e.get("ci_low"), e.get("ci_high")
        estimated = finite(ratio)
        rows.append({
            # The verdict found too little data for this row's question: the number is shown greyed
            # under that label, never as a bare headline.
            "not_verdict": not_a_verdict(report.get("verdict"), None, e.get("metric"), comparison=e.get("comparison"))
                           if estimated else None,
            "metric": metric_label(e.get("metric")),
            "term": "throughput" if "throughput" in str(e.get("metric")) else "cycle-time"
                    if "cycle" in str(e.get("metric")) else "ratio",
            "comparison": comparison_label(e.get("comparison")),
            "estimator": _ESTIMATOR_LABELS.get(str(e.get("estimator")), _humanize(str(e.get("estimator") or "—"))),
            "estimated": estimated,
            "ratio": fmt_ratio(ratio, "no estimate"),
            "ci": f"{lo:.2f}–{hi:.2f}" if finite(lo) and finite(hi) else "—",
            "n_a": fmt_int(e.get("n_a"), "—"),
            "n_b": fmt_int(e.get("n_b"), "—"),
            "n_clusters": fmt_int(e.get("n_clusters"), "—"),
            "sentence": lift_sentence(e),
            "caveats": [str(c) for c in (e.get("caveats") or [])],
        })
    return rows


# --------------------------------------------------------------------------- entry point


def _legibility_section(cards: Any, summary: Any = None) -> dict[str, Any]:
    from ..legibility.render import section_context

    return section_context(cards if isinstance(cards, Mapping) else None,
                           summary if isinstance(summary, Mapping) else None)


def _no_control(value: Any) -> Any:
    """Jinja's finalize: every value a template prints, before autoescaping, without control characters
    (ANSI escapes, BEL, backspace: HTML escaping leaves them; report/control_chars.py)."""
    if not isinstance(value, str) or not HTML_CONTROL.search(value):
        return value
    cleaned = replace_control(value, html=True)
    return Markup(cleaned) if isinstance(value, Markup) else cleaned


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("loopmeter.report", "templates"),
        autoescape=True,
        finalize=_no_control,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from .glossary import anchor

    env.globals.update(figure_tag=figure_tag, glossary_anchor=anchor)
    env.filters.update(
        int=fmt_int, num=fmt_num, pct=fmt_pct, hours=fmt_hours, ratio=fmt_ratio, when=fmt_date,
    )
    return env


def page_title(report: Mapping[str, Any]) -> str:
    """"AI and delivery: acme/api, acme/web" — the page names its repositories (three at most)."""
    names = [str(r.get("repo") or r.get("path") or "") for r in report.get("repos") or [] if isinstance(r, Mapping)]
    names = [n for n in names if n]
    if not names:
        return "loopmeter report"
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"AI and delivery: {shown} (loopmeter)"


def render_html(report: dict, changes: Iterable[dict], path: Path, *, title: str | None = None,
                repo_urls: Mapping[str, str] | None = None) -> Path:
    """Write the self-contained HTML report for ``report`` (docs/json-report.md) to ``path``."""
    path = Path(path)
    html_text = render_page(report, changes, title=title, repo_urls=repo_urls)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_text, encoding="utf-8")
    return path


def _adoption_per_unit(adoption: Mapping[str, Any]) -> dict[str, Any] | None:
    """The adoption tile's figures when each repository (or team) has its own date: how many
    adopted, of how many, and the first and last date. An organisation's page said "unknown: no
    adoption date" above sections that used six repositories' dates."""
    noun, per = ("team", adoption.get("per_team")) if adoption.get("per_team") else ("repository", adoption.get("per_repo"))
    if adoption.get("date") or not isinstance(per, Mapping) or not per:
        return None
    dates = sorted(str(d) for d in per.values() if d)
    plural = "teams" if noun == "team" else "repositories"
    return {"adopted": len(dates), "of": len(per), "units": noun if len(per) == 1 else plural,
            "first": dates[0] if dates else None, "last": dates[-1] if dates else None}


def render_page(report: Mapping[str, Any], changes: Iterable[Mapping[str, Any]] = (), *, title: str | None = None,
                repo_urls: Mapping[str, str] | None = None) -> str:
    """The report page of ``report`` (docs/json-report.md) as one self-contained HTML string.

    A pure function of its inputs, so the dashboard can serve it as it is. `changes` are the
    document's change rows (report.document.change_rows); `repo_urls` maps a repository to its web
    address (`--repo-url`, or its remote), from which change titles link to their PR or commit."""
    title = title or page_title(report)
    urls = {str(k): str(v) for k, v in (repo_urls or {}).items()}
    for r in report.get("repos") or []:  # the remote read at report time, unless --repo-url said otherwise
        if isinstance(r, Mapping) and r.get("web_url") and str(r.get("repo")) not in urls:
            urls[str(r.get("repo"))] = str(r["web_url"])
    from .links import change_url

    rows = [dict(c, url=change_url(urls.get(str(c.get("repo"))), c)) for c in changes]
    totals = report.get("totals") or {}
    attribution = report.get("attribution") or {}
    cycle = report.get("cycle_time_hours") or {}
    weekly = list(report.get("weekly") or [])
    adoption = report.get("adoption") or {}
    adoption_date = str(adoption["date"]) if adoption.get("date") else None

    charts: dict[str, dict[str, Any]] = {}

    def add_chart(key: str, fig: go.Figure | None, note: str, empty: str) -> None:
        charts[key] = {"id": f"chart-{key.replace('_', '-')}", "payload": _figure_payload(fig) if fig is not None else None,
                       "note": note, "empty": empty}

    from .partial_charts import PARTIAL_NOTE, any_partial, mark_partial_bars

    dated = [w for w in weekly if w.get("week_start")]
    add_chart("throughput", mark_partial_bars(_throughput_figure(weekly, adoption_date), dated, date_axis=True),
              "Click a week to list its changes. "
              "Validated changes only: merged, older than the validation window and not reverted within it. "
              "Recent weeks are still inside the window, so their counts can still grow."
              + (" " + PARTIAL_NOTE if any_partial(dated) else ""),
              "No weekly data.")
    charts["throughput"]["week_click"] = True
    cycle_fig, skipped = _cycle_figure(rows, cycle, adoption_date)
    left_out = []
    if skipped["unknown"]:
        left_out.append(f"{skipped['unknown']:,} changes with an unknown cycle time")
    if skipped["zero"]:
        left_out.append(f"{skipped['zero']:,} with a cycle time of zero")
    sampled = (f"To stay quick to draw, {skipped['drawn']:,} of the {skipped['plottable']:,} changes are drawn "
               "(a fixed random sample); the median and p85 lines use all of them. "
               if skipped["drawn"] < skipped["plottable"] else "")
    add_chart("cycle", cycle_fig,
              "Each point is one change; crosses are changes that were later reverted. "
              "Hover a point to see its title. " + sampled
              + (("Not plotted: " + " and ".join(left_out) + ".") if left_out else ""),
              "No change has a known cycle time.")
    add_chart("ai_share", _ai_share_figure(weekly, attribution.get("ai_share_lower_bound"), adoption_date),
              "AI-assisted changes divided by non-bot changes, per week. This is a lower bound: "
              "it counts only changes that still carry an AI signal (trailer, label, branch name, ...), "
              "and such signals can be removed or never added.",
              "No weekly data.")
    add_chart("size", _size_figure(rows, report.get("size_lines") or {}),
              "Size moves with AI use and drives cycle time, so compare like with like: the lift caveats say when "
              "the groups' sizes differ. Bots' changes are included; changes whose lines are unknown are not.",
              "No change has a known size.")
    lift_entries = list(report.get("lift") or [])
    add_chart("lift", _lift_figure(lift_entries, label_of=lambda e: _default_lift_label(e) + not_verdict_tag(
        report.get("verdict"), None, e.get("metric"), e.get("comparison"))),
              "A ratio below 1 means the first group's value is lower; the bar is the 95% confidence interval. "
              "A bar that crosses the dashed line at 1 does not rule out no difference.",
              "No lift could be estimated from this data.")

    from .lift_figures import context as lift_designs_context  # it builds on this module's helpers

    lift_designs = lift_designs_context(report, add_chart)
    loops = report.get("agent_loops") or None
    if loops:
        figs = _agent_loop_figures(loops)
        add_chart("agent_ttg", figs["ttg"],
                  "One session per count: minutes from its start to its first passing test run. Sessions that never "
                  "ran tests, or never saw them pass, are not in it (the table says how many).",
                  "No session reached a passing test run.")
        from .partial_charts import PARTIAL_POINT_NOTE

        def partial_note(rows: Any, note: str = PARTIAL_NOTE) -> str:
            return (" " + note) if any_partial(list(rows or [])) else ""

        add_chart("agent_interventions", figs["interventions"],
                  "Interventions are a person's turns after the first one in a session."
                  + partial_note(loops.get("weekly")), "No sessions.")
        add_chart("agent_cost", figs["cost"],
                  "Cost of the sessions linked to changes, shared equally among the changes each session is linked "
                  "to, divided by the validated ones. Only sources that report cost count (OpenTelemetry, usage "
                  "reports); transcripts do not." + partial_note(
                      (loops.get("per_validated_change") or {}).get("weekly"), PARTIAL_POINT_NOTE),
                  "No linked session reported a cost.")

    with_cycle = [c for c in rows if finite(c.get("cycle_hours"))]
    slowest = sorted(with_cycle, key=lambda c: -c["cycle_hours"])[:TABLE_ROWS]
    recent = sorted(rows, key=_sort_time, reverse=True)[:TABLE_ROWS]

    changes_total = totals.get("changes")
    bots = totals.get("bot_changes") or 0
    share = attribution.get("ai_share_lower_bound")
    if not finite(share) and finite(changes_total) and finite(totals.get("ai_assisted_changes")):
        denominator = changes_total - bots
        share = totals["ai_assisted_changes"] / denominator if denominator > 0 else None

    context = {
        "title": title,
        "report": report,
        "schema": str(report.get("schema") or "unknown"),
        "generated_at": report.get("generated_at"),
        "as_of": report.get("as_of"),
        "as_of_rule": report.get("as_of_rule"),
        "window_days": report.get("window_days"),
        "totals": totals,
        "total_rows": [(label, totals.get(key), note) for key, label, note in _TOTAL_ROWS],
        "ai_share": share,
        "non_bot_changes": changes_total - bots if finite(changes_total) and finite(bots) else None,
        "cycle": cycle,
        "size": report.get("size_lines") or {},
        "repos": _repo_rows(report),
        # A store without git history has no totals (docs/json-report.md): its page leaves the
        # git sections out instead of filling them with "unknown".
        "has_git": "totals" in report,
        "agents": _agent_rows(report),
        "evidence_classes": _class_rows(report),
        "automation": [{"name": str(b.get("name") or ""), "email": str(b.get("email") or ""),
                        "changes": fmt_int(b.get("changes"), "—")}
                       for b in (report.get("attribution") or {}).get("automation_accounts") or []],
        "lift": _lift_rows(report),
        "no_estimate": [r for r in _lift_rows(report) if not r["estimated"]],
        "warnings": [str(w) for w in (report.get("warnings") or [])],
        "adoption": {
            "date": adoption_date,
            "source": str(adoption.get("source")) if adoption.get("source") else None,
            "rule": str(adoption.get("rule")) if adoption.get("rule") else None,
            "exposure_after": adoption.get("exposure_after") if finite(adoption.get("exposure_after")) else None,
            "per_unit": _adoption_per_unit(adoption),
            "evidence": [{"agent": str(e.get("agent")), "class": str(e.get("class")),
                          "first_seen": str(e.get("first_seen")), "changes": e.get("changes_in_first_4_weeks") or 0}
                         for e in (adoption.get("evidence") or []) if e.get("changes_in_first_4_weeks")][:3],
        },
        "charts": charts,
        "lift_designs": lift_designs,
        "agent_loops": loops,
        "slowest": [_change_row(c) for c in slowest],
        "recent": [_change_row(c) for c in recent],
        "n_changes_rows": len(rows),
        "chart_library": library_script() + template_script(),
        "draw_script": draw_script(),
        "legibility": _legibility_section(report.get("legibility"), report.get("legibility_summary")),
        "slice": _slice(report.get("filters")),
    }
    from .flow_charts import flow_context  # it builds on this module's helpers
    from .glossary import GLOSSARY
    from .lift_text import number_caveats
    from .loop_view import experiment_rows, log_rows
    from .verdict_view import verdict_rows

    lift_rows = _lift_rows(report)
    verdicts, from_verdict = verdict_rows(report)
    encoding, week_changes = _week_changes(rows)
    repo_rows = _repo_rows(report)
    for r in repo_rows:
        r["url"] = urls.get(r["repo"])
    context.update(
        lift=lift_rows, lift_caveats=number_caveats(lift_rows), verdict_rows=verdicts, from_verdict=from_verdict,
        glossary=GLOSSARY, week_options=_week_options(rows), week_changes=week_changes,
        week_changes_encoding=encoding,
        week_changes_type="application/json" if encoding == "json" else "application/octet-stream",
        links_known=bool(urls), repos=repo_rows,
        log_rows=log_rows(report), experiment_rows=experiment_rows(report),
        left_out=list(report.get("left_out") or []),  # loops a --repo/--team/--agent slice could not cut
    )
    context.update(flow_context(report))
    from .provenance_charts import provenance_context  # it builds on this module's helpers

    context.update(provenance_context(report))
    return _environment().get_template("report.html.j2").render(**context)


def _week_of(change: Mapping[str, Any]) -> str | None:
    done = change.get("done_at")
    if isinstance(done, datetime):
        day = _naive_utc(done).date()
    elif isinstance(done, date):
        day = done
    elif isinstance(done, str) and len(done) >= 10:
        try:
            day = date.fromisoformat(done[:10])
        except ValueError:
            return None
    else:
        return None
    return (day - timedelta(days=day.weekday())).isoformat()


#: Titles in the week lists are cut to this many characters (the page stays light).
WEEK_TITLE_CHARS = 100


def _week_changes(rows: list[Mapping[str, Any]]) -> tuple[str, Markup]:
    """{"weeks": {monday: [[title, url, state, agents, cycle, repo], ...]}} for the week lists,
    packed like a chart payload; the page builds the list with textContent only."""
    from .charts import packed

    weeks: dict[str, list[list[str]]] = {}
    for c in rows:
        week = _week_of(c)
        if week is None:
            continue
        title = " ".join(str(c.get("title") or "(no title)").split())
        if len(title) > WEEK_TITLE_CHARS:
            title = title[: WEEK_TITLE_CHARS - 1] + "…"
        agents = ", ".join(str(a) for a in c.get("agents") or []) or ("unknown agent" if c.get("ai") else "")
        weeks.setdefault(week, []).append([title, str(c.get("url") or ""), str(c.get("state") or ""), agents,
                                           fmt_hours(c.get("cycle_hours"), ""), str(c.get("repo") or "")])
    return packed(embed_json({"weeks": weeks}))


def _week_options(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for c in rows:
        week = _week_of(c)
        if week is not None:
            counts[week] = counts.get(week, 0) + 1
    return [{"week": w, "n": n} for w, n in sorted(counts.items(), reverse=True)]
