from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from gitrepo import GitRepo  # noqa: E402

ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Builder", "bob@example.com")
CAROL = ("Carol Reviewer", "carol@example.com")
DAVE = ("Dave Squasher", "dave@example.com")
EVE = ("Eve Agentic", "eve@example.com")
GITHUB = ("GitHub", "noreply@github.com")
DEPENDABOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")
CLAUDE_TRAILER = "Co-Authored-By: Claude <noreply@anthropic.com>"
CURSOR_TRAILER = "Co-authored-by: Cursor Agent <cursoragent@cursor.com>"


def build_demo(path: Path) -> dict[str, str]:
    """The hand-worked history most tests reason about. Returns the interesting shas by name.

    Changes on main, oldest first (all times UTC unless an offset is written):
      D1  direct  Alice  authored = committed 2024-01-01 09:00               cycle unknown
      M1  PR #1 merge (Carol merges Bob's branch) 2024-01-04 10:00
          brings c2 (Bob, 01-02 10:00) and c3 (Bob, 01-03 10:00, Claude trailer)
          cycle = 01-02 10:00 -> 01-04 10:00 = 48 h, AI-assisted (claude-code)
      S2  squash "Add thing (#2)" Dave, authored = committed 01-05 12:00     cycle unknown, no PR ref
      S3  squash "Feature three (#3)" 01-10 09:00, refs/pull/3/head has
          p1 (Eve, 01-08 09:00 +05:30 = 03:30 UTC) and p2 (Eve, 01-09 09:00, Cursor trailer)
          cycle = 01-08 03:30 -> 01-10 09:00 = 53.5 h, AI-assisted (cursor)
      R1  "Revert "Add thing (#2)"" 01-11 10:00 Alice, reverts S2 (6 days later)  cycle unknown
      D2  direct Bob authored 01-15 08:00 -08:00 (= 16:00 UTC), committed 01-15 20:00 UTC  cycle 4 h
      B1  dependabot direct 01-16 10:00                                      bot
      L1  direct Alice, latin-1 message bytes, 01-17 10:00                   cycle unknown
    """
    r = GitRepo(path)
    s: dict[str, str] = {}
    s["D1"] = r.commit("Initial commit", author=ALICE, date="2024-01-01T09:00:00+00:00")
    r.checkout("feature", new=True)
    s["c2"] = r.commit("Start feature", author=BOB, date="2024-01-02T10:00:00+00:00")
    s["c3"] = r.commit(f"Finish feature\n\n{CLAUDE_TRAILER}\n", author=BOB, date="2024-01-03T10:00:00+00:00")
    r.checkout("main")
    s["M1"] = r.merge("feature", "Merge pull request #1 from bob/feature\n\nAdd the feature", date="2024-01-04T10:00:00+00:00", committer=CAROL)
    r.set_ref("refs/pull/1/head", s["c3"])
    s["S2"] = r.commit("Add thing (#2)", author=DAVE, date="2024-01-05T12:00:00+00:00", committer=GITHUB,
                       files={"thing.txt": "a\nb\nc\n"})
    r.checkout("pr3", new=True)
    s["p1"] = r.commit("Three, part one", author=EVE, date="2024-01-08T09:00:00+05:30", files={"three.txt": "1\n"})
    s["p2"] = r.commit(f"Three, part two\n\n{CURSOR_TRAILER}\n", author=EVE, date="2024-01-09T09:00:00+00:00",
                       files={"three.txt": "1\n2\n"})
    r.checkout("main")
    r.git("merge", "--squash", "-q", "pr3")
    s["S3"] = r.commit("Feature three (#3)", author=EVE, date="2024-01-10T09:00:00+00:00", committer=GITHUB, files={})
    r.set_ref("refs/pull/3/head", s["p2"])
    r.git("branch", "-D", "pr3", "feature")
    s["R1"] = r.commit(f'Revert "Add thing (#2)"\n\nThis reverts commit {s["S2"]}.\n', author=ALICE,
                       date="2024-01-11T10:00:00+00:00", files={"thing.txt": ""})
    s["D2"] = r.commit("Rebased fix", author=BOB, date="2024-01-15T08:00:00-08:00", commit_date="2024-01-15T20:00:00+00:00")
    s["B1"] = r.commit("Bump lib from 1.0 to 1.1", author=DEPENDABOT, date="2024-01-16T10:00:00+00:00")
    s["L1"] = r.raw_commit("Caf\xe9 cr\xe8me fix\n".encode("latin-1"), author=ALICE, date="2024-01-17T10:00:00+00:00")
    r.tag("v1.0", s["S3"])
    return s


@pytest.fixture
def demo_repo(tmp_path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "demo"
    return path, build_demo(path)


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "store" / "lm.duckdb"
