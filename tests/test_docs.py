"""The docs are part of the product: every command is documented, and the documented contract
(JSON keys, metric names, public API) is the one the code has."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

import loopmeter
from loopmeter.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    return sorted(typer.main.get_command(app).commands)


def test_every_command_is_in_the_readme_with_an_example_in_its_help():
    readme = (ROOT / "README.md").read_text()
    cmds = _commands()
    assert {"analyze", "ingest", "report"} <= set(cmds)
    for name in cmds:
        assert f"loopmeter {name}" in readme, name
        cmd = typer.main.get_command(app).commands[name]
        assert "Example:" in (cmd.help or ""), name


def test_readme_opens_with_the_two_fresh_machine_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```\n(.*?)\n```", readme, re.S)
    assert blocks[0].strip() == "pip install . && loopmeter analyze ~/src/some-repo"
    assert blocks[1].strip() == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci


def test_public_api_is_pinned():
    assert sorted(loopmeter.__all__) == ["__version__", "analyze", "changes_frame", "ingest", "report_from_store"]


def test_json_schema_doc_names_every_totals_key(demo_repo, store_path):
    from datetime import datetime

    doc = loopmeter.analyze([demo_repo[0]], store_path=store_path, html_path=None, as_of=datetime(2024, 3, 1))
    text = (ROOT / "docs" / "json-report.md").read_text()
    for key in list(doc) + list(doc["totals"]) + list(doc["weekly"][0]) + list(doc["cycle_time_hours"]):
        assert f'"{key}"' in text, key
    for e in doc["lift"]:
        assert e["metric"] in text and e["metric"] in (ROOT / "docs" / "metrics.md").read_text()
