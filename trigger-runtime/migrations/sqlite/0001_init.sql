-- Events as received, runs, their attempts, logs and task outputs, and generated secrets.
-- Times are milliseconds since the Unix epoch.

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    method      TEXT NOT NULL,
    url         TEXT NOT NULL,
    headers     BLOB NOT NULL,   -- see store::sqlite::rows::encode_headers
    body        BLOB NOT NULL,   -- the raw bytes, exactly
    received_at INTEGER NOT NULL,
    verified    INTEGER NOT NULL,
    dedup_key   TEXT
) STRICT;

CREATE UNIQUE INDEX events_dedup ON events (endpoint_id, dedup_key) WHERE dedup_key IS NOT NULL;

CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    job          TEXT NOT NULL,
    job_version  TEXT NOT NULL,
    event_id     TEXT NOT NULL REFERENCES events (id),
    endpoint_id  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    lease_until  INTEGER,
    worker       TEXT,
    output       TEXT,
    error        TEXT
) STRICT;

CREATE INDEX runs_event ON runs (event_id);
-- The claim query names this index (INDEXED BY): due runs in order, without a sort, with the
-- job at hand to leave out jobs at their concurrency limit.
CREATE INDEX runs_due ON runs (run_at, id, job) WHERE status = 'queued';
CREATE INDEX runs_leased ON runs (lease_until) WHERE status = 'running';

CREATE TABLE attempts (
    run_id      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    error       TEXT,
    PRIMARY KEY (run_id, attempt)
) STRICT, WITHOUT ROWID;

CREATE TABLE logs (
    id      INTEGER PRIMARY KEY,
    run_id  TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      INTEGER NOT NULL
) STRICT;

CREATE INDEX logs_run ON logs (run_id, id);

CREATE TABLE tasks (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    output TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE secrets (
    endpoint_id TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
