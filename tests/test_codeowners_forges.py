"""CODEOWNERS read as GitHub reads it and as GitLab reads it (sections, default owners, optional
sections, approval counts, exclusions, fnmatch patterns). Every expected owner list below is worked
out by hand from the forges' documented rules; the comments give the reasoning."""

from __future__ import annotations

import pytest
from gitrepo import GitRepo

import loopmeter
from loopmeter.legibility import codeowners, scorecard
from loopmeter.legibility.codeowners import (
    GITHUB,
    GITLAB,
    coverage,
    deciding_rules,
    forge_of,
    owners_of,
    parse,
)
from loopmeter.store.db import Store

# One text, read by both forges: GitHub skips the header and lets the last match of the whole file
# decide; GitLab gives `/guides/` the [Docs] default owner and reads patterns as fnmatch globs.
BOTH = """\
*                  @acme/all
/src/              @acme/core
/src/vendor/
docs/*             docs@example.com
!important.txt     @acme/legal
my\\ dir/           @acme/space
\\#notes            @acme/notes
/lib[1].py         @acme/lib
[Docs] @acme/docs
/guides/
"""


@pytest.mark.parametrize("path, github, gitlab", [
    ("README", ("@acme/all",), ("@acme/all",)),
    ("src/a.py", ("@acme/core",), ("@acme/core",)),
    # GitHub: a rule without owners un-owns. GitLab: an entry without owners (and no section
    # default) owns nothing, and it is still the default section's last match.
    ("src/vendor/x.c", (), ()),
    ("docs/a.md", ("docs@example.com",), ("docs@example.com",)),
    ("docs/x/b.md", ("@acme/all",), ("@acme/all",)),        # docs/* is direct children only, in both
    # GitHub anchors a pattern with a slash in the middle; GitLab matches it at any depth.
    ("lib/docs/a.md", ("@acme/all",), ("docs@example.com",)),
    # GitHub has no negation: `!important.txt` names a file called "!important.txt". GitLab
    # excludes important.txt from the default section, its only section: no owner at all.
    ("important.txt", ("@acme/all",), ()),
    ("!important.txt", ("@acme/legal",), ("@acme/all",)),
    ("my dir/a", ("@acme/space",), ("@acme/space",)),       # escaped space, both
    ("#notes", ("@acme/notes",), ("@acme/notes",)),         # escaped leading #, both
    # GitHub has no [ ] ranges (literal); GitLab's fnmatch does ([1] is the character 1).
    ("lib[1].py", ("@acme/lib",), ("@acme/all",)),
    ("lib1.py", ("@acme/all",), ("@acme/lib",)),
    # GitHub: `[Docs] @acme/docs` is no rule, `/guides/` has no owners: explicitly unowned.
    # GitLab: the default section's `*` and the [Docs] section's default owner both apply.
    ("guides/g.md", (), ("@acme/all", "@acme/docs")),
])
def test_one_file_read_by_each_forge(path, github, gitlab):
    gh, gl = parse(BOTH, ".github/CODEOWNERS"), parse(BOTH, ".gitlab/CODEOWNERS")
    assert (gh.forge, gl.forge) == (GITHUB, GITLAB)
    assert owners_of(gh, path) == github
    assert owners_of(gl, path) == gitlab


def test_github_reading_is_the_last_match_of_the_whole_file_as_before():
    gh = parse(BOTH, ".github/CODEOWNERS")
    assert gh == parse(BOTH)  # without a location: GitHub's reading, as parse always gave
    assert [r.pattern for r in gh][-2:] == ["/lib[1].py", "/guides/"]  # the header is no rule
    for path in ("README", "src/vendor/x.c", "guides/g.md", "lib1.py"):
        last = codeowners.owner_of(gh, path)
        assert deciding_rules(gh, path) == [last]
        assert owners_of(gh, path) == last.owners


# --------------------------------------------------------------------------- GitLab's documented examples

README_OWNERS = """\
* @admin

[README Owners]
README.md @user1 @user2
internal/README.md @user4

[README other owners]
README.md @user3
"""


def test_gitlab_each_section_contributes_its_last_match():
    co = parse(README_OWNERS, "CODEOWNERS")
    assert co.forge == GITLAB and co.sections == ("", "README Owners", "README other owners")
    # GitLab's own worked answer for both files.
    assert owners_of(co, "README.md") == ("@admin", "@user1", "@user2", "@user3")
    assert owners_of(co, "internal/README.md") == ("@admin", "@user4", "@user3")
    # A relative path matches at any depth, even with a slash in the middle.
    assert owners_of(co, "docs/internal/README.md") == ("@admin", "@user4", "@user3")
    assert [r.line for r in deciding_rules(co, "internal/README.md")] == [1, 5, 8]


