"""The contract every way into the store keeps: a `Source`.

A source reads one kind of record (a git history, a REST API, a log file, an MLflow store), turns
it into canonical rows (docs/design.md, "the shared vocabulary") and hands them to the `Run` the
ingest runner (`loopmeter.runner`) gives it. The runner, not the source, owns everything around
that: the checks before the store exists, opening it (with a restore point), transactions, the
one-line error on damage, rolling back what a failed source left half-written, re-linking agent
sessions, and progress. So a new source is this one class in one file under `sources/`:

    class Opsgenie:                               # sources/opsgenie.py
        label = "opsgenie"
        def prepare(self) -> bool: ...            # check inputs; no store yet; False: nothing to do
        def load(self, run: Run) -> LogSummary:   # read -> rows -> run.write_log(...)

after dlt's split: sources yield, one pipeline stores and keeps their state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..runner import Run


@runtime_checkable
class Source(Protocol):
    """One way in. `loopmeter.runner.run(source, ...)` drives it:

    1. `prepare()`, before the store is opened: every check that needs no store (paths exist,
       names and options are valid, a token is set, a file is whole). Raise a `LoopmeterError`
       (one line naming the file, line or option); return False when there is nothing to read
       (the store is then neither opened nor created, and `idle()` is the result).
    2. `load(run)`: read, convert, and store through `run` (`run.write_log` for a log's rows;
       `run.store` for sources with their own tables). Each write is a transaction; a source
       whose rows must land together holds them with `run.group()`. Resume state, where the
       source has any, is stored with the rows it describes: `run.state` / `run.write_log(state=)`,
       or the source's own tables (git tips, API cursors) written in the same transaction.
    3. Afterwards, when `relinks_sessions`, agent sessions are joined again to what was rebuilt.
    """

    #: Shown in progress and in messages ("git", "github acme/api", "opsgenie").
    label: str
    #: Copy the store to its restore point before the first write (`loopmeter store restore`).
    restore_point: bool
    #: Agent sessions link to changes, pull requests and branches: re-join them after this source.
    relinks_sessions: bool

    def prepare(self) -> bool: ...

    def load(self, run: Run) -> Any: ...

    def idle(self) -> Any: ...


class LogSource:
    """Defaults for a source that stores one or more named logs with `Run.write_log` (event logs,
    exports, incidents, MLflow): a restore point, no session relink, nothing idle to report."""

    label = "log"
    restore_point = True
    relinks_sessions = False

    def prepare(self) -> bool:
        return True

    def idle(self) -> Any:
        return None
