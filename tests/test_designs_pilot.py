"""The experiment design from a pilot's CSV: real files written to tmp_path, read back by
pilot_lift, checked against statsmodels' formula API on pandas' own reading of the same file."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from loopmeter.designs.pilot import pilot_lift
from loopmeter.errors import BadInput, ConfigError, LoopmeterError, UnreadablePath
from test_stats_regression import TRUE_RATIO, simulate_pilot

REQUIRED = {"design", "metric", "estimator", "ratio", "ci_low", "ci_high", "p_value", "n_a", "n_b",
            "n_clusters", "caveats", "se_plain", "ci_plain_low", "ci_plain_high", "missing_duration_rows",
            "treatment_levels", "alternatives", "speedup"}


def write_csv(path, header, rows):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def pilot_rows(seed=1, n_actors=30, **kw):
    df = simulate_pilot(np.random.default_rng(seed), n_actors=n_actors, **kw)
    df["lines"] = np.maximum(1, np.round(np.exp(df["log_size"]))).astype(int)
    df["arm"] = np.where(df["treated"] == 1, "ai", "control")
    return df


def test_planted_ratio_matches_statsmodels_on_the_same_file(tmp_path):
    df = pilot_rows()
    path = tmp_path / "pilot.csv"
    df[["duration", "arm", "actor", "repo", "lines"]].to_csv(path, index=False)
    doc = pilot_lift(path, duration="duration", treatment="arm", treated="ai", cluster="actor",
                     covariates=["log:lines"], fixed_effects=["repo"])
    assert REQUIRED <= set(doc)
    json.dumps(doc, allow_nan=False)
    ref_df = pd.read_csv(path)
    ref_df["t"] = (ref_df["arm"] == "ai").astype(int)
    groups = pd.factorize(ref_df["actor"])[0]
    formula = "np.log(duration) ~ t + np.log(lines) + C(repo)"
    ref = smf.ols(formula, data=ref_df).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    plain = smf.ols(formula, data=ref_df).fit()
    lo, hi = ref.conf_int().loc["t"]
    assert doc["design"] == "experiment" and doc["estimator"] == "log_duration_ols"
    assert doc["ratio"] == pytest.approx(math.exp(ref.params["t"]), rel=1e-6)
    assert (doc["ci_low"], doc["ci_high"]) == pytest.approx((math.exp(lo), math.exp(hi)), rel=1e-6)
    assert doc["p_value"] == pytest.approx(ref.pvalues["t"], rel=1e-6)
    assert doc["se_plain"] == pytest.approx(plain.bse["t"], rel=1e-6)
    lo_p, hi_p = plain.conf_int().loc["t"]
    assert (doc["ci_plain_low"], doc["ci_plain_high"]) == pytest.approx((math.exp(lo_p), math.exp(hi_p)), rel=1e-6)
    assert doc["ci_low"] < TRUE_RATIO < doc["ci_high"]
    assert doc["treatment_levels"] == {"column": "arm", "treated": "ai", "control": "control",
                                       "n_treated": int(ref_df.t.sum()), "n_control": int((1 - ref_df.t).sum())}
    assert (doc["n_a"], doc["n_b"], doc["n_clusters"]) == (int(ref_df.t.sum()), int((1 - ref_df.t).sum()), 30)
    assert doc["missing_duration_rows"]["count"] == 0
    assert [a["estimator"] for a in doc["alternatives"]] == ["hodges_lehmann", "ratio_of_medians"]
    # The percentile interval, chosen by bench/pilot_coverage.py (docs/metrics.md quotes the table).
    assert doc["alternatives"][1]["interval"] == "percentile"
    # Thirty actors with several tasks each: every interval allows for them, the plain ones say they do not.
    assert doc["clustered"] is True and doc["plain_clustered"] is False
    assert [a["clustered"] for a in doc["alternatives"]] == [True, True]
    assert any("Randomization is assumed, not checked" in c for c in doc["caveats"])


def test_missing_durations_are_listed_by_their_real_line_numbers(tmp_path):
    df = pilot_rows(seed=2)
    rows = [[f"{d:.6f}", a, act, "note"] for d, a, act in zip(df["duration"], df["arm"], df["actor"])]
    rows[3][0] = ""  # data row 4 -> line 5
    rows[4][3] = "a title\nover two lines"  # row 5 spans lines 6-7, so row 6 starts on line 8
    rows[5][0] = "NA"  # line 8
    rows[9][0] = "null"  # data row 10: line 12 (one extra line from row 5)
    path = write_csv(tmp_path / "p.csv", ["duration", "arm", "actor", "title"], rows)
    doc = pilot_lift(path, duration="duration", treatment="arm", treated="ai", cluster="actor")
    missing = doc["missing_duration_rows"]
    assert missing["count"] == 3 and missing["lines"] == [5, 8, 12] and not missing["lines_truncated"]
    arms = [rows[i][1] for i in (3, 5, 9)]
    assert missing["by_group"] == {"treated": arms.count("ai"), "control": arms.count("control")}
    assert doc["n_a"] + doc["n_b"] == len(rows) - 3 and doc["rows"] == len(rows)
    assert any("3 rows have no duration" in c for c in doc["caveats"])


def test_durations_from_start_and_end_timestamps(tmp_path):
    rng = np.random.default_rng(3)
    t0 = pd.Timestamp("2025-03-01T09:00:00Z")
    rows, hours, arms = [], [], []
    for i in range(40):
        h = float(rng.lognormal(3, 0.7)) * (0.7 if i % 2 else 1.0)
        start = t0 + pd.Timedelta(hours=i)
        end = start + pd.Timedelta(seconds=round(h * 3600))
        rows.append([start.isoformat(), end.strftime("%Y-%m-%d %H:%M:%S"), "yes" if i % 2 else "no", f"dev{i % 8}"])
        hours.append(round(h * 3600) / 3600)
        arms.append(i % 2 == 1)
    rows.append([t0.isoformat(), "", "yes", "dev1"])  # still open: line 42
    path = write_csv(tmp_path / "t.csv", ["started", "finished", "ai", "who"], rows)
    doc = pilot_lift(path, start="started", end="finished", treatment="ai", cluster="who")
    assert doc["treatment_levels"]["treated"] == "yes"
    assert doc["duration_source"] == {"start": "started", "end": "finished", "unit": "hours"}
    assert doc["missing_duration_rows"]["lines"] == [42]
    y, t = np.log(hours), np.array(arms, dtype=float)
    beta = np.polyfit(t, y, 1)[0]  # one binary regressor: slope = difference of mean logs
    assert doc["ratio"] == pytest.approx(math.exp(beta), rel=1e-9)
    hl = doc["alternatives"][0]
    a, b = np.array(hours)[t == 1], np.array(hours)[t == 0]
    assert hl["ratio"] == pytest.approx(math.exp(np.median(np.log(np.outer(a, 1 / b)))), rel=1e-9)


def test_size_mismatch_and_sensitivity(tmp_path):
    df = pilot_rows(seed=4, n_actors=20)
    df.loc[df.treated == 1, "lines"] *= 3  # treated changes three times as large
    path = tmp_path / "s.csv"
    df[["duration", "arm", "actor", "lines"]].to_csv(path, index=False)
    doc = pilot_lift(path, duration="duration", treatment="arm", treated="ai", cluster="actor", size="log:lines")
    assert any("larger than in the control group" in c for c in doc["caveats"])
    sens = doc["size_sensitivity"]
    assert sens["covariate"] == "log:lines"
    assert sens["with_size"]["adjusted_for"] == ["log:lines"] and sens["without_size"]["adjusted_for"] == []
    assert sens["without_size"]["ratio"] == pytest.approx(doc["ratio"], rel=1e-12)  # headline has no size
    assert sens["with_size"]["ratio"] < sens["without_size"]["ratio"]  # bigger changes explain some time


def test_randomization_caveat_follows_what_the_user_says(tmp_path):
    df = pilot_rows(seed=5, n_actors=12)
    path = tmp_path / "r.csv"
    df[["duration", "arm", "actor"]].to_csv(path, index=False)
    common = dict(duration="duration", treatment="arm", treated="ai", cluster="actor", n_boot=200)
    verified = pilot_lift(path, randomization="verified", **common)["caveats"]
    assert not any("andomiz" in c for c in verified)
    assert any("not randomized" in c for c in pilot_lift(path, randomization="none", **common)["caveats"])
    unit = pilot_lift(path, randomization="unit", **common)
    assert unit["randomization"] == "unit" and not any("andomiz" in c for c in unit["caveats"])
    # Tasks of one actor are in both arms here, so a randomization by cluster is refused, naming the cluster.
    with pytest.raises(BadInput, match=r"r\.csv:\d+: column 'actor': cluster '.+' has rows in both arms"):
        pilot_lift(path, randomization="cluster", **common)
    with pytest.raises(ConfigError, match="needs the cluster column"):
        pilot_lift(path, randomization="cluster", duration="duration", treatment="arm", treated="ai")
    with pytest.raises(ConfigError, match="durations from start and end are in hours"):
        pilot_lift(path, start="a", end="b", treatment="arm", duration_unit="minutes")


def test_few_rows_and_clusters_are_flagged(tmp_path):
    rows = [[str(10 + i), "1" if i % 2 else "0", f"p{i % 3}"] for i in range(14)]
    path = write_csv(tmp_path / "f.csv", ["d", "t", "who"], rows)
    doc = pilot_lift(path, duration="d", treatment="t", cluster="who", n_boot=100)
    assert doc["treatment_levels"]["treated"] == "1"
    assert any("Only 3 clusters" in c for c in doc["caveats"])
    assert any("has only 7 rows" in c for c in doc["caveats"])


def test_without_a_cluster_column_rows_count_as_independent(tmp_path):
    rows = [[str(10 + 3 * i), "true" if i % 2 else "false"] for i in range(30)]
    path = write_csv(tmp_path / "n.csv", ["d", "t"], rows)
    doc = pilot_lift(path, duration="d", treatment="t", n_boot=100)
    assert doc["covariance"] == "HC1" and doc["n_clusters"] == 30 and doc["cluster"] is None
    assert any("No cluster ids" in c for c in doc["caveats"])


BASE = [["d", "t", "who", "x", "s", "e"]] + [
    [str(5 + i), str(i % 2), f"p{i % 4}", str(i + 1), f"2025-01-01T{i:02d}:00:00", f"2025-01-02T{i:02d}:30:00"]
    for i in range(12)
]


@pytest.mark.parametrize(
    ("edit", "kwargs", "error", "message"),
    [
        (None, {"cluster": "team"}, BadInput, "no column 'team'"),
        ((3, 0, "-4"), {}, BadInput, ":4: column 'd': '-4' is not a positive duration"),
        ((5, 0, "0"), {}, BadInput, ":6: column 'd': '0' is not a positive"),
        ((2, 0, "fast"), {}, BadInput, ":3: column 'd': 'fast' is not a number"),
        ((2, 0, "inf"), {}, BadInput, ":3: column 'd': 'inf' is not a finite number"),
        ((7, 3, "NaN"), {"covariates": ["x"]}, BadInput, ":8: column 'x': 'NaN' is missing"),
        ((7, 3, "abc"), {"covariates": ["log:x"]}, BadInput, ":8: column 'x': 'abc' is not a finite number"),
        ((7, 3, "0"), {"covariates": ["log:x"]}, BadInput, ":8: column 'x': '0' has no logarithm"),
        ((4, 1, "2"), {}, BadInput, "column 't' has 3 distinct values"),
        ((4, 1, ""), {}, BadInput, ":5: column 't': '' is not a treatment value"),
        ((9, 2, ""), {}, BadInput, ":10: column 'who': '' is missing"),
        ("one_cluster", {}, BadInput, "column 'who' has a single value"),
        ("all_equal", {}, BadInput, "every known duration is 7"),
        ("empty_arm", {}, BadInput, "no row with a known duration has t = '1'"),
        ((6, 4, "yesterday"), {"duration": None, "start": "s", "end": "e"}, BadInput,
         ":7: column 's': 'yesterday' is not an ISO 8601 timestamp"),
        ((6, 5, "2024-12-31T00:00:00"), {"duration": None, "start": "s", "end": "e"}, BadInput,
         ":7: 'e' (2024-12-31T00:00:00) is not after 's'"),
        ((4, 1, "maybe"), {"treatment": "t"}, BadInput, "3 distinct values ('0', '1', 'maybe')"),
        # A size column feeds the size-mismatch caveat: a negative size is the file's fault and
        # must be named like any other bad cell, not escape as a bare ValueError.
        ((7, 3, "-3"), {"size": "x"}, BadInput, ":8: column 'x': '-3' is not a size"),
    ],
)
def test_bad_input_names_the_line_and_column(tmp_path, edit, kwargs, error, message):
    rows = [list(r) for r in BASE]
    if edit == "one_cluster":
        for r in rows[1:]:
            r[2] = "solo"
    elif edit == "all_equal":
        for r in rows[1:]:
            r[0] = "7"
    elif edit == "empty_arm":
        for r in rows[1:]:
            if r[1] == "1":
                r[0] = ""
    elif edit is not None:
        i, j, v = edit
        rows[i][j] = v
    path = write_csv(tmp_path / "bad.csv", rows[0], rows[1:])
    args = {"duration": "d", "treatment": "t", "cluster": "who", "n_boot": 50, **kwargs}
    with pytest.raises(error) as info:
        pilot_lift(path, **args)
    assert isinstance(info.value, LoopmeterError)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(path))


def test_treated_arm_must_be_named_when_not_obvious(tmp_path):
    rows = [[str(5 + i), "claude" if i % 2 else "copilot"] for i in range(10)]
    path = write_csv(tmp_path / "arm.csv", ["d", "tool"], rows)
    with pytest.raises(ConfigError, match="say which one is the treated arm"):
        pilot_lift(path, duration="d", treatment="tool")
    with pytest.raises(ConfigError, match="is not a value of column 'tool'"):
        pilot_lift(path, duration="d", treatment="tool", treated="cursor")
    doc = pilot_lift(path, duration="d", treatment="tool", treated="claude", n_boot=50)
    assert doc["treatment_levels"]["control"] == "copilot"


def test_file_level_problems(tmp_path):
    with pytest.raises(UnreadablePath):
        pilot_lift(tmp_path / "nope.csv", duration="d", treatment="t")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(BadInput, match="the file is empty"):
        pilot_lift(empty, duration="d", treatment="t")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("d,t\n1,0\n2,1,extra\n")
    with pytest.raises(BadInput, match=r"ragged.csv:3: 3 fields, but the header has 2"):
        pilot_lift(ragged, duration="d", treatment="t")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("d,t\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(BadInput, match="not UTF-8"):
        pilot_lift(latin, duration="d", treatment="t")
    with pytest.raises(ConfigError, match="either a duration column"):
        pilot_lift(latin, duration="d", start="s", treatment="t")
    with pytest.raises(ConfigError, match="log:COL"):
        pilot_lift(latin, duration="d", treatment="t", covariates=["sqrt:x"])
