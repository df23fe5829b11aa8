"""An agent account's changes count as work of the human who delegated them (metrics/delegation.py),
on a real git repository: a human co-author trailer, a human committer, a tracker's merger, and
no evidence at all; then the AI-vs-human design's clusters through `loopmeter.api.lift`."""

from __future__ import annotations

from datetime import datetime

import pytest
from gitrepo import GitRepo

import loopmeter
from loopmeter.api import lift
from loopmeter.lift.inputs import change_frame
from loopmeter.metrics.changes import Window, backend
from loopmeter.attribution import trailer_address
from loopmeter.metrics.delegation import cluster_by_delegator, delegators
from loopmeter.store.db import Store
from loopmeter.store.git_load import change_item_id

COPILOT = ("Copilot", "198982749+Copilot@users.noreply.github.com")
AGENT_TRAILER = "Co-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>"
WEB = ("GitHub", "noreply@github.com")
HUMANS = [(f"Dev {i}", f"dev{i}@example.com") for i in range(6)]
AS_OF = datetime(2024, 3, 1)


def _day(i: int, hour: int = 9) -> str:
    return f"2024-01-{i:02d}T{hour:02d}:00:00+00:00"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("delegation"))


def build_store(root):
    """(store, repository name, shas by evidence) of a repository whose agent account's changes have
    each kind of delegation evidence, and one none (also tests/test_spark_parity.py's)."""
    repo = GitRepo(root / "repo")
    day = 1
    for k in range(4):  # every human lands four changes of their own, a day each
        for who in HUMANS:
            repo.commit(f"Human change {day}", author=who, date=_day(day % 28 + 1, 8),
                        commit_date=_day(day % 28 + 1, 8 + 2 + k))
            day += 1
    shas = {}
    # 1. Dev 0 assigned four tasks to the agent: the squash carries the agent's and Dev 0's trailers.
    for k in range(4):
        shas.setdefault("co_author", []).append(repo.commit(
            f"Agent task {k} (#{10 + k})\n\n* Initial plan\n\n---------\n\n{AGENT_TRAILER}\n"
            f"Co-authored-by: {HUMANS[0][0]} <{HUMANS[0][1]}>\n",
            author=COPILOT, committer=WEB, date=_day(20 + k, 6), commit_date=_day(20 + k, 7 + k)))
    # ... and someone with no commit of their own (a GitHub noreply address) assigned one.
    shas["outsider"] = repo.commit(
        f"Agent task by an outsider (#20)\n\nBody.\n\nCo-authored-by: outsider <777+outsider@users.noreply.github.com>\n"
        f"{AGENT_TRAILER}\n", author=COPILOT, committer=WEB, date=_day(25, 6), commit_date=_day(25, 9))
    # 2. Dev 1 rebased the agent's work locally: only the committer says who.
    shas["committer"] = repo.commit(f"Agent change landed by hand\n\nBody.\n\n{AGENT_TRAILER}\n", author=COPILOT,
                                    committer=HUMANS[1], date=_day(26, 6), commit_date=_day(26, 10))
    # 3. Landed from the web with only the agent's own trailer: git alone cannot say who.
    shas["merger"] = repo.commit(f"Agent change (#30)\n\nBody.\n\n{AGENT_TRAILER}\n", author=COPILOT, committer=WEB,
                                 date=_day(27, 6), commit_date=_day(27, 11))
    shas["none"] = repo.commit("Agent change (#31)", author=COPILOT, committer=WEB, date=_day(28, 6),
                               commit_date=_day(28, 12))
    store = root / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    with Store.open(store) as s:
        name = s.con.execute("select repo from repos").fetchone()[0]
        # A tracker's pull request #30 merged by Dev 2 (rows as the GitHub source writes them).
        dev2 = s.con.execute("select author_id from commits where author_email = ?", [HUMANS[2][1]]).fetchone()[0]
        pr = "github:acme/repo:pull_request:30"
        s.con.execute("insert into items (item_id, source, kind, repo, title, created_at, done_at, state) values "
                      "(?, 'github', 'pull_request', 'acme/repo', 'Agent change', ?, ?, 'merged')",
                      [pr, datetime(2024, 1, 27, 6), datetime(2024, 1, 27, 11)])
        s.con.execute("insert into links values (?, ?, 'same_as')", [pr, change_item_id(name, shas["merger"])])
        s.con.execute("insert into events (item_id, ts, activity, actor_id, attrs) values (?, ?, 'merged', ?, null)",
                      [pr, datetime(2024, 1, 27, 11), dev2])
    return store, name, shas


