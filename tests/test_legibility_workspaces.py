"""A monorepo's member packages: their manifests are read because the root declares them.

Found on cline/cline: OpenTelemetry and pino in six workspace packages (apps/cli/package.json,
sdk/packages/core/package.json, ...), none at the root, and the scorecard said "no telemetry library".
"""

from __future__ import annotations

import json

from conftest import ALICE
from gitrepo import GitRepo

from loopmeter.legibility import scorecard
from loopmeter.legibility.workspaces import declared, matches


def _by_id(card: dict) -> dict[str, dict]:
    return {d["id"]: d for c in card["checks"] for d in c["details"]}


def test_globs_match_whole_segments():
    assert matches("packages/api", "packages/*")
    assert not matches("packages/api/sub", "packages/*")
    assert matches("packages/api/sub", "packages/**")
    assert matches("packages", "packages/**")  # ** is zero or more segments
    assert matches("sdk/packages/core", "sdk/packages/*")
    assert not matches("apps/examples/x", "apps/*")
    assert matches("crates/core", "crates/core")
    assert not matches("crates/core2", "crates/core")


def test_every_declaring_file_is_read():
    texts = {
        "package.json": json.dumps({"workspaces": {"packages": ["./apps/*", "!apps/legacy"]}}),
        "pnpm-workspace.yaml": "# comment\npackages:\n  - 'packages/*'\n  - \"!**/test/**\"  # no tests\nother: 1\n",
        "Cargo.toml": '[workspace]\nmembers = ["crates/*"]\nexclude = ["crates/old"]\n',
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
        "go.work": "go 1.22\n\nuse (\n\t./svc/a // the api\n\t./svc/b\n)\nuse ./tools\n",
        "sub/package.json": json.dumps({"workspaces": ["nested/*"]}),  # not the root: ignored
    }
    members, excluded = declared(texts)
    assert sorted(members) == sorted(["apps/*", "packages/*", "crates/*", "libs/*", "svc/a", "svc/b", "tools"])
    assert sorted(excluded) == sorted(["apps/legacy", "**/test/**", "crates/old"])
    assert declared({"pnpm-workspace.yaml": "packages: [a/*, 'b/*']\n"}) == (["a/*", "b/*"], [])


def test_member_packages_manifests_count_and_undeclared_ones_do_not(tmp_path):
    r = GitRepo(tmp_path / "r")
    r.commit("monorepo", author=ALICE, files={
        "package.json": json.dumps({"name": "root", "workspaces": ["sdk/packages/*", "!sdk/packages/legacy"]}),
        "sdk/packages/core/package.json": json.dumps({"dependencies": {"@opentelemetry/api": "1.9.0"}}),
        # excluded by the root, and not declared: neither counts
        "sdk/packages/legacy/package.json": json.dumps({"dependencies": {"@sentry/node": "8"}}),
        "examples/demo/package.json": json.dumps({"dependencies": {"pino": "9", "@sentry/node": "8"}}),
    })
    d = _by_id(scorecard(r.path))
    assert d["telemetry"]["earned"] == d["telemetry"]["points"] > 0
    assert any("sdk/packages/core/package.json" in e for e in d["telemetry"]["evidence"])
    assert not any("examples/demo" in e or "legacy" in e for e in d["telemetry"]["evidence"])
    assert d["error_tracking"]["earned"] == 0


def test_without_a_declaration_deep_manifests_stay_unread(tmp_path):
    r = GitRepo(tmp_path / "r")
    r.commit("two apps", author=ALICE, files={
        "package.json": json.dumps({"name": "root"}),
        "apps/cli/package.json": json.dumps({"dependencies": {"@opentelemetry/api": "1.9.0"}}),
    })
    assert _by_id(scorecard(r.path))["telemetry"]["earned"] == 0
