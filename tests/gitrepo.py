"""Builds real git repositories with the git CLI and fixed dates, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class GitRepo:
    """A throwaway repository whose every commit has an explicit author, committer and date."""

    def __init__(self, path: Path, branch: str = "main"):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)
        self.git("config", "user.name", "Default Person")
        self.git("config", "user.email", "default@example.com")
        self.git("config", "commit.gpgsign", "false")
        self._n = 0

    def git(self, *args: str, env: dict | None = None, input: bytes | None = None) -> str:
        e = dict(os.environ)
        e.update({"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self.path), "LC_ALL": "C"})
        if env:
            e.update(env)
        out = subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, env=e, input=input)
        return out.stdout.decode("utf-8", "replace").strip()

    def commit(
        self,
        message: str | bytes,
        *,
        author: tuple[str, str] = ("Alice Example", "alice@example.com"),
        date: str = "2024-01-01T10:00:00+00:00",
        committer: tuple[str, str] | None = None,
        commit_date: str | None = None,
        files: dict[str, str | bytes] | None = None,
        encoding: str | None = None,
    ) -> str:
        """Commit `files` (default: one new line in a per-commit file) and return the sha."""
        self._n += 1
        files = files if files is not None else {f"file{self._n}.txt": f"line {self._n}\n"}
        for name, content in files.items():
            p = self.path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content if isinstance(content, bytes) else content.encode())
            self.git("add", name)
        committer = committer or author
        env = {
            "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1],
            "GIT_COMMITTER_DATE": commit_date or date,
        }
        msg = message if isinstance(message, bytes) else message.encode()
        args = ["commit", "-q", "--allow-empty", "-F", "-"]
        if encoding:
            args = ["-c", f"i18n.commitEncoding={encoding}", *args]
        self.git(*args, env=env, input=msg)
        return self.head()

    def raw_commit(self, message: bytes, *, author: tuple[str, str], date: str, parent: str | None = None) -> str:
        """A commit whose message bytes are stored as given (no encoding header), moved onto HEAD."""
        tree = self.git("write-tree")
        env = {
            "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": author[0], "GIT_COMMITTER_EMAIL": author[1], "GIT_COMMITTER_DATE": date,
        }
        args = ["commit-tree", tree, "-p", parent or self.head()]
        sha = self.git(*args, env=env, input=message)
        self.git("update-ref", "HEAD", sha)
        return sha

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def checkout(self, name: str, *, new: bool = False, start: str | None = None) -> None:
        args = ["checkout", "-q"] + (["-b", name] if new else [name]) + ([start] if start else [])
        self.git(*args)

    def merge(
        self,
        branch: str,
        message: str,
        *,
        date: str,
        committer: tuple[str, str] = ("GitHub", "noreply@github.com"),
    ) -> str:
        env = {
            "GIT_AUTHOR_NAME": committer[0], "GIT_AUTHOR_EMAIL": committer[1], "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1], "GIT_COMMITTER_DATE": date,
        }
        self.git("merge", "-q", "--no-ff", "-m", message, branch, env=env)
        return self.head()

    def land_branch(
        self,
        branch: str,
        work: str,
        message: str,
        *,
        author: tuple[str, str],
        work_date: str,
        merge_date: str,
        committer: tuple[str, str] = ("GitHub", "noreply@github.com"),
    ) -> str:
        """One commit `work` on a new `branch`, merged back with --no-ff; returns the merge's sha."""
        start = self.git("rev-parse", "--abbrev-ref", "HEAD")
        self.checkout(branch, new=True)
        self.commit(work, author=author, date=work_date)
        self.checkout(start)
        return self.merge(branch, message, date=merge_date, committer=committer)

    def set_ref(self, ref: str, sha: str) -> None:
        self.git("update-ref", ref, sha)

    def tag(self, name: str, sha: str | None = None) -> None:
        self.git("tag", name, sha or self.head())

    def count(self, rev: str = "HEAD") -> int:
        return int(self.git("rev-list", "--count", rev))
