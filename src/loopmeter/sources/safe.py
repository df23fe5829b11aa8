"""Safe parsers for untrusted input: every reader's times, numbers, JSON and text pass through here.

A fuzzing audit (issue 13) found ~2,100 tracebacks in ~61,000 inputs, all from a few causes: times
near year 1 or 9999 and huge epochs (OverflowError in arithmetic or in DuckDB), deeply nested JSON
(RecursionError), NaN/inf and strings where numbers belong, lone UTF-16 surrogates (which neither
pyarrow nor DuckDB can encode), and integers past 64 bits. The rule here: a value that cannot be
used comes back as None (the reader then skips or counts the record, naming file and line); these
functions never raise on bad data, except `loads`, whose ValueError means "not JSON".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import BadInput, LoopmeterError

#: The times loopmeter accepts. Outside this range a time is a bug or an attack, not history:
#: ages and durations computed from it would overflow or mean nothing.
MIN_TIME = datetime(1900, 1, 1)
MAX_TIME = datetime(2200, 1, 1)
_MIN_EPOCH = (MIN_TIME - datetime(1970, 1, 1)).total_seconds()
_MAX_EPOCH = (MAX_TIME - datetime(1970, 1, 1)).total_seconds()
INT64_MAX = 2**63 - 1
#: No log loopmeter reads nests deeper than a few levels; 200 leaves room and keeps any
#: recursive walk of the parsed value (json.dumps of stored attributes) far from Python's limit.
MAX_DEPTH = 200
_EPOCH = datetime(1970, 1, 1)
_EPOCH_TEXT = re.compile(r"^\d{9,13}(\.\d+)?$")


def in_range(t: datetime | None) -> datetime | None:
    """`t` (naive UTC) when it lies in [MIN_TIME, MAX_TIME), else None."""
    return t if t is not None and MIN_TIME <= t < MAX_TIME else None


def from_epoch(seconds: float) -> datetime | None:
    """Unix seconds as naive UTC, None when not finite or outside the accepted range."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return None
    if not _MIN_EPOCH <= seconds < _MAX_EPOCH:
        return None
    return _EPOCH + timedelta(seconds=seconds)


def from_epoch_ns(ns: Any) -> datetime | None:
    """Unix nanoseconds (OTLP's time_unix_nano) as naive UTC; None for 0, absurd or non-integer values."""
    if isinstance(ns, str) and ns.isdigit():
        ns = int(ns)
    if not isinstance(ns, int) or isinstance(ns, bool) or ns <= 0:
        return None
    return from_epoch(ns / 1e9)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time, Unix epoch seconds (milliseconds when above 1e11), or a datetime, as naive
    UTC in the accepted range; None for anything else (never raises)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        try:
            t = value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo is not None else value
        except (OverflowError, ValueError):
            return None
        return in_range(t)
    if isinstance(value, str) and _EPOCH_TEXT.match(value.strip()):
        value = float(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return None
        return from_epoch(value / 1000.0 if value > 1e11 else float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64:
            return None
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if t.tzinfo is not None:
            try:
                t = t.astimezone(timezone.utc).replace(tzinfo=None)
            except (OverflowError, ValueError):  # 0001-01-01T00:00+01:00 has no UTC time
                return None
        return in_range(t)
    return None


def to_int(value: Any, *, minimum: int = -INT64_MAX, maximum: int = INT64_MAX) -> int | None:
    """A whole number that fits a BIGINT column (and [minimum, maximum]), from an int, a finite
    float with no fraction or digits in a string; None otherwise (bools, NaN, inf, lists, 1e300)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d{1,19}", text):
            return None
        value = int(text)
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    return value if minimum <= value <= maximum else None


def to_float(value: Any, *, minimum: float = -1e15, maximum: float = 1e15) -> float | None:
    """A finite number within [minimum, maximum] from an int, float or numeric string; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int):
        if not minimum <= value <= maximum:
            return None
        value = float(value)
    if not isinstance(value, float) or not math.isfinite(value):
        return None
    return value if minimum <= value <= maximum else None


def clean_text(s: str) -> str:
    """`s` with lone surrogates (valid in JSON's \\uD800 escapes, not in UTF-8) replaced by U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clean(value: Any) -> Any:
    """`value` (parsed JSON) with every string cleaned by `clean_text`, keys included (iterative:
    no recursion limit to hit)."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, (dict, list)):
        return value
    root = [value]
    stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while stack:
        parent, key, node = stack.pop()
        if isinstance(node, dict):
            new = {}
            for k, v in node.items():
                k = clean_text(k) if isinstance(k, str) else k
                new[k] = v
                if isinstance(v, (dict, list)):
                    stack.append((new, k, v))
                elif isinstance(v, str):
                    new[k] = clean_text(v)
            parent[key] = new
        else:
            new_list = list(node)
            for i, v in enumerate(new_list):
                if isinstance(v, (dict, list)):
                    stack.append((new_list, i, v))
                elif isinstance(v, str):
                    new_list[i] = clean_text(v)
            parent[key] = new_list
    return root[0]


def _finite_float(text: str) -> float | None:
    f = float(text)
    return f if math.isfinite(f) else None


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(raw: str | bytes) -> Any:
    """json.loads for untrusted text: NaN/Infinity and overflowing floats become None, lone
    surrogates are replaced, and nesting too deep for Python (RecursionError) or integers too long
    to convert are a ValueError like any other invalid JSON."""
    try:
        doc = json.loads(raw, parse_constant=lambda c: None, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 ({e.reason})") from None
    # json.JSONDecodeError and the int-digits limit are ValueErrors already.
    if isinstance(doc, (dict, list)) and (raw.count("[") + raw.count("{") if isinstance(raw, str)
                                          else raw.count(b"[") + raw.count(b"{")) > MAX_DEPTH and not depth_ok(doc):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if _SURROGATE.search(data) or (isinstance(raw, str) and not raw.isascii()):
        doc = clean(doc)
    return doc


def depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether parsed JSON nests at most `limit` deep (iterative), so code that walks it
    recursively (json.dumps when storing attributes) cannot overflow the stack."""
    stack = [(value, 1)]
    while stack:
        node, d = stack.pop()
        if d > limit:
            return False
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node if isinstance(v, (dict, list)))
    return True


def _data_errors() -> tuple[type[BaseException], ...]:
    import duckdb
    import pyarrow as pa

    return (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError, RecursionError,
            UnicodeError, pa.ArrowException, duckdb.ConversionException, duckdb.ConstraintException,
            duckdb.InvalidInputException, duckdb.OutOfRangeException)


@contextmanager
def reading(path: Any) -> Iterator[None]:
    """The last line of defence around reading (and storing) one input file: a record of a shape no
    reader foresaw refuses the file in one line naming it, instead of a traceback. The store's
    transaction has rolled back by then, so nothing from the file is stored. (--debug shows the
    cause, chained.) Readers still skip and count the bad records they know about."""
    try:
        yield
    except LoopmeterError:
        raise
    except _data_errors() as e:
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise BadInput(f"{path}: cannot be read: a record has a shape loopmeter does not expect "
                       f"({type(e).__name__}: {first}); nothing from this file was stored") from e
