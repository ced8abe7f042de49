-- envtrust store, migration 005 (H8, HJ 212 receiver). Additive only.
-- Every packet the receiver accepted (readings stored, or kept raw because we store only hourly
-- data), so a re-sent packet (same MN, CN, DataTime and CP content after a lost ack) is recognised
-- as a duplicate and answered again without a second ingest, and so every reading can be traced
-- back to the exact packet text it came from. Rejected packets go to the quarantine table.
CREATE SEQUENCE IF NOT EXISTS hj212_packet_seq START 1;
CREATE TABLE IF NOT EXISTS hj212_packets (
    packet_id       BIGINT NOT NULL,
    received_at     TIMESTAMP NOT NULL,        -- UTC, when the batch was committed
    peer            VARCHAR,                   -- ip:port of the data logger
    mn              VARCHAR NOT NULL,          -- device id
    st              VARCHAR NOT NULL,
    cn              VARCHAR NOT NULL,
    qn              VARCHAR,
    data_time       TIMESTAMP,                 -- CP DataTime converted to UTC (NULL when absent)
    station_id      VARCHAR,
    cp_sha256       VARCHAR NOT NULL,          -- hash of the CP content: the idempotency key with mn, cn, data_time
    status          VARCHAR NOT NULL,          -- stored (readings ingested) | logged (kept raw only)
    readings_in     INTEGER,                   -- readings the packet offered to the ingest
    batch_id        BIGINT,                    -- ingest_batches.batch_id of the commit
    raw             VARCHAR NOT NULL           -- packet text as received (all parts of a split packet)
);
