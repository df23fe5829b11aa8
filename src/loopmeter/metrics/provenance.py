"""AI-written lines, where line-level provenance (Git AI notes, Agent Trace records) says so.

`lines(...)` is the JSON `attribution.lines` object (docs/json-report.md), over the commits of the
landed changes in scope (merge commits left out: their diff repeats the lines of the commits they
bring in):

- `commits_with_provenance`: those commits with a note or record;
- `lines_added`: lines all of them added; `lines_added_with_provenance`: lines the commits with
  provenance added;
- `ai_lines_added`: AI-written lines of those commits, per file at most the lines the commit added
  to it (a record may also name lines the commit did not add);
- `ai_share = ai_lines_added / lines_added_with_provenance`: never extrapolated to commits without
  provenance, which is why both counts are given;
- `by_agent`, `by_model`: AI-written lines per agent and per model (a line two agents claim counts
  for both, so these may sum to more than `ai_lines_added`).

`weekly(...)` gives the same counts per week of landing, for the HTML chart.
"""

from __future__ import annotations

import pyarrow as pa

from . import portable
from .changes import Window, changes


def _scope(con, window: Window, repos: list[str] | None):
    raw = portable.store_connection(con)
    ch = con.execute(changes(con, window, repos).select("item_id", "week"))
    t = pa.table({"item_id": ch["item_id"].astype(str).tolist(),
                  "week": [w.isoformat() if hasattr(w, "isoformat") else str(w) for w in ch["week"]]})
    raw.register("_lm_scope", t)
    # Commit -> (week of its change), its lines added, and per file the AI lines (capped by the file's added).
    raw.execute(
        """
        create or replace temp table _lm_prov_commits as
        select c.repo, c.sha, s.week, coalesce(c.added, 0) as added,
               exists (select 1 from line_provenance p where p.repo = c.repo and p.sha = c.sha) as with_prov
        from _lm_scope s
        join links l on l.dst = s.item_id and l.kind = 'part_of'
        join commits c on l.src = 'git:' || c.repo || ':commit:' || c.sha
        where len(c.parents) <= 1
        """
    )
    raw.execute(
        """
        create or replace temp table _lm_prov_lines as
        select p.repo, p.sha, p.path, p.agent, p.model, pc.week,
               least(p.ai_lines, coalesce(f.added, p.ai_lines)) as ai_lines
        from line_provenance p
        join _lm_prov_commits pc on pc.repo = p.repo and pc.sha = p.sha
        left join (select repo, sha, path, sum(added) as added from commit_files group by all) f
          on f.repo = p.repo and f.sha = p.sha and f.path = p.path
        where p.ai_lines > 0
        """
    )
    raw.unregister("_lm_scope")
    return raw


def lines(con, window: Window, repos: list[str] | None = None) -> dict:
    """The JSON `attribution.lines` object (module docstring)."""
    raw = _scope(con, window, repos)
    n_prov, added, added_prov = raw.execute(
        "select count(*) filter (where with_prov), coalesce(sum(added), 0), "
        "coalesce(sum(added) filter (where with_prov), 0) from _lm_prov_commits").fetchone()
    # Per (commit, file): the AI lines of all agents together, at most what the commit added there.
    ai = raw.execute(
        """
        select coalesce(sum(n), 0) from (
          select least(sum(p.ai_lines), coalesce(any_value(f.added), sum(p.ai_lines))) as n
          from _lm_prov_lines p
          left join (select repo, sha, path, sum(added) as added from commit_files group by all) f
            on f.repo = p.repo and f.sha = p.sha and f.path = p.path
          group by p.repo, p.sha, p.path)
        """).fetchone()[0]
    by_agent = dict(raw.execute("select agent, sum(ai_lines)::bigint from _lm_prov_lines group by agent order by 2 desc, 1"
                                ).fetchall())
    by_model = dict(raw.execute("select coalesce(model, 'unknown'), sum(ai_lines)::bigint from _lm_prov_lines "
                                "group by 1 order by 2 desc, 1").fetchall())
    return {
        "commits_with_provenance": int(n_prov),
        "lines_added": int(added),
        "lines_added_with_provenance": int(added_prov),
        "ai_lines_added": int(ai),
        "ai_share": (int(ai) / int(added_prov)) if added_prov else None,
        "by_agent": {k: int(v) for k, v in by_agent.items()},
        "by_model": {k: int(v) for k, v in by_model.items()},
    }


def weekly(con, window: Window, repos: list[str] | None = None) -> list[dict]:
    """Per landing week with provenance: `{week, lines_added_with_provenance, ai_lines_added, ai_share}`."""
    raw = _scope(con, window, repos)
    rows = raw.execute(
        """
        with a as (select week, sum(added) filter (where with_prov) as added_prov from _lm_prov_commits group by week),
             b as (select week, sum(n) as ai from (
                     select p.week, least(sum(p.ai_lines), coalesce(any_value(f.added), sum(p.ai_lines))) as n
                     from _lm_prov_lines p
                     left join (select repo, sha, path, sum(added) as added from commit_files group by all) f
                       on f.repo = p.repo and f.sha = p.sha and f.path = p.path
                     group by p.week, p.repo, p.sha, p.path) group by week)
        select a.week, a.added_prov, coalesce(b.ai, 0) from a left join b using (week)
        where a.added_prov > 0 order by a.week
        """).fetchall()
    return [{"week": w, "lines_added_with_provenance": int(p), "ai_lines_added": int(ai), "ai_share": int(ai) / int(p)}
            for w, p, ai in rows]
