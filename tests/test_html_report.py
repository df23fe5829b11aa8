"""The self-contained HTML report: content, escaping of untrusted strings, and a real-browser check."""

from __future__ import annotations

import json
import random
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from loopmeter.report.charts import LIBRARY, unpack
from loopmeter.report.html import fmt_hours, fmt_int, fmt_pct, fmt_ratio, lift_sentence, render_html

CHROMIUM = Path("/usr/bin/chromium")

SCRIPT_BREAKOUT = "</script><script>window.__pwned=1</script>"
IMG_ONERROR = '<img src=x onerror="window.__pwned=1">'
BOLD_LINK = 'Fix <b>bold</b> & <a href="javascript:window.__pwned=1">link</a>'
HOSTILE_TITLES = [SCRIPT_BREAKOUT, IMG_ONERROR, BOLD_LINK]
HOSTILE_REPO = 'evil/<svg onload="window.__pwned=1">'
HOSTILE_AGENT = "<iframe src=javascript:window.__pwned=1>"
HOSTILE_AUTHOR = "Mallory <mallory@example.com>"

WEEKS = 12
FIRST_WEEK = date(2026, 1, 5)  # a Monday: ISO week 2026-W02
ADOPTION = date(2026, 2, 9)


def _totals(**values: int) -> dict:
    keys = [
        "commits", "changes", "validated_changes", "pending_changes", "reverted_changes",
        "ai_assisted_changes", "ai_assisted_commits", "bot_changes", "contributors",
        "changes_with_pr_commits", "squash_changes_without_pr_commits",
    ]
    return {k: values.get(k, 0) for k in keys}


def make_changes(seed: int = 7) -> list[dict]:
    """About 600 changes over 12 weeks in two repos, AI use rising after adoption."""
    rng = random.Random(seed)
    rows: list[dict] = []
    start = datetime(FIRST_WEEK.year, FIRST_WEEK.month, FIRST_WEEK.day)
    for i in range(600):
        done = start + timedelta(minutes=rng.randrange(0, WEEKS * 7 * 24 * 60 - 60 * 24 * 3))
        after = done.date() >= ADOPTION
        ai = rng.random() < (0.35 if after else 0.05)
        cycle = None if rng.random() < 0.08 else round(rng.lognormvariate(3.0 if not ai else 2.6, 1.2), 3)
        state = "pending" if done > start + timedelta(days=WEEKS * 7 - 14) else (
            "reverted" if rng.random() < 0.04 else "validated")
        rows.append({
            "repo": "acme/api" if rng.random() < 0.6 else HOSTILE_REPO,
            "done_at": done,
            "cycle_hours": cycle,
            "title": f"Change {i}: {rng.choice(['add', 'fix', 'refactor', 'bump'])} "
                     f"{rng.choice(['parser', 'billing', 'auth flow', 'CI cache', 'docs'])}",
            "author": f"dev-{rng.randrange(14):02d}",
            "ai": ai,
            "agents": [rng.choice(["claude-code", "copilot", HOSTILE_AGENT])] if ai else [],
            "state": state,
            "size_lines": None if rng.random() < 0.03 else rng.randrange(1, 900),
        })
    # Hostile titles: the slowest changes and the most recent ones, so they land in both tables.
    last = start + timedelta(days=WEEKS * 7 - 1)
    for k, title in enumerate(HOSTILE_TITLES):
        rows.append({
            "repo": HOSTILE_REPO, "done_at": last - timedelta(hours=5 * k),
            "cycle_hours": 2000.0 + 300 * k, "title": title, "author": HOSTILE_AUTHOR,
            "ai": k % 2 == 0, "agents": [HOSTILE_AGENT] if k % 2 == 0 else [],
            "state": "pending", "size_lines": 12,
        })
    return rows


