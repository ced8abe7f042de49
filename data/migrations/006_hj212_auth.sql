-- envtrust store, migration 006 (H-OPS, HJ 212 access passwords). Additive only.
-- HJ 212-2017 authenticates a data logger (MN) by the PW field (access password, at most 6
-- characters) that every packet carries. One row per logger that has a password; the password
-- itself is never stored, only a salted scrypt hash (werkzeug format). See docs/hj212.md.
CREATE TABLE IF NOT EXISTS hj212_logger_auth (
    mn          VARCHAR PRIMARY KEY,     -- data logger id (stations.hj212_mn)
    pw_hash     VARCHAR NOT NULL,        -- salted scrypt hash of the PW
    set_at      TIMESTAMP NOT NULL,      -- UTC
    set_by      VARCHAR                  -- who set it (audited in audit_log as hj212_password_set)
);
