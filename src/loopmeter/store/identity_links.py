"""Which stored identities are one person: the links an ingest records, and the rules behind them.

One person often writes under several addresses: their own e-mail in commits, and a GitHub noreply
address in the `Co-authored-by` trailers a coding agent adds for the person who assigned it a task
(dotnet/aspire: `davidfowl <95136+davidfowl@users.noreply.github.com>`). Actor ids are the salted
hash of an address (git_load.py `git_actor_id`), so each address is an actor of its own. A link
says two ids are one person; the clusters of every interval (metrics/people.py) follow them.

A link needs evidence that names the account, never a name alone (two people can share one):

- `noreply`: GitHub issues `ID+LOGIN@users.noreply.github.com` (and, to accounts made before July
  2017, `LOGIN@users.noreply.github.com`) to the account LOGIN only; every such address of one
  login, and the account as the GitHub source keys it (api_load.py `login_actor_id`), are one person.
  Logins are compared case-insensitively, as GitHub does.
- `mailmap`: the repository's own `.mailmap` (or `mailmap.file` / `mailmap.blob`), through `git
  check-mailmap`, maps a co-author's address to another. git already maps authors and committers
  as it prints them (`%aN <%aE>`, sources/git.py), trailers it prints as written; and a commit
  stored before the .mailmap had its entry keeps the address it was read with, so stored authors
  and committers are checked as well.

Only people are linked: an identity that is an agent or bot account, or that any signature names
(an AI tool's own address), is not (`is_person`), on either side of a link. The links hold ids
only (no address), as every other input of the metrics, and are rebuilt for a repository whenever
an ingest brings it new commits (an idle re-run costs nothing here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ..attribution import Matcher, trailer_address
from ..sources import git as gitsrc
from .api_load import login_actor_id
from .forget import FORGOTTEN
from .db import transaction
from .git_load import classify_identity, git_actor_id

__all__ = ["EVIDENCE", "identity_links", "is_person", "link_identities", "links_of_commits", "store_links_of_new"]

EVIDENCE = ("noreply", "mailmap")
_NOREPLY = re.compile(r"^(?:(?P<id>\d+)\+)?(?P<login>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)@users\.noreply\.github\.com$", re.I)
# `git check-mailmap` takes contacts as arguments: a few hundred a call keeps far below any limit.
_BATCH = 200


def noreply_login(email: str) -> str | None:
    """The GitHub login a noreply address names ("95136+davidfowl@users.noreply.github.com" ->
    "davidfowl"), or None for any other address."""
    m = _NOREPLY.match(email.strip())
    return m["login"] if m else None


def is_person(matcher: Matcher, name: str, email: str) -> bool:
    """A human identity that no signature names: not an agent or bot account, nor an AI tool's own
    identity that still counts as a person's actor (the Copilot review account `175728472+Copilot`,
    whose commits a person made by accepting its suggestion)."""
    if classify_identity(matcher, name, email)[0] != "human":
        return False
    return not matcher.match_commit(author_name=name, author_email=email, committer_name="", committer_email="",
                                    message="")


def identity_links(salt: str, matcher: Matcher, people: Iterable[tuple[str, str]],
                   mapped: dict[tuple[str, str], tuple[str, str]] | None = None) -> list[tuple[str, str, str]]:
    """(alias id, person id, evidence) for identities `people` (name, email) as stored or as a
    trailer wrote them; `mapped`: identity -> what the repository's mailmap makes of it."""
    out: set[tuple[str, str, str]] = set()
    people = set(people)
    # A login names one account at a time, but a renamed account's login can be taken by another:
    # where one login comes with two account ids here, each id is a person of its own and the
    # login alone (its address without an id, its API account) links to neither.
    ids: dict[str, set[str]] = {}
    for _, email in people:
        m = _NOREPLY.match(email.strip())
        if m and m["id"]:
            ids.setdefault(m["login"].lower(), set()).add(m["id"])
    for name, email in people:
        if not is_person(matcher, name, email):
            continue
        aid = git_actor_id(salt, name, email)
        m = _NOREPLY.match(email.strip())
        login = m["login"] if m else None
        if login is not None and len(ids.get(login.lower(), ())) > 1:
            if m["id"]:
                out.add((aid, login_actor_id(salt, f"id:{m['id']}", "github"), "noreply"))
        elif login is not None:
            account = login_actor_id(salt, login.lower(), "github")
            out.add((aid, account, "noreply"))
            if login != login.lower():  # the account as GitHub spells it, where the API source keys it
                out.add((login_actor_id(salt, login, "github"), account, "noreply"))
        to = (mapped or {}).get((name, email))
        # An entry that maps to no address, or to an agent's, says nothing about who this person is.
        if (to is not None and to[1].strip() and to[1].strip().lower() != email.strip().lower()
                and is_person(matcher, *to)):
            out.add((aid, git_actor_id(salt, *to), "mailmap"))
    return sorted(out)


