-- envtrust store, migration 3 (demo network, owner H3): additive only.
-- demo_truth: the interference the synthetic generators planted (data/synthetic/polluters.py),
-- same columns as analytics.evaluation truth events, so the demo can be scored against it.
-- demo_builds: one row per `envtrust demo` build (what was built, from which data, with which seed).

CREATE TABLE IF NOT EXISTS demo_truth (
    event_id        VARCHAR PRIMARY KEY,
    station_id      VARCHAR NOT NULL,
    start           TIMESTAMP NOT NULL,        -- first affected hour (UTC)
    "end"           TIMESTAMP NOT NULL,        -- last affected hour (UTC)
    kind            VARCHAR NOT NULL,          -- flag_abuse | clipping | flatline | ...
    parameters      VARCHAR NOT NULL,          -- comma-separated parameter names
    detail          VARCHAR,
    generator       VARCHAR NOT NULL,          -- e.g. synthetic:polluters
    seed            BIGINT
);

CREATE TABLE IF NOT EXISTS demo_builds (
    built_at        TIMESTAMP NOT NULL,
    seed            BIGINT NOT NULL,
    full_data       BOOLEAN NOT NULL,          -- true: the 4-year Beijing set from ../shared/data
    summary_json    VARCHAR                    -- counts per network, timings
);
