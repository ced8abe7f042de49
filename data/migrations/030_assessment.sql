-- envtrust store, migration 30 (assessment, issue 14 part 2): additive only.
-- assessment_excuses: accepted reasons for missing or invalid hours (power cut approved in advance,
--   scheduled maintenance ...): such hours are left out of the statistics instead of substituted.
-- assessment_runs / assessment_units / assessment_contributors: stored results of `envtrust assess`,
--   raw and penalised side by side, with the substitution policy and its version.

CREATE SEQUENCE IF NOT EXISTS assessment_excuse_seq START 1;
CREATE TABLE IF NOT EXISTS assessment_excuses (
    excuse_id       BIGINT PRIMARY KEY,
    station_id      VARCHAR NOT NULL,
    start           TIMESTAMP NOT NULL,        -- first excused hour (UTC)
    "end"           TIMESTAMP NOT NULL,        -- last excused hour (UTC)
    parameters      VARCHAR NOT NULL DEFAULT '', -- comma-separated; empty = all pollutants
    reason          VARCHAR NOT NULL CHECK (reason IN ('power', 'maintenance', 'calibration', 'relocation', 'other')),
    detail          VARCHAR,
    approved_by     VARCHAR NOT NULL,
    approved_at     TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS assessment_runs (
    run_id          VARCHAR PRIMARY KEY,
    period          VARCHAR NOT NULL,          -- 2016 | 2016-12 | 2016-12-01..2016-12-07 (local dates)
    level           VARCHAR NOT NULL CHECK (level IN ('city', 'county')),
    policy_id       VARCHAR NOT NULL,
    policy_version  INTEGER NOT NULL,
    policy_factor   DOUBLE NOT NULL,
    policy_window   VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    created_by      VARCHAR
);

CREATE TABLE IF NOT EXISTS assessment_units (
    run_id          VARCHAR NOT NULL,
    unit            VARCHAR NOT NULL,          -- admin code (city_code or county_code)
    name            VARCHAR,
    n_stations      INTEGER,
    capture_rate    DOUBLE,                    -- valid station-hours / expected station-hours
    valid_period    BOOLEAN,                   -- GB 3095 table 4 met for every statistic (raw)
    index_raw       DOUBLE,
    index_pen       DOUBLE,
    rank_raw        DOUBLE,
    rank_pen        DOUBLE,
    rank_change     DOUBLE,                    -- > 0: fell places under the penalty rule
    substituted_hours BIGINT,
    statistics_json VARCHAR                    -- {"PM2.5_raw": .., "PM2.5_pen": .., ...}
);

CREATE TABLE IF NOT EXISTS assessment_contributors (
    run_id          VARCHAR NOT NULL,
    unit            VARCHAR NOT NULL,
    station_id      VARCHAR NOT NULL,
    substituted_hours BIGINT NOT NULL,
    interference    BIGINT NOT NULL,
    missing         BIGINT NOT NULL,
    invalid_flag    BIGINT NOT NULL
);
