"""Totals, attribution, cycle time and the weekly series, computed from the change expressions."""

from __future__ import annotations

import math
from datetime import date

import ibis
import pandas as pd

from ..attribution import CLASSES
from .changes import Window, ai_attributions, changes, classified_attributions, contributing_commits
from .delegation import agent_keys
from .quantiles import quantile


def _num(v):
    if v is None:
        return None
    try:
        if isinstance(v, float) and math.isnan(v):
            return None
    except TypeError:
        pass
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _change_counts(ch) -> dict:
    """The counts of `totals` over the changes `ch` (one row, or one a group)."""
    return dict(
        changes=ch.count(),
        validated_changes=ch.validated.sum(),
        pending_changes=ch.pending.sum(),
        reverted_changes=ch.reverted.sum(),
        ci_failed_changes=ch.ci_failed.sum(),
        ai_assisted_changes=ch.ai_assisted.sum(),
        bot_changes=ch.bot.sum(),
        changes_with_pr_commits=(ch.attrs.cast("string").contains('"pr_commits_found": true')).sum(),
        squash_changes_without_pr_commits=(ch.attrs.cast("string").contains('"pr_commits_found": false')).sum(),
    )


def totals(con, window: Window, repos: list[str] | None = None) -> dict:
    """The headline counts of docs/json-report.md `totals`."""
    ch = changes(con, window, repos)
    row = con.execute(
        ch.aggregate(**_change_counts(ch))
    ).iloc[0]
    repos_t = con.table("repos")
    if repos:
        repos_t = repos_t.filter(repos_t.repo.isin(repos))
    head_commits = con.execute(repos_t.head_commits.sum())
    cc = contributing_commits(con, repos, window.scope)
    contributors = people_weeks(con, window, repos)["author_id"].nunique()
    attrs = ai_attributions(con, window)
    ai_commits = con.execute(attrs.semi_join(cc, attrs.item_id == cc.cid).item_id.nunique())
    out = {"commits": int(_num(head_commits) or 0)}
    for k in ("changes", "validated_changes", "pending_changes", "reverted_changes", "ci_failed_changes",
              "ai_assisted_changes", "bot_changes"):
        out[k] = int(_num(row[k]) or 0)
    out["ai_assisted_commits"] = int(_num(ai_commits) or 0)
    out["contributors"] = int(_num(contributors) or 0)
    out["changes_with_pr_commits"] = int(_num(row["changes_with_pr_commits"]) or 0)
    out["squash_changes_without_pr_commits"] = int(_num(row["squash_changes_without_pr_commits"]) or 0)
    return out


def totals_by_repo(con, window: Window, repos: list[str]) -> dict[str, dict]:
    """`totals` of each repository in `repos`, from one grouped query per count: a report over a
    thousand repositories ran each of `totals`' four queries a thousand times. The same numbers as
    `totals(con, window, [repo])` for each one (tested)."""
    ch = changes(con, window, repos)
    counts = con.execute(
        ch.group_by("repo").aggregate(**_change_counts(ch))
    )
    repos_t = con.table("repos")
    repos_t = repos_t.filter(repos_t.repo.isin(repos))
    heads = con.execute(repos_t.group_by("repo").aggregate(n=repos_t.head_commits.sum()))
    cc = contributing_commits(con, repos, window.scope)
    people = people_weeks(con, window, repos).groupby("repo", as_index=False).agg(n=("author_id", "nunique"))
    attrs = ai_attributions(con, window)
    ai = attrs.inner_join(cc.select(cid=cc.cid, cc_repo=cc.repo), attrs.item_id == cc.cid)
    ai_commits = con.execute(ai.group_by(repo=ai.cc_repo).aggregate(n=ai.item_id.nunique()))

    def by(frame, col: str = "n") -> dict[str, int]:
        return {r: int(_num(v) or 0) for r, v in zip(frame["repo"], frame[col])}

    head_n, people_n, ai_n = by(heads), by(people), by(ai_commits)
    count_cols = tuple(_change_counts(ch))  # totals' key order: 7 change counts, then the PR-commit ones
    per = {c: by(counts, c) for c in count_cols}
    out = {}
    for repo in repos:
        t = {"commits": head_n.get(repo, 0)}
        for k in count_cols[:7]:
            t[k] = per[k].get(repo, 0)
        t["ai_assisted_commits"] = ai_n.get(repo, 0)
        t["contributors"] = people_n.get(repo, 0)
        for k in count_cols[7:]:
            t[k] = per[k].get(repo, 0)
        out[repo] = t
    return out


