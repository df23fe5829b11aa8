"""What every chart of the HTML pages shares: colours, the base layout, escaping of untrusted text
for Plotly, the inert JSON payload, and the chart library inlined into the page.

The library is the partial plotly.js bundle (scatter and bar traces, `vendor/README.md`), chosen by
measurement (`bench/report_page.py`, docs/design.md): the full bundle is 4.8 MB and took 6.7-13.5 s
to draw a real report's charts on a 2-core machine; the partial one is 1.2 MB, and inlined
gzip-compressed (base64) it costs 0.53 MB of the 1.5 MB page budget. uPlot (51 kB) would be lighter
still but has no error bars, category axes for the forest plot or hover templates: every figure
would have to be redrawn by hand. Figures are still built with plotly's Python graph objects.

Untrusted strings (titles, names, repository and agent names) reach Plotly escaped by `plot_text`,
because Plotly renders a subset of tags (``<b>``, ``<a>``, ``<br>`` ...) in hover text and labels;
the figure JSON is embedded with ``<``, ``>`` and ``&`` written as ``\\u003c`` etc. (`embed_json`), so
no string can close the ``<script>`` element that carries it.
"""

from __future__ import annotations

import base64
import gzip
import html as _html
import json
from functools import lru_cache
from importlib.resources import files
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

__all__ = [
    "HUMAN_COLOUR", "AI_COLOUR", "PENDING_COLOUR", "ADOPTION_COLOUR", "INK", "MUTED",
    "plot_text", "embed_json", "figure_json", "figure_payload", "packed", "unpack", "base_layout", "library_script",
    "template_script", "draw_script", "LIBRARY",
]

HUMAN_COLOUR = "#4C78A8"
AI_COLOUR = "#E45756"
PENDING_COLOUR = "#C9CED6"
ADOPTION_COLOUR = "#54A24B"
INK = "#1F2933"
MUTED = "#6B7785"

#: The vendored bundle (vendor/README.md says where it comes from and how to update it).
LIBRARY = "plotly-basic.min.js"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def plot_text(value: Any, limit: int | None = None) -> str:
    """Make an untrusted string safe for Plotly's HTML-subset text rendering.

    Only ``&``, ``<`` and ``>`` are escaped: Plotly decodes ``&amp;``, ``&lt;`` and ``&gt;``
    back to literal characters but does not know ``&quot;``, and quotes are harmless in SVG
    text nodes.
    """
    text = "" if value is None else str(value)
    text = " ".join(text.split())  # newlines would become <br> in Plotly
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return _html.escape(text, quote=False)


def embed_json(obj: Any) -> Markup:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return Markup(text)


#: The parts of plotly's "plotly_white" template the charts use. The page holds it once
#: (`template_script`) instead of once per figure (7 kB each).
TEMPLATE = {
    "layout": {
        "xaxis": {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "ticks": "", "title": {"standoff": 15},
                  "zerolinecolor": "#EBF0F8", "automargin": True, "zerolinewidth": 2},
        "yaxis": {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "ticks": "", "title": {"standoff": 15},
                  "zerolinecolor": "#EBF0F8", "automargin": True, "zerolinewidth": 2},
        "colorway": ["#4C78A8", "#E45756", "#54A24B", "#F58518", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"],
        "paper_bgcolor": "white", "plot_bgcolor": "white", "hovermode": "closest", "hoverlabel": {"align": "left"},
    },
    "data": {"bar": [{"marker": {"line": {"color": "white", "width": 0.5},
                                 "pattern": {"fillmode": "overlay", "size": 10, "solidity": 0.2}}}]},
}
#: Payloads larger than this are gzip-compressed (base64) in the page; smaller ones stay plain JSON.
PACK_ABOVE = 16_000
#: Significant digits kept for numbers in a figure: 0.05% is far below what a chart can show.
DIGITS = 4


def _rounded(obj: Any) -> Any:
    if isinstance(obj, float):
        return float(f"{obj:.{DIGITS}g}")
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


def figure_json(fig: go.Figure) -> dict[str, Any]:
    """The figure as the page draws it: plotly's encoding (numpy, dates), numbers rounded, and the
    template left to the page."""
    obj = json.loads(pio.to_json(fig, validate=False, remove_uids=True))
    obj.get("layout", {}).pop("template", None)
    return _rounded(obj)


def figure_payload(fig: go.Figure) -> Markup:
    return embed_json(figure_json(fig))


def packed(payload: Markup) -> tuple[str, Markup]:
    """(encoding, text) of a `<script>` payload: plain JSON, or gzip-compressed JSON in base64 when
    it is large (a real history's cycle-time scatter is 0.85 MB as JSON, 0.25 MB packed)."""
    if len(payload) <= PACK_ABOVE:
        return "json", payload
    data = gzip.compress(str(payload).encode("utf-8"), compresslevel=9, mtime=0)
    return "gzip-base64", Markup(base64.b64encode(data).decode("ascii"))


def unpack(encoding: str, text: str) -> Any:
    """The inverse of `packed`, for tests and tools that read a page."""
    if encoding == "gzip-base64":
        text = gzip.decompress(base64.b64decode(text)).decode("utf-8")
    return json.loads(text)


def figure_tag(chart_id: str, payload: Markup, *, week_click: bool = False) -> Markup:
    """The chart's box and its payload: `<div class="chart">` and `<script data-figure-for>`."""
    encoding, text = packed(payload)
    kind = "application/json" if encoding == "json" else "application/octet-stream"
    cid = _html.escape(chart_id)
    extra = " data-week-click" if week_click else ""
    return Markup(f'<div class="chart" id="{cid}"{extra}></div>\n<script type="{kind}" data-figure-for="{cid}" '
                  f'data-encoding="{encoding}">') + text + Markup("</script>")


def template_script() -> Markup:
    return Markup('<script type="application/json" id="lm-chart-template">') + embed_json(TEMPLATE) + Markup("</script>")


def base_layout(title: str, **extra: Any) -> dict[str, Any]:
    """The layout every chart starts from. The page shows `title` as HTML above the chart (it
    wraps on a phone, and no toolbar can cover it); the script keeps it out of the plot area."""
    layout: dict[str, Any] = dict(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=15, color=INK)),
        font=dict(family=FONT, size=12, color=INK),
        margin=dict(l=60, r=20, t=50, b=45),
        height=380,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        hoverlabel=dict(align="left"),
    )
    layout.update(extra)
    return layout


@lru_cache(maxsize=1)
def _library_base64() -> str:
    source = files("loopmeter.report").joinpath("vendor", LIBRARY).read_bytes()
    # mtime=0: the same report renders to the same bytes.
    return base64.b64encode(gzip.compress(source, compresslevel=9, mtime=0)).decode("ascii")


def library_script() -> Markup:
    """The chart library, gzip-compressed and base64-encoded in an inert element (base64 has no
    ``<``, so it cannot end the element); `draw.js` inflates it with the browser's
    DecompressionStream and runs it."""
    return Markup('<script type="application/octet-stream" id="lm-chart-library">'
                  + _library_base64() + "</script>")


def draw_script() -> Markup:
    """The script that loads the library and draws every `data-figure-for` payload."""
    return Markup(files("loopmeter.report").joinpath("templates", "draw.js").read_text(encoding="utf-8"))
