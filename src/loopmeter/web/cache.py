"""Documents kept per (request, store fingerprint), each computed once however many ask at once.

A report over a large store takes seconds to minutes, so fifty people opening the same view must
cost one computation (the first asks, the others wait for its answer), and a view asked again
costs a dictionary lookup until the store changes. The fingerprint is the store file's (and its
write-ahead log's) size and modification time: a `stat`, cheap enough to check on every request.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path


def fingerprint(store_path: Path) -> str:
    """Changes whenever the store file or its WAL is written; "missing" when there is no store."""
    parts = []
    for p in (store_path, store_path.with_name(store_path.name + ".wal")):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            parts.append("-")
            continue
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    if parts[0] == "-":
        return "missing"
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class _Flight:
    def __init__(self):
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None


class DocumentCache:
    """`get(key, fp, build)`: the cached value of (key, fp), or build() once for all who ask."""

    def __init__(self, size: int = 64):
        self.size = size
        self.lock = threading.Lock()
        self.values: OrderedDict[tuple, object] = OrderedDict()
        self.flights: dict[tuple, _Flight] = {}
        self.builds = 0  # how many times build() ran (tests and the benchmark read it)

    def get(self, key: Hashable, fp: str, build: Callable[[], object]):
        k = (key, fp)
        with self.lock:
            if k in self.values:
                self.values.move_to_end(k)
                return self.values[k]
            flight = self.flights.get(k)
            owner = flight is None
            if owner:
                flight = self.flights[k] = _Flight()
        if not owner:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            flight.value = build()
            self.builds += 1
        except BaseException as e:
            # Errors are not cached: a store busy with an ingest is answered again next time.
            flight.error = e
            raise
        finally:
            with self.lock:
                if flight.error is None:
                    # Views of an older store are dropped as soon as a newer one is built.
                    for old in [x for x in self.values if x[0] == key and x[1] != fp]:
                        del self.values[old]
                    self.values[k] = flight.value
                    while len(self.values) > self.size:
                        self.values.popitem(last=False)
                del self.flights[k]
            flight.done.set()
        return flight.value