def test_trailer_values_are_parsed_as_git_writes_them():
    assert trailer_address("radical <1472+radical@users.noreply.github.com>") == (
        "radical", "1472+radical@users.noreply.github.com")
    assert trailer_address("  Mitch Denny   <mitch@mitchdeny.com> ") == ("Mitch Denny", "mitch@mitchdeny.com")
    assert trailer_address("<mitch@mitchdeny.com>") == ("", "mitch@mitchdeny.com")
    # Without the brackets, as some tools write it (attribution reads agents' trailers so too).
    assert trailer_address("Claude noreply@anthropic.com") == ("Claude", "noreply@anthropic.com")
    assert trailer_address("Mitch Denny  mitch@mitchdeny.com ") == ("Mitch Denny", "mitch@mitchdeny.com")
    assert trailer_address("just a name") is None and trailer_address("") is None
    assert trailer_address("see a@b for why") is None  # an address must end the value


def test_a_co_author_without_angle_brackets_is_the_delegator(tmp_path):
    # "Co-authored-by: Dev 3 dev3@example.com" (no <>): the same person as Dev 3's own commits.
    repo = GitRepo(tmp_path / "repo")
    for i, who in enumerate(HUMANS[:4]):
        repo.commit(f"Human change {i}", author=who, date=_day(i + 1))
    sha = repo.commit(f"Agent task (#40)\n\nBody.\n\n{AGENT_TRAILER}\nCo-authored-by: {HUMANS[3][0]} {HUMANS[3][1]}\n",
                      author=COPILOT, committer=WEB, date=_day(10, 6), commit_date=_day(10, 9))
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    with Store.open(store, create=False, read_only=True) as s:
        found = delegators(backend(s))
        name = s.con.execute("select repo from repos").fetchone()[0]
        dev3 = s.con.execute("select distinct author_id from commits where author_email = ?", [HUMANS[3][1]]).fetchall()
    assert len(dev3) == 1
    assert [(r.item_id, r.delegator_id, r.evidence) for r in found.itertuples()] == [
        (change_item_id(name, sha), dev3[0][0], "co_author")]


def test_an_ai_tool_s_own_co_author_address_is_not_the_delegator(tmp_path):
    # Copilot's review account (175728472+Copilot, class suggestion) is no actor kind of its own, but it
    # is not a person either: the human co-author after it is the delegator (one such change on
    # dotnet/aspire was "delegated" to it).
    repo = GitRepo(tmp_path / "repo")
    repo.commit("Human change", author=HUMANS[4], date=_day(1))
    sha = repo.commit(f"Agent task (#41)\n\nBody.\n\n{AGENT_TRAILER}\n"
                      f"Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\n"
                      f"Co-authored-by: {HUMANS[4][0]} <{HUMANS[4][1]}>\n",
                      author=COPILOT, committer=WEB, date=_day(10, 6), commit_date=_day(10, 9))
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    with Store.open(store, create=False, read_only=True) as s:
        found = delegators(backend(s))
        name = s.con.execute("select repo from repos").fetchone()[0]
        dev4 = s.con.execute("select author_id from commits where author_email = ?", [HUMANS[4][1]]).fetchone()[0]
    assert [(r.item_id, r.delegator_id) for r in found.itertuples()] == [(change_item_id(name, sha), dev4)]


