"""Figures and template context of the report's lift-designs section (`lift_designs` key).

Kept beside html.py, whose helpers it uses (layout, escaping of untrusted text, the forest plot),
so that the section's charts live in one place: a forest plot of every estimate of every design,
Kaplan-Meier curves before/after (or AI/human), the event-study plot with its pre-periods, and the
throughput forecast fan chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.colors import hex_to_rgb

from ..lift.waiting import WAITING
from ..stats.json_values import finite
from . import html as h
from .lift_text import SHORT_METRIC as _SHORT_METRIC
from .lift_text import ci_text, estimator_name, interval_text, not_a_verdict, number_caveats, sentence

DESIGN_NAMES = {"before-after": "Before / after adoption", "ai-vs-human": "AI-assisted vs human, same period",
                "experiment": "Pilot experiment"}
GROUP_COLOURS = (h.AI_COLOUR, h.HUMAN_COLOUR)


#: Plain names of the checks (the document's keys are identifiers).
CHECK_NAMES = {"simpsons_paradox": "reversal when pooled (Simpson's paradox)", "pre_trends": "trend before adoption",
               "size_mismatch": "groups of different change sizes", "novelty": "novelty effect",
               "specification": "estimates disagree across specifications", "selection": "who adopted first"}

UNIT_NAMES = {"repo": "repository", "team": "team (loopmeter.toml)", "codeowners": "team (CODEOWNERS)"}


def _label(e: Mapping[str, Any], units: str = "") -> str:
    """A forest row's label; `units` (already plot-safe) names the teams a per-team design pooled."""
    metric = _SHORT_METRIC.get(str(e.get("metric")), str(e.get("metric") or ""))
    design = str(e.get("design") or "")
    return (f"{h._plot_text(estimator_name(e.get('estimator'), e), 50)}<br>"
            f"<span style='font-size:10px'>{h._plot_text(metric, 40)} · {h._plot_text(design, 30)}{units}</span>")


def _teams_label(teams: list[Mapping[str, Any]]) -> str:
    """" · per team: a, b, unassigned", made safe for Plotly; names are untrusted and may be long."""
    if not teams:
        return ""
    return " · per team: " + h._plot_text(", ".join(str(t.get("team")) for t in teams), 60)


def forest_figure(results: list[Mapping[str, Any]], teams: list[Mapping[str, Any]] | None = None,
                  verdict: list | None = None) -> go.Figure | None:
    units = _teams_label(teams or [])
    return h._lift_figure(results, label_of=lambda e: _label(e, units) + h.not_verdict_tag(
                              verdict, e.get("design"), e.get("metric")),
                          title="Every estimate, with its 95% interval (1 = no difference)")


# Denser than the cycle-time scatter's ticks: survival curves span one or two decades of hours.
_KM_TICKS = [
    (1 / 6, "10 min"), (0.5, "30 min"), (1, "1 h"), (2, "2 h"), (4, "4 h"), (8, "8 h"), (12, "12 h"), (24, "1 day"),
    (48, "2 days"), (96, "4 days"), (168, "1 week"), (336, "2 weeks"), (720, "30 days"), (2160, "90 days"),
    (8760, "1 year"),
]


def km_figure(km: Mapping[str, Any] | None) -> go.Figure | None:
    """Kaplan-Meier curves of the two groups, as steps with their pointwise 95% bands."""
    if not km or not km.get("groups"):
        return None
    traces: list[Any] = []
    for g, colour in zip(km["groups"], GROUP_COLOURS):
        # A log axis has no 0: the curve starts at 1 just before the first time.
        raw = [float(t) for t in g.get("times") or [] if finite(t)]
        times = ([raw[0] * 0.999] if raw else []) + raw
        surv = [1.0] + [float(s) for s in g.get("survival") or []]
        if len(times) < 2:
            continue
        name = h._plot_text(f"{g.get('label')} (n={g.get('n', 0):,}, {g.get('n_censored', 0):,} open)", 80)
        lo = [1.0] + [v if finite(v) else None for v in g.get("ci_low") or []]
        hi = [1.0] + [v if finite(v) else None for v in g.get("ci_high") or []]
        traces.append(go.Scatter(x=times, y=hi, mode="lines", line=dict(width=0, shape="hv"), showlegend=False,
                                 hoverinfo="skip", connectgaps=False))
        traces.append(go.Scatter(x=times, y=lo, mode="lines", line=dict(width=0, shape="hv"), fill="tonexty",
                                 fillcolor=_alpha(colour, 0.15), showlegend=False, hoverinfo="skip", connectgaps=False))
        traces.append(go.Scatter(
            x=times, y=surv, mode="lines", name=name, line=dict(color=colour, width=2, shape="hv"),
            hovertemplate="after %{x:.1f} h: %{y:.0%} still open<extra></extra>"))
    if not traces:
        return None
    span = [t for g in km["groups"] for t in (g.get("times") or []) if finite(t) and t > 0]
    ticks = [(v, t) for v, t in _KM_TICKS if span and min(span) / 1.5 <= v <= max(span) * 1.5] or _KM_TICKS
    layout = h._base_layout(
        "Share of work still open after t hours (Kaplan-Meier; open items censored)",
        xaxis=dict(type="log", title=dict(text="time since work started (log scale)"),
                   tickvals=[v for v, _ in ticks], ticktext=[t for _, t in ticks]),
        yaxis=dict(range=[0, 1.02], tickformat=".0%", title=dict(text="still open")),
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=0.5, y1=0.5,
                     line=dict(color=h.MUTED, width=1, dash="dot"))],
    )
    return go.Figure(data=traces, layout=layout)


