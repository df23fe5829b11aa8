"""Teams follow the identity links (teams.py `resolve`, metrics/scope.py): a member named by their
work e-mail brings every address the store links to it, on a real git repository counted by hand.

The repository (one commit a change, on main, January 2024):
- 01-01 Bob commits the .mailmap: `1234+alice@users.noreply.github.com` is Alice <alice@work.example>;
- 01-02..01-04 Alice commits three changes as alice@work.example;
- 01-05 Alice edits a file on the web: author `alice <alice@users.noreply.github.com>` (the
  noreply address of accounts made before July 2017), committer GitHub;
- 01-08, 01-09 the Copilot agent lands two tasks Alice assigned to it: its squash carries
  `Co-authored-by: alice <1234+alice@users.noreply.github.com>`;
- 01-10 Bob commits; 01-11 the agent lands a task Bob assigned (`Co-authored-by: Bob <bob@...>`);
- 01-12 the agent lands a change nobody is credited on.

The store links 1234+alice@... to alice@work.example (the .mailmap) and both noreply addresses to
the account alice (one login): Alice is one person under three addresses. loopmeter.toml names
only alice@work.example in team `core`, so `core` holds 3 + 1 + 2 = 6 changes (2 AI-assisted: the
delegated ones) by 1 contributor, and `unassigned` holds Bob's 2, Bob's delegated 1 and the
undelegated 1 = 4 changes (2 AI-assisted) by 1 contributor (Bob; an agent account is no person).
In all: 10 changes, 4 AI-assisted (the agent's), 2 contributors.
Without the .mailmap nothing links the work address to the noreply ones: `core` is Alice's 3
changes (none AI-assisted), and `unassigned` the other 7 (all 4 of the agent's) by 2 people: Bob,
and Alice under her noreply addresses, which the noreply rule still makes one.
"""

from __future__ import annotations

import json

import pytest
from gitrepo import GitRepo
from typer.testing import CliRunner

import loopmeter
from loopmeter import api
from loopmeter.cli import app

runner = CliRunner()
ALICE = ("Alice", "alice@work.example")
ALICE_WEB = ("alice", "alice@users.noreply.github.com")
ALICE_TRAILER = "Co-authored-by: alice <1234+alice@users.noreply.github.com>"
BOB = ("Bob", "bob@example.com")
COPILOT = ("Copilot", "198982749+Copilot@users.noreply.github.com")
AGENT_TRAILER = "Co-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>"
WEB = ("GitHub", "noreply@github.com")
AS_OF = "2024-03-01"


def _at(day: int, hour: int = 9) -> str:
    return f"2024-01-{day:02d}T{hour:02d}:00:00+00:00"


def build_store(root, *, mailmap: bool = True):
    """The repository of the module docstring, ingested into `root`/lm.duckdb (returned)."""
    repo = GitRepo(root / "repo")
    repo.commit("mailmap", author=BOB, date=_at(1),
                files={".mailmap": f"{ALICE[0]} <{ALICE[1]}> <1234+alice@users.noreply.github.com>\n"
                       if mailmap else "\n"})
    for day in (2, 3, 4):
        repo.commit(f"Alice's change {day}", author=ALICE, date=_at(day))
    repo.commit("Edit README.md", author=ALICE_WEB, committer=WEB, date=_at(5))
    for day in (8, 9):
        repo.commit(f"Agent task {day} (#{day})\n\n* Initial plan\n\n{AGENT_TRAILER}\n{ALICE_TRAILER}\n",
                    author=COPILOT, committer=WEB, date=_at(day, 6), commit_date=_at(day, 8))
    repo.commit("Bob's change", author=BOB, date=_at(10))
    repo.commit(f"Agent task 11 (#11)\n\n{AGENT_TRAILER}\nCo-authored-by: {BOB[0]} <{BOB[1]}>\n",
                author=COPILOT, committer=WEB, date=_at(11, 6), commit_date=_at(11, 8))
    repo.commit("Agent change (#12)", author=COPILOT, committer=WEB, date=_at(12, 6), commit_date=_at(12, 8))
    store = root / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    return store


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("teamlinks"))


