"""AI attribution: which agents took part in a commit, from trailers, footers, identities and branches.

The signatures live in one data file, ``loopmeter/data/signatures.toml`` (its header documents the
entry format); users add entries of the same shape as ``[[attribution.signature]]`` tables in
loopmeter.toml. :class:`Matcher` compiles both into lookup tables once, so that
:meth:`Matcher.match_commit`, called for every commit of long histories, spends its time on a few
dictionary lookups and substring tests; a regular expression only runs once a cheap pre-check has
passed.

Evidence is deliberately narrow: a bare word ("claude", "cursor", "copilot") proves nothing, nor does
a GitHub noreply address by itself. Co-author trailers count by their exact address or GitHub login,
never by the display name.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from importlib import resources

from .errors import ConfigError

__all__ = ["AI_CLASSES", "CLASSES", "EVIDENCE_KINDS", "Evidence", "FIXED_CLASS", "Matcher", "ai_class_sql", "class_of_evidence", "parse_trailers",
           "trailer_address"]

EVIDENCE_KINDS = ("trailer", "footer", "author", "committer", "message", "branch")
# How an agent took part (docs/attribution.md): "authored" an agent wrote the code, "assisted" a tool
# helped a person write it, "suggestion" a person accepted an AI reviewer's suggestion, "message" only
# the commit message was AI-written. Only the first two make a change AI-assisted unless
# loopmeter.toml opts the others in ([attribution] ai_classes).
CLASSES = ("authored", "assisted", "suggestion", "message")
AI_CLASSES = ("authored", "assisted")
# Adoption detection: the least AI share (authored/assisted) of a week's non-bot changes for the week
# to count towards sustained use (docs/metrics.md "Adoption"; loopmeter.toml min_adoption_share).
MIN_ADOPTION_SHARE = 0.1
# Evidence that does not come from a signature has a fixed class: an ingested agent session that
# printed the commit or opened the pull request, and line-level provenance (git-ai notes, Agent
# Trace records) that names the lines an agent wrote.
FIXED_CLASS = {"session": "authored", "git_ai_note": "authored", "agent_trace": "authored"}
# A signature from loopmeter.toml without a class.
_DEFAULT_USER_CLASS = "assisted"
_IDENTITY_KINDS = ("author", "committer")
_SIGNAL_MAX = 200
# A trailer-looking line found in the body rather than the trailer block (squash merges keep the
# trailers of each squashed commit there) is reported as "message" evidence at this share of the
# signature's confidence.
_BODY_TRAILER_FACTOR = 0.9

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_TRAILER_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)")
# Lines of the body that look like "Key: ... <address>" or "Key: value".
_BODY_TRAILER = re.compile(r"^[ \t]*([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(\S[^\n]*?)[ \t]*$", re.M)
_ANGLE_EMAIL = re.compile(r"<([^<>\s]+@[^<>\s]+)>\s*$")
# "Co-authored-by: Claude noreply@anthropic.com": an address without angle brackets ending the value.
_BARE_EMAIL = re.compile(r"(?:^|\s)([^<>\s@]+@[^<>\s@]+\.[A-Za-z]{2,})\s*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_NOREPLY = "@users.noreply.github.com"
# Keys git itself recognises when deciding whether a mixed last paragraph is a trailer block.
_GIT_RECOGNISED = frozenset({"signed-off-by"})
_FIELDS = frozenset(
    {"agent", "evidence", "class", "email", "login", "regex", "ids", "key", "needle", "confidence", "description"}
)
_BOT_FIELDS = frozenset({"login", "ids", "email", "regex", "description", "source"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of evidence that an AI agent took part in a commit or change."""

    agent: str  # e.g. "claude-code"
    evidence: str  # "trailer" | "footer" | "author" | "committer" | "message" | "branch"
    signal: str  # the matched text, at most 200 chars (e.g. the trailer line)
    confidence: float
    evidence_class: str = "authored"  # one of CLASSES


