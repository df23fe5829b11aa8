"""The scorecard for people: a Rich table in the terminal, and an HTML section with one chart.

Everything a scorecard says can come from the repository (file names, folder names), so the
terminal gets `report.terminal.escape` and HTML goes through Jinja autoescape and `_plot_text`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from rich.console import Console
from rich.table import Table

from ..report.terminal import escape
from .rules import QUESTIONS

LIMITING_COLOUR = "#E45756"
QUESTION_COLOUR = "#4C78A8"
UNKNOWN = "not measured"


def _fmt(score: Any) -> str:
    return UNKNOWN if score is None else f"{score:g}/10"


def _bar(score: float | None, width: int = 10) -> str:
    if score is None:
        return ""
    n = int(round(score / 10 * width))
    return "█" * n + "·" * (width - n)


def render_terminal(card: Mapping[str, Any], console: Console, *, details: bool = True) -> None:
    table = Table(title=f"agent legibility of {escape(card.get('repo') or card.get('path') or '')}", title_justify="left")
    table.add_column("question")
    table.add_column("score", justify="right")
    table.add_column("")
    table.add_column("reason")
    limiting = card.get("limiting_question")
    for c in card.get("checks", []):
        style = "bold red" if c["question"] == limiting else None
        table.add_row(escape(c["question"]), _fmt(c.get("score")), _bar(c.get("score")), escape(c.get("reason", "")), style=style)
    table.add_row("overall (mean)", _fmt(card.get("score")), _bar(card.get("score")), "", style="bold")
    console.print(table)
    agency = card.get("effective_agency")
    if agency:
        console.print(f"[bold]effective system agency:[/bold] {_fmt(agency['score'])} — {escape(agency['explanation'])}")
    if not details:
        return
    for c in card.get("checks", []):
        if not (c.get("evidence") or c.get("missing")):
            continue
        console.print(f"\n[bold]{escape(c['title'])}[/bold]  {_fmt(c.get('score'))}")
        for d in c.get("details", []):
            earned = "?" if d.get("earned") is None else f"{d['earned']:g}"
            console.print(f"  {escape(d['status']):8} {earned}/{d['points']:g}  {escape(d['title'])}")
            for e in d.get("evidence", []):
                console.print(f"           [green]found[/green] {escape(e)}")
            for m in d.get("missing", []):
                console.print(f"           [yellow]missing[/yellow] {escape(m)}")
        for r in c.get("remediation", []):
            console.print(f"  [cyan]fix:[/cyan] {escape(r)}")


# --------------------------------------------------------------------------- HTML


def figure(cards: Mapping[str, Mapping[str, Any] | None]):
    """One chart of the five scores: a bar per question, grouped by repository; the limiting question in red."""
    import plotly.graph_objects as go

    from ..report.charts import INK, base_layout as _base_layout, plot_text as _plot_text

    scored = {repo: c for repo, c in cards.items() if c is not None and c.get("score") is not None}
    if not scored:
        return None
    traces = []
    for repo, card in scored.items():
        by_q = {c["question"]: c for c in card["checks"]}
        scores = [by_q[q]["score"] for q in QUESTIONS]
        colours = [LIMITING_COLOUR if q == card.get("limiting_question") else QUESTION_COLOUR for q in QUESTIONS]
        traces.append(go.Bar(
            name=_plot_text(repo, 60), x=[q.capitalize() for q in QUESTIONS], y=[s if s is not None else 0 for s in scores],
            marker=dict(color=colours if len(scored) == 1 else None, line=dict(color=INK, width=0.5)),
            text=[_fmt(s) for s in scores], textposition="outside",
            customdata=[_plot_text(by_q[q]["reason"], 160) for q in QUESTIONS],
            hovertemplate="%{x}: %{text}<br>%{customdata}<extra>" + _plot_text(repo, 40) + "</extra>",
        ))
    title = "Agent legibility: five questions, 0-10 (red: the question that limits the loop)" if len(scored) == 1 \
        else "Agent legibility: five questions, 0-10, per repository"
    layout = _base_layout(title, barmode="group", height=360, showlegend=len(scored) > 1,
                          yaxis=dict(range=[0, 11], dtick=2, title=dict(text="score")))
    return go.Figure(data=traces, layout=layout)


def summary_figure(summary: Mapping[str, Any]):
    """The spread of the overall scores: repositories per point of score (legibility/summary.py)."""
    import plotly.graph_objects as go

    from ..report.charts import INK, base_layout as _base_layout

    counts = summary["score"]["histogram"]
    labels = [f"{i}–{i + 1}" for i in range(len(counts))]
    bar = go.Bar(x=labels, y=counts, text=[f"{n:,}" if n else "" for n in counts], textposition="outside",
                 marker=dict(color=QUESTION_COLOUR, line=dict(color=INK, width=0.5)),
                 hovertemplate="score %{x}: %{y} repositories<extra></extra>")
    layout = _base_layout(f"Agent legibility of {summary['scored']:,} repositories: how many score each point",
                          height=320, showlegend=False,
                          xaxis=dict(title=dict(text="overall score (mean of the five questions)")),
                          yaxis=dict(title=dict(text="repositories"), rangemode="tozero"))
    return go.Figure(data=[bar], layout=layout)


#: The checks the summary section lists (those failing in the most repositories).
SUMMARY_CHECKS = 10


def section_context(cards: Mapping[str, Mapping[str, Any] | None] | None,
                    summary: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What _legibility.html.j2 needs: the chart payload and one entry per repository, or, when
    the report carries only the summary (too many repositories for a table each), the summary."""
    from ..report.charts import figure_payload as _figure_payload

    if cards is None and summary is not None and summary.get("repositories"):
        failing = [c for c in summary.get("checks", []) if c["missing"] or c["partial"]][:SUMMARY_CHECKS]
        fig = summary_figure(summary) if summary.get("scored") else None
        return {"chart": None if fig is None else _figure_payload(fig), "repos": [], "summary": summary,
                "failing": failing, "fmt": _fmt}
    cards = cards or {}
    fig = figure(cards)
    repos = []
    for repo, card in cards.items():
        repos.append({"repo": str(repo), "card": card, "agency": (card or {}).get("effective_agency")})
    return {"chart": None if fig is None else _figure_payload(fig), "repos": repos, "summary": None, "fmt": _fmt}


def render_page(card: Mapping[str, Any], path: Path) -> Path:
    """A standalone HTML page holding the scorecard section of one repository."""
    from ..report.charts import draw_script, library_script, template_script
    from ..report.html import _environment

    context = {"legibility": section_context({str(card.get("repo") or card.get("path")): card}),
               "chart_library": library_script() + template_script(), "draw_script": draw_script(),
               "title": f"Agent legibility: {card.get('repo')}"}
    text = _environment().get_template("legibility.html.j2").render(**context)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
