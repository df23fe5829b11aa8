"""The flat exception hierarchy. Each is shown to the user as one line, without a traceback."""

import re

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]*@")


def redact_userinfo(text: str) -> str:
    """`text` with the user:password@ part of every URL in it replaced by `[redacted]@`; the CLI
    passes every message it prints through this (a --url may carry credentials)."""
    return _USERINFO.sub(r"\1[redacted]@", text)


class LoopmeterError(Exception):
    """Base of every error loopmeter reports to the user as one line and a non-zero exit."""


class NotAGitRepository(LoopmeterError):
    """A path given for analysis is not a git repository."""


class EmptyRepository(LoopmeterError):
    """A git repository has no commits on the analyzed branch."""


class UnbornHead(EmptyRepository):
    """HEAD names a branch without commits while other branches have some (a set does not skip it)."""


class UnreadablePath(LoopmeterError):
    """A path does not exist or cannot be read."""


class GitFailed(LoopmeterError):
    """The git command failed in a way loopmeter cannot work around."""


class StoreError(LoopmeterError):
    """The store file is corrupt, unreadable, or was written by a newer loopmeter."""


class ConfigError(LoopmeterError):
    """A configuration file or option has a bad value."""


class NoData(LoopmeterError):
    """The store holds nothing to report on."""


class BadInput(LoopmeterError):
    """An input file (such as a pilot's CSV) has a missing column or a bad value, or its data
    cannot carry the requested estimate; the message names the file, line and column."""


class DesignError(LoopmeterError):
    """The data cannot support the chosen lift design (an empty group, a single cluster)."""