def class_of_evidence(evidence: str, stored: str | None) -> str:
    """The class of a stored attribution row: its own, else the fixed class of its kind of evidence.

    A row written before classes existed (or by a writer that does not set one) and not yet
    re-judged counts as "authored" only for the kinds whose class is fixed; any other is "assisted".
    """
    if stored in CLASSES:
        return stored
    return FIXED_CLASS.get(evidence, "assisted")


def ai_class_sql(alias: str, classes: tuple[str, ...] = AI_CLASSES) -> str:
    """SQL condition: attribution row `alias` is of one of `classes` (as `classified_attributions`)."""
    fixed = " ".join(f"when '{k}' then '{c}'" for k, c in FIXED_CLASS.items())
    listed = ", ".join(f"'{c}'" for c in classes if c.isalpha())
    return f"coalesce({alias}.evidence_class, case {alias}.evidence {fixed} else 'assisted' end) in ({listed})"


# --------------------------------------------------------------------------------- trailers


def _trailer_block(message: str) -> tuple[str, list[tuple[str, str]]]:
    """Split a message into (text before the trailer block, trailers) following git's rules.

    The trailer block is the last paragraph, never the first (the title). It counts when every
    line is a trailer (or an indented continuation of one), or, like git, when at least a quarter
    of its lines are trailers and one of them is a key git recognises (Signed-off-by) or a
    "(cherry picked from commit ...)" line.
    """
    text = message.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    lines = text.split("\n")
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 0 and lines[start - 1].strip():
        start -= 1
    if start == 0 or not any(line.strip() for line in lines[:start]):
        return text, []  # a single paragraph is the title: no trailers
    trailers: list[list[str]] = []
    other = 0
    recognised = False
    last_was_trailer = False
    for line in lines[start:end]:
        if line[:1] in (" ", "\t") and last_was_trailer:
            trailers[-1][1] = f"{trailers[-1][1]} {line.strip()}".strip()
            continue
        m = _TRAILER_LINE.fullmatch(line.rstrip())
        if m:
            trailers.append([m.group(1), m.group(2).strip()])
            recognised = recognised or m.group(1).lower() in _GIT_RECOGNISED
            last_was_trailer = True
        else:
            other += 1
            last_was_trailer = False
            recognised = recognised or line.startswith("(cherry picked from commit ")
    if not trailers:
        return text, []
    if other and not (recognised and len(trailers) * 3 >= other):
        return text, []
    return "\n".join(lines[:start]), [(k, v) for k, v in trailers]


def trailer_address(value: str) -> tuple[str, str] | None:
    """(name, address) of a trailer value that ends in an e-mail address: git's "Name <address>",
    or the bare "Name address" some tools write ("Co-authored-by: Claude noreply@anthropic.com");
    the name stripped, and empty when the value is the address alone. None for a value that ends
    in no address ("Reviewed-by: the whole team")."""
    value = value or ""
    m = _ANGLE_EMAIL.search(value) or _BARE_EMAIL.search(value)
    return (value[: m.start()].strip(), m.group(1)) if m else None


def parse_trailers(message: str) -> list[tuple[str, str]]:
    """git-style trailers of the message's last paragraph (key, value), keys as written.

    Trailer-looking lines elsewhere in the body are not trailers; a message of one paragraph has
    none. Indented continuation lines are joined to the value with a single space.
    """
    return _trailer_block(message)[1]


# ------------------------------------------------------------------------------ signatures


@dataclass(frozen=True, slots=True)
class _Sig:
    agent: str
    kinds: frozenset[str]
    rule: str  # "email" | "login" | "regex"
    value: str  # lowercased email or login; the pattern text for regex
    ids: frozenset[str]
    regex: re.Pattern[str] | None
    needle: str | None
    keys: frozenset[str] | None  # lowercased trailer keys, None for any
    confidence: float
    cls: str  # evidence class, one of CLASSES


@dataclass(frozen=True, slots=True)
class _Bot:
    rule: str
    value: str
    ids: frozenset[str]
    regex: re.Pattern[str] | None


def _github_account(email: str) -> tuple[str | None, str | None]:
    """(login, numeric id) of a lowercased <id>+<login>@users.noreply.github.com address."""
    if not email.endswith(_NOREPLY):
        return None, None
    local = email[: -len(_NOREPLY)]
    num, plus, login = local.partition("+")
    if plus and num.isdigit():
        return (login or None), num
    return (local or None), None


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SIGNAL_MAX else text[: _SIGNAL_MAX - 1] + "…"


