"""CODEOWNERS: who owns each tracked file, read the way the forge that hosts the file reads it.

GitHub and GitLab share the line format (`pattern owner...`, `#` comment lines, owners as
`@user`, `@org/team` or an email) but not its meaning, so one parser reads both and
`owners_of(rules, path)` answers with the owners that apply to a path under that forge's rules.

**GitHub** (no sections; the **last** matching rule of the whole file decides; a rule without
owners leaves its files explicitly unowned). Patterns follow .gitignore with GitHub's documented
exceptions:

* a pattern with a `/` at the start or in the middle is anchored at the repository root; one
  without (`*.js`, `apps/`) matches at any depth;
* a pattern that matches a directory owns everything beneath it (`/build/logs/`, `apps/`,
  `docs`), but `docs/*` owns only the files directly in `docs/` (GitHub's own example);
* `*` and `?` do not cross `/`; `**` does (`**/logs`, `docs/**`, `a/**/b`);
* a trailing `/` matches directories only;
* `!` negation and `[ ]` ranges are not supported by GitHub: such characters match literally
  (`!x` is a pattern for a file named `!x`, not an exception);
* `\\#` escapes a leading `#`, `\\ ` an embedded space, and a `#` after the pattern starts a comment.
  (GitHub lists the `\\#` escape among the .gitignore rules it does not honour; we read it as the
  escape all the same, as GitLab documents it, rather than as a pattern nobody could mean.)
* GitLab section headers (`[Section]`) are not GitHub syntax and are skipped.

**GitLab** (`[Section]` headers; a section is analysed on its own). Every section, and the
unnamed section of the entries before the first header, contributes the owners of *its* last
matching entry, so a path's owners are the union over sections. Headers are `[Name]`,
`^[Name]` (optional: approval not required, the owners still own), `[Name][2]` (approvals
required) and default owners after the header, `[Docs] @group/docs`, which apply to the entries
of that header written without owners. Names are case-insensitive; sections with the same name
are one section. Patterns are Ruby `File.fnmatch` globs (FNM_PATHNAME | FNM_DOTMATCH), as
GitLab's documentation and code say:

* a pattern without a leading `/` matches at any depth, **even with a `/` in the middle**
  (`internal/README.md` matches `docs/internal/README.md`);
* a trailing `/` owns everything beneath the folder; without it, a bare `docs` names a *file*
  `docs` only, and `docs/**` (a `**` not followed by `/`) is `docs/*`, direct children only;
* `*`, `?` and `[a-z]` ranges do not cross `/`, `**/` spans folders, `\\` escapes;
* `!pattern` (GitLab 17.10+) excludes the paths it matches from its section, wherever it is in
  the section; an entry whose pattern repeats an earlier one in the same section replaces that
  entry's owners in the earlier entry's place (GitLab keeps a section's entries keyed by pattern);
* text after the pattern is scanned for owners (`@name`, `@@role`, emails): inline comments are
  not supported, and an owner written in one is still an owner; other words are ignored;
* an entry with no owners and no section default owners owns nothing (GitLab auto-approves it).

Which forge: the file's location when only one forge reads it there (`.github/` is GitHub's,
`.gitlab/` GitLab's), otherwise (the root and `docs/`, read by both) GitLab when the file uses
syntax only GitLab has (a section header, a `!` exclusion or an `@@role` owner), else GitHub.
Without a location `parse` reads GitHub's syntax, as it always has.

We hand-write the matchers instead of using `pathspec`: pathspec implements .gitignore, which
differs from CODEOWNERS on `docs/*` and on negation, has no Ruby fnmatch, and is not a dependency
of loopmeter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Where GitHub looks, in its order (the first found is used): .github/, the root, docs/.
GITHUB_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
#: Where GitLab looks, in its order: the root, docs/, .gitlab/.
GITLAB_LOCATIONS = ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")
#: Both, in one order that keeps each forge's own (the first found is used): a repository with a
#: `.github/CODEOWNERS` is read as GitHub reads it, one with only `.gitlab/CODEOWNERS` as GitLab does.
LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")

GITHUB, GITLAB = "github", "gitlab"


@dataclass(frozen=True)
class Rule:
    line: int
    pattern: str
    owners: tuple[str, ...]
    regex: re.Pattern[str]
    #: The literal first folder an anchored rule can only match under (None: it can match anywhere).
    first: str | None = None
    #: "github", or "gitlab" for an entry of a GitLab file (matched as Ruby's fnmatch does).
    forge: str = GITHUB
    #: GitLab: the section (its name as first written; "" for the entries before any header).
    #: GitHub rules have None: the whole file is one list, the last match decides.
    section: str | None = None
    #: GitLab `!pattern`: the paths it matches are excluded from its section.
    exclusion: bool = False
    #: GitLab: the header of this entry was `^[...]` (optional approval) / asked for `[n]` approvals.
    optional: bool = False
    approvals: int = 0


def _split(line: str) -> list[str]:
    """Whitespace-separated tokens, honouring `\\ ` and `\\#` escapes; an unescaped `#` starts a comment."""
    tokens, cur, i = [], [], 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] in " \t#":
            cur.append(line[i + 1])
            i += 2
            continue
        if ch in " \t":
            if cur:
                tokens.append("".join(cur))
                cur = []
        elif ch == "#" and not cur:
            break
        else:
            cur.append(ch)
        i += 1
    if cur:
        tokens.append("".join(cur))
    return tokens


def _translate(pattern: str) -> str:
    """The pattern body as a regex fragment (no anchors)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:.*/)?")  # zero or more directories
            i += 3
        elif pattern.startswith("**", i) and i + 2 == n and (i == 0 or pattern[i - 1] == "/"):
            out.append(".*")  # everything inside
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def compile_rule(pattern: str, owners: tuple[str, ...] = (), line: int = 0) -> Rule:
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/") if pattern != "/" else ""
    dir_only = pattern.endswith("/")
    prefix = "" if anchored else "(?:.*/)?"
    core = _translate(body)
    # Everything beneath a matched directory is covered, except under a final "*" segment (docs/*).
    last = body.rsplit("/", 1)[-1]
    beneath = "" if (last == "*" and not dir_only) else "(?:/.*)?"
    if dir_only:
        beneath = "/.*"
    if body == "" or body == "**":
        regex = ".*"
    else:
        regex = prefix + core + beneath
    head = body.split("/", 1)[0]
    first = head if anchored and head and not any(ch in head for ch in "*?") else None
    return Rule(line=line, pattern=pattern, owners=owners, regex=re.compile(regex, re.DOTALL), first=first)