def make_report(changes: list[dict]) -> dict:
    weekly = []
    for w in range(WEEKS):
        ws = FIRST_WEEK + timedelta(weeks=w)
        in_week = [c for c in changes if ws <= c["done_at"].date() < ws + timedelta(weeks=1)]
        validated = [c for c in in_week if c["state"] == "validated"]
        cycles = sorted(c["cycle_hours"] for c in in_week if c["cycle_hours"] is not None)
        bots = 1 if in_week else 0
        iso = ws.isocalendar()
        weekly.append({
            "week": f"{iso.year}-W{iso.week:02d}", "week_start": ws.isoformat(),
            "changes": len(in_week) + bots, "validated": len(validated),
            "pending": sum(c["state"] == "pending" for c in in_week),
            "reverted": sum(c["state"] == "reverted" for c in in_week),
            "ai_assisted": sum(c["ai"] for c in in_week), "bot": bots,
            "human_validated": sum(not c["ai"] for c in validated),
            "ai_validated": sum(c["ai"] for c in validated),
            "contributors": len({c["author"] for c in in_week}),
            "validated_per_contributor": round(len(validated) / max(1, len({c["author"] for c in in_week})), 2),
            "cycle_p50_hours": cycles[len(cycles) // 2] if cycles else None,
            "cycle_p85_hours": cycles[int(len(cycles) * 0.85)] if cycles else None,
            "size_p50": 40,
        })

    def totals_for(rows: list[dict], bots: int) -> dict:
        return _totals(
            commits=len(rows) * 3 + bots, changes=len(rows) + bots,
            validated_changes=sum(c["state"] == "validated" for c in rows),
            pending_changes=sum(c["state"] == "pending" for c in rows),
            reverted_changes=sum(c["state"] == "reverted" for c in rows),
            ai_assisted_changes=sum(c["ai"] for c in rows),
            ai_assisted_commits=sum(c["ai"] for c in rows) * 2, bot_changes=bots,
            contributors=len({c["author"] for c in rows}),
            changes_with_pr_commits=len(rows) // 3, squash_changes_without_pr_commits=4,
        )

    api = [c for c in changes if c["repo"] == "acme/api"]
    evil = [c for c in changes if c["repo"] == HOSTILE_REPO]
    total = totals_for(changes, 12)
    known = sorted(c["cycle_hours"] for c in changes if c["cycle_hours"] is not None)
    agent_counts: dict[str, int] = {}
    for c in changes:
        for a in c["agents"]:
            agent_counts[a] = agent_counts.get(a, 0) + 1
    return {
        "schema": "loopmeter.report/1",
        "generated_at": "2026-03-30T08:00:00Z",
        "as_of": "2026-03-30T08:00:00Z",
        "window_days": 14,
        "repos": [
            {"repo": "acme/api", "path": "/src/api", "head": "0123456789abcdef0123", "head_ref": "refs/heads/main",
             "shallow": False, "missing_blob_files": 0, "pull_heads": 120, "totals": totals_for(api, 7)},
            {"repo": HOSTILE_REPO, "path": "/src/evil", "head": "fedcba9876543210fedc", "head_ref": "refs/heads/<b>trunk</b>",
             "shallow": True, "missing_blob_files": 37, "pull_heads": 0, "totals": totals_for(evil, 5)},
        ],
        "totals": total,
        "attribution": {
            "changes_by_agent": agent_counts,
            "commits_by_agent": {k: 2 * v for k, v in agent_counts.items()},
            "ai_share_lower_bound": total["ai_assisted_changes"] / (total["changes"] - total["bot_changes"]),
        },
        "cycle_time_hours": {"p50": known[len(known) // 2], "p85": known[int(len(known) * 0.85)],
                             "n": len(known), "unknown": len(changes) - len(known)},
        "size_lines": {"p50": 40, "p85": 300, "n": len(changes) - 10},
        "weekly": weekly,
        "adoption": {"date": ADOPTION.isoformat(), "source": "detected",
                     "rule": "first week in which at least 10% of changes carry an AI signal, held for 3 weeks"},
        "lift": [
            {"metric": "cycle_time_hours", "comparison": "ai_assisted/human", "estimator": "ratio_of_medians",
             "ratio": 0.72, "ci_low": 0.55, "ci_high": 0.91, "n_a": 120, "n_b": 420, "n_clusters": 14,
             "caveats": ["adoption was not randomized: teams chose when to use AI",
                         "AI-assisted changes are smaller on average (median 31 vs 44 lines)"]},
            {"metric": "validated_throughput_per_contributor_week", "comparison": "after/before",
             "estimator": "ratio_of_rates", "ratio": 1.18, "ci_low": 0.94, "ci_high": 1.47,
             "n_a": 300, "n_b": 210, "n_clusters": 14, "caveats": []},
            {"metric": "cycle_time_hours", "comparison": "after/before", "estimator": "ratio_of_medians",
             "ratio": None, "ci_low": None, "ci_high": None, "n_a": 3, "n_b": 2, "n_clusters": 2,
             "caveats": ["too few changes <5 per group> & too few clusters to estimate"]},
        ],
        "warnings": [
            f"{HOSTILE_REPO}: 37 files in 12 commits have no blob in the object store; their line counts are unknown",
            f"warning with markup {IMG_ONERROR}",
        ],
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict, list[dict]]:
    changes = make_changes()
    report = make_report(changes)
    out = render_html(report, iter(changes), tmp_path_factory.mktemp("html") / "report.html",
                      title="Acme engineering — loopmeter report")
    return out, out.read_text(encoding="utf-8"), report, changes


def _figure_blocks(html: str) -> list[str]:
    """The figure payloads as JSON text (packed ones unpacked)."""
    return [json.dumps(unpack(enc, text)) if enc != "json" else text for enc, text in _raw_figure_blocks(html)]


def _raw_figure_blocks(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<script type="application/(?:json|octet-stream)" data-figure-for="[^"]+" '
                      r'data-encoding="([^"]+)">(.*?)</script>', html, re.S)


# --------------------------------------------------------------------------- no browser


def test_chart_library_is_inlined_exactly_once(sample):
    import base64
    import gzip
    from importlib.resources import files

    _, html, _, _ = sample
    packed = re.findall(r'<script type="application/octet-stream" id="lm-chart-library">([^<]*)</script>', html)
    assert len(packed) == 1
    bundle = gzip.decompress(base64.b64decode(packed[0]))
    assert bundle == files("loopmeter.report").joinpath("vendor", LIBRARY).read_bytes()
    assert re.search(rb"plotly\.js \(basic - minified\) v\d", bundle[:300])
    assert "<script src" not in html.lower()
    assert not re.search(r"<link[^>]+stylesheet", html, re.I)
    assert "cdn.plot.ly/plotly" not in html


def test_repo_strings_are_escaped_in_raw_html(sample):
    _, html, _, _ = sample
    for raw in HOSTILE_TITLES + [HOSTILE_REPO, HOSTILE_AGENT, "<b>trunk</b>"]:
        assert raw not in html, raw
    assert "&lt;img src=x onerror=" in html
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "evil/&lt;svg onload=" in html
    # The only script elements are the packed library, the chart template, the drawing script, the
    # week lists and the figure payloads.
    assert html.count("<script") == 4 + len(_figure_blocks(html))


def test_figure_payloads_are_inert_json(sample):
    _, html, _, _ = sample
    for _, raw in _raw_figure_blocks(html):
        assert "<" not in raw and ">" not in raw and "&" not in raw
    blocks = _figure_blocks(html)
    assert len(blocks) == 5
    hover_texts = []
    for block in blocks:
        figure = json.loads(block)
        assert figure["data"]
        for trace in figure["data"]:
            for row in trace.get("customdata") or []:
                hover_texts.extend(row if isinstance(row, list) else [row])
    joined = "\n".join(str(t) for t in hover_texts)
    # Escaped once for Plotly's HTML-subset renderer, so the title shows as literal text.
    assert "&lt;img src=x onerror=\"window.__pwned=1\"&gt;" in joined
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in joined
    assert "Fix &lt;b&gt;bold&lt;/b&gt; &amp; &lt;a href=" in joined
    assert "<" not in joined


def test_report_content_reads_for_a_leader(sample):
    _, html, report, _ = sample
    share = report["attribution"]["ai_share_lower_bound"]
    assert f"at least {share * 100:.1f}%" in html
    assert "lower bound" in html
    assert "no estimate" in html
    assert "too few changes &lt;5 per group&gt; &amp; too few clusters" in html
    assert "adoption was not randomized" in html
    assert "refs/pull/N/head" in html
    with_pr = report["totals"]["changes_with_pr_commits"]
    assert f"This worked for {with_pr:,} squash merge" in html
    assert report["adoption"]["rule"] in html
    assert "Median cycle time is 28% lower for AI-assisted changes than for human changes." in html


def test_file_size_is_reasonable(sample):
    path, _, _, _ = sample
    size = path.stat().st_size
    assert 500_000 < size < 1_500_000, size  # the packed chart library is ~0.53 MB of it


def test_large_input_stays_reasonable(tmp_path):
    rng = random.Random(1)
    base = datetime(2025, 1, 1)
    changes = [{
        "repo": "acme/api", "done_at": base + timedelta(minutes=rng.randrange(525_600)),
        "cycle_hours": rng.lognormvariate(3, 1.3), "title": "x" * rng.randrange(5, 300),
        "author": f"dev-{rng.randrange(200)}", "ai": rng.random() < 0.3, "agents": ["copilot"],
        "state": "validated", "size_lines": rng.randrange(1, 500),
    } for _ in range(30_000)]
    report = make_report(make_changes())
    out = render_html(report, changes, tmp_path / "big.html")
    # The scatter draws a sample and large payloads are packed: 30,000 changes stay under the
    # 1.5 MB page budget (issue 11).
    assert out.stat().st_size < 1_500_000, out.stat().st_size


def test_nulls_and_missing_sections_render_as_unknown(tmp_path):
    report = {
        "schema": "loopmeter.report/1", "generated_at": None, "as_of": None, "window_days": 14,
        "repos": [], "totals": {"changes": 0}, "attribution": {"ai_share_lower_bound": None},
        "cycle_time_hours": {"p50": None, "p85": None, "n": 0, "unknown": 0},
        "weekly": [], "adoption": {"date": None, "source": None, "rule": None},
        "lift": [{"metric": "cycle_time_hours", "comparison": "after/before", "estimator": "ratio_of_medians",
                  "ratio": None, "ci_low": None, "ci_high": None, "n_a": 0, "n_b": 0, "n_clusters": 0,
                  "caveats": ["no adoption date"]}],
        "warnings": [],
    }
    html = render_html(report, [], tmp_path / "empty.html").read_text(encoding="utf-8")
    assert "unknown" in html
    assert "No lift could be estimated" in html
    assert "No weekly data." in html
    assert "No change has a known cycle time." in html
    assert _figure_blocks(html) == []
    page = html[:html.index('id="lm-chart-library"')]  # the page, without its scripts
    assert ": 0," not in page  # nothing invented


def test_formatting_helpers():
    assert fmt_int(1234567) == "1,234,567"
    assert fmt_int(None) == "unknown"
    assert fmt_pct(0.1333) == "13.3%"
    assert fmt_hours(0.5) == "30 min"
    assert fmt_hours(20.5) == "20.5 h"
    assert fmt_hours(96) == "4.0 days"
    assert fmt_hours(None, "—") == "—"
    assert fmt_ratio(0.724) == "0.72×"
    assert "includes 1" in lift_sentence({"metric": "m", "comparison": "after/before", "ratio": 1.1,
                                          "ci_low": 0.9, "ci_high": 1.3})
    assert "No estimate" in lift_sentence({"ratio": None})


# --------------------------------------------------------------------------- real browser


@pytest.fixture(scope="module")
def page_result(sample):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    path, _, _, _ = sample
    console: list[str] = []
    errors: list[str] = []
    blocked: list[str] = []
    requested: list[str] = []

    def route(route):
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requested.append(r.url)
                    if not r.url.startswith(("file://", "data:", "blob:")) else None)
            page.route("**/*", route)
            page.goto(path.as_uri(), wait_until="load")
            # Open the collapsed sections as a reader would (their charts are drawn on opening).
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            # Every figure the page carries is drawn (counting svgs let a run read the page with only
            # some plots drawn: each plot has two main svgs, so 5 svgs could be 3 plots).
            page.wait_for_function(
                "(() => { const want = document.querySelectorAll('script[data-figure-for]').length;"
                " const drawn = [...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(el => el.querySelector('.main-svg')).length;"
                " return want >= 5 && drawn >= want; })()", timeout=60_000)
            result = {
                "pwned_after_load": page.evaluate("typeof window.__pwned"),
                "plots": page.evaluate(
                    "Array.from(document.querySelectorAll('.js-plotly-plot'))"
                    ".map(el => ({id: el.id, svgs: el.querySelectorAll('svg.main-svg').length}))"),
                "body_text": page.inner_text("body"),
                "injected": page.evaluate(
                    "document.querySelectorAll('main img, main iframe, main svg:not(.main-svg) script').length"),
            }
            result["hover"] = _hover_hostile_points(page)
            result["pwned_after_hover"] = page.evaluate("typeof window.__pwned")
        finally:
            browser.close()
    result.update(console=console, errors=errors, blocked=blocked, requested=requested)
    return result


