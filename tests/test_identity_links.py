"""One person under several addresses is one cluster (store/identity_links.py, metrics/people.py),
on a real git repository whose people are worked out by hand:

- Jane commits as jane@corp.example, once from GitHub's web editor as jane@users.noreply.github.com,
  and assigns the agent two tasks as `jane <12345+jane@users.noreply.github.com>`;
- Bob commits as bob@corp.example and assigns one task as `bobby <999+bobby@...>`, which the
  repository's .mailmap maps to bob@corp.example;
- another "Jane Doe", jane.doe@other.example, shares Jane's name and nothing else.

Evidence that names the account links: the two noreply addresses of login jane (one person, a
cluster apart from jane@corp.example, which nothing ties to that login), and bobby's address to Bob's
by the mailmap. The name "Jane Doe" links nobody.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from gitrepo import GitRepo

import loopmeter
from loopmeter.attribution import Matcher
from loopmeter.lift.inputs import change_frame
from loopmeter.metrics.changes import Window, backend, salt_free_author_keys
from loopmeter.metrics.delegation import cluster_by_delegator
from loopmeter.metrics.people import person_of
from loopmeter.store.api_load import login_actor_id
from loopmeter.store.db import Store
from loopmeter.store.git_load import change_item_id, git_actor_id
from loopmeter.store.identity_links import identity_links, noreply_login

COPILOT = ("Copilot", "198982749+Copilot@users.noreply.github.com")
AGENT_TRAILER = "Co-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>"
WEB = ("GitHub", "noreply@github.com")
JANE = ("Jane Doe", "jane@corp.example")
JANE_WEB = ("Jane Doe", "jane@users.noreply.github.com")
JANE_TASK = ("jane", "12345+jane@users.noreply.github.com")
OTHER_JANE = ("Jane Doe", "jane.doe@other.example")
BOB = ("Bob", "bob@corp.example")
BOB_TASK = ("bobby", "999+bobby@users.noreply.github.com")
AS_OF = datetime(2024, 3, 1)


def _day(i: int, hour: int = 9) -> str:
    return f"2024-01-{i:02d}T{hour:02d}:00:00+00:00"


def _build(root, mailmap: bool = True):
    repo = GitRepo(root / "repo")
    day = 1
    if mailmap:
        repo.commit("mailmap", author=BOB, date=_day(day), files={".mailmap": f"{BOB[0]} <{BOB[1]}> <{BOB_TASK[1]}>\n"})
        day += 1
    for who in (JANE, JANE, JANE, JANE_WEB, BOB, BOB, OTHER_JANE):
        repo.commit(f"Human change {day}", author=who, date=_day(day, 8), commit_date=_day(day, 12))
        day += 1
    tasks = {}
    for who in (JANE_TASK, JANE_TASK, BOB_TASK):
        tasks.setdefault(who, []).append(repo.commit(
            f"Agent task {day} (#{day})\n\nBody.\n\n{AGENT_TRAILER}\nCo-authored-by: {who[0]} <{who[1]}>\n",
            author=COPILOT, committer=WEB, date=_day(day, 6), commit_date=_day(day, 9)))
        day += 1
    store = root / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    return store, tasks


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("people"))


def test_the_rules_link_a_login_s_addresses_and_a_mailmap_entry_never_a_name():
    salt, m = "s", Matcher.load()
    assert noreply_login("95136+davidfowl@users.noreply.github.com") == "davidfowl"
    assert noreply_login("tlmii@USERS.noreply.github.com") == "tlmii"
    assert noreply_login("davidfowl@gmail.com") is None and noreply_login("noreply@github.com") is None
    jane = login_actor_id(salt, "jane", "github")
    people = [JANE, JANE_WEB, JANE_TASK, ("JANE", "12345+JANE@users.noreply.github.com"), OTHER_JANE, COPILOT,
              ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")]
    got = identity_links(salt, m, people, {BOB_TASK: BOB, JANE: JANE})
    # By hand: login jane's two noreply addresses (an address is keyed lower-cased, so the upper-case
    # spelling is the same actor; it brings the account as GitHub would spell it, `JANE`); a mailmap
    # entry mapping an identity to itself links nothing; the agent and the bot are no people;
    # jane@corp.example and jane.doe@other.example share a name only.
    assert got == sorted([
        (git_actor_id(salt, *JANE_WEB), jane, "noreply"),
        (git_actor_id(salt, *JANE_TASK), jane, "noreply"),
        (login_actor_id(salt, "JANE", "github"), jane, "noreply"),
    ])
    # A mailmap entry mapping to an agent's address or to none links nothing beyond the noreply rule.
    assert {r[2] for r in identity_links(salt, m, [BOB_TASK], {BOB_TASK: COPILOT})} == {"noreply"}
    assert {r[2] for r in identity_links(salt, m, [BOB_TASK], {BOB_TASK: ("Bob", "")})} == {"noreply"}
    assert identity_links(salt, m, [BOB_TASK], {BOB_TASK: BOB}) == sorted([
        (git_actor_id(salt, *BOB_TASK), login_actor_id(salt, "bobby", "github"), "noreply"),
        (git_actor_id(salt, *BOB_TASK), git_actor_id(salt, *BOB), "mailmap"),
    ])


def test_an_ingest_links_a_person_s_addresses_and_their_delegated_changes_join_them(built):
    store, tasks = built
    with Store.open(store, create=False, read_only=True) as s:
        salt = s.meta("salt")
        name = s.con.execute("select repo from repos").fetchone()[0]
        con = backend(s)
        rep = person_of(con)
        keys = salt_free_author_keys(con)
        frame = change_frame(con, Window(as_of=AS_OF), None)
        moved, counts = cluster_by_delegator(con, frame)
    ident = {who: git_actor_id(salt, *who) for who in (JANE, JANE_WEB, JANE_TASK, OTHER_JANE, BOB, BOB_TASK)}
    # Linked: Jane's two noreply addresses; bobby's address and Bob's (the mailmap). Not: her e-mail.
    assert rep[ident[JANE_WEB]] == rep[ident[JANE_TASK]] and rep[ident[BOB_TASK]] == rep[ident[BOB]]
    assert ident[JANE] not in rep and ident[OTHER_JANE] not in rep
    assert keys[ident[JANE_TASK]] == keys[ident[JANE_WEB]] != keys[ident[JANE]]
    assert keys[ident[BOB_TASK]] == keys[ident[BOB]]
    assert counts["co_author"] == 3
    by_item = moved.set_index("item_id")["author_id"]
    assert {by_item[change_item_id(name, sha)] for sha in tasks[JANE_TASK]} == {keys[ident[JANE_WEB]]}
    assert by_item[change_item_id(name, tasks[BOB_TASK][0])] == keys[ident[BOB]]
    # Clusters, by hand: Jane (corp), Jane (noreply, with her two tasks), Bob (with his), the other
    # Jane Doe: 4. Without the links the two task addresses were clusters of their own: 6.
    humans = moved[~moved["bot"]] if "bot" in moved else moved
    assert humans["author_id"].nunique() == 4


def test_without_a_mailmap_bob_s_task_address_is_a_person_apart(tmp_path):
    store, tasks = _build(tmp_path, mailmap=False)
    with Store.open(store, create=False, read_only=True) as s:
        salt = s.meta("salt")
        keys = salt_free_author_keys(backend(s))
        evidence = {r[0] for r in s.con.execute("select evidence from identity_links").fetchall()}
    assert evidence == {"noreply"}
    assert keys.get(git_actor_id(salt, *BOB_TASK)) != keys[git_actor_id(salt, *BOB)]


def test_a_store_written_before_the_links_gets_them_when_opened(built, tmp_path):
    import shutil

    store, _ = built
    old = tmp_path / "old.duckdb"
    shutil.copy(store, old)
    with Store.open(old) as s:
        want = s.con.execute("select * from identity_links order by all").fetchall()
        s.con.execute("drop table identity_links")
        s.con.execute("delete from schema_migrations where name = '016_people'")
    with Store.open(old) as s:  # the migration runs again, reading each repository's clone
        got = s.con.execute("select * from identity_links order by all").fetchall()
        salt = s.meta("salt")
    assert got == want
    # By hand (the module docstring): Jane's two noreply addresses to login jane, Bob's task address
    # to its login and, by the mailmap, to Bob's own address; nothing else.
    jane = login_actor_id(salt, "jane", "github")
    assert sorted((a, p, e) for _, a, p, e in got) == sorted([
        (git_actor_id(salt, *JANE_WEB), jane, "noreply"),
        (git_actor_id(salt, *JANE_TASK), jane, "noreply"),
        (git_actor_id(salt, *BOB_TASK), login_actor_id(salt, "bobby", "github"), "noreply"),
        (git_actor_id(salt, *BOB_TASK), git_actor_id(salt, *BOB), "mailmap"),
    ])


def test_two_addresses_of_one_person_in_one_week_are_one_contributor_week(tmp_path):
    # Jane lands a change from each of her two noreply addresses (one login) in the week of
    # 2024-01-08, and Bob one: by hand, 2 contributor-weeks, Jane's with 2 validated changes.
    from loopmeter.lift.inputs import weekly_activity

    repo = GitRepo(tmp_path / "repo")
    repo.commit("Jane from the web", author=JANE_WEB, date="2024-01-09T09:00:00+00:00")
    repo.commit("Jane from a task", author=JANE_TASK, date="2024-01-10T09:00:00+00:00")
    repo.commit("Bob", author=BOB, date="2024-01-11T09:00:00+00:00")
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    with Store.open(store, create=False, read_only=True) as s:
        con = backend(s)
        panel = weekly_activity(con, Window(as_of=AS_OF), None, delegated=False)
    assert len(panel) == 2
    assert sorted(panel["validated"].tolist()) == [1, 2]
    assert panel["week"].astype(str).unique().tolist() == ["2024-01-08"]


def test_one_login_with_two_account_ids_is_two_people():
    # A renamed account's login taken by someone else: 111+sam and 222+sam are different accounts,
    # so neither they nor the id-less sam@ address are linked together (by hand: no shared person).
    salt, m = "s", Matcher.load()
    a, b, bare = (("Sam", "111+sam@users.noreply.github.com"), ("Sam", "222+Sam@users.noreply.github.com"),
                  ("Sam", "sam@users.noreply.github.com"))
    got = identity_links(salt, m, [a, b, bare])
    person = {alias: p for alias, p, _ in got}
    assert git_actor_id(salt, *bare) not in person
    assert person[git_actor_id(salt, *a)] != person[git_actor_id(salt, *b)]
    # One account id for the login: all three are one person, as before.
    got = identity_links(salt, m, [a, ("Sam", "111+SAM@users.noreply.github.com"), bare])
    assert len({p for _, p, _ in got}) == 1


def test_forgetting_an_address_keeps_its_link_through_later_ingests(tmp_path):
    # `store forget` overwrites the address in the commits; the next ingest rebuilds the links from
    # the commits, and must keep the forgotten address's link (forget keeps every metric).
    from loopmeter.store.forget import forget_person

    repo = GitRepo(tmp_path / "repo")
    repo.commit("Jane from the web", author=JANE_WEB, date="2024-01-09T09:00:00+00:00")
    repo.commit("Jane from a task", author=JANE_TASK, date="2024-01-10T09:00:00+00:00")
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)

    def links() -> list[tuple]:
        with Store.open(store, create=False, read_only=True) as s:
            return sorted(s.con.execute("select alias_id, person_id from identity_links").fetchall())

    before = links()
    assert len(before) == 2  # by hand: both noreply addresses to login jane
    with Store.open(store, create=False) as s:
        forget_person(s, JANE_WEB[1])
    repo.commit("Later", author=BOB, date="2024-01-11T09:00:00+00:00")
    loopmeter.ingest([repo.path], store_path=store)
    assert links() == before


def test_a_new_repository_s_links_are_made_by_its_reader_and_equal_those_read_back(tmp_path, monkeypatch):
    # A repository new to the store gets its links from the rows its reader made (no statement
    # reads the store for them); they must be exactly what the store-side rebuild reads back, in a
    # set stored as one group (reader processes) as for one repository alone.
    from loopmeter import ingestion
    from loopmeter.store.identity_links import link_identities

    calls = []
    real = ingestion.link_identities
    monkeypatch.setattr(ingestion, "link_identities", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    monkeypatch.setenv("LOOPMETER_READERS", "processes")
    store, _ = _build(tmp_path)
    other = GitRepo(tmp_path / "other")
    # A chained .mailmap: git prints old@ as new@ once; the .mailmap maps new@ on to proper@.
    other.commit("mailmap", author=("Old", "old@x.example"), date=_day(19),
                 files={".mailmap": "New <new@x.example> <old@x.example>\nProper <proper@x.example> <new@x.example>\n"})
    other.commit(f"Agent task\n\n{AGENT_TRAILER}\nCo-authored-by: {JANE_TASK[0]} <{JANE_TASK[1]}>\n",
                 author=COPILOT, committer=WEB, date=_day(20))
    loopmeter.ingest([other.path, tmp_path / "repo"], store_path=store)  # "repo" did not move: skipped
    assert calls == []
    with Store.open(store) as s:
        salt = s.meta("salt")
        made = s.con.execute("select * from identity_links order by all").fetchall()
        for repo, path in s.con.execute("select repo, path from repos").fetchall():
            link_identities(s.con, path, repo, Matcher.load(), s.meta("salt"))
        assert s.con.execute("select * from identity_links order by all").fetchall() == made
    assert {r[0] for r in made} == {"repo", "other"} and len(made) == 6
    assert ("other", git_actor_id(salt, "New", "new@x.example"), git_actor_id(salt, "Proper", "proper@x.example"),
            "mailmap") in made
    # New commits on a stored repository: the links are rebuilt from the store.
    other.commit("Human change", author=JANE_WEB, date=_day(21))
    loopmeter.ingest([other.path], store_path=store)
    assert calls == ["other"]
