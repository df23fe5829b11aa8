"""Engine selection (`--engine`, `--from-parquet`; loopmeter/engine.py) and the one portable percentile
(metrics/portable.py): what each engine is sent, and the one-line errors when an engine cannot run.
The runs on Spark itself are tests/test_spark_parity.py."""

from __future__ import annotations

import json
import sys

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from loopmeter import api
from loopmeter.cli import app
from loopmeter.errors import ConfigError
from loopmeter.metrics import portable
from loopmeter.metrics.quantiles import quantile_sql

Q = f"select g, {quantile_sql('x', 0.85)} as p from t group by g"


@pytest.mark.parametrize("engine, exact", [("pyspark", "PERCENTILE(x, 0.85)"), ("databricks", "PERCENTILE(x, 0.85)"),
                                           ("snowflake", "PERCENTILE_CONT(0.85) WITHIN GROUP (ORDER BY x)")])
def test_the_sql_percentile_is_each_engines_exact_one(engine, exact):
    out = portable.transpile(Q, engine)
    assert exact in out and "APPROX" not in out.upper()


@pytest.mark.parametrize("engine", ["trino", "bigquery"])
def test_an_engine_without_an_exact_percentile_is_refused_not_approximated(engine):
    with pytest.raises(ConfigError, match=f"{engine} engine has no exact percentile"):
        portable.transpile(Q, engine)


def test_the_postgres_rendering_of_the_percentile_computes_duckdbs_value():
    """An independent check of the rewritten form: DuckDB runs the ordered-set aggregate Postgres is
    sent, and it equals quantile_cont and numpy's linear quantile."""
    con = duckdb.connect()
    x = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0]
    con.execute("create table t as select 'a' as g, unnest(?::double[]) as x", [x])
    rewritten = portable.transpile(Q, "postgres")
    assert "WITHIN GROUP" in rewritten
    a = con.execute(rewritten).fetchone()[1]
    b = con.execute(Q).fetchone()[1]
    assert a == b == pytest.approx(float(np.quantile(x, 0.85)), rel=1e-12)


def _cli(*args):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("args, says", [
    (["report", "--engine", "spark"], "--engine spark reads a Parquet export: give --from-parquet DIR"),
    (["lift", "--engine", "spark"], "--engine spark reads a Parquet export: give --from-parquet DIR"),
    (["report", "--engine", "presto", "--from-parquet", "x"], "--engine 'presto': expected one of duckdb, spark"),
    (["lift", "--from-parquet", "x", "--csv", "t.csv"], "--csv does not read them"),
])
def test_engine_options_that_cannot_work_are_one_line(args, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = _cli(*args)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code != 0 and len(lines) == 1 and says in lines[0] and "Traceback" not in r.output, r.output


def test_a_directory_that_is_no_export_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = _cli("report", "--engine", "duckdb", "--from-parquet", str(tmp_path / "nowhere"))
    assert r.exit_code != 0 and "nowhere: no such directory" in r.output
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "items.parquet").write_bytes(b"")
    r = _cli("lift", "--engine", "duckdb", "--from-parquet", str(tmp_path / "old"))
    assert r.exit_code != 0 and "not a loopmeter Parquet export" in r.output and "older loopmeter" in r.output


def _exported(tmp_path, demo_repo):
    store = tmp_path / "s.duckdb"
    api.ingest([demo_repo[0]], store_path=store)
    api.export("parquet", tmp_path / "pq", store_path=store)
    return tmp_path / "pq"