def event_study_figure(es: Mapping[str, Any] | None) -> go.Figure | None:
    """Effect by weeks since adoption, pre-periods included (they should hover around 'no effect')."""
    pts = [p for p in (es or {}).get("points") or [] if finite(p.get("estimate"))]
    if not pts:
        return None
    x = [int(p["e"]) for p in pts]
    y = [float(p["estimate"]) for p in pts]
    has_ci = all(finite(p.get("ci_low")) and finite(p.get("ci_high")) for p in pts)
    colours = [h.MUTED if e < 0 else h.AI_COLOUR for e in x]
    kw: dict[str, Any] = {}
    if has_ci:
        kw["error_y"] = dict(type="data", symmetric=False, array=[p["ci_high"] - p["estimate"] for p in pts],
                             arrayminus=[p["estimate"] - p["ci_low"] for p in pts], color=h.MUTED, thickness=1.2, width=3)
    traces = [go.Scatter(x=x, y=y, mode="markers", marker=dict(color=colours, size=8), name="estimate",
                         hovertemplate="week %{x} since adoption: %{y:.3g}<extra></extra>", showlegend=False, **kw)]
    for fit in es.get("fits") or []:
        traces.append(go.Scatter(x=fit["x"], y=fit["y"], mode="lines", name=h._plot_text(fit.get("name"), 60),
                                 line=dict(color=h.INK, width=1.5, dash="dash"), hoverinfo="skip"))
    ref = es.get("reference")
    shapes = [dict(type="line", xref="x", yref="paper", x0=-0.5, x1=-0.5, y0=0, y1=1,
                   line=dict(color=h.ADOPTION_COLOUR, width=1.5, dash="dot"))]
    if finite(ref):
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=ref, y1=ref,
                           line=dict(color=h.MUTED, width=1, dash="dash")))
    layout = h._base_layout(
        h._plot_text(es.get("title") or "Event study", 120),
        xaxis=dict(title=dict(text="weeks since adoption (negative: before)"), zeroline=False),
        yaxis=dict(title=dict(text=h._plot_text(es.get("y_label") or "", 80))), shapes=shapes,
    )
    return go.Figure(data=traces, layout=layout)


def forecast_figure(fc: Mapping[str, Any] | None) -> go.Figure | None:
    """Cumulative validated items over the next weeks: P50 line and P5-P95 / P15-P85 bands, from
    the pre- and the post-adoption weekly throughput."""
    if not fc or not fc.get("fans"):
        return None
    traces: list[Any] = []
    for fan, colour in zip(fc["fans"], (h.HUMAN_COLOUR, h.AI_COLOUR)):
        weeks = list(fan.get("weeks") or [])
        if not weeks:
            continue
        name = h._plot_text(fan.get("label"), 60)
        for lo_key, hi_key, a in (("p5", "p95", 0.12), ("p15", "p85", 0.22)):
            if fan.get(lo_key) and fan.get(hi_key):
                traces.append(go.Scatter(x=weeks, y=fan[hi_key], mode="lines", line=dict(width=0), showlegend=False,
                                         hoverinfo="skip"))
                traces.append(go.Scatter(x=weeks, y=fan[lo_key], mode="lines", line=dict(width=0), fill="tonexty",
                                         fillcolor=_alpha(colour, a), showlegend=False, hoverinfo="skip"))
        traces.append(go.Scatter(x=weeks, y=fan.get("p50"), mode="lines+markers", name=f"{name}: median",
                                 line=dict(color=colour, width=2),
                                 hovertemplate="week %{x}: %{y:.0f} items (median)<extra></extra>"))
    if not traces:
        return None
    layout = h._base_layout(
        "Forecast: validated items done in the next weeks (bands: 70% and 90% of simulations)",
        xaxis=dict(title=dict(text="weeks from now")), yaxis=dict(title=dict(text="items done (cumulative)"),
                                                                rangemode="tozero"),
    )
    return go.Figure(data=traces, layout=layout)


