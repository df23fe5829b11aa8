"""What makes a report cheaper must not change a byte of it (bench/report_cost.py measures the cost).

- The per-report fact tables (metrics.changes.facts) judge every validation window from one
  joined table: the document equals the one built with no shared tables at all, every metric
  deriving its changes from the canonical tables itself (the specification table's 7- and 28-day
  windows included, with reverts that fall inside some windows and outside others).
- `durability_weekly` sums every (week, horizon, origin) at once: its rows equal the per-week
  `_rows` it replaced, computed here the slow way.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta

import pytest

import loopmeter
from lift_sim import Team, as_of, write_repo
from loopmeter.metrics import durability as durability_m
from loopmeter.metrics.changes import Window, backend, changes
from loopmeter.report import document
from loopmeter.report.document import to_json
from loopmeter.store.db import Store


def _python(code: str, *args) -> str:
    """What a fresh Python process running `code` (with `args` as sys.argv[1:]) prints: the modules
    a command loads are only known in a process of its own."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          check=True, env=env).stdout

TEAM = Team(authors=5, weeks=16, adoption_week=8)


def _revert(repo, n: int, days: float) -> None:
    """Revert the change `Change n` `days` after it landed (appended at the tip)."""
    import subprocess

    def git(*a, env=None):
        return subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True, text=True,
                              env={**os.environ, **(env or {})}).stdout.strip()

    sha, when = git("log", "--format=%H %ct", "--grep", f"^Change {n}$").split()
    at = f"@{int(when) + int(days * 86400)} +0000"
    git("revert", "--no-edit", sha, env={"GIT_AUTHOR_DATE": at, "GIT_COMMITTER_DATE": at, "GIT_AUTHOR_NAME": "Dev 1",
                                          "GIT_AUTHOR_EMAIL": "dev1@example.com", "GIT_COMMITTER_NAME": "Dev 1",
                                          "GIT_COMMITTER_EMAIL": "dev1@example.com"})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("cost")
    write_repo(root / "r", TEAM, seed=5)
    # Reverted within 7 days; within 14 but not 7; within 28 but not 14.
    for n, days in ((20, 3), (40, 10), (60, 20)):
        _revert(root / "r", n, days)
    path = root / "lm.duckdb"
    loopmeter.ingest([root / "r"], store_path=path)
    return path


def _doc(path) -> str:
    doc = loopmeter.report_from_store(store_path=path, as_of=as_of(TEAM))
    doc.pop("generated_at")
    return to_json(doc)


def test_the_document_equals_one_built_without_shared_fact_tables(store, monkeypatch):
    with Store.open(store) as st:
        con = backend(st)
        judged = {}
        for d in (7, 14, 28):
            ch = changes(con, Window(as_of=as_of(TEAM), days=d))
            df = con.execute(ch.filter(ch.title.isin(["Change 20", "Change 40", "Change 60"])).select("title", "state"))
            judged[d] = dict(zip(df["title"], df["state"]))
    # By hand: reverted 3, 10 and 20 days after landing.
    assert judged[7] == {"Change 20": "reverted", "Change 40": "validated", "Change 60": "validated"}
    assert judged[14] == {"Change 20": "reverted", "Change 40": "reverted", "Change 60": "validated"}
    assert judged[28] == {"Change 20": "reverted", "Change 40": "reverted", "Change 60": "reverted"}
    shared = _doc(store)
    monkeypatch.setattr(document, "facts", lambda *a, **k: contextlib.nullcontext())
    alone = _doc(store)
    assert shared == alone
    assert '"specification"' in shared and '"window_days": 28' in shared and '"durability_weekly"' in shared


def _weekly_slow(cs, horizons):
    """The per-week loop `durability_weekly` used to run."""
    import pandas as pd

    out = []
    for week, g in cs.groupby("week", sort=True):
        for r in durability_m._rows(g, horizons):
            if r["origin"] in ("ai", "human") and r["changes"]:
                out.append({"week": pd.Timestamp(week).date().isoformat(), **r})
    return out


