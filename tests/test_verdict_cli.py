"""The verdict as a user meets it: first in `lift`, `report` and `analyze`'s terminal output, in the
JSON (docs/json-report.md), with `--adoption-date REPO=DATE` accepted by the report as by lift, and
no ratio printed as a result from a history too small for one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from lift_sim import START, Team, as_of, write_repo

from rich.console import Console

import loopmeter
from loopmeter.lift.verdict import STATUSES
from loopmeter.report.terminal import render_terminal

TEAM = Team(authors=10, weeks=20, adoption_week=10, cycle_ratio=0.7)
ADOPTION = (START + timedelta(weeks=10)).date().isoformat()
AS_OF = as_of(TEAM).date().isoformat()
SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "loopmeter", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("verdict-cli")
    write_repo(root / "team", TEAM, seed=31)
    path = root / "lm.duckdb"
    loopmeter.ingest([root / "team"], store_path=path)
    return path


def test_lift_prints_the_verdict_first(store):
    p = run("lift", "--store", store, "--adoption-date", ADOPTION, "--as-of", AS_OF, "--seed", "2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.lstrip().startswith("verdict")
    first = p.stdout.index("cycle time, after vs before AI adoption")
    assert first < p.stdout.index("lift: before-after") < p.stdout.index("estimates (95% CI)")


def test_report_json_has_the_documented_verdict_and_exposure(store):
    p = run("report", "--store", store, "--as-of", AS_OF, "--adoption-date", f"team={ADOPTION}", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    text = (ROOT / "docs" / "json-report.md").read_text()
    e = next(v for v in doc["verdict"] if v["question"] == "cycle_time_after_vs_before")
    assert e["status"] == "improved" and e["headline"]["ci_low"] <= 0.7 <= e["headline"]["ci_high"]
    assert e["headline"]["clustered"] is True
    assert 0.3 < e["exposure"]["ai_share_after"] < 0.7  # the planted AI share after adoption is 0.5
    assert list(doc)[:5] == ["schema", "generated_at", "as_of", "as_of_rule", "window_days"]
    n = len(doc["lift_designs"]["verdict"])
    assert doc["verdict"] and doc["verdict"][:n] == doc["lift_designs"]["verdict"]
    # After the designs' questions, durability (AI-vs-human line survival) when the report has it.
    assert [e["question"] for e in doc["verdict"][n:]] in ([], ["durability_ai_vs_human"])
    for e in doc["verdict"]:
        assert e["status"] in STATUSES and e["question"] in text
        for key in e:
            assert f'"{key}"' in text, key
        for key in e["headline"] or {}:
            assert f'"{key}"' in text, key
        for key in e["agreement"]:
            assert f'"{key}"' in text, key
    assert '"exposure_after"' in text and doc["adoption"]["exposure_after"] == pytest.approx(
        next(d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after")["exposure"]["ai_share_after"])
    # REPO=DATE: the summary, the section and the JSON split at that date.
    assert doc["adoption"]["per_repo"] == {"team": ADOPTION}
    tp = next(e for e in doc["lift"] if e["metric"] == "validated_throughput_per_contributor_week")
    ba = next(d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after")
    row = next(r for r in ba["results"] if r["estimator"] == "ratio_of_rates" and r["metric"] == tp["metric"])
    assert tp["ratio"] == row["ratio"]
    for c in ba["checks"]:
        assert c["status"] in ("fired", "not_fired", "not_run")
        assert (c["reason"] is not None) == (c["status"] == "not_run")


def test_a_bad_repo_date_is_one_line_and_exit_2(store):
    p = run("report", "--store", store, "--adoption-date", "nosuchrepo=2024-03-11")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "no repository 'nosuchrepo'" in p.stderr
    p = run("report", "--store", store, "--adoption-date", "team=March")
    assert p.returncode == 2 and "is not YYYY-MM-DD or REPO=YYYY-MM-DD" in p.stderr


def test_a_small_history_gives_not_enough_data_and_no_ratio(tmp_path):
    # Seven changes before adoption (one author, one a week): fewer than the minimum.
    small = Team(authors=1, weeks=14, adoption_week=7, rate_before=0.0, rate_after=0.0)
    write_repo(tmp_path / "small", small, seed=3)
    store = tmp_path / "s.duckdb"
    loopmeter.ingest([tmp_path / "small"], store_path=store)
    day = (START + timedelta(weeks=7)).date().isoformat()
    doc = loopmeter.report_from_store(store_path=store, as_of=as_of(small), adoption_date=day)
    for e in doc["verdict"]:
        assert e["status"] == "not_enough_data", e
        assert e["headline"] is None or e["headline"]["ratio"] is None
    console = Console(record=True, width=200)
    render_terminal(doc, console)
    out = console.export_text()
    assert out.lstrip().startswith("verdict")
    block = out[:out.index("loopmeter summary")]
    assert "not enough data" in block and "x as long" not in block
    # The summary table never prints the ratio of 7 against 7 as a result.
    assert "not shown" in out