REGULAR_AND_SECTIONS = """\
# Required for all files
* @general-approvers

[Documentation] @docs-team
docs/
README.md
*.txt

[Database] @database-team
model/db/
config/db/database-setup.md @docs-team
"""


@pytest.mark.parametrize("path, owners", [
    # GitLab: "a merge request that modifies model/db/CHANGELOG.txt would require three approvals".
    ("model/db/CHANGELOG.txt", ("@general-approvers", "@docs-team", "@database-team")),
    # The entry's own owner replaces the section default.
    ("config/db/database-setup.md", ("@general-approvers", "@docs-team")),
    ("config/db/other.md", ("@general-approvers",)),
    ("api/docs/a/b.rb", ("@general-approvers", "@docs-team")),   # docs/ at any depth, everything beneath
    ("src/x.rb", ("@general-approvers",)),
])
def test_gitlab_unsectioned_entries_are_a_section_of_their_own(path, owners):
    assert owners_of(parse(REGULAR_AND_SECTIONS, ".gitlab/CODEOWNERS"), path) == owners


HEADERS = """\
[Documentation][2] @docs-team
docs/
README.md

^[Database] @database-team @agarcia
model/db/
config/db/database-setup.md @docs-team

[Go]
*.go @gophers

^[go]
*.mod @gophers
"""


def test_gitlab_optional_sections_approval_counts_and_default_owners():
    co = parse(HEADERS, "docs/CODEOWNERS")
    assert co.forge == GITLAB
    # [Go] and ^[go] are one section (names are case-insensitive; the first spelling is kept).
    assert co.sections == ("Documentation", "Database", "Go")
    by = {r.pattern: r for r in co}
    assert (by["docs/"].section, by["docs/"].approvals, by["docs/"].optional, by["docs/"].owners) == (
        "Documentation", 2, False, ("@docs-team",))
    assert (by["model/db/"].optional, by["model/db/"].owners) == (True, ("@database-team", "@agarcia"))
    assert by["config/db/database-setup.md"].owners == ("@docs-team",)
    assert (by["*.go"].section, by["*.mod"].section, by["*.mod"].optional) == ("Go", "Go", True)
    # An optional section's owners still own (approval is what is optional).
    assert owners_of(co, "model/db/schema.rb") == ("@database-team", "@agarcia")
    assert owners_of(co, "README.md") == ("@docs-team",)
    assert owners_of(co, "cmd/main.go") == ("@gophers",)


# --------------------------------------------------------------------------- GitLab edge cases, by hand


def test_gitlab_a_repeated_pattern_keeps_its_first_place_with_the_new_owners():
    # GitLab keys a section's entries by pattern: the third line replaces the first line's owners
    # but stays first, so for a/b/c the last match is still /a/b/ (a plain "last line" reading
    # would answer @z).
    co = parse("[S]\n/a/ @x\n/a/b/ @y\n/a/ @z\n", "CODEOWNERS")
    assert [(r.pattern, r.owners) for r in co] == [("/a/", ("@z",)), ("/a/b/", ("@y",))]
    assert owners_of(co, "a/b/c") == ("@y",)
    assert owners_of(co, "a/c") == ("@z",)


def test_gitlab_owners_are_the_mentions_and_emails_after_the_pattern():
    text = ("[Docs] @acme/docs # the docs team, not @acme/other\n"
            "/guides/\n"
            "/x/ @a # inline comments are not comments in GitLab: @b owns too\n"
            "/y/ @group user_without_at_symbol @user_with_at_symbol\n"
            "/z/ jane@example.com, @@Maintainers @@nobody x@@owner\n")
    co = parse(text, ".gitlab/CODEOWNERS")
    # A header's default owners stop at the first character that cannot be in a name (`#`).
    assert owners_of(co, "guides/a") == ("@acme/docs",)
    assert owners_of(co, "x/f") == ("@a", "@b")
    assert owners_of(co, "y/f") == ("@group", "@user_with_at_symbol")
    # GitLab's reference extractor: an email without the trailing comma, the roles it knows (one
    # @@maintainer whatever the case or plural), nothing glued to a word.
    assert owners_of(co, "z/f") == ("jane@example.com", "@@maintainer")


def test_gitlab_a_broken_header_is_an_entry_of_the_section_before_it():
    # `[Broken` is no header: /a/ @y is still in [A], where it replaces /a/ @x.
    co = parse("[A]\n/a/ @x\n[Broken\n/a/ @y\n", "CODEOWNERS")
    assert co.sections == ("A",)
    assert owners_of(co, "a/f") == ("@y",)
    assert owners_of(co, "[Broken") == ()  # an unterminated [ matches nothing (Ruby's fnmatch)