def attribution(con, window: Window, repos: list[str] | None = None, totals_: dict | None = None) -> dict:
    ch = changes(con, window, repos)
    t = totals_ or totals(con, window, repos)
    attrs = ai_attributions(con, window)
    nonbot = ch.filter(~ch.bot)
    # Ties in name order: an order by count alone left them to DuckDB's threads (two agents with 7
    # commits each swapped places between two reports of the numpy store).
    by_change = con.execute(
        attrs.semi_join(nonbot, attrs.item_id == nonbot.item_id).group_by("agent").agg(n=attrs.item_id.nunique())
        .order_by([ibis.desc("n"), "agent"])
    )
    cc = contributing_commits(con, repos, window.scope)
    by_commit = con.execute(
        attrs.semi_join(cc, attrs.item_id == cc.cid).group_by("agent").agg(n=attrs.item_id.nunique())
        .order_by([ibis.desc("n"), "agent"])
    )
    changes_by_agent = {r.agent: int(r.n) for r in by_change.itertuples()}
    denom = t["changes"] - t["bot_changes"]
    return {
        "changes_by_agent": changes_by_agent,
        "commits_by_agent": {r.agent: int(r.n) for r in by_commit.itertuples()},
        "ai_share_lower_bound": (t["ai_assisted_changes"] / denom) if denom > 0 else None,
        "ai_classes": list(window.ai_classes),
        **by_class(con, ch),
        "automation_accounts": automation_accounts(con, ch),
    }


def by_class(con, ch) -> dict:
    """Non-bot changes per evidence class (a change with several classes counts in each) and the
    changes whose only evidence is of a class that does not count (docs/attribution.md)."""
    a = classified_attributions(con)
    nonbot = ch.filter(~ch.bot)
    own = a.semi_join(nonbot, a.item_id == nonbot.item_id)
    df = con.execute(own.group_by("evidence_class").agg(n=own.item_id.nunique()))
    counts = {c: 0 for c in CLASSES}
    counts.update({r.evidence_class: int(r.n) for r in df.itertuples()})
    # Changes with evidence that are still not AI-assisted: resting only on classes left out.
    has = own.select("item_id").distinct()
    left_out = nonbot.filter(~nonbot.ai_assisted).semi_join(has, nonbot.item_id == has.item_id)
    return {"by_class": counts, "changes_not_counted": int(_num(con.execute(left_out.count())) or 0)}


def automation_accounts(con, ch, top: int = 10) -> list[dict]:
    """The automation accounts (bots) that authored the most changes. Bots are not people, so their
    names are shown."""
    bots = ch.filter(ch.bot)
    per = bots.group_by("author_id").agg(changes=bots.count())
    actors = con.table("actors")
    j = per.left_join(actors, per.author_id == actors.actor_id).select(
        name=actors.name, email=actors.email, changes=per.changes
    ).order_by([ibis.desc("changes"), "name"]).limit(top)
    return [{"name": r.name or "", "email": r.email or "", "changes": int(r.changes)}
            for r in con.execute(j).itertuples()]


