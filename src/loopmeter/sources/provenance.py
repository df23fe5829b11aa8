"""Line-level provenance: which lines of a commit an agent wrote, from two open formats.

- **Git AI Standard v3.0.0** authorship logs, one git note per commit under `refs/notes/ai`
  (github.com/git-ai-project/git-ai, specs/git_ai_standard_v3.0.0.md). A note is an attestation
  section, a line `---`, then JSON metadata::

      src/app.py
        a1b2c3d4e5f6a7b8 1-10,15
      ---
      {"schema_version": "authorship/3.0.0", "base_commit_sha": "...",
       "prompts": {"a1b2c3d4e5f6a7b8": {"agent_id": {"tool": "cursor", "id": "...", "model": "..."},
                                        "accepted_lines": 11, "overriden_lines": 0}}}

  File paths are unindented (quoted when they hold spaces); each two-space-indented line names a
  prompt hash (16 hex digits in the spec; 7 are accepted too, as some writers abbreviate) and the
  lines of the file, as of that commit, that the prompt's agent wrote.
- **Agent Trace** records (agent-trace.dev, v0.1): JSON with `vcs.revision`, `tool.name` and
  `files[].conversations[]` whose `contributor.type` is `human`, `ai`, `mixed` or `unknown`, with
  `contributor.model_id` and `ranges[]` of `start_line`/`end_line` (a range may carry its own
  contributor). Only `ai` lines count as AI-written; `mixed` and `unknown` are not claimed.

This module only reads and parses; it never touches the store. A note or record that does not
parse is counted and skipped (`Malformed`), never fatal.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .git import RepoInfo, _GIT_CONFIG, _git_env, git

NOTES_REF = "refs/notes/ai"
GIT_AI_SCHEMA = "authorship/3.0.0"
_HASH = re.compile(r"^[0-9a-f]{7,64}$")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")

# Tool names as the formats write them -> the agent names loopmeter uses elsewhere (signatures.toml).
_AGENTS = {
    "claude": "claude-code", "claude-code": "claude-code", "claude_code": "claude-code",
    "github-copilot": "copilot", "copilot": "copilot", "github copilot": "copilot",
    "codex": "codex", "openai-codex": "codex", "cursor": "cursor", "gemini": "gemini",
    "gemini-cli": "gemini", "opencode": "opencode", "windsurf": "windsurf", "amp": "amp",
    "aider": "aider", "devin": "devin", "jules": "jules", "cline": "cline", "continue": "continue",
}


def agent_name(tool: str | None) -> str:
    t = (tool or "").strip().lower()
    return _AGENTS.get(t, t or "unknown")


@dataclass(frozen=True, slots=True)
class FileProvenance:
    """The AI-written lines of one file in one commit, for one agent and model."""

    sha: str  # full or abbreviated; the store resolves it against the repository's commits
    path: str
    source: str  # "git_ai_note" | "agent_trace"
    agent: str
    model: str | None
    lines: tuple[tuple[int, int], ...]  # merged, sorted, inclusive 1-based ranges
    origin: str  # the note's commit or the trace file, for messages

    @property
    def ai_lines(self) -> int:
        return sum(b - a + 1 for a, b in self.lines)

    @property
    def ranges(self) -> str:
        return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in self.lines)


@dataclass
class Malformed:
    """How many notes or records could not be used, and the first of them (for one warning)."""

    count: int = 0
    first: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, where: str, reason: str) -> None:
        self.count += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if self.first is None:
            self.first = f"{where}: {reason}"


class ProvenanceError(ValueError):
    """One note or record does not follow its format (the message says how)."""


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """"1-10,15" -> [(1, 10), (15, 15)]; raises ProvenanceError on anything else."""
    out = []
    for part in text.split(","):
        m = _RANGE.match(part.strip())
        if not m:
            raise ProvenanceError(f"line range {part.strip()!r} is not N or N-M")
        a = int(m.group(1))
        b = int(m.group(2) or a)
        if a < 1 or b < a:
            raise ProvenanceError(f"line range {part.strip()!r} is empty or starts before line 1")
        out.append((a, b))
    return out


def _unquote(path: str) -> str:
    if len(path) >= 2 and path[0] == path[-1] == '"':
        try:
            return json.loads(path)
        except ValueError:
            return path[1:-1]
    return path


def parse_git_ai_note(sha: str, text: str) -> list[FileProvenance]:
    """The files and AI-written lines of one Git AI authorship log attached to commit `sha`."""
    head, sep, meta_text = text.partition("\n---\n")
    if not sep:
        if text.startswith("---\n"):
            head, meta_text = "", text[4:]
        else:
            raise ProvenanceError("no '---' line between the attestations and the metadata")
    try:
        meta = json.loads(meta_text)
    except ValueError as e:
        raise ProvenanceError(f"metadata is not JSON ({e.msg})") from None
    if not isinstance(meta, dict) or meta.get("schema_version") != GIT_AI_SCHEMA:
        got = meta.get("schema_version") if isinstance(meta, dict) else None
        raise ProvenanceError(f"schema_version is {got!r}, not {GIT_AI_SCHEMA!r}")
    prompts = meta.get("prompts") or {}
    if not isinstance(prompts, dict):
        raise ProvenanceError("prompts is not an object keyed by hash")
    per: dict[tuple[str, str, str | None], list[tuple[int, int]]] = {}
    path: str | None = None
    for n, line in enumerate(head.split("\n"), 1):
        if not line.strip():
            continue
        if not line.startswith(" "):
            path = _unquote(line.rstrip())
            continue
        if path is None:
            raise ProvenanceError(f"attestation line {n} comes before any file path")
        parts = line.strip().split(None, 1)
        if len(parts) != 2 or not _HASH.match(parts[0]):
            raise ProvenanceError(f"attestation line {n} is not '<hash> <ranges>'")
        h, ranges = parts
        prompt = prompts.get(h)
        if prompt is None:
            # A 7-character hash may abbreviate a full key of the metadata.
            keys = [k for k in prompts if k.startswith(h)]
            prompt = prompts[keys[0]] if len(keys) == 1 else None
        if not isinstance(prompt, dict):
            raise ProvenanceError(f"hash {h} of attestation line {n} is not among the prompts")
        agent_id = prompt.get("agent_id") or {}
        if not isinstance(agent_id, dict):
            raise ProvenanceError(f"prompt {h}: agent_id is not an object")
        key = (path, agent_name(agent_id.get("tool")), agent_id.get("model") or None)
        per.setdefault(key, []).extend(parse_ranges(ranges))
    # The first row (path "") only says that the commit has a log, AI lines or not: a commit whose
    # log attests no line is known to be human-written, which is not the same as unknown.
    return [FileProvenance(sha=sha, path="", source="git_ai_note", agent="", model=None, lines=(),
                           origin=f"commit {sha[:12]}")] + [
        FileProvenance(sha=sha, path=p, source="git_ai_note", agent=a, model=m, lines=merge_ranges(r),
                       origin=f"commit {sha[:12]}") for (p, a, m), r in per.items()]


def read_git_ai_notes(info: RepoInfo, malformed: Malformed) -> Iterator[FileProvenance]:
    """Every authorship log under refs/notes/ai: one `git notes list` and one `cat-file --batch`."""
    listed = git(info.path, "notes", f"--ref={NOTES_REF}", "list", check=False)
    if listed.returncode != 0:
        return  # no notes ref: nothing recorded, which is not an error
    pairs = [ln.split() for ln in listed.stdout.decode().splitlines() if ln.strip()]
    pairs = [p for p in pairs if len(p) == 2]
    if not pairs:
        return
    proc = subprocess.run(["git", "-C", str(info.path), *_GIT_CONFIG, "cat-file", "--batch"],
                          input="".join(f"{blob}\n" for blob, _ in pairs).encode(), capture_output=True,
                          env=_git_env())
    out = proc.stdout
    pos = 0
    for blob, sha in pairs:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        pos = nl + 1
        if len(header) < 3 or header[1] == b"missing":
            malformed.add(f"refs/notes/ai note of commit {sha[:12]}", "note blob missing")
            continue
        size = int(header[2])
        body = out[pos: pos + size].decode("utf-8", "replace")
        pos += size + 1
        try:
            yield from parse_git_ai_note(sha, body)
        except ProvenanceError as e:
            malformed.add(f"refs/notes/ai note of commit {sha[:12]}", str(e))


def _trace_ranges(conv: dict, where: str) -> dict[str | None, list[tuple[int, int]]]:
    """AI-written ranges of one conversation, by model (a range may name its own contributor)."""
    contributor = conv.get("contributor") or {}
    if not isinstance(contributor, dict):
        raise ProvenanceError(f"{where}: contributor is not an object")
    if contributor.get("type", "unknown") not in ("human", "ai", "mixed", "unknown"):
        raise ProvenanceError(f"{where}: contributor.type {contributor.get('type')!r} is not human, ai, mixed or unknown")
    out: dict[str | None, list[tuple[int, int]]] = {}
    ranges = conv.get("ranges")
    if not isinstance(ranges, list):
        raise ProvenanceError(f"{where}: ranges is not a list")
    for r in ranges:
        if not isinstance(r, dict):
            raise ProvenanceError(f"{where}: a range is not an object")
        who = r.get("contributor") if isinstance(r.get("contributor"), dict) else contributor
        kind = who.get("type")
        if kind not in ("human", "ai", "mixed", "unknown"):
            raise ProvenanceError(f"{where}: contributor.type {kind!r} is not human, ai, mixed or unknown")
        a, b = r.get("start_line"), r.get("end_line")
        if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or a < 1 or b < a:
            raise ProvenanceError(f"{where}: start_line/end_line {a!r}-{b!r} is not a line range")
        if kind == "ai":
            out.setdefault(who.get("model_id") or None, []).append((a, b))
    return out


def parse_trace_record(rec: object, origin: str) -> list[FileProvenance]:
    """The AI-written lines of one Agent Trace record."""
    if not isinstance(rec, dict):
        raise ProvenanceError("a record is not a JSON object")
    vcs = rec.get("vcs")
    rev = vcs.get("revision") if isinstance(vcs, dict) else None
    if not isinstance(rev, str) or not _HASH.match(rev.lower()):
        raise ProvenanceError("vcs.revision is missing or not a commit hash")
    tool = rec.get("tool") if isinstance(rec.get("tool"), dict) else {}
    agent = agent_name(tool.get("name"))
    files = rec.get("files")
    if not isinstance(files, list):
        raise ProvenanceError("files is not a list")
    per: dict[tuple[str, str | None], list[tuple[int, int]]] = {}
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            raise ProvenanceError("a file has no path")
        convs = f.get("conversations") or []
        if not isinstance(convs, list):
            raise ProvenanceError(f"{f['path']}: conversations is not a list")
        for conv in convs:
            if not isinstance(conv, dict):
                raise ProvenanceError(f"{f['path']}: a conversation is not an object")
            for model, rs in _trace_ranges(conv, f["path"]).items():
                per.setdefault((f["path"], model), []).extend(rs)
    return [FileProvenance(sha=rev.lower(), path="", source="agent_trace", agent="", model=None, lines=(),
                           origin=origin)] + [
        FileProvenance(sha=rev.lower(), path=p, source="agent_trace", agent=agent, model=m,
                       lines=merge_ranges(r), origin=origin) for (p, m), r in per.items()]


def trace_files(directory: Path) -> list[Path]:
    """The record files under a --traces folder (or the one file given): *.json and *.jsonl."""
    if directory.is_file():
        return [directory]
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl"))


def read_trace_file(path: Path, malformed: Malformed) -> tuple[list[FileProvenance], int]:
    """Records of one file (a JSON record, a JSON list of records, or JSON Lines) and how many."""
    text = path.read_text("utf-8", "replace")
    records: list[tuple[str, object]] = []
    try:
        doc = json.loads(text)
        items = doc if isinstance(doc, list) else [doc]
        records = [(f"{path} record {i + 1}", r) for i, r in enumerate(items)]
    except ValueError:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((f"{path} line {n}", json.loads(line)))
            except ValueError as e:
                malformed.add(f"{path} line {n}", f"not JSON ({e.msg})")
    out: list[FileProvenance] = []
    for where, rec in records:
        try:
            out.extend(parse_trace_record(rec, where))
        except ProvenanceError as e:
            malformed.add(where, str(e))
    return out, len(records)