def test_each_agent_change_gets_the_strongest_evidence_it_has(built):
    store, name, shas = built
    with Store.open(store, create=False, read_only=True) as s:
        found = delegators(backend(s))
        ids = dict(s.con.execute("select author_email, author_id from commits").fetchall())
        agent = s.con.execute("select actor_id from actors where kind = 'agent'").fetchall()
    assert len(agent) == 1  # the Copilot account is an agent; GitHub's web identity is not a person
    by_item = {r.item_id: (r.delegator_id, r.evidence) for r in found.itertuples()}
    for sha in shas["co_author"]:
        assert by_item[change_item_id(name, sha)] == (ids[HUMANS[0][1]], "co_author")
    assert by_item[change_item_id(name, shas["committer"])] == (ids[HUMANS[1][1]], "committer")
    assert by_item[change_item_id(name, shas["merger"])] == (ids[HUMANS[2][1]], "merger")
    outsider = by_item[change_item_id(name, shas["outsider"])]
    assert outsider[1] == "co_author" and outsider[0] not in ids.values()  # a person with no commit here
    assert change_item_id(name, shas["none"]) not in by_item
    assert set(found["agent_id"]) == {agent[0][0]}


def test_delegated_changes_join_their_delegators_own_cluster(built):
    store, name, shas = built
    with Store.open(store, create=False, read_only=True) as s:
        con = backend(s)
        before = change_frame(con, Window(as_of=AS_OF), None)
        after, counts = cluster_by_delegator(con, before)
    assert counts == {"agent_changes": 8, "co_author": 5, "merger": 1, "committer": 1, "kept_agent": 1}
    own = before.set_index("item_id")["author_id"]
    moved = after.set_index("item_id")["author_id"]
    dev0_key = own[~own.index.isin([change_item_id(name, s) for s in shas["co_author"]])].value_counts()
    for sha in shas["co_author"]:
        item = change_item_id(name, sha)
        assert moved[item] != own[item] and moved[item] in dev0_key.index
    assert moved[change_item_id(name, shas["none"])] == own[change_item_id(name, shas["none"])]
    # Eight changes of one agent account become five clusters: Dev 0, 1, 2, the outsider, the agent.
    agent_items = [change_item_id(name, s) for s in (*shas["co_author"], shas["outsider"], shas["committer"],
                                                      shas["merger"], shas["none"])]
    assert own[agent_items].nunique() == 1 and moved[agent_items].nunique() == 5
    assert (after.drop(columns="author_id") == before.drop(columns="author_id")).all().all()


def test_the_ai_vs_human_design_clusters_by_delegator_and_says_so(built):
    store, _, _ = built
    doc = lift(store_path=store, design="ai-vs-human", as_of=AS_OF, n_boot=50, seed=1)
    assert doc["clusters"]["agent_changes"] == 8 and doc["clusters"]["co_author"] == 5
    row = next(r for r in doc["results"] if r["estimator"] == "log_duration_regression_size")
    # Six humans, the outsider and the agent account left with no evidence: 8 clusters, not 7.
    assert row["n_clusters"] == 8


def test_a_report_over_the_parquet_export_moves_the_same_changes_to_the_same_people(built, tmp_path):
    # An export holds neither the pseudonym salt nor people's addresses: working the delegators out
    # there keyed co-authors by an unsalted hash and took GitHub's unnamed web committer for a person
    # (eight real repositories: 605 agent changes "delegated by their committer" against 3 from the
    # store). The export carries the store's own rows (export/parquet.py DELEGATIONS) instead.
    import shutil

    from loopmeter.api import export

    store, _, _ = built
    out = tmp_path / "export"
    export("parquet", out, store_path=store)
    with Store.open(store, create=False, read_only=True) as s:
        want = delegators(backend(s))
    from loopmeter.engine import open_export

    with open_export(out, engine="duckdb") as (_, con):
        got = delegators(con)
    assert got.to_dict("records") == want.to_dict("records") and len(want) == 7
    mine = lift(store_path=store, design="ai-vs-human", as_of=AS_OF, n_boot=50, seed=1)
    theirs = lift(store_path=None, parquet=out, engine="duckdb", design="ai-vs-human", as_of=AS_OF, n_boot=50,
                  seed=1)
    assert theirs["clusters"] == mine["clusters"]
    row = lambda d: next(r for r in d["results"] if r["estimator"] == "log_duration_regression_size")  # noqa: E731
    assert row(theirs)["n_clusters"] == row(mine)["n_clusters"] == 8
    assert row(theirs) == row(mine)
    # An export written before the table existed delegates nothing rather than guess.
    shutil.rmtree(out / "delegations")
    with open_export(out, engine="duckdb") as (_, con):
        assert delegators(con).empty
