"""An organisation's report read as a leader reads it: several repositories, each named in full and
escaped, the adoption tile when every repository has its own date, and a terminal that sums up
what would otherwise scroll a thousand lines (found trying eight real mirrors together)."""

from __future__ import annotations

import re
import statistics
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console
from typer.testing import CliRunner

from conftest import ALICE, BOB, CAROL
from gitrepo import GitRepo
from loopmeter import api
from loopmeter.cli import app
from loopmeter.report import terminal
from loopmeter.report.terminal import render_terminal

# A long name that an 80-column table used to cut ("modelcontextpr…"), and one that is markup.
NAMES = ("alpha", "modelcontextprotocol-python-sdk-long", "web<b>&x")


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    root = tmp_path_factory.mktemp("org")
    start = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)
    for k, name in enumerate(NAMES):
        r = GitRepo(root / "org" / name)
        for i in range(12 + 4 * k):  # repositories of different sizes: 12, 16 and 20 changes
            authored = start + timedelta(days=4 * i, hours=k)
            r.commit(f"change {i}", author=(ALICE, BOB, CAROL)[i % 3], date=authored.isoformat(),
                     commit_date=(authored + timedelta(hours=1 + i % 5)).isoformat())
    store = root / "org.duckdb"
    api.ingest(sorted(str(p) for p in (root / "org").iterdir()), store_path=store)
    return root, store


def test_the_adoption_tile_counts_repositories_with_their_own_dates_and_names_are_escaped(org):
    root, store = org
    page = root / "org.html"
    res = CliRunner().invoke(app, ["report", "--store", str(store), "--html", str(page),
                                   "--adoption-date", "alpha=2024-01-22",
                                   "--adoption-date", "modelcontextprotocol-python-sdk-long=2024-02-05"])
    assert res.exit_code == 0, res.output
    html = page.read_text()
    tile = re.search(r'<div class="label">.*?AI adoption.*?</div>\s*(.*?)</div>\s*</div>', html, re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", tile.group(1))).strip()
    # It said "unknown / no adoption date" above sections that used each repository's date.
    assert text == "2 of 3 repositories with a date given by the user, 2024-01-22 to 2024-02-05"
    assert "web&lt;b&gt;&amp;x" in html and "<b>&x" not in html
    # The before/after design per repository: the two with a date, each with its weight.
    per_unit = html[html.index('<table class="per-unit">'):]
    per_unit = per_unit[:per_unit.index("</table>")]
    assert per_unit.count("<tr>") == 3 and "<td>alpha</td><td>2024-01-22</td>" in per_unit


def _terminal(doc: dict, width: int) -> str:
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    render_terminal(doc, console)
    return console.export_text(styles=False)


def test_every_repository_is_named_in_full_at_80_columns(org):
    _, store = org
    text = _terminal(api.report_from_store(store_path=store), 80)
    table = text[text.index("per repository"):]
    table = table[:table.index("└")]
    cells = "".join(line.split("│")[1].strip() for line in table.splitlines() if line.count("│") > 2)
    for name in NAMES:
        assert name in cells, (name, table)
    assert "…" not in table


def test_many_repositories_are_summed_up_past_the_limits(org, monkeypatch):
    _, store = org
    doc = api.report_from_store(store_path=store)
    doc["warnings"] = [f"warning number {i}" for i in range(4)]
    monkeypatch.setattr(terminal, "REPO_ROWS", 2)
    monkeypatch.setattr(terminal, "LEGIBILITY_LINES", 2)
    monkeypatch.setattr(terminal, "WARNING_LINES", 3)
    text = _terminal(doc, 200)
    by_changes = sorted(doc["repos"], key=lambda r: -r["totals"]["changes"])
    assert [r["totals"]["changes"] for r in by_changes] == [20, 16, 12]
    assert "per repository (the 2 with most changes of 3)" in text
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.count("│") == 7]
    named = [r for r in rows if r[0] in {x["repo"] for x in doc["repos"]}]
    assert [r[0] for r in named] == [by_changes[0]["repo"], by_changes[1]["repo"]]
    rest = by_changes[2]["totals"]
    assert ["1 more", f"{rest['commits']:,}", f"{rest['changes']:,}", f"{rest['validated_changes']:,}",
            f"{rest['ai_assisted_changes']:,}", "—"] in rows
    cards = {k: v for k, v in doc["legibility"].items() if v and v.get("effective_agency")}
    assert len(cards) == 3
    line = next(x for x in text.splitlines() if x.startswith("agent legibility of"))
    assert line.startswith("agent legibility of 3 repositories: median ")
    assert sum(x.startswith("agent legibility of") for x in text.splitlines()) == 1
    shown = [x for x in text.splitlines() if x.startswith("warning:")]
    assert shown[:3] == [f"warning: warning number {i}" for i in range(3)]
    assert len(shown) == 4 and shown[3].startswith("warning: and 1 more")


