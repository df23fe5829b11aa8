"""CODEOWNERS matching and the config readers, case by case (GitHub's documented examples first)."""

from __future__ import annotations

import pytest

from loopmeter.legibility import codeowners, configs

GITHUB_EXAMPLE = """\
# the global owners, unless a later match takes precedence
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
"""


@pytest.mark.parametrize("path, pattern, owners", [
    ("README", "*", ("@global-owner1", "@global-owner2")),
    ("src/deep/a.js", "*.js", ("@js-owner",)),           # inline comment is not an owner
    ("main.go", "*.go", ("docs@example.com",)),
    ("build/logs/x/y.txt", "**/logs", ("@octocat",)),    # later rule wins over /build/logs/
    ("docs/getting-started.md", "/docs/", ("@doctocat",)),
    ("docs/a/b.md", "/docs/", ("@doctocat",)),
    ("lib/docs/a.md", "*", ("@global-owner1", "@global-owner2")),  # docs/* has a slash in the middle: anchored
    ("x/apps/y.txt", "apps/", ("@octocat",)),            # apps/ matches an apps folder anywhere
    ("apps/github/z.txt", "/apps/github", ()),           # no owners: the last match un-owns it
    ("apps/other/z.txt", "/apps/", ("@octocat",)),
    ("deep/logs/a", "**/logs", ("@octocat",)),
])
def test_github_documented_examples(path, pattern, owners):
    rules = codeowners.parse(GITHUB_EXAMPLE)
    rule = codeowners.owner_of(rules, path)
    assert rule is not None and (rule.pattern, rule.owners) == (pattern, owners)


def test_slash_in_the_middle_anchors_the_pattern():
    rules = codeowners.parse("docs/* @d\n")
    assert codeowners.owner_of(rules, "docs/a.md") is not None
    assert codeowners.owner_of(rules, "lib/docs/a.md") is None


def test_docs_star_owns_direct_files_only_unlike_gitignore():
    rules = codeowners.parse("docs/* @d\n")
    assert codeowners.owner_of(rules, "docs/build-app/troubleshooting.md") is None
    rules = codeowners.parse("docs/** @d\n")
    assert codeowners.owner_of(rules, "docs/build-app/troubleshooting.md").owners == ("@d",)


def test_trailing_slash_matches_directories_only():
    rules = codeowners.parse("logs/ @l\n")
    assert codeowners.owner_of(rules, "logs") is None  # a file named logs
    assert codeowners.owner_of(rules, "a/logs/x").owners == ("@l",)


def test_bare_name_matches_a_file_or_a_folder_at_any_depth():
    rules = codeowners.parse("Makefile @m\n")
    assert codeowners.owner_of(rules, "Makefile") and codeowners.owner_of(rules, "sub/Makefile")
    assert codeowners.owner_of(rules, "Makefile/inner") is not None
    assert codeowners.owner_of(rules, "Makefile.am") is None


def test_star_and_question_mark_do_not_cross_slashes_double_star_does():
    rules = codeowners.parse("/src/*.py @a\n/a/**/b @b\n/x?z @c\n")
    assert codeowners.owner_of(rules, "src/m.py").owners == ("@a",)
    assert codeowners.owner_of(rules, "src/pkg/m.py") is None
    for p in ("a/b", "a/x/b", "a/x/y/b/file"):
        assert codeowners.owner_of(rules, p).owners == ("@b",), p
    assert codeowners.owner_of(rules, "xyz").owners == ("@c",)
    assert codeowners.owner_of(rules, "x/z") is None


def test_escapes_sections_and_literal_brackets():
    text = "\\#notes @n\nmy\\ file @s\n[Backend]\n^[Optional][2] @x\n/lib[1].py @b\n"
    rules = codeowners.parse(text)
    assert [r.pattern for r in rules] == ["#notes", "my file", "/lib[1].py"]
    assert codeowners.owner_of(rules, "#notes").owners == ("@n",)
    assert codeowners.owner_of(rules, "a/my file").owners == ("@s",)
    assert codeowners.owner_of(rules, "lib[1].py").owners == ("@b",)  # GitHub has no ranges: literal
    assert codeowners.owner_of(rules, "lib1.py") is None


def test_coverage_counts_files_with_at_least_one_owner():
    rules = codeowners.parse("* @all\n/vendor/\n")
    files = ["a.py", "vendor/x.py", "vendor/y/z.py", "src/b.py"]
    assert codeowners.coverage(rules, files) == (2, ["vendor/x.py", "vendor/y/z.py"])


