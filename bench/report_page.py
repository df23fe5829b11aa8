"""Weight and draw times of the HTML report in headless Chromium, against the page as it was.

    python bench/report_page.py --store PATH [--baseline-rev main] [--runs 3] [--width 1440]

Renders the report of the store twice in the same run: with this checkout's renderer (the page)
and with the source of git revision `--baseline-rev` (the baseline: the page as it is on that
branch, exported with `git archive`), each from its own copy of the store, then loads each page
`--runs` times in Debian's chromium and prints bytes, time to the first text, and when the last
chart was drawn (ms after navigation start; each chart is waited for, those in collapsed sections
are opened). The goal (issue 11): at most 1.5 MB and every chart drawn within 3 s of load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RENDER = r"""
import sys
from pathlib import Path
from loopmeter import api
api.report_from_store(store_path=sys.argv[1], html_path=Path(sys.argv[2]))
"""

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Time when every chart box holds a drawn Plotly plot, whichever renderer drew it.
ALL_DRAWN = """() => {
  const boxes = Array.from(document.querySelectorAll('[data-figure-for]')).map(
      n => document.getElementById(n.getAttribute('data-figure-for')));
  return boxes.length > 0 && boxes.every(b => b && b.querySelector('.main-svg'));
}"""


def render(src: Path, store: Path, out: Path) -> float:
    import shutil
    import time

    env = dict(os.environ, PYTHONPATH=str(src), OPENBLAS_NUM_THREADS="1")
    copy = out.with_suffix(".duckdb")  # an older or newer renderer may migrate the store it opens
    shutil.copy(store, copy)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", RENDER, str(copy), str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def export_source(rev: str, into: Path) -> Path:
    """The `src` tree of git revision `rev` of this repository, under `into`."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def measure(page_path: Path, runs: int, width: int) -> dict:
    from playwright.sync_api import sync_playwright

    out = {"text_ms": [], "charts_ms": [], "charts": 0, "errors": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on("pageerror", lambda e: out["errors"].append(str(e)))
                page.goto(page_path.as_uri(), wait_until="load", timeout=120_000)
                # Open every collapsed section, as a reader looking for every chart would.
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                page.wait_for_function(ALL_DRAWN, timeout=120_000, polling=50)
                done = page.evaluate("performance.now()")
                text = page.evaluate(
                    "performance.getEntriesByType('paint').filter(e => e.name === 'first-contentful-paint')"
                    ".map(e => e.startTime)[0] || null")
                out["text_ms"].append(text)
                out["charts_ms"].append(done)
                out["charts"] = page.evaluate("document.querySelectorAll('[data-figure-for]').length")
                page.close()
        finally:
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--baseline-rev", default="main")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--width", type=int, default=1440)
    args = ap.parse_args()
    here = Path(__file__).resolve().parents[1] / "src"
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = export_source(args.baseline_rev, Path(tmp))
        pages, seconds = {}, {}
        for name, src in (("page", here), ("baseline", baseline)):
            pages[name] = Path(tmp) / f"{name}.html"
            seconds[name] = render(src, args.store, pages[name])
        # Alternate the two pages run by run, so that a busy moment of the machine hits both.
        runs = {"page": [], "baseline": []}
        for _ in range(args.runs):
            for name in ("page", "baseline"):
                runs[name].append(measure(pages[name], 1, args.width))
        for name, ms in runs.items():
            text = [t for m in ms for t in m["text_ms"] if t is not None]
            rows[name] = {"bytes": pages[name].stat().st_size, "render_s": round(seconds[name], 2),
                          "charts": ms[0]["charts"], "first_text_ms": statistics.median(text or [0]),
                          "all_charts_ms": statistics.median([t for m in ms for t in m["charts_ms"]]),
                          "runs_ms": [round(t) for m in ms for t in m["charts_ms"]],
                          "errors": [e for m in ms for e in m["errors"]][:3]}
    page, base = rows["page"], rows["baseline"]
    for name, r in rows.items():
        print(f"{name:9} {r['bytes'] / 1e6:6.2f} MB  charts {r['charts']:3d}  first text {r['first_text_ms']:7.0f} ms  "
              f"all charts drawn {r['all_charts_ms']:7.0f} ms (runs {r['runs_ms']})  (render {r['render_s']} s)"
              + (f"  ERRORS {r['errors']}" if r["errors"] else ""))
    print(f"ratio page/baseline: bytes {page['bytes'] / base['bytes']:.2f}, "
          f"all charts drawn {page['all_charts_ms'] / base['all_charts_ms']:.2f}")
    print(f"goal: <= 1.5 MB {'met' if page['bytes'] <= 1_500_000 else 'NOT met'}; "
          f"every chart <= 3 s {'met' if page['all_charts_ms'] <= 3000 else 'NOT met'}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
