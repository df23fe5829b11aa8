"""Writing what the git source yields into the store: idempotent, one transaction per batch."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from ..attribution import Matcher, parse_trailers
from ..model import Commit, Tag
from ..sources.git import RepoInfo
from .db import Store, transaction, utcnow

if TYPE_CHECKING:
    import pyarrow as pa


def commit_item_id(repo: str, sha: str) -> str:
    return f"git:{repo}:commit:{sha}"


def change_item_id(repo: str, sha: str) -> str:
    return f"git:{repo}:change:{sha}"


def classify_identity(matcher: Matcher, name: str, email: str) -> tuple[str, str | None]:
    """The kind of the actor behind an email: only the email (or the GitHub login in it) may make it
    an agent, since one "Paul (aider)" commit must not turn every commit of Paul's address into AI
    work (that commit still carries its own evidence). A name may still mark a bot ("ci[bot]")."""
    if not email.strip():
        return matcher.classify_actor(name, email)
    kind, agent = matcher.classify_actor("", email)
    if kind == "human" and matcher.classify_actor(name, "")[0] == "bot":
        return "bot", None
    return kind, agent


# The schemas are built on first use, not at import: an idle `ingest` re-run writes no rows and
# should not pay for loading pyarrow.
@cache
def attr_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("item_id", pa.string()), ("agent", pa.string()), ("evidence", pa.string()),
                      ("signal", pa.string()), ("confidence", pa.float64()), ("evidence_class", pa.string())])


def _add_evidence(rows: dict[str, list], matcher: Matcher, item_id: str, *, author_name: str, author_email: str,
                  committer_name: str, committer_email: str, message: str) -> bool:
    """Append one commit's AI evidence to attribution columns; True when there was any."""
    found = matcher.match_commit(author_name=author_name, author_email=author_email, committer_name=committer_name,
                                 committer_email=committer_email, message=message)
    for ev in found:
        rows["item_id"].append(item_id)
        rows["agent"].append(ev.agent)
        rows["evidence"].append(ev.evidence)
        rows["signal"].append(ev.signal)
        rows["confidence"].append(ev.confidence)
        rows["evidence_class"].append(ev.evidence_class)
    return bool(found)


def git_actor_id(salt: str | bytes, name: str, email: str) -> str:
    """The pseudonymous actor id of a git identity: the salted hash of its lower-cased email (of
    its name when it has no email). Team membership (teams.py) resolves emails through this."""
    s = salt.encode() if isinstance(salt, str) else salt
    ident = email.strip().lower() or f"name:{name.strip()}"
    return "a" + hashlib.sha256(s + ident.encode("utf-8", "replace")).hexdigest()[:15]


class Identities:
    """Maps a git name/email to a stable pseudonymous actor id (salted per store) and its kind."""

    def __init__(self, salt: str, matcher: Matcher):
        self.salt = salt.encode()
        self.matcher = matcher
        self._cache: dict[tuple[str, str], str] = {}
        self.new_rows: list[tuple[str, str, str, str, str | None]] = []

    def actor_id(self, name: str, email: str) -> str:
        key = (name, email)
        aid = self._cache.get(key)
        if aid is None:
            aid = git_actor_id(self.salt, name, email)
            kind, agent = classify_identity(self.matcher, name, email)
            self._cache[key] = aid
            self.new_rows.append((aid, kind, name, email, agent))
        return aid

    def take_new(self) -> list[tuple[str, str, str, str, str | None]]:
        rows, self.new_rows = self.new_rows, []
        return rows


@cache
def _commit_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        ("repo", pa.string()), ("sha", pa.string()), ("parents", pa.list_(pa.string())),
        ("author_id", pa.string()), ("author_time", pa.timestamp("us")), ("author_tz", pa.int16()),
        ("committer_id", pa.string()), ("committer_time", pa.timestamp("us")), ("committer_tz", pa.int16()),
        ("author_name", pa.string()), ("author_email", pa.string()),
        ("committer_name", pa.string()), ("committer_email", pa.string()),
        ("subject", pa.string()), ("message", pa.string()),
        ("trailers", pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))),
        ("files", pa.int32()), ("added", pa.int64()), ("deleted", pa.int64()), ("unknown_files", pa.int32()),
    ])


