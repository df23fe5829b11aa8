"""Teams: which people belong to which team, from `[[team]]` tables in loopmeter.toml.

```toml
[[team]]
name = "payments"
members = ["alice@example.com", "github:alice", "bob@example.com"]
```

A member is a git email (matched case-insensitively, as git identities are keyed) or an account
`SOURCE:LOGIN`, SOURCE being `github`, `gitlab`, `jira` or the host name of a self-hosted server
(the `where` the API source keys its accounts on). People are pseudonymous in the store, so a
member is resolved to an actor id through the same salted hashing the store used when it wrote
the actor (store/git_load.py `git_actor_id`, store/api_load.py `login_actor_id`): the mapping is
applied when an analysis runs and nothing about it is stored. A `github:LOGIN` member also claims
the git identities of that account's noreply addresses (`LOGIN@users.noreply.github.com`,
`ID+LOGIN@users.noreply.github.com`), which web-UI merges and squashes are committed as.

A member is a person, not one address: every actor id the store links to a member's ids
(store/identity_links.py: a login's noreply addresses, the repository's .mailmap) is the team's
too, so a member named by their work e-mail brings the noreply address an agent's
`Co-authored-by` trailer credits them under. Two members of different teams who are one linked
person are an error, as two members naming one address are.

Authors in no team belong to the team `unassigned`, which is reported like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError

UNASSIGNED = "unassigned"
_KEYS = {"name", "members"}
# The source ends at the first colon; the account may hold more (Jira Cloud ids: "557058:f0e1...").
_LOGIN = re.compile(r"^(?P<source>[A-Za-z0-9][A-Za-z0-9.\-]*):(?P<login>[^\s:@]\S*)$")
_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+$")


@dataclass(frozen=True)
class Member:
    text: str  # as written in loopmeter.toml
    email: str | None  # lower-cased
    source: str | None  # github, gitlab, jira, a host
    login: str | None
    team: str
    field: str  # "team[0].members[2]"
    line: int | None  # 1-based line of loopmeter.toml, when it can be found

    @property
    def key(self) -> str:
        """Two members with the same key are the same person (logins compared case-insensitively,
        as GitHub and GitLab treat them)."""
        return self.email if self.email else f"{self.source}:{(self.login or '').lower()}"


@dataclass(frozen=True)
class Team:
    name: str
    members: tuple[Member, ...]


def parse_teams(raw: object, text: str, path: Path) -> list[Team]:
    """Validate the `team` key of loopmeter.toml; every problem is one ConfigError naming the line
    (when found) and the field."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(f"{path}: team must be a list of tables ([[team]] with name and members)")
    lines = _Lines(text)
    teams: list[Team] = []
    seen_names: dict[str, int] = {}
    seen_people: dict[str, Member] = {}
    for i, t in enumerate(raw):
        where = lines.block(i)
        extra = sorted(set(t) - _KEYS)
        if extra:
            raise ConfigError(f"{_at(path, lines.find(i, extra[0]) or where)}: team[{i}] has an unknown key "
                              f"{extra[0]!r} (a team has name and members)")
        name = t.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{_at(path, lines.find(i, 'name') or where)}: team[{i}].name must be a non-empty string")
        name = name.strip()
        if name == UNASSIGNED:
            raise ConfigError(f"{_at(path, lines.find(i, 'name') or where)}: team[{i}].name {name!r} is reserved for "
                              "authors in no team")
        if name in seen_names:
            raise ConfigError(f"{_at(path, lines.find(i, 'name') or where)}: team[{i}].name {name!r} is already the "
                              f"name of team[{seen_names[name]}]")
        seen_names[name] = i
        members = t.get("members")
        if not isinstance(members, list) or not members:
            raise ConfigError(f"{_at(path, lines.find(i, 'members') or where)}: team[{i}].members must be a non-empty "
                              "list of emails or SOURCE:LOGIN accounts")
        out = []
        for j, m in enumerate(members):
            field = f"team[{i}].members[{j}]"
            line = lines.find(i, m) if isinstance(m, str) else None
            member = _member(m, name, field, line or lines.find(i, "members") or where, path)
            if member.key in seen_people:
                other = seen_people[member.key]
                raise ConfigError(f"{_at(path, member.line)}: {field} {member.text!r} is already a member of team "
                                  f"{other.team!r} ({other.field}); a person belongs to one team")
            seen_people[member.key] = member
            out.append(member)
        teams.append(Team(name, tuple(out)))
    return teams