class _EntryError:
    """Builds one-line ConfigError messages naming the entry and the field."""

    def __init__(self, origin: str, index: int, entry: object):
        agent = entry.get("agent") if isinstance(entry, dict) else None
        label = f"{origin} #{index}"
        if isinstance(agent, str) and agent:
            label += f" (agent {agent[:40]!r})"
        self.label = label

    def __call__(self, field: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.label}: field {field!r} {problem}".replace("\n", " "))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _compile(err: _EntryError, pattern: object, flags: int = 0) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise err("regex", f"must be a non-empty string, got {_short(pattern)}")
    try:
        return re.compile(pattern, flags)
    except re.error as e:
        raise err("regex", f"is not a valid regular expression ({e})") from None


def _ids(err: _EntryError, value: object) -> frozenset[str]:
    if not isinstance(value, list):
        raise err("ids", f"must be a list of numeric GitHub account ids, got {_short(value)}")
    out = set()
    for v in value:
        if isinstance(v, bool) or not (isinstance(v, int) and v > 0 or isinstance(v, str) and v.isdigit()):
            raise err("ids", f"must hold positive whole numbers, got {_short(v)}")
        out.add(str(int(v)))
    return frozenset(out)


def _login(err: _EntryError, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or "@" in value or any(c.isspace() for c in value):
        raise err("login", f"must be a GitHub login such as 'claude[bot]' (no '@', no spaces), got {_short(value)}")
    return value.strip().lower()


def _email(err: _EntryError, value: object) -> str:
    if (not isinstance(value, str) or value.count("@") != 1 or value.strip().startswith("@")
            or value.strip().endswith("@") or any(c.isspace() for c in value.strip())):
        raise err("email", f"must be one exact address such as 'noreply@example.com', got {_short(value)}")
    return value.strip().lower()


def _parse_signature(entry: object, origin: str, index: int) -> _Sig:
    err = _EntryError(origin, index, entry)
    if not isinstance(entry, dict):
        raise ConfigError(f"{origin} #{index}: must be a table, got {_short(entry)}")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise err(unknown[0], f"is not a signature field (expected one of {', '.join(sorted(_FIELDS))})")

    agent = entry.get("agent")
    if not isinstance(agent, str) or not _SLUG.fullmatch(agent):
        raise err("agent", f"must be a lowercase slug such as 'claude-code', got {_short(agent)}")

    if "evidence" not in entry:
        raise err("evidence", f"is required (one of {', '.join(EVIDENCE_KINDS)}, or a list of them)")
    raw_kinds = entry["evidence"]
    kinds_list = raw_kinds if isinstance(raw_kinds, list) else [raw_kinds]
    if not kinds_list or not all(isinstance(k, str) and k in EVIDENCE_KINDS for k in kinds_list):
        raise err("evidence",
                  f"must be one of {', '.join(EVIDENCE_KINDS)} (or a list of them), got {_short(raw_kinds)}")
    kinds = frozenset(kinds_list)

    rules = [r for r in ("email", "login", "regex") if r in entry]
    if len(rules) != 1:
        which = "none" if not rules else " and ".join(rules)
        raise err(rules[1] if len(rules) > 1 else "regex",
                  f"needs exactly one match rule of 'email', 'login' or 'regex', found {which}")
    rule = rules[0]

    cls = entry.get("class", _DEFAULT_USER_CLASS)
    if cls not in CLASSES:
        raise err("class", f"must be one of {', '.join(CLASSES)}, got {_short(cls)}")

    conf = entry.get("confidence")
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0.0 <= float(conf) <= 1.0:
        raise err("confidence", f"must be a number between 0 and 1, got {_short(conf)}")

    desc = entry.get("description", "")
    if not isinstance(desc, str):
        raise err("description", f"must be a string, got {_short(desc)}")

    ids: frozenset[str] = frozenset()
    if "ids" in entry:
        if rule != "login":
            raise err("ids", "is only allowed together with 'login'")
        ids = _ids(err, entry["ids"])

    keys: frozenset[str] | None = None
    if "key" in entry:
        if kinds != {"trailer"}:
            raise err("key", "is only allowed when evidence is \"trailer\"")
        raw = entry["key"]
        key_list = raw if isinstance(raw, list) else [raw]
        if not key_list or not all(isinstance(k, str) and _TOKEN.fullmatch(k) for k in key_list):
            raise err("key", f"must be a trailer key such as 'Co-authored-by' (or a list of them), got {_short(raw)}")
        keys = frozenset(k.lower() for k in key_list)

    needle: str | None = None
    if "needle" in entry:
        if rule != "regex":
            raise err("needle", "is only allowed together with 'regex'")
        if not isinstance(entry["needle"], str) or not entry["needle"]:
            raise err("needle", f"must be a non-empty string, got {_short(entry['needle'])}")
        needle = entry["needle"].lower()

    regex = None
    if rule == "email":
        if kinds - {"trailer", *_IDENTITY_KINDS}:
            raise err("email", "only applies to trailer, author and committer evidence")
        value = _email(err, entry["email"])
    elif rule == "login":
        if kinds - {"trailer", *_IDENTITY_KINDS}:
            raise err("login", "only applies to trailer, author and committer evidence")
        value = _login(err, entry["login"])
    else:
        value = entry["regex"]
        # Footers are whole lines anywhere in the message.
        regex = _compile(err, value, re.M if kinds == {"footer"} else 0)
        if len(kinds) > 1 and "footer" in kinds:
            raise err("evidence", "\"footer\" regexes cannot share an entry with other kinds")
    return _Sig(agent, kinds, rule, value, ids, regex, needle, keys, float(conf), cls)


def _parse_bot(entry: object, origin: str, index: int) -> _Bot:
    err = _EntryError(origin, index, entry)
    if not isinstance(entry, dict):
        raise ConfigError(f"{origin} #{index}: must be a table, got {_short(entry)}")
    unknown = sorted(set(entry) - _BOT_FIELDS)
    if unknown:
        raise err(unknown[0], f"is not a bot field (expected one of {', '.join(sorted(_BOT_FIELDS))})")
    rules = [r for r in ("email", "login", "regex") if r in entry]
    if len(rules) != 1:
        raise err("login", "needs exactly one match rule of 'email', 'login' or 'regex'")
    rule = rules[0]
    ids: frozenset[str] = frozenset()
    if "ids" in entry:
        if rule != "login":
            raise err("ids", "is only allowed together with 'login'")
        ids = _ids(err, entry["ids"])
    if rule == "email":
        return _Bot(rule, _email(err, entry["email"]), ids, None)
    if rule == "login":
        return _Bot(rule, _login(err, entry["login"]), ids, None)
    return _Bot(rule, entry["regex"], ids, _compile(err, entry["regex"]))


def _package_data(name: str = "signatures.toml") -> dict:
    raw = resources.files("loopmeter").joinpath(f"data/{name}").read_text(encoding="utf-8")
    try:
        return tomllib.loads(raw)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"loopmeter/data/{name}: {e}") from None


