"""What the lift designs read from the store: adoption dates, one row per change (and per open
pull request), weekly activity per author, and the before/after periods of each repository."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pandas as pd

from ..attribution import ai_class_sql
from ..errors import ConfigError
from .options import Adoption
from ..stats.lift import Estimate
from ..metrics.changes import (Window, active_weeks, changes, remembered, report_memo, salt_free_author_keys,
                               validated_weeks, with_salt_free_authors)
from ..metrics import adoption_evidence, portable
from ..metrics.delegation import activity_by_delegator
from .summary import adoption as detect_pooled_adoption
from ..metrics.open_prs import in_progress_at_sql

#: The before period has at least this many weeks, and as many as the after period otherwise.
MIN_WEEKS_BEFORE = 8


# --------------------------------------------------------------------------- adoption dates


def resolve_adoption(con, window: Window, repos: list[str], given: Adoption | None) -> Adoption:
    """The given dates (every named repository must exist), or the pooled detected date."""
    if given is not None:
        unknown = sorted(set(given.per_repo) - set(repos))
        if unknown:
            raise ConfigError(f"--adoption-date: no repository {unknown[0]!r} in the store (have: {', '.join(repos)})")
        return _with_evidence(con, window, repos, given)
    return _with_evidence(con, window, repos, detect_adoption(con, window, repos))


def _with_evidence(con, window: Window, repos: list[str], adoption: Adoption) -> Adoption:
    dates = adoption.dates(repos)
    return replace(adoption, evidence=adoption_evidence.evidence(con, window, repos, dates),
                   exposure_after=adoption_evidence.exposure_after(con, window, repos, dates))


def detect_adoption(con, window: Window, repos: list[str]) -> Adoption:
    """Each repository's own adoption date when there are several, else the one detected date.

    Teams adopt at different times; one pooled date splits a late adopter at the early one's date
    and counts its pre-AI weeks as "after". A repository where no sustained AI use is found gets
    no date: it is the not-yet-treated comparison in the staggered design. When no repository has
    a date of its own (AI use spread thinly over all of them) the pooled date is used for all.
    """
    info = detect_pooled_adoption(con, window, repos, None)
    pooled = date.fromisoformat(info["date"]) if info.get("date") else None
    if len(repos) > 1:
        per_repo = {}
        for r in repos:
            own = detect_pooled_adoption(con, window, [r], None)  # (its evidence is computed again after)
            if own.get("date"):
                per_repo[r] = date.fromisoformat(own["date"])
        if per_repo:
            return Adoption(default=None, per_repo=per_repo, source="detected per repository",
                            rule=f"{info.get('rule')}; applied to each repository on its own")
    return Adoption(default=pooled, source="detected" if pooled else None, rule=info.get("rule"))


# --------------------------------------------------------------------------- data from the store


def _repos_key(con, repos: list[str] | None) -> tuple[str, ...] | None:
    """`repos` as a memo key: None for every stored repository, however named (the summary passes
    None, the designs the store's sorted list), so one report computes each frame once."""
    memo = report_memo(con)
    if not repos or memo is None:  # outside a report nothing is kept: the key is never looked up
        return tuple(repos) if repos else None
    if "_store_repo_names" not in memo:
        memo["_store_repo_names"] = tuple(sorted(con.execute(con.table("repos").select("repo"))["repo"]))
    key = tuple(sorted(repos))
    return None if key == memo["_store_repo_names"] else key


def change_frame(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    """Non-bot changes landed by as_of, one row each, plus pull requests still open at as_of
    (``observed`` False, duration to as_of), which only a tracker source provides. Read once while
    a report's `facts` block runs (both designs ask for the same frame); each caller gets a copy."""
    key = ("change_frame", window, _repos_key(con, repos))
    return remembered(con, key, lambda: _change_frame(con, window, repos))


def _change_frame(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    ch = changes(con, window, repos)
    df = con.execute(
        ch.filter(~ch.bot).select("repo", "item_id", "author_id", "ai_assisted", "size_lines", "started_at",
                                  "done_at", "cycle_hours", "state", "validated")
    )
    df["observed"] = True
    df["size_lines"] = df["size_lines"].astype("float64")
    df["cycle_hours"] = df["cycle_hours"].astype("float64")
    open_ = _open_items(con, window, repos)
    if len(open_):
        open_["done_at"] = open_["done_at"].astype(df["done_at"].dtype)
        df = pd.concat([df, open_.astype({c: df[c].dtype for c in ("ai_assisted", "validated", "observed")})],
                       ignore_index=True)
    df["author_id"] = df["author_id"].fillna("unknown")
    # A query's row order is not fixed, and sums of floats (the regressions) follow it in their
    # last bits: rows in item order make the same store print the same numbers every time.
    df = df.sort_values("item_id", kind="stable").reset_index(drop=True)
    return with_salt_free_authors(df, salt_free_author_keys(con))


def _open_items(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    """Pull requests in progress at as_of (metrics/open_prs.py: first committed or opened by then,
    neither merged nor closed by then): their duration is only known to exceed as_of - start,
    which is what right-censoring means. A tracker names
    repositories its own way ("owner/name"), so each tracker repository is matched to the git
    repository its merged pull requests landed in (`same_as` links, i.e. by commit), as
    docs/design.md prescribes; open items of an unmatched tracker repository are left out."""
    raw = portable.store_connection(con)
    if raw is None:
        return pd.DataFrame()
    df = raw.execute(
        f"""
        select i.repo, i.item_id, i.author_id,
               exists(select 1 from attributions a where a.item_id = i.item_id
                      and {ai_class_sql('a', window.ai_classes)}) as ai_assisted,
               cast(i.size_lines as double) as size_lines, coalesce(i.started_at, i.created_at) as started_at
        from items i left join actors x on x.actor_id = i.author_id
        where {in_progress_at_sql('i', '$as_of')}
          and coalesce(x.kind, 'human') <> 'bot'
        """,
        {"as_of": window.as_of},
    ).df()
    if df.empty:
        return df
    df["repo"] = df["repo"].map(tracker_repos(raw))
    df = df[df["repo"].notna()]
    if repos:
        df = df[df["repo"].isin(repos)]
    df["done_at"] = pd.Series([pd.NaT] * len(df), index=df.index, dtype="datetime64[us]")
    df["cycle_hours"] = (pd.Timestamp(window.as_of) - pd.to_datetime(df["started_at"])).dt.total_seconds() / 3600.0
    df["state"] = "open"
    df["validated"] = False
    df["observed"] = False
    return df[df["cycle_hours"] > 0]


def tracker_repos(raw) -> dict[str, str]:
    """Repository name -> the git repository it is: a git repository is itself; a tracker's
    repository ("owner/name") is the git repository most of its merged pull requests landed in
    (`same_as` links, i.e. by commit), as docs/design.md prescribes. Unmatched names are absent."""
    pairs = raw.execute(
        """
        select p.repo as tracker_repo, c.repo as git_repo, count(*) as n
        from links l join items p on p.item_id = l.src and p.kind = 'pull_request'
                     join items c on c.item_id = l.dst and c.kind = 'change'
        where l.kind = 'same_as' group by 1, 2 order by n desc, git_repo
        """
    ).fetchall()
    git_repos = {r[0] for r in raw.execute("select repo from repos").fetchall()}
    mapping = {r: r for r in git_repos}
    for tracker, git_repo, _ in pairs:
        mapping.setdefault(tracker, git_repo)
    return mapping


def weekly_activity(con, window: Window, repos: list[str] | None, *, active: pd.DataFrame | None = None,
                    delegated: bool = True) -> pd.DataFrame:
    """(repo, author_id, week, validated, active): validated non-bot changes an author landed in a
    repository that week, on every (repo, author, week) where they were active (docs/metrics.md).
    With `delegated` an agent account's changes and commits count in the weeks of the person who
    delegated them (metrics/delegation.py `activity_by_delegator`), as `cluster_by_delegator` keys
    the change frame.
    ``active`` is ``changes.active_weeks(..., by_repo=True)`` for the same as-of, already executed,
    when the caller has it (it does not depend on the validation window). Without it the panel is
    kept while a report's `facts` block runs: the weekly table and the totals count its people
    (metrics/summary.py `people_weeks`) before the lift divides by them."""
    if active is None:
        key = ("weekly_activity", window, _repos_key(con, repos), delegated)
        return remembered(con, key, lambda: _weekly_activity(con, window, repos, active_frame(con, window, repos),
                                                             delegated))
    return _weekly_activity(con, window, repos, active, delegated)


def _weekly_activity(con, window: Window, repos: list[str] | None, act: pd.DataFrame, delegated: bool) -> pd.DataFrame:
    done = _validated(con, window, repos)
    out = act.merge(done, on=["repo", "author_id", "week"], how="outer")
    out["validated"] = out["validated"].fillna(0).astype(int)
    out["week"] = pd.to_datetime(out["week"]).dt.date
    out = with_salt_free_authors(out, salt_free_author_keys(con))
    # Two addresses of one person (metrics/people.py) active in one week are one contributor-week.
    out = out.groupby(["repo", "author_id", "week"], as_index=False, sort=False)["validated"].sum()
    if delegated:
        # An agent account's weeks are its delegators' (metrics/delegation.py), as in the change frame.
        out = activity_by_delegator(con, window, repos, out)
    # The merge above orders rows by the salted ids; the staggered DiD takes its units in row
    # order, so order them by the salt-free keys, or a re-ingest would move its interval.
    return out.sort_values(["repo", "author_id", "week"], kind="stable").reset_index(drop=True)


def _validated(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    """(repo, author_id, week, validated) of `weekly_activity`. While a report's `facts` block runs,
    the counts of every window the lift designs judge with (this one and the specification table's)
    are read in one query on first use and kept."""
    memo = report_memo(con)
    if memo is None:
        ch = changes(con, window, repos)
        ok = ch.filter(~ch.bot & ch.validated)
        return con.execute(ok.group_by(["repo", "author_id", "week"]).agg(validated=ok.count()))
    from .specification import SPEC_WINDOWS

    base = replace(window, days=0)
    key = ("validated_weeks", base, _repos_key(con, repos))
    held = memo.get(key)
    if held is None or window.days not in held:
        days = tuple(sorted({*SPEC_WINDOWS, window.days}))
        df = con.execute(validated_weeks(con, window, repos, days))
        held = memo[key] = {d: df.loc[df["days"] == d, ["repo", "author_id", "week", "validated"]].reset_index(drop=True)
                            for d in days}
    return held[window.days].copy()


def active_frame(con, window: Window, repos: list[str] | None) -> pd.DataFrame:
    """`changes.active_weeks(..., by_repo=True)` executed; kept while a `facts` block runs (it does
    not depend on the validation window)."""
    key = ("active_weeks", replace(window, days=0), _repos_key(con, repos))
    return remembered(con, key, lambda: con.execute(active_weeks(con, window, repos, by_repo=True)))


# --------------------------------------------------------------------------- periods


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


@dataclass(frozen=True)
class Periods:
    """Per repository: before = [before_from, adoption), after = [after_from, after_until), where
    after_from is the adoption date unless the first weeks after it are left out."""

    adoption: dict[str, date]
    before_from: dict[str, date]
    after_until: dict[str, date]
    weeks_before: dict[str, int]
    weeks_after: dict[str, int]
    after_from: dict[str, date] = field(default_factory=dict)

    def label(self, repo: pd.Series, day: pd.Series) -> pd.Series:
        """'after', 'before' or None per row (repo, a date)."""
        out = pd.Series([None] * len(repo), index=repo.index, dtype=object)
        for r, a in self.adoption.items():
            m = repo == r
            if not m.any():
                continue
            out[m & (day >= self.after_from.get(r, a)) & (day < self.after_until[r])] = "after"
            out[m & (day < a) & (day >= self.before_from[r])] = "before"
        return out


def periods(adoption: Mapping[str, date | None], first_seen: Mapping[str, date], end: date, *,
            all_history: bool = False, weekly: bool = False, skip_weeks: int = 0) -> Periods:
    """Equal windows either side of each repository's adoption (at least MIN_WEEKS_BEFORE weeks
    before), never before the repository's first activity; or all history before adoption.
    `weekly` aligns adoption to its ISO week (for weekly series). `skip_weeks` leaves the first
    weeks after adoption out of the after period (a ramp-up, or a novelty burst)."""
    ad, bf, au, wb, wa, af = {}, {}, {}, {}, {}, {}
    for repo, a in adoption.items():
        if a is None or repo not in first_seen:
            continue
        start = monday(a) if weekly else a
        after_from = start + timedelta(weeks=skip_weeks)
        if after_from >= end:
            continue
        weeks_after = max(1, math.ceil((end - start).days / 7))
        weeks_before = max(weeks_after, MIN_WEEKS_BEFORE)
        first = first_seen[repo] if all_history else max(first_seen[repo], start - timedelta(weeks=weeks_before))
        ad[repo], bf[repo], au[repo], af[repo] = start, first, end, after_from
        wb[repo] = max(0, (start - first).days // 7)
        wa[repo] = max(1, math.ceil((end - after_from).days / 7))
    return Periods(ad, bf, au, wb, wa, af)


def last_full_week(window: Window, activity: pd.DataFrame) -> date:
    # Weeks whose every change is past the validation window, and no later than the newest activity:
    # later weeks would look slow because their changes are still pending or not yet made.
    last = monday(window.as_of.date() - timedelta(days=window.days))
    if len(activity):
        last = min(last, max(activity["week"]) + timedelta(weeks=1))
    return last


def first_seen_by_repo(df: pd.DataFrame, col: str) -> dict[str, date]:
    if df.empty:
        return {}
    s = df.groupby("repo")[col].min()
    return {r: (v.date() if hasattr(v, "date") else v) for r, v in s.items() if not pd.isna(v)}


def no_estimate(estimator: str, n_a: int, n_b: int, n_clusters: int, why: str) -> Estimate:
    return Estimate(estimator=estimator, ratio=None, ci_low=None, ci_high=None, n_a=n_a, n_b=n_b,
                    n_clusters=n_clusters, caveats=(why,))
