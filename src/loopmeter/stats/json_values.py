"""Estimates as plain JSON values: the one conversion every estimator's ``to_dict`` and every
design's document goes through, so ``--json`` never prints the invalid token NaN."""

from __future__ import annotations

import math
import sys
from datetime import date, datetime


def finite(v) -> bool:
    """A real number JSON can carry: not None, not a bool, not NaN or infinite. The one check every
    layer uses before formatting, plotting or comparing a value that may be unknown."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def finite_or_none(v) -> float | None:
    """`v` as a float when it is finite (see `finite`), else None (unknown)."""
    return float(v) if finite(v) else None


def json_ready(x):
    """Plain JSON values: numpy scalars as Python numbers, NaN and infinities as None (unknown),
    dates as ISO strings, tuples as lists, so the report's figures embed cleanly."""
    if isinstance(x, dict):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    # numpy is looked up, not imported: with numpy never loaded no value can be a numpy scalar, and
    # the CLI imports this module at start-up for commands that never load numpy.
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (date, datetime)):
        return x.isoformat()
    return x
