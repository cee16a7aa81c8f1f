"""The PostgreSQL schemas of the ledger, the time-series store and the job store, as numbered
migrations.

Table and column names follow the SQLite ledger (``docs/ledger.md``), so the two read alike.
Text keys use the "C" collation: they sort by code point, as in SQLite, whatever the database's
locale, and compare faster.
"""

from __future__ import annotations

from osed.storage._pg_migrations import Migration

LEDGER_COMPONENT = "ledger"
TIMESERIES_COMPONENT = "timeseries"

_LEDGER_V1: Migration = (
    # entry holds the canonical bytes that the hash covers.
    """CREATE TABLE ledger (
        seq bigint PRIMARY KEY,
        message_id text NOT NULL,
        entry bytea NOT NULL,
        hash bytea NOT NULL
    )""",
    # One row per appended message: the idempotency record and where its entries are.
    """CREATE TABLE messages (
        message_id text COLLATE "C" PRIMARY KEY,
        first_seq bigint NOT NULL,
        entry_count integer NOT NULL
    )""",
    """CREATE TABLE positions (
        party text COLLATE "C" NOT NULL,
        interval_start timestamptz NOT NULL,
        duration_s bigint NOT NULL,
        quantity_scale bigint NOT NULL,
        quantity bigint NOT NULL,
        PRIMARY KEY (party, interval_start, duration_s, quantity_scale)
    )""",
    # Writers lock this row (SELECT … FOR UPDATE) first: appends are serialised, one chain.
    """CREATE TABLE head (
        id integer PRIMARY KEY CHECK (id = 1),
        entry_count bigint NOT NULL,
        last_hash bytea NOT NULL
    )""",
    # GENESIS_HASH, 32 zero bytes: the head of an empty ledger.
    "INSERT INTO head VALUES (1, 0, decode(repeat('00', 32), 'hex'))",
    """CREATE TABLE trace (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id text NOT NULL,
        kind text NOT NULL,
        received_at timestamptz NOT NULL,
        body text NOT NULL
    )""",
    # Postings are never changed: a mistake is fixed by a correcting entry. A removed messages
    # row would let a retried message be recorded twice, so it is guarded too.
    """CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'ledger entries are immutable'; END $$""",
    """CREATE TRIGGER ledger_no_change BEFORE UPDATE OR DELETE ON ledger
        FOR EACH ROW EXECUTE FUNCTION ledger_immutable()""",
    """CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable()""",
    """CREATE TRIGGER messages_no_change BEFORE UPDATE OR DELETE ON messages
        FOR EACH ROW EXECUTE FUNCTION ledger_immutable()""",
    """CREATE TRIGGER messages_no_truncate BEFORE TRUNCATE ON messages
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable()""",
)

_LEDGER_V2: Migration = (
    # An agent's state at a trace position (the seq of the last trace row it covers), so that
    # a restart replays only the trace after it. The store keeps the body's SHA-256 beside it.
    """CREATE TABLE snapshots (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        format text COLLATE "C" NOT NULL,
        trace_seq bigint NOT NULL,
        taken_at timestamptz NOT NULL,
        body bytea NOT NULL,
        checksum bytea NOT NULL
    )""",
    "CREATE INDEX snapshots_newest ON snapshots (format, trace_seq, id)",
)

_LEDGER_V3: Migration = (
    # Each trace row's place in the trace hash chain (osed.storage._trace_chain); rows written
    # before this version keep NULL.
    "ALTER TABLE trace ADD COLUMN hash bytea",
)

_LEDGER_V4: Migration = (
    # Pieces of snapshot state stored once by their SHA-256 and shared by the snapshots that
    # refer to them (snapshot_refs), so that a snapshot writes only what changed.
    """CREATE TABLE snapshot_chunks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        digest bytea NOT NULL UNIQUE,
        body bytea NOT NULL
    )""",
    """CREATE TABLE snapshot_refs (
        snapshot_id bigint NOT NULL,
        digest bytea NOT NULL,
        PRIMARY KEY (snapshot_id, digest)
    )""",
    "CREATE INDEX snapshot_refs_digest ON snapshot_refs (digest)",
)

LEDGER_MIGRATIONS: tuple[Migration, ...] = (_LEDGER_V1, _LEDGER_V2, _LEDGER_V3, _LEDGER_V4)

