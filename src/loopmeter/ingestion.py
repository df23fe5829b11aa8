"""The ingest runner: pulls records from a source and stores them in batches.

Sources yield; this runner owns batching, transactions and incremental state (after dlt's split).
A batch commits atomically; the tips that mark a complete ingest are recorded last, so a killed
ingest loses nothing it committed and the next run re-reads the rest without duplicates.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import timedelta
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path

from . import ingest_durability
from .attribution import Matcher
from .errors import ConfigError
from .sources import git as gitsrc
from .sources import line_fates
from .sources import provenance as provsrc
from .sources.git_set import read_refs
from .store.api_load import relink_api_sources
from .store.changes import derive_changes, store_derived
from .store.db import LongRead, Store, shed, transaction, utcnow
from .store.identity_links import link_identities, links_of_commits, store_links_of_new
from .store.git_load import (Identities, commit_tables, finish_ingest, previous_tips, reattribute, register_repo,
                             store_commit_tables, store_commits_of_repos)
from .store.provenance_load import (
    provenance_for_tracking,
    record_trace_files,
    line_fates_rows,
    load_line_state,
    store_provenance,
    sync_provenance_evidence,
    write_line_fates,
    write_line_fates_rows,
)

BATCH = 2000
# A long ingest leaves DuckDB holding allocator caches; reopening returns them before the
# derivation. Below this many new commits the caches are small and the close (a checkpoint) is
# most of a small repository's cost, so the store stays open.
REOPEN_AFTER = 20_000


def batch_size() -> int:
    """Commits per transaction: BATCH, or LOOPMETER_BATCH when set (tests use small batches)."""
    raw = os.environ.get("LOOPMETER_BATCH", "").strip()
    if not raw:
        return BATCH
    try:
        n = int(raw)
    except ValueError:
        raise ConfigError(f"LOOPMETER_BATCH: {raw!r} is not a whole number") from None
    if n < 1:
        raise ConfigError(f"LOOPMETER_BATCH: must be at least 1, not {n}")
    return n


@dataclass
class IngestResult:
    repo: str
    path: str
    new_commits: int
    head_commits: int
    changes: int
    incremental: bool
    warnings: list[str] = field(default_factory=list)
    unchanged: bool = False  # nothing moved since the last ingest: not read again


@dataclass
class ReadAhead:
    """What a reader thread took from git for one repository of a set before the writer reached it:
    everything `ingest_git` asks git for before the durability pass, the new commits included when
    they fit in one batch (a longer history is streamed by the writer)."""

    repo: str
    pulls: dict[int, str]
    tags: list
    old: list[str]
    tips: list[str]
    total: int | None
    commits: list | None
    fallback: list[str]
    notes: list
    bad: provsrc.Malformed
    written: int | None = None  # the commits are stored already (`write_ahead`): how many were new
    # The repository is new to the store (no row of it before this ingest): with `tables` (its
    # commits as stored, from `write_ahead`) it is derived without reading the store.
    fresh: bool = False
    tables: dict | None = None
    provenance: bool | None = None  # the store held line provenance for it (None: not known)
    derived: dict | None = None  # `derive_changes` stats made in a reader process, rows under "derived"
    # The durability pass of a new repository without provenance, made by the reader: the rows
    # `provenance_load.line_fates_rows` gives (the writer only appends them).
    fates: tuple | None = None
    # The identity links of a new repository (store/identity_links.py), made by the reader.
    links: list | None = None
    replaced: bool = False  # refs/replace exists: git shows (and we read) history with replacements
    # A long history read ahead with `keep`: the commits read so far and git's stream, still open,
    # for the writer to go on with (nothing git printed is read twice).
    started: list | None = None
    stream: Iterator | None = None

    def fits(self) -> bool:
        """The whole new history was read ahead (as commits, or as their tables)."""
        return self.commits is not None or self.tables is not None


def prepare(info: gitsrc.RepoInfo, repo: str, previous: list[str], *, pull_refs: bool, limit: int, refs: bytes,
            salt: str, matcher: Matcher, fresh: bool, rules: str, durability: bool = False,
            keep: bool = False) -> ReadAhead:
    """Run by a reader (a process or a thread, one per core): `read_ahead`, then the Python work the
    writer would do with it: the commits' rows (`commit_tables`) and, for a repository new to the
    store, its changes (derived from those rows alone) and, with `durability`, its durability pass
    when it has no provenance (no Git AI notes: the pass then needs nothing from the store). The
    writer is left with DuckDB's statements. A history longer than one batch comes back unread
    (the writer streams it; with `keep`, from where this read stopped)."""
    a = read_ahead(info, repo, previous, pull_refs=pull_refs, limit=limit, refs=refs, keep=keep)
    if a.commits is not None:
        a.tables = commit_tables(repo, a.commits, Identities(salt, matcher), matcher)
        a.commits = None  # the rows say all the writer needs; Commit objects are costly to send
        a.fresh = fresh
        if fresh:
            a.derived = derive_changes(None, repo, matcher, head_sha=info.head_sha, pulls=a.pulls,
                                       commits=a.tables["_batch"], rules=rules)
            a.links = links_of_commits(info.path, a.tables["_batch"], a.tables["_files"], matcher, salt)
            # A history long enough for the pass beside the ingest (ingest_durability) gets that.
            if durability and not a.notes and not a.bad.count and a.total < ingest_durability.MIN_COMMITS:
                # What `_track_lines(first=True)` does in the writer: a pass from scratch, no AI lines.
                a.fates = line_fates_rows(repo, line_fates.track(info, info.head_sha, {}, provenance_shas=set()),
                                          incremental=False)
    return a


def write_ahead(store: Store, aheads: list[ReadAhead], matcher: Matcher, salt: str | None = None) -> None:
    """Store the read-ahead commits of several small repositories with one set of statements (a
    statement costs milliseconds whatever its size); `ingest_git` then goes on from there."""
    ids = Identities(salt if salt is not None else store.meta("salt") or "", matcher)
    import pyarrow as pa  # here, not at the top: an idle re-run reads no commits and needs no Arrow

    parts = [a.tables if a.tables is not None else commit_tables(a.repo, a.commits, ids, matcher) for a in aheads]
    tables = {k: pa.concat_tables([p[k] for p in parts]) for k in parts[0]}
    # Repositories new to the store (the set's writer knows): every row is new, none is looked up.
    new = store_commits_of_repos(store, tables, new_repos=all(a.fresh for a in aheads))
    for a, part in zip(aheads, parts):
        a.written = new.get(a.repo, 0)
        a.tables = part


def read_ahead(info: gitsrc.RepoInfo, repo: str, previous: list[str], *, pull_refs: bool, limit: int,
               refs: bytes | None = None, keep: bool = False) -> ReadAhead:
    """Run in a reader thread: only git and parsing, no store. Git runs in its own processes (the
    waits release the GIL), so one reader per core keeps both cores busy while the writer stores.

    `refs`: the repository's refs as `git_set.read_refs` gave them (read again when None). They
    say which other calls are needed at all: tags and Git AI notes are listed only where such refs
    exist, so a plain small repository costs one `git log` here. `limit` < 0: read no commits.

    `keep`: a history longer than `limit` keeps what was read and git's stream open (`started`,
    `stream`) for the writer to go on with; the caller takes it next (a set of one repository).
    Without it the read is dropped and the writer reads the history again from its start."""
    if refs is None:
        refs = read_refs(info.path) or b""
    pulls = gitsrc.pull_heads_of(refs) if pull_refs else {}
    tags = gitsrc.list_tags(info) if gitsrc.has_ref(refs, "refs/tags") else []
    old = gitsrc.existing_commits(info, previous)
    tips = [info.head_sha, *sorted(set(pulls.values()))]
    fallback: list[str] = []
    commits = None
    total: int | None = None
    started = stream = None
    if limit < 0:
        total = _count(info, tips, old)
    elif _reader_process():  # a long history is read again, from the start, by the reader process
        total = _count(info, tips, old)
        if total is not None and total <= limit:
            commits = list(gitsrc.iter_commits(info, tips, old, on_fallback=fallback.append))
    else:
        # Read up to one commit more than a batch: a history that fits is held whole, and only a
        # longer one pays for a count (its progress bar needs the total). A longer one is dropped
        # (its git stopped) and streamed by the writer from the start: holding it open would keep
        # a git process and a batch alive for every long repository in the read-ahead window.
        stream = gitsrc.iter_commits(info, tips, old, on_fallback=fallback.append)
        first = list(islice(stream, limit + 1))
        if len(first) <= limit:
            commits, total = first, len(first)
            stream = None
        elif keep:
            # The one repository the writer takes next: on numpy (41,819 commits) dropping these
            # 2,001 commits cost ~2 s of CPU (git's diffs and their parse) read again at once.
            started, total = first, _count(info, tips, old)
        else:
            stream.close()
            stream = None
            del first
            fallback.clear()
            total = _count(info, tips, old)
    bad = provsrc.Malformed()
    notes = ([(fp, fp.sha) for fp in provsrc.read_git_ai_notes(info, bad)]
             if gitsrc.has_ref(refs, provsrc.NOTES_REF) else [])
    return ReadAhead(repo, pulls, tags, old, tips, total, commits, fallback, notes, bad,
                     replaced=gitsrc.has_ref(refs, "refs/replace"), started=started, stream=stream)


def _reader_process() -> bool:
    from . import ingest_reader  # here: multiprocessing is not imported by an idle run

    return ingest_reader.enabled()


def repo_keys(store: Store, infos: list[gitsrc.RepoInfo]) -> list[str]:
    """`repo_key` for each repository of a set, as ingesting them one after another would give."""
    rows = dict(store.con.execute("select repo, path from repos").fetchall())
    by_path = {p: k for k, p in rows.items()}
    taken = set(rows)
    out = []
    for info in infos:
        key = by_path.get(str(info.path))
        if key is None:
            name, i = info.name, 2
            while name in taken:
                name, i = f"{info.name}~{i}", i + 1
            key = name
            taken.add(key)
            by_path[str(info.path)] = key
        out.append(key)
    return out


def stored_tips(store: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for repo, sha in store.con.execute("select repo, sha from git_tips").fetchall():
        out.setdefault(repo, []).append(sha)
    return out


class Progress:
    """What the runner tells whoever shows progress; the CLI renders it as a Rich bar."""

    def start(self, repo: str, total: int | None, unit: str = "commits") -> None: ...
    def advance(self, n: int) -> None: ...
    def note(self, message: str) -> None: ...
    def step(self, name: str) -> None:
        """A step after the history is read (deriving changes, ...), named as it starts."""
    def start_set(self, total: int, done: int = 0) -> None:
        """A set of `total` repositories begins, `done` of them already up to date."""
    def repo_done(self) -> None:
        """One more repository of the set is stored."""


# Modules whose rules decide what an ingest stores for the same commits. Their bytes are part of
# the unchanged-repository test, so a loopmeter upgrade that changes a rule re-derives every
# repository once instead of trusting results written under the old rule (a version number
# bumped by hand would be forgotten).
_RULE_MODULES = ("attribution.py", "store/changes.py", "store/git_load.py", "store/message_patterns.py",
                 "sources/git.py", "data/signatures.toml", "data/bots.toml", "sources/line_fates.py",
                 "sources/provenance.py", "store/provenance_load.py")


def unchanged_salt(matcher: Matcher, *, branch: str | None, pull_refs: bool) -> str:
    """What, besides a repository's refs, decides what its ingest stores."""
    import hashlib

    h = hashlib.sha256()
    root = Path(__file__).parent
    for name in _RULE_MODULES:
        try:
            h.update((root / name).read_bytes())
        except OSError:
            h.update(name.encode())
    return f"{branch or ''}\0{int(pull_refs)}\0{matcher.fingerprint}\0{h.hexdigest()}"