@pytest.mark.parametrize("pattern, matches, misses", [
    ("docs", ["docs", "a/docs"], ["docs/a.md"]),                   # no trailing slash: the file `docs`
    ("docs/", ["docs/a.md", "docs/a/b.md", "x/docs/a"], ["docs"]),
    ("/docs/**", ["docs/a.md"], ["docs/a/b.md"]),                   # `**` not before `/` is `*`
    ("/docs/**/index.md", ["docs/index.md", "docs/a/b/index.md"], ["docs/a/index.mdx"]),
    ("*", ["a", ".gitignore", "a/.b/c"], []),                        # FNM_DOTMATCH: dotfiles too
    ("/*.yml", [".gitlab-ci.yml", "a.yml"], ["ci/a.yml"]),
    ("/te[a-s]t/", ["test/x", "teat/x"], ["tezt/x", "te/t/x"]),
    ("/v[!0-9]", ["va"], ["v1", "v/"]),
    ("/a\\*b", ["a*b"], ["axb"]),
    ("path\\ with\\ spaces/", ["path with spaces/a.md"], ["path/a.md"]),
    ("\\#file_with_pound.rb", ["#file_with_pound.rb", "x/#file_with_pound.rb"], []),
    ("/x?z", ["xyz"], ["x/z"]),
])
def test_gitlab_patterns_are_ruby_fnmatch(pattern, matches, misses):
    co = parse(f"[S]\n{pattern} @o\n", ".gitlab/CODEOWNERS")
    for p in matches:
        assert owners_of(co, p) == ("@o",), p
    for p in misses:
        assert owners_of(co, p) == (), p


def test_gitlab_exclusions_apply_in_their_section_only_and_cannot_be_undone_there():
    text = ("* @all\n!*.lock\n\n[Deps]\n*.lock @acme/deps\n\n"
            "[Ruby]\n*.rb @ruby\n!/config/**/*.rb\n/config/routes.rb @ops\n")
    co = parse(text, ".gitlab/CODEOWNERS")
    assert owners_of(co, "uv.lock") == ("@acme/deps",)              # out of the default section only
    assert owners_of(co, "app/a.rb") == ("@all", "@ruby")
    assert owners_of(co, "config/routes.rb") == ("@all",)           # excluded from [Ruby] for good
    assert owners_of(co, "config/deep/x.rb") == ("@all",)


# --------------------------------------------------------------------------- which forge


@pytest.mark.parametrize("text, location, forge", [
    ("* @a\n", ".github/CODEOWNERS", GITHUB),
    ("[S]\n* @a\n", ".github/CODEOWNERS", GITHUB),       # only GitHub reads .github/: no sections
    ("* @a\n", ".gitlab/CODEOWNERS", GITLAB),            # only GitLab reads .gitlab/
    ("* @a\n", "CODEOWNERS", GITHUB),                    # both read the root: nothing GitLab-only
    ("# [not a header]\n* @a\n", "docs/CODEOWNERS", GITHUB),
    ("* @a\n^[Opt]\n/x/ @b\n", "CODEOWNERS", GITLAB),
    ("* @a\n!*.lock\n", "docs/CODEOWNERS", GITLAB),      # GitHub has no negation
    ("* @@maintainer\n", "CODEOWNERS", GITLAB),          # roles are GitLab's
    ("[S]\n* @a\n", None, GITHUB),                       # no location: GitHub's reading, as before
])
def test_the_forge_comes_from_the_location_then_the_syntax(text, location, forge):
    assert forge_of(text, location) == forge
    assert parse(text, location).forge == forge


def test_gitlab_coverage_counts_a_path_owned_in_any_section():
    text = ("* @all\n/vendor/\n/gen/\n\n^[Vendored] @acme/vendor\n/vendor/\n\n[Gen]\n/gen/\n")
    co = parse(text, ".gitlab/CODEOWNERS")
    files = ["a.py", "vendor/x.py", "gen/y.py", "gen/z/w.py"]
    # vendor/: no owner in the default section, @acme/vendor in the optional one: owned.
    # gen/: no owner in the default section, [Gen] has no default owners either: unowned.
    assert coverage(co, files) == (2, ["gen/y.py", "gen/z/w.py"])


