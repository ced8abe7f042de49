-- Incremental scoring (issue 12): which ingest batches the store's scores cover. A scoring run
-- lists the committed batches before it reads the readings and records them here; readings of any
-- other committed batch (live HJ 212 hours, a new file, a logger's resent backlog - whatever order
-- concurrent batches commit in) are what the next incremental run scores.
CREATE TABLE IF NOT EXISTS scored_batches (
    batch_id        BIGINT PRIMARY KEY,
    run_id          VARCHAR NOT NULL
);
-- The last run, for the status line and `envtrust info`.
CREATE TABLE IF NOT EXISTS scoring_state (
    state_id        INTEGER PRIMARY KEY,       -- always 1
    scored_from     TIMESTAMP,                 -- the last run's saved window (UTC)
    scored_to       TIMESTAMP,
    run_id          VARCHAR,
    mode            VARCHAR,                   -- full | incremental
    finished_at     TIMESTAMP
);
