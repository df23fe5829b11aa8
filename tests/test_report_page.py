"""The verdict-first report page and the Markdown digest (issue 11): what a leader sees first, links
out, the glossary, phones, and hostile repository strings kept as text, in real Chromium.

Screenshots for the README: `LOOPMETER_SCREENSHOTS=docs/img pytest tests/test_report_page.py`
writes report-desktop.png (1440x900) and report-phone.png (390x844) of a clean sample report.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from test_html_report import (BOLD_LINK, HOSTILE_AGENT, HOSTILE_REPO, HOSTILE_TITLES, IMG_ONERROR,
                              SCRIPT_BREAKOUT, make_changes, make_report)

from loopmeter.errors import BadInput
from loopmeter.report.glossary import GLOSSARY
from loopmeter.report.html import page_title, render_page
from loopmeter.report.links import change_url, parse_repo_urls, pr_number, web_url
from loopmeter.report.markdown import md_escape, render_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"
HOSTILE_CAVEAT = 'few people in <b>team</b> "<img src=x onerror=window.__pwned=1>" & @alice'


def verdict_entries(caveat: str = "adoption was not randomized: teams chose when to use AI") -> list[dict]:
    """The `verdict` key as issue 10 specifies it, one entry per status the page must colour."""
    return [
        {"question": "cycle_time_after_vs_before", "title": "cycle time, after vs before AI adoption",
         "status": "improved",
         "sentence": "Improved: changes took 0.74x as long after adoption as before (95% interval 0.61-0.90). "
                     f"Main caveat: {caveat}",
         "headline": {"estimator": "log_duration_regression", "ratio": 0.74, "ci_low": 0.61, "ci_high": 0.90,
                      "n_a": 310, "n_b": 290, "n_clusters": 14, "clustered": True},
         "agreement": {"specifications": 9, "low": 0.66, "high": 0.93, "intervals_disagree": False},
         "exposure": {"ai_share_after": 0.34, "minimum": 0.1}, "caveats": [caveat, "size differs"]},
        {"question": "revert_rate_after_vs_before", "title": "quality: revert rate, after vs before",
         "status": "worsened",
         "sentence": "Worsened: changes were reverted 1.60x as often after adoption as before (95% interval 1.10-2.30).",
         "headline": {"estimator": "ratio_of_rates", "ratio": 1.6, "ci_low": 1.1, "ci_high": 2.3,
                      "n_a": 300, "n_b": 280, "n_clusters": 14, "clustered": True},
         "agreement": {"specifications": 3, "low": 1.4, "high": 1.7, "intervals_disagree": False},
         "exposure": {"ai_share_after": 0.34, "minimum": 0.1}, "caveats": []},
        {"question": "throughput_after_vs_before", "title": "validated throughput per contributor-week",
         "status": "not_enough_data",
         "sentence": "Not enough data to say: fewer than 8 weeks before adoption.",
         "headline": {"estimator": "ratio_of_rates", "ratio": None, "ci_low": None, "ci_high": None,
                      "n_a": 120, "n_b": 20, "n_clusters": 14, "clustered": True},
         "agreement": {"specifications": 0, "low": None, "high": None, "intervals_disagree": False},
         "exposure": {"ai_share_after": 0.04, "minimum": 0.1}, "caveats": [caveat]},
    ]


def sample(hostile: bool = True) -> tuple[dict, list[dict]]:
    changes = make_changes()
    if not hostile:
        changes = [dict(c, repo="acme/api", agents=[a for a in c["agents"] if a != HOSTILE_AGENT] or
                        (["claude-code"] if c["ai"] else [])) for c in changes
                   if c["title"] not in HOSTILE_TITLES]
    for i, c in enumerate(changes):
        c["sha"] = f"{i:040x}"
        c["pr_number"] = str(1000 + i) if i % 2 else None
    doc = make_report(changes)
    if not hostile:
        doc["repos"] = [r for r in doc["repos"] if r["repo"] == "acme/api"]
        doc["attribution"]["changes_by_agent"] = {"claude-code": 80, "copilot": 40}
        doc["attribution"]["commits_by_agent"] = {"claude-code": 160, "copilot": 80}
    doc["verdict"] = verdict_entries(HOSTILE_CAVEAT if hostile else "adoption was not randomized")
    return doc, changes


URLS = {"acme/api": "https://github.com/acme/api", HOSTILE_REPO: "https://gitlab.example.com/evil/repo"}


# --------------------------------------------------------------------------- no browser


def test_glossary_is_the_one_in_docs_metrics():
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    section = text.split("\n## Glossary\n", 1)[1].split("\n## ", 1)[0]
    entries = re.findall(r"^- \*\*(.+?)\*\*: (.+)$", section, re.M)
    assert entries == [(term, definition) for _, term, definition in GLOSSARY]


def test_every_term_link_has_its_entry_and_the_title_names_the_repositories():
    doc, changes = sample()
    html = render_page(doc, changes)
    targets = set(re.findall(r'href="#(g-[\w-]+)"', html))
    ids = set(re.findall(r'id="(g-[\w-]+)"', html))
    assert targets and targets <= ids
    assert {"g-cycle-time", "g-interval", "g-exposure", "g-throughput"} <= targets
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert "acme/api" in title and "evil/&lt;svg" in title
    assert page_title({"repos": [{"repo": f"r{i}"} for i in range(5)]}) == "AI and delivery: r0, r1, r2 and 2 more (loopmeter)"


def test_verdict_rows_carry_status_number_interval_and_exposure():
    doc, changes = sample(hostile=False)
    html = render_page(doc, changes)
    verdict = html[html.index('id="verdict"'):html.index('id="headline"')]
    assert [m for m in re.findall(r'data-status="(\w+)"', verdict)] == ["improved", "worsened", "not_enough_data"]
    assert 'class="badge good">Better<' in verdict and 'class="badge bad">Worse<' in verdict
    assert "0.74×" in verdict and "0.61–0.90" in verdict and "1.60×" in verdict
    assert "AI in at least 34% of changes after adoption (10% needed to credit AI)" in verdict
    # Below the minimum exposure the fact is flagged, and a not-enough-data entry shows no number.
    assert 'class="low"><a class="term" href="#g-exposure">AI in at least 4%' in verdict
    third = verdict[verdict.index('data-status="not_enough_data"'):]
    assert "no number" in third and "×" not in third.split("</div>\n  </div>")[0].split("num-big")[1]
    # The raw estimates stay, collapsed, after the headline cards.
    assert html.index('id="headline"') < html.index('id="lift"')


def test_every_question_lift_verdict_asks_has_its_row():
    """Each question lift/verdict.py can answer has a plain label here; the durability entry, built
    by lift/verdict.py itself from durability rows, shows its ratio, interval and horizon."""
    from loopmeter.lift.verdict import QUESTIONS as ASKED
    from loopmeter.lift.verdict import durability_design, verdict
    from loopmeter.report.verdict_view import QUESTIONS as SHOWN

    assert set(ASKED) == set(SHOWN)  # every question has its glossary entry and ratio's meaning, none is orphaned
    rows = [{"horizon_days": h, "ratio": 1.12, "ci_low": 1.05, "ci_high": 1.25, "ai_changes": 300,
             "human_changes": 900, "authors": 40} for h in (30, 90)]
    entries = verdict([durability_design(rows)])
    assert [e["question"] for e in entries] == ["durability_ai_vs_human"] and entries[0]["status"] == "improved"
    doc, changes = sample(hostile=False)
    doc["verdict"] = verdict_entries() + entries
    html = render_page(doc, changes)
    verdict_block = html[html.index('id="verdict"'):html.index('id="headline"')]
    last = verdict_block[verdict_block.rindex('<div class="v '):]
    # The title is lift/verdict.py's, the one definition the JSON and the terminal use too.
    assert "Quality: line durability, AI-assisted vs human" in last and 'href="#g-durability"' in last
    assert "1.12×" in last and "1.05–1.25" in last and "lines kept, 90 days" in last and "300 vs 900, 40 people" in last


def test_mains_sections_are_on_the_page_escaped_and_detail_collapsed():
    """Evidence classes, automation accounts, adoption evidence and exposure, line provenance and
    durability, work loops, experiments and incidents: each on the new page, hostile names as text,
    their tables in collapsed sections."""
    doc, changes = sample()
    evil = IMG_ONERROR
    doc["attribution"].update(by_class={"authored": 30, "assisted": 5, "suggestion": 7, "message": 2},
                              ai_classes=["authored", "assisted"], changes_not_counted=9,
                              automation_accounts=[{"name": evil, "email": "bot@x", "changes": 12}],
                              lines={"commits_with_provenance": 3, "ai_lines_added": 11,
                                     "lines_added_with_provenance": 17, "ai_share": 11 / 17})
    doc["adoption"].update(exposure_after=0.34, evidence=[{"agent": evil, "class": "authored",
                                                           "first_seen": "2025-01-06", "changes_in_first_4_weeks": 5}])
    doc["lines_weekly"] = [{"week": "2025-01-06", "ai_share": 0.5, "ai_lines_added": 5,
                            "lines_added_with_provenance": 10}]
    doc["durability"] = [{"origin": "ai", "horizon_days": 30, "changes": 10, "lines_added": 100,
                          "lines_surviving": 90, "share": 0.9}]
    doc["durability_lift"] = [{"horizon_days": 30, "ratio": 1.1, "ci_low": 1.0, "ci_high": 1.2,
                               "ai_share": 0.9, "human_share": 0.82, "authors": 9}]
    doc["event_logs"] = [{"name": evil, "format": "csv", "cycle_time_hours": {"n": 4, "open": 1, "p50": 18, "p85": 24},
                          "weekly": [{"validated": 2}], "waiting": {}, "ai_share": {"share": 0.5}, "lift": {},
                          "verdict": [{"question": "cycle_time_after_vs_before", "status": "improved",
                                       "title": "case cycle time, after vs before AI adoption",
                                       "sentence": f"Improved: cases took 0.50x as long {evil}",
                                       "headline": {"ratio": 0.5, "ci_low": 0.4, "ci_high": 0.7, "n_a": 9, "n_b": 8}}]}]
    doc["experiments"] = [{"name": evil, "runs": 3, "failed_share": 0.0, "agent_share": 1.0}]
    doc["incidents"] = {"services": [{"service": evil, "repo": None, "incidents": 2, "open": 0}]}
    html = render_page(doc, changes)
    assert evil not in html
    shown = evil.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    assert html.count(shown) >= 7  # accounts, adoption evidence, work loops, its verdict, experiments, incidents, event logs
    # An event log's verdict under its table, with the log's own question (cases, not changes).
    loops = html[html.index('id="work-loops"'):html.index('id="experiments"')]
    assert 'data-status="improved"' in loops and "Case cycle time, after vs before AI adoption" in loops
    assert "0.50×" in loops and "after ÷ before, 95% interval 0.40–0.70" in loops

    def collapsed(marker: str) -> None:
        """`marker` sits inside a <details> that is not open."""
        at = html.index(marker)
        opened = html.rfind("<details", 0, at)
        assert opened != -1 and html.find("</details>", opened) > at and " open" not in html[opened:html.index(">", opened)]

    collapsed('id="evidence-classes"')
    collapsed('id="automation-accounts"')
    collapsed('id="durability"')
    collapsed('id="chart-ai-lines"')
    collapsed("The date stands on")
    assert "34.0% AI-assisted since" in html  # exposure after adoption, in the adoption summary
    assert "<strong>64.7%</strong> of their added lines" in html and "30 days <strong>1.10×</strong>" in html
    for anchor in ("work-loops", "experiments", "incidents", "ai-lines"):
        assert f'<h2 id="{anchor}" data-toc=' in html  # listed in the sticky contents


def test_a_slice_says_so_under_the_title():
    """A report cut by the dashboard's filter bar or report --repo/--team/--agent/--from/--to names
    the cut where the reader starts; a report on everything says nothing."""
    doc, changes = sample()
    assert 'id="slice"' not in render_page(doc, changes)
    doc["filters"] = {"repo": ["acme/api"], "team": "<b>ops</b>", "agent": None, "from": "2025-01-01", "to": None}
    html = render_page(doc, changes)
    line = html[html.index('id="slice"'):html.index("</header>")]
    assert "repository acme/api · team &lt;b&gt;ops&lt;/b&gt; · landed from 2025-01-01." in line
    assert html.index('id="slice"') < html.index('id="verdict"')


def test_a_document_without_verdict_opens_on_its_estimates():
    doc, changes = sample()
    del doc["verdict"]
    html = render_page(doc, changes)
    verdict = html[html.index('id="verdict"'):html.index('id="headline"')]
    assert "No verdict in this report" in verdict
    assert verdict.count('data-status="none"') == len(doc["lift"])
    assert "0.72×" in verdict


def test_caveats_are_listed_once_per_design():
    doc, changes = sample(hostile=False)
    repeated = "adoption was not randomized: teams chose when to use AI"
    doc["lift_designs"] = {"unit": "repo", "designs": [{
        "design": "before-after",
        "results": [{"metric": "cycle_time_hours", "estimator": e, "ratio": 0.8, "ci_low": 0.6, "ci_high": 1.1,
                     "n_a": 50, "n_b": 60, "n_clusters": 9, "caveats": [repeated, f"only for {e}"]}
                    for e in ("ratio_of_medians", "hodges_lehmann", "km_median_ratio", "log_duration_regression")],
        "checks": [{"metric": "cycle_time_hours", "check": "pre_trends", "applies": False, "status": "not_run",
                    "reason": "no weekly series"}],
    }]}
    html = render_page(doc, changes)
    section = html[html.index('id="lift-designs"'):html.index('id="changes"')]
    assert section.count(repeated) == 1
    assert section.count("<sup class=\"cv\">[1]</sup>") == 4
    assert "trend before adoption (cycle time): <strong>not run</strong> — no weekly series" in section


def test_change_titles_link_to_their_pr_or_commit():
    assert web_url("git@github.com:acme/api.git") == "https://github.com/acme/api"
    assert web_url("https://github.com/acme/api.git") == "https://github.com/acme/api"
    assert web_url("ssh://git@gitlab.example.com/group/sub/proj.git") == "https://gitlab.example.com/group/sub/proj"
    assert web_url("/srv/git/api.git") is None and web_url("javascript:alert(1)") is None
    gh, gl = "https://github.com/acme/api", "https://gitlab.example.com/g/p"
    assert change_url(gh, {"pr_number": "12", "sha": "a" * 40}) == f"{gh}/pull/12"
    assert change_url(gh, {"title": "Fix parser (#34)", "sha": "b" * 40}) == f"{gh}/pull/34"
    assert change_url(gh, {"title": "Merge pull request #56 from x/y"}) == f"{gh}/pull/56"
    assert change_url(gh, {"title": "Fix", "sha": "c" * 40}) == f"{gh}/commit/{'c' * 40}"
    assert change_url(gl, {"pr_number": 7}) == f"{gl}/-/merge_requests/7"
    assert change_url(gl, {"title": "x", "sha": "d" * 40}) == f"{gl}/-/commit/{'d' * 40}"
    assert change_url(None, {"pr_number": 1}) is None
    assert change_url(gh, {"title": "x", "sha": "not-a-sha\"><script>"}) is None
    assert pr_number({"title": "Fix x See merge request g/p!89"}) == 89 and pr_number({"title": "Fix #12"}) is None
    assert parse_repo_urls(["acme/api=https://github.com/acme/api/"]) == {"acme/api": "https://github.com/acme/api"}
    for bad in ["acme/api=javascript:alert(1)", "acme/api", "=https://x.org/a", "acme/api=ftp://x.org/a"]:
        with pytest.raises(BadInput, match="--repo-url"):
            parse_repo_urls([bad])

    doc, changes = sample()
    html = render_page(doc, changes, repo_urls=URLS)
    assert re.search(r'href="https://github\.com/acme/api/(pull/1\d{3}|commit/[0-9a-f]{40})"', html)
    assert 'href="https://gitlab.example.com/evil/repo/-/' in html
    # Without an address titles are plain text, and the page says how to get links.
    plain = render_page(doc, changes)
    assert "https://github.com" not in plain and "--repo-url REPO=URL" in plain


def test_digest_is_markdown_with_the_verdict_and_no_names():
    doc, _ = sample()
    doc["repos"][1]["repo"] = HOSTILE_REPO + " [x](javascript:alert(1)) @bob"
    text = render_markdown(doc)
    assert text.startswith("### loopmeter: acme/api, evil/&lt;svg")
    assert "| Cycle time, after vs before AI adoption | 🟢 Better | 0.74× after ÷ before | 0.61–0.90 | 310 vs 290, 14 people |" in text
    assert "🔴 Worse" in text and "Not enough data" in text
    # Hostile strings are inert: no tag, no link, no mention, no table cell broken.
    for raw in ["<b>", "<img", "<svg", "@alice", "@bob"]:
        assert raw not in text, raw
    assert not re.search(r"(?<!\\)\]\(", text)  # no unescaped "](": no link
    assert "\\[x\\](javascript:alert(1))" in text and "&#64;alice" in text
    assert all(line.count("|") - line.count("\\|") == 6 for line in text.splitlines() if line.startswith("| "))
    # Pseudonymous: the document's people never reach the digest.
    assert "Mallory" not in text and "dev-0" not in text
    assert md_escape("a|b_c*d`e~f\\g") == "a\\|b\\_c\\*d\\`e\\~f\\\\g"


def test_report_format_markdown_and_repo_url_on_the_cli(tmp_path):
    from gitrepo import GitRepo
    from typer.testing import CliRunner

    from loopmeter.cli import app

    repo = GitRepo(tmp_path / "api")
    for i in range(3):
        repo.commit(f"Change {i} (#{i + 1})", date=f"2026-01-0{i + 1}T10:00:00+00:00")
    repo.git("remote", "add", "origin", "git@github.com:acme/api.git")
    store = tmp_path / "s.duckdb"
    runner = CliRunner()
    out = runner.invoke(app, ["analyze", str(repo.path), "--store", str(store), "--html", str(tmp_path / "a.html"),
                              "--json"])
    assert out.exit_code == 0, out.output
    # The remote recorded in the repository gives the links; the digest is Markdown.
    html = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert 'href="https://github.com/acme/api/pull/3"' in html
    md = runner.invoke(app, ["report", "--store", str(store), "--format", "markdown"])
    assert md.exit_code == 0, md.output
    assert md.output.startswith("### loopmeter: ")
    assert "**Headline numbers:** 3 changes" in md.output
    bad = runner.invoke(app, ["report", "--store", str(store), "--repo-url", "nope=https://x.org/a"])
    assert bad.exit_code != 0 and "no repository 'nope' in this report" in bad.output


# --------------------------------------------------------------------------- real browser


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    """What Chromium shows of the hostile sample at 1440x900 and at 390x844, plus a week click."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    out = tmp_path_factory.mktemp("page")
    doc, changes = sample()
    hostile = out / "hostile.html"
    hostile.write_text(render_page(doc, changes, repo_urls=URLS), encoding="utf-8")
    clean_doc, clean_changes = sample(hostile=False)
    clean = out / "clean.html"
    clean.write_text(render_page(clean_doc, clean_changes, repo_urls={"acme/api": URLS["acme/api"]}), encoding="utf-8")
    shots = os.environ.get("LOOPMETER_SCREENSHOTS")
    result: dict = {"errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for name, viewport in (("desktop", {"width": 1440, "height": 900}), ("phone", {"width": 390, "height": 844})):
                page = browser.new_page(viewport=viewport, device_scale_factor=1)
                page.on("console", lambda m: result["errors"].append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: result["errors"].append(str(e)))
                page.route(lambda url: not url.startswith("file:"),
                           lambda route: (result["requests"].append(route.request.url), route.abort()))
                page.goto(hostile.as_uri(), wait_until="load")
                page.wait_for_function("window.__lmCharts && window.__lmCharts.drawn >= 3", timeout=30_000)
                result[name] = page.evaluate("""() => {
                    const h = window.innerHeight;
                    const rows = Array.from(document.querySelectorAll('#verdict ~ .verdict .v')).map(v => {
                        const r = v.getBoundingClientRect(), b = v.querySelector('.badge').getBoundingClientRect();
                        return {top: r.top, bottom: r.bottom, badge: b.bottom, status: v.dataset.status,
                                colour: getComputedStyle(v.querySelector('.badge')).color};
                    });
                    const cards = document.getElementById('headline').getBoundingClientRect();
                    return {rows, cardsTop: cards.top, viewport: h,
                            tocSticky: getComputedStyle(document.querySelector('nav.toc')).position,
                            tocLinks: document.querySelectorAll('#toc a').length};
                }""")
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                page.wait_for_function("window.__lmCharts.drawn === window.__lmCharts.total", timeout=30_000)
                result[name].update(page.evaluate("""() => ({
                    overflow: document.documentElement.scrollWidth - window.innerWidth,
                    wide: Array.from(document.querySelectorAll('main *')).filter(e => {
                        const r = e.getBoundingClientRect();
                        return r.right > window.innerWidth + 1 && !e.closest('.table-wrap');
                    }).map(e => e.tagName + '.' + e.getAttribute('class') + ' ' + (e.textContent || '').slice(0, 40)).slice(0, 5),
                    tickFonts: Array.from(document.querySelectorAll('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text'))
                        .map(t => parseFloat(getComputedStyle(t).fontSize)),
                    modebars: Array.from(document.querySelectorAll('.modebar')).filter(m => m.getBoundingClientRect().height > 0).length,
                    titles: document.querySelectorAll('h4.chart-title').length,
                    charts: window.__lmCharts.total,
                    pwned: typeof window.__pwned,
                    injected: document.querySelectorAll('main img, main iframe, main svg:not(.main-svg) script').length,
                    text: document.body.innerText,
                })"""))
                if name == "desktop":
                    # A click on a week's bar lists that week's changes, titles linked.
                    page.evaluate("document.getElementById('week-changes').open = false")
                    bar = page.locator("#chart-throughput .bars path").last
                    bar.scroll_into_view_if_needed()
                    bar.click(force=True)
                    page.wait_for_function("document.querySelectorAll('#week-list li').length > 0", timeout=10_000)
                    result["week"] = page.evaluate("""() => ({
                        open: document.getElementById('week-changes').open,
                        week: document.getElementById('week-select').value,
                        items: Array.from(document.querySelectorAll('#week-list li')).map(li => li.textContent),
                        hrefs: Array.from(document.querySelectorAll('#week-list a')).map(a => a.getAttribute('href')),
                    })""")
                    result["pwned_after_click"] = page.evaluate("typeof window.__pwned")
                page.close()
            if shots:
                target = Path(shots)
                target.mkdir(parents=True, exist_ok=True)
                for name, viewport in (("desktop", {"width": 1440, "height": 900}), ("phone", {"width": 390, "height": 844})):
                    page = browser.new_page(viewport=viewport)
                    page.goto(clean.as_uri(), wait_until="load")
                    page.wait_for_function("window.__lmCharts && window.__lmCharts.drawn >= 3", timeout=30_000)
                    page.screenshot(path=str(target / f"report-{name}.png"))
                    page.close()
        finally:
            browser.close()
    return result


@pytest.mark.browser
@needs_chromium
def test_no_console_errors_and_no_network(seen):
    assert seen["errors"] == []
    assert seen["requests"] == []


@pytest.mark.browser
@needs_chromium
def test_the_verdict_is_the_first_screen_on_a_laptop(seen):
    d = seen["desktop"]
    assert [r["status"] for r in d["rows"]] == ["improved", "worsened", "not_enough_data"]
    assert all(r["bottom"] <= d["viewport"] for r in d["rows"]), d["rows"]
    assert d["cardsTop"] < d["viewport"]  # the headline cards start on the first screen too
    colours = {r["status"]: r["colour"] for r in d["rows"]}
    assert colours["improved"] != colours["worsened"]
    assert d["tocSticky"] == "sticky" and d["tocLinks"] >= 8


@pytest.mark.browser
@needs_chromium
def test_the_verdict_leads_on_a_phone_with_no_horizontal_overflow(seen):
    ph = seen["phone"]
    assert ph["rows"][0]["badge"] <= ph["viewport"]
    assert ph["overflow"] <= 0, ph["wide"]
    assert ph["wide"] == []
    assert min(ph["tickFonts"]) >= 10, ph["tickFonts"]
    assert ph["modebars"] == 0  # no toolbar over a chart on a phone
    assert ph["titles"] == ph["charts"]  # titles are HTML above the charts


@pytest.mark.browser
@needs_chromium
def test_hostile_repository_strings_stay_text(seen):
    for view in ("desktop", "phone"):
        v = seen[view]
        assert v["pwned"] == "undefined" and v["injected"] == 0
        for raw in HOSTILE_TITLES + [HOSTILE_REPO, HOSTILE_AGENT, HOSTILE_CAVEAT]:
            assert raw in v["text"], raw
    assert seen["pwned_after_click"] == "undefined"


@pytest.mark.browser
@needs_chromium
def test_a_week_click_opens_that_weeks_changes(seen):
    week = seen["week"]
    assert week["open"] and week["items"]
    assert all(h.startswith(("https://github.com/acme/api/", "https://gitlab.example.com/evil/repo/-/"))
               for h in week["hrefs"])
    # The newest week holds the hostile titles: listed as text.
    assert any(SCRIPT_BREAKOUT in item or IMG_ONERROR in item or BOLD_LINK in item for item in week["items"])


def test_p_values_are_not_falsely_precise_and_say_when_they_ignore_clustering():
    from loopmeter.report.lift_figures import _p_text

    assert _p_text({"p_value": 4.66e-12, "clustered": True}) == "< 0.001"
    assert _p_text({"p_value": 1.6e-08, "clustered": False}) == "< 0.001 (ignores clustering)"
    assert _p_text({"p_value": 0.0412}) == "0.041"
    assert _p_text({"p_value": None}) == "—"


def test_each_repository_gets_its_own_origin_address(tmp_path):
    # The addresses are asked in threads (api._add_web_urls): each must land on its own repository.
    from gitrepo import GitRepo

    from loopmeter.api import _add_web_urls

    repos = []
    for i in range(12):
        r = GitRepo(tmp_path / f"r{i}")
        r.git("remote", "add", "origin", f"git@github.com:acme/r{i}.git")
        repos.append({"repo": f"acme/r{i}", "path": str(r.path)})
    repos.append({"repo": "gone", "path": str(tmp_path / "gone")})
    doc = {"repos": repos}
    _add_web_urls(doc, {"acme/r3": "https://git.example.org/r3"})
    assert [r["web_url"] for r in doc["repos"]] == (
        [f"https://github.com/acme/r{i}" for i in range(3)] + ["https://git.example.org/r3"]
        + [f"https://github.com/acme/r{i}" for i in range(4, 12)] + [None])
