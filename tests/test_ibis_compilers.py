"""metrics/ibis_compilers.py: Ibis's SQL compilers load one at a time, and everything Ibis does
with them works as before (a dialect by name, a compiler class by name, the package's __all__,
another backend). Run in a fresh interpreter: in this one another test may have loaded them all."""

import os
import subprocess
import sys

CODE = r"""
import sys
import ibis
from loopmeter.metrics import ibis_compilers
ibis_compilers.install()
loaded = lambda: sorted(m.rsplit(".", 1)[-1] for m in sys.modules if m.startswith("ibis.backends.sql.compilers."))
con = ibis.duckdb.connect()
t = ibis.memtable({"a": [1, 2, 3]})
assert con.execute(t.filter(t.a > 1).a.sum()) == 5
print("duckdb:", ",".join(loaded()))
expr = ibis.table({"a": "int64"}, name="t")
assert '"t0"."a" > 1' in ibis.to_sql(expr.filter(expr.a > 1), dialect="trino")
print("trino:", ",".join(loaded()))
from ibis.backends.sql.compilers import PostgresCompiler
import ibis.backends.sql.compilers as sc
# The package's name for it is the very class its own module defines (not a stand-in).
from ibis.backends.sql.compilers.postgres import PostgresCompiler as defined
assert PostgresCompiler is defined and "SnowflakeCompiler" in sc.__all__
try:
    ibis.to_sql(expr, dialect="nonesuch")
except ValueError as e:
    print("unknown:", e)
print("all:", len(loaded()))
"""


def test_a_duckdb_backend_loads_its_compiler_alone_and_the_rest_on_demand():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.splitlines()
    assert out[0] == "duckdb: _compat,base,duckdb"
    assert out[1] == "trino: _compat,base,duckdb,trino"
    assert out[2] == "unknown: Unknown dialect nonesuch"
    assert int(out[3].split()[1]) >= 22  # every compiler once a class is asked for by name
