"""Named schema migrations. Each is applied once and recorded in `schema_migrations`.

Never edit a migration that has shipped: add a new one. `STORE_FORMAT` rises when a store written
by this version can no longer be read by an older loopmeter.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

STORE_FORMAT = 1


def m001_canonical_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create table if not exists schema_migrations (name varchar primary key, applied_at timestamp);
        create table meta (key varchar primary key, value varchar);

        -- The canonical model of DESIGN.md. Timestamps are UTC (naive TIMESTAMP columns).
        create table items (
            item_id varchar primary key, source varchar, kind varchar, repo varchar, team varchar,
            title varchar, created_at timestamp, started_at timestamp, done_at timestamp,
            state varchar, size_lines bigint, author_id varchar, attrs json
        );
        create table events (item_id varchar, ts timestamp, activity varchar, actor_id varchar, attrs json);
        create table actors (
            actor_id varchar primary key, kind varchar, name varchar, email varchar, team varchar, agent varchar
        );
        create table links (src varchar, dst varchar, kind varchar);
        create table attributions (
            item_id varchar, agent varchar, evidence varchar, signal varchar, confidence double
        );

        -- The git layer: what the git source read, from which change items are derived.
        create table repos (
            repo varchar primary key, path varchar, head_ref varchar, head_sha varchar,
            is_shallow boolean, ingested_at timestamp, missing_blob_files bigint, pull_heads bigint,
            head_commits bigint
        );
        create table commits (
            repo varchar, sha varchar, parents varchar[],
            author_id varchar, author_time timestamp, author_tz smallint,
            committer_id varchar, committer_time timestamp, committer_tz smallint,
            author_name varchar, author_email varchar, committer_name varchar, committer_email varchar,
            subject varchar, message varchar, trailers struct(key varchar, value varchar)[],
            files integer, added bigint, deleted bigint, unknown_files integer,
            primary key (repo, sha)
        );
        create table commit_files (
            repo varchar, sha varchar, path varchar, old_path varchar,
            added bigint, deleted bigint, is_binary boolean, missing_blob boolean
        );
        create table git_pull_heads (repo varchar, number integer, sha varchar);
        create table git_tags (repo varchar, name varchar, sha varchar, time timestamp);

        -- Ingest state: the tips a repository's last complete ingest reached.
        create table git_tips (repo varchar, sha varchar);
        """
    )


def m004_agent_sessions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        -- Daily usage reports (Copilot usage metrics, Claude Code admin report): no sessions in them.
        -- actor_id '' is the organisation as a whole.
        create table agent_usage (
            source varchar not null, day date not null, actor_id varchar not null, agent varchar not null,
            sessions bigint, prompts bigint, lines_added bigint, lines_deleted bigint, commits bigint,
            pull_requests bigint, tokens_in bigint, tokens_out bigint, cost_usd double, active_seconds double,
            primary key (source, day, actor_id, agent)
        );
        -- Session files read, so an unchanged file is not read twice, and what could not be used.
        create table agent_files (
            path varchar primary key, format varchar, size bigint, mtime_ns bigint, sessions integer,
            lines bigint, skipped json, ingested_at timestamp
        );
        -- OpenTelemetry metric points as received; session_id '' when a point has none.
        create table otel_points (
            metric varchar not null, session_id varchar not null, series varchar not null,
            start_ns bigint not null, time_ns bigint not null, value double, cumulative boolean, actor_id varchar,
            primary key (metric, session_id, series, start_ns, time_ns)
        );
        -- Why a session is linked to a change (`links` holds the session_of edge itself).
        create table session_links (session_item varchar, change_item varchar, evidence varchar);
        """
    )


def m002_api_sources(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        -- Conditional requests: what an API URL answered last time whose rows are stored. Written in
        -- the same transaction as those rows. `oldest` is the oldest item time on that page, so a
        -- walk can tell from a 304 whether the next page still matters. Never holds a token.
        create table http_cache (
            url varchar primary key, source varchar, etag varchar, body_hash varchar, next_url varchar,
            oldest timestamp, fetched_at timestamp
        );
        -- High-water marks of complete walks, per source ('github:owner/repo') and stream ('pulls').
        create table api_cursors (source varchar, stream varchar, high_water timestamp, finished_at timestamp,
                                  primary key (source, stream));
        -- A walk in progress: the next page to read and the high-water mark it will record when done.
        create table api_progress (source varchar, stream varchar, floor timestamp, next_url varchar,
                                   pending_high_water timestamp, pages bigint, started_at timestamp,
                                   primary key (source, stream));
        -- The provider's updated_at of each stored API item, so an unchanged item costs no request.
        create table api_item_versions (item_id varchar primary key, source varchar, updated_at timestamp);
        """
    )


