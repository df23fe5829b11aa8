"""CODEOWNERS: which tracked files have an owner.

The file format is GitHub's (GitLab's is a superset): one rule a line, `pattern owner...`, `#`
comments, and the **last** matching rule wins. A rule with no owners leaves its files unowned.
Patterns follow .gitignore rules with GitHub's documented exceptions:

* a pattern with a `/` at the start or in the middle is anchored at the repository root; one
  without (`*.js`, `apps/`) matches at any depth;
* a pattern that matches a directory owns everything beneath it (`/build/logs/`, `apps/`,
  `docs`), but `docs/*` owns only the files directly in `docs/` (GitHub's own example);
* `*` and `?` do not cross `/`; `**` does (`**/logs`, `docs/**`, `a/**/b`);
* a trailing `/` matches directories only;
* `!` negation and `[ ]` ranges are not supported by GitHub: such characters match literally;
* `\\#` escapes a leading `#`; `\\ ` an embedded space.

We hand-write the matcher instead of using `pathspec`: pathspec implements .gitignore, which differs
from CODEOWNERS on `docs/*` and on negation, and is not a dependency of loopmeter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Where GitHub and GitLab look, in their order of precedence (the first found is used).
LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")


@dataclass(frozen=True)
class Rule:
    line: int
    pattern: str
    owners: tuple[str, ...]
    regex: re.Pattern[str]
    #: The literal first folder an anchored rule can only match under (None: it can match anywhere).
    first: str | None = None


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
    return Rule(line=line, pattern=pattern, owners=owners, regex=re.compile(regex, re.S), first=first)


def parse(text: str) -> list[Rule]:
    rules = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("[", "^[")):  # a GitLab section header, not a rule
            continue
        tokens = _split(line)
        if not tokens:
            continue
        rules.append(compile_rule(tokens[0], tuple(tokens[1:]), n))
    return rules


def owner_of(rules: list[Rule], path: str) -> Rule | None:
    """The rule that decides `path`'s owners: the last one whose pattern matches it."""
    for rule in reversed(rules):
        if rule.regex.fullmatch(path):
            return rule
    return None


def coverage(rules: list[Rule], files: list[str]) -> tuple[int, list[str]]:
    """How many files have at least one owner, and (sorted) the ones that have none.

    Most rules are anchored paths (`/src/api/`), which can only match under their first folder, so
    each file is tried only against the rules for its first folder and the rules that can match
    anywhere, still last to first: a long CODEOWNERS costs a few regex calls per file, not hundreds.
    """
    by_first: dict[str | None, list[Rule]] = {}

    def candidates(top: str) -> list[Rule]:
        if top not in by_first:
            by_first[top] = [r for r in rules if r.first is None or r.first == top]
        return by_first[top]

    owned, unowned = 0, []
    for f in files:
        r = owner_of(candidates(f.split("/", 1)[0]), f)
        if r is not None and r.owners:
            owned += 1
        else:
            unowned.append(f)
    return owned, unowned