def test_gitlab_coverage_by_first_folder_agrees_with_trying_every_rule():
    text = ("* @all\n/src/gen/\n!*.lock\n[Core] @core\n/src/\n/src/vendor/ @v\n**/logs/\n"
            "^[Docs][2] @docs\n/docs/*.md\ndocs/ @d\n[CI]\n/.gitlab/ @ci\n/*.yml @ci\n")
    co = parse(text, "CODEOWNERS")
    files = ["README", "src/a.py", "src/gen/b.py", "src/logs/c", "docs/a.md", "x/docs/b.md", "uv.lock",
             ".gitlab/CODEOWNERS", ".gitlab-ci.yml", "src/vendor/v.c", "logs/q", "deep/src/a.py"]
    naive_unowned = [f for f in files if not owners_of(co, f)]
    assert coverage(co, files) == (len(files) - len(naive_unowned), naive_unowned)
    # src/gen/b.py: unowned in the default section, @core in [Core]; uv.lock excluded from the
    # default section and matched nowhere else.
    assert naive_unowned == ["uv.lock"]
    assert owners_of(co, "src/gen/b.py") == ("@core",)


# --------------------------------------------------------------------------- a real repository

SECTIONED = """\
* @alice
/tools/

[Payments] @acme/payments
/pay/
/shared/

[Web] @acme/web
/web/
/shared/
*.md @bob

^[Docs][2] @acme/docs
/docs/
"""


@pytest.fixture
def sectioned(tmp_path):
    repo = GitRepo(tmp_path / "api")
    ten, three = "".join(f"{i}\n" for i in range(10)), "a\nb\nc\n"
    shas = {"owners": repo.commit("owners", files={".gitlab/CODEOWNERS": SECTIONED}, date="2024-01-01T10:00:00+00:00")}
    shas["mostly pay"] = repo.commit("1", files={"pay/a.py": ten, "web/b.js": three}, date="2024-01-02T10:00:00+00:00")
    shas["shared"] = repo.commit("2", files={"shared/x.py": "1\n2\n3\n4\n", "web/c.js": "x\n"},
                                 date="2024-01-03T10:00:00+00:00")
    shas["docs"] = repo.commit("3", files={"docs/guide.txt": "1\n2\n3\n4\n5\n", "pay/d.py": "1\n2\n3\n"},
                               date="2024-01-04T10:00:00+00:00")
    shas["web readme"] = repo.commit("4", files={"web/README.md": "1\n2\n3\n4\n", "pay/z.py": "1\n"},
                                     date="2024-01-05T10:00:00+00:00")
    shas["root readme"] = repo.commit("5", files={"README.md": "hello\n", "tools/run.sh": "echo\n"},
                                      date="2024-01-06T10:00:00+00:00")
    return repo, shas


def test_by_codeowners_assigns_changes_by_every_gitlab_section(tmp_path, sectioned):
    from loopmeter.metrics.codeowners_teams import change_teams

    repo, shas = sectioned
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=store)
    with Store.open(store, create=False, read_only=True) as s:
        teams, named = change_teams(s.con, ["api"])
    assert named == ["acme/docs", "acme/payments", "acme/web"]
    assert {k: teams[f"git:api:change:{sha}"] for k, sha in shas.items()} == {
        "owners": "unassigned",          # .gitlab/CODEOWNERS: only @alice (a person)
        "mostly pay": "acme/payments",   # pay 10 lines, web 3
        # shared/ is in [Payments] and [Web]: its 4 lines split 2 + 2; web 1 more: web 3, payments 2.
        "shared": "acme/web",
        # docs/ belongs to the optional [Docs] section's default owner: docs 5, payments 3.
        "docs": "acme/docs",
        # web/README.md: in [Web] the last match is `*.md @bob` (a person), so no team; pay 1 line.
        "web readme": "acme/payments",
        "root readme": "unassigned",     # README.md: @alice and @bob; tools/: nobody
    }


def test_legibility_coverage_counts_files_any_gitlab_section_owns(sectioned):
    repo, _ = sectioned
    card = scorecard(repo.path)
    d = {x["id"]: x for c in card["checks"] for x in c["details"]}["codeowners"]
    # 11 tracked files; only tools/run.sh has no owner in any section (the default section's last
    # match, /tools/, has none). Read GitHub's way (last match of the whole file) pay/, web/,
    # shared/ and docs/ would have no owner either.
    assert d["value"] == round(10 / 11, 4)
    assert any(".gitlab/CODEOWNERS: 8 rules in 3 GitLab sections own 10 of 11 tracked files" in e
               for e in d["evidence"])
    # By hand, GitHub's reading: owned are .gitlab/CODEOWNERS (*), README.md and web/README.md (*.md).
    assert coverage(parse(SECTIONED), repo.git("ls-files").splitlines()) == (3, [
        "docs/guide.txt", "pay/a.py", "pay/d.py", "pay/z.py", "shared/x.py", "tools/run.sh", "web/b.js", "web/c.js"])