def test_durability_weekly_equals_the_rows_per_week(store):
    with Store.open(store) as st:
        con = backend(st)
        window = Window(as_of=as_of(TEAM) + timedelta(days=200))
        horizons = (30, 7, 90)  # the order given is the order of the rows within a week
        cs = durability_m.change_survival(con, window, None, horizons)
    assert cs["ai_assisted"].any() and (~cs["ai_assisted"]).any() and cs["lines_surviving"].lt(cs["lines_added"]).any()
    cs.loc[cs.index[::7], "bot"] = True  # bots are in neither origin
    got = durability_m.durability_weekly(None, window, None, horizons, survival=cs)
    assert got == _weekly_slow(cs, horizons)
    assert len(got) > 40 and {r["horizon_days"] for r in got} == {7, 30, 90}


def test_the_cli_loads_no_statistics_or_dataframe_library_until_a_command_needs_one():
    """`loopmeter ingest`, `--help` and every other command start without scipy, statsmodels,
    pandas, Ibis or plotly (0.2 s of CPU at every start); the report loads them when it runs."""

    heavy = ("scipy", "statsmodels", "pandas", "ibis", "plotly", "sqlglot")
    code = ("import sys, loopmeter.cli; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    assert _python(code).strip() == ""


def test_an_idle_ingest_rerun_loads_no_arrow_numpy_or_pandas(tmp_path):
    """A re-run of `loopmeter ingest` with nothing new reads no commits and writes no rows, so it
    loads none of pyarrow, numpy, pandas (nor the statistics stack): the modules of the ingest path
    import them where they build tables. The first run (a real ingest) must load pyarrow, which
    shows the check can fail."""

    write_repo(tmp_path / "r", Team(authors=2, weeks=3, adoption_week=1), seed=1)
    heavy = ("pyarrow", "numpy", "pandas", "scipy", "ibis")
    code = ("import sys\n"
            "from loopmeter.cli import main\n"
            f"sys.argv = ['loopmeter', 'ingest', sys.argv[1], '--store', sys.argv[2]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            f"print('loaded:' + ','.join(m for m in {heavy!r} if m in sys.modules))")

    def run() -> tuple[str, str]:
        out = _python(code, tmp_path / "r", tmp_path / "lm.duckdb")
        summary, loaded = out.rsplit("loaded:", 1)
        return summary, loaded.strip()

    first, loaded_first = run()
    assert "pyarrow" in loaded_first.split(",")
    again, loaded_again = run()
    assert "0 new commits (unchanged)" in again, again
    assert loaded_again == ""


def test_analyze_checks_its_options_before_the_ingest_without_the_statistics_stack(tmp_path):
    """`analyze` refuses a bad --by or --adoption-date before it reads anything, and those checks
    (lift/options.py) load neither pandas, Ibis nor the statistics: the ingest that follows runs
    without them in memory. What was loaded is recorded when the ingest starts; with a bad
    --adoption-date the same path must still refuse in one line."""

    heavy = ("pandas", "ibis", "scipy", "statsmodels")
    code = ("import sys\n"
            "from loopmeter import api\n"
            "def ingest(*a, **k):\n"
            f"    print('loaded:' + ','.join(m for m in {heavy!r} if m in sys.modules)); raise SystemExit(0)\n"
            "api.ingest = ingest\n"
            "try:\n"
            "    api.analyze([sys.argv[1]], store_path=sys.argv[2], adoption_date=sys.argv[3:] or None, by='repo')\n"
            "except api.ConfigError as e:\n    print('refused:', e)\n")

    def run(*dates: str) -> str:
        return _python(code, tmp_path, tmp_path / "lm.duckdb", *dates).strip()

    assert run("api=2024-03-01", "web=2024-05-01") == "loaded:"
    assert run("2024-13-01").startswith("refused: --adoption-date: '2024-13-01' is not YYYY-MM-DD")
    assert not (tmp_path / "lm.duckdb").exists()


def test_the_reports_estimators_load_neither_scipy_stats_nor_statsmodels():
    """A report's estimators fit without scipy.stats or statsmodels (~0.6 s of CPU to import, issue
    14): the log-duration regression and the ITS's three models are numpy (stats/ols.py,
    stats/its_models.py), the Hodges-Lehmann p-value is stats/dist.py's. Each is fitted here in a
    fresh interpreter, which then imports statsmodels itself, to show the check can see it."""

    code = (
        "import sys\n"
        "import loopmeter.cli, loopmeter.api, loopmeter.report.document\n"
        "import numpy as np\n"
        "from loopmeter.stats.regression import log_duration_ols\n"
        "from loopmeter.stats.its import interrupted_time_series, placebo_breaks\n"
        "from loopmeter.stats.ranks import hodges_lehmann\n"
        "rng = np.random.default_rng(0)\n"
        "assert log_duration_ols(rng.lognormal(size=40), np.arange(40) % 2 == 0, clusters=np.arange(40) % 8).ratio > 0\n"
        "assert log_duration_ols(rng.lognormal(size=40), np.arange(40) % 2 == 0).ratio > 0\n"
        "y = rng.poisson(rng.gamma(2.0, 3.0, 40)).astype(float)\n"
        "for model in ('ols', 'poisson', 'negbin'):\n"
        "    assert np.isfinite(interrupted_time_series(np.log1p(y) if model == 'ols' else y, 20, model=model).level_change)\n"
        "assert placebo_breaks(y, 20, model='poisson').n_placebos > 0\n"
        "assert hodges_lehmann(rng.lognormal(size=30), rng.lognormal(size=25)).p_value > 0\n"
        "print('fit:' + ','.join(m for m in ('scipy.stats', 'statsmodels') if m in sys.modules))\n"
        "import statsmodels.regression.linear_model\n"
        "print('then:' + ','.join(m for m in ('scipy.stats', 'statsmodels') if m in sys.modules))\n"
    )
    assert _python(code).split() == ["fit:", "then:scipy.stats,statsmodels"]


def test_the_special_functions_load_without_scipy_specials_package():
    """stats/special.py takes the ufuncs from scipy.special._ufuncs alone: scipy.special's __init__
    (array-API wrappers for every function, and through scipy's array-API layer numpy.f2py and
    numpy.testing) stays out, ~0.15 s a report. A later `import scipy.special` is the whole
    package, sharing the same ufuncs; a plain import loads numpy.f2py, so the check can fail."""

    heavy = ("scipy.special", "scipy._lib._array_api", "numpy.f2py", "numpy.testing")
    code = (
        "import sys\n"
        "from loopmeter.stats import dist, its_models, bootstrap\n"
        "assert float(dist.t_ppf(0.975, 10)) > 2.2\n"
        f"print('after:' + ','.join(m for m in {heavy!r} if m in sys.modules))\n"
        "import scipy.special, numpy as np\n"
        "from loopmeter.stats.special import special\n"
        "assert special.ndtr is scipy.special._ufuncs.ndtr and scipy.special.logsumexp([0.0, 0.0]) > 0.69\n"
        "x = np.linspace(0.5, 9.0, 7)\n"
        "assert np.array_equal(special.polygamma(1, x), scipy.special.polygamma(1, x))\n"
        "assert np.array_equal(special.digamma(x), scipy.special.digamma(x))\n"
        "print('later:' + ','.join(m for m in ('scipy.special', 'numpy.f2py') if m in sys.modules))\n"
    )
    assert _python(code).split() == ["after:", "later:scipy.special,numpy.f2py"]
    plain = _python("import sys, scipy.special; print('numpy.f2py' in sys.modules)").strip()
    assert plain == "True"