_RULES: dict[str, str] = {}


def derivation_rules(matcher: Matcher) -> str:
    """A fingerprint of what decides a change derivation (the rule modules and the signatures): a
    derivation recorded under other rules is not added to but made again."""
    key = matcher.fingerprint
    if key not in _RULES:
        import hashlib

        _RULES[key] = hashlib.sha256(unchanged_salt(matcher, branch=None, pull_refs=True).encode()).hexdigest()[:32]
    return _RULES[key]


def repo_key(store: Store, info: gitsrc.RepoInfo) -> str:
    """A short stable name for a repository; a second repository with the same name gets a suffix."""
    rows = dict(store.con.execute("select repo, path from repos").fetchall())
    for k, p in rows.items():
        if p == str(info.path):
            return k
    name, i = info.name, 2
    while name in rows:
        name, i = f"{info.name}~{i}", i + 1
    return name


def ingest_git(
    store: Store,
    path: str | Path | gitsrc.RepoInfo,
    *,
    matcher: Matcher | None = None,
    branch: str | None = None,
    progress: Progress | None = None,
    pull_refs: bool = True,
    traces: str | Path | None = None,
    durability: bool = True,
    relink: bool = True,
    ahead: ReadAhead | None = None,
    early_pass: ingest_durability.Beside | None = None,
) -> IngestResult:
    """Read a repository's new history into the store and rebuild its changes.

    `path` may be a repository already opened with `sources.git.open_repository`. Git AI notes
    (refs/notes/ai) are read every time; `traces` is a folder (or file) of Agent Trace records for
    this repository. `durability` runs the line-tracking pass (sources/line_fates.py) when the head
    or the provenance changed since the last one. `relink=False` leaves re-joining API items to the
    rebuilt changes to the caller (once for a set of repositories). `ahead`: what a reader thread
    already took from git for this repository (`read_ahead`). `early_pass`: the durability pass
    started before the store was opened (`ingest_durability.early`), used where it fits.

    Inside a group transaction (`Store.hold`, a set of small repositories) the whole ingest joins
    the group; a history longer than one batch ends the group first, so its batches commit one by
    one and a killed ingest keeps them."""
    progress = progress or Progress()
    matcher = matcher or Matcher.load()
    info = path if isinstance(path, gitsrc.RepoInfo) else gitsrc.open_repository(path, branch)
    repo = ahead.repo if ahead is not None else repo_key(store, info)
    warnings: list[str] = []
    if info.is_shallow:
        warnings.append(
            f"{repo}: shallow clone: history before the cut is missing, so totals and cycle times cover only "
            "what is present (run `git fetch --unshallow` for the full picture)"
        )
    if info.head_ref == "HEAD":
        # A CI checkout is often detached at the branch tip; a person's may sit at an old commit.
        warnings.append(f"{repo}: HEAD is detached at {info.head_sha[:12]}: the history read is the one that commit "
                        "has (pass --branch NAME to read a branch instead)")
    size = batch_size()
    if ahead is None:
        ahead = read_ahead(info, repo, previous_tips(store, repo), pull_refs=pull_refs, limit=-1)
    if ahead.replaced:
        warnings.append(f"{repo}: the repository replaces commits (`git replace` or grafts under refs/replace): the "
                        "history read is the one git shows with the replacements, not the one recorded "
                        "(run with GIT_NO_REPLACE_OBJECTS=1 to read the recorded one)")
    pulls, tags, old, tips, total = ahead.pulls, ahead.tags, ahead.old, ahead.tips, ahead.total
    register_repo(store, info, repo, pulls, tags)
    long = total is None or total > size
    if long:
        store.release()
    # A long history's durability pass runs in a second process while this one stores the commits.
    beside = None
    if durability and ahead.fates is None:
        beside = ingest_durability.start(store, info, repo, new_commits=total,
                                         has_provenance=bool(ahead.notes or ahead.bad.count or traces is not None),
                                         early=early_pass)
    elif early_pass is not None:
        early_pass.stop()
    progress.start(repo, total)
    fallback = ahead.fallback
    new = 0
    from . import ingest_reader  # here: multiprocessing is not imported by an idle run

    readers = (ingest_reader.readers(total, busy=beside is not None)
               if ahead.commits is None and total is not None and total > size else 0)
    if readers and ahead.stream is not None:  # the readers read it all: the stream read ahead is not needed
        ahead.stream.close()
        ahead.started = ahead.stream = None
        fallback.clear()
    # A repository new to the store, read in batches: every commit git names is new (it names each
    # once), so a batch is appended without asking which of its commits are stored (a scan of all
    # of them, whose blocks DuckDB kept: ~25 MB at 200,000 commits, and time growing with them).
    new_repo = (ahead.fresh and ahead.written is None and ahead.commits is None and not store.con.execute(
        "select exists (select 1 from commits where repo = ?)", [repo]).fetchone()[0])
    # A history longer than one batch commits batch by batch under DuckDB's default checkpoint
    # threshold and a low memory limit (store/db.py `LongRead`): what DuckDB kept of the committed
    # batches grew with the history.
    with LongRead(store, on=long) as long_read:
        if readers:
            # A long history: reader processes (one per core) diff and parse its chunks while this
            # one stores them.
            for n, tables in ingest_reader.read_batches(info, repo, tips, old, salt=store.meta("salt") or "",
                                                        matcher=matcher, size=size, fallback=fallback, n=readers):
                new += long_read.write(lambda: store_commit_tables(store, repo, tables, new_repo=new_repo))
                progress.advance(n)
        elif ahead.written is not None:
            new = ahead.written
            progress.advance(ahead.total or 0)
        else:
            if ahead.commits is not None:
                stream = iter(ahead.commits)
            elif ahead.stream is not None:  # read ahead in part: on from where that read stopped
                stream = chain(ahead.started, ahead.stream)
                ahead.started = ahead.stream = None
            else:
                stream = gitsrc.iter_commits(info, tips, old, on_fallback=fallback.append)
            ids = Identities(store.meta("salt") or "", matcher)
            while True:
                batch = list(islice(stream, size))
                if not batch:
                    break
                # The rows are made once: making them takes the batch's new actors from `ids`, so a
                # batch stored again (short of memory) would otherwise lose them.
                tables = commit_tables(repo, batch, ids, matcher)
                new += long_read.write(lambda: store_commit_tables(store, repo, tables, new_repo=new_repo))
                progress.advance(len(batch))
    progress.step("finishing the ingest")
    finish_ingest(store, repo, tips)
    if new >= REOPEN_AFTER:
        # The close checkpoints; DuckDB's cached blocks dropped first keep its peak down (200,000
        # commits: the closing checkpoint set the ingest's peak, 22 MB above the reading's).
        shed(store)
        store.reopen()
    # Only the changes the new commits landed are derived, unless what the stored commits carry
    # changed: their evidence (new signatures, line provenance), which every change inherits.
    incremental = True
    if old and store.meta(f"signatures:{repo}") != matcher.fingerprint:
        # Commits stored earlier were attributed under other signatures (loopmeter.toml or the
        # package's data file changed): judge the whole history by the same rules again.
        progress.step("attributing again under new signatures")
        reattribute(store, repo, matcher)
        incremental = False
    store.set_meta(f"signatures:{repo}", matcher.fingerprint)
    progress.step("reading line provenance")
    read, more = _read_provenance(store, info, repo, traces, ahead)
    warnings.extend(more)
    incremental = incremental and not read
    progress.step("deriving changes")
    # A repository new to the store whose commits were all read in one batch is derived from those
    # rows in memory: they are every commit the store holds of it.
    whole = ahead.tables if ahead.fresh and ahead.tables is not None else None
    if whole is not None and ahead.derived is not None:  # derived already, by a reader process
        stats = dict(ahead.derived)
        store_derived(store, stats.pop("derived"))
    else:
        stats = derive_changes(store, repo, matcher, head_sha=info.head_sha, pulls=pulls,
                               commits=whole["_batch"] if whole else None, rules=derivation_rules(matcher),
                               incremental=incremental)
    progress.step("linking identities")
    if whole is not None and ahead.links is not None:  # made by the reader from the same rows
        store_links_of_new(store, repo, ahead.links)
    else:
        with transaction(store.con):
            link_identities(store.con, info.path, repo, matcher, store.meta("salt") or "")
    # The rebuilt changes drop links that pointed at them; API items re-join them by sha.
    if relink:
        progress.step("linking pull requests and issues")
        relink_api_sources(store)
    if whole is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        files = whole["_files"].filter(whole["_files"]["missing_blob"])
        missing = (files.num_rows, len(set(files["sha"].to_pylist())))
        future = pc.sum(pc.greater(whole["_batch"]["author_time"],
                                   pa.scalar(utcnow() + timedelta(days=1), pa.timestamp("us")))).as_py() or 0
    else:
        missing = store.con.execute(
            "select count(*), count(distinct sha) from commit_files where repo = ? and missing_blob", [repo]
        ).fetchone()
        future = store.con.execute(
            "select count(*) from commits where repo = ? and author_time > ?", [repo, utcnow() + timedelta(days=1)]
        ).fetchone()[0]
    if fallback or missing[0]:
        warnings.append(
            f"{repo}: {missing[0]} files in {missing[1]} commits have no blob in the object store "
            "(partial clone or trimmed mirror); their line counts are unknown"
        )
    if future:
        warnings.append(f"{repo}: {future} commits are dated in the future; their times are kept as recorded")
    # The reader's pass holds when the store had no provenance of the repository (it is new) and
    # this ingest brought none; otherwise it is dropped and the pass runs here.
    by_reader = (ahead.fates is not None and ahead.fresh and ahead.provenance is False and traces is None
                 and not ahead.notes and not ahead.bad.count)
    if durability and by_reader:
        progress.step("tracking line durability")
        write_line_fates_rows(store, ahead.fates)
        store.set_meta(f"line_fates:{repo}", f"{info.head_sha}:{ingest_durability.NO_PROVENANCE}")
    elif durability:
        progress.step("tracking line durability")
        if beside is None or not beside.finish(store):
            # A repository new to the store without provenance has no earlier pass and nothing to
            # look up: the pass starts from scratch without asking the store.
            _track_lines(store, info, repo, progress,
                         first=ahead.fresh and ahead.provenance is False and not ahead.notes and not ahead.bad.count
                         and traces is None)
    store.set_meta(f"warnings:{repo}", json.dumps(warnings))
    for w in warnings:
        progress.note(w)
    progress.step("done")
    return IngestResult(
        repo=repo, path=str(info.path), new_commits=new, head_commits=stats.get("head_commits", 0),
        changes=stats.get("changes", 0), incremental=bool(old), warnings=warnings,
    )


