-- issue 15: the official release channel (release records with versions and change notes) and the
-- department API keys. See data/release.py and docs/api.md.

-- One row per version of a released hourly value. The current version of (station_id, ts,
-- parameter) is the row with superseded_at IS NULL; earlier versions stay, each with who changed
-- it, when and why (a change after release keeps the earlier value).
CREATE TABLE IF NOT EXISTS release_values (
    station_id      VARCHAR NOT NULL,
    ts              TIMESTAMP NOT NULL,        -- UTC hour start, as readings.ts
    parameter       VARCHAR NOT NULL,
    value           DOUBLE,                    -- NULL when withheld
    status          VARCHAR NOT NULL CHECK (status IN ('preliminary', 'audited', 'final', 'withheld')),
    version         INTEGER NOT NULL,          -- 1, 2, ... per (station_id, ts, parameter)
    released_at     TIMESTAMP NOT NULL,        -- when this version was published (UTC)
    released_by     VARCHAR NOT NULL,          -- 'auto' for the real-time release, else a user name
    note            VARCHAR,                   -- why this version exists (required from version 2 on)
    superseded_at   TIMESTAMP                  -- NULL = the current version
);

-- Department API keys. The secret is stored only as its SHA-256 (keys are 256-bit random, so a
-- fast hash is enough and keeps the per-request check cheap); key_id is the public prefix.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id          VARCHAR PRIMARY KEY,
    dept            VARCHAR NOT NULL,
    scopes          VARCHAR NOT NULL,          -- comma-separated, see envtrust/api/keys.py
    rate_per_min    INTEGER NOT NULL,
    secret_sha256   VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    created_by      VARCHAR NOT NULL,
    revoked_at      TIMESTAMP
);