def forecast_sentences(fc: Mapping[str, Any] | None) -> list[str]:
    """"Resampling the weeks after adoption: at least 410 items in the next 12 weeks with 85%
    probability (P50 440); 100 more take 3 weeks (P50), 4 with 85% probability."."""
    out = []
    for p in (fc or {}).get("periods") or []:
        hm = (p.get("how_many") or {}).get("percentiles") or {}
        wh = (p.get("when") or {}).get("percentiles") or {}
        weeks, items = fc.get("weeks_ahead"), fc.get("items")
        text = f"Resampling the {p.get('history_weeks')} weeks {str(p.get('label', '')).removeprefix('from the weeks ')}: "
        if hm.get("p85") is not None:
            text += f"at least {hm['p85']:,} validated items in the next {weeks} weeks with 85% probability (median {hm.get('p50'):,})"
        if wh.get("p50") is not None:
            p85 = f", {wh['p85']} with 85% probability" if wh.get("p85") is not None else ", and maybe never with 85% probability"
            text += f"; {items} more take {wh['p50']} weeks (median){p85}."
        else:
            text += f"; {items} more are not done within the simulated horizon."
        out.append(text)
    return out


def _p_text(r: Mapping[str, Any]) -> str:
    """The p-value as a reader should weigh it: below 0.001 it is "< 0.001" (more digits are false
    precision), and one that treats each change as independent (`clustered: false`) says so."""
    p = r.get("p_value")
    if not finite(p):
        return "—"
    text = "< 0.001" if p < 0.001 else f"{p:.3f}"
    return text + (" (ignores clustering)" if r.get("clustered") is False else "")


def _alpha(hex_colour: str, a: float) -> str:
    r, g, b = hex_to_rgb(hex_colour)
    return f"rgba({r},{g},{b},{a})"