def m003_event_logs(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        -- One row per ingested generic event log (CSV, JSONL, XES, OCEL 2.0, Jira CSV): what it held
        -- and which rows could not be used, by reason (JSON object reason -> count) with the first
        -- few places (JSON list of {where, reason}).
        create table event_logs (
            name varchar primary key, path varchar, format varchar, cases bigint, events bigint,
            skipped_rows bigint, skipped_reasons json, skipped_sample json, ingested_at timestamp
        );
        -- Which items a log wrote (cases, or the items an OCEL file written by `loopmeter export`
        -- restored), so a log's numbers never depend on how its item ids are spelled.
        create table event_log_items (log varchar, item_id varchar);
        """
    )


def m005_attribution_classes(con: duckdb.DuckDBPyConnection) -> None:
    # How the agent took part ("authored", "assisted", "suggestion", "message"; attribution.CLASSES).
    # Stored rows are judged again from their matched text with the package's signatures, so a
    # report on an old store is right before any re-ingest (a row whose text no longer matches keeps
    # none and counts as "assisted", as every row counted before); forgetting the signatures each
    # repository was judged with makes the next ingest re-judge every stored commit in full.
    from ..attribution import FIXED_CLASS, Matcher

    con.execute(
        """
        alter table attributions add column evidence_class varchar;
        delete from meta where key like 'signatures:%';
        """
    )
    matcher = Matcher.load()
    rows = con.execute("select distinct agent, evidence, signal from attributions").fetchall()
    judged = [(a, k, s, FIXED_CLASS.get(k) or matcher.class_of_signal(a, k, s or "")) for a, k, s in rows]
    judged = [r for r in judged if r[3] is not None]
    if judged:
        import pyarrow as pa

        cols = list(zip(*judged, strict=True))
        con.register("_classes", pa.table({"agent": list(cols[0]), "evidence": list(cols[1]),
                                           "signal": list(cols[2]), "cls": list(cols[3])}))
        con.execute(
            """
            update attributions set evidence_class = c.cls from _classes c
            where attributions.agent = c.agent and attributions.evidence = c.evidence
              and attributions.signal is not distinct from c.signal
            """
        )
        con.unregister("_classes")


def m006_line_provenance(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        -- Line-level provenance: which lines of a commit's files an agent wrote, as a Git AI
        -- authorship log (refs/notes/ai, source 'git_ai_note') or an Agent Trace record
        -- (source 'agent_trace') says. One row per commit, file, source, agent and model;
        -- `ranges` are the AI-written lines of the file as of that commit ("1-10,15").
        create table line_provenance (
            repo varchar, sha varchar, path varchar, source varchar, agent varchar, model varchar,
            ai_lines bigint, ranges varchar, origin varchar
        );
        -- Agent Trace files read (one row per file): what they held and what could not be used.
        create table trace_files (
            repo varchar, path varchar, records bigint, skipped bigint, ingested_at timestamp,
            primary key (repo, path)
        );
        -- Durability (docs/metrics.md): one row per commit on the first-parent line of the
        -- ingested head, in order (`pos`), with the lines its diff against the first parent added
        -- (those of them the provenance marks as AI-written), and where the pass found provenance.
        create table line_origins (
            repo varchar, sha varchar, pos integer, landed_at timestamp, lines_added bigint,
            ai_lines_added bigint, with_provenance boolean, primary key (repo, sha)
        );
        -- Where those lines went: `lines` (`ai_lines`) added by the commit at position `born_pos`
        -- were removed or changed by the one at `died_pos` (-1: fate unknown, a blob git could not
        -- read). Lines never removed have no row.
        create table line_deaths (
            repo varchar, born_pos integer, died_pos integer, lines bigint, ai_lines bigint
        );
        -- Where the last pass stopped, so the next ingest reads only the new first-parent commits:
        -- per file the birth of each line (int64 pos * 2 + ai, native byte order); `unknown` for a
        -- file git could not read.
        create table line_state (
            repo varchar, head_sha varchar, next_pos integer, path varchar, births blob, unknown boolean
        );
        """
    )


def m007_event_order(con: duckdb.DuckDBPyConnection) -> None:
    # An event log's event carries its place in its case (store/event_logs.py EVENT_SEQ), so a
    # report orders a case by one integer instead of sorting every event by time, activity and
    # resource each time. Other sources' events leave it null. Computed here for the logs of an
    # older store (its text is EVENT_SEQ's, kept literal: a migration must not change later).
    con.execute("alter table events add column seq integer")
    con.execute(
        """
        update events set seq = o.seq from (
            select e.rowid as r,
                   row_number() over (partition by e.item_id order by e.ts, e.activity, e.actor_id)::integer as seq
            from events e where e.item_id in (select item_id from event_log_items)
        ) o where events.rowid = o.r
        """
    )