class Codeowners(list[Rule]):
    """The rules of one CODEOWNERS file (a list, in the order they are tried), and how to read them.

    `forge` is "github" or "gitlab"; `sections` (GitLab) the section names in the order first
    written, "" for the entries before any header. A GitLab file's rules are listed section by
    section, each section's entries in GitLab's order (a repeated pattern keeps its first place).
    """

    def __init__(self, rules: Iterable[Rule] = (), forge: str = GITHUB, sections: tuple[str, ...] = ()):
        super().__init__(rules)
        self.forge = forge
        self.sections = sections


# A GitLab section header, as GitLab's own parser reads it: an optional `^`, `[name]`, an optional
# `[digits]`, then default owners made only of name characters (anything after, such as a `#`
# comment, is ignored). Anchored at the start only: `[Docs] @a` and `[Tt]ests/ @x` are both headers.
_HEADER = re.compile(r"^(?P<optional>\^)?\[(?P<name>.*?)\](?:\[(?P<approvals>\d*?)\])?(?P<owners>\s+[@\w.\-/\s+]*)?")
# The owners GitLab finds in the text after a pattern (its ReferenceExtractor): emails, `@name`
# mentions not glued to a word or another `@` (`@group/sub` included), and the `@@role`s it knows.
_EMAIL = re.compile(r"[^@\s]{1,100}@[^@\s]{1,255}(?<!\W)")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.\-]*)*)")
_ROLE = re.compile(r"(?:^|(?<=\s))@@(developer|maintainer|owner)s?(?=\s|$)", re.IGNORECASE)
# The first unescaped run of whitespace ends a GitLab pattern.
_GITLAB_SPLIT = re.compile(r"(?<!\\)\s+")


def _gitlab_owners(text: str) -> tuple[str, ...]:
    """The owners named in `text` (emails, @names, @@roles), in the order written, once each; any
    other word is not an owner (GitLab ignores malformed owners)."""
    found = [(m.start(), m.group()) for m in _EMAIL.finditer(text)]
    found += [(m.start(), "@" + m.group(1)) for m in _MENTION.finditer(text)]
    found += [(m.start(), "@@" + m.group(1).lower()) for m in _ROLE.finditer(text)]
    out: list[str] = []
    for _, owner in sorted(found):
        if owner not in out:
            out.append(owner)
    return tuple(out)