_TIMESERIES_V1: Migration = (
    """CREATE TABLE ts_series (
        series_key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        series_id text COLLATE "C" NOT NULL UNIQUE,
        unit text NOT NULL
    )""",
    # No foreign key to ts_series: the writer registers the series in the same transaction,
    # and a per-row key check would slow ingest for nothing.
    """CREATE TABLE ts_points (
        series_key integer NOT NULL,
        event_time timestamptz NOT NULL,
        source text COLLATE "C" NOT NULL,
        belief_time timestamptz NOT NULL,
        value double precision NOT NULL,
        quality text NOT NULL CHECK (quality IN ('good', 'suspect', 'bad')),
        PRIMARY KEY (series_key, event_time, source, belief_time)
    )""",
)

TIMESERIES_MIGRATIONS: tuple[Migration, ...] = (_TIMESERIES_V1,)

JOBS_COMPONENT = "jobs"

_JOBS_V1: Migration = (
    """CREATE TABLE jobs (
        job_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind text COLLATE "C" NOT NULL,
        idempotency_key text COLLATE "C" NOT NULL UNIQUE,
        payload bytea NOT NULL,
        status text NOT NULL
            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        submitted_at timestamptz NOT NULL,
        deadline timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        worker_id text,
        lease_until timestamptz,
        cancel_requested boolean NOT NULL DEFAULT false,
        started_at timestamptz,
        finished_at timestamptz,
        result bytea,
        error text,
        CHECK (status <> 'running' OR (worker_id IS NOT NULL AND lease_until IS NOT NULL))
    )""",
    # Claims walk the queued (and running) jobs of a kind, oldest first.
    "CREATE INDEX jobs_claimable ON jobs (status, kind, submitted_at, job_id)",
)

JOBS_MIGRATIONS: tuple[Migration, ...] = (_JOBS_V1,)

EDC_COMPONENT = "edc"

_EDC_V1: Migration = (
    """CREATE TABLE edc_state (
        edc_id text COLLATE "C" PRIMARY KEY,
        document bytea NOT NULL
    )""",
)

# Enrolments get rows of their own (an enrolment no longer rewrites the EDC's document); those
# that version 1 kept in the document, under "enrolled", move out. The document is rebuilt as
# json, not jsonb, so every other value keeps its text exactly; one that is not a JSON object
# stays as it was (the manager reports it).
_EDC_V2: Migration = (
    """CREATE TABLE edc_enrolment (
        edc_id text COLLATE "C" NOT NULL,
        building_id text COLLATE "C" NOT NULL,
        enrolment bytea NOT NULL,
        PRIMARY KEY (edc_id, building_id)
    )""",
    """DO $$
    DECLARE
        stored record;
        doc json;
    BEGIN
        FOR stored IN SELECT edc_id, document FROM edc_state LOOP
            BEGIN
                doc := convert_from(stored.document, 'UTF8')::json;
            EXCEPTION WHEN others THEN
                CONTINUE;
            END;
            IF json_typeof(doc) = 'object' AND json_typeof(doc -> 'enrolled') = 'object' THEN
                INSERT INTO edc_enrolment
                    SELECT stored.edc_id, e.key, convert_to(e.value::text, 'UTF8')
                    FROM json_each(doc -> 'enrolled') AS e;
            END IF;
            IF json_typeof(doc) = 'object' AND doc -> 'enrolled' IS NOT NULL THEN
                UPDATE edc_state
                    SET document = convert_to(coalesce(
                        (SELECT json_object_agg(e.key, e.value)::text
                         FROM json_each(doc) AS e WHERE e.key <> 'enrolled'),
                        '{}'), 'UTF8')
                    WHERE edc_id = stored.edc_id;
            END IF;
        END LOOP;
    END $$""",
)

EDC_MIGRATIONS: tuple[Migration, ...] = (_EDC_V1, _EDC_V2)

INTELLIGENCE_COMPONENT = "intelligence"

_INTELLIGENCE_V1: Migration = (
    """CREATE TABLE intelligence_decisions (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL,
        area text NOT NULL,
        action text NOT NULL,
        document bytea NOT NULL
    )""",
)

INTELLIGENCE_MIGRATIONS: tuple[Migration, ...] = (_INTELLIGENCE_V1,)
