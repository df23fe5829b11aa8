"""Weekly bar charts draw the week still in progress (entries flagged `partial`, see
metrics/partial_weeks.py) lighter and hatched, with a dashed frame and a label, so that its lower
counts read as "not over yet" rather than as a drop. Lines drawn over the weeks (CI flakes, agent
cost) mark that week's point with an open circle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go

from ..metrics.partial_weeks import week_monday
from .charts import plot_text as _plot_text

PARTIAL_OPACITY = 0.4
PARTIAL_NOTE = ("The hatched, lighter bars are the week the report's as-of time falls in: it is not over, so its "
                "counts cover only part of it and are no drop.")
PARTIAL_POINT_NOTE = ("The open circle is the week the report's as-of time falls in: it is not over, so its value "
                      "covers only part of it.")


def any_partial(rows: Sequence[Mapping[str, Any]]) -> bool:
    return any(r.get("partial") for r in rows)


def mark_partial_bars(fig: go.Figure | None, rows: Sequence[Mapping[str, Any]], *, date_axis: bool) -> go.Figure | None:
    """Make the bars of partial rows lighter and hatched, and their points on lines open circles
    (every Bar or Scatter trace drawn one point per row of `rows`); on a date axis (x = the week's
    Monday) also frame the week with a dashed box and a label."""
    if fig is None or not any_partial(rows):
        return fig
    flags = [bool(r.get("partial")) for r in rows]
    bars = False
    for trace in fig.data:
        if isinstance(trace, go.Bar) and trace.y is not None and len(trace.y) == len(flags):
            trace.marker.opacity = [PARTIAL_OPACITY if p else 1.0 for p in flags]
            trace.marker.pattern = dict(shape=["/" if p else "" for p in flags], solidity=0.3)
            bars = True
        elif isinstance(trace, go.Scatter) and trace.y is not None and len(trace.y) == len(flags):
            trace.marker.symbol = ["circle-open" if p else "circle" for p in flags]
            trace.marker.size = [10 if p else 6 for p in flags]
    starts = sorted({m for r, p in zip(rows, flags) if p and (m := week_monday(r))})
    for start in starts:
        end = (date.fromisoformat(start) + timedelta(days=7)).isoformat()
        if date_axis:
            fig.add_shape(type="rect", xref="x", yref="paper", x0=start, x1=end, y0=0, y1=1,
                          line=dict(color="#888", width=1, dash="dash"), fillcolor="rgba(0,0,0,0)", layer="above")
            # Inside the plot, above the bars' usual height: above it the legend would hide it.
            fig.add_annotation(x=end, xref="x", y=0.97, yref="paper", yanchor="top", xanchor="right", showarrow=False,
                               text="week in progress<br>(partial)", align="right", bgcolor="rgba(255,255,255,0.8)",
                               font=dict(size=11, color="#555"))
    if not date_axis and starts:
        # Category axes name weeks by their ISO label; inside the plot, since the legend holds the top.
        label = next((str(r.get("week")) for r, p in zip(rows, flags) if p and r.get("week")), starts[-1])
        fig.add_annotation(x=0, xref="paper", y=0.98, yref="paper", yanchor="top", xanchor="left", showarrow=False,
                           text=f"{'hatched' if bars else 'open circle'}: {_plot_text(label, 20)} is in progress (partial)",
                           bgcolor="rgba(255,255,255,0.8)", font=dict(size=11, color="#555"))
    return fig
