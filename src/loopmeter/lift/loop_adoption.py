"""Which adoption date an event log's or an experiment's loop is split at: one rule for `report`,
`analyze`, the dashboard and `lift --log`, so a loop gets the same verdict wherever it is shown.

From most to least specific (docs/metrics.md "Event logs as work loops"):

1. `--adoption-date NAME=YYYY-MM-DD` naming the log (its `--log-name`) or the MLflow experiment;
2. a bare `--adoption-date YYYY-MM-DD`: one date for every repository *and* every loop;
3. the log's `[[log]] adoption_date` in loopmeter.toml;
4. detected from the loop's own agent resources or agent-launched runs (None here).

The command line wins over the file, as everywhere else; a `NAME=DATE` over the bare date. Pure:
it reads only the values and the names it is given.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from ..errors import ConfigError
from .inputs import Adoption
from .options import adoption_value

GIVEN = "given"
CONFIG = "loopmeter.toml"


@dataclass(frozen=True)
class LoopAdoption:
    """The command line's dates for loops: `default` (a bare date) and `named` (NAME=DATE)."""

    default: date | None = None
    named: Mapping[str, date] = field(default_factory=dict)

    def date_for(self, name: str, configured: date | None = None) -> tuple[date | None, str | None]:
        """(date, source) of loop `name`; (None, None) means: detect it from the loop's data."""
        if name in self.named:
            return self.named[name], GIVEN
        if self.default is not None:
            return self.default, GIVEN
        if configured is not None:
            return configured, CONFIG
        return None, None


def parse_loop_dates(values: Sequence[str] | None, *, meta: str = "NAME") -> LoopAdoption:
    """`--adoption-date` values as dates for loops (`YYYY-MM-DD` or `NAME=YYYY-MM-DD`, NAME said as
    `meta` in the message); one line (ConfigError) for a value that is neither."""
    default, named = None, {}
    for v in values or ():
        name, day = adoption_value(v, meta=meta, noun="log, experiment or repository")
        if name is not None:
            named[name] = day
        else:
            default = day
    return LoopAdoption(default=default, named=named)


def split_adoption(given: Adoption | date | None, *, loops: Collection[str], units: Collection[str] | None,
                   unit: str = "repo", sliced: Collection[str] | None = None) -> tuple[Adoption | date | None,
                                                                                      LoopAdoption]:
    """The report's parsed `--adoption-date` split in two: what the repository (or team) designs
    get, and the loops' dates. A `NAME=DATE` naming a loop goes to the loops (and stays with the
    repositories too when a repository has the same name); a bare date goes to both. With `units`
    (the store's repositories; None when the unit is a team, checked by the lift designs) a name
    that is neither a unit nor a loop is one line naming what there is. With `sliced` (the
    repositories a `--repo` slice keeps), dates of repositories outside the slice are set aside, so
    one `serve --adoption-date` list serves every slice of the dashboard."""
    if given is None or isinstance(given, date):
        return given, LoopAdoption(default=given if isinstance(given, date) else None)
    loops = set(loops)
    if units is not None and loops:
        unknown = sorted(n for n in given.per_repo if n not in loops and n not in units)
        if unknown:
            raise ConfigError(
                f"--adoption-date: no {'repository' if unit == 'repo' else unit}, event log or experiment named "
                f"{unknown[0]!r} (repositories: {', '.join(sorted(units)) or 'none'}; "
                f"event logs and experiments: {', '.join(sorted(loops)) or 'none'})")
    named = {n: d for n, d in given.per_repo.items() if n in loops}
    units = set(units) if units is not None else None
    outside = (units or set()) - set(sliced) if sliced else set()

    def keep(name: str) -> bool:
        if name in outside:
            return False
        if units is None:  # teams: a loop's name is the loop's
            return name not in loops
        # A name that is no repository stays only when there is no loop to give it to: the
        # repository designs then say it is unknown, as they always did.
        return name in units or name not in loops

    kept = {n: d for n, d in given.per_repo.items() if keep(n)}
    loop_dates = LoopAdoption(default=given.default, named=named)
    if kept == given.per_repo:
        return given, loop_dates
    if not kept:  # only the bare date (if any) is left for the repositories: as if it alone was given
        return given.default, loop_dates
    return replace(given, per_repo=kept), loop_dates