def _read_provenance(store: Store, info: gitsrc.RepoInfo, repo: str, traces: str | Path | None,
                     ahead: ReadAhead) -> tuple[bool, list[str]]:
    """Store the repository's Git AI notes (read ahead, with the history) and Agent Trace records,
    when given, and the commit evidence they make. Returns whether there was provenance (now or
    before: the commits' evidence may have changed) and the warnings: one per format with
    malformed input, naming the first."""
    warnings = []
    bad, notes = ahead.bad, ahead.notes
    if not notes and not bad.count and traces is None and not (ahead.provenance if ahead.provenance is not None else store.con.execute(
            "select exists (select 1 from line_provenance where repo = ?)", [repo]).fetchone()[0]):
        # No provenance now or before (most repositories): nothing to replace, no evidence to sync.
        return False, warnings
    store_provenance(store, repo, "git_ai_note", notes, bad)
    if bad.count:
        warnings.append(f"{repo}: {bad.count} Git AI notes (refs/notes/ai) could not be used and were skipped; "
                        f"the first: {bad.first}")
    if traces is not None:
        tbad = provsrc.Malformed()
        rows, read = [], []
        for f in provsrc.trace_files(Path(traces)):
            before = tbad.count
            recs, n = provsrc.read_trace_file(f, tbad)
            rows.extend((fp, str(f)) for fp in recs)
            read.append((str(f), n, tbad.count - before))
        store_provenance(store, repo, "agent_trace", rows, tbad, replace_origins=[r[0] for r in read])
        record_trace_files(store, repo, read)
        if tbad.count:
            warnings.append(f"{repo}: {tbad.count} Agent Trace records could not be used and were skipped; "
                            f"the first: {tbad.first}")
    sync_provenance_evidence(store, repo)
    return True, warnings


