"""Odd but real repositories: each ingests with the rows git records, or fails in one clear line.

One repository (built once, with the git CLI) holds most oddities at once, so one ingest and one
report cover them: file names git has to quote, a very long path, an empty commit, a submodule, a
symlink, a file turning into a directory and back, a binary file turning text, an octopus merge, a
second root merged in, an empty name and e-mail, dates before 1970 and in 2100, offsets +14:00 and
-12:00, control characters and Latin-1 in messages, and a git configuration that would change
git's output (core.quotepath, i18n.logOutputEncoding, log.showRoot, diff prefixes, colours). The other repositories are the ones that
cannot share it: SHA-256 objects, a blobless clone, a detached HEAD, replaced commits, no commits.
Expected rows are worked out by hand next to each assertion.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import loopmeter
from loopmeter.report.markdown import md_escape

from gitrepo import GitRepo
from stores import rows, snapshot

AS_OF = datetime(2024, 3, 1)
LOOPMETER = Path(sys.executable).with_name("loopmeter")
LONG = "a" * 200 + "/" + "b" * 200 + "/" + "c" * 200 + ".txt"
NAMES = ["new\nline.txt", "tab\there.txt", "back\\slash.txt", 'quo"te.txt', "-dash.txt", "   ", LONG]
ANSI = "paint \x1b[31mred\x1b[0m, ring \x07, title \x1b]0;owned\x07, back \x08\x08"
CONTROL = ("\x1b", "\x07", "\x08")


def day(n: int) -> str:
    return f"2024-01-{n:02d}T10:00:00+00:00"


def raw(r: GitRepo, who: str, message: str) -> str:
    """A commit object written as given (git commit normalises or refuses these identities and dates)."""
    obj = (f"tree {r.git('rev-parse', 'HEAD^{tree}')}\nparent {r.head()}\nauthor {who}\ncommitter {who}\n\n"
           f"{message}\n")
    sha = r.git("hash-object", "-t", "commit", "-w", "--stdin", input=obj.encode())
    r.set_ref("refs/heads/main", sha)
    return sha


def stage(r: GitRepo, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        p = r.path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    r.git("add", "-A")


def build_odd(base: Path) -> tuple[GitRepo, dict[str, str]]:
    sub = GitRepo(base / "library")
    sub.commit("library", date=day(1))
    r = GitRepo(base / "odd\x1b[31mrepo")  # the repository's own name drives no terminal either
    s: dict[str, str] = {}
    stage(r, {n: "x\ny\n" for n in NAMES})
    s["names"] = r.commit("odd names", date=day(1), files={})
    r.git("mv", "--", "-dash.txt", "-dash2.txt")
    s["rename"] = r.commit("rename the dash", date=day(2), files={})
    s["empty"] = r.commit("nothing at all", date=day(3), files={})
    r.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.path), "vendor/library")
    s["submodule"] = r.commit("add a submodule", date=day(4), files={})
    os.symlink("-dash2.txt", r.path / "link")
    r.git("add", "link")
    s["symlink"] = r.commit("add a symlink", date=day(5), files={})
    s["file"] = r.commit("x is a file", date=day(6), files={"x": "1\n2\n"})
    r.git("rm", "-q", "x")
    s["to dir"] = r.commit("x becomes a directory", date=day(7), files={"x/inner.txt": "i\n"})
    r.git("rm", "-rq", "x")
    s["to file"] = r.commit("x is a file again", date=day(8), files={"x": "back\n"})
    s["binary"] = r.commit("a binary file", date=day(9), files={"blob.dat": b"\x00\x01\x02\x03"})
    s["text"] = r.commit("the binary file turns text", date=day(10), files={"blob.dat": "text now\n"})
    for b in ("p", "q", "s"):
        r.checkout(b, new=True, start="main")
        r.commit(f"work on {b}", date=day(11), files={f"{b}.txt": f"{b}\n"})
    r.checkout("main")
    r.git("merge", "-q", "--no-ff", "-m", "octopus", "p", "q", "s",
          env={"GIT_AUTHOR_DATE": day(12), "GIT_COMMITTER_DATE": day(12)})
    s["octopus"] = r.head()
    r.git("checkout", "-q", "--orphan", "other")
    r.git("rm", "-rfq", "--cached", ".")
    s["root"] = r.commit("a second root", date=day(13), files={"other.txt": "o\n"})
    r.git("clean", "-fdq")
    r.git("checkout", "-q", "-f", "main")
    r.git("merge", "-q", "--allow-unrelated-histories", "-m", "join the roots", "other",
          env={"GIT_AUTHOR_DATE": day(14), "GIT_COMMITTER_DATE": day(14)})
    s["join"] = r.head()
    s["nobody"] = raw(r, "<> 1705312800 +0000", "nobody")  # 2024-01-15 10:00 UTC
    s["1966"] = raw(r, "Early <early@example.com> -100000000 +1400", "before 1970")
    s["2100"] = raw(r, "Late <late@example.com> 4102444800 -1200", "in 2100")
    s["ansi"] = r.commit(ANSI, date=day(16), author=("Painter", "paint@example.com"))
    s["latin1"] = r.commit("caf\u00e9 in Latin-1".encode("latin-1"), date=day(17), encoding="latin1")
    # A user's settings that change what git prints; the ingest must not depend on them.
    for key, value in [("core.quotepath", "true"), ("i18n.logOutputEncoding", "latin1"), ("log.showRoot", "false"),
                       ("diff.noprefix", "true"), ("diff.mnemonicPrefix", "true"), ("color.ui", "always"),
                       ("format.pretty", "oneline"), ("log.abbrevCommit", "true"), ("diff.renames", "copies"),
                       ("diff.context", "7"), ("diff.ignoreSubmodules", "all")]:
        r.git("config", key, value)
    return r, s


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    base = tmp_path_factory.mktemp("odd")
    r, shas = build_odd(base)
    store = base / "lm.duckdb"
    res = loopmeter.ingest([r.path], store_path=store)[0]
    return r, shas, store, res


def files_of(store: Path, sha: str) -> list[tuple]:
    return rows(store, "select path, old_path, added, deleted, is_binary from commit_files where sha = ? order by path",
                [sha])


def test_every_commit_git_lists_is_stored_once(odd):
    r, shas, store, res = odd
    # 17 on the first-parent line (10 plain, the octopus, the join, 3 written raw, 2 messages),
    # 3 octopus sides and the second root.
    assert res.new_commits == r.count() == 21
    assert rows(store, "select count(*), count(distinct sha) from commits") == [(21, 21)]
    first_parent = int(r.git("rev-list", "--first-parent", "--count", "HEAD"))
    assert rows(store, "select count(*) from items where kind = 'change'") == [(first_parent,)]


def test_file_names_git_quotes_keep_their_characters(odd):
    _, shas, store, _ = odd
    assert files_of(store, shas["names"]) == sorted((n, None, 2, 0, False) for n in NAMES)
    assert files_of(store, shas["rename"]) == [("-dash2.txt", "-dash.txt", 0, 0, False)]


def test_tree_oddities_are_counted_as_git_numstat_counts_them(odd):
    _, shas, store, _ = odd
    assert files_of(store, shas["empty"]) == []
    # A gitlink's "Subproject commit <sha>" and a symlink's target are one line each to git.
    assert files_of(store, shas["submodule"]) == [(".gitmodules", None, 3, 0, False),
                                                   ("vendor/library", None, 1, 0, False)]
    assert files_of(store, shas["symlink"]) == [("link", None, 1, 0, False)]
    assert files_of(store, shas["to dir"]) == [("x", None, 0, 2, False), ("x/inner.txt", None, 1, 0, False)]
    assert files_of(store, shas["to file"]) == [("x", None, 1, 0, False), ("x/inner.txt", None, 0, 1, False)]
    assert files_of(store, shas["binary"]) == [("blob.dat", None, None, None, True)]
    assert files_of(store, shas["text"]) == [("blob.dat", None, None, None, True)]  # the old side is binary
    assert files_of(store, shas["octopus"]) == [] and files_of(store, shas["join"]) == []  # merges carry no diff
    assert files_of(store, shas["root"]) == [("other.txt", None, 1, 0, False)]
    parents = dict(rows(store, "select sha, parents from commits"))
    assert len(parents[shas["octopus"]]) == 4 and parents[shas["root"]] == []


def test_identities_dates_and_offsets_are_kept_as_recorded(odd):
    _, shas, store, res = odd
    got = {sha: rest for sha, *rest in rows(
        store, "select sha, author_time, author_tz, committer_time, committer_tz, a.name, a.email "
               "from commits c join actors a on a.actor_id = c.author_id")}
    # -100000000 s is 1157 days 9:46:40 before the epoch: 1966-10-31 14:13:20 UTC. git prints no
    # date for it at all (`%ad` is empty), so it is read from the commit header.
    assert got[shas["1966"]] == [datetime(1966, 10, 31, 14, 13, 20), 14 * 60, datetime(1966, 10, 31, 14, 13, 20),
                                 14 * 60, "Early", "early@example.com"]
    assert got[shas["2100"]] == [datetime(2100, 1, 1), -12 * 60, datetime(2100, 1, 1), -12 * 60, "Late",
                                 "late@example.com"]
    assert got[shas["nobody"]] == [datetime(2024, 1, 15, 10), 0, datetime(2024, 1, 15, 10), 0, "", ""]
    assert any("1 commits are dated in the future" in w for w in res.warnings), res.warnings


def test_the_durability_pass_dates_a_commit_before_1970_by_its_header(odd):
    _, shas, store, _ = odd
    # git's %ct is empty for it; the pass reads the header as the commit read does (the same
    # 1966-10-31 14:13:20 UTC as above), not 1970-01-01, and its neighbours keep their own times.
    landed = dict(rows(store, "select sha, landed_at from line_origins"))
    assert landed[shas["1966"]] == datetime(1966, 10, 31, 14, 13, 20)
    assert landed[shas["nobody"]] == datetime(2024, 1, 15, 10) and landed[shas["2100"]] == datetime(2100, 1, 1)


def test_messages_are_stored_as_recorded_and_decoded_from_their_encoding(odd):
    _, shas, store, _ = odd
    msgs = dict(rows(store, "select sha, message from commits"))
    assert msgs[shas["ansi"]] == ANSI  # stored as written; escaped wherever it is shown
    assert msgs[shas["latin1"]] == "caf\u00e9 in Latin-1"


def test_the_report_of_odd_history_escapes_control_characters(odd, tmp_path):
    r, _, store, _ = odd
    html = tmp_path / "r.html"
    doc = loopmeter.report_from_store(store_path=store, as_of=AS_OF, html_path=html)
    # 17 first-parent commits (changes), of which the one dated 2100 lands after the as-of date.
    assert (doc["totals"]["commits"], doc["totals"]["changes"]) == (21, 16)
    json.dumps(doc, allow_nan=False)
    page = html.read_text()
    assert "paint " in page and "owned" in page  # the message is there, its controls are not
    assert not any(c in page for c in CONTROL)


def test_markdown_escapes_control_characters():
    assert md_escape(ANSI) == md_escape(ANSI.replace("\x1b", "\ufffd").replace("\x07", "\ufffd").replace("\x08", "\ufffd"))
    assert not any(c in md_escape(ANSI) for c in CONTROL)


def test_the_command_line_is_not_driven_by_repository_text_and_an_empty_repository_is_one_line(odd, tmp_path):
    r, _, _, _ = odd
    store = tmp_path / "cli.duckdb"
    env = dict(os.environ, COLUMNS="200")
    done = subprocess.run([str(LOOPMETER), "ingest", str(r.path), "--store", str(store)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not any(c in done.stdout + done.stderr for c in CONTROL)
    assert "odd\ufffd[31mrepo" in done.stdout
    before = snapshot(store)
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    bad = subprocess.run([str(LOOPMETER), "ingest", str(empty), "--store", str(store)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [f"error: {empty}: the repository has no commits"]
    assert snapshot(store) == before


def test_a_sha256_repository(tmp_path, store_path):
    path = tmp_path / "sha256"
    subprocess.run(["git", "init", "-q", "--object-format=sha256", "-b", "main", str(path)], check=True)
    r = GitRepo(path)  # init again: the object format stays
    r.commit("one", date=day(1), files={"a.txt": "1\n2\n"})
    r.commit("two", date=day(2), files={"a.txt": "1\n3\n"})
    merge = r.land_branch("topic", "work", "Merge pull request #3 from someone/topic", author=("Bob", "bob@example.com"),
                          work_date=day(3), merge_date=day(4))
    assert len(merge) == 64
    res = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert res.new_commits == 4 and res.changes == 3
    assert rows(store_path, "select count(*) from commits where length(sha) = 64") == [(4,)]
    assert rows(store_path, "select c.subject, f.added, f.deleted from commit_files f join commits c using (repo, sha) "
                            "where f.path = 'a.txt' order by c.author_time") == [("one", 2, 0), ("two", 1, 1)]
    # The durability pass read it too: a.txt's two lines at HEAD were written by "one" and "two".
    assert rows(store_path, "select count(*) from line_state where path = 'a.txt'") == [(1,)]


def test_a_blobless_clone_keeps_its_commits_and_says_which_counts_are_unknown(tmp_path, store_path):
    src = GitRepo(tmp_path / "src")
    for i in range(1, 5):
        src.commit(f"c{i}", date=day(i), files={"a.txt": "".join(f"{j}\n" for j in range(i))})
    src.git("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "blobless"
    subprocess.run(["git", "clone", "-q", "--no-checkout", "--filter=blob:none", f"file://{src.path}", str(clone)],
                   check=True)
    res = loopmeter.ingest([clone], store_path=store_path)[0]
    assert res.new_commits == 4
    # No blob was fetched (the source still serves them: a lazy fetch would have succeeded).
    assert rows(store_path, "select count(*), count(*) filter (where missing_blob and added is null) "
                            "from commit_files") == [(4, 4)]
    assert any("4 files in 4 commits have no blob" in w for w in res.warnings), res.warnings


def test_a_detached_head_and_replaced_commits_are_read_as_git_shows_them_and_said(tmp_path, store_path):
    r = GitRepo(tmp_path / "graft")
    shas = [r.commit(f"c{i}", date=day(i)) for i in range(1, 6)]
    r.git("replace", "--graft", shas[3])  # c4 shown without a parent: c4 and c5 are the history
    r.git("checkout", "-q", "--detach", shas[4])
    res = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert res.new_commits == int(r.git("rev-list", "--count", "HEAD")) == 2
    assert any("HEAD is detached at " + shas[4][:12] in w and "--branch" in w for w in res.warnings), res.warnings
    assert any("git replace" in w and "GIT_NO_REPLACE_OBJECTS=1" in w for w in res.warnings), res.warnings
    assert rows(store_path, "select head_ref from repos") == [("HEAD",)]


def test_a_head_naming_a_branch_without_commits_says_which_branches_have_some(tmp_path, store_path):
    from loopmeter.errors import EmptyRepository

    src = GitRepo(tmp_path / "src")
    src.commit("one", date=day(1))
    bare = tmp_path / "made-with-master.git"  # `git init --bare` with another default, then `git push` of main
    subprocess.run(["git", "init", "-q", "--bare", "-b", "master", str(bare)], check=True)
    src.git("push", "-q", str(bare), "main")
    with pytest.raises(EmptyRepository, match=r"HEAD names refs/heads/master, which has no commits; pass --branch "
                                              r"with one of the branches that have some: main$"):
        loopmeter.ingest([bare], store_path=store_path)
    assert loopmeter.ingest([bare], store_path=store_path, branch="main")[0].new_commits == 1


def test_a_work_trees_git_directory_is_the_same_repository_as_the_work_tree(tmp_path, store_path):
    r = GitRepo(tmp_path / "project")
    r.commit("one", date=day(1))
    first = loopmeter.ingest([r.path / ".git"], store_path=store_path)[0]
    again = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert (first.repo, first.new_commits) == ("project", 1)
    assert (again.repo, again.unchanged) == ("project", True)
    assert rows(store_path, "select repo, path from repos") == [("project", str(r.path))]


def test_a_blobless_sha256_clone_fails_in_one_line_saying_what_to_do(tmp_path, store_path):
    from loopmeter.errors import GitFailed

    path = tmp_path / "src"
    subprocess.run(["git", "init", "-q", "--object-format=sha256", "-b", "main", str(path)], check=True)
    src = GitRepo(path)
    src.commit("one", date=day(1), files={"a.txt": "1\n"})
    src.git("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "blobless"
    subprocess.run(["git", "clone", "-q", "--no-checkout", "--filter=blob:none", f"file://{path}", str(clone)],
                   check=True)
    # libgit2 (which reads commits whose blobs are missing) cannot open SHA-256 repositories.
    with pytest.raises(GitFailed, match=r"^\S+blobless: some blobs are missing .* clone it again without --filter"):
        loopmeter.ingest([clone], store_path=store_path)


def test_a_set_leaves_out_a_repository_without_commits_and_reads_the_others(tmp_path, store_path):
    from loopmeter.sources.git_set import discover_repositories

    good = GitRepo(tmp_path / "org" / "good")
    good.commit("one", date=day(1))
    subprocess.run(["git", "init", "-q", str(tmp_path / "org" / "new")], check=True)  # made, never committed to
    res = loopmeter.ingest(discover_repositories(tmp_path / "org"), store_path=store_path)
    assert [(r.repo, r.new_commits) for r in res] == [("good", 1), ("new", 0)]
    assert res[1].warnings == [f"{tmp_path / 'org' / 'new'}: the repository has no commits; left out"]
    assert rows(store_path, "select repo from repos") == [("good",)]


@pytest.mark.parametrize("name, says", [
    (b"caf\xe9", r"caf\\xe9: the path is not UTF-8, .* rename the folder"),
    (b"new\nline", r"new\\nline': the path holds a line break, .* rename the folder"),
], ids=["latin-1-folder", "line-break-in-folder"])
def test_a_repository_at_a_path_the_store_or_git_cannot_carry_fails_in_one_line(tmp_path, store_path, name, says):
    from loopmeter.errors import UnreadablePath

    path = Path(os.fsdecode(bytes(tmp_path) + b"/" + name))
    GitRepo(path).commit("one", date=day(1))
    with pytest.raises(UnreadablePath, match=says) as e:
        loopmeter.ingest([path], store_path=store_path)
    assert "\n" not in str(e.value)
    assert not store_path.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_repository_owned_by_another_user_fails_in_one_line_with_gits_remedy(tmp_path, store_path, monkeypatch):
    from loopmeter.errors import UnreadablePath

    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")  # no safe.directory of the machine's
    r = GitRepo(tmp_path / "theirs")
    r.commit("one", date=day(1))
    subprocess.run(["chown", "-R", "nobody", str(r.path)], check=True)
    with pytest.raises(UnreadablePath, match=r"theirs: git refuses a repository owned by another user \(dubious "
                                             r"ownership\); if you trust it: git config --global --add safe.directory "):
        loopmeter.ingest([r.path], store_path=store_path)


def test_a_git_hooks_environment_does_not_swap_the_repository_read(tmp_path, store_path, monkeypatch):
    mine, hooked = GitRepo(tmp_path / "mine"), GitRepo(tmp_path / "hooked")
    for i in range(1, 4):
        mine.commit(f"mine {i}", date=day(i))
    hooked.commit("the hook's repository", date=day(1))
    # What git sets around a hook (or a `!` alias) that runs loopmeter on another repository.
    monkeypatch.setenv("GIT_DIR", str(hooked.path / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(hooked.path))
    monkeypatch.setenv("GIT_INDEX_FILE", str(hooked.path / ".git" / "index"))
    res = loopmeter.ingest([mine.path], store_path=store_path)[0]
    assert (res.repo, res.new_commits) == ("mine", 3)
    assert sorted(s for (s,) in rows(store_path, "select subject from commits")) == ["mine 1", "mine 2", "mine 3"]


def test_codeowners_history_reads_the_root_commit_whatever_the_users_log_settings(tmp_path):
    from loopmeter.metrics.codeowners_history import codeowners_history

    r = GitRepo(tmp_path / "owned")
    root = r.commit("root", date=day(1), files={"CODEOWNERS": "* @team-a\n"})
    r.commit("two", date=day(2))
    r.git("config", "log.showRoot", "false")
    r.git("config", "color.ui", "always")
    h = codeowners_history("owned", str(r.path), None)
    assert [(v.sha, v.location, v.text) for v in h.versions] == [(root, "CODEOWNERS", "* @team-a\n")]


def test_a_history_dated_wholly_after_the_as_of_date_says_so(tmp_path, store_path):
    from loopmeter.errors import NoData

    r = GitRepo(tmp_path / "clock")
    r.commit("a clock set wrong", date="2099-01-01T00:00:00+00:00")
    loopmeter.ingest([r.path], store_path=store_path)
    with pytest.raises(NoData, match=r"no changes landed by 2024-03-01 00:00 UTC .* changes dated later are left out "
                                     r"\(see --as-of\)"):
        loopmeter.report_from_store(store_path=store_path, as_of=AS_OF)
    assert loopmeter.report_from_store(store_path=store_path, as_of=datetime(2099, 2, 1))["totals"]["changes"] == 1


def test_branch_and_tag_names_that_are_not_utf8(tmp_path, store_path):
    r = GitRepo(Path(os.fsdecode(bytes(tmp_path) + b"/refs")), branch=os.fsdecode(b"caf\xe9"))
    r.commit("one", date=day(1))
    r.tag(os.fsdecode(b"v\xe9"))
    res = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert res.new_commits == 1
    assert rows(store_path, "select head_ref from repos") == [("refs/heads/caf\ufffd",)]  # shown, never run
    assert rows(store_path, "select name from git_tags") == [("v\ufffd",)]
    assert loopmeter.ingest([r.path], store_path=store_path)[0].unchanged


def test_a_repository_list_saved_with_a_bom_and_crlf_line_ends(tmp_path):
    from loopmeter.sources.git_set import read_repo_list

    for name in ("a", "b c"):
        (tmp_path / name).mkdir()
    listed = tmp_path / "repos.txt"
    listed.write_bytes("\ufeffa\r\n# a comment\r\n\r\nb c\r\n".encode("utf-8"))
    assert read_repo_list(listed) == [str(tmp_path / "a"), str(tmp_path / "b c")]


def test_an_identity_without_an_email_git_cannot_parse_is_read_from_the_header(tmp_path, store_path):
    r = GitRepo(tmp_path / "ident")
    r.commit("one", date=day(1))
    obj = (f"tree {r.git('rev-parse', 'HEAD^{tree}')}\nparent {r.head()}\nauthor Old Tool 1704103300 +0100\n"
           f"committer Old Tool 1704103300 +0100\n\nwritten by a tool without <email>\n")
    sha = r.git("hash-object", "--literally", "-t", "commit", "-w", "--stdin", input=obj.encode())
    r.set_ref("refs/heads/main", sha)
    assert r.git("log", "-1", "--format=%aN|%ad", "--date=raw") == "%aN|"  # git prints its placeholder, no date
    loopmeter.ingest([r.path], store_path=store_path)
    # 1704103300 is 2024-01-01 10:01:40 UTC.
    assert rows(store_path, "select author_time, author_tz, a.name, a.email from commits c join actors a "
                            "on a.actor_id = c.author_id where sha = ?", [sha]) == [
        (datetime(2024, 1, 1, 10, 1, 40), 60, "Old Tool", "")]


def _replaced_and_blobless(base: Path) -> tuple[GitRepo, str]:
    """c1..c3, c2 replaced (`git replace`) by a commit with another message and author, and the blob
    c2 writes deleted: git dies there and the pygit2 walk reads c2 (sources/git.py `iter_listed`)."""
    r = GitRepo(base / "replaced")
    c1 = r.commit("c1", date=day(1), files={"a.txt": "a\n"})
    c2 = r.commit("c2 as written", date=day(2), files={"a.txt": "a\nonly in c2\n"})
    r.commit("c3", date=day(3), files={"a.txt": "a\nc3\n"})
    obj = (f"tree {r.git('rev-parse', c2 + '^{tree}')}\nparent {c1}\n"
           "author Graft <graft@example.com> 1704189600 +0000\n"
           "committer Graft <graft@example.com> 1704189600 +0000\n\nc2 as replaced\n")
    r.git("replace", c2, r.git("hash-object", "-t", "commit", "-w", "--stdin", input=obj.encode()))
    blob = r.git("rev-parse", f"{c2}:a.txt")
    (r.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    return r, c2


@pytest.mark.parametrize("honour", [True, False], ids=["replace-refs", "GIT_NO_REPLACE_OBJECTS"])
def test_the_pygit2_walk_reads_replaced_commits_as_git_log_does(tmp_path, store_path, monkeypatch, honour):
    r, c2 = _replaced_and_blobless(tmp_path)
    if not honour:
        monkeypatch.setenv("GIT_NO_REPLACE_OBJECTS", "1")
    # What the git CLI shows for c2, under the same switches: the replacement's message, author and
    # (no) parents, under c2's own id.
    shown = subprocess.run(["git", "-C", str(r.path), "log", "-1", "--format=%s%x00%aN%x00%at", c2], check=True,
                           capture_output=True, text=True).stdout.rstrip("\n").split("\x00")
    assert shown == (["c2 as replaced", "Graft", "1704189600"] if honour else ["c2 as written", "Alice Example",
                                                                              "1704189600"])
    res = loopmeter.ingest([r.path], store_path=store_path)[0]
    assert any("no blob" in w for w in res.warnings), res.warnings  # the pygit2 walk did read c2
    got = rows(store_path, "select c.subject, a.name from commits c join actors a on a.actor_id = c.author_id "
                           "where c.sha = ?", [c2])
    assert got == [(shown[0], shown[1])]
    # c2's one file is the one with the missing blob, whichever of the two objects is read.
    assert rows(store_path, "select path, added, missing_blob from commit_files where sha = ?", [c2]) == [
        ("a.txt", None, True)]