@cache
def _file_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        ("repo", pa.string()), ("sha", pa.string()), ("path", pa.string()), ("old_path", pa.string()),
        ("added", pa.int64()), ("deleted", pa.int64()), ("is_binary", pa.bool_()), ("missing_blob", pa.bool_()),
    ])


def commit_tables(repo: str, commits: Sequence[Commit], ids: Identities, matcher: Matcher) -> dict[str, pa.Table]:
    """The rows a batch of commits adds (commits, files, AI evidence, new actors) as Arrow tables.

    Pure (no store): a reader process builds them while the writer stores the batch before.
    Built a column at a time (one comprehension per column, not twenty appends per commit)."""
    import pyarrow as pa

    n = len(commits)
    files_of = [c.files for c in commits]
    nfiles = [len(fs) for fs in files_of]
    flat = [f for fs in files_of for f in fs]
    fcols = {
        "repo": [repo] * len(flat),
        "sha": [c.sha for c, k in zip(commits, nfiles) for _ in range(k)],
        "path": [f.path for f in flat], "old_path": [f.old_path for f in flat],
        "added": [f.added for f in flat], "deleted": [f.deleted for f in flat],
        "is_binary": [f.binary for f in flat], "missing_blob": [f.missing_blob for f in flat],
    }
    added, deleted, unknown = [], [], []
    for fs in files_of:
        a = d = u = 0
        for f in fs:
            if f.added is None:
                u += 1
            else:
                a += f.added
                d += f.deleted or 0
        added.append(a)
        deleted.append(d)
        unknown.append(u)
    actor = ids.actor_id
    messages = [c.message for c in commits]
    cols = {
        "repo": [repo] * n, "sha": [c.sha for c in commits], "parents": [list(c.parents) for c in commits],
        "author_id": [actor(c.author.name, c.author.email) for c in commits],
        "author_time": [c.author_time for c in commits],
        "author_tz": [max(-32768, min(32767, c.author_tz_minutes)) for c in commits],
        "committer_id": [actor(c.committer.name, c.committer.email) for c in commits],
        "committer_time": [c.committer_time for c in commits],
        "committer_tz": [max(-32768, min(32767, c.committer_tz_minutes)) for c in commits],
        "author_name": [c.author.name for c in commits], "author_email": [c.author.email for c in commits],
        "committer_name": [c.committer.name for c in commits],
        "committer_email": [c.committer.email for c in commits],
        "subject": [m.split("\n", 1)[0].strip() for m in messages], "message": messages,
        "trailers": [[{"key": k, "value": v} for k, v in parse_trailers(m)] for m in messages],
        "files": nfiles, "added": added, "deleted": deleted, "unknown_files": unknown,
    }
    attr_rows: dict[str, list] = {f.name: [] for f in attr_schema()}
    for c in commits:
        _add_evidence(attr_rows, matcher, commit_item_id(repo, c.sha), author_name=c.author.name,
                      author_email=c.author.email, committer_name=c.committer.name,
                      committer_email=c.committer.email, message=c.message)
    batch = pa.table(cols, schema=_commit_schema())
    files = pa.table(fcols, schema=_file_schema())
    attrs = pa.table(attr_rows, schema=attr_schema())
    actor_rows = ids.take_new()
    actors = pa.table(
        {
            "actor_id": [r[0] for r in actor_rows], "kind": [r[1] for r in actor_rows],
            "name": [r[2] for r in actor_rows], "email": [r[3] for r in actor_rows],
            "team": [None] * len(actor_rows), "agent": [r[4] for r in actor_rows],
        },
        schema=pa.schema([("actor_id", pa.string()), ("kind", pa.string()), ("name", pa.string()),
                          ("email", pa.string()), ("team", pa.string()), ("agent", pa.string())]),
    )
    return {"_batch": batch, "_files": files, "_attrs": attrs, "_actors": actors}


def store_commit_tables(store: Store, repo: str, tables: dict[str, pa.Table], *, new_repo: bool = False) -> int:
    """Store what `commit_tables` made, in one transaction. Returns how many commits were new.
    `new_repo`: as `new_repos` in `store_commits_of_repos`."""
    return store_commits_of_repos(store, tables, new_repos=new_repo).get(repo, 0)