def link_identities(con, path: str | Path, repo: str, matcher: Matcher, salt: str) -> int:
    """Rebuild the identity links of one repository (its clone at `path`) from its stored commits:
    authors, committers and co-authors. Returns how many links it holds. Runs inside the caller's
    transaction (an ingest's, or the migration's)."""
    people = con.execute(
        "select author_name, author_email from commits where repo = ? "
        "union select committer_name, committer_email from commits where repo = ?", [repo, repo]).fetchall()
    values = con.execute(
        """
        select distinct t['value'] from (select unnest(trailers) as t from commits where repo = ? and len(trailers) > 0)
        where lower(t['key']) = 'co-authored-by'
        """, [repo]).fetchall()
    mailmap = con.execute("select exists (select 1 from commit_files where repo = ? and path = '.mailmap')",
                          [repo]).fetchone()[0]
    links = _links(path, matcher, salt, people, [v for (v,) in values], mailmap=bool(mailmap))
    # A forgotten person's addresses are gone from the commits (store/forget.py), so their links
    # cannot be read again: they are kept as they were, as forget keeps every metric.
    kept = set(con.execute(
        "select alias_id, person_id, evidence from identity_links where repo = ? and alias_id in "
        "(select actor_id from actors where name = ?)", [repo, FORGOTTEN]).fetchall())
    con.execute("delete from identity_links where repo = ?", [repo])
    rows = sorted(kept | set(links))
    if rows:
        con.executemany("insert into identity_links values (?, ?, ?, ?)", [(repo, *row) for row in rows])
    return len(rows)


def links_of_commits(path: str | Path, batch, files, matcher: Matcher, salt: str) -> list[tuple[str, str, str]]:
    """The links of a repository new to the store, from its commits' rows as `commit_tables` made
    them (`batch`: every commit it has; `files`: their files): what `link_identities` reads back
    from the store, made by the reader beside the writer (three statements a repository were ~10 ms
    of the writer's time each, a quarter of a set of small repositories' ingest)."""
    cols = batch.select(["author_name", "author_email", "committer_name", "committer_email", "trailers"]).to_pydict()
    people = set(zip(cols["author_name"], cols["author_email"])) | set(zip(cols["committer_name"],
                                                                           cols["committer_email"]))
    values = {t["value"] for ts in cols["trailers"] if ts for t in ts if (t["key"] or "").lower() == "co-authored-by"}
    import pyarrow.compute as pc

    mailmap = bool(pc.any(pc.equal(files["path"], ".mailmap")).as_py())
    return _links(path, matcher, salt, people, values, mailmap=mailmap)


def store_links_of_new(store, repo: str, links: list[tuple[str, str, str]]) -> None:
    """Store the links `links_of_commits` made for `repo`, new to the store (no link of it is kept:
    none of its addresses was ever forgotten). In a held group they wait for its end, and all the
    group's repositories are written with two statements."""
    if not store.defer("identity_links", (repo, links), _store_links):
        _store_links(store, [(repo, links)])  # one transaction of its own


def _store_links(store, items: list[tuple[str, list[tuple[str, str, str]]]]) -> None:
    import pyarrow as pa

    rows = [(repo, *row) for repo, links in items for row in sorted(set(links))]
    t = pa.table({k: [r[i] for r in rows] for i, k in enumerate(("repo", "alias_id", "person_id", "evidence"))},
                 schema=pa.schema([(k, pa.string()) for k in ("repo", "alias_id", "person_id", "evidence")]))
    with transaction(store.con, _links=t, _repos=pa.table({"repo": [repo for repo, _ in items]})) as con:
        con.execute("delete from identity_links where repo in (select repo from _repos)")
        con.execute("insert into identity_links select * from _links")


def _links(path, matcher: Matcher, salt: str, people, trailer_values, *, mailmap: bool) -> list[tuple[str, str, str]]:
    """The links of a repository's `people` (author and committer identities) and co-authors (the
    values of its Co-authored-by trailers). Where its history holds a .mailmap (`mailmap`) the
    people are asked of it too, even when they were just read through it: git maps an address once
    as it prints a commit, but a commit read before the .mailmap named its address keeps the
    address it was read with, and a chained entry (old -> new, new -> proper) maps the printed
    address again. The same rows then come out of a new repository's reader as out of a rebuild
    from the store; a repository without one pays no `git check-mailmap` for its people (most
    repositories of a set: one more git process each)."""
    coauthors = {who for v in trailer_values if v and (who := trailer_address(v)) is not None}
    stored = {(n or "", e or "") for n, e in people}
    humans = sorted(c for c in (coauthors | stored if mailmap else coauthors) if is_person(matcher, *c))
    mapped = check_mailmap(Path(path), humans) if humans and path else {}
    return identity_links(salt, matcher, sorted(stored) + list(coauthors), mapped)


_CONTACT = re.compile(r"^(?P<name>.*?)\s*<(?P<email>[^<>]*)>$")


def check_mailmap(path: Path, people: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """What the mailmap of the repository at `path` makes of each (name, email), by `git
    check-mailmap`; identities it would misread (a line break or an angle bracket in them) are left
    as they are, and so is everything when git cannot answer (no such clone any more, a broken
    mailmap): no link is better than a wrong one."""
    ok = [(n, e) for n, e in people if not re.search(r"[<>\n\r\x00]", n + e)]
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for i in range(0, len(ok), _BATCH):
        part = ok[i:i + _BATCH]
        try:
            proc = gitsrc.git(path, "check-mailmap", *[f"{n} <{e}>" if n.strip() else f"<{e}>" for n, e in part],
                              check=False)
        except OSError:
            return out
        lines = proc.stdout.decode("utf-8", "replace").splitlines()
        if proc.returncode != 0 or len(lines) != len(part):
            return out
        for who, line in zip(part, lines):
            m = _CONTACT.match(line)
            if m:
                out[who] = (m["name"], m["email"])
    return out