def _member(m: object, team: str, field: str, line: int | None, path: Path) -> Member:
    if not isinstance(m, str) or not m.strip():
        raise ConfigError(f"{_at(path, line)}: {field} must be an email or SOURCE:LOGIN, not {m!r}")
    s = m.strip()
    if _EMAIL.match(s) and ":" not in s:
        return Member(s, s.lower(), None, None, team, field, line)
    login = _LOGIN.match(s)
    if login:
        return Member(s, None, login["source"].lower(), login["login"], team, field, line)
    raise ConfigError(f"{_at(path, line)}: {field} {s!r} is neither an email nor SOURCE:LOGIN (github:alice)")


def resolve(con, teams: list[Team], path: Path | None) -> tuple[dict[str, str], list[str]]:
    """(actor_id -> team name for every stored actor a member names, the members that name nobody).

    `con` is the store's DuckDB connection. One loopmeter.toml often serves a whole organisation
    while a store holds a few of its repositories, so a member who is nobody *in this store* is
    reported by position (file, line and field, never the address itself), not refused; when no
    member at all names anyone, the file and the store do not belong together, a ConfigError.

    A member claims every id the store links to an id it names (metrics/people.py `person_of`, read
    from `identity_links` of the store or of an export). Two members of different teams that turn
    out to be one stored identity, or one linked person, are a ConfigError naming the member's line
    and both teams."""
    from .metrics.people import person_of  # here: reading loopmeter.toml should not load Ibis

    salt_row = con.execute("select value from meta where key = 'salt'").fetchone()
    # A Parquet export holds no salt (export/parquet.py): a member's address cannot be hashed there,
    # only compared with the addresses an export written with names holds.
    salt = None if salt_row is None else salt_row[0] or ""
    actors = con.execute("select actor_id, name, email from actors").fetchall()
    stored = {a for a, _, _ in actors}
    # The Jira REST source keys accounts on its site's host (sources/jira.py), which a `jira:`
    # member does not name: every Jira site this store was read from is tried.
    sites = con.execute("select value from meta where starts_with(key, 'jira_site:')").fetchall()
    jira_hosts = sorted({h for (v,) in sites if v and (h := urlsplit("//" + v).hostname)})
    rep = person_of(con)
    ids_of: dict[str, list[str]] = {}
    for a, r in rep.items():
        ids_of.setdefault(r, []).append(a)
    out: dict[str, str] = {}
    claimed: dict[str, tuple[Member, bool]] = {}  # id -> the member claiming it, and whether through a link
    unmatched: list[tuple[Member, str]] = []
    p = path or Path("loopmeter.toml")
    for team in teams:
        for m in team.members:
            found = _actor_ids(m, salt, stored, actors, jira_hosts)
            if not found:
                how = ("as a git email" if m.email else
                       f"as an account on {m.source} (or a noreply address of it)" if m.source == "github" else
                       f"as an account on {m.source}")
                unmatched.append((m, how))
                continue
            linked = {a for aid in found if aid in rep for a in ids_of[rep[aid]]} - set(found)
            for aid in [*found, *sorted(linked)]:
                by_link = aid in linked
                other, other_by_link = claimed.get(aid, (None, False))
                if other is not None and other.team != team.name:
                    how = " (the store links their identities)" if by_link or other_by_link else ""
                    raise ConfigError(f"{_at(p, m.line)}: {m.field} {m.text!r} of team {team.name!r} is the same person "
                                      f"as {other.text!r} of team {other.team!r} ({other.field}){how}; a person "
                                      "belongs to one team")
                if other is None or not by_link:
                    claimed[aid] = (m, by_link)
                out[aid] = team.name
    if unmatched and not out:
        if salt is None:
            raise ConfigError(f"{p}: no member of any team is anyone in this Parquet export: members are found by "
                              "their addresses, which an export holds only when written with `loopmeter export "
                              "--show-names` (never the pseudonym salt); export with names, or report from the store")
        m, how = unmatched[0]
        raise ConfigError(f"{_at(p, m.line)}: no member of any team matches a person in the store, e.g. {m.field} "
                          f"{m.text!r} of team {m.team!r} ({how}); is this the store these teams work in?")
    return out, [f"{_at(p, m.line)} ({m.field}, team {m.team!r})" for m, _ in unmatched]


