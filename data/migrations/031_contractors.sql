-- envtrust store, migration 31 (contractors and labs, issue 14 part 3): additive only.
-- contractors: operation and maintenance contractors (运维单位) and laboratories.
-- contractor_assignments: which contractor operates which station/outlet, dated (valid_to NULL = open).
-- comparison_samples: manual comparison results (比对监测), ingested like readings (bad rows go to
--   quarantine with a reason, the batch to ingest_batches).
-- credit_entries: credit history and blacklist, dated, with legal basis and end date.

CREATE TABLE IF NOT EXISTS contractors (
    contractor_id   VARCHAR PRIMARY KEY,
    name            VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL CHECK (kind IN ('operator', 'lab')),
    licence         VARCHAR,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS contractor_assignments (
    station_id      VARCHAR NOT NULL,
    contractor_id   VARCHAR NOT NULL,
    valid_from      TIMESTAMP NOT NULL,        -- UTC
    valid_to        TIMESTAMP,                 -- UTC, exclusive; NULL = still assigned
    contract_ref    VARCHAR
);

CREATE TABLE IF NOT EXISTS comparison_samples (
    sample_id       VARCHAR PRIMARY KEY,
    station_id      VARCHAR NOT NULL,
    ts              TIMESTAMP NOT NULL,        -- start of the sampling window (UTC)
    duration_h      DOUBLE NOT NULL,           -- sampling window length (hours)
    parameter       VARCHAR NOT NULL,
    value           DOUBLE NOT NULL,           -- reference-method result, canonical unit
    lab_id          VARCHAR NOT NULL,
    batch_id        BIGINT
);

CREATE SEQUENCE IF NOT EXISTS credit_entry_seq START 1;
CREATE TABLE IF NOT EXISTS credit_entries (
    entry_id        BIGINT PRIMARY KEY,
    contractor_id   VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL CHECK (kind IN ('commendation', 'warning', 'penalty', 'blacklist')),
    reason          VARCHAR NOT NULL,
    legal_basis     VARCHAR NOT NULL,
    start_date      DATE NOT NULL,
    end_date        DATE,                      -- NULL only for entries without a term (commendation, warning)
    recorded_by     VARCHAR NOT NULL,
    recorded_at     TIMESTAMP NOT NULL
);
