"""What every check looks at: the inventory, the config files read once and the year of history.

A check reads only the repository (a plain finder, `Context -> Evidence`), or also the facts the
store holds about it (a `Split`): its repository half is read once per tip and kept with the
reading (legibility/reading.py), its judgement is made at each report with that report's facts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from ..attribution import Matcher
from . import configs, workspaces
from .codeowners import LOCATIONS as CODEOWNERS_LOCATIONS
from .codeowners import Codeowners
from .codeowners import parse as parse_codeowners
from .history import History
from .scan import Inventory
from .store_facts import StoreFacts

#: Dependency manifests whose text names the libraries a project uses (read at depth <= 1, in requirements/,
#: and in the member packages a monorepo's root declares: workspaces.py).
MANIFESTS = frozenset({
    "pyproject.toml", "setup.cfg", "setup.py", "pipfile", "environment.yml", "environment.yaml",
    "package.json", "go.mod", "cargo.toml", "gemfile", "pom.xml", "build.gradle", "build.gradle.kts",
    "composer.json", "mix.exs", "pubspec.yaml",
})
_REQUIREMENTS = re.compile(r"^(?:requirements|constraints)[\w.-]*\.(?:txt|in)$", re.I)
#: Task runners and other root-level configs whose text the checks read.
RUNNERS = frozenset({
    "makefile", "gnumakefile", "justfile", ".justfile", "taskfile.yml", "taskfile.yaml", "tox.ini",
    "noxfile.py", "tsconfig.json", "mypy.ini", ".mypy.ini", "pytest.ini", ".coveragerc",
})
_TEMPLATE_DIRS = (".github/ISSUE_TEMPLATE/", ".gitlab/issue_templates/")
_TEMPLATE_FILES = frozenset({".github/issue_template.md", "issue_template.md", "docs/issue_template.md"})
#: Trees that hold other people's code: not the project's tests, sources or config.
VENDORED = frozenset({"vendor", "third_party", "thirdparty", "node_modules", "external", "extern"})
MAX_READ = 80
_DOC_DIRS = ("doc/", "docs/", "documentation/")


@dataclass
class Evidence:
    """What one check found: a fraction (or a measured value for ramped checks), or why it is unknown."""

    fraction: float | None = None
    value: float | None = None
    evidence: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unknown: str | None = None


@dataclass(frozen=True)
class Split:
    """A check that reads the store's facts too. `read` takes what it needs from the repository as
    plain JSON data (None when it needs nothing), cached per tip with the reading; `judge` turns
    that and the facts (None when the repository was not ingested) into the check's evidence."""

    read: Callable[[Context], Any] | None
    judge: Callable[[Any, StoreFacts | None], Evidence]


def depth(path: str) -> int:
    return path.count("/")


def basename(path: str) -> str:
    return path.rpartition("/")[2]


def vendored(path: str) -> bool:
    return any(part in VENDORED for part in path.split("/")[:-1])


