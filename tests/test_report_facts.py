"""Per-report fact tables (metrics.changes.facts) and SQL written once for every engine (metrics.portable).

Inside `facts`, `changes` and `contributing_commits` read a temporary table computed once; the rows
must be exactly those the derivation gives outside it, for all repositories and for any subset
(the report asks per repository too). The SQL metrics are DuckDB SQL that Ibis hands to sqlglot
for other engines: each must transpile to Spark SQL, and the few that cannot go to another
dialect are the ones docs/scale.md lists.
"""

from __future__ import annotations

from datetime import datetime

import pytest

import loopmeter
from lift_sim import Team, write_repo
from loopmeter.legibility import store_facts
from loopmeter.metrics import ci, dora, experiments, incidents, issues, portable, pr_cycle, waiting
from loopmeter.metrics.changes import Window, backend, changes, contributing_commits, facts
from loopmeter.metrics.dora import FailureRule
from loopmeter.store.db import Store

AS_OF = datetime(2024, 3, 1)


@pytest.fixture(scope="module")
def two_repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("facts")
    for k in range(2):
        write_repo(root / f"r{k}", Team(authors=3, weeks=6, adoption_week=3, author_offset=10 * k), seed=k)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "r0", root / "r1"], store_path=store)
    return store


def _rows(con, t):
    df = con.execute(t.order_by("item_id") if "item_id" in t.columns else t.order_by(["repo", "sha"]))
    return [tuple(map(repr, r)) for r in df.itertuples(index=False)]


def test_changes_inside_facts_are_the_rows_computed_without_them(two_repos):
    store = Store.open(two_repos)
    try:
        con = backend(store)
        window = Window(as_of=AS_OF, rule="newest landing in the data")
        repos = sorted(r for (r,) in store.con.execute("select repo from repos").fetchall())
        plain = {
            "all": _rows(con, changes(con, window)),
            "one": _rows(con, changes(con, window, [repos[1]])),
            "commits": _rows(con, contributing_commits(con, None, None)),
            "commits_one": _rows(con, contributing_commits(con, [repos[0]], None)),
        }
        with facts(con, window):
            inside = changes(con, window)
            # Read from the temporary table, not derived again.
            assert "_lm_changes_" in str(con.compile(inside))
            assert "_lm_contributing_commits_" in str(con.compile(contributing_commits(con, [repos[0]], None)))
            got = {
                "all": _rows(con, inside),
                "one": _rows(con, changes(con, window, [repos[1]])),
                "commits": _rows(con, contributing_commits(con, None, None)),
                "commits_one": _rows(con, contributing_commits(con, [repos[0]], None)),
            }
            # Another window is another derivation (kept too, in a table of its own).
            week = Window(as_of=AS_OF, days=7, rule="newest landing in the data")
            other = changes(con, week)
            assert str(con.compile(other)) != str(con.compile(inside))
            got["week"] = _rows(con, other)
        plain["week"] = _rows(con, changes(con, week))
        assert plain["week"] != plain["all"]
        assert got == plain and len(plain["all"]) > 50 and 0 < len(plain["one"]) < len(plain["all"])
        # The tables are gone after the block and lookups derive again.
        assert not store.con.execute("select * from duckdb_tables() where table_name like '_lm_changes_%'").fetchall()
        assert "_lm_changes_" not in str(con.compile(changes(con, window)))
    finally:
        store.close()


def test_a_report_of_some_repositories_reads_its_own_facts(two_repos):
    whole = loopmeter.report_from_store(store_path=two_repos, as_of=AS_OF)
    repo = whole["repos"][0]["repo"]
    one = loopmeter.report_from_store(store_path=two_repos, as_of=AS_OF, repos=[repo])
    assert one["totals"] == whole["repos"][0]["totals"]
    assert one["totals"]["changes"] < whole["totals"]["changes"]


SQL_METRICS = {
    "ci runs": ci.runs_sql(AS_OF),
    "merge ci": ci.merge_ci_sql(AS_OF),
    "deployments": dora.deployments_sql(AS_OF, FailureRule()),
    "change leads": dora.change_leads_sql(AS_OF),
    "bugs": issues.bugs_sql(AS_OF),
    "tickets": issues.tickets_sql(AS_OF),
    "reopens": issues.reopen_sql(AS_OF),
    "pull requests": pr_cycle.pr_rows_sql(AS_OF),
    "waiting": waiting.waiting_sql(AS_OF),
    "waiting weekly": waiting.weekly_sql(AS_OF),
    "incidents": incidents.incidents_sql(repos=["api"], team="core", since=AS_OF.date(), until=AS_OF.date()),
    "experiment runs": experiments.runs_sql(["mlflow:churn"]),
    "legibility names": store_facts.names_sql(["api", "web"]),
    "legibility counts": store_facts.counts_sql([store_facts.Scope("api", ("acme/api", "api"), datetime(2023, 3, 1), AS_OF),
                                                 store_facts.Scope("web", ("web",), datetime(2023, 2, 1), AS_OF)]),
    "legibility changes": store_facts.changes_sql([store_facts.Scope("api", ("api",), datetime(2023, 3, 1), AS_OF)]),
}
# docs/scale.md "What is still DuckDB-only": sqlglot has no rendering of a JSON path wildcard
# (`$.labels[*].name`) for these dialects; and BigQuery and Trino have no exact percentile
# aggregate, which loopmeter refuses to approximate (docs/scale.md "Percentiles").
UNTRANSPILABLE = {("bigquery", "bugs"), ("snowflake", "bugs"), ("trino", "bugs"),
                  ("bigquery", "legibility counts"), ("trino", "legibility counts")}


@pytest.mark.parametrize("engine", ["pyspark", "bigquery", "snowflake", "trino"])
def test_every_sql_metric_transpiles_or_is_listed_as_not(engine):
    failed = set()
    for name, query in SQL_METRICS.items():
        try:
            out = portable.transpile(query, engine)
        except Exception:  # sqlglot's UnsupportedError: the feature has no rendering there
            failed.add((engine, name))
            continue
        # DuckDB-only spellings are gone from what the engine receives.
        for word in ("json_extract_string", "list_contains", "epoch(", "arg_min"):
            assert word not in out.lower(), (engine, name, word)
    assert failed == {f for f in UNTRANSPILABLE if f[0] == engine}


def test_on_duckdb_the_sql_runs_as_written(two_repos):
    store = Store.open(two_repos)
    try:
        con = backend(store)
        assert portable.transpile(SQL_METRICS["merge ci"], "duckdb") == SQL_METRICS["merge ci"]
        t = portable.sql(con, SQL_METRICS["merge ci"])
        assert con.execute(t.count()) == 0  # no CI runs in this store: no verdicts
        assert backend(con) is con
        with pytest.raises(TypeError):
            backend(store.con)
    finally:
        store.close()
