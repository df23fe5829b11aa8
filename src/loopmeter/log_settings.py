"""How an ingested event log is read as a work loop: `[[log]]` tables in loopmeter.toml.

```toml
[[log]]
name = "servicedesk"            # the --log-name it was ingested under
start = ["Open"]                # cycle time starts at the first of these (default: the first event)
end = ["Closed", "Resolved"]    # and ends at the first of these (default: the last event)
rework = ["Reopened"]           # a done case followed by one of these within the window is not validated
waiting = ["Waiting for customer", "Pending"]   # time in these activities is waiting
adoption_date = "2024-03-01"    # before/after; detected from agent resources when absent
cluster = "resource"            # or "team": the case attribute named by team_attribute
team_attribute = "team"

[[log.resource]]                # belongs to the [[log]] above it
pattern = "svc-*"               # shell-style, on the resource name, case-insensitive
kind = "bot"                    # human | agent | bot
```

A top-level `[log]` table (no name) holds defaults for every log; its `[[log.resource]]` rules
apply to all logs after a log's own. A resource that no rule matches keeps the kind the signature
list gave it at ingest (store `actors.kind`). Activity names match case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path

from .errors import ConfigError

KINDS = ("human", "agent", "bot")
CLUSTERS = ("resource", "team")
#: Rework activities when a log names none: the usual spellings of a reopened case.
DEFAULT_REWORK = ("reopen", "reopened", "re-opened", "rework")
_KEYS = {"name", "start", "end", "rework", "waiting", "adoption_date", "cluster", "team_attribute", "resource"}


@dataclass(frozen=True)
class ResourceRule:
    pattern: str
    kind: str
    agent: str | None = None

    def matches(self, name: str) -> bool:
        return fnmatchcase(name.lower(), self.pattern.lower())


@dataclass(frozen=True)
class LogSettings:
    name: str | None = None
    start: tuple[str, ...] = ()
    end: tuple[str, ...] = ()
    rework: tuple[str, ...] = DEFAULT_REWORK
    waiting: tuple[str, ...] = ()
    adoption_date: date | None = None
    cluster: str = "resource"
    team_attribute: str = "team"
    resources: tuple[ResourceRule, ...] = ()

    def kind_of(self, name: str | None, stored_kind: str | None) -> tuple[str, str | None]:
        """(kind, agent) of a resource: the first rule matching its name, else its stored kind."""
        if name:
            for r in self.resources:
                if r.matches(name):
                    return r.kind, r.agent
        return (stored_kind if stored_kind in KINDS else "human"), None


def _names(raw: object, where: str, p: Path | None) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
        raise ConfigError(f"{p}: {where} must be a list of activity names")
    return tuple(x.strip().lower() for x in raw)


def _one(raw: dict, where: str, p: Path | None, base: LogSettings) -> LogSettings:
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{p}: {where}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_KEYS))})")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"{p}: {where}.name must be the log's name (--log-name)")
    adoption = raw.get("adoption_date", base.adoption_date)
    if isinstance(adoption, str):
        try:
            adoption = date.fromisoformat(adoption)
        except ValueError:
            raise ConfigError(f"{p}: {where}.adoption_date must be YYYY-MM-DD, not {adoption!r}") from None
    elif adoption is not None and not isinstance(adoption, date):
        raise ConfigError(f"{p}: {where}.adoption_date must be YYYY-MM-DD, not {adoption!r}")
    cluster = raw.get("cluster", base.cluster)
    if cluster not in CLUSTERS:
        raise ConfigError(f"{p}: {where}.cluster must be one of {', '.join(CLUSTERS)}, not {cluster!r}")
    team_attr = raw.get("team_attribute", base.team_attribute)
    if not isinstance(team_attr, str) or not team_attr:
        raise ConfigError(f"{p}: {where}.team_attribute must be a case or event attribute name")
    rules = []
    res = raw.get("resource", [])
    if not isinstance(res, list) or not all(isinstance(r, dict) for r in res):
        raise ConfigError(f"{p}: {where}.resource must be a list of tables ([[log.resource]])")
    for i, r in enumerate(res):
        at = f"{where}.resource[{i}]"
        pat, kind = r.get("pattern"), r.get("kind")
        if not isinstance(pat, str) or not pat:
            raise ConfigError(f"{p}: {at}.pattern must be a resource name pattern (e.g. \"svc-*\")")
        if kind not in KINDS:
            raise ConfigError(f"{p}: {at}.kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if set(r) - {"pattern", "kind", "agent"}:
            raise ConfigError(f"{p}: {at}: unknown key {sorted(set(r) - {'pattern', 'kind', 'agent'})[0]!r}")
        rules.append(ResourceRule(pat, kind, r.get("agent")))
    return LogSettings(
        name=name.strip() if name else None,
        start=_names(raw["start"], f"{where}.start", p) if "start" in raw else base.start,
        end=_names(raw["end"], f"{where}.end", p) if "end" in raw else base.end,
        rework=_names(raw["rework"], f"{where}.rework", p) if "rework" in raw else base.rework,
        waiting=_names(raw["waiting"], f"{where}.waiting", p) if "waiting" in raw else base.waiting,
        adoption_date=adoption, cluster=cluster, team_attribute=team_attr,
        resources=tuple(rules) + base.resources,
    )


@dataclass(frozen=True)
class LogConfig:
    """Every log's settings; `for_log(name)` gives one log's, defaults filled in."""

    default: LogSettings = field(default_factory=LogSettings)
    logs: tuple[LogSettings, ...] = ()

    def for_log(self, name: str) -> LogSettings:
        for s in self.logs:
            if s.name == name:
                return s
        return LogSettings(**{**self.default.__dict__, "name": name})

    def agents(self) -> list[str]:
        """Every agent a `[[log.resource]]` rule names (`agent = "..."`): names `--agent` may cut a log by."""
        return sorted({r.agent for s in (self.default, *self.logs) for r in s.resources if r.agent})


def parse_logs(raw: object, p: Path | None) -> LogConfig:
    """`log` of loopmeter.toml: a table of defaults, or an array of per-log tables."""
    if raw is None:
        return LogConfig()
    if isinstance(raw, dict):
        if raw.get("name") is not None:
            raise ConfigError(f"{p}: [log] with a name: write [[log]] for one log's settings")
        return LogConfig(default=_one(raw, "log", p, LogSettings()))
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise ConfigError(f"{p}: log must be a table ([log]) or a list of tables ([[log]])")
    out, seen = [], set()
    for i, x in enumerate(raw):
        s = _one(x, f"log[{i}]", p, LogSettings())
        if s.name is None:
            raise ConfigError(f"{p}: log[{i}] has no name (the --log-name of the log it describes)")
        if s.name in seen:
            raise ConfigError(f"{p}: log[{i}]: the log {s.name!r} is described twice")
        seen.add(s.name)
        out.append(s)
    return LogConfig(logs=tuple(out))