@pytest.mark.parametrize("text, events", [
    ("on: push\n", {"push"}),
    ("on: [push, pull_request]\n", {"push", "pull_request"}),
    ("'on':\n  pull_request_target:\n    types: [opened]\n  push:\n", {"pull_request_target", "push"}),
    ("on:\n  - push\n  - merge_group\njobs:\n  a: {}\n", {"push", "merge_group"}),
    ("on: {push: {branches: [main, dev]}, pull_request: {}}\n", {"push", "pull_request"}),
    ("name: x\njobs:\n  a:\n    on: pull_request\n", set()),  # not the top-level key
    ("on:  # comment\n  workflow_dispatch:\n\n  # pull_request:\n  schedule:\n    - cron: x\n", {"workflow_dispatch", "schedule"}),
])
def test_workflow_triggers(text, events):
    assert configs.workflow_triggers(text) == events


def test_makefile_targets_skip_variables_patterns_and_specials():
    text = ".PHONY: test \\\n  lint\nall: build\nbuild: dep\n\tcc\nCC := gcc\nX ?= 1\n%.o: %.c\n$(OUT): x\n.SUFFIXES:\n"
    assert configs.makefile_targets(text) == ["test", "lint", "all", "build"]


def test_justfile_taskfile_tox_nox_readers():
    assert configs.justfile_recipes('set shell := ["bash"]\ntest *args:\n  pytest\n@lint:\n  ruff\nv := "1"\n') == ["test", "lint"]
    assert configs.taskfile_tasks("version: '3'\ntasks:\n  build:\n    cmds: [go build]\n  test:\n    deps: [build]\nvars:\n  a: 1\n") == ["build", "test"]
    assert configs.tox_envs("[tox]\nenvlist = py311, lint\n    mypy\n[testenv:docs]\n") == ["py311", "lint", "mypy", "docs"]
    assert configs.nox_sessions('@nox.session(python=["3.12"])\ndef tests(s):\n    pass\n@nox.session\n@nox.parametrize("x", [1])\ndef lint(s):\n    pass\n') == ["tests", "lint"]


def test_unparseable_config_yields_nothing():
    assert configs.toml("[project\nname=") == {}
    assert configs.json_object("[1, 2]") == {} and configs.json_object("{") == {}
    assert configs.requirements_pins("a==1\nb\n--hash=sha256:x\n") == (1, 2)


def test_coverage_by_first_folder_agrees_with_trying_every_rule():
    text = "* @all\n/src/ @src\n/src/gen/\n**/logs @logs\n/docs/*.md @docs\nsrc/x.py @x\n/te?ts/ @t\n*.lock\n/a/b/c @abc\n"
    rules = codeowners.parse(text)
    files = ["README", "src/a.py", "src/gen/b.py", "src/logs/c", "docs/a.md", "docs/d/b.md", "src/x.py",
             "tests/t.py", "texts/u", "uv.lock", "a/b/c/d", "a/b/x", "logs/q", "deep/src/a.py"]
    naive_unowned = [f for f in files if not ((r := codeowners.owner_of(rules, f)) and r.owners)]
    assert codeowners.coverage(rules, files) == (len(files) - len(naive_unowned), naive_unowned)
    assert naive_unowned == ["src/gen/b.py", "uv.lock"]


# --------------------------------------------------------------------------- commit-message wording


@pytest.mark.parametrize("message, pr, revert, ticket", [
    ("Merge pull request #7 from acme/ABC-12-fix\n\nFix it", 7, False, True),  # the branch names a ticket
    ("Merge pull request #7 from acme/fix\n\nFix it", 7, False, False),  # #7 is the PR, not a ticket
    ("Add thing (#9)", 9, False, False),
    ("Merge branch 'x' into 'main'\n\nSee merge request grp/proj!4", 4, False, False),
    ('Revert "Add thing (#9)"\n\nThis reverts commit 0123abcd.', None, True, True),  # names #9
    ('Revert "Add thing" (#10)', 10, True, False),
    ("Undo the cache\n\nThis reverts commit ABCDEF0123 (it broke the build).", None, True, False),
    ("Revert \"Add thing\"\n\nReverts acme/api#12", None, True, True),
    ('Revert "a" and "b" by hand', None, False, False),  # not the wording of git or GitHub
])
def test_legibility_reads_landings_and_reverts_with_the_change_derivations_patterns(message, pr, revert, ticket):
    from loopmeter.legibility.history import pr_number, references_ticket
    from loopmeter.store.message_patterns import is_revert

    subject = message.split("\n", 1)[0]
    assert (pr_number(subject, message), is_revert(message), references_ticket(message)) == (pr, revert, ticket)
