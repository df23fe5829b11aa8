"""Small readers for the config files the checks look into.

They take text and never raise: a file that does not parse yields nothing, and the check that
needed it says what it could not read. Workflow YAML is read with a line-based reader of the one
key we need (`on:`) instead of a YAML parser: PyYAML is not among loopmeter's dependencies, and
the trigger block takes only the forms GitHub documents (a scalar, a flow list, a block list or a
block mapping), which a reader of indentation handles without evaluating anything else.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from typing import Any

_MAKE_TARGET = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-/ ]*?)\s*::?(?![=])", re.M)
_PHONY = re.compile(r"^\.PHONY\s*:\s*(.+)$", re.M)
_JUST_RECIPE = re.compile(r"^@?([A-Za-z_][A-Za-z0-9_-]*)(?:\s+[^:=\n]*)?\s*:(?![=])", re.M)
_NOX_SESSION = re.compile(r"@nox\.session[^\n]*\n(?:\s*@[^\n]*\n)*\s*def\s+(\w+)")
_TOX_ENVLIST = re.compile(r"^\s*env_?list\s*=\s*((?:.*\n?)(?:[ \t]+\S.*\n?)*)", re.M)
_TOX_SECTION = re.compile(r"^\[testenv:([^\]]+)\]", re.M)


_TARGET_NAME = re.compile(r"^[A-Za-z0-9][\w./-]*$")


def makefile_targets(text: str) -> list[str]:
    text = text.replace("\\\n", " ")  # continuation lines
    names: list[str] = []
    for m in _PHONY.finditer(text):
        names += m.group(1).split()
    for m in _MAKE_TARGET.finditer(text):
        for name in m.group(1).split():
            if not name.startswith(".") and "%" not in name and "$" not in name:
                names.append(name)
    return [n for n in dict.fromkeys(names) if _TARGET_NAME.match(n)]


def justfile_recipes(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in _JUST_RECIPE.finditer(text) if m.group(1) not in ("set", "export", "import", "mod", "alias")))


def _block_children(lines: list[str]) -> Iterator[str]:
    """The lines one indentation level into a YAML block, given the lines after its key, up to the
    next top-level line (blank lines and comments skipped)."""
    indent = None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        depth = len(line) - len(line.lstrip(" "))
        if depth == 0:
            return
        indent = indent or depth
        if depth == indent:
            yield line


def taskfile_tasks(text: str) -> list[str]:
    """Task names: the keys one indentation level below a top-level `tasks:`."""
    names = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(" ") or not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.rstrip().rstrip(":").strip() == "tasks" and line.rstrip().endswith(":"):
            for child in _block_children(lines[i + 1:]):
                m = re.match(r"\s*['\"]?([\w:.-]+)['\"]?\s*:", child)
                if m:
                    names.append(m.group(1))
    return names


def nox_sessions(text: str) -> list[str]:
    return [m.group(1) for m in _NOX_SESSION.finditer(text)]


def tox_envs(text: str) -> list[str]:
    envs: list[str] = []
    m = _TOX_ENVLIST.search(text)
    if m:
        envs += [e.strip() for e in re.split(r"[,\s]+", m.group(1)) if e.strip() and not e.startswith("#")]
    envs += [s.strip() for s in _TOX_SECTION.findall(text)]
    return list(dict.fromkeys(envs)) or ["py"]


def toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return {}


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def pyproject_tasks(data: dict[str, Any]) -> dict[str, list[str]]:
    """Task-runner entries declared in pyproject.toml, by runner."""
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    found: dict[str, list[str]] = {}
    for runner, table in (("poe", ("poe", "tasks")), ("pdm", ("pdm", "scripts")), ("taskipy", ("taskipy", "tasks"))):
        t = tool.get(table[0], {})
        t = t.get(table[1]) if isinstance(t, dict) else None
        if isinstance(t, dict) and t:
            found[runner] = sorted(str(k) for k in t if not str(k).startswith("_"))
    hatch = tool.get("hatch", {})
    envs = hatch.get("envs", {}) if isinstance(hatch, dict) else {}
    if isinstance(envs, dict):
        names = sorted({str(k) for env in envs.values() if isinstance(env, dict)
                        for k in (env.get("scripts") or {}) if isinstance(env.get("scripts"), dict)})
        if names:
            found["hatch"] = names
    return found


def requirements_pins(text: str) -> tuple[int, int]:
    """(pinned, total) requirement lines; pinned means `==`/`===` or a hash-locked line."""
    pinned = total = 0
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", "--")) or line.startswith("\\"):
            continue
        total += 1
        if "==" in line or "--hash" in raw:
            pinned += 1
    return pinned, total


def workflow_triggers(text: str) -> set[str]:
    """The event names under a GitHub Actions workflow's top-level `on:` key."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"""^(?:on|"on"|'on'|true)\s*:(.*)$""", line)
        if not m:
            continue
        rest = m.group(1).split(" #", 1)[0].strip()
        if rest:
            return _flow_names(rest)
        events = set()
        for child in _block_children(lines[i + 1:]):
            item = child.strip()
            if item.startswith("- "):
                events.add(item[2:].strip(" '\""))
            else:
                km = re.match(r"""['"]?([\w-]+)['"]?\s*:""", item)
                if km:
                    events.add(km.group(1))
        return events
    return set()


def _flow_names(text: str) -> set[str]:
    """Top-level names of an inline YAML value: `push`, `[push, pull_request]`, `{push: {...}, pull_request: {}}`."""
    if not text.startswith(("[", "{")):
        return {text.strip(" '\"")}
    names, depth, cur = set(), 0, []
    is_map = text.startswith("{")
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth == 1:
                continue
        elif ch in "]}":
            depth -= 1
        if depth == 1 and ch in ",":
            names.add("".join(cur))
            cur = []
        elif depth >= 1:
            cur.append(ch)
    names.add("".join(cur))
    if is_map:
        names = {n.split(":", 1)[0] for n in names}
    return {n.strip(" '\"") for n in names if n.strip(" '\"")}
