"""A report keeps each repository's legibility reading in the store and reads the repository
again only when its tip, a work tree's config files or the scorer moved (legibility/cache.py).

"Read again" is counted on what the report did (calls of `scan`), never on time."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest
from conftest import ALICE
from test_legibility import build_featured

import loopmeter
from loopmeter.legibility import cache, reading, score
from loopmeter.store.db import Store

AS_OF = datetime(2024, 3, 1)


@pytest.fixture
def scans(monkeypatch) -> list[str]:
    """The paths `for_report` scanned, in order."""
    seen: list[str] = []
    real = score.scan

    def counting(path):
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(score, "scan", counting)
    return seen


@pytest.fixture
def featured_store(tmp_path):
    repo = build_featured(tmp_path / "featured")
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    return repo, store


def _report(store, *, new_process: bool = True) -> dict:
    """The report's legibility section, as `report` computes it (for_report on the store opened
    read-only), without the rest of the report; as a new process would, unless told otherwise
    (nothing remembered in this one)."""
    if new_process:
        cache._MEMO.clear()
    with Store.open_read(store) as s:
        repos = s.con.execute("select repo, path from repos").fetchall()
        return score.for_report(s, repos)


def _kept(store) -> list[tuple]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute("select repo, head, scorer from legibility_readings order by repo").fetchall()
    finally:
        con.close()


def test_a_second_report_reads_nothing_again_and_says_the_same(featured_store, scans):
    repo, store = featured_store
    cache._MEMO.clear()
    first = loopmeter.report_from_store(store_path=store, as_of=AS_OF)["legibility"]
    assert len(scans) == 1
    (kept,) = _kept(store)
    assert kept[:2] == ("featured", repo.head())
    cache._MEMO.clear()  # a new process: only the store remembers
    second = loopmeter.report_from_store(store_path=store, as_of=AS_OF)["legibility"]
    assert len(scans) == 1  # judged from the kept reading with today's facts: no scan
    assert json.dumps(second, sort_keys=True) == json.dumps(first, sort_keys=True)
    # ... and the kept reading gives exactly the card a fresh scorecard gives.
    with Store.open_read(store) as s:
        assert first["featured"] == score.scorecard(repo.path, store=s)


def test_a_moved_tip_is_read_again(featured_store, scans):
    repo, store = featured_store
    _report(store)
    repo.commit("Add a test (#3)", author=ALICE, date="2024-01-08T10:00:00+00:00",
                files={"tests/test_more.py": "def test_more():\n    pass\n"})
    card = _report(store)["featured"]
    assert len(scans) == 2
    assert card["head"] == repo.head() == _kept(store)[0][1]
    _report(store)
    assert len(scans) == 2


def test_a_new_scorer_reads_again(featured_store, scans, monkeypatch):
    _, store = featured_store
    _report(store)
    monkeypatch.setattr(reading, "FORMAT", reading.FORMAT + 1)
    _report(store)
    assert len(scans) == 2
    assert _kept(store)[0][2].startswith(f"{reading.FORMAT}:")


def test_a_work_tree_edit_to_a_config_file_is_seen_without_a_commit(featured_store, scans):
    repo, store = featured_store
    before = _report(store)["featured"]
    # Uncommitted: the tip does not move, but the checks read the work tree's pyproject.toml.
    (repo.path / "pyproject.toml").write_text('[project]\nname = "featured"\n')
    after = _report(store)["featured"]
    assert len(scans) == 2
    tele = {d["id"]: d for c in after["checks"] for d in c["details"]}["telemetry"]
    assert tele["status"] == "missing" and before != after


def test_a_store_held_by_someone_else_keeps_nothing_and_the_report_still_works(featured_store, scans):
    _, store = featured_store
    with Store.open(store, create=False):
        pass  # upgraded to the cache's schema
    other = Store.open_read(store)  # another reader (the dashboard) holds the file as the report ends
    try:
        first = _report(store)
        assert first["featured"] is not None
    finally:
        other.close()
    assert _kept(store) == []
    # The same process (the dashboard) remembers what it read; a new one reads it again and keeps it.
    _report(store, new_process=False)
    assert len(scans) == 1
    _report(store)
    assert len(scans) == 2 and len(_kept(store)) == 1
