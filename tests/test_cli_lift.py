"""`loopmeter lift` as a user runs it: a real subprocess on a real store built from git repositories,
the same command in-process, the pilot CSV design, and bad input ending in one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from lift_sim import START, Team, as_of, write_repo
from typer.testing import CliRunner

import loopmeter
from loopmeter.cli import app

TEAM = Team(authors=10, weeks=20, adoption_week=10, cycle_ratio=0.7)
ADOPTION = (START + timedelta(weeks=10)).date().isoformat()
AS_OF = as_of(TEAM).date().isoformat()
SRC = Path(__file__).resolve().parent.parent / "src"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # Our own source first: the installed package may point at another checkout.
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "loopmeter", "lift", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=180, check=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-lift")
    write_repo(root / "team", TEAM, seed=31)
    path = root / "lm.duckdb"
    loopmeter.ingest([root / "team"], store_path=path)
    return path


def test_json_output_has_the_documented_shape(store):
    p = run("--store", store, "--adoption-date", ADOPTION, "--as-of", AS_OF, "--json", "--seed", "2")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["design"] == "before-after" and doc["window_days"] == 14
    assert doc["adoption"]["per_repo"] == {"team": ADOPTION} and doc["adoption"]["source"] == "given"
    for r in doc["results"]:
        assert {"design", "metric", "estimator", "ratio", "ci_low", "ci_high", "p_value", "n_a", "n_b",
                "n_clusters", "caveats"} <= set(r)
    med = next(r for r in doc["results"] if r["estimator"] == "ratio_of_medians")
    assert med["ci_low"] < 0.7 < med["ci_high"]
    assert doc["specification"] and doc["specification_range"]["cycle_time_hours"]["n"] >= 6


def test_text_output_says_each_estimate_in_plain_words(store):
    p = run("--store", store, "--design", "ai-vs-human", "--adoption-date", ADOPTION, "--as-of", AS_OF)
    assert p.returncode == 0, p.stderr
    assert "Median cycle time of AI-assisted changes is" in p.stdout and "that of human changes [" in p.stdout
    assert "caveat: AI use was not randomized" in p.stdout
    assert "specification table" in p.stdout


def test_in_process_run_matches_the_api(store):
    res = CliRunner().invoke(app, ["lift", "--store", str(store), "--adoption-date", ADOPTION, "--as-of", AS_OF,
                                   "--json", "--seed", "5"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    from datetime import datetime

    api = loopmeter.api.lift(store_path=store, adoption_dates=[ADOPTION], as_of=datetime.fromisoformat(AS_OF), seed=5)
    assert [r["ratio"] for r in doc["results"]] == [r["ratio"] for r in api["results"]]


def test_adoption_is_detected_when_not_given(store):
    p = run("--store", store, "--as-of", AS_OF, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["adoption"]["source"] == "detected"


def test_pilot_csv_design(tmp_path):
    rows = ["task,hours,arm,dev,lines"]
    import numpy as np

    rng = np.random.default_rng(4)
    for i in range(80):
        treated = i % 2 == 0
        hours = float(np.exp(np.log(20 * (0.6 if treated else 1.0)) + rng.normal(0, 0.3)))
        rows.append(f"{i},{hours:.3f},{'ai' if treated else 'human'},dev{i % 12},{int(rng.integers(5, 400))}")
    rows.append("80,,ai,dev1,20")  # unfinished: reported, not dropped silently
    csv = tmp_path / "tasks.csv"
    csv.write_text("\n".join(rows) + "\n")
    p = run("--csv", csv, "--duration", "hours", "--treatment", "arm", "--treated", "ai", "--cluster", "dev",
            "--covariate", "log:lines", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["design"] == "experiment" and doc["missing_duration_rows"]["count"] == 1
    main = doc["results"][0]
    assert main["estimator"] == "log_duration_ols" and main["ci_low"] < 0.6 < main["ci_high"] < 1
    assert {r["estimator"] for r in doc["results"]} >= {"log_duration_ols", "hodges_lehmann"}


def _cluster_randomized_csv(tmp_path, *, mixed=False):
    import numpy as np

    rng = np.random.default_rng(9)
    rows = ["task,minutes,arm,dev,repo"]
    dev_effect = rng.normal(0, 0.5, 16)
    for i in range(320):
        dev = i % 16
        treated = dev % 2 == 0 if not (mixed and i == 33) else True  # task 33 (dev1) in the wrong arm
        minutes = float(np.exp(np.log(600 * (0.7 if treated else 1.0)) + dev_effect[dev] + rng.normal(0, 0.6)))
        rows.append(f"{i},{minutes:.2f},{'ai' if treated else 'human'},dev{dev},r{i % 3}")
    csv = tmp_path / "tasks.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def test_pilot_randomized_by_cluster_with_fixed_effects_and_minutes(tmp_path):
    csv = _cluster_randomized_csv(tmp_path)
    common = ["--csv", csv, "--duration", "minutes", "--duration-unit", "minutes", "--treatment", "arm",
              "--treated", "ai", "--cluster", "dev", "--randomization", "cluster", "--fixed-effect", "repo"]
    doc = json.loads(run(*common, "--json").stdout)
    assert doc["randomization"] == "cluster" and doc["duration_source"] == {"column": "minutes", "unit": "minutes"}
    main = doc["results"][0]
    assert main["fixed_effects"] == ["repo"] and main["covariance"] == "CR1"
    assert not any("Randomization is assumed" in c for c in main["caveats"])
    assert any("Whole clusters (dev) were randomized" in c for c in main["caveats"])
    # Every interval says whether it allows for the developer clusters; here all of them do.
    assert all(r["clustered"] is True for r in doc["results"]), [(r["estimator"], r["clustered"]) for r in doc["results"]]
    hl = next(r for r in doc["results"] if r["estimator"] == "hodges_lehmann")
    assert hl["ci_method"] == "clustered_rank_test" and hl["plain_clustered"] is False
    text = run(*common).stdout
    assert "Hodges-Lehmann (log minutes)" in text and "log hours" not in text
    assert "cluster-blind" not in text

    # Without the cluster column the rows count as independent, and the text says so.
    plain = run("--csv", csv, "--duration", "minutes", "--treatment", "arm", "--treated", "ai")
    assert plain.returncode == 0, plain.stderr
    assert "Hodges-Lehmann (log durations)" in plain.stdout
    assert plain.stdout.count("(cluster-blind:") == 3  # regression (HC1), Hodges-Lehmann, ratio of medians
    assert "Randomization is assumed" in plain.stdout


def test_pilot_randomized_by_cluster_refuses_a_cluster_in_both_arms(tmp_path):
    csv = _cluster_randomized_csv(tmp_path, mixed=True)
    p = run("--csv", csv, "--duration", "minutes", "--treatment", "arm", "--treated", "ai", "--cluster", "dev",
            "--randomization", "cluster")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert f"{csv}:35: column 'dev': cluster 'dev1' has rows in both arms" in p.stderr
    p = run("--csv", csv, "--duration", "minutes", "--treatment", "arm", "--randomization", "cluster")
    assert p.returncode == 2 and "needs the cluster column" in p.stderr
    p = run("--csv", csv, "--duration", "minutes", "--treatment", "arm", "--randomization", "sideways")
    assert p.returncode == 2 and "--randomization: 'sideways' is not one of unit, cluster, none" in p.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--adoption-date", "2024-13-45"], "--adoption-date: '2024-13-45' is not YYYY-MM-DD"),
        (["--adoption-date", "elsewhere=2024-03-01"], "no repository 'elsewhere' in the store"),
        (["--adoption-date", "2031-01-01"], "has no change with a known cycle time"),
        (["--design", "sideways"], "--design: 'sideways' is not one of"),
        (["--duration", "hours"], "--duration describes a --csv table"),
        (["--window-days", "0"], "--window-days: must be a positive whole number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(store, args, message):
    p = run("--store", store, "--as-of", AS_OF, *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert message in p.stderr and p.stderr.startswith("error:")
    assert len(p.stderr.strip().splitlines()) == 1 and p.stdout == ""


def test_a_single_author_is_refused_in_one_line(tmp_path):
    write_repo(tmp_path / "solo", Team(authors=1, weeks=12, adoption_week=6), seed=3)
    loopmeter.ingest([tmp_path / "solo"], store_path=tmp_path / "s.duckdb")
    p = run("--store", tmp_path / "s.duckdb", "--adoption-date", (START + timedelta(weeks=6)).date().isoformat())
    assert p.returncode == 2 and "1 cluster" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_store_options_with_a_csv_are_refused(tmp_path):
    p = run("--csv", tmp_path / "t.csv", "--duration", "h", "--treatment", "arm", "--adoption-date", "2024-01-01")
    assert p.returncode == 2 and "--adoption-date applies to the designs over the store" in p.stderr


def test_a_csv_with_one_cluster_is_refused(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("hours,arm,dev\n" + "".join(f"{5 + i},{i % 2},same\n" for i in range(10)))
    p = run("--csv", csv, "--duration", "hours", "--treatment", "arm", "--cluster", "dev")
    assert p.returncode == 2 and "single value" in p.stderr and str(csv) in p.stderr


def test_a_csv_with_an_empty_group_is_refused(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("hours,arm\n" + "".join(f"{5 + i},1\n" for i in range(6)) + ",0\n")
    p = run("--csv", csv, "--duration", "hours", "--treatment", "arm")
    assert p.returncode == 2 and "nothing to compare" in p.stderr, p.stderr


def test_lift_help_names_the_team_table_of_loopmeter_toml():
    # Rich reads "[[team]]" as markup and would print "[]": the help must show the table's real name.
    out = CliRunner().invoke(app, ["lift", "--help"], env={"COLUMNS": "200"}).output
    assert out.count("[[team]]") == 2, out
    assert "[]" not in out, out
