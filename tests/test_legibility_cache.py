"""A report keeps each repository's legibility reading in the store and reads the repository
again only when its tip, a work tree's config files or the scorer moved (legibility/cache.py).

"Read again" is counted on what the report did (calls of `scan`), never on time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

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
        cache.forget_in_process()
    with Store.open_read(store) as s:
        repos = s.con.execute("select repo, path from repos").fetchall()
        return score.for_report(s, repos)


def _kept(store) -> list[tuple]:
    """(repo, head, scorer) of the readings kept beside the store, by repo."""
    path = Path(str(store) + ".legibility.json")
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return sorted((repo, e["head"], e["scorer"]) for repo, e in data.items())


def test_a_second_report_reads_nothing_again_and_says_the_same(featured_store, scans):
    repo, store = featured_store
    cache.forget_in_process()
    first = loopmeter.report_from_store(store_path=store, as_of=AS_OF)["legibility"]
    assert len(scans) == 1
    (kept,) = _kept(store)
    assert kept[:2] == ("featured", repo.head())
    cache.forget_in_process()  # a new process: only the file beside the store remembers
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


def test_readers_of_the_store_are_never_blocked_and_the_store_file_is_not_written(featured_store, scans):
    # Another reader (the dashboard) holds the store while reports run: the readings go beside it,
    # so the report neither waits for nor blocks anyone, and the store's bytes stay as they were.
    _, store = featured_store
    with Store.open(store, create=False):
        pass  # upgraded, if it needed it
    before = store.read_bytes()
    other = Store.open_read(store)
    try:
        first = _report(store)
        assert first["featured"] is not None
        assert len(_kept(store)) == 1
        with Store.open_read(store):  # a third reader opens while the second still holds it
            pass
    finally:
        other.close()
    assert store.read_bytes() == before


def test_an_unreadable_readings_file_is_read_again_not_an_error(featured_store, scans):
    _, store = featured_store
    _report(store)
    Path(str(store) + ".legibility.json").write_text("{not json", encoding="utf-8")
    assert _report(store)["featured"] is not None
    assert len(scans) == 2 and len(_kept(store)) == 1


def test_a_work_tree_edit_to_a_workspace_declaration_is_seen(tmp_path, scans):
    # pnpm-workspace.yaml decides which packages' manifests count (workspaces.py): editing it
    # without a commit must not leave the kept reading standing (found by review).
    from gitrepo import GitRepo

    repo = GitRepo(tmp_path / "mono")
    repo.commit("monorepo", author=ALICE, date="2024-01-02T10:00:00+00:00", files={
        "package.json": '{"name": "root"}',
        "pnpm-workspace.yaml": "packages:\n  - 'tools/*'\n",
        "packages/a/package.json": '{"dependencies": {"@opentelemetry/api": "1.9.0"}}'})
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)

    def telemetry() -> str:
        card = _report(store)["mono"]
        return {d["id"]: d for c in card["checks"] for d in c["details"]}["telemetry"]["status"]

    assert telemetry() == "missing" and len(scans) == 1
    assert telemetry() == "missing" and len(scans) == 1  # kept
    (repo.path / "pnpm-workspace.yaml").write_text("packages:\n  - 'packages/*'\n")
    assert telemetry() == "met" and len(scans) == 2
