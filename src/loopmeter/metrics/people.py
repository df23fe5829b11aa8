"""People, not addresses: the actor ids the store links as one person (store/identity_links.py).

Every interval that resamples authors (cycle time, throughput, durability) and the delegation of
an agent's changes key a person by `changes.salt_free_author_keys`; `merge_keys` gives every id of
one person the same key there, the smallest of theirs (so a seeded interval stays the same in any
store, as for one address), so that a person who commits under one address and is credited in
trailers under another is one cluster, not two.

The counts of people (`contributors` in totals, per repository and per week) count these keys in
the lift's weekly panel (metrics/summary.py `people_weeks`), which every engine builds on the driver.
"""

from __future__ import annotations

from .portable import store_connection

__all__ = ["merge_keys", "person_of"]


def person_of(con) -> dict[str, str]:
    """actor id -> one id standing for its person (the smallest of the person's ids), for every id
    a link names; ids no link names are absent (each is a person of its own). Read from the store's
    `identity_links`, or an export's (a store or export without them links nobody); once while a
    report's `facts` block runs (metrics/changes.py), as every count and interval asks for it."""
    from .changes import remembered  # here: changes.py imports this module

    return remembered(con, "person_of", lambda: _read_person_of(con))


def _read_person_of(con) -> dict[str, str]:
    raw = store_connection(con)
    if raw is None:
        return {}
    present = raw.execute("select count(*) from duckdb_tables() where table_name = 'identity_links' union all "
                          "select count(*) from duckdb_views() where view_name = 'identity_links'").fetchall()
    if not any(n for (n,) in present):
        return {}
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        root = a
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[a] != root:  # path halving would do; full compression keeps it short to read
            parent[a], a = root, parent[a]
        return root

    for alias, person in raw.execute("select distinct alias_id, person_id from identity_links").fetchall():
        ra, rp = find(alias), find(person)
        if ra != rp:
            parent[max(ra, rp)] = min(ra, rp)  # the smallest id of a person is its root
    return {a: find(a) for a in list(parent)}


def merge_keys(con, keys: dict[str, str]) -> dict[str, str]:
    """`keys` (actor id -> salt-free key) with every id of one person keyed alike: the smallest key
    among the person's ids that have one. An id with no key of its own (a co-author address with
    no commit, an API account) takes its person's; a person none of whose ids has a key is left out."""
    rep = person_of(con)
    if not rep:
        return keys
    best: dict[str, str] = {}
    for a, r in rep.items():
        k = keys.get(a)
        if k is not None and (r not in best or k < best[r]):
            best[r] = k
    out = dict(keys)
    for a, r in rep.items():
        if r in best:
            out[a] = best[r]
    return out
