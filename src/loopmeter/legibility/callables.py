"""Callable: can an agent run the tools? Discoverable commands, a reproducible environment,
instructions written for agents, and interfaces to the team's systems."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from . import configs
from .context import Context, Evidence, depth, show

# Which verb a task name offers. "check" is a test target in most Makefiles (`make check`).
VERBS = {
    "test": re.compile(r"(?:^|[-_:. ])(tests?|check|pytest|unit|spec|unittest)(?:$|[-_:. ])", re.I),
    "lint": re.compile(r"(?:^|[-_:. ])(lint|fmt|format|style|typecheck|type-check|types|mypy|ruff|flake8|eslint|prettier|clippy|vet|pre-commit)(?:$|[-_:. ])", re.I),
    "build": re.compile(r"(?:^|[-_:. ])(build|compile|dist|package|bundle|wheel|all|install|sdist)(?:$|[-_:. ])", re.I),
}
LOCK_FILES = frozenset({
    "uv.lock", "poetry.lock", "pdm.lock", "pipfile.lock", "pixi.lock", "conda-lock.yml", "package-lock.json",
    "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock", "deno.lock", "cargo.lock",
    "go.sum", "gemfile.lock", "composer.lock", "mix.lock", "pubspec.lock", "podfile.lock", "packages.lock.json",
    "gradle.lockfile", "flake.lock", "requirements.lock",
})
_CONTAINER = re.compile(r"(?:^|/)(?:dockerfile[\w.-]*|containerfile[\w.-]*|[\w.-]+\.dockerfile|docker-compose[\w.-]*\.ya?ml"
                        r"|compose\.ya?ml|\.devcontainer(?:/[\w.-]+)?/devcontainer\.json|\.devcontainer\.json|flake\.nix"
                        r"|shell\.nix|devbox\.json|\.gitpod\.ya?ml)$", re.I)
_AGENT_FILES = re.compile(r"(?:^|/)(?:agents\.md|claude\.md|gemini\.md|\.cursorrules|\.windsurfrules|\.clinerules"
                          r"|conventions\.md|\.aider\.conf\.ya?ml)$|^\.cursor/rules/|^\.github/copilot-instructions\.md$"
                          r"|^\.github/instructions/[^/]+\.instructions\.md$|^\.claude/", re.I)
_HUMAN_GUIDES = re.compile(r"^(?:\.github/|docs?/)?(?:contributing|developing|development|hacking)(?:\.md|\.rst|\.txt)?$", re.I)
_API_SPECS = re.compile(r"(?:^|/)(?:openapi|swagger)[\w.-]*\.(?:ya?ml|json)$|\.proto$|\.graphqls?$|(?:^|/)(?:\.mcp|mcp)\.json$", re.I)
_TOOL_DIRS = ("scripts/", "bin/", "tools/", "tool/", "script/")


def _verbs(names: list[str]) -> set[str]:
    return {v for v, rx in VERBS.items() for n in names if rx.search(n)}


def task_commands(ctx: Context) -> Evidence:
    found: dict[str, list[str]] = {v: [] for v in VERBS}
    ev = Evidence()

    def offer(where: str, names: list[str], verbs: set[str] | None = None) -> None:
        verbs = _verbs(names) if verbs is None else verbs
        for v in verbs:
            found[v].append(where)
        if names:
            ev.evidence.append(f"{where}: {show(sorted(names), 8)}")

    for path in ctx.runners:
        name, text = PurePosixPath(path).name.lower(), ctx.text(path)
        if name in ("makefile", "gnumakefile"):
            offer(path, configs.makefile_targets(text))
        elif name in ("justfile", ".justfile"):
            offer(path, configs.justfile_recipes(text))
        elif name.startswith("taskfile"):
            offer(path, configs.taskfile_tasks(text))
        elif name == "tox.ini":
            envs = configs.tox_envs(text)
            offer(path, envs, {"test"} | _verbs(envs))
        elif name == "noxfile.py":
            offer(path, configs.nox_sessions(text))
        elif name == "pytest.ini":
            offer(path, [], {"test"})
    for path in ctx.manifests:
        name = PurePosixPath(path).name.lower()
        if name == "package.json":
            scripts = ctx.config(path).get("scripts")
            if isinstance(scripts, dict):
                offer(f"{path} scripts", sorted(str(k) for k in scripts))
        elif name == "pyproject.toml":
            data = ctx.config(path)
            for runner, names in configs.pyproject_tasks(data).items():
                offer(f"{path} [{runner}]", names)
            tool = data.get("tool", {}) if isinstance(data.get("tool"), dict) else {}
            conv = set()
            if "pytest" in tool:
                conv.add("test")
            if {"ruff", "black", "flake8", "pylint", "mypy", "isort"} & set(tool):
                conv.add("lint")
            if "build-system" in data:
                conv.add("build")
            if conv and depth(path) == 0:
                offer(f"{path} (by convention: {', '.join(sorted(conv))})", [], conv)
        elif name in ("cargo.toml", "go.mod") and depth(path) == 0:
            offer(f"{path} (by convention: build, test)", [], {"build", "test"})
    scripts = [f for f in ctx.files if f.startswith(_TOOL_DIRS) and f.count("/") == 1]
    stems = sorted({PurePosixPath(f).stem for f in scripts})
    if _verbs(stems):
        offer(f"scripts ({show(sorted(f for f in scripts if _verbs([PurePosixPath(f).stem])), 3)})", [], _verbs(stems))
    lint_configs = ctx.named(".flake8", "ruff.toml", ".ruff.toml", ".eslintrc", ".eslintrc.js", ".eslintrc.json",
                             ".eslintrc.cjs", ".eslintrc.yml", "eslint.config.js", "eslint.config.mjs", "eslint.config.cjs",
                             ".golangci.yml", ".golangci.yaml", "clippy.toml", ".rubocop.yml", ".pylintrc", "biome.json",
                             max_depth=0)
    if lint_configs:
        offer(f"linter config {show(lint_configs)} (by convention: lint)", [], {"lint"})
    have = sorted(v for v in VERBS if found[v])
    ev.fraction = len(have) / len(VERBS)
    if have:
        ev.evidence.insert(0, "discoverable: " + ", ".join(f"{v} ({show(sorted(set(found[v])), 2)})" for v in have))
    for v in VERBS:
        if not found[v]:
            ev.missing.append(f"no discoverable {v} command")
    return ev


def lock_file(ctx: Context) -> Evidence:
    locks = sorted(p for name in LOCK_FILES for p in ctx.by_name.get(name, []))
    if locks:
        return Evidence(fraction=1.0, evidence=[f"lock files: {show(locks)}"])
    pinned = total = 0
    reqs = [p for p in ctx.manifests if PurePosixPath(p).name.lower().startswith(("requirements", "constraints"))]
    for _, text in ctx.texts_of(reqs):
        a, b = configs.requirements_pins(text)
        pinned, total = pinned + a, total + b
    if total:
        share = pinned / total
        ev = Evidence(fraction=1.0 if pinned == total else 0.5 * share,
                      evidence=[f"{pinned} of {total} requirement lines pinned with == in {show(reqs)}"])
        if pinned < total:
            ev.missing.append(f"{total - pinned} requirements are not pinned and there is no lock file")
        return ev
    return Evidence(fraction=0.0, missing=["no lock file and no pinned requirements"])


def container_env(ctx: Context) -> Evidence:
    hits = [f for f in ctx.files if _CONTAINER.search(f)]
    if hits:
        return Evidence(fraction=1.0, evidence=[f"environment definitions: {show(sorted(hits))}"])
    return Evidence(fraction=0.0, missing=["no devcontainer, container file or Nix environment"])


def agent_instructions(ctx: Context) -> Evidence:
    hits = sorted(f for f in ctx.files if _AGENT_FILES.search(f))
    if hits:
        return Evidence(fraction=1.0, evidence=[f"agent instructions: {show(hits)}"])
    guides = sorted(f for f in ctx.files if _HUMAN_GUIDES.match(f))
    if guides:
        return Evidence(fraction=0.5, evidence=[f"contributor guides (written for people): {show(guides)}"],
                        missing=["no AGENTS.md, CLAUDE.md, .cursor/rules or copilot-instructions"])
    return Evidence(fraction=0.0, missing=["no instructions for agents or contributors"])


def tool_interfaces(ctx: Context) -> Evidence:
    ev = Evidence()
    dirs = sorted({d for d in _TOOL_DIRS if any(f.startswith(d) for f in ctx.files)})
    if dirs:
        ev.evidence.append(f"script folders: {', '.join(dirs)}")
    specs = sorted(f for f in ctx.files if _API_SPECS.search(f))
    if specs:
        ev.evidence.append(f"API descriptions or MCP config: {show(specs)}")
    for path in ctx.manifests:
        name, text = PurePosixPath(path).name.lower(), ctx.text(path)
        if name == "pyproject.toml":
            data = ctx.config(path)
            project = data.get("project") if isinstance(data.get("project"), dict) else {}
            poetry = (data.get("tool", {}) or {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
            scripts = dict(project.get("scripts") or {}) | dict((poetry or {}).get("scripts") or {})
            if scripts:
                ev.evidence.append(f"{path}: command-line entry points {show(sorted(map(str, scripts)))}")
        elif name == "package.json" and ctx.config(path).get("bin"):
            ev.evidence.append(f"{path}: command-line entry point (bin)")
        elif name == "setup.cfg" and "console_scripts" in text:
            ev.evidence.append(f"{path}: console_scripts entry points")
    ev.fraction = 1.0 if ev.evidence else 0.0
    if not ev.evidence:
        ev.missing.append("no scripts folder, command-line entry point, API description or MCP config")
    return ev


FINDERS = {"task_commands": task_commands, "lock_file": lock_file, "container_env": container_env,
           "agent_instructions": agent_instructions, "tool_interfaces": tool_interfaces}