def _fnmatch_regex(pattern: str) -> str:
    """Ruby's File.fnmatch with FNM_PATHNAME | FNM_DOTMATCH as a regex fragment: `*` and `?` stay in
    one folder, `**/` at the start of a segment spans zero or more folders (any other `**` is `*`),
    `[...]` is a bracket expression (`!` or `^` negates; never matches `/`; an unterminated one
    matches nothing), `\\` escapes the next character, and a leading `.` needs no literal dot."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:[^/]+/)*")
            i += 3
            while pattern.startswith("**/", i):  # Ruby folds repeated `**/` into one
                i += 3
        elif ch == "*":
            out.append("[^/]*")
            while i < n and pattern[i] == "*":
                i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            cls, i = _bracket(pattern, i + 1)
            out.append(cls)
        elif ch == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """The bracket expression starting after `[` at `i`: (regex, index after its `]`)."""
    n = len(pattern)
    negate = i < n and pattern[i] in "!^"
    if negate:
        i += 1
    parts: list[str] = []
    while i < n and pattern[i] != "]":
        c = pattern[i + 1] if pattern[i] == "\\" and i + 1 < n else pattern[i]
        i += 2 if pattern[i] == "\\" and i + 1 < n else 1
        if i + 1 < n and pattern[i] == "-" and pattern[i + 1] != "]":
            j = i + 1
            hi = pattern[j + 1] if pattern[j] == "\\" and j + 1 < n else pattern[j]
            i = j + (2 if pattern[j] == "\\" and j + 1 < n else 1)
            parts.append(f"{re.escape(c)}-{re.escape(hi)}" if c <= hi else "")
        else:
            parts.append(re.escape(c))
    if i >= n:  # no closing `]`: Ruby's fnmatch fails the match here
        return "(?!)", n
    body = "".join(parts)
    if negate:
        return f"[^/{body}]", i + 1
    return (f"(?!/)[{body}]" if body else "(?!)"), i + 1


def _normalize_gitlab(pattern: str) -> str:
    """GitLab's normalisation: `\\#` at the start is `#`, `\\ ` a space, `*` everything, a pattern
    without a leading `/` matches at any depth (`/**/`), a trailing `/` everything beneath."""
    if pattern == "*":
        return "/**/*"
    pattern = re.sub(r"^\\#", "#", pattern)
    pattern = re.sub(r"\\\s+", " ", pattern)
    if not pattern.startswith("/"):
        pattern = "/**/" + pattern
    if pattern.endswith("/"):
        pattern += "**/*"
    return pattern


def compile_gitlab_rule(pattern: str, owners: tuple[str, ...] = (), line: int = 0, *, section: str = "",
                        exclusion: bool = False, optional: bool = False, approvals: int = 0) -> Rule:
    """A GitLab entry; its regex fully matches a repository path (no leading `/`)."""
    norm = _normalize_gitlab(pattern)
    # GitLab matches "/" + path against the pattern, which always starts with "/": drop both.
    regex = _fnmatch_regex(norm[1:])
    head = norm[1:].split("/", 1)[0]
    first = head if head and not any(ch in head for ch in "*?[\\") else None
    return Rule(line=line, pattern=pattern, owners=owners, regex=re.compile(regex, re.DOTALL), first=first,
                forge=GITLAB, section=section, exclusion=exclusion, optional=optional, approvals=approvals)


def forge_of(text: str, location: str | None = None) -> str:
    """Which forge's rules read this file: its location when only one forge looks there, else
    GitLab when it uses syntax only GitLab has (a section header, a `!` exclusion, an `@@role`
    owner), else GitHub. Without a location: GitHub (the reading `parse` always had)."""
    if location is None:
        return GITHUB
    loc = location.strip("/")
    if loc.startswith(".github/"):
        return GITHUB
    if loc.startswith(".gitlab/"):
        return GITLAB
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _HEADER.match(line) or line.startswith("!") or re.search(r"(?:^|\s)@@\w", line):
            return GITLAB
    return GITHUB


def parse(text: str, location: str | None = None) -> Codeowners:
    """The file's rules, read as the forge that uses the file at `location` reads it (forge_of)."""
    if forge_of(text, location) == GITLAB:
        return _parse_gitlab(text)
    return _parse_github(text)


def _parse_github(text: str) -> Codeowners:
    rules = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("[", "^[")):  # a GitLab section header: GitHub has no sections
            continue
        tokens = _split(line)
        if not tokens:
            continue
        rules.append(compile_rule(tokens[0], tuple(tokens[1:]), n))
    return Codeowners(rules, GITHUB)


