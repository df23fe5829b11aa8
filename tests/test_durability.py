"""Durability on hand-worked histories (docs/metrics.md "Durability"): every figure below is worked
out by hand from the commits, line by line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gitrepo import GitRepo
from loopmeter import api
from loopmeter.metrics.changes import Window, backend
from loopmeter.metrics.durability import durability, survival_ratio
from loopmeter.report.document import default_as_of
from loopmeter.store.db import Store
from loopmeter.sources import line_fates
from loopmeter.sources.git import open_repository

ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Builder", "bob@example.com")
CAROL = ("Carol Coder", "carol@example.com")
AI_TRAILER = "\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"

TEN = "".join(f"line number {i}\n" for i in range(1, 11))
C_PY = "".join(f"ai written code {i}\n" for i in range(1, 6))


def day(n: int) -> str:
    return (datetime(2024, 1, 1, 10) + timedelta(days=n)).isoformat() + "+00:00"


def build(path: Path) -> tuple[GitRepo, dict[str, str]]:
    """Day 0: Alice adds a.py (10 lines). Day 5: Bob changes line 3. Day 20: a.py renamed b.py.
    Day 25: lines 1-2 moved to the end. Day 40: Carol (with Claude) adds c.py (5 lines; a Git AI
    note says lines 1-3 are the agent's). Day 45: Bob deletes lines 3-4 of c.py. Day 50: that deletion
    is reverted (the two lines come back, born again). Day 200: an unrelated one-line commit."""
    r = GitRepo(path)
    s = {}
    s["a"] = r.commit("add a", author=ALICE, date=day(0), files={"a.py": TEN})
    s["b"] = r.commit("edit line 3", author=BOB, date=day(5),
                      files={"a.py": TEN.replace("line number 3\n", "line number 3 changed\n")})
    r.git("mv", "a.py", "b.py")
    s["rename"] = r.commit("rename", author=BOB, date=day(20), files={})
    lines = (path / "b.py").read_text().splitlines(True)
    s["move"] = r.commit("move two lines", author=BOB, date=day(25), files={"b.py": "".join(lines[2:] + lines[:2])})
    s["ai"] = r.commit("add c" + AI_TRAILER, author=CAROL, date=day(40), files={"c.py": C_PY})
    c_lines = C_PY.splitlines(True)
    s["del"] = r.commit("drop two lines", author=BOB, date=day(45), files={"c.py": "".join(c_lines[:2] + c_lines[4:])})
    env = {"GIT_AUTHOR_DATE": day(50), "GIT_COMMITTER_DATE": day(50), "GIT_AUTHOR_NAME": BOB[0],
           "GIT_AUTHOR_EMAIL": BOB[1], "GIT_COMMITTER_NAME": BOB[0], "GIT_COMMITTER_EMAIL": BOB[1]}
    r.git("revert", "--no-edit", s["del"], env=env)
    s["revert"] = r.head()
    s["last"] = r.commit("unrelated", author=ALICE, date=day(200), files={"z.txt": "z\n"})
    note = ("c.py\n  a1b2c3d4e5f6a7b8 1-3\n---\n" + json.dumps({
        "schema_version": "authorship/3.0.0", "base_commit_sha": s["ai"],
        "prompts": {"a1b2c3d4e5f6a7b8": {"agent_id": {"tool": "claude", "id": "s1", "model": "claude-sonnet-4"},
                                         "accepted_lines": 3, "overriden_lines": 0}}}))
    r.git("notes", "--ref=ai", "add", "-m", note, s["ai"])
    return r, s


def test_line_fates_by_hand(tmp_path):
    r, s = build(tmp_path / "r")
    info = open_repository(r.path)
    f = line_fates.track(info, info.head_sha, {s["ai"]: {"c.py": [(1, 3)]}}, provenance_shas={s["ai"]})
    by_sha = {o.sha: o for o in f.origins}
    assert [o.sha for o in f.origins] == [s[k] for k in ("a", "b", "rename", "move", "ai", "del", "revert", "last")]
    assert [by_sha[s[k]].lines_added for k in ("a", "b", "rename", "move", "ai", "del", "revert", "last")] == \
        [10, 1, 0, 0, 5, 0, 2, 1]
    assert by_sha[s["ai"]].ai_lines_added == 3 and by_sha[s["ai"]].with_provenance
    # Alice's line 3 died at Bob's edit (pos 1); the move kept lines 1-2; Carol's lines 3 (AI) and
    # 4 (not AI) died at the deletion (pos 5). Nothing else died.
    assert f.deaths == {(0, 1): [1, 0], (4, 5): [2, 1]}
    assert f.tracked_lines == 9 + 1 + 5 + 1  # b.py, c.py (3 kept + 2 restored), z.txt
    assert f.state.next_pos == 8 and f.state.head == info.head_sha


def test_durability_report_by_hand(tmp_path):
    r, s = build(tmp_path / "r")
    store = tmp_path / "s.duckdb"
    api.ingest([r.path], store_path=store)
    doc = api.report_from_store(store_path=store)
    rows = {(x["origin"], x["horizon_days"]): x for x in doc["durability"]}
    # As of day 200 every change but the last is at least 90 days old. Human (non-AI) changes: a
    # (10 lines, 9 survive), b (1, 1), rename, move, del (0 lines each), revert (2, 2).
    for n in (14, 30, 90):
        assert rows[("human", n)] == {"origin": "human", "horizon_days": n, "changes": 6, "lines_added": 13,
                                      "lines_surviving": 12, "share": 12 / 13}
        assert rows[("ai", n)] == {"origin": "ai", "horizon_days": n, "changes": 1, "lines_added": 5,
                                   "lines_surviving": 3, "share": 0.6}
        # Provenance exists for the AI commit only: 3 AI lines (line 3 died), 2 other lines (line 4 died).
        assert rows[("ai_lines", n)] == {"origin": "ai_lines", "horizon_days": n, "changes": 1, "lines_added": 3,
                                         "lines_surviving": 2, "share": 2 / 3}
        assert rows[("human_lines", n)] == {"origin": "human_lines", "horizon_days": n, "changes": 1,
                                            "lines_added": 2, "lines_surviving": 1, "share": 0.5}
    lift = {x["horizon_days"]: x for x in doc["durability_lift"]}
    assert lift[30]["ratio"] == pytest.approx(0.6 / (12 / 13))
    assert lift[30]["ai_changes"] == 1 and lift[30]["human_changes"] == 6
    weeks = [w for w in doc["durability_weekly"] if w["horizon_days"] == 14 and w["origin"] == "ai"]
    assert [(w["week"], w["lines_added"], w["lines_surviving"]) for w in weeks] == [("2024-02-05", 5, 3)]


def _durability(store, as_of, horizons):
    with Store.open(store) as st:
        if as_of is None:
            as_of, rule = default_as_of(st)
            window = Window(as_of=as_of, rule=rule)
        else:
            window = Window(as_of=as_of)
        return {(x["origin"], x["horizon_days"]): x for x in durability(backend(st), window, None, horizons)}


def test_horizon_checkpoint_is_the_last_commit_before_landing_plus_n(tmp_path):
    """A line deleted 10 days after landing survives 7 days but not 14; as of 12 days after landing
    the change is too young for N=14 and is not counted."""
    r = GitRepo(tmp_path / "r")
    r.commit("add", author=ALICE, date=day(0), files={"f.txt": "first line here\nsecond line here\n"})
    r.commit("drop one", author=BOB, date=day(10), files={"f.txt": "first line here\n"})
    r.commit("later", author=BOB, date=day(30), files={"g.txt": "g\n"})
    store = tmp_path / "s.duckdb"
    api.ingest([r.path], store_path=store)
    rows = _durability(store, None, (7, 14))
    assert rows[("human", 7)]["lines_added"] == 2 + 1 - 1 + 0  # add (2) and drop one (0 added) are >= 7 days old
    assert rows[("human", 7)]["lines_surviving"] == 2
    assert rows[("human", 14)]["lines_surviving"] == 1  # checkpoint day 10 holds one of the two lines
    as_of = "2024-01-13T00:00:00"
    rows = _durability(store, datetime.fromisoformat(as_of), (7, 14))
    assert rows[("human", 14)]["changes"] == 0 and rows[("human", 7)]["changes"] == 1


def test_survival_ratio_against_explicit_resampling():
    """The vectorised bootstrap against resampling authors one by one with the same draws."""
    rng = np.random.default_rng(7)
    n = 60
    author = rng.integers(0, 15, n).astype(str)
    is_ai = rng.random(n) < 0.4
    added = rng.integers(1, 50, n)
    surv = np.minimum(added, rng.binomial(added, np.where(is_ai, 0.6, 0.8)))
    out = survival_ratio(author, is_ai, added, surv, n_boot=200, seed=3)
    assert out["ratio"] == pytest.approx((surv[is_ai].sum() / added[is_ai].sum()) / (surv[~is_ai].sum() / added[~is_ai].sum()))
    # Explicit: draw clusters as stats.bootstrap does, rebuild each replicate's rows, recompute.
    codes = {a: i for i, a in enumerate(sorted(set(author.tolist())))}  # factorize_clusters' order
    k = len(codes)
    draws = np.random.default_rng(3).integers(0, k, size=(200, k))
    reps = []
    for row in draws:
        idx = np.concatenate([np.flatnonzero(np.array([codes[a] for a in author]) == c) for c in row])
        a_ai = is_ai[idx]
        s_ai = surv[idx][a_ai].sum() / added[idx][a_ai].sum() if added[idx][a_ai].sum() else np.nan
        s_h = surv[idx][~a_ai].sum() / added[idx][~a_ai].sum() if added[idx][~a_ai].sum() else np.nan
        reps.append(s_ai / s_h)
    reps = np.array(reps)
    lo, hi = np.quantile(reps[np.isfinite(reps)], [0.025, 0.975])
    assert out["ci_low"] == pytest.approx(lo) and out["ci_high"] == pytest.approx(hi)


def test_survival_ratio_covers_a_planted_effect():
    """40 authors, AI lines survive with p=0.6 and human lines with p=0.8: ratio 0.75 is covered and 1
    is not."""
    rng = np.random.default_rng(11)
    author = np.repeat(np.arange(40), 25).astype(str)
    is_ai = rng.random(author.size) < 0.5
    added = np.full(author.size, 40)
    surv = rng.binomial(added, np.where(is_ai, 0.6, 0.8))
    out = survival_ratio(author, is_ai, added, surv, n_boot=500, seed=1)
    assert out["ci_low"] < 0.75 < out["ci_high"] < 1.0


def _fates(store):
    with Store.open(store) as st:
        return (st.con.execute("select sha, pos, landed_at, lines_added, ai_lines_added, with_provenance "
                               "from line_origins order by pos").fetchall(),
                st.con.execute("select born_pos, died_pos, lines, ai_lines from line_deaths order by 1, 2").fetchall())


def test_incremental_pass_equals_a_full_one(tmp_path):
    """An ingest after new commits resumes from the stored tree; a rewritten history starts again.
    Either way the stored births and deaths equal those of a fresh store."""
    r, s = build(tmp_path / "r")
    store = tmp_path / "inc.duckdb"
    r.git("branch", "keep")
    r.git("reset", "-q", "--hard", s["ai"])
    api.ingest([r.path], store_path=store)
    r.git("reset", "-q", "--hard", "keep")
    api.ingest([r.path], store_path=store)  # resumes: del, revert, last are read
    fresh = tmp_path / "fresh.duckdb"
    api.ingest([r.path], store_path=fresh)
    assert _fates(store) == _fates(fresh)
    assert len(_fates(store)[0]) == 8
    # Rewrite: drop the last commit and add another; the stored state's head is gone from the line.
    r.git("reset", "-q", "--hard", s["revert"])
    r.commit("other", author=ALICE, date=day(201), files={"b.py": "replaced entirely, every line\n"})
    api.ingest([r.path], store_path=store)
    fresh2 = tmp_path / "fresh2.duckdb"
    api.ingest([r.path], store_path=fresh2)
    assert _fates(store) == _fates(fresh2)
    # b.py (9 lines of Alice, 1 of Bob) is replaced by the last commit: all ten die there.
    deaths = _fates(store)[1]
    assert (0, 7, 9, 0) in deaths and (1, 7, 1, 0) in deaths


def test_durability_days_from_loopmeter_toml(tmp_path):
    from loopmeter.config import load_config
    from loopmeter.errors import ConfigError

    p = tmp_path / "loopmeter.toml"
    p.write_text("durability_days = [90, 7, 30, 7]\n")
    assert load_config(p).durability_days == (7, 30, 90)
    p.write_text("durability_days = [14, 0]\n")
    with pytest.raises(ConfigError, match="durability_days must be a list of positive whole numbers"):
        load_config(p)


def test_missing_blobs_give_unknown_fates_not_a_failure(tmp_path):
    """A trimmed mirror lacks some blobs: git dies in a commit's diff (after printing it) or in rename
    detection (before). Lines of a file git cannot read have an unknown fate (died_pos -1)."""
    r = GitRepo(tmp_path / "r")
    a = r.commit("A", author=ALICE, date=day(0), files={"big.txt": numbered("big line", 10),
                                                         "small.txt": numbered("small line", 5)})
    b = r.commit("B", author=BOB, date=day(1), files={"big.txt": numbered("big line", 10).replace("big line 1\n", "BIG 1 changed\n"),
                                                      "small.txt": numbered("small line", 5).replace("small line 1\n", "SMALL 1 changed\n")})
    r.git("rm", "-q", "small.txt")
    c = r.commit("C", author=BOB, date=day(2), files={"other.txt": numbered("other text", 5)})
    d = r.commit("D", author=ALICE, date=day(3), files={"d.txt": numbered("dee", 3)})
    e = r.commit("E", author=ALICE, date=day(4), files={"other.txt": numbered("other text", 6)})
    for rev in (f"{b}:big.txt", f"{c}:other.txt"):
        blob = r.git("rev-parse", rev)
        (r.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    info = open_repository(r.path)
    f = line_fates.track(info, info.head_sha)
    assert [o.sha for o in f.origins] == [a, b, c, d, e]
    # B's and E's lines in the files git cannot read (big.txt at B, other.txt from C on) are not counted.
    assert [o.lines_added for o in f.origins] == [15, 1, 0, 3, 0]
    # A's big.txt lines: unknown from B on. small.txt: line 1 changed at B, the rest deleted at C.
    assert f.deaths == {(0, -1): [10, 0], (0, 1): [1, 0], (0, 2): [4, 0], (1, 2): [1, 0]}


def numbered(prefix: str, n: int) -> str:
    return "".join(f"{prefix} {i}\n" for i in range(1, n + 1))


def test_the_comparison_since_adoption_leaves_earlier_changes_out(tmp_path):
    """Since day 30 the human group is Bob's deletion (day 45, no lines) and its revert (day 50, two
    lines, both alive): AI share 3/5 against 2/2, so 0.6 where the whole history gives 0.6 / (12/13)."""
    from datetime import date

    from loopmeter.metrics.durability import durability_comparison

    r, s = build(tmp_path / "r")
    store = tmp_path / "s.duckdb"
    api.ingest([r.path], store_path=store)
    with Store.open(store) as st:
        as_of, rule = default_as_of(st)
        con = backend(st)
        (repo,) = [x[0] for x in st.con.execute("select repo from repos").fetchall()]
        window = Window(as_of=as_of, rule=rule)
        whole = {x["horizon_days"]: x for x in durability_comparison(con, window, None, (30,), n_boot=50)}
        since = {x["horizon_days"]: x for x in durability_comparison(con, window, None, (30,), n_boot=50,
                                                                     since={repo: date(2024, 1, 31)})}
    assert whole[30]["ratio"] == pytest.approx(0.6 / (12 / 13)) and whole[30]["since"] is None
    assert since[30]["ratio"] == pytest.approx(0.6) and since[30]["since"] == "2024-01-31"
    assert since[30]["human_changes"] == 2 and since[30]["ai_changes"] == 1


def test_each_side_counts_its_authors_and_the_equal_authors_their_lines_amount_to():
    # AI lines: a 90, b 10 -> (100^2) / (90^2 + 10^2) = 1.22 equal authors; human lines: c 40, d 40.
    out = survival_ratio(["a", "a", "b", "c", "d"], [True, True, True, False, False], [60, 30, 10, 40, 40],
                         [60, 30, 10, 40, 40], n_boot=20)
    assert (out["n_clusters_a"], out["n_clusters_b"]) == (2, 2)
    assert out["effective_clusters_a"] == pytest.approx(10_000 / 8_200, abs=0.01)
    assert out["effective_clusters_b"] == pytest.approx(2.0)


def test_odd_file_names_keep_their_lines_and_do_not_fail_the_ingest(tmp_path):
    """A file name with a space, renamed without an edit, then edited: git ends its ---/+++ lines
    with a tab, which is not part of the name (the lines used to stay behind under the old name and
    never die). A Latin-1 (not UTF-8) file name: its lines are tracked under the name the commit
    rows use ("\ufffd" for the bad byte); it used to fail the whole ingest (line_state could not
    store the lone surrogate). A C-quoted name (a tab, raw UTF-8 inside the quotes)."""
    import os

    r = GitRepo(tmp_path / "repo")
    latin = os.fsdecode(b"caf\xe9.txt")
    r.commit("three files", author=ALICE, date=day(0),
             files={"sp ace.txt": "one one one\ntwo two two\nthree three\n", latin: "x\ny\n",
                    "ta\tb-\u00e9.txt": "alpha\nbeta\n"})
    r.git("mv", "sp ace.txt", "sp ace 2.txt")
    r.commit("pure rename", author=ALICE, date=day(1), files={})
    r.commit("edit the renamed file and the others", author=BOB, date=day(2),
             files={"sp ace 2.txt": "one one one\nTWO\nthree three\n", latin: "x\nY\n", "ta\tb-\u00e9.txt": "alpha\nB\n"})
    info = open_repository(r.path)
    f = line_fates.track(info, info.head_sha, {})
    # Position 0 added 7 lines; Bob's commit (position 2) changed one line of each file.
    assert f.deaths == {(0, 2): [3, 0]}
    assert f.tracked_lines == 7
    assert sorted(f.state.files) == ["caf\ufffd.txt", "sp ace 2.txt", "ta\tb-\u00e9.txt"]
    res = api.ingest([r.path], store_path=tmp_path / "s.duckdb")[0]
    assert res.new_commits == 3
    with Store.open(tmp_path / "s.duckdb") as s:
        paths = {p for (p,) in s.con.execute("select path from line_state").fetchall()}
        files = {p for (p,) in s.con.execute("select path from commit_files").fetchall()}
    assert paths == set(f.state.files) and paths <= files
