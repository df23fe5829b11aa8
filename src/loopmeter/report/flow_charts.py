"""Charts and tiles of the `flow` key for the HTML report (template `_flow.html.j2`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go

from ..stats.json_values import finite
from .charts import AI_COLOUR, HUMAN_COLOUR
from .charts import base_layout as _base_layout
from .charts import figure_payload as _figure_payload
from .charts import plot_text as _plot_text
from .html import fmt_hours, fmt_pct
from .partial_charts import PARTIAL_NOTE, any_partial, mark_partial_bars

PHASE_COLOURS = {"coding": "#4C78A8", "draft": "#9ECAE9", "pickup": "#F58518", "review": "#54A24B", "deploy": "#B279A2"}
STATE_COLOURS = {"review_requested": "#F58518", "approved_not_merged": "#54A24B", "ci_green_not_merged": "#72B7B2"}
STATE_LABELS = {"review_requested": "review requested, not reviewed", "approved_not_merged": "approved, not merged",
                "ci_green_not_merged": "CI green, not merged"}
GROUP_LABELS = {"human": "Human", "ai": "AI-assisted"}
DAY_MS = 24 * 3600 * 1000  # bar widths on a date axis are in milliseconds
WEEK_MS = 7 * DAY_MS


def _x(rows: list[Mapping[str, Any]]) -> list[list[str]]:
    """A two-level category axis: the week, then human / AI-assisted beside each other."""
    return [[_plot_text(r["week"]) for r in rows], [GROUP_LABELS.get(r["group"], _plot_text(r["group"])) for r in rows]]


def _week_axis(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A date axis that leaves half a week of room either side, so one or two weeks of data still
    read as weeks (Plotly would otherwise stretch a single bar over the whole width)."""
    first = date.fromisoformat(str(rows[0]["week_start"]))
    last = date.fromisoformat(str(rows[-1]["week_start"]))
    axis: dict[str, Any] = dict(type="date", tickformat="%b %d",
                                range=[str(first - timedelta(days=4)), str(last + timedelta(days=11))])
    if (last - first).days <= 70:
        axis["dtick"] = WEEK_MS
        axis["tick0"] = str(first)
    return axis


