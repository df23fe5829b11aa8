"""Many repositories in one ingest: lists, discovery, and repositories that did not move."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from loopmeter import api, ingest_reader, ingestion
from loopmeter.cli import app
from loopmeter.errors import ConfigError
from loopmeter.sources.git_set import discover_repositories, read_repo_list
from loopmeter.store.db import Store
from gitrepo import GitRepo
from stores import every_table


def _repo(path, n=3, who=("Ann", "ann@example.com")):
    r = GitRepo(path)
    for i in range(n):
        r.commit(f"change {i}", author=who, date=f"2024-01-0{i + 1}T10:00:00+00:00")
    return r


def test_discover_finds_work_trees_and_bare_mirrors_but_not_repositories_inside_them(tmp_path):
    a = _repo(tmp_path / "org" / "a")
    _repo(tmp_path / "org" / "a" / "vendor" / "inner")  # inside a: belongs to a
    subprocess.run(["git", "clone", "-q", "--mirror", str(a.path), str(tmp_path / "org" / "team" / "b.git")], check=True)
    (tmp_path / "org" / "notes").mkdir()
    found = discover_repositories(tmp_path / "org")
    assert found == [str(tmp_path / "org" / "a"), str(tmp_path / "org" / "team" / "b.git")]


def test_discover_follows_links_to_clones_and_mirrors_once_each(tmp_path):
    # An organisation's set is often a folder of links to where the clones and mirrors live.
    a = _repo(tmp_path / "clones" / "a")
    subprocess.run(["git", "clone", "-q", "--mirror", str(a.path), str(tmp_path / "mirrors" / "b" / "repo")], check=True)
    org = tmp_path / "org"
    org.mkdir()
    (org / "svc-a").symlink_to(a.path)
    (org / "svc-a-again").symlink_to(a.path)  # the same clone twice: read once
    (org / "svc-b").symlink_to(tmp_path / "mirrors" / "b" / "repo")
    (org / "loop").symlink_to(org)  # a link back up the tree must not recurse forever
    found = discover_repositories(org)
    assert found == [str(org / "svc-a"), str(org / "svc-b")]
    res = CliRunner().invoke(app, ["ingest", "--discover", str(org), "--store", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 0, res.output
    with Store.open(tmp_path / "s.duckdb", read_only=True) as s:
        stored = s.con.execute("select path, count(*) from repos join commits using (repo) group by path order by path").fetchall()
    assert stored == [(str(a.path.resolve()), 3), (str((tmp_path / "mirrors" / "b" / "repo").resolve()), 3)]


def test_discover_of_a_folder_without_repositories_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no git repository at or under"):
        discover_repositories(tmp_path / "empty")


def test_a_repository_list_skips_comments_and_resolves_paths_next_to_it(tmp_path):
    _repo(tmp_path / "x")
    _repo(tmp_path / "y")
    lst = tmp_path / "repos.txt"
    lst.write_text(f"# our services\nx\n\n{tmp_path / 'y'}\n")
    assert read_repo_list(lst) == [str(tmp_path / "x"), str(tmp_path / "y")]
    lst.write_text("x\nmissing\n")
    with pytest.raises(ConfigError, match=r"repos.txt line 2: 'missing' is not a directory"):
        read_repo_list(lst)


def _count_derivations(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = ingestion.derive_changes

    def counting(store, repo, matcher, **known):
        seen.append(repo)
        return real(store, repo, matcher, **known)

    monkeypatch.setattr(ingestion, "derive_changes", counting)
    return seen


def test_an_idle_rerun_reads_and_derives_nothing(tmp_path, monkeypatch):
    a, b = _repo(tmp_path / "a"), _repo(tmp_path / "b", who=("Bo", "bo@example.com"))
    store = tmp_path / "s.duckdb"
    derived = _count_derivations(monkeypatch)
    first = api.ingest([a.path, b.path], store_path=store)
    assert [r.unchanged for r in first] == [False, False] and sorted(derived) == ["a", "b"]
    with Store.open(store) as s:
        before = s.con.execute("select count(*), max(ingested_at) from repos").fetchone()

    derived.clear()
    again = api.ingest([a.path, b.path], store_path=store)
    assert derived == []  # nothing moved: no derivation, no registration
    assert [(r.repo, r.unchanged, r.new_commits, r.changes) for r in again] == [("a", True, 0, 3), ("b", True, 0, 3)]
    with Store.open(store) as s:
        assert s.con.execute("select count(*), max(ingested_at) from repos").fetchone() == before

    b.commit("one more", author=("Bo", "bo@example.com"), date="2024-02-01T10:00:00+00:00")
    third = api.ingest([a.path, b.path], store_path=store)
    assert derived == ["b"]
    assert [(r.repo, r.unchanged, r.new_commits) for r in third] == [("a", True, 0), ("b", False, 1)]
    assert third[1].changes == 4


def test_a_new_tag_or_changed_signatures_read_the_repository_again(tmp_path, monkeypatch):
    a = _repo(tmp_path / "a")
    store = tmp_path / "s.duckdb"
    derived = _count_derivations(monkeypatch)
    api.ingest([a.path], store_path=store)
    a.tag("v1.0")
    api.ingest([a.path], store_path=store)
    assert derived == ["a", "a"]
    with Store.open(store) as s:
        assert s.con.execute("select name from git_tags").fetchall() == [("v1.0",)]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loopmeter.toml").write_text('[[attribution.signature]]\nagent = "acme"\nevidence = "trailer"\nemail = "agent@acme.example"\n'
                                           'confidence = 0.9\ndescription = "acme agent"\n')
    api.ingest([a.path], store_path=store)
    assert derived == ["a", "a", "a"]


def test_cli_discover_prints_one_line_for_the_unchanged(tmp_path):
    for name in ("a", "b", "c"):
        _repo(tmp_path / "org" / name)
    store = tmp_path / "s.duckdb"
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "--discover", str(tmp_path / "org"), "--store", str(store)])
    assert first.exit_code == 0, first.output
    assert "a: 3 new commits (full)" in first.output
    again = runner.invoke(app, ["ingest", "--discover", str(tmp_path / "org"), "--store", str(store)])
    assert again.exit_code == 0, again.output
    assert "3 of 3 repositories unchanged since the last ingest" in again.output
    assert "new commits" not in again.output


def test_a_set_read_by_parallel_readers_stores_exactly_the_rows_of_one_ingest_per_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPMETER_BATCH", "4")  # b is longer than a batch: it ends the group
    a = _repo(tmp_path / "a", n=3)
    b = _repo(tmp_path / "b", n=6, who=("Bo", "bo@example.com"))
    b.commit("feat: x\n\nCo-authored-by: Claude <noreply@anthropic.com>", author=("Bo", "bo@example.com"),
             date="2024-01-09T10:00:00+00:00")
    c = _repo(tmp_path / "c", n=2, who=("Cy", "cy@example.com"))
    one, each = tmp_path / "one.duckdb", tmp_path / "each.duckdb"
    for p in (one, each):
        with Store.open(p) as s:
            s.set_meta("salt", "same salt, so pseudonyms agree")
    api.ingest([a.path, b.path, c.path], store_path=one)
    for r in (a, b, c):
        api.ingest([r.path], store_path=each)
    got, want = every_table(one), every_table(each)
    assert got["commits"] and got["items"] and got["attributions"]
    assert got == want


def test_a_set_read_by_reader_processes_stores_exactly_the_rows_of_one_ingest_per_repository(tmp_path, monkeypatch):
    from conftest import build_demo

    monkeypatch.setenv("LOOPMETER_BATCH", "8")  # c is longer than a batch: the writer streams it
    build_demo(tmp_path / "demo")
    a = _repo(tmp_path / "a", n=3)
    c = _repo(tmp_path / "c", n=12, who=("Cy", "cy@example.com"))
    paths = [tmp_path / "demo", a.path, c.path]
    one, each = _salted_store(tmp_path / "one.duckdb"), _salted_store(tmp_path / "each.duckdb")
    monkeypatch.setenv("LOOPMETER_READERS", "processes")
    first = api.ingest(paths, store_path=one)
    monkeypatch.setenv("LOOPMETER_READERS", "threads")
    for p in paths:
        api.ingest([p], store_path=each)
    got, want = every_table(one), every_table(each)
    assert got["commits"] and got["items"] and got["attributions"] and got["git_tags"]
    assert got == want
    assert [r.new_commits for r in first] == [12, 3, 12]
    # Two more commits on a: read by a process again, derived incrementally by the writer.
    a.commit("more", date="2024-02-01T10:00:00+00:00")
    a.commit("and more", date="2024-02-02T10:00:00+00:00")
    monkeypatch.setenv("LOOPMETER_READERS", "processes")
    api.ingest(paths, store_path=one)
    monkeypatch.setenv("LOOPMETER_READERS", "threads")
    api.ingest([a.path], store_path=each)
    assert every_table(one) == every_table(each)


def _salted_store(path):
    with Store.open(path) as s:
        s.set_meta("salt", "same salt, so pseudonyms agree")
    return path


def test_a_history_read_by_the_reader_process_stores_exactly_the_rows_of_one_read_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPMETER_BATCH", "5")  # 23 commits: five batches, read by the reader process
    monkeypatch.setenv("LOOPMETER_READER_PROCESS", "1")  # as on any machine with two cores
    r = _repo(tmp_path / "long", n=9)
    r.checkout("topic", new=True)
    for i in range(6):
        r.commit(f"topic {i}", author=("Bo", "bo@example.com"), date=f"2024-02-0{i + 1}T10:00:00+00:00")
    r.checkout("main")
    r.merge("topic", "Merge branch 'topic'", date="2024-02-09T10:00:00+00:00")
    for i in range(7):
        r.commit(f"fix {i}\n\nCo-authored-by: Claude <noreply@anthropic.com>", date=f"2024-03-0{i + 1}T10:00:00+00:00")
    two, one = tmp_path / "two.duckdb", tmp_path / "one.duckdb"
    for p in (two, one):
        with Store.open(p) as s:
            s.set_meta("salt", "same salt, so pseudonyms agree")
    used = []
    real = ingest_reader.read_batches
    monkeypatch.setattr(ingest_reader, "read_batches", lambda *a, **k: (used.append(1), real(*a, **k))[1])
    api.ingest([r.path], store_path=two)
    assert used == [1]
    monkeypatch.setenv("LOOPMETER_READER_PROCESS", "0")
    api.ingest([r.path], store_path=one)
    assert used == [1]
    got, want = every_table(two), every_table(one)
    assert len(got["commits"]) == 23 and got["attributions"]
    assert got == want


def test_a_new_repository_derived_from_its_rows_in_memory_equals_a_derivation_from_the_store(tmp_path, monkeypatch):
    from conftest import build_demo
    from loopmeter.attribution import Matcher
    from loopmeter.store.changes import derive_changes

    build_demo(tmp_path / "demo")  # merges, squashes with and without PR refs, a revert, a tag, a bot
    _repo(tmp_path / "plain", n=4, who=("Bo", "bo@example.com"))
    store = tmp_path / "s.duckdb"
    given = []
    real = ingestion.derive_changes

    def spy(store_, repo, matcher, **known):
        given.append((repo, known.get("commits") is not None))
        return real(store_, repo, matcher, **known)

    monkeypatch.setattr(ingestion, "derive_changes", spy)
    api.ingest([tmp_path / "demo", tmp_path / "plain"], store_path=store)
    assert sorted(given) == [("demo", True), ("plain", True)]  # both new: derived without reading the store (by readers, in any order)
    in_memory = every_table(store)
    assert in_memory["items"] and any(r[0] == "git:demo:tag:v1.0" for r in in_memory["items"])
    with Store.open(store) as s:
        m = Matcher.load()
        for repo in ("demo", "plain"):  # from the stored commits, everything, as a later ingest may
            derive_changes(s, repo, m, rules=ingestion.derivation_rules(m), incremental=False)
    assert every_table(store) == in_memory


def test_a_repository_named_twice_in_a_set_is_read_once(tmp_path):
    a = _repo(tmp_path / "a", n=2)
    (a.path / "sub").mkdir()
    store = tmp_path / "s.duckdb"
    got = api.ingest([a.path, a.path, a.path / "sub"], store_path=store)  # twice, and a folder inside it
    assert [(r.repo, r.new_commits, r.changes) for r in got] == [("a", 2, 2)]
    with Store.open(store) as s:
        assert s.con.execute("select count(*) from commits").fetchone()[0] == 2


def test_readers_make_exactly_the_rows_of_the_writers_own_ingest(tmp_path, monkeypatch):
    """Reader processes parse, derive and run the durability pass of new repositories; the rows
    equal those of `ingest_git` run by the writer alone (its own parsing, derivation from the
    store's rows, its own durability pass), repository by repository."""
    from conftest import build_demo
    from loopmeter import ingestion
    from loopmeter.sources import git_repos
    from test_durability import ALICE, BOB, day, numbered

    build_demo(tmp_path / "demo")  # merges, squashes, a revert, a tag, a bot
    r = GitRepo(tmp_path / "lines")
    for i in range(9):  # lines born, moved and deleted: the durability pass has deaths to record
        r.commit(f"edit {i}", author=ALICE if i % 2 else BOB, date=day(i),
                 files={"a.txt": numbered(f"v{i} line", 3 + i % 4), f"f{i % 3}.txt": numbered(f"f{i}", 2 + i)})
    plain = _repo(tmp_path / "plain", n=4, who=("Bo", "bo@example.com"))
    paths = [tmp_path / "demo", r.path, plain.path]
    readers, writer = _salted_store(tmp_path / "readers.duckdb"), _salted_store(tmp_path / "writer.duckdb")
    monkeypatch.setattr(git_repos, "PROCESS_MIN_REPOS", 2)  # three repositories: processes by default
    monkeypatch.setattr(git_repos, "_load", lambda: 0.0)  # on an idle machine
    monkeypatch.delenv("LOOPMETER_READERS", raising=False)
    passes = []
    real = ingestion._track_lines
    monkeypatch.setattr(ingestion, "_track_lines", lambda *a, **k: (passes.append(a[2]), real(*a, **k))[1])
    chosen = []
    decide = git_repos._reader_processes
    monkeypatch.setattr(git_repos, "_reader_processes", lambda n: (chosen.append(decide(n)), chosen[-1])[1])
    api.ingest(paths, store_path=readers)
    assert chosen == [True] and passes == []  # reader processes, and every pass was made by them
    with Store.open(writer) as s:
        for p in paths:
            ingestion.ingest_git(s, p)
    assert sorted(passes) == ["demo", "lines", "plain"]
    got, want = every_table(readers), every_table(writer)
    assert got["line_origins"] and got["line_deaths"] and got["items"] and got["git_tags"]
    # The set also records each repository's refs digest (for idle re-runs); a lone ingest_git does not.
    for rows in (got, want):
        rows["meta"] = [m for m in rows["meta"] if not m[0].startswith("refs:")]
    assert got == want


def test_one_git_call_describes_a_repository_and_lists_its_refs_as_show_ref_does(tmp_path):
    from loopmeter.sources.git import open_repository, open_with_refs
    from loopmeter.sources.git_set import read_refs

    a = _repo(tmp_path / "a", n=4)
    a.git("tag", "-a", "v1", "-m", "annotated", "HEAD~1")
    a.git("tag", "v0", "HEAD~3")
    a.git("notes", "--ref", "ai", "add", "-m", "{}", "HEAD")
    clone = tmp_path / "clone"  # refs/remotes/origin/HEAD is a symbolic ref: named, not resolved
    subprocess.run(["git", "clone", "-q", str(a.path), str(clone)], check=True)
    mirror = tmp_path / "m.git"  # bare
    subprocess.run(["git", "clone", "-q", "--mirror", str(a.path), str(mirror)], check=True)
    subprocess.run(["git", "-C", str(mirror), "update-ref", "refs/pull/7/head", "HEAD~2"], check=True)
    detached = tmp_path / "detached"
    subprocess.run(["git", "clone", "-q", str(a.path), str(detached)], check=True)
    subprocess.run(["git", "-C", str(detached), "checkout", "-q", "--detach", "HEAD~1"], check=True)
    for path, branch in [(a.path, None), (a.path / "sub", None), (clone, None), (mirror, None), (detached, None),
                         (a.path, "main")]:
        if path.name == "sub":
            path.mkdir()
        info, refs = open_with_refs(path, branch)
        assert info == open_repository(path, branch)
        assert refs == read_refs(info.path), path
        assert refs.count(b"\n") >= 4


def test_reader_processes_are_chosen_for_repositories_new_to_the_store_only(tmp_path, monkeypatch):
    from loopmeter.sources import git_repos

    monkeypatch.delenv("LOOPMETER_READERS", raising=False)
    monkeypatch.setattr(git_repos, "PROCESS_MIN_REPOS", 2)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr(git_repos, "_load", lambda: 0.5)  # a core is free
    asked = []
    decide = git_repos._reader_processes
    monkeypatch.setattr(git_repos, "_reader_processes", lambda n: (asked.append((n, decide(n))), asked[-1][1])[1])
    repos = [_repo(tmp_path / n, n=2) for n in ("a", "b", "c")]
    store = tmp_path / "s.duckdb"
    api.ingest([r.path for r in repos], store_path=store)
    for r in repos:  # all three moved: read from their last tips by threads
        r.commit("more", date="2024-02-01T10:00:00+00:00")
    api.ingest([r.path for r in repos], store_path=store)
    assert asked == [(3, True), (0, False)]
    monkeypatch.setattr(git_repos, "_load", lambda: 1.5)  # both cores busy with other work: threads
    assert decide(100) is False
    monkeypatch.setenv("LOOPMETER_READERS", "threads")
    assert decide(100) is False
    monkeypatch.setenv("LOOPMETER_READERS", "sometimes")
    with pytest.raises(ConfigError, match="LOOPMETER_READERS"):
        decide(1)


def test_moved_repositories_resume_their_durability_passes_together_as_each_alone(tmp_path, monkeypatch):
    """The resumed durability passes of a set's moved repositories are stored with one set of
    statements for all; the rows equal those of ingesting each repository on its own."""
    from test_durability import ALICE, BOB, day, numbered

    def edits(r, start, n):
        for i in range(start, start + n):
            r.commit(f"edit {i}", author=ALICE if i % 2 else BOB, date=day(i),
                     files={"a.txt": numbered(f"{r.path.name} v{i}", 2 + i % 4), f"f{i % 2}.txt": numbered(f"f{i}", 3)})

    repos = [GitRepo(tmp_path / n) for n in ("x", "y", "z")]
    for r in repos:
        edits(r, 0, 5)
    together, each = _salted_store(tmp_path / "together.duckdb"), _salted_store(tmp_path / "each.duckdb")
    api.ingest([r.path for r in repos], store_path=together)
    for r in repos:
        api.ingest([r.path], store_path=each)
    for r in repos[:2]:  # x and y move: lines die (a.txt rewritten), some with unknown fates
        edits(r, 5, 3)
    api.ingest([r.path for r in repos], store_path=together)
    for r in repos:
        api.ingest([r.path], store_path=each)
    got, want = every_table(together), every_table(each)
    assert len(got["line_origins"]) == 21 and got["line_deaths"]
    assert got == want


def _one_commit_repos(root, n):
    """n copies of a one-commit repository (a copy is far cheaper than three git processes)."""
    import shutil

    first = root / "r000"
    _repo(first, n=1)
    for i in range(1, n):
        shutil.copytree(first, root / f"r{i:03d}", symlinks=True)


def test_a_group_of_many_small_repositories_is_stored_within_the_memory_limit(tmp_path, monkeypatch):
    # 1,000 repositories of 20 commits failed at the default 256MB: each repository's changes were
    # one Arrow chunk, and DuckDB buffers every chunk of an insert separately. Eighty at 32MB failed
    # the same way; the rows are now one chunk per table.
    _one_commit_repos(tmp_path / "org", 80)
    monkeypatch.setenv("LOOPMETER_MEMORY_LIMIT", "32MB")
    res = CliRunner().invoke(app, ["ingest", "--discover", str(tmp_path / "org"), "--store", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 0, res.output
    with Store.open(tmp_path / "s.duckdb", read_only=True) as s:
        assert s.con.execute("select count(*) from items where kind = 'change'").fetchone() == (80,)
        assert s.con.execute("select count(distinct repo) from commits").fetchone() == (80,)


def test_too_little_memory_is_named_with_the_setting_that_gives_more(tmp_path, monkeypatch):
    _one_commit_repos(tmp_path / "org", 1)
    monkeypatch.setenv("LOOPMETER_MEMORY_LIMIT", "2MB")
    res = CliRunner().invoke(app, ["ingest", str(tmp_path / "org" / "r000"), "--store", str(tmp_path / "s.duckdb")])
    assert res.exit_code != 0
    assert "LOOPMETER_MEMORY_LIMIT" in res.output and "damaged" not in res.output


def test_an_ingest_process_stores_its_set_without_loading_pandas_yet_python_still_may(tmp_path):
    """pyarrow and DuckDB import pandas only to check their arguments' types: a `loopmeter ingest`
    process refuses it to them (sources/git_repos.py `arrow_without_pandas`), not to Python code."""
    import sys

    for k in range(2):
        _repo(tmp_path / "org" / f"r{k}")
    store = tmp_path / "s.duckdb"
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print('pandas loaded:', 'pandas' in sys.modules))\n"
             "from loopmeter.cli import run\n"
             f"sys.argv = ['loopmeter', 'ingest', '--discover', {str(tmp_path / 'org')!r}, '--store', {str(store)!r}]\n"
             "run()\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "pandas loaded: False" in out.stdout
    with Store.open(store) as s:  # the set was stored whole
        assert s.con.execute("select count(*) from commits").fetchone()[0] == 6
    # Python's own imports still get pandas once the hook is in place; pyarrow keeps its answer.
    probe = ("from loopmeter.sources.git_repos import arrow_without_pandas\n"
             "arrow_without_pandas()\n"
             "import pyarrow as pa, sys\n"
             "pa.array(['x'])\n"
             "print('after pyarrow:', 'pandas' in sys.modules)\n"
             "import pandas\n"
             "print('imported:', pandas.__name__)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "after pyarrow: False" in out.stdout and "imported: pandas" in out.stdout
