"""Durability: did the code survive? (docs/metrics.md, "Durability")

A line *survives* N days when it is still present, unchanged, in the default branch's tree as of the
last first-parent commit at or before landing + N days. For every landed change at least N days old
(landing + N <= as of), its added lines (its landing commit's diff against the first parent) are
counted, and those that survive. The births and deaths of lines come from one streaming pass at
ingest (sources/line_fates.py -> `line_origins`, `line_deaths`); this module only reads them.

Entry points (plain dicts and lists, JSON-ready):

- `durability(con, window, repos, horizons)`: the JSON `durability` list, one row per origin
  (`ai`, `human`, and `ai_lines` / `human_lines` where line-level provenance exists) and horizon:
  `{origin, horizon_days, changes, lines_added, lines_surviving, share}`.
- `durability_weekly(...)`: the same per landing week for `ai` and `human`.
- `durability_comparison(...)`: per horizon, the AI-vs-human survival-share ratio with a cluster
  bootstrap interval over authors (`survival_ratio`, a pure function over arrays).

Lines git cannot read (a blob missing from a trimmed mirror) have an unknown fate and are left out
of both counts. Bots' changes are in neither origin; agent-authored changes are AI-assisted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd

from ..stats.bootstrap import cluster_bootstrap, factorize_clusters, percentile_interval
from . import portable
from .changes import Window, changes, salt_free_author_keys

HORIZONS = (14, 30, 90)


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b else None


def change_survival(con, window: Window, repos: list[str] | None = None,
                    horizons: Sequence[int] = HORIZONS) -> pd.DataFrame:
    """One row per (change, horizon) old enough to judge: repo, item_id, author_id, week, ai_assisted,
    bot, with_provenance, horizon_days, lines_added, lines_surviving, ai_lines_added, ai_lines_surviving.
    Empty when no durability pass has run for the repositories in scope."""
    ch = con.execute(changes(con, window, repos).select("repo", "item_id", "author_id", "done_at", "week",
                                                        "ai_assisted", "bot"))
    raw = portable.store_connection(con)
    where = " where list_contains(?, repo)" if repos else ""
    args = [repos] if repos else []
    origins = raw.execute("select repo, sha, pos, landed_at, lines_added, ai_lines_added, with_provenance "
                          "from line_origins" + where, args).df()
    deaths = raw.execute("select repo, born_pos as pos, died_pos, lines, ai_lines from line_deaths" + where, args).df()
    cols = ["repo", "item_id", "author_id", "done_at", "week", "ai_assisted", "bot", "with_provenance", "horizon_days",
            "lines_added", "lines_surviving", "ai_lines_added", "ai_lines_surviving"]
    if ch.empty or origins.empty:
        return pd.DataFrame(columns=cols)
    ch["sha"] = ch["item_id"].str.rsplit(":", n=1).str[-1]
    df = ch.merge(origins, on=["repo", "sha"], how="inner")
    if df.empty:
        return pd.DataFrame(columns=cols)
    # Judged as of window.as_of, or (as the validation window is) as of each repository's newest
    # landing when as_of was not given.
    as_of = pd.Timestamp(window.as_of)
    horizon_end = df.groupby("repo")["done_at"].transform("max").clip(upper=as_of) if window.per_repo \
        else pd.Series(as_of, index=df.index)
    lost = deaths[deaths["died_pos"] < 0].groupby(["repo", "pos"])[["lines", "ai_lines"]].sum()
    dead = deaths[deaths["died_pos"] >= 0]
    out = []
    for n in horizons:
        step = pd.Timedelta(days=int(n))
        ok = df["done_at"] + step <= horizon_end
        d = df[ok].copy()
        if d.empty:
            continue
        # The checkpoint: the last first-parent commit (in order) landed at or before landing + N.
        d["cp"] = d["pos"]
        for repo, g in d.groupby("repo"):
            o = origins[origins["repo"] == repo].sort_values("pos")
            times = o["landed_at"].to_numpy()
            # Largest position whose time is <= T: the suffix minimum of the times is sorted, so a
            # binary search on it finds it even where committer clocks went backwards.
            sufmin = np.minimum.accumulate(times[::-1])[::-1]
            t = (g["done_at"] + step).to_numpy()
            idx = np.searchsorted(sufmin, t, side="right") - 1
            d.loc[g.index, "cp"] = np.maximum(o["pos"].to_numpy()[np.clip(idx, 0, None)], g["pos"].to_numpy())
        m = dead.merge(d[["repo", "pos", "cp"]], on=["repo", "pos"], how="inner")
        m = m[m["died_pos"] <= m["cp"]].groupby(["repo", "pos"])[["lines", "ai_lines"]].sum()
        d = d.join(m.rename(columns={"lines": "dead", "ai_lines": "ai_dead"}), on=["repo", "pos"])
        d = d.join(lost.rename(columns={"lines": "lost", "ai_lines": "ai_lost"}), on=["repo", "pos"])
        d = d.fillna({"dead": 0, "ai_dead": 0, "lost": 0, "ai_lost": 0})
        d["horizon_days"] = int(n)
        d["lines_added"] = d["lines_added"] - d["lost"]
        d["lines_surviving"] = d["lines_added"] - d["dead"]
        d["ai_lines_added"] = d["ai_lines_added"] - d["ai_lost"]
        d["ai_lines_surviving"] = d["ai_lines_added"] - d["ai_dead"]
        out.append(d[cols])
    if not out:
        return pd.DataFrame(columns=cols)
    res = pd.concat(out, ignore_index=True).sort_values(["horizon_days", "item_id"], ignore_index=True)
    for c in ("lines_added", "lines_surviving", "ai_lines_added", "ai_lines_surviving"):
        res[c] = res[c].astype("int64")
    return res


def _row(origin: str, n: int, changes_: int, added: int, surviving: int) -> dict:
    return {"origin": origin, "horizon_days": int(n), "changes": int(changes_), "lines_added": int(added),
            "lines_surviving": int(surviving), "share": _ratio(surviving, added)}


def _rows(cs: pd.DataFrame, horizons: Sequence[int]) -> list[dict]:
    rows = []
    for n in horizons:
        d = cs[cs["horizon_days"] == n]
        people = d[~d["bot"].astype(bool)]
        ai = people[people["ai_assisted"].astype(bool)]
        hu = people[~people["ai_assisted"].astype(bool)]
        rows.append(_row("ai", n, len(ai), ai["lines_added"].sum(), ai["lines_surviving"].sum()))
        rows.append(_row("human", n, len(hu), hu["lines_added"].sum(), hu["lines_surviving"].sum()))
        prov = people[people["with_provenance"].astype(bool)]
        if len(prov):
            a = prov[prov["ai_lines_added"] > 0]
            rows.append(_row("ai_lines", n, len(a), a["ai_lines_added"].sum(), a["ai_lines_surviving"].sum()))
            h_add = prov["lines_added"] - prov["ai_lines_added"]
            h_surv = prov["lines_surviving"] - prov["ai_lines_surviving"]
            rows.append(_row("human_lines", n, int((h_add > 0).sum()), h_add.sum(), h_surv.sum()))
    return rows


def durability(con, window: Window, repos: list[str] | None = None, horizons: Sequence[int] = HORIZONS,
               *, survival: pd.DataFrame | None = None) -> list[dict]:
    """The JSON `durability` list (see the module docstring); [] when no durability pass has run.
    `survival`: `change_survival(...)` already computed for the same arguments."""
    cs = change_survival(con, window, repos, horizons) if survival is None else survival
    if cs.empty:
        return []
    return _rows(cs, horizons)


def durability_weekly(con, window: Window, repos: list[str] | None = None, horizons: Sequence[int] = HORIZONS,
                      *, survival: pd.DataFrame | None = None) -> list[dict]:
    """Per landing week, horizon and origin (`ai`, `human`): the rows of `durability` with `week`."""
    cs = change_survival(con, window, repos, horizons) if survival is None else survival
    people = cs[~cs["bot"].astype(bool)]
    if people.empty:
        return []
    # One grouped sum for every (week, horizon, origin), not `_rows` per week: numpy's 1,000 weeks
    # took 4.5 s of pandas indexing that way (half its report).
    origin = np.where(people["ai_assisted"].astype(bool), "ai", "human")
    sums = people.assign(origin=origin).groupby(["week", "horizon_days", "origin"], sort=True).agg(
        changes=("item_id", "size"), added=("lines_added", "sum"), surviving=("lines_surviving", "sum"))
    at = sums.to_dict("index")
    out = []
    for week in sums.index.get_level_values("week").unique():
        for n in horizons:
            for o in ("ai", "human"):
                r = at.get((week, n, o))
                if r is not None and r["changes"]:
                    out.append({"week": pd.Timestamp(week).date().isoformat(),
                                **_row(o, n, r["changes"], r["added"], r["surviving"])})
    return out


def _side_clusters(authors: np.ndarray, ai: np.ndarray, add: np.ndarray) -> dict:
    """Per side, how many authors added lines and how many equal authors they amount to (Kish's
    effective number over each author's added lines, the share's own weights): an agent account or
    one heavy user holding most AI lines makes the comparison about them, as lift/verdict.py says
    for cycle time."""
    from ..lift.results import effective_clusters

    out = {}
    for side, mask in (("a", ai), ("b", ~ai)):
        per = pd.Series(add[mask]).groupby(authors[mask]).sum() if mask.any() else pd.Series(dtype=float)
        out[f"n_clusters_{side}"] = int((per > 0).sum())
        out[f"effective_clusters_{side}"] = effective_clusters(per.tolist())
    return out


def survival_ratio(author: Sequence, is_ai: Sequence[bool], lines_added: Sequence[int], lines_surviving: Sequence[int],
                   *, n_boot: int = 2000, seed: int = 0, conf: float = 0.95) -> dict:
    """The AI-vs-human ratio of survival shares, with a cluster bootstrap interval over authors.

    Each element is one change: its author (the cluster), whether it is AI-assisted, its added and
    surviving lines. share(group) = sum(surviving) / sum(added) over the group's changes (a
    line-weighted share); ratio = share(ai) / share(human). Authors are resampled with replacement
    (stats/bootstrap.py), so an author with many changes moves as one unit; an author with changes
    on both sides is one cluster. Replicates where a side drew no lines are dropped and counted.

    Returns {ai_share, human_share, ratio, ci_low, ci_high, conf, authors, ai_changes, human_changes,
    n_boot, dropped}; ratio and interval are None when a side has no lines."""
    ai = np.asarray(is_ai, dtype=bool)
    add = np.asarray(lines_added, dtype=float)
    surv = np.asarray(lines_surviving, dtype=float)
    authors = np.asarray([str(a) for a in author], dtype=object)
    a_add, a_surv = add[ai].sum(), surv[ai].sum()
    h_add, h_surv = add[~ai].sum(), surv[~ai].sum()
    ai_share, human_share = _ratio(a_surv, a_add), _ratio(h_surv, h_add)
    ratio = ai_share / human_share if ai_share is not None and human_share else None
    out = {"ai_share": ai_share, "human_share": human_share, "ratio": ratio, "ci_low": None, "ci_high": None,
           "conf": conf, "authors": int(len(set(authors.tolist()))), "ai_changes": int(ai.sum()),
           "human_changes": int((~ai).sum()), "n_boot": int(n_boot), "dropped": 0,
           **_side_clusters(authors, ai, add)}
    if ratio is None or len(authors) == 0:
        return out
    (codes,), k = factorize_clusters(authors)
    # Per-author sums for each side: a replicate's totals are multiplicities @ these.
    sums = np.zeros((4, k))
    np.add.at(sums[0], codes[ai], add[ai])
    np.add.at(sums[1], codes[ai], surv[ai])
    np.add.at(sums[2], codes[~ai], add[~ai])
    np.add.at(sums[3], codes[~ai], surv[~ai])

    def stat(w: np.ndarray) -> np.ndarray:
        t = w @ sums.T  # (b, 4)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (t[:, 1] / t[:, 0]) / (t[:, 3] / t[:, 2])

    res = cluster_bootstrap(stat, k, n_boot=n_boot, seed=seed)
    iv = percentile_interval(res.replicates, conf)
    if iv is not None:
        out["ci_low"], out["ci_high"] = iv
    out["dropped"] = res.n_dropped
    return out


def durability_comparison(con, window: Window, repos: list[str] | None = None, horizons: Sequence[int] = HORIZONS,
                          *, n_boot: int = 2000, seed: int = 0, survival: pd.DataFrame | None = None,
                          since: Mapping[str, date | None] | None = None) -> list[dict]:
    """Per horizon: `{horizon_days, since, **survival_ratio(...)}` over non-bot changes (AI-assisted vs
    human). `since`: the adoption date per repository; when any is known, both groups are the
    changes landed since it (a repository without one is left out), as the AI-vs-human cycle time
    compares them. Over the whole history the human group holds a project's early years, whose
    lines are rewritten more, and AI would look durable for being young. An agent account's change
    counts as its delegator's (metrics/delegation.py), so the account is not one cluster holding most
    of the AI group."""
    from .delegation import cluster_by_delegator

    cs = change_survival(con, window, repos, horizons) if survival is None else survival
    dates = {r: d for r, d in (since or {}).items() if d is not None}
    if dates and len(cs):
        day = pd.to_datetime(cs["done_at"]).dt.date
        cs = cs[[dates.get(r) is not None and x >= dates[r] for r, x in zip(cs["repo"], day)]]
    # Authors by a key without the store's salt, so a seeded interval is the same in every store
    # holding the same data (metrics/changes.py salt_free_author_keys).
    keys = salt_free_author_keys(con) if len(cs) else {}
    people = cs[~cs["bot"].astype(bool)] if len(cs) else cs
    if len(people):  # once for every horizon: the delegators are looked up in the store
        people, _ = cluster_by_delegator(con, people.assign(
            author_id=people["author_id"].map(lambda a: keys.get(a, a)).fillna("unknown")))
    out = []
    for n in horizons:
        d = people[people["horizon_days"] == n]
        if d.empty:
            continue
        r = survival_ratio(d["author_id"].to_numpy(), d["ai_assisted"].astype(bool).to_numpy(),
                           d["lines_added"].to_numpy(), d["lines_surviving"].to_numpy(), n_boot=n_boot, seed=seed)
        out.append({"horizon_days": int(n), "since": min(dates.values()).isoformat() if dates else None,
                    "since_per_repo": len(set(dates.values())) > 1, **r})
    return out