def _report(store, cwd, monkeypatch, *args):
    monkeypatch.chdir(cwd)
    r = runner.invoke(app, ["report", "--store", str(store), "--json", "--as-of", AS_OF, "--by", "repo", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _counts(doc) -> tuple[int, int, int]:
    t = doc["totals"]
    return t["changes"], t["ai_assisted_changes"], t["contributors"]


@pytest.fixture
def core(tmp_path):
    (tmp_path / "loopmeter.toml").write_text('[[team]]\nname = "core"\nmembers = ["alice@work.example"]\n')
    return tmp_path


def test_a_member_named_by_work_email_brings_the_linked_addresses_and_delegated_changes(linked, core, monkeypatch):
    assert _counts(_report(linked, core, monkeypatch)) == (10, 4, 2)
    assert _counts(_report(linked, core, monkeypatch, "--team", "core")) == (6, 2, 1)
    unassigned = _report(linked, core, monkeypatch, "--team", "unassigned")
    assert _counts(unassigned) == (4, 2, 1)
    # The weekly people of each slice, by hand: in `core` Alice in both weeks (the second one hers
    # through the two tasks she delegated: the agent's commits on them are her team's), in
    # `unassigned` Bob in the first (the .mailmap) and second week (his change and his delegated
    # task); the undelegated agent change credits nobody.
    weekly = {w["week_start"]: w["contributors"] for w in _report(linked, core, monkeypatch, "--team", "core")["weekly"]}
    assert weekly == {"2024-01-01": 1, "2024-01-08": 1}
    assert {w["week_start"]: w["contributors"] for w in unassigned["weekly"]} == {"2024-01-01": 1, "2024-01-08": 1}


def test_without_a_link_the_team_is_the_named_address_only(tmp_path, core, monkeypatch):
    store = build_store(tmp_path / "unlinked", mailmap=False)
    assert _counts(_report(store, core, monkeypatch, "--team", "core")) == (3, 0, 1)
    assert _counts(_report(store, core, monkeypatch, "--team", "unassigned")) == (7, 4, 2)


TWO_TEAMS = ('[[team]]\nname = "core"\nmembers = ["bob@example.com", "alice@work.example"]\n\n'
             '[[team]]\nname = "web"\nmembers = ["alice@users.noreply.github.com"]\n')


def test_two_teams_naming_two_linked_addresses_of_one_person_is_one_line(linked, tmp_path, monkeypatch):
    (tmp_path / "loopmeter.toml").write_text(TWO_TEAMS)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["report", "--store", str(linked), "--json", "--team", "web", "--by", "repo"])
    assert r.exit_code == 2
    assert r.output.strip() == (
        "error: loopmeter.toml line 7: team[1].members[0] 'alice@users.noreply.github.com' of team 'web' is the "
        "same person as 'alice@work.example' of team 'core' (team[0].members[1]) (the store links their "
        "identities); a person belongs to one team")


def test_the_same_two_teams_are_fine_where_nothing_links_the_addresses(tmp_path, monkeypatch):
    store = build_store(tmp_path / "unlinked", mailmap=False)
    (tmp_path / "loopmeter.toml").write_text(TWO_TEAMS)
    # `web` is Alice under her noreply addresses, which one login links: the web edit and the two
    # tasks she assigned the agent as 1234+alice; `core` keeps her work address's three and Bob's.
    assert _counts(_report(store, tmp_path, monkeypatch, "--team", "web")) == (3, 2, 1)
    assert _counts(_report(store, tmp_path, monkeypatch, "--team", "core")) == (6, 1, 2)


def test_the_slice_holds_the_changes_the_per_team_designs_give_the_team(linked, core):
    # Two ways to the same six changes: the slice's filter on the engine (member ids, the ids linked
    # to them, delegated item ids), and the lift designs' team unit over salt-free author keys after
    # an agent's changes are moved to their delegators (lift/units.py, metrics/delegation.py).
    from datetime import datetime

    from loopmeter.config import load_config
    from loopmeter.lift.inputs import change_frame
    from loopmeter.lift.units import team_unit
    from loopmeter.metrics.changes import Window, backend, changes
    from loopmeter.metrics.delegation import cluster_by_delegator
    from loopmeter.store.db import Store

    config = load_config(core / "loopmeter.toml")
    as_of = datetime(2024, 3, 1)
    with Store.open_read(linked) as s:
        con = backend(s)
        frame, _ = cluster_by_delegator(con, change_frame(con, Window(as_of=as_of), None))
        unit = team_unit(con, config.teams, config.path, frame)
        by_unit = set(frame.loc[(unit.team_column(frame["author_id"]) == "core").to_numpy(), "item_id"])
        scope = api._scope(s, config, team="core", agent=None, since=None, until=None)
        sliced = set(con.execute(changes(con, Window(as_of=as_of, scope=scope)).item_id))
    assert len(sliced) == 6 and by_unit == sliced


def test_over_a_parquet_export_members_are_found_by_the_addresses_a_named_export_holds(linked, core, monkeypatch,
                                                                                       tmp_path):
    # An export holds no pseudonym salt: a member's address cannot be hashed there. One written with
    # names holds the addresses, and its slice is the store's; one without is a one-line error.
    api.export("parquet", tmp_path / "named", store_path=linked, show_names=True)
    api.export("parquet", tmp_path / "plain", store_path=linked)
    for team, expected in (("core", (6, 2, 1)), ("unassigned", (4, 2, 1))):
        doc = _report(linked, core, monkeypatch, "--from-parquet", str(tmp_path / "named"), "--team", team)
        assert _counts(doc) == expected
    r = runner.invoke(app, ["report", "--from-parquet", str(tmp_path / "plain"), "--json", "--team", "core",
                            "--by", "repo"])
    assert r.exit_code == 2
    assert r.output.strip() == (
        "error: loopmeter.toml: no member of any team is anyone in this Parquet export: members are found by their "
        "addresses, which an export holds only when written with `loopmeter export --show-names` (never the "
        "pseudonym salt); export with names, or report from the store")
