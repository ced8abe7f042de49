-- The tamper-evident record (干预留痕) as an append-only Merkle log (RFC 9162), docs/record.md.
-- record_log holds the leaves: `entry` is the RFC 8785 canonical JSON that is hashed; the other
-- columns repeat fields of the entry for queries and are checked against it by `record verify`.
-- The content (an audit detail or an interference record) lives beside the log in
-- record_content, committed to by SHA-256(salt || content) inside the entry, so a lawful
-- redaction clears salt and content and leaves every leaf intact.
CREATE TABLE IF NOT EXISTS record_log (
    idx             BIGINT PRIMARY KEY,          -- leaf index, 0-based, no gaps
    logged_at       TIMESTAMP NOT NULL,          -- naive UTC, never decreasing
    kind            VARCHAR NOT NULL,            -- audit | interference | redaction
    actor           VARCHAR NOT NULL,            -- who wrote the entry (user, or OS user for the CLI)
    action          VARCHAR NOT NULL,
    subject         VARCHAR,
    entry           VARCHAR NOT NULL             -- canonical JSON of the leaf (UTF-8 bytes are hashed)
);

CREATE TABLE IF NOT EXISTS record_content (
    idx             BIGINT PRIMARY KEY,
    salt            BLOB,                        -- 32 random bytes; NULL once redacted
    content         VARCHAR,                     -- canonical JSON; NULL once redacted
    redacted_at     TIMESTAMP,
    redacted_by     VARCHAR,
    redaction_reason VARCHAR
);

CREATE TABLE IF NOT EXISTS record_attachments (
    sha256          VARCHAR PRIMARY KEY,         -- hex SHA-256 of the bytes (named in the content)
    file_name       VARCHAR NOT NULL,
    size_bytes      BIGINT NOT NULL,
    data            BLOB,                        -- NULL once redacted
    stored_at       TIMESTAMP NOT NULL
);

-- signed checkpoints (C2SP tlog-checkpoint notes, Ed25519), every N entries and on demand
CREATE TABLE IF NOT EXISTS record_checkpoints (
    tree_size       BIGINT PRIMARY KEY,
    root_hash       VARCHAR NOT NULL,            -- hex
    signed_at       TIMESTAMP NOT NULL,
    note            VARCHAR NOT NULL             -- the signed note, as handed out
);

-- the linear hash chain of before stays under its own name; the log starts afresh and its first
-- entry's `prev` is the chain's last hash, so the old trail stays anchored (data/audit.py)
ALTER TABLE audit_log RENAME TO audit_chain_legacy;

CREATE VIEW audit_log AS
SELECT l.idx AS seq, l.logged_at, l.actor, l.action, l.subject,
       CASE WHEN c.content = 'null' THEN NULL ELSE c.content END AS detail_json
FROM record_log l LEFT JOIN record_content c ON c.idx = l.idx
WHERE l.kind = 'audit';