def _actor_ids(m: Member, salt: str | None, stored: set[str], actors: list[tuple], jira_hosts: list[str] = ()) -> list[str]:
    # Imported here: reading loopmeter.toml should not load the store's writers (pyarrow).
    from .store.api_load import login_actor_id
    from .store.git_load import git_actor_id

    if salt is None:  # an export: its addresses, when it has them; an account by its noreply addresses
        if m.email:
            return sorted({a for a, _, email in actors if email and email.lower() == m.email})
        return _noreply_ids(m, actors, []) if m.source == "github" else []
    if m.email:
        aid = git_actor_id(salt, "", m.email)
        return [aid] if aid in stored else []
    login, source = m.login or "", m.source or ""
    # API sources key accounts on the login as the server spells it; Jira and agent-session
    # readers go through the git identity hash of `login:ACCOUNT@SOURCE` (lower-cased).
    candidates = {login_actor_id(salt, login, source), git_actor_id(salt, "", f"login:{login}@{source}")}
    if source == "jira":
        candidates |= {login_actor_id(salt, login, host) for host in jira_hosts}
    found = [a for a in candidates if a in stored]
    if not found:
        # The login typed in another case than the server's: the stored account's own name,
        # checked against the hash, so only an account of that source can match.
        found = [a for a, name, _ in actors
                 if name and name.lower() == login.lower() and a == login_actor_id(salt, name, source)]
    if source == "github":
        found = _noreply_ids(m, actors, found)
    return sorted(set(found))


def _noreply_ids(m: Member, actors: list[tuple], found: list[str]) -> list[str]:
    """`found` and the stored identities of GitHub account `m`'s noreply addresses."""
    from .store.identity_links import noreply_login  # the one reading of a noreply address

    login = (m.login or "").lower()
    return sorted(set(found) | {a for a, _, email in actors if email and (noreply_login(email) or "").lower() == login})


def _at(path: Path, line: int | None) -> str:
    return f"{path} line {line}" if line else str(path)


class _Lines:
    """Where things are in loopmeter.toml: tomllib keeps no positions, and an error that names
    the line is what a person fixing the file needs. Finds the i-th `[[team]]` header and, inside
    its block, the first line holding a quoted string or a key."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.headers = [n for n, s in enumerate(self.lines) if re.match(r"^\s*\[\[\s*team\s*\]\]", s)]

    def block(self, i: int) -> int | None:
        return self.headers[i] + 1 if i < len(self.headers) else None

    def _span(self, i: int) -> range:
        if i >= len(self.headers):
            return range(0)
        start = self.headers[i] + 1
        end = start
        while end < len(self.lines) and not re.match(r"^\s*\[", self.lines[end]):
            end += 1
        return range(start, end)

    def find(self, i: int, what: str) -> int | None:
        quoted = (f'"{what}"', f"'{what}'")
        key = re.compile(rf"^\s*{re.escape(what)}\s*=")
        for n in self._span(i):
            s = self.lines[n]
            if any(q in s for q in quoted) or key.match(s):
                return n + 1
        return None