# ---------------------------------------------------------------------------------- matcher


class Matcher:
    """Compiled signatures. Build it with :meth:`load`; it is immutable and safe to share."""

    def __init__(self, signatures: list[_Sig], bots: list[_Bot]):
        self.fingerprint = ""  # set by load(): a digest of the rules this matcher was built from
        self._signatures = tuple(signatures)
        kinds = (*EVIDENCE_KINDS,)
        self._by_email: dict[str, dict[str, list[_Sig]]] = {k: {} for k in kinds}
        self._by_login: dict[str, dict[str, list[_Sig]]] = {k: {} for k in kinds}
        self._by_id: dict[str, dict[str, list[_Sig]]] = {k: {} for k in kinds}
        self._regex: dict[str, list[_Sig]] = {k: [] for k in kinds}
        self._trailer_by_key: dict[str, list[_Sig]] = {}
        self._trailer_any_key: list[_Sig] = []
        for sig in signatures:
            for kind in sig.kinds:
                if sig.rule == "email":
                    self._by_email[kind].setdefault(sig.value, []).append(sig)
                elif sig.rule == "login":
                    self._by_login[kind].setdefault(sig.value, []).append(sig)
                    for i in sig.ids:
                        self._by_id[kind].setdefault(i, []).append(sig)
                elif kind == "trailer":
                    if sig.keys is None:
                        self._trailer_any_key.append(sig)
                    else:
                        for key in sig.keys:
                            self._trailer_by_key.setdefault(key, []).append(sig)
                else:
                    self._regex[kind].append(sig)
        # Footer and message regexes grouped by needle, so each needle is tested once per message.
        self._text_groups: list[tuple[str, str | None, tuple[_Sig, ...]]] = []
        for kind in ("footer", "message"):
            groups: dict[str | None, list[_Sig]] = {}
            for sig in self._regex[kind]:
                groups.setdefault(sig.needle, []).append(sig)
            self._text_groups += [(kind, n, tuple(s)) for n, s in groups.items()]
        # Trailer keys worth looking for in the body outside the trailer block.
        self._body_keys = tuple(k + ":" for k in self._trailer_by_key)
        # The same substring test as one C call (a set of repositories: ~3% of a reader's CPU).
        self._body_keys_re = re.compile("|".join(map(re.escape, self._body_keys))) if self._body_keys else None
        # Author and committer evidence depends on the identity alone, and a history repeats a few
        # identities thousands of times: what each one adds is worked out once. Filled under the
        # GIL by any thread (a lost race only computes an entry twice); bounded.
        self._identity_memo: dict[tuple[str, str, str], tuple[tuple[_Sig, str], ...]] = {}
        self._bot_emails = {b.value for b in bots if b.rule == "email"}
        self._bot_logins = {b.value for b in bots if b.rule == "login"}
        self._bot_ids = {i for b in bots for i in b.ids}
        self._bot_regex = tuple(b.regex for b in bots if b.regex is not None)

    @classmethod
    def load(cls, extra: list[dict] | None = None, extra_bots: list[dict] | None = None) -> Matcher:
        """The package's signatures and automation accounts plus `extra` signatures and `extra_bots`
        (``[[attribution.signature]]`` and ``[[attribution.bot]]`` of loopmeter.toml).

        A bad entry raises :class:`ConfigError` with a one-line message naming the entry and field.
        """
        data = _package_data()
        bot_data = _package_data("bots.toml")
        origin = "signatures.toml [[signature]]"
        sigs = [_parse_signature(e, origin, i) for i, e in enumerate(data.get("signature", []), 1)]
        bots = [_parse_bot(e, "bots.toml [[bot]]", i) for i, e in enumerate(bot_data.get("bot", []), 1)]
        for table, given in (("signature", extra), ("bot", extra_bots)):
            if given is not None and not isinstance(given, list):
                raise ConfigError(f"[[attribution.{table}]]: must be a list of tables, got {type(given).__name__}")
        sigs += [_parse_signature(e, "[[attribution.signature]]", i) for i, e in enumerate(extra or [], 1)]
        bots += [_parse_bot(e, "[[attribution.bot]]", i) for i, e in enumerate(extra_bots or [], 1)]
        matcher = cls(sigs, bots)
        # What the matcher was built from: when it changes, evidence stored under the old rules is stale.
        matcher.fingerprint = hashlib.sha256(
            json.dumps([data, bot_data, extra or [], extra_bots or []], sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        return matcher

    @property
    def agents(self) -> frozenset[str]:
        """Every agent slug some signature can report."""
        return frozenset(s.agent for s in self._signatures)

    # -------------------------------------------------------------------------- matching

    def _account_hits(self, kind: str, name: str, email: str) -> list[_Sig]:
        """Email, login and id signatures of `kind` that a name/address pair matches exactly."""
        # The most specific rule wins: an exact address, then a numeric account id, then a login.
        # One login can stand for several tools: "175728472+Copilot" (accepted review suggestions,
        # class suggestion) is not "198982749+Copilot" (the coding agent, class authored).
        e = email.strip().lower()
        if e:
            hits = self._by_email[kind].get(e)
            if hits:
                return list(hits)
            if e.endswith(_NOREPLY):
                login, num = _github_account(e)
                if num and num in self._by_id[kind]:
                    return list(self._by_id[kind][num])
                if login and login in self._by_login[kind]:
                    return list(self._by_login[kind][login])
        n = name.strip().lower()
        if n.endswith("[bot]"):
            return list(self._by_login[kind].get(n, ()))
        return []

    def _identity(self, kind: str, name: str, email: str, found: dict) -> None:
        """Author or committer evidence of one identity."""
        key = (kind, name, email)
        adds = self._identity_memo.get(key)
        if adds is None:
            adds = self._identity_signals(kind, name, email)
            if len(self._identity_memo) >= _IDENTITY_MEMO:
                self._identity_memo.clear()
            self._identity_memo[key] = adds
        for sig, target in adds:
            _add(found, sig, kind, target)

    def _identity_signals(self, kind: str, name: str, email: str) -> tuple[tuple[_Sig, str], ...]:
        """The signatures one identity matches, in the order `_add` is to see them, with the text."""
        hits = self._account_hits(kind, name, email)
        regs = self._regex[kind]
        if not hits and not regs:
            return ()
        target = f"{name} <{email}>"
        out = [(sig, target) for sig in hits]
        if regs:
            low = target.lower()
            out += [(sig, target) for sig in regs
                    if (sig.needle is None or sig.needle in low) and sig.regex.search(target)]
        return tuple(out)

    def _trailer(self, key: str, value: str, found: dict, out_kind: str, factor: float) -> None:
        """Evidence of one trailer (or trailer-looking body line, reported as `out_kind`)."""
        k = key.lower()
        line = f"{key}: {value}"
        who = trailer_address(value)
        if who is not None:
            for sig in self._account_hits("trailer", *who):
                if sig.keys is None or k in sig.keys:
                    _add(found, sig, out_kind, line, factor)
        for sig in self._trailer_by_key.get(k, ()):
            if sig.regex is not None and sig.regex.search(value):
                _add(found, sig, out_kind, line, factor)
        if self._trailer_any_key:
            lowv = value.lower()
            for sig in self._trailer_any_key:
                if (sig.needle is None or sig.needle in lowv) and sig.regex.search(value):
                    _add(found, sig, out_kind, line, factor)

    def match_commit(self, *, author_name: str, author_email: str, committer_name: str,
                     committer_email: str, message: str) -> list[Evidence]:
        """Evidence of AI agents in one commit: at most one per (agent, evidence kind, class)."""
        found: dict[tuple[str, str, str], Evidence] = {}
        if message and "\\n" in message and "\n" not in message.strip():
            # A one-line message with literal "\n" escapes (a tool passed "-m 'Fix\n\nCo-Authored-By:
            # ...'" without a shell that expands them): read it as the lines it was meant to be.
            message = message.replace("\\r\\n", "\n").replace("\\n", "\n")
        self._identity("author", author_name or "", author_email or "", found)
        self._identity("committer", committer_name or "", committer_email or "", found)
        if message:
            body, trailers = _trailer_block(message)
            for key, value in trailers:
                self._trailer(key, value, found, "trailer", 1.0)
            low = message.lower()
            # Trailer-looking lines outside the trailer block (squash merges keep each squashed
            # commit's trailers in the body). Cheap pre-check before the line scan.
            if "@" in body or (self._body_keys_re is not None and self._body_keys_re.search(low)):
                for m in _BODY_TRAILER.finditer(body):
                    self._trailer(m.group(1), m.group(2), found, "message", _BODY_TRAILER_FACTOR)
            for kind, needle, sigs in self._text_groups:
                if needle is not None and needle not in low:
                    continue
                for sig in sigs:
                    m = sig.regex.search(message)
                    if m:
                        text = message[m.start():].split("\n", 1)[0] if kind == "footer" else m.group(0)
                        _add(found, sig, kind, text or m.group(0))
        return list(found.values())

    def class_of_signal(self, agent: str, kind: str, signal: str) -> str | None:
        """The class of stored evidence, judged again from its matched text (`Evidence.signal`):
        for rows stored before classes existed. None when the text no longer matches `agent`
        (a clipped signal, a signature since removed)."""
        found: dict[tuple[str, str, str], Evidence] = {}
        text = signal or ""
        if kind in _IDENTITY_KINDS:
            name, _, rest = text.rpartition(" <")
            self._identity(kind, name, rest[:-1] if rest.endswith(">") else rest, found)
        elif kind == "branch":
            return next((e.evidence_class for e in self.match_branch(text) if e.agent == agent), None)
        else:
            m = _TRAILER_LINE.fullmatch(text.strip())
            if m and kind in ("trailer", "message"):
                self._trailer(m.group(1), m.group(2).strip(), found, kind, 1.0)
            low = text.lower()
            for group_kind, needle, sigs in self._text_groups:
                if group_kind == kind and (needle is None or needle in low):
                    for sig in sigs:
                        if sig.regex.search(text):
                            _add(found, sig, kind, text)
        hits = [e for e in found.values() if e.agent == agent]
        return max(hits, key=lambda e: e.confidence).evidence_class if hits else None

    def match_branch(self, branch: str) -> list[Evidence]:
        """Evidence from a branch name (e.g. ``claude/fix-login``); one per agent at most."""
        b = _normalise_branch(branch)
        if not b:
            return []
        found: dict[tuple[str, str, str], Evidence] = {}
        for sig in self._regex["branch"]:
            if (sig.needle is None or sig.needle in b.lower()) and sig.regex.search(b):
                _add(found, sig, "branch", b)
        return list(found.values())

    def classify_actor(self, name: str, email: str) -> tuple[str, str | None]:
        """('human' | 'agent' | 'bot', agent slug or None) for a git identity.

        AI agent accounts and identities (copilot-swe-agent[bot], claude[bot], Copilot, "Name (aider)",
        cursoragent@cursor.com, ...) are agents; dependency and automation bots, and any other
        account whose login or name ends in "[bot]", are bots with no agent; everyone else is human.
        """
        name = name or ""
        email = email or ""
        found: dict[tuple[str, str, str], Evidence] = {}
        for kind in _IDENTITY_KINDS:
            self._identity(kind, name, email, found)
        # Only an identity that writes code is an agent: the review-suggestion account or a
        # committer-only mark says nothing about who wrote the change.
        ai = [ev for ev in found.values() if ev.evidence_class in AI_CLASSES]
        if ai:
            best = max(ai, key=lambda ev: ev.confidence)
            return "agent", best.agent
        e = email.strip().lower()
        n = name.strip().lower()
        login, num = _github_account(e)
        if (
            e in self._bot_emails
            or (login is not None and login in self._bot_logins)
            or (num is not None and num in self._bot_ids)
            or n in self._bot_logins
            or (login is not None and login.endswith("[bot]"))
            or n.endswith("[bot]")
        ):
            return "bot", None
        if self._bot_regex:
            target = f"{name} <{email}>"
            if any(r.search(target) for r in self._bot_regex):
                return "bot", None
        return "human", None


# Identities whose evidence `Matcher._identity` keeps worked out (then it starts again).
_IDENTITY_MEMO = 100_000


def _add(found: dict, sig: _Sig, kind: str, signal: str, factor: float = 1.0) -> None:
    conf = round(sig.confidence * factor, 4)
    key = (sig.agent, kind, sig.cls)
    old = found.get(key)
    if old is None or conf > old.confidence:
        found[key] = Evidence(sig.agent, kind, _clip(signal), conf, sig.cls)


def _normalise_branch(branch: str) -> str:
    b = (branch or "").strip()
    if b.startswith("refs/heads/"):
        b = b[len("refs/heads/"):]
    elif b.startswith("refs/remotes/"):
        b = b[len("refs/remotes/"):].partition("/")[2]
    elif b.startswith(("origin/", "upstream/")):
        b = b.partition("/")[2]
    # "owner:branch", the head label GitHub gives a pull request from a fork.
    head, colon, rest = b.partition(":")
    if colon and rest and "/" not in head:
        b = rest
    return b