def distribution(con, window: Window, repos: list[str] | None = None) -> tuple[dict, dict]:
    ch = changes(con, window, repos)
    known = ch.filter(ch.cycle_hours.notnull())
    r = con.execute(
        known.aggregate(p50=quantile(known.cycle_hours, 0.5), p85=quantile(known.cycle_hours, 0.85), n=known.count())
    ).iloc[0]
    n_all = int(con.execute(ch.count()))
    sized = ch.filter(ch.size_lines.notnull())
    s = con.execute(
        sized.aggregate(p50=quantile(sized.size_lines, 0.5), p85=quantile(sized.size_lines, 0.85), n=sized.count())
    ).iloc[0]
    cycle = {"p50": _num(r["p50"]), "p85": _num(r["p85"]), "n": int(r["n"]), "unknown": n_all - int(r["n"])}
    size = {"p50": _num(s["p50"]), "p85": _num(s["p85"]), "n": int(s["n"])}
    return cycle, size


def people_weeks(con, window: Window, repos: list[str] | None = None) -> pd.DataFrame:
    """(repo, author_id, week, validated): the weeks people were active in each repository and the
    validated changes credited to them, as the lift's throughput counts them (lift/inputs.py
    `weekly_activity`, kept while a report's `facts` block runs): one key per person
    (metrics/people.py), an agent account's work in the weeks of the people who delegated it
    (metrics/delegation.py). The weeks an agent account keeps in its own name (changes no person was
    found for) are left out: an account is not a person. Every engine: the panel is built on the
    driver, as the lift builds it."""
    from ..lift.inputs import weekly_activity  # here: the lift package imports the metrics

    act = weekly_activity(con, window, repos)
    agents = agent_keys(con)
    return act[~act["author_id"].isin(agents)] if agents else act


def weekly(con, window: Window, repos: list[str] | None = None) -> list[dict]:
    """One row per ISO week with at least one change or person active, oldest first."""
    ch = changes(con, window, repos)
    nb = ~ch.bot
    w = ch.group_by("week").agg(
        changes=ch.count(),
        validated=ch.validated.sum(),
        pending=ch.pending.sum(),
        reverted=ch.reverted.sum(),
        ai_assisted=ch.ai_assisted.sum(),
        bot=ch.bot.sum(),
        human_validated=(ch.validated & nb & ~ch.ai_assisted).sum(),
        ai_validated=(ch.validated & nb & ch.ai_assisted).sum(),
        cycle_p50_hours=quantile(ch.cycle_hours, 0.5),
        cycle_p85_hours=quantile(ch.cycle_hours, 0.85),
        size_p50=quantile(ch.size_lines, 0.5),
    )
    df = con.execute(w)
    by_week = {_day(wk): d for wk, d in zip(df["week"], df.to_dict("records"))}
    # A person active in two repositories in a week is one contributor that week (the lift's
    # contributor-week with one adoption date for all); their validated changes count in both.
    act = people_weeks(con, window, repos)
    per = act.groupby(["author_id", "week"], as_index=False)["validated"].sum()
    people = per.groupby("week").agg(contributors=("author_id", "size"), credited=("validated", "sum"))
    rows = []
    for day in sorted(set(by_week) | set(people.index)):
        d = by_week.get(day, {})
        iso = day.isocalendar()
        row = {"week": f"{iso[0]}-W{iso[1]:02d}", "week_start": day.isoformat()}
        for k in ("changes", "validated", "pending", "reverted", "ai_assisted", "bot", "human_validated", "ai_validated"):
            row[k] = int(_num(d.get(k)) or 0)
        row["contributors"] = int(people["contributors"].get(day, 0))
        # A week with pending changes is not finished being judged: its rate would read as a drop.
        row["complete"] = row["pending"] == 0
        # The validated changes credited to those people (their own and the ones they delegated):
        # an agent account's change no person was found for is in neither count.
        row["validated_per_contributor"] = (
            int(people["credited"].get(day, 0)) / row["contributors"] if row["contributors"] and row["complete"] else None
        )
        for k in ("cycle_p50_hours", "cycle_p85_hours", "size_p50"):
            row[k] = _num(d.get(k))
        rows.append(row)
    return rows


def _day(wk) -> date:
    """A week's Monday as a date, from an engine's timestamp or date."""
    return wk.date() if hasattr(wk, "date") else wk