def store_commits_of_repos(store: Store, tables: dict[str, pa.Table], *, new_repos: bool = False) -> dict[str, int]:
    """Store the tables `commit_tables` made for one or several repositories (concatenated), with
    the same statements whatever their number. Returns the new commits per repository.

    `new_repos`: the store holds no row of these repositories (the caller knows: they were not in
    it when this ingest began), so every row is new and is appended without asking which."""
    if new_repos:
        with transaction(store.con, **tables) as con:
            con.execute("insert into commits select * from _batch")
            con.execute("insert into commit_files select * from _files")
            con.execute("insert into attributions by name select * from _attrs")
            con.execute("insert or ignore into actors select * from _actors")
        counts = tables["_batch"]["repo"].value_counts().to_pylist()
        return {c["values"]: c["counts"] for c in counts}
    with transaction(store.con, **tables) as con:
        # Only commits not already stored count as new; their files and evidence go in with them,
        # so a batch re-read after an interrupted ingest adds nothing twice.
        con.execute(
            "create or replace temp table _new as select b.repo, b.sha from _batch b "
            "anti join (select repo, sha from commits where repo in (select distinct repo from _batch)) c "
            "on b.repo = c.repo and b.sha = c.sha"
        )
        counts = dict(con.execute("select repo, count(*) from _new group by repo").fetchall())
        con.execute("insert into commits select b.* from _batch b semi join _new n on b.repo = n.repo and b.sha = n.sha")
        con.execute("insert into commit_files select f.* from _files f semi join _new n on f.repo = n.repo and f.sha = n.sha")
        con.execute(
            "insert into attributions by name select a.* from _attrs a "
            "semi join (select 'git:' || repo || ':commit:' || sha as item_id from _new) n on a.item_id = n.item_id"
        )
        con.execute("insert or ignore into actors select * from _actors")
    return counts


def register_repo(store: Store, info: RepoInfo, repo: str, pulls: dict[int, str], tags: list[Tag]) -> None:
    """Record the repository, its pull-request heads and its tags as they are now. In a held group
    (a set of small repositories) this waits for the group's end and is written for all of its
    repositories with one statement per table (`register_repos`)."""
    item = (info, repo, pulls, tags, utcnow())
    if not store.defer("register", item, register_repos):
        register_repos(store, [item])


def register_repos(store: Store, items: list[tuple]) -> None:
    """`register_repo` for several repositories: (info, repo, pulls, tags, registered at) each.
    A repository named twice keeps its last registration, as one call after another would."""
    import pyarrow as pa

    last = {it[1]: it for it in items}
    items = list(last.values())
    repos = [it[1] for it in items]
    heads = pa.table({"repo": [it[1] for it in items for _ in it[2]],
                      "number": [n for it in items for n in it[2]],
                      "sha": [s for it in items for s in it[2].values()]},
                     schema=pa.schema([("repo", pa.string()), ("number", pa.int64()), ("sha", pa.string())]))
    tags = pa.table({"repo": [it[1] for it in items for _ in it[3]], "name": [t.name for it in items for t in it[3]],
                     "sha": [t.sha for it in items for t in it[3]], "time": [t.time for it in items for t in it[3]]},
                    schema=pa.schema([("repo", pa.string()), ("name", pa.string()), ("sha", pa.string()),
                                      ("time", pa.timestamp("us"))]))
    rows = pa.table({"repo": repos, "path": [str(it[0].path) for it in items],
                     "head_ref": [it[0].head_ref for it in items], "head_sha": [it[0].head_sha for it in items],
                     "is_shallow": [it[0].is_shallow for it in items], "ingested_at": [it[4] for it in items],
                     "pull_heads": [len(it[2]) for it in items]},
                    schema=pa.schema([("repo", pa.string()), ("path", pa.string()), ("head_ref", pa.string()),
                                      ("head_sha", pa.string()), ("is_shallow", pa.bool_()),
                                      ("ingested_at", pa.timestamp("us")), ("pull_heads", pa.int64())]))
    with transaction(store.con, _p=heads, _tg=tags, _r=rows) as con:
        # A repository with no pull heads or tags stored (most, and every new one) has nothing to
        # delete; the deletes are skipped when no row of the set is there.
        for table in ("git_pull_heads", "git_tags"):
            if con.execute(f"select exists (select 1 from {table} where repo in (select repo from _r))").fetchone()[0]:
                con.execute(f"delete from {table} where repo in (select repo from _r)")
        if heads.num_rows:
            con.execute("insert into git_pull_heads select repo, number::integer, sha from _p")
        if tags.num_rows:
            con.execute("insert into git_tags select repo, name, sha, time from _tg")
        con.execute(
            "insert or replace into repos (repo, path, head_ref, head_sha, is_shallow, ingested_at, missing_blob_files, pull_heads) "
            "select r.repo, r.path, r.head_ref, r.head_sha, r.is_shallow, r.ingested_at, "
            "coalesce(o.missing_blob_files, 0), r.pull_heads::integer from _r r left join repos o on o.repo = r.repo"
        )


