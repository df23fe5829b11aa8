"""Typed settings: loopmeter.toml in the current directory, then command-line options."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .attribution import AI_CLASSES, CLASSES, MIN_ADOPTION_SHARE
from .errors import ConfigError
from .log_settings import LogConfig, parse_logs
from .sources.incidents import ServiceLink, parse_service_links
from .teams import Team, parse_teams

CONFIG_FILE = "loopmeter.toml"


@dataclass(frozen=True)
class Config:
    """What loopmeter.toml can set.

    ```toml
    window_days = 14
    durability_days = [14, 30, 90]   # horizons N of durability (docs/metrics.md)
    [attribution]
    ai_classes = ["authored", "assisted"]   # also "suggestion", "message" to count those
    min_adoption_share = 0.1
    [[attribution.signature]]
    agent = "our-agent"
    evidence = "trailer"
    ...
    [[attribution.bot]]
    email = "release-robot@ourcompany.example"
    [[team]]
    name = "payments"
    members = ["alice@example.com", "github:alice"]
    ```
    """

    window_days: int = 14
    durability_days: tuple[int, ...] = (14, 30, 90)
    signatures: list[dict] = field(default_factory=list)
    bots: list[dict] = field(default_factory=list)
    ai_classes: tuple[str, ...] = AI_CLASSES
    # Adoption detection: the least AI share of non-bot changes, sustained over the detection
    # window, that counts as adoption (docs/metrics.md).
    min_adoption_share: float = MIN_ADOPTION_SHARE
    teams: list[Team] = field(default_factory=list)
    #: `[[log]]`: how each ingested event log is read as a work loop (log_settings.py)
    logs: LogConfig = field(default_factory=LogConfig)
    #: `[[incidents.service]]`: which repository and team each incident service belongs to
    incident_services: tuple[ServiceLink, ...] = ()
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
    horizons = data.get("durability_days", [14, 30, 90])
    if (not isinstance(horizons, list) or not horizons
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in horizons)):
        raise ConfigError(f"{p}: durability_days must be a list of positive whole numbers of days, not {horizons!r}")
    attribution = data.get("attribution", {})
    if not isinstance(attribution, dict):
        raise ConfigError(f"{p}: attribution must be a table ([attribution] or [[attribution.signature]]), "
                          f"not {attribution!r}")
    sigs = attribution.get("signature", [])
    if not isinstance(sigs, list) or not all(isinstance(s, dict) for s in sigs):
        raise ConfigError(f"{p}: attribution.signature must be a list of tables ([[attribution.signature]])")
    bots = attribution.get("bot", [])
    if not isinstance(bots, list) or not all(isinstance(b, dict) for b in bots):
        raise ConfigError(f"{p}: attribution.bot must be a list of tables ([[attribution.bot]])")
    classes = attribution.get("ai_classes", list(AI_CLASSES))
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, str) and c in CLASSES for c in classes)):
        raise ConfigError(f"{p}: attribution.ai_classes must be a non-empty list of {', '.join(CLASSES)}, "
                          f"not {classes!r}")
    share = attribution.get("min_adoption_share", MIN_ADOPTION_SHARE)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
        raise ConfigError(f"{p}: attribution.min_adoption_share must be a number from 0 up to (not including) 1, "
                          f"not {share!r}")
    from .sources.safe import reading

    with reading(p):
        teams = parse_teams(data.get("team"), text, p)
    logs = parse_logs(data.get("log"), p)
    services = parse_service_links(data.get("incidents"), p)
    return Config(window_days=window, durability_days=tuple(sorted(set(horizons))), signatures=sigs, bots=bots,
                  ai_classes=tuple(dict.fromkeys(classes)), min_adoption_share=float(share), teams=teams, logs=logs,
                  incident_services=services, path=p)