def _hover_hostile_points(page) -> list[str]:
    """Move the real mouse onto each hostile point of the cycle-time chart; return the hover texts."""
    texts = []
    for title in HOSTILE_TITLES:
        point = page.evaluate(
            """(title) => {
                const gd = document.getElementById('chart-cycle');
                gd.scrollIntoView();
                const esc = s => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
                const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
                for (const trace of gd.data) {
                    const rows = trace.customdata || [];
                    for (let i = 0; i < rows.length; i++) {
                        if (Array.isArray(rows[i]) && rows[i][0] === esc(title)) {
                            const box = gd.getBoundingClientRect();
                            return {x: box.left + xa._offset + xa.d2p(trace.x[i]),
                                    y: box.top + ya._offset + ya.d2p(trace.y[i])};
                        }
                    }
                }
                return null;
            }""",
            title,
        )
        assert point is not None, title
        page.mouse.move(point["x"], point["y"])
        try:
            page.wait_for_selector("#chart-cycle .hoverlayer .hovertext", timeout=5_000)
            texts.append(page.text_content("#chart-cycle .hoverlayer") or "")
        except Exception:  # noqa: BLE001 - reported by the assertion in the test
            texts.append("")
        page.mouse.move(5, 5)
    # Also hover the bar chart and the forest plot.
    for chart in ("chart-throughput", "chart-lift"):
        box = page.locator(f"#{chart} .nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.3)
    return texts


@pytest.mark.browser
def test_every_chart_renders(page_result):
    plots = page_result["plots"]
    assert sorted(p["id"] for p in plots) == ["chart-ai-share", "chart-cycle", "chart-lift", "chart-size", "chart-throughput"]
    assert all(p["svgs"] >= 1 for p in plots), plots


@pytest.mark.browser
def test_no_console_or_page_errors(page_result):
    assert page_result["console"] == []
    assert page_result["errors"] == []


@pytest.mark.browser
def test_makes_no_network_request(page_result):
    assert page_result["blocked"] == []
    assert page_result["requested"] == []


@pytest.mark.browser
def test_hostile_strings_stay_text(page_result):
    assert page_result["pwned_after_load"] == "undefined"
    assert page_result["pwned_after_hover"] == "undefined"
    assert page_result["injected"] == 0
    text = page_result["body_text"]
    for raw in HOSTILE_TITLES + [HOSTILE_REPO, HOSTILE_AGENT]:
        assert raw in text, raw


@pytest.mark.browser
def test_hover_shows_hostile_titles_literally(page_result):
    hovers = page_result["hover"]
    assert hovers[0].startswith(SCRIPT_BREAKOUT) or SCRIPT_BREAKOUT in hovers[0], hovers
    assert IMG_ONERROR in hovers[1], hovers
    assert "Fix <b>bold</b> & <a href=" in hovers[2], hovers


def test_size_chart_bands_are_shares_of_each_group():
    from loopmeter.report.html import _size_figure

    rows = [{"size_lines": n, "ai": False, "state": "validated"} for n in (0, 5, 50, 50, 5000)]
    rows += [{"size_lines": 120, "ai": True, "state": "validated"}, {"size_lines": None, "ai": True, "state": "pending"}]
    fig = _size_figure(rows, {"p50": 50})
    human, ai = fig.data
    # bands: 0 | 1-9 | 10-29 | 30-99 | 100-299 | 300-999 | 1k-3k | 3k-10k | 10k+
    assert list(human.y) == [0.2, 0.2, 0.0, 0.4, 0.0, 0.0, 0.0, 0.2, 0.0]
    assert list(ai.y) == [0, 0, 0, 0, 1.0, 0, 0, 0, 0] and ai.name == "AI-assisted (n=1)"
    assert "median 50" in fig.layout.title.text
