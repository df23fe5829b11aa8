"""Resume state of the sources that keep it in no table of their own (migration 012_source).

One row per (source, key): a high-water mark, a next page. The runner writes it in the same
transaction as the rows it describes (`runner.Run.write_log(state=...)`), so a killed ingest can
never leave the mark ahead of what is stored. Git (`git_tips`), the API walks (`api_cursors`,
`api_progress`) and agent logs (`session_files`) keep theirs in the tables they had first.
"""

from __future__ import annotations

from .db import Store, utcnow


def get_state(store: Store, source: str, key: str) -> str | None:
    row = store.con.execute("select value from source_state where source = ? and key = ?", [source, key]).fetchone()
    return None if row is None else row[0]


def put_state(store: Store, source: str, key: str, value: str) -> None:
    store.con.execute("insert or replace into source_state values (?, ?, ?, ?)", [source, key, value, utcnow()])
