"""Simulated team histories with planted effects, written as real git repositories by `git fast-import`.

Each change is one commit on main whose author time is the start of work and whose committer time
is its landing, so its cycle time is exactly what was planted (docs/metrics.md: a single commit
rebased after it was written). Every author lands at least one change every week, so every week is
an active week for everyone and the planted per-contributor-week rate is exact in expectation.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

START = datetime(2024, 1, 1)  # a Monday
CLAUDE = "Co-Authored-By: Claude <noreply@anthropic.com>"
EPOCH = datetime(1970, 1, 1)


@dataclass
class Team:
    name: str = "team"
    authors: int = 12
    weeks: int = 24
    adoption_week: int | None = 12  # None: never adopts
    base_cycle_h: float = 40.0
    cycle_ratio: float = 0.7  # after / before, planted on every change after adoption
    rate_before: float = 1.0  # extra changes per author-week on top of the guaranteed one (Poisson mean)
    rate_after: float = 2.0  # 1 + 1 = 2 before, 1 + 2 = 3 after: a 1.5x throughput lift
    ai_share_after: float = 0.5
    ai_ratio: float = 1.0  # AI-assisted / human cycle time among post-adoption changes
    sigma: float = 0.5
    size_lines: tuple[float, float] = (30.0, 30.0)  # median lines per change (before, after), log-normal
    author_offset: int = 0
    fade_after_weeks: int | None = None  # the cycle-time effect lasts this many weeks, then is gone
    ai_authors: int | None = None  # only authors 0..ai_authors-1 ever use AI (None: everyone may)
    ai_authors_speed: float = 1.0  # those authors' cycle times, before and after, relative to the rest
    first_week: int = 0  # the team's authors land nothing before this week (new hires)
    # People differ (drawn once per team, only when set, so other scenarios' draws are unchanged):
    # each author's own log cycle time (sd), their own AI effect around ai_ratio (log sd), and how
    # often they use AI after adoption (spread evenly from 10% to 90% of their changes).
    author_sd: float = 0.0
    ai_effect_sd: float = 0.0
    ai_share_spread: bool = False
    # Weeks differ (drawn once per team after the people's draws, only when set): every change
    # landing in week w has its cycle time times exp(N(0, week_sd)) (an incident, a release crunch,
    # holidays: the whole team slower or faster together), and every author's extra changes that
    # week are Poisson with mean rate x exp(N(0, week_rate_sd)).
    week_sd: float = 0.0
    week_rate_sd: float = 0.0
    # Reverts (drawn by `reverts`, from their own seed, so `events` draws exactly what it did before):
    # each change is reverted with probability revert_p, times revert_ratio after adoption, times
    # one lognormal draw per author (log sd revert_author_sd: some people's work is riskier) and one
    # per landing week (log sd revert_week_sd: a bad week, a flaky release, breaks many changes).
    revert_p: float = 0.0
    revert_ratio: float = 1.0
    revert_author_sd: float = 0.0
    revert_week_sd: float = 0.0


def events(team: Team, rng: np.random.Generator) -> list[tuple[datetime, float, int, bool, int]]:
    out = []
    own = rng.normal(0, team.author_sd, team.authors) if team.author_sd else np.zeros(team.authors)
    slope = rng.normal(0, team.ai_effect_sd, team.authors) if team.ai_effect_sd else np.zeros(team.authors)
    share = (np.linspace(0.1, 0.9, team.authors) if team.ai_share_spread
             else np.full(team.authors, team.ai_share_after))
    wk = rng.normal(0, team.week_sd, team.weeks) if team.week_sd else np.zeros(team.weeks)
    wr = np.exp(rng.normal(0, team.week_rate_sd, team.weeks)) if team.week_rate_sd else np.ones(team.weeks)
    for week in range(team.first_week, team.weeks):
        after = team.adoption_week is not None and week >= team.adoption_week
        for a in range(team.authors):
            n = 1 + rng.poisson((team.rate_after if after else team.rate_before) * wr[week])
            for _ in range(n):
                done = START + timedelta(weeks=week, seconds=float(rng.uniform(3600, 5 * 86400)))
                user = team.ai_authors is None or a < team.ai_authors
                ai = after and user and rng.random() < share[a]
                lasting = team.fade_after_weeks is None or week < (team.adoption_week or 0) + team.fade_after_weeks
                effect = team.cycle_ratio if after and lasting else 1.0
                speed = team.ai_authors_speed if team.ai_authors is not None and user else 1.0
                median = team.base_cycle_h * effect * speed * (team.ai_ratio * np.exp(slope[a]) if ai else 1.0)
                cycle = float(np.exp(np.log(median) + own[a] + wk[week] + rng.normal(0, team.sigma)))
                lines = max(1, round(float(np.exp(np.log(team.size_lines[1 if after else 0]) + rng.normal(0, 0.8)))))
                out.append((done, cycle, a + team.author_offset, ai, lines))
    out.sort()
    return out


def reverts(team: Team, evs: list[tuple[datetime, float, int, bool, int]], seed: int) -> np.ndarray:
    """Whether each of `evs` (as `events` returned them for `team`) is reverted, from its own
    random stream (`seed`), so planting reverts changes no other draw. Not written to git: the
    revert-rate simulations draw rows directly (bench/verdict_sim.py --direct-reverts)."""
    rng = np.random.default_rng([seed, 0x5EED])
    own = np.exp(rng.normal(0, team.revert_author_sd, team.authors)) if team.revert_author_sd else np.ones(team.authors)
    wk = np.exp(rng.normal(0, team.revert_week_sd, team.weeks)) if team.revert_week_sd else np.ones(team.weeks)
    week = np.array([(d - START).days // 7 for d, *_ in evs], dtype=int)
    author = np.array([a - team.author_offset for _, _, a, _, _ in evs], dtype=int)
    after = (week >= team.adoption_week) if team.adoption_week is not None else np.zeros(len(evs), bool)
    p = team.revert_p * own[author] * wk[week] * np.where(after, team.revert_ratio, 1.0)
    return rng.random(len(evs)) < np.minimum(p, 1.0)


#: Revert-rate scenarios (bench/verdict_sim.py --direct-reverts): the verdict scenarios' teams with
#: a 3% revert probability; null_people's people also differ in it (log sd 0.5), null_weeks' weeks
#: too (log sd 0.5: a bad week breaks changes together); effect_reverts plants 0.5x after adoption,
#: revert_weeks that effect on the null_weeks team.
REVERT_P = 0.03


def revert_team(name: str) -> Team:
    from dataclasses import replace

    base = {"null": "null", "null_people": "null_people", "null_weeks": "null_weeks", "effect_reverts": "null",
            "effect_reverts_weeks": "null_weeks"}[name]
    (team,) = scenario_teams(base)
    extra = {"null_people": {"revert_author_sd": 0.5}, "null_weeks": {"revert_week_sd": 0.5},
             "effect_reverts": {"revert_ratio": 0.5},
             "effect_reverts_weeks": {"revert_ratio": 0.5, "revert_week_sd": 0.5}}.get(name, {})
    return replace(team, revert_p=REVERT_P, **extra)


REVERT_SCENARIOS = ("null", "null_people", "null_weeks", "effect_reverts", "effect_reverts_weeks")


def write_repo(path: Path, team: Team, seed: int) -> int:
    """Create the repository at `path`; returns the number of changes."""
    rng = np.random.default_rng(seed)
    return _write(path, events(team, rng))


def write_teams(path: Path, teams: list[Team], seed: int, *, owners: bool = False) -> int:
    """Several teams working in ONE repository (give them distinct `author_offset`s); returns the
    number of changes. Author `a` commits as dev{a}@example.com. With `owners` each team works in
    its own folder (`<team name>/`), which a CODEOWNERS file (committed first, by a bot) gives to
    `@acme/<team name>`."""
    rng = np.random.default_rng(seed)
    evs = sorted(e for t in teams for e in events(t, rng))
    if not owners:
        return _write(path, evs)
    folder = {t.author_offset + a: t.name for t in teams for a in range(t.authors)}
    rules = "".join(f"/{t.name}/ @acme/{t.name}\n" for t in teams)
    return _write(path, evs, folder=folder, codeowners=rules)


def email(author: int) -> str:
    return f"dev{author}@example.com"


def _write(path: Path, evs: list[tuple[datetime, float, int, bool, int]], *, folder: dict[int, str] | None = None,
           codeowners: str | None = None) -> int:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    chunks = []
    if codeowners is not None:
        at = int((START - timedelta(days=7) - EPOCH).total_seconds())
        body, msg = codeowners.encode(), "Add CODEOWNERS\n"
        chunks.append(
            f"commit refs/heads/main\nauthor ci[bot] <ci-bot@example.com> {at} +0000\n"
            f"committer ci[bot] <ci-bot@example.com> {at} +0000\ndata {len(msg)}\n{msg}\n"
            f"M 644 inline .github/CODEOWNERS\ndata {len(body)}\n".encode() + body + b"\n"
        )
    for i, (done, cycle, a, ai, lines) in enumerate(evs, 1):
        started = done - timedelta(hours=cycle)
        msg = f"Change {i}\n" + (f"\n{CLAUDE}\n" if ai else "")
        body = "".join(f"{i}.{k}\n" for k in range(lines)).encode()
        name, mail = f"Dev {a}", email(a)
        chunks.append(
            f"commit refs/heads/main\nmark :{i}\n"
            f"author {name} <{mail}> {int((started - EPOCH).total_seconds())} +0000\n"
            f"committer {name} <{mail}> {int((done - EPOCH).total_seconds())} +0000\n"
            f"data {len(msg.encode())}\n{msg}\n"
            f"M 644 inline {folder[a] + '/' if folder else ''}f{i}.txt\ndata {len(body)}\n".encode() + body + b"\n"
        )
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(chunks), check=True)
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)
    return len(evs)


def as_of(team: Team) -> datetime:
    """Four weeks after the last simulated week: every change is past a 28-day window."""
    return START + timedelta(weeks=team.weeks + 5)


# --------------------------------------------------------------------------- verdict scenarios

#: Planted truths of the verdict scenarios (bench/verdict_sim.py, tests/test_lift_verdict_sim.py):
#: `effect` plants a 0.7x cycle time and a 1.5x throughput after adoption; `null` plants nothing
#: (AI is used half the time after adoption, and changes nothing); `simpson` plants 0.8x cycle
#: time inside each of two repositories whose mix moves the pooled ratio above 1; `ai_effect` is
#: the null team whose AI-assisted changes take 0.85x as long as human ones (the AI-vs-human
#: headline's power); `null_people` is the null team whose people differ (their own pace, their
#: own AI effect around none, AI use from 10% to 90% of a person's changes), the case where
#: clustering by person matters most; `null_weeks` is the null team whose weeks differ (every
#: change landing in a week has its cycle time times one lognormal draw, log sd 0.3, and the
#: week's extra changes a Poisson rate times another, log sd 0.5), shocks that a before/after
#: comparison, a comparison of weeks, cannot tell from an effect unless its interval allows for them;
#: `effect_weeks` is that team with a smaller planted effect (0.85x cycle time, 1.15x throughput),
#: the power an interval that allows for week shocks keeps; `effect_small` plants that smaller
#: effect on the team without week shocks (what allowing for shocks that are not there costs).
SCENARIOS = ("effect", "null", "simpson", "ai_effect", "null_people", "null_weeks", "effect_weeks", "effect_small")


def scenario_teams(name: str) -> list[Team]:
    if name == "effect":
        return [Team(name="team", authors=12, weeks=24, adoption_week=12, cycle_ratio=0.7, rate_before=1.0,
                     rate_after=2.0)]
    if name == "null":
        return [Team(name="team", authors=12, weeks=24, adoption_week=12, cycle_ratio=1.0, rate_before=1.0,
                     rate_after=1.0)]
    if name == "ai_effect":
        return [Team(name="team", authors=12, weeks=24, adoption_week=12, cycle_ratio=1.0, rate_before=1.0,
                     rate_after=1.0, ai_ratio=0.85)]
    if name == "null_people":
        return [Team(name="team", authors=12, weeks=24, adoption_week=12, cycle_ratio=1.0, rate_before=1.0,
                     rate_after=1.0, author_sd=0.4, ai_effect_sd=0.25, ai_share_spread=True)]
    if name == "null_weeks":
        return [Team(name="team", authors=12, weeks=24, adoption_week=12, cycle_ratio=1.0, rate_before=1.0,
                     rate_after=1.0, week_sd=0.3, week_rate_sd=0.5)]
    if name == "effect_weeks":
        return [Team(name="team", authors=12, weeks=24, adoption_week=12, cycle_ratio=0.85, rate_before=1.0,
                     rate_after=1.3, week_sd=0.3, week_rate_sd=0.5)]
    if name == "effect_small":
        return [Team(name="team", authors=12, weeks=24, adoption_week=12, cycle_ratio=0.85, rate_before=1.0,
                     rate_after=1.3)]
    if name == "simpson":
        # A slow repository that grows after adoption and a fast one that shrinks: each is faster
        # after adoption (0.8x), but "after" is mostly the slow one's work, so pooled it looks slower.
        return [Team(name="slow", authors=12, weeks=24, adoption_week=12, base_cycle_h=120.0, cycle_ratio=0.8,
                     rate_before=0.0, rate_after=4.0),
                Team(name="fast", authors=12, weeks=24, adoption_week=12, base_cycle_h=12.0, cycle_ratio=0.8,
                     rate_before=4.0, rate_after=0.0, author_offset=100)]
    raise ValueError(name)


def run_scenario(root: Path, name: str, seed: int, *, n_boot: int = 200) -> dict:
    """Write the scenario's repositories under `root`, ingest them, run the before-after design
    (the AI-vs-human one too for `effect` and `null`) and return {"before-after": doc, "verdict": [...]}.
    The adoption week is given (the planted one), so the scenario tests the verdict, not detection."""
    import loopmeter
    from loopmeter.lift import designs as ld
    from loopmeter.lift.inputs import Adoption
    from loopmeter.lift.verdict import verdict
    from loopmeter.metrics.changes import Window, backend
    from loopmeter.store.db import Store

    teams = scenario_teams(name)
    paths = []
    for i, t in enumerate(teams):
        p = root / f"{name}-{seed}-{t.name}"
        write_repo(p, t, seed=seed * 10 + i)
        paths.append(p)
    store = root / f"{name}-{seed}.duckdb"
    loopmeter.ingest(paths, store_path=store)
    day = (START + timedelta(weeks=teams[0].adoption_week)).date()
    with Store.open(store) as s:
        con = backend(s)
        window = Window(as_of=as_of(teams[0]), days=14)
        names = ld.store_repos(con, None)
        adp = Adoption(default=day, source="given", rule="planted")
        ba = ld.before_after(con, window, names, adp, seed=seed, n_boot=n_boot)
        designs = [ba]
        if name != "simpson":
            designs.append(ld.ai_vs_human(con, window, names, adp, seed=seed, n_boot=n_boot))
    return {"designs": designs, "verdict": verdict(designs)}
