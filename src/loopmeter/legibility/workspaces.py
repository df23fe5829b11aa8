"""The member packages a monorepo declares, so that their dependency manifests are read too.

A monorepo keeps its libraries in its packages' manifests (`apps/cli/package.json`,
`crates/core/Cargo.toml`), not at the root: reading manifests only at depth <= 1 told a
JavaScript monorepo with OpenTelemetry in six packages that it had no telemetry at all. We read a
package's manifest when the repository itself declares the package a member of its workspace,
rather than every manifest at any depth, because example apps, test fixtures and vendored
copies carry manifests too, and their libraries are not the project's.

Declarations read (each from the root only, as the tools themselves read them):
- package.json `workspaces` (npm, yarn, bun): a list of globs, or `{"packages": [...]}`;
- pnpm-workspace.yaml `packages:` (globs; `!glob` excludes);
- Cargo.toml `[workspace] members` / `exclude`;
- pyproject.toml `[tool.uv.workspace] members` / `exclude`;
- go.work `use` directives (paths, not globs).
Globs match whole path segments: `*` within one segment, `**` any number of segments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from . import configs

#: Root files that can declare workspace members.
DECLARING = frozenset({"package.json", "pnpm-workspace.yaml", "pnpm-workspace.yml", "cargo.toml", "pyproject.toml",
                       "go.work"})

_GO_USE_BLOCK = re.compile(r"^use\s*\(\s*\n(.*?)^\)", re.M | re.S)
_GO_USE_LINE = re.compile(r"^use\s+(\S+)", re.M)


def _clean(glob: str) -> str:
    glob = glob.strip().strip("'\"").strip()
    while glob.startswith("./"):
        glob = glob[2:]
    return glob.rstrip("/")


def _pnpm_packages(text: str) -> list[str]:
    """The `packages:` list of pnpm-workspace.yaml: block (`- glob`) or flow (`[a, b]`) form,
    read line by line (PyYAML is not a loopmeter dependency; see configs.py)."""
    out: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^packages\s*:\s*(.*)$", line)
        if not m:
            continue
        rest = m.group(1).split(" #", 1)[0].strip()
        if rest.startswith("["):
            return [g for g in (_clean(x) for x in rest.strip("[]").split(",")) if g]
        for item in lines[i + 1:]:
            stripped = item.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not item.startswith((" ", "\t", "-")):
                break
            if stripped.startswith("-"):
                glob = _clean(stripped[1:].split(" #", 1)[0])
                if glob:
                    out.append(glob)
        break
    return out


def _go_work(text: str) -> list[str]:
    uses = [_clean(m.group(1)) for m in _GO_USE_LINE.finditer(text) if m.group(1) != "("]
    for block in _GO_USE_BLOCK.finditer(text):
        uses += [_clean(line.split("//", 1)[0]) for line in block.group(1).splitlines() if line.split("//", 1)[0].strip()]
    return [u for u in uses if u and u != "."]


def declared(texts: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(member globs, excluded globs) that the root files (path -> text) declare."""
    members: list[str] = []
    excluded: list[str] = []
    for path, text in texts.items():
        if "/" in path:
            continue
        name = path.lower()
        if name == "package.json":
            ws = configs.json_object(text).get("workspaces")
            if isinstance(ws, dict):
                ws = ws.get("packages")
            globs = [g for g in ws if isinstance(g, str)] if isinstance(ws, list) else []
        elif name in ("pnpm-workspace.yaml", "pnpm-workspace.yml"):
            globs = _pnpm_packages(text)
        elif name == "cargo.toml":
            ws = configs.toml(text).get("workspace")
            ws = ws if isinstance(ws, dict) else {}
            globs = [g for g in ws.get("members", []) if isinstance(g, str)]
            excluded += [_clean(g) for g in ws.get("exclude", []) if isinstance(g, str)]
        elif name == "pyproject.toml":
            tool = configs.toml(text).get("tool")
            uv = tool.get("uv") if isinstance(tool, dict) else None
            ws = uv.get("workspace") if isinstance(uv, dict) else None
            ws = ws if isinstance(ws, dict) else {}
            globs = [g for g in ws.get("members", []) if isinstance(g, str)]
            excluded += [_clean(g) for g in ws.get("exclude", []) if isinstance(g, str)]
        elif name == "go.work":
            globs = _go_work(text)
        else:
            continue
        for g in globs:
            g = g.strip()
            (excluded if g.startswith("!") else members).append(_clean(g.lstrip("!")))
    return [g for g in members if g], [g for g in excluded if g]


def matches(directory: str, glob: str) -> bool:
    """Whether a directory (segments joined by '/') matches a workspace glob segment by segment."""
    return _match(directory.split("/") if directory else [], glob.split("/") if glob else [])


def _match(parts: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(parts[i:], rest) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _match(parts[1:], rest)


def member_manifests(files: Iterable[str], texts: Mapping[str, str], is_manifest) -> list[str]:
    """Manifests (files for which is_manifest(path) holds) that sit directly in a declared member
    package's folder, deeper than the root's own folder level, shallowest first."""
    members, excluded = declared(texts)
    if not members:
        return []
    out = []
    for f in files:
        folder, _, _ = f.rpartition("/")
        if not folder or not is_manifest(f):
            continue
        if any(matches(folder, g) for g in members) and not any(matches(folder, g) for g in excluded):
            out.append(f)
    return sorted(out, key=lambda p: (p.count("/"), p))
