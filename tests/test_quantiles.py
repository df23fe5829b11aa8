"""metrics/quantiles.py: the Ibis, SQL and in-memory entry points compute the same continuous
quantile (numpy's default linear method, worked by hand for one case)."""

from __future__ import annotations

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest

from loopmeter.metrics.quantiles import quantile, quantile_of, quantile_sql


def test_the_three_entry_points_agree_with_a_hand_worked_linear_quantile():
    values = [1.0, 2.0, 4.0, 10.0]
    # q = 0.85 sits at position 0.85 * 3 = 2.55: 4 + 0.55 * (10 - 4) = 7.3
    con = duckdb.connect()
    con.register("t", pd.DataFrame({"x": values}))
    sql = con.execute(f"select {quantile_sql('x', 0.85)}, {quantile_sql('x', 0.5)} from t").fetchone()
    ib = ibis.duckdb.from_connection(con)
    t = ib.table("t")
    via_ibis = ib.execute(t.aggregate(p85=quantile(t.x, 0.85), p50=quantile(t.x, 0.5)))
    assert quantile_of(values, 0.85) == pytest.approx(7.3)
    assert sql[0] == pytest.approx(7.3) and float(via_ibis["p85"][0]) == pytest.approx(7.3)
    assert quantile_of(values, 0.5) == sql[1] == float(via_ibis["p50"][0]) == 3.0


def test_no_values_have_no_quantile():
    assert quantile_of([], 0.5) is None
    con = duckdb.connect()
    assert con.execute(f"select {quantile_sql('x', 0.5)} from (select 1.0 as x) where false").fetchone()[0] is None


def test_random_values_agree_with_numpy_in_memory_and_in_duckdb():
    rng = np.random.default_rng(3)
    con = duckdb.connect()
    for n in (1, 2, 5, 50):
        v = rng.lognormal(1, 1, n)
        con.register("t", pd.DataFrame({"x": v}))
        for q in (0.5, 0.85):
            expected = float(np.quantile(v, q))
            assert quantile_of(v, q) == expected
            assert con.execute(f"select {quantile_sql('x', q)} from t").fetchone()[0] == pytest.approx(expected, rel=1e-12)