def _history(k: int) -> list[tuple[datetime, float]]:
    """(landed, cycle hours) of the fixture's repository number k, as the fixture committed them."""
    start = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)
    out = []
    for i in range(12 + 4 * k):
        authored = start + timedelta(days=4 * i, hours=k)
        out.append((authored + timedelta(hours=1 + i % 5), float(1 + i % 5)))
    return out


def test_each_repository_weighs_in_the_pooled_before_after_as_its_own_changes_say(org):
    _, store = org
    dates = {"alpha": "2024-01-22", "modelcontextprotocol-python-sdk-long": "2024-02-05"}
    doc = api.report_from_store(store_path=store, adoption_date=[f"{r}={d}" for r, d in dates.items()])
    (ba,) = [d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after"]
    rows = {r["repo"]: r for r in ba["per_unit"]}
    assert set(rows) == set(dates)  # the third repository has no adoption date: in neither period
    cycle = next(r for r in ba["results"] if r["metric"] == "cycle_time_hours" and r["estimator"] == "ratio_of_medians")
    for k, name in enumerate(NAMES[:2]):
        p = cycle["periods"][name]
        lo, mid, hi = (datetime.fromisoformat(p[x]).date() for x in ("before_from", "adoption", "after_until"))
        before = [h for t, h in _history(k) if lo <= t.date() < mid]
        after = [h for t, h in _history(k) if mid <= t.date() < hi]
        r = rows[name]
        assert (r["adoption"], r["changes_before"], r["changes_after"]) == (dates[name], len(before), len(after))
        assert r["cycle_p50_hours_before"] == pytest.approx(statistics.median(before))
        assert r["cycle_ratio"] == pytest.approx(statistics.median(after) / statistics.median(before))
    # The shares are of the pooled comparisons: the rows add up to them.
    assert sum(r["changes_after"] for r in rows.values()) == cycle["n_a"]
    assert sum(r["changes_before"] for r in rows.values()) == cycle["n_b"]
    assert sum(r["cycle_weight"] for r in rows.values()) == pytest.approx(1.0)
    rate = next(r for r in ba["results"] if r["estimator"] == "ratio_of_rates")
    assert sum(r["validated_after"] for r in rows.values()) == rate["n_a"]
    assert sum(r["validated_before"] for r in rows.values()) == rate["n_b"]
    assert sum(r["throughput_weight"] for r in rows.values()) == pytest.approx(1.0)
    for r in rows.values():
        want = (r["validated_after"] / r["contributor_weeks_after"]) / (r["validated_before"] / r["contributor_weeks_before"])
        assert r["throughput_ratio"] == pytest.approx(want)
    text = _terminal(doc, 100)
    assert "per repository: changes before / after with a known cycle time" in text
    table = text[text.index("per repository: changes before / after"):]
    line = next(x for x in table.splitlines() if x.startswith("│ alpha "))
    a = rows["alpha"]
    assert f"{a['changes_before']} / {a['changes_after']}" in line and f"{a['cycle_ratio']:.2f}x" in line


def test_per_repository_totals_come_from_one_grouped_query_with_the_same_numbers(org):
    from loopmeter.metrics import summary
    from loopmeter.metrics.changes import Window, backend, facts
    from loopmeter.store.db import Store

    _, store = org
    with Store.open_read(store) as s:
        con = backend(s)
        window = Window(as_of=datetime(2024, 3, 20))
        repos = [r for (r,) in s.con.execute("select repo from repos order by repo").fetchall()]
        with facts(con, window, None):
            grouped = summary.totals_by_repo(con, window, repos)
            one_by_one = {r: summary.totals(con, window, [r]) for r in repos}
    assert grouped == one_by_one and [grouped[r]["changes"] for r in NAMES] == [12, 16, 20]


def test_a_repository_whose_history_ends_long_before_the_others_is_named(org, monkeypatch):
    # Eight real mirrors ended between 2024-03 and 2026-08: a stale clone reads as months of no work.
    from loopmeter.report import document

    _, store = org
    monkeypatch.setattr(document, "STALE_DAYS", 20)
    doc = api.report_from_store(store_path=store)
    assert doc["as_of"].startswith("2024-03-17")
    stale = [w for w in doc["warnings"] if "newest change landed" in w]
    # alpha's last change landed 2024-02-14 (32 days before); the long one's 2024-03-01 (16 days).
    assert stale == ["alpha: its newest change landed on 2024-02-14, 32 days before the report's as-of (2024-03-17); "
                     "if its clone is stale, fetch it and ingest again (its weeks since then count none of its "
                     "work), if the project went quiet this is expected"]
