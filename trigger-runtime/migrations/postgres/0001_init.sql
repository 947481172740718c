-- The SQLite schema after its migration 6, for PostgreSQL: events as received, runs, their
-- attempts, logs and task outputs, generated secrets and the readiness row. Times are
-- milliseconds since the Unix epoch, JSON is stored as text (read back exactly as written).

-- Ids sort by creation time (`evt_` and a millisecond timestamp first), so they give the
-- order events were received in.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    method      TEXT NOT NULL,
    url         TEXT NOT NULL,
    headers     BYTEA NOT NULL,   -- see store::sqlite::rows::encode_headers
    body        BYTEA NOT NULL,   -- the raw bytes, exactly
    received_at BIGINT NOT NULL,
    verified    BOOLEAN NOT NULL,
    dedup_key   TEXT,
    skipped     TEXT              -- JSON [{"job", "reason"}], NULL when every job matched
);

-- Deduplication across servers is this constraint, not a check before the insert.
CREATE UNIQUE INDEX events_dedup ON events (endpoint_id, dedup_key) WHERE dedup_key IS NOT NULL;

CREATE TABLE runs (
    seq          BIGSERIAL NOT NULL,
    id           TEXT PRIMARY KEY,
    job          TEXT NOT NULL,
    job_version  TEXT NOT NULL,
    event_id     TEXT NOT NULL REFERENCES events (id),
    endpoint_id  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    run_at       BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    lease_until  BIGINT,
    lease_epoch  BIGINT NOT NULL DEFAULT 0,
    output       TEXT,
    error        TEXT
);

CREATE INDEX runs_event ON runs (event_id, seq);
CREATE INDEX runs_due ON runs (run_at, id) INCLUDE (job) WHERE status = 'queued';
CREATE INDEX runs_leased ON runs (lease_until) WHERE status = 'running';

CREATE TABLE attempts (
    run_id      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    error       TEXT,
    PRIMARY KEY (run_id, attempt)
);

CREATE TABLE logs (
    id      BIGSERIAL PRIMARY KEY,
    run_id  TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      BIGINT NOT NULL
);

CREATE INDEX logs_run ON logs (run_id, id);

CREATE TABLE tasks (
    run_id   TEXT NOT NULL,
    key      TEXT NOT NULL,
    output   TEXT NOT NULL,
    seq      INTEGER,
    saved_at BIGINT,
    attempt  INTEGER,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE secrets (
    endpoint_id TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at BIGINT NOT NULL
);
