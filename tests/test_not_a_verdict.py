"""A number under a not-enough-data verdict is never a bare headline (the brief's 18.98x on
modelcontextprotocol/python-sdk): the terminal's lift table and design lines, `lift`'s table and
sentences, and the HTML page's "Every estimate" and designs sections keep the number but mark
the row "Not a verdict (too little data: ...)"; rows of a question with a verdict stay unmarked."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from browser import load_page, needs_chromium
from lift_sim import START, Team, as_of, write_repo
from rich.console import Console

import loopmeter
from loopmeter.cli_lift import render_lift
from loopmeter.lift.verdict import MIN_CLUSTERS
from loopmeter.report.html import render_html
from loopmeter.report.lift_text import not_a_verdict, short_metric, short_reason
from loopmeter.report.terminal import render_terminal

# Three people, twenty weeks: enough changes on each side for every ratio to be shown, too few
# people (fewer than MIN_CLUSTERS) for any verdict.
SMALL = Team(authors=3, weeks=20, adoption_week=10, rate_before=2.0, rate_after=3.0)
HOSTILE = "<img src=x onerror=\"window.__pwned=1\"> [bold red]hi[/bold red]"


@pytest.fixture(scope="module")
def doc(tmp_path_factory) -> dict:
    assert SMALL.authors < MIN_CLUSTERS
    root = tmp_path_factory.mktemp("not-a-verdict")
    write_repo(root / "small", SMALL, seed=5)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "small"], store_path=store)
    day = (START + timedelta(weeks=SMALL.adoption_week)).date().isoformat()
    return loopmeter.report_from_store(store_path=store, as_of=as_of(SMALL), adoption_date=day)


def _terminal(report: dict) -> str:
    console = Console(record=True, width=400)
    render_terminal(report, console)
    return console.export_text()


def test_every_shown_number_of_a_question_without_verdict_is_labelled(doc):
    statuses = {e["question"]: e["status"] for e in doc["verdict"]}
    assert statuses["cycle_time_after_vs_before"] == "not_enough_data"
    reason = short_reason(next(e["sentence"] for e in doc["verdict"] if e["question"] == "cycle_time_after_vs_before"))
    assert f"only {SMALL.authors} authors" in reason.lower(), reason
    out = _terminal(doc)
    detail = out[out.index("lift by ratio of medians"):]
    ba = next(d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after")
    # The design's line shows the verdict's own estimator, so the two never give unexplained numbers.
    head = next(e["headline"] for e in doc["verdict"] if e["question"] == "cycle_time_after_vs_before")
    median = next(r for r in ba["results"] if r["estimator"] == head["estimator"] and r["metric"] == "cycle_time_hours")
    shown = f"{median['ratio']:.2f}x"
    line = next(x for x in detail.splitlines() if shown in x and "after adoption" in x)
    # The number stays (researchers want it), behind the label: never as the line's headline.
    assert line.strip().startswith(f"Not a verdict (too little data: {reason})"), line
    # The v1 table: each shown ratio carries "(not a verdict)", and the label is listed with its rows.
    for e in doc["lift"]:
        assert e["ratio"] is not None
        assert f"{e['ratio']:.2f}x (not a verdict)" in detail
    assert "Not a verdict (too little data:" in detail[:detail.index("lift, ")]
    # The specification-range line names the metric as the page does, not by its key.
    spec = ba["specification_range"]["cycle_time_hours"]
    ranged = next(x for x in detail.splitlines() if f"{spec['min']:.2f}x to {spec['max']:.2f}x across" in x)
    assert f"{short_metric('cycle_time_hours')}: {spec['min']:.2f}x" in ranged and "cycle_time_hours" not in ranged
    assert short_metric("cycle_time_hours") == "cycle time" and short_metric("new_metric") == "new metric"
    assert "_hours" not in out and "_per_contributor_week" not in out


def test_a_question_with_a_verdict_is_not_labelled(doc):
    judged = copy.deepcopy(doc)
    for e in judged["verdict"]:
        e["status"], e["sentence"] = "no_detectable_change", "No detectable change."
    out = _terminal(judged)
    assert "Not a verdict" not in out and "(not a verdict)" not in out
    # Only the question's own rows: an ai-vs-human verdict leaves the before-after rows alone.
    only = [e for e in doc["verdict"] if e["question"] == "cycle_time_ai_vs_human"]
    assert not_a_verdict(only, "before-after", "cycle_time_hours") is None
    assert not_a_verdict(only, None, "cycle_time_hours_p85", comparison="ai_assisted/human")


# What a reader is shown, written out: the label of every number here (each question lacks people,
# not changes), each question's headline estimator, and the summary rows' names.
NOT_A_VERDICT = "Not a verdict (too little data: only 3 authors in the comparison, at least 10 needed)"
HEADLINE_LABELS = {
    "cycle_time_after_vs_before": "log-duration regression (CR2 errors by author)",
    "cycle_time_ai_vs_human": "log-duration regression + size (CR2 errors by author)",
    "throughput_after_vs_before": "Poisson rate ratio, same authors",
    "revert_rate_after_vs_before": "Poisson rate ratio (no interval)",
    "durability_ai_vs_human": "survival ratio",
}
SUMMARY_ROWS = [
    ("cycle_time_hours_p50", "ai_assisted/human", "Cycle time, median", "AI-assisted changes vs human changes"),
    ("cycle_time_hours_p85", "ai_assisted/human", "Cycle time, 85th percentile",
     "AI-assisted changes vs human changes"),
    ("validated_throughput_per_contributor_week", "after/before", "Validated changes per contributor-week",
     "after adoption vs before adoption"),
]


def test_the_document_carries_each_label_a_reader_shows(doc):
    # report/lift_text.py `add_labels`: the dashboard renders these and keeps no copy of the rules.
    assert SMALL.authors == 3 and MIN_CLUSTERS == 10  # the numbers NOT_A_VERDICT names
    for e in doc["verdict"]:
        assert (e["status"], e["not_a_verdict"]) == ("not_enough_data", NOT_A_VERDICT), e["question"]
    labels = {e["question"]: e["headline"]["estimator_label"] for e in doc["verdict"] if e.get("headline")}
    assert labels == HEADLINE_LABELS
    assert [(r["metric"], r["comparison"], r["label"], r["comparison_label"]) for r in doc["lift"]] == SUMMARY_ROWS
    for r in doc["lift"]:
        assert r["not_a_verdict"] == NOT_A_VERDICT  # every shown number here is under a not-enough-data verdict
        assert r["tone"] is None  # a number that is not a verdict is never coloured as a finding


@pytest.mark.parametrize("metric, lo, hi, want", [
    ("cycle_time_hours_p50", 0.5, 0.9, "better"),   # shorter cycle time is better
    ("cycle_time_hours_p85", 1.2, 1.9, "worse"),
    ("validated_throughput_per_contributor_week", 1.05, 1.6, "better"),  # more throughput is better
    ("validated_throughput_per_contributor_week", 0.4, 0.8, "worse"),
    ("cycle_time_hours_p50", 0.8, 1.2, None),       # the interval includes 1: no finding
    ("cycle_time_hours_p50", None, None, None),     # no interval
    ("some_other_metric", 1.5, 2.0, None),          # no question says which way is better
])
def test_tone_follows_the_verdict_questions_direction(metric, lo, hi, want):
    from loopmeter.report.lift_text import tone

    assert tone({"metric": metric, "ci_low": lo, "ci_high": hi}) == want


@pytest.mark.parametrize("sentence, cut", [
    ("Not enough data to say: The changes with a known duration human come from 50 authors but amount to only 2.7 "
     "equal ones (a few people made most of them; at least 5 are needed): the comparison would be about those people.",
     "2.7 effective authors (of 50), at least 5 needed"),
    ("Not enough data to say: Only 3 authors in the comparison (at least 5 are needed for an honest interval).",
     "only 3 authors in the comparison, at least 5 needed"),
    ("Not enough data to say: Only 4% of the changes after adoption were AI-assisted (at least 10% are needed).",
     "only 4% of the changes after adoption were AI-assisted, at least 10% needed"),
    ("Not enough data to say: No interval of positive width: every resample gave the same ratio.",
     "no interval of positive width"),
    ("Not enough data to say: CI runs " + "very " * 30 + "few.", ("CI runs " + "very " * 30)[:87] + "…"),
    ("Not enough data to say: A group has no finished item.", "a group has no finished item"),
    ("", "see the verdict"),
])
def test_short_reason_cuts_each_kind_of_not_enough_data_sentence(sentence, cut):
    # The forms of lift/verdict.py's sentences (the dashboard once kept a JavaScript copy of this).
    assert short_reason(sentence) == cut


def test_lift_command_marks_its_rows_and_escapes_the_reason(doc):
    ba = next(d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after")
    hostile = copy.deepcopy(doc["verdict"])
    for e in hostile:
        e["sentence"] = "Not enough data to say: " + HOSTILE
    console = Console(record=True, width=400)
    render_lift({**ba, "verdict": hostile}, console)
    out = console.export_text()
    rows = [x for x in out.splitlines() if x.startswith("(")]
    assert rows and all(x.split(") ", 1)[1].startswith("Not a verdict (too little data:") or "not shown" in x
                        for x in rows), rows
    # Rich markup in the reason is printed as text, not applied.
    assert "[bold red]hi[/bold red]" in out
    assert "(not a verdict)" in out


@pytest.mark.browser
@needs_chromium
def test_page_greys_and_labels_the_rows(doc, tmp_path):
    hostile = copy.deepcopy(doc)
    e = next(e for e in hostile["verdict"] if e["question"] == "cycle_time_ai_vs_human")
    e["sentence"] = "Not enough data to say: " + HOSTILE
    path = render_html(hostile, [], tmp_path / "report.html")
    # Both forest plots drawn before reading their labels (the designs' one opens with its section).
    page = load_page(path, wait_for="#chart-lift, #chart-ld-forest", at_least=2, timeout_ms=30000, open_details=True,
                     evaluate={
                         "labelled": "[...document.querySelectorAll('tr.not-verdict')].map(r => r.innerText)",
                         "grey": "getComputedStyle(document.querySelector('tr.not-verdict td')).color",
                         "ink": "getComputedStyle(document.body).color",
                         "ticks": "[...document.querySelectorAll('.ytick text')].map(t => t.textContent)",
                         # Each lift row label, its last line the tag, against the plot and the x ticks.
                         "fits": """(() => { const c = document.querySelector('#chart-lift'), b = e => e.getBoundingClientRect();
                             const plot = b(c.querySelector('.nsewdrag')), svg = b(c.querySelector('.main-svg'));
                             const xtop = Math.min(...[...c.querySelectorAll('.xtick text')].map(t => b(t).top));
                             return [...c.querySelectorAll('.ytick text')].map(t => { const r = b(t);
                                 return {text: t.textContent, top: r.top, bottom: r.bottom, plot_top: plot.top,
                                         plot_bottom: plot.bottom, svg_bottom: svg.bottom, xtop}; }); })()""",
                     })
    assert page.errors == [] and page.pwned == "undefined"
    labelled = page.values["labelled"]
    # Every v1 estimate and every before-after / ai-vs-human cycle-time row is marked.
    assert len(labelled) >= len(doc["lift"]) + 2, labelled
    # Table rows carry the whole label; the specification table's rows (many) a short one, the
    # reason beside them in the range line above.
    assert all("Not a verdict (too little data:" in t or t.startswith("Not a verdict:") for t in labelled)
    assert sum(t.startswith("Not a verdict:") for t in labelled) >= 2
    assert any(HOSTILE.replace("\\", "") in t for t in labelled)  # shown as text, never run
    assert any(f"{doc['lift'][0]['ratio']:.2f}" in t for t in labelled)  # the number is kept
    assert page.values["grey"] != page.values["ink"]
    # The forest plots keep their bars, each labelled in its row's name.
    ticks = page.values["ticks"]
    assert sum("not a verdict: too little data" in t for t in ticks) >= len(doc["lift"]), ticks
    # Every row label, its "not a verdict" tag included, lies inside the lift chart's plot, clear
    # of the x-axis tick labels (the last row's tag used to run over them).
    fits = page.values["fits"]
    assert len(fits) == len(doc["lift"]) and all("not a verdict" in f["text"] for f in fits), fits
    for f in fits:
        assert f["plot_top"] - 1 <= f["top"] and f["bottom"] <= min(f["plot_bottom"], f["xtop"]) + 1, f
        assert f["bottom"] <= f["svg_bottom"], f


def test_an_event_logs_rows_follow_its_own_verdict(tmp_path):
    # Three resources: the log's cycle-time questions have no verdict (lift/loop_verdict.py), so
    # `lift --log` labels their rows with the reason of its own table (LOG_QUESTIONS), not the git one.
    from test_loop_verdict import ADOPTION, log_entry

    from loopmeter.cli_lift import render_log_lift

    _, _, store = log_entry(tmp_path, "few", speedup=0.5, resources=3, seed=3)
    few = loopmeter.api.log_lift("few", store_path=store, adoption_dates=[ADOPTION.date().isoformat()], n_boot=200)
    statuses = {e["question"]: e["status"] for e in few["verdict"]}
    assert statuses["cycle_time_ai_vs_human"] == "not_enough_data"
    console = Console(record=True, width=400)
    render_log_lift(few, console)
    rows = [x for x in console.export_text().splitlines() if x.startswith("(")]
    cycle = [x for x in rows if "cycle time" in x.lower() and "x before" in x]
    assert cycle and all("Not a verdict (too little data: only 3 resources in the comparison" in x for x in cycle), rows
