"""The report's `lift_designs` key per unit: per repository (what `designs.lift_designs` has
always computed) or per team (`--by team`: loopmeter.toml `[[team]]`; `--by codeowners`: the
CODEOWNERS team owning most of a change's lines).

Per team the designs are exactly `loopmeter lift --by team`'s (units.py): the same team
resolution, the same per-team adoption rule and the same design functions, so a report and the
lift command never disagree about a team's adoption date. The per-repository key is left exactly
as it was (no `unit` key added), so reports by repository are unchanged byte for byte.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from ..errors import NoData
from ..stats.json_values import json_ready
from ..teams import Team
from . import designs as ld
from ..metrics.changes import Window
from .inputs import Adoption
from .units import team_warnings
from .verdict import verdict



def lift_designs_by_unit(con, window: Window, repos: list[str] | None, adoption_info: dict, *, by: str = "repo",
                         teams: list[Team] | None = None, config_path: Path | None = None, seed: int = 0,
                         n_boot: int = 2000, given: Adoption | None = None, failure_rule=None,
                         first_from=None, only_first: bool = False) -> dict:
    """The `lift_designs` key: both observational designs, per `by` ("repo", "team", "codeowners").

    Per team, the report's single `--adoption-date` (when given) applies to every team; otherwise
    each team's date is detected on its own, as `loopmeter lift --by team` does. The key then also
    carries `unit`, the `adoption` dates per team and the `teams` list (changes and authors per
    team, `unassigned` included). `given`: the `--adoption-date NAME=DATE` values, per repository
    or per team, which win over `adoption_info`'s single date. `first_from` and `only_first`: the
    first design computed by a worker on the other core (designs.computed_designs, report/beside.py)."""
    if by == "repo":
        return ld.lift_designs(con, window, repos, adoption_info, seed=seed, n_boot=n_boot, given=given,
                               failure_rule=failure_rule, first_from=first_from, only_first=only_first)
    names = ld.store_repos(con, repos)
    if given is not None:
        given = replace(given, unit="team")
    elif adoption_info.get("source") == "given" and adoption_info.get("date"):
        given = Adoption(default=date.fromisoformat(adoption_info["date"]), source="given",
                         rule=adoption_info.get("rule"), unit="team")
    # _team_adoption is the lift command's own path from teams to dates (designs.run_design).
    try:
        unit, summary, adp = ld._team_adoption(con, window, names, given, teams if by == "team" else None,
                                               config_path)
    except NoData:
        # No non-bot change landed by as_of: the lift command refuses; the report has other sections
        # to show, so its lift section is empty, as it is per repository.
        return {"unit": by, "adoption": None, "teams": [], "designs": [], "verdict": []}
    labels = unit.labels(names)
    known = adp if (adp.default or any(v for v in adp.per_repo.values())) else None
    out: dict = {"unit": by, "adoption": adp.to_dict(labels), "teams": summary,
                 "team_members_unmatched": list(unit.unmatched),
                 "team_warnings": team_warnings(unit, summary), "designs": []}
    todo = [("before-after", lambda: ld.before_after(con, window, names, known, seed=seed, n_boot=n_boot,
                                                     unit=unit))] if known is not None else []
    todo.append(("ai-vs-human", lambda: ld.ai_vs_human(con, window, names, known, seed=seed, n_boot=n_boot, unit=unit)))
    out["designs"] = ld.computed_designs(todo, out["adoption"], first_from, only_first)
    out["verdict"] = verdict(out["designs"])
    return json_ready(out)