def test_spark_without_pyspark_is_one_line(tmp_path, demo_repo, monkeypatch):
    pq = _exported(tmp_path, demo_repo)
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark...` now fails as if not installed
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigError, match=r"needs PySpark: pip install 'loopmeter\[spark\]'"):
        api.report_from_store(engine="spark", parquet=pq)


def test_spark_without_java_is_one_line(tmp_path, demo_repo, monkeypatch):
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    pq = _exported(tmp_path, demo_repo)
    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None)
    with pytest.raises(ConfigError, match="needs Java 17 or newer"):
        api.lift(engine="spark", parquet=pq)


def test_lift_from_the_parquet_export_equals_the_stores(tmp_path, demo_repo):
    """`lift --engine duckdb --from-parquet DIR` gives the store's design (the plumbing the Spark run
    shares; its numbers on Spark are checked through the report's designs in test_spark_parity)."""
    from datetime import datetime

    pq = _exported(tmp_path, demo_repo)
    kw = dict(design="ai-vs-human", as_of=datetime(2024, 1, 20), n_boot=100)
    here = api.lift(store_path=tmp_path / "s.duckdb", **kw)
    there = api.lift(engine="duckdb", parquet=pq, **kw)
    assert here["results"] and here == there


def test_an_object_store_url_is_given_to_spark_unchanged(monkeypatch):
    """`--from-parquet s3a://bucket/lake/` reaches Spark as that URL, table by table (Path() would
    have made it `s3a:/bucket/lake`), and an export Spark finds nothing in is named in one line."""
    from loopmeter import engine

    asked: list[str] = []

    class Read:
        def parquet(self, location):
            asked.append(location)
            raise RuntimeError(f"[PATH_NOT_FOUND] Path does not exist: {location}.")

    class Session:
        read = Read()

    monkeypatch.setattr(engine, "spark_session", lambda: Session())
    r = _cli("report", "--engine", "spark", "--from-parquet", "s3a://bucket/lake/")
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code != 0 and len(lines) == 1 and "s3a://bucket/lake: not a loopmeter Parquet export" in lines[0], r.output
    assert asked and all(a.startswith("s3a://bucket/lake/") for a in asked) and "s3a://bucket/lake/items" in asked


def test_duckdb_reads_no_object_store_but_a_file_url(tmp_path, demo_repo):
    """The driver's DuckDB reaches no network: an object-store URL on --engine duckdb is one line;
    a file:// URL is the local directory (the same design as the store's)."""
    from datetime import datetime

    r = _cli("lift", "--engine", "duckdb", "--from-parquet", "gs://bucket/lake")
    assert r.exit_code != 0 and "gs://bucket/lake: only --engine spark reads an object store" in r.output
    pq = _exported(tmp_path, demo_repo)
    kw = dict(design="ai-vs-human", as_of=datetime(2024, 1, 20), n_boot=100)
    here = api.lift(store_path=tmp_path / "s.duckdb", **kw)
    assert here["results"] and api.lift(engine="duckdb", parquet=pq.as_uri(), **kw) == here


def test_resource_rules_over_an_export_without_names_are_one_line(tmp_path, monkeypatch):
    """A log's `[[log.resource]]` rules match resource names, which an export without --show-names
    leaves out: `lift --log` over it says so in one line instead of counting every agent as a
    person; with the names exported, the loop equals the store's (tests/test_spark_parity.py checks
    the same on Spark)."""
    from test_log_loops import desk_store

    from loopmeter.config import load_config

    store = desk_store(tmp_path)
    toml = tmp_path / "loopmeter.toml"
    toml.write_text('[[log]]\nname = "desk"\nend = ["Close"]\n[[log.resource]]\npattern = "agent-*"\nkind = "agent"\n')
    config = load_config(toml)
    api.export("parquet", tmp_path / "anon", store_path=store)
    with pytest.raises(ConfigError, match=r"event log 'desk': .*\[\[log.resource]] rules match resource names.*--show-names"):
        api.log_lift("desk", engine="duckdb", parquet=tmp_path / "anon", config=config, n_boot=50)
    api.export("parquet", tmp_path / "named", store_path=store, show_names=True)
    here = api.log_lift("desk", store_path=store, config=config, n_boot=50)
    there = api.log_lift("desk", engine="duckdb", parquet=tmp_path / "named", config=config, n_boot=50)
    assert here["ai_share"]["ai_handled"] >= 1 and here == there
    monkeypatch.chdir(tmp_path)  # loopmeter.toml is read from here
    out = CliRunner().invoke(app, ["lift", "--log", "desk", "--engine", "duckdb", "--from-parquet", "named", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["ai_share"] == here["ai_share"]
    out = CliRunner().invoke(app, ["lift", "--log", "desk", "--engine", "duckdb", "--from-parquet", "anon"])
    assert out.exit_code != 0 and "--show-names" in out.output and "Traceback" not in out.output
