"""The report's lift-designs section in real headless Chromium: every new chart renders offline
without errors, and a caveat naming a hostile repository stays text."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from browser import in_chromium, load_page
from lift_sim import START, Team, as_of, write_repo

HOSTILE = "evil<img src=x onerror=window.__pwned=1>"
SRC = Path(__file__).resolve().parent.parent / "src"

pytestmark = in_chromium


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("lift-e2e")
    # AI-assisted work lands mostly in the slow repository: pooled, AI looks slower (Simpson's paradox),
    # and the caveat names the repositories, one of them hostile.
    slow = Team(authors=8, weeks=16, adoption_week=8, base_cycle_h=200, ai_share_after=0.85, ai_ratio=0.7,
                cycle_ratio=1.0)
    fast = Team(authors=8, weeks=16, adoption_week=8, base_cycle_h=10, ai_share_after=0.15, ai_ratio=0.7,
                cycle_ratio=1.0, author_offset=100)
    write_repo(root / HOSTILE, slow, seed=1)
    write_repo(root / "fast", fast, seed=2)
    out = root / "report.html"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    subprocess.run(
        [sys.executable, "-m", "loopmeter", "analyze", str(root / HOSTILE), str(root / "fast"), "--store",
         str(root / "s.duckdb"), "--html", str(out), "--as-of", as_of(slow).date().isoformat(),
         "--adoption-date", (START + timedelta(weeks=8)).date().isoformat()],
        check=True, capture_output=True, env=env,
    )
    return load_page(out, wait_for="#chart-ld-forest", timeout_ms=30000, open_details=True, evaluate={
        "plots": """Array.from(document.querySelectorAll('.js-plotly-plot')).map(e => ({
            id: e.id, svgs: e.querySelectorAll('.main-svg').length,
            traces: (e.data || []).length}))""",
    })


def test_the_lift_design_charts_render(page):
    plots = {p["id"]: p for p in page.values["plots"]}
    for chart in ("chart-ld-forest", "chart-ld0-km", "chart-ld0-event", "chart-ld0-forecast", "chart-ld1-km"):
        assert chart in plots, sorted(plots)
        assert plots[chart]["svgs"] >= 1 and plots[chart]["traces"] >= 1, plots[chart]
    assert page.errors == [] and page.requests == []


def test_numbers_carry_their_caveats_in_plain_words(page):
    text = page.text
    assert "Median cycle time after adoption is" in text
    assert "Median cycle time of AI-assisted changes is" in text
    assert "Simpson's paradox: pooled over repositories" in text
    assert "Specification table" in text
    assert "weeks after adoption: at least" in text and "more take" in text  # the forecast, in words


def test_a_hostile_repository_name_in_a_caveat_stays_text(page):
    assert page.pwned == "undefined"
    assert HOSTILE in page.text
