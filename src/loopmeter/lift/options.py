"""What a lift or report command's options mean, checked before anything is read: the unit a
report is made per (`--by`) and the adoption dates given (`--adoption-date`).

Kept free of pandas, Ibis and the statistics so that `analyze` can refuse a bad option in one line
before its ingest without loading them (they cost ~1 s and ~90 MB on every phase's peak)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..errors import ConfigError

UNITS = ("repo", "team", "codeowners")


def choose_unit(by: str | None, teams: list) -> str:
    """The unit a report is made per: `by` when given, else `team` when loopmeter.toml defines
    `[[team]]`, else `repo`. A ConfigError (one line) for an unknown unit, or for `team` asked
    for without any team configured."""
    if by is None:
        return "team" if teams else "repo"
    if by not in UNITS:
        raise ConfigError(f"--by: {by!r} is not one of {', '.join(UNITS)}")
    if by == "team" and not teams:
        raise ConfigError("--by team: loopmeter.toml defines no team ([[team]] with name and members)")
    return by


@dataclass(frozen=True)
class Adoption:
    """Adoption date per repository; `default` applies to repositories not named in `per_repo`.
    With `unit` "team" the keys of `per_repo` are teams (lift/units.py)."""

    default: date | None = None
    per_repo: dict[str, date] = field(default_factory=dict)
    source: str | None = None  # "given", "given per repository", "detected"
    rule: str | None = None
    unit: str = "repo"
    # What the date stands on and the AI share after it (metrics/adoption_evidence.py).
    evidence: list[dict] | None = None
    exposure_after: float | None = None

    def date_for(self, repo: str) -> date | None:
        return self.per_repo.get(repo, self.default)

    def dates(self, repos: list[str]) -> dict[str, date | None]:
        return {r: self.date_for(r) for r in repos}

    def to_dict(self, repos: list[str]) -> dict:
        d = self.dates(repos)
        distinct = {v for v in d.values() if v is not None}
        return {
            "date": self.default.isoformat() if self.default else None,
            f"per_{self.unit}": {r: (v.isoformat() if v else None) for r, v in d.items()},
            "staggered": len(distinct) > 1 or (bool(distinct) and None in d.values()),
            "source": self.source,
            "rule": self.rule,
            "evidence": self.evidence or [],
            "exposure_after": self.exposure_after,
        }


def adoption_value(v: str, *, meta: str, noun: str) -> tuple[str | None, date]:
    """One `--adoption-date` value: (None, day) for `YYYY-MM-DD`, (name, day) for `NAME=YYYY-MM-DD`
    (the name said as `meta`, and what it names as `noun`, in the one-line error)."""
    name, sep, text = v.rpartition("=")
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--adoption-date: {v!r} is not YYYY-MM-DD or {meta}=YYYY-MM-DD") from None
    if sep and not name.strip():
        raise ConfigError(f"--adoption-date: {v!r} names no {noun} before '='")
    return (name.strip() if sep else None), day


def parse_adoption(values: list[str] | None, *, unit: str = "repo") -> Adoption | None:
    """`--adoption-date` values: one `YYYY-MM-DD`, or any number of `repo=YYYY-MM-DD` (`team=...`
    with unit "team")."""
    if not values:
        return None
    noun, plural, meta = ("team", "teams", "TEAM") if unit == "team" else ("repository", "repositories", "REPO")
    default, per_repo = None, {}
    for v in values:
        repo, d = adoption_value(v, meta=meta, noun=noun)
        if repo is not None:
            if repo in per_repo:
                raise ConfigError(f"--adoption-date: {noun} {repo!r} is given twice")
            per_repo[repo] = d
        else:
            if default is not None:
                raise ConfigError(f"--adoption-date: give one date for all {plural}, or {meta}=DATE per {noun}")
            default = d
    return Adoption(default=default, per_repo=per_repo,
                    source=f"given per {noun}" if per_repo else "given", rule="set with --adoption-date", unit=unit)
