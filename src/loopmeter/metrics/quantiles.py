"""The one place percentiles are computed, so every engine and report agrees on the method.

We use the continuous (linear interpolation) quantile, numpy's default and DuckDB's
`quantile_cont`; some Ibis backends only have approximate quantiles, and this is where a
backend-specific choice would go.
"""

from __future__ import annotations

import ibis.expr.types as ir


def quantile(column: ir.NumericColumn, q: float) -> ir.NumericScalar:
    return column.quantile(q)
