"""The one place percentiles are computed, so every engine and report agrees on the method.

We use the continuous (linear interpolation) quantile, numpy's default and DuckDB's
`quantile_cont`. Three entry points, one method: an Ibis expression (most metrics), a DuckDB SQL
fragment (a metric computed in one raw grouped query) and values already in memory (numpy).

Exact on every engine that has an exact aggregate: Ibis compiles `quantile` to DuckDB's
`quantile_cont`, Spark's `percentile` and Snowflake's `percentile_cont`; the SQL fragment is
rewritten for the engine by metrics/portable.py (sqlglot alone would send Spark the approximate
`percentile_approx`) and refused, not approximated, where no exact aggregate exists (Trino,
BigQuery; docs/scale.md "Percentiles").
"""

from __future__ import annotations

from collections.abc import Iterable

import ibis.expr.types as ir
import numpy as np


def quantile(column: ir.NumericColumn, q: float) -> ir.NumericScalar:
    return column.quantile(q)


def quantile_sql(expr: str, q: float) -> str:
    """The quantile as a DuckDB aggregate over the SQL expression `expr` (null over no values)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be between 0 and 1, got {q}")
    return f"quantile_cont({expr}, {float(q)!r})"


def quantile_of(values: Iterable[float], q: float) -> float | None:
    """The quantile of numbers in memory; None when there are none."""
    v = np.asarray(list(values), dtype=float)
    return float(np.quantile(v, q)) if v.size else None
