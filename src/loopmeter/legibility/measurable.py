"""Measurable: is success defined? Tests and their share of the code, CI, coverage and type
checking, and issue templates that ask what 'done' means."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from .context import Context, Evidence, Split, show, vendored
from .store_facts import StoreFacts

CODE_EXTENSIONS = frozenset({
    ".py", ".pyx", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".go", ".rs", ".java", ".kt",
    ".scala", ".rb", ".php", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".swift", ".m", ".mm",
    ".ex", ".exs", ".erl", ".hs", ".ml", ".clj", ".lua", ".jl", ".dart", ".r", ".vue", ".svelte", ".f90",
})
#: Languages whose compiler checks types: their code needs no separate type checker.
STATICALLY_TYPED = frozenset({".go", ".rs", ".java", ".kt", ".scala", ".cs", ".swift", ".c", ".h", ".cc",
                              ".cpp", ".cxx", ".hpp", ".hh", ".hs", ".ml", ".dart"})
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "e2e", "testsuite"})
_TEST_NAME = re.compile(
    r"^test_.*\.py$|^conftest\.py$|_test\.(?:py|go|rb|exs?|c|cc|cpp|dart)$|\.(?:test|spec)\.[cm]?[jt]sx?$"
    r"|(?:Test|Tests|Spec|IT)\.(?:java|kt|scala|cs|swift)$|_spec\.rb$|^test.*\.(?:c|cc|cpp)$", re.I)
CI_FILES = re.compile(
    r"^(?:\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.ya?ml|jenkinsfile|\.circleci/config\.ya?ml|azure-pipelines\.ya?ml"
    r"|\.travis\.ya?ml|bitbucket-pipelines\.ya?ml|\.buildkite/[^/]+|\.drone\.ya?ml|\.woodpecker\.ya?ml|\.woodpecker/[^/]+"
    r"|appveyor\.ya?ml|\.appveyor\.ya?ml|\.cirrus\.ya?ml|\.teamcity/[^/]+|cloudbuild\.ya?ml|\.semaphore/[^/]+)$", re.I)
_COVERAGE_TEXT = re.compile(r"--cov\b|coverage run|\bcodecov\b|coveralls|tarpaulin|llvm-cov|-coverprofile|\bc8\b|\bnyc\b"
                            r"|collectCoverage|coverageThreshold|\bjacoco\b|\[coverage:|\[tool\.coverage", re.I)
_TYPECHECK_TEXT = re.compile(r"\bmypy\b|\bpyright\b|\bbasedpyright\b|\btsc\b|\bpytype\b|\bpyre\b", re.I)
_ACCEPTANCE = re.compile(r"acceptance criteria|definition of done|success criteria|expected (?:behaviou?r|result|outcome)"
                         r"|done when", re.I)
_TS_STRICT = re.compile(r'"strict"\s*:\s*true')


def is_test(path: str) -> bool:
    parts = path.split("/")
    return any(p in TEST_DIRS for p in parts[:-1]) or bool(_TEST_NAME.search(parts[-1]))


def suffix(path: str) -> str:
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def code_files(ctx: Context) -> tuple[list[str], list[str]]:
    """(source files, test files) among tracked code files, vendored trees left out (computed once)."""
    if ctx._code is None:
        sources, tests = [], []
        for f in ctx.files:
            if suffix(f) in CODE_EXTENSIONS and not vendored(f):
                (tests if is_test(f) else sources).append(f)
        ctx._code = (sources, tests)
    return ctx._code


def tests(ctx: Context) -> Evidence:
    sources, test_files = code_files(ctx)
    if not sources:
        if test_files:
            return Evidence(value=1.0, evidence=[f"{len(test_files)} test files and no other code"])
        return Evidence(unknown="no source code files to test")
    ratio = len(test_files) / len(sources)
    ev = Evidence(value=ratio, evidence=[f"{len(test_files)} test files for {len(sources)} source files ({ratio:.2f} per file)"])
    if not test_files:
        ev.missing.append("no test files (test_*.py, *_test.go, *.test.ts, tests/ ...)")
    return ev


def _ci_files(ctx: Context) -> str | None:
    hits = sorted(f for f in ctx.files if CI_FILES.match(f))
    return show(hits) if hits else None


def _ci_config(hits: str | None, f: StoreFacts | None) -> Evidence:
    if hits:
        return Evidence(fraction=1.0, evidence=[f"CI configuration: {hits}"])
    if f is not None and f.ci_runs:
        return Evidence(fraction=1.0, evidence=[f"store: {f.ci_runs} CI runs ingested (config kept elsewhere)"])
    return Evidence(fraction=0.0, missing=["no CI configuration found"])


ci_config = Split(_ci_files, _ci_config)


def coverage_typecheck(ctx: Context) -> Evidence:
    ev = Evidence(fraction=0.0)
    texts = ctx.texts_of(ctx.manifests + ctx.runners + ctx.workflows)
    cov_files = ctx.named(".coveragerc", "codecov.yml", ".codecov.yml", ".nycrc", ".nycrc.json", "jest.config.js",
                          "jest.config.ts", "vitest.config.ts", "tarpaulin.toml", max_depth=1)
    cov_text = sorted({p for p, t in texts if _COVERAGE_TEXT.search(t)})
    if cov_files or cov_text:
        ev.fraction += 0.5
        ev.evidence.append("coverage: " + show(cov_files + cov_text))
    else:
        ev.missing.append("no coverage configuration")
    sources, _ = code_files(ctx)
    typed = sum(1 for f in sources if suffix(f) in STATICALLY_TYPED)
    type_files = ctx.named("mypy.ini", ".mypy.ini", "pyrightconfig.json", max_depth=1)
    type_text = sorted({p for p, t in texts if _TYPECHECK_TEXT.search(t)})
    tsconfigs = [(p, t) for p, t in ctx.texts_of(ctx.runners) if PurePosixPath(p).name.lower() == "tsconfig.json"]
    strict = [p for p, t in tsconfigs if _TS_STRICT.search(t)]
    if sources and typed * 2 > len(sources):
        ev.fraction += 0.5
        ev.evidence.append(f"type checking: {typed} of {len(sources)} source files are in a statically typed language")
    elif type_files or type_text or strict:
        ev.fraction += 0.5
        ev.evidence.append("type checking: " + show(type_files + type_text + strict))
    elif tsconfigs:
        ev.fraction += 0.25
        ev.evidence.append(f"type checking: {show([p for p, _ in tsconfigs])} without \"strict\": true")
        ev.missing.append("TypeScript is not in strict mode")
    else:
        ev.missing.append("no type-check configuration (mypy, pyright, tsconfig strict)")
    return ev


def issue_templates(ctx: Context) -> Evidence:
    templates = ctx.issue_templates
    if not templates:
        return Evidence(fraction=0.0, missing=["no issue templates"])
    asking = [p for p, t in ctx.texts_of(templates) if _ACCEPTANCE.search(t)]
    if asking:
        return Evidence(fraction=1.0, evidence=[f"issue templates asking for acceptance criteria or expected behaviour: {show(asking)}"])
    return Evidence(fraction=0.5, evidence=[f"issue templates: {show(templates)}"],
                    missing=["no template asks for acceptance criteria or the expected behaviour"])


FINDERS = {"tests": tests, "ci_config": ci_config, "coverage_typecheck": coverage_typecheck,
           "issue_templates": issue_templates}