def _parse_gitlab(text: str) -> Codeowners:
    # section key (lower-case name) -> normalised pattern -> entry; dicts keep first-insertion order,
    # which is GitLab's (a repeated pattern replaces the entry where it first stood).
    entries: dict[str, dict[str, Rule]] = {"": {}}
    names: dict[str, str] = {"": ""}
    key, defaults, optional, approvals = "", "", False, 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            name = header["name"]
            key = name.lower()
            names.setdefault(key, name)
            entries.setdefault(key, {})
            defaults = (header["owners"] or "").strip()
            optional = bool(header["optional"])
            approvals = int(header["approvals"] or 0)
            continue
        # A line that only looks like a broken header (`[Docs`) is an entry, as GitLab documents.
        pattern, _, rest = _partition(line)
        exclusion = pattern.startswith("!")
        if exclusion:
            pattern = pattern[1:]
        owners = () if exclusion else _gitlab_owners(rest if rest.strip() else defaults)
        rule = compile_gitlab_rule(pattern, owners, n, section=names[key], exclusion=exclusion,
                                   optional=optional, approvals=approvals)
        entries[key][_normalize_gitlab(pattern)] = rule
    rules = [r for sec in entries.values() for r in sec.values()]
    sections = tuple(names[k] for k in entries if k or entries[k])
    return Codeowners(rules, GITLAB, sections)


def _partition(line: str) -> tuple[str, str, str]:
    """(pattern, separator, the rest): the pattern ends at the first unescaped whitespace."""
    m = _GITLAB_SPLIT.search(line)
    if not m:
        return line, "", ""
    return line[:m.start()], m.group(), line[m.end():]


def owner_of(rules: list[Rule], path: str) -> Rule | None:
    """The rule that decides `path`'s owners under GitHub's reading: the last one whose pattern
    matches it. For a GitLab file, where each section decides, use `deciding_rules`/`owners_of`."""
    for rule in reversed(rules):
        if rule.regex.fullmatch(path):
            return rule
    return None


_Group = tuple[list[Rule], bool]


def _groups(rules: list[Rule]) -> list[_Group]:
    """The rules in the groups that each decide on their own, each last to first, and whether the
    group has an exclusion: one group for a GitHub file, one per section for a GitLab file."""
    by: dict[str | None, list[Rule]] = {}
    for r in rules:
        by.setdefault(r.section, []).append(r)
    return [(list(reversed(g)), any(r.exclusion for r in g)) for g in by.values()]


def _decide(groups: list[_Group], path: str) -> list[Rule]:
    out = []
    for group, has_exclusion in groups:
        hit = None
        for r in group:
            if r.regex.fullmatch(path):
                if r.exclusion:  # an exclusion anywhere in the section takes the path out of it
                    hit = None
                    break
                hit = hit or r
                if not has_exclusion:
                    break
        if hit is not None:
            out.append(hit)
    return out


def deciding_rules(rules: list[Rule], path: str) -> list[Rule]:
    """The rule that decides `path` in each section (GitHub: at most one, the last match)."""
    return _decide(_groups(rules), path)


def owners_of(rules: list[Rule], path: str) -> tuple[str, ...]:
    """Every owner that applies to `path`: GitHub, the last matching rule's; GitLab, the union over
    sections of each section's last matching entry's (default owners included), in order, once each."""
    out: list[str] = []
    for r in deciding_rules(rules, path):
        out += [o for o in r.owners if o not in out]
    return tuple(out)


def coverage(rules: list[Rule], files: list[str]) -> tuple[int, list[str]]:
    """How many files have at least one owner (GitLab: in any section), and (sorted) the ones that
    have none.

    Most rules are anchored paths (`/src/api/`), which can only match under their first folder, so
    each file is tried only against the rules for its first folder and the rules that can match
    anywhere, still last to first: a long CODEOWNERS costs a few regex calls per file, not hundreds.
    """
    by_first: dict[str, list[_Group]] = {}

    def candidates(top: str) -> list[_Group]:
        if top not in by_first:
            by_first[top] = _groups([r for r in rules if r.first is None or r.first == top])
        return by_first[top]

    owned, unowned = 0, []
    for f in files:
        if any(r.owners for r in _decide(candidates(f.split("/", 1)[0]), f)):
            owned += 1
        else:
            unowned.append(f)
    return owned, unowned