class Context:
    def __init__(self, inv: Inventory, history: History, matcher: Matcher | None = None):
        self.inv = inv
        # Who is an agent or a bot: the built-in signatures plus loopmeter.toml's, as for ingestion
        # (a reading is kept under the matcher's fingerprint, reading.py).
        self.matcher = matcher if matcher is not None else Matcher.load()
        self.history = history
        self.files = inv.files
        self.fileset = set(inv.files)
        self.by_name: dict[str, list[str]] = {}
        for f in inv.files:
            if not vendored(f):
                self.by_name.setdefault(basename(f).lower(), []).append(f)
        self.top_dirs = sorted({f.split("/", 1)[0] for f in inv.files if "/" in f})
        shallow = [f for f in inv.files if depth(f) <= 1 and not vendored(f)]
        self.manifests = [f for f in shallow if basename(f).lower() in MANIFESTS or _REQUIREMENTS.match(basename(f))]
        self.manifests += [f for f in inv.files if f.startswith("requirements/") and depth(f) == 1
                           and f.endswith((".txt", ".in")) and f not in self.manifests]
        # A monorepo's libraries live in its member packages' manifests (apps/cli/package.json), which
        # the root declares (workspaces.py); their folders may sit deeper than one level.
        declaring = inv.read_all([f for f in inv.files if "/" not in f and f.lower() in workspaces.DECLARING])
        known = set(self.manifests)
        self.manifests += [f for f in workspaces.member_manifests(inv.files, declaring, self._is_member_manifest)
                           if f not in known]
        # Task runners at the root or one folder down (a monorepo's packages), not the docs' own Makefile.
        self.runners = [f for f in shallow if not f.startswith(_DOC_DIRS) and basename(f).lower() in RUNNERS]
        self.workflows = sorted(f for f in inv.files if f.startswith(".github/workflows/") and depth(f) == 2
                                and f.endswith((".yml", ".yaml")))
        self.issue_templates = sorted(f for f in inv.files if f.startswith(_TEMPLATE_DIRS) or f.lower() in _TEMPLATE_FILES)
        self.codeowners = next((p for p in CODEOWNERS_LOCATIONS if p in self.fileset), None)
        wanted = (self.manifests + self.runners + self.workflows + self.issue_templates
                  + ([self.codeowners] if self.codeowners else []))
        # Root-level files first, so a monorepo with hundreds of packages still reads the ones that matter.
        wanted.sort(key=lambda p: (depth(p), p))
        # What was read, for a kept reading's stamp (reading.py): the workspace declarations too.
        self.read = list(dict.fromkeys([*declaring, *wanted[:MAX_READ]]))
        self.unread = wanted[MAX_READ:]
        self._code: tuple[list[str], list[str]] | None = None
        self.texts = {**declaring, **inv.read_all([p for p in wanted[:MAX_READ] if p not in declaring])}
        self._configs: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _is_member_manifest(path: str) -> bool:
        return basename(path).lower() in MANIFESTS and not vendored(path)

    @cached_property
    def codeowner_rules(self) -> Codeowners:
        """The CODEOWNERS file's rules, parsed once for the checks that read them, as the forge that
        reads the file where it lives reads them (GitHub or GitLab sections)."""
        if not self.codeowners:
            return Codeowners()
        return parse_codeowners(self.text(self.codeowners), self.codeowners)

    def config(self, path: str) -> dict[str, Any]:
        """A TOML or JSON config file (pyproject.toml, package.json) as data, {} when it does not
        parse; parsed once, as several checks read the same manifest."""
        if path not in self._configs:
            parse = configs.toml if path.endswith(".toml") else configs.json_object
            self._configs[path] = parse(self.text(path))
        return self._configs[path]

    def named(self, *names: str, max_depth: int | None = None) -> list[str]:
        """Tracked files with any of these (case-insensitive) base names."""
        out: list[str] = []
        for n in names:
            out += [p for p in self.by_name.get(n.lower(), []) if max_depth is None or depth(p) <= max_depth]
        return sorted(out)

    def under(self, *prefixes: str) -> list[str]:
        return [f for f in self.files if f.startswith(prefixes)]

    def text(self, path: str) -> str:
        return self.texts.get(path, "")

    def texts_of(self, paths: list[str]) -> list[tuple[str, str]]:
        return [(p, self.texts[p]) for p in paths if p in self.texts]

    def manifest_text(self) -> list[tuple[str, str]]:
        return self.texts_of(self.manifests)

    def root_text(self, name: str) -> tuple[str, str] | None:
        for p in self.files:
            if "/" not in p and p.lower() == name.lower() and p in self.texts:
                return p, self.texts[p]
        return None


def show(paths: list[str], limit: int = 5) -> str:
    """A short list of paths for evidence: the first few, then how many more."""
    head = ", ".join(paths[:limit])
    return head + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
