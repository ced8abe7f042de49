-- envtrust store, migration 010 (issue 13, the closed loop): alarms, webhook outbox, cases as an
-- event log, frozen evidence packs, published decisions, public tips; the 'enforcement' role.
-- All timestamps are naive UTC.

-- users: the CHECK on role gains 'enforcement' (执法). DuckDB cannot alter a CHECK, so the table
-- is rebuilt with the same columns and rows.
CREATE TABLE users_010 (
    username        VARCHAR PRIMARY KEY,
    password_hash   VARCHAR NOT NULL,
    role            VARCHAR NOT NULL CHECK (role IN ('leader', 'analyst', 'admin', 'enforcement')),
    display_name    VARCHAR,
    created_at      TIMESTAMP NOT NULL
);
INSERT INTO users_010 SELECT username, password_hash, role, display_name, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_010 RENAME TO users;

-- alarms: one open alarm per (station, rule, episode); an episode grows while the condition lasts.
CREATE TABLE IF NOT EXISTS alarms (
    alarm_id        VARCHAR PRIMARY KEY,
    rule            VARCHAR NOT NULL,          -- envtrust.alarms rule name
    station_id      VARCHAR NOT NULL,
    episode_start   TIMESTAMP NOT NULL,        -- first affected hour/day (UTC)
    episode_end     TIMESTAMP NOT NULL,        -- last affected hour/day (UTC)
    parameter       VARCHAR,
    severity        DOUBLE,                    -- rule's own measure (score, ratio to limit, hours)
    standard        VARCHAR NOT NULL,          -- the standard or setting the rule applies
    summary         VARCHAR NOT NULL,          -- one evidence sentence
    evidence_json   VARCHAR,
    status          VARCHAR NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_case', 'dismissed')),
    raised_at       TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    run_id          VARCHAR
);

-- outbound webhook: persisted outbox (a receiver that is down delays, never loses) + attempt log.
CREATE TABLE IF NOT EXISTS webhook_outbox (
    delivery_id     VARCHAR PRIMARY KEY,
    topic           VARCHAR NOT NULL,          -- alarm.raised | case.transition
    subject         VARCHAR NOT NULL,          -- alarm_id or case_id
    payload_json    VARCHAR NOT NULL,          -- the exact body that is signed and sent
    created_at      TIMESTAMP NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    delivered_at    TIMESTAMP,
    last_error      VARCHAR
);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id     VARCHAR NOT NULL,
    attempt         INTEGER NOT NULL,
    attempted_at    TIMESTAMP NOT NULL,
    url             VARCHAR NOT NULL,
    http_status     INTEGER,                   -- NULL when no answer (refused, timeout)
    error           VARCHAR,
    PRIMARY KEY (delivery_id, attempt)
);

-- cases: immutable attributes here, every change in case_events (the state is the last event's).
CREATE TABLE IF NOT EXISTS cases (
    case_id         VARCHAR PRIMARY KEY,
    title           VARCHAR NOT NULL,
    station_id      VARCHAR,
    origin          VARCHAR NOT NULL CHECK (origin IN ('alarm', 'event', 'manual', 'tip')),
    legal_type      VARCHAR,                   -- 环发〔2015〕175号 category: tampering | falsification | instigation | other
    opened_at       TIMESTAMP NOT NULL,
    opened_by       VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS case_events (
    case_id         VARCHAR NOT NULL,
    version         INTEGER NOT NULL,          -- 1, 2, ...: the optimistic check inserts expected + 1
    occurred_at     TIMESTAMP NOT NULL,
    actor           VARCHAR NOT NULL,
    actor_role      VARCHAR NOT NULL,
    action          VARCHAR NOT NULL,          -- open | transfer_clue | accept | ...
    from_state      VARCHAR,
    to_state        VARCHAR NOT NULL,
    reason          VARCHAR,
    fields_json     VARCHAR,                   -- the transition's required and optional fields
    PRIMARY KEY (case_id, version)
);
CREATE TABLE IF NOT EXISTS case_links (
    case_id         VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL CHECK (kind IN ('alarm', 'event', 'tip')),
    ref_id          VARCHAR NOT NULL,
    linked_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, kind, ref_id)
);
CREATE TABLE IF NOT EXISTS case_evidence (
    case_id         VARCHAR PRIMARY KEY,       -- one pack per case, frozen at the clue transfer
    frozen_at       TIMESTAMP NOT NULL,
    html            VARCHAR NOT NULL,
    html_sha256     VARCHAR NOT NULL,
    pdf             BLOB,
    pdf_sha256      VARCHAR,
    readings_sha256 VARCHAR NOT NULL,          -- SHA-256 over the canonical reading lines in the pack
    engine_version  VARCHAR
);
-- the only case data the public side reads: written when a case reaches 公开 (disclosed)
CREATE TABLE IF NOT EXISTS case_disclosures (
    case_id         VARCHAR PRIMARY KEY,
    published_at    TIMESTAMP NOT NULL,
    subject_name    VARCHAR NOT NULL,          -- enterprise (outlet) or station
    finding         VARCHAR NOT NULL,
    penalty         VARCHAR NOT NULL,
    decided_on      DATE NOT NULL,
    legal_basis     VARCHAR NOT NULL
);

-- public tips (12369-style)
CREATE TABLE IF NOT EXISTS public_tips (
    tip_id          VARCHAR PRIMARY KEY,
    received_at     TIMESTAMP NOT NULL,
    what            VARCHAR NOT NULL,
    where_text      VARCHAR NOT NULL,
    when_text       VARCHAR NOT NULL,
    contact         VARCHAR,
    file_name       VARCHAR,
    file_type       VARCHAR,
    file_bytes      BLOB,
    file_sha256     VARCHAR,
    client_hash     VARCHAR NOT NULL,          -- salted hash of the sender's address (rate limit, no raw IP)
    status          VARCHAR NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_case', 'dismissed'))
);
