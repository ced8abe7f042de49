-- envtrust store, schema version 1. See data/schema.py for the reasoning and docs/schema.md.
-- All timestamps are naive UTC (TIMESTAMP); the UI converts to local time (Asia/Shanghai).

CREATE TABLE IF NOT EXISTS stations (
    station_id      VARCHAR PRIMARY KEY,
    name            VARCHAR NOT NULL,          -- as in the source (Chinese where the source is)
    name_en         VARCHAR,
    kind            VARCHAR NOT NULL CHECK (kind IN ('air_station', 'air_micro', 'water_section', 'polluter_outlet')),
    lon             DOUBLE NOT NULL,           -- WGS-84 degrees
    lat             DOUBLE NOT NULL,           -- WGS-84 degrees
    control_level   VARCHAR,                   -- national | provincial | city | county | town | enterprise
    is_background   BOOLEAN DEFAULT FALSE,     -- 对照点
    province_code   VARCHAR, province VARCHAR, -- admin codes (GB/T 2260 adcode) and names
    city_code       VARCHAR, city VARCHAR,
    county_code     VARCHAR, county VARCHAR,
    town_code       VARCHAR, town VARCHAR,
    parent_station  VARCHAR,                   -- micro-station: the standard station it rings
    river           VARCHAR,                   -- water sections
    section_role    VARCHAR CHECK (section_role IS NULL OR section_role IN ('inbound', 'outbound', 'control', 'drinking_source')),
    flow_bearing_deg DOUBLE,                   -- direction the water flows at the section, degrees from north
    upstream_station VARCHAR,                  -- next section upstream on the same river
    waterbody_type  VARCHAR,                   -- river | lake (TP limits differ in GB 3838)
    enterprise      VARCHAR,                   -- polluter outlets
    outlet          VARCHAR,
    outlet_type     VARCHAR,                   -- flue_gas | wastewater
    industry        VARCHAR,
    contractor      VARCHAR,                   -- operation and maintenance contractor
    hj212_mn        VARCHAR,                   -- HJ 212 device id (MN) of the data logger
    ref_o2_pct      DOUBLE,                    -- reference O2 for the outlet's limit (HJ 75 / GB 13223)
    limits_json     VARCHAR,                   -- {"flue_SO2": 35, ...} emission limits in the parameter's unit
    active_from     TIMESTAMP,
    active_to       TIMESTAMP,
    source          VARCHAR
);

CREATE SEQUENCE IF NOT EXISTS batch_seq START 1;
CREATE TABLE IF NOT EXISTS ingest_batches (
    batch_id        BIGINT PRIMARY KEY,
    source          VARCHAR NOT NULL,          -- file path or 'hj212:<peer>'
    source_sha256   VARCHAR,                   -- content hash, to report a re-ingest
    format          VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    rows_in         BIGINT,                    -- readings offered by the source
    rows_stored     BIGINT,                    -- new readings written
    rows_duplicate  BIGINT,                    -- identical readings already stored (idempotent re-ingest)
    rows_quarantined BIGINT,                   -- readings rejected, each with a reason in quarantine
    status          VARCHAR NOT NULL           -- running | committed | failed
);

CREATE TABLE IF NOT EXISTS readings (
    station_id      VARCHAR NOT NULL,
    ts              TIMESTAMP NOT NULL,        -- UTC, start-of-hour label as in the source convention
    parameter       VARCHAR NOT NULL,          -- data/parameters.py name
    value           DOUBLE,                    -- canonical unit; NULL = reported missing
    flag            VARCHAR NOT NULL DEFAULT 'N', -- HJ 212 data flag
    source          VARCHAR,                   -- adapter name
    batch_id        BIGINT
);

CREATE SEQUENCE IF NOT EXISTS quarantine_seq START 1;
CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id   BIGINT PRIMARY KEY,
    batch_id        BIGINT,
    source          VARCHAR,
    raw             VARCHAR NOT NULL,          -- the rejected record as received (JSON or packet text)
    reason          VARCHAR NOT NULL,          -- machine code, e.g. unparseable_time, unknown_station
    detail          VARCHAR,                   -- human sentence
    received_at     TIMESTAMP NOT NULL
);

-- plausibility engine output
CREATE TABLE IF NOT EXISTS scores (
    station_id      VARCHAR NOT NULL,
    ts              TIMESTAMP NOT NULL,
    parameter       VARCHAR NOT NULL,
    score           DOUBLE,                    -- 0 = plausible .. 1 = surely implausible
    model_scores    VARCHAR,                   -- JSON {model: score} (file output has one column per model)
    run_id          VARCHAR
);

CREATE TABLE IF NOT EXISTS events (
    event_id        VARCHAR PRIMARY KEY,
    station_id      VARCHAR NOT NULL,
    start           TIMESTAMP NOT NULL,        -- first affected hour (UTC)
    "end"           TIMESTAMP NOT NULL,        -- last affected hour (UTC)
    kind            VARCHAR NOT NULL,          -- suppression | outage | flatline | fabrication | drift | clipping | flag_abuse | spike
    score           DOUBLE NOT NULL,
    parameters      VARCHAR NOT NULL,          -- comma-separated parameter names
    summary         VARCHAR NOT NULL,
    evidence_json   VARCHAR,
    status          VARCHAR NOT NULL DEFAULT 'open', -- open | confirmed | false_alarm | closed
    run_id          VARCHAR,
    created_at      TIMESTAMP
);

CREATE TABLE IF NOT EXISTS event_reviews (
    event_id        VARCHAR NOT NULL,
    verdict         VARCHAR NOT NULL CHECK (verdict IN ('confirmed', 'false_alarm', 'reopened')),
    comment         VARCHAR,
    username        VARCHAR NOT NULL,
    reviewed_at     TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    username        VARCHAR PRIMARY KEY,
    password_hash   VARCHAR NOT NULL,          -- werkzeug scrypt/pbkdf2 hash, never the password
    role            VARCHAR NOT NULL CHECK (role IN ('leader', 'analyst', 'admin')),
    display_name    VARCHAR,
    created_at      TIMESTAMP NOT NULL
);

-- tamper-evident audit trail (interference records, reviews, logins): each row carries the
-- SHA-256 of the previous row's hash + its own content, so an edit breaks the chain.
CREATE SEQUENCE IF NOT EXISTS audit_seq START 1;
CREATE TABLE IF NOT EXISTS audit_log (
    seq             BIGINT PRIMARY KEY,
    logged_at       TIMESTAMP NOT NULL,
    actor           VARCHAR NOT NULL,
    action          VARCHAR NOT NULL,
    subject         VARCHAR,
    detail_json     VARCHAR,
    prev_hash       VARCHAR NOT NULL,
    hash            VARCHAR NOT NULL
);