def context(report: Mapping[str, Any], add_chart) -> dict | None:
    """Template context for `_lift_designs.html.j2`; registers the section's charts with `add_chart`
    (html.render_html's). None when the report has no `lift_designs` key (older documents)."""
    ld = report.get("lift_designs")
    if not ld:
        return None
    designs = []
    every = []
    verdict = report.get("verdict")
    for i, d in enumerate(ld.get("designs") or []):
        key = f"ld{i}"
        figs = d.get("figures") or {}
        add_chart(f"{key}_km", km_figure(figs.get("km")),
                  "Each curve is the share of work not yet landed after t hours. Work still open at the as-of time "
                  "is censored (counted while open, never dropped); the dotted line is the median.",
                  "No cycle times to draw survival curves from.")
        weekly = d.get("design") == "before-after"  # the AI-vs-human split has no time axis
        if weekly:
            add_chart(f"{key}_event", event_study_figure(figs.get("event_study")),
                      "Grey points are weeks before adoption: if they drift, part of the after/before difference is a "
                      "trend that was already under way.", "No weekly series for an event study.")
            add_chart(f"{key}_forecast", forecast_figure(figs.get("forecast")),
                      "Simulated by resampling past weeks' validated throughput, once from the weeks before adoption "
                      "and once from the weeks after it.", "Not enough complete weeks to forecast from.")
        rows = []
        # The waiting rows (PR data only) follow the cycle-time ones in the table; the forest
        # plot keeps to the design's own results.
        for r in [*(d.get("results") or []), *(d.get("waiting") or [])]:
            if r.get("metric") != WAITING:
                every.append(r)
            rows.append({
                "not_verdict": (not_a_verdict(verdict, d.get("design"), r.get("metric"))
                                if finite(r.get("ratio")) else None),
                "metric": _SHORT_METRIC.get(str(r.get("metric")), str(r.get("metric"))),
                "estimator": estimator_name(r.get("estimator"), r),
                "ratio": h.fmt_ratio(r.get("ratio"), "no estimate"),
                "estimated": finite(r.get("ratio")),
                "ci": ci_text(r) if finite(r.get("ratio")) else "—",
                "interval": interval_text(r) if finite(r.get("ratio")) else None,
                "p": _p_text(r),
                "n": f"{h.fmt_int(r.get('n_a'), '—')} / {h.fmt_int(r.get('n_b'), '—')}",
                "clusters": h.fmt_int(r.get("n_clusters"), "—"),
                # `clustered: false`: the interval takes each change as independent (too narrow).
                "cluster_blind": r.get("clustered") is False,
                "sentence": sentence(r),
                "caveats": [str(c) for c in r.get("caveats") or []],
            })
        spec = [{
            "not_verdict": not_a_verdict(verdict, d.get("design"), s.get("metric")) if finite(s.get("ratio")) else None,
            "metric": _SHORT_METRIC.get(str(s.get("metric")), str(s.get("metric"))),
            "estimator": estimator_name(s.get("estimator"), s),
            "window": f"{s['window_days']} days" if s.get("window_days") else "—",
            "period": str(s.get("period") or "—"),
            "ratio": h.fmt_ratio(s.get("ratio"), "no estimate"),
            "ci": ci_text(s) if finite(s.get("ratio")) else "—",
            "chosen": bool(s.get("chosen")),
        } for s in d.get("specification") or []]
        ranges = [{"not_verdict": not_a_verdict(verdict, d.get("design"), m), "metric": _SHORT_METRIC.get(m, m),
                   "min": h.fmt_ratio(x["min"]), "max": h.fmt_ratio(x["max"]), "n": x["n"]}
                  for m, x in (d.get("specification_range") or {}).items() if x]
        # A check that could not run says so (status "not_run", issue 10), never "not found".
        checks = [{"metric": _SHORT_METRIC.get(str(c.get("metric")), str(c.get("metric"))),
                   "check": CHECK_NAMES.get(str(c.get("check")), str(c.get("check")).replace("_", " ")),
                   "applies": bool(c.get("applies")) or c.get("status") == "fired",
                   "status": str(c.get("status") or ("fired" if c.get("applies") else "not_fired")),
                   "reason": str(c.get("reason") or "")}
                  for c in d.get("checks") or []]
        designs.append({"name": DESIGN_NAMES.get(str(d.get("design")), str(d.get("design"))), "key": key, "rows": rows,
                        "caveats": number_caveats(rows),
                        "weekly": weekly,
                        "spec": spec, "ranges": ranges, "checks": checks, "forecast": forecast_sentences(d.get("forecast")),
                        "per_unit": per_unit_rows(d.get("per_unit"))})
    teams = [t for t in ld.get("teams") or [] if isinstance(t, Mapping)]
    add_chart("ld_forest", forest_figure(every, teams, verdict),
              "Each row is one estimator on one design; the bar is its 95% interval. Estimators that agree make the "
              "number harder to cherry-pick; ones that disagree are a warning in themselves."
              + (" Per team, each row pools every team's changes, each split at its own team's adoption date, "
                 "with the team as a fixed effect." if teams else ""),
              "No lift could be estimated from this data.")
    return {"designs": designs, **unit_context(ld)}


def per_unit_rows(rows: Any) -> list[dict]:
    """The before/after design per repository or team (lift/per_unit.py), formatted; names are
    untrusted (the template escapes them). Empty for a single unit: the design is then its own row."""
    rows = [r for r in rows or [] if isinstance(r, Mapping)]
    if len(rows) < 2:
        return []

    def share(x: Any) -> str:
        return f"{x:.0%}" if finite(x) else "—"

    return [{"name": str(r.get("team", r.get("repo"))), "adoption": str(r.get("adoption") or "—"),
             "changes": f"{h.fmt_int(r.get('changes_before'), '0')} / {h.fmt_int(r.get('changes_after'), '0')}",
             "cycle_weight": share(r.get("cycle_weight")), "cycle_ratio": h.fmt_ratio(r.get("cycle_ratio"), "—"),
             "weeks": f"{h.fmt_int(r.get('contributor_weeks_before'), '0')} / {h.fmt_int(r.get('contributor_weeks_after'), '0')}",
             "throughput_weight": share(r.get("throughput_weight")),
             "throughput_ratio": h.fmt_ratio(r.get("throughput_ratio"), "—")} for r in rows]


def unit_context(ld: Mapping[str, Any]) -> dict:
    """The unit the designs were run per, and per team its changes, authors and adoption date
    (team names are untrusted: the template escapes them)."""
    unit = str(ld.get("unit") or "repo")
    per = (ld.get("adoption") or {}).get("per_team") or {}
    teams = [{"team": str(t.get("team")), "changes": h.fmt_int(t.get("changes"), "—"),
              "authors": h.fmt_int(t.get("authors"), "—"), "adoption": str(per.get(t.get("team")) or "none found")}
             for t in ld.get("teams") or [] if isinstance(t, Mapping)]
    source = (ld.get("adoption") or {}).get("source")
    return {"unit": unit, "unit_name": UNIT_NAMES.get(unit, unit), "teams": teams,
            "adoption_source": str(source) if source else None}
