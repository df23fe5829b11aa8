"""One function of a report run on the second core, in a process forked before the store opens.

A report is one Python process on one core, and on a 1k-commit store its lift designs are about
half of the work after start-up (issue 14: `report --json` in 2 s, start-up included). `fork()`
gives a worker that already holds every module the report imported, for free; it is forked before
this process opens DuckDB, because a DuckDB instance has threads and locks that a fork would copy
half-way. The caller opens the store, computes the inputs (the report's window, the adoption
dates), `submit`s one call, goes on with the other sections, and asks for the `result` when it
needs it. The worker opens the store itself, read-only (DuckDB lets several processes read one
file), and sends the pickled answer back through a pipe.

A worker is only an optimisation: whatever goes wrong (it cannot fork, the store cannot be
opened there, the call raises, the process dies or takes longer than LOOPMETER_BESIDE_TIMEOUT
seconds) `result` answers None and the caller computes the same thing itself, so the document
never depends on whether the worker ran. The worker never prints, ignores Ctrl-C (the caller
ends it) and leaves by `os._exit`, so it runs none of the caller's exit handlers.

Only for callers that own their process (the CLI's `report`): a library caller or the dashboard
may hold threads of its own, which a fork would copy in whatever state they are in. The CLI's one
other thread draws its progress display; the worker never writes where that thread does (`_silence`). Off with one
CPU and when every core is busy already (`fork_worker`); LOOPMETER_REPORT_BESIDE=0 turns it off,
=1 on whatever the load.

Why os.fork and a pipe, not multiprocessing's "fork" context with a Pipe, which would serve as
well: the worker must be forked at one chosen moment (before the store opens) and be killed and
reaped at any point without waiting on it, and this is the little of multiprocessing that needs.
Replacing it by a Process with join(timeout) and kill() is fine should it grow.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import time

#: Seconds the caller waits for the worker's answer before ending it and computing the part itself.
DEFAULT_TIMEOUT = 600.0

_LENGTH = struct.Struct("!Q")


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load() -> float:
    """The 1-minute load average (0 where the system does not say)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def fork_worker() -> Worker | None:
    """A worker forked now, or None when this process has opened a store already (store/db.py
    `OPENED`), when there is no second CPU or no fork, when the cores are busy (the 1-minute load average at least the number
    of CPUs: a worker then only adds its CPU, ~0.4 s on a 1k store, to everyone's; numpy's report
    measured 5.8-7.7 s with one against 4.7-5.3 s without at a load of 4 on 2 cores), or with
    LOOPMETER_REPORT_BESIDE=0. LOOPMETER_REPORT_BESIDE=1 forks one whatever the load."""
    from ..store import db

    setting = os.environ.get("LOOPMETER_REPORT_BESIDE", "").strip()
    if setting == "0" or not hasattr(os, "fork") or cpus() < 2 or db.OPENED:
        return None
    if setting != "1" and load() >= cpus():
        return None
    jobs_r, jobs_w = os.pipe()
    answers_r, answers_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (jobs_r, jobs_w, answers_r, answers_w):
            os.close(fd)
        return None
    if pid == 0:  # the worker: never returns
        code = 1
        try:
            os.close(jobs_w)
            os.close(answers_r)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _silence()
            _serve(jobs_r, answers_w)
            code = 0
        finally:
            os._exit(code)
    os.close(jobs_r)
    os.close(answers_w)
    return Worker(pid, jobs_w, answers_r)


def _silence() -> None:
    """In the worker: nothing it does reaches the terminal. The caller's `sys.stderr` may be a
    console object shared with a thread that the fork did not copy (Rich's live progress display),
    whose lock the fork may have copied held: the worker writes to /dev/null through fresh objects,
    and warnings are not shown."""
    import sys
    import warnings

    warnings.simplefilter("ignore")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives as long as the worker
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def _serve(jobs: int, answers: int) -> None:
    """In the worker: read one call, run it, write back ("ok", value) or ("error", why)."""
    message = _read_message(jobs, None)
    os.close(jobs)
    if message is None:  # the caller finished without submitting anything
        return
    try:
        fn, args, kwargs = pickle.loads(message)
        answer = ("ok", fn(*args, **kwargs))
    except BaseException as e:  # noqa: BLE001 - every failure is the caller's cue to compute it itself
        answer = ("error", f"{type(e).__name__}: {e}")
    try:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001 - an answer that cannot be pickled
        data = pickle.dumps(("error", f"unpicklable answer: {type(e).__name__}: {e}"))
    _write_all(answers, _LENGTH.pack(len(data)) + data)
    os.close(answers)


class Worker:
    """The caller's end of a forked worker: `submit` one call, then `result`; `close` always."""

    def __init__(self, pid: int, jobs: int, answers: int):
        self.pid, self._jobs, self._answers = pid, jobs, answers
        self.submitted = False
        self.failure: str | None = None  # why `result` answered None
        self._done = False

    def submit(self, fn, *args, **kwargs) -> bool:
        """Send the call (`fn` a module-level function; arguments picklable). False when it
        could not be sent (the caller then computes it itself)."""
        if self.submitted or self._jobs is None:
            return False
        try:
            data = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
            _write_all(self._jobs, _LENGTH.pack(len(data)) + data)
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as e:
            self.failure = f"could not send the call: {type(e).__name__}: {e}"
            self.close()
            return False
        finally:
            if self._jobs is not None:
                os.close(self._jobs)
                self._jobs = None
        self.submitted = True
        return True

    def result(self, timeout: float | None = None):
        """The call's value, or None (with `failure` saying why) when the worker failed, died or
        did not answer within `timeout` seconds (LOOPMETER_BESIDE_TIMEOUT, default 600)."""
        if not self.submitted or self._done:
            return None
        if timeout is None:
            timeout = _timeout()
        try:
            message = _read_message(self._answers, time.monotonic() + timeout)
        except TimeoutError:
            self.failure = f"no answer within {timeout:g} s"
            message = None
        except OSError as e:
            self.failure = f"reading its answer: {e}"
            message = None
        self.close()
        if message is None:
            self.failure = self.failure or "the worker ended without an answer"
            return None
        try:
            status, value = pickle.loads(message)
        except Exception as e:  # noqa: BLE001
            self.failure = f"an unreadable answer: {type(e).__name__}: {e}"
            return None
        if status != "ok":
            self.failure = str(value)
            return None
        return value

    def close(self) -> None:
        """End the worker (if it still runs) and reap it; idempotent."""
        if self._done:
            return
        self._done = True
        for fd in (self._jobs, self._answers):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._jobs = self._answers = None
        try:
            if os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _timeout() -> float:
    raw = os.environ.get("LOOPMETER_BESIDE_TIMEOUT", "").strip()
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes | None:
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None  # the other end closed (or died) first
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_message(fd: int, deadline: float | None) -> bytes | None:
    head = _read_exactly(fd, _LENGTH.size, deadline)
    if head is None:
        return None
    return _read_exactly(fd, _LENGTH.unpack(head)[0], deadline)