def _on_weeks(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Trace arguments that place one value a week in the middle of its week, named in the hover."""
    return dict(x=[str(r["week_start"]) for r in rows], customdata=[_plot_text(r["week"]) for r in rows],
                xperiod=WEEK_MS, xperiodalignment="middle")


def _num(v: Any) -> Any:
    return v if finite(v) else None


def _weekly_hours_by_group(part: Mapping[str, Any] | None, series: list[tuple[str, str, str, str]],
                           title: str) -> go.Figure | None:
    """Stacked bars of hours per week and author group; `series` is (column, name, hover label, colour)."""
    rows = [r for r in (part or {}).get("weekly", []) if r.get("group") in GROUP_LABELS]
    if not rows:
        return None
    x = _x(rows)
    traces = [
        go.Bar(name=name, x=x, y=[_num(r.get(column)) for r in rows], marker_color=colour,
               hovertemplate=f"{hover}: %{{y:.1f}} h<extra></extra>")
        for column, name, hover, colour in series
    ]
    return go.Figure(data=traces, layout=_base_layout(
        title, barmode="stack", yaxis=dict(title=dict(text="hours"), rangemode="tozero")))


def pr_phases_figure(pr: Mapping[str, Any] | None) -> go.Figure | None:
    return _weekly_hours_by_group(
        pr, [(f"{phase}_p50", phase, f"{phase} (median)", colour) for phase, colour in PHASE_COLOURS.items()],
        "Pull-request cycle by phase, median hours per week (merged PRs)")


def waiting_figure(w: Mapping[str, Any] | None) -> go.Figure | None:
    return _weekly_hours_by_group(
        w, [(f"{s}_hours", STATE_LABELS[s], STATE_LABELS[s], colour) for s, colour in STATE_COLOURS.items()],
        "Waiting on humans, hours per week (merged and still-open PRs)")


def deployments_figure(d: Mapping[str, Any] | None) -> go.Figure | None:
    rows = (d or {}).get("weekly", [])
    if not rows:
        return None
    common = _on_weeks(rows)
    traces = [
        go.Bar(name="deployment days", y=[r["deployment_days"] for r in rows], marker_color=HUMAN_COLOUR,
               width=[DAY_MS * 2.5] * len(rows),
               hovertemplate="%{customdata}<br>deployment days: %{y}<extra></extra>", **common),
        go.Bar(name="failed changes", y=[r["failed"] for r in rows], marker_color=AI_COLOUR,
               width=[DAY_MS * 2.5] * len(rows),
               hovertemplate="%{customdata}<br>failed changes: %{y}<extra></extra>", **common),
    ]
    return go.Figure(data=traces, layout=_base_layout(
        "Production deployment days and failed changes per week", barmode="group", xaxis=_week_axis(rows), yaxis=dict(title=dict(text="count"), rangemode="tozero")))


def ci_figure(c: Mapping[str, Any] | None) -> go.Figure | None:
    rows = (c or {}).get("weekly", [])
    if not rows:
        return None
    common = _on_weeks(rows)
    traces = [
        go.Bar(name="feedback latency, median (min)", marker_color=HUMAN_COLOUR, width=[DAY_MS * 5] * len(rows),
               y=[(r["latency_p50_hours"] * 60) if finite(r.get("latency_p50_hours")) else None for r in rows],
               hovertemplate="%{customdata}<br>latency p50: %{y:.1f} min<extra></extra>", **common),
        go.Scatter(name="flaky commit-workflows", y=[r["flaky"] for r in rows], yaxis="y2", mode="lines+markers",
                   line=dict(color=AI_COLOUR), hovertemplate="%{customdata}<br>flaky: %{y}<extra></extra>", **common),
    ]
    return go.Figure(data=traces, layout=_base_layout(
        "CI feedback latency and flaky runs per week", bargap=0.3, xaxis=_week_axis(rows),
        yaxis=dict(title=dict(text="minutes"), rangemode="tozero"),
        yaxis2=dict(title=dict(text="flaky"), overlaying="y", side="right", rangemode="tozero", showgrid=False,
                    tickformat=",d", dtick=1 if max((r["flaky"] for r in rows), default=0) < 10 else None)))


def _waiting_rows(w: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return [r for r in (w or {}).get("weekly", []) if r.get("group") in GROUP_LABELS]  # as _weekly_hours_by_group draws


def _waiting_marked(w: Mapping[str, Any] | None) -> go.Figure | None:
    return mark_partial_bars(waiting_figure(w), _waiting_rows(w), date_axis=False)


def _phases_marked(pr: Mapping[str, Any] | None) -> go.Figure | None:
    return mark_partial_bars(pr_phases_figure(pr), _waiting_rows(pr), date_axis=False)


def _dated_marked(fig: go.Figure | None, part: Mapping[str, Any] | None) -> go.Figure | None:
    return mark_partial_bars(fig, (part or {}).get("weekly", []), date_axis=True)


def _partial_note(rows: list[Mapping[str, Any]]) -> str:
    return (" " + PARTIAL_NOTE) if any_partial(rows) else ""


def _chart(key: str, fig: go.Figure | None, note: str, empty: str) -> dict[str, Any]:
    return {"id": f"chart-flow-{key}", "payload": _figure_payload(fig) if fig is not None else None,
            "note": note, "empty": empty}


def flow_context(report: Mapping[str, Any]) -> dict[str, Any]:
    """What `_flow.html.j2` needs: the flow key, its charts and its DORA tiles (formatted)."""
    flow = report.get("flow") or None
    if not flow:
        return {"flow": None, "flow_charts": {}, "dora_tiles": []}
    charts = {
        "phases": _chart("phases", _phases_marked(flow.get("pr_cycle")),
                         "Median hours of each phase, per ISO week of the merge; phases with unknown ends are left out, "
                         "so a bar is a sum of medians, not the median of the whole cycle."
                         + _partial_note(_waiting_rows(flow.get("pr_cycle"))), "No merged pull request."),
        "waiting": _chart("waiting", _waiting_marked(flow.get("waiting_on_humans")),
                          "Hours pull requests spent where the next move belonged to a person, in the week the hours passed; "
                          "pull requests still open at the report date count up to it."
                          + (" " + PARTIAL_NOTE if any_partial(_waiting_rows(flow.get("waiting_on_humans"))) else ""),
                          "No merged or open pull request."),
        "deployments": _chart("deployments", _dated_marked(deployments_figure(flow.get("dora")), flow.get("dora")),
                              "Successful production deployments only. A failed change is a deployment followed within the "
                              "failure window by a revert, a hotfix or an incident."
                              + _partial_note((flow.get("dora") or {}).get("weekly", [])), "No production deployment."),
        "ci": _chart("ci", _dated_marked(ci_figure(flow.get("ci")), flow.get("ci")),
                     "Latency: from the push (the first queued run of a commit) to its first CI verdict. Flaky: a workflow "
                     "that failed and then passed on the same commit."
                     + _partial_note((flow.get("ci") or {}).get("weekly", [])), "No CI run."),
    }
    tiles = []
    d = flow.get("dora")
    if d:
        f, cfr, lead, rec = d["deployment_frequency"], d["change_failure_rate"], d["lead_time_hours"], d["recovery_hours"]
        tiles = [
            {"label": "Deployment days per week", "value": f"{f['days_per_week']:.2f}" if finite(f.get("days_per_week")) else "unknown",
             "sub": f"{f['deployments']} production deployments over {f['weeks'] or 0} weeks"},
            {"label": "Lead time for changes", "value": fmt_hours(lead.get("p50")),
             "sub": f"median, first commit to production; 85% within {fmt_hours(lead.get('p85'))} (n={lead.get('n', 0)})"},
            {"label": "Change failure rate", "value": fmt_pct(cfr.get("rate")),
             "sub": f"{cfr['failed']} of {cfr['judged']} judged deployments; {cfr['pending']} still inside the "
                    f"{d['failure_window_hours']:g} h window; incidents: {d['incident_rule']}"},
            {"label": "Failed-deployment recovery", "value": fmt_hours(rec.get("p50")),
             "sub": f"median over {rec.get('n', 0)} failures; {rec.get('unrecovered', 0)} not recovered yet"},
        ]
    return {"flow": flow, "flow_charts": charts, "dora_tiles": tiles}
