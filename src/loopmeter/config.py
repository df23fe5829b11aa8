"""Typed settings: loopmeter.toml in the current directory, then command-line options."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .teams import Team, parse_teams

CONFIG_FILE = "loopmeter.toml"


@dataclass(frozen=True)
class Config:
    """What loopmeter.toml can set.

    ```toml
    window_days = 14
    [[attribution.signature]]
    agent = "our-agent"
    evidence = "trailer"
    ...
    [[team]]
    name = "payments"
    members = ["alice@example.com", "github:alice"]
    ```
    """

    window_days: int = 14
    signatures: list[dict] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    path: Path | None = None


def load_config(path: Path | None = None) -> Config:
    p = path or Path(CONFIG_FILE)
    if not p.exists():
        return Config()
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot be read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: {e}") from None
    window = data.get("window_days", 14)
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ConfigError(f"{p}: window_days must be a positive whole number of days, not {window!r}")
    attribution = data.get("attribution", {})
    if not isinstance(attribution, dict):
        raise ConfigError(f"{p}: attribution must be a table ([attribution] or [[attribution.signature]]), "
                          f"not {attribution!r}")
    sigs = attribution.get("signature", [])
    if not isinstance(sigs, list) or not all(isinstance(s, dict) for s in sigs):
        raise ConfigError(f"{p}: attribution.signature must be a list of tables ([[attribution.signature]])")
    from .sources.safe import reading

    with reading(p):
        teams = parse_teams(data.get("team"), text, p)
    return Config(window_days=window, signatures=sigs, teams=teams, path=p)
