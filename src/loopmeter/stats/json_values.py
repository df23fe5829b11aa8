"""Estimates as plain JSON values: the one conversion every estimator's ``to_dict`` and every
design's document goes through, so ``--json`` never prints the invalid token NaN."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np


def json_ready(x):
    """Plain JSON values: numpy scalars as Python numbers, NaN and infinities as None (unknown),
    dates as ISO strings, tuples as lists, so the report's figures embed cleanly."""
    if isinstance(x, dict):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (date, datetime)):
        return x.isoformat()
    return x
