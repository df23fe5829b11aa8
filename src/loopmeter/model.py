"""Records that sources yield. Frozen dataclasses: a source builds them, the store writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Person:
    """A name and email as git recorded them (after .mailmap)."""

    name: str
    email: str


@dataclass(frozen=True, slots=True)
class FileChange:
    """Lines added and deleted in one file by one commit; None means unknown (binary or missing blob)."""

    path: str
    added: int | None
    deleted: int | None
    old_path: str | None = None
    binary: bool = False
    missing_blob: bool = False


@dataclass(frozen=True, slots=True)
class Commit:
    """One git commit with its diff stats against its first parent."""

    sha: str
    parents: tuple[str, ...]
    author: Person
    author_time: datetime  # naive UTC
    author_tz_minutes: int  # original offset east of UTC
    committer: Person
    committer_time: datetime  # naive UTC
    committer_tz_minutes: int
    message: str
    files: tuple[FileChange, ...] = field(default=())

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag pointing (after peeling) at a commit; becomes a release."""

    name: str
    sha: str
    time: datetime  # naive UTC; tagger time for annotated tags, else the commit's time
