"""Owned: does someone own the loop? CODEOWNERS coverage, maintainers listed, how concentrated the
last year's commits are, and folders nobody touched in a year.

People are never named here: the bus factor is a count, and evidence names files and folders only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath

from . import codeowners
from .context import Context, Evidence, show


def codeowners_coverage(ctx: Context) -> Evidence:
    if ctx.codeowners is None:
        return Evidence(value=0.0, missing=["no CODEOWNERS file (.github/, root, docs/ or .gitlab/)"])
    rules = ctx.codeowner_rules
    files = ctx.files
    owned, unowned = codeowners.coverage(rules, files)
    share = owned / len(files) if files else 0.0
    # A GitLab file's owners come from every section, so say how many sections were read.
    sections = [s for s in rules.sections if s] if rules.forge == codeowners.GITLAB else []
    how = f"{len(rules)} rules" + (f" in {len(sections)} GitLab section{'s' * (len(sections) != 1)}" if sections else "")
    ev = Evidence(value=share, evidence=[f"{ctx.codeowners}: {how} own {owned} of {len(files)} tracked files ({share:.0%})"])
    if unowned:
        tops = Counter(f.split("/", 1)[0] if "/" in f else "(root files)" for f in unowned)
        ev.missing.append("files without an owner, by top-level folder: "
                          + ", ".join(f"{d} ({n})" for d, n in sorted(tops.items(), key=lambda kv: (-kv[1], kv[0]))[:6]))
    return ev


def maintainers(ctx: Context) -> Evidence:
    ev = Evidence()
    files = ctx.named("MAINTAINERS", "MAINTAINERS.md", "MAINTAINERS.txt", "MAINTAINERS.rst", "OWNERS", "OWNERS.md",
                      max_depth=1)
    if files:
        ev.evidence.append(f"maintainer files: {show(files)}")
    if any(r.owners for r in ctx.codeowner_rules):
        ev.evidence.append(f"{ctx.codeowners} names owners")
    for path in ctx.manifests:
        name = PurePosixPath(path).name.lower()
        if name == "pyproject.toml":
            project = ctx.config(path).get("project")
            if isinstance(project, dict) and project.get("maintainers"):
                ev.evidence.append(f"{path}: [project] maintainers")
        elif name == "package.json" and ctx.config(path).get("maintainers"):
            ev.evidence.append(f"{path}: maintainers")
    ev.fraction = 1.0 if ev.evidence else 0.0
    if not ev.evidence:
        ev.missing.append("no maintainers listed anywhere")
    return ev


def bus_factor(ctx: Context) -> Evidence:
    h = ctx.history
    if h.as_of is None:
        return Evidence(unknown="no git history to read")
    matcher = ctx.matcher
    counts: Counter[str] = Counter()
    left_out = 0
    for c in h.commits:
        if len(c.parents) > 1 or c.time <= h.since:
            continue
        kind, _ = matcher.classify_actor(c.author_name, c.author_email)
        if kind != "human":
            left_out += 1
            continue
        counts[(c.author_email or c.author_name).strip().lower()] += 1
    total = sum(counts.values())
    if not total:
        return Evidence(value=0.0, missing=["no person committed in the 12 months before HEAD"])
    k, acc = 0, 0
    for _, n in counts.most_common():
        k, acc = k + 1, acc + n
        if acc * 2 >= total:
            break
    ev = Evidence(value=float(k), evidence=[
        f"{k} of {len(counts)} people made half of the {total} commits by people in the last 12 months"
        + (f" ({left_out} bot or agent commits left out)" if left_out else "")])
    if k < 3:
        ev.missing.append(f"bus factor {k}: the loop depends on {'one person' if k == 1 else 'two people'}")
    return ev


def fresh_areas(ctx: Context) -> Evidence:
    h = ctx.history
    if h.as_of is None:
        return Evidence(unknown="no git history to read")
    # Hidden folders (.github, .devcontainer, ...) hold tool settings that rightly stay unchanged for
    # long; an area of the work is a visible folder.
    areas = [d for d in ctx.top_dirs if not d.startswith(".")]
    if not areas:
        return Evidence(unknown="no top-level folders")
    stale = [d for d in areas if d not in h.touched_top]
    share = 1 - len(stale) / len(areas)
    ev = Evidence(value=share, evidence=[
        f"{len(areas) - len(stale)} of {len(areas)} top-level folders changed in the last 12 months"])
    if stale:
        ev.missing.append(f"untouched for a year: {show(stale, 8)}")
    return ev


FINDERS = {"codeowners": codeowners_coverage, "maintainers": maintainers, "bus_factor": bus_factor,
           "fresh_areas": fresh_areas}
