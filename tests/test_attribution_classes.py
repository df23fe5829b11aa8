"""Evidence classes, automation accounts and adoption evidence on real git repositories.

The identities and trailers are the exact shapes of issue 9: GitHub's "Commit suggestion" co-author
for a Copilot *review* suggestion (175728472+Copilot), the Copilot coding agent's own account
(198982749+Copilot), aider's committer-only "(aider)" mark (Aider-AI/aider aider/repo.py: a user's
own edits are committed with committer "Name (aider)" and a plain author) and dotnet/aspire's
localization account.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from loopmeter import api
from loopmeter.config import Config, load_config
from loopmeter.errors import ConfigError
from loopmeter.lift import summary as lift_m
from loopmeter.metrics import summary
from loopmeter.metrics.changes import Window, backend
from loopmeter.report.terminal import render_terminal
from loopmeter.store.db import Store
from tests.gitrepo import GitRepo

ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Builder", "bob@example.com")
CODING_AGENT = ("Copilot", "198982749+Copilot@users.noreply.github.com")
REVIEW_SUGGESTION = "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>"
PAUL = ("Paul Gauthier", "paul@example.com")
PAUL_AIDER = ("Paul Gauthier (aider)", "paul@example.com")
DOTNET_BOT = ("dotnet bot", "dotnet-bot@dotnetfoundation.org")


def _day(i: int) -> str:
    return (datetime(2025, 1, 6, 10) + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _mixed_repo(path: Path) -> GitRepo:
    r = GitRepo(path)
    r.commit("Add the parser", author=ALICE, date=_day(0))
    r.commit(f"Use a dict for lookups (#12)\n\n{REVIEW_SUGGESTION}", author=BOB, date=_day(1))
    # aider committed Paul's own edits: only the message is aider's
    r.commit("Rename the config loader", author=PAUL, committer=PAUL_AIDER, date=_day(2))
    # aider made the edits: author and committer both carry the mark
    r.commit("Handle empty input in the parser", author=PAUL_AIDER, committer=PAUL_AIDER, date=_day(3))
    r.commit("Fix flaky test (#14)\n\nCo-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>",
             author=CODING_AGENT, date=_day(4))
    r.commit("Localized file check-in by OneLocBuild Task", author=DOTNET_BOT, date=_day(5))
    r.commit("Localized file check-in by OneLocBuild Task", author=DOTNET_BOT, date=_day(6))
    r.commit("Update README", author=ALICE, date=_day(7))
    return r


def _report(tmp_path: Path, store: Path, config: Config, as_of: datetime = datetime(2025, 3, 1)) -> dict:
    """The report's totals, attribution and adoption sections, computed as the report does but
    without the rest of the report (which these tests do not look at)."""
    window = Window(as_of=as_of, days=14, ai_classes=config.ai_classes, min_adoption_share=config.min_adoption_share)
    with Store.open(store, create=False, read_only=True) as st:
        con = backend(st)
        t = summary.totals(con, window)
        return {"totals": t, "attribution": summary.attribution(con, window, None, t),
                "adoption": lift_m.adoption(con, window, None, None)}


def test_suggestion_and_message_evidence_are_stored_but_not_ai_assisted_by_default(tmp_path):
    _mixed_repo(tmp_path / "repo")
    store = tmp_path / "s.duckdb"
    api.ingest([tmp_path / "repo"], store_path=store, config=Config())
    page = tmp_path / "r.html"
    doc = api.report_from_store(store_path=store, config=Config(), as_of=datetime(2025, 3, 1), html_path=page)
    t, a = doc["totals"], doc["attribution"]
    html = page.read_text()
    assert "Evidence by class" in html and "dotnet bot &lt;dotnet-bot@dotnetfoundation.org&gt;" in html
    out = io.StringIO()
    render_terminal(doc, Console(file=out, width=200))
    assert "automation accounts (left out of comparisons): dotnet bot (2)" in out.getvalue()
    assert "2 changes rest only on evidence that is not counted" in out.getvalue()
    # 8 changes: 2 by the localization bot; of the 6 others only the coding agent's and aider's own
    # edits are AI-assisted.
    assert (t["changes"], t["bot_changes"], t["ai_assisted_changes"]) == (8, 2, 2)
    assert a["by_class"] == {"authored": 2, "assisted": 0, "suggestion": 1, "message": 2}
    # the review suggestion and the committer-only mark: evidence that is not counted
    assert a["changes_not_counted"] == 2
    assert a["changes_by_agent"] == {"copilot": 1, "aider": 1}
    assert a["ai_share_lower_bound"] == pytest.approx(2 / 6)
    assert a["automation_accounts"] == [{"name": "dotnet bot", "email": "dotnet-bot@dotnetfoundation.org", "changes": 2}]
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute("select agent, evidence, evidence_class from attributions "
                           "where item_id like '%:commit:%' order by 1, 2, 3").fetchall()
    assert ("copilot", "trailer", "suggestion") in rows and ("aider", "committer", "message") in rows
    assert ("aider", "author", "authored") in rows and ("copilot", "author", "authored") in rows
    assert all(c is not None for _, _, c in rows)


def test_loopmeter_toml_opts_suggestions_in(tmp_path, monkeypatch):
    _mixed_repo(tmp_path / "repo")
    store = tmp_path / "s.duckdb"
    (tmp_path / "loopmeter.toml").write_text('[attribution]\nai_classes = ["authored", "assisted", "suggestion"]\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.ai_classes == ("authored", "assisted", "suggestion")
    api.ingest([tmp_path / "repo"], store_path=store, config=cfg)
    doc = _report(tmp_path, store, cfg)
    assert doc["totals"]["ai_assisted_changes"] == 3
    assert doc["attribution"]["changes_not_counted"] == 1  # only the committer-only mark is left out
    assert doc["attribution"]["ai_classes"] == ["authored", "assisted", "suggestion"]


@pytest.mark.parametrize("text, field", [
    ('[attribution]\nai_classes = ["authored", "guessed"]\n', "attribution.ai_classes"),
    ('[attribution]\nai_classes = []\n', "attribution.ai_classes"),
    ('[attribution]\nmin_adoption_share = 1.5\n', "attribution.min_adoption_share"),
    ('[[attribution.bot]]\nemail = "not an address"\n', "email"),
])
def test_bad_attribution_settings_are_one_clear_line(tmp_path, monkeypatch, text, field):
    (tmp_path / "loopmeter.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        cfg = load_config()
        api.ingest([tmp_path], store_path=tmp_path / "s.duckdb", config=cfg)
    assert field in str(e.value) and "\n" not in str(e.value)


def test_user_configured_automation_account_is_a_bot(tmp_path, monkeypatch):
    r = GitRepo(tmp_path / "repo")
    r.commit("Bump versions", author=("Release Robot", "release-robot@ourcompany.example"), date=_day(0))
    r.commit("Fix the parser", author=ALICE, date=_day(1))
    (tmp_path / "loopmeter.toml").write_text('[[attribution.bot]]\nemail = "release-robot@ourcompany.example"\n'
                                             'description = "our release automation"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    store = tmp_path / "s.duckdb"
    api.ingest([tmp_path / "repo"], store_path=store, config=cfg)
    doc = _report(tmp_path, store, cfg)
    assert doc["totals"]["bot_changes"] == 1 and doc["totals"]["contributors"] == 1
    assert [b["name"] for b in doc["attribution"]["automation_accounts"]] == ["Release Robot"]


def test_a_store_written_before_classes_is_rejudged_on_the_next_ingest(tmp_path):
    _mixed_repo(tmp_path / "repo")
    store = tmp_path / "s.duckdb"
    api.ingest([tmp_path / "repo"], store_path=store, config=Config())
    # Turn it into a store of the previous format: no class column, migration 005 not applied, and
    # every commit judged by the old rules (each piece of evidence counted as AI).
    with duckdb.connect(str(store)) as con:
        con.execute("alter table attributions drop column evidence_class")
        con.execute("delete from schema_migrations where name = '005_attribution_classes'")
    with duckdb.connect(str(store)) as con:
        assert "evidence_class" not in [r[0] for r in con.execute("describe attributions").fetchall()]
    # Opening it upgrades it: each row is judged again from its matched text, so a report is right
    # before any re-ingest.
    with Store.open(store, create=False) as st:
        assert "005_attribution_classes" in st.migrations()
    doc = _report(tmp_path, store, Config())
    assert doc["totals"]["ai_assisted_changes"] == 2
    assert doc["attribution"]["by_class"] == {"authored": 2, "assisted": 0, "suggestion": 1, "message": 2}
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("select count(*) from attributions where evidence_class is null").fetchone()[0] == 0
        assert con.execute("select count(*) from meta where key like 'signatures:%'").fetchone()[0] == 0
    api.ingest([tmp_path / "repo"], store_path=store, config=Config())  # nothing new to read; re-judged in full
    doc = _report(tmp_path, store, Config())
    assert doc["totals"]["ai_assisted_changes"] == 2
    assert doc["attribution"]["by_class"]["suggestion"] == 1
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("select count(*) from attributions where evidence_class is null").fetchone()[0] == 0


# ------------------------------------------------------------------------------------ adoption


def _weekly_repo(path: Path, weeks: list[tuple[int, int, int]]) -> GitRepo:
    """One repository; per week (humans, review-suggestion commits, coding-agent commits)."""
    r = GitRepo(path)
    start = datetime(2025, 1, 6, 9)  # a Monday
    for w, (humans, suggestions, agent) in enumerate(weeks):
        k = 0
        for _ in range(humans):
            k += 1
            r.commit(f"Human change {w}.{k}", author=ALICE if k % 2 else BOB,
                     date=(start + timedelta(weeks=w, hours=k)).strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        for _ in range(suggestions):
            k += 1
            r.commit(f"Apply review suggestion {w}.{k}\n\n{REVIEW_SUGGESTION}", author=BOB,
                     date=(start + timedelta(weeks=w, hours=k)).strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        for _ in range(agent):
            k += 1
            r.commit(f"Agent change {w}.{k}", author=CODING_AGENT,
                     date=(start + timedelta(weeks=w, hours=k)).strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    return r


def test_adoption_ignores_review_suggestions_and_reports_its_evidence_and_exposure(tmp_path):
    # Weeks 0-2: people only; weeks 3-6: a review suggestion accepted every week (class
    # suggestion, a quarter of the changes); the coding agent starts in week 7 with 2 of 5 a week.
    weeks = [(4, 0, 0)] * 3 + [(3, 1, 0)] * 4 + [(2, 1, 2)] * 5
    _weekly_repo(tmp_path / "repo", weeks)
    store = tmp_path / "s.duckdb"
    api.ingest([tmp_path / "repo"], store_path=store, config=Config())
    doc = _report(tmp_path, store, Config(), as_of=datetime(2025, 6, 1))
    ad = doc["adoption"]
    assert ad["date"] == (date(2025, 1, 6) + timedelta(weeks=7)).isoformat()
    assert "10%" in ad["rule"]
    # exposure after: 2 agent changes of 5 in each of the 5 weeks after, by hand
    assert ad["exposure_after"] == pytest.approx(10 / 25)
    assert ad["evidence"][0] == {"agent": "copilot", "class": "authored", "first_seen": ad["date"],
                                 "changes_in_first_4_weeks": 8}
    assert all(e["class"] in ("authored", "assisted") for e in ad["evidence"])


def test_adoption_needs_the_minimum_share_sustained(tmp_path, monkeypatch):
    # One agent change in 12 every week: 8.3% AI, below the default 10%.
    _weekly_repo(tmp_path / "repo", [(11, 0, 1)] * 4)
    store = tmp_path / "s.duckdb"
    api.ingest([tmp_path / "repo"], store_path=store, config=Config())
    as_of = datetime(2025, 4, 1)
    assert _report(tmp_path, store, Config(), as_of)["adoption"]["date"] is None
    low = dataclasses.replace(Config(), min_adoption_share=0.05)
    doc = _report(tmp_path, store, low, as_of)
    assert doc["adoption"]["date"] == "2025-01-06"
    assert doc["adoption"]["exposure_after"] == pytest.approx(4 / 48)
    assert "5%" in doc["adoption"]["rule"]


def test_one_line_message_with_literal_newline_escapes_and_bare_address_trailer(tmp_path):
    r = GitRepo(tmp_path / "repo")
    # what `git commit -m "Fix login\n\nCo-Authored-By: ..."` stores when no shell expands the escapes
    r.commit("Fix login\\n\\nCo-Authored-By: Claude <noreply@anthropic.com>", author=ALICE, date=_day(0))
    r.commit("Add retries\n\nCo-authored-by: Claude noreply@anthropic.com", author=BOB, date=_day(1))
    r.commit("Tidy up\n\nCo-authored-by: Claude Shannon claude@example.org", author=BOB, date=_day(2))
    assert "\\n" in r.git("log", "-1", "--format=%B", "HEAD~2")
    store = tmp_path / "s.duckdb"
    api.ingest([tmp_path / "repo"], store_path=store, config=Config())
    doc = _report(tmp_path, store, Config())
    assert doc["totals"]["ai_assisted_changes"] == 2
    assert doc["attribution"]["changes_by_agent"] == {"claude-code": 2}