def _track_lines(store: Store, info: gitsrc.RepoInfo, repo: str, progress: Progress, *, first: bool = False) -> None:
    """The durability pass (sources/line_fates.py). It resumes from where the last pass stopped when
    that head is on the new head's first-parent line and the provenance is unchanged (only the new
    commits are read); otherwise it walks the whole first-parent line again. `first`: the store
    holds no pass and no provenance of this repository (the caller knows; nothing is read)."""
    prov_key = ingest_durability.NO_PROVENANCE if first else ingest_durability.provenance_key(store, repo)
    done = ("" if first else store.meta(f"line_fates:{repo}") or "").split(":", 1)
    if done == [info.head_sha, prov_key]:
        return
    resume = None
    if len(done) == 2 and done[1] == prov_key:
        resume = load_line_state(store, repo)
        if resume is not None and not _on_first_parent_line(info, resume.head):
            resume = None  # history was rewritten, or the branch changed: start again
    ai, shas = ({}, set()) if first else provenance_for_tracking(store, repo)
    fates = line_fates.track(info, info.head_sha, ai, provenance_shas=shas, resume=resume)
    write_line_fates(store, repo, fates, incremental=resume is not None)
    store.set_meta(f"line_fates:{repo}", f"{info.head_sha}:{prov_key}")


def _on_first_parent_line(info: gitsrc.RepoInfo, sha: str) -> bool:
    out = gitsrc.git(info.path, "rev-list", "--first-parent", info.head_sha, check=False).stdout
    return sha.encode() in out.split()


def _count(info: gitsrc.RepoInfo, tips: list[str], exclude: list[str]) -> int | None:
    revs = "\n".join([*tips, *(f"^{x}" for x in exclude)]) + "\n"
    proc = gitsrc.git(info.path, "rev-list", "--count", "--stdin", input=revs.encode(), check=False)
    try:
        return int(proc.stdout.decode().strip())
    except ValueError:
        return None
