"""Open a page loopmeter wrote in real headless Chromium, offline, and say what a person would see.

One place for how the browser tests load a page: Debian's chromium with the flags the brief names,
every console error and uncaught page error recorded, every request that is not to a local file
recorded and blocked (the page must work offline), and Plotly charts waited for before reading.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# For a test module: `pytestmark = in_chromium`; for one test: `@pytest.mark.browser` and `@needs_chromium`.
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
in_chromium = [pytest.mark.browser, needs_chromium]


@dataclass
class LoadedPage:
    text: str  # the inner text of `text_of`, after `act`
    errors: list[str]  # console errors and uncaught page errors
    requests: list[str]  # URLs the page tried to reach beyond local files (all blocked)
    charts: int  # how many Plotly charts the page holds
    pwned: str  # `typeof window.__pwned`: "undefined" unless hostile markup ran
    values: dict[str, Any] = field(default_factory=dict)  # each `evaluate` expression's result, by name
    dialogs: list[str] = field(default_factory=list)  # messages of alert/confirm/prompt dialogs (all dismissed)


def load_page(
    html: Path,
    *,
    wait_for: str | None = None,
    at_least: int = 1,
    timeout_ms: int = 20000,
    evaluate: Mapping[str, str] | None = None,
    act: Callable[[Page], None] | None = None,
    text_of: str = "body",
    open_details: bool = False,
) -> LoadedPage:
    """Load `html` and read it.

    `wait_for` is a CSS selector of charts: loading waits until `at_least` rendered Plotly SVGs stand
    under it. Then each `evaluate` JavaScript expression is evaluated, `act` may click or screenshot,
    and the text is read last (so that what `act` opened is in it). `open_details` opens every
    collapsed section first, as a reader looking for everything would (their charts are drawn then).
    """
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            watch_errors(page, errors)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.route(lambda url: not url.startswith("file:"),
                       lambda route: (requests.append(route.request.url), route.abort()))
            page.goto(html.as_uri())
            if open_details:
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            if wait_for is not None:
                page.wait_for_function(
                    f"document.querySelectorAll({json.dumps(wait_for + ' .main-svg')}).length >= {int(at_least)}",
                    timeout=timeout_ms)
                if open_details:  # every section is open: wait for every chart (report/templates/draw.js)
                    page.wait_for_function("!window.__lmCharts || window.__lmCharts.drawn >= window.__lmCharts.total",
                                           timeout=timeout_ms)
            values = {name: page.evaluate(js) for name, js in (evaluate or {}).items()}
            charts = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
            pwned = page.evaluate("typeof window.__pwned")
            if act is not None:
                act(page)
            text = page.inner_text(text_of)
        finally:
            browser.close()
    return LoadedPage(text=text, errors=errors, requests=requests, charts=charts, pwned=pwned, values=values,
                      dialogs=dialogs)


@contextmanager
def chromium_page(errors: list[str], **page_options: Any) -> Iterator[tuple[Browser, Page]]:
    """(browser, page) in Debian's headless Chromium for a live server's page (1280x900 unless
    `page_options` say otherwise), every console error and uncaught page error appended to
    `errors`; the browser is closed when the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(**{"viewport": {"width": 1280, "height": 900}, **page_options})
            watch_errors(page, errors)
            yield browser, page
        finally:
            browser.close()


def watch_errors(page: Page, errors: list[str]) -> None:
    """Append `page`'s console errors and uncaught page errors to `errors`."""
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