def m012_source(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        -- Resume state of a source without tables of its own (store/source_state.py): written by the
        -- ingest runner in the same transaction as the rows it describes.
        create table source_state (
            source varchar, key varchar, value varchar, updated_at timestamp, primary key (source, key)
        );
        """
    )


def m013_event_case_no(con: duckdb.DuckDBPyConnection) -> None:
    # An event log's case gets an integer number (`event_log_items.case_no`, unique in the store),
    # which its events carry with their successor's time and whether a different resource performs
    # it (store/event_logs.py EVENT_ORDER): a report groups a log's events by one integer in one
    # pass, with no per-case sort and no join on the text item id. Other sources' events leave the
    # three null. Computed here for the logs of an older store (the text is EVENT_ORDER's and
    # `_replace`'s numbering, kept literal: a migration must not change later).
    con.execute("alter table event_log_items add column case_no bigint")
    con.execute(
        """
        update event_log_items set case_no = n.case_no from (
            select rowid as r, row_number() over (order by log, item_id) as case_no from event_log_items
        ) n where event_log_items.rowid = n.r
        """
    )
    # The events are written anew rather than UPDATEd: on a 10M-event store the UPDATE joined to
    # the window took 123 s CPU (561 s wall) against 24 s (91 s wall) for this, 450-490 MB peak
    # either way (a shared machine, load average ~12). Columns in the order `alter table` would
    # give them; the table has no keys or indexes to carry over.
    con.execute("alter table events add column case_no bigint")
    con.execute("alter table events add column next_ts timestamp")
    con.execute("alter table events add column handoff boolean")
    con.execute(
        """
        create table events_013 as
        select e.* from events e anti join event_log_items li on li.item_id = e.item_id
        union all
        select e.* replace (li.case_no as case_no, lead(e.ts) over w as next_ts,
                            coalesce(e.actor_id <> lead(e.actor_id) over w, false) as handoff)
        from events e join event_log_items li on li.item_id = e.item_id
        window w as (partition by li.case_no order by e.ts, e.activity, e.actor_id)
        """
    )
    con.execute("drop table events")
    con.execute("alter table events_013 rename to events")


def m014_commit_key(con: duckdb.DuckDBPyConnection) -> None:
    # `commits` without its primary key on (repo, sha). DuckDB keeps a key's index (an ART) in
    # memory while the store is open and writes it whole at each checkpoint: at 200,000 commits
    # ~18 MB that grew with the history, the largest part of the ingest's growth per commit. No
    # statement looks a commit up by the key (the derivation and the loader join on sha), and a
    # commit is stored once by the loader itself (store/git_load.py: a batch of a repository with
    # commits stored keeps only the shas not stored; a new repository's batches are git's, which
    # names each commit once). DuckDB cannot drop a key in place: the table is written anew, its
    # rows in their order (each repository's rows stay together, which its scans rely on).
    con.execute(
        """
        create table commits_014 (
            repo varchar not null, sha varchar not null, parents varchar[],
            author_id varchar, author_time timestamp, author_tz smallint,
            committer_id varchar, committer_time timestamp, committer_tz smallint,
            author_name varchar, author_email varchar, committer_name varchar, committer_email varchar,
            subject varchar, message varchar, trailers struct(key varchar, value varchar)[],
            files integer, added bigint, deleted bigint, unknown_files integer
        )
        """
    )
    con.execute("insert into commits_014 by name select * from commits")
    con.execute("drop table commits")
    con.execute("alter table commits_014 rename to commits")


def m016_people(con: duckdb.DuckDBPyConnection) -> None:
    # Which actor ids are one person (store/identity_links.py): a GitHub noreply address and the
    # account it names, a co-author the repository's .mailmap maps to another address. Ids only.
    # A store written before is linked here from what it holds (the mailmap read from each
    # repository's clone, where it still is), so its next report clusters people as a new one would.
    from ..attribution import Matcher
    from .identity_links import link_identities

    con.execute("create table identity_links (repo varchar, alias_id varchar, person_id varchar, evidence varchar)")
    salt = (con.execute("select value from meta where key = 'salt'").fetchone() or [""])[0] or ""
    repos = con.execute("select repo, path from repos order by repo").fetchall()
    if repos:
        # The built-in signatures only (a migration does not know which loopmeter.toml the user
        # runs with, as in 005): a bot named only there may be linked until its repository's next
        # ingest rebuilds the links with the user's matcher.
        matcher = Matcher.load()
        for repo, path in repos:
            link_identities(con, path, repo, matcher, salt)


MIGRATIONS: list[tuple[str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    ("001_canonical_tables", m001_canonical_tables),
    ("002_api_sources", m002_api_sources),
    ("003_event_logs", m003_event_logs),
    ("004_agent_sessions", m004_agent_sessions),
    ("005_attribution_classes", m005_attribution_classes),
    ("006_line_provenance", m006_line_provenance),
    ("007_event_order", m007_event_order),
    ("012_source", m012_source),
    ("013_event_case_no", m013_event_case_no),
    ("014_commit_key", m014_commit_key),
    ("016_people", m016_people),
]