def previous_tips(store: Store, repo: str) -> list[str]:
    return [r[0] for r in store.con.execute("select sha from git_tips where repo = ?", [repo]).fetchall()]


def finish_ingest(store: Store, repo: str, tips: list[str]) -> None:
    """Record the tips this complete ingest reached; the next ingest reads only what lies beyond
    them. In a held group it is written at the group's end with the others (`finish_ingests`)."""
    if not store.defer("finish", (repo, tips), finish_ingests):
        finish_ingests(store, [(repo, tips)])


def finish_ingests(store: Store, items: list[tuple[str, list[str]]]) -> None:
    """`finish_ingest` for several repositories: (repo, tips) each, the last for a repeated one."""
    import pyarrow as pa

    last = dict(items)
    t = pa.table({"repo": [r for r, tips in last.items() for _ in tips], "sha": [s for tips in last.values() for s in tips]},
                 schema=pa.schema([("repo", pa.string()), ("sha", pa.string())]))
    r = pa.table({"repo": list(last)}, schema=pa.schema([("repo", pa.string())]))
    with transaction(store.con, _t=t, _fr=r) as con:
        if con.execute("select exists (select 1 from git_tips where repo in (select repo from _fr))").fetchone()[0]:
            con.execute("delete from git_tips where repo in (select repo from _fr)")
        con.execute("insert into git_tips select distinct repo, sha from _t")
        con.execute(
            "update repos set missing_blob_files = coalesce(m.n, 0) from _fr f left join "
            "(select repo, count(*) as n from commit_files where missing_blob and repo in (select repo from _fr) "
            "group by repo) m on m.repo = f.repo where repos.repo = f.repo"
        )


def reattribute(store: Store, repo: str, matcher: Matcher, batch: int = 20_000) -> int:
    """Recompute every stored commit's AI evidence with `matcher` (the signatures changed).

    Returns how many commits carry evidence now. Runs in one transaction, reading the commits in
    Arrow batches so memory stays flat.
    """
    import pyarrow as pa

    prefix = f"git:{repo}:commit:"
    reader = store.con.execute(
        "select sha, author_name, author_email, committer_name, committer_email, message "
        "from commits where repo = ?",
        [repo],
    ).to_arrow_reader(batch)
    rows: dict[str, list] = {f.name: [] for f in attr_schema()}
    hit = 0
    for rb in reader:
        d = rb.to_pydict()
        for sha, an, ae, cn, ce, msg in zip(d["sha"], d["author_name"], d["author_email"], d["committer_name"],
                                             d["committer_email"], d["message"]):
            hit += _add_evidence(rows, matcher, prefix + sha, author_name=an or "", author_email=ae or "",
                                 committer_name=cn or "", committer_email=ce or "", message=msg or "")
    table = pa.table(rows, schema=attr_schema())
    actors = store.con.execute("select actor_id, name, email from actors").fetchall()
    kinds = [(aid, *classify_identity(matcher, name or "", email or "")) for aid, name, email in actors]
    kt = pa.table({"actor_id": [k[0] for k in kinds], "kind": [k[1] for k in kinds], "agent": [k[2] for k in kinds]},
                  schema=pa.schema([("actor_id", pa.string()), ("kind", pa.string()), ("agent", pa.string())]))
    with transaction(store.con, _re=table, _kinds=kt) as con:
        con.execute("delete from attributions where starts_with(item_id, ?)", [prefix])
        con.execute("insert into attributions by name select * from _re")
        con.execute("update actors set kind = k.kind, agent = k.agent from _kinds k where actors.actor_id = k.actor_id")
    return hit
