"""Right to erasure: remove one person's clear identity and free text from a store, keep every metric.

Metrics read pseudonymous actor ids (salted hashes, computed at ingest), times, sizes, states and
attributions; none reads a name, an email, a title or a message. So forgetting a person replaces
their names and emails by FORGOTTEN wherever they appear (actors, commit identities, commit
messages and trailers, which name co-authors), and clears the titles of the items they authored.
Agent trailers in their commits stay (`Co-authored-by: Claude <noreply@anthropic.com>` is not
the person): the attribution evidence is kept as it was judged.

DuckDB leaves the old values in the file's freed blocks, and the restore point (a copy taken
before the last ingest) holds them in clear; so the store is rewritten compactly afterwards
(`rewrite_without_old_blocks`) and an existing restore point is replaced by a copy of the result.

What it cannot reach: a later full re-read of a git history (after a force-push rewrote it)
stores the commits as git has them again; run `store forget` again after such an ingest.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .db import Store, restore_path, transaction
from .git_load import git_actor_id

FORGOTTEN = "[forgotten]"


@dataclass(frozen=True)
class Forgotten:
    actors: int  # actor rows whose name / email were cleared
    commits: int  # commits whose identity or text changed
    items: int  # item titles cleared


def forget_person(store: Store, person: str) -> Forgotten:
    """Forget the person with this email or login (case-insensitive); one transaction."""
    who = person.strip().lower()
    if not who:
        raise ConfigError("--person: give an email or a login")
    con = store.con
    salt = store.meta("salt") or ""
    ids = {r[0] for r in con.execute(
        "select actor_id from actors where lower(email) = ? or lower(name) = ?", [who, who]).fetchall()}
    if "@" in who:
        aid = git_actor_id(salt, "", who)
        if con.execute("select count(*) from actors where actor_id = ?", [aid]).fetchone()[0]:
            ids.add(aid)
    names = {r[0] for r in con.execute(
        "select distinct name from actors where actor_id in (select unnest(?)) and name is not null", [sorted(ids)]
    ).fetchall()} | {r[0] for r in con.execute(
        "select distinct author_name from commits where lower(author_email) = ? union "
        "select distinct committer_name from commits where lower(committer_email) = ?", [who, who]).fetchall()}
    # Short names ("Al") would blank unrelated words in messages; they still go from the identity columns.
    needles = sorted({who, *(n for n in names if n and len(n.strip()) >= 4)}, key=len, reverse=True)
    if not ids and not names:
        raise ConfigError(f"--person: nobody with the email or login {person!r} in this store")

    def scrub(col: str) -> str:
        expr = col
        for n in needles:
            expr = f"regexp_replace({expr}, '{_re_quote(n)}', '{FORGOTTEN}', 'gi')"
        return expr

    id_list = sorted(ids)
    with transaction(con):
        actors = con.execute(
            "update actors set name = ?, email = null where actor_id in (select unnest(?))", [FORGOTTEN, id_list]
        ).fetchone()[0]
        hit = ("lower(author_email) = $who or lower(committer_email) = $who or author_id in (select unnest($ids)) "
               "or committer_id in (select unnest($ids)) or " + " or ".join(
                   f"contains(lower(coalesce(message, '')), '{_sql_str(n.lower())}')" for n in needles))
        commits = con.execute(f"""
            update commits set
              author_name = case when author_id in (select unnest($ids)) or lower(author_email) = $who
                                 then '{FORGOTTEN}' else author_name end,
              author_email = case when author_id in (select unnest($ids)) or lower(author_email) = $who
                                  then '{FORGOTTEN}' else author_email end,
              committer_name = case when committer_id in (select unnest($ids)) or lower(committer_email) = $who
                                    then '{FORGOTTEN}' else committer_name end,
              committer_email = case when committer_id in (select unnest($ids)) or lower(committer_email) = $who
                                     then '{FORGOTTEN}' else committer_email end,
              subject = {scrub('subject')},
              message = {scrub('message')},
              trailers = list_transform(trailers, t -> struct_pack(key := t.key, value := {scrub('t.value')}))
            where {hit}""", {"who": who, "ids": id_list}).fetchone()[0]
        items = con.execute(
            "update items set title = null where author_id in (select unnest(?)) and title is not null", [id_list]
        ).fetchone()[0]
        # The next ingest derives every change again (not only new ones), as it did before changes
        # were derived incrementally: what it makes of the scrubbed commits is what a new store would.
        con.execute("delete from meta where starts_with(key, 'derived:')")
    return Forgotten(actors=actors, commits=commits, items=items)


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _re_quote(s: str) -> str:
    import re

    return _sql_str(re.escape(s))


def rewrite_without_old_blocks(store: Store) -> None:
    """Rewrite the store file with only its live rows (DuckDB's COPY FROM DATABASE into a new file,
    renamed over the old one while this process still holds it), then replace an existing restore
    point by a copy of the result. The store is closed afterwards. Freed blocks are never zeroed by
    DuckDB, so without this a forgotten email stays readable with `strings`."""
    if store.path is None:
        return
    path = Path(store.path)
    tmp = path.with_name(path.name + ".forget.tmp")
    tmp.unlink(missing_ok=True)
    con = store.con
    con.execute("checkpoint")  # an empty write-ahead log: nothing of the old file is replayed later
    db = con.execute("select current_database()").fetchone()[0]
    umask = os.umask(0o077)  # the new file is private like the store (0600)
    try:
        con.execute(f"attach '{_sql_str(str(tmp))}' as forget_fresh")
        try:
            con.execute(f'copy from database "{db.replace(chr(34), chr(34) * 2)}" to forget_fresh')
        finally:
            con.execute("detach forget_fresh")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.umask(umask)
    _sync_and_replace(tmp, path)
    store.close()
    rp = restore_path(path)
    if rp.exists():
        copy = rp.with_name(rp.name + ".tmp")
        shutil.copyfile(path, copy)
        os.chmod(copy, 0o600)
        _sync_and_replace(copy, rp)


def _sync_and_replace(src: Path, dst: Path) -> None:
    with src.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(src, dst)
