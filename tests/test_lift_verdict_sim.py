"""The verdict on simulated teams with planted truths (bounded: one seeded run per scenario; the
rates over many seeds are bench/verdict_sim.py's). A planted effect giving `improved` with the
truth inside the interval is tests/test_verdict_cli.py's report on its planted store."""

from __future__ import annotations

import pytest

from lift_sim import run_scenario


def _entry(out, question):
    return next(e for e in out["verdict"] if e["question"] == question)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    # Bounded: fewer replicates for the specification table's alternatives than a report uses.
    from loopmeter.lift import designs, specification

    saved = specification.SPEC_BOOT
    specification.SPEC_BOOT = designs.SPEC_BOOT = 100
    yield tmp_path_factory.mktemp("verdict")
    specification.SPEC_BOOT = designs.SPEC_BOOT = saved


def test_planted_null_is_no_detectable_change(root):
    out = run_scenario(root, "null", seed=1)
    for q in ("cycle_time_after_vs_before", "throughput_after_vs_before", "cycle_time_ai_vs_human"):
        e = _entry(out, q)
        assert e["status"] == "no_detectable_change", (q, e["sentence"])
        assert e["headline"]["ci_low"] < 1 < e["headline"]["ci_high"]


def test_planted_simpsons_reversal_is_inconsistent_or_the_within_repository_answer(root):
    out = run_scenario(root, "simpson", seed=1)
    e = _entry(out, "cycle_time_after_vs_before")
    ba = out["designs"][0]
    pooled = next(r for r in ba["results"] if r["estimator"] == "ratio_of_medians")
    assert pooled["ci_low"] > 1  # pooled, the mix of repositories says "slower"
    assert e["status"] in ("inconsistent", "improved"), e["sentence"]
    assert e["status"] != "worsened"
    if e["status"] == "inconsistent":
        assert e["agreement"]["intervals_disagree"] and e["agreement"]["low"] < 1 < e["agreement"]["high"]
