"""A second core for one long history: a reader process that runs `git log`, parses it and builds
the batch's Arrow tables, while this process (DuckDB's one writer) stores the batch before.

Without it the three steps run in turn: git blocks on a full pipe while Python parses, and Python
parses while DuckDB writes, so one process is runnable most of the time. With it git and the
reader work on batch k+1 while the writer stores batch k. The reader holds at most the batch it
builds and the one it is handing over (a pipe send blocks until the writer takes it), so memory
stays flat. Its rows are those `write_commits` would make (the same `commit_tables`, the same
salted pseudonyms); tests compare every table against a store written without it.

A spawned process (not forked: the writer holds DuckDB's threads and, in a set, reader threads)
costs an interpreter start, so it is used only for histories longer than one batch.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from itertools import islice

from .attribution import Matcher
from .errors import GitFailed
from .sources import git as gitsrc
from .store.git_load import Identities, commit_tables


def enabled() -> bool:
    """LOOPMETER_READER_PROCESS=1 turns it on. Off by default: on numpy (41,819 commits, 2 loaded
    cores) it measured 1.68x the git baseline against 1.52x without it, so it has not yet earned
    the cost and the moving parts of a second process (bench/git_ingest.py; issue 14)."""
    return os.environ.get("LOOPMETER_READER_PROCESS", "").strip() == "1"


def _read(conn, info: gitsrc.RepoInfo, repo: str, tips: list[str], old: list[str], salt: str, matcher: Matcher,
          size: int) -> None:
    try:
        ids = Identities(salt, matcher)
        fallback: list[str] = []
        stream = gitsrc.iter_commits(info, tips, old, on_fallback=fallback.append)
        while batch := list(islice(stream, size)):
            conn.send(("batch", len(batch), commit_tables(repo, batch, ids, matcher)))
        conn.send(("done", fallback, None))
    except BaseException as e:  # handed to the writer, which raises it as its own
        try:
            conn.send(("error", e, None))
        except Exception:
            pass
    finally:
        conn.close()


def read_batches(info: gitsrc.RepoInfo, repo: str, tips: list[str], old: list[str], *, salt: str,
                 matcher: Matcher, size: int, fallback: list[str]) -> Iterator[tuple[int, dict]]:
    """(commits in the batch, its tables) for every batch of the new history, read in a reader
    process. Messages git gave where blobs were missing are appended to `fallback` at the end."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_read, args=(send, info, repo, tips, old, salt, matcher, size),
                       name="loopmeter-git-reader", daemon=True)
    proc.start()
    send.close()
    try:
        while True:
            try:
                kind, a, b = recv.recv()
            except EOFError:
                raise GitFailed(f"the git reader for {info.path} stopped without a word "
                                       f"(exit {proc.exitcode})") from None
            if kind == "batch":
                yield a, b
            elif kind == "done":
                fallback.extend(a)
                return
            else:
                raise a
    finally:
        recv.close()
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
