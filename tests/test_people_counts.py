"""Contributor counts count people, not addresses (metrics/people.py keys, counted by metrics/summary.py `people_weeks`), on two real git
repositories whose people are worked out by hand:

repository `app`, read twice:
- week of 2024-01-01: Ann as ann@users.noreply.github.com and as 4242+ann@users.noreply.github.com
  (two noreply addresses of login ann), Bo as bo@home.example, Cy as cy@example.com;
- week of 2024-01-08: Bo as bo@work.example, Ann as 4242+ann@...;
  (first ingest here; then Cy commits a .mailmap saying bo@home.example is Bo <bo@work.example>)
- week of 2024-01-15: Cy (the .mailmap), Bo as bo@home.example, which git now reads as bo@work.
  Bo's first commit stays stored under bo@home.example: the .mailmap links it on the second ingest.
repository `lib`: Ann as ann@users.noreply.github.com and Dee as dee@example.com, week of 2024-01-08.

Every commit is a change of its own, validated as of 2024-03-01 (nothing reverted, no CI).
People: Ann, Bo, Cy, Dee = 4 (addresses: 6). `app` 3 (5 addresses), `lib` 2.
Weeks: 01-01 Ann, Bo, Cy = 3 for 4 validated; 01-08 Bo, Ann, Dee = 3 (4 addresses) for 4;
01-15 Cy, Bo = 2 for 2.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from gitrepo import GitRepo

import loopmeter
from loopmeter.metrics import summary
from loopmeter.metrics.changes import Window, backend, facts
from loopmeter.store.db import Store

AS_OF = datetime(2024, 3, 1)
ANN_OLD = ("Ann", "ann@users.noreply.github.com")
ANN = ("Ann", "4242+ann@users.noreply.github.com")
BO_HOME = ("Bo", "bo@home.example")
BO = ("Bo", "bo@work.example")
CY = ("Cy", "cy@example.com")
DEE = ("Dee", "dee@example.com")
# The same history with addresses nothing links: Ann's two unrelated, Bo's never mapped.
UNLINKED = {ANN_OLD: ("Ann", "ann@one.example"), ANN: ("Ann", "ann@two.example")}


def _at(day: int) -> str:
    return f"2024-01-{day:02d}T09:00:00+00:00"


def build_store(root, *, linked: bool = True):
    """The two repositories of the module docstring, ingested into `root`/lm.duckdb (returned)."""
    who = (lambda p: p) if linked else (lambda p: UNLINKED.get(p, p))
    app, lib = GitRepo(root / "app"), GitRepo(root / "lib")
    for day, person in ((2, ANN_OLD), (3, ANN), (4, BO_HOME), (5, CY), (9, BO), (10, ANN)):
        app.commit(f"app change {day}", author=who(person), date=_at(day))
    for day, person in ((9, ANN_OLD), (11, DEE)):
        lib.commit(f"lib change {day}", author=who(person), date=_at(day))
    store = root / "lm.duckdb"
    loopmeter.ingest([app.path, lib.path], store_path=store)
    mailmap = f"{BO[0]} <{BO[1]}> <{BO_HOME[1]}>\n" if linked else ""
    app.commit("mailmap", author=CY, date=_at(16), files={".mailmap": mailmap})
    app.commit("app change 17", author=BO_HOME, date=_at(17))
    loopmeter.ingest([app.path, lib.path], store_path=store)
    return store


def counts(store, *, in_facts: bool = False) -> tuple[dict, dict, list[dict]]:
    """(totals, totals by repository, weekly) as the report computes them."""
    window = Window(as_of=AS_OF)
    with Store.open_read(store) as s:
        con = backend(s)
        if not in_facts:
            return (summary.totals(con, window), summary.totals_by_repo(con, window, ["app", "lib"]),
                    summary.weekly(con, window))
        with facts(con, window):
            return (summary.totals(con, window), summary.totals_by_repo(con, window, ["app", "lib"]),
                    summary.weekly(con, window))


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("people"))


@pytest.mark.parametrize("in_facts", [False, True], ids=["alone", "in-a-report"])
def test_a_person_under_several_addresses_is_one_contributor(linked, in_facts):
    totals, by_repo, weekly = counts(linked, in_facts=in_facts)
    assert (totals["changes"], totals["validated_changes"], totals["contributors"]) == (10, 10, 4)
    assert {r: (t["changes"], t["contributors"]) for r, t in by_repo.items()} == {"app": (8, 3), "lib": (2, 2)}
    got = [(w["week_start"], w["validated"], w["contributors"], w["validated_per_contributor"]) for w in weekly]
    assert got == [("2024-01-01", 4, 3, pytest.approx(4 / 3)), ("2024-01-08", 4, 3, pytest.approx(4 / 3)),
                   ("2024-01-15", 2, 2, 1.0)]


def test_the_links_that_make_them_one_are_the_noreply_login_and_the_later_mailmap(linked):
    from loopmeter.store.git_load import git_actor_id

    with Store.open_read(linked) as s:
        salt = s.meta("salt")
        rows = s.con.execute("select repo, alias_id, evidence from identity_links").fetchall()
        stored = {e for (e,) in s.con.execute("select distinct author_email from commits").fetchall()}
    # Bo's first commit was read before the .mailmap: its address is still stored, linked by it.
    assert BO_HOME[1] in stored
    assert sorted(rows) == sorted([
        ("app", git_actor_id(salt, *ANN_OLD), "noreply"), ("app", git_actor_id(salt, *ANN), "noreply"),
        ("app", git_actor_id(salt, *BO_HOME), "mailmap"), ("lib", git_actor_id(salt, *ANN_OLD), "noreply")])


def test_without_links_every_address_is_a_contributor(tmp_path):
    # The same history where nothing says Ann's two addresses are one person and the .mailmap is
    # empty: by hand 6 contributors (app 5), weeks of 4, 4 and 2 addresses.
    totals, by_repo, weekly = counts(build_store(tmp_path, linked=False))
    assert totals["contributors"] == 6
    assert {r: t["contributors"] for r, t in by_repo.items()} == {"app": 5, "lib": 2}
    assert [(w["contributors"], w["validated_per_contributor"]) for w in weekly] == [(4, 1.0), (4, 1.0), (2, 1.0)]
